/* test_threadpool.c: the thread pool of model/threadpool.h. Every item runs exactly once and writes its
 * own slot; each thread keeps one scratch that no other thread touches; a pool runs many jobs;
 * the lowest failing item is the one reported, whatever the scheduling; limits and scratch
 * allocation failures are errors. A background run does the same without the caller, which
 * waits with a deadline and joins; freeing the pool cuts a background run short. */
#include "threadpool.h"
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A thread's scratch: which thread uses it and how many items it ran. */
typedef struct scratch {
    pthread_t owner;
    int has_owner;
    int n_items;
    int shared;                     /* set when a second thread used it */
} scratch;

static void *scratch_new(void) { return calloc(1, sizeof(scratch)); }
static void scratch_free(void *p) { free(p); }

typedef struct square_job {
    size_t n;
    long *out;                      /* [n] item * item */
    atomic_int *runs;               /* [n] times each item ran */
    scratch **seen;                 /* [n] the scratch that ran each item */
} square_job;

static int square_item(void *job_ptr, void *scratch_ptr, size_t item, attn_error *err) {
    (void)err;
    square_job *job = job_ptr;
    scratch *s = scratch_ptr;
    if (!s->has_owner) {
        s->owner = pthread_self();
        s->has_owner = 1;
    } else if (!pthread_equal(s->owner, pthread_self())) {
        s->shared = 1;
    }
    s->n_items++;
    /* uneven work, so the threads interleave */
    volatile long spin = 0;
    for (size_t k = 0; k < (item % 7) * 2000; k++) spin += (long)k;
    (void)spin;                     /* read: clang's set-but-unused warning */
    job->out[item] = (long)item * (long)item;
    job->seen[item] = s;
    atomic_fetch_add(&job->runs[item], 1);
    return ATTN_OK;
}

static void test_every_item_once(int n_threads, size_t n) {
    attn_threadpool *b = NULL;
    attn_error err = {{0}};
    CHECK(attn_threadpool_new(n_threads, scratch_new, scratch_free, &b, &err) == ATTN_OK);
    if (!b) return;
    CHECK(attn_threadpool_threads(b) == n_threads);
    square_job job = {n, calloc(n + 1, sizeof(long)), calloc(n + 1, sizeof(atomic_int)),
                      calloc(n + 1, sizeof(scratch *))};
    scratch *list[ATTN_THREADPOOL_MAX_THREADS];
    int distinct = 0;
    for (int run = 0; run < 3; run++) {       /* the same pool, several jobs */
        for (size_t i = 0; i < n; i++) {
            job.out[i] = -1;
            atomic_store(&job.runs[i], 0);
        }
        CHECK(attn_threadpool_run(b, n, square_item, &job, NULL, &err) == ATTN_OK);
        int bad = 0;
        for (size_t i = 0; i < n; i++)
            if (job.out[i] != (long)(i * i) || atomic_load(&job.runs[i]) != 1) bad++;
        CHECK_MSG(bad == 0, "%d threads, %zu items, run %d: %d items wrong", n_threads, n, run,
                  bad);
        for (size_t i = 0; i < n; i++) {      /* the scratches seen so far */
            int known = 0;
            for (int k = 0; k < distinct; k++) known |= list[k] == job.seen[i];
            if (!known && distinct < ATTN_THREADPOOL_MAX_THREADS) list[distinct++] = job.seen[i];
        }
    }
    /* each scratch served one thread only, and the items it ran add up */
    int shared = 0, total = 0;
    for (int k = 0; k < distinct; k++) {
        shared += list[k]->shared;
        total += list[k]->n_items;
    }
    CHECK(shared == 0);
    CHECK(distinct >= 1 && distinct <= n_threads);
    CHECK_MSG(total == 3 * (int)n, "%d items counted by the scratches, %zu expected", total,
              3 * n);
    free(job.out);
    free(job.runs);
    free(job.seen);
    attn_threadpool_free(b);
}

/* Items listed in fail[] fail with their number in the message. */
typedef struct fail_job {
    const size_t *fail;
    int n_fail;
    atomic_int *ran;                /* [n] */
} fail_job;

static int fail_item(void *job_ptr, void *scratch_ptr, size_t item, attn_error *err) {
    (void)scratch_ptr;
    fail_job *job = job_ptr;
    atomic_store(&job->ran[item], 1);
    for (int k = 0; k < job->n_fail; k++)
        if (job->fail[k] == item) return attn_fail(err, ATTN_EINVAL, "item %zu failed", item);
    return ATTN_OK;
}

