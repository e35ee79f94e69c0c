/* test_crf.c: the CRF (model/crf.c) against brute-force enumeration of every tag path.
 *
 * The reference (ref_*) works in double on its own copy of the weights and simply walks all
 * K^T paths, so it shares no code and no numerics with crf.c. Checked: IOB2 constraints,
 * Viterbi (score, path, tie-breaking), log Z, marginals, path scores, the NLL and every
 * component of its gradient (against central differences of the brute-force NLL in double,
 * and of crf.c's own NLL in float), bad gold paths, no allowed path, T = 1, and T = 5000.
 *
 * Tolerances. crf.c stores its renormalised log tables as floats, so each position may add
 * about one float ulp of the scores it combines (|start|+|em|+|trans|+|end| <= 4 * scale);
 * over T positions that bounds the error of any log quantity by
 *   tol_log = 8 * 2^-24 * (1 + 4 * scale) * T,
 * and a probability p = exp(log ...) moves by at most p * tol_log <= tol_log. The worst
 * errors seen are printed at the end. */
#include "check.h"
#include "crf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_K 7
#define MAX_T 6
#define FLOAT_EPS (1.0 / 16777216.0)    /* 2^-24: half an ulp of 1.0f */

static double tol_log(double scale, int T) {
    return 8.0 * FLOAT_EPS * (1.0 + 4.0 * scale) * T;
}

/* ---- worst errors seen, reported at the end -------------------------------------------- */

static double worst_log_z, worst_log_z_rel, worst_viterbi, worst_marg, worst_path_score, worst_nll;
static double worst_grad_brute, worst_grad_float_fd, worst_long_log_z;

static void note(double *worst, double err) {
    if (err > *worst) *worst = err;
}

/* ---- deterministic random numbers ------------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng_next(void) {     /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static double rng_uniform(void) {    /* [-1, 1) */
    return (double)(rng_next() >> 11) / 4503599627370496.0 - 1.0;
}

static int rng_int(int n) {          /* [0, n) */
    return (int)(rng_next() % (uint64_t)n);
}

/* ---- a test case: float weights for crf.c, a double copy for the reference ------------- */

typedef struct test_case {
    int K, T;
    float trans[MAX_K * MAX_K], start[MAX_K], end[MAX_K], em[MAX_T * MAX_K];
    uint8_t allowed[MAX_K * MAX_K], allowed_start[MAX_K];
    int constrained;
    attn_crf crf;
} test_case;

typedef struct ref_model {
    int K, T;
    double trans[MAX_K * MAX_K], start[MAX_K], end[MAX_K], em[MAX_T * MAX_K];
    const uint8_t *allowed, *allowed_start;   /* NULL: all allowed */
} ref_model;

static void case_bind(test_case *c) {
    c->crf = (attn_crf){ c->K, c->trans, c->start, c->end,
                         c->constrained ? c->allowed : NULL,
                         c->constrained ? c->allowed_start : NULL };
}

/* Random weights in [-scale, scale); integer_weights: integers in [-2, 2] (exact sums, so
 * tied paths tie exactly). */
static void case_random(test_case *c, int K, int T, int constrained, double scale,
                        int integer_weights) {
    memset(c, 0, sizeof *c);
    c->K = K; c->T = T; c->constrained = constrained;
    float *all[4] = { c->trans, c->start, c->end, c->em };
    int sizes[4] = { K * K, K, K, T * K };
    for (int a = 0; a < 4; a++)
        for (int i = 0; i < sizes[a]; i++)
            all[a][i] = integer_weights ? (float)(rng_int(5) - 2) : (float)(scale * rng_uniform());
    attn_bio_constraints((K - 1) / 2, c->allowed, c->allowed_start);
    case_bind(c);
}

static void ref_from_case(const test_case *c, ref_model *m) {
    memset(m, 0, sizeof *m);
    m->K = c->K; m->T = c->T;
    for (int i = 0; i < c->K * c->K; i++) m->trans[i] = c->trans[i];
    for (int k = 0; k < c->K; k++) { m->start[k] = c->start[k]; m->end[k] = c->end[k]; }
    for (int i = 0; i < c->T * c->K; i++) m->em[i] = c->em[i];
    m->allowed = c->crf.allowed;
    m->allowed_start = c->crf.allowed_start;
}

/* ---- the brute-force reference ---------------------------------------------------------- */

static int ref_path_allowed(const ref_model *m, const int *y) {
    if (m->allowed_start && !m->allowed_start[y[0]]) return 0;
    for (int t = 1; t < m->T; t++)
        if (m->allowed && !m->allowed[y[t - 1] * m->K + y[t]]) return 0;
    return 1;
}

static double ref_path_score(const ref_model *m, const int *y) {
    double s = m->start[y[0]] + m->end[y[m->T - 1]];
    for (int t = 0; t < m->T; t++) s += m->em[t * m->K + y[t]];
    for (int t = 1; t < m->T; t++) s += m->trans[y[t - 1] * m->K + y[t]];
    return s;
}

/* Next path in odometer order; 0 after the last one. */
static int next_path(int *y, int T, int K) {
    for (int t = 0; t < T; t++) {
        if (++y[t] < K) return 1;
        y[t] = 0;
    }
    return 0;
}

/* a < b comparing from the last position backwards (the documented Viterbi tie rule). */
static int reverse_lex_less(const int *a, const int *b, int T) {
    for (int t = T - 1; t >= 0; t--)
        if (a[t] != b[t]) return a[t] < b[t];
    return 0;
}

