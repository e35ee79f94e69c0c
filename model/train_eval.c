/* train_eval.c: a model evaluated on a dataset with the inference pipeline (train_eval.h):
 * one loop per task feeding metrics.h, optionally collecting what calibrate.h needs. */
#include "train_eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"
#include "heads.h"
#include "metrics.h"
#include "pipeline.h"
#include "train_data_impl.h"

/* ---- evaluation ------------------------------------------------------------------------- */

typedef struct rows_out {
    attn_eval_row *rows;
    int n;
    size_t cap;
} rows_out;

static int add_row(rows_out *o, const char *label, attn_prf p) {
    if (attn_grow((void **)&o->rows, &o->cap, (size_t)o->n + 1, sizeof *o->rows)) return -1;
    attn_eval_row *r = &o->rows[o->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->label, sizeof r->label, "%s", label);
    r->precision = p.precision;
    r->recall = p.recall;
    r->f1 = p.f1;
    r->support = p.support;
    r->predicted = p.predicted;
    r->ece = NAN;
    return 0;
}

/* The summary row ("accuracy" or "micro", the last added) carries the ECE. */
static void set_ece(rows_out *o, attn_eval_result *out, const attn_ece *ece) {
    out->ece = o->rows[o->n - 1].ece = attn_ece_value(ece);
}

/* Rows of the labels that occur in the gold or the predictions, in the model's order. */
static int add_label_rows(rows_out *o, const attn_labels *l, attn_prf (*get)(const void *, int),
                          const void *e) {
    for (int i = 0; i < l->n; i++) {
        const attn_prf p = get(e, i);
        if ((p.support > 0 || p.predicted > 0) && add_row(o, l->names[i], p)) return -1;
    }
    return 0;
}

static attn_prf class_label(const void *e, int i) { return attn_class_eval_label(e, i); }
static attn_prf span_label(const void *e, int i) { return attn_span_eval_label(e, i); }
static attn_prf rel_label(const void *e, int i) { return attn_rel_eval_label(e, i); }

static const text_rec *text_at(const attn_dataset *ds, size_t i) {
    return AT(ds->texts, text_rec, i);
}
static const char *text_bytes(const attn_dataset *ds, const text_rec *t) {
    return (const char *)ds->bytes.p + t->byte_off;
}

/* What every eval_* loop takes besides the model and data: where to stop, what to collect. */
typedef struct eval_ctx {
    attn_stop_cb should_stop;
    void *user;
    attn_calib *collect;        /* NULL: evaluate only */
} eval_ctx;

static int stopped(const eval_ctx *x, attn_error *err) {
    if (x->should_stop && x->should_stop(x->user))
        return attn_fail(err, ATTN_ESTOPPED, "evaluate: stopped");
    return ATTN_OK;
}

static int eval_classify(const attn_model *m, const attn_dataset *ds, attn_session *s,
                         const eval_ctx *x, rows_out *o, attn_eval_result *out,
                         attn_error *err) {
    attn_class_eval *e = attn_class_eval_new();
    attn_ece ece;
    attn_ece_init(&ece);
    const int L = m->cfg.classify_labels.n;
    float *probs = malloc(2 * (size_t)L * sizeof *probs), *logits = probs + L;
    int rc = e && probs ? ATTN_OK : dataset_no_memory(err);
    for (size_t i = 0; !rc && i < ds->texts.n; i++) {
        const text_rec *t = text_at(ds, i);
        if (t->label < 0) continue;
        rc = stopped(x, err);
        if (!rc) rc = attn_run_classify_logits(m, s, text_bytes(ds, t), t->n_bytes, logits, err);
        if (rc) break;
        memcpy(probs, logits, (size_t)L * sizeof *probs);     /* as attn_run_classify */
        attn_softmax_tempered(probs, L, m->cfg.classify_temperature);
        const int best = attn_argmax(probs, L);
        attn_ece_add(&ece, probs[best], best == t->label);
        rc = attn_class_eval_add(e, t->label, best, err);
        if (!rc && x->collect) rc = attn_calib_add_logits(x->collect, logits, t->label, err);
    }
    if (!rc) {
        const double acc = attn_class_eval_accuracy(e);
        const int64_t count = attn_class_eval_count(e);
        const attn_prf a = { acc, acc, acc, 0, 0, 0, count, count };
        if (add_label_rows(o, &m->cfg.classify_labels, class_label, e) ||
            add_row(o, "accuracy", a))
            rc = dataset_no_memory(err);
        if (!rc) set_ece(o, out, &ece);
        if (!rc && add_row(o, "macro", attn_class_eval_macro(e))) rc = dataset_no_memory(err);
        out->accuracy = out->headline = acc;
    }
    free(probs);
    attn_class_eval_free(e);
    return rc;
}

typedef struct span_buf {
    attn_eval_span *gold, *pred;
    size_t gold_cap, pred_cap;
} span_buf;

static int reserve_spans(attn_eval_span **p, size_t *cap, size_t n) {
    return attn_grow((void **)p, cap, n, sizeof **p);
}

