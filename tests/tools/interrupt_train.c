/* interrupt_train: an interrupted or killed attn_train leaves the database and any existing
 * model of that name exactly as they were.
 *
 *   interrupt_train EXTENSION DB
 *
 * DB is a scratch database (created, then changed). Steps:
 *   1. a table of 200 synthetic rows; attn_train writes model 'm' (1 epoch): the "old" model,
 *      whose rows are kept as one text snapshot (key, dtype, shape, hex(data)).
 *   2. interrupt: a thread runs attn_train on 'm' again (many epochs) on connection A; the
 *      main thread waits for the first epoch row, then calls sqlite3_interrupt(A). The step
 *      must fail with SQLITE_INTERRUPT and the message naming the model; then
 *      PRAGMA integrity_check is 'ok' and 'm' is byte-identical to the snapshot (checked on A
 *      and on a fresh connection).
 *   3. the same while a write transaction of A is open (BEGIN; ... ROLLBACK stays possible).
 *   4. SIGKILL: a child process trains 'm' (many epochs) and reports its first epoch row
 *      through a pipe; the parent kills it with SIGKILL and checks integrity and 'm' again.
 *   5. SIGKILL while the model is being written: the child trains a 1-epoch model with big
 *      feature tables under another name 'big' over and over (replacing it each time); the
 *      parent kills it after a few writes; the database must pass integrity_check, 'm' must
 *      be unchanged and 'big', if present, must load (attn_models lists it with its params).
 *   6. pretraining (task rtd, streamed from a text file): interrupted after its first
 *      checkpoint (a row with best = 1), the step fails with SQLITE_INTERRUPT and a message
 *      naming the step of the checkpoint kept; model 'p' loads, its config's position is that
 *      step, and a new call continues from it (its steps count on from there).
 * "'m' intact" is: integrity_check 'ok', the rows of 'm' byte-identical to the snapshot, the
 * same answers of attn_classify_scores(text, 'm') as before, and no model but 'm' and 'big'.
 * Prints "interrupt_train: N passed, N failed". */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *g_ext, *g_db;
static int g_passed, g_failed;

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        if (cond) g_passed++;                                                                 \
        else {                                                                                \
            g_failed++;                                                                       \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                              \
            fprintf(stderr, __VA_ARGS__);                                                     \
            fputc('\n', stderr);                                                              \
        }                                                                                     \
    } while (0)

static const char TRAIN_ROWS_SQL[] =
    "CREATE TABLE IF NOT EXISTS tr(text, label);"
    "DELETE FROM tr;"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) "
    "INSERT INTO tr SELECT CASE WHEN i % 2 THEN 'good fine movie ' || i "
    "ELSE 'bad poor film ' || i END, CASE WHEN i % 2 THEN 'pos' ELSE 'neg' END FROM n;";

#define SMALL_MODEL "\"dim\": 16, \"layers\": 1, \"heads\": 2, \"ffn\": 32, \"max_len\": 16, " \
    "\"features\": [{\"kind\": \"norm\", \"buckets\": 128, \"dim\": 8}]"

static const char OLD_MODEL_SQL[] =
    "SELECT count(*) FROM attn_train('m', 'classify', 'SELECT text, label FROM tr', "
    "'{" SMALL_MODEL ", \"epochs\": 1, \"seed\": 7}')";
static const char LONG_TRAIN_SQL[] =
    "SELECT epoch FROM attn_train('m', 'classify', 'SELECT text, label FROM tr', "
    "'{" SMALL_MODEL ", \"epochs\": 100000, \"seed\": 8}')";
static const char BIG_MODEL_SQL[] =
    "SELECT count(*) FROM attn_train('big', 'classify', 'SELECT text, label FROM tr LIMIT 8', "
    "'{\"dim\": 16, \"layers\": 1, \"heads\": 2, \"ffn\": 32, \"max_len\": 16, \"epochs\": 1, "
    "\"features\": [{\"kind\": \"norm\", \"buckets\": 200000, \"dim\": 16}]}')";

static sqlite3 *open_db(void) {
    sqlite3 *db;
    char *msg = NULL;
    if (sqlite3_open(g_db, &db) != SQLITE_OK || sqlite3_enable_load_extension(db, 1) != SQLITE_OK ||
        sqlite3_load_extension(db, g_ext, "sqlite3_attnext_init", &msg) != SQLITE_OK) {
        fprintf(stderr, "interrupt_train: %s\n", msg ? msg : sqlite3_errmsg(db));
        exit(2);
    }
    sqlite3_busy_timeout(db, 10000);
    return db;
}

static int exec(sqlite3 *db, const char *sql) {
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) fprintf(stderr, "interrupt_train: %s: %s\n", sql, msg);
    sqlite3_free(msg);
    return rc;
}

