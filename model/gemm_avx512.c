/* gemm_avx512.c: the AVX-512 microkernel, 12 rows x 32 columns in 24 zmm accumulators (see
 * gemm.h). Compiled with the avx512 flags (model/isa.h); gemm.c hands this family out only
 * after kernels.c's AVX-512 CPU/OS check. Plain C twin: gemm_scalar.c. */
#include "isa.h"

#include <immintrin.h>
#include <math.h>

/* Weights are read this far ahead of use (16 k rows of a panel, 2 KiB): at few tokens the
 * product is bound by streaming the weights, and the prefetch covers the panel ends. */
#define GEMM_PREFETCH_FLOATS (16 * ATTN_GEMM_NR)
#define AVX512_MR 12      /* rows per call */

/* M is a constant at each call site (the switch below), so the accumulators live in zmm. */
static inline __attribute__((always_inline))
void tile512_rows(const attn_tile_args *t, const int M) {
    __m512 c0[AVX512_MR], c1[AVX512_MR];
    _Pragma("GCC unroll 12")
    for (int r = 0; r < M; r++) c0[r] = c1[r] = _mm512_setzero_ps();
    const float *a = t->a, *b = t->b;
    const size_t ar = t->ar;
    for (int i = 0; i < t->k; i++, a += t->ak, b += ATTN_GEMM_NR) {
        _mm_prefetch((const char *)(b + GEMM_PREFETCH_FLOATS), _MM_HINT_T0);
        _mm_prefetch((const char *)(b + GEMM_PREFETCH_FLOATS + 16), _MM_HINT_T0);
        const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        _Pragma("GCC unroll 12")
        for (int r = 0; r < M; r++) {
            const __m512 av = _mm512_set1_ps(a[(size_t)r * ar]);
            c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
        }
    }
    const __m512 alpha = _mm512_set1_ps(t->alpha);
    const __m512 bias0 = t->bias ? _mm512_loadu_ps(t->bias) : _mm512_setzero_ps();
    const __m512 bias1 = t->bias ? _mm512_loadu_ps(t->bias + 16) : _mm512_setzero_ps();
    __m512 max0 = _mm512_set1_ps(-INFINITY), max1 = max0;
    _Pragma("GCC unroll 12")
    for (int r = 0; r < M; r++) {
        __m512 v0 = _mm512_fmadd_ps(alpha, c0[r], bias0);
        __m512 v1 = _mm512_fmadd_ps(alpha, c1[r], bias1);
        if (t->init) {
            const float *in = t->init + (size_t)r * t->ldi;
            v0 = _mm512_add_ps(v0, _mm512_loadu_ps(in));
            v1 = _mm512_add_ps(v1, _mm512_loadu_ps(in + 16));
        }
        float *c = t->c + (size_t)r * t->ldc;
        _mm512_storeu_ps(c, v0);
        _mm512_storeu_ps(c + 16, v1);
        max0 = _mm512_max_ps(max0, v0);
        max1 = _mm512_max_ps(max1, v1);
    }
    if (t->colmax) {
        _mm512_storeu_ps(t->colmax, _mm512_max_ps(_mm512_loadu_ps(t->colmax), max0));
        _mm512_storeu_ps(t->colmax + 16, _mm512_max_ps(_mm512_loadu_ps(t->colmax + 16), max1));
    }
}

static void tile_avx512(const attn_tile_args *t) {
    switch (t->m) {
    case 1: tile512_rows(t, 1); break;
    case 2: tile512_rows(t, 2); break;
    case 3: tile512_rows(t, 3); break;
    case 4: tile512_rows(t, 4); break;
    case 5: tile512_rows(t, 5); break;
    case 6: tile512_rows(t, 6); break;
    case 7: tile512_rows(t, 7); break;
    case 8: tile512_rows(t, 8); break;
    case 9: tile512_rows(t, 9); break;
    case 10: tile512_rows(t, 10); break;
    case 11: tile512_rows(t, 11); break;
    default: tile512_rows(t, 12); break;
    }
}

static const attn_gemm_impl table = { "avx512", AVX512_MR, tile_avx512, 1 };

const attn_gemm_impl *attn_gemm_avx512_table(void) { return &table; }
