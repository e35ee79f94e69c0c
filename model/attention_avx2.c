/* attention_avx2.c: the attention's column exp in AVX2 + FMA (see attention.h, and the method
 * at ATTN_EXP_SHIFTER in model/isa.h). Compiled with the avx2 flags (model/isa.h);
 * attention.c uses it only with the avx2 gemm family, after kernels.c's AVX2 CPU/OS check.
 * Plain C twin: the kernel table's softmax, column by column (attention.c). */
#include "isa.h"

#include <immintrin.h>

/* attention_avx512.c's exp_nonpos16 in 8 lanes, with 2^n built in the exponent field: n sits
 * in the low mantissa bits of shifted, a shift by 23 moves it into the exponent (the
 * shifter's own bits, 0x4B400000, shift out), plus the bias 127. Hence the clamp to ATTN_EXP_LO (n >= -126, a
 * normal number; exp = FLT_MIN, ~1e-38, instead of 0 below it: nothing beside the column
 * maximum's exp(0) = 1). NaN stays NaN (max keeps its second operand when one is NaN). */
static inline __attribute__((always_inline)) __m256 exp_nonpos8(__m256 x) {
    x = _mm256_max_ps(_mm256_set1_ps(ATTN_EXP_LO), x);
    const __m256 shifted = _mm256_fmadd_ps(x, _mm256_set1_ps(ATTN_LOG2E),
                                           _mm256_set1_ps(ATTN_EXP_SHIFTER));
    const __m256 n = _mm256_sub_ps(shifted, _mm256_set1_ps(ATTN_EXP_SHIFTER));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(ATTN_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(ATTN_LN2_LO), r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(ATTN_EXP_C6), r, _mm256_set1_ps(ATTN_EXP_C5));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(ATTN_EXP_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(ATTN_EXP_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(ATTN_EXP_C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i pow2n = _mm256_add_epi32(_mm256_slli_epi32(_mm256_castps_si256(shifted), 23),
                                           _mm256_set1_epi32(127 << 23));
    return _mm256_mul_ps(p, _mm256_castsi256_ps(pow2n));
}

/* attention_avx512.c's exp_cols in four 8-lane quarters of the 32 columns. */
static void exp_cols_avx2(float *s, int rows, const float *max, float *sum) {
    __m256 acc[4];
    for (int q = 0; q < 4; q++) acc[q] = _mm256_setzero_ps();
    for (int i = 0; i < rows; i++)
        for (int q = 0; q < 4; q++) {
            float *x = s + (size_t)i * ATTN_GEMM_NR + 8 * q;
            const __m256 e = exp_nonpos8(_mm256_sub_ps(_mm256_loadu_ps(x),
                                                       _mm256_loadu_ps(max + 8 * q)));
            _mm256_storeu_ps(x, e);
            acc[q] = _mm256_add_ps(acc[q], e);
        }
    for (int q = 0; q < 4; q++) _mm256_storeu_ps(sum + 8 * q, acc[q]);
}

static const attn_attention_kernels table = { "avx2", exp_cols_avx2 };

const attn_attention_kernels *attn_attention_avx2_table(void) { return &table; }
