"""torch_ref: an attnext model as a PyTorch nn.Module, with the weights read from an attn_model
table (the PyTorch side of the benchmarks; also what a Python user would write).

Same architecture as model/encoder.h, layer for layer:
    x   = concat_f(embed_f[rows]) proj^T + proj_b + pos[t]        (subword: mean of its rows;
          with "embed_context": k, the rows of tokens t-k .. t+k side by side, zeros past the ends)
    for each layer (nn.TransformerEncoderLayer, norm_first=True, dropout 0):
        x = x + out_proj(MHA(LN1(x)))
        x = x + down(GELU_tanh(up(LN2(x))))
    out = final_LN(x)
Attention scale: nn.MultiheadAttention always multiplies q.k by 1/sqrt(head dim); a model with
"attn_scale": "none" gets its Q rows of attn.qkv multiplied by sqrt(head dim) instead.
Heads: rows of attn.qkv are all of Q, then K, then V, head h using columns h*D/H.., which is
nn.MultiheadAttention's in_proj layout.

    cfg, tensors = read_model("bench.db", "bench")      # dict, {key: float32 ndarray}
    enc = AttnEncoder(cfg, tensors)                     # rows [B, T, S] int64 -> [B, T, D]
    clf = AttnClassifier(cfg, tensors)                  # rows -> logits [B, L] (mean|max pool)

Rows are the token feature rows of features.h ([T, S], S = slots per token), with
ATTN_ROW_NONE (0xFFFFFFFF) in unused subword slots. Stored dtypes f32, f16 and q8 are decoded
as model/model.c does. Reads with Python's sqlite3 (no extension needed).
"""
import json
import math
import sqlite3

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROW_NONE = 0xFFFFFFFF
SUBWORD_SLOTS = 32                      # ATTN_SUBWORD_SLOTS (features.h)


# ---- reading a model --------------------------------------------------------------------

def decode_tensor(dtype, shape, blob):
    """Stored bytes -> float32 ndarray of shape (model.h: f32, f16, q8 = row scales + int8)."""
    n = int(np.prod(shape)) if shape else 1
    if dtype == "f32":
        return np.frombuffer(blob, dtype="<f4", count=n).reshape(shape).astype(np.float32)
    if dtype == "f16":
        return np.frombuffer(blob, dtype="<f2", count=n).reshape(shape).astype(np.float32)
    if dtype == "q8":
        rows, cols = shape
        scales = np.frombuffer(blob, dtype="<f4", count=rows)
        q = np.frombuffer(blob, dtype=np.int8, count=rows * cols, offset=4 * rows)
        return (q.reshape(rows, cols).astype(np.float32) * scales[:, None]).astype(np.float32)
    raise ValueError("unknown dtype %r" % dtype)


def read_model(db_path, name):
    """(config dict, {key: float32 ndarray}) of model `name` in db_path's attn_model table."""
    con = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
    try:
        rows = con.execute("SELECT key, dtype, shape, data FROM attn_model WHERE name = ?",
                           (name,)).fetchall()
    finally:
        con.close()
    if not rows:
        raise ValueError("model %r not found in %s" % (name, db_path))
    cfg, tensors = None, {}
    for key, dtype, shape, data in rows:
        if key == "config":
            cfg = json.loads(data if isinstance(data, str) else bytes(data).decode())
        else:
            tensors[key] = decode_tensor(dtype, json.loads(shape), bytes(data))
    if cfg is None:
        raise ValueError("model %r has no config row" % name)
    return cfg, tensors


def feature_slots(cfg):
    return sum(SUBWORD_SLOTS if f["kind"] == "subword" else 1 for f in cfg["features"])


def attn_scale(cfg):
    hd = cfg["dim"] // cfg["heads"]
    return 1.0 / math.sqrt(hd) if cfg.get("attn_scale", "sqrt") == "sqrt" else 1.0


# ---- the modules ------------------------------------------------------------------------

def _param(a):
    return nn.Parameter(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)))


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


class FeatureEmbedding(nn.Module):
    """rows [B, T, S] -> concatenated feature embeddings [B, T, sum fdim]."""

    def __init__(self, cfg, tensors):
        super().__init__()
        self.kinds, self.slots, tables = [], [], []
        for f in cfg["features"]:
            table = tensors["embed." + f["kind"]]
            if f["kind"] == "subword":      # one zero row at the end stands for ROW_NONE
                table = np.concatenate([table, np.zeros((1, table.shape[1]), np.float32)])
                tables.append(nn.Embedding.from_pretrained(
                    torch.from_numpy(table), freeze=False, padding_idx=table.shape[0] - 1))
            else:
                tables.append(nn.Embedding.from_pretrained(torch.from_numpy(table),
                                                           freeze=False))
            self.kinds.append(f["kind"])
            self.slots.append(SUBWORD_SLOTS if f["kind"] == "subword" else 1)
        self.tables = nn.ModuleList(tables)

    def forward(self, rows):
        parts, s = [], 0
        for kind, n, table in zip(self.kinds, self.slots, self.tables):
            if kind == "subword":
                r = rows[..., s:s + n]
                none = r == ROW_NONE
                r = torch.where(none, torch.full_like(r, table.num_embeddings - 1), r)
                count = (~none).sum(-1, keepdim=True).clamp(min=1)
                parts.append(table(r).sum(-2) / count)
            else:
                parts.append(table(rows[..., s]))
            s += n
        return torch.cat(parts, -1)


