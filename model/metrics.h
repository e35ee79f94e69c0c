/* metrics.h: evaluation the way the field reports it. Accumulators: create, add one document
 * or example at a time, then read the scores; adding costs O(n log n) in the items added.
 *
 * All scores are fractions in [0, 1] (the Perl scorers print percentages). A ratio whose
 * denominator is 0 is 0, as conlleval does: no predictions -> precision 0; nothing in gold ->
 * recall 0; P + R = 0 -> F1 0.
 *
 * Entities (attn_span_eval): exact span and exact type, as conlleval: a predicted span is
 * correct (tp) only if a gold span of the same document has the same start, end and label.
 * A boundary error is therefore one fp AND one fn; so is a type error. Within one document an
 * item listed twice counts once (spans are a set, as decoded tags can only give).
 * Micro P/R/F1 pool all labels (the conlleval "overall" line); per-label figures have
 * support = gold count; macro P, R and F1 are each the unweighted mean of the per-label
 * values over the labels that occur in the gold or the predictions (sklearn's "macro avg").
 *
 * Relations (attn_rel_eval): strict triples as SpERT reports them: a predicted relation is
 * correct only if head span + head type, tail span + tail type and relation label all equal a
 * gold relation of the same document (direction matters: head and tail are not swapped).
 * Micro, per relation label, macro as above.
 *
 * Classification (attn_class_eval): accuracy, per-label P/R/F1/support, macro as above.
 *
 * SemEval-2010 Task 8 (attn_semeval_eval): the official score of
 * semeval2010_task8_scorer-v1.2.pl, "(9+1)-way evaluation with directionality taken into
 * account, macro-averaged F1". Labels are strings "Type(e1,e2)", "Type(e2,e1)" or "Other". For
 * each undirected type X (Other excluded):
 *   tp(X)        = examples whose gold and prediction are the same directed label of type X
 *   predicted(X) = predictions of type X in either direction (a right type with the wrong
 *                  direction counts here: the scorer's xDIRx column)
 *   gold(X)      = gold examples of type X in either direction
 *   P = tp/predicted, R = tp/gold, F1 = 2PR/(P+R);
 * official = sum of F1(X) / number of non-Other types present in the gold (9 on the real data).
 * A wrong direction is thus one fp and one fn of the same type. Micro (excluding Other) pools
 * tp, predicted and gold over those types, as the scorer's "Micro-averaged result" line.
 * Labels outside the 19 are accepted the same way (any name, optional (e1,e2)/(e2,e1) suffix).
 *
 * Labels are small integers 0..ATTN_MAX_LABELS-1 chosen by the caller, or names interned with
 * the *_label_id functions (the next free index); both may be mixed. */
#ifndef ATTN_METRICS_H
#define ATTN_METRICS_H

#include "common.h"

typedef struct attn_prf {
    double precision, recall, f1;
    int64_t tp, fp, fn;
    int64_t support;                  /* gold count = tp + fn */
    int64_t predicted;                /* tp + fp */
} attn_prf;

/* P/R/F1 from counts with the zero-denominator rule above. */
attn_prf attn_prf_from_counts(int64_t tp, int64_t fp, int64_t fn);

typedef struct attn_eval_span {
    int64_t start, end;               /* any consistent unit (characters, tokens); start < end */
    int label;
} attn_eval_span;

typedef struct attn_eval_relation {
    attn_eval_span head, tail;
    int label;                        /* relation label */
} attn_eval_relation;

/* ---- entities ---- */
typedef struct attn_span_eval attn_span_eval;
attn_span_eval *attn_span_eval_new(void);                 /* NULL on ENOMEM */
void attn_span_eval_free(attn_span_eval *e);
/* Index of label name (interned on first use). Returns >= 0, or -code with err filled. */
int attn_span_eval_label_id(attn_span_eval *e, const char *name, attn_error *err);
const char *attn_span_eval_label_name(const attn_span_eval *e, int label); /* NULL: unnamed */
/* One document. ATTN_EINVAL (nothing counted) if a span has start < 0, end <= start or a
 * label outside 0..ATTN_MAX_LABELS-1; the message names it: "entities: pred[2]: end 3 <= start 5". */
int attn_span_eval_add(attn_span_eval *e, const attn_eval_span *gold, size_t n_gold,
                       const attn_eval_span *pred, size_t n_pred, attn_error *err);