static void test_lowest_failure_reported(int n_threads) {
    attn_threadpool *b = NULL;
    attn_error err = {{0}};
    CHECK(attn_threadpool_new(n_threads, NULL, NULL, &b, &err) == ATTN_OK);
    if (!b) return;
    enum { N = 500 };
    static const size_t fail[] = {480, 137, 136, 300};   /* not in order */
    atomic_int ran[N];
    int wrong = 0, not_run_below = 0;
    for (int rep = 0; rep < 50; rep++) {
        for (int i = 0; i < N; i++) atomic_store(&ran[i], 0);
        fail_job job = {fail, 4, ran};
        size_t failed = 12345;
        memset(&err, 0, sizeof err);
        int status = attn_threadpool_run(b, N, fail_item, &job, &failed, &err);
        if (status != ATTN_EINVAL || failed != 136 || strcmp(err.msg, "item 136 failed") != 0)
            wrong++;
        for (int i = 0; i < 136; i++) not_run_below += !atomic_load(&ran[i]);
    }
    CHECK_MSG(wrong == 0, "%d threads: %d of 50 runs reported another failure", n_threads, wrong);
    CHECK(not_run_below == 0);
    /* after a failure the pool runs the next job normally */
    for (int i = 0; i < N; i++) atomic_store(&ran[i], 0);
    fail_job ok = {fail, 0, ran};
    size_t untouched = 777;
    CHECK(attn_threadpool_run(b, N, fail_item, &ok, &untouched, &err) == ATTN_OK);
    CHECK(untouched == 777);
    int all = 1;
    for (int i = 0; i < N; i++) all &= atomic_load(&ran[i]);
    CHECK(all);
    attn_threadpool_free(b);
}

static void test_no_items(void) {
    attn_threadpool *b = NULL;
    attn_error err = {{0}};
    CHECK(attn_threadpool_new(2, NULL, NULL, &b, &err) == ATTN_OK);
    if (!b) return;
    fail_job job = {NULL, 0, NULL};
    CHECK(attn_threadpool_run(b, 0, fail_item, &job, NULL, &err) == ATTN_OK);
    attn_threadpool_free(b);
    attn_threadpool_free(NULL);
}

static void test_limits(void) {
    attn_threadpool *b = (attn_threadpool *)&b;
    attn_error err = {{0}};
    CHECK(attn_threadpool_new(0, NULL, NULL, &b, &err) == ATTN_ELIMIT);
    CHECK(b == NULL);
    CHECK(strcmp(err.msg, "thread pool: 0 threads asked; allowed 1 to 64 "
                          "(ATTN_THREADPOOL_MAX_THREADS)") == 0);
    CHECK(attn_threadpool_new(ATTN_THREADPOOL_MAX_THREADS + 1, NULL, NULL, &b, &err)
          == ATTN_ELIMIT);
    CHECK(strstr(err.msg, "65 threads asked") != NULL);
    int d = attn_threadpool_default_threads();
    CHECK(d >= 1 && d <= ATTN_THREADPOOL_MAX_THREADS);
}

/* scratch_new fails on its third call: the pool is not made and nothing leaks (ASan). */
static int scratch_calls;
static void *scratch_new_failing(void) {
    return ++scratch_calls == 3 ? NULL : calloc(1, sizeof(scratch));
}

static void test_scratch_failure(void) {
    attn_threadpool *b = NULL;
    attn_error err = {{0}};
    scratch_calls = 0;
    CHECK(attn_threadpool_new(4, scratch_new_failing, scratch_free, &b, &err) == ATTN_ENOMEM);
    CHECK(b == NULL);
    CHECK(strcmp(err.msg, "thread pool: out of memory for thread scratch") == 0);
}

/* ---- background runs ---- */

/* Each item records the thread and scratch that ran it; items wait while `gate` is closed. */
typedef struct who_job {
    size_t n;
    pthread_t *thread;              /* [n] */
    void **scratch;                 /* [n] */
    atomic_int *runs;               /* [n] */
    atomic_int gate;                /* 1: items wait */
    atomic_int started;             /* items begun */
    int fail_last;                  /* the last item fails */
} who_job;

static int who_item(void *job_ptr, void *scratch_ptr, size_t item, attn_error *err) {
    who_job *job = job_ptr;
    atomic_fetch_add(&job->started, 1);
    while (atomic_load(&job->gate)) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    job->thread[item] = pthread_self();
    job->scratch[item] = scratch_ptr;
    atomic_fetch_add(&job->runs[item], 1);
    if (job->fail_last && item == job->n - 1) return attn_fail(err, ATTN_EINVAL, "last item");
    return ATTN_OK;
}

/* Every item ran once; a scratch served one thread in this run; at most n_threads threads
 * ran items, the caller among them only when `caller_may` (a foreground run). */
static void check_who(const who_job *job, int n_threads, int caller_may, const char *what) {
    int once = 1, shared = 0, by_caller = 0, distinct = 0;
    pthread_t seen[ATTN_THREADPOOL_MAX_THREADS + 1];
    for (size_t i = 0; i < job->n; i++) {
        once &= atomic_load(&job->runs[i]) == 1;
        by_caller |= pthread_equal(job->thread[i], pthread_self());
        for (size_t k = 0; k < i; k++)
            if (job->scratch[k] == job->scratch[i] && !pthread_equal(job->thread[k], job->thread[i]))
                shared = 1;
        int known = 0;
        for (int k = 0; k < distinct; k++) known |= pthread_equal(seen[k], job->thread[i]);
        if (!known && distinct <= ATTN_THREADPOOL_MAX_THREADS) seen[distinct++] = job->thread[i];
    }
    CHECK_MSG(once, "%s: an item did not run exactly once", what);
    CHECK_MSG(!shared, "%s: a scratch served two threads in one run", what);
    CHECK_MSG(caller_may || !by_caller, "%s: the caller ran an item of a background run", what);
    CHECK_MSG(distinct >= 1 && distinct <= n_threads, "%s: %d threads ran items, %d in the pool",
              what, distinct, n_threads);
}

