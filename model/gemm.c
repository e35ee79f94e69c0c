/* gemm.c: packed-panel GEMM for inference (see gemm.h).
 *
 * Loop nest, outside in: K blocks of ATTN_GEMM_KC (a panel slice of 32 KiB stays in L1),
 * chunks of GEMM_MC rows of A, panels of 32 columns, row blocks of MR rows: one microkernel
 * call, MR x 32 accumulators in registers for the whole K block. The x86 and plain C tiles
 * broadcast A's elements from its rows where they are; NEON, which loads MR rows of a step
 * as one vector, gets each chunk packed into [row block][k][MR] first. (Packing A for the
 * x86 tiles too cost 4-5% of an fp32 forward at 32 and 512 tokens, for no faster tiles.)
 * The first K block starts from bias + init, later ones from the partial out; GELU runs on
 * the finished tile while in L1.
 *
 * The SIMD microkernels are compiled with target attributes (no per-file ISA flags) and are
 * only reached through attn_gemm_by_name / attn_gemm_best, after kernels.c's CPU check. */
#include "gemm.h"

#include <math.h>
#include <string.h>

#include "kernels_impl.h"   /* the exp constants every vectorised exp shares */
#include "qgemm.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define GEMM_X86 1
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

#define GEMM_MR_MAX 12            /* the largest MR of any family */
/* Weights are read this far ahead of use (16 k rows of a panel, 2 KiB): at few tokens the
 * product is bound by streaming the weights, and the prefetch covers the panel ends. */
#define GEMM_PREFETCH_FLOATS (16 * ATTN_GEMM_NR)
#define GEMM_MC 48                /* rows of A packed at a time: 48 x 256 floats = 48 KiB */
/* The attention's exp(x), x <= 0: x = n ln2 + r (ln2 in two parts, kernels_impl.h), n
 * rounded by EXP_SHIFTER (x + 1.5 * 2^23 rounds x, |x| < 2^22, to the nearest integer, which
 * then sits in the low mantissa bits: no rounding instruction), exp(r) for |r| <= ln2 / 2 by a
 * degree-6 polynomial fitted for relative error (EXP_C2..C6; 1 + r + ... in Horner form: 6
 * FMAs where kernels_impl.h's degree-7 Cephes form takes 8 operations): 7.4e-8 relative after
 * float rounding, against the Cephes form's 6.9e-8. */
#define EXP_SHIFTER 12582912.0f
#define EXP_C2 0.49999994f
#define EXP_C3 0.166664124f
#define EXP_C4 0.0416681133f
#define EXP_C5 0.00837578345f
#define EXP_C6 0.00138417562f

/* One microkernel call: c[m, 32] = alpha * a b + bias + init over k. */
typedef struct tile_args {
    const float *a;               /* A: a[i * ak + r * ar] is row r, step i (rows >= m unused) */
    size_t ak;                    /* floats between steps of a: MR for packed blocks, 1 for rows */
    size_t ar;                    /* floats between rows of a: 1 for packed blocks, lda for rows */
    const float *b;               /* panel slice: [k][32] */
    float *c; size_t ldc;         /* [m, 32] */
    const float *init; size_t ldi;/* [m, 32] or NULL; may equal c */
    const float *bias;            /* [32] or NULL */
    float alpha;
    int m, k;
    /* [32] or NULL: colmax[j] = max(colmax[j], c[r][j] over the tile's rows). Only the
     * families with exp_cols (AVX-512, AVX2) honour it: the attention's scores set it for
     * those alone. */
    float *colmax;
} tile_args;

struct attn_gemm_impl {
    const char *name;             /* the kernels.h table it goes with */
    int mr;                       /* rows per microkernel call */
    void (*tile)(const tile_args *t);
    /* s[rows, 32] = exp(s - max[j]) (max: the column maxima, from the tiles' colmax),
     * sum[32] = the column sums; NULL: the kernel table's softmax per column
     * (softmax_columns). */
    void (*exp_cols)(float *s, int rows, const float *max, float *sum);
    /* 1: the tile reads A's rows where they are (ar = lda, ak = 1), so attn_gemm does not
     * pack A; 0: A is packed into blocks of mr rows first (NEON loads mr rows as a vector). */
    int reads_rows;
};