typedef struct ref_result {
    double log_z;
    double best, second;            /* best and runner-up scores over allowed paths */
    int best_path[MAX_T];
    double marg[MAX_T * MAX_K];
} ref_result;

static void ref_enumerate(const ref_model *m, ref_result *r) {
    int y[MAX_T] = { 0 };
    double max = -INFINITY, sum = 0.0;
    r->best = r->second = -INFINITY;
    memset(r->best_path, 0, sizeof r->best_path);
    do {
        if (!ref_path_allowed(m, y)) continue;
        double s = ref_path_score(m, y);
        if (s > max) { sum = sum * exp(max - s) + 1.0; max = s; }
        else sum += exp(s - max);
        if (s > r->best || (s == r->best && reverse_lex_less(y, r->best_path, m->T))) {
            if (r->best > r->second) r->second = r->best;
            r->best = s;
            memcpy(r->best_path, y, sizeof y);
        } else if (s > r->second) {
            r->second = s;
        }
    } while (next_path(y, m->T, m->K));
    r->log_z = sum > 0 ? max + log(sum) : -INFINITY;

    memset(r->marg, 0, sizeof r->marg);
    memset(y, 0, sizeof y);
    do {
        if (!ref_path_allowed(m, y)) continue;
        double p = exp(ref_path_score(m, y) - r->log_z);
        for (int t = 0; t < m->T; t++) r->marg[t * m->K + y[t]] += p;
    } while (next_path(y, m->T, m->K));
}

static double ref_nll(const ref_model *m, const int *gold) {
    ref_result r;
    ref_enumerate(m, &r);
    return r.log_z - ref_path_score(m, gold);
}

/* ---- helpers ----------------------------------------------------------------------------- */

static float *new_work(int T, int K) {
    return malloc(ATTN_CRF_WORK(T, K) * sizeof(float));    /* exact size: ASan sees overruns */
}

static int is_inside_tag(int k) {
    return k > 0 && k % 2 == 0;
}

