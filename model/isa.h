/* isa.h: per-ISA code: where it lives, how it is compiled, when it may run. Private to model/.
 *
 * Layout. Each kernel family is a driver plus one file per instruction set, all in model/:
 *
 *   family     contract      driver, dispatch   plain C twin       SIMD, one file per ISA
 *   kernels    kernels.h     kernels.c          kernels_scalar.c   kernels_{avx2,avx512,neon}.c
 *   gemm       gemm.h        gemm.c             gemm_scalar.c      gemm_{avx2,avx512,neon}.c
 *   attention  attention.h   attention.c        attention.c (*)    attention_{avx2,avx512}.c
 *   qgemm      qgemm.h       qgemm.c            qgemm_scalar.c     qgemm_{avx2,avx512vnni,amx}.c
 *
 * (*) the attention's column softmax: the families without an attention_<isa>.c (plain C,
 * NEON) use their kernel table's softmax, column by column.
 *
 * model/<family>_<isa>.c holds that family's code for that ISA and nothing else; it ends in
 * one static const table and the getter attn_<family>_<isa>_table() declared below. The
 * Makefile compiles it with the flags of <isa> (one pattern, ISA_FLAGS_<isa>); no other file
 * gets them and no file uses target attributes:
 *   avx2        -mavx2 -mfma -mf16c
 *   avx512      avx2's + -mavx512f -mavx512bw -mavx512dq -mavx512vl
 *   avx512vnni  avx512's + -mavx512vnni
 *   amx         avx512vnni's + -mamx-tile -mamx-int8
 *   neon        none (Advanced SIMD, FMA and f16 conversion are base AArch64)
 * x86_64 builds compile the avx* and amx files, aarch64 builds the neon ones; the drivers name
 * them only under #if defined(__x86_64__) / defined(__aarch64__). The shared code is compiled
 * for the base architecture (no -march=native), so the .so runs on any CPU of it.
 *
 * Dispatch. The flags of an ISA are exactly what the run-time check guarantees before a table
 * of it is handed out, and there is one check: kernels.c (cpuid, plus XCR0 for the register
 * state the OS saves; ATTN_SIMD can lower the level). gemm.c and attention.c take the level
 * of attn_kernels_by_name / attn_kernels_best; qgemm.c bounds its choice by that level plus
 * attn_cpu_has_vnni and attn_cpu_has_amx_int8 (and Linux's permission for the AMX tiles).
 * A getter only returns the address of static const data, and the files have no
 * constructors: nothing compiled for an ISA runs before its check.
 *
 * Twins. Each SIMD table has the plain C table of its family as twin, and a test compares
 * them on random inputs of awkward lengths: tests/unit/test_kernels.c, test_gemm.c (gemm and
 * attention), test_qgemm.c. */
#ifndef ATTN_ISA_H
#define ATTN_ISA_H

#include "gemm.h"
#include "kernels.h"
#include "qgemm.h"

/* ---- kernels (kernels.h) ---------------------------------------------------------------- */

const attn_kernels *attn_kernels_avx2_table(void);
const attn_kernels *attn_kernels_avx512_table(void);
const attn_kernels *attn_kernels_neon_table(void);
/* (the plain C table's getter is public: attn_kernels_scalar, kernels.h) */

/* The constants every vectorised exp shares (kernels_* and attention_*), so all tables use
 * the same approximation (the GELU constants are in kernels.h: the trainer's backward pass
 * uses them too).
 *
 * exp(x) by Cephes-style range reduction: x = n ln2 + r, |r| <= ln2/2, with ln2 split in two
 * parts so n*ln2 is exact, exp(r) by a degree-5 minimax polynomial, then scaled by 2^n.
 * About 1-2 ulp on the whole range. Inputs are clamped to [EXP_LO, EXP_HI]; anything below
 * EXP_LO (including -inf) gives exactly 0, anything above EXP_HI gives about FLT_MAX. */
#define ATTN_EXP_HI      88.3762626647949f
#define ATTN_EXP_LO      (-87.3365447504f)   /* exp(EXP_LO) = FLT_MIN: no subnormal results */
#define ATTN_LOG2E       1.44269504088896341f
#define ATTN_LN2_HI      0.693359375f
#define ATTN_LN2_LO      (-2.12194440e-4f)
#define ATTN_EXP_P0      1.9875691500e-4f
#define ATTN_EXP_P1      1.3981999507e-3f
#define ATTN_EXP_P2      8.3334519073e-3f
#define ATTN_EXP_P3      4.1665795894e-2f
#define ATTN_EXP_P4      1.6666665459e-1f
#define ATTN_EXP_P5      5.0000001201e-1f

#if defined(__x86_64__)
#include <emmintrin.h>   /* SSE2: part of x86_64 itself */

/* q4_to_f32 of the AVX2 and AVX-512 tables: a group's 16 bytes -> its 32 signed nibbles as
 * bytes, in value order: lo = values 0..15, hi = values 16..31. */
