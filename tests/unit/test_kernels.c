/* test_kernels.c: every SIMD kernel table this CPU runs is compared against the scalar table
 * on random inputs of awkward lengths at unaligned addresses, with guard zones checking that
 * nothing outside [0, n) is written; the scalar table itself is compared against plain
 * double-precision formulas; f16 conversion is checked on all 65536 bit patterns; and the
 * dispatcher is checked: ATTN_SIMD forcing (in forked children, before the first choice),
 * thread-safe choice, and attn_kernels_by_name on unsupported names. */
#include "check.h"
#include "kernels.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const size_t lengths[] = {0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 257, 1000};
#define N_LENGTHS (sizeof lengths / sizeof *lengths)
#define GUARD 16               /* floats of guard zone after each output buffer */
#define SENTINEL 12345.678f
#define N_TRIALS 3             /* random trials per (kernel, length) */

/* ---- random numbers and guarded buffers ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static float uniform(float lo, float hi) {
    return lo + (hi - lo) * (float)((rng_next() >> 40) * (1.0 / 16777216.0));
}

typedef struct {
    float *base;       /* allocation: [off floats][n floats][GUARD floats] */
    float *p;          /* base + off: the unaligned start handed to the kernel */
    size_t n, off;
} guarded;

static guarded guarded_new(size_t n) {
    guarded g;
    g.n = n;
    g.off = rng_next() % 16;
    g.base = malloc((g.off + n + GUARD) * sizeof(float));
    if (!g.base) { perror("malloc"); exit(2); }
    for (size_t i = 0; i < g.off + n + GUARD; i++) g.base[i] = SENTINEL;
    g.p = g.base + g.off;
    return g;
}

static guarded guarded_copy(const guarded *src) {
    guarded g = guarded_new(src->n);
    memcpy(g.p, src->p, src->n * sizeof(float));
    return g;
}

static int guards_intact(const guarded *g) {
    for (size_t i = 0; i < g->off; i++) if (g->base[i] != SENTINEL) return 0;
    for (size_t i = 0; i < GUARD; i++) if (g->p[g->n + i] != SENTINEL) return 0;
    return 1;
}

static void fill_uniform(guarded *g, float lo, float hi) {
    for (size_t i = 0; i < g->n; i++) g->p[i] = uniform(lo, hi);
}

/* ---- error bookkeeping: errors are reported as a fraction of the tolerance ---- */

typedef struct {
    const char *kernel;
    double worst;      /* max |got - want| / tol seen; <= 1 passes */
    double worst_abs;  /* max |got - want| seen */
} error_stat;

static void note_error(error_stat *st, double got, double want, double tol) {
    double diff = fabs(got - want);
    if (isnan(got) != isnan(want)) diff = INFINITY;
    if (isnan(got) && isnan(want)) diff = 0;
    if (got == want) diff = 0;                     /* also covers equal infinities */
    if (diff > st->worst_abs) st->worst_abs = diff;
    if (diff / tol > st->worst) st->worst = diff / tol;
}

static void report(const char *table, const error_stat *st) {
    printf("  %-7s %-11s max |diff| %.3g  (%.3f of tolerance)\n", table, st->kernel, st->worst_abs,
           st->worst);
}

/* ---- SIMD table vs scalar table ---- */

static void compare_dot(const attn_kernels *k, const attn_kernels *s, error_stat *st) {
    for (size_t li = 0; li < N_LENGTHS; li++) for (int t = 0; t < N_TRIALS; t++) {
        size_t n = lengths[li];
        guarded a = guarded_new(n), b = guarded_new(n);
        fill_uniform(&a, -2, 2);
        fill_uniform(&b, -2, 2);
        double mag = 0;
        for (size_t i = 0; i < n; i++) mag += fabs((double)a.p[i] * b.p[i]);
        float got = k->dot(a.p, b.p, n), want = s->dot(a.p, b.p, n);
        double tol = 4 * FLT_EPSILON * mag + FLT_MIN;
        note_error(st, got, want, tol);
        CHECK_MSG(fabs(got - want) <= tol, "%s dot n=%zu: %.9g vs %.9g", k->name, n, got, want);
        free(a.base); free(b.base);
    }
}

