/* gemm.c: packed-panel GEMM for inference (see gemm.h): packing, the driver, the choice of
 * microkernel family. The microkernels are gemm_<isa>.c (model/isa.h).
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
 * The SIMD microkernels are only reached through attn_gemm_by_name / attn_gemm_best, after
 * kernels.c's CPU check. */
#include "gemm.h"

#include <string.h>

#include "isa.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define GEMM_X86 1
#endif

#define GEMM_MC 48                /* rows of A packed at a time: 48 x 256 floats = 48 KiB */

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
void attn_gemm_pack_a(float *dst, const float *a, size_t lda, int rows, int k, int mr) {
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
void attn_gemm_pack_a(float *dst, const float *a, size_t lda, int rows, int k, int mr) {
    pack_a_rows(dst, a, lda, 0, rows, k, mr);
}
#endif

/* ---- dispatch ------------------------------------------------------------------------- */

const attn_gemm_impl *attn_gemm_by_name(const char *name) {
    if (!attn_kernels_by_name(name)) return NULL;   /* not in this build or not on this CPU */
    if (strcmp(name, "scalar") == 0) return attn_gemm_scalar_table();
#ifdef GEMM_X86
    if (strcmp(name, "avx512") == 0) return attn_gemm_avx512_table();
    if (strcmp(name, "avx2") == 0) return attn_gemm_avx2_table();
#endif
#if defined(__aarch64__)
    if (strcmp(name, "neon") == 0) return attn_gemm_neon_table();
#endif
    return NULL;
}

const attn_gemm_impl *attn_gemm_best(void) {
    const attn_gemm_impl *g = attn_gemm_by_name(attn_kernels_best()->name);
    return g ? g : attn_gemm_scalar_table();
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
void attn_gemm_edge_tile(const attn_gemm_impl *g, attn_tile_args t, int n) {
    float c[ATTN_GEMM_MR_MAX * ATTN_GEMM_NR], bias[ATTN_GEMM_NR] = {0};
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
        attn_tile_args t;
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
        else attn_gemm_edge_tile(x->g, t, n);
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
        attn_gemm_pack_a(apack + (size_t)(i0 / mr) * x->kc * mr,
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

