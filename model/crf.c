/* crf.c: linear-chain CRF: IOB2 constraints, Viterbi, forward-backward, NLL gradient.
 * See crf.h for the model, the numerics and the tie-breaking rule. Layout of work memory:
 *   forward-backward:  alpha [T,K] | beta [T,K] | scratch row [K] | (unused) [K]
 *   Viterbi:           back-pointers [T,K] | (unused) [T,K] | delta prev [K] | delta cur [K] */
#include "crf.h"

#include <assert.h>
#include <math.h>
#include <string.h>

/* ---- scores with the constraints applied ---------------------------------------------- */

static double start_score(const attn_crf *crf, int k) {
    if (crf->allowed_start && !crf->allowed_start[k]) return -INFINITY;
    return crf->start[k];
}

static double trans_score(const attn_crf *crf, int i, int j) {
    size_t ij = (size_t)i * (size_t)crf->K + (size_t)j;
    if (crf->allowed && !crf->allowed[ij]) return -INFINITY;
    return crf->trans[ij];
}

static const float *row_of(const float *table /* [T,K] */, int t, int K) {
    return table + (size_t)t * (size_t)K;
}

static float *mut_row_of(float *table /* [T,K] */, int t, int K) {
    return table + (size_t)t * (size_t)K;
}

/* ---- streaming log-sum-exp in double: one pass, never overflows, -inf terms ignored ----- */

typedef struct lse_acc {
    double max, sum;    /* log-sum-exp = max + log(sum) */
} lse_acc;

static lse_acc lse_start(void) {
    return (lse_acc){ -INFINITY, 0.0 };
}

static void lse_add(lse_acc *a, double x) {
    if (x == -INFINITY) return;
    if (x <= a->max) {
        a->sum += exp(x - a->max);
    } else {                                    /* new max: rescale what we have */
        a->sum = a->sum * exp(a->max - x) + 1.0;
        a->max = x;
    }
}

static double lse_value(const lse_acc *a) {
    return a->sum > 0.0 ? a->max + log(a->sum) : -INFINITY;
}

/* row[K] -= logsumexp(row); returns that log-sum-exp (-inf if the whole row is -inf, and then
 * the row is left as it is). */
static double normalize_row(float *row, int K) {
    lse_acc a = lse_start();
    for (int k = 0; k < K; k++) lse_add(&a, row[k]);
    double lse = lse_value(&a);
    if (lse == -INFINITY) return lse;
    for (int k = 0; k < K; k++) row[k] = (float)(row[k] - lse);
    return lse;
}

/* ---- constraints ---------------------------------------------------------------------- */

static int is_inside_tag(int k) {
    return k > 0 && k % 2 == 0;                 /* 2 + 2i = I-i */
}

void attn_bio_constraints(int n_labels, uint8_t *allowed, uint8_t *allowed_start) {
    int K = 1 + 2 * n_labels;
    for (int i = 0; i < K; i++) {
        for (int j = 0; j < K; j++) {
            /* I-x (tag j) may follow only B-x (j - 1) or I-x (j itself). */
            int ok = !is_inside_tag(j) || i == j - 1 || i == j;
            allowed[(size_t)i * (size_t)K + (size_t)j] = (uint8_t)ok;
        }
        allowed_start[i] = (uint8_t)!is_inside_tag(i);
    }
}

int attn_crf_path_allowed(const attn_crf *crf, int T, const int *path) {
    if (T < 1) return 0;
    for (int t = 0; t < T; t++)
        if (path[t] < 0 || path[t] >= crf->K) return 0;
    if (start_score(crf, path[0]) == -INFINITY) return 0;
    for (int t = 1; t < T; t++)
        if (trans_score(crf, path[t - 1], path[t]) == -INFINITY) return 0;
    return 1;
}