/* The elementwise kernels y op= x: add, vmax, scale are exact; axpy may fuse. */
enum { OP_AXPY, OP_ADD, OP_VMAX, OP_SCALE };

static void run_elementwise(const attn_kernels *k, int op, float a, guarded *y, const guarded *x) {
    switch (op) {
    case OP_AXPY: k->axpy(y->p, a, x->p, y->n); break;
    case OP_ADD: k->add(y->p, x->p, y->n); break;
    case OP_VMAX: k->vmax(y->p, x->p, y->n); break;
    default: k->scale(y->p, a, y->n); break;
    }
}

static void compare_elementwise(const attn_kernels *k, const attn_kernels *s, int op,
                                error_stat *st) {
    for (size_t li = 0; li < N_LENGTHS; li++) for (int t = 0; t < N_TRIALS; t++) {
        size_t n = lengths[li];
        guarded x = guarded_new(n), y = guarded_new(n);
        fill_uniform(&x, -100, 100);
        fill_uniform(&y, -100, 100);
        float a = uniform(-3, 3);
        guarded y_ref = guarded_copy(&y);
        run_elementwise(k, op, a, &y, &x);
        run_elementwise(s, op, a, &y_ref, &x);
        int ok = guards_intact(&y);
        for (size_t i = 0; i < n; i++) {
            double tol = op == OP_AXPY ? 2 * FLT_EPSILON * (fabs(y_ref.p[i]) + fabs(a * x.p[i])) : 0;
            note_error(st, y.p[i], y_ref.p[i], tol + FLT_MIN);
            if (fabs(y.p[i] - y_ref.p[i]) > tol) ok = 0;
        }
        CHECK_MSG(ok, "%s %s n=%zu", k->name, st->kernel, n);
        free(x.base); free(y.base); free(y_ref.base);
    }
}

/* Rows of softmax inputs: random in [-range, 0] or [-10, 10], a fifth masked with -inf. */
static void fill_softmax_row(guarded *x, float lo, float hi, int with_mask) {
    fill_uniform(x, lo, hi);
    if (with_mask)
        for (size_t i = 0; i < x->n; i++) if (rng_next() % 5 == 0) x->p[i] = -INFINITY;
}

static int softmax_agrees(const attn_kernels *k, const attn_kernels *s, guarded *x,
                          error_stat *st) {
    guarded ref = guarded_copy(x);
    float lse = k->softmax(x->p, x->n), lse_ref = s->softmax(ref.p, ref.n);
    int ok = guards_intact(x);
    for (size_t i = 0; i < x->n; i++) {
        double tol = 1e-5 * ref.p[i] + FLT_MIN;
        note_error(st, x->p[i], ref.p[i], tol);
        if (!(fabs(x->p[i] - ref.p[i]) <= tol)) ok = 0;
    }
    if (isinf(lse_ref)) ok = ok && lse == lse_ref;
    else ok = ok && fabs(lse - lse_ref) <= 1e-5 * (1 + fabs(lse_ref));
    free(ref.base);
    return ok;
}

static void compare_softmax(const attn_kernels *k, const attn_kernels *s, error_stat *st) {
    static const float ranges[][2] = {{-10, 10}, {-80, 0}, {-200, 0}, {1000, 1030}};
    for (size_t li = 0; li < N_LENGTHS; li++) for (size_t r = 0; r < 4; r++) {
        size_t n = lengths[li];
        guarded x = guarded_new(n);
        fill_softmax_row(&x, ranges[r][0], ranges[r][1], r == 0);
        CHECK_MSG(softmax_agrees(k, s, &x, st), "%s softmax n=%zu range %g..%g", k->name, n,
                  ranges[r][0], ranges[r][1]);
        free(x.base);
    }
}

