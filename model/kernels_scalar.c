/* kernels_scalar.c: the plain C table. The reference twin of every SIMD table, and the table
 * used when the CPU has no supported SIMD level (or ATTN_SIMD=scalar). Sums are accumulated
 * in double and exp/tanh come from libm, so this table is also the accurate one. */
#include "isa.h"

#include <math.h>
#include <string.h>

static float dot_scalar(const float *a, const float *b, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += (double)a[i] * b[i];
    return (float)sum;
}

static void axpy_scalar(float *y, float a, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void add_scalar(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

/* max(y, x) keeps y when either is NaN: the same rule as the x86 max instructions. */
static void vmax_scalar(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] > y[i] ? x[i] : y[i];
}

static void scale_scalar(float *y, float a, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] *= a;
}

/* Masked entries are -INFINITY and become 0. A row with no finite entry (all -inf, or n = 0)
 * has no distribution: it becomes uniform 1/n and the log-partition returned is -INFINITY. */
static float softmax_scalar(float *x, size_t n) {
    float max = -INFINITY;
    for (size_t i = 0; i < n; i++) max = x[i] > max ? x[i] : max;
    if (max == -INFINITY) {
        for (size_t i = 0; i < n; i++) x[i] = 1.0f / (float)n;
        return -INFINITY;
    }
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (size_t i = 0; i < n; i++) x[i] *= inv;
    return max + (float)log(sum);
}

/* Two passes (mean, then variance of x - mean): no cancellation for large means. */
static void layernorm_scalar(float *out, const float *x, const float *g, const float *b,
                             size_t n, float eps) {
    if (n == 0) return;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += x[i];
    double mean = sum / (double)n;
    double sq = 0.0;
    for (size_t i = 0; i < n; i++) sq += (x[i] - mean) * (x[i] - mean);
    double inv_std = 1.0 / sqrt(sq / (double)n + eps);
    for (size_t i = 0; i < n; i++)
        out[i] = (float)((x[i] - mean) * inv_std) * g[i] + b[i];
}

/* x sigmoid(2u), the tanh form of GELU without its cancellation (see kernels.h). */
static float gelu_one(float x) {
    if (x < ATTN_GELU_NEG_CUTOFF) return 0.0f;   /* also -inf, which would give NaN */
    double v = x;
    double u = (double)ATTN_GELU_K0 * (v + (double)ATTN_GELU_K1 * v * v * v);
    return (float)(v / (1.0 + exp(-2.0 * u)));
}

static void gelu_scalar(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = gelu_one(x[i]);
}

/* y [rows] = W [rows, cols] x [cols] + b [rows] */
static void matvec_scalar(float *y, const float *W, const float *x, const float *b,
                          size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++) {
        float v = dot_scalar(W + r * cols, x, cols);
        y[r] = b ? v + b[r] : v;
    }
}

/* Exact for every pattern. A NaN keeps its sign and payload and gets the quiet bit, as the
 * F16C and NEON conversions do. */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    uint32_t bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13) | (mantissa ? 0x00400000u : 0);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {
        /* subnormal half: mantissa * 2^-24, normal as a float */
        int shift = 0;
        while (!(mantissa & 0x400u)) { mantissa <<= 1; shift++; }
        bits = sign | ((uint32_t)(113 - shift) << 23) | ((mantissa & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void f16_to_f32_scalar(float *out, const uint16_t *in, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = half_to_float(in[i]);
}

static void q4_to_f32_scalar(float *out, const uint8_t *q, const float *scales, size_t groups) {
    for (size_t g = 0; g < groups; g++, q += ATTN_KERNELS_Q4_GROUP / 2)
        for (int j = 0; j < ATTN_KERNELS_Q4_GROUP / 2; j++) {
            *out++ = (float)(((q[j] & 0x0f) ^ 8) - 8) * scales[g];
            *out++ = (float)(((q[j] >> 4) ^ 8) - 8) * scales[g];
        }
}

static const attn_kernels scalar_table = {
    .name = "scalar",
    .dot = dot_scalar,
    .axpy = axpy_scalar,
    .add = add_scalar,
    .vmax = vmax_scalar,
    .scale = scale_scalar,
    .softmax = softmax_scalar,
    .layernorm = layernorm_scalar,
    .gelu = gelu_scalar,
    .matvec = matvec_scalar,
    .f16_to_f32 = f16_to_f32_scalar,
    .q4_to_f32 = q4_to_f32_scalar,
};

const attn_kernels *attn_kernels_scalar(void) {
    return &scalar_table;
}