double attn_crf_path_score(const attn_crf *crf, const float *em, int T, const int *path) {
    if (T < 1) return NAN;
    int K = crf->K;
    double score = (double)crf->start[path[0]] + crf->end[path[T - 1]];
    for (int t = 0; t < T; t++) score += row_of(em, t, K)[path[t]];
    for (int t = 1; t < T; t++)
        score += crf->trans[(size_t)path[t - 1] * (size_t)K + (size_t)path[t]];
    return score;
}

/* ---- Viterbi -------------------------------------------------------------------------- */

/* row[K] -= max(row); returns the max (-inf: row left as it is). */
static double shift_by_max(float *row, int K) {
    float m = row[0];
    for (int k = 1; k < K; k++)
        if (row[k] > m) m = row[k];
    if (m == -INFINITY) return -INFINITY;
    for (int k = 0; k < K; k++) row[k] -= m;
    return m;
}

/* cur[j] = max_i (prev[i] + trans(i, j)) + em_t[j]; back[j] = the lowest best i. */
static void viterbi_step(const attn_crf *crf, const float *prev /* [K] */,
                         const float *em_t /* [K] */, float *cur /* [K] */,
                         float *back /* [K] */) {
    int K = crf->K;
    for (int j = 0; j < K; j++) {
        int best_i = 0;
        double best = prev[0] + trans_score(crf, 0, j);
        for (int i = 1; i < K; i++) {
            double v = prev[i] + trans_score(crf, i, j);
            if (v > best) { best = v; best_i = i; }     /* strict: ties keep the lower i */
        }
        cur[j] = (float)(best + em_t[j]);
        back[j] = (float)best_i;
    }
}

float attn_crf_viterbi(const attn_crf *crf, const float *em, int T, int *path, float *work) {
    if (T < 1) return NAN;
    int K = crf->K;
    float *back = work;                                 /* [T,K]; row 0 unused */
    float *prev = work + 2 * (size_t)T * (size_t)K;     /* [K] */
    float *cur = prev + K;                              /* [K] */

    for (int k = 0; k < K; k++) prev[k] = (float)(start_score(crf, k) + em[k]);
    double offset = shift_by_max(prev, K);              /* true delta = offset + row */
    for (int t = 1; t < T; t++) {
        viterbi_step(crf, prev, row_of(em, t, K), cur, mut_row_of(back, t, K));
        offset += shift_by_max(cur, K);
        float *swap = prev; prev = cur; cur = swap;
    }

    int best_k = 0;
    double best = prev[0] + (double)crf->end[0];
    for (int k = 1; k < K; k++) {
        double v = prev[k] + (double)crf->end[k];
        if (v > best) { best = v; best_k = k; }
    }
    double score = offset + best;
    if (score == -INFINITY) {                           /* no allowed path at all */
        for (int t = 0; t < T; t++) path[t] = 0;
        return -INFINITY;
    }
    path[T - 1] = best_k;
    for (int t = T - 1; t > 0; t--) path[t - 1] = (int)row_of(back, t, K)[path[t]];
    return (float)score;
}

/* ---- forward-backward ----------------------------------------------------------------- */

/* The forward-backward functions take beta = 1 / temperature and multiply every potential
 * (emission, transition, start, end) by it; beta 1 gives the very same floats as without. */

/* One forward step: cur[j] = logsumexp_i(prev[i] + b trans(i, j)) + b em_t[j], renormalised;
 * returns the renormalisation constant. */
static double forward_step(const attn_crf *crf, const float *prev /* [K] */,
                           const float *em_t /* [K] */, float *cur /* [K] */, double b) {
    int K = crf->K;
    for (int j = 0; j < K; j++) {
        lse_acc a = lse_start();
        for (int i = 0; i < K; i++) lse_add(&a, prev[i] + b * trans_score(crf, i, j));
        cur[j] = (float)(lse_value(&a) + b * em_t[j]);
    }
    return normalize_row(cur, K);
}

/* alpha[t,k] = log sum over allowed prefixes ending in k at t, each row renormalised to
 * log-sum-exp 0. Returns log Z (the sum of the renormalisation constants plus the end). */
