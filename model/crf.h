/* crf.h: linear-chain CRF over tags: Viterbi decoding, forward-backward marginals, and the
 * log-partition (for the training loss), with IOB2 constraints.
 *
 * Score of a tag path y over emissions em[T,K]:
 *   start[y0] + sum_t em[t, y_t] + sum_{t>0} trans[y_{t-1}, y_t] + end[y_{T-1}]
 * Constraints remove paths: a transition i->j with allowed[i*K+j] == 0, or a first tag k with
 * allowed_start[k] == 0, has score -infinity. Viterbi, the marginals and the partition all
 * range over allowed paths only, so decoding never produces "I-X" after "O" or at the start. */
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

/* Floats of work memory the functions below need for T tokens. */
#define ATTN_CRF_WORK(T, K) ((size_t)(T) * (size_t)(K) * 2 + (size_t)(K) * 2)

/* IOB2 constraints for tags laid out as in config.h (0 = O, 1+2i = B-i, 2+2i = I-i):
 * I-i may only follow B-i or I-i, and may not start a sequence. allowed [K*K], start [K]. */
void attn_bio_constraints(int n_labels, uint8_t *allowed, uint8_t *allowed_start);

/* Best allowed path into path[T]; returns its score. T >= 1. work: ATTN_CRF_WORK floats. */
float attn_crf_viterbi(const attn_crf *crf, const float *em, int T, int *path, float *work);

/* log of the sum over allowed paths of exp(score). */
double attn_crf_log_partition(const attn_crf *crf, const float *em, int T, float *work);

/* Score of one given path (no constraint check). */
double attn_crf_path_score(const attn_crf *crf, const float *em, int T, const int *path);

/* marg[T,K] = P(y_t = k) under the CRF (forward-backward in log space). Returns log Z. */
double attn_crf_marginals(const attn_crf *crf, const float *em, int T, float *marg,
                          float *work);

#endif
