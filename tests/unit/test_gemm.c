/* test_gemm.c: the packed inference GEMM, fused attention and the packed encoder path.
 *   - every GEMM family this CPU runs (plain C, AVX2, AVX-512) against a double-precision
 *     reference and against plain C, on awkward T x C x OC (edge rows and columns), with each
 *     epilogue (none, bias, bias + GELU, bias + residual in place), unaligned pointers, alpha
 *     and K blocking (C > ATTN_GEMM_KC)
 *   - attn_pack_rows / attn_pack_cols lay panels out as gemm.h says, zero past N
 *   - attn_gemm_attention (the encoder's) equals attn_attention_forward and plain C for every
 *     family, on lengths across its 32-query blocks and 12/6/4-key tiles, head widths that are
 *     not multiples of 32, peaky and flat softmaxes, unaligned buffers; its scratch size is
 *     exact enough that a guard float after it survives; NaN inputs stay NaN; and its softmax
 *     weights against double precision over x in [-100, 100] (3e-7 relative: the exp)
 *   - attn_encode after attn_encoder_prepare equals the unprepared (sgemm) path
 *   - int8 linears (ATTN_LINEAR_Q8): attn_linear_forward equals attn_q8_matmul (+ GELU) bit
 *     for bit and stays within attn_q8_error_bound of the f32 product
 *   - the per-model choice: a q4-int8 stored model runs its layers on the int8 kernels with
 *     exactly the stored ints (equal to a reference built from the writer's quantisation),
 *     f16/f32/q8 storage keeps the f32 path (bit-identical to f32 storage of the same values),
 *     and a q8 tensor from a foreign writer (max |q| < 127) is requantised, still int8 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "encoder.h"
#include "attention.h"
#include "gemm.h"
#include "kernels.h"
#include "layers.h"
#include "qgemm.h"
#include "train.h"

static const char *const FAMILIES[] = { "scalar", "avx2", "avx512", "neon" };
#define N_FAMILIES 4

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float frand(void) {   /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static float *rand_floats(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = frand();
    return p;
}

static double gelu_ref(double x) {
    return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

/* ---- GEMM against double precision -------------------------------------------------------- */

typedef struct case_data {
    int T, C, OC;
    float *a, *w, *bias, *init;    /* a[T,C] w[OC,C] bias[OC] init[T,OC] */
    double *dot, *mag;              /* [T,OC]: sum a w, and sum |a w| (error scale) */
} case_data;

static case_data make_case(int T, int C, int OC) {
    case_data d = { T, C, OC, rand_floats((size_t)T * C + 1), rand_floats((size_t)OC * C),
                    rand_floats((size_t)OC + 1), rand_floats((size_t)T * OC + 1),
                    malloc(sizeof(double) * T * OC), malloc(sizeof(double) * T * OC) };
    for (int t = 0; t < T; t++)
        for (int o = 0; o < OC; o++) {
            double s = 0, m = 0;
            for (int c = 0; c < C; c++) {
                double p = (double)d.a[(size_t)t * C + c] * d.w[(size_t)o * C + c];
                s += p;
                m += fabs(p);
            }
            d.dot[(size_t)t * OC + o] = s;
            d.mag[(size_t)t * OC + o] = m;
        }
    return d;
}

static void free_case(case_data *d) {
    free(d->a); free(d->w); free(d->bias); free(d->init); free(d->dot); free(d->mag);
}

enum { EPI_PLAIN, EPI_BIAS, EPI_GELU, EPI_RESIDUAL, N_EPI };
static const char *const EPI_NAMES[] = { "plain (alpha 0.5)", "bias", "bias+gelu",
                                         "bias+residual in place" };

/* Runs one epilogue with family g on unaligned copies (offset 1 float); returns max error
 * over the tolerance (<= 1 passes) and fills out[T,OC]. */
static double run_case(const attn_gemm_impl *g, const case_data *d, int epi, float *out) {
    const int T = d->T, C = d->C, OC = d->OC;
    float *abuf = malloc(sizeof(float) * ((size_t)T * C + 1));
    float *obuf = malloc(sizeof(float) * ((size_t)T * OC + 1));
    float *bbuf = malloc(sizeof(float) * ((size_t)OC + 1));
    float *a = abuf + 1, *o = obuf + 1, *bias = bbuf + 1;
    memcpy(a, d->a, sizeof(float) * T * C);
    memcpy(bias, d->bias, sizeof(float) * OC);
    float *packed = malloc(sizeof(float) * (attn_packed_floats(C, OC) + 1));
    attn_pack_rows(packed + 1, d->w, (size_t)C, OC, C);
    attn_packed B = { packed + 1, C, OC };
    for (size_t i = 0; i < (size_t)T * OC; i++) o[i] = epi == EPI_RESIDUAL ? d->init[i] : NAN;
    attn_gemm_args args = { o, (size_t)OC, a, (size_t)C, &B, epi == EPI_PLAIN ? NULL : bias,
                            epi == EPI_RESIDUAL ? o : NULL, (size_t)OC,
                            epi == EPI_PLAIN ? 0.5f : 1.0f,
                            epi == EPI_GELU ? ATTN_EPI_GELU : ATTN_EPI_NONE, T };
    attn_gemm(g, &args);
    double worst = 0;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < OC; j++) {
            const size_t i = (size_t)t * OC + j;
            double want = epi == EPI_PLAIN ? 0.5 * d->dot[i] : d->dot[i] + d->bias[j];
            if (epi == EPI_RESIDUAL) want += d->init[i];
            if (epi == EPI_GELU) want = gelu_ref(want);
            const double tol = 2e-6 * (d->mag[i] + fabs(d->bias[j]) + 2.0) + 1e-6;
            const double e = fabs(o[i] - want) / tol;
            if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
        }
    memcpy(out, o, sizeof(float) * T * OC);
    free(abuf); free(obuf); free(bbuf); free(packed);
    return worst;
}

