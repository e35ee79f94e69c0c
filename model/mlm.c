/* mlm.c: span masking, the masked-word head, the targets of a dataset and the dev metric
 * (masked accuracy) (see mlm.h). */
#include "mlm.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "features.h"
#include "train_data_impl.h"

/* The masking's own splitmix64 stream (common.h), seeded by the caller. */
static int below(uint64_t *s, int n) { return (int)(attn_splitmix64(s) % (uint64_t)n); }

int attn_mlm_is_capitalised(const char *token, size_t n_bytes) {
    char shape[8];
    return attn_token_shape(token, n_bytes, shape, sizeof shape) > 0 && shape[0] == 'X';
}

/* ---- choosing spans ---------------------------------------------------------------------- */

/* The span a draw starting at token s gives: the whole capitalised run around s, or a phrase
 * of len lower-case tokens from s (cut before the first capitalised one). */
static void span_at(const uint8_t *caps, int T, int s, int len, int *start, int *end) {
    if (caps[s]) {
        int a = s, b = s + 1;
        while (a > 0 && caps[a - 1]) a--;
        while (b < T && caps[b]) b++;
        *start = a, *end = b;
        return;
    }
    int b = s + 1;
    while (b < T && b < s + len && !caps[b]) b++;
    *start = s, *end = b;
}

static int any_masked(const uint8_t *action, int a, int b) {
    for (int t = a; t < b; t++) if (action[t]) return 1;
    return 0;
}

/* Start of a draw: half the time a random capitalised token (when there is one). */
static int draw_start(const uint8_t *caps, int T, int n_caps, uint64_t *s) {
    if (n_caps > 0 && (attn_splitmix64(s) & 1)) {
        int k = below(s, n_caps);
        for (int t = 0; t < T; t++)
            if (caps[t] && k-- == 0) return t;
    }
    return below(s, T);
}

int attn_mlm_spans(const uint8_t *caps, int T, double rate, uint64_t *s, uint8_t *marked,
                   int *starts, int *ends) {
    memset(marked, 0, (size_t)T);
    int budget = (int)(rate * T + 0.5), n_caps = 0, masked = 0, n_spans = 0;
    if (budget < 1) budget = 1;
    for (int t = 0; t < T; t++) n_caps += caps[t] != 0;
    for (int tries = 0; masked < budget && tries < 4 * T + 16; tries++) {
        const int start = draw_start(caps, T, n_caps, s);
        const int len = 1 + below(s, ATTN_MLM_MAX_PHRASE);
        int a, b;
        span_at(caps, T, start, len, &a, &b);
        const int n = b - a;
        if (caps[start] && n > ATTN_MLM_MAX_RUN) continue;
        if (T > 1 && n >= T) continue;
        if (masked > 0 && masked + n > budget) continue;
        if (any_masked(marked, a, b)) continue;
        for (int t = a; t < b; t++) marked[t] = 1;
        if (starts) starts[n_spans] = a;
        if (ends) ends[n_spans] = b;
        n_spans++;
        masked += n;
    }
    return n_spans;
}

int attn_mlm_choose(const uint8_t *caps, int T, uint64_t seed, uint8_t *action) {
    uint64_t s = seed;
    attn_mlm_spans(caps, T, ATTN_MLM_RATE, &s, action, NULL, NULL);
    int masked = 0;
    for (int t = 0; t < T; t++) {
        if (!action[t]) continue;
        masked++;
        const float u = attn_uniform01(&s);
        action[t] = u < 0.8f ? ATTN_MLM_MASKED : u < 0.9f ? ATTN_MLM_RANDOM : ATTN_MLM_KEPT;
    }
    return masked;
}

void attn_mlm_random_sources(const uint8_t *action, int T, uint64_t seed, int *random_of) {
    uint64_t s = seed ^ 0x6d6c6d72616e64ull;
    for (int t = 0; t < T; t++) random_of[t] = action[t] == ATTN_MLM_RANDOM ? below(&s, T) : 0;
}

void attn_mlm_mask_rows(const attn_config *c, uint32_t *rows) {
    attn_token_features(ATTN_MLM_MASK_TOKEN, strlen(ATTN_MLM_MASK_TOKEN), c->features,
                        c->n_features, rows);
}

void attn_mlm_apply(const attn_config *c, const uint32_t *rows, int T, const uint8_t *action,
                    const int *random_of, const uint32_t *mask_rows, uint32_t *out) {
    const size_t S = (size_t)attn_feature_slots(c->features, c->n_features);
    for (int t = 0; t < T; t++) {
        const uint32_t *src = action[t] == ATTN_MLM_MASKED ? mask_rows
                            : action[t] == ATTN_MLM_RANDOM ? rows + (size_t)random_of[t] * S
                                                           : rows + (size_t)t * S;
        memcpy(out + (size_t)t * S, src, S * sizeof *out);
    }
}

int attn_mlm_positions(const uint8_t *action, const int32_t *target, int T, int *pos, int *tgt) {
    int M = 0;
    for (int t = 0; t < T; t++)
        if (action[t] != ATTN_MLM_NONE && target[t] >= 0) {
            pos[M] = t;
            tgt[M] = target[t];
            M++;
        }
    return M;
}

