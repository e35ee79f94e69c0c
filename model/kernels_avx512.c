/* kernels_avx512.c: the AVX-512 (F/BW/DQ/VL) table, 16 floats per vector.
 *
 * Compiled with the avx512 flags (model/isa.h: the avx2 ones plus -mavx512f -mavx512bw
 * -mavx512dq -mavx512vl); kernels.c hands this table out only after checking the CPU and
 * that the OS saves ZMM/opmask state (XCR0).
 * Nothing here runs before that: no constructors, and the table is plain data. Tails use
 * mask registers; masked-off lanes are never read or written. Scalar twin: kernels_scalar.c. */
#include "isa.h"

#include <immintrin.h>
#include <math.h>

#define W 16   /* floats per __m512 */

static __mmask16 tail_mask(size_t rem) {   /* rem in 0..15: the first rem lanes */
    return (__mmask16)((1u << rem) - 1u);
}

/* See isa.h for the method; lanes below ATTN_EXP_LO (and -inf) give 0. */
static __m512 exp16(__m512 x) {
    __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(ATTN_EXP_LO), _CMP_NLT_UQ);
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(ATTN_EXP_LO)), _mm512_set1_ps(ATTN_EXP_HI));
    __m512 n = _mm512_roundscale_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(ATTN_LOG2E), _mm512_set1_ps(0.5f)),
                                    _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(ATTN_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(ATTN_LN2_LO), r);
    __m512 p = _mm512_set1_ps(ATTN_EXP_P0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(ATTN_EXP_P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(ATTN_EXP_P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(ATTN_EXP_P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(ATTN_EXP_P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(ATTN_EXP_P5));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
    p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
    return _mm512_maskz_mov_ps(keep, _mm512_scalef_ps(p, n));   /* p * 2^n */
}

/* x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3); 0 below ATTN_GELU_NEG_CUTOFF. */
static __m512 gelu16(__m512 x) {
    __m512 x2 = _mm512_mul_ps(x, x);
    __m512 k = _mm512_fmadd_ps(x2, _mm512_set1_ps(ATTN_GELU_K0 * ATTN_GELU_K1), _mm512_set1_ps(ATTN_GELU_K0));
    __m512 minus_2u = _mm512_mul_ps(_mm512_mul_ps(x, k), _mm512_set1_ps(-2.0f));
    __m512 y = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), exp16(minus_2u)));
    __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(ATTN_GELU_NEG_CUTOFF), _CMP_NLT_UQ);
    return _mm512_maskz_mov_ps(keep, y);
}

static float dot_avx512(const float *a, const float *b, size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + W), _mm512_loadu_ps(b + i + W), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 2 * W), _mm512_loadu_ps(b + i + 2 * W), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 3 * W), _mm512_loadu_ps(b + i + 3 * W), s3);
    }
    for (; i + W <= n; i += W)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static void axpy_avx512(float *y, float a, const float *x, size_t n) {
    __m512 va = _mm512_set1_ps(a);
    size_t i = 0;
    for (; i + W <= n; i += W)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i));
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}

static void add_avx512(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + W <= n; i += W)
        _mm512_storeu_ps(y + i, _mm512_add_ps(_mm512_loadu_ps(y + i), _mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i), _mm512_maskz_loadu_ps(m, x + i)));
    }
}

/* max(x, y) returns y when either is NaN, as vmax_scalar does. */
static void vmax_avx512(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + W <= n; i += W)
        _mm512_storeu_ps(y + i, _mm512_max_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_max_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

static void scale_avx512(float *y, float a, size_t n) {
    __m512 va = _mm512_set1_ps(a);
    size_t i = 0;
    for (; i + W <= n; i += W)
        _mm512_storeu_ps(y + i, _mm512_mul_ps(va, _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(va, _mm512_maskz_loadu_ps(m, y + i)));
    }
}

static float row_max(const float *x, size_t n) {
    __m512 neg_inf = _mm512_set1_ps(-INFINITY), mx = neg_inf;
    size_t i = 0;
    for (; i + W <= n; i += W) mx = _mm512_max_ps(_mm512_loadu_ps(x + i), mx);
    if (i < n) mx = _mm512_max_ps(_mm512_mask_loadu_ps(neg_inf, tail_mask(n - i), x + i), mx);
    return _mm512_reduce_max_ps(mx);
}

/* Same conventions as softmax_scalar: -inf entries become 0; a row without a finite entry
 * becomes uniform and returns -INFINITY. */
static float softmax_avx512(float *x, size_t n) {
    float max = row_max(x, n);
    if (max == -INFINITY) {
        for (size_t i = 0; i < n; i++) x[i] = 1.0f / (float)n;
        return -INFINITY;
    }
    __m512 vmax = _mm512_set1_ps(max), sum = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + W <= n; i += W) {
        __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), vmax));
        _mm512_storeu_ps(x + i, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        __m512 e = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmax)));
        _mm512_mask_storeu_ps(x + i, m, e);
        sum = _mm512_add_ps(sum, e);
    }
    float total = _mm512_reduce_add_ps(sum);
    scale_avx512(x, 1.0f / total, n);
    return max + logf(total);
}

