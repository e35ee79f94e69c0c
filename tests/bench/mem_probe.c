/* mem_probe: memory and first-call time of the real extension, in a fresh process (run.sh
 * runs it several times and takes medians).
 *
 *   mem_probe SO model NAME     loads SO into a :memory: connection, then runs the first query
 *                               on built-in NAME (attn_classify / attn_entities /
 *                               attn_relations on the text 'x', by the model's task)
 *   mem_probe SO text DATA MB   peak memory of attn_entities (en-ner) on one text of MB
 *                               megabytes (sst2_train sentences of DATA repeated)
 * Prints one line "key=value ...": RSS figures in KiB from /proc/self/status (rss = VmRSS,
 * hwm = VmHWM, the peak), times in ms (first_cpu_ms: the process's CPU time during the first
 * query), params = the model's parameter count (attn_models). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"      /* attn_now_seconds */

#define MAX_TEXT_MB 1024

/* CPU time of the process, user + system (page faults included): what a call costs whatever
 * else the machine runs, where wall time also counts the waits for a core. */
static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static double now_ms(void) { return 1e3 * attn_now_seconds(); }

/* VmRSS / VmHWM of this process in KiB (-1 if unreadable). */
static long status_kb(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') kb = strtol(line + n + 1, NULL, 10);
    if (f) fclose(f);
    return kb;
}

/* Runs sql (binding text to ?1 when non-NULL), stepping every row; 0 on success. */
static int run(sqlite3 *db, const char *sql, const char *text, size_t n, long long *first) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && text) sqlite3_bind_text64(st, 1, text, n, SQLITE_STATIC, SQLITE_UTF8);
    if (rc == SQLITE_OK)
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            if (first) *first = sqlite3_column_int64(st, 0);
    rc = rc == SQLITE_DONE ? 0 : 1;
    if (rc) fprintf(stderr, "mem_probe: %s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}

static sqlite3 *open_with_extension(const char *so) {
    sqlite3 *db = NULL;
    char *msg = NULL;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
        sqlite3_enable_load_extension(db, 1) != SQLITE_OK ||
        sqlite3_load_extension(db, so, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "mem_probe: load %s: %s\n", so, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* The first query on a model, by its name's task. */
static const char *first_query(const char *name) {
    if (!strcmp(name, "en-ner")) return "SELECT count(*) FROM attn_entities('x', 'en-ner')";
    if (!strcmp(name, "zh-ner")) return "SELECT count(*) FROM attn_entities('x', 'zh-ner')";
    if (!strcmp(name, "en-rel")) return "SELECT count(*) FROM attn_relations('x', 'en-rel')";
    return NULL;   /* classify */
}

static int probe_model(const char *so, const char *name) {
    long base_kb = status_kb("VmRSS");
    sqlite3 *db = open_with_extension(so);
    if (!db) return 1;
    long ext_kb = status_kb("VmRSS");
    char sql[256];
    const char *q = first_query(name);
    if (!q) {
        snprintf(sql, sizeof sql, "SELECT attn_classify('x', '%s')", name);
        q = sql;
    }
    double c0 = cpu_ms(), t0 = now_ms();
    int rc = run(db, q, NULL, 0, NULL);
    double first_ms = now_ms() - t0, first_cpu_ms = cpu_ms() - c0;
    t0 = now_ms();
    rc |= run(db, q, NULL, 0, NULL);
    double second_ms = now_ms() - t0;
    long rss_kb = status_kb("VmRSS"), hwm_kb = status_kb("VmHWM");
    long long params = 0;
    char psql[256];
    snprintf(psql, sizeof psql, "SELECT params FROM attn_models WHERE name = '%s'", name);
    rc |= run(db, psql, NULL, 0, &params);
    if (rc == 0)
        printf("model=%s base_kb=%ld ext_kb=%ld rss_kb=%ld hwm_kb=%ld first_ms=%.2f "
               "first_cpu_ms=%.2f second_ms=%.2f params=%lld\n", name, base_kb, ext_kb, rss_kb,
               hwm_kb, first_ms, first_cpu_ms, second_ms, params);
    sqlite3_close(db);
    return rc;
}

/* MB megabytes of sst2_train sentences, space-separated, repeated. */
static char *make_text(const char *data, size_t n_bytes) {
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *text = malloc(n_bytes + 1);
    size_t len = 0;
    int ok = text && sqlite3_open_v2(data, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
             sqlite3_prepare_v2(db, "SELECT text FROM sst2_train", -1, &st, NULL) == SQLITE_OK;
    while (ok && len < n_bytes) {
        int r = sqlite3_step(st);
        if (r == SQLITE_DONE) { sqlite3_reset(st); continue; }
        ok = r == SQLITE_ROW;
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        if (!ok || n == 0) continue;
        if (n + 1 > n_bytes - len) n = n_bytes - len - 1 > 0 ? n_bytes - len - 1 : 0;
        memcpy(text + len, sqlite3_column_text(st, 0), n);
        len += n;
        if (len < n_bytes) text[len++] = ' ';
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (!ok) { fprintf(stderr, "mem_probe: cannot read sst2_train from %s\n", data); free(text); return NULL; }
    text[len] = '\0';
    return text;
}

static int probe_text(const char *so, const char *data, int mb) {
    size_t n = (size_t)mb * 1000 * 1000;
    char *text = make_text(data, n);
    sqlite3 *db = text ? open_with_extension(so) : NULL;
    if (!db) { free(text); return 1; }
    int rc = run(db, "SELECT count(*) FROM attn_entities('x')", NULL, 0, NULL);
    long before_kb = status_kb("VmHWM");
    long long ents = 0;
    double t0 = now_ms();
    rc |= run(db, "SELECT count(*) FROM attn_entities(?1)", text, strlen(text), &ents);
    double ms = now_ms() - t0;
    if (rc == 0)
        printf("text_mb=%d hwm_before_kb=%ld hwm_after_kb=%ld entities=%lld ms=%.0f\n", mb,
               before_kb, status_kb("VmHWM"), ents, ms);
    sqlite3_close(db);
    free(text);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[2], "model")) return probe_model(argv[1], argv[3]);
    if (argc == 5 && !strcmp(argv[2], "text")) {
        int mb = atoi(argv[4]);
        if (mb >= 1 && mb <= MAX_TEXT_MB) return probe_text(argv[1], argv[3], mb);
    }
    fprintf(stderr, "usage: mem_probe SO model NAME | mem_probe SO text DATA.db MB\n");
    return 2;
}
