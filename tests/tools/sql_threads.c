/* sql_threads: worker threads, each on its own connection to one database file, call every
 * model function on shared and per-thread models while another connection retrains models;
 * every answer must equal the single-threaded answer for the model version it used.
 *
 *   sql_threads EXTENSION DB [THREADS] [ROUNDS]        (defaults 8 and 4)
 *
 * DB must hold the gen_model models 'tiny' and 'every' (models.db of tests/sql/run.sh). It is
 * changed: WAL mode (readers never wait for the trainer), two tables of training rows, one model
 * 'ownI' per worker ('tiny' with its labels renamed: a distinct model, distinct fingerprint)
 * and the retrained models 'retrained-cls' (classify) and 'retrained-rel' (relations).
 *
 *   1. Setup, one thread: the reference answer of every query on every text: once for the
 *      shared models (built-ins en-sentiment, en-ner, en-rel; tiny; every; attn_models), per
 *      worker for 'ownI', and for each retrained model once per seed 0..N_SEEDS-1 right after
 *      attn_train wrote it with that seed (meta.version = seed).
 *   2. THREADS workers run ROUNDS rounds of every query on every text, and keep going until
 *      the trainer is done. A query on a retrained model runs in one read transaction with a
 *      read of the model's config: the version it answered under is meta.version, trained with
 *      seed version % N_SEEDS, so its answer must be that seed's reference.
 *   3. Meanwhile the trainer connection retrains both models N_RETRAINS times each (versions
 *      N_SEEDS.., seed version % N_SEEDS; training with one thread is deterministic for a
 *      seed, which the trainer checks on its own answers) and, after each write, waits until
 *      some worker has answered under that version: every version written is checked.
 * Prints "sql_threads: T threads x C calls ..." and "sql_threads: N passed, N failed"; exit
 * status 1 on failure. Built for ThreadSanitizer as well (make test-tsan): no data race may be
 * reported. Under TSan, SQLite's own mutexes are hidden from TSan (hide_sqlite_mutexes): every
 * thread takes them all the time (the file's lock mutex on each statement), which orders
 * everything before and after and so hides real races in the extension's shared state (its
 * model registry and process-wide setup); those must be ordered by the extension's own locks. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS   16
#define N_SEEDS       3     /* distinct trainings per retrained model */
#define N_RETRAINS    6     /* writes per retrained model while the workers run */
#define MAX_REPORTS   20    /* mismatches printed in full */
#define ANSWER_CHARS  4096

/* ---- ThreadSanitizer: SQLite's mutexes are not synchronisation for the extension ------- */

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

#ifdef UNDER_TSAN
void AnnotateIgnoreSyncBegin(const char *file, int line);
void AnnotateIgnoreSyncEnd(const char *file, int line);

static sqlite3_mutex_methods g_sqlite_mutex;     /* SQLite's own, wrapped below */

static void enter_hidden(sqlite3_mutex *m) {
    AnnotateIgnoreSyncBegin(__FILE__, __LINE__);
    g_sqlite_mutex.xMutexEnter(m);
    AnnotateIgnoreSyncEnd(__FILE__, __LINE__);
}

static int try_hidden(sqlite3_mutex *m) {
    AnnotateIgnoreSyncBegin(__FILE__, __LINE__);
    int rc = g_sqlite_mutex.xMutexTry(m);
    AnnotateIgnoreSyncEnd(__FILE__, __LINE__);
    return rc;
}

static void leave_hidden(sqlite3_mutex *m) {
    AnnotateIgnoreSyncBegin(__FILE__, __LINE__);
    g_sqlite_mutex.xMutexLeave(m);
    AnnotateIgnoreSyncEnd(__FILE__, __LINE__);
}

/* Before sqlite3_initialize: SQLite's mutexes still exclude, but TSan sees no ordering in
 * them. Memory statistics off: they take a global mutex on every allocation. */