static double crf_forward(const attn_crf *crf, const float *em, int T, float *alpha /* [T,K] */,
                          double b) {
    int K = crf->K;
    for (int k = 0; k < K; k++) alpha[k] = (float)(b * start_score(crf, k) + b * em[k]);
    double log_z = normalize_row(alpha, K);
    for (int t = 1; t < T; t++)
        log_z += forward_step(crf, row_of(alpha, t - 1, K), row_of(em, t, K),
                              mut_row_of(alpha, t, K), b);
    const float *last = row_of(alpha, T - 1, K);
    lse_acc a = lse_start();
    for (int k = 0; k < K; k++) lse_add(&a, last[k] + b * (double)crf->end[k]);
    return log_z + lse_value(&a);
}

/* beta[t,i] = log sum over allowed suffixes after tag i at t (including end), each row
 * renormalised to log-sum-exp 0 (the constants cancel in every marginal). With
 * unknown_end, the sequence goes on after T - 1 and its last row starts uniform (all 0)
 * instead of from the end scores (the streaming decoder's lookahead). */
static void backward_rows(const attn_crf *crf, const float *em, int T, int unknown_end,
                          float *beta /* [T,K] */, double b) {
    int K = crf->K;
    float *last = mut_row_of(beta, T - 1, K);
    for (int k = 0; k < K; k++) last[k] = unknown_end ? 0.0f : (float)(b * crf->end[k]);
    normalize_row(last, K);
    for (int t = T - 2; t >= 0; t--) {
        const float *next = row_of(beta, t + 1, K), *em_next = row_of(em, t + 1, K);
        float *cur = mut_row_of(beta, t, K);
        for (int i = 0; i < K; i++) {
            lse_acc a = lse_start();
            for (int j = 0; j < K; j++)
                lse_add(&a, b * trans_score(crf, i, j) + b * em_next[j] + next[j]);
            cur[i] = (float)lse_value(&a);
        }
        normalize_row(cur, K);
    }
}

/* marg[K] = P(y_t = k) from the normalised alpha and beta rows of one position: a softmax of
 * alpha + beta (their sum over k is Z at every t, so the constants drop out). */
static void unary_marginals(const float *alpha_t, const float *beta_t, int K, float *marg) {
    lse_acc a = lse_start();
    for (int k = 0; k < K; k++) lse_add(&a, (double)alpha_t[k] + beta_t[k]);
    double lse = lse_value(&a);
    for (int k = 0; k < K; k++)
        marg[k] = lse == -INFINITY ? 0.0f : (float)exp((double)alpha_t[k] + beta_t[k] - lse);
}

/* log P(y_{t-1} = i, y_t = j) up to a constant that depends only on t. */
static double pair_log_weight(const attn_crf *crf, const float *alpha_prev, const float *em_t,
                              const float *beta_t, int i, int j) {
    return (double)alpha_prev[i] + trans_score(crf, i, j) + em_t[j] + beta_t[j];
}

/* d_trans[i,j] += P(y_{t-1} = i, y_t = j), normalised over all (i, j) of this position. */
static void add_pair_marginals(const attn_crf *crf, const float *alpha_prev /* [K] */,
                               const float *em_t /* [K] */, const float *beta_t /* [K] */,
                               float *d_trans /* [K,K] */) {
    int K = crf->K;
    lse_acc a = lse_start();
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++)
            lse_add(&a, pair_log_weight(crf, alpha_prev, em_t, beta_t, i, j));
    double lse = lse_value(&a);
    if (lse == -INFINITY) return;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            double lw = pair_log_weight(crf, alpha_prev, em_t, beta_t, i, j);
            d_trans[(size_t)i * (size_t)K + (size_t)j] += (float)exp(lw - lse);
        }
}

static void crf_backward(const attn_crf *crf, const float *em, int T, float *beta /* [T,K] */,
                         double b) {
    backward_rows(crf, em, T, 0, beta, b);
}

