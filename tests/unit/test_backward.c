/* test_backward.c: every backward pass of backward.h, and the whole model's gradient for each
 * task, against finite differences.
 *
 * Primitives (matmul, layernorm, attention, GELU, embedding, pooling): the loss is
 * sum(R * out) for a fixed random R, so dout = R. The numerical gradient is a central
 * difference (step 1e-6) of a double-precision re-implementation of the forward written here,
 * independent of layers.c; the analytical gradient is the float backward. Each fast backward
 * is also compared with its naive *_ref twin. Tolerance: |a - n| <= atol + rtol |n| with the
 * values stated at each call (float rounding of sums of a few dozen terms: ~1e-5).
 *
 * Heads and whole model: central differences (step stated) of the float forward itself, on tiny
 * models (the heads on hidden states with well-separated values, so no max-pool argmax flips
 * inside the step); the whole model also with every dropout on (fixed masks); tolerance
 * heads 1e-3 + 2e-2 |n| (step 1e-2), whole model 5e-4 + 1e-2 |n| (step 1e-3; float rounding of
 * the loss divided by the step dominates). Every tensor of
 * the model is probed at several elements (embedding tables at rows the example uses, plus one
 * unused row whose gradient must be exactly 0). Max errors are printed per primitive. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backward.h"
#include "check.h"
#include "crf.h"
#include "heads.h"
#include "kernels.h"
#include "layers.h"
#include "train.h"

/* ---- helpers ---- */

static uint64_t rng_state = 0x1234567887654321ull;

