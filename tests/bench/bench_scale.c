/* bench_scale: the bulk path over millions of rows in one statement (make bench-scale).
 *
 *   bench_scale DB EXT gen N DATA_DIR     make docs(id, body, label) with N rows in DB
 *   bench_scale DB EXT classify N         attn_classify_each over docs' first N rows
 *   bench_scale DB EXT entities N         attn_entities_each over docs' first N rows
 *   bench_scale DB EXT forms N            the forms users write, timed on N rows
 *   bench_scale DB EXT interrupt N SECS   sqlite3_interrupt of an INSERT ... SELECT over N
 *                                         rows after SECS seconds: latency, database intact
 *
 * gen draws sentences from SST-2 (all splits) and CoNLL-2003 train, each prefixed by one of 8
 * phrases chosen by the pass over them, so rows repeat only after 8 passes (~190k rows).
 * classify/entities print one line: rows, seconds, rows/s, peak RSS (getrusage, this process,
 * one run per process), CPU use (user+system over wall time, 100% = one core) and the check of
 * the answers against the scalar functions on every 9973rd row, computed in the same
 * statement. Exit status 1 on any error or mismatch. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define SAMPLE_EVERY 9973

static sqlite3 *db;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* bench_tick(): counts the rows of the running statement and prints, every TICK_ROWS, the
 * rows so far, their rate and the peak RSS so far (so a long run shows RSS as it goes). */
#define TICK_ROWS 500000
static sqlite3_int64 g_ticks;
static double g_t0;
static double peak_rss_mb(void);
static void bench_tick(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc, (void)argv;
    if (++g_ticks % TICK_ROWS == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 - g_t0;
        fprintf(stderr, "  ... %lld rows, %.0f s, %.0f rows/s, peak RSS so far %.1f MB\n",
                (long long)g_ticks, t, (double)g_ticks / t, peak_rss_mb());
    }
    sqlite3_result_int(ctx, 1);
}

static void die(const char *what) {
    fprintf(stderr, "bench_scale: %s: %s\n", what, sqlite3_errmsg(db));
    exit(1);
}

static void exec(const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "bench_scale: %s\n  in: %.200s\n", msg, sql);
        exit(1);
    }
}

/* The first row of sql as integers (up to n columns). */
static void query_ints(const char *sql, sqlite3_int64 *out, int n) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) die(sql);
    if (sqlite3_step(st) != SQLITE_ROW) die(sql);
    for (int i = 0; i < n; i++) out[i] = sqlite3_column_int64(st, i);
    sqlite3_finalize(st);
}

static void gen(sqlite3_int64 n, const char *data) {
    char sql[4096], path[1024];
    exec("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
         "DROP TABLE IF EXISTS docs; DROP TABLE IF EXISTS labels;"
         "CREATE TEMP TABLE src(text TEXT NOT NULL)");
    sqlite3_stmt *ins;
    if (sqlite3_prepare_v2(db, "INSERT INTO src(text) VALUES (?1)", -1, &ins, NULL)) die("prepare");
    exec("BEGIN");
    static const char *const splits[] = {"train", "dev", "test"};
    for (int s = 0; s < 3; s++) {
        snprintf(path, sizeof path, "%s/sst2/%s.tsv", data, splits[s]);
        FILE *f = fopen(path, "r");
        if (!f) { perror(path); exit(1); }
        char line[8192];
        while (fgets(line, sizeof line, f)) {
            char *tab = strchr(line, '\t');
            if (!tab) continue;
            line[strcspn(line, "\r\n")] = 0;
            sqlite3_bind_text(ins, 1, tab + 1, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(ins) != SQLITE_DONE) die("insert");
            sqlite3_reset(ins);
        }
        fclose(f);
    }
    sqlite3_finalize(ins);
    snprintf(sql, sizeof sql,
             "INSERT INTO src(text) SELECT text FROM attn_conll('%s/conll2003/train.txt') "
             "WHERE length(text) > 20", data);
    exec(sql);
    exec("COMMIT");
    snprintf(sql, sizeof sql,
             "CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT NOT NULL, label TEXT);"
             "CREATE TEMP TABLE prefix(i INTEGER PRIMARY KEY, p TEXT);"
             "INSERT INTO prefix VALUES (0, ''), (1, 'Honestly, '), (2, 'In short: '),"
             " (3, 'Reportedly, '), (4, 'Yesterday '), (5, 'Note: '), (6, 'Again, '), (7, 'Update: ');"
             "WITH RECURSIVE k(n) AS (SELECT count(*) FROM src),"
             " i(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM i WHERE id < %lld)"
             "INSERT INTO docs(id, body) SELECT id,"
             " (SELECT p FROM prefix WHERE prefix.i = ((id - 1) / k.n) %% 8) ||"
             " (SELECT text FROM src WHERE src.rowid = 1 + (id - 1) %% k.n) FROM i, k",
             (long long)n);
    double t0 = now_s();
    exec(sql);
    sqlite3_int64 c[2];
    query_ints("SELECT count(*), (SELECT count(*) FROM src) FROM docs", c, 2);
    printf("gen: %lld rows from %lld sentences in %.1f s\n", (long long)c[0], (long long)c[1], now_s() - t0);
}

