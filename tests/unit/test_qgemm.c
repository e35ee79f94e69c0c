/* test_qgemm.c: the int8 product (model/qgemm.h). Every SIMD table against the plain C table
 * (bit-identical activations and outputs, so the same int32 sums), every table against the f32
 * product within the quantisation bound, on awkward shapes, unaligned pointers, residuals,
 * and rows that are zero, tiny, one-signed or huge; the packing errors with exact messages. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common.h"
#include "kernels.h"
#include "model.h"
#include "qgemm.h"

static const char *const TABLES[] = {"scalar", "avx2", "avx512vnni", "amx"};
#define N_TABLES (sizeof TABLES / sizeof *TABLES)

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float uniform(void) {   /* [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) / (double)(1ull << 23)) - 1.0f;
}
static void fill(float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = scale * uniform();
}

/* ref[T, OC] = inp w^T + b in double. */
static void reference(double *ref, const float *inp, const float *w, const float *b, int T,
                      int C, int OC) {
    for (int t = 0; t < T; t++)
        for (int o = 0; o < OC; o++) {
            double s = b ? b[o] : 0.0;
            for (int k = 0; k < C; k++) s += (double)inp[(size_t)t * C + k] * w[(size_t)o * C + k];
            ref[(size_t)t * OC + o] = s;
        }
}

/* Largest (|out - ref| - bound) over all outputs: <= 0 when every output is within bound.
 * The bound is the quantisation bound plus float rounding of the bias and of init (the values
 * accumulated into, or NULL). */
static double worst_excess(const float *out, const double *ref, const float *inp,
                           const float *w, const float *b, const float *init,
                           const attn_q8_matrix *W, int T) {
    const int C = W->C, OC = W->OC;
    double worst = -1.0;
    for (int t = 0; t < T; t++)
        for (int o = 0; o < OC; o++) {
            double bound = attn_q8_error_bound(inp + (size_t)t * C, w + (size_t)o * C, C,
                                               W->wscale[o]) +
                           1e-6 * ((b ? fabs(b[o]) : 0.0) +
                                   (init ? fabs(init[(size_t)t * OC + o]) : 0.0));
            double e = fabs(out[(size_t)t * OC + o] - ref[(size_t)t * OC + o]) - bound;
            if (!(e <= worst)) worst = e;   /* NaN counts as worst */
        }
    return worst;
}

/* Runs table k into out (offset by one float, scratch by 3 bytes: unaligned). */
static void run_table(const attn_q8_kernels *k, float *out, const float *inp,
                      const attn_q8_matrix *W, const float *b, const float *residual, int T) {
    unsigned char *scratch = malloc(attn_q8_scratch_bytes(W, T) + 3);
    attn_q8_matmul_with(k, out, inp, W, b, residual, T, scratch + 3);
    free(scratch);
}

/* How the residual is given: none, the output itself (in place), or a separate array. */
enum { RES_NONE, RES_IN_PLACE, RES_SEPARATE };

/* out (T x OC floats) before the product: init for an in-place residual, garbage otherwise;
 * returns the residual pointer to pass. */
static const float *prepare_out(float *out, const float *init, size_t n, int mode) {
    if (mode == RES_IN_PLACE) {
        memcpy(out, init, n * sizeof *out);
        return out;
    }
    for (size_t i = 0; i < n; i++) out[i] = 777.0f;
    return mode == RES_SEPARATE ? init : NULL;
}