int attn_span_eval_n_labels(const attn_span_eval *e);     /* 1 + highest label seen or named */
attn_prf attn_span_eval_micro(const attn_span_eval *e);
attn_prf attn_span_eval_label(const attn_span_eval *e, int label);  /* zeros if never seen */
attn_prf attn_span_eval_macro(const attn_span_eval *e);   /* counts: the micro sums */

/* ---- relations ---- */
typedef struct attn_rel_eval attn_rel_eval;
attn_rel_eval *attn_rel_eval_new(void);
void attn_rel_eval_free(attn_rel_eval *e);
int attn_rel_eval_label_id(attn_rel_eval *e, const char *name, attn_error *err);
const char *attn_rel_eval_label_name(const attn_rel_eval *e, int label);
int attn_rel_eval_add(attn_rel_eval *e, const attn_eval_relation *gold, size_t n_gold,
                      const attn_eval_relation *pred, size_t n_pred, attn_error *err);
int attn_rel_eval_n_labels(const attn_rel_eval *e);
attn_prf attn_rel_eval_micro(const attn_rel_eval *e);
attn_prf attn_rel_eval_label(const attn_rel_eval *e, int label);
attn_prf attn_rel_eval_macro(const attn_rel_eval *e);

/* ---- classification ---- */
typedef struct attn_class_eval attn_class_eval;
attn_class_eval *attn_class_eval_new(void);
void attn_class_eval_free(attn_class_eval *e);
int attn_class_eval_label_id(attn_class_eval *e, const char *name, attn_error *err);
const char *attn_class_eval_label_name(const attn_class_eval *e, int label);
int attn_class_eval_add(attn_class_eval *e, int gold, int pred, attn_error *err);
int64_t attn_class_eval_count(const attn_class_eval *e);  /* examples added */
double attn_class_eval_accuracy(const attn_class_eval *e); /* 0 when no examples */
int attn_class_eval_n_labels(const attn_class_eval *e);
attn_prf attn_class_eval_label(const attn_class_eval *e, int label);
attn_prf attn_class_eval_macro(const attn_class_eval *e);

/* ---- calibration ----
 * Expected calibration error (Guo et al. 2017): predictions are put in ATTN_ECE_BINS
 * equal-width bins of their confidence c in [0, 1], bin b holding (b/B, (b+1)/B] (c = 0 in the
 * first); ECE = sum over bins of (n_b / n) |accuracy_b - mean confidence_b|, in [0, 1]; 0 with
 * no predictions. What a prediction and its confidence are is the caller's: classify the top
 * label and its probability, entities each predicted entity and its score, relations each
 * predicted relation and its probability. */
#define ATTN_ECE_BINS 15

typedef struct attn_ece {
    int64_t n[ATTN_ECE_BINS];         /* predictions per bin */
    double confidence[ATTN_ECE_BINS]; /* their summed confidence */
    double correct[ATTN_ECE_BINS];    /* how many were right */
} attn_ece;

void attn_ece_init(attn_ece *e);
/* One prediction; a confidence outside [0, 1] (or NaN) is clamped into it (NaN: 0). */
void attn_ece_add(attn_ece *e, double confidence, int correct);
double attn_ece_value(const attn_ece *e);
int64_t attn_ece_count(const attn_ece *e);

/* ---- SemEval-2010 Task 8 ---- */
typedef struct attn_semeval_eval attn_semeval_eval;
attn_semeval_eval *attn_semeval_eval_new(void);
void attn_semeval_eval_free(attn_semeval_eval *e);
/* One example. ATTN_EINVAL on an empty type name: "semeval: gold label '(e1,e2)' has no type". */
int attn_semeval_eval_add(attn_semeval_eval *e, const char *gold, const char *pred,
                          attn_error *err);
double attn_semeval_eval_official(const attn_semeval_eval *e);  /* macro F1, see above */
attn_prf attn_semeval_eval_micro(const attn_semeval_eval *e);   /* excluding Other */
/* Undirected types in order of first sight ("Other" included, as a type). */
int attn_semeval_eval_n_types(const attn_semeval_eval *e);
const char *attn_semeval_eval_type_name(const attn_semeval_eval *e, int type);
attn_prf attn_semeval_eval_type(const attn_semeval_eval *e, int type);

#endif
