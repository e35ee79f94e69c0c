/* test_gemm.c: the packed inference GEMM, fused attention and the packed encoder path.
 *   - every GEMM family this CPU runs (plain C, AVX2, AVX-512) against a double-precision
 *     reference and against plain C, on awkward T x C x OC (edge rows and columns), with each
 *     epilogue (none, bias, bias + GELU, bias + residual in place), unaligned pointers, alpha
 *     and K blocking (C > ATTN_GEMM_KC)
 *   - attn_pack_rows / attn_pack_cols lay panels out as gemm.h says, zero past N
 *   - attn_attention_infer equals attn_attention_forward (the trainer's unfused path)
 *   - attn_encode after attn_encoder_prepare equals the unprepared (sgemm) path */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "encoder.h"
#include "gemm.h"
#include "kernels.h"
#include "layers.h"
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

/* ---- fused attention against the unfused path ---------------------------------------------- */

static void test_attention(void) {
    static const struct { int D, H; } shapes[] = { { 64, 4 }, { 256, 4 }, { 96, 3 }, { 40, 2 },
                                                   { 128, 2 } };
    static const int Ts[] = { 1, 2, 7, 31, 48, 49, 100, 129 };
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
        for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
            const int D = shapes[si].D, H = shapes[si].H, T = Ts[ti];
            const float scale = 1.0f / sqrtf((float)(D / H));
            float *qkv = rand_floats((size_t)T * 3 * D);
            for (size_t i = 0; i < (size_t)T * 3 * D; i++) qkv[i] *= 3.0f;   /* peaky softmax */
            float *ref = malloc(sizeof(float) * T * D), *got = malloc(sizeof(float) * T * D);
            float *probs = malloc(sizeof(float) * H * T * T);
            float *scratch = malloc(sizeof(float) * attn_attention_infer_floats(T, D, H));
            attn_attention_forward(ref, probs, qkv, T, D, H, scale);
            for (int f = 0; f < N_FAMILIES; f++) {
                const attn_gemm_impl *g = attn_gemm_by_name(FAMILIES[f]);
                if (!g) continue;
                for (size_t i = 0; i < (size_t)T * D; i++) got[i] = NAN;
                attn_attention_infer(got, qkv, T, D, H, scale, scratch, g);
                double worst = 0;
                for (size_t i = 0; i < (size_t)T * D; i++) {
                    double e = fabs(got[i] - ref[i]);
                    if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
                }
                CHECK_MSG(worst < 2e-5, "%s attention T=%d D=%d H=%d: max diff %.3g",
                          FAMILIES[f], T, D, H, worst);
            }
            free(qkv); free(ref); free(got); free(probs); free(scratch);
        }
}

/* ---- the packed encoder against the unpacked one --------------------------------------------- */

static attn_model *random_model(uint64_t seed) {
    const char *config =
        "{\"format\": 1, \"dim\": 64, \"layers\": 2, \"heads\": 2, \"ffn\": 160, "
        "\"max_len\": 200, \"features\": [{\"kind\": \"norm\", \"buckets\": 500, \"dim\": 24},"
        " {\"kind\": \"shape\", \"buckets\": 50, \"dim\": 9}],"
        " \"tasks\": [\"classify\"], \"classify\": {\"labels\": [\"a\", \"b\"]}}";
    attn_model *m = NULL;
    attn_error err;
    if (attn_train_model_new(config, strlen(config), seed, &m, &err))
        fprintf(stderr, "model: %s\n", err.msg);
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

int main(void) {
    test_packing_layout();
    test_gemm_sizes();
    test_attention();
    test_encoder_packed();
    return CHECK_DONE();
}
