/* layers.c: forward primitives of the encoder (see layers.h). Matrix products go through
 * OpenBLAS; everything row-wise goes through the kernel table of this CPU. */
#include "layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "kernels.h"

#ifndef ATTN_MATMUL_FEW_ROWS
#define ATTN_MATMUL_FEW_ROWS 16  /* up to this many tokens: matmul_few_rows, not sgemm */
#endif

/* Few tokens: one pass over the weights, each row w[o] reused by all T tokens while it is in
 * L1. GEMM would first pack (copy) the whole weight matrix, which costs more than the product. */
static void matmul_few_rows(float *out, const float *inp, const float *w, const float *b,
                            int T, int C, int OC) {
    const attn_kernels *k = attn_kernels_best();
    for (int o = 0; o < OC; o++) {
        const float *row = w + (size_t)o * C;
        const float bias = b ? b[o] : 0.0f;
        for (int t = 0; t < T; t++)
            out[(size_t)t * OC + o] = k->dot(row, inp + (size_t)t * C, (size_t)C) + bias;
    }
}

void attn_matmul_forward(float *out, const float *inp, const float *w, const float *b,
                         int T, int C, int OC) {
    const attn_kernels *k = attn_kernels_best();
    if (T == 1) {
        k->matvec(out, w, inp, b, (size_t)OC, (size_t)C);
        return;
    }
    if (T <= ATTN_MATMUL_FEW_ROWS) {
        matmul_few_rows(out, inp, w, b, T, C, OC);
        return;
    }
    /* out[T,OC] = inp[T,C] * w[OC,C]^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, OC, C,
                1.0f, inp, C, w, C, 0.0f, out, OC);
    if (b)
        for (int t = 0; t < T; t++) k->add(out + (size_t)t * OC, b, (size_t)OC);
}

#define MOMENT_LANES 4   /* independent partial sums (the sums are not latency-bound) */

/* mean and 1/sqrt(var + eps) of one row (for the trainer's backward pass), in one pass of
 * double sums: var = E[x^2] - mean^2 keeps about 33 significant bits (float has 24) even
 * when mean^2 is 1e6 times var. */
static void row_moments(const float *x, int C, float eps, float *mean, float *rstd) {
    double s1[MOMENT_LANES] = {0}, s2[MOMENT_LANES] = {0};
    int i = 0;
    for (; i + MOMENT_LANES <= C; i += MOMENT_LANES)
        for (int l = 0; l < MOMENT_LANES; l++) {
            const double v = x[i + l];
            s1[l] += v;
            s2[l] += v * v;
        }
    for (; i < C; i++) {
        s1[0] += x[i];
        s2[0] += (double)x[i] * x[i];
    }
    double sum = 0.0, sq = 0.0;
    for (int l = 0; l < MOMENT_LANES; l++) { sum += s1[l]; sq += s2[l]; }
    const double m = sum / C, var = sq / C - m * m;
    *mean = (float)m;
    *rstd = (float)(1.0 / sqrt((var > 0.0 ? var : 0.0) + eps));
}

void attn_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                            const float *g, const float *b, int T, int C, float eps) {
    const attn_kernels *k = attn_kernels_best();
    for (int t = 0; t < T; t++) {
        const float *x = inp + (size_t)t * C;
        if (mean && rstd) row_moments(x, C, eps, &mean[t], &rstd[t]);
        k->layernorm(out + (size_t)t * C, x, g, b, (size_t)C, eps);
    }
}

void attn_rel_bias_add(float *scores, const float *bias_h, int T, int k) {
    for (int i = 0; i < T; i++) {
        float *row = scores + (size_t)i * T;
        for (int j = 0; j < T; j++) row[j] += bias_h[attn_rel_bias_column(j - i, k)];
    }
}

void attn_attention_head_probs(float *p, const float *qkv, int T, int D, int H, int h,
                               float scale, attn_rel_bias rel) {
    const attn_kernels *k = attn_kernels_best();
    const int hd = D / H;           /* head width */
    const int ld = 3 * D;           /* row stride of qkv */
    const float *q = qkv + (size_t)h * hd;               /* [T, hd], stride 3D */
    const float *kk = qkv + D + (size_t)h * hd;          /* [T, hd], stride 3D */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd,
                scale, q, ld, kk, ld, 0.0f, p, T);
    if (rel.bias) attn_rel_bias_add(p, rel.bias + (size_t)h * (2 * rel.k + 1), T, rel.k);
    for (int t = 0; t < T; t++) k->softmax(p + (size_t)t * T, (size_t)T);
}

void attn_attention_head_mix(float *out, const float *p, const float *qkv, int T, int D, int H,
                             int h) {
    const int hd = D / H;
    const float *v = qkv + 2 * (size_t)D + (size_t)h * hd;   /* [T, hd], stride 3D */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T,
                1.0f, p, T, v, 3 * D, 0.0f, out + (size_t)h * hd, D);
}

