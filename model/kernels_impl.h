/* kernels_impl.h: private to the kernels_*.c files (and gemm.c, whose fused attention uses
 * the exp constants). The getter of each SIMD table and the
 * constants shared by every vectorised exp, so all tables use the same approximation (the GELU
 * constants are in kernels.h: the trainer's backward pass uses them too).
 *
 * Each getter only returns the address of a static const table (no code of the ISA runs);
 * kernels.c calls it only after checking that this CPU and OS support that ISA. */
#ifndef ATTN_KERNELS_IMPL_H
#define ATTN_KERNELS_IMPL_H

#include "kernels.h"

const attn_kernels *attn_kernels_avx2_table(void);    /* kernels_avx2.c   (x86_64 only) */
const attn_kernels *attn_kernels_avx512_table(void);  /* kernels_avx512.c (x86_64 only) */
const attn_kernels *attn_kernels_neon_table(void);    /* kernels_neon.c   (aarch64 only) */

/* exp(x) by Cephes-style range reduction: x = n ln2 + r, |r| <= ln2/2, with ln2 split in two
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

#endif
