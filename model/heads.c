/* heads.c: classification, tagging and relation heads over encoder outputs (see heads.h). */
#include "heads.h"

#include <math.h>
#include <string.h>

#include "kernels.h"
#include "layers.h"

void attn_softmax_tempered(float *z, int n, float temperature) {
    const attn_kernels *k = attn_kernels_best();
    if (temperature != 1.0f) k->scale(z, 1.0f / temperature, (size_t)n);
    k->softmax(z, (size_t)n);
}

void attn_classify_logits(const attn_model *m, const float *pooled, float *logits) {
    const int L = m->cfg.classify_labels.n;
    attn_kernels_best()->matvec(logits, m->w.cls_w, pooled, m->w.cls_b, (size_t)L,
                                2 * (size_t)m->cfg.dim);
}

void attn_classify_head(const attn_model *m, const float *pooled, float *probs) {
    attn_classify_logits(m, pooled, probs);
    attn_softmax_tempered(probs, m->cfg.classify_labels.n, m->cfg.classify_temperature);
}

void attn_pool_init(float *acc, int D) {
    for (int i = 0; i < D; i++) acc[i] = 0.0f;
    for (int i = 0; i < D; i++) acc[D + i] = -INFINITY;
}

void attn_pool_add(float *acc, const float *h, int T, int D) {
    const attn_kernels *k = attn_kernels_best();
    for (int t = 0; t < T; t++) {
        k->add(acc, h + (size_t)t * D, (size_t)D);
        k->vmax(acc + D, h + (size_t)t * D, (size_t)D);
    }
}

void attn_pool_finish(float *acc, int D, int64_t n_rows) {
    if (n_rows <= 0) {                  /* no tokens: the pooled vector is all zeros */
        memset(acc, 0, 2 * (size_t)D * sizeof *acc);
        return;
    }
    attn_kernels_best()->scale(acc, (float)(1.0 / (double)n_rows), (size_t)D);
}

void attn_tag_emissions(const attn_model *m, const float *h, int T, float *em) {
    attn_matmul_forward(em, h, m->w.tag_w, m->w.tag_b, T, m->cfg.dim,
                        attn_config_n_tags(&m->cfg));
}

void attn_max_pool_rows(float *out, const float *h, int from, int to, int D) {
    if (from >= to) {
        memset(out, 0, (size_t)D * sizeof *out);
        return;
    }
    memcpy(out, h + (size_t)from * D, (size_t)D * sizeof *out);
    const attn_kernels *k = attn_kernels_best();
    for (int t = from + 1; t < to; t++) k->vmax(out, h + (size_t)t * D, (size_t)D);
}

void attn_rel_gap(int hs, int he, int ts, int te, int *from, int *to) {
    *from = he < te ? he : te;
    *to = hs > ts ? hs : ts;
}

void attn_relation_logits(const attn_model *m, const float *h, int N,
                          int hs, int he, int hl, int ts, int te, int tl,
                          float *logits, float *work) {
    const attn_config *c = &m->cfg;
    const attn_kernels *k = attn_kernels_best();
    const int D = c->dim, TD = c->rel_type_dim, RH = c->rel_hidden;
    const int R1 = c->relation_labels.n + 1;
    float *x = work;                          /* [3D + 2TD] pair input */
    float *hidden = work + 3 * D + 2 * TD;    /* [RH] */
    (void)N;

    int gap_from, gap_to;                     /* tokens strictly between the two spans */
    attn_rel_gap(hs, he, ts, te, &gap_from, &gap_to);
    attn_max_pool_rows(x, h, hs, he, D);
    attn_max_pool_rows(x + D, h, ts, te, D);
    attn_max_pool_rows(x + 2 * D, h, gap_from, gap_to, D);
    memcpy(x + 3 * D, m->w.rel_type + (size_t)hl * TD, (size_t)TD * sizeof *x);
    memcpy(x + 3 * D + TD, m->w.rel_type + (size_t)tl * TD, (size_t)TD * sizeof *x);

    k->matvec(hidden, m->w.rel_hidden_w, x, m->w.rel_hidden_b, (size_t)RH,
              3 * (size_t)D + 2 * (size_t)TD);
    k->gelu(hidden, (size_t)RH);
    k->matvec(logits, m->w.rel_out_w, hidden, m->w.rel_out_b, (size_t)R1, (size_t)RH);
}

void attn_relation_head(const attn_model *m, const float *h, int N,
                        int hs, int he, int hl, int ts, int te, int tl,
                        float *probs, float *work) {
    attn_relation_logits(m, h, N, hs, he, hl, ts, te, tl, probs, work);
    attn_softmax_tempered(probs, m->cfg.relation_labels.n + 1, m->cfg.relation_temperature);
}
