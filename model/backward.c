/* backward.c: backward passes of the encoder primitives and the task heads (see backward.h).
 * Matrix products go through cblas_sgemm with beta = 1 (accumulate); each has a naive twin
 * (*_ref) accumulating in double, kept as the readable definition and for the tests. */
#include "backward.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "heads.h"
#include "kernels.h"
#include "layers.h"

/* The gradient views are declared const (they share attn_weights with the model); the memory
 * behind them is the caller's writable gradient buffer. */
static float *mut(const float *p) { return (float *)p; }

/* ---- matmul ------------------------------------------------------------------------------ */

void attn_matmul_backward(float *dinp, float *dw, float *db, const float *dout,
                          const float *inp, const float *w, int T, int C, int OC) {
    if (dinp)   /* dinp[T,C] += dout[T,OC] w[OC,C] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, C, OC,
                    1.0f, dout, OC, w, C, 1.0f, dinp, C);
    if (dw)     /* dw[OC,C] += dout^T[OC,T] inp[T,C] */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, T,
                    1.0f, dout, OC, inp, C, 1.0f, dw, C);
    if (db) {
        const attn_kernels *k = attn_kernels_best();
        for (int t = 0; t < T; t++) k->add(db, dout + (size_t)t * OC, (size_t)OC);
    }
}

void attn_matmul_backward_ref(float *dinp, float *dw, float *db, const float *dout,
                              const float *inp, const float *w, int T, int C, int OC) {
    for (int t = 0; t < T && dinp; t++)
        for (int c = 0; c < C; c++) {
            double s = 0.0;
            for (int o = 0; o < OC; o++) s += (double)dout[(size_t)t * OC + o] * w[(size_t)o * C + c];
            dinp[(size_t)t * C + c] += (float)s;
        }
    for (int o = 0; o < OC && dw; o++)
        for (int c = 0; c < C; c++) {
            double s = 0.0;
            for (int t = 0; t < T; t++) s += (double)dout[(size_t)t * OC + o] * inp[(size_t)t * C + c];
            dw[(size_t)o * C + c] += (float)s;
        }
    for (int o = 0; o < OC && db; o++) {
        double s = 0.0;
        for (int t = 0; t < T; t++) s += dout[(size_t)t * OC + o];
        db[o] += (float)s;
    }
}

/* ---- layernorm --------------------------------------------------------------------------- */

/* With n = (x - mean) rstd and dn = dout g:
 *   dx = rstd (dn - mean(dn) - n mean(dn n)),  dg += dout n,  db += dout. */
#define LN_LANES 8      /* independent partial sums: the row sums are not latency-bound */

/* sum_i dy[i] g[i] and sum_i dy[i] g[i] (x[i] - m) r over one row of C values. */
static void layernorm_row_sums(const float *x, const float *dy, const float *g, float m, float r,
                               int C, float *sum_dn, float *sum_dn_n) {
    float a[LN_LANES] = {0}, b[LN_LANES] = {0};
    int i = 0;
    for (; i + LN_LANES <= C; i += LN_LANES)
        for (int l = 0; l < LN_LANES; l++) {
            const float dn = dy[i + l] * g[i + l];
            a[l] += dn;
            b[l] += dn * ((x[i + l] - m) * r);
        }
    for (; i < C; i++) {
        const float dn = dy[i] * g[i];
        a[0] += dn;
        b[0] += dn * ((x[i] - m) * r);
    }
    float sa = 0.0f, sb = 0.0f;
    for (int l = 0; l < LN_LANES; l++) { sa += a[l]; sb += b[l]; }
    *sum_dn = sa;
    *sum_dn_n = sb;
}

/* dg += dy n, db += dy, dx += r (dy g - dn_mean - n dn_n_mean) over one row, n = (x - m) r. */
static void layernorm_row_grads(float *restrict dx, float *restrict dg, float *restrict db,
                                const float *x, const float *dy, const float *g, float m,
                                float r, float dn_mean, float dn_n_mean, int C) {
    for (int i = 0; i < C; i++) {
        const float n = (x[i] - m) * r;
        dg[i] += dy[i] * n;
        db[i] += dy[i];
        dx[i] += r * (dy[i] * g[i] - dn_mean - n * dn_n_mean);
    }
}