static void hide_sqlite_mutexes(void) {
    sqlite3_mutex_methods hidden;
    sqlite3_config(SQLITE_CONFIG_GETMUTEX, &g_sqlite_mutex);
    hidden = g_sqlite_mutex;
    hidden.xMutexEnter = enter_hidden;
    hidden.xMutexTry = try_hidden;
    hidden.xMutexLeave = leave_hidden;
    if (sqlite3_config(SQLITE_CONFIG_MUTEX, &hidden) != SQLITE_OK ||
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
        fprintf(stderr, "sql_threads: cannot wrap SQLite's mutexes\n");
}
#else
static void hide_sqlite_mutexes(void) {}
#endif

/* ---- what is asked ----------------------------------------------------------------------- */

typedef enum model_kind { SHARED, OWN, RETRAINED_CLS, RETRAINED_REL } model_kind;
#define N_RETRAINED 2        /* RETRAINED_CLS, RETRAINED_REL */

static const char *const RETRAINED_NAME[N_RETRAINED] = {"retrained-cls", "retrained-rel"};

#define CLASSIFY  "SELECT attn_classify(?1, ?2)"
#define SCORES    "SELECT attn_classify_scores(?1, ?2)"
#define ENTITIES  "SELECT group_concat(start || ':' || \"end\" || ':' || label || ':' || score, " \
                  "' ') FROM attn_entities(?1, ?2)"
#define RELATIONS "SELECT group_concat(head || '>' || relation || '>' || tail || ':' || score, " \
                  "' ') FROM attn_relations(?1, ?2)"
#define RELATION  "SELECT attn_relation(?1, 0, 4, 5, 9, ?2)"
#define REL_SCORES "SELECT attn_relation_scores(?1, 0, 4, 5, 9, ?2)"
#define MODELS    "SELECT group_concat(name || ':' || task || ':' || labels || ':' || params || " \
                  "':' || storage, ' ') FROM attn_models WHERE ?2 IS NULL"

typedef struct query { const char *sql; model_kind kind; const char *model; } query;

static const query QUERIES[] = {
    {CLASSIFY, SHARED, "en-sentiment"}, {SCORES, SHARED, "en-sentiment"},
    {ENTITIES, SHARED, "en-ner"},       {RELATIONS, SHARED, "en-rel"},
    {RELATION, SHARED, "en-rel"},       {REL_SCORES, SHARED, "en-rel"},
    {CLASSIFY, SHARED, "every"},        {SCORES, SHARED, "tiny"},
    {ENTITIES, SHARED, "tiny"},         {RELATIONS, SHARED, "every"},
    {RELATION, SHARED, "tiny"},         {REL_SCORES, SHARED, "every"},
    {MODELS, SHARED, NULL},
    {CLASSIFY, OWN, NULL},              {SCORES, OWN, NULL},
    {ENTITIES, OWN, NULL},              {RELATIONS, OWN, NULL},
    {RELATION, OWN, NULL},              {REL_SCORES, OWN, NULL},
    {CLASSIFY, RETRAINED_CLS, NULL},    {SCORES, RETRAINED_CLS, NULL},
    {ENTITIES, RETRAINED_REL, NULL},    {RELATIONS, RETRAINED_REL, NULL},
    {RELATION, RETRAINED_REL, NULL},    {REL_SCORES, RETRAINED_REL, NULL},
};
#define N_QUERIES (int)(sizeof QUERIES / sizeof QUERIES[0])

/* Every text is at least 9 characters: the spans of RELATION are inside. */
static const char *const TEXTS[] = {
    "John Smith works for Acme Corp. in New York.",
    "Ann3 works for Acme3 .",
    "Ünïcödé naïve café, emoji 🎉 and 日本語のテキスト.",
    ("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
     "sixteen seventeen eighteen nineteen twenty"),
};
#define N_TEXTS (int)(sizeof TEXTS / sizeof TEXTS[0])

/* ---- training ----------------------------------------------------------------------------- */

static const char TRAIN_ROWS_SQL[] =
    "DROP TABLE IF EXISTS tr_cls; DROP TABLE IF EXISTS tr_rel;"
    "CREATE TABLE tr_cls(text, label); CREATE TABLE tr_rel(text, entities, relations);"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60) "
    "INSERT INTO tr_cls SELECT CASE WHEN i % 2 THEN 'good fine movie ' || i "
    "ELSE 'bad poor film ' || i END, CASE WHEN i % 2 THEN 'pos' ELSE 'neg' END FROM n;"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60), "
    "p(a, verb, b, lab, rel) AS (SELECT 'Ann' || i, "
    "  CASE WHEN i % 2 THEN ' works for ' ELSE ' lives in ' END, "
    "  CASE WHEN i % 2 THEN 'Acme' ELSE 'Paris' END || i, CASE WHEN i % 2 THEN 'ORG' ELSE 'LOC' END, "
    "  CASE WHEN i % 2 THEN 'Work_For' ELSE 'Live_In' END FROM n) "
    "INSERT INTO tr_rel SELECT a || verb || b || ' .', "
    "  json_array(json_object('start', 0, 'end', length(a), 'label', 'PER'), "
    "    json_object('start', length(a || verb), 'end', length(a || verb || b), 'label', lab)), "
    "  json_array(json_object('head', 0, 'tail', 1, 'label', rel)) FROM p;";

