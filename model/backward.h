/* backward.h: backward passes of the encoder primitives (layers.h) and of the task heads
 * (heads.h), one function per forward function, shapes in the signatures (llm.c style).
 *
 * Conventions, for every function here:
 *   - d<name> is the gradient of the loss with respect to <name>; "dout" is the gradient
 *     arriving from above.
 *   - Every gradient output is ACCUMULATED (+=), never overwritten, so a caller sums over
 *     sequences, residual branches and pairs by calling again; zero the buffers first.
 *   - A NULL gradient output is skipped (e.g. db when the layer has no bias, or dinp of the
 *     first layer).
 *   - Parameter gradients are written through an attn_weights bound to a gradient buffer laid
 *     out like the model's parameters (attn_weights_bind on the gradient buffer); its views are
 *     const in the type but point into writable memory the caller owns.
 * Each fast kernel (cblas_sgemm, kernel table) has a plain reference twin *_ref that loops and
 * accumulates in double; tests/unit/test_backward.c checks both against finite differences.
 * T = tokens, C = input channels, OC = output channels, D = width, H = heads. */
#ifndef ATTN_BACKWARD_H
#define ATTN_BACKWARD_H

#include "model.h"

/* Forward: out[T,OC] = inp[T,C] w[OC,C]^T + b[OC].
 * dinp[T,C] += dout w;  dw[OC,C] += dout^T inp;  db[OC] += sum_t dout[t]. */
void attn_matmul_backward(float *dinp, float *dw, float *db, const float *dout,
                          const float *inp, const float *w, int T, int C, int OC);
void attn_matmul_backward_ref(float *dinp, float *dw, float *db, const float *dout,
                              const float *inp, const float *w, int T, int C, int OC);

/* Forward: out = (inp - mean) rstd g + b per row, mean[T]/rstd[T] as saved by
 * attn_layernorm_forward. dinp[T,C] +=, dg[C] +=, db[C] +=. */
void attn_layernorm_backward(float *dinp, float *dg, float *db, const float *dout,
                             const float *inp, const float *g, const float *mean,
                             const float *rstd, int T, int C);
void attn_layernorm_backward_ref(float *dinp, float *dg, float *db, const float *dout,
                                 const float *inp, const float *g, const float *mean,
                                 const float *rstd, int T, int C);

/* Forward (attn_attention_forward, optionally with dropout on the probabilities): per head h,
 *   P_h = softmax(scale q_h k_h^T + B_h) [T,T] (probs), P'_h = P_h * mask_h, out_h = P'_h v_h,
 *   B_h the relative position biases (layers.h: attn_rel_bias, k = rel_k).
 * mask[H,T,T] holds 0 (dropped) or 1/(1-rate) (kept); NULL means no dropout (P' = P).
 * dqkv[T,3D] += (the Q | K | V columns); drel_bias[H, 2 rel_k + 1] += when non-NULL (the
 * forward had biases; probs already include them, so only their gradient needs rel_k).
 * scratch: 2*T*T floats. */
void attn_attention_backward(float *dqkv, float *drel_bias, const float *dout /* [T,D] */,
                             const float *qkv, const float *probs /* [H,T,T] */,
                             const float *mask, int T, int D, int H, float scale, int rel_k,
                             float *scratch);
void attn_attention_backward_ref(float *dqkv, float *drel_bias, const float *dout,
                                 const float *qkv, const float *probs, const float *mask,
                                 int T, int D, int H, float scale, int rel_k);

/* dbias_h[2k+1] += the sums of dscores[T,T] (row: query, column: key) over the query-key
 * pairs of each bias column (attn_rel_bias_column). */
void attn_rel_bias_backward(float *dbias_h, const float *dscores, int T, int k);

/* Forward: the kernel table's in-place GELU (tanh form, 0 below -10).
 * dinp[n] += dout[n] * GELU'(inp[n]), inp = the pre-activation. */
void attn_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);
/* The same from the forward's output too: out[n] = GELU(inp) as the kernel table computed it
 * (the trainer keeps both). No exp, so several times faster; agrees with attn_gelu_backward
 * to the kernel's GELU accuracy (about 3e-6 absolute). */
void attn_gelu_backward_from_output(float *dinp, const float *inp, const float *out,
                                    const float *dout, size_t n);

/* Forward: attn_embed_forward. Scatter-add: g->embed[f][row of f] += dout[t, slice of f];
 * for the subword feature each of the token's n used slot rows += dout[t, slice] / n; for the
 * gazetteer feature each of its slot rows (one a list) += dout[t, slice].
 * A token with skip_token[t] != 0 gets no gradient for feature skip_feature (its embedding
 * was replaced by zeros: word dropout). skip_feature < 0 or skip_token NULL: no skipping. */
void attn_embed_backward(const attn_config *cfg, const attn_weights *g, const uint32_t *rows,
                         const float *dout /* [T, attn_embed_width] */, int T,
                         int skip_feature, const uint8_t *skip_token);

/* Forward: attn_embed_context_forward. demb[T,E] += for each t the slices of dctx[t', .]
 * that hold emb row t (t' = t-k .. t+k inside 0..T-1). */
void attn_embed_context_backward(float *demb, const float *dctx, int T, int E, int k);

/* Forward: attn_pool_init/add/finish over h[T,D] (T >= 1): pooled = [mean_t h | max_t h].
 * dh[T,D] += dpooled[0:D] / T, and dpooled[D+i] to the first row holding the maximum of
 * column i (the row attn_pool_add keeps). */
void attn_pool_backward(float *dh, const float *h, const float *dpooled /* [2D] */, int T, int D);

/* Classification head with cross-entropy: returns -log p[gold] for h[T,D] (T >= 1); adds
 * weight * d/d(.) into g->cls_w, g->cls_b and dh[T,D]. probs[L] receives the probabilities
 * (may be NULL). work: ATTN_CLS_BWD_WORK(m) floats. */
#define ATTN_CLS_BWD_WORK(m) ((size_t)(4 * (m)->cfg.dim + 2 * (m)->cfg.classify_labels.n))
double attn_classify_backward(const attn_model *m, const attn_weights *g, const float *h, int T,
                              int gold, float weight, float *dh, float *probs, float *work);

/* Tag emissions em[T,K] = h tag_w^T + tag_b: dh[T,D] +=, g->tag_w +=, g->tag_b +=. */
void attn_tag_emissions_backward(const attn_model *m, const attn_weights *g, const float *h,
                                 const float *dem /* [T,K] */, int T, float *dh);

/* Relation head of one pair (the forward of attn_relation_head) with cross-entropy against
 * gold in [0, R] (0 = none): returns -log p[gold]; adds weight * gradients into g->rel_*,
 * g->rel_type and dh[N,D] (to the argmax rows of each max-pool). work:
 * ATTN_REL_BWD_WORK(m) floats. */
#define ATTN_REL_BWD_WORK(m) \
    (2 * ATTN_REL_WORK(m) + 2 * (size_t)(m)->cfg.rel_hidden + \
     2 * (size_t)((m)->cfg.relation_labels.n + 1))
double attn_relation_backward(const attn_model *m, const attn_weights *g, const float *h, int N,
                              int hs, int he, int hl, int ts, int te, int tl, int gold,
                              float weight, float *dh, float *work);

#endif
