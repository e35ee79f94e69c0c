/* peak_fma: this machine's fp32 FMA peak, measured. Each thread runs chains of independent
 * vector FMAs (enough accumulators to cover the FMA latency on every port), so the figure is
 * the throughput limit of the FMA units, the ceiling any GEMM can reach.
 *
 *   peak_fma [threads]     prints one line per ISA: "avx512 threads=N gflops=X per_core=Y"
 *
 * Counted as 2 flops per lane per FMA. The ISA code is compiled with target attributes and run
 * only after __builtin_cpu_supports says the CPU has it. */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"      /* attn_now_seconds */

#define ACCUMULATORS 12          /* independent chains: > latency (4) x ports (2) */
#define ITERATIONS 20000000L     /* FMAs per chain per timed run */
#define REPEATS 5                /* runs per thread; the best one counts */
#define MAX_THREADS 64

/* Returns the flops done; the sum is stored so the loop cannot be removed. */
__attribute__((target("avx512f,fma")))
static double fma_avx512(float *sink) {
    __m512 acc[ACCUMULATORS];
    const __m512 a = _mm512_set1_ps(0.9999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < ACCUMULATORS; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long n = 0; n < ITERATIONS; n++)
#pragma GCC unroll 16
        for (int i = 0; i < ACCUMULATORS; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    __m512 s = acc[0];
    for (int i = 1; i < ACCUMULATORS; i++) s = _mm512_add_ps(s, acc[i]);
    *sink = _mm512_reduce_add_ps(s);
    return 2.0 * 16 * ACCUMULATORS * (double)ITERATIONS;
}

__attribute__((target("avx2,fma")))
static double fma_avx2(float *sink) {
    __m256 acc[ACCUMULATORS];
    const __m256 a = _mm256_set1_ps(0.9999999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < ACCUMULATORS; i++) acc[i] = _mm256_set1_ps((float)i);
    for (long n = 0; n < ITERATIONS; n++)
#pragma GCC unroll 16
        for (int i = 0; i < ACCUMULATORS; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    __m256 s = acc[0];
    for (int i = 1; i < ACCUMULATORS; i++) s = _mm256_add_ps(s, acc[i]);
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    *sink = lanes[0] + lanes[7];
    return 2.0 * 8 * ACCUMULATORS * (double)ITERATIONS;
}

typedef double (*fma_fn)(float *sink);

typedef struct worker {
    pthread_t tid;
    fma_fn fn;
    double gflops;              /* best of REPEATS */
    float sink;
} worker;

static void *run_worker(void *arg) {
    worker *w = arg;
    w->gflops = 0.0;
    for (int r = 0; r < REPEATS; r++) {
        double t0 = attn_now_seconds();
        double flops = w->fn(&w->sink);
        double g = flops / (attn_now_seconds() - t0) / 1e9;
        if (g > w->gflops) w->gflops = g;
    }
    return NULL;
}

/* All threads at once; returns the summed GFLOP/s. */
static double measure(fma_fn fn, int threads) {
    worker w[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        w[i].fn = fn;
        if (pthread_create(&w[i].tid, NULL, run_worker, &w[i])) {
            fprintf(stderr, "peak_fma: pthread_create failed\n");
            exit(1);
        }
    }
    double total = 0.0;
    for (int i = 0; i < threads; i++) {
        pthread_join(w[i].tid, NULL);
        total += w[i].gflops;
    }
    return total;
}

static void report(const char *isa, fma_fn fn, int threads) {
    double g = measure(fn, threads);
    printf("%s threads=%d gflops=%.1f per_core=%.1f\n", isa, threads, g, g / threads);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (threads < 1 || threads > MAX_THREADS) {
        fprintf(stderr, "usage: peak_fma [threads 1..%d]\n", MAX_THREADS);
        return 1;
    }
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) report("avx512", fma_avx512, threads);
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        report("avx2", fma_avx2, threads);
    return 0;
}