double attn_crf_log_partition(const attn_crf *crf, const float *em, int T, float *work) {
    if (T < 1) return NAN;
    return crf_forward(crf, em, T, work, 1.0);
}

double attn_crf_marginals(const attn_crf *crf, const float *em, int T, float *marg,
                          float *work) {
    return attn_crf_marginals_tempered(crf, em, T, 1.0, marg, work);
}

double attn_crf_marginals_tempered(const attn_crf *crf, const float *em, int T,
                                   double temperature, float *marg, float *work) {
    if (T < 1) return NAN;
    int K = crf->K;
    const double b = 1.0 / temperature;
    float *alpha = work, *beta = work + (size_t)T * (size_t)K;
    double log_z = crf_forward(crf, em, T, alpha, b);
    crf_backward(crf, em, T, beta, b);
    for (int t = 0; t < T; t++)
        unary_marginals(row_of(alpha, t, K), row_of(beta, t, K), K, mut_row_of(marg, t, K));
    return log_z;
}

/* The expected-count half of the gradient: unary marginals into d_em, d_start, d_end and
 * pairwise marginals into d_trans. */
static void add_expected_counts(const attn_crf *crf, const float *em, int T,
                                const float *alpha, const float *beta, float *marg /* [K] */,
                                float *d_em, float *d_trans, float *d_start, float *d_end) {
    int K = crf->K;
    for (int t = 0; t < T; t++) {
        unary_marginals(row_of(alpha, t, K), row_of(beta, t, K), K, marg);
        float *d_em_t = mut_row_of(d_em, t, K);
        for (int k = 0; k < K; k++) d_em_t[k] += marg[k];
        if (t == 0)
            for (int k = 0; k < K; k++) d_start[k] += marg[k];
        if (t == T - 1)
            for (int k = 0; k < K; k++) d_end[k] += marg[k];
        if (t > 0)
            add_pair_marginals(crf, row_of(alpha, t - 1, K), row_of(em, t, K),
                               row_of(beta, t, K), d_trans);
    }
}

/* The observed-count half: minus one for every feature the gold path uses. */
static void subtract_gold_counts(int K, int T, const int *gold, float *d_em, float *d_trans,
                                 float *d_start, float *d_end) {
    d_start[gold[0]] -= 1.0f;
    d_end[gold[T - 1]] -= 1.0f;
    for (int t = 0; t < T; t++) mut_row_of(d_em, t, K)[gold[t]] -= 1.0f;
    for (int t = 1; t < T; t++)
        d_trans[(size_t)gold[t - 1] * (size_t)K + (size_t)gold[t]] -= 1.0f;
}

double attn_crf_nll_backward(const attn_crf *crf, const float *em, int T, const int *gold,
                             float *d_em, float *d_trans, float *d_start, float *d_end,
                             float *work) {
    if (!attn_crf_path_allowed(crf, T, gold)) return NAN;
    int K = crf->K;
    float *alpha = work, *beta = work + (size_t)T * (size_t)K;
    float *marg = beta + (size_t)T * (size_t)K;
    double log_z = crf_forward(crf, em, T, alpha, 1.0);
    if (!isfinite(log_z)) return NAN;       /* only with non-finite emissions */
    crf_backward(crf, em, T, beta, 1.0);
    add_expected_counts(crf, em, T, alpha, beta, marg, d_em, d_trans, d_start, d_end);
    subtract_gold_counts(K, T, gold, d_em, d_trans, d_start, d_end);
    return log_z - attn_crf_path_score(crf, em, T, gold);
}

/* ---- streaming decoding --------------------------------------------------------------- */

/* Lowest k with the largest row[k] (+ end[k] when with_end); -inf rows never win a tie
 * against a finite one. *best receives the value. */
static int best_state(const attn_crf *crf, const float *row, int with_end, double *best) {
    int best_k = 0;
    *best = row[0] + (with_end ? (double)crf->end[0] : 0.0);
    for (int k = 1; k < crf->K; k++) {
        double v = row[k] + (with_end ? (double)crf->end[k] : 0.0);
        if (v > *best) { *best = v; best_k = k; }
    }
    return best_k;
}

