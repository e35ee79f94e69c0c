/* bench_encoder: the attnext side of the encoder and training benchmarks (tests/bench/run.sh
 * runs it beside tests/bench/compare.py, which runs the PyTorch side on the same weights and
 * the same token rows). Times the public engine API only (attn_encode, attn_trainer_step), so
 * any change to the kernels behind it shows up here.
 *
 *   bench_encoder fwd   DB NAME LEN REPS [OUT.f32]   one sequence of LEN tokens, REPS calls;
 *                                                   OUT receives the output [LEN, D] (f32)
 *   bench_encoder batch DB NAME SEQS LEN THREADS REPS
 *                                                   SEQS sequences of LEN tokens split over
 *                                                   THREADS pthreads (one scratch each)
 *   bench_encoder train DB NAME DATA.db TABLE ROWS BATCH STEPS THREADS [EXAMPLES.bin]
 *                                                   AdamW steps on the first ROWS rows
 *                                                   (text, label) of TABLE; EXAMPLES receives
 *                                                   the examples the steps used, for PyTorch
 * Prints one line "key=value ..." with median_ms (per call, batch or step) and min_ms; batch
 * also cores, the median over the batches of the process's CPU time over the wall time.
 *
 * Token rows are synthetic and deterministic (bench_rows below; compare.py computes the same):
 * the encoder's cost does not depend on which rows are looked up. OpenBLAS runs one thread, as
 * the extension sets it; parallelism is ours (THREADS). */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blas_threads.h"
#include "encoder.h"
#include "fit.h"
#include "model.h"
#include "qgemm.h"
#include "train.h"

#define WARMUP_CALLS 3
#define MAX_REPS 100000
#define MAX_BENCH_THREADS 2

static double now_ms(void) { return 1e3 * attn_now_seconds(); }

/* CPU time of the process (every thread's), ms: over the wall time, the cores it got. */
static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v. */
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- loading a model from an attn_model table ---------------------------------------- */

static attn_model *load_model(const char *path, const char *name) {
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    attn_model *m = NULL;
    attn_error err = {0};
    int ok = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
             sqlite3_prepare_v2(db, "SELECT key, dtype, shape, data FROM attn_model "
                                    "WHERE name = ?1 ORDER BY key = 'config' DESC",
                                -1, &st, NULL) == SQLITE_OK;
    if (ok) sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    while (ok && sqlite3_step(st) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        const void *data = sqlite3_column_blob(st, 3);
        size_t n = (size_t)sqlite3_column_bytes(st, 3);
        if (!strcmp(key, "config"))
            ok = attn_model_new(data, n, &m, &err) == ATTN_OK;
        else
            ok = m && attn_model_set_tensor(m, key, (const char *)sqlite3_column_text(st, 1),
                                            (const char *)sqlite3_column_text(st, 2), data, n,
                                            &err) == ATTN_OK;
    }
    if (ok && m) ok = attn_model_finish(m, &err) == ATTN_OK;
    if (!ok || !m)
        fprintf(stderr, "bench_encoder: model '%s' in %s: %s\n", name, path,
                err.msg[0] ? err.msg : (db ? sqlite3_errmsg(db) : "cannot open"));
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (ok && m) return m;
    attn_model_free(m);
    return NULL;
}

/* ---- synthetic token rows ------------------------------------------------------------- */

#define SUBWORD_ROWS_USED 6      /* subword slots filled per token; the rest ATTN_ROW_NONE */

/* rows[T, S] of sequence seq: feature f of token t takes bucket
 * (1000003 (t + 1) + 7919 (f + 1) + 104729 seq + 131 slot) % buckets. */
static void bench_rows(const attn_config *c, int T, int seq, uint32_t *rows) {
    const int S = attn_feature_slots(c->features, c->n_features);
    for (int t = 0; t < T; t++) {
        uint32_t *tok = rows + (size_t)t * S;
        for (int f = 0; f < c->n_features; f++) {
            const int n_slots = attn_feature_n_slots(&c->features[f]);
            for (int s = 0; s < n_slots; s++) {
                uint64_t h = 1000003ull * (uint64_t)(t + 1) + 7919ull * (uint64_t)(f + 1) +
                             104729ull * (uint64_t)seq + 131ull * (uint64_t)s;
                tok[s] = s < SUBWORD_ROWS_USED ? (uint32_t)(h % c->features[f].n_buckets)
                                               : ATTN_ROW_NONE;
            }
            tok += n_slots;
        }
    }
}

