/* calibrate.c: temperature scaling; see calibrate.h.
 *
 * Classify and relations keep logits[n, C] and gold[n] (relations: every candidate pair, and
 * how many of them are predicted relations, the examples); entities keep every text's emissions
 * (one growing array, texts by offset) and every predicted entity's token span, label and
 * whether it is right. Scoring at T recomputes the probabilities in double (softmax) or with
 * the CRF's forward-backward at T (crf.h), one text at a time. */
#include "calibrate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crf.h"
#include "train_eval.h"
#include "metrics.h"

typedef struct calib_text {
    size_t em_off;              /* into em, floats */
    int N;
    size_t ent_off, n_ents;     /* into ents */
} calib_text;

typedef struct calib_entity {
    int tok_start, tok_end, label;
    uint8_t right;
} calib_entity;

struct attn_calib {
    const attn_model *m;
    int task, C;                /* classes: L, R + 1, or the tag count K (entities) */
    float *logits; size_t logits_cap;                    /* classify, relations: [n, C] */
    int *gold; size_t n, gold_cap;                       /* [n] */
    /* relations: [n] the chance both entities of the pair are right (the product of their
     * scores), by which the relation's probability is multiplied, as pipeline.c does */
    float *both; size_t both_cap;
    size_t n_pred;              /* relations: pairs whose top output is a relation */
    float *em; size_t em_n, em_cap;                      /* entities: [sum N, K] */
    calib_text *texts; size_t n_texts, texts_cap;
    calib_entity *ents; size_t n_ents, ents_cap;
    uint8_t *allowed;           /* [K*K + K] IOB2 constraints */
    int max_N;                  /* longest text (work buffers) */
};

static int no_memory(attn_error *err) {
    return attn_fail(err, ATTN_ENOMEM, "out of memory (calibration)");
}

attn_calib *attn_calib_new(const attn_model *m, int task) {
    if (!(m->cfg.tasks & task)) return NULL;
    if (task != ATTN_TASK_CLASSIFY && task != ATTN_TASK_ENTITIES && task != ATTN_TASK_RELATIONS)
        return NULL;
    attn_calib *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->m = m;
    c->task = task;
    c->C = task == ATTN_TASK_CLASSIFY ? m->cfg.classify_labels.n
         : task == ATTN_TASK_RELATIONS ? m->cfg.relation_labels.n + 1
                                       : attn_config_n_tags(&m->cfg);
    if (task == ATTN_TASK_ENTITIES) {
        const size_t K = (size_t)c->C;
        c->allowed = malloc(K * K + K);
        if (!c->allowed) { free(c); return NULL; }
        attn_bio_constraints(m->cfg.entity_labels.n, c->allowed, c->allowed + K * K);
    }
    return c;
}

void attn_calib_free(attn_calib *c) {
    if (!c) return;
    free(c->logits); free(c->gold); free(c->both); free(c->em); free(c->texts); free(c->ents);
    free(c->allowed);
    free(c);
}

int attn_calib_task(const attn_calib *c) { return c->task; }

/* One example of classify or relations (both = 1 for classify). */
static int add_example(attn_calib *c, const float *logits, int gold, float both,
                       attn_error *err) {
    if (c->task == ATTN_TASK_ENTITIES)
        return attn_fail(err, ATTN_EINVAL, "calibration: entities take texts, not logits");
    if (gold < 0 || gold >= c->C)
        return attn_fail(err, ATTN_EINVAL, "calibration: gold %d outside 0..%d", gold, c->C - 1);
    if (!(both >= 0.0f && both <= 1.0f))
        return attn_fail(err, ATTN_EINVAL, "calibration: entity score %g outside 0..1",
                         (double)both);
    if (attn_grow((void **)&c->logits, &c->logits_cap, (c->n + 1) * (size_t)c->C,
                sizeof *c->logits) ||
        attn_grow((void **)&c->gold, &c->gold_cap, c->n + 1, sizeof *c->gold) ||
        attn_grow((void **)&c->both, &c->both_cap, c->n + 1, sizeof *c->both))
        return no_memory(err);
    memcpy(c->logits + c->n * (size_t)c->C, logits, (size_t)c->C * sizeof *logits);
    c->both[c->n] = both;
    c->gold[c->n++] = gold;
    if (c->task == ATTN_TASK_RELATIONS && attn_argmax(logits, c->C) != 0) c->n_pred++;
    return ATTN_OK;
}

int attn_calib_add_logits(attn_calib *c, const float *logits, int gold, attn_error *err) {
    return add_example(c, logits, gold, 1.0f, err);
}