/* A random allowed path of c (rejection sampling; O is always allowed so this terminates). */
static void random_allowed_path(const test_case *c, int *y) {
    do {
        for (int t = 0; t < c->T; t++) y[t] = rng_int(c->K);
    } while (!attn_crf_path_allowed(&c->crf, c->T, y));
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_bio_constraints(void) {
    /* Two labels: 0 = O, 1 = B-A, 2 = I-A, 3 = B-B, 4 = I-B. Row = from, column = to. */
    static const uint8_t expect[25] = {
        /* to:    O  B-A I-A B-B I-B */
        /* O   */ 1, 1,  0,  1,  0,
        /* B-A */ 1, 1,  1,  1,  0,
        /* I-A */ 1, 1,  1,  1,  0,
        /* B-B */ 1, 1,  0,  1,  1,
        /* I-B */ 1, 1,  0,  1,  1,
    };
    static const uint8_t expect_start[5] = { 1, 1, 0, 1, 0 };
    uint8_t allowed[25], start[5];
    memset(allowed, 7, sizeof allowed);
    memset(start, 7, sizeof start);
    attn_bio_constraints(2, allowed, start);
    CHECK(memcmp(allowed, expect, sizeof expect) == 0);
    CHECK(memcmp(start, expect_start, sizeof expect_start) == 0);

    uint8_t one = 7, one_start = 7;            /* no labels: only "O" */
    attn_bio_constraints(0, &one, &one_start);
    CHECK(one == 1 && one_start == 1);

    float zeros[25] = { 0 };
    attn_crf crf = { 5, zeros, zeros, zeros, allowed, start };
    CHECK(attn_crf_path_allowed(&crf, 4, (int[]){ 1, 2, 2, 0 }));      /* B-A I-A I-A O */
    CHECK(attn_crf_path_allowed(&crf, 3, (int[]){ 3, 4, 1 }));         /* B-B I-B B-A */
    CHECK(!attn_crf_path_allowed(&crf, 2, (int[]){ 2, 0 }));           /* starts with I-A */
    CHECK(!attn_crf_path_allowed(&crf, 2, (int[]){ 0, 4 }));           /* O I-B */
    CHECK(!attn_crf_path_allowed(&crf, 2, (int[]){ 1, 4 }));           /* B-A I-B */
    CHECK(!attn_crf_path_allowed(&crf, 2, (int[]){ 0, 5 }));           /* tag out of range */
    CHECK(!attn_crf_path_allowed(&crf, 2, (int[]){ -1, 0 }));
    CHECK(!attn_crf_path_allowed(&crf, 0, (int[]){ 0 }));
}

/* One random case: log Z, Viterbi, marginals, a path score and the NLL against brute force. */
static void check_case_vs_brute(const test_case *c, double scale) {
    int K = c->K, T = c->T;
    ref_model m;
    ref_result r;
    ref_from_case(c, &m);
    ref_enumerate(&m, &r);
    double tol = tol_log(scale, T);
    float *work = new_work(T, K), marg[MAX_T * MAX_K];

    double log_z = attn_crf_log_partition(&c->crf, c->em, T, work);
    CHECK_NEAR(log_z, r.log_z, tol);
    note(&worst_log_z, fabs(log_z - r.log_z));
    note(&worst_log_z_rel, fabs(log_z - r.log_z) / fmax(1.0, fabs(r.log_z)));

    int path[MAX_T];
    float best = attn_crf_viterbi(&c->crf, c->em, T, path, work);
    /* the returned score is float: allow its rounding too */
    CHECK_NEAR(best, r.best, tol + FLOAT_EPS * fabs(r.best));
    note(&worst_viterbi, fabs(best - r.best));
    CHECK(!c->constrained || attn_crf_path_allowed(&c->crf, T, path));
    CHECK(ref_path_score(&m, path) >= r.best - tol);
    if (r.best - r.second > 2 * tol)               /* a clear winner: must be found exactly */
        CHECK(memcmp(path, r.best_path, (size_t)T * sizeof(int)) == 0);

    double mz = attn_crf_marginals(&c->crf, c->em, T, marg, work);
    CHECK_NEAR(mz, r.log_z, tol);
    for (int t = 0; t < T; t++) {
        double sum = 0.0;
        for (int k = 0; k < K; k++) {
            CHECK_NEAR(marg[t * K + k], r.marg[t * K + k], tol + 4 * FLOAT_EPS);
            note(&worst_marg, fabs(marg[t * K + k] - r.marg[t * K + k]));
            sum += marg[t * K + k];
        }
        CHECK_NEAR(sum, 1.0, 1e-5);
    }
    if (c->constrained)                            /* I-X can never start a sequence */
        for (int k = 0; k < K; k++)
            if (is_inside_tag(k)) CHECK(marg[k] == 0.0f);

    int any[MAX_T];                                /* any path, allowed or not */
    for (int t = 0; t < T; t++) any[t] = rng_int(K);
    double ps = attn_crf_path_score(&c->crf, c->em, T, any);
    CHECK_NEAR(ps, ref_path_score(&m, any), 1e-12 * (1 + 4 * scale * T));
    note(&worst_path_score, fabs(ps - ref_path_score(&m, any)));

    int gold[MAX_T];
    random_allowed_path(c, gold);
    float d_em[MAX_T * MAX_K] = { 0 }, d_trans[MAX_K * MAX_K] = { 0 }, d_start[MAX_K] = { 0 },
          d_end[MAX_K] = { 0 };
    double nll = attn_crf_nll_backward(&c->crf, c->em, T, gold, d_em, d_trans, d_start, d_end,
                                       work);
    double ref = r.log_z - ref_path_score(&m, gold);
    CHECK_NEAR(nll, ref, tol);
    CHECK(nll >= -tol);
    note(&worst_nll, fabs(nll - ref));
    free(work);
}

static void test_random_vs_brute(void) {
    static const int Ks[] = { 3, 5, 7 };
    static const double scales[] = { 1.0, 10.0, 1000.0 };
    for (int ki = 0; ki < 3; ki++)
        for (int T = 1; T <= MAX_T; T++)
            for (int constrained = 0; constrained <= 1; constrained++)
                for (int si = 0; si < 3; si++)
                    for (int rep = 0; rep < 3; rep++) {
                        test_case c;
                        case_random(&c, Ks[ki], T, constrained, scales[si], 0);
                        check_case_vs_brute(&c, scales[si]);
                    }
}

/* Integer weights make ties exact: the path must be the documented one, bit for bit. */
static void test_viterbi_ties(void) {
    for (int rep = 0; rep < 60; rep++) {
        int K = 3 + 2 * rng_int(2), T = 1 + rng_int(MAX_T), constrained = rng_int(2);
        test_case c;                        /* (separate statements: same draws on any compiler) */
        case_random(&c, K, T, constrained, 2.0, 1);
        ref_model m;
        ref_result r;
        ref_from_case(&c, &m);
        ref_enumerate(&m, &r);
        float *work = new_work(c.T, c.K);
        int path[MAX_T];
        float best = attn_crf_viterbi(&c.crf, c.em, c.T, path, work);
        CHECK(best == (float)r.best);
        CHECK(memcmp(path, r.best_path, (size_t)c.T * sizeof(int)) == 0);
        free(work);
    }
    /* all weights zero: every path ties, the answer is all "O" */
    test_case c;
    case_random(&c, 7, 5, 0, 0.0, 0);
    float *work = new_work(5, 7);
    int path[5];
    CHECK(attn_crf_viterbi(&c.crf, c.em, 5, path, work) == 0.0f);
    for (int t = 0; t < 5; t++) CHECK(path[t] == 0);
    free(work);
}

/* T = 1: the answer is the argmax of start + em + end, and log Z its log-sum-exp. */
static void test_single_token(void) {
    test_case c;
    case_random(&c, 5, 1, 1, 3.0, 0);
    double best = -INFINITY, max = -INFINITY, sum = 0;
    int arg = -1;
    for (int k = 0; k < 5; k++) {
        if (is_inside_tag(k)) continue;
        double s = (double)c.start[k] + c.em[k] + c.end[k];
        if (s > best) { best = s; arg = k; }
        if (s > max) { sum = sum * exp(max - s) + 1; max = s; } else sum += exp(s - max);
    }
    float *work = new_work(1, 5);
    int path[1];
    CHECK_NEAR(attn_crf_viterbi(&c.crf, c.em, 1, path, work), best, 1e-5);
    CHECK(path[0] == arg);
    CHECK_NEAR(attn_crf_log_partition(&c.crf, c.em, 1, work), max + log(sum), 1e-5);
    free(work);
}

/* Fills every gradient buffer with the same recognisable junk, so "+=" and "untouched" can
 * be told apart from "=". */
typedef struct grads {
    float em[MAX_T * MAX_K], trans[MAX_K * MAX_K], start[MAX_K], end[MAX_K];
} grads;

static void grads_fill(grads *g) {
    float *all = (float *)g;
    for (size_t i = 0; i < sizeof *g / sizeof(float); i++) all[i] = 0.25f * (float)(i % 7);
}

/* d NLL / d theta for every parameter, against central differences of the brute-force NLL
 * in double (h = 1e-5: truncation ~h^2, rounding ~1e-16/h; both far below the float
 * precision of crf.c's gradient, hence the tolerance 2e-5). */
static void check_gradient_vs_brute(int K, int T, int constrained, double scale) {
    test_case c;
    case_random(&c, K, T, constrained, scale, 0);
    ref_model m;
    ref_from_case(&c, &m);
    int gold[MAX_T];
    random_allowed_path(&c, gold);

    grads g, before;
    grads_fill(&g);
    before = g;
    float *work = new_work(T, K);
    double nll = attn_crf_nll_backward(&c.crf, c.em, T, gold, g.em, g.trans, g.start, g.end, work);
    CHECK_NEAR(nll, ref_nll(&m, gold), tol_log(scale, T));

    double *params[4] = { m.em, m.trans, m.start, m.end };
    float *got[4] = { g.em, g.trans, g.start, g.end }, *was[4] = { before.em, before.trans,
                                                                    before.start, before.end };
    int sizes[4] = { T * K, K * K, K, K };
    const double h = 1e-5;
    for (int a = 0; a < 4; a++)
        for (int i = 0; i < sizes[a]; i++) {
            double keep = params[a][i];
            params[a][i] = keep + h;
            double up = ref_nll(&m, gold);
            params[a][i] = keep - h;
            double down = ref_nll(&m, gold);
            params[a][i] = keep;
            double fd = (up - down) / (2 * h);
            double analytic = (double)got[a][i] - was[a][i];    /* it accumulated */
            CHECK_NEAR(analytic, fd, 2e-5 * (1 + fabs(fd)));
            note(&worst_grad_brute, fabs(analytic - fd));
        }
    free(work);
}

static void test_gradients_vs_brute(void) {
    check_gradient_vs_brute(3, 1, 1, 1.0);
    check_gradient_vs_brute(3, 4, 0, 1.0);
    check_gradient_vs_brute(5, 3, 1, 2.0);
    check_gradient_vs_brute(5, 5, 1, 0.5);
    check_gradient_vs_brute(7, 3, 1, 1.0);
    check_gradient_vs_brute(7, 4, 0, 3.0);
}

/* A sequence too long to enumerate (T = 30): central differences of crf.c's own NLL on the
 * float parameters, eps = 1e-2. Truncation error eps^2/6 * |f'''| <~ 2e-5; rounding of the
 * NLL (~T * ulp(4 * scale) ~ 1e-5) divided by 2 eps gives <~ 5e-4; tolerance 2e-3 absolute
 * plus 1e-3 relative. Also: each row of d_em and all of d_trans sum to 0 (probabilities sum to
 * 1 and gold uses exactly one tag per position and T - 1 transitions). */
static void test_gradients_float_fd(void) {
    enum { K = 5, T = 30 };
    float trans[K * K], start[K], end[K], em[T * K];
    uint8_t allowed[K * K], allowed_start[K];
    attn_bio_constraints(2, allowed, allowed_start);
    float *all[4] = { em, trans, start, end };
    int sizes[4] = { T * K, K * K, K, K };
    for (int a = 0; a < 4; a++)
        for (int i = 0; i < sizes[a]; i++) all[a][i] = (float)rng_uniform();
    attn_crf crf = { K, trans, start, end, allowed, allowed_start };
    int gold[T];
    float *work = new_work(T, K);
    attn_crf_viterbi(&crf, em, T, gold, work);
    gold[3] = 1; gold[4] = 2; gold[5] = 0;          /* make sure gold is not just the argmax */
    if (is_inside_tag(gold[6])) gold[6]--;          /* O -> I-x is not allowed, O -> B-x is */
    CHECK(attn_crf_path_allowed(&crf, T, gold));

    float d_em[T * K] = { 0 }, d_trans[K * K] = { 0 }, d_start[K] = { 0 }, d_end[K] = { 0 };
    float *grad[4] = { d_em, d_trans, d_start, d_end };
    CHECK(attn_crf_nll_backward(&crf, em, T, gold, d_em, d_trans, d_start, d_end, work) >= 0);

    for (int a = 0; a < 4; a++)
        for (int i = 0; i < sizes[a]; i++) {
            float keep = all[a][i];
            all[a][i] = keep + 1e-2f;
            double x_up = all[a][i];
            double up = attn_crf_log_partition(&crf, em, T, work)
                        - attn_crf_path_score(&crf, em, T, gold);
            all[a][i] = keep - 1e-2f;
            double x_down = all[a][i];
            double down = attn_crf_log_partition(&crf, em, T, work)
                          - attn_crf_path_score(&crf, em, T, gold);
            all[a][i] = keep;
            double fd = (up - down) / (x_up - x_down);
            CHECK_NEAR(grad[a][i], fd, 2e-3 + 1e-3 * fabs(fd));
            note(&worst_grad_float_fd, fabs(grad[a][i] - fd));
        }

    double trans_sum = 0;
    for (int i = 0; i < K * K; i++) trans_sum += d_trans[i];
    CHECK_NEAR(trans_sum, 0.0, 1e-4);
    for (int t = 0; t < T; t++) {
        double row = 0;
        for (int k = 0; k < K; k++) row += d_em[t * K + k];
        CHECK_NEAR(row, 0.0, 1e-5);
    }
    for (int i = 0; i < K * K; i++)                /* disallowed transitions: no gradient */
        if (!allowed[i]) CHECK(d_trans[i] == 0.0f);
    free(work);
}

static void test_bad_gold(void) {
    test_case c;
    case_random(&c, 5, 4, 1, 1.0, 0);
    float *work = new_work(4, 5);
    static const int bad[][4] = {
        { 2, 2, 0, 0 },     /* starts with I-A */
        { 0, 0, 4, 0 },     /* O -> I-B */
        { 1, 4, 0, 0 },     /* B-A -> I-B */
        { 0, 5, 0, 0 },     /* tag out of range */
        { 0, -1, 0, 0 },
    };
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        grads g, before;
        grads_fill(&g);
        before = g;
        double nll = attn_crf_nll_backward(&c.crf, c.em, 4, bad[b], g.em, g.trans, g.start,
                                           g.end, work);
        CHECK(isnan(nll));
        CHECK(memcmp(&g, &before, sizeof g) == 0);
    }
    /* without constraints the same tags (in range) are a fine gold path */
    attn_crf free_crf = c.crf;
    free_crf.allowed = NULL;
    free_crf.allowed_start = NULL;
    grads g;
    memset(&g, 0, sizeof g);
    CHECK(attn_crf_nll_backward(&free_crf, c.em, 4, bad[0], g.em, g.trans, g.start, g.end,
                                work) >= 0);
    free(work);
}