void attn_layernorm_backward(float *dinp, float *dg, float *db, const float *dout,
                             const float *inp, const float *g, const float *mean,
                             const float *rstd, int T, int C) {
    for (int t = 0; t < T; t++) {
        const float *x = inp + (size_t)t * C, *dy = dout + (size_t)t * C;
        const float m = mean[t], r = rstd[t];
        float dn_mean, dn_n_mean;
        layernorm_row_sums(x, dy, g, m, r, C, &dn_mean, &dn_n_mean);
        dn_mean /= (float)C;
        dn_n_mean /= (float)C;
        if (dg && db && dinp) {         /* the trainer's case: one pass without tests */
            layernorm_row_grads(dinp + (size_t)t * C, dg, db, x, dy, g, m, r, dn_mean,
                                dn_n_mean, C);
            continue;
        }
        for (int i = 0; i < C; i++) {
            const float n = (x[i] - m) * r;
            if (dg) dg[i] += dy[i] * n;
            if (db) db[i] += dy[i];
            if (dinp) dinp[(size_t)t * C + i] += r * (dy[i] * g[i] - dn_mean - n * dn_n_mean);
        }
    }
}

void attn_layernorm_backward_ref(float *dinp, float *dg, float *db, const float *dout,
                                 const float *inp, const float *g, const float *mean,
                                 const float *rstd, int T, int C) {
    for (int t = 0; t < T; t++) {
        const float *x = inp + (size_t)t * C, *dy = dout + (size_t)t * C;
        double dn_mean = 0.0, dn_n_mean = 0.0;
        for (int i = 0; i < C; i++) {
            const double n = ((double)x[i] - mean[t]) * rstd[t];
            dn_mean += (double)dy[i] * g[i];
            dn_n_mean += (double)dy[i] * g[i] * n;
        }
        dn_mean /= C;
        dn_n_mean /= C;
        for (int i = 0; i < C; i++) {
            const double n = ((double)x[i] - mean[t]) * rstd[t];
            if (dg) dg[i] += (float)(dy[i] * n);
            if (db) db[i] += dy[i];
            if (dinp)
                dinp[(size_t)t * C + i] +=
                    (float)(rstd[t] * ((double)dy[i] * g[i] - dn_mean - n * dn_n_mean));
        }
    }
}

/* ---- attention --------------------------------------------------------------------------- */

/* dS[i,j] = P[i,j] (dP[i,j] - sum_k P[i,k] dP[i,k]), in place over dp[T,T]. */
static void softmax_backward_rows(float *dp, const float *p, int T) {
    for (int i = 0; i < T; i++) {
        float *d = dp + (size_t)i * T;
        const float *pi = p + (size_t)i * T;
        float dot = 0.0f;
        for (int j = 0; j < T; j++) dot += pi[j] * d[j];
        for (int j = 0; j < T; j++) d[j] = pi[j] * (d[j] - dot);
    }
}

void attn_rel_bias_backward(float *dbias_h, const float *dscores, int T, int k) {
    for (int i = 0; i < T; i++) {
        const float *row = dscores + (size_t)i * T;
        for (int j = 0; j < T; j++) dbias_h[attn_rel_bias_column(j - i, k)] += row[j];
    }
}

void attn_attention_backward(float *dqkv, float *drel_bias, const float *dout,
                             const float *qkv, const float *probs, const float *mask,
                             int T, int D, int H, float scale, int rel_k, float *scratch) {
    const int hd = D / H, ld = 3 * D;
    const size_t TT = (size_t)T * T;
    float *dp = scratch, *pd = scratch + TT;   /* [T,T] each */
    for (int h = 0; h < H; h++) {
        const size_t col = (size_t)h * hd;
        const float *q = qkv + col, *k = qkv + D + col, *v = qkv + 2 * (size_t)D + col;
        float *dq = dqkv + col, *dk = dqkv + D + col, *dv = dqkv + 2 * (size_t)D + col;
        const float *p = probs + (size_t)h * TT, *m = mask ? mask + (size_t)h * TT : NULL;
        const float *dout_h = dout + col;
        const float *used = p;                 /* the probabilities that multiplied v */
        if (m) {
            for (size_t i = 0; i < TT; i++) pd[i] = p[i] * m[i];
            used = pd;
        }
        /* d used[T,T] = dout_h[T,hd] v^T;  dv += used^T dout_h */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd,
                    1.0f, dout_h, D, v, ld, 0.0f, dp, T);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T,
                    1.0f, used, T, dout_h, D, 1.0f, dv, ld);
        if (m) for (size_t i = 0; i < TT; i++) dp[i] *= m[i];
        softmax_backward_rows(dp, p, T);
        if (drel_bias) attn_rel_bias_backward(drel_bias + (size_t)h * (2 * rel_k + 1), dp, T, rel_k);
        /* scores = scale q k^T + B:  dq += scale dS k;  dk += scale dS^T q */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T,
                    scale, dp, T, k, ld, 1.0f, dq, ld);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T,
                    scale, dp, T, q, ld, 1.0f, dk, ld);
    }
}

