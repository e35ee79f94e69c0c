/* fit.h: training a model on a whole dataset: the epoch loop around train.h.
 *
 * attn_fit runs epochs of shuffled mini-batches of a dataset's examples (train_data.h; train.h
 * does the maths), evaluates on the dev set after every epoch (train_eval.h, or
 * attn_mlm_evaluate for task mlm), keeps a copy of the best parameters by dev metric, stops
 * early after `patience` epochs without improvement, at max_epochs, at the time limit, or when
 * the epoch callback asks to, and leaves the best parameters in the model. With no dev set, the
 * last epoch is the best.
 *
 * Selection metric: a model with both entities and relations is selected on the relation F1,
 * one with entities and classify on the entity F1 (relations > entities > classify > mlm).
 *
 * The engine never includes sqlite3.h. */
#ifndef ATTN_FIT_H
#define ATTN_FIT_H

#include "train_data.h"
#include "train_eval.h"

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

#endif