void attn_crf_stream_begin(attn_crf_stream *st, const attn_crf *crf, int cap, int lookahead,
                           int n_rows, float *work) {
    assert(lookahead >= 1 && cap >= 4 * lookahead && n_rows >= 1 && n_rows <= cap);
    const size_t rows = (size_t)n_rows * (size_t)crf->K;
    *st = (attn_crf_stream){ .crf = *crf, .cap = cap, .lookahead = lookahead,
                             .n_rows = n_rows, .inv_temperature = 1.0 };
    st->em = work;
    st->alpha = st->em + rows;
    st->beta = st->alpha + rows;
    st->back = st->beta + rows;
    st->delta = st->back + rows;
    st->scratch = st->delta + crf->K;
    st->marg = st->scratch + crf->K;
    st->trace = st->marg + crf->K;
    st->next_attempt = cap / 2;
}

/* Appends one position: its emissions, forward row and Viterbi step (the very operations of
 * crf_forward and attn_crf_viterbi, so an uncommitted stretch that starts the sequence holds
 * the same floats as theirs). */
static void stream_append(attn_crf_stream *st, const float *em_row /* [K] */) {
    const attn_crf *crf = &st->crf;
    const int K = crf->K, r = st->n_pending;
    assert(r < st->n_rows);         /* the caller's bound on the sequence's length */
    float *em = mut_row_of(st->em, r, K), *alpha = mut_row_of(st->alpha, r, K);
    for (int k = 0; k < K; k++) em[k] = em_row[k];
    if (st->base == 0 && r == 0) {                      /* the first position of the text */
        const double b = st->inv_temperature;     /* marginals only: Viterbi is unscaled */
        for (int k = 0; k < K; k++) {
            st->delta[k] = (float)(start_score(crf, k) + em[k]);
            alpha[k] = (float)(b * start_score(crf, k) + b * em[k]);
        }
        normalize_row(alpha, K);
        shift_by_max(st->delta, K);
    } else {
        forward_step(crf, row_of(st->alpha, r - 1, K), em, alpha, st->inv_temperature);
        viterbi_step(crf, st->delta, em, st->scratch, mut_row_of(st->back, r, K));
        shift_by_max(st->scratch, K);
        for (int k = 0; k < K; k++) st->delta[k] = st->scratch[k];
    }
    st->n_pending++;
}

/* The last pending row p at which the Viterbi survivors of every reachable state of the last
 * position pass through one and the same tag (*tag); -1 if they part all the way back. Every
 * path through later positions continues one of these survivors, so the whole-text Viterbi
 * path goes through that tag at p and shares the survivors' common prefix. */
static int survivors_agree(attn_crf_stream *st, int *tag) {
    const int K = st->crf.K;
    int n_live = 0;
    for (int k = 0; k < K; k++)
        if (st->delta[k] != -INFINITY) st->trace[n_live++] = (float)k;
    if (n_live == 0) return -1;
    for (int r = st->n_pending - 1;; r--) {
        int agree = 1;
        for (int i = 1; i < n_live && agree; i++) agree = st->trace[i] == st->trace[0];
        if (agree) { *tag = (int)st->trace[0]; return r; }
        if (r == 0) return -1;
        const float *back = row_of(st->back, r, K);
        for (int i = 0; i < n_live; i++) st->trace[i] = back[(int)st->trace[i]];
    }
}

/* Follows the back-pointers from tag at pending row r down to row 0; tags[q] for q < n_keep. */
static void trace_tags(const attn_crf_stream *st, int r, int tag, int n_keep, int *tags) {
    for (;; r--) {
        if (r < n_keep) tags[r] = tag;
        if (r == 0) return;
        tag = (int)row_of(st->back, r, st->crf.K)[tag];
    }
}