/* ---- packing -------------------------------------------------------------------------- */

size_t attn_packed_floats(int K, int N) {
    size_t panels = ((size_t)N + ATTN_GEMM_NR - 1) / ATTN_GEMM_NR;
    return panels * (size_t)K * ATTN_GEMM_NR;
}

void attn_pack_rows(float *dst, const float *w, size_t ldw, int N, int K) {
    for (int p0 = 0; p0 < N; p0 += ATTN_GEMM_NR) {
        const int n = N - p0 < ATTN_GEMM_NR ? N - p0 : ATTN_GEMM_NR;
        for (int k = 0; k < K; k++) {
            float *row = dst + (size_t)k * ATTN_GEMM_NR;
            for (int j = 0; j < n; j++) row[j] = w[(size_t)(p0 + j) * ldw + k];
            for (int j = n; j < ATTN_GEMM_NR; j++) row[j] = 0.0f;
        }
        dst += (size_t)K * ATTN_GEMM_NR;
    }
}

void attn_pack_cols(float *dst, const float *b, size_t ldb, int K, int N) {
    for (int p0 = 0; p0 < N; p0 += ATTN_GEMM_NR) {
        const int n = N - p0 < ATTN_GEMM_NR ? N - p0 : ATTN_GEMM_NR;
        for (int k = 0; k < K; k++) {
            float *row = dst + (size_t)k * ATTN_GEMM_NR;
            memcpy(row, b + (size_t)k * ldb + p0, (size_t)n * sizeof *row);
            for (int j = n; j < ATTN_GEMM_NR; j++) row[j] = 0.0f;
        }
        dst += (size_t)K * ATTN_GEMM_NR;
    }
}

/* A[rows, k] (stride lda) -> dst[k][mr], for one row block of rows <= mr. */
static void pack_a_rows(float *dst, const float *a, size_t lda, int r0, int rows, int k,
                        int mr) {
    for (int i = 0; i < k; i++)                 /* sequential writes, rows read side by side */
        for (int r = r0; r < rows; r++) dst[(size_t)i * mr + r] = a[(size_t)r * lda + i];
}

#ifdef GEMM_X86
/* Groups of 4 rows as 4 x 4 SSE transposes (SSE is part of x86_64): the attention's products
 * (few panels per packed block) spent as long packing A element by element as multiplying. */
static void pack_a_block(float *dst, const float *a, size_t lda, int rows, int k, int mr) {
    int r0 = 0;
    for (; r0 + 4 <= rows; r0 += 4) {
        const float *a0 = a + (size_t)r0 * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
        int i = 0;
        for (; i + 4 <= k; i += 4) {
            __m128 x0 = _mm_loadu_ps(a0 + i), x1 = _mm_loadu_ps(a1 + i);
            __m128 x2 = _mm_loadu_ps(a2 + i), x3 = _mm_loadu_ps(a3 + i);
            _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
            float *d = dst + (size_t)i * mr + r0;
            _mm_storeu_ps(d, x0);
            _mm_storeu_ps(d + mr, x1);
            _mm_storeu_ps(d + 2 * mr, x2);
            _mm_storeu_ps(d + 3 * mr, x3);
        }
        for (; i < k; i++)
            for (int r = r0; r < r0 + 4; r++) dst[(size_t)i * mr + r] = a[(size_t)r * lda + i];
    }
    pack_a_rows(dst, a, lda, r0, rows, k, mr);
}
#else
static void pack_a_block(float *dst, const float *a, size_t lda, int rows, int k, int mr) {
    pack_a_rows(dst, a, lda, 0, rows, k, mr);
}
#endif

/* ---- plain C ------------------------------------------------------------------------- */

#define SCALAR_MR 4

