/* gemm_scalar.c: the plain C microkernel (4 x 32), the twin of every SIMD one (gemm_<isa>.c)
 * and the family of CPUs without AVX2 or NEON. See gemm.h. */
#include "isa.h"

#define SCALAR_MR 4

static void tile_scalar(const attn_tile_args *t) {
    float acc[SCALAR_MR][ATTN_GEMM_NR] = {{0}};
    for (int i = 0; i < t->k; i++) {
        const float *b = t->b + (size_t)i * ATTN_GEMM_NR;
        const float *a = t->a + (size_t)i * t->ak;
        for (int r = 0; r < t->m; r++)
            for (int j = 0; j < ATTN_GEMM_NR; j++) acc[r][j] += a[(size_t)r * t->ar] * b[j];
    }
    for (int r = 0; r < t->m; r++)
        for (int j = 0; j < ATTN_GEMM_NR; j++) {
            float v = t->alpha * acc[r][j] + (t->bias ? t->bias[j] : 0.0f);
            if (t->init) v += t->init[(size_t)r * t->ldi + j];
            t->c[(size_t)r * t->ldc + j] = v;
        }
}

static const attn_gemm_impl table = { "scalar", SCALAR_MR, tile_scalar, 1 };

const attn_gemm_impl *attn_gemm_scalar_table(void) { return &table; }
