/* fit.c: the epoch loop around train.h (fit.h): shuffled mini-batches, dev evaluation after
 * every epoch, the best parameters kept, early stopping, time limit, parameter averaging. */
#include "fit.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlm.h"
#include "train_data_impl.h"

/* ---- the epoch loop --------------------------------------------------------------------- */

attn_fit_opts attn_fit_defaults(void) {
    attn_fit_opts o;
    memset(&o, 0, sizeof o);
    o.train = attn_train_defaults();
    o.batch_size = 32;
    o.max_epochs = 10;
    o.patience = 0;
    o.time_limit = 0.0;
    return o;
}

/* Examples in a seeded random order for this epoch (Fisher-Yates). */
static void shuffle(size_t *order, size_t n, uint64_t seed, int epoch) {
    uint64_t state = seed ^ (0xf17ull << 40) ^ ((uint64_t)epoch * 0x2545f4914f6cdd1dull);
    for (size_t i = 0; i < n; i++) order[i] = i;
    attn_shuffle(order, n, sizeof *order, &state);
}

/* The task whose dev metric selects the best epoch: relations, else entities, else classify,
 * else mlm. */
static int selection_task(const attn_config *c) {
    if (has_task(c, ATTN_TASK_RELATIONS)) return ATTN_TASK_RELATIONS;
    if (has_task(c, ATTN_TASK_ENTITIES)) return ATTN_TASK_ENTITIES;
    if (has_task(c, ATTN_TASK_CLASSIFY)) return ATTN_TASK_CLASSIFY;
    return ATTN_TASK_MLM;
}

static const char *metric_name(int task) {
    return task == ATTN_TASK_RELATIONS ? "relation_f1"
         : task == ATTN_TASK_ENTITIES ? "entity_f1"
         : task == ATTN_TASK_MLM ? "masked_accuracy" : "accuracy";
}

static int check_fit_opts(const attn_fit_opts *o, attn_error *err) {
    if (o->batch_size < 1 || o->batch_size > ATTN_TRAIN_MAX_BATCH)
        return attn_fail(err, ATTN_EINVAL, "fit: batch_size %d, expected 1..%d", o->batch_size,
                         ATTN_TRAIN_MAX_BATCH);
    if (o->max_epochs < 1)
        return attn_fail(err, ATTN_EINVAL, "fit: max_epochs %d, expected >= 1", o->max_epochs);
    if (o->patience < 0)
        return attn_fail(err, ATTN_EINVAL, "fit: patience %d, expected >= 0", o->patience);
    if (!(o->time_limit >= 0.0))
        return attn_fail(err, ATTN_EINVAL, "fit: time_limit %g, expected >= 0", o->time_limit);
    if (!(o->ema >= 0.0 && o->ema < 1.0))
        return attn_fail(err, ATTN_EINVAL, "fit: ema %g, expected in [0, 1)", o->ema);
    return ATTN_OK;
}

/* State of one training run (attn_fit_begin .. attn_fit_end). */
struct attn_fit_state {
    attn_model *m;
    const attn_dataset *train, *dev;
    attn_fit_opts o;
    attn_trainer *tr;
    size_t *order;             /* [n_examples] */
    attn_example *batch;       /* [batch_size] */
    float *best_params;        /* [n_params]: the best completed epoch, or the initial ones */
    float *ema_params;         /* [n_params] with opts.ema: the moving average, else NULL */
    float *raw_params;         /* [n_params] with opts.ema: the trained ones while the
                                * average is evaluated */
    int64_t steps;             /* optimiser steps taken */
    double table_keep;         /* opts.ema: prod (1 - w) of the steps the tables' average */
    int table_pending;         /* has not taken yet (update_average), and their count */
    attn_epoch_report best;
    int have_best, task, use_dev;
    int epoch, since_best, done;
    double t0;
};

static int out_of_time(const attn_fit_state *f) {
    return f->o.time_limit > 0.0 && attn_now_seconds() - f->t0 >= f->o.time_limit;
}

/* The feature tables' average is brought up to date every EMA_TABLE_STRIDE steps, in one
 * pass with the weight of the steps since: averaging millions of table rows each step cost a
 * quarter of a step, and a table row changes only in the steps whose batch reads it. For a
 * row that did not change over those steps the result is exactly the per-step average's. */
#define EMA_TABLE_STRIDE 16

static void average_into(float *a, const float *p, size_t n, float w) {
    for (size_t i = 0; i < n; i++) a[i] += w * (p[i] - a[i]);
}

static int is_table_key(const char *key) {
    return strncmp(key, "embed.", 6) == 0 && strncmp(key, "embed.proj.", 11) != 0;
}

/* The average of every tensor (tables: of every table when `tables`) moved by w (tables: by
 * the weight of the pending steps). */
