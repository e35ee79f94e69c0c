/* bench_kernels.c: ns per call of every kernel in every table this CPU runs, for n = 256 and
 * n = 1024, side by side; the CPU features, OpenBLAS's core name, and the fp32 FMA peak of one
 * core (independent FMA chains, AVX-512 and AVX2), and the packed GEMM of gemm.h beside
 * cblas_sgemm at the encoder's shapes in GFLOP/s. Numbers only: no pass/fail (the machine is
 * shared and noisy).
 *
 *   make build/rel/bench/bench_kernels && build/rel/bench/bench_kernels */
#include "common.h"
#include "gemm.h"
#include "kernels.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define MIN_SECONDS 0.02     /* per measurement; the best of REPEATS is kept */
#define REPEATS 3
#define MATVEC_ROWS 64
#define MAX_TABLES 4

typedef struct {
    size_t n;
    float *a, *b, *y, *g, *bias, *Wm, *src;   /* src: pristine input for in-place kernels */
    uint16_t *half;
} bench_data;

static float sink;   /* keeps results alive */

/* One call of kernel `which` on n values; in-place kernels first restore their input. */
static void call_kernel(const attn_kernels *k, int which, bench_data *d) {
    size_t n = d->n;
    switch (which) {
    case 0: sink += k->dot(d->a, d->b, n); break;
    case 1: k->axpy(d->y, 1e-3f, d->a, n); break;
    case 2: k->add(d->y, d->a, n); break;
    case 3: k->vmax(d->y, d->a, n); break;
    case 4: k->scale(d->y, 1.0f, n); break;
    case 5: memcpy(d->y, d->src, n * sizeof(float)); sink += k->softmax(d->y, n); break;
    case 6: k->layernorm(d->y, d->a, d->g, d->bias, n, 1e-5f); break;
    case 7: memcpy(d->y, d->src, n * sizeof(float)); k->gelu(d->y, n); break;
    case 8: k->matvec(d->y, d->Wm, d->a, d->bias, MATVEC_ROWS, n); break;
    case 9: k->f16_to_f32(d->y, d->half, n); break;
    default: memcpy(d->y, d->src, n * sizeof(float)); break;   /* the copy, to subtract */
    }
}

static const char *const kernel_names[] = {"dot", "axpy", "add", "vmax", "scale", "softmax*",
                                           "layernorm", "gelu*", "matvec 64xn", "f16_to_f32"};
#define N_KERNELS 10
#define COPY_ONLY 10

static double ns_per_call(const attn_kernels *k, int which, bench_data *d) {
    double best = 1e30;
    for (int rep = 0; rep < REPEATS; rep++) {
        long calls = 0;
        double start = attn_now_seconds(), elapsed;
        do {
            for (int i = 0; i < 64; i++) call_kernel(k, which, d);
            calls += 64;
            elapsed = attn_now_seconds() - start;
        } while (elapsed < MIN_SECONDS);
        if (elapsed / calls < best) best = elapsed / calls;
    }
    return best * 1e9;
}

static bench_data bench_data_new(size_t n) {
    bench_data d;
    d.n = n;
    float **arrays[] = {&d.a, &d.b, &d.y, &d.g, &d.bias, &d.src};
    for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++) {
        *arrays[i] = malloc(n * sizeof(float));
        if (!*arrays[i]) exit(2);
        for (size_t j = 0; j < n; j++) (*arrays[i])[j] = (float)((rand() % 2001) - 1000) / 500.0f;
    }
    d.Wm = malloc(MATVEC_ROWS * n * sizeof(float));
    d.half = malloc(n * sizeof(uint16_t));
    if (!d.Wm || !d.half) exit(2);
    for (size_t j = 0; j < MATVEC_ROWS * n; j++) d.Wm[j] = (float)(rand() % 100) / 100.0f;
    for (size_t j = 0; j < n; j++) d.half[j] = (uint16_t)(0x3c00 + rand() % 1024);
    return d;
}

