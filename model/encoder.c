/* encoder.c: the pre-LayerNorm transformer encoder, inference path (see encoder.h).
 * The residual stream lives in the caller's out[T, D]; every intermediate lives in one
 * scratch buffer carved into named views. */
#include "encoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "gemm.h"
#include "kernels.h"
#include "layers.h"
#include "qgemm.h"

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
    float *ctx;     /* [T, attn_proj_width] with embed_context, else unused (0 floats) */
} encoder_views;

/* Floats of the projection's input beside the embeddings: only embed_context needs them. */
static size_t context_floats(const attn_config *c, int T) {
    return c->embed_context ? (size_t)T * (size_t)attn_proj_width(c) : 0;
}

/* The projection's input: the embeddings themselves, or with embed_context each token's row
 * beside its neighbours' (written into ctx). */
static const float *projection_input(const attn_config *c, float *ctx, const float *emb, int T) {
    if (!c->embed_context) return emb;
    attn_embed_context_forward(ctx, emb, T, attn_embed_width(c), c->embed_context);
    return ctx;
}

static size_t encoder_scratch_floats(const attn_config *c, int T) {
    const size_t t = (size_t)T, D = (size_t)c->dim;
    return t * (size_t)attn_embed_width(c) + t * D * 6 + (size_t)c->heads * t * t +
           t * (size_t)c->ffn + context_floats(c, T);
}