static void test_gemm_sizes(void) {
    static const int Ts[] = { 1, 2, 3, 7, 8, 13, 31, 64, 129, 512 };
    static const int Cs[] = { 1, 3, 16, 17, 64, 255, 256, 1024 };
    const attn_gemm_impl *scalar = attn_gemm_by_name("scalar");
    int families_run = 0;
    for (int f = 0; f < N_FAMILIES; f++) families_run += attn_gemm_by_name(FAMILIES[f]) != NULL;
    CHECK(families_run >= 1);
    printf("gemm families on this CPU: %d (best %s)\n", families_run,
           attn_gemm_name(attn_gemm_best()));
    for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++)
        for (size_t ci = 0; ci < sizeof Cs / sizeof *Cs; ci++)
            for (size_t oi = 0; oi < sizeof Cs / sizeof *Cs; oi++) {
                const int T = Ts[ti], C = Cs[ci], OC = Cs[oi];
                if ((double)T * C * OC > 4e7) continue;   /* the double reference is slow */
                case_data d = make_case(T, C, OC);
                float *ref = malloc(sizeof(float) * T * OC), *got = malloc(sizeof(float) * T * OC);
                for (int e = 0; e < N_EPI; e++) {
                    double err = run_case(scalar, &d, e, ref);
                    CHECK_MSG(err <= 1.0, "scalar T=%d C=%d OC=%d %s: error %.3g x tol", T, C,
                              OC, EPI_NAMES[e], err);
                    for (int f = 1; f < N_FAMILIES; f++) {
                        const attn_gemm_impl *g = attn_gemm_by_name(FAMILIES[f]);
                        if (!g) continue;
                        err = run_case(g, &d, e, got);
                        CHECK_MSG(err <= 1.0, "%s T=%d C=%d OC=%d %s: error %.3g x tol",
                                  FAMILIES[f], T, C, OC, EPI_NAMES[e], err);
                        double diff = 0;   /* against plain C, relative to the magnitude */
                        for (size_t i = 0; i < (size_t)T * OC; i++) {
                            double dd = fabs(got[i] - ref[i]) / (4e-6 * (d.mag[i] + 2.0));
                            if (!(dd <= diff)) diff = isnan(dd) ? INFINITY : dd;
                        }
                        CHECK_MSG(diff <= 1.0, "%s vs scalar T=%d C=%d OC=%d %s: %.3g x tol",
                                  FAMILIES[f], T, C, OC, EPI_NAMES[e], diff);
                    }
                }
                free(ref); free(got); free_case(&d);
            }
}

/* A wrong packer or a kernel reading past N would show here: exact values, zero padding. */
static void test_packing_layout(void) {
    const int N = 37, K = 5;           /* two panels, the second 5 columns wide */
    float w[37 * 5], b[5 * 37], p[2 * 5 * 32];
    for (int i = 0; i < N * K; i++) w[i] = b[i] = (float)(i + 1);
    attn_pack_rows(p, w, K, N, K);
    CHECK(attn_packed_floats(K, N) == 2 * 5 * 32);
    CHECK(p[0] == w[0] && p[1] == w[K] && p[32] == w[1]);              /* B[k][n] = w[n][k] */
    CHECK(p[5 * 32 + 2 * 32 + 4] == w[(32 + 4) * K + 2]);              /* panel 1, k 2, n 36 */
    CHECK(p[5 * 32 + 2 * 32 + 5] == 0.0f && p[5 * 32 + 4 * 32 + 31] == 0.0f);
    attn_pack_cols(p, b, N, K, N);
    CHECK(p[0] == b[0] && p[1] == b[1] && p[32] == b[N]);               /* B[k][n] = b[k][n] */
    CHECK(p[5 * 32 + 3 * 32 + 4] == b[3 * N + 36] && p[5 * 32 + 3 * 32 + 5] == 0.0f);
}