/* One shape, every table: same bits as scalar, within bound of the f32 product. */
static void check_shape(int T, int C, int OC, int mode) {
    float *w = malloc((size_t)OC * C * sizeof *w);
    float *inp_block = malloc(((size_t)T * C + 1) * sizeof *inp_block);
    float *b_block = malloc(((size_t)OC + 1) * sizeof *b_block);
    float *init = malloc((size_t)T * OC * sizeof *init);
    float *out_scalar = malloc(((size_t)T * OC + 1) * sizeof *out_scalar);
    float *out_k = malloc(((size_t)T * OC + 1) * sizeof *out_k);
    double *ref = malloc((size_t)T * OC * sizeof *ref);
    float *inp = inp_block + 1, *b = b_block + 1;   /* unaligned */
    fill(w, (size_t)OC * C, 0.5f);
    fill(inp, (size_t)T * C, 3.0f);
    fill(b, (size_t)OC, 1.0f);
    fill(init, (size_t)T * OC, 2.0f);
    if (T > 1) memset(inp + C, 0, (size_t)C * sizeof *inp);   /* an all-zero row */

    attn_q8_matrix *W = NULL;
    attn_error err;
    CHECK(attn_q8_pack(&W, w, OC, C, &err) == ATTN_OK);
    reference(ref, inp, w, b, T, C, OC);
    const size_t n = (size_t)T * OC;
    if (mode != RES_NONE)
        for (size_t i = 0; i < n; i++) ref[i] += init[i];

    const float *res = prepare_out(out_scalar + 1, init, n, mode);
    run_table(attn_q8_kernels_by_name("scalar"), out_scalar + 1, inp, W, b, res, T);
    const float *acc_init = mode != RES_NONE ? init : NULL;
    CHECK_MSG(worst_excess(out_scalar + 1, ref, inp, w, b, acc_init, W, T) <= 0.0,
              "scalar T=%d C=%d OC=%d residual %d: outside the bound by %g", T, C, OC, mode,
              worst_excess(out_scalar + 1, ref, inp, w, b, acc_init, W, T));
    if (T > 1)   /* the zero row gives exactly b (+ init) */
        for (int o = 0; o < OC; o++) {
            float want = mode != RES_NONE ? init[OC + o] + b[o] : b[o];
            if (out_scalar[1 + OC + o] != want) {
                CHECK_MSG(0, "zero row T=%d C=%d OC=%d o=%d: %g, want %g", T, C, OC, o,
                          (double)out_scalar[1 + OC + o], (double)want);
                break;
            }
        }
    for (size_t i = 1; i < N_TABLES; i++) {
        const attn_q8_kernels *k = attn_q8_kernels_by_name(TABLES[i]);
        if (!k) continue;
        res = prepare_out(out_k + 1, init, n, mode);
        run_table(k, out_k + 1, inp, W, b, res, T);
        CHECK_MSG(memcmp(out_k + 1, out_scalar + 1, n * sizeof *out_k) == 0,
                  "%s T=%d C=%d OC=%d residual %d differs from scalar", k->name, T, C, OC, mode);
    }
    attn_q8_free(W);
    free(w); free(inp_block); free(b_block); free(init); free(out_scalar); free(out_k); free(ref);
}

static void test_shapes(void) {
    static const int Ts[] = {1, 2, 3, 7, 16, 17, 32, 48, 129};   /* AMX: tiles of 16 tokens */
    static const int Cs[] = {1, 3, 17, 64, 256, 1024};
    static const int OCs[] = {1, 5, 64, 257};
    for (size_t i = 0; i < sizeof Ts / sizeof *Ts; i++)
        for (size_t j = 0; j < sizeof Cs / sizeof *Cs; j++)
            for (size_t l = 0; l < sizeof OCs / sizeof *OCs; l++)
                check_shape(Ts[i], Cs[j], OCs[l], (int)((i + j + l) % 3));
}

/* The quantised activations themselves are the same bytes, scales and zero points in every
 * table, for rows of every sign pattern and magnitude. */