static void compare_layernorm(const attn_kernels *k, const attn_kernels *s, error_stat *st) {
    for (size_t li = 0; li < N_LENGTHS; li++) for (int t = 0; t < N_TRIALS; t++) {
        size_t n = lengths[li];
        guarded x = guarded_new(n), g = guarded_new(n), b = guarded_new(n);
        guarded out = guarded_new(n), ref = guarded_new(n);
        float centre = uniform(-5, 5), spread = uniform(0.1f, 4);
        fill_uniform(&x, centre - spread, centre + spread);
        fill_uniform(&g, 0.5f, 1.5f);
        fill_uniform(&b, -1, 1);
        k->layernorm(out.p, x.p, g.p, b.p, n, 1e-5f);
        s->layernorm(ref.p, x.p, g.p, b.p, n, 1e-5f);
        guarded in_place = guarded_copy(&x);    /* out == x is allowed */
        k->layernorm(in_place.p, in_place.p, g.p, b.p, n, 1e-5f);
        int ok = guards_intact(&out) && guards_intact(&in_place);
        for (size_t i = 0; i < n; i++) {
            double tol = 1e-5 * (fabs(ref.p[i] - b.p[i]) + fabs(b.p[i]) + 1);
            note_error(st, out.p[i], ref.p[i], tol);
            if (!(fabs(out.p[i] - ref.p[i]) <= tol)) ok = 0;
            if (in_place.p[i] != out.p[i]) ok = 0;
        }
        CHECK_MSG(ok, "%s layernorm n=%zu", k->name, n);
        free(x.base); free(g.base); free(b.base); free(out.base); free(ref.base); free(in_place.base);
    }
}

/* exp(-2u) carries the rounding of its argument: allow a few ulp times |2u| + 1. */
static double gelu_tolerance(float x, float want) {
    double two_u = 2 * 0.7978845608 * fabs(x + 0.044715 * (double)x * x * x);
    return (8 + 2 * fmin(two_u, 200)) * FLT_EPSILON * fabs(want) + FLT_MIN;
}

static int gelu_agrees(const attn_kernels *k, const attn_kernels *s, guarded *x, error_stat *st) {
    guarded ref = guarded_copy(x), in = guarded_copy(x);
    k->gelu(x->p, x->n);
    s->gelu(ref.p, ref.n);
    int ok = guards_intact(x);
    for (size_t i = 0; i < x->n; i++) {
        double tol = gelu_tolerance(in.p[i], ref.p[i]);
        note_error(st, x->p[i], ref.p[i], tol);
        if (x->p[i] == ref.p[i]) continue;                 /* also equal infinities */
        if (isnan(ref.p[i]) ? !isnan(x->p[i]) : !(fabs(x->p[i] - ref.p[i]) <= tol)) ok = 0;
    }
    free(ref.base); free(in.base);
    return ok;
}

static void compare_gelu(const attn_kernels *k, const attn_kernels *s, error_stat *st) {
    for (size_t li = 0; li < N_LENGTHS; li++) for (int t = 0; t < N_TRIALS; t++) {
        guarded x = guarded_new(lengths[li]);
        fill_uniform(&x, t == 0 ? -12 : -4, t == 0 ? 12 : 4);
        CHECK_MSG(gelu_agrees(k, s, &x, st), "%s gelu n=%zu", k->name, lengths[li]);
        free(x.base);
    }
    static const float extremes[] = {INFINITY, -INFINITY, FLT_MAX, -FLT_MAX, 1e30f, -1e30f,
                                     100, -100, 88, -88, 10.5f, -9.99f, -10, -10.01f, 1e-30f,
                                     -1e-30f, 0.0f, -0.0f, FLT_MIN, NAN, 5, -5, 3, -3};
    size_t n = sizeof extremes / sizeof *extremes;
    guarded x = guarded_new(n);
    memcpy(x.p, extremes, sizeof extremes);
    CHECK_MSG(gelu_agrees(k, s, &x, st), "%s gelu extremes", k->name);
    free(x.base);
}

