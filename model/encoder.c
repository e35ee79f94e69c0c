/* encoder.c: the pre-LayerNorm transformer encoder, inference path (see encoder.h).
 * The residual stream lives in the caller's out[T, D]; every intermediate lives in one
 * scratch buffer carved into named views. */
#include "encoder.h"

#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "kernels.h"
#include "layers.h"

float *attn_scratch_reserve(attn_scratch *s, size_t n) {
    if (n <= s->cap && s->buf) return s->buf;
    float *p = realloc(s->buf, (n ? n : 1) * sizeof *p);
    if (!p) return NULL;
    s->buf = p;
    s->cap = n;
    return p;
}

void attn_scratch_free(attn_scratch *s) {
    free(s->buf);
    s->buf = NULL;
    s->cap = 0;
}

/* Views of the scratch buffer for one sequence of T tokens. */
typedef struct encoder_views {
    float *emb;     /* [T, E] concatenated feature embeddings */
    float *ln;      /* [T, D] LayerNorm output */
    float *qkv;     /* [T, 3D] */
    float *att;     /* [T, D] attention output before its projection */
    float *probs;   /* [H, T, T] */
    float *ffn;     /* [T, F] */
    float *tmp;     /* [T, D] a sublayer's output before the residual add */
} encoder_views;

static size_t encoder_scratch_floats(const attn_config *c, int T) {
    const size_t t = (size_t)T, D = (size_t)c->dim;
    return t * (size_t)attn_embed_width(c) + t * D * 6 + (size_t)c->heads * t * t +
           t * (size_t)c->ffn;
}

static encoder_views carve_views(float *p, const attn_config *c, int T) {
    const size_t t = (size_t)T, D = (size_t)c->dim;
    encoder_views v;
    v.emb = p;   p += t * (size_t)attn_embed_width(c);
    v.ln = p;    p += t * D;
    v.qkv = p;   p += t * D * 3;
    v.att = p;   p += t * D;
    v.probs = p; p += (size_t)c->heads * t * t;
    v.ffn = p;   p += t * (size_t)c->ffn;
    v.tmp = p;
    return v;
}

/* x[T,D] += MHA(LN1(x)) projected. */
static void attention_block(const attn_model *m, const attn_layer_weights *lw,
                            const encoder_views *v, float *x, int T) {
    const attn_config *c = &m->cfg;
    const int D = c->dim;
    attn_layernorm_forward(v->ln, NULL, NULL, x, lw->ln1_w, lw->ln1_b, T, D, c->ln_eps);
    attn_matmul_forward(v->qkv, v->ln, lw->qkv_w, lw->qkv_b, T, D, 3 * D);
    attn_attention_forward(v->att, v->probs, v->qkv, T, D, c->heads, c->attn_scale);
    attn_matmul_forward(v->tmp, v->att, lw->out_w, lw->out_b, T, D, D);
    attn_kernels_best()->add(x, v->tmp, (size_t)T * D);
}

/* x[T,D] += down(GELU(up(LN2(x)))). */
static void ffn_block(const attn_model *m, const attn_layer_weights *lw,
                      const encoder_views *v, float *x, int T) {
    const attn_config *c = &m->cfg;
    const int D = c->dim, F = c->ffn;
    const attn_kernels *k = attn_kernels_best();
    attn_layernorm_forward(v->ln, NULL, NULL, x, lw->ln2_w, lw->ln2_b, T, D, c->ln_eps);
    attn_matmul_forward(v->ffn, v->ln, lw->up_w, lw->up_b, T, D, F);
    k->gelu(v->ffn, (size_t)T * F);
    attn_matmul_forward(v->tmp, v->ffn, lw->down_w, lw->down_b, T, F, D);
    k->add(x, v->tmp, (size_t)T * D);
}

static int check_rows(const attn_config *c, const uint32_t *rows, int T, attn_error *err) {
    const int slots = attn_feature_slots(c->features, c->n_features);
    for (int t = 0; t < T; t++) {
        const uint32_t *tok = rows + (size_t)t * slots;
        int slot = 0;
        const int f = attn_feature_rows_check(c->features, c->n_features, tok, &slot);
        if (f >= 0)
            return attn_fail(err, ATTN_EINVAL, "encoder: feature row %u of token %d "
                             "out of range (%u buckets)", tok[slot], t,
                             c->features[f].n_buckets);
    }
    return ATTN_OK;
}