static void layernorm_avx512(float *out, const float *x, const float *g, const float *b,
                             size_t n, float eps) {
    if (n == 0) return;
    __m512 acc = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + W <= n; i += W) acc = _mm512_add_ps(acc, _mm512_loadu_ps(x + i));
    if (i < n) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(tail_mask(n - i), x + i));
    __m512 mean = _mm512_set1_ps(_mm512_reduce_add_ps(acc) / (float)n);

    acc = _mm512_setzero_ps();
    for (i = 0; i + W <= n; i += W) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + i), mean);
        acc = _mm512_fmadd_ps(d, d, acc);
    }
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + i), mean);
        acc = _mm512_fmadd_ps(d, d, acc);
    }
    __m512 inv_std = _mm512_set1_ps(1.0f / sqrtf(_mm512_reduce_add_ps(acc) / (float)n + eps));

    for (i = 0; i + W <= n; i += W) {
        __m512 z = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), mean), inv_std);
        _mm512_storeu_ps(out + i, _mm512_fmadd_ps(z, _mm512_loadu_ps(g + i), _mm512_loadu_ps(b + i)));
    }
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        __m512 z = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mean), inv_std);
        __m512 v = _mm512_fmadd_ps(z, _mm512_maskz_loadu_ps(m, g + i), _mm512_maskz_loadu_ps(m, b + i));
        _mm512_mask_storeu_ps(out + i, m, v);
    }
}

static void gelu_avx512(float *x, size_t n) {
    size_t i = 0;
    for (; i + W <= n; i += W) _mm512_storeu_ps(x + i, gelu16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, gelu16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

/* Four rows at a time share each load of x. y [rows] = W [rows, cols] x [cols] + b. */
static void matvec_avx512(float *y, const float *Wm, const float *x, const float *b,
                          size_t rows, size_t cols) {
    size_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        const float *w0 = Wm + r * cols, *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
        __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
        __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
        size_t c = 0;
        for (; c + W <= cols; c += W) {
            __m512 xv = _mm512_loadu_ps(x + c);
            s0 = _mm512_fmadd_ps(_mm512_loadu_ps(w0 + c), xv, s0);
            s1 = _mm512_fmadd_ps(_mm512_loadu_ps(w1 + c), xv, s1);
            s2 = _mm512_fmadd_ps(_mm512_loadu_ps(w2 + c), xv, s2);
            s3 = _mm512_fmadd_ps(_mm512_loadu_ps(w3 + c), xv, s3);
        }
        if (c < cols) {
            __mmask16 m = tail_mask(cols - c);
            __m512 xv = _mm512_maskz_loadu_ps(m, x + c);
            s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w0 + c), xv, s0);
            s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w1 + c), xv, s1);
            s2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w2 + c), xv, s2);
            s3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w3 + c), xv, s3);
        }
        y[r] = _mm512_reduce_add_ps(s0) + (b ? b[r] : 0.0f);
        y[r + 1] = _mm512_reduce_add_ps(s1) + (b ? b[r + 1] : 0.0f);
        y[r + 2] = _mm512_reduce_add_ps(s2) + (b ? b[r + 2] : 0.0f);
        y[r + 3] = _mm512_reduce_add_ps(s3) + (b ? b[r + 3] : 0.0f);
    }
    for (; r < rows; r++) y[r] = dot_avx512(Wm + r * cols, x, cols) + (b ? b[r] : 0.0f);
}

static void f16_to_f32_avx512(float *out, const uint16_t *in, size_t n) {
    size_t i = 0;
    for (; i + W <= n; i += W)
        _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(in + i))));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, in + i));
        _mm512_mask_storeu_ps(out + i, m, v);
    }
}

static void q4_to_f32_avx512(float *out, const uint8_t *q, const float *scales, size_t groups) {
    for (size_t g = 0; g < groups; g++, q += 16, out += 32) {
        __m128i lo, hi;
        attn_q4_group_bytes(q, &lo, &hi);
        const __m512 scale = _mm512_set1_ps(scales[g]);
        _mm512_storeu_ps(out, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo)), scale));
        _mm512_storeu_ps(out + 16,
                         _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi)), scale));
    }
}

static const attn_kernels avx512_table = {
    .name = "avx512",
    .dot = dot_avx512,
    .axpy = axpy_avx512,
    .add = add_avx512,
    .vmax = vmax_avx512,
    .scale = scale_avx512,
    .softmax = softmax_avx512,
    .layernorm = layernorm_avx512,
    .gelu = gelu_avx512,
    .matvec = matvec_avx512,
    .f16_to_f32 = f16_to_f32_avx512,
    .q4_to_f32 = q4_to_f32_avx512,
};

const attn_kernels *attn_kernels_avx512_table(void) {
    return &avx512_table;
}