void attn_attention_forward(float *out, float *probs, const float *qkv,
                            int T, int D, int H, float scale, attn_rel_bias rel) {
    for (int h = 0; h < H; h++) {
        float *p = probs + (size_t)h * T * T;            /* [T, T] */
        attn_attention_head_probs(p, qkv, T, D, H, h, scale, rel);
        attn_attention_head_mix(out, p, qkv, T, D, H, h);
    }
}

int attn_embed_width(const attn_config *cfg) {
    int width = 0;
    for (int f = 0; f < cfg->n_features; f++) width += (int)cfg->features[f].dim;
    return width;
}

int attn_proj_width(const attn_config *cfg) {
    return (2 * cfg->embed_context + 1) * attn_embed_width(cfg);
}

void attn_embed_context_forward(float *out, const float *emb, int T, int E, int k) {
    const size_t e = (size_t)E;
    for (int t = 0; t < T; t++) {
        float *dst = out + (size_t)t * (size_t)(2 * k + 1) * e;
        for (int j = -k; j <= k; j++, dst += e) {
            if (t + j < 0 || t + j >= T) memset(dst, 0, e * sizeof *dst);
            else memcpy(dst, emb + (size_t)(t + j) * e, e * sizeof *dst);
        }
    }
}

#define EMBED_CHUNK 256     /* values of a kept-stored row decoded at a time (stack buffer) */

/* dst[fdim] += row r of feature f's table: decoded a chunk at a time from a kept-stored table
 * (the same values, so the same sums), else straight from its f32 rows. */
static void add_table_row(float *dst, const attn_weights *w, int f, size_t fdim, uint32_t r) {
    const attn_kernels *k = attn_kernels_best();
    if (!w->embed_table[f]) {
        k->add(dst, w->embed[f] + (size_t)r * fdim, fdim);
        return;
    }
    float chunk[EMBED_CHUNK];
    for (size_t c0 = 0; c0 < fdim; c0 += EMBED_CHUNK) {
        size_t n = fdim - c0 < EMBED_CHUNK ? fdim - c0 : EMBED_CHUNK;
        attn_table_decode(w->embed_table[f], r, c0, n, chunk);
        k->add(dst + c0, chunk, n);
    }
}

/* dst[fdim] = row r of feature f's table. */
static void copy_table_row(float *dst, const attn_weights *w, int f, size_t fdim, uint32_t r) {
    if (w->embed_table[f]) attn_table_decode(w->embed_table[f], r, 0, fdim, dst);
    else memcpy(dst, w->embed[f] + (size_t)r * fdim, fdim * sizeof *dst);
}

/* dst[fdim] = mean of feature f's table rows in slots[0..ATTN_SUBWORD_SLOTS), NONE skipped. */
static void subword_mean(float *dst, const attn_weights *w, int f, size_t fdim,
                         const uint32_t *slots) {
    memset(dst, 0, fdim * sizeof *dst);
    int n = 0;
    for (int s = 0; s < ATTN_SUBWORD_SLOTS; s++) {
        if (slots[s] == ATTN_ROW_NONE) continue;
        add_table_row(dst, w, f, fdim, slots[s]);
        n++;
    }
    if (n > 1) attn_kernels_best()->scale(dst, 1.0f / (float)n, fdim);
}

/* dst[fdim] = sum of feature f's table rows in slots[0..n) (the gazetteer: one a list). */
static void rows_sum(float *dst, const attn_weights *w, int f, size_t fdim, const uint32_t *slots,
                     int n) {
    memset(dst, 0, fdim * sizeof *dst);
    for (int s = 0; s < n; s++) add_table_row(dst, w, f, fdim, slots[s]);
}

void attn_embed_forward(float *out, const attn_config *cfg, const attn_weights *w,
                        const uint32_t *rows, int T) {
    const int nf = cfg->n_features;
    const int width = attn_embed_width(cfg);
    const int slots = attn_feature_slots(cfg->features, nf);
    for (int t = 0; t < T; t++) {
        float *dst = out + (size_t)t * width;
        const uint32_t *tok = rows + (size_t)t * slots;   /* this token's slots */
        for (int f = 0; f < nf; f++) {
            const attn_feature_spec *fs = &cfg->features[f];
            const size_t fdim = fs->dim;
            if (fs->kind == ATTN_FEAT_SUBWORD)
                subword_mean(dst, w, f, fdim, tok);
            else if (fs->kind == ATTN_FEAT_GAZETTEER)
                rows_sum(dst, w, f, fdim, tok, fs->n_lists);
            else
                copy_table_row(dst, w, f, fdim, tok[0]);
            tok += attn_feature_n_slots(fs);
            dst += fdim;
        }
    }
}