static inline void attn_q4_group_bytes(const uint8_t *q, __m128i *lo, __m128i *hi) {
    const __m128i low4 = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
    const __m128i x = _mm_loadu_si128((const __m128i *)q);
    const __m128i even = _mm_and_si128(x, low4);
    const __m128i odd = _mm_and_si128(_mm_srli_epi16(x, 4), low4);
    *lo = _mm_sub_epi8(_mm_xor_si128(_mm_unpacklo_epi8(even, odd), eight), eight);
    *hi = _mm_sub_epi8(_mm_xor_si128(_mm_unpackhi_epi8(even, odd), eight), eight);
}
#endif


/* ---- gemm (gemm.h) ------------------------------------------------------------------------ */

#define ATTN_GEMM_MR_MAX 12       /* the largest MR of any family */

/* One microkernel call: c[m, 32] = alpha * a b + bias + init over k. */
typedef struct attn_tile_args {
    const float *a;               /* A: a[i * ak + r * ar] is row r, step i (rows >= m unused) */
    size_t ak;                    /* floats between steps of a: MR for packed blocks, 1 for rows */
    size_t ar;                    /* floats between rows of a: 1 for packed blocks, lda for rows */
    const float *b;               /* panel slice: [k][32] */
    float *c; size_t ldc;         /* [m, 32] */
    const float *init; size_t ldi;/* [m, 32] or NULL; may equal c */
    const float *bias;            /* [32] or NULL */
    float alpha;
    int m, k;
    /* [32] or NULL: colmax[j] = max(colmax[j], c[r][j] over the tile's rows). Only the
     * families with an attention table (AVX-512, AVX2) honour it: the attention's scores set
     * it for those alone. */
    float *colmax;
} attn_tile_args;

struct attn_gemm_impl {
    const char *name;             /* the kernels.h table it goes with */
    int mr;                       /* rows per microkernel call */
    void (*tile)(const attn_tile_args *t);
    /* 1: the tile reads A's rows where they are (ar = lda, ak = 1), so attn_gemm does not
     * pack A; 0: A is packed into blocks of mr rows first (NEON loads mr rows as a vector). */
    int reads_rows;
};

const attn_gemm_impl *attn_gemm_scalar_table(void);
const attn_gemm_impl *attn_gemm_avx2_table(void);
const attn_gemm_impl *attn_gemm_avx512_table(void);
const attn_gemm_impl *attn_gemm_neon_table(void);

/* What the attention shares with the GEMM driver (gemm.c). */
/* A[rows, k] (row stride lda, rows <= mr) -> dst[k][mr]: one packed row block. */
void attn_gemm_pack_a(float *dst, const float *a, size_t lda, int rows, int k, int mr);
/* t with n < 32 columns (a right edge): the tile runs on a 32-wide copy. */
void attn_gemm_edge_tile(const attn_gemm_impl *g, attn_tile_args t, int n);

/* ---- attention (attention.h) -------------------------------------------------------------- */

/* The attention's exp(x), x <= 0: x = n ln2 + r (ln2 in two parts, above), n rounded by
 * ATTN_EXP_SHIFTER (x + 1.5 * 2^23 rounds x, |x| < 2^22, to the nearest integer, which then
 * sits in the low mantissa bits: no rounding instruction), exp(r) for |r| <= ln2 / 2 by a
 * degree-6 polynomial fitted for relative error (C2..C6; 1 + r + ... in Horner form: 6 FMAs
 * where the degree-7 Cephes form above takes 8 operations): 7.4e-8 relative after float
 * rounding, against the Cephes form's 6.9e-8. */
#define ATTN_EXP_SHIFTER 12582912.0f
#define ATTN_EXP_C2 0.49999994f
#define ATTN_EXP_C3 0.166664124f
#define ATTN_EXP_C4 0.0416681133f
#define ATTN_EXP_C5 0.00837578345f
#define ATTN_EXP_C6 0.00138417562f

typedef struct attn_attention_kernels {
    const char *name;             /* the gemm family it goes with */
    /* s[rows, 32] = exp(s - max[j]) (max: the column maxima, from the tiles' colmax),
     * sum[32] = the column sums. */
    void (*exp_cols)(float *s, int rows, const float *max, float *sum);
} attn_attention_kernels;

const attn_attention_kernels *attn_attention_avx2_table(void);
const attn_attention_kernels *attn_attention_avx512_table(void);

/* ---- qgemm (qgemm.h) ---------------------------------------------------------------------- */

const attn_q8_kernels *attn_qgemm_scalar_table(void);
const attn_q8_kernels *attn_qgemm_avx2_table(void);
const attn_q8_kernels *attn_qgemm_avx512vnni_table(void);
const attn_q8_kernels *attn_qgemm_amx_table(void);

/* Index in m->q of W[o][k] (see the layout in qgemm.h). */
static inline size_t attn_q8_packed_index(const attn_q8_matrix *m, int o, int k) {
    const size_t blk = (size_t)(o / ATTN_Q8_BLOCK_OC), g = (size_t)(k / ATTN_Q8_GROUP_K);
    const size_t groups = (size_t)(m->CP / ATTN_Q8_GROUP_K);
    return ((blk * groups + g) * ATTN_Q8_BLOCK_OC + (size_t)(o % ATTN_Q8_BLOCK_OC)) *
           ATTN_Q8_GROUP_K + (size_t)(k % ATTN_Q8_GROUP_K);
}

#endif