static void compare_matvec(const attn_kernels *k, const attn_kernels *s, error_stat *st) {
    static const size_t row_counts[] = {0, 1, 3, 4, 5, 9, 33};
    for (size_t ri = 0; ri < sizeof row_counts / sizeof *row_counts; ri++)
        for (size_t li = 0; li < N_LENGTHS; li++) for (int with_bias = 0; with_bias < 2; with_bias++) {
            size_t rows = row_counts[ri], cols = lengths[li];
            guarded Wm = guarded_new(rows * cols), x = guarded_new(cols), b = guarded_new(rows);
            guarded y = guarded_new(rows), ref = guarded_new(rows);
            fill_uniform(&Wm, -1, 1);
            fill_uniform(&x, -1, 1);
            fill_uniform(&b, -1, 1);
            const float *bias = with_bias ? b.p : NULL;
            k->matvec(y.p, Wm.p, x.p, bias, rows, cols);
            s->matvec(ref.p, Wm.p, x.p, bias, rows, cols);
            int ok = guards_intact(&y);
            for (size_t r = 0; r < rows; r++) {
                double mag = fabs(bias ? bias[r] : 0);
                for (size_t c = 0; c < cols; c++) mag += fabs((double)Wm.p[r * cols + c] * x.p[c]);
                double tol = 4 * FLT_EPSILON * mag + FLT_MIN;
                note_error(st, y.p[r], ref.p[r], tol);
                if (!(fabs(y.p[r] - ref.p[r]) <= tol)) ok = 0;
            }
            CHECK_MSG(ok, "%s matvec %zux%zu bias=%d", k->name, rows, cols, with_bias);
            free(Wm.base); free(x.base); free(b.base); free(y.base); free(ref.base);
        }
}

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* All 65536 halves, bit for bit (NaN: both NaN with the same sign), at an odd address, with
 * short calls for every tail length as well. */
static void compare_f16(const attn_kernels *k, const attn_kernels *s, error_stat *st) {
    enum { ALL = 65536 };
    uint16_t *in = malloc((ALL + 1) * sizeof *in);
    float *got = malloc((ALL + 1 + GUARD) * sizeof *got), *want = malloc(ALL * sizeof *want);
    if (!in || !got || !want) { perror("malloc"); exit(2); }
    for (uint32_t i = 0; i < ALL; i++) in[i + 1] = (uint16_t)i;
    for (int i = 0; i < GUARD; i++) got[ALL + 1 + i] = SENTINEL;
    k->f16_to_f32(got + 1, in + 1, ALL);
    s->f16_to_f32(want, in + 1, ALL);
    size_t bad = 0;
    for (uint32_t i = 0; i < ALL; i++) {
        int same = isnan(want[i]) ? isnan(got[i + 1]) && !signbit(got[i + 1]) == !signbit(want[i])
                                  : float_bits(got[i + 1]) == float_bits(want[i]);
        if (!same) bad++;
        note_error(st, got[i + 1], want[i], FLT_MIN);
    }
    int guard_ok = 1;
    for (int i = 0; i < GUARD; i++) guard_ok = guard_ok && got[ALL + 1 + i] == SENTINEL;
    CHECK_MSG(bad == 0 && guard_ok, "%s f16: %zu of 65536 patterns differ", k->name, bad);
    for (size_t n = 0; n <= 40; n++) {
        for (size_t i = 0; i < GUARD; i++) got[n + i] = SENTINEL;
        size_t start = rng_next() % (ALL - 64);
        k->f16_to_f32(got, in + 1 + start, n);
        int ok = 1;
        for (size_t i = 0; i < n; i++)
            ok = ok && (isnan(want[start + i]) ? isnan(got[i]) : got[i] == want[start + i]);
        for (size_t i = 0; i < GUARD; i++) ok = ok && got[n + i] == SENTINEL;
        CHECK_MSG(ok, "%s f16 tail n=%zu", k->name, n);
    }
    free(in); free(got); free(want);
}