static void tile_scalar(const tile_args *t) {
    float acc[SCALAR_MR][ATTN_GEMM_NR] = {{0}};
    for (int i = 0; i < t->k; i++) {
        const float *b = t->b + (size_t)i * ATTN_GEMM_NR;
        const float *a = t->a + (size_t)i * t->ak;
        for (int r = 0; r < t->m; r++)
            for (int j = 0; j < ATTN_GEMM_NR; j++) acc[r][j] += a[(size_t)r * t->ar] * b[j];
    }
    for (int r = 0; r < t->m; r++)
        for (int j = 0; j < ATTN_GEMM_NR; j++) {
            float v = t->alpha * acc[r][j] + (t->bias ? t->bias[j] : 0.0f);
            if (t->init) v += t->init[(size_t)r * t->ldi + j];
            t->c[(size_t)r * t->ldc + j] = v;
        }
}

static const attn_gemm_impl GEMM_SCALAR = { "scalar", SCALAR_MR, tile_scalar, NULL, 1 };

/* ---- AVX-512: 12 x 32 in 24 zmm accumulators ------------------------------------------ */
#ifdef GEMM_X86
#define AVX512_TARGET __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define AVX512_MR 12

/* M is a constant at each call site (the switch below), so the accumulators live in zmm. */
static inline __attribute__((always_inline)) AVX512_TARGET
void tile512_rows(const tile_args *t, const int M) {
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

AVX512_TARGET static void tile_avx512(const tile_args *t) {
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

/* exp(x) for finite x <= 0 (a score minus its column's maximum), see EXP_SHIFTER. No clamp:
 * scalef takes any n, so x far below -87 gives 0 (or a subnormal) like expf. NaN (and -inf)
 * give NaN. */
static inline __attribute__((always_inline)) AVX512_TARGET __m512 exp_nonpos16(__m512 x) {
    const __m512 shifted = _mm512_fmadd_ps(x, _mm512_set1_ps(ATTN_LOG2E),
                                           _mm512_set1_ps(EXP_SHIFTER));
    const __m512 n = _mm512_sub_ps(shifted, _mm512_set1_ps(EXP_SHIFTER));
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(ATTN_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(ATTN_LN2_LO), r);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(EXP_C6), r, _mm512_set1_ps(EXP_C5));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);   /* p 2^n */
}

/* s[rows, 32] = exp(s - max), sum[32] = the column sums (attn_gemm_impl.exp_cols). */
AVX512_TARGET static void exp_cols_avx512(float *s, int rows, const float *max, float *sum) {
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

static const attn_gemm_impl GEMM_AVX512 = { "avx512", AVX512_MR, tile_avx512,
                                             exp_cols_avx512, 1 };

/* ---- AVX2 + FMA: 6 x 16 (12 ymm accumulators), twice per 32-column panel --------------- */
#define AVX2_TARGET __attribute__((target("avx2,fma")))
#define AVX2_MR 6

static inline __attribute__((always_inline)) AVX2_TARGET
void tile256_rows(const tile_args *t, const int M, const int half) {
    __m256 c0[AVX2_MR], c1[AVX2_MR];
    _Pragma("GCC unroll 12")
    for (int r = 0; r < M; r++) c0[r] = c1[r] = _mm256_setzero_ps();
    const float *a = t->a, *b = t->b + half;
    const size_t ar = t->ar;
    for (int i = 0; i < t->k; i++, a += t->ak, b += ATTN_GEMM_NR) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        _Pragma("GCC unroll 12")
        for (int r = 0; r < M; r++) {
            const __m256 av = _mm256_broadcast_ss(&a[(size_t)r * ar]);
            c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);
            c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);
        }
    }
    const __m256 alpha = _mm256_set1_ps(t->alpha);
    const __m256 bias0 = t->bias ? _mm256_loadu_ps(t->bias + half) : _mm256_setzero_ps();
    const __m256 bias1 = t->bias ? _mm256_loadu_ps(t->bias + half + 8) : _mm256_setzero_ps();
    __m256 max0 = _mm256_set1_ps(-INFINITY), max1 = max0;
    _Pragma("GCC unroll 12")
    for (int r = 0; r < M; r++) {
        __m256 v0 = _mm256_fmadd_ps(alpha, c0[r], bias0);
        __m256 v1 = _mm256_fmadd_ps(alpha, c1[r], bias1);
        if (t->init) {
            const float *in = t->init + (size_t)r * t->ldi + half;
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(in));
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(in + 8));
        }
        float *c = t->c + (size_t)r * t->ldc + half;
        _mm256_storeu_ps(c, v0);
        _mm256_storeu_ps(c + 8, v1);
        max0 = _mm256_max_ps(max0, v0);
        max1 = _mm256_max_ps(max1, v1);
    }
    if (t->colmax) {
        float *cm = t->colmax + half;
        _mm256_storeu_ps(cm, _mm256_max_ps(_mm256_loadu_ps(cm), max0));
        _mm256_storeu_ps(cm + 8, _mm256_max_ps(_mm256_loadu_ps(cm + 8), max1));
    }
}