static double urand(void) {                 /* [0, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static float srand1(void) { return (float)(2.0 * urand() - 1.0); }   /* [-1, 1) */

static void fill(float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = scale * srand1();
}

/* Compares analytical an[n] with numerical num[n]; one CHECK; returns the max abs error. */
static double compare(const char *what, const float *an, const double *num, size_t n,
                      double atol, double rtol) {
    double worst = 0.0;
    size_t bad = n;
    for (size_t i = 0; i < n; i++) {
        const double e = fabs(an[i] - num[i]);
        if (e > worst) worst = e;
        if (!(e <= atol + rtol * fabs(num[i])) && bad == n) bad = i;
    }
    CHECK_MSG(bad == n, "%s: element %zu analytical %.8g numerical %.8g", what,
              bad < n ? bad : 0, bad < n ? an[bad] : 0.0, bad < n ? num[bad] : 0.0);
    return worst;
}

static double max_err[32];
static const char *max_err_name[32];
static int n_max_err;

static void record(const char *name, double e) {
    for (int i = 0; i < n_max_err; i++)
        if (strcmp(max_err_name[i], name) == 0) {
            if (e > max_err[i]) max_err[i] = e;
            return;
        }
    max_err_name[n_max_err] = name;
    max_err[n_max_err++] = e;
}

#define FD_STEP 1e-6

/* Numerical gradient of loss(ctx) over the float array x[n] (perturbed in double through the
 * double copy xd that the forward reads). */
typedef double (*loss_fn)(void *ctx);
static void numeric_grad(double *xd, size_t n, loss_fn f, void *ctx, double *out) {
    for (size_t i = 0; i < n; i++) {
        const double keep = xd[i];
        xd[i] = keep + FD_STEP;
        const double up = f(ctx);
        xd[i] = keep - FD_STEP;
        const double down = f(ctx);
        xd[i] = keep;
        out[i] = (up - down) / (2.0 * FD_STEP);
    }
}

static double *to_double(const float *x, size_t n) {
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* ---- matmul ---- */

typedef struct mm_ctx { double *inp, *w, *b; const float *R; int T, C, OC; } mm_ctx;

static double mm_loss(void *p) {
    const mm_ctx *c = p;
    double loss = 0.0;
    for (int t = 0; t < c->T; t++)
        for (int o = 0; o < c->OC; o++) {
            double s = c->b[o];
            for (int k = 0; k < c->C; k++) s += c->inp[t * c->C + k] * c->w[o * c->C + k];
            loss += s * c->R[t * c->OC + o];
        }
    return loss;
}

static void test_matmul(int T, int C, int OC) {
    const size_t nI = (size_t)T * C, nW = (size_t)OC * C, nO = (size_t)T * OC;
    float *inp = malloc(nI * 4), *w = malloc(nW * 4), *b = malloc(OC * 4), *R = malloc(nO * 4);
    float *out = malloc(nO * 4);
    fill(inp, nI, 1); fill(w, nW, 1); fill(b, OC, 1); fill(R, nO, 1);
    mm_ctx c = { to_double(inp, nI), to_double(w, nW), to_double(b, OC), R, T, C, OC };
    /* the float forward agrees with the double one */
    attn_matmul_forward(out, inp, w, b, T, C, OC);
    double lf = 0.0;
    for (size_t i = 0; i < nO; i++) lf += (double)out[i] * R[i];
    CHECK_NEAR(lf, mm_loss(&c), 1e-4 * (1 + fabs(lf)));

    float *dI = calloc(nI, 4), *dW = calloc(nW, 4), *dB = calloc(OC, 4);
    float *rI = calloc(nI, 4), *rW = calloc(nW, 4), *rB = calloc(OC, 4);
    double *num = malloc((nW > nI ? nW : nI) * sizeof *num);
    attn_matmul_backward(dI, dW, dB, R, inp, w, T, C, OC);
    attn_matmul_backward_ref(rI, rW, rB, R, inp, w, T, C, OC);
    numeric_grad(c.inp, nI, mm_loss, &c, num);
    record("matmul", compare("matmul dinp", dI, num, nI, 1e-4, 1e-4));
    record("matmul ref", compare("matmul_ref dinp", rI, num, nI, 1e-4, 1e-4));
    numeric_grad(c.w, nW, mm_loss, &c, num);
    record("matmul", compare("matmul dw", dW, num, nW, 1e-4, 1e-4));
    record("matmul ref", compare("matmul_ref dw", rW, num, nW, 1e-4, 1e-4));
    numeric_grad(c.b, OC, mm_loss, &c, num);
    record("matmul", compare("matmul db", dB, num, OC, 1e-4, 1e-4));
    record("matmul ref", compare("matmul_ref db", rB, num, OC, 1e-4, 1e-4));
    /* accumulation: a second call doubles every gradient; NULL outputs are skipped */
    attn_matmul_backward(dI, NULL, dB, R, inp, w, T, C, OC);
    int doubled = 1;
    for (size_t i = 0; i < nI; i++) doubled &= fabsf(dI[i] - 2 * rI[i]) <= 1e-4f * (1 + fabsf(dI[i]));
    for (int o = 0; o < OC; o++) doubled &= fabsf(dB[o] - 2 * rB[o]) <= 1e-4f * (1 + fabsf(dB[o]));
    CHECK(doubled);
    free(inp); free(w); free(b); free(R); free(out); free(dI); free(dW); free(dB);
    free(rI); free(rW); free(rB); free(num); free(c.inp); free(c.w); free(c.b);
}

/* ---- layernorm ---- */

typedef struct ln_ctx { double *x, *g, *b; const float *R; int T, C; double eps; } ln_ctx;

static double ln_loss(void *p) {
    const ln_ctx *c = p;
    double loss = 0.0;
    for (int t = 0; t < c->T; t++) {
        const double *x = c->x + t * c->C;
        double m = 0.0, v = 0.0;
        for (int i = 0; i < c->C; i++) m += x[i];
        m /= c->C;
        for (int i = 0; i < c->C; i++) v += (x[i] - m) * (x[i] - m);
        const double r = 1.0 / sqrt(v / c->C + c->eps);
        for (int i = 0; i < c->C; i++)
            loss += ((x[i] - m) * r * c->g[i] + c->b[i]) * c->R[t * c->C + i];
    }
    return loss;
}

static void test_layernorm(int T, int C, float offset) {
    const size_t n = (size_t)T * C;
    float *x = malloc(n * 4), *g = malloc(C * 4), *b = malloc(C * 4), *R = malloc(n * 4);
    float *out = malloc(n * 4), *mean = malloc(T * 4), *rstd = malloc(T * 4);
    fill(x, n, 2); fill(g, C, 1); fill(b, C, 1); fill(R, n, 1);
    for (size_t i = 0; i < n; i++) x[i] += offset;     /* a large mean: no cancellation */
    const float eps = 1e-5f;
    attn_layernorm_forward(out, mean, rstd, x, g, b, T, C, eps);
    ln_ctx c = { to_double(x, n), to_double(g, C), to_double(b, C), R, T, C, eps };
    double lf = 0.0;
    for (size_t i = 0; i < n; i++) lf += (double)out[i] * R[i];
    CHECK_NEAR(lf, ln_loss(&c), 1e-4 * (1 + fabs(lf)));
    float *dx = calloc(n, 4), *dg = calloc(C, 4), *db = calloc(C, 4);
    float *rx = calloc(n, 4), *rg = calloc(C, 4), *rb = calloc(C, 4);
    double *num = malloc(n * sizeof *num);
    attn_layernorm_backward(dx, dg, db, R, x, g, mean, rstd, T, C);
    attn_layernorm_backward_ref(rx, rg, rb, R, x, g, mean, rstd, T, C);
    numeric_grad(c.x, n, ln_loss, &c, num);
    record("layernorm", compare("layernorm dinp", dx, num, n, 1e-4, 1e-3));
    record("layernorm ref", compare("layernorm_ref dinp", rx, num, n, 1e-4, 1e-3));
    numeric_grad(c.g, C, ln_loss, &c, num);
    record("layernorm", compare("layernorm dg", dg, num, C, 1e-4, 1e-4));
    record("layernorm ref", compare("layernorm_ref dg", rg, num, C, 1e-4, 1e-4));
    numeric_grad(c.b, C, ln_loss, &c, num);
    record("layernorm", compare("layernorm db", db, num, C, 1e-4, 1e-4));
    free(x); free(g); free(b); free(R); free(out); free(mean); free(rstd); free(dx); free(dg);
    free(db); free(rx); free(rg); free(rb); free(num); free(c.x); free(c.g); free(c.b);
}

/* ---- attention ---- */

/* bias[H, 2k+1]: relative position biases (k 0: none), written out independently of
 * attn_rel_bias_column: the key j of query i gets column k + min(max(j - i, -k), k). */
typedef struct at_ctx {
    double *qkv; const float *R, *mask; int T, D, H; double scale; double *bias; int k;
} at_ctx;

static double at_loss(void *p) {
    const at_ctx *c = p;
    const int T = c->T, D = c->D, hd = D / c->H, ld = 3 * D;
    double loss = 0.0, row[64];
    for (int h = 0; h < c->H; h++)
        for (int i = 0; i < T; i++) {
            double mx = -1e300, sum = 0.0;
            for (int j = 0; j < T; j++) {
                double s = 0.0;
                for (int d = 0; d < hd; d++)
                    s += c->qkv[i * ld + h * hd + d] * c->qkv[j * ld + D + h * hd + d];
                row[j] = s * c->scale;
                if (c->k) {
                    const int d = j - i, col = d < -c->k ? 0 : d > c->k ? 2 * c->k : c->k + d;
                    row[j] += c->bias[h * (2 * c->k + 1) + col];
                }
                if (row[j] > mx) mx = row[j];
            }
            for (int j = 0; j < T; j++) sum += row[j] = exp(row[j] - mx);
            for (int j = 0; j < T; j++) {
                const double pij = row[j] / sum * (c->mask ? c->mask[(h * T + i) * T + j] : 1.0);
                for (int d = 0; d < hd; d++)
                    loss += pij * c->qkv[j * ld + 2 * D + h * hd + d] * c->R[i * D + h * hd + d];
            }
        }
    return loss;
}

static void test_attention(int T, int D, int H, int with_mask, int rel_k) {
    const size_t nq = (size_t)T * 3 * D, no = (size_t)T * D, np = (size_t)H * T * T;
    const size_t nb = rel_k ? (size_t)H * (2 * rel_k + 1) : 0;   /* none: no draws */
    float *qkv = malloc(nq * 4), *R = malloc(no * 4), *out = malloc(no * 4);
    float *probs = malloc(np * 4), *mask = NULL, *scratch = malloc(2 * (size_t)T * T * 4);
    float *bias = malloc((nb ? nb : 1) * 4);
    fill(qkv, nq, 1.5f); fill(R, no, 1); fill(bias, nb, 1.5f);
    const float scale = 1.0f / sqrtf((float)(D / H));
    if (with_mask) {
        mask = malloc(np * 4);
        for (size_t i = 0; i < np; i++) mask[i] = urand() < 0.3 ? 0.0f : 1.0f / 0.7f;
    }
    const attn_rel_bias rel = { rel_k ? bias : NULL, rel_k };
    attn_attention_forward(out, probs, qkv, T, D, H, scale, rel);
    at_ctx c = { to_double(qkv, nq), R, mask, T, D, H, scale, to_double(bias, nb), rel_k };
    if (!with_mask) {
        double lf = 0.0;
        for (size_t i = 0; i < no; i++) lf += (double)out[i] * R[i];
        CHECK_NEAR(lf, at_loss(&c), 1e-4 * (1 + fabs(lf)));
    }
    float *dq = calloc(nq, 4), *rq = calloc(nq, 4), *db = calloc(nb + 1, 4), *rb = calloc(nb + 1, 4);
    double *num = malloc((nq > nb ? nq : nb) * sizeof *num);
    attn_attention_backward(dq, rel_k ? db : NULL, R, qkv, probs, mask, T, D, H, scale, rel_k,
                            scratch);
    attn_attention_backward_ref(rq, rel_k ? rb : NULL, R, qkv, probs, mask, T, D, H, scale,
                                rel_k);
    numeric_grad(c.qkv, nq, at_loss, &c, num);
    record("attention", compare("attention dqkv", dq, num, nq, 1e-4, 1e-3));
    record("attention ref", compare("attention_ref dqkv", rq, num, nq, 1e-4, 1e-3));
    if (rel_k) {
        numeric_grad(c.bias, nb, at_loss, &c, num);
        record("attention", compare("attention drel_bias", db, num, nb, 1e-4, 1e-3));
        record("attention ref", compare("attention_ref drel_bias", rb, num, nb, 1e-4, 1e-3));
    }
    free(qkv); free(R); free(out); free(probs); free(mask); free(scratch); free(dq); free(rq);
    free(num); free(c.qkv); free(bias); free(db); free(rb); free(c.bias);
}

/* ---- GELU ---- */

typedef struct ge_ctx { double *x; const float *R; size_t n; } ge_ctx;

static double gelu_d(double x) {
    if (x < -10.0) return 0.0;
    const double u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
    return x / (1.0 + exp(-2.0 * u));
}

static double ge_loss(void *p) {
    const ge_ctx *c = p;
    double loss = 0.0;
    for (size_t i = 0; i < c->n; i++) loss += gelu_d(c->x[i]) * c->R[i];
    return loss;
}

static void test_gelu(void) {
    enum { N = 203 };
    float x[N], R[N], y[N], dx[N];
    fill(x, N, 5.0f); fill(R, N, 1);
    x[0] = 0.0f; x[1] = -9.5f; x[2] = -12.0f; x[3] = 9.0f; x[4] = 2e-4f; x[5] = -7e-4f;
    memcpy(y, x, sizeof y);
    attn_kernels_best()->gelu(y, N);
    int forward_ok = 1;
    for (int i = 0; i < N; i++) forward_ok &= fabs(y[i] - gelu_d(x[i])) <= 1e-5 * (1 + fabs(y[i]));
    CHECK(forward_ok);
    ge_ctx c = { to_double(x, N), R, N };
    double num[N];
    memset(dx, 0, sizeof dx);
    attn_gelu_backward(dx, x, R, N);
    numeric_grad(c.x, N, ge_loss, &c, num);
    record("gelu", compare("gelu", dx, num, N, 1e-5, 1e-4));
    CHECK(dx[2] == 0.0f);                    /* below the cutoff the forward is constant 0 */
    /* from the forward's output (s = y / x; the series near 0: x[0], x[4]) */
    memset(dx, 0, sizeof dx);
    attn_gelu_backward_from_output(dx, x, y, R, N);
    record("gelu from output", compare("gelu from output", dx, num, N, 1e-5, 1e-4));
    CHECK(dx[2] == 0.0f);
    free(c.x);
}

/* ---- embeddings ---- */

static const char *EMBED_CONFIG =
    "{\"format\": 1, \"tasks\": [\"classify\"], \"dim\": 4, \"layers\": 1, \"heads\": 1,"
    " \"ffn\": 4, \"max_len\": 8,"
    " \"features\": [{\"kind\": \"shape\", \"buckets\": 5, \"dim\": 3},"
    "                {\"kind\": \"norm\", \"buckets\": 7, \"dim\": 2}],"
    " \"classify\": {\"labels\": [\"a\", \"b\"]}}";

static void test_embed(void) {
    attn_config cfg;
    attn_error err;
    CHECK(attn_config_parse(EMBED_CONFIG, strlen(EMBED_CONFIG), &cfg, &err) == ATTN_OK);
    enum { T = 6, E = 5 };
    const uint32_t rows[T * 2] = { 0, 1, 4, 6, 0, 1, 2, 3, 4, 6, 0, 0 };  /* repeats */
    const uint8_t skip[T] = { 0, 0, 1, 0, 0, 0 };
    float t0[5 * 3], t1[7 * 2], g0[5 * 3] = { 0 }, g1[7 * 2] = { 0 }, out[T * E], R[T * E];
    fill(t0, 15, 1); fill(t1, 14, 1); fill(R, T * E, 1);
    attn_weights w = { 0 }, g = { 0 };
    w.embed[0] = t0; w.embed[1] = t1;
    g.embed[0] = g0; g.embed[1] = g1;
    attn_embed_forward(out, &cfg, &w, rows, T);
    CHECK(out[1 * E + 0] == t0[4 * 3] && out[1 * E + 4] == t1[6 * 2 + 1]);
    attn_embed_backward(&cfg, &g, rows, R, T, 1, skip);
    /* loss = sum R*out is linear in the tables: the exact gradient by counting */
    double n0[15] = { 0 }, n1[14] = { 0 };
    for (int t = 0; t < T; t++) {
        for (int d = 0; d < 3; d++) n0[rows[t * 2] * 3 + d] += R[t * E + d];
        if (!skip[t]) for (int d = 0; d < 2; d++) n1[rows[t * 2 + 1] * 2 + d] += R[t * E + 3 + d];
    }
    record("embed", compare("embed table 0", g0, n0, 15, 1e-6, 1e-6));
    record("embed", compare("embed table 1 (word dropout skip)", g1, n1, 14, 1e-6, 1e-6));
    CHECK(g1[6 * 2] != 0.0f);            /* row 6 also used by token 4, not skipped */
    CHECK(g0[3 * 3] == 0.0f && g1[5 * 2] == 0.0f);   /* unused rows */
    attn_config_free(&cfg);
}

/* The subword feature (between two others, so its slots sit in the middle of a token's rows):
 * forward = mean of the rows of the used slots; backward = dout / count to each of them. */
static const char *EMBED_SUBWORD_CONFIG =
    "{\"format\": 1, \"tasks\": [\"classify\"], \"dim\": 4, \"layers\": 1, \"heads\": 1,"
    " \"ffn\": 4, \"max_len\": 8,"
    " \"features\": [{\"kind\": \"norm\", \"buckets\": 7, \"dim\": 2},"
    "                {\"kind\": \"subword\", \"buckets\": 11, \"dim\": 3},"
    "                {\"kind\": \"shape\", \"buckets\": 5, \"dim\": 2}],"
    " \"classify\": {\"labels\": [\"a\", \"b\"]}}";

typedef struct sub_ctx {
    const attn_config *cfg;
    const uint32_t *rows;
    const float *R;          /* [T, E] weights of the loss sum R * out */
    float *tables[3];
    int T;
} sub_ctx;

/* loss = sum R * embed_forward(rows), in double over the float forward. */
static double sub_loss(sub_ctx *c) {
    enum { E = 7 };
    float out[8 * E];
    attn_weights w = { 0 };
    for (int f = 0; f < 3; f++) w.embed[f] = c->tables[f];
    attn_embed_forward(out, c->cfg, &w, c->rows, c->T);
    double loss = 0.0;
    for (int i = 0; i < c->T * E; i++) loss += (double)c->R[i] * out[i];
    return loss;
}

static void test_embed_subword(void) {
    attn_config cfg;
    attn_error err;
    CHECK(attn_config_parse(EMBED_SUBWORD_CONFIG, strlen(EMBED_SUBWORD_CONFIG), &cfg, &err) == ATTN_OK);
    enum { T = 4, E = 7, S = 2 + ATTN_SUBWORD_SLOTS };
    CHECK(attn_feature_slots(cfg.features, cfg.n_features) == S);
    uint32_t rows[T * S];
    for (int i = 0; i < T * S; i++) rows[i] = ATTN_ROW_NONE;
    /* token 0: word row only; 1: rows 2, 5, 5 (a repeated n-gram counts twice);
     * 2: every slot used; 3: a NONE gap between used slots */
    static const uint32_t norm[T] = { 3, 6, 0, 3 }, shape[T] = { 4, 0, 1, 4 };
    for (int t = 0; t < T; t++) { rows[t * S] = norm[t]; rows[t * S + S - 1] = shape[t]; }
    rows[0 * S + 1] = 9;
    rows[1 * S + 1] = 2; rows[1 * S + 2] = 5; rows[1 * S + 3] = 5;
    for (int k = 0; k < ATTN_SUBWORD_SLOTS; k++) rows[2 * S + 1 + k] = (uint32_t)(k % 11);
    rows[3 * S + 1] = 10; rows[3 * S + 3] = 9; rows[3 * S + 4] = 1;
    float t0[7 * 2], t1[11 * 3], t2[5 * 2], out[T * E], R[T * E];
    float g0[7 * 2] = { 0 }, g1[11 * 3] = { 0 }, g2[5 * 2] = { 0 };
    fill(t0, 14, 1); fill(t1, 33, 1); fill(t2, 10, 1); fill(R, T * E, 1);
    attn_weights w = { 0 }, g = { 0 };
    w.embed[0] = t0; w.embed[1] = t1; w.embed[2] = t2;
    g.embed[0] = g0; g.embed[1] = g1; g.embed[2] = g2;
    attn_embed_forward(out, &cfg, &w, rows, T);
    /* forward, by hand */
    CHECK(out[0] == t0[3 * 2] && out[6] == t2[4 * 2 + 1]);
    CHECK_NEAR(out[2], t1[9 * 3], 1e-7);
    CHECK_NEAR(out[E + 3], (t1[2 * 3 + 1] + 2.0 * t1[5 * 3 + 1]) / 3.0, 1e-6);
    CHECK_NEAR(out[3 * E + 4], (t1[10 * 3 + 2] + t1[9 * 3 + 2] + t1[1 * 3 + 2]) / 3.0, 1e-6);
    double mean2 = 0.0;
    for (int k = 0; k < ATTN_SUBWORD_SLOTS; k++) mean2 += t1[(k % 11) * 3];
    CHECK_NEAR(out[2 * E + 2], mean2 / ATTN_SUBWORD_SLOTS, 1e-6);
    /* backward (word dropout skips the norm feature of token 1) against central differences */
    const uint8_t skip[T] = { 0, 1, 0, 0 };
    attn_embed_backward(&cfg, &g, rows, R, T, 0, skip);
    sub_ctx c = { &cfg, rows, R, { t0, t1, t2 }, T };
    double num1[33];
    for (int i = 0; i < 33; i++) {
        const float keep = t1[i];
        t1[i] = keep + 0.1f;            /* the loss is linear in the table: any step is exact */
        const double up = sub_loss(&c);
        t1[i] = keep - 0.1f;
        const double down = sub_loss(&c);
        t1[i] = keep;
        num1[i] = (up - down) / ((double)(keep + 0.1f) - (double)(keep - 0.1f));
    }
    record("embed subword", compare("subword table", g1, num1, 33, 1e-4, 1e-4));
    CHECK(g1[2 * 3] != 0.0f && g1[5 * 3] != 0.0f && g1[10 * 3] != 0.0f);
    double n0[14] = { 0 }, n2[10] = { 0 };
    for (int t = 0; t < T; t++)
        for (int d = 0; d < 2; d++) {
            if (!skip[t]) n0[norm[t] * 2 + d] += R[t * E + d];
            n2[shape[t] * 2 + d] += R[t * E + 5 + d];
        }
    record("embed subword", compare("norm table beside subword", g0, n0, 14, 1e-6, 1e-6));
    record("embed subword", compare("shape table beside subword", g2, n2, 10, 1e-6, 1e-6));
    attn_config_free(&cfg);
}

/* The gazetteer feature (two lists, between two others): forward = the SUM of its slots' rows,
 * one a list; backward = dout to each of them. */
static const char *EMBED_GAZ_CONFIG =
    "{\"format\": 1, \"tasks\": [\"classify\"], \"dim\": 4, \"layers\": 1, \"heads\": 1,"
    " \"ffn\": 4, \"max_len\": 8,"
    " \"features\": [{\"kind\": \"norm\", \"buckets\": 7, \"dim\": 2},"
    "                {\"kind\": \"gazetteer\", \"dim\": 3, \"lists\": [\"P\", \"L\"]},"
    "                {\"kind\": \"shape\", \"buckets\": 5, \"dim\": 2}],"
    " \"classify\": {\"labels\": [\"a\", \"b\"]}}";

static void test_embed_gazetteer(void) {
    attn_config cfg;
    attn_error err;
    CHECK(attn_config_parse(EMBED_GAZ_CONFIG, strlen(EMBED_GAZ_CONFIG), &cfg, &err) == ATTN_OK);
    CHECK(cfg.features[1].n_buckets == 6 && cfg.features[1].n_lists == 2);
    enum { T = 4, E = 7, S = 4 };
    CHECK(attn_feature_slots(cfg.features, cfg.n_features) == S);
    /* slots: norm, list P (rows 0..2: O B I), list L (rows 3..5), shape */
    static const uint32_t rows[T * S] = { 3, 0, 3, 4,   6, 1, 5, 0,   0, 2, 4, 1,   3, 1, 3, 4 };
    float t0[7 * 2], t1[6 * 3], t2[5 * 2], out[T * E], R[T * E];
    float g0[7 * 2] = { 0 }, g1[6 * 3] = { 0 }, g2[5 * 2] = { 0 };
    fill(t0, 14, 1); fill(t1, 18, 1); fill(t2, 10, 1); fill(R, T * E, 1);
    attn_weights w = { 0 }, g = { 0 };
    w.embed[0] = t0; w.embed[1] = t1; w.embed[2] = t2;
    g.embed[0] = g0; g.embed[1] = g1; g.embed[2] = g2;
    attn_embed_forward(out, &cfg, &w, rows, T);
    for (int t = 0; t < T; t++)
        for (int d = 0; d < 3; d++)
            CHECK_NEAR(out[t * E + 2 + d], (double)t1[rows[t * S + 1] * 3 + d] +
                                           t1[rows[t * S + 2] * 3 + d], 1e-6);
    CHECK(out[E + 5] == t2[0 * 2] && out[E] == t0[6 * 2]);
    attn_embed_backward(&cfg, &g, rows, R, T, -1, NULL);
    double n1[18] = { 0 };
    for (int t = 0; t < T; t++)
        for (int l = 0; l < 2; l++)
            for (int d = 0; d < 3; d++) n1[rows[t * S + 1 + l] * 3 + d] += R[t * E + 2 + d];
    record("embed gazetteer", compare("gazetteer table", g1, n1, 18, 1e-6, 1e-6));
    attn_config_free(&cfg);
}

/* ---- pooling ---- */

typedef struct pool_ctx { double *h; const float *R; int T, D; } pool_ctx;

static double pool_loss(void *p) {
    const pool_ctx *c = p;
    double loss = 0.0;
    for (int i = 0; i < c->D; i++) {
        double s = 0.0, mx = -1e300;
        for (int t = 0; t < c->T; t++) {
            s += c->h[t * c->D + i];
            if (c->h[t * c->D + i] > mx) mx = c->h[t * c->D + i];
        }
        loss += s / c->T * c->R[i] + mx * c->R[c->D + i];
    }
    return loss;
}

/* h[T,D] with, in every column, values at least 0.05 apart (no argmax flip within a step). */
static void fill_separated(float *h, int T, int D) {
    for (int i = 0; i < D; i++) {
        int perm[256];
        for (int t = 0; t < T; t++) perm[t] = t;
        for (int t = T - 1; t > 0; t--) {
            int j = (int)(urand() * (t + 1)), tmp = perm[t];
            perm[t] = perm[j]; perm[j] = tmp;
        }
        for (int t = 0; t < T; t++)
            h[t * D + i] = (float)((perm[t] - T / 2.0) * 0.1 + 0.01 * srand1());
    }
}

static void test_pool(int T, int D) {
    float *h = malloc((size_t)T * D * 4), *R = malloc(2 * (size_t)D * 4);
    float *dh = calloc((size_t)T * D, 4), *acc = malloc(2 * (size_t)D * 4);
    double *num = malloc((size_t)T * D * sizeof *num);
    fill_separated(h, T, D); fill(R, 2 * D, 1);
    pool_ctx c = { to_double(h, (size_t)T * D), R, T, D };
    attn_pool_init(acc, D);
    attn_pool_add(acc, h, T, D);
    attn_pool_finish(acc, D, T);
    double lf = 0.0;
    for (int i = 0; i < 2 * D; i++) lf += (double)acc[i] * R[i];
    CHECK_NEAR(lf, pool_loss(&c), 1e-5 * (1 + fabs(lf)));
    attn_pool_backward(dh, h, R, T, D);
    numeric_grad(c.h, (size_t)T * D, pool_loss, &c, num);
    record("pool", compare("pool mean+max", dh, num, (size_t)T * D, 1e-5, 1e-4));
    free(h); free(R); free(dh); free(acc); free(num); free(c.h);
}

/* ---- heads (float central differences) ---- */

#define HEAD_STEP 1e-2
#define HEAD_ATOL 1e-3
#define HEAD_RTOL 2e-2

static const char *HEADS_CONFIG =
    "{\"format\": 1, \"tasks\": [\"classify\", \"entities\", \"relations\"], \"dim\": 8,"
    " \"layers\": 1, \"heads\": 2, \"ffn\": 8, \"max_len\": 16,"
    " \"features\": [{\"kind\": \"shape\", \"buckets\": 5, \"dim\": 3}],"
    " \"classify\": {\"labels\": [\"a\", \"b\", \"c\"]},"
    " \"entities\": {\"labels\": [\"X\", \"Y\"]},"
    " \"relations\": {\"labels\": [\"r1\", \"r2\"], \"hidden\": 6, \"type_dim\": 3}}";

static void randomize_params(attn_model *m, float scale) {
    for (size_t s = 0; s < m->n_specs; s++) {
        const attn_tensor_spec *sp = &m->specs[s];
        float *x = m->params + sp->offset;
        const int gain = strstr(sp->key, "ln") && sp->ndim == 1 && sp->key[strlen(sp->key) - 1] == 'w';
        for (size_t i = 0; i < sp->size; i++) x[i] = (gain ? 1.0f : 0.0f) + scale * srand1();
    }
}

typedef struct head_ctx {
    const attn_model *m;
    float *h;            /* [T, D], perturbed in place */
    int T, gold, which;  /* which: 0 classify, 1 relation */
    int hs, he, hl, ts, te, tl;
    float *work;
} head_ctx;

static double head_loss(head_ctx *c) {
    float probs[16];
    if (c->which == 0) {
        const int D = c->m->cfg.dim;
        float acc[64];
        attn_pool_init(acc, D);
        attn_pool_add(acc, c->h, c->T, D);
        attn_pool_finish(acc, D, c->T);
        attn_classify_head(c->m, acc, probs);
    } else {
        attn_relation_head(c->m, c->h, c->T, c->hs, c->he, c->hl, c->ts, c->te, c->tl, probs,
                           c->work);
    }
    return -log((double)probs[c->gold]);
}

/* Float central difference of head_loss over x[i] for i in idx[0..n). */
static void head_numeric(head_ctx *c, float *x, const size_t *idx, int n, double *num) {
    for (int k = 0; k < n; k++) {
        const float keep = x[idx[k]];
        x[idx[k]] = keep + (float)HEAD_STEP;
        const double up = head_loss(c);
        x[idx[k]] = keep - (float)HEAD_STEP;
        const double down = head_loss(c);
        x[idx[k]] = keep;
        num[k] = (up - down) / (2.0 * HEAD_STEP);
    }
}

static void check_head_tensor(head_ctx *c, const char *what, float *x, const float *grad,
                              size_t size) {
    enum { PROBES = 12 };
    size_t idx[PROBES];
    float an[PROBES];
    double num[PROBES];
    const int n = size < PROBES ? (int)size : PROBES;
    for (int k = 0; k < n; k++) {
        idx[k] = size <= PROBES ? (size_t)k : (size_t)(urand() * size);
        an[k] = grad[idx[k]];
    }
    head_numeric(c, x, idx, n, num);
    record(c->which == 0 ? "classify head" : "relation head",
           compare(what, an, num, (size_t)n, HEAD_ATOL, HEAD_RTOL));
}

static float *grad_of(attn_model *m, float *gbuf, const char *key, size_t *size) {
    const int i = attn_model_tensor_index(m, key);
    *size = m->specs[i].size;
    return gbuf + m->specs[i].offset;
}

static void test_heads(void) {
    attn_model *m = NULL;
    attn_error err;
    if (attn_train_model_new(HEADS_CONFIG, strlen(HEADS_CONFIG), 7, &m, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    randomize_params(m, 0.8f);
    enum { T = 9, D = 8 };
    float h[T * D], dh[T * D];
    fill_separated(h, T, D);
    float *gbuf = calloc(m->n_params, 4), *work = malloc(ATTN_REL_BWD_WORK(m) * 4);
    attn_weights g;
    attn_weights_bind(&m->cfg, m->specs, m->n_specs, gbuf, &g);
    size_t sz;
    static const char *cls_keys[] = { "cls.w", "cls.b" };
    static const char *rel_keys[] = { "rel.type", "rel.hidden.w", "rel.hidden.b", "rel.out.w",
                                      "rel.out.b" };

    /* classify */
    memset(dh, 0, sizeof dh);
    float probs[3];
    const double loss = attn_classify_backward(m, &g, h, T, 2, 1.0f, dh, probs, work);
    head_ctx c = { m, h, T, 2, 0, 0, 0, 0, 0, 0, 0, work };
    CHECK_NEAR(loss, head_loss(&c), 1e-5);
    CHECK_NEAR(probs[0] + probs[1] + probs[2], 1.0, 1e-5);
    check_head_tensor(&c, "classify dh", h, dh, T * D);
    for (int k = 0; k < 2; k++) {
        float *gr = grad_of(m, gbuf, cls_keys[k], &sz);
        check_head_tensor(&c, cls_keys[k], m->params + (gr - gbuf), gr, sz);
    }

    /* relation: head [1,3) label 1, tail [6,8) label 0, tokens 3..5 between; then reversed and
     * overlapping spans (nothing between) */
    const int cases[3][6] = { { 1, 3, 1, 6, 8, 0 }, { 6, 8, 0, 1, 3, 1 }, { 2, 5, 0, 4, 7, 1 } };
    for (int k = 0; k < 3; k++) {
        memset(dh, 0, sizeof dh);
        memset(gbuf, 0, m->n_params * 4);
        const int *p = cases[k];
        const double rl = attn_relation_backward(m, &g, h, T, p[0], p[1], p[2], p[3], p[4],
                                                 p[5], k, 1.0f, dh, work);
        head_ctx r = { m, h, T, k, 1, p[0], p[1], p[2], p[3], p[4], p[5], work };
        CHECK_NEAR(rl, head_loss(&r), 1e-5);
        check_head_tensor(&r, "relation dh", h, dh, T * D);
        for (int j = 0; j < 5; j++) {
            float *gr = grad_of(m, gbuf, rel_keys[j], &sz);
            check_head_tensor(&r, rel_keys[j], m->params + (gr - gbuf), gr, sz);
        }
        /* tokens outside every span get no gradient */
        CHECK(dh[0 * D] == 0.0f && dh[(T - 1) * D + 3] == 0.0f);
    }

    /* weight scales the gradient linearly */
    memset(dh, 0, sizeof dh);
    memset(gbuf, 0, m->n_params * 4);
    attn_relation_backward(m, &g, h, T, 1, 3, 1, 6, 8, 0, 1, 0.25f, dh, work);
    float *gw = grad_of(m, gbuf, "rel.out.b", &sz);
    float quarter = gw[1];
    memset(gbuf, 0, m->n_params * 4);
    attn_relation_backward(m, &g, h, T, 1, 3, 1, 6, 8, 0, 1, 1.0f, dh, work);
    CHECK_NEAR(quarter * 4, gw[1], 1e-6);

    /* tag emissions: linear, compare with the explicit formula */
    enum { K = 5 };
    float dem[T * K], dh2[T * D];
    fill(dem, T * K, 1);
    memset(dh2, 0, sizeof dh2);
    memset(gbuf, 0, m->n_params * 4);
    attn_tag_emissions_backward(m, &g, h, dem, T, dh2);
    double want_dh = 0.0, want_dw = 0.0, want_db = 0.0;
    for (int k = 0; k < K; k++) want_dh += (double)dem[3 * K + k] * m->w.tag_w[k * D + 5];
    for (int t = 0; t < T; t++) want_dw += (double)dem[t * K + 2] * h[t * D + 4];
    for (int t = 0; t < T; t++) want_db += dem[t * K + 4];
    CHECK_NEAR(dh2[3 * D + 5], want_dh, 1e-5);
    CHECK_NEAR(g.tag_w[2 * D + 4], want_dw, 1e-5);
    CHECK_NEAR(g.tag_b[4], want_db, 1e-5);
    record("tag emissions", fmax(fabs(dh2[3 * D + 5] - want_dh), fabs(g.tag_w[2 * D + 4] - want_dw)));
    free(gbuf); free(work);
    attn_model_free(m);
}

/* ---- the whole model, per task ---- */

#define MODEL_STEP 1e-3
#define MODEL_ATOL 5e-4
#define MODEL_RTOL 1e-2

static const char *MODEL_HEAD =
    "{\"format\": 1, \"dim\": 8, \"layers\": 2, \"heads\": 2, \"ffn\": 12, \"max_len\": 12,"
    " \"features\": [{\"kind\": \"norm\", \"buckets\": 40, \"dim\": 4},"
    "                {\"kind\": \"suffix\", \"buckets\": 30, \"dim\": 3, \"affix\": 2},"
    "                {\"kind\": \"shape\", \"buckets\": 20, \"dim\": 2}],";

/* The same with a subword feature between the others (its slots in the middle of the rows). */
static const char *MODEL_HEAD_SUBWORD =
    "{\"format\": 1, \"dim\": 8, \"layers\": 2, \"heads\": 2, \"ffn\": 12, \"max_len\": 12,"
    " \"features\": [{\"kind\": \"norm\", \"buckets\": 40, \"dim\": 4},"
    "                {\"kind\": \"subword\", \"buckets\": 30, \"dim\": 3, \"min_n\": 2, \"max_n\": 3},"
    "                {\"kind\": \"shape\", \"buckets\": 20, \"dim\": 2}],";

/* The same with a gazetteer feature of three lists between the others. */
static const char *MODEL_HEAD_GAZ =
    "{\"format\": 1, \"dim\": 8, \"layers\": 2, \"heads\": 2, \"ffn\": 12, \"max_len\": 12,"
    " \"features\": [{\"kind\": \"norm\", \"buckets\": 40, \"dim\": 4},"
    "                {\"kind\": \"gazetteer\", \"dim\": 3, \"lists\": [\"A\", \"B\", \"C\"]},"
    "                {\"kind\": \"shape\", \"buckets\": 20, \"dim\": 2}],";

/* First slot of feature f in a token's rows. */
static int first_slot(const attn_config *c, int f) {
    return attn_feature_slots(c->features, f);
}

typedef struct model_case {
    const char *name;
    const char *tail;     /* rest of the config */
} model_case;

static double model_loss(attn_trainer *tr, const attn_example *ex, int n) {
    double loss = 0.0;
    attn_error err;
    if (attn_trainer_grad(tr, ex, n, &loss, &err)) { fprintf(stderr, "%s\n", err.msg); return NAN; }
    return loss;
}

/* Probes up to 6 elements of every tensor; for embedding tables, elements of rows the batch
 * uses, plus one unused row (gradient exactly 0). Returns the max abs error. */
static double check_model_grads(attn_model *m, attn_trainer *tr, const attn_example *ex, int n,
                                const char *name) {
    float *an = malloc(m->n_params * 4);
    double worst = 0.0;
    memcpy(an, attn_trainer_grads(tr), m->n_params * 4);
    int all_ok = 1, nonzero = 0;
    for (size_t s = 0; s < m->n_specs; s++) {
        const attn_tensor_spec *sp = &m->specs[s];
        const int is_table = strncmp(sp->key, "embed.", 6) == 0 && strncmp(sp->key, "embed.proj", 10) != 0;
        int f = -1;
        for (int j = 0; is_table && j < m->cfg.n_features; j++)
            if (strcmp(sp->key + 6, attn_feature_name(m->cfg.features[j].kind)) == 0) f = j;
        const size_t cols = sp->ndim == 2 ? (size_t)sp->shape[1] : sp->size;
        for (int k = 0; k < 6; k++) {
            size_t i;
            if (f >= 0) {
                const attn_example *e = &ex[k % n];
                const int S = attn_feature_slots(m->cfg.features, m->cfg.n_features);
                const uint32_t row = e->rows[(size_t)(k % e->T) * S + first_slot(&m->cfg, f)];
                i = row * cols + (size_t)(urand() * cols);
            } else {
                i = (size_t)(urand() * sp->size);
            }
            float *p = m->params + sp->offset + i;
            const float keep = *p;
            *p = keep + (float)MODEL_STEP;
            const double up = model_loss(tr, ex, n);
            *p = keep - (float)MODEL_STEP;
            const double down = model_loss(tr, ex, n);
            *p = keep;
            const double num = (up - down) / (2.0 * MODEL_STEP), a = an[sp->offset + i];
            const double e = fabs(a - num);
            if (e > worst) worst = e;
            nonzero += a != 0.0;
            if (!(e <= MODEL_ATOL + MODEL_RTOL * fabs(num))) {
                if (all_ok) fprintf(stderr, "%s: %s[%zu]: analytical %.7g numerical %.7g\n",
                                    name, sp->key, i, a, num);
                all_ok = 0;
            }
        }
        if (f >= 0) {       /* a row no token uses */
            size_t unused = 0;
            const int S = attn_feature_slots(m->cfg.features, m->cfg.n_features);
            const int s0 = first_slot(&m->cfg, f), s1 = s0 + attn_feature_n_slots(&m->cfg.features[f]);
            for (size_t r = 0; r < (size_t)sp->shape[0] && !unused; r++) {
                int used = 0;
                for (int j = 0; j < n; j++)
                    for (int t = 0; t < ex[j].T; t++)
                        for (int k = s0; k < s1; k++) used |= ex[j].rows[(size_t)t * S + k] == r;
                if (!used) unused = r + 1;
            }
            if (unused) all_ok &= an[sp->offset + (unused - 1) * cols] == 0.0f;
        }
    }
    CHECK_MSG(all_ok, "%s: whole-model gradient", name);
    CHECK_MSG(nonzero > (int)m->n_specs * 3, "%s: only %d probed gradients are non-zero", name,
              nonzero);
    free(an);
    return worst;
}

/* Rows in the lower half of each table (the upper half stays unused). A subword feature gets
 * its word row and 0..ATTN_SUBWORD_SLOTS-1 more (repeats possible), then ATTN_ROW_NONE; a
 * gazetteer feature O or B in each list (its I rows stay unused). */
static void random_rows(uint32_t *rows, int T, const attn_config *c) {
    for (int t = 0; t < T; t++)
        for (int f = 0; f < c->n_features; f++) {
            const attn_feature_spec *fs = &c->features[f];
            const int n = attn_feature_n_slots(fs);
            if (fs->kind == ATTN_FEAT_GAZETTEER) {
                for (int l = 0; l < n; l++) *rows++ = ATTN_GAZ_ROW(l, urand() < 0.5 ? 0 : 1);
                continue;
            }
            const int used = 1 + (int)(urand() * n);
            for (int k = 0; k < n; k++)
                *rows++ = k < used ? (uint32_t)(urand() * (fs->n_buckets / 2)) : ATTN_ROW_NONE;
        }
}

/* dropout: all four rates on. attn_trainer_grad draws the masks from (seed, step, example) and
 * does not advance the step, so every loss evaluation sees the same masks. */
static void test_model_with(const char *head, const char *name, const char *tail, int threads,
                            int dropout) {
    char config[2048];
    snprintf(config, sizeof config, "%s%s", head, tail);
    attn_model *m = NULL;
    attn_trainer *tr = NULL;
    attn_error err;
    if (attn_train_model_new(config, strlen(config), 3, &m, &err)) {
        CHECK_MSG(0, "%s: %s", name, err.msg);
        return;
    }
    randomize_params(m, 0.4f);
    attn_train_opts o = attn_train_defaults();
    o.rel_negatives = 100;     /* every negative pair: the loss is deterministic */
    o.threads = threads;
    if (dropout) {
        o.dropout_embed = 0.2f; o.dropout_attn = 0.2f; o.dropout_resid = 0.2f;
        o.word_dropout = 0.3f;
    }
    if (attn_trainer_new(m, &o, &tr, &err)) { CHECK_MSG(0, "%s", err.msg); attn_model_free(m); return; }
    uint32_t rows0[7 * ATTN_MAX_SLOTS], rows1[5 * ATTN_MAX_SLOTS];
    random_rows(rows0, 7, &m->cfg);
    random_rows(rows1, 5, &m->cfg);
    static const int tags0[7] = { 1, 2, 0, 3, 0, 1, 2 }, tags1[5] = { 0, 3, 4, 4, 0 };
    static const attn_span spans0[3] = { { 0, 2, 0 }, { 3, 4, 1 }, { 5, 7, 0 } };
    static const attn_span spans1[1] = { { 1, 4, 1 } };
    static const attn_rel_gold rels0[2] = { { 0, 1, 0 }, { 2, 0, 1 } };
    attn_example ex[2] = {
        { rows0, 7, 1, tags0, spans0, 3, rels0, 2, NULL, NULL },
        { rows1, 5, 0, tags1, spans1, 1, NULL, 0, NULL, NULL },
    };
    double loss = 0.0;
    CHECK(attn_trainer_grad(tr, ex, 2, &loss, &err) == ATTN_OK);
    CHECK_MSG(loss > 0.0 && isfinite(loss), "%s: loss %g", name, loss);
    record(name, check_model_grads(m, tr, ex, 2, name));
    attn_trainer_free(tr);
    attn_model_free(m);
}

static void test_model(const char *name, const char *tail, int threads, int dropout) {
    test_model_with(MODEL_HEAD, name, tail, threads, dropout);
}

/* The gradient of a batch equals the mean of the per-example gradients, with 1 or 2 threads. */
static void test_batch_mean(void) {
    char config[2048];
    snprintf(config, sizeof config, "%s%s", MODEL_HEAD,
             " \"tasks\": [\"classify\"], \"classify\": {\"labels\": [\"a\", \"b\"]}}");
    attn_model *m = NULL;
    attn_trainer *t1 = NULL, *t2 = NULL;
    attn_error err;
    if (attn_train_model_new(config, strlen(config), 5, &m, &err)) { CHECK_MSG(0, "%s", err.msg); return; }
    randomize_params(m, 0.4f);
    attn_train_opts o = attn_train_defaults();
    CHECK(attn_trainer_new(m, &o, &t1, &err) == ATTN_OK);
    o.threads = 2;
    CHECK(attn_trainer_new(m, &o, &t2, &err) == ATTN_OK);
    uint32_t rows[3][9 * 3];
    attn_example ex[3];
    memset(ex, 0, sizeof ex);
    for (int i = 0; i < 3; i++) {
        random_rows(rows[i], 9 - 2 * i, &m->cfg);
        ex[i].rows = rows[i]; ex[i].T = 9 - 2 * i; ex[i].label = i % 2;
    }
    float *sum = calloc(m->n_params, 4);
    double l_sum = 0.0, l, l1, l2;
    for (int i = 0; i < 3; i++) {
        attn_trainer_grad(t1, &ex[i], 1, &l, &err);
        l_sum += l;
        for (size_t k = 0; k < m->n_params; k++) sum[k] += attn_trainer_grads(t1)[k] / 3.0f;
    }
    attn_trainer_grad(t1, ex, 3, &l1, &err);
    float *g1 = malloc(m->n_params * 4);
    memcpy(g1, attn_trainer_grads(t1), m->n_params * 4);
    attn_trainer_grad(t2, ex, 3, &l2, &err);
    const float *g2 = attn_trainer_grads(t2);
    double e1 = 0.0, e2 = 0.0, mx = 0.0;
    for (size_t k = 0; k < m->n_params; k++) {
        e1 = fmax(e1, fabs(g1[k] - sum[k]));
        e2 = fmax(e2, fabs(g2[k] - g1[k]));
        mx = fmax(mx, fabs(g1[k]));
    }
    /* float rounding only: the batch runs its linear layers as one GEMM over the chunk, the
     * thread count changes the chunks, and GEMM kernels sum in their own order */
    CHECK_NEAR(l1, l_sum / 3, 1e-6 * fabs(l1) + 1e-12);
    CHECK_NEAR(l2, l1, 1e-6 * fabs(l1));
    CHECK_MSG(e1 <= 1e-6 * mx && mx > 0, "batch mean: %g (max %g)", e1, mx);
    CHECK_MSG(e2 <= 1e-6 * mx, "2 threads vs 1: %g (max %g)", e2, mx);
    free(sum); free(g1);
    attn_trainer_free(t1); attn_trainer_free(t2);
    attn_model_free(m);
}

int main(void) {
    openblas_set_num_threads(1);
    /* shapes on both sides of the few-rows forward path, and non-multiples of vector widths */
    test_matmul(1, 7, 5);
    test_matmul(3, 13, 9);
    test_matmul(17, 20, 33);
    test_matmul(33, 5, 3);
    test_layernorm(1, 7, 0.0f);
    test_layernorm(5, 33, 0.0f);
    test_layernorm(4, 16, 50.0f);
    test_attention(1, 4, 1, 0, 0);
    test_attention(5, 8, 2, 0, 0);
    test_attention(7, 12, 3, 0, 0);
    test_attention(6, 8, 2, 1, 0);
    test_attention(19, 8, 4, 1, 0);
    /* relative position biases: distances within k, and clamped past it (T > k + 1) */
    test_attention(1, 4, 1, 0, 2);
    test_attention(7, 12, 3, 0, 2);
    test_attention(9, 8, 2, 1, 3);
    test_attention(5, 8, 2, 0, 8);
    test_gelu();
    test_embed();
    test_embed_subword();
    test_embed_gazetteer();
    test_pool(1, 5);
    test_pool(7, 9);
    test_heads();
    test_model("classify", " \"tasks\": [\"classify\"], \"classify\": {\"labels\": [\"a\", \"b\", \"c\"]}}", 1, 0);
    test_model("entities", " \"tasks\": [\"entities\"], \"entities\": {\"labels\": [\"X\", \"Y\"]}}", 1, 0);
    test_model("entities+dropout", " \"tasks\": [\"entities\"], \"entities\": {\"labels\": [\"X\", \"Y\"]}}", 1, 1);
    test_model("relations", " \"tasks\": [\"entities\", \"relations\"],"
               " \"entities\": {\"labels\": [\"X\", \"Y\"]},"
               " \"relations\": {\"labels\": [\"r1\", \"r2\"], \"hidden\": 6, \"type_dim\": 3}}", 2, 0);
    test_model("embed_context", " \"embed_context\": 2, \"tasks\": [\"entities\"],"
               " \"entities\": {\"labels\": [\"X\", \"Y\"]}}", 2, 1);
    test_model("rel_positions", " \"rel_positions\": 3, \"tasks\": [\"entities\"],"
               " \"entities\": {\"labels\": [\"X\", \"Y\"]}}", 2, 1);
    test_model("rel_positions+relations", " \"rel_positions\": 1, \"embed_context\": 1,"
               " \"tasks\": [\"entities\", \"relations\"], \"entities\": {\"labels\": [\"X\", \"Y\"]},"
               " \"relations\": {\"labels\": [\"r1\", \"r2\"], \"hidden\": 5, \"type_dim\": 2}}", 1, 0);
    test_model_with(MODEL_HEAD_SUBWORD, "subword", " \"tasks\": [\"entities\"],"
                    " \"entities\": {\"labels\": [\"X\", \"Y\"]}}", 1, 0);
    test_model_with(MODEL_HEAD_SUBWORD, "subword+dropout", " \"tasks\": [\"classify\"],"
                    " \"classify\": {\"labels\": [\"a\", \"b\"]}}", 2, 1);
    test_model_with(MODEL_HEAD_GAZ, "gazetteer", " \"tasks\": [\"entities\"],"
                    " \"entities\": {\"labels\": [\"X\", \"Y\"]}}", 1, 0);
    test_model_with(MODEL_HEAD_GAZ, "gazetteer+dropout", " \"tasks\": [\"classify\"],"
                    " \"classify\": {\"labels\": [\"a\", \"b\"]}}", 2, 1);
    test_batch_mean();
    for (int i = 0; i < n_max_err; i++)
        printf("  max |analytical - numerical| %-14s %.3g\n", max_err_name[i], max_err[i]);
    return CHECK_DONE();
}
