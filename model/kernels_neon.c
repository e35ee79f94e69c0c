/* kernels_neon.c: the AArch64 Advanced SIMD (NEON) table, 4 floats per vector.
 *
 * NEON, FMA (vfmaq) and the f16 conversion (vcvt_f32_f16) are all part of base AArch64, so
 * this file needs no extra flags and kernels.c hands it out on every aarch64 CPU. NEON has no
 * masked loads: tails go through a 4-float stack buffer (vector math) or a scalar loop
 * (plain arithmetic). The scalar twin is kernels_scalar.c. */
#include "isa.h"

#include <arm_neon.h>
#include <math.h>
#include <string.h>

#define W 4   /* floats per float32x4_t */

static float32x4_t load_tail(const float *p, size_t rem, float fill) {   /* rem in 1..3 */
    float buf[W] = {fill, fill, fill, fill};
    memcpy(buf, p, rem * sizeof *p);
    return vld1q_f32(buf);
}

static void store_tail(float *p, float32x4_t v, size_t rem) {
    float buf[W];
    vst1q_f32(buf, v);
    memcpy(p, buf, rem * sizeof *p);
}

/* See isa.h for the method; lanes below ATTN_EXP_LO (and -inf) give 0. */
static float32x4_t exp4(float32x4_t x) {
    uint32x4_t below = vcltq_f32(x, vdupq_n_f32(ATTN_EXP_LO));
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(ATTN_EXP_LO)), vdupq_n_f32(ATTN_EXP_HI));
    float32x4_t n = vrndmq_f32(vfmaq_f32(vdupq_n_f32(0.5f), x, vdupq_n_f32(ATTN_LOG2E)));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(ATTN_LN2_HI));
    r = vfmsq_f32(r, n, vdupq_n_f32(ATTN_LN2_LO));
    float32x4_t p = vdupq_n_f32(ATTN_EXP_P0);
    p = vfmaq_f32(vdupq_n_f32(ATTN_EXP_P1), p, r);
    p = vfmaq_f32(vdupq_n_f32(ATTN_EXP_P2), p, r);
    p = vfmaq_f32(vdupq_n_f32(ATTN_EXP_P3), p, r);
    p = vfmaq_f32(vdupq_n_f32(ATTN_EXP_P4), p, r);
    p = vfmaq_f32(vdupq_n_f32(ATTN_EXP_P5), p, r);
    p = vfmaq_f32(r, p, vmulq_f32(r, r));
    p = vaddq_f32(p, vdupq_n_f32(1.0f));
    int32x4_t pow2n = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    float32x4_t y = vmulq_f32(p, vreinterpretq_f32_s32(pow2n));
    return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(y), below));
}

/* x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3); 0 below ATTN_GELU_NEG_CUTOFF. */
static float32x4_t gelu4(float32x4_t x) {
    float32x4_t x2 = vmulq_f32(x, x);
    float32x4_t k = vfmaq_f32(vdupq_n_f32(ATTN_GELU_K0), x2, vdupq_n_f32(ATTN_GELU_K0 * ATTN_GELU_K1));
    float32x4_t minus_2u = vmulq_f32(vmulq_f32(x, k), vdupq_n_f32(-2.0f));
    float32x4_t y = vdivq_f32(x, vaddq_f32(vdupq_n_f32(1.0f), exp4(minus_2u)));
    uint32x4_t cut = vcltq_f32(x, vdupq_n_f32(ATTN_GELU_NEG_CUTOFF));
    return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(y), cut));
}

static float dot_neon(const float *a, const float *b, size_t n) {
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0), s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
    size_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + W), vld1q_f32(b + i + W));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 2 * W), vld1q_f32(b + i + 2 * W));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 3 * W), vld1q_f32(b + i + 3 * W));
    }
    for (; i + W <= n; i += W) s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

static void axpy_neon(float *y, float a, const float *x, size_t n) {
    size_t i = 0;
    for (; i + W <= n; i += W) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; i++) y[i] += a * x[i];
}