AVX2_TARGET static void tile256_half(const tile_args *t, int half) {
    switch (t->m) {
    case 1: tile256_rows(t, 1, half); break;
    case 2: tile256_rows(t, 2, half); break;
    case 3: tile256_rows(t, 3, half); break;
    case 4: tile256_rows(t, 4, half); break;
    case 5: tile256_rows(t, 5, half); break;
    default: tile256_rows(t, 6, half); break;
    }
}

AVX2_TARGET static void tile_avx2(const tile_args *t) {
    tile256_half(t, 0);
    tile256_half(t, 16);
}

/* exp_nonpos16 in 8 lanes, with 2^n built in the exponent field: n sits in the low mantissa
 * bits of shifted, a shift by 23 moves it into the exponent (the shifter's own bits,
 * 0x4B400000, shift out), plus the bias 127. Hence the clamp to ATTN_EXP_LO (n >= -126, a
 * normal number; exp = FLT_MIN, ~1e-38, instead of 0 below it: nothing beside the column
 * maximum's exp(0) = 1). NaN stays NaN (max keeps its second operand when one is NaN). */
static inline __attribute__((always_inline)) AVX2_TARGET __m256 exp_nonpos8(__m256 x) {
    x = _mm256_max_ps(_mm256_set1_ps(ATTN_EXP_LO), x);
    const __m256 shifted = _mm256_fmadd_ps(x, _mm256_set1_ps(ATTN_LOG2E),
                                           _mm256_set1_ps(EXP_SHIFTER));
    const __m256 n = _mm256_sub_ps(shifted, _mm256_set1_ps(EXP_SHIFTER));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(ATTN_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(ATTN_LN2_LO), r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(EXP_C6), r, _mm256_set1_ps(EXP_C5));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i pow2n = _mm256_add_epi32(_mm256_slli_epi32(_mm256_castps_si256(shifted), 23),
                                           _mm256_set1_epi32(127 << 23));
    return _mm256_mul_ps(p, _mm256_castsi256_ps(pow2n));
}