/* max |got - ref| over n floats; NaN anywhere -> INFINITY. */
static double max_abs_diff(const float *got, const float *ref, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

/* One shape of attn_gemm_attention: every family against the unfused path (2e-5) and against
 * plain C (1e-5). qkv values in [-amp, amp): above 3 the bounds
 * grow with the scores (amp^2): their rounding, exponentiated, is what differs. rel_k > 0:
 * with relative position biases of that k, values in [-2, 2) (the query blocks of 32 see
 * distances shifted by their start). */
static void attention_case_rel(int T, int D, int H, float amp, int rel_k) {
    const float scale = 1.0f / sqrtf((float)(D / H));
    const double grow = amp > 3.0f ? (amp / 3.0) * (amp / 3.0) : 1.0;
    const size_t n_out = (size_t)T * D, n_scratch = attn_gemm_attention_floats(T, D, H);
    float *qkv_buf = rand_floats((size_t)T * 3 * D + 1), *qkv = qkv_buf + 1;   /* unaligned */
    for (size_t i = 0; i < (size_t)T * 3 * D; i++) qkv[i] *= amp;
    float *ref = malloc(sizeof(float) * n_out), *plain = malloc(sizeof(float) * n_out);
    float *got_buf = malloc(sizeof(float) * (n_out + 1)), *got = got_buf + 1;
    float *probs = malloc(sizeof(float) * H * T * T);
    float *scratch_buf = malloc(sizeof(float) * (n_scratch + 2)), *scratch = scratch_buf + 1;
    float *bias = rel_k ? rand_floats((size_t)H * (2 * rel_k + 1)) : NULL;
    for (int i = 0; bias && i < H * (2 * rel_k + 1); i++) bias[i] *= 2.0f;
    const attn_rel_bias rel = { bias, rel_k };
    attn_attention_forward(ref, probs, qkv, T, D, H, scale, rel);
    const attn_gemm_impl *scalar = attn_gemm_by_name("scalar");
    attn_gemm_attention(scalar, plain, qkv, T, D, H, scale, rel, scratch);
    for (int f = 0; f < N_FAMILIES; f++) {
        const attn_gemm_impl *g = attn_gemm_by_name(FAMILIES[f]);
        if (!g) continue;
        for (size_t i = 0; i < n_out; i++) got[i] = NAN;
        scratch[n_scratch] = 12345.0f;                             /* guard */
        attn_gemm_attention(g, got, qkv, T, D, H, scale, rel, scratch);
        CHECK_MSG(scratch[n_scratch] == 12345.0f, "%s attention T=%d D=%d H=%d: wrote past "
                  "attn_gemm_attention_floats", FAMILIES[f], T, D, H);
        const double e_ref = max_abs_diff(got, ref, n_out);
        const double e_plain = max_abs_diff(got, plain, n_out);
        CHECK_MSG(e_ref < 2e-5 * grow && e_plain < 1e-5 * grow, "%s gemm attention T=%d D=%d H=%d amp %g "
                  "rel_k %d: max diff %.3g (unfused), %.3g (plain C)", FAMILIES[f], T, D, H, amp,
                  rel_k, e_ref, e_plain);
    }
    free(qkv_buf); free(ref); free(plain); free(got_buf); free(probs); free(scratch_buf);
    free(bias);
}

static void attention_case(int T, int D, int H, float amp) {
    attention_case_rel(T, D, H, amp, 0);
}

/* The softmax weights themselves, against double precision: one head of width 2, two tokens
 * with keys (0, 0) and (1, 0) and values (1, 0) and (0, 1), so a query (x, 0) gets the exact
 * scores 0 and x and the output (p0, p1) = (1, e^x) / (1 + e^x). x sweeps [-100, 100] finely
 * (every reduced argument r of the exp); within normal floats each weight is held to 3e-7
 * relative (the exp is 7.4e-8, the rest float rounding), below them to 1e-37 absolute. A
 * coefficient of the exp off in its fourth digit fails here, not in the comparisons above. */
static void test_attention_weights(void) {
    float qkv[2 * 6], out[2 * 2], scratch[256];
    CHECK(attn_gemm_attention_floats(2, 2, 1) <= sizeof scratch / sizeof *scratch);
    for (int f = 0; f < N_FAMILIES; f++) {
        const attn_gemm_impl *g = attn_gemm_by_name(FAMILIES[f]);
        if (!g) continue;
        double worst = 0, worst_x = 0;
        for (int i = 0; i <= 20000; i++) {
            const float x[2] = { -100.0f + 0.01f * (float)i, 100.0f - 0.0137f * (float)i };
            for (int t = 0; t < 2; t++) {                    /* token t: q | k | v */
                float *row = qkv + 6 * t;
                row[0] = x[t]; row[1] = 0.0f;
                row[2] = (float)t; row[3] = 0.0f;
                row[4] = (float)(1 - t); row[5] = (float)t;
            }
            attn_gemm_attention(g, out, qkv, 2, 2, 1, 1.0f, ATTN_NO_REL_BIAS, scratch);
            for (int t = 0; t < 2; t++) {
                const double want[2] = { 1.0 / (1.0 + exp((double)x[t])),      /* p0, p1 */
                                         1.0 / (1.0 + exp(-(double)x[t])) };
                for (int j = 0; j < 2; j++) {
                    const double e = fabs(out[2 * t + j] - want[j]);
                    const double rel = want[j] >= 1.2e-38 ? e / (3e-7 * want[j]) : e / 1e-37;
                    if (!(rel <= worst)) { worst = isnan(rel) ? INFINITY : rel; worst_x = x[t]; }
                }
            }
        }
        CHECK_MSG(worst <= 1.0, "%s softmax weights: %.3g x tolerance at x = %g", FAMILIES[f],
                  worst, worst_x);
    }
}

static void test_gemm_attention(void) {
    static const struct { int D, H; } shapes[] = { { 256, 4 }, { 64, 4 }, { 96, 3 }, { 40, 2 },
                                                   { 128, 2 }, { 36, 1 } };
    static const int Ts[] = { 1, 2, 5, 12, 13, 31, 32, 33, 64, 100, 131, 512 };
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
        for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
            if (Ts[ti] == 512 && shapes[si].D != 256) continue;   /* the bench model's */
            attention_case(Ts[ti], shapes[si].D, shapes[si].H, 3.0f);   /* peaky */
            if (Ts[ti] % 2) attention_case(Ts[ti], shapes[si].D, shapes[si].H, 0.05f);  /* flat */
        }
    /* scores of +-40 per unit: exp's clamp (x below ATTN_EXP_LO) and far-below-max entries */
    attention_case(70, 64, 2, 12.0f);
    /* relative position biases: distances inside and past k, queries of later blocks of 32 */
    static const int rel_Ts[] = { 1, 3, 17, 33, 70, 131 };
    for (size_t ti = 0; ti < sizeof rel_Ts / sizeof *rel_Ts; ti++) {
        attention_case_rel(rel_Ts[ti], 64, 4, 3.0f, 1);
        attention_case_rel(rel_Ts[ti], 96, 3, 3.0f, 16);
        attention_case_rel(rel_Ts[ti], 40, 2, 0.05f, 40);
    }
    /* a NaN in one token's key: every query attends to it, so every output is NaN */
    const int T = 40, D = 64, H = 2;
    float *qkv = rand_floats((size_t)T * 3 * D), *out = malloc(sizeof(float) * T * D);
    float *scratch = malloc(sizeof(float) * attn_gemm_attention_floats(T, D, H));
    qkv[(size_t)7 * 3 * D + D] = NAN;                 /* token 7, head 0, key 0 */
    for (int f = 0; f < N_FAMILIES; f++) {
        const attn_gemm_impl *g = attn_gemm_by_name(FAMILIES[f]);
        if (!g) continue;
        attn_gemm_attention(g, out, qkv, T, D, H, 1.0f, ATTN_NO_REL_BIAS, scratch);
        size_t nan_head0 = 0, nan_head1 = 0;
        for (int t = 0; t < T; t++)
            for (int j = 0; j < D; j++) {
                const int is_nan = isnan(out[(size_t)t * D + j]) != 0;
                if (j < D / H) nan_head0 += is_nan;
                else nan_head1 += is_nan;
            }
        CHECK_MSG(nan_head0 == (size_t)T * D / H && nan_head1 == 0, "%s: NaN key gives %zu "
                  "NaN outputs in its head (want %d), %zu in the other", FAMILIES[f], nan_head0,
                  T * D / H, nan_head1);
    }
    free(qkv); free(out); free(scratch);
}