/* Hand-made constraints that allow nothing: -inf, all-zero marginals, no NaN anywhere. */
static void test_no_allowed_path(void) {
    test_case c;
    case_random(&c, 3, 3, 1, 1.0, 0);
    memset(c.allowed, 0, sizeof c.allowed);          /* no transition at all */
    float *work = new_work(3, 3), marg[9];
    int path[3] = { 9, 9, 9 };
    CHECK(attn_crf_viterbi(&c.crf, c.em, 3, path, work) == -INFINITY);
    CHECK(path[0] == 0 && path[1] == 0 && path[2] == 0);
    CHECK(attn_crf_log_partition(&c.crf, c.em, 3, work) == -INFINITY);
    CHECK(attn_crf_marginals(&c.crf, c.em, 3, marg, work) == -INFINITY);
    for (int i = 0; i < 9; i++) CHECK(marg[i] == 0.0f);

    memset(c.allowed_start, 0, sizeof c.allowed_start);   /* T = 1: no start either */
    CHECK(attn_crf_viterbi(&c.crf, c.em, 1, path, work) == -INFINITY);
    CHECK(attn_crf_log_partition(&c.crf, c.em, 1, work) == -INFINITY);
    free(work);
}

static void test_empty_sequence(void) {
    test_case c;
    case_random(&c, 3, 1, 0, 1.0, 0);
    float work[8];
    int path[1] = { 9 };
    CHECK(isnan(attn_crf_viterbi(&c.crf, c.em, 0, path, work)) && path[0] == 9);
    CHECK(isnan(attn_crf_log_partition(&c.crf, c.em, 0, work)));
    CHECK(isnan(attn_crf_marginals(&c.crf, c.em, 0, work, work)));
    CHECK(isnan(attn_crf_path_score(&c.crf, c.em, 0, path)));
}

