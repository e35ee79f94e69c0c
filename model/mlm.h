/* mlm.h: masked-language-model pretraining of the encoder, ERNIE style (task "mlm").
 *
 * A pretraining row is a plain text. Every training step masks about ATTN_MLM_RATE of a
 * sequence's tokens in whole spans:
 *   - capitalised runs (consecutive tokens whose shape starts with 'X': likely names, "New
 *     York Stock Exchange"; with a gazetteer feature, tokens inside a match of any of its
 *     lists count as capitalised too, so "acme widgets" listed as a company is one span) are
 *     masked as one span, never in part; runs longer than ATTN_MLM_MAX_RUN tokens
 *     (headlines) are never chosen as a span;
 *   - random phrases of 1..ATTN_MLM_MAX_PHRASE lower-case tokens.
 * Half of the span draws start at a capitalised token (when the sequence has one), so names
 * are masked more often than their share of tokens. A span is accepted when it overlaps no
 * masked token and fits the budget (round(rate * T), at least 1; the first span is always
 * accepted unless it covers the whole sequence of T > 1 tokens).
 * Each masked token's input is then (per token) replaced by the reserved [MASK] token's feature
 * rows (80%: attn_mlm_mask_rows), by the rows of a random token of the same sequence (10%), or
 * kept (10%).
 * The target of a masked token is its normalised word's index in the output vocabulary (the
 * V = mlm.vocab most frequent normalised words of the pretraining rows, below); a masked token
 * outside the vocabulary is masked but not predicted. The head is linear, logits[M, V] =
 * h[pos] mlm.w^T + mlm.b over the M predicted positions only (one GEMM), with softmax
 * cross-entropy, averaged over the sequence's predicted positions.
 *
 * Everything random comes from the 64-bit seed given (the trainer derives it from (seed, step,
 * example)), so the same seed masks the same tokens the same way. */
#ifndef ATTN_MLM_H
#define ATTN_MLM_H

#include "model.h"
#include "train_data.h"

#define ATTN_MLM_RATE 0.15          /* share of a sequence's tokens masked */
#define ATTN_MLM_MAX_RUN 8          /* longest capitalised run masked as one span */
#define ATTN_MLM_MAX_PHRASE 3       /* longest random phrase */
#define ATTN_MLM_MASK_TOKEN "[MASK]" /* the reserved string whose features stand for a mask */

/* What happens to a token's input. */
enum { ATTN_MLM_NONE = 0, ATTN_MLM_MASKED = 1, ATTN_MLM_RANDOM = 2, ATTN_MLM_KEPT = 3 };

/* 1 when a token of this text is capitalised (its shape starts with 'X'). */
int attn_mlm_is_capitalised(const char *token, size_t n_bytes);

/* The span choice shared by mlm and rtd (rtd.h): spans of a sequence of T >= 1 tokens as
 * described above, with the budget round(rate * T) (at least 1), drawn from the splitmix64
 * stream *s (advanced). marked[T] receives 1 for a token inside a chosen span, else 0;
 * starts/ends (may be NULL; room for T) the spans [start, end) in the order drawn. Returns
 * the number of spans. A capitalised run is chosen whole or not at all. */
int attn_mlm_spans(const uint8_t *caps, int T, double rate, uint64_t *s, uint8_t *marked,
                   int *starts, int *ends);

/* Chooses the masked spans of a sequence of T >= 1 tokens (caps[T]: 1 = capitalised) and
 * what replaces each masked token: action[T] receives ATTN_MLM_* (NONE = not masked).
 * Returns the number of masked tokens. */
int attn_mlm_choose(const uint8_t *caps, int T, uint64_t seed, uint8_t *action);

/* The [MASK] token's feature rows [attn_feature_slots] for this config. */
void attn_mlm_mask_rows(const attn_config *c, uint32_t *rows);

/* out[T, S] = rows[T, S] with the actions applied: MASKED -> mask_rows, RANDOM -> the rows
 * of token random_of[t] (a token index in [0, T)), NONE and KEPT -> unchanged. */
void attn_mlm_apply(const attn_config *c, const uint32_t *rows, int T, const uint8_t *action,
                    const int *random_of, const uint32_t *mask_rows, uint32_t *out);

/* A random token index for every RANDOM action (random_of[t], others 0), from seed. */
void attn_mlm_random_sources(const uint8_t *action, int T, uint64_t seed, int *random_of);

/* Predicted positions: masked tokens (action != NONE) with target[t] >= 0. pos[M] and
 * tgt[M] receive them in order; returns M. */
int attn_mlm_positions(const uint8_t *action, const int32_t *target, int T, int *pos, int *tgt);

/* Work floats of attn_mlm_backward / attn_mlm_predict for M positions. */
#define ATTN_MLM_WORK(m, M) \
    ((size_t)(M) * (2 * (size_t)(m)->cfg.dim + (size_t)(m)->cfg.mlm_vocab) + 16)

/* The head with cross-entropy over M >= 1 positions: returns weight * sum_i -log p_i[tgt_i]
 * and adds weight * the gradients into g->mlm_w, g->mlm_b and dh[T, D] (rows pos[i]).
 * h[T, D] is the encoder output. n_correct (may be NULL) receives the positions whose argmax
 * is the target. */
double attn_mlm_backward(const attn_model *m, const attn_weights *g, const float *h,
                         const int *pos, const int *tgt, int M, float weight, float *dh,
                         int *n_correct, float *work);

/* Argmax output of each of the M positions: pred[M]. */
void attn_mlm_predict(const attn_model *m, const float *h, const int *pos, int M, int *pred,
                      float *work);

/* ---- datasets for mlm (train_data.h): targets, and the dev metric ----
 * A dataset for a config with task mlm takes plain texts (attn_dataset_add with no answers):
 * every text gives training examples (chunks of max_len tokens), and every token keeps the
 * hash of its normalised word and whether it is capitalised (or in a gazetteer match: the
 * dataset's gazetteer, attn_dataset_set_gazetteer). Before attn_fit, the targets must
 * be computed: attn_dataset_mlm_targets(ds, vocab_from) gives every token of ds the index of
 * its word among the mlm.vocab most frequent normalised words of vocab_from (the training set;
 * ranked by count, ties by hash), or -1 (not predicted). Call it on the training set with
 * itself, then on the dev set with the training set. Adding texts afterwards clears it.
 * The dev metric ("masked_accuracy") is attn_mlm_evaluate: every dev example masked as in
 * training but with fixed seeds (ATTN_MLM_EVAL_SEED and the example index: the same masks
 * every epoch), encoded without dropout; the share of predicted positions whose argmax is the
 * target. */
#define ATTN_MLM_EVAL_SEED 0x6d6c6d6576616cull
int attn_dataset_mlm_targets(attn_dataset *ds, const attn_dataset *vocab_from, attn_error *err);
int attn_mlm_evaluate(const attn_model *m, const attn_dataset *ds, double *accuracy,
                      attn_error *err);

#endif
