/* qgemm_avx512vnni.c: the AVX-512 VNNI int8 table (see qgemm.h). vpdpbusd multiplies 4 uint8
 * activations by 4 int8 weights and adds the 4 products into an int32 lane: one instruction per
 * 16 outputs x 4 input channels, 4x the multiply-adds of an f32 FMA.
 *
 * Compiled with the avx512vnni flags (model/isa.h: the avx512 ones plus -mavx512vnni);
 * qgemm.c hands this table out only after kernels.c's AVX-512 CPU/OS check and a cpuid VNNI
 * check. Plain C twin: qgemm_scalar.c. */
#include "isa.h"

#include <string.h>

#include "qgemm_avx512vnni.h"

#define LANES Q8_LANES
#define MR 6       /* tokens per register tile */
#define NV 4       /* 16-output blocks per register tile (ATTN_Q8_PANEL_OC / 16): 24 accumulators */

/* ---- activations ----------------------------------------------------------------------- */

static void row_range(const float *x, int C, float *lo, float *hi) {
    __m512 vlo = _mm512_setzero_ps(), vhi = _mm512_setzero_ps();
    int k = 0;
    for (; k + LANES <= C; k += LANES) {
        __m512 v = _mm512_loadu_ps(x + k);
        vlo = _mm512_min_ps(vlo, v);
        vhi = _mm512_max_ps(vhi, v);
    }
    if (k < C) {   /* masked-off lanes read as 0, which is inside [lo, hi] already */
        __m512 v = _mm512_maskz_loadu_ps(q8_first_lanes(C - k), x + k);
        vlo = _mm512_min_ps(vlo, v);
        vhi = _mm512_max_ps(vhi, v);
    }
    *lo = _mm512_reduce_min_ps(vlo);
    *hi = _mm512_reduce_max_ps(vhi);
}

/* u = clamp(rint(x * inv) + zero, 0, 255) for 16 values (round to nearest even: MXCSR). */
static __m512i quantize16(__m512 x, __m512 inv, __m512i zero) {
    __m512i v = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(x, inv)), zero);
    return _mm512_max_epi32(v, _mm512_setzero_si512());   /* the store saturates at 255 */
}

static void quantize_avx512(uint8_t *u, float *ascale, int32_t *zero, const float *x, int T,
                            int C, int CP) {
    for (int t = 0; t < T; t++) {
        const float *row = x + (size_t)t * C;
        uint8_t *dst = u + (size_t)t * CP;
        float lo, hi, inv;
        row_range(row, C, &lo, &hi);
        attn_q8_row_params(lo, hi, &ascale[t], &inv, &zero[t]);
        const __m512 vinv = _mm512_set1_ps(inv);
        const __m512i vzero = _mm512_set1_epi32(zero[t]);
        int k = 0;
        for (; k + LANES <= C; k += LANES)
            _mm_storeu_si128((__m128i *)(dst + k),
                             _mm512_cvtusepi32_epi8(quantize16(_mm512_loadu_ps(row + k), vinv, vzero)));
        if (k < C) {
            const __mmask16 m = q8_first_lanes(C - k);
            __m512i q = quantize16(_mm512_maskz_loadu_ps(m, row + k), vinv, vzero);
            _mm512_mask_cvtusepi32_storeu_epi8(dst + k, m, q);
        }
        memset(dst + C, 0, (size_t)(CP - C));
    }
}

/* ---- the product ----------------------------------------------------------------------- */

/* The accumulators of a tile are named variables c<row><block>, not an array: GCC keeps an
 * array of 24 zmm on the stack. Rows beyond mr are dead code once mr is a constant. */
#define ACC_ROW(i) __m512i c##i##0 = zero4, c##i##1 = zero4, c##i##2 = zero4, c##i##3 = zero4
#define ACC_STEP(i) \
    if (mr > i) { \
        const __m512i a = q8_broadcast4(u + (size_t)i * CP + k); \
        c##i##0 = _mm512_dpbusd_epi32(c##i##0, a, w0); \
        c##i##1 = _mm512_dpbusd_epi32(c##i##1, a, w1); \
        c##i##2 = _mm512_dpbusd_epi32(c##i##2, a, w2); \
        c##i##3 = _mm512_dpbusd_epi32(c##i##3, a, w3); \
    }