static void test_quantize_same_bytes(void) {
    enum { T = 8, C = 37, CP = 40 };
    float x[T * C];
    fill(x, T * C, 1.0f);
    for (int k = 0; k < C; k++) {
        x[0 * C + k] = 0.0f;                        /* all zero: scale 0 */
        x[1 * C + k] = fabsf(x[1 * C + k]) + 0.5f;  /* all positive: zero point 0 */
        x[2 * C + k] = -fabsf(x[2 * C + k]) - 0.5f; /* all negative: zero point 255 */
        x[3 * C + k] *= 1e30f;                      /* huge */
        x[4 * C + k] *= 1e-33f;                     /* below ATTN_Q8_TINY_RANGE: all zero */
        x[5 * C + k] *= 3e38f;                      /* near FLT_MAX: hi - lo overflows */
    }
    /* room for T rounded up to whole AMX tiles, as qgemm.h promises the tables */
    enum { TP = (T + ATTN_Q8_TILE_ROWS - 1) / ATTN_Q8_TILE_ROWS * ATTN_Q8_TILE_ROWS };
    uint8_t u0[TP * CP], u1[TP * CP];
    float s0[T], s1[T];
    int32_t z0[T], z1[T];
    const attn_q8_kernels *scalar = attn_q8_kernels_by_name("scalar");
    scalar->quantize(u0, s0, z0, x, T, C, CP);
    CHECK(s0[0] == 0.0f && z0[0] == 0 && u0[0] == 0);
    CHECK(z0[1] == 0 && z0[2] == 255);
    CHECK(s0[4] == 0.0f);
    CHECK(s0[5] > 0.0f && isfinite(s0[5]));
    int max_pos = 0, min_neg = 255;   /* the ends of the range are used */
    for (int k = 0; k < C; k++) {
        max_pos = u0[1 * CP + k] > max_pos ? u0[1 * CP + k] : max_pos;
        min_neg = u0[2 * CP + k] < min_neg ? u0[2 * CP + k] : min_neg;
    }
    CHECK(max_pos == 255 && min_neg == 0);
    for (int t = 0; t < T; t++)
        for (int k = C; k < CP; k++) CHECK(u0[t * CP + k] == 0);
    for (size_t i = 1; i < N_TABLES; i++) {
        const attn_q8_kernels *k = attn_q8_kernels_by_name(TABLES[i]);
        if (!k) continue;
        memset(u1, 0xaa, sizeof u1);
        k->quantize(u1, s1, z1, x, T, C, CP);
        CHECK_MSG(memcmp(u0, u1, T * CP) == 0, "%s: quantised bytes differ", k->name);
        if (strcmp(k->name, "amx") == 0) {   /* its tiles read the padding rows: zeros */
            int zeros = 1;
            for (int i = T * CP; i < TP * CP; i++) zeros &= u1[i] == 0;
            CHECK_MSG(zeros, "amx: padding rows are not zero");
        }
        CHECK_MSG(memcmp(s0, s1, sizeof s0) == 0, "%s: scales differ", k->name);
        CHECK_MSG(memcmp(z0, z1, sizeof z0) == 0, "%s: zero points differ", k->name);
    }
}

/* Huge activations and weights: the result stays within the (relative) bound; a zero weight
 * row and a tiny activation row give exactly the bias. */
static void test_extremes(void) {
    enum { T = 3, C = 70, OC = 20 };
    float w[OC * C], x[T * C], b[OC], out[T * OC];
    double ref[T * OC];
    fill(w, OC * C, 1e18f);
    fill(x, T * C, 1e18f);
    for (int k = 0; k < C; k++) {
        w[3 * C + k] = 0.0f;      /* zero weight row */
        x[2 * C + k] = 0.0f;       /* zero row */
        x[1 * C + k] = 1e-32f * (float)(k % 5);   /* tiny row: quantised as zero */
    }
    fill(b, OC, 1.0f);
    attn_q8_matrix *W = NULL;
    attn_error err;
    CHECK(attn_q8_pack(&W, w, OC, C, &err) == ATTN_OK);
    reference(ref, x, w, b, T, C, OC);
    for (size_t i = 0; i < N_TABLES; i++) {
        const attn_q8_kernels *k = attn_q8_kernels_by_name(TABLES[i]);
        if (!k) continue;
        run_table(k, out, x, W, b, NULL, T);
        CHECK_MSG(worst_excess(out, ref, x, w, b, NULL, W, 1) <= 0.0, "%s: huge values", k->name);
        for (int t = 0; t < T; t++) CHECK(out[t * OC + 3] == b[3]);
        int exact = 1;
        for (int o = 0; o < OC; o++) exact &= out[1 * OC + o] == b[o] && out[2 * OC + o] == b[o];
        CHECK_MSG(exact, "%s: tiny and zero rows give the bias", k->name);
    }
    attn_q8_free(W);
}

