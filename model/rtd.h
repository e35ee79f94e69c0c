/* rtd.h: replaced-token detection pretraining of the encoder (task "rtd"), knowledge-enhanced
 * in the manner of WKLM (Xiong et al. 2020: whole entity mentions replaced by other entities)
 * and ELECTRA (Clark et al. 2020: a per-token "replaced or original" head, loss over every
 * token).
 *
 * Why: the masked-LM head (mlm.h) costs a softmax over its vocabulary at the masked 15% and
 * learns from those 15% only; here the head is one logit per token (D multiply-adds) and every
 * token gives a label, so the cost per token is the encoder's own (measured: README). There is
 * no generator network (ELECTRA trains a small masked LM beside the discriminator, about a
 * third of its cost); the replacements come from a fixed pool drawn from the pretraining text:
 *   (a) entity-like spans: a capitalised run (as mlm.h finds them: with a gazetteer feature,
 *       a match of its lists counts as capitalised; the B/I rows travel with the span's
 *       rows) is replaced whole by another capitalised run of the
 *       same length seen in the pretraining text (so the model must know which names fit the
 *       context: "Shares of [Nestle] rose" vs "Shares of [Geneva] rose");
 *   (b) phrases of 1..ATTN_MLM_MAX_PHRASE lower-case tokens: each token replaced by a token
 *       drawn from the unigram^0.75 distribution of the pool's tokens (word2vec's noise
 *       distribution), and an entity span of a length the pool lacks likewise.
 * Spans are chosen by attn_mlm_spans (mlm.h) with the budget ATTN_RTD_RATE of the tokens:
 * never part of a capitalised run, runs longer than ATTN_MLM_MAX_RUN never. The replacement
 * keeps the sequence's length, so labels stay aligned.
 *
 * A token's identity here is its feature rows (all slots): what the encoder sees. Its label
 * is 1 (replaced) when its rows after the corruption differ from the original rows, so a
 * replacement that happens to draw the same token is labelled original (as ELECTRA does).
 *
 * Head: z_t = h_t . rtd.w + rtd.b; p_t = sigmoid(z_t); the loss of a sequence is the mean
 * binary cross-entropy over all of its T tokens.
 *
 * Everything random comes from the 64-bit seed given (the trainer derives it from (seed, step,
 * example)): the same seed and pool corrupt the same tokens the same way. The pool is built
 * from examples in a fixed order (attn_rtd_pool_add), so the same text gives the same pool on
 * any machine.
 *
 * The engine never includes sqlite3.h. */
#ifndef ATTN_RTD_H
#define ATTN_RTD_H

#include "model.h"
#include "train_data.h"

#define ATTN_RTD_RATE 0.15              /* share of a sequence's tokens replaced */
#define ATTN_RTD_POOL_WORDS (1 << 18)   /* distinct tokens the pool counts; later ones ignored */
#define ATTN_RTD_POOL_SPANS 8192        /* capitalised runs kept per length (the first seen):
                                         * at most 36 x 8192 runs' tokens of rows in all */

typedef struct attn_rtd_pool attn_rtd_pool;

/* An empty pool for models of this config (feature slots). NULL when out of memory. */
attn_rtd_pool *attn_rtd_pool_new(const attn_config *c);
void attn_rtd_pool_free(attn_rtd_pool *p);

/* Adds a sequence of T tokens (rows[T, S], caps[T]: 1 = capitalised): every token counts
 * towards the unigram distribution, every capitalised run of 1..ATTN_MLM_MAX_RUN tokens that
 * is whole in the sequence joins the spans of its length. ATTN_ENOMEM; ATTN_EINVAL after
 * attn_rtd_pool_finish. */
int attn_rtd_pool_add(attn_rtd_pool *p, const uint32_t *rows, const uint8_t *caps, int T,
                      attn_error *err);
/* Every example of a dataset (task rtd: caps are known) in order. */
int attn_rtd_pool_add_dataset(attn_rtd_pool *p, const attn_dataset *ds, attn_error *err);
/* Freezes the pool: the sampling table of the unigram^0.75 distribution. ATTN_EINVAL when
 * the pool has no token. */
int attn_rtd_pool_finish(attn_rtd_pool *p, attn_error *err);
size_t attn_rtd_pool_words(const attn_rtd_pool *p);
size_t attn_rtd_pool_spans(const attn_rtd_pool *p, int length);   /* length 1..MAX_RUN */

/* Corrupts a sequence (see above): out[T, S] receives the rows the encoder runs on, label[T]
 * 1 for a replaced token, else 0. The pool must be finished. Returns the replaced tokens. */
int attn_rtd_corrupt(const attn_rtd_pool *p, const uint32_t *rows, const uint8_t *caps, int T,
                     uint64_t seed, uint32_t *out, uint8_t *label);

/* The head with binary cross-entropy over the T tokens: returns weight * sum_t BCE_t and adds
 * weight * the gradients into g->rtd_w, g->rtd_b and dh[T, D]. h[T, D] is the encoder output.
 * n_correct (may be NULL) receives the tokens whose sign of z_t matches the label. */
double attn_rtd_backward(const attn_model *m, const attn_weights *g, const float *h, int T,
                         const uint8_t *label, float weight, float *dh, int *n_correct);

/* pred[T]: 1 when z_t > 0 (replaced). */
void attn_rtd_predict(const attn_model *m, const float *h, int T, uint8_t *pred);

/* The dev metric: every example of ds corrupted with a fixed seed (ATTN_RTD_EVAL_SEED and the
 * example index: the same corruption every time), encoded without dropout. Counts over all
 * tokens: accuracy, and precision/recall/F1 of "replaced" (F1 is the selection metric: a
 * model that calls every token original has accuracy 0.85 and F1 0). should_stop (may be NULL)
 * is asked every example: ATTN_ESTOPPED. */
#define ATTN_RTD_EVAL_SEED 0x7274646576616cull
typedef struct attn_rtd_metrics {
    double accuracy, precision, recall, f1;
    int64_t tokens, replaced;
} attn_rtd_metrics;
int attn_rtd_evaluate(const attn_model *m, const attn_rtd_pool *p, const attn_dataset *ds,
                      attn_stop_cb should_stop, void *user, attn_rtd_metrics *out,
                      attn_error *err);

#endif