int attn_calib_add_pair(attn_calib *c, const float *logits, int gold, float both,
                        attn_error *err) {
    if (c->task != ATTN_TASK_RELATIONS)
        return attn_fail(err, ATTN_EINVAL, "calibration: only relations take pairs");
    return add_example(c, logits, gold, both, err);
}

int attn_calib_add_text(attn_calib *c, const float *em, int N, const attn_entity *ents,
                        size_t n_ents, const uint8_t *right, attn_error *err) {
    if (c->task != ATTN_TASK_ENTITIES)
        return attn_fail(err, ATTN_EINVAL, "calibration: only entities take texts");
    if (N < 0) return attn_fail(err, ATTN_EINVAL, "calibration: %d tokens", N);
    const size_t K = (size_t)c->C, rows = (size_t)N * K;
    if (attn_grow((void **)&c->em, &c->em_cap, c->em_n + rows, sizeof *c->em) ||
        attn_grow((void **)&c->texts, &c->texts_cap, c->n_texts + 1, sizeof *c->texts) ||
        attn_grow((void **)&c->ents, &c->ents_cap, c->n_ents + n_ents, sizeof *c->ents))
        return no_memory(err);
    for (size_t i = 0; i < n_ents; i++) {
        const attn_entity *e = &ents[i];
        if (e->tok_start < 0 || e->tok_end <= e->tok_start || e->tok_end > N ||
            e->label < 0 || e->label >= c->m->cfg.entity_labels.n)
            return attn_fail(err, ATTN_EINVAL, "calibration: entity %zu: bad span or label", i);
    }
    if (rows) memcpy(c->em + c->em_n, em, rows * sizeof *em);
    c->texts[c->n_texts++] = (calib_text){ c->em_n, N, c->n_ents, n_ents };
    c->em_n += rows;
    for (size_t i = 0; i < n_ents; i++)
        c->ents[c->n_ents++] = (calib_entity){ ents[i].tok_start, ents[i].tok_end, ents[i].label,
                                               (uint8_t)(right[i] != 0) };
    if (N > c->max_N) c->max_N = N;
    return ATTN_OK;
}

size_t attn_calib_count(const attn_calib *c) {
    return c->task == ATTN_TASK_ENTITIES ? c->n_ents
         : c->task == ATTN_TASK_RELATIONS ? c->n_pred : c->n;
}

/* -log of p (right) or of 1 - p (wrong), p kept in [eps, 1 - eps]: the NLL of the binary
 * event "this prediction is right" (entities, relations). */
static double binary_nll(double p, int right) {
    if (p < ATTN_CALIB_EPS) p = ATTN_CALIB_EPS;
    if (p > 1.0 - ATTN_CALIB_EPS) p = 1.0 - ATTN_CALIB_EPS;
    return right ? -log(p) : -log1p(-p);
}

/* p[C] = softmax(z / T) in double; returns log of the normaliser (for the NLL). */
static double softmax_at(const float *z, int C, double T, double *p) {
    double mx = -INFINITY;
    for (int k = 0; k < C; k++)
        if (z[k] / T > mx) mx = z[k] / T;
    double sum = 0.0;
    for (int k = 0; k < C; k++) sum += (p[k] = exp(z[k] / T - mx));
    for (int k = 0; k < C; k++) p[k] /= sum;
    return mx + log(sum);
}

static int score_softmax(const attn_calib *c, double T, double *nll, attn_ece *ece,
                         attn_error *err) {
    double *p = malloc((size_t)c->C * sizeof *p), sum = 0.0;
    if (!p) return no_memory(err);
    for (size_t i = 0; i < c->n; i++) {
        const float *z = c->logits + i * (size_t)c->C;
        const int best = attn_argmax(z, c->C);          /* the same at every T > 0 */
        if (c->task == ATTN_TASK_CLASSIFY) {
            const double lse = softmax_at(z, c->C, T, p);
            sum += lse - z[c->gold[i]] / T;             /* -log softmax(z / T)[gold] */
            attn_ece_add(ece, p[best], best == c->gold[i]);
        } else if (best != 0) {     /* relations: only a pair predicted as a relation counts */
            softmax_at(z, c->C, T, p);
            const double score = p[best] * c->both[i];
            sum += binary_nll(score, best == c->gold[i]);
            attn_ece_add(ece, score, best == c->gold[i]);
        }
    }
    free(p);
    const size_t n = attn_calib_count(c);
    *nll = n ? sum / (double)n : 0.0;
    return ATTN_OK;
}