/* ---- the head ---------------------------------------------------------------------------- */

/* logits[M, V] = hm[M, D] W^T + b, with hm gathered from h at pos. */
static void head_logits(const attn_model *m, const float *h, const int *pos, int M, float *hm,
                        float *logits) {
    const int D = m->cfg.dim, V = m->cfg.mlm_vocab;
    for (int i = 0; i < M; i++)
        memcpy(hm + (size_t)i * D, h + (size_t)pos[i] * D, (size_t)D * sizeof *hm);
    for (int i = 0; i < M; i++)
        memcpy(logits + (size_t)i * V, m->w.mlm_b, (size_t)V * sizeof *logits);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, V, D, 1.0f, hm, D, m->w.mlm_w, D,
                1.0f, logits, V);
}

/* In place: x[V] = softmax(x); returns -log p[gold] (computed in double). */
static double softmax_nll(float *x, int V, int gold) {
    float mx = x[0];
    for (int i = 1; i < V; i++) if (x[i] > mx) mx = x[i];
    double sum = 0.0;
    for (int i = 0; i < V; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    const double nll = log(sum) - ((double)logf(x[gold] > 0.0f ? x[gold] : 1e-45f));
    const float inv = (float)(1.0 / sum);
    for (int i = 0; i < V; i++) x[i] *= inv;
    return nll;
}

double attn_mlm_backward(const attn_model *m, const attn_weights *g, const float *h,
                         const int *pos, const int *tgt, int M, float weight, float *dh,
                         int *n_correct, float *work) {
    const int D = m->cfg.dim, V = m->cfg.mlm_vocab;
    float *hm = work, *logits = hm + (size_t)M * D, *dhm = logits + (size_t)M * V;
    head_logits(m, h, pos, M, hm, logits);
    double loss = 0.0;
    int correct = 0;
    for (int i = 0; i < M; i++) {
        float *row = logits + (size_t)i * V;
        correct += attn_argmax(row, V) == tgt[i];
        loss += softmax_nll(row, V, tgt[i]);
        row[tgt[i]] -= 1.0f;                     /* d(-log p)/dlogits = p - onehot */
        for (int k = 0; k < V; k++) row[k] *= weight;
    }
    float *gw = (float *)g->mlm_w, *gb = (float *)g->mlm_b;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, V, D, M, 1.0f, logits, V, hm, D, 1.0f,
                gw, D);                                              /* dW[V,D] += dl^T hm */
    for (int i = 0; i < M; i++) {
        const float *row = logits + (size_t)i * V;
        for (int k = 0; k < V; k++) gb[k] += row[k];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, D, V, 1.0f, logits, V,
                m->w.mlm_w, D, 0.0f, dhm, D);                        /* dhm[M,D] = dl W */
    for (int i = 0; i < M; i++) {
        float *dst = dh + (size_t)pos[i] * D;
        const float *src = dhm + (size_t)i * D;
        for (int d = 0; d < D; d++) dst[d] += src[d];
    }
    if (n_correct) *n_correct = correct;
    return weight * loss;
}

void attn_mlm_predict(const attn_model *m, const float *h, const int *pos, int M, int *pred,
                      float *work) {
    const int D = m->cfg.dim, V = m->cfg.mlm_vocab;
    float *hm = work, *logits = hm + (size_t)M * D;
    head_logits(m, h, pos, M, hm, logits);
    for (int i = 0; i < M; i++) pred[i] = attn_argmax(logits + (size_t)i * V, V);
}

/* ---- mlm: the output vocabulary, targets and masked-token accuracy ---------------------- */

typedef struct word_count { uint64_t hash, count; int32_t index; } word_count;

