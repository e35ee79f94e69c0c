/* fit.h: training a model on a whole dataset: the loop around train.h.
 *
 * A dataset is built from annotated texts (what attn_train reads from SQL rows), turned once
 * into token feature rows, gold tag paths, spans and relation pairs. attn_fit then runs epochs
 * of shuffled mini-batches (train.h does the maths), evaluates on the dev set after every
 * epoch with the inference pipeline (pipeline.h) and the field's metrics (metrics.h), keeps a
 * copy of the best parameters by dev metric, stops early after `patience` epochs without
 * improvement, at max_epochs, at the time limit, or when the epoch callback asks to, and
 * leaves the best parameters in the model. With no dev set, the last epoch is the best.
 *
 * Long texts: a training text of more than max_len tokens is cut into consecutive chunks of
 * max_len tokens, each a training example (classify: each chunk carries the text's label;
 * entities: tags sliced; relations: only pairs whose two spans fall in one chunk). An entity
 * crossing a chunk edge is cut at it there (both pieces keep the type). Dev evaluation runs the
 * real pipeline on the whole text (windows and all), so it measures what users will get.
 *
 * Metrics (dev, and what attn_eval reports): classify -> accuracy; entities -> exact-span
 * exact-type micro F1 (conlleval); relations -> strict triple micro F1 (entity spans and types
 * and the relation label all right); a model with both entities and relations is selected on
 * the relation F1, one with entities and classify on the entity F1 (relations > entities >
 * classify). Gold entity spans are compared as given (in characters, not snapped to tokens).
 *
 * The engine never includes sqlite3.h. */
#ifndef ATTN_FIT_H
#define ATTN_FIT_H

#include "train.h"

typedef struct attn_dataset attn_dataset;

/* An empty dataset for models of this config (labels are looked up by name in it; the
 * dataset keeps its own copy of the config). NULL when out of memory. */
attn_dataset *attn_dataset_new(const attn_config *cfg);
void attn_dataset_free(attn_dataset *ds);
size_t attn_dataset_size(const attn_dataset *ds);          /* texts added (not skipped) */
size_t attn_dataset_examples(const attn_dataset *ds);      /* training sequences (chunks) */
int64_t attn_dataset_tokens(const attn_dataset *ds);       /* tokens of the texts added */

/* Gold entity / relation as given by a user, by label name, in characters (SQLite counting). */
typedef struct attn_gold_entity {
    int64_t start, end;
    const char *label;
} attn_gold_entity;

typedef struct attn_gold_relation {
    int head, tail;             /* indices into the text's entity array */
    const char *label;
} attn_gold_relation;

/* Adds one annotated text. label: classify gold label name (NULL when the model has no
 * classify task or the row gives none); ents/rels as for the entities/relations tasks.
 * A NULL pointer means "not given"; a non-NULL pointer with a count of 0 means "given: none"
 * (ents: every token O; rels: no pair of its entities is related). So a text trains and is
 * evaluated on: classify when label != NULL, entities when ents != NULL, relations when
 * rels != NULL (rels requires ents). A text giving nothing for any task is stored (and
 * counted) but yields no training example. Giving an answer for a task the model lacks is an
 * error. Errors (ATTN_EINVAL) name what is wrong; exactly:
 *   "label 'neutral' is not one of the model's labels (negative, positive)"
 *   "entity 2: label 'X' is not one of the model's entity labels (PER, LOC)"
 *   "entity 2: no label given"            (label NULL; relations likewise)
 *   "entity 2 [-1, 3): start before 0"   "entity 2 [10, 8): end before start"
 *   "entity 2 [5, 5): empty"              "entity 2 [0, 99): past the end of the text (20 characters)"
 *   "entity 2 [3, 4): covers no token (only whitespace)"
 *   "entity 1 overlaps entity 0"          (after snapping outward to tokens; higher index first)
 *   "relation 0: head 5 out of range (3 entities)"   (tail likewise)
 *   "relation 0: head and tail are the same entity (2)"
 *   "relation 1: pair (0, 2) already given by relation 0"
 *   "relation 0: label 'X' is not one of the model's relation labels (Work_For, Kill)"
 *   "a label is given but the model has no classify task" (entities/relations likewise)
 *   "relations are given without entities"
 * (label lists longer than ~200 bytes end in "..."); the caller prefixes the row.
 * A text with no tokens is skipped (counted in attn_dataset_skipped, not in _size). */