/* ---- the packed encoder against the unpacked one --------------------------------------------- */

/* With relative position biases (k 8, so texts longer than 9 tokens clamp), filled with
 * values in (-1, 1) that depend on the seed only (training starts them at 0). */
static attn_model *random_model(uint64_t seed) {
    const char *config =
        "{\"format\": 1, \"dim\": 64, \"layers\": 2, \"heads\": 2, \"ffn\": 160, "
        "\"max_len\": 200, \"rel_positions\": 8,"
        " \"features\": [{\"kind\": \"norm\", \"buckets\": 500, \"dim\": 24},"
        " {\"kind\": \"shape\", \"buckets\": 50, \"dim\": 9}],"
        " \"tasks\": [\"classify\"], \"classify\": {\"labels\": [\"a\", \"b\"]}}";
    attn_model *m = NULL;
    attn_error err;
    if (attn_train_model_new(config, strlen(config), seed, &m, &err)) {
        fprintf(stderr, "model: %s\n", err.msg);
        return NULL;
    }
    for (int l = 0; l < m->cfg.layers; l++) {
        float *bias = (float *)m->w.layer[l].rel_bias;
        for (int i = 0; i < m->cfg.heads * (2 * m->cfg.rel_positions + 1); i++)
            bias[i] = sinf((float)(seed * 7 + (uint64_t)l * 131 + (uint64_t)i));
    }
    return m;
}

static void test_encoder_packed(void) {
    attn_model *plain = random_model(5), *packed = random_model(5);
    if (!plain || !packed) { CHECK(0); return; }
    attn_error err;
    CHECK(attn_encoder_prepare(packed, &err) == ATTN_OK);
    CHECK(packed->packed != NULL && plain->packed == NULL);
    CHECK(attn_encoder_prepare(packed, &err) == ATTN_OK);          /* idempotent */
    static const int lengths[] = { 1, 3, 8, 17, 49, 130, 200 };
    uint32_t rows[200 * 2];
    for (int i = 0; i < 200; i++) {
        rows[2 * i] = (uint32_t)(i * 2654435761u % 500u);
        rows[2 * i + 1] = (uint32_t)(i * 40503u % 50u);
    }
    float *a = malloc(sizeof(float) * 200 * 64), *b = malloc(sizeof(float) * 200 * 64);
    attn_scratch s1 = { 0 }, s2 = { 0 };
    for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++) {
        const int T = lengths[i];
        CHECK(attn_encode(plain, rows, T, a, &s1, &err) == ATTN_OK);
        CHECK(attn_encode(packed, rows, T, b, &s2, &err) == ATTN_OK);
        double worst = 0;
        for (size_t j = 0; j < (size_t)T * 64; j++) {
            double e = fabs(a[j] - b[j]);
            if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
        }
        /* outputs are LayerNormed (unit scale): float rounding of different sum orders */
        CHECK_MSG(worst < 1e-4, "T=%d: packed encoder differs by %.3g", T, worst);
    }
    uint32_t bad[2] = { 500, 0 };
    CHECK(attn_encode(packed, bad, 1, b, &s2, &err) == ATTN_EINVAL);   /* rows still checked */
    attn_scratch_free(&s1); attn_scratch_free(&s2);
    free(a); free(b);
    attn_model_free(plain);
    attn_model_free(packed);
}

