/* mlm.c: span masking and the masked-word head (see mlm.h). */
#include "mlm.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "features.h"

/* splitmix64: the masking's own stream, seeded by the caller. */
static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int below(uint64_t *s, int n) { return (int)(next_u64(s) % (uint64_t)n); }

static float uniform01(uint64_t *s) { return (float)(next_u64(s) >> 40) * (1.0f / 16777216.0f); }

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
    if (n_caps > 0 && (next_u64(s) & 1)) {
        int k = below(s, n_caps);
        for (int t = 0; t < T; t++)
            if (caps[t] && k-- == 0) return t;
    }
    return below(s, T);
}

int attn_mlm_choose(const uint8_t *caps, int T, uint64_t seed, uint8_t *action) {
    uint64_t s = seed;
    memset(action, 0, (size_t)T);
    int budget = (int)(ATTN_MLM_RATE * T + 0.5), n_caps = 0, masked = 0;
    if (budget < 1) budget = 1;
    for (int t = 0; t < T; t++) n_caps += caps[t] != 0;
    for (int tries = 0; masked < budget && tries < 4 * T + 16; tries++) {
        const int start = draw_start(caps, T, n_caps, &s);
        const int len = 1 + below(&s, ATTN_MLM_MAX_PHRASE);
        int a, b;
        span_at(caps, T, start, len, &a, &b);
        const int n = b - a;
        if (caps[start] && n > ATTN_MLM_MAX_RUN) continue;
        if (T > 1 && n >= T) continue;
        if (masked > 0 && masked + n > budget) continue;
        if (any_masked(action, a, b)) continue;
        for (int t = a; t < b; t++) action[t] = ATTN_MLM_MASKED;
        masked += n;
    }
    for (int t = 0; t < T; t++) {
        if (!action[t]) continue;
        const float u = uniform01(&s);
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
