/* qgemm.h: int8 matrix products for inference, out[T,OC] = inp[T,C] W[OC,C]^T + b.
 *
 * Weights: symmetric int8 per output row, w[o][k] ~ q[o][k] * wscale[o], |q| <= 127 (the same
 * scheme as the stored "q8" dtype, attn_quantize_rows_q8), packed once for the kernel.
 * Activations: quantised on the fly per token row, asymmetric uint8:
 *     x[t][k] ~ (u[t][k] - zero[t]) * ascale[t],  u in [0, 255],
 *     ascale[t] = (hi - lo) / 255, zero[t] = round(-lo / ascale[t]),
 *     lo = min(0, min_k x[t][k]), hi = max(0, max_k x[t][k]).
 * The product is exact in int32 (u8 x s8, what AVX-512 VNNI vpdpbusd computes) and the zero
 * point is removed with the precomputed row sums of the weights:
 *     out[t][o] = (float)(acc[t][o] - zero[t] * wsum[o]) * (ascale[t] * wscale[o]) + b[o],
 *     acc[t][o] = sum_k u[t][k] q[o][k],  wsum[o] = sum_k q[o][k].
 * Error per output: about wscale[o]/2 sum_k |x_k| + ascale[t]/2 sum_k |w_ok| (each side is off
 * by at most half a step); attn_q8_error_bound gives the conservative bound the tests use.
 *
 * Kernels (model/isa.h: one file per ISA): AMX tile multiplies (qgemm_amx.c), AVX-512 VNNI
 * (qgemm_avx512vnni.c), AVX2 (qgemm_avx2.c: vpmaddwd on sign-extended weights, exact, no
 * vpmaddubsw saturation) and plain C (qgemm_scalar.c). Every table computes the same uint8
 * activations and the same int32 sums, and (compiled as ISO C, so without FMA contraction)
 * the same floats: outputs are bit-identical across tables, which tests/unit/test_qgemm.c
 * checks. The table is chosen at
 * run time: AVX-512 VNNI when kernels.c hands out its "avx512" table (CPU + OS checks, and
 * ATTN_SIMD honoured) and cpuid reports VNNI, and "amx" above it when the CPU has AMX-INT8 and
 * Linux lets this process use the tiles; "avx2" when the kernels are avx2 or avx512; otherwise
 * the plain C table. ATTN_Q8=scalar|avx2|avx512vnni|amx asks for a table (one this CPU or
 * ATTN_SIMD rules out falls back to the best): for benchmarks and tests.
 *
 * Speed (this machine, 1 core): the VNNI table reaches 400-530 int8 GOP/s at 8+ tokens, 3.4-6x
 * OpenBLAS sgemm (SkylakeX kernels) at the encoder's shapes. The AVX2 table is exact but only
 * about as fast as f32 sgemm (vpmaddwd does 16 multiply-adds per instruction, an f32 FMA 8, and
 * needs the widening): it pays off for few tokens (memory-bound, 1/4 of the weight bytes). A
 * caller choosing int8 for speed can check attn_q8_kernels_best()->name.
 * GELU is not fused: a caller wanting GELU(out) runs the kernel table's gelu afterwards.
 *
 * Limits: 1 <= C, OC <= ATTN_Q8_MAX_DIM keeps every int32 sum exact:
 * 255 * 127 * 16384 * 2 < 2^31. Inputs must be finite. A matrix is read-only after packing and
 * may be shared by threads; the scratch buffer is per caller. */
#ifndef ATTN_QGEMM_H
#define ATTN_QGEMM_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define ATTN_Q8_MAX_DIM    16384   /* C and OC: keeps the int32 sums exact (above) */
#define ATTN_Q8_BLOCK_OC   16      /* output rows per packed block (one zmm of int32) */
#define ATTN_Q8_PANEL_OC   64      /* OC is padded to this: the AVX-512 tile's 4 blocks */
#define ATTN_Q8_GROUP_K    4       /* input channels per int32 lane (vpdpbusd) */
#define ATTN_Q8_PANEL_K    64      /* C is padded to this: whole AMX tiles (64 channels) */
#define ATTN_Q8_TILE_ROWS  16      /* the scratch holds T rounded up to this many rows (AMX) */
/* A row whose range hi - lo is below this is quantised as all zeros (its contribution is below
 * 1e-30 * sum |w|); it keeps 1 / ascale finite. */
#define ATTN_Q8_TINY_RANGE 1e-30f

/* A packed weight matrix. Layout of q: blocks of 16 output rows (OC padded with zero rows to
 * a multiple of 64, so every panel of 4 blocks is whole); within a block, groups of 4 input
 * channels (C padded with zeros to a multiple of 64, so that the AMX tiles cover it with no
 * tail: at most 60 zero channels, which the other tables multiply too); within a group 16
 * rows x 4 bytes: q[blk][g][o][j] = W[16 blk + o][4 g + j]. */
typedef struct attn_q8_matrix {
    int OC, C;
    int OCP, CP;        /* OC rounded up to 64, C rounded up to 64 */
    int8_t *q;          /* [OCP/16][CP/4][16][4], 64-byte aligned */
    float *wscale;      /* [OCP], 0 on padding rows */
    int32_t *wsum;      /* [OCP], sum of the row's q, 0 on padding rows */
    void *block;        /* the one allocation the above point into */
} attn_q8_matrix;