/* ---- int8 linears --------------------------------------------------------------------------- */

static void test_q8_linear_case(int T, int C, int OC) {
    attn_error err;
    float *w = rand_floats((size_t)OC * C), *x = rand_floats((size_t)T * C);
    float *b = rand_floats((size_t)OC), *res = rand_floats((size_t)T * OC);
    attn_q8_matrix *q8 = NULL;
    CHECK(attn_q8_pack(&q8, w, OC, C, &err) == ATTN_OK);
    if (!q8) return;
    attn_linear L = { ATTN_LINEAR_Q8, C, OC, { NULL, 0, 0 }, q8, b };
    const size_t sbytes = attn_linear_scratch_bytes(&L, T);
    CHECK(sbytes == attn_q8_scratch_bytes(q8, T) && sbytes > 0);
    unsigned char *sbuf = malloc(sbytes + 1);
    float *got = malloc(sizeof(float) * T * OC), *want = malloc(sizeof(float) * T * OC);
    size_t differ = 0, beyond = 0;
    for (int e = 0; e < 3; e++) {   /* bias; bias + GELU; bias + residual in place */
        for (size_t i = 0; i < (size_t)T * OC; i++) got[i] = want[i] = e == 2 ? res[i] : NAN;
        attn_linear_forward(&L, got, x, T, e == 1 ? ATTN_EPI_GELU : ATTN_EPI_NONE,
                            e == 2 ? got : NULL, sbuf + 1);       /* unaligned scratch */
        attn_q8_matmul(want, x, q8, b, e == 2 ? want : NULL, T, sbuf);
        if (e == 1) attn_kernels_best()->gelu(want, (size_t)T * OC);
        for (size_t i = 0; i < (size_t)T * OC; i++) differ += memcmp(&got[i], &want[i], 4) != 0;
        for (int t = 0; e == 0 && t < T; t++)
            for (int o = 0; o < OC; o++) {
                double exact = b[o];
                for (int k = 0; k < C; k++) exact += (double)x[(size_t)t * C + k] * w[(size_t)o * C + k];
                const double bound = attn_q8_error_bound(x + (size_t)t * C, w + (size_t)o * C,
                                                         C, q8->wscale[o]);
                beyond += !(fabs(got[(size_t)t * OC + o] - exact) <= bound + 1e-6 * fabs(b[o]));
            }
    }
    CHECK_MSG(differ == 0, "int8 linear T=%d C=%d OC=%d: %zu outputs differ from attn_q8_matmul",
              T, C, OC, differ);
    CHECK_MSG(beyond == 0, "int8 linear T=%d C=%d OC=%d: %zu outputs beyond the q8 error bound",
              T, C, OC, beyond);
    attn_q8_free(q8);
    free(w); free(x); free(b); free(res); free(sbuf); free(got); free(want);
}

static void test_q8_linear(void) {
    static const int Ts[] = { 1, 5, 32, 67 };
    static const int Cs[] = { 1, 3, 64, 257 };
    static const int OCs[] = { 1, 17, 64, 160 };
    for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++)
        for (size_t ci = 0; ci < sizeof Cs / sizeof *Cs; ci++)
            for (size_t oi = 0; oi < sizeof OCs / sizeof *OCs; oi++)
                test_q8_linear_case(Ts[ti], Cs[ci], OCs[oi]);
    attn_linear f32 = { ATTN_LINEAR_F32_PACKED, 4, 4, { NULL, 4, 4 }, NULL, NULL };
    CHECK(attn_linear_scratch_bytes(&f32, 100) == 0);
}

/* ---- the per-model choice of int8 ------------------------------------------------------------ */

/* random_model's shape */
#define ENC_D 64
#define ENC_LINEARS 9   /* the projection, 2 layers x qkv, out, up, down */

/* q8 bytes of w[rows, cols] as another writer might make them: scale max |w| / 63 per row, so
 * |q| <= 63 (valid q8, but not what attn_quantize_rows_q8 writes). */
static void encode_q8_foreign(const float *w, int64_t rows, int64_t cols, unsigned char *out) {
    int8_t *q = (int8_t *)(out + rows * 4);
    for (int64_t r = 0; r < rows; r++) {
        float mx = 0.0f;
        for (int64_t c = 0; c < cols; c++) mx = fmaxf(mx, fabsf(w[r * cols + c]));
        const float scale = mx / 63.0f;
        memcpy(out + r * 4, &scale, 4);   /* little-endian host (x86_64, aarch64) */
        for (int64_t c = 0; c < cols; c++)
            q[r * cols + c] = (int8_t)(scale > 0 ? lrintf(w[r * cols + c] / scale) : 0);
    }
}

enum { FOREIGN_Q8 = 1, INFERENCE_ONLY = 2 };   /* restore's flags */

/* A new model from src's values, each tensor stored as dtype_of(tensor) and loaded back the
 * way a database is read (attn_model_set_tensor). dtype_of NULL: storage s. flags: FOREIGN_Q8,
 * q8 tensors as encode_q8_foreign writes them; INFERENCE_ONLY, loaded as the extension loads
 * (attn_model_set_inference_only). */