#define ACC_STORE(i) \
    if (mr > i) { \
        float *row = out + (size_t)i * W->OC; \
        const float *res = residual ? residual + (size_t)i * W->OC : NULL; \
        q8_store_block(row, c##i##0, ascale[i], zero[i], W, b, res, o0); \
        q8_store_block(row, c##i##1, ascale[i], zero[i], W, b, res, o0 + 16); \
        q8_store_block(row, c##i##2, ascale[i], zero[i], W, b, res, o0 + 32); \
        q8_store_block(row, c##i##3, ascale[i], zero[i], W, b, res, o0 + 48); \
    }

/* Rows 0..mr of out (mr <= MR), outputs of the panel of 4 blocks starting at block blk: the
 * accumulators stay in registers over the whole input width. Inlined with a constant mr. */
static inline __attribute__((always_inline)) void tile(
    const int mr, float *out, const uint8_t *u, const float *ascale, const int32_t *zero,
    const attn_q8_matrix *W, const float *b, const float *residual, int blk) {
    const int CP = W->CP;
    const size_t block_bytes = (size_t)CP * ATTN_Q8_BLOCK_OC;
    const int8_t *wq = W->q + (size_t)blk * block_bytes;
    const __m512i zero4 = _mm512_setzero_si512();
    ACC_ROW(0); ACC_ROW(1); ACC_ROW(2); ACC_ROW(3); ACC_ROW(4); ACC_ROW(5);
    for (int k = 0; k < CP; k += ATTN_Q8_GROUP_K) {
        const int8_t *g = wq + (size_t)k * ATTN_Q8_BLOCK_OC;
        const __m512i w0 = _mm512_load_si512(g), w1 = _mm512_load_si512(g + block_bytes);
        const __m512i w2 = _mm512_load_si512(g + 2 * block_bytes);
        const __m512i w3 = _mm512_load_si512(g + 3 * block_bytes);
        ACC_STEP(0) ACC_STEP(1) ACC_STEP(2) ACC_STEP(3) ACC_STEP(4) ACC_STEP(5)
    }
    const int o0 = blk * ATTN_Q8_BLOCK_OC;
    ACC_STORE(0) ACC_STORE(1) ACC_STORE(2) ACC_STORE(3) ACC_STORE(4) ACC_STORE(5)
}

static void tile_rows(int mr, float *out, const uint8_t *u, const float *ascale,
                      const int32_t *zero, const attn_q8_matrix *W, const float *b,
                      const float *residual, int blk) {
    switch (mr) {
    case 6: tile(6, out, u, ascale, zero, W, b, residual, blk); break;
    case 5: tile(5, out, u, ascale, zero, W, b, residual, blk); break;
    case 4: tile(4, out, u, ascale, zero, W, b, residual, blk); break;
    case 3: tile(3, out, u, ascale, zero, W, b, residual, blk); break;
    case 2: tile(2, out, u, ascale, zero, W, b, residual, blk); break;
    default: tile(1, out, u, ascale, zero, W, b, residual, blk); break;
    }
}

/* Panels of 64 outputs (the packing pads OC to 64: no partial panel), swept by tiles of 6
 * tokens while the panel's weights stay in L1/L2. */
static void gemm_avx512(float *out, const uint8_t *u, const float *ascale, const int32_t *zero,
                        const attn_q8_matrix *W, const float *b, const float *residual, int T) {
    const int n_blocks = W->OCP / ATTN_Q8_BLOCK_OC;
    for (int blk = 0; blk < n_blocks; blk += NV)
        for (int t = 0; t < T; t += MR)
            tile_rows(T - t < MR ? T - t : MR, out + (size_t)t * W->OC, u + (size_t)t * W->CP,
                      ascale + t, zero + t, W, b,
                      residual ? residual + (size_t)t * W->OC : NULL, blk);
}

static const attn_q8_kernels table = {"avx512vnni", quantize_avx512, gemm_avx512};

const attn_q8_kernels *attn_qgemm_avx512vnni_table(void) { return &table; }