/* A stored q8 tensor packs to the same matrix as quantising its f32 values. */
static void test_pack_quantized(void) {
    enum { OC = 33, C = 45 };
    float w[OC * C], scales[OC];
    int8_t q[OC * C];
    fill(w, OC * C, 0.2f);
    /* row 1: scale exactly 1 and ties (x.5) that roundf takes away from zero */
    for (int k = 0; k < C; k++) w[C + k] = (float)(k % 9) - 4.5f;
    w[C] = 127.0f;
    attn_quantize_rows_q8(w, OC, C, scales, q);
    CHECK(scales[1] == 1.0f && q[C + 1] == -4 && q[C + 9] == -5 && q[C + 8] == 4);
    attn_q8_matrix *a = NULL, *b = NULL;
    attn_error err;
    CHECK(attn_q8_pack(&a, w, OC, C, &err) == ATTN_OK);
    CHECK(attn_q8_pack_quantized(&b, scales, q, OC, C, &err) == ATTN_OK);
    CHECK(a->OCP == 64 && a->CP == 64);
    CHECK(attn_q8_bytes(a) == 64 * 64 + 64 * 8);
    CHECK(attn_q8_bytes(a) == attn_q8_bytes(b));
    CHECK(memcmp(a->block, b->block, attn_q8_bytes(a)) == 0);
    int32_t sum0 = 0;
    for (int k = 0; k < C; k++) sum0 += q[k];
    CHECK(a->wsum[0] == sum0 && a->wscale[0] == scales[0]);
    CHECK(a->wscale[OC] == 0.0f && a->wsum[OC] == 0);   /* padding rows */
    attn_q8_free(a);
    attn_q8_free(b);
    attn_q8_free(NULL);
}

/* A matrix of OC x C placed in a zeroed buffer of its own (attn_q8_layout, attn_q8_place). */
static attn_q8_matrix *placed(int OC, int C) {
    attn_q8_matrix *m = malloc(sizeof *m);
    size_t bytes = 0;
    attn_error err;
    CHECK(attn_q8_layout(m, OC, C, &bytes, &err) == ATTN_OK);
    CHECK(bytes == attn_q8_bytes(m) && m->q == NULL && m->block == NULL);
    void *payload = NULL;
    CHECK(posix_memalign(&payload, 64, bytes) == 0);
    memset(payload, 0, bytes);
    attn_q8_place(m, payload);
    return m;
}

static void free_placed(attn_q8_matrix *m) {
    free(m->q);
    attn_q8_free(m);   /* block NULL: frees the struct only */
}

/* Stored q8 rows pack, from their ints, to the very bytes attn_q8_pack gives for their decoded
 * values (q * scale): the writer's rows (their own ints), and rows it requantises: another
 * writer's (max |q| below 127), a zero scale with non-zero ints, an all-zero row, a full-scale
 * row whose scale does not come back from (127 s) / 127 (0.0100000501f: 0.77% of floats do
 * not); subnormal and huge scales. */