/* dout_i . v_j for head h (hd columns), in double: dout[T, D], qkv[T, 3D]. */
static double dout_dot_v_ref(const float *dout, const float *qkv, int i, int j, int h, int D,
                             int hd) {
    double s = 0.0;
    for (int d = 0; d < hd; d++)
        s += (double)dout[(size_t)i * D + h * hd + d] *
             qkv[(size_t)j * 3 * D + 2 * D + h * hd + d];
    return s;
}

void attn_attention_backward_ref(float *dqkv, float *drel_bias, const float *dout,
                                 const float *qkv, const float *probs, const float *mask,
                                 int T, int D, int H, float scale, int rel_k) {
    const int hd = D / H, ld = 3 * D;
    for (int h = 0; h < H; h++) {
        const float *p = probs + (size_t)h * T * T;
        const float *m = mask ? mask + (size_t)h * T * T : NULL;
        for (int i = 0; i < T; i++) {
            /* dP[i,j] = mask * (dout_i . v_j) ; row dot = sum_j P dP */
            double dot = 0.0;
            for (int j = 0; j < T; j++) {
                const double s = dout_dot_v_ref(dout, qkv, i, j, h, D, hd);
                const double mij = m ? m[(size_t)i * T + j] : 1.0;
                dot += p[(size_t)i * T + j] * s * mij;
                /* dv[j] += P'[i,j] dout_i */
                for (int d = 0; d < hd; d++)
                    dqkv[(size_t)j * ld + 2 * D + h * hd + d] +=
                        (float)(p[(size_t)i * T + j] * mij * dout[(size_t)i * D + h * hd + d]);
            }
            for (int j = 0; j < T; j++) {
                const double s = dout_dot_v_ref(dout, qkv, i, j, h, D, hd);
                const double mij = m ? m[(size_t)i * T + j] : 1.0;
                const double dscore = p[(size_t)i * T + j] * (s * mij - dot);
                const double ds = dscore * scale;
                if (drel_bias)
                    drel_bias[(size_t)h * (2 * rel_k + 1) + attn_rel_bias_column(j - i, rel_k)] +=
                        (float)dscore;
                for (int d = 0; d < hd; d++) {
                    dqkv[(size_t)i * ld + h * hd + d] +=
                        (float)(ds * qkv[(size_t)j * ld + D + h * hd + d]);
                    dqkv[(size_t)j * ld + D + h * hd + d] +=
                        (float)(ds * qkv[(size_t)i * ld + h * hd + d]);
                }
            }
        }
    }
}

/* ---- GELU -------------------------------------------------------------------------------- */

/* GELU(x) = x s with s = sigmoid(2u), u = K0 (x + K1 x^3) (constants in kernels.h):
 * GELU'(x) = s + x s (1 - s) 2 K0 (1 + 3 K1 x^2); 0 below the cutoff, where the forward is 0. */
void attn_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const float x = inp[i];
        if (x < ATTN_GELU_NEG_CUTOFF) continue;
        const float u = ATTN_GELU_K0 * (x + ATTN_GELU_K1 * x * x * x);
        const float s = 1.0f / (1.0f + expf(-2.0f * u));
        const float d = s + x * s * (1.0f - s) * 2.0f * ATTN_GELU_K0 *
                        (1.0f + 3.0f * ATTN_GELU_K1 * x * x);
        dinp[i] += dout[i] * d;
    }
}

/* The same derivative from the forward's output y = GELU(x) = x s: s = y / x, so no exp (the
 * loop vectorises; the forward paid for the exp). Near 0, where y / x loses precision,
 * s = sigmoid(2u) = 1/2 + u/2 + O(u^3). */
#define GELU_SMALL_X 1e-3f      /* |x| below this: the series (error < 1e-10) */

void attn_gelu_backward_from_output(float *dinp, const float *inp, const float *out,
                                    const float *dout, size_t n) {
    const float c1 = 2.0f * ATTN_GELU_K0, c3 = 3.0f * ATTN_GELU_K1;
    for (size_t i = 0; i < n; i++) {
        const float x = inp[i], x2 = x * x;
        const int small = fabsf(x) < GELU_SMALL_X;
        const float safe_x = small ? 1.0f : x;
        const float series = 0.5f + 0.5f * ATTN_GELU_K0 * (x + ATTN_GELU_K1 * x2 * x);
        const float s = small ? series : out[i] / safe_x;
        const float d = s + x * s * (1.0f - s) * c1 * (1.0f + c3 * x2);
        dinp[i] += x < ATTN_GELU_NEG_CUTOFF ? 0.0f : dout[i] * d;
    }
}