static uint32_t *make_rows(const attn_config *c, int T, int seq) {
    const int S = attn_feature_slots(c->features, c->n_features);
    uint32_t *rows = malloc((size_t)T * (size_t)S * sizeof *rows);
    if (rows) bench_rows(c, T, seq, rows);
    return rows;
}

/* ---- fwd: one sequence at a time ------------------------------------------------------ */

static int bench_fwd(const attn_model *m, int T, int reps, const char *out_path) {
    uint32_t *rows = make_rows(&m->cfg, T, 0);
    float *out = malloc((size_t)T * (size_t)m->cfg.dim * sizeof *out);
    double *ms = malloc((size_t)reps * sizeof *ms);
    attn_scratch scratch = {0};
    attn_error err = {0};
    int rc = rows && out && ms ? 0 : 1;
    for (int i = 0; rc == 0 && i < WARMUP_CALLS + reps; i++) {
        double t0 = now_ms();
        rc = attn_encode(m, rows, T, out, &scratch, &err);
        if (i >= WARMUP_CALLS) ms[i - WARMUP_CALLS] = now_ms() - t0;
    }
    if (rc) fprintf(stderr, "bench_encoder: %s\n", err.msg);
    if (rc == 0 && out_path) {
        FILE *f = fopen(out_path, "wb");
        rc = !f || fwrite(out, sizeof *out, (size_t)T * m->cfg.dim, f) != (size_t)T * m->cfg.dim;
        if (f) fclose(f);
    }
    if (rc == 0) {
        double med = median(ms, reps);
        printf("len=%d median_ms=%.4f min_ms=%.4f reps=%d int8_table=%s\n", T, med, ms[0], reps,
               attn_q8_kernels_best()->name);
    }
    attn_scratch_free(&scratch);
    free(rows);
    free(out);
    free(ms);
    return rc;
}

/* ---- batch: many sequences over threads ---------------------------------------------- */

typedef struct batch_job {
    const attn_model *m;
    uint32_t **rows;         /* [seqs] */
    float *out;              /* [T, D] per thread, reused */
    int first, last, T;      /* sequences [first, last) */
    attn_scratch scratch;
    int rc;
    pthread_t tid;
} batch_job;

static void *batch_worker(void *arg) {
    batch_job *j = arg;
    attn_error err = {0};
    for (int s = j->first; s < j->last && j->rc == 0; s++)
        j->rc = attn_encode(j->m, j->rows[s], j->T, j->out, &j->scratch, &err);
    if (j->rc) fprintf(stderr, "bench_encoder: %s\n", err.msg);
    return NULL;
}

/* One batch: every sequence once; returns 0 on success. */
static int run_batch(batch_job *jobs, int threads) {
    for (int i = 1; i < threads; i++)
        if (pthread_create(&jobs[i].tid, NULL, batch_worker, &jobs[i])) return 1;
    batch_worker(&jobs[0]);
    int rc = jobs[0].rc;
    for (int i = 1; i < threads; i++) {
        pthread_join(jobs[i].tid, NULL);
        rc |= jobs[i].rc;
    }
    return rc;
}

