/* qgemm_avx2.c: the AVX2 int8 table (see qgemm.h), for CPUs without AVX-512 VNNI.
 *
 * vpmaddubsw (u8 x s8 pairs into saturating int16) would overflow: 255 * 127 * 2 > 32767. So the
 * weights are sign-extended to int16 (vpmovsxbw) and multiplied by the zero-extended activations
 * with vpmaddwd (int16 pairs into int32), which is exact: every table gets the same int32 sums.
 * A 16-byte chunk of the packed layout (4 outputs x 4 channels) widens to one ymm; vpmaddwd
 * leaves two partial sums per output, added pairwise (vphaddd) once per tile.
 *
 * Compiled with the avx2 flags (model/isa.h: -mavx2 -mfma -mf16c); qgemm.c hands this table
 * out only after kernels.c's AVX2 CPU/OS check. Plain C twin: qgemm_scalar.c. */
#include "isa.h"

#include <immintrin.h>
#include <string.h>

#define LANES 8     /* int32 or float per ymm */
#define CHUNKS 4    /* ymm accumulators per 16-output block: 4 outputs x 2 partial sums each */
#define MR 3        /* tokens per tile: 3 x 4 accumulators + 3 activations + 1 weight chunk */

static __m256i first_lanes(int n) {   /* n >= 8: all */
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

/* ---- activations ----------------------------------------------------------------------- */

static float hmin8(__m256 v) {
    __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    m = _mm_min_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

static float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

static void row_range(const float *x, int C, float *lo, float *hi) {
    __m256 vlo = _mm256_setzero_ps(), vhi = _mm256_setzero_ps();
    int k = 0;
    for (; k + LANES <= C; k += LANES) {
        __m256 v = _mm256_loadu_ps(x + k);
        vlo = _mm256_min_ps(vlo, v);
        vhi = _mm256_max_ps(vhi, v);
    }
    if (k < C) {   /* masked-off lanes read as 0, inside [lo, hi] already */
        __m256 v = _mm256_maskload_ps(x + k, first_lanes(C - k));
        vlo = _mm256_min_ps(vlo, v);
        vhi = _mm256_max_ps(vhi, v);
    }
    *lo = hmin8(vlo);
    *hi = hmax8(vhi);
}

/* 8 values: u = clamp(rint(x * inv) + zero, 0, 255), as 8 bytes in the low half of a xmm. */
static __m128i quantize8(__m256 x, __m256 inv, __m256i zero) {
    __m256i v = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(x, inv)), zero);
    v = _mm256_min_epi32(_mm256_max_epi32(v, _mm256_setzero_si256()), _mm256_set1_epi32(255));
    __m256i w = _mm256_packus_epi32(v, v);   /* per 128-bit half: v0..3 v0..3 | v4..7 v4..7 */
    w = _mm256_packus_epi16(w, w);           /* bytes 0..3 of each half: v0..3 | v4..7 */
    return _mm_unpacklo_epi32(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
}

static void quantize_avx2(uint8_t *u, float *ascale, int32_t *zero, const float *x, int T,
                          int C, int CP) {
    for (int t = 0; t < T; t++) {
        const float *row = x + (size_t)t * C;
        uint8_t *dst = u + (size_t)t * CP;
        float lo, hi, inv;
        row_range(row, C, &lo, &hi);
        attn_q8_row_params(lo, hi, &ascale[t], &inv, &zero[t]);
        const __m256 vinv = _mm256_set1_ps(inv);
        const __m256i vzero = _mm256_set1_epi32(zero[t]);
        int k = 0;
        for (; k + LANES <= C; k += LANES)
            _mm_storel_epi64((__m128i *)(dst + k), quantize8(_mm256_loadu_ps(row + k), vinv, vzero));
        if (k < C) {
            uint8_t tail[LANES];
            _mm_storel_epi64((__m128i *)tail,
                             quantize8(_mm256_maskload_ps(row + k, first_lanes(C - k)), vinv, vzero));
            memcpy(dst + k, tail, (size_t)(C - k));
        }
        memset(dst + C, 0, (size_t)(CP - C));
    }
}

/* ---- the product ----------------------------------------------------------------------- */

/* 8 outputs o0..o0+8 of one row from their int32 sums (the plain C twin's arithmetic).
 * Inlined: a call would clobber every ymm and spill the tile's accumulators. */
static inline __attribute__((always_inline)) void store8(
    float *out, __m256i acc, float ascale, int32_t zero,
    const attn_q8_matrix *W, const float *b, const float *res, int o0) {
    const int n = W->OC - o0;
    if (n <= 0) return;
    const __m256i m = first_lanes(n);
    __m256i wsum = _mm256_load_si256((const __m256i *)(W->wsum + o0));
    __m256i centred = _mm256_sub_epi32(acc, _mm256_mullo_epi32(_mm256_set1_epi32(zero), wsum));
    __m256 s = _mm256_mul_ps(_mm256_set1_ps(ascale), _mm256_load_ps(W->wscale + o0));
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(centred), s);
    if (b) v = _mm256_add_ps(v, _mm256_maskload_ps(b + o0, m));
    if (res) v = _mm256_add_ps(_mm256_maskload_ps(res + o0, m), v);
    _mm256_maskstore_ps(out + o0, m, v);
}