static attn_model *restore(const attn_model *src, attn_storage s,
                           const char *(*dtype_of)(const attn_tensor_spec *), int flags) {
    attn_model *m = NULL;
    attn_error err;
    if (attn_model_new(src->cfg.json, strlen(src->cfg.json), &m, &err) ||
        ((flags & INFERENCE_ONLY) && attn_model_set_inference_only(m, &err))) {
        fprintf(stderr, "model: %s\n", err.msg);
        attn_model_free(m);
        return NULL;
    }
    for (size_t i = 0; i < m->n_specs; i++) {
        const attn_tensor_spec *t = &src->specs[i];
        const char *dtype = dtype_of ? dtype_of(t) : attn_storage_dtype(s, t);
        const size_t n = attn_tensor_stored_bytes(t, dtype);
        unsigned char *b = malloc(n);
        char shape[64];
        if (t->ndim == 2) snprintf(shape, sizeof shape, "[%lld,%lld]", (long long)t->shape[0],
                                   (long long)t->shape[1]);
        else snprintf(shape, sizeof shape, "[%lld]", (long long)t->shape[0]);
        int rc = attn_tensor_encode(t, dtype, src->params + t->offset, b, &err);
        if ((flags & FOREIGN_Q8) && !strcmp(dtype, "q8"))
            encode_q8_foreign(src->params + t->offset, t->shape[0], t->shape[1], b);
        if (!rc) rc = attn_model_set_tensor(m, t->key, dtype, shape, b, n, &err);
        free(b);
        if (rc) { fprintf(stderr, "%s: %s\n", t->key, err.msg); attn_model_free(m); return NULL; }
    }
    if (attn_model_finish(m, &err)) { attn_model_free(m); return NULL; }
    return m;
}

static void enc_rows(uint32_t *rows, int T) {
    for (int i = 0; i < T; i++) {
        rows[2 * i] = (uint32_t)(i * 2654435761u % 500u);
        rows[2 * i + 1] = (uint32_t)(i * 40503u % 50u);
    }
}

/* out[T, D]: encodes rows with m (prepared here). */
static int encode(attn_model *m, const uint32_t *rows, int T, float *out) {
    attn_error err;
    attn_scratch s = { 0 };
    int rc = attn_encoder_prepare(m, &err);
    if (!rc) rc = attn_encode(m, rows, T, out, &s, &err);
    if (rc) fprintf(stderr, "encode: %s\n", err.msg);
    attn_scratch_free(&s);
    return rc;
}

/* An int8 matrix from the writer's own quantisation of w[OC, C] (attn_quantize_rows_q8). */
static attn_q8_matrix *writer_q8(const float *w, int OC, int C) {
    float *scales = malloc(sizeof(float) * OC);
    int8_t *q = malloc((size_t)OC * C);
    attn_quantize_rows_q8(w, (size_t)OC, (size_t)C, scales, q);
    attn_q8_matrix *m = NULL;
    attn_error err;
    if (attn_q8_pack_quantized(&m, scales, q, OC, C, &err)) m = NULL;
    free(scales); free(q);
    return m;
}

/* The encoder with every linear on attn_q8_matmul, composed here from the layer primitives:
 * what encode_packed must compute for a q4-int8 model. src holds the f32 weights the writer
 * quantised; m is the loaded model (its embeddings, biases, LayerNorms). */
static void reference_int8(const attn_model *src, const attn_model *m, const uint32_t *rows,
                           int T, float *x) {
    const attn_config *c = &m->cfg;
    const int D = c->dim, F = c->ffn, E = attn_embed_width(c);
    float *emb = malloc(sizeof(float) * T * E), *ln = malloc(sizeof(float) * T * D);
    float *qkv = malloc(sizeof(float) * T * 3 * D), *att = malloc(sizeof(float) * T * D);
    float *ffn = malloc(sizeof(float) * T * F);
    float *ascratch = malloc(sizeof(float) * attn_gemm_attention_floats(T, D, c->heads));
    void *qscratch = malloc(4096 + (size_t)T * (F + 64) * 2);
    attn_q8_matrix *proj = writer_q8(src->w.proj_w, D, E);
    attn_embed_forward(emb, c, &m->w, rows, T);
    attn_q8_matmul(x, emb, proj, m->w.proj_b, m->w.pos, T, qscratch);
    for (int l = 0; l < c->layers; l++) {
        const attn_layer_weights *lw = &m->w.layer[l], *sw = &src->w.layer[l];
        attn_q8_matrix *wq = writer_q8(sw->qkv_w, 3 * D, D), *wo = writer_q8(sw->out_w, D, D);
        attn_q8_matrix *wu = writer_q8(sw->up_w, F, D), *wd = writer_q8(sw->down_w, D, F);
        attn_layernorm_forward(ln, NULL, NULL, x, lw->ln1_w, lw->ln1_b, T, D, c->ln_eps);
        attn_q8_matmul(qkv, ln, wq, lw->qkv_b, NULL, T, qscratch);
        attn_gemm_attention(NULL, att, qkv, T, D, c->heads, c->attn_scale,
                            (attn_rel_bias){ lw->rel_bias, c->rel_positions }, ascratch);
        attn_q8_matmul(x, att, wo, lw->out_b, x, T, qscratch);
        attn_layernorm_forward(ln, NULL, NULL, x, lw->ln2_w, lw->ln2_b, T, D, c->ln_eps);
        attn_q8_matmul(ffn, ln, wu, lw->up_b, NULL, T, qscratch);
        attn_kernels_best()->gelu(ffn, (size_t)T * F);
        attn_q8_matmul(x, ffn, wd, lw->down_b, x, T, qscratch);
        attn_q8_free(wq); attn_q8_free(wo); attn_q8_free(wu); attn_q8_free(wd);
    }
    attn_layernorm_forward(x, NULL, NULL, x, m->w.final_ln_w, m->w.final_ln_b, T, D, c->ln_eps);
    free(emb); free(ln); free(qkv); free(att); free(ffn); free(ascratch); free(qscratch);
    attn_q8_free(proj);
}

