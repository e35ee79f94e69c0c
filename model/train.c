/* train.c: the trainer (see train.h). Layout:
 *   random numbers, parameter initialisation
 *   activations: one buffer per worker carved into per-layer views (llm.c's ActivationTensors)
 *   layer_forward / layer_backward, the encoder forward/backward, the heads and losses
 * A worker runs its share of the batch in chunks: the tokens of consecutive examples, up to
 * chunk_tokens in all, concatenated into one [N, .] activation buffer. Every linear layer,
 * LayerNorm, GELU and residual add runs once over the N tokens (one GEMM per layer forward,
 * one per gradient backward: the weights are packed once per chunk, not once per example);
 * attention, dropout draws, embeddings and the heads run per example on its rows.
 *   validation of examples, workers on the thread pool, clipping, AdamW, the schedule */
#include "train.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backward.h"
#include "crf.h"
#include "heads.h"
#include "kernels.h"
#include "layers.h"
#include "mlm.h"
#include "rtd.h"
#include "threadpool.h"

#define PI 3.14159265358979323846
#define BUF_ALIGN 64    /* bytes: alignment of the gradient / moment / activation buffers */
#define CHUNK_TOKENS 512  /* tokens of one chunk of examples (at least max_len: see above) */
#define TOUCHED_ROWS_MIN 1024  /* first capacity of a table's list of touched rows */

static float *mut(const float *p) { return (float *)p; }

/* ---- random numbers: splitmix64, one stream per (seed, step, example) -------------------- */

typedef struct rng { uint64_t s; } rng;

static uint64_t rng_next(rng *r) { return attn_splitmix64(&r->s); }
static float rng_uniform(rng *r) { return attn_uniform01(&r->s); }   /* [0, 1), 24 bits */