/* exp_cols_avx512 in four 8-lane quarters of the 32 columns. */
AVX2_TARGET static void exp_cols_avx2(float *s, int rows, const float *max, float *sum) {
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

static const attn_gemm_impl GEMM_AVX2 = { "avx2", AVX2_MR, tile_avx2, exp_cols_avx2, 1 };
#endif /* GEMM_X86 */

/* ---- NEON: 4 x 16 (16 q accumulators, A rows as lanes), twice per panel ---------------- */
#if defined(__aarch64__)
#define NEON_MR 4

static void tile_neon_half(const tile_args *t, int half) {
    float32x4_t acc[NEON_MR][4];
    for (int r = 0; r < NEON_MR; r++)
        for (int q = 0; q < 4; q++) acc[r][q] = vdupq_n_f32(0.0f);
    const float *a = t->a, *b = t->b + half;
    for (int i = 0; i < t->k; i++, a += t->ak, b += ATTN_GEMM_NR) {
        /* rows >= m hold stale values, never stored (ak >= 4, so the load stays in a's step) */
        const float32x4_t av = vld1q_f32(a);
        float32x4_t bv[4];
        for (int q = 0; q < 4; q++) bv[q] = vld1q_f32(b + 4 * q);
        for (int q = 0; q < 4; q++) {
            acc[0][q] = vfmaq_laneq_f32(acc[0][q], bv[q], av, 0);
            acc[1][q] = vfmaq_laneq_f32(acc[1][q], bv[q], av, 1);
            acc[2][q] = vfmaq_laneq_f32(acc[2][q], bv[q], av, 2);
            acc[3][q] = vfmaq_laneq_f32(acc[3][q], bv[q], av, 3);
        }
    }
    for (int r = 0; r < t->m; r++)
        for (int q = 0; q < 4; q++) {
            const int j = half + 4 * q;
            float32x4_t v = vmulq_n_f32(acc[r][q], t->alpha);
            if (t->bias) v = vaddq_f32(v, vld1q_f32(t->bias + j));
            if (t->init) v = vaddq_f32(v, vld1q_f32(t->init + (size_t)r * t->ldi + j));
            vst1q_f32(t->c + (size_t)r * t->ldc + j, v);
        }
}

static void tile_neon(const tile_args *t) {
    tile_neon_half(t, 0);
    tile_neon_half(t, 16);
}

static const attn_gemm_impl GEMM_NEON = { "neon", NEON_MR, tile_neon, NULL, 0 };
#endif

/* ---- dispatch ------------------------------------------------------------------------- */

const attn_gemm_impl *attn_gemm_by_name(const char *name) {
    if (!attn_kernels_by_name(name)) return NULL;   /* not in this build or not on this CPU */
    if (strcmp(name, "scalar") == 0) return &GEMM_SCALAR;
#ifdef GEMM_X86
    if (strcmp(name, "avx512") == 0) return &GEMM_AVX512;
    if (strcmp(name, "avx2") == 0) return &GEMM_AVX2;
#endif
#if defined(__aarch64__)
    if (strcmp(name, "neon") == 0) return &GEMM_NEON;
#endif
    return NULL;
}

const attn_gemm_impl *attn_gemm_best(void) {
    const attn_gemm_impl *g = attn_gemm_by_name(attn_kernels_best()->name);
    return g ? g : &GEMM_SCALAR;
}

const char *attn_gemm_name(const attn_gemm_impl *g) {
    return g ? g->name : "none";
}

/* ---- the driver ------------------------------------------------------------------------ */

/* One K block of one panel over one chunk of packed rows. */
typedef struct block_ctx {
    const attn_gemm_impl *g;
    const attn_kernels *k;
    const attn_gemm_args *args;
    const float *apack;           /* [row blocks][kc][MR] */
    int row0, rows;               /* chunk of rows of out */
    int k0, kc;
    int first, last;              /* first / last K block */
} block_ctx;

/* Columns n < 32 at the right edge: the tile runs on a 32-wide copy. */
static void run_edge_tile(const attn_gemm_impl *g, tile_args t, int n) {
    float c[GEMM_MR_MAX * ATTN_GEMM_NR], bias[ATTN_GEMM_NR] = {0};
    float *out = t.c;
    const size_t ldo = t.ldc;
    for (int r = 0; r < t.m; r++) {
        float *row = c + (size_t)r * ATTN_GEMM_NR;
        memset(row, 0, sizeof(float) * ATTN_GEMM_NR);
        if (t.init) memcpy(row, t.init + (size_t)r * t.ldi, (size_t)n * sizeof *row);
    }
    if (t.bias) memcpy(bias, t.bias, (size_t)n * sizeof *bias);
    t.init = t.init ? c : NULL;
    t.ldi = ATTN_GEMM_NR;
    t.bias = t.bias ? bias : NULL;
    t.c = c;
    t.ldc = ATTN_GEMM_NR;
    g->tile(&t);
    for (int r = 0; r < t.m; r++)
        memcpy(out + (size_t)r * ldo, c + (size_t)r * ATTN_GEMM_NR, (size_t)n * sizeof *out);
}

static void run_panel(const block_ctx *x, int p) {
    const attn_gemm_args *A = x->args;
    const int N = A->b->N, K = A->b->K, mr = x->g->mr;
    const int col = p * ATTN_GEMM_NR;
    const int n = N - col < ATTN_GEMM_NR ? N - col : ATTN_GEMM_NR;
    const float *bpanel = A->b->data + (size_t)p * K * ATTN_GEMM_NR + (size_t)x->k0 * ATTN_GEMM_NR;
    for (int i0 = 0; i0 < x->rows; i0 += mr) {
        const int row = x->row0 + i0;
        tile_args t;
        if (x->g->reads_rows) {
            t.a = A->a + (size_t)row * A->lda + x->k0;
            t.ak = 1;
            t.ar = A->lda;
        } else {
            t.a = x->apack + (size_t)(i0 / mr) * x->kc * mr;
            t.ak = (size_t)mr;
            t.ar = 1;
        }
        t.colmax = NULL;
        t.b = bpanel;
        t.c = A->out + (size_t)row * A->ldo + col;
        t.ldc = A->ldo;
        if (x->first) {
            t.init = A->init ? A->init + (size_t)row * A->ldi + col : NULL;
            t.ldi = A->ldi;
            t.bias = A->bias ? A->bias + col : NULL;
        } else {
            t.init = t.c;
            t.ldi = A->ldo;
            t.bias = NULL;
        }
        t.alpha = A->alpha;
        t.m = x->rows - i0 < mr ? x->rows - i0 : mr;
        t.k = x->kc;
        if (n == ATTN_GEMM_NR) x->g->tile(&t);
        else run_edge_tile(x->g, t, n);
        if (x->last && A->epilogue == ATTN_EPI_GELU)
            for (int r = 0; r < t.m; r++) x->k->gelu(t.c + (size_t)r * A->ldo, (size_t)n);
    }
}

/* The chunk's rows of A (its K block) into apack (x->apack), for families that do not read
 * rows. */
static void pack_chunk(float *apack, const block_ctx *x) {
    const attn_gemm_args *A = x->args;
    const int mr = x->g->mr;
    for (int i0 = 0; i0 < x->rows; i0 += mr)
        pack_a_block(apack + (size_t)(i0 / mr) * x->kc * mr,
                     A->a + (size_t)(x->row0 + i0) * A->lda + x->k0, A->lda,
                     x->rows - i0 < mr ? x->rows - i0 : mr, x->kc, mr);
}

void attn_gemm(const attn_gemm_impl *g, const attn_gemm_args *args) {
    if (!g) g = attn_gemm_best();
    const attn_kernels *k = attn_kernels_by_name(g->name);
    const int K = args->b->K, N = args->b->N, mr = g->mr;
    const int panels = (N + ATTN_GEMM_NR - 1) / ATTN_GEMM_NR;
    float apack[GEMM_MC * ATTN_GEMM_KC];
    block_ctx x = { g, k ? k : attn_kernels_scalar(), args, apack, 0, 0, 0, 0, 0, 0 };
    /* One row block (few tokens): no K blocking, so each weight panel streams from memory
     * in one sequential run (the A block still fits the pack buffer). */
    const int kc_max = args->M <= mr && (size_t)K * mr <= sizeof apack / sizeof *apack
                       ? K : ATTN_GEMM_KC;
    int k0 = 0;
    do {   /* at least once: K == 0 still writes bias + init */
        x.k0 = k0;
        x.kc = K - k0 < kc_max ? K - k0 : kc_max;
        x.first = k0 == 0;
        x.last = k0 + x.kc >= K;
        for (int row0 = 0; row0 < args->M; row0 += GEMM_MC) {
            x.row0 = row0;
            x.rows = args->M - row0 < GEMM_MC ? args->M - row0 : GEMM_MC;
            if (!g->reads_rows) pack_chunk(apack, &x);
            for (int p = 0; p < panels; p++) run_panel(&x, p);
        }
        k0 += x.kc;
    } while (k0 < K);
}

/* ---- attention ------------------------------------------------------------------------- */

/* Per head: the keys packed once as the A side ([row block of MR keys][hd][MR]), the values
 * once as panels; per block of 32 queries: their transpose as one B panel, the transposed
 * scores S^T[T keys, 32 queries] = scale K Q^T by MR x 32 tiles, a softmax down each column
 * (vertical: no reductions across lanes), then out = P V with P read straight from S^T (a
 * tile's MR queries are MR adjacent floats of each S^T row: step 32), the rows scaled by 1/sum
 * at the end (hd values per query instead of T). */

/* Keys of T tokens rounded up to whole row blocks of GEMM_MR_MAX (12), a multiple of every
 * family's MR (12, 6, 4), so enough for any. */
static size_t key_rows(int T) {
    return ((size_t)T + GEMM_MR_MAX - 1) / GEMM_MR_MAX * GEMM_MR_MAX;
}

size_t attn_gemm_attention_floats(int T, int D, int H) {
    const size_t t = (size_t)T, hd = (size_t)(D / H);
    return key_rows(T) * hd                        /* keys */
           + attn_packed_floats(T, (int)hd)        /* values */
           + hd * ATTN_GEMM_NR                     /* one block's queries, transposed */
           + t * ATTN_GEMM_NR                      /* its scores, transposed */
           + t;                                    /* one column (no exp_cols) */
}

/* The views of attn_gemm_attention's scratch. */
typedef struct attention_views {
    float *keys;      /* [ceil(T / MR)][hd][MR] */
    float *vals;      /* attn_packed of V_h [T, hd] */
    float *queries;   /* [hd][32]: the block's queries, transposed, zero past the block */
    float *scores;    /* [T][32]: S^T, then exp, of the block */
    float *column;    /* [T] */
} attention_views;

static attention_views carve_attention(float *p, int T, int hd) {
    attention_views v;
    v.keys = p;     p += key_rows(T) * hd;
    v.vals = p;     p += attn_packed_floats(T, hd);
    v.queries = p;  p += (size_t)hd * ATTN_GEMM_NR;
    v.scores = p;   p += (size_t)T * ATTN_GEMM_NR;
    v.column = p;
    return v;
}

/* keys[T, hd] (row stride ld) -> dst[ceil(T / mr)][hd][mr], the packed A of the scores. */
static void pack_keys(float *dst, const float *keys, size_t ld, int T, int hd, int mr) {
    for (int r0 = 0; r0 < T; r0 += mr)
        pack_a_block(dst + (size_t)r0 * hd, keys + (size_t)r0 * ld, ld,
                     T - r0 < mr ? T - r0 : mr, hd, mr);
}

/* q[qn, hd] (row stride ld) -> dst[hd][32], the B panel of the scores, zero past qn. */
static void pack_queries(float *dst, const float *q, size_t ld, int qn, int hd) {
    pack_a_block(dst, q, ld, qn, hd, ATTN_GEMM_NR);
    if (qn < ATTN_GEMM_NR)
        for (int i = 0; i < hd; i++)
            memset(dst + (size_t)i * ATTN_GEMM_NR + qn, 0, sizeof(float) * (ATTN_GEMM_NR - qn));
}

/* scores[T][32] = scale keys queries: S^T of the block (columns past its queries are 0);
 * colmax[32] its column maxima (families with exp_cols). */
static void transposed_scores(const attn_gemm_impl *g, const attention_views *v, int T, int hd,
                              float scale, float *colmax) {
    for (int j = 0; j < ATTN_GEMM_NR; j++) colmax[j] = -INFINITY;
    for (int r0 = 0; r0 < T; r0 += g->mr) {
        tile_args t = { 0 };
        t.a = v->keys + (size_t)r0 * hd;
        t.ak = (size_t)g->mr;
        t.ar = 1;
        t.b = v->queries;
        t.c = v->scores + (size_t)r0 * ATTN_GEMM_NR;
        t.ldc = ATTN_GEMM_NR;
        t.alpha = scale;
        t.m = T - r0 < g->mr ? T - r0 : g->mr;
        t.k = hd;
        t.colmax = g->exp_cols ? colmax : NULL;
        g->tile(&t);
    }
}

/* Columns 0..qn of scores[T][32]: exp(s - colmax) with sum[j] the column sums, or (families
 * without exp_cols) the kernel table's softmax, already normalised: sum[j] = 1. */
static void softmax_columns(const attn_gemm_impl *g, const attn_kernels *k,
                            const attention_views *v, int T, int qn, const float *colmax,
                            float *sum) {
    if (g->exp_cols) {
        g->exp_cols(v->scores, T, colmax, sum);
        return;
    }
    for (int j = 0; j < qn; j++) {
        for (int i = 0; i < T; i++) v->column[i] = v->scores[(size_t)i * ATTN_GEMM_NR + j];
        k->softmax(v->column, (size_t)T);
        for (int i = 0; i < T; i++) v->scores[(size_t)i * ATTN_GEMM_NR + j] = v->column[i];
        sum[j] = 1.0f;
    }
}

/* out[qn, hd] (row stride ldo) = P V / sum per row, P[qn, T] read from scores[T][32]. */
static void probs_times_values(const attn_gemm_impl *g, const attn_kernels *k,
                               const attention_views *v, float *out, size_t ldo, int T,
                               int hd, int qn, const float *sum) {
    for (int r0 = 0; r0 < qn; r0 += g->mr)
        for (int col = 0; col < hd; col += ATTN_GEMM_NR) {
            tile_args t = { 0 };
            t.a = v->scores + r0;
            t.ak = ATTN_GEMM_NR;
            t.ar = 1;
            t.b = v->vals + (size_t)col * T;   /* panel col / 32: T x 32 floats each */
            t.c = out + (size_t)r0 * ldo + col;
            t.ldc = ldo;
            t.alpha = 1.0f;
            t.m = qn - r0 < g->mr ? qn - r0 : g->mr;
            t.k = T;
            const int n = hd - col < ATTN_GEMM_NR ? hd - col : ATTN_GEMM_NR;
            if (n == ATTN_GEMM_NR) g->tile(&t);
            else run_edge_tile(g, t, n);
        }
    for (int r = 0; r < qn; r++)
        if (sum[r] != 1.0f) k->scale(out + (size_t)r * ldo, 1.0f / sum[r], (size_t)hd);
}

void attn_gemm_attention(const attn_gemm_impl *g, float *out, const float *qkv, int T, int D,
                         int H, float scale, float *scratch) {
    if (!g) g = attn_gemm_best();
    const attn_kernels *k = attn_kernels_by_name(g->name);
    if (!k) k = attn_kernels_scalar();
    const int hd = D / H;
    const size_t ld = 3 * (size_t)D;                     /* row stride of qkv */
    const attention_views v = carve_attention(scratch, T, hd);
    for (int h = 0; h < H; h++) {
        const float *q = qkv + (size_t)h * hd;           /* [T, hd], stride ld */
        pack_keys(v.keys, qkv + D + (size_t)h * hd, ld, T, hd, g->mr);
        attn_pack_cols(v.vals, qkv + 2 * (size_t)D + (size_t)h * hd, ld, T, hd);
        for (int t0 = 0; t0 < T; t0 += ATTN_GEMM_NR) {
            const int qn = T - t0 < ATTN_GEMM_NR ? T - t0 : ATTN_GEMM_NR;
            float colmax[ATTN_GEMM_NR], sum[ATTN_GEMM_NR];
            pack_queries(v.queries, q + (size_t)t0 * ld, ld, qn, hd);
            transposed_scores(g, &v, T, hd, scale, colmax);
            softmax_columns(g, k, &v, T, qn, colmax, sum);
            probs_times_values(g, k, &v, out + (size_t)t0 * D + (size_t)h * hd, (size_t)D, T,
                               hd, qn, sum);
        }
    }
}

/* ---- linear layers --------------------------------------------------------------------- */

size_t attn_linear_scratch_bytes(const attn_linear *L, int T) {
    return L->format == ATTN_LINEAR_Q8 ? attn_q8_scratch_bytes(L->q8, T) : 0;
}

void attn_linear_forward(const attn_linear *L, float *out, const float *inp, int T,
                         attn_epilogue ep, const float *residual, void *scratch) {
    switch (L->format) {
    case ATTN_LINEAR_F32_PACKED: {
        const attn_gemm_args a = { out, (size_t)L->OC, inp, (size_t)L->C, &L->w, L->b,
                                   residual, (size_t)L->OC, 1.0f, ep, T };
        attn_gemm(NULL, &a);
        break;
    }
    case ATTN_LINEAR_Q8:
        attn_q8_matmul(out, inp, L->q8, L->b, residual, T, scratch);
        if (ep == ATTN_EPI_GELU && T > 0) attn_kernels_best()->gelu(out, (size_t)T * L->OC);
        break;
    }
}
