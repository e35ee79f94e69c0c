"""sql_throughput.py: rows per second of whole-table SQL, attnext against what a user would
otherwise run, side by side in one process and one run (issue 4, benchmark 2).

    /usr/bin/python3 tests/bench/sql_throughput.py SO DATA.db ROWS_TOOL [--rows N] [--reps R]
                                                   [--tables T1,T2] [--quick]

SO = the extension, DATA.db = build/data.db (read-only; ATTACHed by a temp db that makes the
docs tables), ROWS_TOOL = the sql_throughput_rows binary (token feature rows for PyTorch).
--rows N keeps the first N rows of each table (default all), --reps R runs each query R times
(default 5); --tables runs only the named tables (sst2, reuters, conll; default all three);
--quick = --rows 1000 --reps 1. Run it with OPENBLAS_CORETYPE set as OpenBLAS
should run (tests/bench/run.sh runs it with SkylakeX): that is fixed when the process starts.

Tables (a temp db): sst2 = SST-2 test + dev + train texts (en-sentiment); reuters = Reuters R8
test + train texts (en-topic); conll = CoNLL-2003 test sentences (en-ner). For each:
  attnext scalar   SELECT attn_classify(body, m) FROM docs            (one thread)
  attnext bulk     SELECT label FROM attn_classify_each('SELECT id, body FROM docs', m, T)
                   with T = 1 and T = 2 (every core)
  PyTorch UDF      SELECT torch_classify(body) FROM docs: con.create_function, the same model
                   built in PyTorch from the attn_model rows (tests/bench/torch_ref.py), one
                   torch thread, torch.inference_mode, long texts in the same windows
                   (classify: consecutive chunks; entities: overlapping windows)
  fastText         fasttext predict on the same texts (trained on the same train split with
                   tests/bench/fasttext_compare.sh's settings); prediction only: one process
                   reads the texts on stdin after loading its model (fasttext_predict_s)
entities: SELECT count(*) FROM conll c, attn_entities(c.body) e, the bulk attn_entities_each,
and a PyTorch UDF torch_entities(body) (encoder + tag layer + IOB2-constrained Viterbi, JSON of
spans; it computes no CRF marginals, which attnext does for every entity's score); then words
per second (CoNLL's tokens) beside spaCy's published figure.

The PyTorch side gets each text's token feature rows precomputed (PyTorch has no attnext
tokenizer; sql_throughput_rows makes them with the engine's tokenizer before timing): its time
excludes tokenizing and hashing, which attnext's includes, so the ratios are lower bounds.
Prints medians over --reps rounds (each round runs every variant once, in rotating order), rows/s
and ratios, with CPU flags and OpenBLAS's core name.
"""
import ctypes
import json
import math
import os
import resource
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_ref as R  # noqa: E402  (tests/bench/torch_ref.py)

BUILTIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "model",
                           "builtin")
