#!/usr/bin/python3
"""check_forward.py DUMPDIR: recomputes in numpy (float64) everything dump_forward wrote and
compares it with the C engine's outputs.

Inputs taken from the dump: the config JSON, the tensors (.bin), each text's tokens (character
and byte offsets) and feature rows, and a gazetteer model's lists (each entry as the tokens the C
tokenizer makes of it). The subword feature's rows are also recomputed here from the token text
(subword.h: hash, n-gram order, the first SUBWORD_SLOTS kept) and must match; the gazetteer
feature's rows are computed here alone, for each sequence the engine encodes (a window, a chunk),
by matching the lists against its tokens (gazetteer.h), and its rows in the embedding summed.
Everything else -- the encoder, the windowing and stitching of long texts (consecutive chunks
for classification), the heads and their temperatures, the constrained Viterbi,
forward-backward marginals, IOB2 decoding, relation pair enumeration, span snapping -- is
reimplemented here from the documentation in model/*.h, not from C intermediates.

Tolerances (absolute): hidden states 1e-4, emissions 2e-4 (they are O(5)), probabilities
(classification, marginals, relation probabilities, entity and relation scores) 2e-5.
Discrete outputs (Viterbi paths, entity spans and labels, relation triples, error codes) must
match exactly. Prints the max abs error per quantity and "ref: N passed, N failed".
"""
import json
import os
import re
import sys

import numpy as np

TOL = {"hidden": 1e-4, "emissions": 2e-4, "classify": 2e-5, "marginals": 2e-5,
       "pairs": 2e-5, "pair_queries": 2e-5, "entity scores": 2e-5, "relation scores": 2e-5,
       "streamed vs whole-text marginal": 1e-5}
EINVAL = 2
SUBWORD_SLOTS = 32          # ATTN_SUBWORD_SLOTS (features.h)
ROW_NONE = 2 ** 32 - 1      # ATTN_ROW_NONE
MAX_TOKEN_CHARS = 64        # ATTN_MAX_TOKEN_CHARS (common.h)
GAZ_MAX_TOKENS = 8          # ATTN_GAZ_MAX_TOKENS (gazetteer.h)

passed = 0
failed = 0
max_err = {}


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def compare(name, mine, theirs, where):
    mine = np.asarray(mine, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64).reshape(mine.shape)
    err = float(np.max(np.abs(mine - theirs))) if mine.size else 0.0
    max_err[name] = max(max_err.get(name, 0.0), err)
    check(err <= TOL[name], "%s: %s max abs error %.3g > %g" % (where, name, err, TOL[name]))


# ---- model ----

