/* layers.h: forward primitives of the encoder, one function per layer type, shapes in the
 * signatures (llm.c style). The inference encoder (encoder.c) and the trainer both compose
 * these; the trainer keeps the activations they produce for its backward pass.
 * T = tokens, C = input channels, OC = output channels, D = width, H = heads. */
#ifndef ATTN_LAYERS_H
#define ATTN_LAYERS_H

#include "model.h"

/* out[T,OC] = inp[T,C] w[OC,C]^T + b[OC] (b may be NULL). cblas_sgemm; the matvec kernel when
 * T == 1; for 2..16 tokens one pass of dot kernels over the weights (sgemm's packing of the
 * whole weight matrix costs more than the product there: about 2x faster at T = 5). */
void attn_matmul_forward(float *out, const float *inp, const float *w, const float *b,
                         int T, int C, int OC);

/* out[T,C] = LayerNorm(inp[T,C]) * g + b. mean[T] and rstd[T] (1/sqrt(var+eps)) are written
 * when non-NULL (the trainer keeps them). out may equal inp. */
void attn_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                            const float *g, const float *b, int T, int C, float eps);

/* The relative position biases of one layer (config "rel_positions"): bias[h (2k+1) + k + d]
 * is added to head h's score of a query for the key d tokens after it (d < 0: before it),
 * d clamped to [-k, k]. bias NULL (and k 0): none. */
typedef struct attn_rel_bias {
    const float *bias;      /* [H, 2k+1] */
    int k;
} attn_rel_bias;

#define ATTN_NO_REL_BIAS ((attn_rel_bias){ NULL, 0 })

/* The column of the bias of a key d = key - query tokens away: k + clamp(d, -k, k). */
static inline int attn_rel_bias_column(int d, int k) {
    return k + (d < -k ? -k : d > k ? k : d);
}

/* scores[T,T] (row: query, column: key) += head h's biases bias_h[2k+1]. */
void attn_rel_bias_add(float *scores, const float *bias_h, int T, int k);

/* Multi-head self-attention core (no projections): qkv[T,3D] holds Q | K | V per token;
 * out[T,D] gets, for each head h, softmax(scale * q_h k_h^T + B_h) v_h in columns h*D/H...,
 * B_h the relative position biases of rel (zero when it has none).
 * probs[H,T,T] receives the attention probabilities (kept by the trainer; scratch for
 * inference). No mask: every token attends to every token of the sequence. */
void attn_attention_forward(float *out, float *probs, const float *qkv,
                            int T, int D, int H, float scale, attn_rel_bias rel);
/* Its two steps for one head h, so the trainer can drop out probabilities between them:
 * p[T,T] = softmax_rows(scale * q_h k_h^T + B_h), then out's columns h*D/H... = p v_h. */
void attn_attention_head_probs(float *p, const float *qkv, int T, int D, int H, int h,
                               float scale, attn_rel_bias rel);
void attn_attention_head_mix(float *out, const float *p, const float *qkv, int T, int D, int H,
                             int h);

/* out[T, sum fdim] = concatenation over features f of embed_f[row of f] (for the subword
 * feature: the mean of embed_f over its slots' rows, ATTN_ROW_NONE slots skipped; for the
 * gazetteer feature: the sum over its slots' rows, one a list).
 * rows[T, S], S = attn_feature_slots(cfg->features, n_features), laid out as features.h says,
 * must be valid (attn_token_features guarantees it; attn_feature_rows_check checks it).
 * Tables kept stored (w->embed_table[f], inference-only models) are decoded row by row, to the
 * same values as their decoded f32 form. */
void attn_embed_forward(float *out, const attn_config *cfg, const attn_weights *w,
                        const uint32_t *rows, int T);

/* Sum of feature dims: the width of attn_embed_forward's output. */
int attn_embed_width(const attn_config *cfg);

/* The projection's input width: (2k+1) attn_embed_width, k = cfg->embed_context. */
int attn_proj_width(const attn_config *cfg);

/* out[T, (2k+1)E] = for each t the rows emb[t-k] .. emb[t+k] side by side, zeros where t+j
 * falls outside 0..T-1 (a window or a sequence has no neighbours past its ends). k = 0 is a
 * copy; callers with k = 0 project emb itself. */
void attn_embed_context_forward(float *out, const float *emb, int T, int E, int k);

#endif