/* Two chunk accumulators (pairs of partial sums of outputs 0..3 and 4..7) -> 8 sums in order. */
static __m256i pair_sums(__m256i c0, __m256i c1) {
    __m256i h = _mm256_hadd_epi32(c0, c1);   /* o0 o1 o4 o5 | o2 o3 o6 o7 */
    return _mm256_permute4x64_epi64(h, _MM_SHUFFLE(3, 1, 2, 0));
}

/* 4 activations of a row as int16, repeated: a0 a1 a2 a3 a0 a1 a2 a3 ... */
static __m256i broadcast4(const uint8_t *a) {
    int32_t a4;
    memcpy(&a4, a, sizeof a4);
    return _mm256_broadcastq_epi64(_mm_cvtepu8_epi16(_mm_cvtsi32_si128(a4)));
}

/* Accumulators are named variables c<row><chunk> (an array of ymm would live on the stack);
 * rows beyond mr are dead code once mr is a constant. */
#define ACC_ROW(i) __m256i c##i##0 = zero8, c##i##1 = zero8, c##i##2 = zero8, c##i##3 = zero8
#define ACC_CHUNK(i, j, w) \
    if (mr > i) c##i##j = _mm256_add_epi32(c##i##j, _mm256_madd_epi16(a##i, w));
#define ACC_STORE(i) \
    if (mr > i) { \
        float *row = out + (size_t)i * W->OC; \
        const float *res = residual ? residual + (size_t)i * W->OC : NULL; \
        store8(row, pair_sums(c##i##0, c##i##1), ascale[i], zero[i], W, b, res, o0); \
        store8(row, pair_sums(c##i##2, c##i##3), ascale[i], zero[i], W, b, res, o0 + 8); \
    }

/* Rows 0..mr of out (mr <= MR), the 16 outputs of block blk. Inlined with a constant mr. */
static inline __attribute__((always_inline)) void tile(
    const int mr, float *out, const uint8_t *u, const float *ascale, const int32_t *zero,
    const attn_q8_matrix *W, const float *b, const float *residual, int blk) {
    const int CP = W->CP;
    const int8_t *wq = W->q + (size_t)blk * CP * ATTN_Q8_BLOCK_OC;
    const __m256i zero8 = _mm256_setzero_si256();
    ACC_ROW(0); ACC_ROW(1); ACC_ROW(2);
    for (int k = 0; k < CP; k += ATTN_Q8_GROUP_K) {
        const __m256i a0 = broadcast4(u + k);
        const __m256i a1 = mr > 1 ? broadcast4(u + (size_t)CP + k) : zero8;
        const __m256i a2 = mr > 2 ? broadcast4(u + 2 * (size_t)CP + k) : zero8;
        const int8_t *group = wq + (size_t)k * ATTN_Q8_BLOCK_OC;   /* 64 bytes */
#define CHUNK(j) { \
            const __m256i w = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(group + 16 * j))); \
            ACC_CHUNK(0, j, w) ACC_CHUNK(1, j, w) ACC_CHUNK(2, j, w) }
        CHUNK(0) CHUNK(1) CHUNK(2) CHUNK(3)
#undef CHUNK
    }
    const int o0 = blk * ATTN_Q8_BLOCK_OC;
    ACC_STORE(0) ACC_STORE(1) ACC_STORE(2)
}

static void gemm_avx2(float *out, const uint8_t *u, const float *ascale, const int32_t *zero,
                      const attn_q8_matrix *W, const float *b, const float *residual, int T) {
    const int n_blocks = (W->OC + ATTN_Q8_BLOCK_OC - 1) / ATTN_Q8_BLOCK_OC;   /* skip padding */
    for (int blk = 0; blk < n_blocks; blk++)
        for (int t = 0; t < T; t += MR) {
            float *o = out + (size_t)t * W->OC;
            const uint8_t *a = u + (size_t)t * W->CP;
            const float *res = residual ? residual + (size_t)t * W->OC : NULL;
            if (T - t >= MR) tile(MR, o, a, ascale + t, zero + t, W, b, res, blk);
            else if (T - t == 2) tile(2, o, a, ascale + t, zero + t, W, b, res, blk);
            else tile(1, o, a, ascale + t, zero + t, W, b, res, blk);
        }
}

static const attn_q8_kernels table = {"avx2", quantize_avx2, gemm_avx2};

const attn_q8_kernels *attn_qgemm_avx2_table(void) { return &table; }

