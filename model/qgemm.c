/* qgemm.c: packing, the quantisation parameters every table shares and the run-time choice of
 * table (see qgemm.h; the tables are qgemm_<isa>.c, model/isa.h). */
#include "qgemm.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "isa.h"
#include "model.h"   /* ATTN_Q8_MAX */

#if defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#define Q8_X86 1
#endif

#define Q8_ALIGN 64   /* bytes: one zmm, one cache line */

static size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

/* ---- packing -------------------------------------------------------------------------- */

static int check_dims(int OC, int C, attn_error *err) {
    if (OC < 1 || C < 1 || OC > ATTN_Q8_MAX_DIM || C > ATTN_Q8_MAX_DIM)
        return attn_fail(err, ATTN_ELIMIT, "q8 matrix: shape [%d,%d], each side must be in "
                         "1..%d", OC, C, ATTN_Q8_MAX_DIM);
    return ATTN_OK;
}

/* Bytes of the packed ints of m (OCP x CP), rounded up so that wscale stays aligned. */
static size_t q_bytes(const attn_q8_matrix *m) {
    return round_up((size_t)m->OCP * (size_t)m->CP, Q8_ALIGN);
}

int attn_q8_layout(attn_q8_matrix *m, int OC, int C, size_t *payload_bytes, attn_error *err) {
    memset(m, 0, sizeof *m);
    *payload_bytes = 0;
    int rc = check_dims(OC, C, err);
    if (rc) return rc;
    m->OC = OC;
    m->C = C;
    m->OCP = (int)round_up((size_t)OC, ATTN_Q8_PANEL_OC);
    m->CP = (int)round_up((size_t)C, ATTN_Q8_PANEL_K);
    *payload_bytes = attn_q8_bytes(m);
    return ATTN_OK;
}

void attn_q8_place(attn_q8_matrix *m, void *payload) {
    m->q = payload;
    m->wscale = (float *)((char *)payload + q_bytes(m));
    m->wsum = (int32_t *)(m->wscale + m->OCP);
}

/* *out = a laid-out, placed matrix in one zeroed allocation of its own (m->block). */
static int matrix_alloc(attn_q8_matrix **out, int OC, int C, attn_error *err) {
    *out = NULL;
    attn_q8_matrix *m = calloc(1, sizeof *m);
    size_t total = 0;
    int rc = m ? attn_q8_layout(m, OC, C, &total, err) : ATTN_ENOMEM;
    if (!rc && posix_memalign(&m->block, Q8_ALIGN, total)) rc = ATTN_ENOMEM;
    if (rc) {
        free(m);
        return rc == ATTN_ENOMEM ? attn_fail(err, ATTN_ENOMEM, "q8 matrix: out of memory for "
                                             "[%d,%d]", OC, C) : rc;
    }
    memset(m->block, 0, total);
    attn_q8_place(m, m->block);
    *out = m;
    return ATTN_OK;
}

/* What scan_row finds in a row of ints besides their sum. */
enum { ROW_HAS_M128 = 1, ROW_HAS_127 = 2 };   /* a -128 (refused); a +-127 (a full scale) */

/* *sum = the sum of q[C]; returns ROW_ flags. Sixteen independent lanes of fixed-length loops,
 * which the compiler vectorises: packing runs when a model loads. */
static int scan_row(const int8_t *q, int C, int32_t *sum) {
    enum { LANES = 16 };
    int32_t sums[LANES] = {0};
    uint8_t m128[LANES] = {0}, m127[LANES] = {0};
    int k = 0;
    for (; k + LANES <= C; k += LANES) {
        for (int j = 0; j < LANES; j++) sums[j] += q[k + j];
        for (int j = 0; j < LANES; j++) m128[j] |= q[k + j] == -128;
        for (int j = 0; j < LANES; j++) m127[j] |= (q[k + j] == 127) | (q[k + j] == -127);
    }
    int32_t total = 0;
    int flags = 0;
    for (; k < C; k++) {
        total += q[k];
        flags |= (q[k] == -128 ? ROW_HAS_M128 : 0) | (q[k] == 127 || q[k] == -127 ? ROW_HAS_127 : 0);
    }
    for (int j = 0; j < LANES; j++) {
        total += sums[j];
        flags |= (m128[j] ? ROW_HAS_M128 : 0) | (m127[j] ? ROW_HAS_127 : 0);
    }
    *sum = total;
    return flags;
}

/* Copies row o's scale, ints q[C] and their sum into the packed layout: the row's groups of 4
 * ints are 64 bytes apart (a word each; a partial last group stays padded with zeros). */