static int bench_batch(const attn_model *m, int seqs, int T, int threads, int reps) {
    uint32_t **rows = calloc((size_t)seqs, sizeof *rows);
    double *ms = malloc((size_t)reps * sizeof *ms), *cores = malloc((size_t)reps * sizeof *cores);
    batch_job jobs[MAX_BENCH_THREADS];
    memset(jobs, 0, sizeof jobs);
    int rc = rows && ms && cores ? 0 : 1;
    for (int s = 0; rc == 0 && s < seqs; s++) rc = !(rows[s] = make_rows(&m->cfg, T, s));
    for (int i = 0; i < threads; i++) {
        jobs[i] = (batch_job){ .m = m, .rows = rows, .T = T,
                               .first = seqs * i / threads, .last = seqs * (i + 1) / threads };
        jobs[i].out = malloc((size_t)T * (size_t)m->cfg.dim * sizeof(float));
        if (!jobs[i].out) rc = 1;
    }
    for (int r = 0; rc == 0 && r < 1 + reps; r++) {
        double t0 = now_ms(), c0 = cpu_ms();
        rc = run_batch(jobs, threads);
        if (r > 0) {
            ms[r - 1] = now_ms() - t0;
            cores[r - 1] = (cpu_ms() - c0) / ms[r - 1];
        }
    }
    if (rc == 0) {
        double med = median(ms, reps);     /* sorts ms: ms[0] is the minimum after it */
        printf("seqs=%d len=%d threads=%d median_ms=%.3f min_ms=%.3f reps=%d cores=%.2f\n",
               seqs, T, threads, med, ms[0], reps, median(cores, reps));
    }
    for (int i = 0; i < threads; i++) {
        attn_scratch_free(&jobs[i].scratch);
        free(jobs[i].out);
    }
    for (int s = 0; rows && s < seqs; s++) free(rows[s]);
    free(rows);
    free(ms);
    free(cores);
    return rc;
}

/* ---- train: AdamW steps on real text -------------------------------------------------- */

/* Adds the first n_rows (text, label) rows of table to a dataset for m's config. */
static attn_dataset *read_dataset(const attn_model *m, const char *path, const char *table,
                                  int n_rows) {
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    attn_dataset *ds = attn_dataset_new(&m->cfg);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT text, label FROM \"%s\" LIMIT %d", table, n_rows);
    int ok = ds && sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
             sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK;
    attn_error err = {0};
    while (ok && sqlite3_step(st) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(st, 0);
        ok = attn_dataset_add(ds, text, (size_t)sqlite3_column_bytes(st, 0),
                              (const char *)sqlite3_column_text(st, 1), NULL, 0, NULL, 0,
                              &err) == ATTN_OK;
    }
    if (!ok) fprintf(stderr, "bench_encoder: %s: %s\n", path, err.msg[0] ? err.msg
                             : db ? sqlite3_errmsg(db) : "cannot open");
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (ok) return ds;
    attn_dataset_free(ds);
    return NULL;
}

/* EXAMPLES.bin: int32 count, then per example int32 T, int32 label, uint32 rows[T, S]. */
static int dump_examples(const attn_model *m, const attn_example *ex, int n, const char *path) {
    const int S = attn_feature_slots(m->cfg.features, m->cfg.n_features);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(&n, sizeof n, 1, f) == 1;
    for (int i = 0; ok && i < n; i++) {
        int32_t head[2] = { ex[i].T, ex[i].label };
        size_t cnt = (size_t)ex[i].T * (size_t)S;
        ok = fwrite(head, sizeof head, 1, f) == 1 &&
             fwrite(ex[i].rows, sizeof *ex[i].rows, cnt, f) == cnt;
    }
    if (f) fclose(f);
    return ok ? 0 : 1;
}

typedef struct train_args {
    const char *data, *table, *dump;
    int rows, batch, steps, threads;
} train_args;

static int time_steps(attn_trainer *tr, const attn_example *ex, int n_ex, const train_args *a) {
    double *ms = malloc((size_t)a->steps * sizeof *ms);
    attn_error err = {0};
    attn_train_stats st;
    int64_t tokens = 0;
    double total_ms = 0.0, loss0 = 0.0, loss_last = 0.0;
    int rc = ms ? 0 : 1;
    for (int s = 0; rc == 0 && s < WARMUP_CALLS + a->steps; s++) {
        const int first = (s * a->batch) % (n_ex - a->batch + 1);
        double t0 = now_ms();
        rc = attn_trainer_step(tr, ex + first, a->batch, &st, &err);
        double dt = now_ms() - t0;
        if (s == 0) loss0 = st.loss;
        loss_last = st.loss;
        if (s < WARMUP_CALLS) continue;
        ms[s - WARMUP_CALLS] = dt;
        total_ms += dt;
        tokens += st.n_tokens;
    }
    if (rc) fprintf(stderr, "bench_encoder: %s\n", err.msg);
    else
        printf("batch=%d threads=%d steps=%d median_ms=%.3f tokens_per_s=%.0f loss_first=%.4f "
               "loss_last=%.4f\n", a->batch, a->threads, a->steps, median(ms, a->steps),
               (double)tokens / (total_ms / 1e3), loss0, loss_last);
    free(ms);
    return rc;
}