/* probs[q] = marginal of tags[q] for the first n pending rows (beta from the last pending row:
 * uniform when the text goes on, from the end scores at its end), then drops those rows. */
static void stream_commit(attn_crf_stream *st, int n, int at_end, const int *tags,
                          float *probs) {
    const int K = st->crf.K;
    backward_rows(&st->crf, st->em, st->n_pending, !at_end, st->beta, st->inv_temperature);
    for (int q = 0; q < n; q++) {
        unary_marginals(row_of(st->alpha, q, K), row_of(st->beta, q, K), K, st->marg);
        probs[q] = st->marg[tags[q]];
    }
    const size_t keep = (size_t)(st->n_pending - n) * (size_t)K, drop = (size_t)n * (size_t)K;
    memmove(st->em, st->em + drop, keep * sizeof *st->em);
    memmove(st->alpha, st->alpha + drop, keep * sizeof *st->alpha);
    memmove(st->back, st->back + drop, keep * sizeof *st->back);
    st->base += n;
    st->n_pending -= n;
}

/* After a forced commit ending in tag: the Viterbi rows of the pending positions again, now
 * from that tag (delta 0 there, -inf elsewhere), so the rest of the path continues it. */
static void restart_viterbi_from(attn_crf_stream *st, int tag) {
    const int K = st->crf.K;
    for (int k = 0; k < K; k++) st->delta[k] = k == tag ? 0.0f : -INFINITY;
    for (int r = 0; r < st->n_pending; r++) {
        viterbi_step(&st->crf, st->delta, row_of(st->em, r, K), st->scratch,
                     mut_row_of(st->back, r, K));
        shift_by_max(st->scratch, K);
        for (int k = 0; k < K; k++) st->delta[k] = st->scratch[k];
    }
}

/* Commits what can be: the rows up to where the survivors agree, keeping lookahead rows; when
 * the pending rows are at the cap and none can, the oldest along the current best path. */
static int stream_try_commit(attn_crf_stream *st, int *tags, float *probs) {
    const int limit = st->n_pending - st->lookahead;
    int tag, p = survivors_agree(st, &tag);
    int n = p + 1 < limit ? p + 1 : limit;
    if (p >= 0 && n > 0) {
        trace_tags(st, p, tag, n, tags);
        stream_commit(st, n, 0, tags, probs);
        return n;
    }
    if (st->n_pending < st->cap) return 0;
    double best;
    trace_tags(st, st->n_pending - 1, best_state(&st->crf, st->delta, 0, &best), limit, tags);
    stream_commit(st, limit, 0, tags, probs);
    restart_viterbi_from(st, tags[limit - 1]);
    st->n_forced += limit;
    return limit;
}

void attn_crf_stream_set_temperature(attn_crf_stream *st, double temperature) {
    assert(st->n_pending == 0 && st->base == 0 && temperature > 0.0);
    st->inv_temperature = 1.0 / temperature;
}

int attn_crf_stream_push(attn_crf_stream *st, const float *em_row, int *tags, float *probs) {
    stream_append(st, em_row);
    if (st->n_pending < st->next_attempt) return 0;
    const int n = stream_try_commit(st, tags, probs);
    const int later = st->n_pending + st->lookahead;
    st->next_attempt = later < st->cap / 2 ? st->cap / 2 : later > st->cap ? st->cap : later;
    return n;
}

int attn_crf_stream_finish(attn_crf_stream *st, int *tags, float *probs) {
    const int n = st->n_pending;
    if (n > 0) {
        double best;
        const int last = best_state(&st->crf, st->delta, 1, &best);
        if (best == -INFINITY)                          /* no allowed path at all */
            for (int q = 0; q < n; q++) tags[q] = 0;
        else
            trace_tags(st, n - 1, last, n, tags);
        stream_commit(st, n, 1, tags, probs);
    }
    st->base = 0;
    st->n_pending = 0;
    st->next_attempt = st->cap / 2;
    return n;
}