int attn_dataset_add(attn_dataset *ds, const char *text, size_t n_bytes, const char *label,
                     const attn_gold_entity *ents, int n_ents,
                     const attn_gold_relation *rels, int n_rels, attn_error *err);
size_t attn_dataset_skipped(const attn_dataset *ds);

/* Training example i in 0..attn_dataset_examples(ds)-1, in the order added (a long text gives
 * consecutive chunks): pointers into the dataset, valid until it is next changed or freed.
 * ATTN_EINVAL when i is out of range. (Tests, inspection.) */
int attn_dataset_example(const attn_dataset *ds, size_t i, attn_example *out, attn_error *err);

typedef struct attn_fit_opts {
    attn_train_opts train;      /* lr, dropout, seed, threads, ... (total_steps is set by fit) */
    int batch_size;             /* examples per step, default 32 */
    int max_epochs;             /* default 10 */
    int patience;               /* epochs without dev improvement before stopping, 0 = off */
    double time_limit;          /* seconds since attn_fit(_begin), 0 = none; checked between
                                 * steps: the cut epoch is still evaluated, reported, and may
                                 * be the best; then training ends (ATTN_OK) */
    double ema;                 /* 0 = off; in (0, 1): the decay of an exponential moving
                                 * average of the parameters (Polyak averaging), updated after
                                 * every step with decay min(ema, (1 + t) / (10 + t)) at step t
                                 * (so early steps are not frozen in); each epoch is evaluated,
                                 * selected and kept with the averaged parameters, while
                                 * training goes on from the raw ones */
} attn_fit_opts;

attn_fit_opts attn_fit_defaults(void);

typedef struct attn_epoch_report {
    int epoch;                  /* 1-based */
    double train_loss;          /* mean over the epoch's steps */
    double dev_metric;          /* in [0, 1]; NaN without a dev set */
    const char *metric_name;    /* "accuracy", "entity_f1", "relation_f1" */
    double seconds;             /* this epoch, training + dev evaluation */
    int is_best;                /* 1 if this epoch's parameters are now the kept best */
    int64_t tokens;             /* training tokens this epoch */
} attn_epoch_report;

/* Called after each epoch; return non-zero to stop (the best so far is kept). Also consulted
 * between steps through should_stop (may be NULL): return non-zero to stop mid-epoch, which
 * ends training with ATTN_ESTOPPED (common.h) and leaves the best parameters of
 * completed epochs (or the initial ones if none completed) in the model. */
typedef int (*attn_epoch_cb)(const attn_epoch_report *r, void *user);

/* Trains m (finished; e.g. from attn_train_model_new, or a loaded model for fine-tuning) on
 * train, selecting on dev (may be NULL or empty). Returns ATTN_OK, ATTN_ESTOPPED (stopped by
 * should_stop), or an error. *best receives the best epoch's report when non-NULL. */
int attn_fit(attn_model *m, const attn_dataset *train, const attn_dataset *dev,
             const attn_fit_opts *opts, attn_epoch_cb on_epoch, attn_stop_cb should_stop,
             void *user, attn_epoch_report *best, attn_error *err);

/* The same loop, one epoch per call, for callers that must return between epochs (attn_train
 * yields one SQL row per epoch). attn_fit is begin + epoch until done + end.
 *   attn_fit_begin   checks opts, makes the trainer; m is trained in place from here on
 *   attn_fit_epoch   trains one epoch and evaluates on dev; fills *report; sets *done = 1 when
 *                    training should end (max_epochs, patience, time limit). Returns ATTN_OK,
 *                    ATTN_ESTOPPED (should_stop fired mid-epoch: the epoch does not count) or
 *                    an error
 *   attn_fit_end     restores the best parameters into the model (the initial ones if no
 *                    epoch completed), fills *best (may be NULL), frees the state */