static void pack_row(attn_q8_matrix *m, int o, float scale, const int8_t *q, int32_t sum) {
    int8_t *dst = m->q + attn_q8_packed_index(m, o, 0);
    const size_t group_stride = ATTN_Q8_BLOCK_OC * ATTN_Q8_GROUP_K;
    const size_t groups = (size_t)m->C / ATTN_Q8_GROUP_K, whole = groups * ATTN_Q8_GROUP_K;
    for (size_t g = 0; g < groups; g++)
        memcpy(dst + g * group_stride, q + g * ATTN_Q8_GROUP_K, ATTN_Q8_GROUP_K);
    if (whole < (size_t)m->C) memcpy(dst + groups * group_stride, q + whole, (size_t)m->C - whole);
    m->wscale[o] = scale;
    m->wsum[o] = sum;
}

/* Checks stored row o (its scale finite and >= 0, no int -128) and scans it (scan_row). */
static int check_stored_row(int o, float scale, const int8_t *q, int C, int32_t *sum,
                            int *flags, attn_error *err) {
    if (!isfinite(scale) || scale < 0.0f)
        return attn_fail(err, ATTN_EINVAL, "q8 matrix: scale of row %d is %g", o, (double)scale);
    *flags = scan_row(q, C, sum);
    if (!(*flags & ROW_HAS_M128)) return ATTN_OK;
    int k = 0;
    while (q[k] != -128) k++;
    return attn_fail(err, ATTN_EINVAL, "q8 matrix: value [%d,%d] is -128 (values are in "
                     "[-127, 127])", o, k);
}

int attn_q8_pack_quantized(attn_q8_matrix **out, const float *scales, const int8_t *q,
                           int OC, int C, attn_error *err) {
    *out = NULL;
    attn_q8_matrix *m;
    int rc = matrix_alloc(&m, OC, C, err);
    for (int o = 0; o < OC && !rc; o++) {
        int32_t sum = 0;
        int flags = 0;
        const int8_t *row = q + (size_t)o * C;
        rc = check_stored_row(o, scales[o], row, C, &sum, &flags, err);
        if (!rc) pack_row(m, o, scales[o], row, sum);
    }
    if (rc) {
        attn_q8_free(m);
        return rc;
    }
    *out = m;
    return ATTN_OK;
}

/* round(v) for |v| <= 127.5, ties away from zero (roundf without the libm call). */
static int round_half_away(float v) {
    int r = (int)v;                 /* toward zero */
    const float frac = v - (float)r;   /* exact */
    return r + (frac >= 0.5f) - (frac <= -0.5f);
}

/* Largest |x[k]| of a row, or NAN when a value is not finite. Eight independent maxima: one
 * maxss chain (4 cycles of latency an element) was a quarter of loading en-rel. */
static float row_max_abs(const float *x, int C) {
    enum { LANES = 8 };
    float m[LANES] = {0};
    int bad = 0, k = 0;
    for (; k + LANES <= C; k += LANES)
        for (int j = 0; j < LANES; j++) {
            const float a = fabsf(x[k + j]);
            bad |= !(a <= FLT_MAX);   /* inf, or NaN (no comparison holds) */
            m[j] = a > m[j] ? a : m[j];
        }
    for (; k < C; k++) {
        const float a = fabsf(x[k]);
        bad |= !(a <= FLT_MAX);
        m[0] = a > m[0] ? a : m[0];
    }
    float r = m[0];
    for (int j = 1; j < LANES; j++) r = m[j] > r ? m[j] : r;
    return bad ? NAN : r;
}

/* attn_quantize_rows_q8 for one row (the same scale and ints, tested), written to be fast:
 * packing runs when a model loads. max_abs: row_max_abs of the row (finite). */
static float quantize_row(const float *x, int C, float max_abs, int8_t *q) {
    const float scale = max_abs / (float)ATTN_Q8_MAX;
    for (int k = 0; k < C; k++) {
        const int v = scale > 0.0f ? round_half_away(x[k] / scale) : 0;
        q[k] = (int8_t)(v > ATTN_Q8_MAX ? ATTN_Q8_MAX : v < -ATTN_Q8_MAX ? -ATTN_Q8_MAX : v);
    }
    return scale;
}

/* Quantises and packs row o of f32 weights; q: room for C ints. ATTN_EINVAL (a value that is
 * not finite, named). */
static int pack_f32_row(attn_q8_matrix *m, int o, const float *row, int8_t *q,
                        attn_error *err) {
    const float max_abs = row_max_abs(row, m->C);
    if (isnan(max_abs)) {
        int k = 0;
        while (isfinite(row[k])) k++;
        return attn_fail(err, ATTN_EINVAL, "q8 matrix: weight [%d,%d] is not finite", o, k);
    }
    const float scale = quantize_row(row, m->C, max_abs, q);
    int32_t sum;
    scan_row(q, m->C, &sum);
    pack_row(m, o, scale, q, sum);
    return ATTN_OK;
}

