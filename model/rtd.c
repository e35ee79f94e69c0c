/* rtd.c: replaced-token detection (see rtd.h): the pool of replacements, the corruption, the
 * per-token head and the dev metric. */
#include "rtd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "features.h"
#include "mlm.h"
#include "train_data_impl.h"

#define WORD_HASH_SEED 0x727464776f7264ull
#define NOISE_POWER 0.75         /* word2vec's unigram^0.75 */

struct attn_rtd_pool {
    int S;                       /* feature slots of a token */
    int finished;
    /* distinct tokens (by their rows), first-seen order */
    uint32_t *word_rows;         /* [n_words, S] */
    uint64_t *word_count;        /* [n_words] */
    size_t n_words, cap_rows, cap_counts;   /* cap_rows in uint32_t, cap_counts in words */
    int32_t *slot;               /* [table_size] open addressing: word index or -1 */
    uint64_t *slot_hash;         /* [table_size] */
    size_t table_size;           /* a power of two, 2 * ATTN_RTD_POOL_WORDS */
    double *cum;                 /* [n_words] after finish: cumulative count^0.75 */
    /* capitalised runs by length: rows [n, len, S] */
    uint32_t *span_rows[ATTN_MLM_MAX_RUN + 1];
    size_t n_spans[ATTN_MLM_MAX_RUN + 1], cap_spans[ATTN_MLM_MAX_RUN + 1];
};

attn_rtd_pool *attn_rtd_pool_new(const attn_config *c) {
    attn_rtd_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->S = attn_feature_slots(c->features, c->n_features);
    p->table_size = 2 * (size_t)ATTN_RTD_POOL_WORDS;
    p->slot = malloc(p->table_size * sizeof *p->slot);
    p->slot_hash = malloc(p->table_size * sizeof *p->slot_hash);
    if (!p->slot || !p->slot_hash) {
        attn_rtd_pool_free(p);
        return NULL;
    }
    memset(p->slot, 0xff, p->table_size * sizeof *p->slot);
    return p;
}

void attn_rtd_pool_free(attn_rtd_pool *p) {
    if (!p) return;
    free(p->word_rows);
    free(p->word_count);
    free(p->slot);
    free(p->slot_hash);
    free(p->cum);
    for (int n = 0; n <= ATTN_MLM_MAX_RUN; n++) free(p->span_rows[n]);
    free(p);
}

static int pool_no_memory(attn_error *err) {
    return attn_fail(err, ATTN_ENOMEM, "rtd: out of memory for the pool of replacements");
}

/* Counts one token (its rows); the table is at most half full (ATTN_RTD_POOL_WORDS). */
static int count_word(attn_rtd_pool *p, const uint32_t *row) {
    const size_t bytes = (size_t)p->S * sizeof *row;
    const uint64_t h = attn_hash64(WORD_HASH_SEED, row, bytes);
    size_t i = (size_t)h & (p->table_size - 1);
    for (; p->slot[i] >= 0; i = (i + 1) & (p->table_size - 1))
        if (p->slot_hash[i] == h &&
            memcmp(p->word_rows + (size_t)p->slot[i] * p->S, row, bytes) == 0) {
            p->word_count[p->slot[i]]++;
            return ATTN_OK;
        }
    if (p->n_words >= ATTN_RTD_POOL_WORDS) return ATTN_OK;      /* full: frequent ones are in */
    if (attn_grow((void **)&p->word_rows, &p->cap_rows, (p->n_words + 1) * (size_t)p->S,
                  sizeof *p->word_rows) ||
        attn_grow((void **)&p->word_count, &p->cap_counts, p->n_words + 1,
                  sizeof *p->word_count))
        return ATTN_ENOMEM;
    memcpy(p->word_rows + p->n_words * p->S, row, bytes);
    p->word_count[p->n_words] = 1;
    p->slot[i] = (int32_t)p->n_words++;
    p->slot_hash[i] = h;
    return ATTN_OK;
}

static int add_span(attn_rtd_pool *p, const uint32_t *rows, int len) {
    if (p->n_spans[len] >= ATTN_RTD_POOL_SPANS) return ATTN_OK;
    const size_t per = (size_t)len * p->S;
    if (attn_grow((void **)&p->span_rows[len], &p->cap_spans[len], (p->n_spans[len] + 1) * per,
                  sizeof *p->span_rows[len]))
        return ATTN_ENOMEM;
    memcpy(p->span_rows[len] + p->n_spans[len] * per, rows, per * sizeof *rows);
    p->n_spans[len]++;
    return ATTN_OK;
}