static double max_diff(const float *a, const float *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(a[i] - b[i]);
        if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

static size_t count_unequal(const float *a, const float *b, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += memcmp(&a[i], &b[i], sizeof *a) != 0;
    return k;
}

static const char *all_f32(const attn_tensor_spec *t) { (void)t; return "f32"; }

static void test_encoder_int8_choice(void) {
    attn_model *src = random_model(11);
    if (!src) { CHECK(0); return; }
    attn_model *q4i8 = restore(src, ATTN_STORE_Q4_INT8, NULL, 0);
    attn_model *f16 = restore(src, ATTN_STORE_F16, NULL, 0);
    attn_model *q8 = restore(src, ATTN_STORE_Q8, NULL, 0);
    attn_model *q4 = restore(src, ATTN_STORE_Q4, NULL, 0);
    attn_model *foreign = restore(src, ATTN_STORE_Q4_INT8, NULL, FOREIGN_Q8);
    if (!q4i8 || !f16 || !q8 || !q4 || !foreign) { CHECK(0); return; }
    /* the same decoded values stored as f32: the f32 path's answer for each */
    attn_model *q4i8_f32 = restore(q4i8, 0, all_f32, 0), *f16_f32 = restore(f16, 0, all_f32, 0);
    attn_model *q8_f32 = restore(q8, 0, all_f32, 0);
    attn_model *foreign_f32 = restore(foreign, 0, all_f32, 0);
    if (!q4i8_f32 || !f16_f32 || !q8_f32 || !foreign_f32) { CHECK(0); return; }
    static const int lengths[] = { 1, 7, 32, 67, 200 };
    uint32_t rows[200 * 2];
    enc_rows(rows, 200);
    const size_t cap = (size_t)200 * ENC_D;
    float *a = malloc(sizeof(float) * cap), *b = malloc(sizeof(float) * cap);
    for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++) {
        const int T = lengths[i];
        const size_t n = (size_t)T * ENC_D;
        /* q4-int8: the int8 path, exactly the reference built from the writer's ints */
        CHECK(encode(q4i8, rows, T, a) == ATTN_OK);
        reference_int8(src, q4i8, rows, T, b);
        CHECK_MSG(count_unequal(a, b, n) == 0, "T=%d: q4-int8 encoder differs from the int8 "
                  "reference in %zu of %zu outputs (max %.3g)", T, count_unequal(a, b, n), n,
                  max_diff(a, b, n));
        /* ... and close to, but not the same as, the f32 path on the same weights */
        CHECK(encode(q4i8_f32, rows, T, b) == ATTN_OK);
        const double d = max_diff(a, b, n);
        CHECK_MSG(d > 0 && d < 0.05, "T=%d: int8 vs f32 path on the same weights: %.3g", T, d);
        /* a foreign q8 writer: requantised, still int8, still close to its f32 path */
        CHECK(encode(foreign, rows, T, a) == ATTN_OK && encode(foreign_f32, rows, T, b) == ATTN_OK);
        const double df = max_diff(a, b, n);
        CHECK_MSG(df > 0 && df < 0.05, "T=%d: foreign q8, int8 vs f32 path: %.3g", T, df);
        /* f16 and q8 storage: the f32 path, bit-identical to f32 storage of the same values */
        CHECK(encode(f16, rows, T, a) == ATTN_OK && encode(f16_f32, rows, T, b) == ATTN_OK);
        CHECK_MSG(count_unequal(a, b, n) == 0, "T=%d: f16 storage left the f32 path", T);
        CHECK(encode(q8, rows, T, a) == ATTN_OK && encode(q8_f32, rows, T, b) == ATTN_OK);
        CHECK_MSG(count_unequal(a, b, n) == 0, "T=%d: q8 storage left the f32 path", T);
    }
    CHECK(attn_encoder_int8_linears(q4i8) == ENC_LINEARS);
    /* the relative position biases are added to scores, not a linear: f16 in every storage */
    const attn_tensor_spec *rel = &src->specs[attn_model_tensor_index(src, "layers.1.attn.rel_bias")];
    CHECK(!strcmp(attn_storage_dtype(ATTN_STORE_Q4_INT8, rel), "f16"));
    CHECK(!strcmp(attn_storage_dtype(ATTN_STORE_Q8_INT8, rel), "f16"));
    CHECK(attn_encoder_int8_linears(f16) == 0 && attn_encoder_int8_linears(q8) == 0);
    CHECK(attn_encoder_int8_linears(q4i8_f32) == 0);
    CHECK(attn_encoder_int8_linears(foreign) == ENC_LINEARS);
    CHECK(encode(q4, rows, 5, a) == ATTN_OK && attn_encoder_int8_linears(q4) == 0);
    free(a); free(b);
    attn_model_free(src); attn_model_free(q4i8); attn_model_free(f16); attn_model_free(q8);
    attn_model_free(q4); attn_model_free(q4i8_f32); attn_model_free(f16_f32);
    attn_model_free(q8_f32); attn_model_free(foreign); attn_model_free(foreign_f32);
}