/* The first column of the first row of sql as a malloc'd text ("" when NULL, "ERROR: ..."). */
static char *query_text(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st;
    char *out;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return strdup("ERROR prepare");
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(st, 0);
        out = strdup(s ? s : "");
    } else {
        out = malloc(strlen(sqlite3_errmsg(db)) + 8);
        sprintf(out, "ERROR %s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return out;
}

static const char SNAPSHOT_SQL[] =
    "SELECT group_concat(key || ':' || dtype || ':' || shape || ':' || hex(data), '|') "
    "FROM (SELECT * FROM attn_model WHERE name = 'm' ORDER BY key)";

/* The old model's answers (it loads and answers as before) and the models present. */
static const char ANSWERS_SQL[] =
    "SELECT group_concat(attn_classify_scores(text, 'm'), ' ') FROM "
    "(SELECT text FROM tr WHERE rowid IN (1, 2, 77) UNION ALL SELECT '')";
static const char STRAY_SQL[] =
    "SELECT count(*) FROM attn_model WHERE name NOT IN ('m', 'big')";
static char *g_old_answers;

static void check_intact(sqlite3 *db, const char *old, const char *when) {
    char *answers = query_text(db, ANSWERS_SQL);
    CHECK(strcmp(answers, g_old_answers) == 0, "%s: answers of 'm' changed: %s", when, answers);
    free(answers);
    char *stray = query_text(db, STRAY_SQL);
    CHECK(strcmp(stray, "0") == 0, "%s: %s rows of other models", when, stray);
    free(stray);
    char *ok = query_text(db, "PRAGMA integrity_check");
    CHECK(strcmp(ok, "ok") == 0, "%s: integrity_check: %s", when, ok);
    free(ok);
    char *now = query_text(db, SNAPSHOT_SQL);
    CHECK(strcmp(now, old) == 0, "%s: model 'm' changed (%zu vs %zu bytes of snapshot)", when,
          strlen(now), strlen(old));
    free(now);
}

/* ---- 2, 3: sqlite3_interrupt from another thread ---------------------------------------- */

typedef struct run {
    sqlite3 *db;
    const char *sql;            /* LONG_TRAIN_SQL when NULL */
    atomic_int rows;            /* epoch rows seen */
    atomic_int marked;          /* rows whose first column is 1 */
    int rc;
    char msg[512];
} run;

static void *train_thread(void *p) {
    run *r = p;
    sqlite3_stmt *st;
    r->rc = sqlite3_prepare_v2(r->db, r->sql ? r->sql : LONG_TRAIN_SQL, -1, &st, NULL);
    while (r->rc == SQLITE_OK && (r->rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_int(st, 0) == 1) atomic_fetch_add(&r->marked, 1);
        atomic_fetch_add(&r->rows, 1);
        r->rc = SQLITE_OK;
    }
    snprintf(r->msg, sizeof r->msg, "%s", sqlite3_errmsg(r->db));
    sqlite3_finalize(st);
    return NULL;
}

static void interrupt_case(const char *old, int in_transaction) {
    const char *when = in_transaction ? "interrupt in a transaction" : "interrupt";
    sqlite3 *db = open_db();
    if (in_transaction) exec(db, "BEGIN; INSERT INTO tr VALUES ('extra row', 'pos');");
    run r = {.db = db};
    pthread_t tid;
    pthread_create(&tid, NULL, train_thread, &r);
    while (atomic_load(&r.rows) < 1 && r.rc == SQLITE_OK) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    sqlite3_interrupt(db);
    pthread_join(tid, NULL);
    CHECK(r.rc == SQLITE_INTERRUPT, "%s: step gave %d (%s)", when, r.rc, r.msg);
    CHECK(strstr(r.msg, "interrupted") && strstr(r.msg, "'m' not written"), "%s: message '%s'",
          when, r.msg);
    CHECK(atomic_load(&r.rows) >= 1, "%s: no epoch row before the interrupt", when);
    if (in_transaction) {
        char *n = query_text(db, "SELECT count(*) FROM tr");
        CHECK(strcmp(n, "201") == 0, "%s: the transaction's own change is there: %s", when, n);
        free(n);
        exec(db, "ROLLBACK");
    }
    check_intact(db, old, when);
    sqlite3_close(db);
    sqlite3 *fresh = open_db();
    check_intact(fresh, old, when);
    sqlite3_close(fresh);
}

/* ---- 6: an interrupted pretraining keeps its last checkpoint ------------------------------- */

#define PRETRAIN_OPTS "'{\"dim\": 16, \"layers\": 1, \"heads\": 2, \"ffn\": 32, " \
    "\"max_len\": 16, \"batch_size\": 4, \"tokens\": 1e9, \"report_seconds\": 0.05, " \
    "\"checkpoint_seconds\": 1, \"pool_tokens\": 500, \"dev_examples\": 5, \"dev_share\": 0.05, " \
    "\"features\": [{\"kind\": \"norm\", \"buckets\": 128, \"dim\": 8}]"

static void pretrain_case(void) {
    char path[600], sql[1400];
    snprintf(path, sizeof path, "%s.txt", g_db);
    FILE *f = fopen(path, "w");
    for (int i = 0; f && i < 2000; i++)
        fprintf(f, "Shares of Acme Corp rose in New York after John Smith spoke %d\n", i);
    if (f) fclose(f);
    snprintf(sql, sizeof sql, "SELECT best FROM attn_train('p', 'rtd', json_array('%s'), "
             PRETRAIN_OPTS "}')", path);
    sqlite3 *db = open_db();
    run r = {.db = db, .sql = sql};
    pthread_t tid;
    pthread_create(&tid, NULL, train_thread, &r);
    while (atomic_load(&r.marked) < 1 && r.rc == SQLITE_OK) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    sqlite3_interrupt(db);
    pthread_join(tid, NULL);
    CHECK(r.rc == SQLITE_INTERRUPT, "pretrain: step gave %d (%s)", r.rc, r.msg);
    long long step = -1;
    const char *kept = strstr(r.msg, "the checkpoint of step ");
    CHECK(kept && sscanf(kept, "the checkpoint of step %lld", &step) == 1 && step > 0 &&
          strstr(r.msg, "is kept in 'p'"), "pretrain: message '%s'", r.msg);
    char *ok = query_text(db, "PRAGMA integrity_check");
    CHECK(strcmp(ok, "ok") == 0, "pretrain: integrity_check: %s", ok);
    free(ok);
    sqlite3_close(db);
    db = open_db();
    char *loads = query_text(db, "SELECT params > 0 AND task = 'rtd' FROM attn_models "
                                 "WHERE name = 'p'");
    CHECK(strcmp(loads, "1") == 0, "pretrain: the checkpoint does not load: %s", loads);
    free(loads);
    char *at = query_text(db, "SELECT json_extract(CAST(data AS TEXT), '$.meta.training."
                              "pretrain.step') FROM attn_model WHERE name = 'p' AND key = 'config'");
    CHECK(atoll(at) == step, "pretrain: the checkpoint says step %s, the message %lld", at, step);
    free(at);
    snprintf(sql, sizeof sql, "SELECT max(step) FROM attn_train('p', 'rtd', json_array('%s'), "
             PRETRAIN_OPTS ", \"steps\": 3}')", path);
    char *next = query_text(db, sql);
    CHECK(atoll(next) == step + 3, "pretrain: the next call ended at step %s, expected %lld",
          next, step + 3);
    free(next);
    sqlite3_close(db);
    unlink(path);
}

/* ---- 4, 5: SIGKILL ------------------------------------------------------------------------ */

/* Child: runs sql (repeat times, or until killed), writing one byte to fd per result row. */
static void child_run(int fd, const char *sql, int repeat) {
    sqlite3 *db = open_db();
    for (int i = 0; i < repeat; i++) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) _exit(3);
        while (sqlite3_step(st) == SQLITE_ROW)
            if (write(fd, "r", 1) != 1) _exit(4);
        sqlite3_finalize(st);
    }
    _exit(0);
}