/* q4 groups: every byte value in every position, random scales (negative, tiny, huge, zero),
 * 0..9 groups at odd addresses, bit for bit against the scalar table, nothing written past the
 * last group. */
static void compare_q4(const attn_kernels *k, const attn_kernels *s) {
    enum { MAX_GROUPS = 9, GROUP = ATTN_KERNELS_Q4_GROUP };
    uint8_t q[MAX_GROUPS * GROUP / 2 + 1];
    float scales[MAX_GROUPS + 1], got[MAX_GROUPS * GROUP + 1 + GUARD], want[MAX_GROUPS * GROUP];
    const float special[] = {0.0f, -1.0f, 1e-30f, 3e30f, -0.0f};
    for (int round = 0; round < 64; round++) {
        for (size_t i = 0; i < sizeof q; i++) q[i] = (uint8_t)(round * 37 + i * 11 + rng_next());
        for (int g = 0; g <= MAX_GROUPS; g++)
            scales[g] = g < 5 && round % 8 == 0 ? special[g] : uniform(-2.0f, 2.0f);
        for (size_t groups = 0; groups <= MAX_GROUPS; groups++) {
            const size_t n = groups * GROUP;
            for (int i = 0; i < GUARD; i++) got[1 + n + i] = SENTINEL;
            k->q4_to_f32(got + 1, q + 1, scales + 1, groups);
            s->q4_to_f32(want, q + 1, scales + 1, groups);
            int ok = 1;
            for (size_t i = 0; i < n; i++) ok = ok && float_bits(got[1 + i]) == float_bits(want[i]);
            for (int i = 0; i < GUARD; i++) ok = ok && got[1 + n + i] == SENTINEL;
            CHECK_MSG(ok, "%s q4_to_f32: %zu groups, round %d", k->name, groups, round);
        }
    }
}

static void compare_tables(const attn_kernels *k, const attn_kernels *s) {
    error_stat stats[] = {{"dot", 0, 0}, {"axpy", 0, 0}, {"add", 0, 0}, {"vmax", 0, 0},
                          {"scale", 0, 0}, {"softmax", 0, 0}, {"layernorm", 0, 0},
                          {"gelu", 0, 0}, {"matvec", 0, 0}, {"f16_to_f32", 0, 0}};
    compare_dot(k, s, &stats[0]);
    compare_elementwise(k, s, OP_AXPY, &stats[1]);
    compare_elementwise(k, s, OP_ADD, &stats[2]);
    compare_elementwise(k, s, OP_VMAX, &stats[3]);
    compare_elementwise(k, s, OP_SCALE, &stats[4]);
    compare_softmax(k, s, &stats[5]);
    compare_layernorm(k, s, &stats[6]);
    compare_gelu(k, s, &stats[7]);
    compare_matvec(k, s, &stats[8]);
    compare_f16(k, s, &stats[9]);
    compare_q4(k, s);
    printf("%s vs scalar:\n", k->name);
    for (size_t i = 0; i < sizeof stats / sizeof *stats; i++) report(k->name, &stats[i]);
}

/* ---- conventions every table must follow exactly ---- */