/* T = 5000. (1) Zero transitions, no constraints: the CRF factorises per position, so
 * log Z = sum_t logsumexp_k em[t,k], marginals are per-position softmaxes and Viterbi is the
 * per-position argmax: exact references for a long sequence. (2) Adding c to every emission
 * adds exactly T * c to log Z. (3) IOB2-constrained random weights: everything finite, rows
 * sum to 1, Viterbi's path is allowed and its score matches path_score, NLL >= 0. */
static void test_long_sequence(void) {
    enum { K = 7, T = 5000 };
    float *em = malloc(sizeof(float) * T * K), *marg = malloc(sizeof(float) * T * K);
    float *d_em = calloc(T * K, sizeof(float));
    float trans[K * K] = { 0 }, start[K] = { 0 }, end[K] = { 0 };
    float d_trans[K * K] = { 0 }, d_start[K] = { 0 }, d_end[K] = { 0 };
    int *path = malloc(sizeof(int) * T);
    float *work = new_work(T, K);
    for (int i = 0; i < T * K; i++)               /* multiples of 2^-10: em + 3 is exact */
        em[i] = (float)(round(20.0 * 1024.0 * rng_uniform()) / 1024.0);

    attn_crf crf = { K, trans, start, end, NULL, NULL };
    double expect_z = 0, expect_best = 0, worst_m = 0;
    int path_ok = 1;
    for (int t = 0; t < T; t++) {
        const float *row = em + (size_t)t * K;
        double max = row[0], sum = 0;
        for (int k = 1; k < K; k++)
            if (row[k] > max) max = row[k];
        for (int k = 0; k < K; k++) sum += exp(row[k] - max);
        expect_z += max + log(sum);
        expect_best += max;
    }
    double log_z = attn_crf_log_partition(&crf, em, T, work);
    CHECK_NEAR(log_z, expect_z, 1e-7 * fabs(expect_z));
    note(&worst_long_log_z, fabs(log_z - expect_z));
    CHECK_NEAR(attn_crf_viterbi(&crf, em, T, path, work), expect_best, 1e-6 * fabs(expect_best));
    CHECK_NEAR(attn_crf_marginals(&crf, em, T, marg, work), expect_z, 1e-7 * fabs(expect_z));
    for (int t = 0; t < T; t++) {
        const float *row = em + (size_t)t * K;
        double max = row[0], sum = 0;
        int arg = 0;
        for (int k = 1; k < K; k++)
            if (row[k] > max) { max = row[k]; arg = k; }
        for (int k = 0; k < K; k++) sum += exp(row[k] - max);
        for (int k = 0; k < K; k++) {
            double err = fabs(marg[(size_t)t * K + k] - exp(row[k] - max) / sum);
            if (err > worst_m) worst_m = err;
        }
        if (path[t] != arg) path_ok = 0;
    }
    CHECK_MSG(worst_m < 1e-5, "worst marginal error %g", worst_m);
    CHECK(path_ok);

    for (int i = 0; i < T * K; i++) em[i] += 3.0f;
    double shifted = attn_crf_log_partition(&crf, em, T, work);
    CHECK_NEAR(shifted - log_z, 3.0 * T, 1e-7 * fabs(expect_z));
    for (int i = 0; i < T * K; i++) em[i] -= 3.0f;

    uint8_t allowed[K * K], allowed_start[K];
    attn_bio_constraints(3, allowed, allowed_start);
    for (int i = 0; i < K * K; i++) trans[i] = (float)(5.0 * rng_uniform());
    for (int k = 0; k < K; k++) { start[k] = (float)rng_uniform(); end[k] = (float)rng_uniform(); }
    crf = (attn_crf){ K, trans, start, end, allowed, allowed_start };
    float best = attn_crf_viterbi(&crf, em, T, path, work);
    CHECK(attn_crf_path_allowed(&crf, T, path));
    double ps = attn_crf_path_score(&crf, em, T, path);
    CHECK_NEAR(best, ps, 1e-6 * fabs(ps));
    log_z = attn_crf_marginals(&crf, em, T, marg, work);
    CHECK(isfinite(log_z) && log_z >= ps);
    int rows_ok = 1;
    for (int t = 0; t < T; t++) {
        double sum = 0;
        for (int k = 0; k < K; k++) {
            float p = marg[(size_t)t * K + k];
            if (!(p >= 0.0f && p <= 1.0f + 1e-6f)) rows_ok = 0;
            sum += p;
        }
        if (fabs(sum - 1.0) > 1e-5) rows_ok = 0;
    }
    CHECK(rows_ok);
    for (int k = 0; k < K; k++)
        if (is_inside_tag(k)) CHECK(marg[k] == 0.0f);
    double nll = attn_crf_nll_backward(&crf, em, T, path, d_em, d_trans, d_start, d_end, work);
    CHECK(isfinite(nll) && nll >= 0.0);
    CHECK_NEAR(nll, log_z - ps, 1e-9 * fabs(log_z) + 1e-6);
    int grads_finite = 1;
    for (int i = 0; i < T * K; i++) grads_finite &= isfinite(d_em[i]) != 0;
    for (int i = 0; i < K * K; i++) grads_finite &= isfinite(d_trans[i]) != 0;
    CHECK(grads_finite);

    free(em); free(marg); free(d_em); free(path); free(work);
}