static int by_hash(const void *a, const void *b) {
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int by_count_then_hash(const void *a, const void *b) {
    const word_count *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return (x->hash > y->hash) - (x->hash < y->hash);
}

static int by_word_hash(const void *a, const void *b) {
    const word_count *x = a, *y = b;
    return (x->hash > y->hash) - (x->hash < y->hash);
}

/* The V most frequent words of ds (index = rank), sorted by hash into *out[*n]. */
static int mlm_vocab(const attn_dataset *ds, int V, word_count **out, size_t *n,
                     attn_error *err) {
    const size_t N = ds->mlm_hash.n;
    uint64_t *h = malloc((N + 1) * sizeof *h);
    word_count *w = malloc((N + 1) * sizeof *w);
    if (!h || !w) { free(h); free(w); return dataset_no_memory(err); }
    if (N) memcpy(h, ds->mlm_hash.p, N * sizeof *h);
    qsort(h, N, sizeof *h, by_hash);
    size_t k = 0;
    for (size_t i = 0; i < N; i++) {
        if (k > 0 && w[k - 1].hash == h[i]) w[k - 1].count++;
        else w[k++] = (word_count){ h[i], 1, 0 };
    }
    free(h);
    qsort(w, k, sizeof *w, by_count_then_hash);
    if (k > (size_t)V) k = (size_t)V;
    for (size_t i = 0; i < k; i++) w[i].index = (int32_t)i;
    qsort(w, k, sizeof *w, by_word_hash);
    *out = w;
    *n = k;
    return ATTN_OK;
}

int attn_dataset_mlm_targets(attn_dataset *ds, const attn_dataset *vocab_from, attn_error *err) {
    if (!has_task(&ds->cfg, ATTN_TASK_MLM) || !has_task(&vocab_from->cfg, ATTN_TASK_MLM) ||
        ds->cfg.mlm_vocab != vocab_from->cfg.mlm_vocab)
        return attn_fail(err, ATTN_EINVAL, "mlm targets: both datasets need task mlm with the "
                         "same vocab size");
    word_count *vocab = NULL;
    size_t n_vocab = 0;
    int rc = mlm_vocab(vocab_from, vocab_from->cfg.mlm_vocab, &vocab, &n_vocab, err);
    if (rc) return rc;
    const size_t N = ds->mlm_hash.n;
    ds->mlm_target.n = 0;
    int32_t *target = array_push(&ds->mlm_target, N + 1, sizeof *target);
    if (!target) { free(vocab); return dataset_no_memory(err); }
    for (size_t t = 0; t < N; t++) {
        const word_count key = { *AT(ds->mlm_hash, uint64_t, t), 0, 0 };
        const word_count *hit = n_vocab ? bsearch(&key, vocab, n_vocab, sizeof *vocab,
                                                  by_word_hash) : NULL;
        target[t] = hit ? hit->index : -1;
    }
    free(vocab);
    ds->mlm_ready = 1;
    return ATTN_OK;
}

typedef struct mlm_eval_buf {
    uint32_t *rows, mask_rows[ATTN_MAX_SLOTS];
    uint8_t *action;
    int *random_of, *pos, *tgt, *pred;
    float *h, *work;
} mlm_eval_buf;

static void mlm_eval_buf_free(mlm_eval_buf *b) {
    free(b->rows);
    free(b->action);
    free(b->random_of);
    free(b->pos);
    free(b->tgt);
    free(b->pred);
    free(b->h);
    free(b->work);
}

static int mlm_eval_buf_new(const attn_model *m, mlm_eval_buf *b) {
    const size_t L = (size_t)m->cfg.max_len;
    const size_t S = (size_t)attn_feature_slots(m->cfg.features, m->cfg.n_features);
    memset(b, 0, sizeof *b);
    b->rows = malloc(L * S * sizeof *b->rows);
    b->action = malloc(L);
    b->random_of = malloc(L * sizeof(int));
    b->pos = malloc(L * sizeof(int));
    b->tgt = malloc(L * sizeof(int));
    b->pred = malloc(L * sizeof(int));
    b->h = malloc(L * (size_t)m->cfg.dim * sizeof(float));
    b->work = malloc(ATTN_MLM_WORK(m, L) * sizeof(float));
    attn_mlm_mask_rows(&m->cfg, b->mask_rows);
    return b->rows && b->action && b->random_of && b->pos && b->tgt && b->pred && b->h &&
           b->work ? 0 : -1;
}

int attn_mlm_evaluate(const attn_model *m, const attn_dataset *ds, double *accuracy,
                      attn_error *err) {
    *accuracy = NAN;
    if (!has_task(&m->cfg, ATTN_TASK_MLM) || !ds->mlm_ready)
        return attn_fail(err, ATTN_EINVAL, "mlm evaluation: needs an mlm model and a dataset "
                         "with targets");
    int rc = attn_dataset_check_compatible(m, ds, "mlm evaluation", err);
    if (rc) return rc;
    mlm_eval_buf b;
    attn_scratch scratch = { 0 };
    if (mlm_eval_buf_new(m, &b)) { mlm_eval_buf_free(&b); return dataset_no_memory(err); }
    int64_t correct = 0, predicted = 0;
    for (size_t i = 0; !rc && i < ds->examples.n; i++) {
        const attn_example ex = attn_dataset_example_at(ds, i);
        uint64_t seed = ATTN_MLM_EVAL_SEED ^ ((uint64_t)i * ATTN_SPLITMIX64_GAMMA);
        attn_mlm_choose(ex.mlm_caps, ex.T, seed, b.action);
        attn_mlm_random_sources(b.action, ex.T, seed, b.random_of);
        attn_mlm_apply(&m->cfg, ex.rows, ex.T, b.action, b.random_of, b.mask_rows, b.rows);
        const int M = attn_mlm_positions(b.action, ex.mlm_target, ex.T, b.pos, b.tgt);
        if (M == 0) continue;
        rc = attn_encode(m, b.rows, ex.T, b.h, &scratch, err);
        if (rc) break;
        attn_mlm_predict(m, b.h, b.pos, M, b.pred, b.work);
        for (int k = 0; k < M; k++) correct += b.pred[k] == b.tgt[k];
        predicted += M;
    }
    attn_scratch_free(&scratch);
    mlm_eval_buf_free(&b);
    if (!rc) *accuracy = predicted ? (double)correct / (double)predicted : 0.0;
    return rc;
}