static void test_pack_stored(void) {
    enum { OC = 70, C = 83 };   /* C: not a multiple of 16 (scan_row's tail) or 4 (a group) */
    float w[OC * C], scales[OC], decoded[OC * C];
    int8_t q[OC * C];
    fill(w, OC * C, 0.3f);
    attn_quantize_rows_q8(w, OC, C, scales, q);
    for (int k = 0; k < C; k++) q[1 * C + k] = (int8_t)(k % 63 - 31);   /* another writer */
    scales[2] = 0.0f;                                                    /* zero scale */
    memset(q + 3 * C, 0, C);                                             /* all zero */
    scales[3] = 0.5f;
    uint32_t odd_bits = 0x3c23d740u;                                     /* 0.0100000501f */
    memcpy(&scales[4], &odd_bits, sizeof odd_bits);
    CHECK(fabsf(127.0f * scales[4]) / 127.0f != scales[4]);
    scales[5] = 1e-40f;                                                  /* subnormal */
    scales[6] = 3e-45f;
    scales[7] = 1e36f;                                                   /* 127 * s finite */
    q[8 * C + 80] = -127;                                                /* 127 in the tail */
    for (int o = 0; o < OC; o++)
        for (int k = 0; k < C; k++) decoded[o * C + k] = (float)q[o * C + k] * scales[o];
    attn_q8_matrix *a = NULL, *b = placed(OC, C);
    attn_error err;
    CHECK(attn_q8_pack(&a, decoded, OC, C, &err) == ATTN_OK);
    CHECK_MSG(attn_q8_pack_stored_into(b, scales, q, &err) == ATTN_OK, "%s", err.msg);
    if (!a) { free_placed(b); return; }
    CHECK(memcmp(a->block, b->q, attn_q8_bytes(a)) == 0);
    for (int o = 0; o < OC; o++)
        CHECK_MSG(a->wscale[o] == b->wscale[o] && a->wsum[o] == b->wsum[o], "row %d", o);
    CHECK(b->wscale[0] == scales[0] && b->wscale[1] != scales[1] && b->wscale[2] == 0.0f);
    CHECK(b->wscale[4] != scales[4] && b->wscale[7] == scales[7]);
    /* attn_q8_pack_into: the same bytes as attn_q8_pack */
    attn_q8_matrix *c = placed(OC, C);
    CHECK(attn_q8_pack_into(c, decoded, &err) == ATTN_OK);
    CHECK(memcmp(a->block, c->q, attn_q8_bytes(a)) == 0);
    attn_q8_free(a);
    free_placed(b);
    free_placed(c);
}

/* The argument that lets a full-scale row keep its ints: for any scale s whose (127 s) / 127 is
 * s again, round((q s) / s) is q for every q in [-127, 127]. Checked on random scales over
 * the whole float range, normal and subnormal. */
static void test_requantise_identity(void) {
    size_t tried = 0, kept = 0, bad = 0;
    for (int i = 0; i < 20000; i++) {
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
        uint32_t bits = (uint32_t)(rng >> 33) & 0x7f7fffffu;   /* positive, finite */
        float s;
        memcpy(&s, &bits, sizeof s);
        if (!(s > 0.0f) || !isfinite(127.0f * s)) continue;
        tried++;
        if (fabsf(127.0f * s) / 127.0f != s) continue;
        kept++;
        for (int v = -127; v <= 127; v++) {
            const float x = (float)v * s, r = x / s;
            bad += lrintf(r) != v || fabsf(r - (float)v) >= 0.5f;
        }
    }
    CHECK_MSG(bad == 0 && kept > tried / 4, "%zu of %zu scales kept, %zu bad", kept, tried, bad);
}