static attn_eval_span gold_span(const attn_dataset *ds, const text_rec *t, int i) {
    const attn_char_span *c = AT(ds->gold_ents, attn_char_span, t->ent_off + (size_t)i);
    return (attn_eval_span){ c->start, c->end, c->label };
}

static attn_eval_span pred_span(const attn_entity *e) {
    return (attn_eval_span){ e->start, e->end, e->label };
}

static int span_compare(const void *pa, const void *pb) {
    const attn_eval_span *a = pa, *b = pb;
    if (a->start != b->start) return a->start < b->start ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return (a->label > b->label) - (a->label < b->label);
}

/* Whether span p is among gold[n], sorted by span_compare (an entity is right when a gold one
 * has its start, end and label, as attn_span_eval counts it). */
static int span_in(const attn_eval_span *gold, size_t n, const attn_eval_span *p) {
    return n && bsearch(p, gold, n, sizeof *gold, span_compare) != NULL;
}

static int eval_entities(const attn_model *m, const attn_dataset *ds, attn_session *s,
                         const eval_ctx *x, rows_out *o, attn_eval_result *out,
                         attn_error *err) {
    attn_span_eval *e = attn_span_eval_new();
    attn_ece ece;
    attn_ece_init(&ece);
    span_buf b = { 0 };
    uint8_t *right = NULL;
    size_t right_cap = 0;
    int rc = e ? ATTN_OK : dataset_no_memory(err);
    for (size_t i = 0; !rc && i < ds->texts.n; i++) {
        const text_rec *t = text_at(ds, i);
        if (!t->has_ents) continue;
        const attn_entity *ents;
        const float *em = NULL;
        size_t n;
        int N = 0;
        rc = stopped(x, err);
        if (!rc)
            rc = x->collect ? attn_run_entities_emissions(m, s, text_bytes(ds, t), t->n_bytes,
                                                          &ents, &n, &em, &N, err)
                            : attn_run_entities(m, s, text_bytes(ds, t), t->n_bytes, &ents, &n,
                                                err);
        if (rc) break;
        if (attn_grow((void **)&right, &right_cap, n, 1) ||
            reserve_spans(&b.gold, &b.gold_cap, (size_t)t->n_ents) ||
            reserve_spans(&b.pred, &b.pred_cap, n)) {
            rc = dataset_no_memory(err);
            break;
        }
        for (int k = 0; k < t->n_ents; k++) b.gold[k] = gold_span(ds, t, k);
        for (size_t k = 0; k < n; k++) b.pred[k] = pred_span(&ents[k]);
        rc = attn_span_eval_add(e, b.gold, (size_t)t->n_ents, b.pred, n, err);
        qsort(b.gold, (size_t)t->n_ents, sizeof *b.gold, span_compare);
        for (size_t k = 0; k < n; k++) {
            right[k] = (uint8_t)span_in(b.gold, (size_t)t->n_ents, &b.pred[k]);
            attn_ece_add(&ece, ents[k].score, right[k]);
        }
        if (!rc && x->collect) rc = attn_calib_add_text(x->collect, em, N, ents, n, right, err);
    }
    if (!rc) {
        const attn_prf micro = attn_span_eval_micro(e);
        if (add_label_rows(o, &m->cfg.entity_labels, span_label, e) || add_row(o, "micro", micro))
            rc = dataset_no_memory(err);
        if (!rc) set_ece(o, out, &ece);
        if (!rc && add_row(o, "macro", attn_span_eval_macro(e))) rc = dataset_no_memory(err);
        out->headline = micro.f1;
    }
    free(right);
    free(b.gold);
    free(b.pred);
    attn_span_eval_free(e);
    return rc;
}

typedef struct rel_buf {
    attn_eval_relation *p;
    size_t cap;
} rel_buf;

static int reserve_rels(rel_buf *b, size_t n) {
    return attn_grow((void **)&b->p, &b->cap, n, sizeof *b->p);
}

static int same_span(attn_eval_span a, attn_eval_span b) {
    return a.start == b.start && a.end == b.end && a.label == b.label;
}

/* The gold output of a predicted pair: 1 + the label of the gold relation with the same head
 * and tail (spans and types), or 0 (none). A text never has two gold relations on one pair. */
static int pair_gold(const rel_buf *gold, int n_gold, attn_eval_span head, attn_eval_span tail) {
    for (int k = 0; k < n_gold; k++)
        if (same_span(gold->p[k].head, head) && same_span(gold->p[k].tail, tail))
            return 1 + gold->p[k].label;
    return 0;
}