static void bench_data_free(bench_data *d) {
    free(d->a); free(d->b); free(d->y); free(d->g); free(d->bias); free(d->src);
    free(d->Wm); free(d->half);
}

static void bench_tables(const attn_kernels **tables, int n_tables, size_t n) {
    bench_data d = bench_data_new(n);
    printf("\nn = %zu (ns per call)\n%-12s", n, "kernel");
    for (int t = 0; t < n_tables; t++) printf(" %10s", tables[t]->name);
    printf("\n");
    double copy_ns = ns_per_call(tables[0], COPY_ONLY, &d);
    for (int which = 0; which < N_KERNELS; which++) {
        printf("%-12s", kernel_names[which]);
        for (int t = 0; t < n_tables; t++) {
            double ns = ns_per_call(tables[t], which, &d);
            if (which == 5 || which == 7) ns -= copy_ns;
            printf(" %10.1f", ns);
        }
        printf("\n");
    }
    printf("(* in place: the %.1f ns memcpy restoring the input is subtracted)\n", copy_ns);
    bench_data_free(&d);
}

/* ---- fp32 FMA peak of one core: CHAINS independent accumulators hide the FMA latency ---- */
#if defined(__x86_64__)
#define CHAINS 12

__attribute__((target("avx512f"))) static double fma_peak_avx512(long iters) {
    __m512 acc[CHAINS];
    __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    for (int j = 0; j < CHAINS; j++) acc[j] = _mm512_set1_ps((float)j);
    double start = attn_now_seconds();
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < CHAINS; j++) acc[j] = _mm512_fmadd_ps(acc[j], m, c);
    double seconds = attn_now_seconds() - start;
    __m512 s = acc[0];
    for (int j = 1; j < CHAINS; j++) s = _mm512_add_ps(s, acc[j]);
    sink += _mm512_reduce_add_ps(s);
    return (double)iters * CHAINS * 16 * 2 / seconds * 1e-9;
}

__attribute__((target("avx2,fma"))) static double fma_peak_avx2(long iters) {
    __m256 acc[CHAINS];
    __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    for (int j = 0; j < CHAINS; j++) acc[j] = _mm256_set1_ps((float)j);
    double start = attn_now_seconds();
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < CHAINS; j++) acc[j] = _mm256_fmadd_ps(acc[j], m, c);
    double seconds = attn_now_seconds() - start;
    float lanes[8];
    __m256 s = acc[0];
    for (int j = 1; j < CHAINS; j++) s = _mm256_add_ps(s, acc[j]);
    _mm256_storeu_ps(lanes, s);
    for (int j = 0; j < 8; j++) sink += lanes[j];
    return (double)iters * CHAINS * 8 * 2 / seconds * 1e-9;
}

static void bench_fma_peak(void) {
    const long iters = 20 * 1000 * 1000;
    printf("\nfp32 FMA peak, one core (%d independent chains):\n", CHAINS);
    if (attn_kernels_by_name("avx512")) {
        double best = 0;
        for (int r = 0; r < REPEATS; r++) { double g = fma_peak_avx512(iters); if (g > best) best = g; }
        printf("  avx512: %7.1f GFLOP/s\n", best);
    }
    if (attn_kernels_by_name("avx2")) {
        double best = 0;
        for (int r = 0; r < REPEATS; r++) { double g = fma_peak_avx2(iters); if (g > best) best = g; }
        printf("  avx2:   %7.1f GFLOP/s\n", best);
    }
}
#else
static void bench_fma_peak(void) {}
#endif

/* ---- packed GEMM vs cblas_sgemm at the encoder's shapes (256/4/4/1024 model) ---------- */

typedef struct gemm_shape { int C, OC; const char *what; } gemm_shape;

/* Best seconds per call of f(ctx) over REPEATS runs of at least MIN_SECONDS. */
static double seconds_per_call(void (*f)(void *), void *ctx) {
    double best = 1e30;
    for (int rep = 0; rep < REPEATS; rep++) {
        long calls = 0;
        double start = attn_now_seconds(), elapsed;
        do { f(ctx); calls++; elapsed = attn_now_seconds() - start; } while (elapsed < MIN_SECONDS);
        if (elapsed / calls < best) best = elapsed / calls;
    }
    return best;
}

