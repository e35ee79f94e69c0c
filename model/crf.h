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
/* The same at a temperature (> 0): the marginals of the CRF whose potentials (emissions,
 * transitions, start and end scores) are all divided by it. Temperature 1 is bit for bit
 * attn_crf_marginals; the Viterbi path does not depend on it. Returns log Z of that CRF. */
double attn_crf_marginals_tempered(const attn_crf *crf, const float *em, int T,
                                   double temperature, float *marg, float *work);

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

/* ---- Streaming decoding: a sequence of any length in memory bounded by a cap ----
 *
 * Emission rows are pushed one position at a time; the decoder keeps only the positions not
 * yet decided ("pending": their emissions, forward rows and Viterbi back-pointers, at most cap
 * of them) and hands out each decided position, in order, with its tag and the marginal of
 * that tag. The tags are those of a Viterbi pass over the whole sequence (attn_crf_viterbi,
 * same tie-breaking), found online: once pending reaches cap/2 (then every lookahead more
 * positions while none can be decided) the survivor paths of all reachable states of the last
 * position are traced back; the positions up to where they all meet are decided exactly, so
 * they are committed, except the last lookahead positions. Only if cap positions are pending
 * and the survivors still part are the oldest (all but lookahead) committed along the best
 * path so far (n_forced counts them) and the Viterbi rows restarted from its last tag: the
 * only case in which a tag can differ from whole-sequence Viterbi.
 * Marginals: alpha runs online and is exact; beta is computed over the pending positions from
 * the last one pushed, started uniform (the rest of the sequence unknown), so a committed
 * position sees at least lookahead positions of its future; its error decays geometrically
 * with the lookahead (test_crf measures it). At the end (finish) beta starts from the end
 * scores and is exact. A sequence shorter than cap/2 positions is decided only by finish:
 * tags and marginals bit for bit those of attn_crf_viterbi and attn_crf_marginals. */
typedef struct attn_crf_stream {
    attn_crf crf;
    int cap, lookahead;                 /* pending positions at most; beta's lookahead */
    int n_rows;                         /* rows of work: min(cap, the sequence's length) */
    float *em, *alpha, *beta, *back;    /* [n_rows, K] each: rows of the pending positions */
    float *delta, *scratch, *marg, *trace;   /* [K] each */
    int64_t base;                       /* sequence position of pending row 0 */
    int n_pending;
    int next_attempt;                   /* pending count at which to look for a commit */
    int64_t n_forced;                   /* positions committed by force since begin */
    double inv_temperature;             /* of the marginals (1 unless set) */
} attn_crf_stream;

/* Floats of work memory a stream with n_rows rows over K tags needs. */
#define ATTN_CRF_STREAM_WORK(n_rows, K) ((size_t)(n_rows) * (size_t)(K) * 4 + (size_t)(K) * 4)

/* Starts a sequence. crf is copied (its arrays must outlive the stream); lookahead >= 1 and
 * cap >= 4 * lookahead; n_rows in [1, cap], at least min(cap, positions the sequence will
 * have) (pending never exceeds either; asserted: the caller's constants).
 * work: ATTN_CRF_STREAM_WORK(n_rows, K) floats. */
void attn_crf_stream_begin(attn_crf_stream *st, const attn_crf *crf, int cap, int lookahead,
                           int n_rows, float *work);

/* Marginals of this sequence at a temperature (> 0), as attn_crf_marginals_tempered; the tags
 * do not change. Call it right after begin (before any push). */
void attn_crf_stream_set_temperature(attn_crf_stream *st, double temperature);

/* Adds the next position's emissions em_row[K]. Returns n >= 0: the next n positions of the
 * sequence (from the first not yet returned) are decided: tags[0..n), probs[0..n) = the
 * marginal of each tag. tags and probs need room for n_rows entries. */
int attn_crf_stream_push(attn_crf_stream *st, const float *em_row, int *tags, float *probs);

/* Ends the sequence: decides every pending position (as push) and returns their count; the
 * stream is then ready for a new sequence (n_forced keeps counting). With no allowed path at
 * all the remaining tags are 0, as in attn_crf_viterbi. */
int attn_crf_stream_finish(attn_crf_stream *st, int *tags, float *probs);

#endif