static double rng_normal(rng *r) {              /* Box-Muller */
    const double u1 = ((double)(rng_next(r) >> 11) + 1.0) / 9007199254740993.0;
    const double u2 = (double)(rng_next(r) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static rng example_rng(uint64_t seed, int step, int index) {
    rng r = { seed };
    r.s = rng_next(&r) ^ ((uint64_t)(uint32_t)step << 32 | (uint32_t)index);
    (void)rng_next(&r);
    return r;
}

static void *alloc_floats(size_t n) {     /* zeroed, BUF_ALIGN-aligned */
    size_t bytes = (n ? n : 1) * sizeof(float);
    bytes = (bytes + BUF_ALIGN - 1) / BUF_ALIGN * BUF_ALIGN;
    void *p = aligned_alloc(BUF_ALIGN, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

/* ---- initialisation ---------------------------------------------------------------------- */

int attn_train_decays(const char *key, int ndim) {
    return ndim == 2 && attn_ends_with(key, ".w");
}

/* Standard deviation of the normal init of a tensor; 0 = constant (see train.h). */
static double init_std(const attn_config *c, const attn_tensor_spec *sp) {
    const char *k = sp->key;
    if (strcmp(k, "embed.proj.w") == 0) return 1.0 / sqrt((double)attn_proj_width(c));
    if (strncmp(k, "embed.", 6) == 0 && strncmp(k, "embed.proj.", 11) != 0) return 1.0;
    if (strcmp(k, "pos") == 0) return 0.02;
    if (strcmp(k, "rel.type") == 0) return 0.1;
    if (!attn_train_decays(k, sp->ndim)) return 0.0;
    if (attn_ends_with(k, "attn.out.w") || attn_ends_with(k, "ffn.down.w"))
        return 0.02 / sqrt(2.0 * (c->layers > 0 ? c->layers : 1));
    return 0.02;
}

static void init_tensor(const attn_config *c, const attn_tensor_spec *sp, float *x, rng *r) {
    const double std = init_std(c, sp);
    const int is_gain = sp->ndim == 1 && (attn_ends_with(sp->key, ".ln1.w") ||
                        attn_ends_with(sp->key, ".ln2.w") || strcmp(sp->key, "final_ln.w") == 0);
    for (size_t i = 0; i < sp->size; i++)
        x[i] = std > 0.0 ? (float)(std * rng_normal(r)) : (is_gain ? 1.0f : 0.0f);
}

int attn_train_model_new(const char *config_json, size_t n, uint64_t seed, attn_model **out,
                         attn_error *err) {
    attn_model *m = NULL;
    int rc = attn_model_new(config_json, n, &m, err);
    if (rc) return rc;
    rng r = { seed };
    for (size_t i = 0; i < m->n_specs; i++) {
        init_tensor(&m->cfg, &m->specs[i], m->params + m->specs[i].offset, &r);
        m->given[i] = 1;
    }
    rc = attn_model_finish(m, err);
    if (rc) { attn_model_free(m); return rc; }
    *out = m;
    return ATTN_OK;
}

/* ---- activations: one buffer per worker, carved for T tokens ----------------------------- */

typedef struct layer_acts {
    float *x_in;                        /* [T,D] residual stream entering the layer */
    float *ln1, *ln1_mean, *ln1_rstd;   /* [T,D], [T], [T] */
    float *qkv;                         /* [T,3D] */
    float *probs, *probs_mask;          /* [H,T,T]: softmax, its dropout mask (0 or 1/(1-p)) */
    float *att;                         /* [T,D] heads' output before attn.out */
    float *att_mask;                    /* [T,D] dropout mask of the attention branch */
    float *x_mid;                       /* [T,D] residual stream after the attention block */
    float *ln2, *ln2_mean, *ln2_rstd;
    float *up;                          /* [T,F] before GELU */
    float *act;                         /* [T,F] after GELU */
    float *ffn_mask;                    /* [T,D] dropout mask of the FFN branch */
} layer_acts;

typedef struct acts {
    float *emb, *emb_mask;              /* [T,E] embeddings (after dropouts), dropout mask */
    float *ctx;                         /* [T,(2k+1)E] the projection's input (embed_context) */
    layer_acts layer[ATTN_MAX_LAYERS];
    float *x_final;                     /* [T,D] residual stream before the final LayerNorm */
    float *h, *fin_mean, *fin_rstd;     /* [T,D], [T], [T] encoder output */
    float *tmp;                         /* [T,D] a branch output before dropout and the add */
} acts;

/* Gradients of activations and head scratch: reused by every layer. */
typedef struct grad_scratch {
    float *dh;                          /* [T,D] gradient of the encoder output (from the heads) */
    float *dx;                          /* [T,D] gradient of the residual stream */
    float *dtmp, *dln, *datt;           /* [T,D] */
    float *dqkv;                        /* [T,3D] */
    float *dup, *dact;                  /* [T,F] */
    float *demb;                        /* [T,E] */
    float *dctx;                        /* [T,(2k+1)E] with embed_context */
    float *att_scratch;                 /* [2,T,T] */
    float *em, *dem;                    /* [T,K] emissions and their gradient */
    float *crf_work;                    /* ATTN_CRF_WORK(T,K) */
    float *head_work;                   /* classify / relation head work */
    float *probs;                       /* [L] classify probabilities */
} grad_scratch;

typedef struct cursor { float *base; size_t used; } cursor;

static float *take(cursor *c, size_t n) {
    float *p = c->base ? c->base + c->used : NULL;
    c->used += (n + 15) / 16 * 16;      /* every view 64-byte aligned */
    return p;
}

/* Views for N tokens in all whose attention probabilities need TT floats per head (the sum
 * of T_i^2 over the chunk's examples). */
static size_t carve_acts(float *base, const attn_config *c, int N, size_t TT, acts *a) {
    const size_t t = (size_t)N, D = (size_t)c->dim, F = (size_t)c->ffn;
    const size_t E = (size_t)attn_embed_width(c), HTT = (size_t)c->heads * TT;
    cursor cur = { base, 0 };
    a->emb = take(&cur, t * E);
    a->emb_mask = take(&cur, t * E);
    a->ctx = take(&cur, c->embed_context ? t * (size_t)attn_proj_width(c) : 0);
    for (int l = 0; l < c->layers; l++) {
        layer_acts *la = &a->layer[l];
        la->x_in = take(&cur, t * D);
        la->ln1 = take(&cur, t * D);
        la->ln1_mean = take(&cur, t);
        la->ln1_rstd = take(&cur, t);
        la->qkv = take(&cur, 3 * t * D);
        la->probs = take(&cur, HTT);
        la->probs_mask = take(&cur, HTT);
        la->att = take(&cur, t * D);
        la->att_mask = take(&cur, t * D);
        la->x_mid = take(&cur, t * D);
        la->ln2 = take(&cur, t * D);
        la->ln2_mean = take(&cur, t);
        la->ln2_rstd = take(&cur, t);
        la->up = take(&cur, t * F);
        la->act = take(&cur, t * F);
        la->ffn_mask = take(&cur, t * D);
    }
    a->x_final = take(&cur, t * D);
    a->h = take(&cur, t * D);
    a->fin_mean = take(&cur, t);
    a->fin_rstd = take(&cur, t);
    a->tmp = take(&cur, t * D);
    return cur.used;
}

static size_t head_work_floats(const attn_model *m) {
    size_t n = 1;
    if (m->cfg.tasks & ATTN_TASK_CLASSIFY) n = ATTN_CLS_BWD_WORK(m);
    if ((m->cfg.tasks & ATTN_TASK_RELATIONS) && ATTN_REL_BWD_WORK(m) > n) n = ATTN_REL_BWD_WORK(m);
    return n;
}

/* Scratch for N tokens in all; the per-example parts (attention, heads) for max_len. */
static size_t carve_scratch(float *base, const attn_model *m, int N, grad_scratch *s) {
    const attn_config *c = &m->cfg;
    const size_t t = (size_t)N, D = (size_t)c->dim, F = (size_t)c->ffn;
    const size_t L = (size_t)c->max_len;
    const size_t K = (c->tasks & ATTN_TASK_ENTITIES) ? (size_t)attn_config_n_tags(c) : 1;
    cursor cur = { base, 0 };
    s->dh = take(&cur, t * D);
    s->dx = take(&cur, t * D);
    s->dtmp = take(&cur, t * D);
    s->dln = take(&cur, t * D);
    s->datt = take(&cur, t * D);
    s->dqkv = take(&cur, 3 * t * D);
    s->dup = take(&cur, t * F);
    s->dact = take(&cur, t * F);
    s->demb = take(&cur, t * (size_t)attn_embed_width(c));
    s->dctx = take(&cur, c->embed_context ? t * (size_t)attn_proj_width(c) : 0);
    s->att_scratch = take(&cur, 2 * L * L);
    s->em = take(&cur, L * K);
    s->dem = take(&cur, L * K);
    s->crf_work = take(&cur, ATTN_CRF_WORK(L, K));
    s->head_work = take(&cur, head_work_floats(m));
    s->probs = take(&cur, (size_t)c->classify_labels.n + 1);
    return cur.used;
}

/* ---- the trainer and its workers --------------------------------------------------------- */

typedef struct pair { int head, tail, label; } pair;   /* label: relation output 0..R */

typedef struct worker {
    attn_trainer *tr;
    float *grad;                /* [n_params]: the trainer's (worker 0) or its own */
    attn_weights g;             /* named views into grad */
    int cap;                    /* tokens of a chunk: max(max_len, CHUNK_TOKENS) */
    float *act_buf, *scr_buf;   /* sized for cap tokens */
    acts a;
    grad_scratch s;
    uint8_t *word_drop;         /* [cap] 1 = the token's norm embedding was dropped */
    /* the chunk: n_seq examples, example i at tokens off[i]..off[i+1] of the buffers */
    int n_seq;
    int *off;                   /* [cap + 1] */
    size_t *poff;               /* [cap + 1] per head: sum of T^2 of the examples before */
    const uint32_t **rows;      /* [cap] feature rows the encoder runs on, per example */
    rng *rngs;                  /* [cap] each example's generator */
    int *mlm_n;                 /* [cap] mlm: predicted positions per example */
    /* mlm (NULL without the task), per token of the chunk */
    uint32_t *mlm_rows;         /* [cap, S] the masked sequences' feature rows */
    uint8_t *mlm_action;        /* [cap] ATTN_MLM_* */
    int *mlm_random, *mlm_pos, *mlm_tgt;  /* [cap] */
    float *mlm_work;            /* ATTN_MLM_WORK(m, max_len) */
    pair *pairs;                /* relation pairs of one example */
    size_t pairs_cap;
    int chunk_from;             /* batch index of the chunk's first example */
    /* the job of one step */
    const attn_example *batch;
    int from, to;
    double loss;
    int n_correct, n_classified, n_mlm_correct, n_mlm_predicted;
    int64_t n_tokens;
} worker;

/* The rows of one feature table that a batch reads, each once (stamp[row] == epoch marks a
 * listed row). */
typedef struct touched_rows {
    uint32_t *rows;
    size_t n, cap;
    uint32_t *stamp;            /* [n_buckets] */
    uint32_t epoch;
} touched_rows;

struct attn_trainer {
    attn_model *m;
    attn_train_opts o;
    float *grad;                /* [n_params] batch gradient (worker 0 accumulates here) */
    float *moments;             /* [2, n_params]: AdamW m | v */
    attn_weights g, adam_m, adam_v;   /* named views into grad and moments */
    uint8_t *decays;            /* [n_specs] */
    uint8_t *allowed;           /* [K*K + K] IOB2 constraints */
    attn_crf crf;
    int norm_feature;           /* index of the "norm" feature, -1 if none */
    uint32_t mask_rows[ATTN_MAX_SLOTS];   /* mlm: the [MASK] token's feature rows */
    int n_workers;
    attn_threadpool *pool;      /* n_workers threads (caller included); NULL: run in turn */
    int step;                   /* schedule position (attn_trainer_resume may set it) */
    int adam_t;                 /* steps since the AdamW moments began (bias correction) */
    int rewarm_steps;           /* after a resume: lr ramps up over this many steps */
    /* rtd (rtd.h): the pool, and each step's corrupted rows and labels for the whole batch
     * (made before the table rows are listed: the replacements read other rows) */
    const attn_rtd_pool *rtd_pool;
    uint32_t *rtd_rows;         /* [batch tokens, S] */
    uint8_t *rtd_label;         /* [batch tokens] */
    size_t *rtd_off;            /* [n + 1] token offset of example i in the two above */
    size_t rtd_cap_rows, rtd_cap_label, rtd_cap_off;
    /* The feature tables' rows this step's batch reads (table_rows below): only they have a
     * gradient, so only they are summed, clipped and updated. */
    touched_rows touched[ATTN_MAX_FEATURES];
    int table_of_spec[ATTN_MAX_FEATURES];  /* spec index of feature f's table */
    worker w[ATTN_TRAIN_MAX_THREADS];
};

attn_train_opts attn_train_defaults(void) {
    attn_train_opts o;
    memset(&o, 0, sizeof o);
    o.seed = 1;
    o.lr = 1e-3f;
    o.beta1 = 0.9f;
    o.beta2 = 0.999f;
    o.adam_eps = 1e-8f;
    o.weight_decay = 0.01f;
    o.total_steps = 1000;
    o.schedule = ATTN_LR_LINEAR;
    o.clip_norm = 1.0f;
    o.rel_negatives = 8;
    o.embed_lr_scale = 1.0f;
    o.threads = 1;
    return o;
}

static int rate_ok(float r) { return r >= 0.0f && r < 1.0f; }

static int check_opts(const attn_train_opts *o, attn_error *err) {
    if (!(o->lr >= 0.0f) || !isfinite(o->lr))
        return attn_fail(err, ATTN_EINVAL, "train: lr must be finite and >= 0");
    if (!(o->beta1 >= 0.0f && o->beta1 < 1.0f) || !(o->beta2 >= 0.0f && o->beta2 < 1.0f) ||
        !(o->adam_eps > 0.0f))
        return attn_fail(err, ATTN_EINVAL, "train: need 0 <= beta1, beta2 < 1 and adam_eps > 0");
    if (!(o->weight_decay >= 0.0f) || !(o->clip_norm >= 0.0f))
        return attn_fail(err, ATTN_EINVAL, "train: weight_decay and clip_norm must be >= 0");
    if (o->warmup_steps < 0 || o->total_steps < 1)
        return attn_fail(err, ATTN_EINVAL, "train: need warmup_steps >= 0 and total_steps >= 1");
    if (o->schedule != ATTN_LR_LINEAR && o->schedule != ATTN_LR_COSINE)
        return attn_fail(err, ATTN_EINVAL, "train: unknown schedule %d", o->schedule);
    if (!(o->min_lr_ratio >= 0.0f && o->min_lr_ratio <= 1.0f))
        return attn_fail(err, ATTN_EINVAL, "train: min_lr_ratio must be in [0, 1]");
    if (!rate_ok(o->dropout_embed) || !rate_ok(o->dropout_attn) || !rate_ok(o->dropout_resid) ||
        !rate_ok(o->word_dropout))
        return attn_fail(err, ATTN_EINVAL, "train: dropout rates must be in [0, 1)");
    if (o->rel_negatives < 0) return attn_fail(err, ATTN_EINVAL, "train: rel_negatives < 0");
    if (!(o->embed_lr_scale > 0.0f && o->embed_lr_scale <= 10.0f))
        return attn_fail(err, ATTN_EINVAL, "train: embed_lr_scale must be in (0, 10]");
    if (o->threads < 1 || o->threads > ATTN_TRAIN_MAX_THREADS)
        return attn_fail(err, ATTN_EINVAL, "train: threads must be 1..%d", ATTN_TRAIN_MAX_THREADS);
    return ATTN_OK;
}

static int worker_init(attn_trainer *tr, worker *w, int index) {
    const attn_model *m = tr->m;
    const int L = m->cfg.max_len, cap = L > CHUNK_TOKENS ? L : CHUNK_TOKENS;
    const size_t n = (size_t)cap + 1;
    w->tr = tr;
    w->cap = cap;
    w->grad = index == 0 ? tr->grad : alloc_floats(m->n_params);
    /* the examples of a chunk: sum T^2 <= max T * sum T <= L * cap */
    w->act_buf = alloc_floats(carve_acts(NULL, &m->cfg, cap, (size_t)L * cap, &w->a));
    w->scr_buf = alloc_floats(carve_scratch(NULL, m, cap, &w->s));
    w->word_drop = calloc(n, 1);
    w->off = calloc(n, sizeof *w->off);
    w->poff = calloc(n, sizeof *w->poff);
    w->rows = calloc(n, sizeof *w->rows);
    w->rngs = calloc(n, sizeof *w->rngs);
    w->mlm_n = calloc(n, sizeof *w->mlm_n);
    if (!w->grad || !w->act_buf || !w->scr_buf || !w->word_drop || !w->off || !w->poff ||
        !w->rows || !w->rngs || !w->mlm_n)
        return -1;
    if (m->cfg.tasks & ATTN_TASK_MLM) {
        const size_t S = (size_t)attn_feature_slots(m->cfg.features, m->cfg.n_features);
        w->mlm_rows = malloc((size_t)cap * S * sizeof *w->mlm_rows);
        w->mlm_action = calloc((size_t)cap, 1);
        w->mlm_random = malloc((size_t)cap * sizeof(int));
        w->mlm_pos = malloc((size_t)cap * sizeof(int));
        w->mlm_tgt = malloc((size_t)cap * sizeof(int));
        w->mlm_work = alloc_floats(ATTN_MLM_WORK(m, L));
        if (!w->mlm_rows || !w->mlm_action || !w->mlm_random || !w->mlm_pos || !w->mlm_tgt ||
            !w->mlm_work)
            return -1;
    }
    attn_weights_bind(&m->cfg, m->specs, m->n_specs, w->grad, &w->g);
    return 0;
}

static void worker_free(worker *w, int index) {
    if (index != 0) free(w->grad);
    free(w->act_buf);
    free(w->scr_buf);
    free(w->word_drop);
    free(w->off);
    free(w->poff);
    free(w->rows);
    free(w->rngs);
    free(w->mlm_n);
    free(w->pairs);
    free(w->mlm_rows);
    free(w->mlm_action);
    free(w->mlm_random);
    free(w->mlm_pos);
    free(w->mlm_tgt);
    free(w->mlm_work);
}

static int find_norm_feature(const attn_config *c) {
    for (int f = 0; f < c->n_features; f++)
        if (c->features[f].kind == ATTN_FEAT_NORM) return f;
    return -1;
}

static int setup_crf(attn_trainer *tr) {
    const attn_model *m = tr->m;
    if (!(m->cfg.tasks & ATTN_TASK_ENTITIES)) return 0;
    const int K = attn_config_n_tags(&m->cfg);
    tr->allowed = malloc((size_t)K * K + K);
    if (!tr->allowed) return -1;
    attn_bio_constraints(m->cfg.entity_labels.n, tr->allowed, tr->allowed + (size_t)K * K);
    tr->crf = (attn_crf){ K, m->w.crf_trans, m->w.crf_start, m->w.crf_end, tr->allowed,
                          tr->allowed + (size_t)K * K };
    return 0;
}

/* ---- the table rows a batch reads ---------------------------------------------------------
 *
 * A feature table has up to millions of rows and a batch reads a few thousand. Summing,
 * clipping and updating every parameter each step made the optimiser the larger half of a
 * training step, so the tables are handled by row: the gradient of a row no example of the
 * batch reads is zero, and such a row is not summed, scaled, counted in the norm, or updated
 * (its AdamW moments wait too: "lazy" Adam, as TensorFlow's LazyAdam and PyTorch's SparseAdam
 * do for embeddings). Gradients stay exact: every row outside the lists is zero in every
 * worker's buffer, because the rows a step listed are zeroed before the next step lists its
 * own. Every other tensor is handled whole. */

static int touched_init(attn_trainer *tr) {
    const attn_model *m = tr->m;
    for (int f = 0; f < m->cfg.n_features; f++) {
        char key[ATTN_MAX_KEY];
        snprintf(key, sizeof key, "embed.%s", attn_feature_name(m->cfg.features[f].kind));
        tr->table_of_spec[f] = attn_tensor_find(m->specs, m->n_specs, key);
        tr->touched[f].stamp = calloc(m->cfg.features[f].n_buckets, sizeof(uint32_t));
        if (tr->table_of_spec[f] < 0 || !tr->touched[f].stamp) return -1;
    }
    return 0;
}

/* Feature f of the spec s, or -1 when s is not a feature table. */
static int table_feature(const attn_trainer *tr, size_t s) {
    for (int f = 0; f < tr->m->cfg.n_features; f++)
        if (tr->table_of_spec[f] == (int)s) return f;
    return -1;
}

static int touch_row(touched_rows *t, uint32_t row) {
    if (row == ATTN_ROW_NONE || t->stamp[row] == t->epoch) return 0;
    if (t->n == t->cap && attn_grow((void **)&t->rows, &t->cap,
                                    t->cap ? t->n + 1 : TOUCHED_ROWS_MIN, sizeof *t->rows))
        return -1;
    t->stamp[row] = t->epoch;
    t->rows[t->n++] = row;
    return 0;
}

static int wants(const attn_model *m, const attn_example *ex, int task);

/* The rows example i of the batch gives the encoder, as far as they are known before the
 * workers run: its corrupted rows for rtd, else its own (mlm's masked rows are its own rows,
 * the [MASK] token's and its neighbours'). */
static const uint32_t *encoder_rows(const attn_trainer *tr, const attn_example *batch, int i) {
    if (!wants(tr->m, &batch[i], ATTN_TASK_RTD)) return batch[i].rows;
    const attn_config *c = &tr->m->cfg;
    return tr->rtd_rows + tr->rtd_off[i] * (size_t)attn_feature_slots(c->features, c->n_features);
}

/* rtd: every rtd example of the batch corrupted (rtd.h) with a seed drawn from (seed, step,
 * example index), into tr->rtd_rows / rtd_label. -1 when out of memory. */
static int rtd_prepare(attn_trainer *tr, const attn_example *batch, int n) {
    if (!(tr->m->cfg.tasks & ATTN_TASK_RTD)) return 0;
    const attn_config *c = &tr->m->cfg;
    const size_t S = (size_t)attn_feature_slots(c->features, c->n_features);
    if (attn_grow((void **)&tr->rtd_off, &tr->rtd_cap_off, (size_t)n + 1, sizeof *tr->rtd_off))
        return -1;
    tr->rtd_off[0] = 0;
    for (int i = 0; i < n; i++)
        tr->rtd_off[i + 1] = tr->rtd_off[i] +
                             (wants(tr->m, &batch[i], ATTN_TASK_RTD) ? (size_t)batch[i].T : 0);
    const size_t N = tr->rtd_off[n] ? tr->rtd_off[n] : 1;
    if (attn_grow((void **)&tr->rtd_rows, &tr->rtd_cap_rows, N * S, sizeof *tr->rtd_rows) ||
        attn_grow((void **)&tr->rtd_label, &tr->rtd_cap_label, N, sizeof *tr->rtd_label))
        return -1;
    for (int i = 0; i < n; i++) {
        if (!wants(tr->m, &batch[i], ATTN_TASK_RTD)) continue;
        rng r = example_rng(tr->o.seed ^ 0x727464ull, tr->step, i);
        attn_rtd_corrupt(tr->rtd_pool, batch[i].rows, batch[i].mlm_caps, batch[i].T,
                         rng_next(&r), tr->rtd_rows + tr->rtd_off[i] * S,
                         tr->rtd_label + tr->rtd_off[i]);
    }
    return 0;
}

/* Lists the rows of each table that the batch reads (and the [MASK] token's, which the mlm
 * task puts in place of tokens). */
static int list_touched_rows(attn_trainer *tr, const attn_example *batch, int n) {
    const attn_config *c = &tr->m->cfg;
    const int S = attn_feature_slots(c->features, c->n_features);
    for (int f = 0, slot = 0; f < c->n_features; slot += attn_feature_n_slots(&c->features[f]), f++) {
        touched_rows *t = &tr->touched[f];
        t->n = 0;
        if (++t->epoch == 0) {   /* wrapped: forget every stamp */
            memset(t->stamp, 0, c->features[f].n_buckets * sizeof *t->stamp);
            t->epoch = 1;
        }
        const int k_end = slot + attn_feature_n_slots(&c->features[f]);
        for (int i = 0; i < n; i++) {
            const uint32_t *rows = encoder_rows(tr, batch, i);
            for (int tok = 0; tok < batch[i].T; tok++)
                for (int k = slot; k < k_end; k++)
                    if (touch_row(t, rows[(size_t)tok * S + k])) return -1;
        }
        if (c->tasks & ATTN_TASK_MLM)
            for (int k = slot; k < k_end; k++)
                if (touch_row(t, tr->mask_rows[k])) return -1;
    }
    return 0;
}

/* Calls fn(off, n, ctx) for each run of parameters that may have a gradient this step: every
 * tensor but the feature tables whole, and the listed rows of each table. */
static void live_ranges(const attn_trainer *tr, void (*fn)(size_t off, size_t n, size_t spec,
                                                            void *ctx), void *ctx) {
    const attn_model *m = tr->m;
    for (size_t s = 0; s < m->n_specs; s++) {
        const int f = table_feature(tr, s);
        if (f < 0) { fn(m->specs[s].offset, m->specs[s].size, s, ctx); continue; }
        const size_t dim = m->cfg.features[f].dim;
        for (size_t i = 0; i < tr->touched[f].n; i++)
            fn(m->specs[s].offset + (size_t)tr->touched[f].rows[i] * dim, dim, s, ctx);
    }
}

static void zero_range(size_t off, size_t n, size_t spec, void *ctx) {
    (void)spec;
    attn_trainer *tr = ctx;
    for (int k = 0; k < tr->n_workers; k++) memset(tr->w[k].grad + off, 0, n * sizeof(float));
}

static void sum_range(size_t off, size_t n, size_t spec, void *ctx) {
    (void)spec;
    attn_trainer *tr = ctx;
    attn_kernels_best()->add(tr->grad + off, tr->w[1].grad + off, n);
}

typedef struct scale_job { float *x; float by; } scale_job;

static void scale_range(size_t off, size_t n, size_t spec, void *ctx) {
    (void)spec;
    const scale_job *j = ctx;
    attn_kernels_best()->scale(j->x + off, j->by, n);
}

int attn_trainer_new(attn_model *m, const attn_train_opts *opts, attn_trainer **out,
                     attn_error *err) {
    *out = NULL;
    if (!m || !m->finished) return attn_fail(err, ATTN_EINVAL, "train: the model is not finished");
    int rc = check_opts(opts, err);
    if (rc) return rc;
    attn_trainer *tr = calloc(1, sizeof *tr);
    if (!tr) return attn_fail(err, ATTN_ENOMEM, "train: out of memory");
    tr->m = m;
    tr->o = *opts;
    tr->n_workers = opts->threads;
    tr->norm_feature = find_norm_feature(&m->cfg);
    attn_mlm_mask_rows(&m->cfg, tr->mask_rows);
    tr->grad = alloc_floats(m->n_params);
    tr->moments = alloc_floats(2 * m->n_params);
    tr->decays = calloc(m->n_specs, 1);
    int bad = !tr->grad || !tr->moments || !tr->decays || setup_crf(tr);
    for (int i = 0; i < tr->n_workers && !bad; i++) bad = worker_init(tr, &tr->w[i], i);
    attn_error pool_err;        /* no pool (no thread to be had): the workers run in turn */
    if (!bad && tr->n_workers > 1 &&
        attn_threadpool_new(tr->n_workers, NULL, NULL, &tr->pool, &pool_err) != ATTN_OK)
        tr->pool = NULL;
    if (bad) {
        attn_trainer_free(tr);
        return attn_fail(err, ATTN_ENOMEM, "train: out of memory for %zu parameters",
                         m->n_params);
    }
    for (size_t i = 0; i < m->n_specs; i++)
        tr->decays[i] = (uint8_t)attn_train_decays(m->specs[i].key, m->specs[i].ndim);
    if (touched_init(tr)) {
        attn_trainer_free(tr);
        return attn_fail(err, ATTN_ENOMEM, "train: out of memory for the table row lists");
    }
    attn_weights_bind(&m->cfg, m->specs, m->n_specs, tr->grad, &tr->g);
    attn_weights_bind(&m->cfg, m->specs, m->n_specs, tr->moments, &tr->adam_m);
    attn_weights_bind(&m->cfg, m->specs, m->n_specs, tr->moments + m->n_params, &tr->adam_v);
    *out = tr;
    return ATTN_OK;
}

void attn_trainer_free(attn_trainer *tr) {
    if (!tr) return;
    attn_threadpool_free(tr->pool);
    for (int i = 0; i < tr->n_workers; i++) worker_free(&tr->w[i], i);
    for (int f = 0; f < ATTN_MAX_FEATURES; f++) {
        free(tr->touched[f].rows);
        free(tr->touched[f].stamp);
    }
    free(tr->grad);
    free(tr->moments);
    free(tr->decays);
    free(tr->allowed);
    free(tr->rtd_rows);
    free(tr->rtd_label);
    free(tr->rtd_off);
    free(tr);
}

const float *attn_trainer_grads(const attn_trainer *tr) { return tr->grad; }
int attn_trainer_steps_done(const attn_trainer *tr) { return tr->step; }

void attn_trainer_set_rtd_pool(attn_trainer *tr, const attn_rtd_pool *pool) {
    tr->rtd_pool = pool;
}

int attn_trainer_resume(attn_trainer *tr, int step, int rewarm_steps, attn_error *err) {
    if (step < 0 || rewarm_steps < 0)
        return attn_fail(err, ATTN_EINVAL, "train: resume at step %d with %d re-warm-up steps",
                         step, rewarm_steps);
    tr->step = step;
    tr->rewarm_steps = step > 0 ? rewarm_steps : 0;
    return ATTN_OK;
}

/* ---- forward ----------------------------------------------------------------------------- */

/* Inverted dropout in place: mask[i] = 0 with probability rate, else 1/(1-rate); x *= mask. */
static void dropout_forward(float *x, float *mask, size_t n, float rate, rng *r) {
    if (rate <= 0.0f) return;
    const float keep = 1.0f / (1.0f - rate);
    for (size_t i = 0; i < n; i++) {
        mask[i] = rng_uniform(r) < rate ? 0.0f : keep;
        x[i] *= mask[i];
    }
}

/* attn_attention_forward with dropout on the probabilities (the same steps, so with rate 0
 * the result is identical). pd: [T,T] scratch. */
static void attention_forward_train(float *out, float *probs, float *mask, const float *qkv,
                                    int T, int D, int H, float scale, attn_rel_bias rel,
                                    float rate, rng *r, float *pd) {
    const size_t TT = (size_t)T * T;
    for (int h = 0; h < H; h++) {
        float *p = probs + (size_t)h * TT;
        attn_attention_head_probs(p, qkv, T, D, H, h, scale, rel);
        const float *used = p;
        if (rate > 0.0f) {
            memcpy(pd, p, TT * sizeof *pd);
            dropout_forward(pd, mask + (size_t)h * TT, TT, rate, r);
            used = pd;
        }
        attn_attention_head_mix(out, used, qkv, T, D, H, h);
    }
}

/* ---- the chunk: examples batch[from..to) concatenated ------------------------------------ */

static void zero(float *x, size_t n) { memset(x, 0, n * sizeof *x); }

static int seq_T(const worker *w, int i) { return w->off[i + 1] - w->off[i]; }
static int chunk_tokens(const worker *w) { return w->off[w->n_seq]; }

/* End (exclusive) of the chunk starting at batch[from]: as many examples as fit in cap tokens,
 * at least one (T <= max_len <= cap). */
static int chunk_end(const attn_example *batch, int from, int to, int cap) {
    int end = from, tokens = 0;
    while (end < to && (end == from || tokens + batch[end].T <= cap)) tokens += batch[end++].T;
    return end;
}

/* Inverted dropout over x[N, width] of the chunk, each example's rows with its own generator. */
static void chunk_dropout(worker *w, float *x, float *mask, int width, float rate) {
    if (rate <= 0.0f) return;
    for (int i = 0; i < w->n_seq; i++) {
        const size_t t0 = (size_t)w->off[i] * width;
        dropout_forward(x + t0, mask + t0, (size_t)seq_T(w, i) * width, rate, &w->rngs[i]);
    }
}

/* One encoder layer over the chunk's N tokens: x_out[N,D] = la->x_in + attention branch +
 * FFN branch (pre-LN), keeping every activation the backward pass needs in la. Linear layers
 * run once over all N tokens, attention per example. */
static void layer_forward(worker *w, const attn_layer_weights *lw, layer_acts *la,
                          float *x_out) {
    const attn_config *c = &w->tr->m->cfg;
    const attn_train_opts *o = &w->tr->o;
    const attn_kernels *k = attn_kernels_best();
    const int D = c->dim, F = c->ffn, H = c->heads, N = chunk_tokens(w);
    const size_t ND = (size_t)N * D;
    float *tmp = w->a.tmp;
    attn_layernorm_forward(la->ln1, la->ln1_mean, la->ln1_rstd, la->x_in, lw->ln1_w, lw->ln1_b,
                           N, D, c->ln_eps);
    attn_matmul_forward(la->qkv, la->ln1, lw->qkv_w, lw->qkv_b, N, D, 3 * D);
    for (int i = 0; i < w->n_seq; i++) {
        const size_t t0 = (size_t)w->off[i], p0 = (size_t)H * w->poff[i];
        attention_forward_train(la->att + t0 * D, la->probs + p0, la->probs_mask + p0,
                                la->qkv + t0 * 3 * D, seq_T(w, i), D, H, c->attn_scale,
                                (attn_rel_bias){ lw->rel_bias, c->rel_positions },
                                o->dropout_attn, &w->rngs[i], w->s.att_scratch);
    }
    attn_matmul_forward(tmp, la->att, lw->out_w, lw->out_b, N, D, D);
    chunk_dropout(w, tmp, la->att_mask, D, o->dropout_resid);
    memcpy(la->x_mid, la->x_in, ND * sizeof *tmp);
    k->add(la->x_mid, tmp, ND);

    attn_layernorm_forward(la->ln2, la->ln2_mean, la->ln2_rstd, la->x_mid, lw->ln2_w, lw->ln2_b,
                           N, D, c->ln_eps);
    attn_matmul_forward(la->up, la->ln2, lw->up_w, lw->up_b, N, D, F);
    memcpy(la->act, la->up, (size_t)N * F * sizeof *tmp);
    k->gelu(la->act, (size_t)N * F);
    attn_matmul_forward(tmp, la->act, lw->down_w, lw->down_b, N, F, D);
    chunk_dropout(w, tmp, la->ffn_mask, D, o->dropout_resid);
    memcpy(x_out, la->x_mid, ND * sizeof *tmp);
    k->add(x_out, tmp, ND);
}

static float *stream(acts *a, int l, int n_layers) {
    return l < n_layers ? a->layer[l].x_in : a->x_final;
}

/* Word dropout, then dropout, on example i's embeddings emb[T_i, E] (its generator). */
static void embed_dropout(worker *w, int i, float *emb, float *mask, int E) {
    const attn_trainer *tr = w->tr;
    const attn_config *c = &tr->m->cfg;
    const int T = seq_T(w, i);
    uint8_t *drop = w->word_drop + w->off[i];
    if (tr->o.word_dropout > 0.0f && tr->norm_feature >= 0) {
        int off = 0;
        for (int f = 0; f < tr->norm_feature; f++) off += (int)c->features[f].dim;
        const size_t fdim = c->features[tr->norm_feature].dim;
        for (int t = 0; t < T; t++) {
            drop[t] = rng_uniform(&w->rngs[i]) < tr->o.word_dropout;
            if (drop[t]) memset(emb + (size_t)t * E + off, 0, fdim * sizeof(float));
        }
    }
    dropout_forward(emb, mask, (size_t)T * E, tr->o.dropout_embed, &w->rngs[i]);
}

/* Embeddings with word dropout and dropout, projected, plus positions: x0[N,D]. */
static void embed_forward_train(worker *w) {
    const attn_trainer *tr = w->tr;
    const attn_config *c = &tr->m->cfg;
    const int E = attn_embed_width(c), D = c->dim, N = chunk_tokens(w);
    acts *a = &w->a;
    float *x0 = stream(a, 0, c->layers);
    memset(w->word_drop, 0, (size_t)N);
    for (int i = 0; i < w->n_seq; i++) {
        const size_t t0 = (size_t)w->off[i] * E;
        attn_embed_forward(a->emb + t0, c, &tr->m->w, w->rows[i], seq_T(w, i));
        embed_dropout(w, i, a->emb + t0, a->emb_mask + t0, E);
    }
    const float *in = a->emb;
    if (c->embed_context) {     /* each example's rows beside its neighbours' */
        for (int i = 0; i < w->n_seq; i++)
            attn_embed_context_forward(a->ctx + (size_t)w->off[i] * attn_proj_width(c),
                                       a->emb + (size_t)w->off[i] * E, seq_T(w, i), E,
                                       c->embed_context);
        in = a->ctx;
    }
    attn_matmul_forward(x0, in, tr->m->w.proj_w, tr->m->w.proj_b, N, attn_proj_width(c), D);
    for (int i = 0; i < w->n_seq; i++)
        attn_kernels_best()->add(x0 + (size_t)w->off[i] * D, tr->m->w.pos,
                                 (size_t)seq_T(w, i) * D);
}

/* The whole encoder over the chunk, training mode: w->a.h[N,D]. */
static void encoder_forward(worker *w) {
    const attn_model *m = w->tr->m;
    const attn_config *c = &m->cfg;
    const int N = chunk_tokens(w);
    acts *a = &w->a;
    carve_acts(w->act_buf, c, N, w->poff[w->n_seq], a);
    carve_scratch(w->scr_buf, m, N, &w->s);
    embed_forward_train(w);
    for (int l = 0; l < c->layers; l++)
        layer_forward(w, &m->w.layer[l], &a->layer[l], stream(a, l + 1, c->layers));
    attn_layernorm_forward(a->h, a->fin_mean, a->fin_rstd, a->x_final, m->w.final_ln_w,
                           m->w.final_ln_b, N, c->dim, c->ln_eps);
}

/* ---- backward ---------------------------------------------------------------------------- */

/* dst = src * mask (mask NULL: copy). */
static void times_mask(float *dst, const float *src, const float *mask, size_t n) {
    if (!mask) { memcpy(dst, src, n * sizeof *dst); return; }
    for (size_t i = 0; i < n; i++) dst[i] = src[i] * mask[i];
}

/* Backward of attention_forward_train for every example of the chunk: s->dqkv[N,3D] +=,
 * and the layer's relative position biases' gradient gl->rel_bias += (when it has them). */
static void chunk_attention_backward(worker *w, const attn_layer_weights *gl,
                                     const layer_acts *la) {
    const attn_config *c = &w->tr->m->cfg;
    const int D = c->dim, H = c->heads;
    const int dropped = w->tr->o.dropout_attn > 0.0f;
    for (int i = 0; i < w->n_seq; i++) {
        const size_t t0 = (size_t)w->off[i], p0 = (size_t)H * w->poff[i];
        attn_attention_backward(w->s.dqkv + t0 * 3 * D, mut(gl->rel_bias), w->s.datt + t0 * D,
                                la->qkv + t0 * 3 * D, la->probs + p0,
                                dropped ? la->probs_mask + p0 : NULL, seq_T(w, i), D, H,
                                c->attn_scale, c->rel_positions, w->s.att_scratch);
    }
}

/* Backward of layer_forward. dx[N,D]: in, the gradient of x_out; out, the gradient of x_in.
 * Parameter gradients are added into gl. */
static void layer_backward(worker *w, const attn_layer_weights *lw,
                           const attn_layer_weights *gl, const layer_acts *la, float *dx) {
    const attn_config *c = &w->tr->m->cfg;
    const attn_train_opts *o = &w->tr->o;
    grad_scratch *s = &w->s;
    const int D = c->dim, F = c->ffn, N = chunk_tokens(w);
    const size_t ND = (size_t)N * D, NF = (size_t)N * F;
    const float *resid_mask_ffn = o->dropout_resid > 0.0f ? la->ffn_mask : NULL;
    const float *resid_mask_att = o->dropout_resid > 0.0f ? la->att_mask : NULL;

    /* FFN branch: x_out = x_mid + mask * down(GELU(up(LN2(x_mid)))) */
    times_mask(s->dtmp, dx, resid_mask_ffn, ND);
    zero(s->dact, NF);
    attn_matmul_backward(s->dact, mut(gl->down_w), mut(gl->down_b), s->dtmp, la->act,
                         lw->down_w, N, F, D);
    zero(s->dup, NF);
    attn_gelu_backward_from_output(s->dup, la->up, la->act, s->dact, NF);
    zero(s->dln, ND);
    attn_matmul_backward(s->dln, mut(gl->up_w), mut(gl->up_b), s->dup, la->ln2, lw->up_w,
                         N, D, F);
    attn_layernorm_backward(dx, mut(gl->ln2_w), mut(gl->ln2_b), s->dln, la->x_mid, lw->ln2_w,
                            la->ln2_mean, la->ln2_rstd, N, D);

    /* attention branch: x_mid = x_in + mask * out(MHA(LN1(x_in))) */
    times_mask(s->dtmp, dx, resid_mask_att, ND);
    zero(s->datt, ND);
    attn_matmul_backward(s->datt, mut(gl->out_w), mut(gl->out_b), s->dtmp, la->att, lw->out_w,
                         N, D, D);
    zero(s->dqkv, 3 * ND);
    chunk_attention_backward(w, gl, la);
    zero(s->dln, ND);
    attn_matmul_backward(s->dln, mut(gl->qkv_w), mut(gl->qkv_b), s->dqkv, la->ln1, lw->qkv_w,
                         N, D, 3 * D);
    attn_layernorm_backward(dx, mut(gl->ln1_w), mut(gl->ln1_b), s->dln, la->x_in, lw->ln1_w,
                            la->ln1_mean, la->ln1_rstd, N, D);
}

/* Backward of encoder_forward from s->dh[N,D] (the heads' gradient of the encoder output). */
static void encoder_backward(worker *w) {
    const attn_trainer *tr = w->tr;
    const attn_model *m = tr->m;
    const attn_config *c = &m->cfg;
    const int D = c->dim, E = attn_embed_width(c), N = chunk_tokens(w);
    grad_scratch *s = &w->s;
    acts *a = &w->a;
    zero(s->dx, (size_t)N * D);
    attn_layernorm_backward(s->dx, mut(w->g.final_ln_w), mut(w->g.final_ln_b), s->dh, a->x_final,
                            m->w.final_ln_w, a->fin_mean, a->fin_rstd, N, D);
    for (int l = c->layers - 1; l >= 0; l--)
        layer_backward(w, &m->w.layer[l], &w->g.layer[l], &a->layer[l], s->dx);
    for (int i = 0; i < w->n_seq; i++)
        attn_kernels_best()->add(mut(w->g.pos), s->dx + (size_t)w->off[i] * D,
                                 (size_t)seq_T(w, i) * D);
    zero(s->demb, (size_t)N * E);
    if (c->embed_context) {
        const int P = attn_proj_width(c);
        zero(s->dctx, (size_t)N * P);
        attn_matmul_backward(s->dctx, mut(w->g.proj_w), mut(w->g.proj_b), s->dx, a->ctx,
                             m->w.proj_w, N, P, D);
        for (int i = 0; i < w->n_seq; i++)
            attn_embed_context_backward(s->demb + (size_t)w->off[i] * E,
                                        s->dctx + (size_t)w->off[i] * P, seq_T(w, i), E,
                                        c->embed_context);
    } else {
        attn_matmul_backward(s->demb, mut(w->g.proj_w), mut(w->g.proj_b), s->dx, a->emb,
                             m->w.proj_w, N, E, D);
    }
    if (tr->o.dropout_embed > 0.0f) times_mask(s->demb, s->demb, a->emb_mask, (size_t)N * E);
    for (int i = 0; i < w->n_seq; i++)
        attn_embed_backward(c, &w->g, w->rows[i], s->demb + (size_t)w->off[i] * E, seq_T(w, i),
                            tr->norm_feature, w->word_drop + w->off[i]);
}

/* ---- heads and losses (per example: h[T,D] and dh[T,D] are its rows of the chunk) -------- */

static double classify_loss(worker *w, const attn_example *ex, const float *h, float *dh) {
    const attn_model *m = w->tr->m;
    const double loss = attn_classify_backward(m, &w->g, h, ex->T, ex->label, 1.0f, dh,
                                               w->s.probs, w->s.head_work);
    w->n_classified++;
    w->n_correct += attn_argmax(w->s.probs, m->cfg.classify_labels.n) == ex->label;
    return loss;
}

static double entity_loss(worker *w, const attn_example *ex, const float *h, float *dh) {
    const attn_trainer *tr = w->tr;
    const int T = ex->T, K = tr->crf.K;
    attn_tag_emissions(tr->m, h, T, w->s.em);
    zero(w->s.dem, (size_t)T * K);
    const double nll = attn_crf_nll_backward(&tr->crf, w->s.em, T, ex->tags, w->s.dem,
                                             mut(w->g.crf_trans), mut(w->g.crf_start),
                                             mut(w->g.crf_end), w->s.crf_work);
    attn_tag_emissions_backward(tr->m, &w->g, h, w->s.dem, T, dh);
    return nll;
}

static int is_gold_pair(const attn_example *ex, int head, int tail) {
    for (int i = 0; i < ex->n_rels; i++)
        if (ex->rels[i].head == head && ex->rels[i].tail == tail) return 1;
    return 0;
}

/* Gold pairs, then up to rel_negatives "none" pairs sampled without replacement from the
 * ordered pairs of distinct spans without a gold relation. Returns the count. */
static int collect_pairs(worker *w, const attn_example *ex, rng *r) {
    int n = 0;
    for (int i = 0; i < ex->n_rels; i++)
        w->pairs[n++] = (pair){ ex->rels[i].head, ex->rels[i].tail, 1 + ex->rels[i].label };
    const int first_negative = n;
    for (int a = 0; a < ex->n_spans; a++)
        for (int b = 0; b < ex->n_spans; b++)
            if (a != b && !is_gold_pair(ex, a, b)) w->pairs[n++] = (pair){ a, b, 0 };
    const int n_neg = n - first_negative, keep = w->tr->o.rel_negatives;
    if (n_neg <= keep) return n;
    for (int i = 0; i < keep; i++) {            /* partial Fisher-Yates */
        const int j = i + (int)(rng_next(r) % (uint64_t)(n_neg - i));
        const pair tmp = w->pairs[first_negative + i];
        w->pairs[first_negative + i] = w->pairs[first_negative + j];
        w->pairs[first_negative + j] = tmp;
    }
    return first_negative + keep;
}

static double relation_loss(worker *w, const attn_example *ex, rng *r, const float *h,
                            float *dh) {
    const int n = collect_pairs(w, ex, r);
    if (n == 0) return 0.0;
    const float weight = 1.0f / (float)n;
    double loss = 0.0;
    for (int i = 0; i < n; i++) {
        const attn_span *hd = &ex->spans[w->pairs[i].head], *tl = &ex->spans[w->pairs[i].tail];
        loss += attn_relation_backward(w->tr->m, &w->g, h, ex->T, hd->start, hd->end,
                                       hd->label, tl->start, tl->end, tl->label,
                                       w->pairs[i].label, weight, dh, w->s.head_work);
    }
    return loss / n;
}

static int wants(const attn_model *m, const attn_example *ex, int task) {
    if (!(m->cfg.tasks & task)) return 0;
    if (task == ATTN_TASK_MLM) return ex->mlm_target != NULL;
    if (task == ATTN_TASK_RTD) return ex->mlm_caps != NULL;
    if (task == ATTN_TASK_CLASSIFY) return ex->label >= 0;
    if (task == ATTN_TASK_ENTITIES) return ex->tags != NULL;
    return ex->spans != NULL;
}

/* mlm: masks the sequence into w->mlm_rows from token t0 of the chunk and lists the predicted
 * positions (relative to the example) from mlm_pos[t0], mlm_tgt[t0]. Returns M. */
static int mlm_mask(worker *w, const attn_example *ex, int t0, rng *r) {
    const size_t S = (size_t)attn_feature_slots(w->tr->m->cfg.features, w->tr->m->cfg.n_features);
    const uint64_t seed = rng_next(r);
    uint8_t *action = w->mlm_action + t0;
    int *random = w->mlm_random + t0;
    attn_mlm_choose(ex->mlm_caps, ex->T, seed, action);
    attn_mlm_random_sources(action, ex->T, seed, random);
    attn_mlm_apply(&w->tr->m->cfg, ex->rows, ex->T, action, random, w->tr->mask_rows,
                   w->mlm_rows + (size_t)t0 * S);
    return attn_mlm_positions(action, ex->mlm_target, ex->T, w->mlm_pos + t0, w->mlm_tgt + t0);
}

/* Mean cross-entropy of the masked words of example i (the encoder ran on the masked rows). */
static double mlm_loss(worker *w, int i, const float *h, float *dh) {
    const int M = w->mlm_n[i], t0 = w->off[i];
    if (M == 0) return 0.0;
    int correct = 0;
    const double loss = attn_mlm_backward(w->tr->m, &w->g, h, w->mlm_pos + t0, w->mlm_tgt + t0,
                                          M, 1.0f / (float)M, dh, &correct, w->mlm_work);
    w->n_mlm_correct += correct;
    w->n_mlm_predicted += M;
    return loss;
}

/* rtd: mean binary cross-entropy over the example's tokens (the encoder ran on its corrupted
 * rows, made by rtd_prepare). */
static double rtd_loss(worker *w, const attn_example *ex, int i, const float *h, float *dh) {
    const attn_trainer *tr = w->tr;
    int correct = 0;
    const double loss = attn_rtd_backward(tr->m, &w->g, h, ex->T,
                                          tr->rtd_label + tr->rtd_off[w->chunk_from + i],
                                          1.0f / (float)ex->T, dh, &correct);
    w->n_mlm_correct += correct;
    w->n_mlm_predicted += ex->T;
    return loss;
}

/* Sets up the chunk batch[from..to) (at most cap tokens): offsets, each example's generator
 * (seeded by its index in the batch), mlm masking, the rows the encoder runs on. */
static void chunk_begin(worker *w, const attn_example *batch, int from, int to) {
    const attn_trainer *tr = w->tr;
    const size_t S = (size_t)attn_feature_slots(tr->m->cfg.features, tr->m->cfg.n_features);
    w->n_seq = to - from;
    w->chunk_from = from;
    w->off[0] = 0;
    w->poff[0] = 0;
    for (int i = 0; i < w->n_seq; i++) {
        const attn_example *ex = &batch[from + i];
        const int mlm = wants(tr->m, ex, ATTN_TASK_MLM);
        w->off[i + 1] = w->off[i] + ex->T;
        w->poff[i + 1] = w->poff[i] + (size_t)ex->T * ex->T;
        w->rngs[i] = example_rng(tr->o.seed, tr->step, from + i);
        w->mlm_n[i] = mlm ? mlm_mask(w, ex, w->off[i], &w->rngs[i]) : 0;
        w->rows[i] = mlm ? w->mlm_rows + (size_t)w->off[i] * S
                   : wants(tr->m, ex, ATTN_TASK_RTD) ? tr->rtd_rows + tr->rtd_off[from + i] * S
                                                     : ex->rows;
    }
}

/* The losses of example i of the chunk; its gradient of the encoder output into s.dh. */
static double example_losses(worker *w, const attn_example *ex, int i) {
    const attn_model *m = w->tr->m;
    const size_t t0 = (size_t)w->off[i] * m->cfg.dim;
    const float *h = w->a.h + t0;
    float *dh = w->s.dh + t0;
    double loss = 0.0;
    if (wants(m, ex, ATTN_TASK_CLASSIFY)) loss += classify_loss(w, ex, h, dh);
    if (wants(m, ex, ATTN_TASK_ENTITIES)) loss += entity_loss(w, ex, h, dh);
    if (wants(m, ex, ATTN_TASK_RELATIONS)) loss += relation_loss(w, ex, &w->rngs[i], h, dh);
    if (wants(m, ex, ATTN_TASK_MLM)) loss += mlm_loss(w, i, h, dh);
    if (wants(m, ex, ATTN_TASK_RTD)) loss += rtd_loss(w, ex, i, h, dh);
    return loss;
}

/* Forward, losses and backward of the chunk batch[from..to); gradients added into w->grad.
 * Returns the sum of the examples' losses. */
static double chunk_forward_backward(worker *w, const attn_example *batch, int from, int to) {
    chunk_begin(w, batch, from, to);
    encoder_forward(w);
    const int N = chunk_tokens(w);
    zero(w->s.dh, (size_t)N * w->tr->m->cfg.dim);
    double loss = 0.0;
    for (int i = 0; i < w->n_seq; i++) loss += example_losses(w, &batch[from + i], i);
    encoder_backward(w);
    w->n_tokens += N;
    return loss;
}

/* ---- validation -------------------------------------------------------------------------- */

static int check_rows(const attn_config *c, const attn_example *ex, int i, attn_error *err) {
    if (!ex->rows) return attn_fail(err, ATTN_EINVAL, "train: example %d has no feature rows", i);
    const int slots = attn_feature_slots(c->features, c->n_features);
    for (int t = 0; t < ex->T; t++) {
        const uint32_t *tok = ex->rows + (size_t)t * slots;
        int slot = 0;
        const int f = attn_feature_rows_check(c->features, c->n_features, tok, &slot);
        if (f >= 0)
            return attn_fail(err, ATTN_EINVAL, "train: example %d: feature row %u of token "
                             "%d out of range (%u buckets)", i, tok[slot], t,
                             c->features[f].n_buckets);
    }
    return ATTN_OK;
}

static int check_relations(const attn_config *c, const attn_example *ex, int i, attn_error *err) {
    if (ex->n_spans < 0 || ex->n_rels < 0 || (ex->n_rels > 0 && !ex->rels))
        return attn_fail(err, ATTN_EINVAL, "train: example %d: bad span or pair count", i);
    for (int s = 0; s < ex->n_spans; s++) {
        const attn_span *sp = &ex->spans[s];
        if (sp->start < 0 || sp->end <= sp->start || sp->end > ex->T || sp->label < 0 ||
            sp->label >= c->entity_labels.n)
            return attn_fail(err, ATTN_EINVAL, "train: example %d: entity span %d [%d, %d) "
                             "label %d invalid (%d tokens, %d labels)", i, s, sp->start,
                             sp->end, sp->label, ex->T, c->entity_labels.n);
    }
    for (int p = 0; p < ex->n_rels; p++) {
        const attn_rel_gold *g = &ex->rels[p];
        if (g->head < 0 || g->head >= ex->n_spans || g->tail < 0 || g->tail >= ex->n_spans ||
            g->head == g->tail || g->label < 0 || g->label >= c->relation_labels.n)
            return attn_fail(err, ATTN_EINVAL, "train: example %d: relation %d (%d -> %d, "
                             "label %d) invalid", i, p, g->head, g->tail, g->label);
        for (int q = 0; q < p; q++)
            if (ex->rels[q].head == g->head && ex->rels[q].tail == g->tail)
                return attn_fail(err, ATTN_EINVAL, "train: example %d: pair %d -> %d given "
                                 "twice", i, g->head, g->tail);
    }
    return ATTN_OK;
}

static int check_mlm(const attn_config *c, const attn_example *ex, int i, attn_error *err) {
    if (!ex->mlm_caps)
        return attn_fail(err, ATTN_EINVAL, "train: example %d: mlm targets without caps", i);
    for (int t = 0; t < ex->T; t++)
        if (ex->mlm_target[t] < -1 || ex->mlm_target[t] >= c->mlm_vocab)
            return attn_fail(err, ATTN_EINVAL, "train: example %d: mlm target %d of token %d "
                             "out of range (vocab %d)", i, (int)ex->mlm_target[t], t,
                             c->mlm_vocab);
    return ATTN_OK;
}

static int check_example(const attn_trainer *tr, const attn_example *ex, int i,
                         attn_error *err) {
    const attn_model *m = tr->m;
    const attn_config *c = &m->cfg;
    if (ex->T < 1 || ex->T > c->max_len)
        return attn_fail(err, ATTN_EINVAL, "train: example %d has %d tokens, expected 1..%d "
                         "(max_len; split longer texts)", i, ex->T, c->max_len);
    int rc = check_rows(c, ex, i, err);
    if (rc) return rc;
    if (wants(m, ex, ATTN_TASK_CLASSIFY) && ex->label >= c->classify_labels.n)
        return attn_fail(err, ATTN_EINVAL, "train: example %d: label %d out of range (%d "
                         "labels)", i, ex->label, c->classify_labels.n);
    if (wants(m, ex, ATTN_TASK_ENTITIES) && !attn_crf_path_allowed(&tr->crf, ex->T, ex->tags))
        return attn_fail(err, ATTN_EINVAL, "train: example %d: tag path is not valid IOB2 "
                         "(tag out of range, or I-x not after B-x/I-x)", i);
    if (wants(m, ex, ATTN_TASK_RELATIONS) && (rc = check_relations(c, ex, i, err))) return rc;
    if (wants(m, ex, ATTN_TASK_MLM) && (rc = check_mlm(c, ex, i, err))) return rc;
    if (wants(m, ex, ATTN_TASK_RTD) && !tr->rtd_pool)
        return attn_fail(err, ATTN_EINVAL, "train: example %d: task rtd needs a pool of "
                         "replacements (attn_trainer_set_rtd_pool)", i);
    if (!wants(m, ex, ATTN_TASK_CLASSIFY) && !wants(m, ex, ATTN_TASK_ENTITIES) &&
        !wants(m, ex, ATTN_TASK_RELATIONS) && !wants(m, ex, ATTN_TASK_MLM) &&
        !wants(m, ex, ATTN_TASK_RTD))
        return attn_fail(err, ATTN_EINVAL, "train: example %d gives no answer for any task of "
                         "the model", i);
    return ATTN_OK;
}

/* Room for the relation pairs of every example of the batch, in every worker. */
static int reserve_pairs(attn_trainer *tr, const attn_example *batch, int n, attn_error *err) {
    size_t need = 1;
    for (int i = 0; i < n; i++)
        if (wants(tr->m, &batch[i], ATTN_TASK_RELATIONS)) {
            const size_t s = (size_t)batch[i].n_spans;
            if (s * (s > 0 ? s - 1 : 0) + 1 > need) need = s * (s > 0 ? s - 1 : 0) + 1;
        }
    for (int k = 0; k < tr->n_workers; k++) {
        worker *w = &tr->w[k];
        if (attn_grow((void **)&w->pairs, &w->pairs_cap, need, sizeof *w->pairs) != ATTN_OK)
            return attn_fail(err, ATTN_ENOMEM, "train: out of memory for relation pairs");
    }
    return ATTN_OK;
}

static int check_batch(attn_trainer *tr, const attn_example *batch, int n, attn_error *err) {
    if (!batch || n < 1 || n > ATTN_TRAIN_MAX_BATCH)
        return attn_fail(err, ATTN_EINVAL, "train: batch of %d examples, expected 1..%d", n,
                         ATTN_TRAIN_MAX_BATCH);
    for (int i = 0; i < n; i++) {
        int rc = check_example(tr, &batch[i], i, err);
        if (rc) return rc;
    }
    return reserve_pairs(tr, batch, n, err);
}

/* ---- a batch: workers, threads, the summed gradient -------------------------------------- */

static void worker_run(worker *w) {
    w->loss = 0.0;
    w->n_correct = w->n_classified = w->n_mlm_correct = w->n_mlm_predicted = 0;
    w->n_tokens = 0;
    for (int i = w->from, end; i < w->to; i = end) {
        end = chunk_end(w->batch, i, w->to, w->cap);
        w->loss += chunk_forward_backward(w, w->batch, i, end);
    }
}

/* Thread pool item k: worker k's share of the batch (it never fails). */
static int worker_item(void *workers, void *scratch, size_t k, attn_error *err) {
    (void)scratch, (void)err;
    worker_run(&((worker *)workers)[k]);
    return ATTN_OK;
}

/* Runs the batch on the workers and leaves the mean gradient in tr->grad. */
static int batch_gradient(attn_trainer *tr, const attn_example *batch, int n,
                          attn_train_stats *st, attn_error *err) {
    live_ranges(tr, zero_range, tr);      /* the previous step's rows: every gradient zero */
    if (rtd_prepare(tr, batch, n))
        return attn_fail(err, ATTN_ENOMEM, "train: out of memory for the replaced tokens");
    if (list_touched_rows(tr, batch, n))
        return attn_fail(err, ATTN_ENOMEM, "train: out of memory for the table row lists");
    const int nw = n >= 2 ? tr->n_workers : 1;
    for (int k = 0; k < nw; k++) {
        tr->w[k].batch = batch;
        tr->w[k].from = k == 0 ? 0 : n / 2;
        tr->w[k].to = nw == 1 || k == 1 ? n : n / 2;
    }
    if (nw == 2 && tr->pool) {
        attn_error unused;
        (void)attn_threadpool_run(tr->pool, 2, worker_item, tr->w, NULL, &unused);
    } else {
        for (int k = 0; k < nw; k++) worker_run(&tr->w[k]);   /* no pool: same result */
    }
    if (nw == 2) live_ranges(tr, sum_range, tr);
    scale_job mean = { tr->grad, 1.0f / (float)n };
    live_ranges(tr, scale_range, &mean);
    memset(st, 0, sizeof *st);
    for (int k = 0; k < nw; k++) {
        st->loss += tr->w[k].loss;
        st->n_correct += tr->w[k].n_correct;
        st->n_classified += tr->w[k].n_classified;
        st->n_mlm_correct += tr->w[k].n_mlm_correct;
        st->n_mlm_predicted += tr->w[k].n_mlm_predicted;
        st->n_tokens += tr->w[k].n_tokens;
    }
    st->loss /= n;
    return ATTN_OK;
}

int attn_trainer_grad(attn_trainer *tr, const attn_example *batch, int n, double *loss,
                      attn_error *err) {
    int rc = check_batch(tr, batch, n, err);
    if (rc) return rc;
    attn_train_stats st;
    if ((rc = batch_gradient(tr, batch, n, &st, err))) return rc;
    if (loss) *loss = st.loss;
    return ATTN_OK;
}

int attn_trainer_encode(attn_trainer *tr, const uint32_t *rows, int T, float *h,
                        attn_error *err) {
    attn_example ex;
    memset(&ex, 0, sizeof ex);
    ex.rows = rows;
    ex.T = T;
    ex.label = -1;
    if (T < 1 || T > tr->m->cfg.max_len)
        return attn_fail(err, ATTN_EINVAL, "train: %d tokens, expected 1..%d (max_len)", T,
                         tr->m->cfg.max_len);
    int rc = check_rows(&tr->m->cfg, &ex, 0, err);
    if (rc) return rc;
    worker *w = &tr->w[0];
    w->n_seq = 1;
    w->off[0] = 0;
    w->off[1] = T;
    w->poff[0] = 0;
    w->poff[1] = (size_t)T * T;
    w->rows[0] = rows;
    w->rngs[0] = example_rng(tr->o.seed, tr->step, 0);
    encoder_forward(w);
    memcpy(h, w->a.h, (size_t)T * tr->m->cfg.dim * sizeof *h);
    return ATTN_OK;
}

/* ---- clipping, schedule, AdamW ----------------------------------------------------------- */

#define NORM_LANES 4     /* independent partial sums of the squared norm */

typedef struct norm_job { const float *g; double part[NORM_LANES]; } norm_job;

static void norm_range(size_t off, size_t n, size_t spec, void *ctx) {
    (void)spec;
    norm_job *j = ctx;
    const float *g = j->g + off;
    size_t i = 0;
    for (; i + NORM_LANES <= n; i += NORM_LANES)
        for (int l = 0; l < NORM_LANES; l++) j->part[l] += (double)g[i + l] * g[i + l];
    for (; i < n; i++) j->part[0] += (double)g[i] * g[i];
}

static double grad_norm(const attn_trainer *tr) {
    norm_job j = { tr->grad, {0} };
    live_ranges(tr, norm_range, &j);
    double sq = 0.0;
    for (int l = 0; l < NORM_LANES; l++) sq += j.part[l];
    return sqrt(sq);
}

double attn_trainer_lr(const attn_trainer *tr, int step) {
    const attn_train_opts *o = &tr->o;
    if (step < o->warmup_steps) return (double)o->lr * (step + 1) / o->warmup_steps;
    const int decay_steps = o->total_steps - o->warmup_steps;
    double progress = decay_steps > 0 ? (double)(step - o->warmup_steps) / decay_steps : 1.0;
    if (progress > 1.0) progress = 1.0;
    const double shape = o->schedule == ATTN_LR_COSINE ? 0.5 * (1.0 + cos(PI * progress))
                                                       : 1.0 - progress;
    return o->lr * (o->min_lr_ratio + (1.0 - o->min_lr_ratio) * shape);
}

/* p -= lr (m_hat / (sqrt(v_hat) + eps) + wd p) over one tensor (decoupled decay). */
static void adamw_tensor(float *p, float *mo, float *v, const float *g, size_t n,
                         const attn_train_opts *o, float lr, float wd, double bc1, double bc2) {
    const float b1 = o->beta1, b2 = o->beta2, eps = o->adam_eps;
    const float inv_bc1 = (float)(1.0 / bc1), inv_bc2 = (float)(1.0 / bc2);
    for (size_t i = 0; i < n; i++) {
        mo[i] = b1 * mo[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        const float m_hat = mo[i] * inv_bc1, v_hat = v[i] * inv_bc2;
        p[i] -= lr * (m_hat / (sqrtf(v_hat) + eps) + wd * p[i]);
    }
}

/* 1 for the feature embedding tables ("embed.<kind>"), 0 for everything else. */
static int is_feature_table(const char *key) {
    return strncmp(key, "embed.", 6) == 0 && strncmp(key, "embed.proj.", 11) != 0;
}

typedef struct adamw_job { attn_trainer *tr; double lr, bc1, bc2; } adamw_job;

static void adamw_range(size_t off, size_t n, size_t s, void *ctx) {
    const adamw_job *j = ctx;
    attn_trainer *tr = j->tr;
    const attn_model *m = tr->m;
    const double lr = is_feature_table(m->specs[s].key) ? j->lr * tr->o.embed_lr_scale : j->lr;
    adamw_tensor(m->params + off, tr->moments + off, tr->moments + m->n_params + off,
                 tr->grad + off, n, &tr->o, (float)lr,
                 tr->decays[s] ? tr->o.weight_decay : 0.0f, j->bc1, j->bc2);
}

/* AdamW on every tensor, and on the rows of the feature tables this batch read (lazy). */
static void adamw_update(attn_trainer *tr, double lr) {
    const int t = tr->adam_t + 1;
    adamw_job j = { tr, lr, 1.0 - pow(tr->o.beta1, t), 1.0 - pow(tr->o.beta2, t) };
    live_ranges(tr, adamw_range, &j);
}

int attn_trainer_step(attn_trainer *tr, const attn_example *batch, int n,
                      attn_train_stats *stats, attn_error *err) {
    int rc = check_batch(tr, batch, n, err);
    if (rc) return rc;
    attn_train_stats st;
    if ((rc = batch_gradient(tr, batch, n, &st, err))) return rc;
    st.grad_norm = grad_norm(tr);
    if (!isfinite(st.grad_norm))
        return attn_fail(err, ATTN_EINVAL, "train: step %d: the gradient is not finite "
                         "(lr too high?)", tr->step);
    if (tr->o.clip_norm > 0.0f && st.grad_norm > tr->o.clip_norm) {
        scale_job clip = { tr->grad, (float)(tr->o.clip_norm / st.grad_norm) };
        live_ranges(tr, scale_range, &clip);
    }
    st.lr = attn_trainer_lr(tr, tr->step);
    if (tr->adam_t < tr->rewarm_steps) st.lr *= (double)(tr->adam_t + 1) / tr->rewarm_steps;
    adamw_update(tr, st.lr);
    tr->step++;
    tr->adam_t++;
    if (stats) *stats = st;
    return ATTN_OK;
}