/* ---- the packed fast path ----------------------------------------------------------- */

typedef struct packed_layer {
    attn_linear qkv, out, up, down;
} packed_layer;

/* One allocation: this header, then the panels of every linear (64-byte aligned). */
struct attn_encoder_packed {
    attn_linear proj;
    packed_layer layer[ATTN_MAX_LAYERS];
};

#define PACKED_ALIGN_FLOATS 16    /* 64 bytes */

static size_t round_up_floats(size_t n) {
    return (n + PACKED_ALIGN_FLOATS - 1) / PACKED_ALIGN_FLOATS * PACKED_ALIGN_FLOATS;
}

/* Packs w[OC, C] into *cursor and describes it in L. */
static void pack_linear(attn_linear *L, float **cursor, const float *w, const float *b,
                        int C, int OC) {
    L->format = ATTN_LINEAR_F32_PACKED;
    L->C = C;
    L->OC = OC;
    L->b = b;
    L->w.data = *cursor;
    L->w.K = C;
    L->w.N = OC;
    attn_pack_rows(*cursor, w, (size_t)C, OC, C);
    *cursor += round_up_floats(attn_packed_floats(C, OC));
}

static size_t packed_model_floats(const attn_config *c) {
    const int D = c->dim, F = c->ffn;
    size_t n = round_up_floats(attn_packed_floats(attn_embed_width(c), D));
    const size_t per_layer = round_up_floats(attn_packed_floats(D, 3 * D)) +
                             round_up_floats(attn_packed_floats(D, D)) +
                             round_up_floats(attn_packed_floats(D, F)) +
                             round_up_floats(attn_packed_floats(F, D));
    return n + (size_t)c->layers * per_layer;
}

int attn_encoder_prepare(attn_model *m, attn_error *err) {
    if (m->packed) return ATTN_OK;
    const attn_config *c = &m->cfg;
    const int D = c->dim, F = c->ffn;
    const size_t header = round_up_floats((sizeof(attn_encoder_packed) + sizeof(float) - 1) /
                                          sizeof(float));
    const size_t floats = header + packed_model_floats(c);
    attn_encoder_packed *p = aligned_alloc(PACKED_ALIGN_FLOATS * sizeof(float),
                                           floats * sizeof(float));
    if (!p) return attn_fail(err, ATTN_ENOMEM, "encoder: out of memory packing %zu floats",
                             floats);
    memset(p, 0, sizeof *p);
    float *cursor = (float *)p + header;
    pack_linear(&p->proj, &cursor, m->w.proj_w, m->w.proj_b, attn_embed_width(c), D);
    for (int l = 0; l < c->layers; l++) {
        const attn_layer_weights *lw = &m->w.layer[l];
        packed_layer *pl = &p->layer[l];
        pack_linear(&pl->qkv, &cursor, lw->qkv_w, lw->qkv_b, D, 3 * D);
        pack_linear(&pl->out, &cursor, lw->out_w, lw->out_b, D, D);
        pack_linear(&pl->up, &cursor, lw->up_w, lw->up_b, D, F);
        pack_linear(&pl->down, &cursor, lw->down_w, lw->down_b, F, D);
    }
    m->packed = p;
    return ATTN_OK;
}

/* Views of the scratch buffer for the packed path (no probabilities, no tmp). */
typedef struct packed_views {
    float *emb;     /* [T, E] */
    float *ln;      /* [T, D] */
    float *qkv;     /* [T, 3D] */
    float *att;     /* [T, D] */
    float *ffn;     /* [T, F] */
    float *attn;    /* [attn_attention_infer_floats] */
} packed_views;

static size_t packed_scratch_floats(const attn_config *c, int T) {
    const size_t t = (size_t)T, D = (size_t)c->dim;
    return t * (size_t)attn_embed_width(c) + t * D * 5 + t * (size_t)c->ffn +
           attn_attention_infer_floats(T, c->dim, c->heads);
}

static packed_views carve_packed_views(float *p, const attn_config *c, int T) {
    const size_t t = (size_t)T, D = (size_t)c->dim;
    packed_views v;
    v.emb = p;   p += t * (size_t)attn_embed_width(c);
    v.ln = p;    p += t * D;
    v.qkv = p;   p += t * D * 3;
    v.att = p;   p += t * D;
    v.ffn = p;   p += t * (size_t)c->ffn;
    v.attn = p;
    return v;
}

