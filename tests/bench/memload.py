"""memload.py: sections 5 (memory) and 6 (first-call load time) of the benchmarks, through the
real extension in fresh processes (tests/bench/mem_probe.c). Called by tests/bench/run.sh.

    python3 tests/bench/memload.py MEM_PROBE SO DATA_DB RUNS [TEXT_MB...]

Per built-in model: RUNS fresh processes; medians of the first query's time (the load: reading
the embedded database, checking every value, decoding the small f16 tensors into f32, packing
the encoder's weights), of the CPU time it took (the same work without the waits for a core
on a busy machine) and of the RSS after it. Parameter bytes = params (attn_models) x 4 (what
f32 would take). The RSS ratio is given both for the whole process and net of the process with
the extension loaded but no model (sqlite3 + attnext.so + libraries), so the figure is fair. Then peak RSS of attn_entities on
one text of each TEXT_MB megabytes, and its growth per byte of text. attn_entities streams the
text (pipeline.h): its own working memory is a constant per model (one window, the tokens
still needed, the tagger's undecided tokens) plus the entities found, so the growth is that
constant plus the copies of the text SQLite holds while the query runs (about 1-2 bytes per
text byte), not tens of bytes per text byte (32-byte tokens, emissions, CRF tables per token).
"""
import statistics
import subprocess
import sys

MODELS = ("en-ner", "en-sentiment", "en-topic", "en-rel", "zh-ner", "zh-sentiment")
TARGET_LOAD_MS = 50.0
TARGET_RSS_RATIO = 1.3


def probe(args):
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return dict(kv.split("=", 1) for kv in out.split())


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    mem_probe, so, data, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    text_mb = [int(x) for x in sys.argv[5:]]
    if runs > 0:
        models_table(mem_probe, so, runs)
    if text_mb:
        text_table(mem_probe, so, data, text_mb)


def models_table(mem_probe, so, runs):
    print("\n## 5+6. Memory and first-call load time per built-in (median of %d fresh "
          "processes)" % runs)
    print("| model | params | param MB (f32) | first call ms | target <50 ms | first call CPU ms "
          "| 2nd call ms | RSS MB | RSS / params | RSS - ext-only / params | target <=1.3x |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    base = []
    for name in MODELS:
        r = [probe([mem_probe, so, "model", name]) for _ in range(runs)]
        first = statistics.median(float(x["first_ms"]) for x in r)
        first_cpu = statistics.median(float(x["first_cpu_ms"]) for x in r)
        second = statistics.median(float(x["second_ms"]) for x in r)
        rss = statistics.median(int(x["hwm_kb"]) for x in r) * 1024
        ext = statistics.median(int(x["ext_kb"]) for x in r) * 1024
        base.append((statistics.median(int(x["base_kb"]) for x in r), ext / 1024))
        pbytes = int(r[0]["params"]) * 4
        net = (rss - ext) / pbytes
        print("| %s | %d | %.1f | %.1f | %s | %.1f | %.2f | %.1f | %.2fx | %.2fx | %s |" % (
            name, int(r[0]["params"]), pbytes / 1e6, first,
            "met" if first < TARGET_LOAD_MS else "MISSED", first_cpu, second, rss / 1e6,
            rss / pbytes,
            net, "met" if net <= TARGET_RSS_RATIO else "MISSED"))
    print("baseline RSS: process with sqlite3 only %.1f MB; with attnext.so loaded, no model "
          "%.1f MB" % (statistics.median(b[0] for b in base) / 1024,
                       statistics.median(b[1] for b in base) / 1024))


def text_table(mem_probe, so, data, text_mb):
    print("\n### Peak RSS of attn_entities (en-ner) on one long text")
    print("| text MB | peak RSS before the query MB | peak RSS after MB | growth MB "
          "| growth bytes per text byte | entities | seconds |")
    print("|---|---|---|---|---|---|---|")
    for mb in text_mb:
        r = probe([mem_probe, so, "text", data, str(mb)])
        before, after = int(r["hwm_before_kb"]) * 1024, int(r["hwm_after_kb"]) * 1024
        print("| %d | %.1f | %.1f | %.1f | %.2f | %s | %.1f |" % (
            mb, before / 1e6, after / 1e6, (after - before) / 1e6,
            (after - before) / (mb * 1e6), r["entities"], float(r["ms"]) / 1e3))


if __name__ == "__main__":
    main()
