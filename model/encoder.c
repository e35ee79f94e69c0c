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

/* One linear layer to pack: its weights and (int8) its staging matrix. Job i goes to
 * linear_slot(p, i). */
typedef struct linear_job {
    char key[ATTN_MAX_KEY];       /* the weight's tensor key */
    const float *w, *b;           /* w[OC, C], b[OC] */
    int C, OC;
    attn_q8_matrix *q8;           /* staged int8 matrix, or NULL: f32 panels */
} linear_job;

/* Stages w[OC, C] (stored as q8, decoded as value = q * scale) as an int8 matrix by
 * requantising the decoded values: for rows written by attn_quantize_rows_q8 (scale =
 * max |w| / 127 rounded to float) this gives back the stored ints and scales exactly, since
 * (127 * scale) / 127 rounds back to scale (tests/unit/test_gemm.c checks the encoder against
 * the writer's own ints); another writer's rows are requantised within qgemm.h's error.
 * *out NULL, ATTN_OK: too wide for the int8 kernels (ATTN_Q8_MAX_DIM), the f32 path is used.
 * ATTN_ENOMEM. */
static int stage_q8(const float *w, int OC, int C, attn_q8_matrix **out, attn_error *err) {
    *out = NULL;
    if (OC > ATTN_Q8_MAX_DIM || C > ATTN_Q8_MAX_DIM) return ATTN_OK;
    return attn_q8_pack(out, w, OC, C, err);
}

/* Bytes of an int8 matrix's payload in the packed block: ints, then scales, then sums. */
static size_t q8_payload_bytes(const attn_q8_matrix *m, size_t *q_bytes) {
    *q_bytes = round_up_floats(((size_t)m->OCP * (size_t)m->CP + sizeof(float) - 1) /
                               sizeof(float)) * sizeof(float);
    return *q_bytes + (size_t)m->OCP * (sizeof(float) + sizeof(int32_t));
}

static size_t job_floats(const linear_job *j) {
    size_t q_bytes;
    if (j->q8) return round_up_floats(q8_payload_bytes(j->q8, &q_bytes) / sizeof(float));
    return round_up_floats(attn_packed_floats(j->C, j->OC));
}

/* Job i's linear: the projection, then qkv, out, up, down of each layer. */
static attn_linear *linear_slot(attn_encoder_packed *p, int i) {
    if (i == 0) return &p->proj;
    packed_layer *pl = &p->layer[(i - 1) / 4];
    attn_linear *const slots[4] = { &pl->qkv, &pl->out, &pl->up, &pl->down };
    return slots[(i - 1) % 4];
}

/* Packs job j into *cursor and describes it in L. */
static void pack_job(attn_encoder_packed *p, attn_linear *L, const linear_job *j,
                     float **cursor) {
    memset(L, 0, sizeof *L);
    L->C = j->C;
    L->OC = j->OC;
    L->b = j->b;
    if (j->q8) {
        attn_q8_matrix *m = &p->q8[p->n_q8++];
        size_t q_bytes;
        q8_payload_bytes(j->q8, &q_bytes);
        *m = *j->q8;
        m->block = NULL;
        m->q = (int8_t *)*cursor;
        m->wscale = (float *)((char *)*cursor + q_bytes);
        m->wsum = (int32_t *)(m->wscale + m->OCP);
        memcpy(m->q, j->q8->q, (size_t)m->OCP * (size_t)m->CP);
        memcpy(m->wscale, j->q8->wscale, (size_t)m->OCP * sizeof *m->wscale);
        memcpy(m->wsum, j->q8->wsum, (size_t)m->OCP * sizeof *m->wsum);
        L->format = ATTN_LINEAR_Q8;
        L->q8 = m;
    } else {
        L->format = ATTN_LINEAR_F32_PACKED;
        L->w.data = *cursor;
        L->w.K = j->C;
        L->w.N = j->OC;
        attn_pack_rows(*cursor, j->w, (size_t)j->C, j->OC, j->C);
    }
    *cursor += job_floats(j);
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
    return n;
}

/* Stages an int8 matrix for every linear whose weight was stored as q8. */
static int stage_jobs(const attn_model *m, linear_job *jobs, int n, attn_error *err) {
    for (int i = 0; i < n; i++) {
        if (attn_model_stored_dtype(m, jobs[i].key) != ATTN_DTYPE_Q8) continue;
        int rc = stage_q8(jobs[i].w, jobs[i].OC, jobs[i].C, &jobs[i].q8, err);
        if (rc) return rc;
    }
    return ATTN_OK;
}

static void free_staged(linear_job *jobs, int n) {
    for (int i = 0; i < n; i++) attn_q8_free(jobs[i].q8);
}

static size_t header_floats(void) {
    return round_up_floats((sizeof(attn_encoder_packed) + sizeof(float) - 1) / sizeof(float));
}

/* Lays the staged jobs out in one block. NULL: out of memory. */
static attn_encoder_packed *pack_jobs(const linear_job *jobs, int n) {
    size_t floats = header_floats();
    for (int i = 0; i < n; i++) floats += job_floats(&jobs[i]);
    attn_encoder_packed *p = aligned_alloc(PACKED_ALIGN_FLOATS * sizeof(float),
                                           floats * sizeof(float));
    if (!p) return NULL;
    memset(p, 0, sizeof *p);
    float *cursor = (float *)p + header_floats();
    for (int i = 0; i < n; i++) pack_job(p, linear_slot(p, i), &jobs[i], &cursor);
    return p;
}

int attn_encoder_prepare(attn_model *m, attn_error *err) {
    if (m->packed) return ATTN_OK;
    linear_job *jobs = calloc(PACKED_MAX_LINEARS, sizeof *jobs);
    if (!jobs) return attn_fail(err, ATTN_ENOMEM, "encoder: out of memory packing");
    const int n = list_jobs(m, jobs);
    int rc = stage_jobs(m, jobs, n, err);
    if (!rc) {
        attn_encoder_packed *p = pack_jobs(jobs, n);
        if (p) m->packed = p;
        else rc = attn_fail(err, ATTN_ENOMEM, "encoder: out of memory packing the weights");
    }
    free_staged(jobs, n);
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
    attn_gemm_attention(NULL, v->att, v->qkv, T, D, c->heads, c->attn_scale, v->attn);
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
