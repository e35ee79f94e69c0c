/* kernels.h: the small vector kernels of the engine, with run-time CPU dispatch.
 *
 * Big matrix products go through OpenBLAS cblas_sgemm; everything elementwise or row-wise goes
 * through one of these tables. Each SIMD table (AVX-512, AVX2+FMA, NEON) has the plain C table
 * as its twin, and tests/unit/test_kernels.c compares them on random inputs of awkward lengths.
 * The SIMD level is chosen when the extension runs, from the CPU it runs on (cpuid), never from
 * the machine that built it: each SIMD table is a file of its own, compiled with the flags of
 * its ISA and only called after the CPU check (model/isa.h: the layout and the check).
 *
 * All pointers may be unaligned. n may be 0. Results agree with the scalar table to about
 * 1e-6 relative (exp/tanh are polynomial approximations accurate to a few ulp). */
#ifndef ATTN_KERNELS_H
#define ATTN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* GELU, tanh form, computed as x * sigmoid(2u) = x / (1 + exp(-2u)) with
 * u = sqrt(2/pi) (x + 0.044715 x^3): the same function (0.5 (1 + tanh u) = sigmoid(2u)),
 * but without the cancellation of 1 + tanh(u) for negative x, and needing only exp. */
#define ATTN_GELU_K0     0.7978845608028654f  /* sqrt(2/pi) */
#define ATTN_GELU_K1     0.044715f
/* Below this, |GELU(x)| < 2e-37: every table returns exactly 0 (and 0 for -inf, not NaN). */
#define ATTN_GELU_NEG_CUTOFF (-10.0f)

typedef struct attn_kernels {
    const char *name;   /* "avx512", "avx2", "neon", "scalar" */
    float (*dot)(const float *a, const float *b, size_t n);
    void (*axpy)(float *y, float a, const float *x, size_t n);      /* y += a x */
    void (*add)(float *y, const float *x, size_t n);                /* y += x */
    void (*vmax)(float *y, const float *x, size_t n);               /* y = max(y, x) */
    void (*scale)(float *y, float a, size_t n);                     /* y *= a */
    /* In place: x = softmax(x). Returns log(sum(exp(x))) of the input (log-partition). */
    float (*softmax)(float *x, size_t n);
    /* out = (x - mean) / sqrt(var + eps) * g + b over n values (biased variance).
     * out may equal x. */
    void (*layernorm)(float *out, const float *x, const float *g, const float *b,
                      size_t n, float eps);
    /* In place GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
    void (*gelu)(float *x, size_t n);
    /* y[r] = dot(W[r, :], x) + (b ? b[r] : 0), W [rows, cols] row-major. */
    void (*matvec)(float *y, const float *W, const float *x, const float *b,
                   size_t rows, size_t cols);
    /* IEEE half -> float (denormals, inf and NaN preserved). */
    void (*f16_to_f32)(float *out, const uint16_t *in, size_t n);
    /* q4 -> float for whole groups of ATTN_KERNELS_Q4_GROUP values: out[32 g + i] =
     * nibble(g, i) * scales[g], where group g is the 16 bytes q[16 g ..], value 2j in the low
     * nibble of byte j and 2j + 1 in its high one, each a signed 4-bit integer (8..15 are
     * -8..-1). The products are exact float(int) * scale, the same in every table. */
    void (*q4_to_f32)(float *out, const uint8_t *q, const float *scales, size_t groups);
} attn_kernels;

#define ATTN_KERNELS_Q4_GROUP 32   /* values per q4 scale (model.h's ATTN_Q4_GROUP) */

/* The best table for this CPU, chosen once (thread-safe). The environment variable
 * ATTN_SIMD=scalar|avx2|avx512|neon forces a lower level (never a higher one than the CPU has). */
const attn_kernels *attn_kernels_best(void);
const attn_kernels *attn_kernels_scalar(void);
/* The table of that name if this build has it and this CPU runs it, else NULL. */
const attn_kernels *attn_kernels_by_name(const char *name);
/* CPU features seen, for attn_debug(): e.g. "avx512f avx512bw avx2 fma f16c". */
const char *attn_cpu_features(void);
/* What the int8 kernels (qgemm.c) need to know beyond the level: cpuid's AVX-512 VNNI, and
 * AMX-TILE + AMX-INT8 with the OS saving the tile state (XCR0). 0 off x86. */
int attn_cpu_has_vnni(void);
int attn_cpu_has_amx_int8(void);

#endif