/* ---- streaming decoding (attn_crf_stream) ------------------------------------------- */

static double worst_stream_marg;       /* largest |streamed - whole-sequence| marginal */

/* Pushes em[T, K] through a stream of cap / lookahead and collects the decided tags and
 * probabilities in order; returns the positions committed by force, or -1 if an invariant
 * broke (more than cap pending, a push deciding more than n_rows, a count that is off). */
static int64_t run_stream(const attn_crf *crf, const float *em, int T, int cap, int lookahead,
                          int *tags, float *probs) {
    const int n_rows = T < cap ? T : cap;
    float *work = malloc(sizeof(float) * ATTN_CRF_STREAM_WORK(n_rows, crf->K));
    int *out_tag = malloc(sizeof(int) * (size_t)n_rows);
    float *out_prob = malloc(sizeof(float) * (size_t)n_rows);
    attn_crf_stream st;
    attn_crf_stream_begin(&st, crf, cap, lookahead, n_rows, work);
    int done = 0, ok = 1;
    for (int t = 0; t <= T && ok; t++) {
        const int n = t < T ? attn_crf_stream_push(&st, em + (size_t)t * crf->K, out_tag, out_prob)
                            : attn_crf_stream_finish(&st, out_tag, out_prob);
        ok = n >= 0 && n <= n_rows && done + n <= t + 1 && st.n_pending <= cap &&
             done + n + st.n_pending == (t < T ? t + 1 : T);
        for (int q = 0; ok && q < n; q++) {
            tags[done + q] = out_tag[q];
            probs[done + q] = out_prob[q];
        }
        done += n;
    }
    const int64_t forced = st.n_forced;
    free(work); free(out_tag); free(out_prob);
    return ok && done == T && st.n_pending == 0 ? forced : -1;
}

/* Sequences shorter than cap / 2 are decided only at the end: bit for bit attn_crf_viterbi and
 * attn_crf_marginals. */