/* ---- embeddings -------------------------------------------------------------------------- */

/* The subword feature's forward is the mean of its slots' rows: each row += dout / count. */
static void subword_backward(float *table_grad, size_t fdim, const uint32_t *slots,
                             const float *src) {
    const attn_kernels *k = attn_kernels_best();
    int n = 0;
    for (int s = 0; s < ATTN_SUBWORD_SLOTS; s++) n += slots[s] != ATTN_ROW_NONE;
    const float share = 1.0f / (float)(n ? n : 1);
    for (int s = 0; s < ATTN_SUBWORD_SLOTS; s++)
        if (slots[s] != ATTN_ROW_NONE)
            k->axpy(table_grad + (size_t)slots[s] * fdim, share, src, fdim);
}

void attn_embed_context_backward(float *demb, const float *dctx, int T, int E, int k) {
    const attn_kernels *kern = attn_kernels_best();
    const size_t e = (size_t)E, W = (size_t)(2 * k + 1) * e;
    for (int t = 0; t < T; t++)
        for (int j = -k; j <= k; j++)       /* block k + j of row t holds emb row t + j */
            if (t + j >= 0 && t + j < T)
                kern->add(demb + (size_t)(t + j) * e, dctx + (size_t)t * W + (size_t)(k + j) * e,
                          e);
}

void attn_embed_backward(const attn_config *cfg, const attn_weights *g, const uint32_t *rows,
                         const float *dout, int T, int skip_feature, const uint8_t *skip_token) {
    const attn_kernels *k = attn_kernels_best();
    const int nf = cfg->n_features, width = attn_embed_width(cfg);
    const int slots = attn_feature_slots(cfg->features, nf);
    for (int t = 0; t < T; t++) {
        const float *src = dout + (size_t)t * width;
        const uint32_t *tok = rows + (size_t)t * slots;   /* this token's slots */
        for (int f = 0; f < nf; f++) {
            const attn_feature_spec *fs = &cfg->features[f];
            const size_t fdim = fs->dim;
            const int skip = f == skip_feature && skip_token && skip_token[t];
            if (!skip && fs->kind == ATTN_FEAT_SUBWORD)
                subword_backward(mut(g->embed[f]), fdim, tok, src);
            else if (!skip && fs->kind == ATTN_FEAT_GAZETTEER)   /* a sum: each row += dout */
                for (int l = 0; l < fs->n_lists; l++)
                    k->add(mut(g->embed[f]) + (size_t)tok[l] * fdim, src, fdim);
            else if (!skip)
                k->add(mut(g->embed[f]) + (size_t)tok[0] * fdim, src, fdim);
            tok += attn_feature_n_slots(fs);
            src += fdim;
        }
    }
}

/* ---- pooling and heads ------------------------------------------------------------------- */

/* dh[from..to)[i] += dcol[i] at the first row holding the column's maximum. */
static void max_pool_backward(float *dh, const float *h, int from, int to, int D,
                              const float *dcol) {
    if (from >= to) return;
    for (int i = 0; i < D; i++) {
        int best = from;
        for (int t = from + 1; t < to; t++)
            if (h[(size_t)t * D + i] > h[(size_t)best * D + i]) best = t;
        dh[(size_t)best * D + i] += dcol[i];
    }
}

void attn_pool_backward(float *dh, const float *h, const float *dpooled, int T, int D) {
    const attn_kernels *k = attn_kernels_best();
    const float inv = 1.0f / (float)T;
    for (int t = 0; t < T; t++) k->axpy(dh + (size_t)t * D, inv, dpooled, (size_t)D);
    max_pool_backward(dh, h, 0, T, D, dpooled + D);
}

/* For one input vector x[C] of a dense layer y = W x + b with dy[OC] known:
 * dW += dy x^T, db += dy, dx += W^T dy (dx may be NULL). */
static void dense_backward(float *dW, float *db, float *dx, const float *W, const float *x,
                           const float *dy, int C, int OC) {
    const attn_kernels *k = attn_kernels_best();
    for (int o = 0; o < OC; o++) {
        if (dy[o] == 0.0f) continue;
        k->axpy(dW + (size_t)o * C, dy[o], x, (size_t)C);
        db[o] += dy[o];
        if (dx) k->axpy(dx, dy[o], W + (size_t)o * C, (size_t)C);
    }
}

/* Softmax cross-entropy on logits[n] (overwritten with the probabilities); returns -log
 * p[gold] and writes dlogits = weight (p - onehot(gold)). */