static void test_errors(void) {
    attn_q8_matrix *m = (attn_q8_matrix *)&m;   /* must be reset to NULL on failure */
    attn_error err;
    float w[6] = {1, 2, 3, 4, 5, 6};
    CHECK(attn_q8_pack(&m, w, 2, 0, &err) == ATTN_ELIMIT && m == NULL);
    CHECK(strcmp(err.msg, "q8 matrix: shape [2,0], each side must be in 1..16384") == 0);
    CHECK(attn_q8_pack(&m, w, ATTN_Q8_MAX_DIM + 1, 1, &err) == ATTN_ELIMIT);
    CHECK(strcmp(err.msg, "q8 matrix: shape [16385,1], each side must be in 1..16384") == 0);
    w[4] = NAN;
    CHECK(attn_q8_pack(&m, w, 2, 3, &err) == ATTN_EINVAL && m == NULL);
    CHECK(strcmp(err.msg, "q8 matrix: weight [1,1] is not finite") == 0);
    w[4] = INFINITY;
    CHECK(attn_q8_pack(&m, w, 2, 3, &err) == ATTN_EINVAL);
    float wide[2 * 20];   /* rows longer than the 8 maxima of the row scan */
    for (int i = 0; i < 40; i++) wide[i] = (float)(i % 7) - 3.0f;
    wide[20 + 9] = -INFINITY;
    CHECK(attn_q8_pack(&m, wide, 2, 20, &err) == ATTN_EINVAL && m == NULL);
    CHECK(strcmp(err.msg, "q8 matrix: weight [1,9] is not finite") == 0);
    wide[20 + 9] = 0.0f;
    wide[19] = NAN;
    CHECK(attn_q8_pack(&m, wide, 2, 20, &err) == ATTN_EINVAL && m == NULL);
    CHECK(strcmp(err.msg, "q8 matrix: weight [0,19] is not finite") == 0);
    int8_t q[6] = {1, 2, 3, -128, 5, 6};
    float scales[2] = {0.5f, 0.25f};
    CHECK(attn_q8_pack_quantized(&m, scales, q, 2, 3, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "q8 matrix: value [1,0] is -128 (values are in [-127, 127])") == 0);
    q[3] = 4;
    scales[1] = -1.0f;
    CHECK(attn_q8_pack_quantized(&m, scales, q, 2, 3, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "q8 matrix: scale of row 1 is -1") == 0);
    /* packing stored rows into place: the same errors, a -128 found in scan_row's tail */
    attn_q8_matrix *p = placed(2, 3);
    CHECK(attn_q8_pack_stored_into(p, scales, q, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "q8 matrix: scale of row 1 is -1") == 0);
    scales[1] = 0.25f;
    q[5] = -128;
    CHECK(attn_q8_pack_stored_into(p, scales, q, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "q8 matrix: value [1,2] is -128 (values are in [-127, 127])") == 0);
    free_placed(p);
    int8_t q40[2 * 40] = {0};
    float s40[2] = {1.0f, 1.0f};
    q40[40 + 17] = -128;   /* in a whole lane block */
    p = placed(2, 40);
    CHECK(attn_q8_pack_stored_into(p, s40, q40, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "q8 matrix: value [1,17] is -128 (values are in [-127, 127])") == 0);
    free_placed(p);
    size_t bytes = 1;
    attn_q8_matrix shape;
    CHECK(attn_q8_layout(&shape, ATTN_Q8_MAX_DIM + 1, 4, &bytes, &err) == ATTN_ELIMIT && bytes == 0);
    CHECK(strcmp(err.msg, "q8 matrix: shape [16385,4], each side must be in 1..16384") == 0);
}

/* The best table follows the f32 kernels' level (and so ATTN_SIMD). */
static void test_dispatch(void) {
    const char *level = attn_kernels_best()->name;
    const char *q8 = attn_q8_kernels_best()->name;
    if (strcmp(level, "scalar") == 0 || strcmp(level, "neon") == 0) CHECK(strcmp(q8, "scalar") == 0);
    if (strcmp(level, "avx2") == 0) CHECK(strcmp(q8, "avx2") == 0);
    if (strcmp(level, "avx512") == 0)
        CHECK(strcmp(q8, "avx2") == 0 || strcmp(q8, "avx512vnni") == 0 || strcmp(q8, "amx") == 0);
    if (attn_q8_kernels_by_name("amx")) CHECK(attn_q8_kernels_by_name("avx512vnni") != NULL);
    CHECK(attn_q8_kernels_by_name("avx512") == NULL);
    CHECK(attn_q8_kernels_by_name(NULL) == NULL);
    CHECK(attn_q8_kernels_by_name("scalar") == attn_q8_kernels_by_name("scalar"));
    int n = 0;
    for (size_t i = 0; i < N_TABLES; i++) n += attn_q8_kernels_by_name(TABLES[i]) != NULL;
    printf("test_qgemm: %d of %zu tables on this CPU (best: %s)\n", n, N_TABLES, q8);
}

int main(void) {
    test_errors();
    test_pack_quantized();
    test_pack_stored();
    test_requantise_identity();
    test_quantize_same_bytes();
    test_extremes();
    test_shapes();
    test_dispatch();
    return CHECK_DONE();
}