/* Quantises w[OC, C] (finite f32, row-major) per row and packs it. ATTN_EINVAL for a
 * non-finite weight, ATTN_ELIMIT for C or OC outside 1..ATTN_Q8_MAX_DIM, ATTN_ENOMEM. */
int attn_q8_pack(attn_q8_matrix **out, const float *w, int OC, int C, attn_error *err);

/* Packs already quantised rows (a stored "q8" tensor): scales[OC] (finite, >= 0) and
 * q[OC, C] in [-127, 127]. Same errors as attn_q8_pack. */
int attn_q8_pack_quantized(attn_q8_matrix **out, const float *scales, const int8_t *q,
                           int OC, int C, attn_error *err);

/* Packing into memory the caller owns (the encoder lays all its matrices out in one block):
 * attn_q8_layout sets m's shape (OC, C, OCP, CP; no storage) and *payload_bytes, the bytes
 * of its payload: the packed ints, then wscale, then wsum (attn_q8_bytes). ATTN_ELIMIT as
 * attn_q8_pack. attn_q8_place points m->q, wscale and wsum into payload: 64-byte aligned,
 * zeroed, *payload_bytes long (m->block stays NULL: attn_q8_free does not free it). */
int attn_q8_layout(attn_q8_matrix *m, int OC, int C, size_t *payload_bytes, attn_error *err);
void attn_q8_place(attn_q8_matrix *m, void *payload);

/* Fills a placed matrix as attn_q8_pack does from w[OC, C]. ATTN_EINVAL, ATTN_ENOMEM. */
int attn_q8_pack_into(attn_q8_matrix *m, const float *w, attn_error *err);

/* Fills a placed matrix from stored "q8" rows (scales[OC], q[OC, C], value = q * scale) with
 * exactly what attn_q8_pack gives for their decoded values, without decoding them: a row
 * whose requantisation gives back its own ints and scale (every row attn_quantize_rows_q8
 * writes) is copied as it is, any other row (another writer's) is decoded and requantised.
 * Errors of attn_q8_pack_quantized, and attn_q8_pack's for a product that is not finite. */
int attn_q8_pack_stored_into(attn_q8_matrix *m, const float *scales, const int8_t *q,
                             attn_error *err);

void attn_q8_free(attn_q8_matrix *m);

/* Bytes the packed matrix holds (weights, scales, sums). */
size_t attn_q8_bytes(const attn_q8_matrix *m);

/* Bytes of scratch attn_q8_matmul needs for T tokens of m's input width. */
size_t attn_q8_scratch_bytes(const attn_q8_matrix *m, int T);

/* out[T, OC] = inp[T, C] W^T + b + residual. b [OC] and residual [T, OC] may be NULL;
 * residual may equal out (the residual stream updated in place) but not overlap it otherwise.
 * scratch: attn_q8_scratch_bytes(W, T) bytes, any alignment. T may be 0. Pointers may be
 * unaligned; out must not overlap inp or scratch. Uses the best table for this CPU. */
void attn_q8_matmul(float *out, const float *inp, const attn_q8_matrix *W, const float *b,
                    const float *residual, int T, void *scratch);

/* Bound on |attn_q8_matmul(row t)[o] - exact product x . w_row| (bias excluded), with
 * x = inp row t, w_row = row o of the f32 weights and wscale = W->wscale[o]: a weight is off by
 * at most wscale/2, an activation by at most one step ascale (half a step, plus the clamp to
 * [0, 255] at the ends of the range), so sum_k (|x_k| wscale/2 + |w_k| ascale +
 * wscale ascale/2), plus 1e-5 relative for float rounding. For tests and for choosing int8
 * per layer. */
double attn_q8_error_bound(const float *x, const float *w_row, int C, float wscale);

/* ---- the kernel tables (the dispatch above; exposed for tests and benchmarks) ---------- */

typedef struct attn_q8_kernels {
    const char *name;   /* "amx", "avx512vnni", "avx2", "scalar" */
    /* u[T, CP] (zeros in columns C..CP), ascale[T], zero[T] from x[T, C] as described above.
     * u has room for T rounded up to ATTN_Q8_TILE_ROWS rows; a table may use those. */
    void (*quantize)(uint8_t *u, float *ascale, int32_t *zero, const float *x, int T, int C,
                     int CP);
    /* out[T, OC] = product + b + residual from quantised rows u[T, W->CP]. */
    void (*gemm)(float *out, const uint8_t *u, const float *ascale, const int32_t *zero,
                 const attn_q8_matrix *W, const float *b, const float *residual, int T);
} attn_q8_kernels;

/* The best table for this CPU (chosen once, thread-safe), see above. */
const attn_q8_kernels *attn_q8_kernels_best(void);
/* "scalar", "avx2", "avx512vnni" or "amx" if this build has it and this CPU (and OS) runs it,
 * else NULL. */
const attn_q8_kernels *attn_q8_kernels_by_name(const char *name);

/* attn_q8_matmul with a given table. */
void attn_q8_matmul_with(const attn_q8_kernels *k, float *out, const float *inp,
                         const attn_q8_matrix *W, const float *b, const float *residual, int T,
                         void *scratch);

/* Shared by every table so that all compute the same activations: ascale, 1/ascale and zero
 * of a row whose values lie in [lo, hi] (lo <= 0 <= hi). */
void attn_q8_row_params(float lo, float hi, float *ascale, float *inv_scale, int32_t *zero);

#endif