static double softmax_xent(float *logits, int n, int gold, float weight, float *dlogits) {
    const double gold_logit = logits[gold];
    const double lse = attn_kernels_best()->softmax(logits, (size_t)n);
    for (int i = 0; i < n; i++) dlogits[i] = weight * (logits[i] - (i == gold ? 1.0f : 0.0f));
    return lse - gold_logit;
}

double attn_classify_backward(const attn_model *m, const attn_weights *g, const float *h, int T,
                              int gold, float weight, float *dh, float *probs, float *work) {
    const int D = m->cfg.dim, L = m->cfg.classify_labels.n;
    float *pooled = work, *dpooled = work + 2 * D, *p = work + 4 * D, *dl = p + L;
    attn_pool_init(pooled, D);
    attn_pool_add(pooled, h, T, D);
    attn_pool_finish(pooled, D, T);
    attn_kernels_best()->matvec(p, m->w.cls_w, pooled, m->w.cls_b, (size_t)L, 2 * (size_t)D);
    const double loss = softmax_xent(p, L, gold, weight, dl);
    if (probs) memcpy(probs, p, (size_t)L * sizeof *p);
    memset(dpooled, 0, 2 * (size_t)D * sizeof *dpooled);
    dense_backward(mut(g->cls_w), mut(g->cls_b), dpooled, m->w.cls_w, pooled, dl, 2 * D, L);
    attn_pool_backward(dh, h, dpooled, T, D);
    return loss;
}

void attn_tag_emissions_backward(const attn_model *m, const attn_weights *g, const float *h,
                                 const float *dem, int T, float *dh) {
    attn_matmul_backward(dh, mut(g->tag_w), mut(g->tag_b), dem, h, m->w.tag_w, T, m->cfg.dim,
                         attn_config_n_tags(&m->cfg));
}

double attn_relation_backward(const attn_model *m, const attn_weights *g, const float *h, int N,
                              int hs, int he, int hl, int ts, int te, int tl, int gold,
                              float weight, float *dh, float *work) {
    const attn_config *c = &m->cfg;
    const attn_kernels *k = attn_kernels_best();
    const int D = c->dim, TD = c->rel_type_dim, RH = c->rel_hidden;
    const int R1 = c->relation_labels.n + 1, X = 3 * D + 2 * TD;
    float *x = work, *dx = x + X, *a = dx + X, *act = a + RH, *da = act + RH, *dact = da + RH;
    float *p = dact + RH, *dl = p + R1;
    int bs, be;                                             /* tokens between the spans */
    attn_rel_gap(hs, he, ts, te, &bs, &be);
    (void)N;

    /* forward, as attn_relation_head */
    attn_max_pool_rows(x, h, hs, he, D);
    attn_max_pool_rows(x + D, h, ts, te, D);
    attn_max_pool_rows(x + 2 * D, h, bs, be, D);
    memcpy(x + 3 * D, m->w.rel_type + (size_t)hl * TD, (size_t)TD * sizeof *x);
    memcpy(x + 3 * D + TD, m->w.rel_type + (size_t)tl * TD, (size_t)TD * sizeof *x);
    k->matvec(a, m->w.rel_hidden_w, x, m->w.rel_hidden_b, (size_t)RH, (size_t)X);
    memcpy(act, a, (size_t)RH * sizeof *act);
    k->gelu(act, (size_t)RH);
    k->matvec(p, m->w.rel_out_w, act, m->w.rel_out_b, (size_t)R1, (size_t)RH);
    const double loss = softmax_xent(p, R1, gold, weight, dl);

    /* backward */
    memset(dact, 0, (size_t)RH * sizeof *dact);
    memset(da, 0, (size_t)RH * sizeof *da);
    memset(dx, 0, (size_t)X * sizeof *dx);
    dense_backward(mut(g->rel_out_w), mut(g->rel_out_b), dact, m->w.rel_out_w, act, dl, RH, R1);
    attn_gelu_backward(da, a, dact, (size_t)RH);
    dense_backward(mut(g->rel_hidden_w), mut(g->rel_hidden_b), dx, m->w.rel_hidden_w, x, da,
                   X, RH);
    max_pool_backward(dh, h, hs, he, D, dx);
    max_pool_backward(dh, h, ts, te, D, dx + D);
    max_pool_backward(dh, h, bs, be, D, dx + 2 * D);
    k->add(mut(g->rel_type) + (size_t)hl * TD, dx + 3 * D, (size_t)TD);
    k->add(mut(g->rel_type) + (size_t)tl * TD, dx + 3 * D + TD, (size_t)TD);
    return loss;
}
