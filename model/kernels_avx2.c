/* kernels_avx2.c: the AVX2 + FMA + F16C table, 8 floats per vector.
 *
 * Compiled with the avx2 flags (model/isa.h: -mavx2 -mfma -mf16c); kernels.c hands this table
 * out only after checking the CPU and OS (cpuid + XCR0). Nothing here runs before that: no
 * constructors, and the table is plain data. Tails (n not a multiple of 8) use masked loads/stores, which never touch the
 * memory of masked-off lanes. The scalar twin is kernels_scalar.c. */
#include "isa.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define W 8   /* floats per __m256 */

/* 8 "on" lanes then 8 "off": a window of 8 starting at (8 - rem) has the first rem lanes on. */
static const int32_t tail_mask_window[2 * W] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                0, 0, 0, 0, 0, 0, 0, 0};

static __m256i tail_mask(size_t rem) {   /* rem in 0..7 */
    return _mm256_loadu_si256((const __m256i *)(tail_mask_window + W - rem));
}

static float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static float hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* See isa.h for the method; lanes below ATTN_EXP_LO (and -inf) give 0. */
static __m256 exp8(__m256 x) {
    __m256 below = _mm256_cmp_ps(x, _mm256_set1_ps(ATTN_EXP_LO), _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(ATTN_EXP_LO)), _mm256_set1_ps(ATTN_EXP_HI));
    __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(ATTN_LOG2E), _mm256_set1_ps(0.5f)));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(ATTN_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(ATTN_LN2_LO), r);
    __m256 p = _mm256_set1_ps(ATTN_EXP_P0);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(ATTN_EXP_P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(ATTN_EXP_P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(ATTN_EXP_P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(ATTN_EXP_P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(ATTN_EXP_P5));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    __m256i pow2n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(below, _mm256_mul_ps(p, _mm256_castsi256_ps(pow2n)));
}

/* x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3); 0 below ATTN_GELU_NEG_CUTOFF. */
static __m256 gelu8(__m256 x) {
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 k = _mm256_fmadd_ps(x2, _mm256_set1_ps(ATTN_GELU_K0 * ATTN_GELU_K1), _mm256_set1_ps(ATTN_GELU_K0));
    __m256 minus_2u = _mm256_mul_ps(_mm256_mul_ps(x, k), _mm256_set1_ps(-2.0f));
    __m256 y = _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(minus_2u)));
    __m256 cut = _mm256_cmp_ps(x, _mm256_set1_ps(ATTN_GELU_NEG_CUTOFF), _CMP_LT_OQ);
    return _mm256_andnot_ps(cut, y);
}

static float dot_avx2(const float *a, const float *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + W), _mm256_loadu_ps(b + i + W), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 2 * W), _mm256_loadu_ps(b + i + 2 * W), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 3 * W), _mm256_loadu_ps(b + i + 3 * W), s3);
    }
    for (; i + W <= n; i += W)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    if (i < n) {
        __m256i m = tail_mask(n - i);
        s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), s1);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

static void axpy_avx2(float *y, float a, const float *x, size_t n) {
    __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + W <= n; i += W)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    if (i < n) {
        __m256i m = tail_mask(n - i);
        __m256 v = _mm256_fmadd_ps(va, _mm256_maskload_ps(x + i, m), _mm256_maskload_ps(y + i, m));
        _mm256_maskstore_ps(y + i, m, v);
    }
}

static void add_avx2(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + W <= n; i += W)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    if (i < n) {
        __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(y + i, m, _mm256_add_ps(_mm256_maskload_ps(y + i, m), _mm256_maskload_ps(x + i, m)));
    }
}

/* max(x, y) returns y when either is NaN, as vmax_scalar does. */
static void vmax_avx2(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + W <= n; i += W)
        _mm256_storeu_ps(y + i, _mm256_max_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    if (i < n) {
        __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(y + i, m, _mm256_max_ps(_mm256_maskload_ps(x + i, m), _mm256_maskload_ps(y + i, m)));
    }
}

static void scale_avx2(float *y, float a, size_t n) {
    __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + W <= n; i += W)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(va, _mm256_loadu_ps(y + i)));
    if (i < n) {
        __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(y + i, m, _mm256_mul_ps(va, _mm256_maskload_ps(y + i, m)));
    }
}

static float row_max(const float *x, size_t n) {
    __m256 neg_inf = _mm256_set1_ps(-INFINITY), mx = neg_inf;
    size_t i = 0;
    for (; i + W <= n; i += W) mx = _mm256_max_ps(_mm256_loadu_ps(x + i), mx);
    if (i < n) {
        __m256i m = tail_mask(n - i);
        __m256 v = _mm256_blendv_ps(neg_inf, _mm256_maskload_ps(x + i, m), _mm256_castsi256_ps(m));
        mx = _mm256_max_ps(v, mx);
    }
    return hmax(mx);
}

/* Same conventions as softmax_scalar: -inf entries become 0; a row without a finite entry
 * becomes uniform and returns -INFINITY. */
static float softmax_avx2(float *x, size_t n) {
    float max = row_max(x, n);
    if (max == -INFINITY) {
        for (size_t i = 0; i < n; i++) x[i] = 1.0f / (float)n;
        return -INFINITY;
    }
    __m256 vmax = _mm256_set1_ps(max), sum = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + W <= n; i += W) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
        _mm256_storeu_ps(x + i, e);
        sum = _mm256_add_ps(sum, e);
    }
    if (i < n) {
        __m256i m = tail_mask(n - i);
        __m256 e = exp8(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), vmax));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
        _mm256_maskstore_ps(x + i, m, e);
        sum = _mm256_add_ps(sum, e);
    }
    float total = hsum(sum);
    scale_avx2(x, 1.0f / total, n);
    return max + logf(total);
}