static void test_stream_short_is_exact(void) {
    enum { K = 9, CAP = 64, LOOK = 16, TMAX = CAP / 2 - 1 };
    float em[TMAX * K], trans[K * K], start[K], end[K], marg[TMAX * K], probs[TMAX];
    int path[TMAX], tags[TMAX], ok = 1;
    uint8_t allowed[K * K], allowed_start[K];
    float *work = new_work(TMAX, K);
    attn_bio_constraints(4, allowed, allowed_start);
    for (int round = 0; round < 200; round++) {
        const int T = 1 + round % TMAX;
        for (int i = 0; i < K * K; i++) trans[i] = (float)(3.0 * rng_uniform());
        for (int k = 0; k < K; k++) { start[k] = (float)rng_uniform(); end[k] = (float)rng_uniform(); }
        for (int i = 0; i < T * K; i++) em[i] = (float)(4.0 * rng_uniform());
        const attn_crf crf = { K, trans, start, end, round % 2 ? allowed : NULL,
                               round % 2 ? allowed_start : NULL };
        attn_crf_viterbi(&crf, em, T, path, work);
        attn_crf_marginals(&crf, em, T, marg, work);
        ok = ok && run_stream(&crf, em, T, CAP, LOOK, tags, probs) == 0;
        for (int t = 0; ok && t < T; t++)
            ok = tags[t] == path[t] &&
                 memcmp(&probs[t], &marg[(size_t)t * K + path[t]], sizeof(float)) == 0;
        if (!ok) { fprintf(stderr, "stream differs on a short sequence, T=%d\n", T); break; }
    }
    CHECK(ok);
    free(work);
}

/* Temperature: attn_crf_marginals_tempered(T) is attn_crf_marginals of the potentials
 * (emissions, transitions, start, end) divided by T; T = 1 is attn_crf_marginals bit for bit;
 * a stream with attn_crf_stream_set_temperature gives (short sequences: bit for bit) the
 * tempered marginals of the tags of the unscaled Viterbi path. */
static void test_temperature(void) {
    enum { K = 7, TMAX = 20, CAP = 64, LOOK = 16 };
    float em[TMAX * K], trans[K * K], start[K], end[K], marg[TMAX * K], marg_t[TMAX * K];
    float em_s[TMAX * K], trans_s[K * K], start_s[K], end_s[K], probs[TMAX];
    int path[TMAX], tags[TMAX], exact = 1, stream_ok = 1;
    uint8_t allowed[K * K], allowed_start[K];
    float *work = new_work(TMAX, K);
    attn_bio_constraints(3, allowed, allowed_start);
    double worst = 0.0;
    const double temps[] = { 0.3, 1.0, 2.5 };
    for (int round = 0; round < 60; round++) {
        const int T = 1 + round % TMAX;
        const double temp = temps[round % 3];
        for (int i = 0; i < K * K; i++) trans[i] = (float)(3.0 * rng_uniform());
        for (int k = 0; k < K; k++) { start[k] = (float)rng_uniform(); end[k] = (float)rng_uniform(); }
        for (int i = 0; i < T * K; i++) em[i] = (float)(4.0 * rng_uniform());
        const attn_crf crf = { K, trans, start, end, allowed, allowed_start };
        attn_crf_marginals_tempered(&crf, em, T, temp, marg_t, work);
        /* reference: the scaled potentials (in double, then float) through the plain marginals */
        for (int i = 0; i < K * K; i++) trans_s[i] = (float)(trans[i] / temp);
        for (int k = 0; k < K; k++) { start_s[k] = (float)(start[k] / temp); end_s[k] = (float)(end[k] / temp); }
        for (int i = 0; i < T * K; i++) em_s[i] = (float)(em[i] / temp);
        const attn_crf scaled = { K, trans_s, start_s, end_s, allowed, allowed_start };
        attn_crf_marginals(&scaled, em_s, T, marg, work);
        for (int i = 0; i < T * K; i++)
            if (fabs(marg[i] - marg_t[i]) > worst) worst = fabs(marg[i] - marg_t[i]);
        if (temp == 1.0) {
            attn_crf_marginals(&crf, em, T, marg, work);
            exact = exact && memcmp(marg, marg_t, sizeof(float) * (size_t)T * K) == 0;
        }
        /* the stream: tags of the unscaled path, marginals at temp */
        attn_crf_viterbi(&crf, em, T, path, work);
        const int n_rows = T;
        float *swork = malloc(sizeof(float) * ATTN_CRF_STREAM_WORK(n_rows, K));
        int out_tag[TMAX];
        attn_crf_stream st;
        attn_crf_stream_begin(&st, &crf, CAP, LOOK, n_rows, swork);
        attn_crf_stream_set_temperature(&st, temp);
        int done = 0;
        for (int t = 0; t < T; t++) done += attn_crf_stream_push(&st, em + (size_t)t * K, out_tag, probs);
        const int n = attn_crf_stream_finish(&st, out_tag, probs);
        stream_ok = stream_ok && done == 0 && n == T;
        for (int t = 0; stream_ok && t < T; t++) {
            tags[t] = out_tag[t];
            stream_ok = tags[t] == path[t] &&
                        memcmp(&probs[t], &marg_t[(size_t)t * K + path[t]], sizeof(float)) == 0;
        }
        free(swork);
    }
    CHECK_MSG(worst < 1e-5, "tempered vs scaled potentials: %.3g", worst);
    CHECK(exact);
    CHECK(stream_ok);
    free(work);
}

/* Long sequences: tags exactly the whole-sequence Viterbi path (no forced commit on a tagger
 * that often resets), marginals within 1e-5 of exact; several cap/lookahead sizes. */