typedef struct attn_fit_state attn_fit_state;
int attn_fit_begin(attn_model *m, const attn_dataset *train, const attn_dataset *dev,
                   const attn_fit_opts *opts, attn_fit_state **out, attn_error *err);
int attn_fit_epoch(attn_fit_state *f, attn_stop_cb should_stop, void *user,
                   attn_epoch_report *report, int *done, attn_error *err);
void attn_fit_end(attn_fit_state *f, attn_epoch_report *best);
/* Frees the state without touching the model again (it keeps whatever parameters the last
 * step left: the caller discards it). NULL is a no-op. */
void attn_fit_abort(attn_fit_state *f);

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

/* ---- mlm (masked-language-model pretraining, mlm.h) ----
 * A dataset for a config with task mlm takes plain texts (attn_dataset_add with no answers):
 * every text gives training examples (chunks of max_len tokens), and every token keeps the
 * hash of its normalised word and whether it is capitalised. Before attn_fit, the targets must
 * be computed: attn_dataset_mlm_targets(ds, vocab_from) gives every token of ds the index of
 * its word among the mlm.vocab most frequent normalised words of vocab_from (the training set;
 * ranked by count, ties by hash), or -1 (not predicted). Call it on the training set with
 * itself, then on the dev set with the training set. Adding texts afterwards clears it.
 * The dev metric ("masked_accuracy") is attn_mlm_evaluate: every dev example masked as in
 * training but with fixed seeds (ATTN_MLM_EVAL_SEED and the example index: the same masks
 * every epoch), encoded without dropout; the share of predicted positions whose argmax is the
 * target. */
#define ATTN_MLM_EVAL_SEED 0x6d6c6d6576616cull
int attn_dataset_mlm_targets(attn_dataset *ds, const attn_dataset *vocab_from, attn_error *err);
int attn_mlm_evaluate(const attn_model *m, const attn_dataset *ds, double *accuracy,
                      attn_error *err);

/* Pretrained word vectors (wordvec.h) into a model's "norm" feature table: every word of the
 * vocabulary words[0..n) (most frequent first) gets, in the norm bucket it hashes to, the mean
 * of its subword rows in wv, unless a more frequent word already took that bucket; if the
 * table width differs from wv->dim, fails with ATTN_EINVAL. Buckets no word reaches keep their
 * values. Returns the number of buckets set in *n_set. */
struct attn_wordvec;
int attn_init_norm_from_wordvec(attn_model *m, const struct attn_wordvec *wv,
                                const char *const *words, size_t n_words, size_t *n_set,
                                attn_error *err);

/* Pretrained word vectors (wordvec.h) as the model's "subword" feature table: the table is
 * copied as is (same hash, same rows: subword.h). The feature must have the vectors' buckets,
 * dim, min_n and max_n; otherwise ATTN_EINVAL naming the mismatch, e.g.
 *   "the 'subword' feature has 5000 buckets, the word vectors 2000000"
 *   "the 'subword' table is 64 wide, the word vectors 100"
 *   "the 'subword' feature uses n-grams 3..6, the word vectors 2..5"
 *   "the model has no 'subword' feature". */
int attn_init_subword_from_wordvec(attn_model *m, const struct attn_wordvec *wv,
                                   attn_error *err);

/* The vocabulary of text files for attn_init_norm_from_wordvec: every line is tokenized
 * (attn_tokenize), every token normalised (attn_token_norm); norms seen >= min_count times,
 * most frequent first, ties by bytes (memcmp order, a prefix first). *words is ONE malloc'd
 * block holding the pointer array (NULL-terminated) and the strings: free(*words) frees all.
 * Errors: ATTN_EINVAL (a file cannot be opened or read), ATTN_ENOMEM. */
int attn_vocab_from_files(const char *const *paths, int n_paths, uint64_t min_count,
                          char ***words, size_t *n_words, attn_error *err);

#endif