def embed_context(emb, k):
    """emb [B, T, E] -> [B, T, (2k+1)E]: each token's rows t-k .. t+k side by side, zeros past
    the sequence's ends (layers.h attn_embed_context_forward); k = 0 gives emb."""
    if k == 0:
        return emb
    T = emb.shape[-2]
    padded = F.pad(emb, (0, 0, k, k))
    return torch.cat([padded[..., j:j + T, :] for j in range(2 * k + 1)], -1)


class AttnEncoder(nn.Module):
    """rows [B, T, S] int64 (pad_mask [B, T] True = padding, optional) -> hidden [B, T, D].

    activation "gelu" (erf GELU, not ours) lets the layers take PyTorch's inference fast path
    (torch._transformer_encoder_layer_fwd: eval mode, no grad, batch_first); it accepts only
    "relu" and "gelu", so our tanh GELU runs the layers op by op."""

    def __init__(self, cfg, tensors, activation=gelu_tanh):
        super().__init__()
        D, H, L = cfg["dim"], cfg["heads"], cfg["layers"]
        eps = float(cfg.get("ln_eps", 1e-5))
        self.embed = FeatureEmbedding(cfg, tensors)
        self.context = int(cfg.get("embed_context", 0))
        self.proj = nn.Linear(tensors["embed.proj.w"].shape[1], D)
        self.proj.weight, self.proj.bias = _param(tensors["embed.proj.w"]), _param(tensors["embed.proj.b"])
        self.pos = _param(tensors["pos"])
        q_fix = attn_scale(cfg) * math.sqrt(D // H)   # MHA applies 1/sqrt(hd) itself
        layers = []
        for i in range(L):
            p = "layers.%d." % i
            layer = nn.TransformerEncoderLayer(D, H, cfg["ffn"], dropout=0.0,
                                               activation=activation, layer_norm_eps=eps,
                                               batch_first=True, norm_first=True)
            qkv_w, qkv_b = tensors[p + "attn.qkv.w"].copy(), tensors[p + "attn.qkv.b"].copy()
            qkv_w[:D] *= q_fix
            qkv_b[:D] *= q_fix
            layer.self_attn.in_proj_weight = _param(qkv_w)
            layer.self_attn.in_proj_bias = _param(qkv_b)
            layer.self_attn.out_proj.weight = _param(tensors[p + "attn.out.w"])
            layer.self_attn.out_proj.bias = _param(tensors[p + "attn.out.b"])
            layer.norm1.weight, layer.norm1.bias = _param(tensors[p + "ln1.w"]), _param(tensors[p + "ln1.b"])
            layer.norm2.weight, layer.norm2.bias = _param(tensors[p + "ln2.w"]), _param(tensors[p + "ln2.b"])
            layer.linear1.weight, layer.linear1.bias = _param(tensors[p + "ffn.up.w"]), _param(tensors[p + "ffn.up.b"])
            layer.linear2.weight, layer.linear2.bias = _param(tensors[p + "ffn.down.w"]), _param(tensors[p + "ffn.down.b"])
            layers.append(layer)
        self.layers = nn.ModuleList(layers)
        self.final_ln = nn.LayerNorm(D, eps=eps)
        self.final_ln.weight, self.final_ln.bias = _param(tensors["final_ln.w"]), _param(tensors["final_ln.b"])

    def forward(self, rows, pad_mask=None):
        T = rows.shape[-2]
        x = self.proj(embed_context(self.embed(rows), self.context)) + self.pos[:T]
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=pad_mask)
        return self.final_ln(x)


class AttnClassifier(nn.Module):
    """rows [B, T, S] (pad_mask [B, T] optional) -> logits [B, L]: cls(concat(mean, max))
    over the real tokens, as the classify head of model/heads.c."""

    def __init__(self, cfg, tensors):
        super().__init__()
        self.encoder = AttnEncoder(cfg, tensors)
        w = tensors["cls.w"]
        self.cls = nn.Linear(w.shape[1], w.shape[0])
        self.cls.weight, self.cls.bias = _param(w), _param(tensors["cls.b"])

    def forward(self, rows, pad_mask=None):
        h = self.encoder(rows, pad_mask)
        if pad_mask is None:
            pooled = torch.cat([h.mean(-2), h.max(-2).values], -1)
        else:
            keep = (~pad_mask).unsqueeze(-1)
            n = keep.sum(-2).clamp(min=1)
            mean = (h * keep).sum(-2) / n
            mx = h.masked_fill(~keep, float("-inf")).max(-2).values
            pooled = torch.cat([mean, mx], -1)
        return self.cls(pooled)


def decayed_parameters(model):
    """(decayed, not decayed) parameter lists, as train.h's AdamW: weight matrices of linear
    layers decay; embeddings, positions, LayerNorms and biases do not."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        is_matrix = p.dim() == 2 and name.endswith("weight") and ".tables." not in name
        (decay if is_matrix else no_decay).append(p)
    return decay, no_decay


# ---- the same synthetic token rows as tests/bench/bench_encoder.c ------------------------

SUBWORD_ROWS_USED = 6


def bench_rows(cfg, T, seq):
    """rows [T, S] int64 exactly as bench_encoder.c's bench_rows."""
    out = []
    for t in range(T):
        tok = []
        for f, spec in enumerate(cfg["features"]):
            n = SUBWORD_SLOTS if spec["kind"] == "subword" else 1
            for s in range(n):
                h = 1000003 * (t + 1) + 7919 * (f + 1) + 104729 * seq + 131 * s
                tok.append(h % spec["buckets"] if s < SUBWORD_ROWS_USED else ROW_NONE)
        out.append(tok)
    return torch.tensor(out, dtype=torch.int64)