typedef struct gemm_ctx {
    const attn_gemm_impl *g;
    attn_gemm_args args;
    const float *a, *w, *bias;
    float *out;
    int T, C, OC;
} gemm_ctx;

static void run_packed(void *p) { gemm_ctx *x = p; attn_gemm(x->g, &x->args); }

static void run_sgemm(void *p) {   /* what attn_matmul_forward does for T > 16 */
    gemm_ctx *x = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, x->T, x->OC, x->C, 1.0f, x->a, x->C,
                x->w, x->C, 0.0f, x->out, x->OC);
}

static void bench_gemm(void) {
    static const gemm_shape shapes[] = { { 256, 768, "qkv" }, { 256, 256, "out" },
                                         { 256, 1024, "up" }, { 1024, 256, "down" } };
    static const int Ts[] = { 8, 32, 128, 512 };
    static const char *const names[] = { "scalar", "avx2", "avx512", "neon" };
    openblas_set_num_threads(1);   /* one thread on both sides */
    printf("\npacked GEMM (bias epilogue) vs cblas_sgemm (openblas core %s), GFLOP/s, 1 thread\n",
           openblas_get_corename());
    printf("%-5s %-5s %5s %5s %10s", "shape", "T", "C", "OC", "sgemm");
    for (int i = 0; i < 4; i++) if (attn_gemm_by_name(names[i])) printf(" %10s", names[i]);
    printf("\n");
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (size_t t = 0; t < sizeof Ts / sizeof *Ts; t++) {
            const int T = Ts[t], C = shapes[s].C, OC = shapes[s].OC;
            float *a = malloc(sizeof(float) * T * C), *w = malloc(sizeof(float) * OC * C);
            float *out = malloc(sizeof(float) * T * OC), *bias = malloc(sizeof(float) * OC);
            float *pk = malloc(sizeof(float) * attn_packed_floats(C, OC));
            if (!a || !w || !out || !bias || !pk) exit(2);
            for (int i = 0; i < T * C; i++) a[i] = (float)(rand() % 200 - 100) / 100.0f;
            for (int i = 0; i < OC * C; i++) w[i] = (float)(rand() % 200 - 100) / 1000.0f;
            for (int i = 0; i < OC; i++) bias[i] = 0.1f;
            attn_pack_rows(pk, w, (size_t)C, OC, C);
            attn_packed B = { pk, C, OC };
            gemm_ctx x = { NULL, { out, (size_t)OC, a, (size_t)C, &B, bias, NULL, 0, 1.0f,
                                   ATTN_EPI_NONE, T }, a, w, bias, out, T, C, OC };
            const double flop = 2.0 * T * C * OC;
            printf("%-5s %-5d %5d %5d %10.1f", shapes[s].what, T, C, OC,
                   flop / seconds_per_call(run_sgemm, &x) * 1e-9);
            for (int i = 0; i < 4; i++) {
                x.g = attn_gemm_by_name(names[i]);
                if (x.g) printf(" %10.1f", flop / seconds_per_call(run_packed, &x) * 1e-9);
            }
            printf("\n");
            free(a); free(w); free(out); free(bias); free(pk);
        }
}

int main(void) {
    static const char *const names[] = {"scalar", "avx2", "avx512", "neon"};
    const attn_kernels *tables[MAX_TABLES];
    int n_tables = 0;
    for (int i = 0; i < MAX_TABLES; i++) {
        const attn_kernels *k = attn_kernels_by_name(names[i]);
        if (k) tables[n_tables++] = k;
    }
    printf("cpu features: %s\nbest table:   %s\nopenblas core: %s\n", attn_cpu_features(),
           attn_kernels_best()->name, openblas_get_corename());
    bench_tables(tables, n_tables, 256);
    bench_tables(tables, n_tables, 1024);
    bench_fma_peak();
    bench_gemm();
    return sink == 12345.0f;   /* practically never; keeps sink observable */
}