static int run_bulk(const char *task, sqlite3_int64 n) {
    char sql[2048];
    if (!strcmp(task, "classify")) {
        /* every 9973rd row: the bulk label against the scalar function's, in the same statement */
        snprintf(sql, sizeof sql,
                 "SELECT sum(bench_tick()), sum(e.id %% %d = 0),"
                 " sum(CASE WHEN e.id %% %d = 0 THEN e.label IS NOT"
                 "  attn_classify((SELECT body FROM docs WHERE id = e.id)) ELSE 0 END)"
                 " FROM attn_classify_each('SELECT id, body FROM docs WHERE id <= %lld') e",
                 SAMPLE_EVERY, SAMPLE_EVERY, (long long)n);
    } else {
        /* the sampled rows' entities as a checksum, compared after with the scalar's */
        snprintf(sql, sizeof sql,
                 "SELECT sum(bench_tick()), sum(e.id %% %d = 0),"
                 " total(CASE WHEN e.id %% %d = 0 THEN e.start * 131 + e.\"end\" * 7 + length(e.label) END)"
                 " FROM attn_entities_each('SELECT id, body FROM docs WHERE id <= %lld') e",
                 SAMPLE_EVERY, SAMPLE_EVERY, (long long)n);
    }
    double rss0 = peak_rss_mb(), c0 = cpu_s(), t0 = now_s();
    g_t0 = t0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) die("prepare");
    if (sqlite3_step(st) != SQLITE_ROW) die(task);
    double t = now_s() - t0, cpu = cpu_s() - c0;
    sqlite3_int64 rows = sqlite3_column_int64(st, 0), sampled = sqlite3_column_int64(st, 1);
    double check = sqlite3_column_double(st, 2);
    sqlite3_finalize(st);
    double rss = peak_rss_mb();
    int bad;
    if (!strcmp(task, "classify")) {
        bad = check != 0;
        printf("classify_each %9lld docs: %7.1f s %8.0f rows/s  peak RSS %6.1f MB (before the "
               "statement %5.1f)  CPU %4.0f%%  sample %lld rows: %s\n",
               (long long)n, t, (double)rows / t, rss, rss0, 100 * cpu / t, (long long)sampled,
               bad ? "MISMATCH with attn_classify" : "= attn_classify");
    } else {
        snprintf(sql, sizeof sql,
                 "SELECT count(*), total(e.start * 131 + e.\"end\" * 7 + length(e.label))"
                 " FROM docs d, attn_entities(d.body) e WHERE d.id <= %lld AND d.id %% %d = 0",
                 (long long)n, SAMPLE_EVERY);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
            die("entities check");
        bad = sqlite3_column_int64(st, 0) != sampled || sqlite3_column_double(st, 1) != check;
        sqlite3_finalize(st);
        printf("entities_each %9lld docs: %7.1f s %8.0f docs/s (%lld entities)  peak RSS %6.1f MB "
               "(before %5.1f)  CPU %4.0f%%  sample %lld entities: %s\n",
               (long long)n, t, (double)n / t, (long long)rows, rss, rss0, 100 * cpu / t,
               (long long)sampled, bad ? "MISMATCH with attn_entities" : "= attn_entities");
    }
    return bad;
}

static double timed(const char *label, const char *sql) {
    double t0 = now_s();
    exec(sql);
    double t = now_s() - t0;
    printf("  %-78s %6.2f s\n", label, t);
    return t;
}

static int forms(sqlite3_int64 n) {
    char sql[1024], each[256];
    snprintf(each, sizeof each, "attn_classify_each('SELECT id, body FROM docs WHERE id <= %lld')", (long long)n);
    printf("forms on %lld rows (each in its own transaction):\n", (long long)n);
    exec("DROP TABLE IF EXISTS labels; CREATE TABLE labels(id INTEGER PRIMARY KEY, label TEXT);"
         "UPDATE docs SET label = NULL WHERE label IS NOT NULL");
    snprintf(sql, sizeof sql, "INSERT INTO labels(id, label) SELECT id, label FROM %s", each);
    timed("INSERT INTO labels SELECT id, label FROM attn_classify_each(...)", sql);
    snprintf(sql, sizeof sql, "UPDATE docs SET label = e.label FROM %s AS e WHERE docs.id = e.id", each);
    timed("UPDATE docs SET label = e.label FROM attn_classify_each(...) AS e WHERE docs.id = e.id", sql);
    sqlite3_int64 diff[1];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM (SELECT id, label FROM docs WHERE id <= %lld EXCEPT SELECT id, label FROM labels)",
             (long long)n);
    query_ints(sql, diff, 1);
    printf("    (rows where UPDATE ... FROM differs from the INSERT: %lld)\n", (long long)diff[0]);
    exec("UPDATE docs SET label = NULL WHERE label IS NOT NULL");
    snprintf(sql, sizeof sql,
             "UPDATE docs SET label = (SELECT label FROM labels WHERE labels.id = docs.id) WHERE id <= %lld",
             (long long)n);
    timed("  then UPDATE docs SET label = (SELECT label FROM labels WHERE labels.id = docs.id)", sql);
    exec("UPDATE docs SET label = NULL WHERE label IS NOT NULL");
    snprintf(sql, sizeof sql, "UPDATE docs SET label = attn_classify(body) WHERE id <= %lld", (long long)n);
    timed("UPDATE docs SET label = attn_classify(body)   (scalar: one thread)", sql);
    query_ints("SELECT count(*) FROM (SELECT id, label FROM docs WHERE label IS NOT NULL EXCEPT SELECT id, label FROM labels)",
               diff + 0, 1);
    printf("    (rows where the scalar UPDATE differs from the bulk INSERT: %lld)\n", (long long)diff[0]);
    exec("UPDATE docs SET label = NULL WHERE label IS NOT NULL; DROP TABLE labels");
    return diff[0] != 0;
}

