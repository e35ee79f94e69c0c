/* gemm.h: the inference GEMM. The right-hand matrix is packed once into column panels, the
 * layout the microkernels stream, and every product carries its epilogue (bias, GELU,
 * residual add) so the encoder makes no extra pass over its activations.
 *
 *   out[M, N] = alpha * A[M, K] B[K, N] + bias[N] + init[M, N]      (then GELU if asked)
 *
 * Packed layout (attn_packed): ceil(N / 32) panels of 32 columns; panel p holds
 * B[k][32 p + j] at data[p * K * 32 + k * 32 + j], zero past column N. A k-range of a panel is
 * contiguous, so cache blocking over K reads whole, sequential slices.
 *
 * Microkernels, one file each (model/isa.h): AVX-512 (gemm_avx512.c: 12 rows x 32 columns in
 * 24 zmm accumulators), AVX2+FMA (gemm_avx2.c: 6 x 32), NEON (gemm_neon.c: 4 x 32, aarch64
 * only) and plain C (gemm_scalar.c: 4 x 32), chosen at run time with the kernel table
 * (kernels.h: the same CPU check and the same ATTN_SIMD override). All give the same results
 * up to float rounding (different summation order). Pointers may be unaligned. */
#ifndef ATTN_GEMM_H
#define ATTN_GEMM_H

#include <stddef.h>

#include "kernels.h"

#define ATTN_GEMM_NR 32          /* columns of a packed panel */
#define ATTN_GEMM_KC 256         /* K rows of a panel kept in L1 per block (32 KiB) */

typedef struct attn_packed {
    float *data;                 /* [ceil(N/32), K, 32], see above */
    int K, N;
} attn_packed;

/* Floats of packed storage for a K x N right-hand matrix. */
size_t attn_packed_floats(int K, int N);

/* Packs B = W^T where W[N, K] has rows of stride ldw (a linear layer's weight w[OC, C],
 * or the keys K[T, hd] of one attention head): into dst[attn_packed_floats(K, N)]. */
void attn_pack_rows(float *dst, const float *w, size_t ldw, int N, int K);

/* Packs B[K, N] with rows of stride ldb (the values V[T, hd] of one attention head). */
void attn_pack_cols(float *dst, const float *b, size_t ldb, int K, int N);

typedef enum attn_epilogue {
    ATTN_EPI_NONE,               /* out = alpha A B (+ bias) (+ init) */
    ATTN_EPI_GELU                /* out = GELU(A B + bias (+ init)) */
} attn_epilogue;

typedef struct attn_gemm_args {
    float *out; size_t ldo;              /* [M, N] */
    const float *a; size_t lda;          /* [M, K] */
    const attn_packed *b;                /* [K, N] packed */
    const float *bias;                   /* [N] or NULL */
    const float *init; size_t ldi;       /* [M, N] or NULL: added (a residual); may equal out */
    float alpha;                         /* scales A B only */
    attn_epilogue epilogue;
    int M;
} attn_gemm_args;

/* A microkernel family (one per ISA). */
typedef struct attn_gemm_impl attn_gemm_impl;

/* The family of this CPU's kernel table (attn_kernels_best(): ATTN_SIMD honoured). */
const attn_gemm_impl *attn_gemm_best(void);
/* The family of that name ("avx512", "avx2", "neon", "scalar") if this build and CPU run it. */
const attn_gemm_impl *attn_gemm_by_name(const char *name);
const char *attn_gemm_name(const attn_gemm_impl *g);

/* Runs the product of args with family g (NULL: attn_gemm_best()). M may be 0. */
void attn_gemm(const attn_gemm_impl *g, const attn_gemm_args *args);

/* ---- linear layers -------------------------------------------------------------------- */

/* How a linear layer's weights are held: f32 panels (above), or int8 rows for the int8
 * kernels of qgemm.h (activations quantised per token on the fly; GELU applied after the
 * product with the kernel table's gelu). The encoder picks the format per weight from the
 * dtype it was stored as (encoder.h). */
typedef enum attn_linear_format {
    ATTN_LINEAR_F32_PACKED = 1,  /* w: attn_packed of W^T (K = C, N = OC) */
    ATTN_LINEAR_Q8 = 2           /* q8: int8 weights, one scale per output row */
} attn_linear_format;

typedef struct attn_q8_matrix attn_q8_matrix;

typedef struct attn_linear {
    attn_linear_format format;
    int C, OC;
    attn_packed w;               /* ATTN_LINEAR_F32_PACKED */
    const attn_q8_matrix *q8;    /* ATTN_LINEAR_Q8 (C and OC equal the layer's) */
    const float *b;              /* [OC] or NULL */
} attn_linear;

/* Bytes of scratch attn_linear_forward needs for T tokens: 0 for f32 panels, the activation
 * quantisation buffer (attn_q8_scratch_bytes) for int8. */
size_t attn_linear_scratch_bytes(const attn_linear *L, int T);

/* out[T, OC] = epilogue(inp[T, C] W^T + b (+ residual[T, OC])). residual may equal out (the
 * residual stream updated in place) and may be NULL. Rows of out, inp and residual are
 * contiguous (strides OC, C, OC). scratch: attn_linear_scratch_bytes(L, T) bytes, any
 * alignment (NULL when that is 0); out must not overlap inp or scratch. */
void attn_linear_forward(const attn_linear *L, float *out, const float *inp, int T,
                         attn_epilogue ep, const float *residual, void *scratch);

#endif