def load_model(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    w = {}
    for line in open(os.path.join(d, "tensors.txt")):
        key, ndim, d0, d1 = line.split()
        x = np.fromfile(os.path.join(d, "tensors", key + ".bin"), dtype="<f4").astype(np.float64)
        w[key] = x.reshape((int(d0), int(d1)) if ndim == "2" else (int(d0),))
    gaz = os.path.join(d, "gazetteer.json")
    if os.path.exists(gaz):
        cfg["_gazetteer"] = json.load(open(gaz, encoding="utf-8"))
    return cfg, w


def layernorm(x, g, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def gelu(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---- features ----

def n_slots(f):
    return (SUBWORD_SLOTS if f["kind"] == "subword" else
            len(f["lists"]) if f["kind"] == "gazetteer" else 1)


def hash64(data):
    """attn_hash64(ATTN_FEATURE_HASH_SEED, data): FNV-1a 64, then splitmix64's finaliser."""
    m = 2 ** 64
    h = 0xcbf29ce484222325 ^ int.from_bytes(b"attnext1", "big")
    for b in data:
        h = ((h ^ b) * 0x100000001b3) % m
    z = (h + 0x9e3779b97f4a7c15) % m
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) % m
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) % m
    return z ^ (z >> 31)


def load_zh_fold():
    """Traditional -> simplified characters: the pairs of model/zh_fold_table.h (its data)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "model",
                        "zh_fold_table.h")
    with open(path, encoding="utf-8") as f:
        pairs = re.findall(r"\{0x([0-9A-Fa-f]+), 0x([0-9A-Fa-f]+)\}", f.read())
    return {chr(int(a, 16)): chr(int(b, 16)) for a, b in pairs}


ZH_FOLD = load_zh_fold()


def norm(token):
    """Traditional characters simplified, case folded, every decimal digit '0', first
    MAX_TOKEN_CHARS characters."""
    return "".join("0" if c.isdecimal() else ZH_FOLD.get(c, c).casefold()
                   for c in token[:MAX_TOKEN_CHARS])


def subword_rows(token, f):
    """subword.h: "<norm>", then n-grams by length then position; first SUBWORD_SLOTS."""
    word = "<" + norm(token) + ">"
    grams = [word] + [word[i:i + n] for n in range(f.get("min_n", 3), f.get("max_n", 6) + 1)
                      for i in range(len(word) - n + 1) if n < len(word)]
    rows = [hash64(b"S" + g.encode("utf-8")) % f["buckets"] for g in grams][:SUBWORD_SLOTS]
    return rows + [ROW_NONE] * (SUBWORD_SLOTS - len(rows))


def gazetteer_rows(cfg, f, words):
    """gazetteer.h: for each list alone, from the left, at a token not inside an earlier match,
    the longest entry (at most GAZ_MAX_TOKENS tokens, compared by norm) starting there is a
    match: B on its first token, I on the rest, O elsewhere; list l's row is 3 l + tag."""
    normed = [norm(x) for x in words]
    T = len(words)
    out = np.zeros((T, len(f["lists"])), dtype=np.int64)
    for l, name in enumerate(f["lists"]):
        entries = {tuple(norm(x) for x in e) for e in cfg["_gazetteer"].get(name, [])
                   if 0 < len(e) <= GAZ_MAX_TOKENS}
        tags, i = [0] * T, 0
        while i < T:
            n = max([n for n in range(1, min(GAZ_MAX_TOKENS, T - i) + 1)
                     if tuple(normed[i:i + n]) in entries], default=0)
            if n:
                tags[i:i + n] = [1] + [2] * (n - 1)
            i += max(n, 1)
        out[:, l] = [3 * l + t for t in tags]
    return out


def embed(cfg, w, rows, words):
    """rows[T, slots] of the sequence words[T] -> the concatenated feature embeddings
    [T, sum fdim]."""
    blocks, s = [], 0
    for f in cfg["features"]:
        table = w["embed." + f["kind"]]
        if f["kind"] == "gazetteer":    # the sum of the lists' rows
            blocks.append(table[gazetteer_rows(cfg, f, words)].sum(axis=1))
        elif f["kind"] == "subword":
            blocks.append(np.array([table[[r for r in tok[s:s + SUBWORD_SLOTS] if r != ROW_NONE]]
                                    .mean(axis=0) for tok in rows]).reshape(len(rows), -1))
        else:
            blocks.append(table[rows[:, s]])
        s += n_slots(f)
    return np.concatenate(blocks, axis=1)


def rel_bias(cfg, w, prefix, h, T):
    """[T, T] the relative position biases of head h (config.h, rel_positions k): query i,
    key j get column k + clip(j - i, -k, k); zeros without them."""
    k = cfg.get("rel_positions", 0)
    if not k:
        return np.zeros((T, T))
    d = np.arange(T)[None, :] - np.arange(T)[:, None]
    return w[prefix + "attn.rel_bias"][h][np.clip(d, -k, k) + k]


def encode(cfg, w, rows, words):
    """One sequence rows[T, slots] of tokens words[T] -> h[T, D]."""
    T = rows.shape[0]
    D, H = cfg["dim"], cfg["heads"]
    eps = cfg.get("ln_eps", 1e-5)
    hd = D // H
    scale = 1.0 / np.sqrt(hd) if cfg.get("attn_scale", "sqrt") == "sqrt" else 1.0
    emb = embed(cfg, w, rows, words)
    k = cfg.get("embed_context", 0)
    if k:   # each row beside its k neighbours a side, zeros past the ends
        padded = np.concatenate([np.zeros((k, emb.shape[1])), emb, np.zeros((k, emb.shape[1]))])
        emb = np.concatenate([padded[j:j + T] for j in range(2 * k + 1)], axis=1)
    x = emb @ w["embed.proj.w"].T + w["embed.proj.b"] + w["pos"][:T]
    for l in range(cfg["layers"]):
        p = "layers.%d." % l
        a = layernorm(x, w[p + "ln1.w"], w[p + "ln1.b"], eps)
        qkv = a @ w[p + "attn.qkv.w"].T + w[p + "attn.qkv.b"]
        q, k, v = qkv[:, :D], qkv[:, D:2 * D], qkv[:, 2 * D:]
        att = np.zeros((T, D))
        for h in range(H):
            c = slice(h * hd, (h + 1) * hd)
            att[:, c] = softmax(scale * q[:, c] @ k[:, c].T + rel_bias(cfg, w, p, h, T)) @ v[:, c]
        x = x + att @ w[p + "attn.out.w"].T + w[p + "attn.out.b"]
        a = layernorm(x, w[p + "ln2.w"], w[p + "ln2.b"], eps)
        f = gelu(a @ w[p + "ffn.up.w"].T + w[p + "ffn.up.b"])
        x = x + f @ w[p + "ffn.down.w"].T + w[p + "ffn.down.b"]
    return layernorm(x, w["final_ln.w"], w["final_ln.b"], eps)


def encode_chunks(cfg, w, rows, words):
    """What classification pools: consecutive chunks of max_len tokens (the last one shorter),
    each encoded alone, as the trainer cuts a long text into examples."""
    L = cfg["max_len"]
    return np.concatenate([encode(cfg, w, rows[s:s + L], words[s:s + L])
                           for s in range(0, rows.shape[0], L)])


def encode_text(cfg, w, rows, words):
    """Windows of max_len tokens, stride max_len - max_len // 4, last window flush with the end;
    each token from the window where it is farthest from an edge (earliest on ties)."""
    N, L = rows.shape[0], cfg["max_len"]
    if N <= L:
        return encode(cfg, w, rows, words)
    stride = L - L // 4
    starts = list(range(0, N - L, stride)) + [N - L]
    h = np.zeros((N, cfg["dim"]))
    best = np.full(N, -1)
    for s in starts:
        out = encode(cfg, w, rows[s:s + L], words[s:s + L])
        for t in range(s, s + L):
            d = min(t - s, s + L - 1 - t)
            if d > best[t]:
                best[t] = d
                h[t] = out[t - s]
    assert (best >= 0).all()
    return h


# ---- CRF ----

def constraints(E):
    K = 1 + 2 * E
    allowed = np.ones((K, K), dtype=bool)
    start = np.ones(K, dtype=bool)
    for i in range(E):
        inside = 2 + 2 * i
        start[inside] = False
        for prev in range(K):
            allowed[prev, inside] = prev in (1 + 2 * i, inside)
    return allowed, start


def crf_params(cfg, w):
    allowed, start_ok = constraints(len(cfg["entities"]["labels"]))
    trans = np.where(allowed, w["crf.trans"], -np.inf)
    start = np.where(start_ok, w["crf.start"], -np.inf)
    return trans, start, w["crf.end"]


def viterbi(em, trans, start, end):
    T, K = em.shape
    score = start + em[0]
    back = np.zeros((T, K), dtype=int)
    for t in range(1, T):
        cand = score[:, None] + trans            # [prev, cur]
        back[t] = np.argmax(cand, axis=0)
        score = cand[back[t], np.arange(K)] + em[t]
    path = [int(np.argmax(score + end))]
    for t in range(T - 1, 0, -1):
        path.append(int(back[t][path[-1]]))
    return path[::-1]


def logsumexp(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def marginals(em, trans, start, end):
    T, K = em.shape
    alpha = np.zeros((T, K))
    beta = np.zeros((T, K))
    alpha[0] = start + em[0]
    for t in range(1, T):
        alpha[t] = logsumexp(alpha[t - 1][:, None] + trans, axis=0) + em[t]
    beta[T - 1] = end
    for t in range(T - 2, -1, -1):
        beta[t] = logsumexp(trans + (em[t + 1] + beta[t + 1])[None, :], axis=1)
    logz = logsumexp(alpha[T - 1] + end, axis=0)
    return np.exp(alpha + beta - logz)


TAG_LOOKAHEAD = 64          # ATTN_TAG_LOOKAHEAD (pipeline.h)
TAG_PENDING_WINDOWS = 4     # ATTN_TAG_PENDING_WINDOWS


def stream_decode(em, trans, start, end, cap, look, temp=1.0):
    """The streaming tagger as crf.h documents attn_crf_stream, in float64 on whole arrays:
    tags decided online where the Viterbi survivors of every reachable state agree (keeping
    `look` positions), forced along the best path when `cap` positions are pending, marginals
    from an exact alpha and a beta started uniform at the last pushed position (exact at the
    end), of the potentials divided by temp (the Viterbi path is not). Returns (tags, probs of
    those tags, positions forced)."""
    T, K = em.shape
    em_t, trans_t, start_t, end_t = em / temp, trans / temp, start / temp, end / temp
    tags, probs = [0] * T, [0.0] * T
    back = np.zeros((T, K), dtype=int)
    alpha = np.zeros((T, K))
    delta = None
    base, forced, next_attempt = 0, 0, cap // 2

    def survivors(last, state):
        path = [state]
        for s in range(last, base, -1):
            path.append(int(back[s][path[-1]]))
        return path[::-1]                     # tags of positions base..last

    def commit(last, upto, path, at_end):     # decide [base, upto) from path (base..last)
        beta = np.zeros((last + 1, K))
        beta[last] = end_t if at_end else 0.0
        for s in range(last - 1, base - 1, -1):
            beta[s] = logsumexp(trans_t + (em_t[s + 1] + beta[s + 1])[None, :], axis=1)
        for s in range(base, upto):
            post = alpha[s] + beta[s]
            tags[s] = path[s - base]
            probs[s] = float(np.exp(post[tags[s]] - logsumexp(post, axis=0)))

    def step(prev, t):                        # Viterbi step into position t
        cand = prev[:, None] + trans
        back[t] = np.argmax(cand, axis=0)     # the lowest best predecessor
        return cand[back[t], np.arange(K)] + em[t]

    for t in range(T):
        if t == 0:
            delta = start + em[0]
            a = start_t + em_t[0]
            alpha[0] = a - logsumexp(a, axis=0)
        else:
            delta = step(delta, t)
            a = logsumexp(alpha[t - 1][:, None] + trans_t, axis=0) + em_t[t]
            alpha[t] = a - logsumexp(a, axis=0)
        pending = t + 1 - base
        if pending < next_attempt:
            continue
        live = [k for k in range(K) if np.isfinite(delta[k])]
        paths = [survivors(t, k) for k in live]
        agree = [i for i in range(pending) if len({p[i] for p in paths}) == 1]
        limit = t + 1 - look
        if agree and min(base + agree[-1] + 1, limit) > base:
            upto = min(base + agree[-1] + 1, limit)
            commit(t, upto, paths[0], False)
            base = upto
        elif pending >= cap:
            path = survivors(t, int(np.argmax(delta)))
            commit(t, limit, path, False)
            forced += limit - base
            base = limit
            delta = np.where(np.arange(K) == tags[limit - 1], 0.0, -np.inf)
            for s in range(limit, t + 1):
                delta = step(delta, s)
        next_attempt = min(max(cap // 2, t + 1 - base + look), cap)
    if T:
        commit(T - 1, T, survivors(T - 1, int(np.argmax(delta + end))), True)
    return tags, probs, forced


def iob2_spans(path):
    """[(tok_start, tok_end, label)]: B-i starts; I-i continues only an open entity of label i."""
    spans = []
    open_ = False
    for t, tag in enumerate(path):
        if tag == 0:
            open_ = False
            continue
        label, inside = (tag - 1) // 2, (tag - 1) % 2
        if inside and open_ and spans[-1][2] == label:
            spans[-1][1] = t + 1
        else:
            spans.append([t, t + 1, label])
            open_ = True
    return spans


# ---- relations ----

def temperature(cfg, section):
    """A head's temperature (config.h): its probabilities are softmax(scores / T)."""
    return cfg[section].get("temperature", 1.0)


def relation_probs(cfg, w, h, hs, he, hl, ts, te, tl):
    D = cfg["dim"]

    def pool(a, b):
        return h[a:b].max(axis=0) if a < b else np.zeros(D)
    x = np.concatenate([pool(hs, he), pool(ts, te), pool(min(he, te), max(hs, ts)),
                        w["rel.type"][hl], w["rel.type"][tl]])
    hid = gelu(w["rel.hidden.w"] @ x + w["rel.hidden.b"])
    return softmax((w["rel.out.w"] @ hid + w["rel.out.b"]) / temperature(cfg, "relations"))


def snap(tokens, a, b, n_chars):
    if a < 0 or b > n_chars or a >= b:
        return None
    idx = [t for t, tok in enumerate(tokens) if tok[1] > a and tok[0] < b]
    return (idx[0], idx[-1] + 1) if idx else None


def span_label(marg, t0, t1, E):
    mass = [marg[t0:t1, 1 + 2 * i].sum() + marg[t0:t1, 2 + 2 * i].sum() for i in range(E)]
    return int(np.argmax(mass))


# ---- one case ----

def check_entities(where, mine, theirs, what):
    check(len(mine) == len(theirs), "%s: %s: %d entities, C has %d" % (where, what, len(mine),
                                                                        len(theirs)))
    for a, b in zip(mine, theirs):
        check(list(a[:7]) == list(b[:7]), "%s: %s: entity %s, C has %s" % (where, what, a[:7],
                                                                            b[:7]))
        compare("entity scores", [a[7]], [b[7]], where)


def check_subword_rows(where, cfg, c, text_bytes, rows):
    s = 0
    for f in cfg["features"]:
        if f["kind"] == "subword":
            for t, tok in enumerate(c["tokens"]):
                word = text_bytes[tok[2]:tok[3]].decode("utf-8")
                want = subword_rows(word, f)
                check(list(rows[t, s:s + SUBWORD_SLOTS]) == want,
                      "%s: subword rows of token %d %r differ" % (where, t, word))
        s += n_slots(f)


def check_gazetteer_rows(where, cfg, rows):
    """A token alone (attn_token_features, what the dump holds) is O in every list."""
    s = 0
    for f in cfg["features"]:
        if f["kind"] == "gazetteer":
            want = [3 * l for l in range(len(f["lists"]))]
            check(all(list(r[s:s + len(want)]) == want for r in rows),
                  "%s: gazetteer rows of a token alone are not O" % where)
        s += n_slots(f)


def check_case(name, cfg, w, c, text_bytes):
    where = "%s/case%d" % (name, c["index"])
    N = c["n_tokens"]
    D = cfg["dim"]
    tasks = cfg["tasks"]
    slots = sum(n_slots(f) for f in cfg["features"])
    rows = np.array(c["rows"], dtype=np.int64).reshape(N, slots)
    check_subword_rows(where, cfg, c, text_bytes, rows)
    check_gazetteer_rows(where, cfg, rows)
    words = [text_bytes[t[2]:t[3]].decode("utf-8", "replace") for t in c["tokens"]]
    h = encode_text(cfg, w, rows, words) if N else np.zeros((0, D))
    compare("hidden", h, c["hidden"], where)

    if "classify" in tasks:
        hc = encode_chunks(cfg, w, rows, words) if N else np.zeros((0, D))
        pooled = np.concatenate([hc.mean(axis=0), hc.max(axis=0)]) if N else np.zeros(2 * D)
        compare("classify", softmax((w["cls.w"] @ pooled + w["cls.b"]) /
                                    temperature(cfg, "classify")), c["classify"], where)

    if "entities" not in tasks:
        return
    E = len(cfg["entities"]["labels"])
    ents = []
    if N:
        em = h @ w["tag.w"].T + w["tag.b"]
        compare("emissions", em, c["emissions"], where)
        trans, start, end = crf_params(cfg, w)
        path = viterbi(em, trans, start, end)
        check(path == c["path"], "%s: Viterbi path %s, C has %s" % (where, path, c["path"]))
        marg = marginals(em, trans, start, end)     # decisions (span_label) use T = 1
        T_ent = temperature(cfg, "entities")
        marg_t = marginals(em / T_ent, trans / T_ent, start / T_ent, end / T_ent)
        compare("marginals", marg_t, c["marginals"], where)
        # attn_run_entities and attn_run_relations decode with the streaming tagger
        cap = max(TAG_PENDING_WINDOWS * cfg["max_len"], 4 * TAG_LOOKAHEAD)
        tags, probs, forced = stream_decode(em, trans, start, end, cap, TAG_LOOKAHEAD, T_ent)
        if forced == 0:     # documented: then the whole-text Viterbi path, near its marginals
            check(tags == path, "%s: streamed tags differ from Viterbi" % where)
            compare("streamed vs whole-text marginal", [marg_t[t, path[t]] for t in range(N)],
                    probs, where)
        for t0, t1, label in iob2_spans(tags):
            tk = c["tokens"]
            score = np.mean([probs[t] for t in range(t0, t1)])
            ents.append([t0, t1, label, tk[t0][0], tk[t1 - 1][1], tk[t0][2], tk[t1 - 1][3],
                         score])
        # spot-check: the decoded entities cover the right characters of the text
        for e in ents:
            check(text_bytes[e[5]:e[6]] == text_bytes[c["tokens"][e[0]][2]:
                                                      c["tokens"][e[1] - 1][3]], where)
    check_entities(where, ents, c["entities"], "entities")

    if "relations" not in tasks:
        return
    check_entities(where, ents, c["rel_entities"], "relation entities")
    rels = []
    for i, a in enumerate(ents):
        for j, b in enumerate(ents):
            if i == j or max(a[1], b[1]) - min(a[0], b[0]) > cfg["max_len"]:
                continue
            p = relation_probs(cfg, w, h, a[0], a[1], a[2], b[0], b[1], b[2])
            best = int(np.argmax(p))
            if best:    # the score: the label's probability times both entities' scores
                rels.append((i, j, best - 1, p[best] * a[7] * b[7]))
    theirs = c["relations"]
    check([r[:3] for r in rels] == [tuple(r[:3]) for r in theirs],
          "%s: relations %s, C has %s" % (where, [r[:3] for r in rels],
                                          [tuple(r[:3]) for r in theirs]))
    if len(rels) == len(theirs):
        compare("relation scores", [r[3] for r in rels], [r[3] for r in theirs], where)
    if not N:
        return
    for p in c["pairs"]:
        hs, he, hl, ts, te, tl = p[:6]
        compare("pairs", relation_probs(cfg, w, h, hs, he, hl, ts, te, tl), p[6:], where)
    n_chars = len(text_bytes.decode("utf-8"))
    for q in c["pair_queries"]:
        hs, he, ts, te, rc = q[:5]
        head, tail = snap(c["tokens"], hs, he, n_chars), snap(c["tokens"], ts, te, n_chars)
        if head is None or tail is None:
            check(rc == EINVAL, "%s: pair query %s should fail with EINVAL, C: %d" %
                  (where, q[:4], rc))
            continue
        check(rc == 0, "%s: pair query %s failed in C (%d)" % (where, q[:4], rc))
        if rc == 0:
            hl, tl = span_label(marg, *head, E), span_label(marg, *tail, E)
            compare("pair_queries", relation_probs(cfg, w, h, *head, hl, *tail, tl), q[5:],
                    where)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_forward.py DUMPDIR")
    root = sys.argv[1]
    n_cases = 0
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        if not os.path.isdir(d):
            continue
        cfg, w = load_model(d)
        c = 0
        while os.path.exists(os.path.join(d, "case%d.json" % c)):
            case = json.load(open(os.path.join(d, "case%d.json" % c)))
            case["index"] = c
            text = open(os.path.join(d, "case%d.txt" % c), "rb").read()
            check_case(name, cfg, w, case, text)
            c += 1
            n_cases += 1
    check(n_cases >= 10, "only %d cases found in %s" % (n_cases, root))
    for k in sorted(max_err):
        print("max abs error %-16s %.3g (tolerance %g)" % (k, max_err[k], TOL[k]))
    print("ref: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
