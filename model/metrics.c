/* metrics.c: accumulators for entity, relation, classification and SemEval-2010 Task 8 scores
 * and the expected calibration error; see metrics.h for the definitions. */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- per-label counts, shared by every accumulator ---- */

typedef struct label_count {
    char *name;                   /* NULL when the label was only used by index */
    int64_t tp, fp, fn;
} label_count;

typedef struct label_table {
    label_count *l;               /* [n] */
    int n;
    size_t cap;
} label_table;

static void labels_free(label_table *t) {
    for (int i = 0; i < t->n; i++) free(t->l[i].name);
    free(t->l);
}

/* Makes label slot `label` exist (zeroed). 0 or an error code. */
static int labels_reserve(label_table *t, int label, const char *what, attn_error *err) {
    if (label < 0 || label >= ATTN_MAX_LABELS)
        return attn_fail(err, ATTN_EINVAL, "%s: label %d outside 0..%d", what, label,
                         ATTN_MAX_LABELS - 1);
    if (label < t->n) return 0;
    if (attn_grow((void **)&t->l, &t->cap, (size_t)label + 1, sizeof *t->l) != ATTN_OK)
        return attn_fail(err, ATTN_ENOMEM, "out of memory");
    for (int i = t->n; i <= label; i++) t->l[i] = (label_count){NULL, 0, 0, 0};
    t->n = label + 1;
    return 0;
}

/* Index of name[0..len), interned on first use; >= 0 or -code. */
static int labels_intern(label_table *t, const char *name, size_t len, const char *what,
                         attn_error *err) {
    for (int i = 0; i < t->n; i++)
        if (t->l[i].name && strlen(t->l[i].name) == len && memcmp(t->l[i].name, name, len) == 0)
            return i;
    if (len >= ATTN_MAX_LABEL_BYTES)
        return -attn_fail(err, ATTN_ELIMIT, "%s: label name longer than %d bytes", what,
                          ATTN_MAX_LABEL_BYTES - 1);
    if (t->n >= ATTN_MAX_LABELS)
        return -attn_fail(err, ATTN_ELIMIT, "%s: more than %d labels", what, ATTN_MAX_LABELS);
    char *copy = malloc(len + 1);
    if (!copy) return -attn_fail(err, ATTN_ENOMEM, "out of memory");
    int id = t->n, rc = labels_reserve(t, id, what, err);
    if (rc) {
        free(copy);
        return -rc;
    }
    memcpy(copy, name, len);
    copy[len] = 0;
    t->l[id].name = copy;
    return id;
}

static const char *labels_name(const label_table *t, int label) {
    return label >= 0 && label < t->n ? t->l[label].name : NULL;
}

static attn_prf labels_prf(const label_table *t, int label) {
    if (label < 0 || label >= t->n) return attn_prf_from_counts(0, 0, 0);
    return attn_prf_from_counts(t->l[label].tp, t->l[label].fp, t->l[label].fn);
}

static attn_prf labels_micro(const label_table *t) {
    int64_t tp = 0, fp = 0, fn = 0;
    for (int i = 0; i < t->n; i++) tp += t->l[i].tp, fp += t->l[i].fp, fn += t->l[i].fn;
    return attn_prf_from_counts(tp, fp, fn);
}

/* Means of per-label P, R, F1 over labels seen in gold or predictions; counts = micro sums. */
static attn_prf labels_macro(const label_table *t) {
    attn_prf m = labels_micro(t);
    double p = 0, r = 0, f = 0;
    int n = 0;
    for (int i = 0; i < t->n; i++) {
        if (t->l[i].tp + t->l[i].fp + t->l[i].fn == 0) continue;
        attn_prf l = labels_prf(t, i);
        p += l.precision, r += l.recall, f += l.f1, n++;
    }
    m.precision = n ? p / n : 0;
    m.recall = n ? r / n : 0;
    m.f1 = n ? f / n : 0;
    return m;
}

attn_prf attn_prf_from_counts(int64_t tp, int64_t fp, int64_t fn) {
    attn_prf r = {0};
    r.tp = tp, r.fp = fp, r.fn = fn;
    r.support = tp + fn;
    r.predicted = tp + fp;
    r.precision = r.predicted ? (double)tp / (double)r.predicted : 0.0;
    r.recall = r.support ? (double)tp / (double)r.support : 0.0;
    r.f1 = r.precision + r.recall > 0 ? 2 * r.precision * r.recall / (r.precision + r.recall) : 0.0;
    return r;
}

/* ---- set matching (entities and relations) ----
 * Items become records of K int64 keys; gold and predicted records are sorted, duplicates
 * dropped, and merged: equal records are tp, the rest fn (gold) or fp (pred) of their class. */

#define SPAN_KEYS 3               /* start, end, label */
#define REL_KEYS 7                /* head start, end, label, tail start, end, label, relation */