/* An inference-only model keeps its q8 linear weights stored, never writing their f32 regions,
 * and packs them from the stored ints: the same outputs, bit for bit, as the plain model that
 * decodes and requantises them, for the writer's rows and for a foreign writer's. Before
 * attn_encoder_prepare it refuses to encode (its views of those weights hold zeros). */
static void test_encoder_kept_linears(void) {
    attn_model *src = random_model(13);
    if (!src) { CHECK(0); return; }
    uint32_t rows[67 * 2];
    enc_rows(rows, 67);
    float *a = malloc(sizeof(float) * 67 * ENC_D), *b = malloc(sizeof(float) * 67 * ENC_D);
    for (int foreign = 0; foreign < 2; foreign++) {
        attn_model *plain = restore(src, ATTN_STORE_Q4_INT8, NULL, foreign ? FOREIGN_Q8 : 0);
        attn_model *kept = restore(src, ATTN_STORE_Q4_INT8, NULL,
                                   INFERENCE_ONLY | (foreign ? FOREIGN_Q8 : 0));
        if (!plain || !kept) { CHECK(0); break; }
        int linears = 0;
        for (size_t i = 0; i < kept->n_specs; i++) {
            const attn_tensor_spec *t = &kept->specs[i];
            const size_t n = strlen(t->key);
            const int linear = t->ndim == 2 && ((!strncmp(t->key, "layers.", 7) &&
                                                 !strcmp(t->key + n - 2, ".w")) ||
                                                !strcmp(t->key, "embed.proj.w"));
            if (!linear) continue;
            linears += attn_model_kept(kept, t->key) != NULL;
            size_t written = 0;
            for (size_t k = 0; k < t->size; k++) written += kept->params[t->offset + k] != 0.0f;
            CHECK_MSG(written == 0, "%s: %zu f32 values written", t->key, written);
            float *v = malloc(t->size * sizeof *v);
            attn_model_read_values(kept, i, t->size, v);
            CHECK_MSG(!memcmp(v, plain->params + t->offset, t->size * sizeof *v), "%s", t->key);
            free(v);
        }
        CHECK(linears == ENC_LINEARS && attn_model_kept(plain, "embed.proj.w") == NULL);
        attn_scratch sc = { 0 };
        attn_error err;
        CHECK(attn_encode(kept, rows, 5, a, &sc, &err) == ATTN_EINVAL);
        CHECK_MSG(!strcmp(err.msg, "encoder: the model's int8 weights are kept stored: "
                          "attn_encoder_prepare must pack them first"), "%s", err.msg);
        attn_scratch_free(&sc);
        static const int lengths[] = { 1, 7, 67 };
        for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++) {
            const int T = lengths[i];
            CHECK(encode(plain, rows, T, a) == ATTN_OK && encode(kept, rows, T, b) == ATTN_OK);
            CHECK_MSG(count_unequal(a, b, (size_t)T * ENC_D) == 0, "foreign %d, T=%d: kept "
                      "linears change the outputs", foreign, T);
        }
        CHECK(attn_encoder_int8_linears(kept) == ENC_LINEARS);
        attn_model_free(plain);
        attn_model_free(kept);
    }
    free(a); free(b);
    attn_model_free(src);
}

/* A q8 linear too wide for the int8 kernels (a projection of 16400 embedding columns, above
 * ATTN_Q8_MAX_DIM) stays on f32 panels; kept stored, it is decoded for them: the outputs of
 * the plain model, bit for bit. */
static void test_encoder_kept_too_wide(void) {
    const char *config =
        "{\"format\": 1, \"dim\": 8, \"layers\": 1, \"heads\": 2, \"ffn\": 8, "
        "\"max_len\": 8, \"features\": [{\"kind\": \"norm\", \"buckets\": 4, \"dim\": 8200},"
        " {\"kind\": \"shape\", \"buckets\": 4, \"dim\": 8200}],"
        " \"tasks\": [\"classify\"], \"classify\": {\"labels\": [\"a\", \"b\"]}}";
    attn_model *src = NULL;
    attn_error err;
    if (attn_train_model_new(config, strlen(config), 3, &src, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    attn_model *plain = restore(src, ATTN_STORE_Q4_INT8, NULL, 0);
    attn_model *kept = restore(src, ATTN_STORE_Q4_INT8, NULL, INFERENCE_ONLY);
    if (plain && kept) {
        CHECK(attn_model_kept(kept, "embed.proj.w") != NULL);
        const uint32_t rows[2 * 5] = { 0, 1, 1, 2, 2, 3, 3, 0, 1, 1 };
        float a[5 * 8], b[5 * 8];
        CHECK(encode(plain, rows, 5, a) == ATTN_OK && encode(kept, rows, 5, b) == ATTN_OK);
        CHECK(count_unequal(a, b, 5 * 8) == 0);
        CHECK(attn_encoder_int8_linears(kept) == 4 && attn_encoder_int8_linears(plain) == 4);
    } else {
        CHECK(0);
    }
    attn_model_free(src);
    attn_model_free(plain);
    attn_model_free(kept);
}

int main(void) {
    test_packing_layout();
    test_gemm_sizes();
    test_gemm_attention();
    test_attention_weights();
    test_encoder_packed();
    test_q8_linear();
    test_encoder_int8_choice();
    test_encoder_kept_linears();
    test_encoder_kept_too_wide();
    return CHECK_DONE();
}