static void add_neon(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + W <= n; i += W) vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vld1q_f32(x + i)));
    for (; i < n; i++) y[i] += x[i];
}

/* x > y ? x : y, so y is kept when either is NaN (vmaxq_f32 would return NaN instead). */
static void vmax_neon(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + W <= n; i += W) {
        float32x4_t xv = vld1q_f32(x + i), yv = vld1q_f32(y + i);
        vst1q_f32(y + i, vbslq_f32(vcgtq_f32(xv, yv), xv, yv));
    }
    for (; i < n; i++) y[i] = x[i] > y[i] ? x[i] : y[i];
}

static void scale_neon(float *y, float a, size_t n) {
    size_t i = 0;
    for (; i + W <= n; i += W) vst1q_f32(y + i, vmulq_n_f32(vld1q_f32(y + i), a));
    for (; i < n; i++) y[i] *= a;
}

static float row_max(const float *x, size_t n) {
    float32x4_t mx = vdupq_n_f32(-INFINITY);
    size_t i = 0;
    for (; i + W <= n; i += W) mx = vmaxq_f32(mx, vld1q_f32(x + i));
    float max = vmaxvq_f32(mx);
    for (; i < n; i++) max = x[i] > max ? x[i] : max;
    return max;
}

/* Same conventions as softmax_scalar: -inf entries become 0; a row without a finite entry
 * becomes uniform and returns -INFINITY. */
static float softmax_neon(float *x, size_t n) {
    float max = row_max(x, n);
    if (max == -INFINITY) {
        for (size_t i = 0; i < n; i++) x[i] = 1.0f / (float)n;
        return -INFINITY;
    }
    float32x4_t vmax = vdupq_n_f32(max), sum = vdupq_n_f32(0);
    size_t i = 0;
    for (; i + W <= n; i += W) {
        float32x4_t e = exp4(vsubq_f32(vld1q_f32(x + i), vmax));
        vst1q_f32(x + i, e);
        sum = vaddq_f32(sum, e);
    }
    if (i < n) {   /* the fill -inf gives exp = 0 in the unused lanes */
        float32x4_t e = exp4(vsubq_f32(load_tail(x + i, n - i, -INFINITY), vmax));
        store_tail(x + i, e, n - i);
        sum = vaddq_f32(sum, e);
    }
    float total = vaddvq_f32(sum);
    scale_neon(x, 1.0f / total, n);
    return max + logf(total);
}

static void layernorm_neon(float *out, const float *x, const float *g, const float *b,
                           size_t n, float eps) {
    if (n == 0) return;
    float32x4_t acc = vdupq_n_f32(0);
    size_t i = 0;
    for (; i + W <= n; i += W) acc = vaddq_f32(acc, vld1q_f32(x + i));
    float sum = vaddvq_f32(acc);
    for (; i < n; i++) sum += x[i];
    float mean = sum / (float)n;
    float32x4_t vmean = vdupq_n_f32(mean);

    acc = vdupq_n_f32(0);
    for (i = 0; i + W <= n; i += W) {
        float32x4_t d = vsubq_f32(vld1q_f32(x + i), vmean);
        acc = vfmaq_f32(acc, d, d);
    }
    float sq = vaddvq_f32(acc);
    for (; i < n; i++) sq += (x[i] - mean) * (x[i] - mean);
    float inv_std = 1.0f / sqrtf(sq / (float)n + eps);

    for (i = 0; i + W <= n; i += W) {
        float32x4_t z = vmulq_n_f32(vsubq_f32(vld1q_f32(x + i), vmean), inv_std);
        vst1q_f32(out + i, vfmaq_f32(vld1q_f32(b + i), z, vld1q_f32(g + i)));
    }
    for (; i < n; i++) out[i] = (x[i] - mean) * inv_std * g[i] + b[i];
}

