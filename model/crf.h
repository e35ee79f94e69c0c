/* crf.h: linear-chain CRF over tags: Viterbi decoding, forward-backward marginals, and the
 * log-partition and negative log-likelihood gradient (for training), with IOB2 constraints.
 *
 * Score of a tag path y over emissions em[T,K]:
 *   start[y0] + sum_t em[t, y_t] + sum_{t>0} trans[y_{t-1}, y_t] + end[y_{T-1}]
 * Constraints remove paths: a transition i->j with allowed[i*K+j] == 0, or a first tag k with
 * allowed_start[k] == 0, has score -infinity. Viterbi, the marginals and the partition all
 * range over allowed paths only, so decoding never produces "I-X" after "O" or at the start.
 *
 * Numerics: everything runs in log space. The forward (alpha) and backward (beta) tables are
 * stored as floats but renormalised at every position (each row minus its log-sum-exp), so
 * they stay near 0 however long the sequence; the per-position constants and every
 * log-sum-exp are accumulated in double. Hence long sequences (tested with T = 5000) neither
 * overflow nor lose precision beyond about one float ulp of the scores per position. Viterbi
 * likewise shifts each row by its max and keeps the running offset in double.
 *
 * None of these functions allocates: the caller passes work memory of ATTN_CRF_WORK(T, K)
 * floats (any alignment suitable for float). All functions need T >= 1; with T < 1 the
 * float/double-returning ones return NAN and write nothing. Tags in paths must lie in [0, K).
 * The weights and emissions are expected to be finite (the model loader guarantees this). */
#ifndef ATTN_CRF_H
#define ATTN_CRF_H

#include <stddef.h>
#include <stdint.h>

typedef struct attn_crf {
    int K;                          /* number of tags */
    const float *trans;             /* [K, K]: from row i to column j */
    const float *start, *end;       /* [K] */
    const uint8_t *allowed;         /* [K, K] or NULL (all allowed) */
    const uint8_t *allowed_start;   /* [K] or NULL */
} attn_crf;

/* Floats of work memory every function below needs for T tokens (alpha [T,K], beta [T,K],
 * two scratch rows [K]). Viterbi keeps its back-pointers [T,K] there as exact small floats
 * (K < 2^24). */
#define ATTN_CRF_WORK(T, K) ((size_t)(T) * (size_t)(K) * 2 + (size_t)(K) * 2)

/* IOB2 constraints for tags laid out as in config.h (0 = O, 1+2i = B-i, 2+2i = I-i):
 * I-i may only follow B-i or I-i, and may not start a sequence. Everything else is allowed
 * (O -> B-i, B-i -> B-j, I-i -> O, ...). allowed [K*K], start [K], K = 1 + 2 * n_labels. */
void attn_bio_constraints(int n_labels, uint8_t *allowed, uint8_t *allowed_start);

/* 1 if every tag of path[T] is in [0, K), the first tag is an allowed start and every
 * transition is allowed; else 0. */
int attn_crf_path_allowed(const attn_crf *crf, int T, const int *path);

/* Best allowed path into path[T]; returns its score. T >= 1. work: ATTN_CRF_WORK floats.
 * Ties are broken deterministically toward the lowest tag index: the last tag is the lowest
 * best one, and each back-pointer is the lowest best predecessor, so among equally scoring
 * paths the result is the smallest when compared from the last position backwards (e.g. all
 * weights zero gives all "O"). If no allowed path exists (only possible with hand-made
 * constraints, never with attn_bio_constraints), returns -INFINITY and path is all 0. */
float attn_crf_viterbi(const attn_crf *crf, const float *em, int T, int *path, float *work);

/* log of the sum over allowed paths of exp(score); -INFINITY if there is no allowed path. */
double attn_crf_log_partition(const attn_crf *crf, const float *em, int T, float *work);

/* Score of one given path (no constraint check), accumulated in double. */
double attn_crf_path_score(const attn_crf *crf, const float *em, int T, const int *path);

/* marg[T,K] = P(y_t = k) under the CRF (forward-backward in log space). Returns log Z.
 * Each row sums to 1 (to float rounding); a tag that no allowed path uses at t gets exactly 0
 * (e.g. every I-X at t = 0). If there is no allowed path, marg is all 0 and -INFINITY is
 * returned. */
double attn_crf_marginals(const attn_crf *crf, const float *em, int T, float *marg,
                          float *work);

/* Negative log-likelihood of the gold path, NLL = log Z - score(gold) >= 0, and its gradient,
 * ADDED into the four gradient buffers (so a batch accumulates by calling once per sequence):
 *   d_em[t,k]   += P(y_t = k) - [gold_t == k]
 *   d_start[k]  += P(y_0 = k) - [gold_0 == k]
 *   d_end[k]    += P(y_{T-1} = k) - [gold_{T-1} == k]
 *   d_trans[i,j]+= sum_{t>0} P(y_{t-1} = i, y_t = j) - #{t > 0: gold_{t-1} = i, gold_t = j}
 * Pairwise marginals are computed on the fly, one position at a time (no [T,K,K] table).
 * Disallowed transitions get gradient 0 (they have probability 0 and gold never uses them).
 * gold must be an allowed path (see attn_crf_path_allowed: a training example whose tags
 * break the constraints is a data error the caller should report). If it is not (or a tag is
 * out of range, or T < 1), returns NAN and leaves every gradient buffer untouched.
 * work: ATTN_CRF_WORK(T, K) floats. */
double attn_crf_nll_backward(const attn_crf *crf, const float *em, int T, const int *gold,
                             float *d_em /* [T,K], += */, float *d_trans /* [K,K], += */,
                             float *d_start /* [K], += */, float *d_end /* [K], += */,
                             float *work);

#endif
