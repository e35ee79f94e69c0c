/* threadpool.h: a small fixed pool of threads that runs one job over items 0 .. n-1.
 *
 * The pool has n_threads threads in all: the caller of attn_threadpool_run is thread 0 and works
 * too, so n_threads - 1 are started by attn_threadpool_new (a pool of 1 starts none and runs every
 * item on the caller). Each thread owns one scratch object (made by scratch_new when the pool
 * is made, freed with it): the place for per-thread buffers such as an attn_session, so a job
 * never allocates them per item and no two threads share one.
 *
 * Items are handed out from a shared counter in increasing order, so a slow item does not
 * hold up the others; a job writes the answer of item i into its own slot i, which keeps the
 * output in input order and independent of which thread ran what. attn_threadpool_run returns when
 * every item is done (or skipped after a failure, see below).
 *
 * A run is either in the foreground (attn_threadpool_run: the caller works too and the call
 * returns at the end) or in the background (attn_threadpool_start, _wait, _join: the caller
 * stays free, to poll for an interrupt or show progress, while the pool's threads do the
 * items). Either way n_threads threads work on the items.
 *
 * A pool is driven by one thread at a time (the one that made it), one run at a time; the
 * job's code must be safe to run on several threads at once on different items (e.g. a shared
 * read-only model). */
#ifndef ATTN_THREADPOOL_H
#define ATTN_THREADPOOL_H

#include "common.h"

/* Most threads in one pool. */
#define ATTN_THREADPOOL_MAX_THREADS 64

typedef struct attn_threadpool attn_threadpool;

/* Works on item `item` with the calling thread's scratch. Returns ATTN_OK, or an ATTN_E* code
 * with err filled. Runs on any thread of the pool. */
typedef int (*attn_threadpool_item_fn)(void *job, void *scratch, size_t item, attn_error *err);

/* A pool of n_threads (1 .. ATTN_THREADPOOL_MAX_THREADS) threads, caller included. scratch_new
 * (may be NULL: scratch is then NULL) makes one scratch object per thread and returns NULL on
 * ENOMEM; scratch_free frees one (NULL is passed through it too). Errors: ATTN_ELIMIT for a
 * thread count out of range, ATTN_ENOMEM when memory, scratch or a thread cannot be had. */
int attn_threadpool_new(int n_threads, void *(*scratch_new)(void),
                        void (*scratch_free)(void *), attn_threadpool **out, attn_error *err);

/* Stops and joins the threads, frees every scratch. NULL is a no-op. */
void attn_threadpool_free(attn_threadpool *b);

int attn_threadpool_threads(const attn_threadpool *b);

/* Runs fn(job, scratch of the running thread, i, err) for every i in [0, n_items) and returns
 * when all are done. On failures returns the status and message of the lowest-numbered
 * failing item and sets *failed_item (when non-NULL) to it: every item below it has run and
 * succeeded; items above it may have run or been skipped. On success *failed_item is left
 * alone. */
int attn_threadpool_run(attn_threadpool *b, size_t n_items, attn_threadpool_item_fn fn,
                        void *job, size_t *failed_item, attn_error *err);

/* ---- a run in the background ----
 * attn_threadpool_start(b, n, fn, job, err) starts fn over [0, n) as attn_threadpool_run does
 * and returns at once; the items run on the pool's threads only, the caller's share on one
 * more thread (started by the first background run, kept until the pool is freed: it owns the
 * caller's scratch meanwhile), so a pool of n_threads still has n_threads at work, and a pool
 * of 1 runs every item on that one thread. ATTN_OK, or ATTN_ENOMEM when that thread cannot be
 * started (nothing runs then). The job must outlive the run.
 * attn_threadpool_wait(b, seconds) waits up to `seconds` (0: not at all) for the run to end;
 * 1 when it has ended (or none was started), else 0.
 * attn_threadpool_join(b, failed_item, err) waits for the end and returns what
 * attn_threadpool_run would have; the pool is then free for the next run (ATTN_OK when none
 * was started).
 * The pool has no way to cut a run short: a job that must stop early checks a flag of its own
 * in its items (then joins). attn_threadpool_free during a background run waits for its end. */
int attn_threadpool_start(attn_threadpool *b, size_t n_items, attn_threadpool_item_fn fn,
                          void *job, attn_error *err);
int attn_threadpool_wait(attn_threadpool *b, double seconds);
int attn_threadpool_join(attn_threadpool *b, size_t *failed_item, attn_error *err);

/* The default thread count: the number of online CPUs, clamped to
 * [1, ATTN_THREADPOOL_MAX_THREADS]. */
int attn_threadpool_default_threads(void);

#endif
