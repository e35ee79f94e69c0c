/* attention_avx512.c: the attention's column exp in AVX-512 (see attention.h, and the method
 * at ATTN_EXP_SHIFTER in model/isa.h). Compiled with the avx512 flags (model/isa.h);
 * attention.c uses it only with the avx512 gemm family, after kernels.c's AVX-512 CPU/OS
 * check. Plain C twin: the kernel table's softmax, column by column (attention.c). */
#include "isa.h"

#include <immintrin.h>

/* exp(x) for finite x <= 0 (a score minus its column's maximum), see ATTN_EXP_SHIFTER. No
 * clamp: scalef takes any n, so x far below -87 gives 0 (or a subnormal) like expf. NaN (and
 * -inf) give NaN. */
static inline __attribute__((always_inline)) __m512 exp_nonpos16(__m512 x) {
    const __m512 shifted = _mm512_fmadd_ps(x, _mm512_set1_ps(ATTN_LOG2E),
                                           _mm512_set1_ps(ATTN_EXP_SHIFTER));
    const __m512 n = _mm512_sub_ps(shifted, _mm512_set1_ps(ATTN_EXP_SHIFTER));
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(ATTN_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(ATTN_LN2_LO), r);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(ATTN_EXP_C6), r, _mm512_set1_ps(ATTN_EXP_C5));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(ATTN_EXP_C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(ATTN_EXP_C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(ATTN_EXP_C2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);   /* p 2^n */
}

/* s[rows, 32] = exp(s - max), sum[32] = the column sums (attn_attention_kernels.exp_cols). */
static void exp_cols_avx512(float *s, int rows, const float *max, float *sum) {
    const __m512 max0 = _mm512_loadu_ps(max), max1 = _mm512_loadu_ps(max + 16);
    __m512 sum0 = _mm512_setzero_ps(), sum1 = sum0;
    for (int i = 0; i < rows; i++) {
        float *x = s + (size_t)i * ATTN_GEMM_NR;
        const __m512 e0 = exp_nonpos16(_mm512_sub_ps(_mm512_loadu_ps(x), max0));
        const __m512 e1 = exp_nonpos16(_mm512_sub_ps(_mm512_loadu_ps(x + 16), max1));
        _mm512_storeu_ps(x, e0);
        _mm512_storeu_ps(x + 16, e1);
        sum0 = _mm512_add_ps(sum0, e0);
        sum1 = _mm512_add_ps(sum1, e1);
    }
    _mm512_storeu_ps(sum, sum0);
    _mm512_storeu_ps(sum + 16, sum1);
}

static const attn_attention_kernels table = { "avx512", exp_cols_avx512 };

const attn_attention_kernels *attn_attention_avx512_table(void) { return &table; }
