/* attention.c: the encoder's fused self-attention (see attention.h) on the gemm microkernels
 * (gemm_<isa>.c), with the column exp of attention_<isa>.c where there is one (model/isa.h).
 *
 * Per head: the keys packed once as the A side ([row block of MR keys][hd][MR]), the values
 * once as panels; per block of 32 queries: their transpose as one B panel, the transposed
 * scores S^T[T keys, 32 queries] = scale K Q^T by MR x 32 tiles, a softmax down each column
 * (vertical: no reductions across lanes), then out = P V with P read straight from S^T (a
 * tile's MR queries are MR adjacent floats of each S^T row: step 32), the rows scaled by 1/sum
 * at the end (hd values per query instead of T). A layer with relative position biases has
 * them added to S^T before the softmax, in one plain pass that also takes the column maxima
 * again (T x 32 adds against the tile's T x 32 x hd multiply-adds). */
#include "attention.h"

#include <math.h>
#include <string.h>

#include "isa.h"

/* The attention table of gemm family g, or NULL: the plain C and NEON families use their
 * kernel table's softmax. g came from attn_gemm_by_name / attn_gemm_best, so the CPU check
 * of its ISA, which is the table's, has passed. */
static const attn_attention_kernels *attention_table(const attn_gemm_impl *g) {
#if defined(__x86_64__)
    if (g == attn_gemm_avx512_table()) return attn_attention_avx512_table();
    if (g == attn_gemm_avx2_table()) return attn_attention_avx2_table();
#else
    (void)g;
#endif
    return NULL;
}

/* Keys of T tokens rounded up to whole row blocks of ATTN_GEMM_MR_MAX (12), a multiple of every
 * family's MR (12, 6, 4), so enough for any. */
static size_t key_rows(int T) {
    return ((size_t)T + ATTN_GEMM_MR_MAX - 1) / ATTN_GEMM_MR_MAX * ATTN_GEMM_MR_MAX;
}

size_t attn_gemm_attention_floats(int T, int D, int H) {
    const size_t t = (size_t)T, hd = (size_t)(D / H);
    return key_rows(T) * hd                        /* keys */
           + attn_packed_floats(T, (int)hd)        /* values */
           + hd * ATTN_GEMM_NR                     /* one block's queries, transposed */
           + t * ATTN_GEMM_NR                      /* its scores, transposed */
           + t;                                    /* one column (no attention table) */
}

/* The views of attn_gemm_attention's scratch. */
typedef struct attention_views {
    float *keys;      /* [ceil(T / MR)][hd][MR] */
    float *vals;      /* attn_packed of V_h [T, hd] */
    float *queries;   /* [hd][32]: the block's queries, transposed, zero past the block */
    float *scores;    /* [T][32]: S^T, then exp, of the block */
    float *column;    /* [T] */
} attention_views;

static attention_views carve_attention(float *p, int T, int hd) {
    attention_views v;
    v.keys = p;     p += key_rows(T) * hd;
    v.vals = p;     p += attn_packed_floats(T, hd);
    v.queries = p;  p += (size_t)hd * ATTN_GEMM_NR;
    v.scores = p;   p += (size_t)T * ATTN_GEMM_NR;
    v.column = p;
    return v;
}

/* keys[T, hd] (row stride ld) -> dst[ceil(T / mr)][hd][mr], the packed A of the scores. */
static void pack_keys(float *dst, const float *keys, size_t ld, int T, int hd, int mr) {
    for (int r0 = 0; r0 < T; r0 += mr)
        attn_gemm_pack_a(dst + (size_t)r0 * hd, keys + (size_t)r0 * ld, ld,
                     T - r0 < mr ? T - r0 : mr, hd, mr);
}

/* q[qn, hd] (row stride ld) -> dst[hd][32], the B panel of the scores, zero past qn. */
static void pack_queries(float *dst, const float *q, size_t ld, int qn, int hd) {
    attn_gemm_pack_a(dst, q, ld, qn, hd, ATTN_GEMM_NR);
    if (qn < ATTN_GEMM_NR)
        for (int i = 0; i < hd; i++)
            memset(dst + (size_t)i * ATTN_GEMM_NR + qn, 0, sizeof(float) * (ATTN_GEMM_NR - qn));
}

/* scores[T][32] = scale keys queries: S^T of the block (columns past its queries are 0);
 * colmax[32] its column maxima (families with an attention table a). */
static void transposed_scores(const attn_gemm_impl *g, const attn_attention_kernels *a,
                              const attention_views *v, int T, int hd, float scale,
                              float *colmax) {
    for (int j = 0; j < ATTN_GEMM_NR; j++) colmax[j] = -INFINITY;
    for (int r0 = 0; r0 < T; r0 += g->mr) {
        attn_tile_args t = { 0 };
        t.a = v->keys + (size_t)r0 * hd;
        t.ak = (size_t)g->mr;
        t.ar = 1;
        t.b = v->queries;
        t.c = v->scores + (size_t)r0 * ATTN_GEMM_NR;
        t.ldc = ATTN_GEMM_NR;
        t.alpha = scale;
        t.m = T - r0 < g->mr ? T - r0 : g->mr;
        t.k = hd;
        t.colmax = a ? colmax : NULL;
        g->tile(&t);
    }
}

