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
 * Fails with ATTN_EINVAL when T < 1 or T > max_len, or when m keeps linear weights stored
 * (an inference-only model, model.h) and attn_encoder_prepare has not packed them; ATTN_ENOMEM
 * on allocation failure. */
int attn_encode(const attn_model *m, const uint32_t *rows, int T, float *out,
                attn_scratch *s, attn_error *err);

/* Packs the encoder's linear weights (embedding projection; qkv, out, up, down of every layer)
 * for inference, in one allocation owned by the model (m->packed, freed by attn_model_free).
 * From then on attn_encode takes the fast path: packed products with bias, GELU and residual
 * add fused, and attention without the [H,T,T] probabilities.
 *
 * The format of each linear follows the dtype its weight was stored as
 * (attn_model_stored_dtype), so the choice is made per model by whoever wrote it:
 *   - stored "q8": the int8 kernels of qgemm.h (weights int8 per output row, activations
 *     quantised per token). Requantising the decoded values (q * scale) gives back the stored
 *     ints and scales exactly for rows written by attn_quantize_rows_q8, so the int8 product
 *     uses the very weights the f32 path would; another writer's rows are requantised. An
 *     inference-only model's weights are packed from the stored ints it keeps, with the same
 *     result, bit for bit, without decoding them (attn_q8_pack_stored_into). Results
 *     are the same on every CPU (the int8 tables are bit-identical) and differ from the f32
 *     path by the activations' quantisation (qgemm.h: attn_q8_error_bound). A matrix wider
 *     than ATTN_Q8_MAX_DIM stays f32.
 *   - any other dtype: f32 GEMM panels (gemm.h); results differ from the unpacked path by
 *     float rounding only.
 * The model's weights must not change afterwards: call it on models loaded for inference,
 * once, before sharing the model between threads (the trainer never calls it; unpacked models
 * keep the exact sgemm path the trainer's forward matches, whatever the stored dtypes).
 * Idempotent. ATTN_ENOMEM; ATTN_EINVAL for a weight the int8 kernels refuse (not finite),
 * which a loaded model cannot have. */
int attn_encoder_prepare(attn_model *m, attn_error *err);

/* How many of the encoder's linears run on the int8 kernels (0 before attn_encoder_prepare). */
int attn_encoder_int8_linears(const attn_model *m);

/* Floats of scratch attn_encode reserves for T tokens of model m (packed or not). */
size_t attn_encode_scratch_floats(const attn_model *m, int T);

/* Makes sure s holds at least n floats; returns a pointer to them or NULL (ENOMEM). */
float *attn_scratch_reserve(attn_scratch *s, size_t n);
void attn_scratch_free(attn_scratch *s);

#endif