static void who_reset(who_job *job, size_t n, int fail_last) {
    job->n = n;
    job->fail_last = fail_last;
    for (size_t i = 0; i < n; i++) atomic_store(&job->runs[i], 0);
    atomic_store(&job->started, 0);
}

static void test_background(int n_threads) {
    enum { N = 300 };
    char what[64];
    attn_threadpool *b = NULL;
    attn_error err = {{0}};
    CHECK(attn_threadpool_new(n_threads, scratch_new, scratch_free, &b, &err) == ATTN_OK);
    if (!b) return;
    static pthread_t thread[N];
    static void *scr[N];
    static atomic_int runs[N];
    who_job job = {N, thread, scr, runs, 0, 0, 0};
    CHECK(attn_threadpool_wait(b, 0) == 1);              /* nothing started */
    CHECK(attn_threadpool_join(b, NULL, &err) == ATTN_OK);
    for (int rep = 0; rep < 3; rep++) {                  /* background and foreground in turn */
        who_reset(&job, N - 1, 0);
        atomic_store(&job.gate, 1);
        CHECK(attn_threadpool_start(b, N - 1, who_item, &job, &err) == ATTN_OK);
        CHECK(attn_threadpool_wait(b, 0) == 0);          /* the items wait for the gate */
        CHECK(attn_threadpool_wait(b, 0.02) == 0);
        CHECK(atomic_load(&job.started) <= n_threads);   /* one item a thread at a time */
        atomic_store(&job.gate, 0);
        double t0 = attn_now_seconds();
        CHECK(attn_threadpool_wait(b, 60) == 1);
        CHECK(attn_now_seconds() - t0 < 30);
        CHECK(attn_threadpool_wait(b, 0) == 1);
        CHECK(attn_threadpool_join(b, NULL, &err) == ATTN_OK);
        snprintf(what, sizeof what, "background, %d threads, run %d", n_threads, rep);
        check_who(&job, n_threads, 0, what);

        who_reset(&job, N - 1, 0);
        CHECK(attn_threadpool_run(b, N - 1, who_item, &job, NULL, &err) == ATTN_OK);
        snprintf(what, sizeof what, "foreground after background, %d threads", n_threads);
        check_who(&job, n_threads, 1, what);
    }
    /* a failure is reported by join as by run */
    who_reset(&job, N, 1);
    size_t failed = 0;
    CHECK(attn_threadpool_start(b, N, who_item, &job, &err) == ATTN_OK);
    CHECK(attn_threadpool_join(b, &failed, &err) == ATTN_EINVAL);
    CHECK(failed == N - 1 && strcmp(err.msg, "last item") == 0);
    CHECK(attn_threadpool_start(b, 0, who_item, &job, &err) == ATTN_OK);
    CHECK(attn_threadpool_wait(b, 0) == 1);
    attn_threadpool_free(b);
}

/* Freeing the pool during a background run hands out no more items: it returns once the
 * items under way end, long before the rest would have run. */
typedef struct slow_job {
    atomic_int ran;
} slow_job;

static int slow_item(void *job_ptr, void *scratch_ptr, size_t item, attn_error *err) {
    (void)scratch_ptr, (void)item, (void)err;
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
    atomic_fetch_add(&((slow_job *)job_ptr)->ran, 1);
    return ATTN_OK;
}

static void test_free_during_background(void) {
    enum { N = 20000 };                                  /* 10 s of items on 2 threads */
    attn_threadpool *b = NULL;
    attn_error err = {{0}};
    CHECK(attn_threadpool_new(2, NULL, NULL, &b, &err) == ATTN_OK);
    if (!b) return;
    slow_job job;
    atomic_init(&job.ran, 0);
    CHECK(attn_threadpool_start(b, N, slow_item, &job, &err) == ATTN_OK);
    CHECK(attn_threadpool_wait(b, 0.05) == 0);
    double t0 = attn_now_seconds();
    attn_threadpool_free(b);
    CHECK_MSG(attn_now_seconds() - t0 < 5.0, "free took %.2f s", attn_now_seconds() - t0);
    CHECK(atomic_load(&job.ran) > 0 && atomic_load(&job.ran) < N);
}

int main(void) {
    test_every_item_once(1, 100);
    test_every_item_once(2, 1);
    test_every_item_once(2, 1000);
    test_every_item_once(4, 333);
    test_every_item_once(ATTN_THREADPOOL_MAX_THREADS, 200);
    test_lowest_failure_reported(1);
    test_lowest_failure_reported(3);
    test_no_items();
    test_limits();
    test_scratch_failure();
    test_background(1);
    test_background(2);
    test_background(5);
    test_free_during_background();
    return CHECK_DONE();
}
