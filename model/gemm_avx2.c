/* gemm_avx2.c: the AVX2 + FMA microkernel, 6 rows x 16 columns in 12 ymm accumulators, twice
 * per 32-column panel (see gemm.h). Compiled with the avx2 flags (model/isa.h); gemm.c hands
 * this family out only after kernels.c's AVX2 CPU/OS check. Plain C twin: gemm_scalar.c. */
#include "isa.h"

#include <immintrin.h>
#include <math.h>

#define AVX2_MR 6

static inline __attribute__((always_inline))
void tile256_rows(const attn_tile_args *t, const int M, const int half) {
    __m256 c0[AVX2_MR], c1[AVX2_MR];
    _Pragma("GCC unroll 12")
    for (int r = 0; r < M; r++) c0[r] = c1[r] = _mm256_setzero_ps();
    const float *a = t->a, *b = t->b + half;
    const size_t ar = t->ar;
    for (int i = 0; i < t->k; i++, a += t->ak, b += ATTN_GEMM_NR) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        _Pragma("GCC unroll 12")
        for (int r = 0; r < M; r++) {
            const __m256 av = _mm256_broadcast_ss(&a[(size_t)r * ar]);
            c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);
            c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);
        }
    }
    const __m256 alpha = _mm256_set1_ps(t->alpha);
    const __m256 bias0 = t->bias ? _mm256_loadu_ps(t->bias + half) : _mm256_setzero_ps();
    const __m256 bias1 = t->bias ? _mm256_loadu_ps(t->bias + half + 8) : _mm256_setzero_ps();
    __m256 max0 = _mm256_set1_ps(-INFINITY), max1 = max0;
    _Pragma("GCC unroll 12")
    for (int r = 0; r < M; r++) {
        __m256 v0 = _mm256_fmadd_ps(alpha, c0[r], bias0);
        __m256 v1 = _mm256_fmadd_ps(alpha, c1[r], bias1);
        if (t->init) {
            const float *in = t->init + (size_t)r * t->ldi + half;
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(in));
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(in + 8));
        }
        float *c = t->c + (size_t)r * t->ldc + half;
        _mm256_storeu_ps(c, v0);
        _mm256_storeu_ps(c + 8, v1);
        max0 = _mm256_max_ps(max0, v0);
        max1 = _mm256_max_ps(max1, v1);
    }
    if (t->colmax) {
        float *cm = t->colmax + half;
        _mm256_storeu_ps(cm, _mm256_max_ps(_mm256_loadu_ps(cm), max0));
        _mm256_storeu_ps(cm + 8, _mm256_max_ps(_mm256_loadu_ps(cm + 8), max1));
    }
}

static void tile256_half(const attn_tile_args *t, int half) {
    switch (t->m) {
    case 1: tile256_rows(t, 1, half); break;
    case 2: tile256_rows(t, 2, half); break;
    case 3: tile256_rows(t, 3, half); break;
    case 4: tile256_rows(t, 4, half); break;
    case 5: tile256_rows(t, 5, half); break;
    default: tile256_rows(t, 6, half); break;
    }
}

static void tile_avx2(const attn_tile_args *t) {
    tile256_half(t, 0);
    tile256_half(t, 16);
}

static const attn_gemm_impl table = { "avx2", AVX2_MR, tile_avx2, 1 };

const attn_gemm_impl *attn_gemm_avx2_table(void) { return &table; }