static void average_tensors(attn_fit_state *f, float w, int tables) {
    const attn_model *m = f->m;
    const float table_w = (float)(1.0 - f->table_keep);
    for (size_t s = 0; s < m->n_specs; s++) {
        const attn_tensor_spec *sp = &m->specs[s];
        const int table = is_table_key(sp->key);
        if (table && !tables) continue;
        average_into(f->ema_params + sp->offset, m->params + sp->offset, sp->size,
                     table ? table_w : w);
    }
    if (tables) {
        f->table_keep = 1.0;
        f->table_pending = 0;
    }
}

/* ema_params += (1 - d) (params - ema_params), d = min(ema, (1 + t) / (10 + t)). */
static void update_average(attn_fit_state *f) {
    if (!f->ema_params) return;
    const double t = (double)f->steps, warm = (1.0 + t) / (10.0 + t);
    const float w = (float)(1.0 - (f->o.ema < warm ? f->o.ema : warm));
    f->table_keep *= 1.0 - w;
    f->table_pending++;
    average_tensors(f, w, f->table_pending >= EMA_TABLE_STRIDE);
}

/* The tables' pending steps, before the average is used. */
static void flush_average(attn_fit_state *f) {
    if (f->ema_params && f->table_pending) average_tensors(f, 0.0f, 1);
}

/* One epoch of steps. *stop = 1 when should_stop fired, 2 when time ran out. */
static int train_epoch(attn_fit_state *f, attn_stop_cb should_stop, void *user,
                       attn_epoch_report *r, int *stop, attn_error *err) {
    const size_t n = attn_dataset_examples(f->train), bs = (size_t)f->o.batch_size;
    shuffle(f->order, n, f->o.train.seed, r->epoch);
    double loss = 0.0;
    int steps = 0;
    for (size_t at = 0; at < n; at += bs) {
        const size_t k = n - at < bs ? n - at : bs;
        for (size_t i = 0; i < k; i++) f->batch[i] = attn_dataset_example_at(f->train, f->order[at + i]);
        attn_train_stats st;
        int rc = attn_trainer_step(f->tr, f->batch, (int)k, &st, err);
        if (rc) return rc;
        loss += st.loss;
        r->tokens += st.n_tokens;
        steps++;
        f->steps++;
        update_average(f);
        if (should_stop && should_stop(user)) { *stop = 1; break; }
        if (out_of_time(f)) { *stop = 2; break; }
    }
    flush_average(f);
    r->train_loss = steps ? loss / steps : NAN;
    return ATTN_OK;
}

/* Dev metric into r; keeps the parameters when they are the best so far. */
static int select_params(attn_fit_state *f, attn_epoch_report *r, attn_error *err) {
    r->dev_metric = NAN;
    r->metric_name = metric_name(f->task);
    if (f->use_dev && f->task == ATTN_TASK_MLM) {
        int rc = attn_mlm_evaluate(f->m, f->dev, &r->dev_metric, err);
        if (rc) return rc;
    } else if (f->use_dev) {
        attn_eval_result res;
        int rc = attn_evaluate(f->m, f->dev, f->task, NULL, NULL, &res, err);
        if (rc) return rc;
        r->dev_metric = res.headline;
        attn_eval_result_free(&res);
    }
    r->is_best = !f->have_best || !f->use_dev || r->dev_metric > f->best.dev_metric;
    if (r->is_best) {
        memcpy(f->best_params, f->m->params, f->m->n_params * sizeof *f->best_params);
        f->best = *r;
        f->have_best = 1;
    }
    return ATTN_OK;
}

/* select_params on the averaged parameters when there are any: they stand in for the
 * trained ones while the dev set is evaluated, which are then put back. */
static int select_epoch(attn_fit_state *f, attn_epoch_report *r, attn_error *err) {
    if (!f->ema_params) return select_params(f, r, err);
    const size_t bytes = f->m->n_params * sizeof *f->m->params;
    memcpy(f->raw_params, f->m->params, bytes);
    memcpy(f->m->params, f->ema_params, bytes);
    int rc = select_params(f, r, err);
    memcpy(f->m->params, f->raw_params, bytes);
    return rc;
}

int attn_fit_epoch(attn_fit_state *f, attn_stop_cb should_stop, void *user,
                   attn_epoch_report *report, int *done, attn_error *err) {
    memset(report, 0, sizeof *report);
    report->dev_metric = NAN;
    report->metric_name = metric_name(f->task);
    *done = f->done;
    if (f->done) return attn_fail(err, ATTN_EINVAL, "fit: training already ended");
    const double start = attn_now_seconds();
    report->epoch = f->epoch + 1;
    int stop = 0;
    int rc = train_epoch(f, should_stop, user, report, &stop, err);
    if (!rc && stop == 1)
        rc = attn_fail(err, ATTN_ESTOPPED, "fit: stopped during epoch %d", report->epoch);
    if (!rc) rc = select_epoch(f, report, err);
    if (rc) {
        f->done = *done = 1;
        return rc;
    }
    f->epoch++;
    report->seconds = attn_now_seconds() - start;
    f->since_best = report->is_best ? 0 : f->since_best + 1;
    f->done = stop == 2 || f->epoch >= f->o.max_epochs || out_of_time(f) ||
              (f->o.patience > 0 && f->since_best >= f->o.patience);
    *done = f->done;
    return ATTN_OK;
}