static int bench_train(attn_model *m, const train_args *a) {
    attn_dataset *ds = read_dataset(m, a->data, a->table, a->rows);
    if (!ds) return 1;
    const int n_ex = (int)attn_dataset_examples(ds);
    attn_example *ex = malloc((size_t)(n_ex ? n_ex : 1) * sizeof *ex);
    attn_error err = {0};
    int rc = ex && n_ex >= a->batch ? 0 : 1;
    for (int i = 0; rc == 0 && i < n_ex; i++) rc = attn_dataset_example(ds, (size_t)i, &ex[i], &err);
    if (rc == 0 && a->dump) rc = dump_examples(m, ex, n_ex, a->dump);
    attn_train_opts o = attn_train_defaults();
    o.threads = a->threads;
    o.total_steps = 1000000;           /* effectively constant lr (PyTorch side: constant) */
    attn_trainer *tr = NULL;
    if (rc == 0) rc = attn_trainer_new(m, &o, &tr, &err);
    if (rc == 0) rc = time_steps(tr, ex, n_ex, a);
    else fprintf(stderr, "bench_encoder: train setup failed (%d examples): %s\n", n_ex, err.msg);
    attn_trainer_free(tr);
    free(ex);
    attn_dataset_free(ds);
    return rc;
}

/* ---- main ------------------------------------------------------------------------------ */

static int usage(void) {
    fprintf(stderr, "usage: bench_encoder fwd DB NAME LEN REPS [OUT.f32]\n"
                    "       bench_encoder batch DB NAME SEQS LEN THREADS REPS\n"
                    "       bench_encoder train DB NAME DATA.db TABLE ROWS BATCH STEPS THREADS "
                    "[EXAMPLES.bin]\n");
    return 2;
}

static int in_range(int v, int lo, int hi) { return v >= lo && v <= hi; }

/* The weights packed for the inference GEMM, as the extension does when it loads a model
 * (the trainer's model in 'train' mode stays unpacked, as in attn_train). */
static int prepare_for_inference(attn_model *m) {
    attn_error err = {0};
    if (attn_encoder_prepare(m, &err) == ATTN_OK) return 1;
    fprintf(stderr, "bench_encoder: %s\n", err.msg);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) return usage();
    const char *mode = argv[1];
    attn_blas_set_threads(1);   /* and no spinning pool beside our threads */
    int rc = 2;
    attn_model *m = NULL;
    if (!strcmp(mode, "fwd") && (argc == 6 || argc == 7)) {
        int T = atoi(argv[4]), reps = atoi(argv[5]);
        if (!in_range(reps, 1, MAX_REPS)) return usage();
        if ((m = load_model(argv[2], argv[3])) && prepare_for_inference(m))
            rc = bench_fwd(m, T, reps, argc == 7 ? argv[6] : NULL);
    } else if (!strcmp(mode, "batch") && argc == 8) {
        int seqs = atoi(argv[4]), T = atoi(argv[5]), threads = atoi(argv[6]);
        int reps = atoi(argv[7]);
        if (!in_range(threads, 1, MAX_BENCH_THREADS) || seqs < threads ||
            !in_range(reps, 1, MAX_REPS))
            return usage();
        if ((m = load_model(argv[2], argv[3])) && prepare_for_inference(m))
            rc = bench_batch(m, seqs, T, threads, reps);
    } else if (!strcmp(mode, "train") && (argc == 10 || argc == 11)) {
        train_args a = { .data = argv[4], .table = argv[5], .rows = atoi(argv[6]),
                         .batch = atoi(argv[7]), .steps = atoi(argv[8]),
                         .threads = atoi(argv[9]), .dump = argc == 11 ? argv[10] : NULL };
        if (!in_range(a.threads, 1, ATTN_TRAIN_MAX_THREADS) || a.batch < 1 ||
            !in_range(a.steps, 1, MAX_REPS))
            return usage();
        if ((m = load_model(argv[2], argv[3]))) rc = bench_train(m, &a);
    } else {
        return usage();
    }
    attn_model_free(m);
    return rc ? 1 : 0;
}
