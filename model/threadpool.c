/* threadpool.c: the fixed thread pool of threadpool.h.
 *
 * One mutex guards the run state; a run is announced by bumping `generation` and waking the
 * workers, which take items from an atomic counter until it passes n_items, then report done.
 * A failure records its item under the mutex when it is lower than the one recorded; items
 * above the lowest failure are skipped from then on (the ones below still run, so the
 * reported failure is always the first in input order, whatever the scheduling). */
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct attn_threadpool {
    int n_threads;                  /* caller included */
    void **scratch;                 /* [n_threads]; scratch[0] is the caller's */
    void (*scratch_free)(void *);
    pthread_t *threads;             /* [n_threads - 1], of which n_started run */
    int n_started;

    pthread_mutex_t mu;
    pthread_cond_t work_cv;         /* a run started, or quit */
    pthread_cond_t done_cv;         /* the last worker finished its share */
    unsigned long generation;       /* bumped by every run (under mu) */
    int quit;                       /* under mu */
    int n_busy;                     /* workers still in the current run (under mu) */

    /* The current run: written under mu before the generation moves, read-only after. */
    attn_threadpool_item_fn fn;
    void *job;
    size_t n_items;
    atomic_size_t next;             /* next item to hand out */
    atomic_size_t failed_item;      /* lowest failing item, SIZE_MAX when none */
    int failed_status;              /* under mu */
    attn_error failed_err;          /* under mu */
};

typedef struct worker_arg {
    attn_threadpool *b;
    int thread;
} worker_arg;

static void record_failure(attn_threadpool *b, size_t item, int status, const attn_error *err) {
    pthread_mutex_lock(&b->mu);
    if (item < atomic_load(&b->failed_item)) {
        atomic_store(&b->failed_item, item);
        b->failed_status = status;
        b->failed_err = *err;
    }
    pthread_mutex_unlock(&b->mu);
}

/* Takes items until none are left (or all left are above a failure). */
static void run_items(attn_threadpool *b, int thread) {
    void *scratch = b->scratch[thread];
    for (;;) {
        size_t i = atomic_fetch_add(&b->next, 1);
        if (i >= b->n_items || i > atomic_load(&b->failed_item)) return;
        attn_error err;
        err.msg[0] = '\0';
        int status = b->fn(b->job, scratch, i, &err);
        if (status != ATTN_OK) record_failure(b, i, status, &err);
    }
}

static void *worker_main(void *p) {
    worker_arg arg = *(worker_arg *)p;
    free(p);
    attn_threadpool *b = arg.b;
    unsigned long seen = 0;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->quit && b->generation == seen) pthread_cond_wait(&b->work_cv, &b->mu);
        if (b->quit) break;
        seen = b->generation;
        pthread_mutex_unlock(&b->mu);
        run_items(b, arg.thread);
        pthread_mutex_lock(&b->mu);
        if (--b->n_busy == 0) pthread_cond_signal(&b->done_cv);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static int start_workers(attn_threadpool *b, attn_error *err) {
    for (int t = 1; t < b->n_threads; t++) {
        worker_arg *arg = malloc(sizeof *arg);
        if (!arg) return attn_fail(err, ATTN_ENOMEM, "thread pool: out of memory");
        arg->b = b;
        arg->thread = t;
        if (pthread_create(&b->threads[t - 1], NULL, worker_main, arg) != 0) {
            free(arg);
            return attn_fail(err, ATTN_ENOMEM, "thread pool: cannot start thread %d of %d", t + 1,
                             b->n_threads);
        }
        b->n_started++;
    }
    return ATTN_OK;
}

int attn_threadpool_new(int n_threads, void *(*scratch_new)(void),
                        void (*scratch_free)(void *), attn_threadpool **out, attn_error *err) {
    *out = NULL;
    if (n_threads < 1 || n_threads > ATTN_THREADPOOL_MAX_THREADS)
        return attn_fail(err, ATTN_ELIMIT, "thread pool: %d threads asked; allowed 1 to %d "
                         "(ATTN_THREADPOOL_MAX_THREADS)", n_threads, ATTN_THREADPOOL_MAX_THREADS);
    attn_threadpool *b = calloc(1, sizeof *b);
    if (!b) return attn_fail(err, ATTN_ENOMEM, "thread pool: out of memory");
    b->n_threads = n_threads;
    b->scratch_free = scratch_free;
    b->scratch = calloc((size_t)n_threads, sizeof *b->scratch);
    b->threads = calloc((size_t)n_threads, sizeof *b->threads);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->work_cv, NULL);
    pthread_cond_init(&b->done_cv, NULL);
    atomic_init(&b->next, 0);
    atomic_init(&b->failed_item, SIZE_MAX);
    int status = b->scratch && b->threads
                     ? ATTN_OK : attn_fail(err, ATTN_ENOMEM, "thread pool: out of memory");
    for (int t = 0; status == ATTN_OK && scratch_new && t < n_threads; t++)
        if (!(b->scratch[t] = scratch_new()))
            status = attn_fail(err, ATTN_ENOMEM, "thread pool: out of memory for thread scratch");
    if (status == ATTN_OK) status = start_workers(b, err);
    if (status != ATTN_OK) {
        attn_threadpool_free(b);
        return status;
    }
    *out = b;
    return ATTN_OK;
}

void attn_threadpool_free(attn_threadpool *b) {
    if (!b) return;
    pthread_mutex_lock(&b->mu);
    b->quit = 1;
    pthread_cond_broadcast(&b->work_cv);
    pthread_mutex_unlock(&b->mu);
    for (int t = 0; t < b->n_started; t++) pthread_join(b->threads[t], NULL);
    if (b->scratch && b->scratch_free)
        for (int t = 0; t < b->n_threads; t++) b->scratch_free(b->scratch[t]);
    pthread_cond_destroy(&b->done_cv);
    pthread_cond_destroy(&b->work_cv);
    pthread_mutex_destroy(&b->mu);
    free(b->scratch);
    free(b->threads);
    free(b);
}

int attn_threadpool_threads(const attn_threadpool *b) {
    return b->n_threads;
}

int attn_threadpool_run(attn_threadpool *b, size_t n_items, attn_threadpool_item_fn fn,
                        void *job, size_t *failed_item, attn_error *err) {
    if (n_items == 0) return ATTN_OK;
    pthread_mutex_lock(&b->mu);
    b->fn = fn;
    b->job = job;
    b->n_items = n_items;
    atomic_store(&b->next, 0);
    atomic_store(&b->failed_item, SIZE_MAX);
    b->n_busy = b->n_started;
    b->generation++;
    pthread_cond_broadcast(&b->work_cv);
    pthread_mutex_unlock(&b->mu);

    run_items(b, 0);

    pthread_mutex_lock(&b->mu);
    while (b->n_busy > 0) pthread_cond_wait(&b->done_cv, &b->mu);
    size_t failed = atomic_load(&b->failed_item);
    int status = failed == SIZE_MAX ? ATTN_OK : b->failed_status;
    if (status != ATTN_OK) {
        if (err) *err = b->failed_err;
        if (failed_item) *failed_item = failed;
    }
    pthread_mutex_unlock(&b->mu);
    return status;
}

int attn_threadpool_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) return 1;
    return n > ATTN_THREADPOOL_MAX_THREADS ? ATTN_THREADPOOL_MAX_THREADS : (int)n;
}