static int fit_setup(attn_fit_state *f, attn_error *err) {
    const size_t n = attn_dataset_examples(f->train), bs = (size_t)f->o.batch_size;
    const size_t steps = (n + bs - 1) / bs;
    if ((double)steps * f->o.max_epochs > INT_MAX)
        return attn_fail(err, ATTN_ELIMIT, "fit: too many steps (%zu per epoch x %d epochs)",
                         steps, f->o.max_epochs);
    attn_train_opts to = f->o.train;
    to.total_steps = (int)steps * f->o.max_epochs;
    int rc = attn_trainer_new(f->m, &to, &f->tr, err);
    if (rc) return rc;
    f->order = malloc(n * sizeof *f->order);
    f->batch = malloc(bs * sizeof *f->batch);
    f->best_params = malloc(f->m->n_params * sizeof *f->best_params);
    if (f->o.ema > 0.0) {
        f->ema_params = malloc(f->m->n_params * sizeof *f->ema_params);
        f->raw_params = malloc(f->m->n_params * sizeof *f->raw_params);
        if (!f->ema_params || !f->raw_params)
            return attn_fail(err, ATTN_ENOMEM, "fit: out of memory");
        memcpy(f->ema_params, f->m->params, f->m->n_params * sizeof *f->ema_params);
        f->table_keep = 1.0;
    }
    if (!f->order || !f->batch || !f->best_params)
        return attn_fail(err, ATTN_ENOMEM, "fit: out of memory");
    memcpy(f->best_params, f->m->params, f->m->n_params * sizeof *f->best_params);
    return ATTN_OK;
}

void attn_fit_abort(attn_fit_state *f) {
    if (!f) return;
    attn_trainer_free(f->tr);
    free(f->order);
    free(f->batch);
    free(f->best_params);
    free(f->ema_params);
    free(f->raw_params);
    free(f);
}

int attn_fit_begin(attn_model *m, const attn_dataset *train, const attn_dataset *dev,
                   const attn_fit_opts *opts, attn_fit_state **out, attn_error *err) {
    *out = NULL;
    if (!m || !m->finished || !train || !opts)
        return attn_fail(err, ATTN_EINVAL, "fit: needs a finished model, a dataset and options");
    int rc = check_fit_opts(opts, err);
    if (!rc) rc = attn_dataset_check_compatible(m, train, "fit", err);
    if (!rc && dev) rc = attn_dataset_check_compatible(m, dev, "fit (dev)", err);
    if (rc) return rc;
    if (attn_dataset_examples(train) == 0)
        return attn_fail(err, ATTN_EINVAL, "fit: the training set has no examples");
    if (has_task(&m->cfg, ATTN_TASK_MLM) && (!train->mlm_ready || (dev && !dev->mlm_ready)))
        return attn_fail(err, ATTN_EINVAL, "fit: the mlm targets of the datasets are not "
                         "computed (attn_dataset_mlm_targets)");
    attn_fit_state *f = calloc(1, sizeof *f);
    if (!f) return attn_fail(err, ATTN_ENOMEM, "fit: out of memory");
    *f = (attn_fit_state){ .m = m, .train = train, .dev = dev, .o = *opts, .t0 = attn_now_seconds(),
                           .task = selection_task(&m->cfg) };
    f->use_dev = dev && attn_dataset_size(dev) > 0;
    f->best.dev_metric = NAN;
    if ((rc = fit_setup(f, err))) {
        attn_fit_abort(f);
        return rc;
    }
    *out = f;
    return ATTN_OK;
}

void attn_fit_end(attn_fit_state *f, attn_epoch_report *best) {
    if (!f) return;
    memcpy(f->m->params, f->best_params, f->m->n_params * sizeof *f->m->params);
    if (best) {
        if (f->have_best) *best = f->best;
        else memset(best, 0, sizeof *best), best->dev_metric = NAN;
        best->metric_name = metric_name(f->task);
    }
    attn_fit_abort(f);
}

int attn_fit(attn_model *m, const attn_dataset *train, const attn_dataset *dev,
             const attn_fit_opts *opts, attn_epoch_cb on_epoch, attn_stop_cb should_stop,
             void *user, attn_epoch_report *best, attn_error *err) {
    attn_fit_state *f;
    int rc = attn_fit_begin(m, train, dev, opts, &f, err);
    if (rc) return rc;
    int done = 0;
    while (!done) {
        attn_epoch_report r;
        rc = attn_fit_epoch(f, should_stop, user, &r, &done, err);
        if (rc) break;
        if (on_epoch && on_epoch(&r, user)) break;
    }
    attn_fit_end(f, best);
    return rc;
}