static void check_softmax_conventions(const attn_kernels *k) {
    float empty[1] = {SENTINEL};
    CHECK(k->softmax(empty, 0) == -INFINITY && empty[0] == SENTINEL);

    float all_masked[5] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    CHECK(k->softmax(all_masked, 5) == -INFINITY);
    for (int i = 0; i < 5; i++) CHECK_NEAR(all_masked[i], 0.2, 1e-7);

    /* masked entries become exactly 0; the rest is softmax([0, ln 3]) = [1/4, 3/4] */
    float masked[19];
    for (int i = 0; i < 19; i++) masked[i] = -INFINITY;
    masked[2] = 0.0f;
    masked[17] = logf(3.0f);
    float lse = k->softmax(masked, 19);
    CHECK_NEAR(lse, log(4.0), 1e-6);
    CHECK_NEAR(masked[2], 0.25, 1e-7);
    CHECK_NEAR(masked[17], 0.75, 1e-7);
    int zeros = 1;
    for (int i = 0; i < 19; i++) if (i != 2 && i != 17) zeros = zeros && masked[i] == 0.0f;
    CHECK_MSG(zeros, "%s: masked entries must be exactly 0", k->name);

    /* huge spreads: no overflow, no NaN */
    float huge[3] = {1e30f, -1e30f, 0.0f};
    CHECK_NEAR(k->softmax(huge, 3), 1e30, 1e24);
    CHECK(huge[0] == 1.0f && huge[1] == 0.0f && huge[2] == 0.0f);
}

static void check_gelu_conventions(const attn_kernels *k) {
    float x[6] = {-INFINITY, INFINITY, -1e30f, 1e30f, 0.0f, -11.0f};
    k->gelu(x, 6);
    CHECK(x[0] == 0.0f && x[1] == INFINITY && x[2] == 0.0f && x[3] == 1e30f && x[4] == 0.0f);
    CHECK(x[5] == 0.0f);
}

/* exp through softmax([0, x]) = [1 - p, p], p = e^x / (1 + e^x): in ulps of p, which also
 * carries the rounding of the sum and of the scaling by 1/sum. */
static void check_exp_accuracy(const attn_kernels *k) {
    double worst_ulps = 0;
    for (int i = 0; i < 4000; i++) {
        float x = i < 3000 ? uniform(-87.0f, 0.0f) : uniform(-1.0f, 0.0f);
        float row[2] = {0.0f, x};
        k->softmax(row, 2);
        double want = exp((double)x) / (1 + exp((double)x));
        double ulp = nextafterf((float)want, INFINITY) - (float)want;
        double ulps = fabs(row[1] - want) / ulp;
        if (ulps > worst_ulps) worst_ulps = ulps;
    }
    printf("  %-7s exp (via softmax of [0, x], x in [-87, 0]): max error %.2f ulp\n", k->name, worst_ulps);
    CHECK_MSG(worst_ulps <= 6, "%s exp: %.2f ulp", k->name, worst_ulps);
}

/* ---- scalar table vs textbook double-precision formulas ---- */

static double half_reference(uint16_t h) {
    int sign = h >> 15, exponent = (h >> 10) & 31, mantissa = h & 1023;
    double v;
    if (exponent == 31) v = mantissa ? NAN : INFINITY;
    else if (exponent == 0) v = ldexp(mantissa, -24);
    else v = ldexp(1024 + mantissa, exponent - 25);
    return sign ? -v : v;
}