static void kill_case(const char *old, const char *sql, int repeat, int rows_before_kill,
                      const char *when) {
    int fds[2];
    if (pipe(fds) != 0) exit(2);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        child_run(fds[1], sql, repeat);
    }
    close(fds[1]);
    char c;
    int seen = 0;
    while (seen < rows_before_kill && read(fds[0], &c, 1) == 1) seen++;
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    close(fds[0]);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "%s: child not killed (status %d)",
          when, status);
    CHECK(seen == rows_before_kill, "%s: child gave %d rows", when, seen);
    sqlite3 *db = open_db();
    check_intact(db, old, when);
    char *big = query_text(db, "SELECT coalesce((SELECT params > 0 FROM attn_models "
                               "WHERE name = 'big'), 1)");
    CHECK(strcmp(big, "1") == 0, "%s: model 'big' is damaged: %s", when, big);
    free(big);
    char *loads = query_text(db, "SELECT CASE WHEN EXISTS (SELECT 1 FROM attn_model WHERE name "
                                 "= 'big') THEN attn_classify('good', 'big') IS NOT NULL "
                                 "ELSE 1 END");
    CHECK(strcmp(loads, "1") == 0, "%s: model 'big' does not load: %s", when, loads);
    free(loads);
    sqlite3_close(db);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: interrupt_train EXTENSION DB\n");
        return 2;
    }
    g_ext = argv[1];
    g_db = argv[2];
    sqlite3 *db = open_db();
    if (exec(db, TRAIN_ROWS_SQL) ||
        exec(db, OLD_MODEL_SQL))
        return 2;
    char *old = query_text(db, SNAPSHOT_SQL);
    g_old_answers = query_text(db, ANSWERS_SQL);
    sqlite3_close(db);
    CHECK(strncmp(g_old_answers, "{", 1) == 0, "old model's answers: %s", g_old_answers);
    CHECK(strlen(old) > 1000, "old model snapshot too short: %s", old);

    interrupt_case(old, 0);
    interrupt_case(old, 1);
    kill_case(old, LONG_TRAIN_SQL, 1, 2, "SIGKILL mid-training");
    kill_case(old, BIG_MODEL_SQL, 1000, 3, "SIGKILL around model writes");
    pretrain_case();
    free(old);
    free(g_old_answers);
    printf("interrupt_train: %d passed, %d failed\n", g_passed, g_failed);
    return g_failed != 0;
}