int attn_q8_pack_into(attn_q8_matrix *m, const float *w, attn_error *err) {
    int8_t *q = malloc((size_t)m->C);
    if (!q) return attn_fail(err, ATTN_ENOMEM, "q8 matrix: out of memory for [%d,%d]", m->OC, m->C);
    int rc = ATTN_OK;
    for (int o = 0; o < m->OC && !rc; o++) rc = pack_f32_row(m, o, w + (size_t)o * m->C, q, err);
    free(q);
    return rc;
}

int attn_q8_pack(attn_q8_matrix **out, const float *w, int OC, int C, attn_error *err) {
    *out = NULL;
    attn_q8_matrix *m;
    int rc = matrix_alloc(&m, OC, C, err);
    if (!rc) rc = attn_q8_pack_into(m, w, err);
    if (rc) {
        attn_q8_free(m);
        return rc;
    }
    *out = m;
    return ATTN_OK;
}

/* Whether requantising a stored row (value[k] = q[k] * s) gives back its own ints and scale,
 * known from its scan: when some |q| is 127 (so max_k |q[k] * s| = 127 * s in float: rounding
 * is monotonic) and s > 0, the scale it implies is (127 * s) / 127; if that is s, every
 * quotient (q[k] * s) / s is within 127 * 2^-23 of q[k] (two roundings, the product exact
 * when subnormal), which rounds to q[k]. That is every row attn_quantize_rows_q8 writes. */
static int keeps_own_ints(float s, int flags) {
    return (flags & ROW_HAS_127) && s > 0.0f &&
           fabsf((float)ATTN_Q8_MAX * s) / (float)ATTN_Q8_MAX == s;
}

int attn_q8_pack_stored_into(attn_q8_matrix *m, const float *scales, const int8_t *q,
                             attn_error *err) {
    const int C = m->C;
    float *row = NULL;              /* a decoded row and its new ints, for rows that need it */
    int rc = ATTN_OK;
    for (int o = 0; o < m->OC && !rc; o++) {
        const int8_t *qo = q + (size_t)o * C;
        int32_t sum = 0;
        int flags = 0;
        rc = check_stored_row(o, scales[o], qo, C, &sum, &flags, err);
        if (rc) break;
        if (keeps_own_ints(scales[o], flags)) {
            pack_row(m, o, scales[o], qo, sum);
            continue;
        }
        if (!row && !(row = malloc((size_t)C * (sizeof *row + 1)))) {
            rc = attn_fail(err, ATTN_ENOMEM, "q8 matrix: out of memory for [%d,%d]", m->OC, C);
            break;
        }
        for (int k = 0; k < C; k++) row[k] = (float)qo[k] * scales[o];
        rc = pack_f32_row(m, o, row, (int8_t *)(row + C), err);
    }
    free(row);
    return rc;
}

void attn_q8_free(attn_q8_matrix *m) {
    if (!m) return;
    free(m->block);
    free(m);
}

size_t attn_q8_bytes(const attn_q8_matrix *m) {
    return q_bytes(m) + (size_t)m->OCP * (sizeof(float) + sizeof(int32_t));
}

double attn_q8_error_bound(const float *x, const float *w_row, int C, float wscale) {
    float lo = 0.0f, hi = 0.0f;
    for (int k = 0; k < C; k++) {
        lo = fminf(lo, x[k]);
        hi = fmaxf(hi, x[k]);
    }
    float ascale, inv;
    int32_t zero;
    attn_q8_row_params(lo, hi, &ascale, &inv, &zero);
    double a_step = ascale > 0.0f ? ascale : hi - lo;   /* a tiny row counts as all zero */
    double bound = 0.0, magnitude = 0.0;
    for (int k = 0; k < C; k++) {
        bound += fabs(x[k]) * wscale / 2 + fabs(w_row[k]) * a_step + wscale * a_step / 2;
        magnitude += fabs((double)x[k] * w_row[k]);
    }
    return bound + 1e-5 * magnitude;
}

/* ---- activations ------------------------------------------------------------------------ */