static int score_entities(const attn_calib *c, double T, double *nll, attn_ece *ece,
                          attn_error *err) {
    const int K = c->C;
    const attn_model *m = c->m;
    const attn_crf crf = { K, m->w.crf_trans, m->w.crf_start, m->w.crf_end, c->allowed,
                           c->allowed + (size_t)K * K };
    const size_t N = (size_t)(c->max_N ? c->max_N : 1);
    float *marg = malloc(N * (size_t)K * sizeof *marg);
    float *work = malloc(ATTN_CRF_WORK(N, K) * sizeof *work);
    double sum = 0.0;
    int rc = marg && work ? ATTN_OK : no_memory(err);
    for (size_t t = 0; !rc && t < c->n_texts; t++) {
        const calib_text *x = &c->texts[t];
        if (x->n_ents == 0) continue;
        attn_crf_marginals_tempered(&crf, c->em + x->em_off, x->N, T, marg, work);
        for (size_t i = 0; i < x->n_ents; i++) {
            const calib_entity *e = &c->ents[x->ent_off + i];
            double s = 0.0;
            for (int tok = e->tok_start; tok < e->tok_end; tok++) {
                const int tag = (tok == e->tok_start ? 1 : 2) + 2 * e->label;   /* B-, I- */
                s += marg[(size_t)tok * K + tag];
            }
            const float score = (float)(s / (e->tok_end - e->tok_start));  /* as pipeline.c */
            sum += binary_nll(score, e->right);
            attn_ece_add(ece, score, e->right);
        }
    }
    free(marg);
    free(work);
    *nll = c->n_ents ? sum / (double)c->n_ents : 0.0;
    return rc;
}

int attn_calib_score(const attn_calib *c, double T, double *nll, double *ece_out,
                     attn_error *err) {
    if (!(T > 0.0) || !isfinite(T))
        return attn_fail(err, ATTN_EINVAL, "calibration: temperature %g is not > 0", T);
    attn_ece ece;
    attn_ece_init(&ece);
    int rc = c->task == ATTN_TASK_ENTITIES ? score_entities(c, T, nll, &ece, err)
                                           : score_softmax(c, T, nll, &ece, err);
    if (!rc && ece_out) *ece_out = attn_ece_value(&ece);
    return rc;
}

/* NLL at T = exp(u), counting evaluations; non-zero rc stops. */
typedef struct objective {
    const attn_calib *c;
    attn_calib_stop_cb should_stop;
    void *user;
    attn_error *err;
} objective;

static int nll_at(const objective *o, double u, double *nll) {
    if (o->should_stop && o->should_stop(o->user))
        return attn_fail(o->err, ATTN_ESTOPPED, "calibration: stopped");
    return attn_calib_score(o->c, exp(u), nll, NULL, o->err);
}

int attn_calib_fit(const attn_calib *c, attn_calib_stop_cb should_stop, void *user, double *T,
                   double *nll, attn_error *err) {
    *T = 1.0;
    *nll = 0.0;
    if (attn_calib_count(c) == 0) return ATTN_OK;
    const objective o = { c, should_stop, user, err };
    const double lo = log(ATTN_TEMPERATURE_MIN), hi = log(ATTN_TEMPERATURE_MAX);
    const double step = (hi - lo) / (ATTN_CALIB_GRID - 1);
    /* A grid first: the NLL is convex in 1/T for softmax heads (so unimodal in log T), and
     * the CRF's is close to it; the grid keeps the golden section off a far local dip. */
    double best_u = 0.0, best = INFINITY;
    int rc = nll_at(&o, 0.0, &best);                    /* T = 1: where every model starts */
    for (int i = 0; !rc && i < ATTN_CALIB_GRID; i++) {
        const double u = lo + step * i;
        double v;
        rc = nll_at(&o, u, &v);
        if (!rc && v < best) { best = v; best_u = u; }
    }
    double a = best_u - step, b = best_u + step;
    if (a < lo) a = lo;
    if (b > hi) b = hi;
    const double g = (sqrt(5.0) - 1.0) / 2.0;
    double x1 = b - g * (b - a), x2 = a + g * (b - a), f1 = 0.0, f2 = 0.0;
    if (!rc) rc = nll_at(&o, x1, &f1);
    if (!rc) rc = nll_at(&o, x2, &f2);
    for (int i = 0; !rc && i < ATTN_CALIB_GOLDEN_STEPS; i++) {
        if (f1 <= f2) {
            b = x2; x2 = x1; f2 = f1;
            x1 = b - g * (b - a);
            rc = nll_at(&o, x1, &f1);
        } else {
            a = x1; x1 = x2; f1 = f2;
            x2 = a + g * (b - a);
            rc = nll_at(&o, x2, &f2);
        }
    }
    if (rc) return rc;
    const double u = f1 <= f2 ? x1 : x2, f = f1 <= f2 ? f1 : f2;
    if (f < best) { best = f; best_u = u; }
    *T = exp(best_u);
    *nll = best;
    return ATTN_OK;
}