FASTTEXT_ARGS = ["-wordNgrams", "2", "-epoch", "25", "-lr", "0.5", "-thread", "2", "-verbose", "0"]
SHARED_DATA = os.environ.get(
    "ATTN_DATA", os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/data"))

# (table, model, SQL over the attached data db making (id, body), train TSV for fastText)
CLASSIFY_SETS = [
    ("sst2", "en-sentiment",
     "SELECT text FROM src.sst2_test UNION ALL SELECT text FROM src.sst2_dev "
     "UNION ALL SELECT text FROM src.sst2_train", "sst2"),
    ("reuters", "en-topic",
     "SELECT text FROM src.reuters_r8_test UNION ALL SELECT text FROM src.reuters_r8_train",
     "reuters_r8"),
]
ENTITY_SET = ("conll", "en-ner", "SELECT text FROM src.conll2003_test")
# spaCy's published CPU speed of en_core_web_lg (tok2vec, tagger, parser, NER, ...): about
# 10,000 words/s on spacy.io's facts-and-figures page; the "speed" its packages record is
# 9,570 (3.6.0) and 8,276 (3.7.1). The yardstick for NER throughput on 2 cores.
SPACY_LG_WORDS_S = 10000


OPENBLAS = ctypes.CDLL("libopenblas.so.0")       # the library torch's GEMMs land in
OPENBLAS.openblas_get_corename.restype = ctypes.c_char_p


def corename():
    return OPENBLAS.openblas_get_corename().decode()


def one_thread_torch():
    """PyTorch on one thread: its own pool and the OpenBLAS pool under its GEMMs, which
    torch.set_num_threads leaves at the core count (a second core for PyTorch's side, and
    OpenBLAS's idle worker spinning beside whatever runs next)."""
    torch.set_num_threads(1)
    OPENBLAS.openblas_set_num_threads(1)


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                keep = [x for x in flags if x.startswith(("avx", "fma", "f16c"))]
                return " ".join(sorted(keep))
    return "?"


def median_s(fn, reps):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def process_cpu_s():
    """CPU seconds of this process, user + system, every thread's (joined ones too)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def thread_sched_s():
    """(seconds run, seconds waited for a core) of the calling thread (Linux schedstat; zeros
    where the kernel does not keep it)."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            run_ns, wait_ns = (int(x) for x in f.read().split()[:2])
        return run_ns * 1e-9, wait_ns * 1e-9
    except (OSError, ValueError):
        return 0.0, 0.0


def interleaved_medians(fns, reps):
    """({name: median seconds}, {name: median CPU seconds}) of the callables in fns, run in
    rounds: each round runs every one once (the order rotating from round to round), so a
    change in the machine's load during the run falls on every side alike instead of on
    whichever ran then. CPU seconds are the whole process's during the call: over the wall
    time, the cores a call got."""
    names = list(fns)
    times = {name: [] for name in names}
    cpus = {name: [] for name in names}
    waits = {name: [] for name in names}
    for r in range(reps):
        for name in names[r % len(names):] + names[:r % len(names)]:
            c0, s0, t0 = process_cpu_s(), thread_sched_s(), time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
            cpus[name].append(process_cpu_s() - c0)
            waits[name].append(thread_sched_s()[1] - s0[1])
    med = statistics.median
    return ({name: med(t) for name, t in times.items()},
            {name: med(c) for name, c in cpus.items()},
            {name: med(w) for name, w in waits.items()})


def report_scaling(t, cpu, wait):
    """The bulk path's 2 threads against its 1 thread and the scalar function, with what the
    threads got: cores = CPU seconds / wall seconds of the 2-thread call (2.0 at best: less
    when its threads waited, for a core the machine's other work held, or for each other),
    the CPU the 2 threads spent over the 1 thread's (the cost of running in parallel), and
    the time the calling thread (which also runs items) was ready but waited for a core."""
    print("  bulk 2 threads / 1 thread: %.2fx, / scalar: %.2fx (target >= 1.7x); the 2 threads "
          "got %.2f cores (1 thread: %.2f) and spent %.2fx the CPU time of 1 thread; the calling thread waited "
          "for a core %.0f%% of the 2-thread call (%.0f%% of the 1-thread one)" % (
              t["bulk1"] / t["bulk2"], t["scalar"] / t["bulk2"], cpu["bulk2"] / t["bulk2"],
              cpu["bulk1"] / t["bulk1"], cpu["bulk2"] / cpu["bulk1"],
              100 * wait["bulk2"] / t["bulk2"], 100 * wait["bulk1"] / t["bulk1"]))


# ---- the PyTorch side --------------------------------------------------------------------

def decode_q4(shape, blob):
    """q4 storage (model/model.h): [rows, groups] f32 scales, then per row ceil(cols/2) bytes of
    4-bit two's-complement values, low nibble first; groups of 32 values share a scale."""
    rows, cols = shape
    groups = (cols + 31) // 32
    scales = np.frombuffer(blob, "<f4", rows * groups).reshape(rows, groups)
    packed = np.frombuffer(blob, np.uint8, rows * ((cols + 1) // 2), 4 * rows * groups)
    packed = packed.reshape(rows, (cols + 1) // 2)
    q = np.empty((rows, 2 * packed.shape[1]), np.int8)
    q[:, 0::2] = (packed & 0x0F).astype(np.int8)
    q[:, 1::2] = (packed >> 4).astype(np.int8)
    q = np.where(q > 7, q - 16, q)[:, :cols].astype(np.float32)
    return (q * np.repeat(scales, 32, axis=1)[:, :cols]).astype(np.float32)


_decode_tensor = R.decode_tensor


def decode_tensor(dtype, shape, blob):
    """torch_ref's decoder, with q4 added when it lacks it."""
    if dtype == "q4":
        return decode_q4(shape, blob)
    return _decode_tensor(dtype, shape, blob)


R.decode_tensor = decode_tensor


def read_rows(path):
    """{text: rows int64 tensor [N, S]} from sql_throughput_rows's file."""
    with open(path, "rb") as f:
        buf = f.read()
    count, slots = struct.unpack_from("<ii", buf, 0)
    off, out = 8, {}
    for _ in range(count):
        (n,) = struct.unpack_from("<i", buf, off)
        off += 4
        rows = np.frombuffer(buf, "<u4", n * slots, off).reshape(n, slots).astype(np.int64)
        off += 4 * n * slots
        (nb,) = struct.unpack_from("<i", buf, off)
        off += 4
        text = buf[off:off + nb].decode("utf-8", "surrogateescape")
        off += nb
        out[text] = torch.from_numpy(rows)
    return out


def windows(n, max_len):
    """starts of the windows and owner[t] (model/pipeline.c: attn_windows, _owners)."""
    if n <= max_len:
        return [0], [0] * n
    stride = max_len - max_len // 4
    last = n - max_len
    nw = 1 + (last + stride - 1) // stride
    starts = [w * stride if w < nw - 1 else last for w in range(nw)]
    owner = [-1] * n

    def edge(t, s):
        return min(t - s, s + max_len - 1 - t)
    for w, s in enumerate(starts):
        for t in range(s, s + max_len):
            if owner[t] < 0 or edge(t, s) > edge(t, starts[owner[t]]):
                owner[t] = w
    return starts, owner


def encode_text(enc, rows, max_len):
    """h [N, D] of a whole text, window by window as attnext stitches it."""
    n = rows.shape[0]
    starts, owner = windows(n, max_len)
    length = min(n, max_len)
    batch = torch.stack([rows[s:s + length] for s in starts])
    h = enc(batch)                                       # [W, length, D]
    if len(starts) == 1:
        return h[0]
    idx_w = torch.tensor(owner)
    idx_t = torch.tensor([t - starts[owner[t]] for t in range(n)])
    return h[idx_w, idx_t]


def encode_chunks(enc, rows, max_len):
    """h [N, D] of a whole text as attnext classifies it: consecutive chunks of max_len tokens
    (the last one shorter), each encoded alone, as the model was trained."""
    n = rows.shape[0]
    full = n // max_len * max_len
    parts = []
    if full:
        parts.append(enc(rows[:full].reshape(-1, max_len, rows.shape[1])).reshape(full, -1))
    if full < n:
        parts.append(enc(rows[full:].unsqueeze(0))[0])
    return parts[0] if len(parts) == 1 else torch.cat(parts)


class TorchClassify:
    def __init__(self, cfg, tensors, rows_by_text):
        self.clf = R.AttnClassifier(cfg, tensors).eval()
        self.labels = cfg["classify"]["labels"]
        self.max_len = cfg["max_len"]
        self.rows = rows_by_text
        self.D = cfg["dim"]

    def __call__(self, text):
        if text is None:
            return None
        rows = self.rows[text]
        with torch.inference_mode():
            if rows.shape[0] == 0:
                pooled = torch.zeros(2 * self.D)
            else:
                h = encode_chunks(self.clf.encoder, rows, self.max_len)
                pooled = torch.cat([h.mean(0), h.max(0).values])
            logits = self.clf.cls(pooled)
        return self.labels[int(torch.argmax(logits))]


class TorchEntities:
    def __init__(self, cfg, tensors, rows_by_text):
        self.enc = R.AttnEncoder(cfg, tensors).eval()
        self.tag_w = torch.from_numpy(tensors["tag.w"])
        self.tag_b = torch.from_numpy(tensors["tag.b"])
        self.labels = cfg["entities"]["labels"]
        K = 1 + 2 * len(self.labels)
        trans = torch.from_numpy(tensors["crf.trans"]).clone()
        start = torch.from_numpy(tensors["crf.start"]).clone()
        for j in range(2, K, 2):                         # IOB2: I-i only after B-i or I-i
            start[j] = -math.inf
            for i in range(K):
                if i not in (j - 1, j):
                    trans[i, j] = -math.inf
        self.trans, self.start = trans, start
        self.end = torch.from_numpy(tensors["crf.end"])
        self.max_len = cfg["max_len"]
        self.rows = rows_by_text

    def viterbi(self, em):
        score = self.start + em[0]
        back = []
        for t in range(1, em.shape[0]):
            s = score.unsqueeze(1) + self.trans          # [K from, K to]
            best, arg = s.max(0)
            back.append(arg)
            score = best + em[t]
        y = int(torch.argmax(score + self.end))
        path = [y]
        for arg in reversed(back):
            y = int(arg[y])
            path.append(y)
        return path[::-1]

    def __call__(self, text):
        if text is None:
            return None
        rows = self.rows[text]
        if rows.shape[0] == 0:
            return "[]"
        with torch.inference_mode():
            h = encode_text(self.enc, rows, self.max_len)
            em = h @ self.tag_w.T + self.tag_b
            path = self.viterbi(em)
        spans, cur = [], None
        for t, y in enumerate(path):
            if y % 2 == 1 or (y > 0 and (cur is None or cur[2] != (y - 1) // 2)):
                cur = [t, t + 1, (y - 1) // 2]
                spans.append(cur)
            elif y > 0:
                cur[1] = t + 1
            else:
                cur = None
        return json.dumps([[s, e, self.labels[k]] for s, e, k in spans])


# ---- fastText ------------------------------------------------------------------------------

def fasttext_predict_s(work, train_name, texts, reps):
    """Median seconds of fasttext predict over texts, its model already loaded.

    The model (-wordNgrams 2: 2M buckets, 800 MB) takes 2-4 s to load, varying by more than the
    prediction of 10,000 sentences takes, so timing whole `fasttext predict` runs (even minus a
    one-line run) measures the load's noise. Instead one `fasttext predict MODEL -` process reads
    stdin: it predicts one line first (the model is then loaded), then in each of reps rounds
    every text is written and its label read back (fasttext flushes a line per input line),
    timed from the first write to the last label."""
    d = os.path.join(SHARED_DATA, train_name)
    train = os.path.join(work, train_name + ".train.txt")
    with open(os.path.join(d, "train.tsv")) as f, open(train, "w") as out:
        for line in f:
            label, _, text = line.rstrip("\n").partition("\t")
            out.write("__label__%s %s\n" % (label, text))
    model = os.path.join(work, train_name + ".ft")
    subprocess.run(["fasttext", "supervised", "-input", train, "-output", model] + FASTTEXT_ARGS,
                   check=True, stdout=subprocess.DEVNULL)
    payload = "".join(t.replace("\r", " ").replace("\n", " ") + "\n" for t in texts)
    proc = subprocess.Popen(["fasttext", "predict", model + ".bin", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, bufsize=1)

    def send(data):
        proc.stdin.write(data)
        proc.stdin.flush()

    def read_labels(n):
        for _ in range(n):
            if not proc.stdout.readline():
                raise RuntimeError("fasttext predict ended early")

    send(payload.partition("\n")[0] + "\n")
    read_labels(1)
    times = []
    for _ in range(reps):
        writer = threading.Thread(target=send, args=(payload,))
        t0 = time.perf_counter()
        writer.start()
        read_labels(len(texts))
        times.append(time.perf_counter() - t0)
        writer.join()
    proc.stdin.close()
    proc.wait()
    return statistics.median(times)


# ---- the run -------------------------------------------------------------------------------

def make_docs(work, data_db, so):
    con = sqlite3.connect(os.path.join(work, "docs.db"))
    con.enable_load_extension(True)
    con.load_extension(so)
    con.execute("ATTACH ? AS src", ("file:%s?mode=ro" % data_db,))
    for table, _, sql, _ in CLASSIFY_SETS + [ENTITY_SET + (None,)]:
        con.execute("CREATE TABLE %s(id INTEGER PRIMARY KEY, body TEXT)" % table)
        con.execute("INSERT INTO %s(body) SELECT text FROM (%s)" % (table, sql))
    con.commit()
    con.execute("DETACH src")
    return con


def limit_rows(con, table, n):
    if n:
        con.execute("DELETE FROM %s WHERE id > ?" % table, (n,))
        con.commit()


def report(name, rows, secs, base_secs):
    print("  %-44s %9.3f s %10.0f rows/s %8.2fx" % (name, secs, rows / secs, base_secs / secs))


def bench_classify(con, work, tool, table, model, ft_name, reps):
    texts = [r[0] for r in con.execute("SELECT body FROM %s ORDER BY id" % table)]
    n = len(texts)
    mdb = os.path.join(BUILTIN_DIR, model + ".db")
    rows_file = os.path.join(work, table + ".rows")
    subprocess.run([tool, mdb, model, os.path.join(work, "docs.db"),
                    "SELECT body FROM %s ORDER BY id" % table, rows_file], check=True)
    cfg, tensors = R.read_model(mdb, model)
    tc = TorchClassify(cfg, tensors, read_rows(rows_file))
    con.create_function("torch_classify", 1, tc)

    q_scalar = "SELECT attn_classify(body, '%s') FROM %s" % (model, table)
    q_bulk = ("SELECT label FROM attn_classify_each('SELECT id, body FROM %s', '%s', %%d)"
              % (table, model))
    ours = [r[0] for r in con.execute(q_scalar)]          # warm-up: loads the model
    bulk = [r[0] for r in con.execute(q_bulk % 2)]
    theirs = [r[0] for r in con.execute("SELECT torch_classify(body) FROM %s" % table)]
    same_bulk = sum(a == b for a, b in zip(ours, bulk)) == n and len(bulk) == n
    agree = sum(a == b for a, b in zip(ours, theirs)) / n

    t, cpu, wait = interleaved_medians({
        "torch": lambda: con.execute("SELECT torch_classify(body) FROM %s" % table).fetchall(),
        "scalar": lambda: con.execute(q_scalar).fetchall(),
        "bulk1": lambda: con.execute(q_bulk % 1).fetchall(),
        "bulk2": lambda: con.execute(q_bulk % 2).fetchall()}, reps)
    t_torch, t_scalar, t_bulk1, t_bulk2 = t["torch"], t["scalar"], t["bulk1"], t["bulk2"]
    t_ft = fasttext_predict_s(work, ft_name, texts, reps)
    print("\n%s: %d rows, model %s (labels equal to the PyTorch UDF's on %.2f%% of rows; "
          "bulk == scalar row for row: %s)" % (table, n, model, 100 * agree, same_bulk))
    print("  %-44s %11s %17s %9s" % ("", "median", "", "vs torch"))
    report("PyTorch UDF (1 thread)", n, t_torch, t_torch)
    report("attn_classify (scalar)", n, t_scalar, t_torch)
    report("attn_classify_each, 1 thread", n, t_bulk1, t_torch)
    report("attn_classify_each, 2 threads", n, t_bulk2, t_torch)
    report("fasttext predict (prediction only)", n, t_ft, t_torch)
    print("  attn_classify / PyTorch UDF: %.2fx (target >= 5x)" % (t_torch / t_scalar))
    report_scaling(t, cpu, wait)


def bench_entities(con, work, tool, reps):
    table, model, _ = ENTITY_SET
    n = con.execute("SELECT count(*) FROM %s" % table).fetchone()[0]
    mdb = os.path.join(BUILTIN_DIR, model + ".db")
    rows_file = os.path.join(work, table + ".rows")
    subprocess.run([tool, mdb, model, os.path.join(work, "docs.db"),
                    "SELECT body FROM %s ORDER BY id" % table, rows_file], check=True)
    cfg, tensors = R.read_model(mdb, model)
    con.create_function("torch_entities", 1, TorchEntities(cfg, tensors, read_rows(rows_file)))
    q_scalar = ("SELECT d.id, e.start, e.\"end\", e.label FROM %s d, attn_entities(d.body, '%s') e"
                % (table, model))
    q_bulk = ("SELECT id, start, \"end\", label FROM attn_entities_each("
              "'SELECT id, body FROM %s', '%s', %%d)" % (table, model))
    q_torch = "SELECT torch_entities(body) FROM %s" % table
    ours = con.execute(q_scalar).fetchall()
    same_bulk = con.execute(q_bulk % 2).fetchall() == ours
    n_torch = sum(len(json.loads(r[0])) for r in con.execute(q_torch) if r[0])
    t, cpu, wait = interleaved_medians({
        "torch": lambda: con.execute(q_torch).fetchall(),
        "scalar": lambda: con.execute(q_scalar).fetchall(),
        "bulk1": lambda: con.execute(q_bulk % 1).fetchall(),
        "bulk2": lambda: con.execute(q_bulk % 2).fetchall()}, reps)
    t_torch, t_scalar, t_bulk1, t_bulk2 = t["torch"], t["scalar"], t["bulk1"], t["bulk2"]
    print("\n%s: %d sentences, model %s: %d entities (PyTorch UDF: %d; bulk == scalar row for "
          "row: %s)" % (table, n, model, len(ours), n_torch, same_bulk))
    report("PyTorch UDF (1 thread, Viterbi only)", n, t_torch, t_torch)
    report("attn_entities (scalar)", n, t_scalar, t_torch)
    report("attn_entities_each, 1 thread", n, t_bulk1, t_torch)
    report("attn_entities_each, 2 threads", n, t_bulk2, t_torch)
    print("  attn_entities / PyTorch UDF: %.2fx" % (t_torch / t_scalar))
    report_scaling(t, cpu, wait)
    words = sum(len(r[0].split()) for r in con.execute("SELECT body FROM %s" % table))
    print("  NER words/s (%d words: the CoNLL tokens, space-separated): attn_entities %.0f, "
          "attn_entities_each 1 thread %.0f, 2 threads %.0f; spaCy en_core_web_lg (its whole "
          "CPU pipeline, published, not run here): about %d" % (
              words, words / t_scalar, words / t_bulk1, words / t_bulk2, SPACY_LG_WORDS_S))


def main():
    args = sys.argv[1:]
    if len(args) < 3:
        sys.exit(__doc__)
    so, data_db, tool = (os.path.abspath(a) for a in args[:3])
    quick = "--quick" in args                   # run.sh's --quick: 1000 rows a table, 1 run
    args = [a for a in args if a != "--quick"]
    opts = dict(zip(args[3::2], args[4::2]))
    rows = int(opts.get("--rows", 1000 if quick else 0))
    reps = int(opts.get("--reps", 1 if quick else 5))
    tables = opts.get("--tables", "sst2,reuters,conll").split(",")
    one_thread_torch()
    print("## SQL throughput (rows per second over whole tables; medians of %d interleaved "
          "rounds)" % reps)
    print("CPU flags: %s" % cpu_flags())
    print("OPENBLAS_CORETYPE=%s; openblas_get_corename(): %s; torch %s, %d thread(s)"
          % (os.environ.get("OPENBLAS_CORETYPE", "(unset)"), corename(), torch.__version__,
             torch.get_num_threads()))
    print("load average at start: %s" % open("/proc/loadavg").read().split()[:3])
    with tempfile.TemporaryDirectory() as work:
        con = make_docs(work, data_db, so)
        if rows:
            for table, *_ in CLASSIFY_SETS + [ENTITY_SET]:
                limit_rows(con, table, rows)
        for table, model, _, ft_name in CLASSIFY_SETS:
            if table in tables:
                bench_classify(con, work, tool, table, model, ft_name, reps)
        if ENTITY_SET[0] in tables:
            bench_entities(con, work, tool, reps)
        con.close()


if __name__ == "__main__":
    main()
