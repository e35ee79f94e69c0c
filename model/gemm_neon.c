/* gemm_neon.c: the AArch64 NEON microkernel, 4 rows x 16 columns (16 q accumulators, A's rows
 * as the lanes of one vector), twice per 32-column panel (see gemm.h). NEON is base AArch64:
 * no flags, and kernels.c hands it out on every aarch64 CPU. A is packed ([k][4]: reads_rows
 * 0). Plain C twin: gemm_scalar.c. */
#include "isa.h"

#include <arm_neon.h>

#define NEON_MR 4

static void tile_neon_half(const attn_tile_args *t, int half) {
    float32x4_t acc[NEON_MR][4];
    for (int r = 0; r < NEON_MR; r++)
        for (int q = 0; q < 4; q++) acc[r][q] = vdupq_n_f32(0.0f);
    const float *a = t->a, *b = t->b + half;
    for (int i = 0; i < t->k; i++, a += t->ak, b += ATTN_GEMM_NR) {
        /* rows >= m hold stale values, never stored (ak >= 4, so the load stays in a's step) */
        const float32x4_t av = vld1q_f32(a);
        float32x4_t bv[4];
        for (int q = 0; q < 4; q++) bv[q] = vld1q_f32(b + 4 * q);
        for (int q = 0; q < 4; q++) {
            acc[0][q] = vfmaq_laneq_f32(acc[0][q], bv[q], av, 0);
            acc[1][q] = vfmaq_laneq_f32(acc[1][q], bv[q], av, 1);
            acc[2][q] = vfmaq_laneq_f32(acc[2][q], bv[q], av, 2);
            acc[3][q] = vfmaq_laneq_f32(acc[3][q], bv[q], av, 3);
        }
    }
    for (int r = 0; r < t->m; r++)
        for (int q = 0; q < 4; q++) {
            const int j = half + 4 * q;
            float32x4_t v = vmulq_n_f32(acc[r][q], t->alpha);
            if (t->bias) v = vaddq_f32(v, vld1q_f32(t->bias + j));
            if (t->init) v = vaddq_f32(v, vld1q_f32(t->init + (size_t)r * t->ldi + j));
            vst1q_f32(t->c + (size_t)r * t->ldc + j, v);
        }
}

static void tile_neon(const attn_tile_args *t) {
    tile_neon_half(t, 0);
    tile_neon_half(t, 16);
}

static const attn_gemm_impl table = { "neon", NEON_MR, tile_neon, 0 };

const attn_gemm_impl *attn_gemm_neon_table(void) { return &table; }