void attn_q8_row_params(float lo, float hi, float *ascale, float *inv_scale, int32_t *zero) {
    if (!(hi - lo >= ATTN_Q8_TINY_RANGE)) {
        *ascale = 0.0f;
        *inv_scale = 0.0f;
        *zero = 0;
        return;
    }
    const float scale = hi / 255.0f - lo / 255.0f;   /* no overflow for |lo|, |hi| near FLT_MAX */
    const float inv = 1.0f / scale;
    long z = lrintf(-lo * inv);
    *ascale = scale;
    *inv_scale = inv;
    *zero = (int32_t)(z < 0 ? 0 : z > 255 ? 255 : z);
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static struct {
    int amx_permitted; /* Linux lets this process use the tiles (asked once, when needed) */
    const attn_q8_kernels *best;
} q8_cpu;
static pthread_once_t q8_once = PTHREAD_ONCE_INIT, amx_once = PTHREAD_ONCE_INIT;

#ifdef Q8_X86
#define ARCH_REQ_XCOMP_PERM 0x1023   /* Linux's arch_prctl code (asm/prctl.h) */
#define XFEATURE_XTILEDATA  18

/* Linux traps a process's first tile instruction unless the process asked for the tile state
 * (it enlarges every signal frame); the request fails, and AMX is not used, for instance when
 * a thread's sigaltstack is too small for the larger frame. Asked only when the AMX table
 * would be handed out, so ATTN_SIMD or ATTN_Q8 choosing another leaves the process as it was. */
static void ask_for_tiles(void) {
#ifdef __linux__
    q8_cpu.amx_permitted =
        syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#endif
}
#endif

/* The kernels' level (which honours ATTN_SIMD and has checked CPU and OS) bounds ours. */
static const attn_q8_kernels *table_if_supported(const char *name) {
    const char *level = attn_kernels_best()->name;
    const int avx512 = strcmp(level, "avx512") == 0, avx2 = avx512 || strcmp(level, "avx2") == 0;
    if (strcmp(name, "scalar") == 0) return attn_qgemm_scalar_table();
#ifdef Q8_X86
    if (strcmp(name, "avx2") == 0 && avx2) return attn_qgemm_avx2_table();
    if (strcmp(name, "avx512vnni") == 0 && avx512 && attn_cpu_has_vnni())
        return attn_qgemm_avx512vnni_table();
    if (strcmp(name, "amx") == 0 && avx512 && attn_cpu_has_vnni() && attn_cpu_has_amx_int8()) {
        pthread_once(&amx_once, ask_for_tiles);
        if (q8_cpu.amx_permitted) return attn_qgemm_amx_table();
    }
#else
    (void)avx2;
#endif
    return NULL;
}

static void choose_best(void) {
    const char *wanted = getenv("ATTN_Q8");
    q8_cpu.best = wanted && *wanted ? table_if_supported(wanted) : NULL;
    static const char *const by_preference[] = {"amx", "avx512vnni", "avx2", "scalar"};
    for (size_t i = 0; !q8_cpu.best; i++) q8_cpu.best = table_if_supported(by_preference[i]);
}

const attn_q8_kernels *attn_q8_kernels_best(void) {
    pthread_once(&q8_once, choose_best);
    return q8_cpu.best;
}

const attn_q8_kernels *attn_q8_kernels_by_name(const char *name) {
    return name ? table_if_supported(name) : NULL;
}

/* ---- the product -------------------------------------------------------------------------- */

/* Bytes of the quantised rows u: T rounded up to whole AMX tiles (qgemm.h). */
static size_t u_bytes(const attn_q8_matrix *m, int T) {
    return round_up(round_up((size_t)T, ATTN_Q8_TILE_ROWS) * (size_t)m->CP, Q8_ALIGN);
}

size_t attn_q8_scratch_bytes(const attn_q8_matrix *m, int T) {
    const size_t t = T > 0 ? (size_t)T : 0;
    return Q8_ALIGN + u_bytes(m, (int)t) + t * (sizeof(float) + sizeof(int32_t));
}

void attn_q8_matmul_with(const attn_q8_kernels *k, float *out, const float *inp,
                         const attn_q8_matrix *W, const float *b, const float *residual, int T,
                         void *scratch) {
    if (T <= 0) return;
    uint8_t *u = (uint8_t *)round_up((uintptr_t)scratch, Q8_ALIGN);   /* [T, CP] */
    float *ascale = (float *)(u + u_bytes(W, T));                                     /* [T] */
    int32_t *zero = (int32_t *)(ascale + T);                                          /* [T] */
    k->quantize(u, ascale, zero, inp, T, W->C, W->CP);
    k->gemm(out, u, ascale, zero, W, b, residual, T);
}

void attn_q8_matmul(float *out, const float *inp, const attn_q8_matrix *W, const float *b,
                    const float *residual, int T, void *scratch) {
    attn_q8_matmul_with(attn_q8_kernels_best(), out, inp, W, b, residual, T, scratch);
}