static encoder_views carve_views(float *p, const attn_config *c, int T) {
    const size_t t = (size_t)T, D = (size_t)c->dim;
    encoder_views v;
    v.ctx = p;   p += context_floats(c, T);
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
    attn_attention_forward(v->att, v->probs, v->qkv, T, D, c->heads, c->attn_scale,
                           (attn_rel_bias){ lw->rel_bias, c->rel_positions });
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

#define PACKED_MAX_LINEARS (1 + 4 * ATTN_MAX_LAYERS)   /* the projection + 4 per layer */

/* One allocation: this header, then the weights of every linear (64-byte aligned): f32 panels,
 * or for an int8 linear its packed ints, scales and row sums (q8[i] points into them). */
struct attn_encoder_packed {
    attn_linear proj;
    packed_layer layer[ATTN_MAX_LAYERS];
    attn_q8_matrix q8[PACKED_MAX_LINEARS];   /* views; block NULL: freed with the header */
    int n_q8;
};

#define PACKED_ALIGN_FLOATS 16    /* 64 bytes */

static size_t round_up_floats(size_t n) {
    return (n + PACKED_ALIGN_FLOATS - 1) / PACKED_ALIGN_FLOATS * PACKED_ALIGN_FLOATS;
}

/* One linear layer to pack. Job i goes to linear_slot(p, i). */
typedef struct linear_job {
    char key[ATTN_MAX_KEY];       /* the weight's tensor key */
    const float *w, *b;           /* w[OC, C] (its values unless kept), b[OC] */
    const attn_table *kept;       /* the weight kept stored (q8, inference-only), or NULL */
    int C, OC;
    int int8;                     /* packed for the int8 kernels: q8 below is its layout */
    attn_q8_matrix q8;
    size_t floats;                /* of the packed block it takes */
} linear_job;

/* Chooses job j's format and lays it out: int8 when its weight was stored as q8 (encoder.h),
 * unless too wide for the int8 kernels (ATTN_Q8_MAX_DIM): then f32 panels. */
static void plan_job(const attn_model *m, linear_job *j) {
    attn_error ignored;
    size_t bytes = 0;
    j->kept = attn_model_kept(m, j->key);
    j->int8 = attn_model_stored_dtype(m, j->key) == ATTN_DTYPE_Q8 &&
              attn_q8_layout(&j->q8, j->OC, j->C, &bytes, &ignored) == ATTN_OK;
    j->floats = round_up_floats(j->int8 ? (bytes + sizeof(float) - 1) / sizeof(float)
                                        : attn_packed_floats(j->C, j->OC));
}

/* Job i's linear: the projection, then qkv, out, up, down of each layer. */
static attn_linear *linear_slot(attn_encoder_packed *p, int i) {
    if (i == 0) return &p->proj;
    packed_layer *pl = &p->layer[(i - 1) / 4];
    attn_linear *const slots[4] = { &pl->qkv, &pl->out, &pl->up, &pl->down };
    return slots[(i - 1) % 4];
}

/* f32 panels of a weight kept stored (a q8 linear too wide for int8): decoded, then packed. */
static int pack_kept_f32(float *dst, const linear_job *j, attn_error *err) {
    const size_t C = (size_t)j->C;
    float *w = malloc((size_t)j->OC * C * sizeof *w);
    if (!w) return attn_fail(err, ATTN_ENOMEM, "encoder: out of memory packing '%s'", j->key);
    for (int o = 0; o < j->OC; o++) attn_table_decode(j->kept, (size_t)o, 0, C, w + o * C);
    attn_pack_rows(dst, w, C, j->OC, j->C);
    free(w);
    return ATTN_OK;
}

/* Packs job j into *cursor (zeroed) and describes it in L. */
static int pack_job(attn_encoder_packed *p, attn_linear *L, const linear_job *j,
                    float **cursor, attn_error *err) {
    memset(L, 0, sizeof *L);
    L->C = j->C;
    L->OC = j->OC;
    L->b = j->b;
    int rc = ATTN_OK;
    if (j->int8) {
        attn_q8_matrix *m = &p->q8[p->n_q8++];
        *m = j->q8;
        attn_q8_place(m, *cursor);
        rc = j->kept ? attn_q8_pack_stored_into(m, j->kept->scales, j->kept->values, err)
                     : attn_q8_pack_into(m, j->w, err);
        L->format = ATTN_LINEAR_Q8;
        L->q8 = m;
    } else {
        L->format = ATTN_LINEAR_F32_PACKED;
        L->w.data = *cursor;
        L->w.K = j->C;
        L->w.N = j->OC;
        if (j->kept) rc = pack_kept_f32(*cursor, j, err);
        else attn_pack_rows(*cursor, j->w, (size_t)j->C, j->OC, j->C);
    }
    *cursor += j->floats;
    return rc;
}

static void add_job(linear_job *jobs, int *n, const float *w, const float *b, int C, int OC,
                    const char *key_fmt, int layer) {
    linear_job *j = &jobs[(*n)++];
    memset(j, 0, sizeof *j);
    snprintf(j->key, sizeof j->key, key_fmt, layer);
    j->w = w;
    j->b = b;
    j->C = C;
    j->OC = OC;
}

/* The encoder's linears in linear_slot order. */
static int list_jobs(const attn_model *m, linear_job *jobs) {
    const attn_config *c = &m->cfg;
    const int D = c->dim, F = c->ffn;
    int n = 0;
    add_job(jobs, &n, m->w.proj_w, m->w.proj_b, attn_proj_width(c), D, "embed.proj.w", 0);
    for (int l = 0; l < c->layers; l++) {
        const attn_layer_weights *lw = &m->w.layer[l];
        add_job(jobs, &n, lw->qkv_w, lw->qkv_b, D, 3 * D, "layers.%d.attn.qkv.w", l);
        add_job(jobs, &n, lw->out_w, lw->out_b, D, D, "layers.%d.attn.out.w", l);
        add_job(jobs, &n, lw->up_w, lw->up_b, D, F, "layers.%d.ffn.up.w", l);
        add_job(jobs, &n, lw->down_w, lw->down_b, F, D, "layers.%d.ffn.down.w", l);
    }
    for (int i = 0; i < n; i++) plan_job(m, &jobs[i]);
    return n;
}

static size_t header_floats(void) {
    return round_up_floats((sizeof(attn_encoder_packed) + sizeof(float) - 1) / sizeof(float));
}

/* Packs every job straight into its place in one block: *out, or NULL and an error. */
static int pack_jobs(const linear_job *jobs, int n, attn_encoder_packed **out,
                     attn_error *err) {
    *out = NULL;
    size_t floats = header_floats();
    for (int i = 0; i < n; i++) floats += jobs[i].floats;
    attn_encoder_packed *p = aligned_alloc(PACKED_ALIGN_FLOATS * sizeof(float),
                                           floats * sizeof(float));
    if (!p) return attn_fail(err, ATTN_ENOMEM, "encoder: out of memory packing the weights");
    memset(p, 0, sizeof *p);
    float *cursor = (float *)p + header_floats();
    int rc = ATTN_OK;
    for (int i = 0; i < n && !rc; i++) {
        if (jobs[i].int8) memset(cursor, 0, jobs[i].floats * sizeof(float));  /* the padding */
        rc = pack_job(p, linear_slot(p, i), &jobs[i], &cursor, err);
    }
    if (rc) {
        free(p);
        return rc;
    }
    *out = p;
    return ATTN_OK;
}

int attn_encoder_prepare(attn_model *m, attn_error *err) {
    if (m->packed) return ATTN_OK;
    linear_job *jobs = calloc(PACKED_MAX_LINEARS, sizeof *jobs);
    if (!jobs) return attn_fail(err, ATTN_ENOMEM, "encoder: out of memory packing");
    const int n = list_jobs(m, jobs);
    int rc = pack_jobs(jobs, n, &m->packed, err);
    free(jobs);
    return rc;
}

int attn_encoder_int8_linears(const attn_model *m) {
    return m->packed ? m->packed->n_q8 : 0;
}

/* Views of the scratch buffer for the packed path (no probabilities, no tmp). */
typedef struct packed_views {
    float *ctx;     /* [T, attn_proj_width] with embed_context */
    float *emb;     /* [T, E] */
    float *ln;      /* [T, D] */
    float *qkv;     /* [T, 3D] */
    float *att;     /* [T, D] */
    float *ffn;     /* [T, F] */
    float *attn;    /* [attn_gemm_attention_floats] */
    void *linear;   /* the int8 linears' scratch: packed_linear_scratch_floats */
} packed_views;

/* Floats of scratch the widest int8 linear needs for T tokens (0 without int8 linears). */
static size_t packed_linear_scratch_floats(const attn_encoder_packed *pk, int layers, int T) {
    size_t bytes = attn_linear_scratch_bytes(&pk->proj, T);
    for (int l = 0; l < layers; l++) {
        const attn_linear *L[4] = { &pk->layer[l].qkv, &pk->layer[l].out, &pk->layer[l].up,
                                    &pk->layer[l].down };
        for (int i = 0; i < 4; i++) {
            const size_t b = attn_linear_scratch_bytes(L[i], T);
            bytes = b > bytes ? b : bytes;
        }
    }
    return (bytes + sizeof(float) - 1) / sizeof(float);
}

static size_t packed_scratch_floats(const attn_model *m, int T) {
    const attn_config *c = &m->cfg;
    const size_t t = (size_t)T, D = (size_t)c->dim;
    return t * (size_t)attn_embed_width(c) + t * D * 5 + t * (size_t)c->ffn +
           context_floats(c, T) + attn_gemm_attention_floats(T, c->dim, c->heads) +
           packed_linear_scratch_floats(m->packed, c->layers, T);
}

static packed_views carve_packed_views(float *p, const attn_config *c, int T) {
    const size_t t = (size_t)T, D = (size_t)c->dim;
    packed_views v;
    v.ctx = p;   p += context_floats(c, T);
    v.emb = p;   p += t * (size_t)attn_embed_width(c);
    v.ln = p;    p += t * D;
    v.qkv = p;   p += t * D * 3;
    v.att = p;   p += t * D;
    v.ffn = p;   p += t * (size_t)c->ffn;
    v.attn = p;  p += attn_gemm_attention_floats(T, c->dim, c->heads);
    v.linear = p;
    return v;
}

/* x[T,D] += out(MHA(LN1(x))): the residual add is the out projection's epilogue. */
static void attention_block_packed(const attn_model *m, const attn_layer_weights *lw,
                                   const packed_layer *pl, const packed_views *v, float *x,
                                   int T) {
    const attn_config *c = &m->cfg;
    const int D = c->dim;
    attn_layernorm_forward(v->ln, NULL, NULL, x, lw->ln1_w, lw->ln1_b, T, D, c->ln_eps);
    attn_linear_forward(&pl->qkv, v->qkv, v->ln, T, ATTN_EPI_NONE, NULL, v->linear);
    attn_gemm_attention(NULL, v->att, v->qkv, T, D, c->heads, c->attn_scale,
                        (attn_rel_bias){ lw->rel_bias, c->rel_positions }, v->attn);
    attn_linear_forward(&pl->out, x, v->att, T, ATTN_EPI_NONE, x, v->linear);
}

/* x[T,D] += down(GELU(up(LN2(x)))): GELU and the residual add are epilogues. */
static void ffn_block_packed(const attn_model *m, const attn_layer_weights *lw,
                             const packed_layer *pl, const packed_views *v, float *x, int T) {
    const attn_config *c = &m->cfg;
    attn_layernorm_forward(v->ln, NULL, NULL, x, lw->ln2_w, lw->ln2_b, T, c->dim, c->ln_eps);
    attn_linear_forward(&pl->up, v->ffn, v->ln, T, ATTN_EPI_GELU, NULL, v->linear);
    attn_linear_forward(&pl->down, x, v->ffn, T, ATTN_EPI_NONE, x, v->linear);
}

static int encode_packed(const attn_model *m, const uint32_t *rows, int T, float *out,
                         attn_scratch *s, attn_error *err) {
    const attn_config *c = &m->cfg;
    const attn_encoder_packed *pk = m->packed;
    float *p = attn_scratch_reserve(s, packed_scratch_floats(m, T));
    if (!p) return attn_fail(err, ATTN_ENOMEM, "encoder: out of memory for %d tokens", T);
    const packed_views v = carve_packed_views(p, c, T);
    attn_embed_forward(v.emb, c, &m->w, rows, T);
    /* x = emb proj^T + proj_b + pos[0..T): pos is the projection's residual */
    attn_linear_forward(&pk->proj, out, projection_input(c, v.ctx, v.emb, T), T, ATTN_EPI_NONE,
                        m->w.pos, v.linear);
    for (int l = 0; l < c->layers; l++) {
        attention_block_packed(m, &m->w.layer[l], &pk->layer[l], &v, out, T);
        ffn_block_packed(m, &m->w.layer[l], &pk->layer[l], &v, out, T);
    }
    attn_layernorm_forward(out, NULL, NULL, out, m->w.final_ln_w, m->w.final_ln_b, T, c->dim,
                           c->ln_eps);
    return ATTN_OK;
}

size_t attn_encode_scratch_floats(const attn_model *m, int T) {
    return m->packed ? packed_scratch_floats(m, T) : encoder_scratch_floats(&m->cfg, T);
}

/* Some linear weight is kept stored (an inference-only model, model.h): a kept tensor that is
 * no embedding table. Its view in m->w holds zeros; only the packed copy has its values. */
static int has_kept_linears(const attn_model *m) {
    for (size_t i = 0; m->tables && i < m->n_specs; i++) {
        if (m->tables[i].dtype == ATTN_DTYPE_NONE) continue;
        int table = 0;
        for (int f = 0; f < m->cfg.n_features; f++) table |= m->w.embed_table[f] == &m->tables[i];
        if (!table) return 1;
    }
    return 0;
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
    if (has_kept_linears(m))
        return attn_fail(err, ATTN_EINVAL, "encoder: the model's int8 weights are kept stored: "
                         "attn_encoder_prepare must pack them first");
    float *p = attn_scratch_reserve(s, encoder_scratch_floats(c, T));
    if (!p) return attn_fail(err, ATTN_ENOMEM, "encoder: out of memory for %d tokens", T);
    const encoder_views v = carve_views(p, c, T);
    const int D = c->dim;

    /* x = embed(rows) proj^T + proj_b + pos[0..T) */
    attn_embed_forward(v.emb, c, &m->w, rows, T);
    attn_matmul_forward(out, projection_input(c, v.ctx, v.emb, T), m->w.proj_w, m->w.proj_b, T,
                        attn_proj_width(c), D);
    attn_kernels_best()->add(out, m->w.pos, (size_t)T * D);

    for (int l = 0; l < c->layers; l++) {
        attention_block(m, &m->w.layer[l], &v, out, T);
        ffn_block(m, &m->w.layer[l], &v, out, T);
    }
    attn_layernorm_forward(out, NULL, NULL, out, m->w.final_ln_w, m->w.final_ln_b, T, D,
                           c->ln_eps);
    return ATTN_OK;
}