static int eval_relations(const attn_model *m, const attn_dataset *ds, attn_session *s,
                          const eval_ctx *x, rows_out *o, attn_eval_result *out,
                          attn_error *err) {
    attn_rel_eval *e = attn_rel_eval_new();
    attn_ece ece;
    attn_ece_init(&ece);
    rel_buf gold = { 0 }, pred = { 0 };
    const int R1 = m->cfg.relation_labels.n + 1;
    int rc = e ? ATTN_OK : dataset_no_memory(err);
    for (size_t i = 0; !rc && i < ds->texts.n; i++) {
        const text_rec *t = text_at(ds, i);
        if (!t->has_rels) continue;
        const attn_entity *ents;
        const attn_relation *rels;
        const float *logits = NULL;
        size_t n_ents, n_rels;
        rc = stopped(x, err);
        /* Collecting: every candidate pair ("none" too, label -1), as attn_run_relations
         * classifies them; its relations are those with a label. */
        if (!rc)
            rc = x->collect ? attn_run_relation_candidates(m, s, text_bytes(ds, t), t->n_bytes,
                                                           &ents, &n_ents, &rels, &n_rels,
                                                           &logits, err)
                            : attn_run_relations(m, s, text_bytes(ds, t), t->n_bytes, &ents,
                                                 &n_ents, &rels, &n_rels, err);
        if (rc) break;
        if (reserve_rels(&gold, (size_t)t->n_rels) || reserve_rels(&pred, n_rels)) {
            rc = dataset_no_memory(err);
            break;
        }
        for (int k = 0; k < t->n_rels; k++) {
            const attn_rel_gold *g = AT(ds->gold_rels, attn_rel_gold, t->rel_off + (size_t)k);
            gold.p[k] = (attn_eval_relation){ gold_span(ds, t, g->head), gold_span(ds, t, g->tail),
                                              g->label };
        }
        size_t n_pred = 0;
        for (size_t k = 0; !rc && k < n_rels; k++) {
            const attn_eval_span head = pred_span(&ents[rels[k].head]);
            const attn_eval_span tail = pred_span(&ents[rels[k].tail]);
            const int truth = pair_gold(&gold, t->n_rels, head, tail);
            if (x->collect)
                rc = attn_calib_add_pair(x->collect, logits + k * (size_t)R1, truth,
                                         attn_pair_entities_right(&ents[rels[k].head],
                                                                  &ents[rels[k].tail]), err);
            if (rels[k].label < 0) continue;
            attn_ece_add(&ece, rels[k].score, truth == 1 + rels[k].label);
            pred.p[n_pred++] = (attn_eval_relation){ head, tail, rels[k].label };
        }
        if (!rc) rc = attn_rel_eval_add(e, gold.p, (size_t)t->n_rels, pred.p, n_pred, err);
    }
    if (!rc) {
        const attn_prf micro = attn_rel_eval_micro(e);
        if (add_label_rows(o, &m->cfg.relation_labels, rel_label, e) || add_row(o, "micro", micro))
            rc = dataset_no_memory(err);
        if (!rc) set_ece(o, out, &ece);
        if (!rc && add_row(o, "macro", attn_rel_eval_macro(e))) rc = dataset_no_memory(err);
        out->headline = micro.f1;
    }
    free(gold.p);
    free(pred.p);
    attn_rel_eval_free(e);
    return rc;
}

int attn_evaluate(const attn_model *m, const attn_dataset *ds, int task,
                  attn_stop_cb should_stop, void *user, attn_eval_result *out,
                  attn_error *err) {
    return attn_evaluate_collect(m, ds, task, should_stop, user, NULL, out, err);
}

int attn_evaluate_collect(const attn_model *m, const attn_dataset *ds, int task,
                          attn_stop_cb should_stop, void *user, struct attn_calib *collect,
                          attn_eval_result *out, attn_error *err) {
    memset(out, 0, sizeof *out);
    out->accuracy = out->headline = out->ece = NAN;
    if (collect && (attn_calib_task(collect) != task || attn_calib_count(collect) != 0))
        return attn_fail(err, ATTN_EINVAL, "evaluate: the calibration set is not an empty one "
                         "of this task");
    if (!m || !m->finished) return attn_fail(err, ATTN_EINVAL, "evaluate: model not finished");
    if (task != ATTN_TASK_CLASSIFY && task != ATTN_TASK_ENTITIES && task != ATTN_TASK_RELATIONS)
        return attn_fail(err, ATTN_EINVAL, "evaluate: unknown task %d", task);
    if (!has_task(&m->cfg, task))
        return attn_fail(err, ATTN_EINVAL, "evaluate: the model has no %s task",
                         task == ATTN_TASK_CLASSIFY ? "classify"
                         : task == ATTN_TASK_ENTITIES ? "entities" : "relations");
    int rc = attn_dataset_check_compatible(m, ds, "evaluate", err);
    if (rc) return rc;
    attn_session *s = attn_session_new();
    if (!s) return dataset_no_memory(err);
    attn_session_set_stop(s, should_stop, user);
    rows_out o = { 0 };
    const eval_ctx x = { should_stop, user, collect };
    if (task == ATTN_TASK_CLASSIFY) rc = eval_classify(m, ds, s, &x, &o, out, err);
    else if (task == ATTN_TASK_ENTITIES) rc = eval_entities(m, ds, s, &x, &o, out, err);
    else rc = eval_relations(m, ds, s, &x, &o, out, err);
    attn_session_free(s);
    if (rc) {
        free(o.rows);
        out->accuracy = out->headline = out->ece = NAN;
        return rc;
    }
    out->rows = o.rows;
    out->n = o.n;
    return ATTN_OK;
}

void attn_eval_result_free(attn_eval_result *r) {
    if (!r) return;
    free(r->rows);
    r->rows = NULL;
    r->n = 0;
}