int attn_rtd_pool_add(attn_rtd_pool *p, const uint32_t *rows, const uint8_t *caps, int T,
                      attn_error *err) {
    if (p->finished) return attn_fail(err, ATTN_EINVAL, "rtd: the pool is already finished");
    for (int t = 0; t < T; t++)
        if (count_word(p, rows + (size_t)t * p->S)) return pool_no_memory(err);
    /* runs cut by the sequence's edges are not whole names: left out */
    for (int a = 0; a < T;) {
        if (!caps[a]) { a++; continue; }
        int b = a + 1;
        while (b < T && caps[b]) b++;
        if (a > 0 && b < T && b - a <= ATTN_MLM_MAX_RUN &&
            add_span(p, rows + (size_t)a * p->S, b - a))
            return pool_no_memory(err);
        a = b;
    }
    return ATTN_OK;
}

int attn_rtd_pool_add_dataset(attn_rtd_pool *p, const attn_dataset *ds, attn_error *err) {
    if (!has_task(&ds->cfg, ATTN_TASK_RTD))
        return attn_fail(err, ATTN_EINVAL, "rtd: the pool needs a dataset of task rtd");
    for (size_t i = 0; i < ds->examples.n; i++) {
        const attn_example ex = attn_dataset_example_at(ds, i);
        int rc = attn_rtd_pool_add(p, ex.rows, ex.mlm_caps, ex.T, err);
        if (rc) return rc;
    }
    return ATTN_OK;
}

int attn_rtd_pool_finish(attn_rtd_pool *p, attn_error *err) {
    if (p->finished) return ATTN_OK;
    if (p->n_words == 0) return attn_fail(err, ATTN_EINVAL, "rtd: the pool has no token");
    p->cum = malloc(p->n_words * sizeof *p->cum);
    if (!p->cum) return pool_no_memory(err);
    double sum = 0.0;
    for (size_t i = 0; i < p->n_words; i++) {
        sum += pow((double)p->word_count[i], NOISE_POWER);
        p->cum[i] = sum;
    }
    p->finished = 1;
    return ATTN_OK;
}

size_t attn_rtd_pool_words(const attn_rtd_pool *p) { return p->n_words; }

size_t attn_rtd_pool_spans(const attn_rtd_pool *p, int length) {
    return length >= 1 && length <= ATTN_MLM_MAX_RUN ? p->n_spans[length] : 0;
}

/* ---- corruption ------------------------------------------------------------------------- */

static size_t below(uint64_t *s, size_t n) { return (size_t)(attn_splitmix64(s) % (uint64_t)n); }

