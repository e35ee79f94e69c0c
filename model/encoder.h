/* encoder.h: the pre-LayerNorm transformer encoder, inference path.
 *
 *   x   = embed(rows) proj^T + proj_b + pos[t]                    [T, D]
 *   for each layer:
 *     x = x + out_proj(MHA(LN1(x)))
 *     x = x + down(GELU(up(LN2(x))))
 *   out = final_LN(x)
 *
 * One sequence of 1..max_len tokens at a time; longer texts are windowed by pipeline.c. */
#ifndef ATTN_ENCODER_H
#define ATTN_ENCODER_H

#include "model.h"

/* Reusable scratch memory: grows to the largest sequence seen, then no allocation. */
typedef struct attn_scratch {
    float *buf;
    size_t cap;     /* floats */
} attn_scratch;

/* rows[T, S] feature slots per token (attn_token_features; S = attn_feature_slots);
 * out[T, D]. Rows are checked (attn_feature_rows_check): a bad one is ATTN_EINVAL.
 * Fails with ATTN_EINVAL when T < 1 or T > max_len, ATTN_ENOMEM on allocation failure. */
int attn_encode(const attn_model *m, const uint32_t *rows, int T, float *out,
                attn_scratch *s, attn_error *err);

/* Packs the encoder's linear weights (embedding projection; qkv, out, up, down of every layer)
 * into the GEMM panel layout (gemm.h), in one allocation owned by the model (m->packed, freed
 * by attn_model_free). From then on attn_encode takes the fast path: packed GEMM with bias,
 * GELU and residual add fused, and attention without the [H,T,T] probabilities. Results
 * differ from the unpacked path by float rounding only. The model's weights must not change
 * afterwards: call it on models loaded for inference, once, before sharing the model between
 * threads (the trainer never calls it; unpacked models keep the exact sgemm path the trainer's
 * forward matches). Idempotent. ATTN_ENOMEM. */
int attn_encoder_prepare(attn_model *m, attn_error *err);

/* Makes sure s holds at least n floats; returns a pointer to them or NULL (ENOMEM). */
float *attn_scratch_reserve(attn_scratch *s, size_t n);
void attn_scratch_free(attn_scratch *s);

#endif