/* scores[T][32] of the block of queries from t0 += head h's relative position biases bias_h
 * (key i, query t0 + j: distance i - t0 - j), and colmax[32] their column maxima again (the
 * tile's were of the scores without them). */
static void add_rel_bias_transposed(float *scores, int T, int t0, const float *bias_h, int k,
                                    float *colmax) {
    for (int j = 0; j < ATTN_GEMM_NR; j++) colmax[j] = -INFINITY;
    for (int i = 0; i < T; i++) {
        float *row = scores + (size_t)i * ATTN_GEMM_NR;
        for (int j = 0; j < ATTN_GEMM_NR; j++) {
            row[j] += bias_h[attn_rel_bias_column(i - t0 - j, k)];
            if (row[j] > colmax[j]) colmax[j] = row[j];
        }
    }
}

/* Columns 0..qn of scores[T][32]: exp(s - colmax) with sum[j] the column sums, or (families
 * without an attention table, a NULL) the kernel table's softmax, already normalised:
 * sum[j] = 1. */
static void softmax_columns(const attn_attention_kernels *a, const attn_kernels *k,
                            const attention_views *v, int T, int qn, const float *colmax,
                            float *sum) {
    if (a) {
        a->exp_cols(v->scores, T, colmax, sum);
        return;
    }
    for (int j = 0; j < qn; j++) {
        for (int i = 0; i < T; i++) v->column[i] = v->scores[(size_t)i * ATTN_GEMM_NR + j];
        k->softmax(v->column, (size_t)T);
        for (int i = 0; i < T; i++) v->scores[(size_t)i * ATTN_GEMM_NR + j] = v->column[i];
        sum[j] = 1.0f;
    }
}

/* out[qn, hd] (row stride ldo) = P V / sum per row, P[qn, T] read from scores[T][32]. */
static void probs_times_values(const attn_gemm_impl *g, const attn_kernels *k,
                               const attention_views *v, float *out, size_t ldo, int T,
                               int hd, int qn, const float *sum) {
    for (int r0 = 0; r0 < qn; r0 += g->mr)
        for (int col = 0; col < hd; col += ATTN_GEMM_NR) {
            attn_tile_args t = { 0 };
            t.a = v->scores + r0;
            t.ak = ATTN_GEMM_NR;
            t.ar = 1;
            t.b = v->vals + (size_t)col * T;   /* panel col / 32: T x 32 floats each */
            t.c = out + (size_t)r0 * ldo + col;
            t.ldc = ldo;
            t.alpha = 1.0f;
            t.m = qn - r0 < g->mr ? qn - r0 : g->mr;
            t.k = T;
            const int n = hd - col < ATTN_GEMM_NR ? hd - col : ATTN_GEMM_NR;
            if (n == ATTN_GEMM_NR) g->tile(&t);
            else attn_gemm_edge_tile(g, t, n);
        }
    for (int r = 0; r < qn; r++)
        if (sum[r] != 1.0f) k->scale(out + (size_t)r * ldo, 1.0f / sum[r], (size_t)hd);
}

void attn_gemm_attention(const attn_gemm_impl *g, float *out, const float *qkv, int T, int D,
                         int H, float scale, attn_rel_bias rel, float *scratch) {
    if (!g) g = attn_gemm_best();
    const attn_kernels *k = attn_kernels_by_name(g->name);
    if (!k) k = attn_kernels_scalar();
    const attn_attention_kernels *a = attention_table(g);
    const int hd = D / H;
    const size_t ld = 3 * (size_t)D;                     /* row stride of qkv */
    const attention_views v = carve_attention(scratch, T, hd);
    for (int h = 0; h < H; h++) {
        const float *q = qkv + (size_t)h * hd;           /* [T, hd], stride ld */
        pack_keys(v.keys, qkv + D + (size_t)h * hd, ld, T, hd, g->mr);
        attn_pack_cols(v.vals, qkv + 2 * (size_t)D + (size_t)h * hd, ld, T, hd);
        for (int t0 = 0; t0 < T; t0 += ATTN_GEMM_NR) {
            const int qn = T - t0 < ATTN_GEMM_NR ? T - t0 : ATTN_GEMM_NR;
            float colmax[ATTN_GEMM_NR], sum[ATTN_GEMM_NR];
            pack_queries(v.queries, q + (size_t)t0 * ld, ld, qn, hd);
            transposed_scores(g, a, &v, T, hd, scale, colmax);
            if (rel.bias)
                add_rel_bias_transposed(v.scores, T, t0, rel.bias + (size_t)h * (2 * rel.k + 1),
                                        rel.k, colmax);
            softmax_columns(a, k, &v, T, qn, colmax, sum);
            probs_times_values(g, k, &v, out + (size_t)t0 * D + (size_t)h * hd, (size_t)D, T,
                               hd, qn, sum);
        }
    }
}

