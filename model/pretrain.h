/* pretrain.h: pretraining an encoder on a stream of text files (task rtd, rtd.h), for runs of
 * hours that stop and continue on other machines.
 *
 * Input: UTF-8 text files, one document (paragraph) a line, read in order, never loaded whole.
 * Consecutive training lines are packed, joined by a space, into texts of about
 * ATTN_PRETRAIN_PACK_BYTES_PER_TOKEN * max_len bytes; the dataset cuts a text into chunks of
 * max_len tokens (train_data.h), so most examples are full. A line goes to the held-out dev
 * share when attn_hash64 of its bytes falls below dev_share (the same lines on any machine,
 * whatever the position); dev lines are never trained on.
 * Shuffle: the stream is read in blocks of about block_tokens tokens (whole lines: memory is
 * about ATTN_MAX_SLOTS * 4 bytes a token, 144 for en-ner's features); a block's examples are
 * trained in an order shuffled by (seed, epoch, the block's byte offset), block after block.
 * After the last file the next epoch starts again at the first.
 * The dev set (up to dev_examples examples, the first dev lines of the files) and the pool of
 * replacements (rtd.h: the training lines of the first pool_tokens tokens) are read at the
 * start, from the
 * start of the files, whatever the position: the same on every resume.
 *
 * Position (attn_pretrain_pos): where the block being trained starts (file, byte offset),
 * how many of its shuffled examples are done (skip), the epoch, the optimiser step and the
 * tokens trained on. It is what a checkpoint stores: begin with it and the run goes on with
 * the same examples in the same order as if it had never stopped (re-reading the block up to
 * its offset), with the schedule at the step (train.h attn_trainer_resume: the AdamW moments
 * restart with a re-warm-up of rewarm_steps).
 *
 * The learning-rate schedule ends at token_budget tokens (total_steps = budget / (batch_size
 * * max_len), full examples assumed); the run is done when that many tokens are trained.
 *
 * The engine never includes sqlite3.h. */
#ifndef ATTN_PRETRAIN_H
#define ATTN_PRETRAIN_H

#include "rtd.h"
#include "train.h"
#include "train_data.h"

#define ATTN_PRETRAIN_PACK_BYTES_PER_TOKEN 5  /* bytes of English text per token, about */
#define ATTN_PRETRAIN_MAX_FILES 1024

typedef struct attn_pretrain_pos {
    int64_t epoch;              /* 0-based */
    int64_t file;               /* index into files */
    int64_t offset;             /* byte offset of the block's first line in that file */
    int64_t skip;               /* examples of the block already trained on */
    int64_t step;               /* optimiser steps taken */
    int64_t tokens;             /* tokens trained on */
} attn_pretrain_pos;

typedef struct attn_pretrain_opts {
    attn_train_opts train;      /* lr, warmup, schedule, seed, threads, ... (total_steps: set
                                 * from token_budget) */
    const char *const *files;   /* [n_files] paths, borrowed */
    int n_files;
    int batch_size;             /* examples a step, default 32 */
    int64_t block_tokens;       /* tokens of a shuffled block (whole lines), default 262144 */
    double dev_share;           /* in [0, 0.5], default 0.002 */
    int dev_examples;           /* at most, default 512 */
    int64_t pool_tokens;        /* tokens the pool is built from, default 2M */
    int64_t token_budget;       /* default 100M */
    int rewarm_steps;           /* after a resume, default 100 */
} attn_pretrain_opts;

attn_pretrain_opts attn_pretrain_defaults(void);

typedef struct attn_pretrain attn_pretrain;

/* Checks opts, reads the dev set and the pool (should_stop asked every few thousand lines:
 * ATTN_ESTOPPED), makes the trainer and positions the stream at *pos (NULL: the start).
 * m (finished, with task rtd) is trained in place from here on. Errors name the file. */
int attn_pretrain_begin(attn_model *m, const attn_pretrain_opts *opts,
                        const attn_pretrain_pos *pos, attn_stop_cb should_stop, void *user,
                        attn_pretrain **out, attn_error *err);

typedef struct attn_pretrain_report {
    attn_pretrain_pos pos;      /* after the last step */
    double loss;                /* mean batch loss of the steps of this call (NaN: none) */
    double accuracy;            /* share of tokens called right (replaced or not) this call */
    double tokens_per_s;        /* training tokens / seconds of this call */
    int steps;                  /* steps this call */
    int done;                   /* the token budget is reached */
} attn_pretrain_report;

/* Trains steps until `seconds` have passed (at least one step), max_steps steps are taken
 * (0: no such limit), the budget is reached or should_stop fires (checked between steps:
 * ATTN_ESTOPPED, the position then is after the last whole step). */
int attn_pretrain_run(attn_pretrain *p, double seconds, int64_t max_steps,
                      attn_stop_cb should_stop, void *user, attn_pretrain_report *r,
                      attn_error *err);

/* The dev metric (rtd.h attn_rtd_evaluate) of the model now. dev->tokens 0 without dev. */
int attn_pretrain_evaluate(attn_pretrain *p, attn_stop_cb should_stop, void *user,
                           attn_rtd_metrics *dev, attn_error *err);

attn_pretrain_pos attn_pretrain_position(const attn_pretrain *p);
void attn_pretrain_free(attn_pretrain *p);

#endif