static void layernorm_avx2(float *out, const float *x, const float *g, const float *b,
                           size_t n, float eps) {
    if (n == 0) return;
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + W <= n; i += W) acc = _mm256_add_ps(acc, _mm256_loadu_ps(x + i));
    if (i < n) acc = _mm256_add_ps(acc, _mm256_maskload_ps(x + i, tail_mask(n - i)));
    __m256 mean = _mm256_set1_ps(hsum(acc) / (float)n);

    acc = _mm256_setzero_ps();
    for (i = 0; i + W <= n; i += W) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), mean);
        acc = _mm256_fmadd_ps(d, d, acc);
    }
    if (i < n) {
        __m256i m = tail_mask(n - i);
        __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), mean), _mm256_castsi256_ps(m));
        acc = _mm256_fmadd_ps(d, d, acc);
    }
    __m256 inv_std = _mm256_set1_ps(1.0f / sqrtf(hsum(acc) / (float)n + eps));

    for (i = 0; i + W <= n; i += W) {
        __m256 z = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mean), inv_std);
        _mm256_storeu_ps(out + i, _mm256_fmadd_ps(z, _mm256_loadu_ps(g + i), _mm256_loadu_ps(b + i)));
    }
    if (i < n) {
        __m256i m = tail_mask(n - i);
        __m256 z = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), mean), inv_std);
        _mm256_maskstore_ps(out + i, m, _mm256_fmadd_ps(z, _mm256_maskload_ps(g + i, m), _mm256_maskload_ps(b + i, m)));
    }
}

static void gelu_avx2(float *x, size_t n) {
    size_t i = 0;
    for (; i + W <= n; i += W) _mm256_storeu_ps(x + i, gelu8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(x + i, m, gelu8(_mm256_maskload_ps(x + i, m)));
    }
}

/* Four rows at a time share each load of x. y [rows] = W [rows, cols] x [cols] + b. */
static void matvec_avx2(float *y, const float *Wm, const float *x, const float *b,
                        size_t rows, size_t cols) {
    size_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        const float *w0 = Wm + r * cols, *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
        __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
        size_t c = 0;
        for (; c + W <= cols; c += W) {
            __m256 xv = _mm256_loadu_ps(x + c);
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + c), xv, s0);
            s1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + c), xv, s1);
            s2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + c), xv, s2);
            s3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + c), xv, s3);
        }
        if (c < cols) {
            __m256i m = tail_mask(cols - c);
            __m256 xv = _mm256_maskload_ps(x + c, m);
            s0 = _mm256_fmadd_ps(_mm256_maskload_ps(w0 + c, m), xv, s0);
            s1 = _mm256_fmadd_ps(_mm256_maskload_ps(w1 + c, m), xv, s1);
            s2 = _mm256_fmadd_ps(_mm256_maskload_ps(w2 + c, m), xv, s2);
            s3 = _mm256_fmadd_ps(_mm256_maskload_ps(w3 + c, m), xv, s3);
        }
        y[r] = hsum(s0) + (b ? b[r] : 0.0f);
        y[r + 1] = hsum(s1) + (b ? b[r + 1] : 0.0f);
        y[r + 2] = hsum(s2) + (b ? b[r + 2] : 0.0f);
        y[r + 3] = hsum(s3) + (b ? b[r + 3] : 0.0f);
    }
    for (; r < rows; r++) y[r] = dot_avx2(Wm + r * cols, x, cols) + (b ? b[r] : 0.0f);
}

static void f16_to_f32_avx2(float *out, const uint16_t *in, size_t n) {
    size_t i = 0;
    for (; i + W <= n; i += W)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(in + i))));
    if (i < n) {
        uint16_t tail[W] = {0};
        memcpy(tail, in + i, (n - i) * sizeof *in);
        __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tail));
        _mm256_maskstore_ps(out + i, tail_mask(n - i), v);
    }
}

/* 8 signed bytes (the low half of v) -> floats times scale. */
static __m256 q4_eight(__m128i v, __m256 scale) {
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)), scale);
}

static void q4_to_f32_avx2(float *out, const uint8_t *q, const float *scales, size_t groups) {
    for (size_t g = 0; g < groups; g++, q += 16, out += 32) {
        __m128i lo, hi;
        attn_q4_group_bytes(q, &lo, &hi);
        const __m256 scale = _mm256_set1_ps(scales[g]);
        _mm256_storeu_ps(out, q4_eight(lo, scale));
        _mm256_storeu_ps(out + 8, q4_eight(_mm_srli_si128(lo, 8), scale));
        _mm256_storeu_ps(out + 16, q4_eight(hi, scale));
        _mm256_storeu_ps(out + 24, q4_eight(_mm_srli_si128(hi, 8), scale));
    }
}

static const attn_kernels avx2_table = {
    .name = "avx2",
    .dot = dot_avx2,
    .axpy = axpy_avx2,
    .add = add_avx2,
    .vmax = vmax_avx2,
    .scale = scale_avx2,
    .softmax = softmax_avx2,
    .layernorm = layernorm_avx2,
    .gelu = gelu_avx2,
    .matvec = matvec_avx2,
    .f16_to_f32 = f16_to_f32_avx2,
    .q4_to_f32 = q4_to_f32_avx2,
};

const attn_kernels *attn_kernels_avx2_table(void) {
    return &avx2_table;
}