static void test_stream_long(void) {
    enum { K = 9, T = 20000 };
    float *em = malloc(sizeof(float) * T * K), *marg = malloc(sizeof(float) * T * K);
    float *probs = malloc(sizeof(float) * T), *work = new_work(T, K);
    int *path = malloc(sizeof(int) * T), *tags = malloc(sizeof(int) * T);
    float trans[K * K], start[K], end[K];
    uint8_t allowed[K * K], allowed_start[K];
    attn_bio_constraints(4, allowed, allowed_start);
    for (int i = 0; i < K * K; i++) trans[i] = (float)(2.0 * rng_uniform());
    for (int k = 0; k < K; k++) { start[k] = (float)rng_uniform(); end[k] = (float)rng_uniform(); }
    for (int i = 0; i < T * K; i++) em[i] = (float)(3.0 * rng_uniform());
    const attn_crf crf = { K, trans, start, end, allowed, allowed_start };
    attn_crf_viterbi(&crf, em, T, path, work);
    attn_crf_marginals(&crf, em, T, marg, work);
    const int sizes[][2] = { { 512, 64 }, { 64, 16 }, { 16, 4 } };
    for (int c = 0; c < 3; c++) {
        const int64_t forced = run_stream(&crf, em, T, sizes[c][0], sizes[c][1], tags, probs);
        int same = 1;
        double worst = 0;
        for (int t = 0; t < T; t++) {
            same = same && tags[t] == path[t];
            const double d = fabs(probs[t] - marg[(size_t)t * K + path[t]]);
            if (d > worst) worst = d;
        }
        if (sizes[c][1] == 64) {        /* the pipeline's lookahead and cap (en-ner) */
            CHECK_MSG(forced == 0 && same, "cap 512: forced %lld", (long long)forced);
            CHECK_MSG(worst < 1e-6, "lookahead 64: marginal error %g", worst);
            note(&worst_stream_marg, worst);
        } else if (sizes[c][1] == 16) { /* a quarter of it: the approximation shows */
            CHECK_MSG(forced == 0 && same, "cap 64: forced %lld", (long long)forced);
            CHECK(worst > 0.0 && worst < 1e-3);
        } else {                        /* a cap of 16: survivors part longer; forced commits
                                           keep the path allowed and counted */
            CHECK(forced > 0 && !same);
            CHECK(attn_crf_path_allowed(&crf, T, tags));
        }
    }
    free(em); free(marg); free(probs); free(work); free(path); free(tags);
}

/* Survivors that never meet: two tags that each prefer to stay, zero emissions, then a strong
 * pull to tag 1 at the very end. Whole-sequence Viterbi stays in 1 all along; the stream must
 * force a commit (along tag 0, the lowest best), keep at most cap pending, and continue its
 * committed prefix consistently: all 0, then all 1 after the forced positions; so it differs
 * from whole-sequence Viterbi, the one documented case. */
static void test_stream_forced(void) {
    enum { K = 2, T = 1000, CAP = 64, LOOK = 8 };
    float em[T * K] = { 0 }, trans[K * K] = { 1, -1, -1, 1 }, start[K] = { 0 }, end[K] = { 0 };
    float probs[T], *work = new_work(T, K);
    int path[T], tags[T];
    em[(T - 1) * K + 1] = 5.0f;
    const attn_crf crf = { K, trans, start, end, NULL, NULL };
    attn_crf_viterbi(&crf, em, T, path, work);
    int viterbi_all_one = 1;
    for (int t = 0; t < T; t++) viterbi_all_one = viterbi_all_one && path[t] == 1;
    CHECK(viterbi_all_one);
    const int64_t forced = run_stream(&crf, em, T, CAP, LOOK, tags, probs);
    CHECK_MSG(forced >= CAP - LOOK, "forced %lld", (long long)forced);
    int switch_at = 0;
    while (switch_at < T && tags[switch_at] == 0) switch_at++;
    int rest_one = switch_at < T;
    for (int t = switch_at; t < T; t++) rest_one = rest_one && tags[t] == 1;
    CHECK(rest_one && switch_at >= forced && tags[0] != path[0]);
    int probs_ok = 1;
    for (int t = 0; t < T; t++) probs_ok = probs_ok && probs[t] >= 0.0f && probs[t] <= 1.0f;
    CHECK(probs_ok);
    free(work);
}

int main(void) {
    test_bio_constraints();
    test_random_vs_brute();
    test_viterbi_ties();
    test_single_token();
    test_gradients_vs_brute();
    test_gradients_float_fd();
    test_bad_gold();
    test_no_allowed_path();
    test_empty_sequence();
    test_long_sequence();
    test_stream_short_is_exact();
    test_stream_long();
    test_stream_forced();
    test_temperature();
    printf("streaming (cap 512, lookahead 64) vs whole-sequence marginals, T=20000: %.3g\n",
           worst_stream_marg);
    printf("worst abs errors vs brute force: log Z %.3g (relative %.3g), Viterbi score %.3g, "
           "marginal %.3g, path score %.3g, NLL %.3g\n", worst_log_z, worst_log_z_rel,
           worst_viterbi, worst_marg,
           worst_path_score, worst_nll);
    printf("worst gradient errors: vs double FD of brute NLL %.3g, vs float FD (eps 1e-2) "
           "%.3g; T=5000 log Z %.3g\n", worst_grad_brute, worst_grad_float_fd, worst_long_log_z);
    return CHECK_DONE();
}