typedef struct match_eval {
    label_table labels;
    int64_t *gold, *pred;         /* scratch [n * keys] */
    size_t gold_cap, pred_cap;
} match_eval;

static int cmp_keys(const int64_t *a, const int64_t *b, int k) {
    for (int i = 0; i < k; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
}
static int cmp_span(const void *a, const void *b) { return cmp_keys(a, b, SPAN_KEYS); }
static int cmp_rel(const void *a, const void *b) { return cmp_keys(a, b, REL_KEYS); }

/* Sorts and removes duplicates; returns the new count. */
static size_t sort_unique(int64_t *rec, size_t n, int k) {
    if (n == 0) return 0;
    qsort(rec, n, (size_t)k * sizeof *rec, k == SPAN_KEYS ? cmp_span : cmp_rel);
    size_t m = 1;
    for (size_t i = 1; i < n; i++)
        if (cmp_keys(rec + i * k, rec + (m - 1) * k, k) != 0)
            memmove(rec + m * k, rec + i * k, (size_t)k * sizeof *rec), m++;
    return m;
}

static void match_count(match_eval *e, size_t ng, size_t np, int k) {
    ng = sort_unique(e->gold, ng, k);
    np = sort_unique(e->pred, np, k);
    label_table *t = &e->labels;
    size_t i = 0, j = 0;
    while (i < ng || j < np) {
        const int64_t *g = i < ng ? e->gold + i * k : NULL;
        const int64_t *p = j < np ? e->pred + j * k : NULL;
        int c = !g ? 1 : !p ? -1 : cmp_keys(g, p, k);
        if (c == 0) t->l[g[k - 1]].tp++, i++, j++;
        else if (c < 0) t->l[g[k - 1]].fn++, i++;
        else t->l[p[k - 1]].fp++, j++;
    }
}

static int match_reserve(match_eval *e, size_t ng, size_t np, int k, attn_error *err) {
    if (ng > SIZE_MAX / 64 || np > SIZE_MAX / 64)
        return attn_fail(err, ATTN_ELIMIT, "evaluation: too many items in one document");
    if (attn_grow((void **)&e->gold, &e->gold_cap, ng * (size_t)k, sizeof *e->gold) != ATTN_OK ||
        attn_grow((void **)&e->pred, &e->pred_cap, np * (size_t)k, sizeof *e->pred) != ATTN_OK)
        return attn_fail(err, ATTN_ENOMEM, "out of memory");
    return 0;
}

static void match_free(match_eval *e) {
    labels_free(&e->labels);
    free(e->gold);
    free(e->pred);
}

static int check_span(const attn_eval_span *s, const char *what, const char *side, size_t i,
                      attn_error *err) {
    if (s->start < 0)
        return attn_fail(err, ATTN_EINVAL, "%s: %s[%zu]: start %lld < 0", what, side, i,
                         (long long)s->start);
    if (s->end <= s->start)
        return attn_fail(err, ATTN_EINVAL, "%s: %s[%zu]: end %lld <= start %lld", what, side, i,
                         (long long)s->end, (long long)s->start);
    if (s->label < 0 || s->label >= ATTN_MAX_LABELS)
        return attn_fail(err, ATTN_EINVAL, "%s: %s[%zu]: label %d outside 0..%d", what, side, i,
                         s->label, ATTN_MAX_LABELS - 1);
    return 0;
}

/* Writes span items as records into out; validates; reserves their label slots. */
static int spans_to_records(match_eval *e, const attn_eval_span *s, size_t n, const char *side,
                            int64_t *out, attn_error *err) {
    for (size_t i = 0; i < n; i++) {
        int rc = check_span(&s[i], "entities", side, i, err);
        if (rc || (rc = labels_reserve(&e->labels, s[i].label, "entities", err))) return rc;
        int64_t *r = out + i * SPAN_KEYS;
        r[0] = s[i].start, r[1] = s[i].end, r[2] = s[i].label;
    }
    return 0;
}

static int rels_to_records(match_eval *e, const attn_eval_relation *s, size_t n, const char *side,
                           int64_t *out, attn_error *err) {
    for (size_t i = 0; i < n; i++) {
        int rc = check_span(&s[i].head, "relations (head)", side, i, err);
        if (!rc) rc = check_span(&s[i].tail, "relations (tail)", side, i, err);
        if (!rc) rc = labels_reserve(&e->labels, s[i].label, "relations", err);
        if (rc) return rc;
        int64_t *r = out + i * REL_KEYS;
        r[0] = s[i].head.start, r[1] = s[i].head.end, r[2] = s[i].head.label;
        r[3] = s[i].tail.start, r[4] = s[i].tail.end, r[5] = s[i].tail.label;
        r[6] = s[i].label;
    }
    return 0;
}

/* ---- entities ---- */

struct attn_span_eval { match_eval m; };

attn_span_eval *attn_span_eval_new(void) { return calloc(1, sizeof(attn_span_eval)); }

void attn_span_eval_free(attn_span_eval *e) {
    if (!e) return;
    match_free(&e->m);
    free(e);
}

int attn_span_eval_label_id(attn_span_eval *e, const char *name, attn_error *err) {
    return labels_intern(&e->m.labels, name, strlen(name), "entities", err);
}

const char *attn_span_eval_label_name(const attn_span_eval *e, int label) {
    return labels_name(&e->m.labels, label);
}

int attn_span_eval_add(attn_span_eval *e, const attn_eval_span *gold, size_t n_gold,
                       const attn_eval_span *pred, size_t n_pred, attn_error *err) {
    int rc = match_reserve(&e->m, n_gold, n_pred, SPAN_KEYS, err);
    if (!rc) rc = spans_to_records(&e->m, gold, n_gold, "gold", e->m.gold, err);
    if (!rc) rc = spans_to_records(&e->m, pred, n_pred, "pred", e->m.pred, err);
    if (rc) return rc;
    match_count(&e->m, n_gold, n_pred, SPAN_KEYS);
    return ATTN_OK;
}

int attn_span_eval_n_labels(const attn_span_eval *e) { return e->m.labels.n; }
attn_prf attn_span_eval_micro(const attn_span_eval *e) { return labels_micro(&e->m.labels); }
attn_prf attn_span_eval_label(const attn_span_eval *e, int label) {
    return labels_prf(&e->m.labels, label);
}
attn_prf attn_span_eval_macro(const attn_span_eval *e) { return labels_macro(&e->m.labels); }

/* ---- relations ---- */

struct attn_rel_eval { match_eval m; };

attn_rel_eval *attn_rel_eval_new(void) { return calloc(1, sizeof(attn_rel_eval)); }

void attn_rel_eval_free(attn_rel_eval *e) {
    if (!e) return;
    match_free(&e->m);
    free(e);
}

int attn_rel_eval_label_id(attn_rel_eval *e, const char *name, attn_error *err) {
    return labels_intern(&e->m.labels, name, strlen(name), "relations", err);
}

const char *attn_rel_eval_label_name(const attn_rel_eval *e, int label) {
    return labels_name(&e->m.labels, label);
}

int attn_rel_eval_add(attn_rel_eval *e, const attn_eval_relation *gold, size_t n_gold,
                      const attn_eval_relation *pred, size_t n_pred, attn_error *err) {
    int rc = match_reserve(&e->m, n_gold, n_pred, REL_KEYS, err);
    if (!rc) rc = rels_to_records(&e->m, gold, n_gold, "gold", e->m.gold, err);
    if (!rc) rc = rels_to_records(&e->m, pred, n_pred, "pred", e->m.pred, err);
    if (rc) return rc;
    match_count(&e->m, n_gold, n_pred, REL_KEYS);
    return ATTN_OK;
}

int attn_rel_eval_n_labels(const attn_rel_eval *e) { return e->m.labels.n; }
attn_prf attn_rel_eval_micro(const attn_rel_eval *e) { return labels_micro(&e->m.labels); }
attn_prf attn_rel_eval_label(const attn_rel_eval *e, int label) {
    return labels_prf(&e->m.labels, label);
}
attn_prf attn_rel_eval_macro(const attn_rel_eval *e) { return labels_macro(&e->m.labels); }

/* ---- classification ---- */

struct attn_class_eval {
    label_table labels;
    int64_t n;
};

attn_class_eval *attn_class_eval_new(void) { return calloc(1, sizeof(attn_class_eval)); }

void attn_class_eval_free(attn_class_eval *e) {
    if (!e) return;
    labels_free(&e->labels);
    free(e);
}

int attn_class_eval_label_id(attn_class_eval *e, const char *name, attn_error *err) {
    return labels_intern(&e->labels, name, strlen(name), "classification", err);
}

const char *attn_class_eval_label_name(const attn_class_eval *e, int label) {
    return labels_name(&e->labels, label);
}

int attn_class_eval_add(attn_class_eval *e, int gold, int pred, attn_error *err) {
    int rc = labels_reserve(&e->labels, gold, "classification (gold)", err);
    if (!rc) rc = labels_reserve(&e->labels, pred, "classification (pred)", err);
    if (rc) return rc;
    if (gold == pred) e->labels.l[gold].tp++;
    else e->labels.l[gold].fn++, e->labels.l[pred].fp++;
    e->n++;
    return ATTN_OK;
}

int64_t attn_class_eval_count(const attn_class_eval *e) { return e->n; }

double attn_class_eval_accuracy(const attn_class_eval *e) {
    return e->n ? (double)labels_micro(&e->labels).tp / (double)e->n : 0.0;
}

int attn_class_eval_n_labels(const attn_class_eval *e) { return e->labels.n; }
attn_prf attn_class_eval_label(const attn_class_eval *e, int label) {
    return labels_prf(&e->labels, label);
}
attn_prf attn_class_eval_macro(const attn_class_eval *e) { return labels_macro(&e->labels); }

/* ---- SemEval-2010 Task 8 ---- */

struct attn_semeval_eval {
    label_table types;            /* undirected types; tp/fp/fn as in metrics.h */
};

#define SEMEVAL_OTHER "Other"

attn_semeval_eval *attn_semeval_eval_new(void) { return calloc(1, sizeof(attn_semeval_eval)); }

void attn_semeval_eval_free(attn_semeval_eval *e) {
    if (!e) return;
    labels_free(&e->types);
    free(e);
}

/* Splits "Type(e1,e2)" into its type and direction (1: e1,e2; 2: e2,e1; 0: none). */
static int semeval_parse(attn_semeval_eval *e, const char *label, const char *side, int *type,
                         int *dir, attn_error *err) {
    size_t n = strlen(label);
    *dir = 0;
    if (n >= 7 && strcmp(label + n - 7, "(e1,e2)") == 0) *dir = 1, n -= 7;
    else if (n >= 7 && strcmp(label + n - 7, "(e2,e1)") == 0) *dir = 2, n -= 7;
    if (n == 0)
        return attn_fail(err, ATTN_EINVAL, "semeval: %s label '%s' has no type", side, label);
    int id = labels_intern(&e->types, label, n, "semeval", err);
    if (id < 0) return -id;
    *type = id;
    return 0;
}

int attn_semeval_eval_add(attn_semeval_eval *e, const char *gold, const char *pred,
                          attn_error *err) {
    int gt, gd, pt, pd;
    int rc = semeval_parse(e, gold, "gold", &gt, &gd, err);
    if (!rc) rc = semeval_parse(e, pred, "predicted", &pt, &pd, err);
    if (rc) return rc;
    label_table *t = &e->types;
    if (gt == pt && gd == pd) t->l[gt].tp++;
    else t->l[gt].fn++, t->l[pt].fp++;   /* a wrong direction: fp and fn of the same type */
    return ATTN_OK;
}

static int semeval_scored(const label_table *t, int i) {
    return t->l[i].tp + t->l[i].fn > 0 && strcmp(t->l[i].name, SEMEVAL_OTHER) != 0;
}

double attn_semeval_eval_official(const attn_semeval_eval *e) {
    const label_table *t = &e->types;
    double sum = 0;
    int n = 0;
    for (int i = 0; i < t->n; i++)
        if (semeval_scored(t, i)) sum += labels_prf(t, i).f1, n++;
    return n ? sum / n : 0.0;
}

attn_prf attn_semeval_eval_micro(const attn_semeval_eval *e) {
    const label_table *t = &e->types;
    int64_t tp = 0, fp = 0, fn = 0;
    for (int i = 0; i < t->n; i++)
        if (semeval_scored(t, i)) tp += t->l[i].tp, fp += t->l[i].fp, fn += t->l[i].fn;
    return attn_prf_from_counts(tp, fp, fn);
}

int attn_semeval_eval_n_types(const attn_semeval_eval *e) { return e->types.n; }
const char *attn_semeval_eval_type_name(const attn_semeval_eval *e, int type) {
    return labels_name(&e->types, type);
}
attn_prf attn_semeval_eval_type(const attn_semeval_eval *e, int type) {
    return labels_prf(&e->types, type);
}

/* ---- calibration ---- */

void attn_ece_init(attn_ece *e) { memset(e, 0, sizeof *e); }

void attn_ece_add(attn_ece *e, double confidence, int correct) {
    const double c = !(confidence > 0.0) ? 0.0 : confidence > 1.0 ? 1.0 : confidence;
    int b = (int)ceil(c * ATTN_ECE_BINS) - 1;       /* (b/B, (b+1)/B] */
    if (b < 0) b = 0;
    if (b >= ATTN_ECE_BINS) b = ATTN_ECE_BINS - 1;
    e->n[b]++;
    e->confidence[b] += c;
    e->correct[b] += correct ? 1.0 : 0.0;
}

int64_t attn_ece_count(const attn_ece *e) {
    int64_t n = 0;
    for (int b = 0; b < ATTN_ECE_BINS; b++) n += e->n[b];
    return n;
}

double attn_ece_value(const attn_ece *e) {
    const int64_t n = attn_ece_count(e);
    if (n == 0) return 0.0;
    double sum = 0.0;
    for (int b = 0; b < ATTN_ECE_BINS; b++)
        if (e->n[b]) sum += fabs(e->correct[b] - e->confidence[b]);   /* n_b |acc_b - conf_b| */
    return sum / (double)n;
}