static const char *const TRAIN_SQL[N_RETRAINED] = {
    "SELECT count(*) FROM attn_train(?1, 'classify', 'SELECT text, label FROM tr_cls', ?2)",
    "SELECT count(*) FROM attn_train(?1, 'relations', "
    "'SELECT text, entities, relations FROM tr_rel', ?2)",
};

#define TRAIN_OPTIONS "{\"dim\": 16, \"layers\": 1, \"heads\": 2, \"ffn\": 32, \"max_len\": 16, " \
    "\"features\": [{\"kind\": \"norm\", \"buckets\": 128, \"dim\": 8}], \"rel_hidden\": 8, " \
    "\"rel_type_dim\": 2, \"epochs\": 2, \"threads\": 1, \"seed\": %d, " \
    "\"meta\": {\"version\": %d}}"

static const char VERSION_SQL[] =
    "SELECT json_extract(data, '$.meta.version') FROM attn_model "
    "WHERE name = ?1 AND key = 'config'";

/* ---- shared state ------------------------------------------------------------------------- */

static const char *g_ext, *g_db;
static int g_rounds;
/* Reference answers: [worker][seed][query][text]. SHARED queries use [0][0], OWN [w][0],
 * retrained [0][seed]. Written before the threads start, read-only after. */
static char *g_ref[MAX_THREADS][N_SEEDS][N_QUERIES][N_TEXTS];
static atomic_int g_seen_version[N_RETRAINED];  /* highest version a worker answered under */
static atomic_int g_trainer_done, g_workers_running, g_reports;

typedef struct worker {
    pthread_t tid;
    int index, passed, failed, calls;
} worker;

/* ---- SQL helpers -------------------------------------------------------------------------- */

