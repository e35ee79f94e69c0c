/* qgemm_scalar.c: the plain C int8 table (see qgemm.h): the twin every SIMD table
 * (qgemm_<isa>.c) must match bit for bit, and the table of CPUs without AVX2. */
#include <math.h>

#include "isa.h"

/* ---- activations ------------------------------------------------------------------------ */

/* The element rule every table follows: u = clamp(rint(x * inv) + zero, 0, 255). */
static uint8_t quantize_one(float x, float inv, int32_t zero) {
    long v = lrintf(x * inv) + zero;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static void quantize_scalar(uint8_t *u, float *ascale, int32_t *zero, const float *x, int T,
                            int C, int CP) {
    for (int t = 0; t < T; t++) {
        const float *row = x + (size_t)t * C;
        uint8_t *dst = u + (size_t)t * CP;
        float lo = 0.0f, hi = 0.0f;
        for (int k = 0; k < C; k++) {
            lo = row[k] < lo ? row[k] : lo;
            hi = row[k] > hi ? row[k] : hi;
        }
        float inv;
        attn_q8_row_params(lo, hi, &ascale[t], &inv, &zero[t]);
        for (int k = 0; k < C; k++) dst[k] = quantize_one(row[k], inv, zero[t]);
        for (int k = C; k < CP; k++) dst[k] = 0;
    }
}

/* ---- the product ------------------------------------------------------------------------- */

static int32_t dot_u8_packed(const uint8_t *u, const attn_q8_matrix *W, int o) {
    int32_t acc = 0;
    for (int k = 0; k < W->C; k++) acc += (int32_t)u[k] * W->q[attn_q8_packed_index(W, o, k)];
    return acc;
}

static void gemm_scalar(float *out, const uint8_t *u, const float *ascale, const int32_t *zero,
                        const attn_q8_matrix *W, const float *b, const float *residual, int T) {
    for (int t = 0; t < T; t++) {
        const uint8_t *row = u + (size_t)t * W->CP;
        float *dst = out + (size_t)t * W->OC;
        const float *res = residual ? residual + (size_t)t * W->OC : NULL;
        for (int o = 0; o < W->OC; o++) {
            const int32_t acc = dot_u8_packed(row, W, o) - zero[t] * W->wsum[o];
            const float s = ascale[t] * W->wscale[o];
            float v = (float)acc * s;
            if (b) v += b[o];
            dst[o] = res ? res[o] + v : v;
        }
    }
}

static const attn_q8_kernels scalar_table = {"scalar", quantize_scalar, gemm_scalar};

const attn_q8_kernels *attn_qgemm_scalar_table(void) { return &scalar_table; }