static double g_interrupt_at;
static unsigned g_after_ms;
static void *interrupter(void *arg) {
    (void)arg;
    usleep(g_after_ms * 1000u);
    g_interrupt_at = now_s();
    sqlite3_interrupt(db);
    return NULL;
}

static int interrupt_run(sqlite3_int64 n, double secs) {
    char sql[512];
    exec("DROP TABLE IF EXISTS labels; CREATE TABLE labels(id INTEGER PRIMARY KEY, label TEXT)");
    sqlite3_int64 before[2];
    query_ints("SELECT count(*), total(length(body)) FROM docs", before, 2);
    snprintf(sql, sizeof sql,
             "INSERT INTO labels(id, label) SELECT id, label FROM "
             "attn_classify_each('SELECT id, body FROM docs WHERE id <= %lld')", (long long)n);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) die("prepare");
    g_after_ms = (unsigned)(secs * 1000);
    pthread_t th;
    pthread_create(&th, NULL, interrupter, NULL);
    double t0 = now_s();
    int rc = sqlite3_step(st);
    double t1 = now_s();
    pthread_join(th, NULL);
    sqlite3_finalize(st);
    sqlite3_int64 after[3];
    query_ints("SELECT count(*), total(length(body)), (SELECT count(*) FROM labels) FROM docs", after, 3);
    char *check = NULL;
    sqlite3_stmt *qc;
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &qc, NULL) == SQLITE_OK && sqlite3_step(qc) == SQLITE_ROW)
        check = sqlite3_mprintf("%s", sqlite3_column_text(qc, 0));
    sqlite3_finalize(qc);
    int intact = after[0] == before[0] && after[1] == before[1] && after[2] == 0 && check && !strcmp(check, "ok");
    printf("interrupt: INSERT INTO labels SELECT ... attn_classify_each over %lld rows, interrupted after "
           "%.2f s: step returned %s %.0f ms after sqlite3_interrupt; docs unchanged, labels empty, "
           "quick_check %s: %s\n",
           (long long)n, g_interrupt_at - t0, rc == SQLITE_INTERRUPT ? "SQLITE_INTERRUPT" : sqlite3_errstr(rc),
           (t1 - g_interrupt_at) * 1000, check ? check : "?", intact ? "intact" : "NOT INTACT");
    sqlite3_free(check);
    exec("DROP TABLE labels");
    return !(rc == SQLITE_INTERRUPT && intact && t1 - g_interrupt_at < 1.0);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: bench_scale DB EXT gen|classify|entities|forms|interrupt N [DATA_DIR|SECS]\n");
        return 2;
    }
    const char *path = argv[1], *ext = argv[2], *mode = argv[3];
    sqlite3_int64 n = atoll(argv[4]);
    char *msg = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK || sqlite3_enable_load_extension(db, 1) != SQLITE_OK ||
        sqlite3_load_extension(db, ext, "sqlite3_attnext_init", &msg) != SQLITE_OK) {
        fprintf(stderr, "bench_scale: %s: %s\n", ext, msg ? msg : sqlite3_errmsg(db));
        return 1;
    }
    sqlite3_create_function(db, "bench_tick", 0, SQLITE_UTF8, NULL, bench_tick, NULL, NULL);
    int bad = 0;
    if (!strcmp(mode, "gen") && argc == 6) gen(n, argv[5]);
    else if (!strcmp(mode, "classify") || !strcmp(mode, "entities")) bad = run_bulk(mode, n);
    else if (!strcmp(mode, "forms")) bad = forms(n);
    else if (!strcmp(mode, "interrupt") && argc == 6) bad = interrupt_run(n, atof(argv[5]));
    else { fprintf(stderr, "bench_scale: unknown mode %s\n", mode); return 2; }
    fflush(stdout);
    sqlite3_close(db);
    return bad;
}
