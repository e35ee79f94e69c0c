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

#endif
