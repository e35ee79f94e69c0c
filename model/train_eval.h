/* train_eval.h: a model evaluated on a dataset (train_data.h) with the inference pipeline.
 *
 * Metrics (attn_fit's dev step, and what attn_eval reports): classify -> accuracy; entities ->
 * exact-span exact-type micro F1 (conlleval); relations -> strict triple micro F1 (entity spans
 * and types and the relation label all right). Gold entity spans are compared as given (in
 * characters, not snapped to tokens). Evaluation runs the real pipeline on the whole text
 * (windows and all), so it measures what users will get.
 *
 * The engine never includes sqlite3.h. */
#ifndef ATTN_TRAIN_EVAL_H
#define ATTN_TRAIN_EVAL_H

#include "train_data.h"

/* Evaluation of a model on a dataset with the inference pipeline: one row per label plus
 * totals (metrics.h). Used by attn_fit's dev step and by attn_eval. Rows, in this order:
 *   one per label of the task that occurs in the gold or the predictions, in the model's
 *   label order (labels never seen on either side have no row, as sklearn's report);
 *   classify:  "accuracy" (P = R = F1 = accuracy, support = predicted = texts), "macro";
 *   entities, relations: "micro" (headline = its F1), "macro".
 * The summary row ("accuracy", "micro") carries the expected calibration error (metrics.h,
 * 15 bins) of the predictions: classify the top label's probability, right when it is the
 * gold label; entities each predicted entity's score, right when a gold entity has its span
 * and label; relations each predicted relation's probability, right when strict (below).
 * Texts are evaluated on a task only when they give its answer (see attn_dataset_add);
 * relations: a predicted triple is right when head span+type, tail span+type (characters)
 * and relation label equal a gold one. The dataset must come from a config with the same
 * tasks, max_len, features and labels as the model's (else ATTN_EINVAL). */
typedef struct attn_eval_row {
    char label[ATTN_MAX_LABEL_BYTES + 16];   /* a label, "micro" or "macro" (or "accuracy") */
    double precision, recall, f1;
    int64_t support;            /* gold count (for micro/macro: all gold) */
    int64_t predicted;
    double ece;                 /* "accuracy" / "micro": expected calibration error
                                 * (metrics.h, calibrate.h); NaN on the other rows */
} attn_eval_row;

typedef struct attn_eval_result {
    attn_eval_row *rows;        /* [n], owned */
    int n;
    double accuracy;            /* classify only, else NaN */
    double headline;            /* the selection metric (see above) */
    double ece;                 /* expected calibration error of the predictions */
} attn_eval_result;

/* task: ATTN_TASK_CLASSIFY, ATTN_TASK_ENTITIES or ATTN_TASK_RELATIONS (must be in the model).
 * For relations, entity rows are not included (evaluate entities separately). should_stop (may
 * be NULL) is asked as the pipeline asks it (attn_session_set_stop): ATTN_ESTOPPED then. */
int attn_evaluate(const attn_model *m, const attn_dataset *ds, int task,
                  attn_stop_cb should_stop, void *user, attn_eval_result *out,
                  attn_error *err);
void attn_eval_result_free(attn_eval_result *r);

/* attn_evaluate that also calls should_stop (may be NULL) before each text and, with collect (an empty attn_calib of task, calibrate.h), adds what temperature scaling
 * needs of each text: classify its logits and gold label; entities its emissions and
 * predicted entities with whether each is right; relations every candidate pair's logits
 * with its gold output (the relation of a gold pair with the same head and tail spans and
 * types, else none). Predictions are bit for bit those of attn_evaluate. */
struct attn_calib;
int attn_evaluate_collect(const attn_model *m, const attn_dataset *ds, int task,
                          attn_stop_cb should_stop, void *user, struct attn_calib *collect,
                          attn_eval_result *out, attn_error *err);

#endif