/* x[T,D] += out(MHA(LN1(x))): the residual add is the out projection's epilogue. */
static void attention_block_packed(const attn_model *m, const attn_layer_weights *lw,
                                   const packed_layer *pl, const packed_views *v, float *x,
                                   int T) {
    const attn_config *c = &m->cfg;
    const int D = c->dim;
    attn_layernorm_forward(v->ln, NULL, NULL, x, lw->ln1_w, lw->ln1_b, T, D, c->ln_eps);
    attn_linear_forward(&pl->qkv, v->qkv, v->ln, T, ATTN_EPI_NONE, NULL);
    attn_attention_infer(v->att, v->qkv, T, D, c->heads, c->attn_scale, v->attn, NULL);
    attn_linear_forward(&pl->out, x, v->att, T, ATTN_EPI_NONE, x);
}

/* x[T,D] += down(GELU(up(LN2(x)))): GELU and the residual add are epilogues. */
static void ffn_block_packed(const attn_model *m, const attn_layer_weights *lw,
                             const packed_layer *pl, const packed_views *v, float *x, int T) {
    const attn_config *c = &m->cfg;
    attn_layernorm_forward(v->ln, NULL, NULL, x, lw->ln2_w, lw->ln2_b, T, c->dim, c->ln_eps);
    attn_linear_forward(&pl->up, v->ffn, v->ln, T, ATTN_EPI_GELU, NULL);
    attn_linear_forward(&pl->down, x, v->ffn, T, ATTN_EPI_NONE, x);
}

static int encode_packed(const attn_model *m, const uint32_t *rows, int T, float *out,
                         attn_scratch *s, attn_error *err) {
    const attn_config *c = &m->cfg;
    const attn_encoder_packed *pk = m->packed;
    float *p = attn_scratch_reserve(s, packed_scratch_floats(c, T));
    if (!p) return attn_fail(err, ATTN_ENOMEM, "encoder: out of memory for %d tokens", T);
    const packed_views v = carve_packed_views(p, c, T);
    attn_embed_forward(v.emb, c, &m->w, rows, T);
    /* x = emb proj^T + proj_b + pos[0..T): pos is the projection's residual */
    attn_linear_forward(&pk->proj, out, v.emb, T, ATTN_EPI_NONE, m->w.pos);
    for (int l = 0; l < c->layers; l++) {
        attention_block_packed(m, &m->w.layer[l], &pk->layer[l], &v, out, T);
        ffn_block_packed(m, &m->w.layer[l], &pk->layer[l], &v, out, T);
    }
    attn_layernorm_forward(out, NULL, NULL, out, m->w.final_ln_w, m->w.final_ln_b, T, c->dim,
                           c->ln_eps);
    return ATTN_OK;
}

int attn_encode(const attn_model *m, const uint32_t *rows, int T, float *out,
                attn_scratch *s, attn_error *err) {
    const attn_config *c = &m->cfg;
    if (T < 1 || T > c->max_len)
        return attn_fail(err, ATTN_EINVAL, "encoder: %d tokens, expected 1..%d (max_len)",
                         T, c->max_len);
    int rc = check_rows(c, rows, T, err);
    if (rc) return rc;
    if (m->packed) return encode_packed(m, rows, T, out, s, err);
    float *p = attn_scratch_reserve(s, encoder_scratch_floats(c, T));
    if (!p) return attn_fail(err, ATTN_ENOMEM, "encoder: out of memory for %d tokens", T);
    const encoder_views v = carve_views(p, c, T);
    const int D = c->dim;

    /* x = embed(rows) proj^T + proj_b + pos[0..T) */
    attn_embed_forward(v.emb, c, &m->w, rows, T);
    attn_matmul_forward(out, v.emb, m->w.proj_w, m->w.proj_b, T, attn_embed_width(c), D);
    attn_kernels_best()->add(out, m->w.pos, (size_t)T * D);

    for (int l = 0; l < c->layers; l++) {
        attention_block(m, &m->w.layer[l], &v, out, T);
        ffn_block(m, &m->w.layer[l], &v, out, T);
    }
    attn_layernorm_forward(out, NULL, NULL, out, m->w.final_ln_w, m->w.final_ln_b, T, D,
                           c->ln_eps);
    return ATTN_OK;
}
