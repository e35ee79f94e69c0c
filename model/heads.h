/* heads.h: the task heads over encoder outputs h[T, D].
 *   classify   pooled = concat(mean_t h, max_t h) [2D]; probs = softmax(cls.w pooled + cls.b)
 *   entities   emissions em[T, K] = h tag.w^T + tag.b, decoded by the CRF (crf.h)
 *   relations  for a (head span, tail span) pair: x = concat(maxpool head, maxpool tail,
 *              maxpool tokens strictly between the spans (zeros if none: adjacent,
 *              overlapping or nested spans), type(head),
 *              type(tail)); probs = softmax(out.w GELU(hidden.w x + hidden.b) + out.b)
 * All heads are pure functions of the model and their inputs. */
#ifndef ATTN_HEADS_H
#define ATTN_HEADS_H

#include "model.h"

/* z[n] = softmax(z / temperature), in place (temperature > 0; 1 leaves the scores as they
 * are, bit for bit the plain softmax). The probabilities of every head. */
void attn_softmax_tempered(float *z, int n, float temperature);

/* probs[L] from pooled[2D]: softmax(logits / classify temperature). attn_classify_logits gives
 * the scores before the softmax (calibration). */
void attn_classify_head(const attn_model *m, const float *pooled, float *probs);
void attn_classify_logits(const attn_model *m, const float *pooled, float *logits);

/* Running mean/max pooling, so a long text pooled over several windows gives the same answer
 * as one pass: init, add rows, finish into pooled[2D]. acc[2D] holds sum | max. */
void attn_pool_init(float *acc, int D);
void attn_pool_add(float *acc, const float *h, int T, int D);
/* sum -> mean, in place; with n_rows == 0 (a text without tokens) pooled is all zeros. */
void attn_pool_finish(float *acc, int D, int64_t n_rows);

/* em[T, K] from h[T, D]. */
void attn_tag_emissions(const attn_model *m, const float *h, int T, float *em);

/* Relation probabilities probs[R+1] (index 0 = none) for spans [hs, he) and [ts, te) of token
 * indices into h[N, D], entity label indices hl and tl. work: ATTN_REL_WORK(m) floats. */
/* out[D] = max over rows [from, to) of h[N, D]; zeros when the range is empty. The relation
 * head's pooling, shared with its backward pass (backward.c). */
void attn_max_pool_rows(float *out, const float *h, int from, int to, int D);
/* The tokens strictly between spans [hs, he) and [ts, te): [*from, *to), empty (from >= to)
 * when the spans overlap, nest or touch. */
void attn_rel_gap(int hs, int he, int ts, int te, int *from, int *to);

/* probs = softmax(logits / relation temperature); attn_relation_logits stops before it. */
#define ATTN_REL_WORK(m) \
    ((size_t)(3 * (m)->cfg.dim + 2 * (m)->cfg.rel_type_dim + (m)->cfg.rel_hidden))
void attn_relation_head(const attn_model *m, const float *h, int N,
                        int hs, int he, int hl, int ts, int te, int tl,
                        float *probs, float *work);
void attn_relation_logits(const attn_model *m, const float *h, int N,
                          int hs, int he, int hl, int ts, int te, int tl,
                          float *logits, float *work);

#endif