static void gelu_neon(float *x, size_t n) {
    size_t i = 0;
    for (; i + W <= n; i += W) vst1q_f32(x + i, gelu4(vld1q_f32(x + i)));
    if (i < n) store_tail(x + i, gelu4(load_tail(x + i, n - i, 0.0f)), n - i);
}

/* Four rows at a time share each load of x. y [rows] = W [rows, cols] x [cols] + b. */
static void matvec_neon(float *y, const float *Wm, const float *x, const float *b,
                        size_t rows, size_t cols) {
    size_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        const float *w[4] = {Wm + r * cols, Wm + (r + 1) * cols, Wm + (r + 2) * cols, Wm + (r + 3) * cols};
        float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0), s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
        size_t c = 0;
        for (; c + W <= cols; c += W) {
            float32x4_t xv = vld1q_f32(x + c);
            s0 = vfmaq_f32(s0, vld1q_f32(w[0] + c), xv);
            s1 = vfmaq_f32(s1, vld1q_f32(w[1] + c), xv);
            s2 = vfmaq_f32(s2, vld1q_f32(w[2] + c), xv);
            s3 = vfmaq_f32(s3, vld1q_f32(w[3] + c), xv);
        }
        float sums[4] = {vaddvq_f32(s0), vaddvq_f32(s1), vaddvq_f32(s2), vaddvq_f32(s3)};
        for (int k = 0; k < 4; k++) {
            for (size_t t = c; t < cols; t++) sums[k] += w[k][t] * x[t];
            y[r + k] = sums[k] + (b ? b[r + k] : 0.0f);
        }
    }
    for (; r < rows; r++) y[r] = dot_neon(Wm + r * cols, x, cols) + (b ? b[r] : 0.0f);
}

static void f16_to_f32_neon(float *out, const uint16_t *in, size_t n) {
    size_t i = 0;
    for (; i + W <= n; i += W) vst1q_f32(out + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(in + i))));
    if (i < n) {
        uint16_t tail[W] = {0, 0, 0, 0};
        memcpy(tail, in + i, (n - i) * sizeof *in);
        store_tail(out + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(tail))), n - i);
    }
}

/* 8 signed bytes -> two float vectors times scale. */
static void q4_eight(float *out, int8x8_t v, float scale) {
    const int16x8_t w = vmovl_s8(v);
    vst1q_f32(out, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(w))), scale));
    vst1q_f32(out + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(w))), scale));
}

static void q4_to_f32_neon(float *out, const uint8_t *q, const float *scales, size_t groups) {
    const int8x16_t eight = vdupq_n_s8(8);
    for (size_t g = 0; g < groups; g++, q += 16, out += 32) {
        const uint8x16_t x = vld1q_u8(q);
        const uint8x16x2_t pairs = vzipq_u8(vandq_u8(x, vdupq_n_u8(0x0f)), vshrq_n_u8(x, 4));
        const int8x16_t lo = vsubq_s8(veorq_s8(vreinterpretq_s8_u8(pairs.val[0]), eight), eight);
        const int8x16_t hi = vsubq_s8(veorq_s8(vreinterpretq_s8_u8(pairs.val[1]), eight), eight);
        q4_eight(out, vget_low_s8(lo), scales[g]);
        q4_eight(out + 8, vget_high_s8(lo), scales[g]);
        q4_eight(out + 16, vget_low_s8(hi), scales[g]);
        q4_eight(out + 24, vget_high_s8(hi), scales[g]);
    }
}

static const attn_kernels neon_table = {
    .name = "neon",
    .dot = dot_neon,
    .axpy = axpy_neon,
    .add = add_neon,
    .vmax = vmax_neon,
    .scale = scale_neon,
    .softmax = softmax_neon,
    .layernorm = layernorm_neon,
    .gelu = gelu_neon,
    .matvec = matvec_neon,
    .f16_to_f32 = f16_to_f32_neon,
    .q4_to_f32 = q4_to_f32_neon,
};

const attn_kernels *attn_kernels_neon_table(void) {
    return &neon_table;
}