/* A token index from the unigram^0.75 distribution (binary search of the cumulative sums). */
static size_t draw_word(const attn_rtd_pool *p, uint64_t *s) {
    const double u = (double)(attn_splitmix64(s) >> 11) / 9007199254740992.0 *
                     p->cum[p->n_words - 1];
    size_t lo = 0, hi = p->n_words - 1;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (p->cum[mid] > u) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

int attn_rtd_corrupt(const attn_rtd_pool *p, const uint32_t *rows, const uint8_t *caps, int T,
                     uint64_t seed, uint32_t *out, uint8_t *label) {
    const size_t S = (size_t)p->S;
    uint64_t s = seed;
    int starts[ATTN_MAX_SEQ_LEN], ends[ATTN_MAX_SEQ_LEN];
    memcpy(out, rows, (size_t)T * S * sizeof *out);
    /* label doubles as the span choice's marks; set properly below */
    const int n_spans = attn_mlm_spans(caps, T, ATTN_RTD_RATE, &s, label, starts, ends);
    for (int k = 0; k < n_spans; k++) {
        const int a = starts[k], len = ends[k] - a;
        if (caps[a] && p->n_spans[len] > 0) {
            const size_t j = below(&s, p->n_spans[len]);
            memcpy(out + (size_t)a * S, p->span_rows[len] + j * (size_t)len * S,
                   (size_t)len * S * sizeof *out);
            continue;
        }
        for (int t = a; t < a + len; t++)
            memcpy(out + (size_t)t * S, p->word_rows + draw_word(p, &s) * S, S * sizeof *out);
    }
    int replaced = 0;
    for (int t = 0; t < T; t++) {
        label[t] = memcmp(out + (size_t)t * S, rows + (size_t)t * S, S * sizeof *out) != 0;
        replaced += label[t];
    }
    return replaced;
}

/* ---- the head ---------------------------------------------------------------------------- */

static float logit_at(const attn_model *m, const float *h_t) {
    const int D = m->cfg.dim;
    float z = m->w.rtd_b[0];
    for (int d = 0; d < D; d++) z += h_t[d] * m->w.rtd_w[d];
    return z;
}

/* -log sigmoid(z) for y = 1, -log(1 - sigmoid(z)) for y = 0, without overflow. */
static double bce(float z, int y) {
    const double x = y ? -(double)z : (double)z;          /* loss = log(1 + e^x) */
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

double attn_rtd_backward(const attn_model *m, const attn_weights *g, const float *h, int T,
                         const uint8_t *label, float weight, float *dh, int *n_correct) {
    const int D = m->cfg.dim;
    float *gw = (float *)g->rtd_w, *gb = (float *)g->rtd_b;
    double loss = 0.0;
    int correct = 0;
    for (int t = 0; t < T; t++) {
        const float *ht = h + (size_t)t * D;
        const float z = logit_at(m, ht);
        loss += bce(z, label[t]);
        correct += (z > 0.0f) == (label[t] != 0);
        const float p = 1.0f / (1.0f + expf(-z));
        const float dz = weight * (p - (float)label[t]);
        gb[0] += dz;
        float *dht = dh + (size_t)t * D;
        for (int d = 0; d < D; d++) {
            gw[d] += dz * ht[d];
            dht[d] += dz * m->w.rtd_w[d];
        }
    }
    if (n_correct) *n_correct = correct;
    return weight * loss;
}

void attn_rtd_predict(const attn_model *m, const float *h, int T, uint8_t *pred) {
    for (int t = 0; t < T; t++) pred[t] = logit_at(m, h + (size_t)t * m->cfg.dim) > 0.0f;
}

/* ---- the dev metric ---------------------------------------------------------------------- */

int attn_rtd_evaluate(const attn_model *m, const attn_rtd_pool *p, const attn_dataset *ds,
                      attn_stop_cb should_stop, void *user, attn_rtd_metrics *out,
                      attn_error *err) {
    memset(out, 0, sizeof *out);
    out->accuracy = out->precision = out->recall = out->f1 = NAN;
    if (!has_task(&m->cfg, ATTN_TASK_RTD) || !p->finished)
        return attn_fail(err, ATTN_EINVAL, "rtd evaluation: needs an rtd model and a finished "
                         "pool");
    int rc = attn_dataset_check_compatible(m, ds, "rtd evaluation", err);
    if (rc) return rc;
    const size_t L = (size_t)m->cfg.max_len, S = (size_t)p->S;
    uint32_t *rows = malloc(L * S * sizeof *rows);
    uint8_t *label = malloc(L), *pred = malloc(L);
    float *h = malloc(L * (size_t)m->cfg.dim * sizeof *h);
    attn_scratch scratch = { 0 };
    if (!rows || !label || !pred || !h) rc = attn_fail(err, ATTN_ENOMEM, "rtd evaluation: out "
                                                       "of memory");
    int64_t tp = 0, fp = 0, fn = 0, right = 0, tokens = 0;
    for (size_t i = 0; !rc && i < ds->examples.n; i++) {
        if (should_stop && should_stop(user)) {
            rc = attn_fail(err, ATTN_ESTOPPED, "rtd evaluation: stopped");
            break;
        }
        const attn_example ex = attn_dataset_example_at(ds, i);
        const uint64_t seed = ATTN_RTD_EVAL_SEED ^ ((uint64_t)i * ATTN_SPLITMIX64_GAMMA);
        attn_rtd_corrupt(p, ex.rows, ex.mlm_caps, ex.T, seed, rows, label);
        if ((rc = attn_encode(m, rows, ex.T, h, &scratch, err))) break;
        attn_rtd_predict(m, h, ex.T, pred);
        for (int t = 0; t < ex.T; t++) {
            tp += pred[t] && label[t];
            fp += pred[t] && !label[t];
            fn += !pred[t] && label[t];
            right += pred[t] == label[t];
        }
        tokens += ex.T;
    }
    attn_scratch_free(&scratch);
    free(rows);
    free(label);
    free(pred);
    free(h);
    if (rc) return rc;
    out->tokens = tokens;
    out->replaced = tp + fn;
    out->accuracy = tokens ? (double)right / (double)tokens : 0.0;
    out->precision = tp + fp ? (double)tp / (double)(tp + fp) : 0.0;
    out->recall = tp + fn ? (double)tp / (double)(tp + fn) : 0.0;
    out->f1 = out->precision + out->recall > 0.0
                  ? 2.0 * out->precision * out->recall / (out->precision + out->recall) : 0.0;
    return ATTN_OK;
}