static sqlite3 *open_with_extension(void) {
    sqlite3 *db;
    char *msg = NULL;
    if (sqlite3_open_v2(g_db, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_enable_load_extension(db, 1) != SQLITE_OK ||
        sqlite3_load_extension(db, g_ext, "sqlite3_attnext_init", &msg) != SQLITE_OK) {
        fprintf(stderr, "sql_threads: %s\n", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 60000);
    return db;
}

static int exec(sqlite3 *db, const char *sql) {
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) fprintf(stderr, "sql_threads: %.60s...: %s\n", sql, msg);
    sqlite3_free(msg);
    return rc;
}

static void model_name(int q, int w, char *out, size_t n) {
    switch (QUERIES[q].kind) {
    case OWN:           snprintf(out, n, "own%d", w); break;
    case RETRAINED_CLS: snprintf(out, n, "%s", RETRAINED_NAME[0]); break;
    case RETRAINED_REL: snprintf(out, n, "%s", RETRAINED_NAME[1]); break;
    default:            snprintf(out, n, "%s", QUERIES[q].model ? QUERIES[q].model : "");
    }
}

/* The answer of query q on text t for worker w (malloc'd), or an "error: ..." text. */
static char *answer(sqlite3 *db, int q, int t, int w) {
    sqlite3_stmt *st;
    char name[64], out[ANSWER_CHARS];
    if (sqlite3_prepare_v2(db, QUERIES[q].sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(out, sizeof out, "error: prepare: %s", sqlite3_errmsg(db));
        return strdup(out);
    }
    model_name(q, w, name, sizeof name);
    sqlite3_bind_text(st, 1, TEXTS[t], -1, SQLITE_STATIC);
    if (QUERIES[q].model || QUERIES[q].kind != SHARED)
        sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(st, 0);
        snprintf(out, sizeof out, "%s", s ? s : "(null)");
    } else {
        snprintf(out, sizeof out, "error: %s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return strdup(out);
}

/* meta.version of a retrained model as this connection sees it now, or -1. */
static int model_version(sqlite3 *db, int r) {
    sqlite3_stmt *st;
    int version = -1;
    if (sqlite3_prepare_v2(db, VERSION_SQL, -1, &st, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_text(st, 1, RETRAINED_NAME[r], -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return version;
}

static int train(sqlite3 *db, int r, int version) {
    sqlite3_stmt *st;
    char options[512];
    snprintf(options, sizeof options, TRAIN_OPTIONS, version % N_SEEDS, version);
    if (sqlite3_prepare_v2(db, TRAIN_SQL[r], -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "sql_threads: train: %s\n", sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_bind_text(st, 1, RETRAINED_NAME[r], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, options, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) fprintf(stderr, "sql_threads: train: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW && model_version(db, r) == version ? 0 : -1;
}

static int retrained_index(int q) {
    return QUERIES[q].kind == RETRAINED_CLS ? 0 : QUERIES[q].kind == RETRAINED_REL ? 1 : -1;
}

/* ---- checks ------------------------------------------------------------------------------- */

static void compare(worker *w, const char *who, int q, int t, int seed, const char *got,
                    const char *expected) {
    if (strcmp(got, expected) == 0) {
        w->passed++;
        return;
    }
    w->failed++;
    if (atomic_fetch_add(&g_reports, 1) < MAX_REPORTS)
        fprintf(stderr, "%s: query %d (%s) text %d seed %d: got '%.300s', expected '%.300s'\n",
                who, q, QUERIES[q].sql, t, seed, got, expected);
}

/* Query q on text t: on a retrained model inside one read transaction with its version. */
static void check_one(sqlite3 *db, worker *w, int q, int t) {
    int r = retrained_index(q), version = 0;
    if (r >= 0) {
        if (exec(db, "BEGIN") != SQLITE_OK) { w->failed++; return; }
        version = model_version(db, r);
    }
    char *got = answer(db, q, t, w->index);
    w->calls++;
    if (r >= 0) {
        exec(db, "COMMIT");
        if (version < 0) {
            w->failed++;
            fprintf(stderr, "worker %d: no version of '%s'\n", w->index, RETRAINED_NAME[r]);
            free(got);
            return;
        }
        int seen = atomic_load(&g_seen_version[r]);
        while (version > seen && !atomic_compare_exchange_weak(&g_seen_version[r], &seen, version))
            ;
    }
    int row = QUERIES[q].kind == OWN ? w->index : 0, seed = version % N_SEEDS;
    compare(w, "worker", q, t, seed, got, g_ref[row][seed][q][t]);
    free(got);
}

static void *work(void *arg) {
    worker *w = arg;
    sqlite3 *db = open_with_extension();
    if (!db) {
        w->failed++;
        atomic_fetch_sub(&g_workers_running, 1);
        return NULL;
    }
    for (int round = 0; round < g_rounds || !atomic_load(&g_trainer_done); round++)
        for (int i = 0; i < N_QUERIES; i++)         /* each worker starts at another query */
            for (int t = 0; t < N_TEXTS; t++) check_one(db, w, (i + w->index) % N_QUERIES, t);
    sqlite3_close(db);
    atomic_fetch_sub(&g_workers_running, 1);
    return NULL;
}

/* The trainer's own answers right after writing `version` of retrained model r. */
static void check_own_answers(sqlite3 *db, worker *w, int r, int version) {
    for (int q = 0; q < N_QUERIES; q++) {
        if (retrained_index(q) != r) continue;
        for (int t = 0; t < N_TEXTS; t++) {
            char *got = answer(db, q, t, 0);
            compare(w, "trainer", q, t, version % N_SEEDS, got, g_ref[0][version % N_SEEDS][q][t]);
            free(got);
        }
    }
}

static void wait_until_seen(int r, int version) {
    struct timespec pause = {0, 1000000};
    while (atomic_load(&g_seen_version[r]) < version && atomic_load(&g_workers_running) > 0)
        nanosleep(&pause, NULL);
}

static void *retrain(void *arg) {
    worker *w = arg;
    sqlite3 *db = open_with_extension();
    if (!db) w->failed++;
    for (int k = 0; db && k < N_RETRAINS; k++) {
        for (int r = 0; r < N_RETRAINED; r++) {
            int version = N_SEEDS + k;
            if (train(db, r, version) != 0) {
                w->failed++;
                continue;
            }
            w->passed++;
            check_own_answers(db, w, r, version);
            wait_until_seen(r, version);
        }
    }
    sqlite3_close(db);
    atomic_store(&g_trainer_done, 1);
    return NULL;
}

/* ---- setup -------------------------------------------------------------------------------- */

/* 'ownI' for each worker: 'tiny' with every label renamed (X -> XI), so a model of its own. */
static int make_own_models(sqlite3 *db, int n_threads) {
    static const char *const labels[] = {"negative", "positive", "PER", "LOC", "ORG",
                                         "Work_For", "Located_In"};
    for (int w = 0; w < n_threads; w++) {
        char *config = sqlite3_mprintf("data");
        for (size_t i = 0; config && i < sizeof labels / sizeof labels[0]; i++)
            config = sqlite3_mprintf("replace(%z, '\"%s\"', '\"%s%d\"')", config, labels[i],
                                     labels[i], w);
        char *sql = sqlite3_mprintf(
            "DELETE FROM attn_model WHERE name = 'own%d';"
            "INSERT INTO attn_model SELECT 'own%d', key, dtype, shape, CASE key WHEN 'config' "
            "THEN %s ELSE data END FROM attn_model WHERE name = 'tiny'", w, w, config);
        int rc = sql && config ? exec(db, sql) : SQLITE_NOMEM;
        sqlite3_free(config);
        sqlite3_free(sql);
        if (rc != SQLITE_OK) return -1;
    }
    return 0;
}

/* Stores the answer of q on t as reference [row][seed]; an error answer is a failure. */
static int reference(sqlite3 *db, int row, int seed, int q, int t) {
    char *a = answer(db, q, t, row);
    g_ref[row][seed][q][t] = a;
    if (strncmp(a, "error", 5) != 0) return 0;
    fprintf(stderr, "reference query %d text %d worker %d seed %d: %s\n", q, t, row, seed, a);
    return 1;
}

/* Every reference answer, single-threaded. Returns the number of failures. */
static int compute_references(sqlite3 *db, int n_threads) {
    int failed = 0;
    for (int seed = 0; seed < N_SEEDS; seed++)
        for (int r = 0; r < N_RETRAINED; r++) {
            if (train(db, r, seed) != 0) return failed + 1;
            for (int q = 0; q < N_QUERIES; q++)
                if (retrained_index(q) == r)
                    for (int t = 0; t < N_TEXTS; t++) failed += reference(db, 0, seed, q, t);
        }
    /* attn_models lists the retrained models too: answered after they exist */
    for (int q = 0; q < N_QUERIES; q++)
        for (int t = 0; t < N_TEXTS; t++) {
            if (QUERIES[q].kind == SHARED) failed += reference(db, 0, 0, q, t);
            for (int w = 0; QUERIES[q].kind == OWN && w < n_threads; w++)
                failed += reference(db, w, 0, q, t);
        }
    return failed;
}

/* The reference answers differ where they must: each retrained model's per seed, each
 * worker's own model's per worker (some query of that kind on some text). */
static int references_distinct(int n_threads) {
    int differ[RETRAINED_REL + 1] = {0};
    for (int q = 0; q < N_QUERIES; q++)
        for (int t = 0; t < N_TEXTS; t++) {
            model_kind k = QUERIES[q].kind;
            for (int s = 1; retrained_index(q) >= 0 && s < N_SEEDS; s++)
                differ[k] |= strcmp(g_ref[0][0][q][t], g_ref[0][s][q][t]) != 0;
            for (int w = 1; k == OWN && w < n_threads; w++)
                differ[k] |= strcmp(g_ref[0][0][q][t], g_ref[w][0][q][t]) != 0;
        }
    int failed = 0;
    for (int k = OWN; k <= RETRAINED_REL; k++)
        if (!differ[k]) {
            fprintf(stderr, "model kind %d: the same answers for every version/worker\n", k);
            failed++;
        }
    return failed;
}

static void free_references(void) {
    for (int w = 0; w < MAX_THREADS; w++)
        for (int s = 0; s < N_SEEDS; s++)
            for (int q = 0; q < N_QUERIES; q++)
                for (int t = 0; t < N_TEXTS; t++) free(g_ref[w][s][q][t]);
}

/* Runs the workers and the trainer; returns the totals in *sum. */
static void run_threads(int n_threads, worker *sum) {
    worker workers[MAX_THREADS] = {{0}}, trainer = {0};
    atomic_store(&g_workers_running, n_threads);
    for (int i = 0; i < n_threads; i++) {
        workers[i].index = i;
        pthread_create(&workers[i].tid, NULL, work, &workers[i]);
    }
    pthread_create(&trainer.tid, NULL, retrain, &trainer);
    pthread_join(trainer.tid, NULL);
    *sum = trainer;
    for (int i = 0; i < n_threads; i++) {
        pthread_join(workers[i].tid, NULL);
        sum->passed += workers[i].passed;
        sum->failed += workers[i].failed;
        sum->calls += workers[i].calls;
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: sql_threads EXTENSION DB [THREADS] [ROUNDS]\n");
        return 1;
    }
    g_ext = argv[1];
    g_db = argv[2];
    hide_sqlite_mutexes();
    int n_threads = argc > 3 ? atoi(argv[3]) : 8;
    g_rounds = argc > 4 ? atoi(argv[4]) : 4;
    if (n_threads < 2 || n_threads > MAX_THREADS) n_threads = 8;
    sqlite3 *db = open_with_extension();
    if (!db) return 1;
    int failed = 0;
    if (exec(db, "PRAGMA journal_mode = WAL") || exec(db, TRAIN_ROWS_SQL) ||
        make_own_models(db, n_threads))
        failed++;
    else
        failed += compute_references(db, n_threads);
    failed += references_distinct(n_threads);
    worker sum = {0};
    if (!failed) run_threads(n_threads, &sum);
    sqlite3_close(db);
    free_references();
    int versions = atomic_load(&g_seen_version[0]) + atomic_load(&g_seen_version[1]);
    if (!failed && versions != 2 * (N_SEEDS + N_RETRAINS - 1)) {
        fprintf(stderr, "last versions seen by workers: %d, %d (expected %d each)\n",
                atomic_load(&g_seen_version[0]), atomic_load(&g_seen_version[1]),
                N_SEEDS + N_RETRAINS - 1);
        failed++;
    }
    printf("sql_threads: %d threads x %d calls (%d in all) while %d models were retrained "
           "%d times each\n", n_threads, n_threads ? sum.calls / n_threads : 0, sum.calls,
           N_RETRAINED, N_RETRAINS);
    printf("sql_threads: %d passed, %d failed\n", sum.passed, sum.failed + failed);
    return sum.failed + failed ? 1 : 0;
}
