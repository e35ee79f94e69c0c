/* threadpool.c: the fixed thread pool of threadpool.h.
 *
 * One mutex guards the run state; a run is announced by bumping `generation` and waking the
 * workers, which take items from an atomic counter until it passes n_items, then report done.
 * A failure records its item under the mutex when it is lower than the one recorded; items
 * above the lowest failure are skipped from then on (the ones below still run, so the
 * reported failure is always the first in input order, whatever the scheduling).
 *
 * A background run is the same run without the caller: the workers (and the stand-in, a
 * worker with the caller's thread index 0 that takes items in background runs only) report to
 * done_cv as in a foreground run; attn_threadpool_wait waits on it with a deadline, and
 * attn_threadpool_join collects the result exactly as attn_threadpool_run does. */
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define THREADPOOL_MAX_WAIT_SECONDS 1e6   /* one attn_threadpool_wait at most (the deadline fits) */

struct attn_threadpool {
    int n_threads;                  /* caller included */
    void **scratch;                 /* [n_threads]; scratch[0] is the caller's */
    void (*scratch_free)(void *);
    pthread_t *threads;             /* [n_threads]: the n_threads - 1 workers, then the
                                     * stand-in; n_started of them run */
    int n_started;
    int stand_in;                   /* the stand-in has been started */
    int in_background;              /* a background run was started and not joined (only
                                     * the driving thread reads or writes it) */

    pthread_mutex_t mu;
    pthread_cond_t work_cv;         /* a run started, or quit */
    pthread_cond_t done_cv;         /* the last worker finished its share (CLOCK_MONOTONIC) */
    unsigned long generation;       /* bumped by every run (under mu) */
    int quit;                       /* under mu */
    int n_busy;                     /* workers still in the current run (under mu) */

    /* The current run: written under mu before the generation moves, read-only after. */
    attn_threadpool_item_fn fn;
    void *job;
    size_t n_items;
    int background;                 /* the stand-in takes items, the caller does not */
    atomic_size_t next;             /* next item to hand out */
    atomic_size_t failed_item;      /* lowest failing item, SIZE_MAX when none */
    int failed_status;              /* under mu */
    attn_error failed_err;          /* under mu */
};

typedef struct worker_arg {
    attn_threadpool *b;
    int thread;                     /* 0: the stand-in */
    unsigned long seen;             /* the generation when it was started: runs before are over */
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
    unsigned long seen = arg.seen;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->quit && b->generation == seen) pthread_cond_wait(&b->work_cv, &b->mu);
        if (b->quit) break;
        seen = b->generation;
        const int takes_items = arg.thread != 0 || b->background;
        pthread_mutex_unlock(&b->mu);
        if (takes_items) run_items(b, arg.thread);
        pthread_mutex_lock(&b->mu);
        if (--b->n_busy == 0) pthread_cond_signal(&b->done_cv);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* Starts the worker of thread index `thread` into threads[n_started]. Called between runs. */
static int start_worker(attn_threadpool *b, int thread, attn_error *err) {
    worker_arg *arg = malloc(sizeof *arg);
    if (!arg) return attn_fail(err, ATTN_ENOMEM, "thread pool: out of memory");
    arg->b = b;
    arg->thread = thread;
    pthread_mutex_lock(&b->mu);
    arg->seen = b->generation;
    pthread_mutex_unlock(&b->mu);
    if (pthread_create(&b->threads[b->n_started], NULL, worker_main, arg) != 0) {
        free(arg);
        return attn_fail(err, ATTN_ENOMEM, "thread pool: cannot start thread %d of %d",
                         thread ? thread + 1 : 1, b->n_threads);
    }
    b->n_started++;
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
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init(&b->done_cv, &monotonic);
    pthread_condattr_destroy(&monotonic);
    atomic_init(&b->next, 0);
    atomic_init(&b->failed_item, SIZE_MAX);
    int status = b->scratch && b->threads
                     ? ATTN_OK : attn_fail(err, ATTN_ENOMEM, "thread pool: out of memory");
    for (int t = 0; status == ATTN_OK && scratch_new && t < n_threads; t++)
        if (!(b->scratch[t] = scratch_new()))
            status = attn_fail(err, ATTN_ENOMEM, "thread pool: out of memory for thread scratch");
    for (int t = 1; status == ATTN_OK && t < n_threads; t++) status = start_worker(b, t, err);
    if (status != ATTN_OK) {
        attn_threadpool_free(b);
        return status;
    }
    *out = b;
    return ATTN_OK;
}

void attn_threadpool_free(attn_threadpool *b) {
    if (!b) return;
    if (b->in_background) atomic_store(&b->next, b->n_items);   /* no more items handed out */
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

/* Hands a run to the workers. */
static void announce(attn_threadpool *b, size_t n_items, attn_threadpool_item_fn fn, void *job,
                     int background) {
    pthread_mutex_lock(&b->mu);
    b->fn = fn;
    b->job = job;
    b->n_items = n_items;
    b->background = background;
    atomic_store(&b->next, 0);
    atomic_store(&b->failed_item, SIZE_MAX);
    b->n_busy = b->n_started;
    b->generation++;
    pthread_cond_broadcast(&b->work_cv);
    pthread_mutex_unlock(&b->mu);
}

/* Waits until every worker has left the run; its status, as attn_threadpool_run returns it. */
static int collect(attn_threadpool *b, size_t *failed_item, attn_error *err) {
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

int attn_threadpool_run(attn_threadpool *b, size_t n_items, attn_threadpool_item_fn fn,
                        void *job, size_t *failed_item, attn_error *err) {
    if (n_items == 0) return ATTN_OK;
    announce(b, n_items, fn, job, 0);
    run_items(b, 0);
    return collect(b, failed_item, err);
}

int attn_threadpool_start(attn_threadpool *b, size_t n_items, attn_threadpool_item_fn fn,
                          void *job, attn_error *err) {
    if (n_items == 0) return ATTN_OK;
    if (!b->stand_in) {
        int status = start_worker(b, 0, err);
        if (status != ATTN_OK) return status;
        b->stand_in = 1;
    }
    announce(b, n_items, fn, job, 1);
    b->in_background = 1;
    return ATTN_OK;
}

int attn_threadpool_wait(attn_threadpool *b, double seconds) {
    if (!b->in_background) return 1;
    if (seconds > THREADPOOL_MAX_WAIT_SECONDS) seconds = THREADPOOL_MAX_WAIT_SECONDS;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    if (seconds > 0) {
        const double whole = (double)(long)seconds;
        until.tv_sec += (time_t)whole;
        until.tv_nsec += (long)((seconds - whole) * 1e9);
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&b->mu);
    while (seconds > 0 && b->n_busy > 0 &&
           pthread_cond_timedwait(&b->done_cv, &b->mu, &until) == 0) {}
    const int ended = b->n_busy == 0;
    pthread_mutex_unlock(&b->mu);
    return ended;
}

int attn_threadpool_join(attn_threadpool *b, size_t *failed_item, attn_error *err) {
    if (!b->in_background) return ATTN_OK;
    b->in_background = 0;
    return collect(b, failed_item, err);
}

int attn_threadpool_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) return 1;
    return n > ATTN_THREADPOOL_MAX_THREADS ? ATTN_THREADPOOL_MAX_THREADS : (int)n;
}
