/* sql_threads: many threads, each with its own connection, use the same models at once.
 *
 *   sql_threads EXTENSION DB [THREADS] [ROUNDS]
 *
 * The main thread first computes reference answers on a connection of its own; then every
 * thread opens a connection, loads the extension and checks, ROUNDS times, that each text
 * gets exactly the reference answer (the models are shared read-only through the process-wide
 * cache, the sessions are per connection). While the workers run, the main connection keeps
 * its models loaded, so `models: N loaded` must stay N: the threads share copies instead of
 * loading their own. Thread 0 is an editor instead: it renames a label of model 'pos' back and
 * forth and checks its own next statement sees each edit, so every other connection keeps
 * revalidating its models (re-hashing rows that did not change) while it works. Prints "sql_threads: N passed, N failed"; exit status 1 on failure.
 * Built for ThreadSanitizer as well (no data race may be reported). */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_THREADS 64

static const char *const QUERIES[] = {
    "SELECT attn_classify_scores(?1, 'tiny')",
    "SELECT attn_classify(?1, 'every')",
    "SELECT group_concat(start || ':' || \"end\" || ':' || label, ' ') FROM attn_entities(?1, 'tiny')",
    "SELECT group_concat(head || '>' || relation || '>' || tail, ' ') FROM attn_relations(?1, 'every')",
};
#define N_QUERIES (int)(sizeof QUERIES / sizeof QUERIES[0])

static const char *const TEXTS[] = {
    "John Smith works for Acme Corp. in New York.",
    "Marie Curie was born in Warsaw and worked in Paris.",
    "Ünïcödé naïve café, emoji 🎉 and 日本語のテキスト.",
    "",
    ("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
     "sixteen seventeen eighteen nineteen twenty"),
};
#define N_TEXTS (int)(sizeof TEXTS / sizeof TEXTS[0])

static const char *g_ext, *g_db;
static int g_rounds;
static char *g_reference[N_QUERIES][N_TEXTS];

typedef struct worker { pthread_t tid; int passed, failed, is_editor; } worker;

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
    sqlite3_busy_timeout(db, 10000);
    return db;
}

/* The answer of query q on text t (malloc'd), or an "error: ..." text. */
static char *answer(sqlite3 *db, int q, int t) {
    sqlite3_stmt *st;
    char *out;
    if (sqlite3_prepare_v2(db, QUERIES[q], -1, &st, NULL) != SQLITE_OK)
        return strdup(sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, TEXTS[t], -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(st, 0);
        out = strdup(s ? s : "(null)");
    } else {
        size_t n = strlen(sqlite3_errmsg(db)) + 8;
        out = malloc(n);
        snprintf(out, n, "error: %s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return out;
}

/* Renames the label 'positive' of model 'pos' to 'glad' and back, g_rounds * 4 times. */
static void edit(sqlite3 *db, worker *w) {
    const char *names[2] = {"positive", "glad"};
    sqlite3_stmt *up, *check;
    if (sqlite3_prepare_v2(db, "UPDATE attn_model SET data = replace(data, '\"' || ?1 || '\"', "
                               "'\"' || ?2 || '\"') WHERE name = 'pos' AND key = 'config'",
                           -1, &up, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT attn_classify('x', 'pos')", -1, &check, NULL) != SQLITE_OK) {
        fprintf(stderr, "editor: %s\n", sqlite3_errmsg(db));
        w->failed++;
        return;
    }
    for (int i = 0; i < g_rounds * 4; i++) {
        const char *from = names[i % 2], *to = names[(i + 1) % 2];
        sqlite3_bind_text(up, 1, from, -1, SQLITE_STATIC);
        sqlite3_bind_text(up, 2, to, -1, SQLITE_STATIC);
        int rc = sqlite3_step(up);
        sqlite3_reset(up);
        const char *got = sqlite3_step(check) == SQLITE_ROW
                        ? (const char *)sqlite3_column_text(check, 0) : sqlite3_errmsg(db);
        if (rc == SQLITE_DONE && got && strcmp(got, to) == 0) w->passed++;
        else {
            w->failed++;
            fprintf(stderr, "editor: step %d: update rc %d, label '%s', expected '%s'\n", i, rc,
                    got ? got : "(null)", to);
        }
        sqlite3_reset(check);
    }
    sqlite3_finalize(up);
    sqlite3_finalize(check);
}

static void *work(void *arg) {
    worker *w = arg;
    sqlite3 *db = open_with_extension();
    if (!db) { w->failed++; return NULL; }
    if (w->is_editor) {
        edit(db, w);
        sqlite3_close(db);
        return NULL;
    }
    for (int r = 0; r < g_rounds; r++) {
        for (int q = 0; q < N_QUERIES; q++) {
            for (int t = 0; t < N_TEXTS; t++) {
                char *a = answer(db, q, t);
                if (strcmp(a, g_reference[q][t]) == 0) w->passed++;
                else {
                    w->failed++;
                    fprintf(stderr, "mismatch: query %d text %d: got '%s', expected '%s'\n", q, t,
                            a, g_reference[q][t]);
                }
                free(a);
            }
        }
    }
    sqlite3_close(db);
    return NULL;
}

static int loaded_models(sqlite3 *db) {
    sqlite3_stmt *st;
    int n = -1;
    if (sqlite3_prepare_v2(db, "SELECT attn_debug()", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const char *s = strstr((const char *)sqlite3_column_text(st, 0), "models: ");
        if (s) n = atoi(s + 8);
    }
    sqlite3_finalize(st);
    return n;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: sql_threads EXTENSION DB [THREADS] [ROUNDS]\n");
        return 1;
    }
    g_ext = argv[1];
    g_db = argv[2];
    int n_threads = argc > 3 ? atoi(argv[3]) : 4;
    g_rounds = argc > 4 ? atoi(argv[4]) : 3;
    if (n_threads < 1 || n_threads > MAX_THREADS) n_threads = 4;
    sqlite3 *db = open_with_extension();
    if (!db) return 1;
    int passed = 0, failed = 0;
    for (int q = 0; q < N_QUERIES; q++)
        for (int t = 0; t < N_TEXTS; t++) {
            g_reference[q][t] = answer(db, q, t);
            if (strncmp(g_reference[q][t], "error", 5) == 0) {
                fprintf(stderr, "reference %d/%d: %s\n", q, t, g_reference[q][t]);
                failed++;
            }
        }
    int before = loaded_models(db);
    worker workers[MAX_THREADS] = {{0}};
    workers[0].is_editor = n_threads > 1;
    for (int i = 0; i < n_threads; i++) pthread_create(&workers[i].tid, NULL, work, &workers[i]);
    for (int i = 0; i < n_threads; i++) {
        pthread_join(workers[i].tid, NULL);
        passed += workers[i].passed;
        failed += workers[i].failed;
    }
    int after = loaded_models(db);
    if (before == 2 && after == 2) passed++;
    else {
        failed++;
        fprintf(stderr, "models loaded: %d before the threads, %d after (expected 2, 2)\n",
                before, after);
    }
    sqlite3_close(db);
    for (int q = 0; q < N_QUERIES; q++)
        for (int t = 0; t < N_TEXTS; t++) free(g_reference[q][t]);
    printf("sql_threads: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