static void check_scalar_against_formulas(const attn_kernels *s) {
    error_stat st = {"formulas", 0, 0};
    for (size_t li = 0; li < N_LENGTHS; li++) {
        size_t n = lengths[li];
        guarded a = guarded_new(n), b = guarded_new(n), g = guarded_new(n), y = guarded_new(n);
        fill_uniform(&a, -3, 3);
        fill_uniform(&b, -3, 3);
        fill_uniform(&g, 0.5f, 2);

        double dot = 0, mag = 0;
        for (size_t i = 0; i < n; i++) { dot += (double)a.p[i] * b.p[i]; mag += fabs((double)a.p[i] * b.p[i]); }
        CHECK_NEAR(s->dot(a.p, b.p, n), dot, FLT_EPSILON * mag + FLT_MIN);

        double max = -INFINITY, sum = 0;
        for (size_t i = 0; i < n; i++) max = fmax(max, a.p[i]);
        for (size_t i = 0; i < n; i++) sum += exp(a.p[i] - max);
        memcpy(y.p, a.p, n * sizeof(float));
        float lse = s->softmax(y.p, n);
        int ok = n == 0 ? lse == -INFINITY : fabs(lse - (max + log(sum))) <= 1e-6 * (1 + fabs(max));
        for (size_t i = 0; i < n; i++) {
            double p = exp(a.p[i] - max) / sum;
            note_error(&st, y.p[i], p, 4 * FLT_EPSILON * p);
            ok = ok && fabs(y.p[i] - p) <= 4 * FLT_EPSILON * p;
        }
        CHECK_MSG(ok, "scalar softmax vs formula n=%zu", n);

        double mean = 0, var = 0;
        for (size_t i = 0; i < n; i++) mean += a.p[i];
        mean /= n ? (double)n : 1;
        for (size_t i = 0; i < n; i++) var += (a.p[i] - mean) * (a.p[i] - mean);
        var /= n ? (double)n : 1;
        s->layernorm(y.p, a.p, g.p, b.p, n, 1e-5f);
        ok = guards_intact(&y);
        for (size_t i = 0; i < n; i++) {
            double want = (a.p[i] - mean) / sqrt(var + 1e-5) * g.p[i] + b.p[i];
            ok = ok && fabs(y.p[i] - want) <= 4 * FLT_EPSILON * (fabs(want) + fabs(b.p[i]) + 1);
        }
        CHECK_MSG(ok, "scalar layernorm vs formula n=%zu", n);

        fill_uniform(&a, -12, 12);
        memcpy(y.p, a.p, n * sizeof(float));
        s->gelu(y.p, n);
        ok = 1;
        for (size_t i = 0; i < n; i++) {
            double v = a.p[i], want = 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
            ok = ok && fabs(y.p[i] - want) <= 2 * FLT_EPSILON * fabs(want) + 1e-14;
        }
        CHECK_MSG(ok, "scalar gelu vs tanh formula n=%zu", n);
        free(a.base); free(b.base); free(g.base); free(y.base);
    }
    size_t bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t in = (uint16_t)h;
        float out;
        s->f16_to_f32(&out, &in, 1);
        double want = half_reference(in);
        if (isnan(want) ? !isnan(out) : (double)out != want || !signbit(out) != !signbit(want)) bad++;
    }
    CHECK_MSG(bad == 0, "scalar f16: %zu patterns wrong", bad);
    /* q4: byte j of a group holds value 2j (low nibble) and 2j + 1 (high), two's complement. */
    bad = 0;
    for (int byte = 0; byte < 256; byte++) {
        uint8_t group[ATTN_KERNELS_Q4_GROUP / 2] = {0};
        const int j = byte % (ATTN_KERNELS_Q4_GROUP / 2);
        group[j] = (uint8_t)byte;
        const float scale = -0.75f;
        float out[ATTN_KERNELS_Q4_GROUP];
        s->q4_to_f32(out, group, &scale, 1);
        const int lo = byte & 15, hi = byte >> 4;
        for (int i = 0; i < ATTN_KERNELS_Q4_GROUP; i++) {
            const int v = i == 2 * j ? (lo < 8 ? lo : lo - 16)
                        : i == 2 * j + 1 ? (hi < 8 ? hi : hi - 16) : 0;
            if (out[i] != (float)v * scale) bad++;
        }
    }
    CHECK_MSG(bad == 0, "scalar q4: %zu values wrong", bad);
    printf("scalar vs double formulas: softmax max |diff| %.3g (%.3f of tolerance)\n", st.worst_abs,
           st.worst);
}

/* ---- dispatch ---- */

static const char *best_name_expected(void) {
    static const char *const order[] = {"avx512", "avx2", "neon", "scalar"};
    for (int i = 0; i < 4; i++) if (attn_kernels_by_name(order[i])) return order[i];
    return "?";
}

/* In a fresh child (the choice is made on the first call): ATTN_SIMD=value must give table
 * `want` (NULL: the best available). */
