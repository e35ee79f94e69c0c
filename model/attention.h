/* attention.h: the encoder's inference self-attention core (no projections), fused on the
 * packed GEMM's microkernels (gemm.h).
 *
 * qkv[T, 3D] holds Q | K | V per token; out[T, D] gets, for each head h (hd = D / H columns
 * from h hd), softmax(scale q_h k_h^T + B_h) v_h (B_h: rel's relative position biases, none when
 * rel.bias is NULL): the same as attn_attention_forward (layers.h) up to float rounding, without
 * the [H, T, T] probabilities. Per head the keys and values are packed
 * once; per block of 32 queries the transposed scores [T, 32] (L1/L2 sized) are softmaxed down
 * the columns (AVX-512, AVX2: an exp of 7.4e-8 relative error, attention_avx512.c and
 * attention_avx2.c; plain C and NEON: the kernel table's softmax) and multiplied by the
 * values, each output row divided by its sum at the end. A NaN in qkv makes its head's
 * outputs NaN; infinite scores are not supported (the SIMD column exp gives NaN).
 *
 * g is a gemm family (attn_gemm_by_name; NULL: attn_gemm_best()): its microkernel, and the
 * column exp of the same ISA. One thread. scratch[attn_gemm_attention_floats(T, D, H)], any
 * alignment; out must not overlap qkv. */
#ifndef ATTN_ATTENTION_H
#define ATTN_ATTENTION_H

#include <stddef.h>

#include "gemm.h"
#include "layers.h"

size_t attn_gemm_attention_floats(int T, int D, int H);
void attn_gemm_attention(const attn_gemm_impl *g, float *out, const float *qkv, int T, int D,
                         int H, float scale, attn_rel_bias rel, float *scratch);

#endif