static int forced_choice_is(const char *value, const char *want) {
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        setenv("ATTN_SIMD", value, 1);
        const char *got = attn_kernels_best()->name;
        _exit(strcmp(got, want ? want : best_name_expected()) == 0 ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void *best_in_thread(void *arg) {
    (void)arg;
    return (void *)attn_kernels_best();
}

/* Eight threads racing for the first choice all get the same table. */
static int concurrent_first_choice_agrees(void) {
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        pthread_t threads[8];
        void *got[8];
        for (int i = 0; i < 8; i++) pthread_create(&threads[i], NULL, best_in_thread, NULL);
        for (int i = 0; i < 8; i++) pthread_join(threads[i], &got[i]);
        int same = 1;
        for (int i = 0; i < 8; i++) same = same && got[i] == (void *)attn_kernels_best();
        _exit(same ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void check_dispatch_before_first_use(void) {
    CHECK(forced_choice_is("scalar", "scalar"));
    CHECK(forced_choice_is("no-such-level", NULL));
    CHECK(forced_choice_is("", NULL));
#if defined(__x86_64__)
    CHECK(forced_choice_is("neon", NULL));      /* not on this CPU: the best instead */
#endif
    CHECK(concurrent_first_choice_agrees());
}

static void check_dispatch(void) {
    CHECK(attn_kernels_scalar() != NULL && strcmp(attn_kernels_scalar()->name, "scalar") == 0);
    CHECK(attn_kernels_by_name("scalar") == attn_kernels_scalar());
    CHECK(attn_kernels_by_name(NULL) == NULL);
    CHECK(attn_kernels_by_name("") == NULL);
    CHECK(attn_kernels_by_name("AVX2") == NULL);
    CHECK(attn_kernels_by_name("sse2") == NULL);
    CHECK(attn_kernels_by_name("avx512x") == NULL);
    const char *env = getenv("ATTN_SIMD");
    if (!env || !*env) CHECK(strcmp(attn_kernels_best()->name, best_name_expected()) == 0);
    const char *features = attn_cpu_features();
    CHECK(features != NULL);
#if defined(__x86_64__)
    CHECK(attn_kernels_by_name("neon") == NULL);
    if (attn_kernels_by_name("avx512")) CHECK(strstr(features, "avx512f") && strstr(features, "avx512bw"));
    if (attn_kernels_by_name("avx2")) CHECK(strstr(features, "avx2") && strstr(features, "fma"));
    if (attn_kernels_by_name("avx512")) CHECK(attn_kernels_by_name("avx2") != NULL);
#elif defined(__aarch64__)
    CHECK(attn_kernels_by_name("avx2") == NULL && attn_kernels_by_name("avx512") == NULL);
    CHECK(attn_kernels_by_name("neon") != NULL);
#endif
    static const char *const names[] = {"scalar", "avx2", "avx512", "neon"};
    for (int i = 0; i < 4; i++) {
        const attn_kernels *k = attn_kernels_by_name(names[i]);
        if (k) CHECK(strcmp(k->name, names[i]) == 0);
    }
    printf("cpu features: %s\nbest table: %s\n", features, attn_kernels_best()->name);
}

int main(void) {
    check_dispatch_before_first_use();   /* must run before anything makes the choice here */
    check_dispatch();
    const attn_kernels *scalar = attn_kernels_scalar();
    check_scalar_against_formulas(scalar);
    check_softmax_conventions(scalar);
    check_gelu_conventions(scalar);
    check_exp_accuracy(scalar);
    static const char *const simd[] = {"avx2", "avx512", "neon"};
    printf("tables tested against scalar:");
    for (int i = 0; i < 3; i++) if (attn_kernels_by_name(simd[i])) printf(" %s", simd[i]);
    printf("\n");
    for (int i = 0; i < 3; i++) {
        const attn_kernels *k = attn_kernels_by_name(simd[i]);
        if (!k) continue;
        compare_tables(k, scalar);
        check_softmax_conventions(k);
        check_gelu_conventions(k);
        check_exp_accuracy(k);
    }
    return CHECK_DONE();
}
