/* fuzz_lookup: model lookup through SQLite (ext/conn.c, vtab_models.c, registry.c) when a
 * database someone else made is attached: attn_model as a table, a view, a table with
 * generated columns or WITHOUT ROWID; rows copied from a built-in and mutated; DETACH and
 * ATTACH again; savepoints rolled back; then the model functions and attn_models.
 *
 * The extension is linked in and registered with sqlite3_auto_extension (it receives SQLite's
 * own API table, as when loaded). Each input is a program of one-byte operations, each taking
 * its operands from the bytes after it (a truncated operand ends the program):
 *   0 create aux.attn_model: [u8 kind] table, view (5 bodies), generated column, WITHOUT ROWID
 *   1 insert a row: [u8 name][u8 key][u8 dtype][u8 shape][u16 n][n bytes of data]
 *   2 copy the rows of a built-in under a name: [u8 built-in][u8 name]
 *   3 overwrite bytes of a copied tensor: [u8 key][u16 offset][u8 n][n bytes]
 *   4 DETACH aux and ATTACH a fresh in-memory database as aux
 *   5 transactions: [u8 op] BEGIN, SAVEPOINT s, ROLLBACK TO s, COMMIT, ROLLBACK
 *   6 a call: [u8 function][u8 name]
 *   7 DROP aux.attn_model (table or view)
 *   8 PRAGMA trusted_schema = [u8 & 1]
 * Invariants (abort when broken): every statement ends (SQLITE_DONE or an error with a
 * message), no call takes more than a few seconds' worth of VM steps (the progress handler
 * stops it), and a model function's answer is a label of the model it names or an error that
 * names the function. */
#include "fuzz_check.h"

#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

int sqlite3_attnext_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);
/* ext.h's view of a built-in (ext.h itself routes SQLite calls through the extension's API
 * pointer, which this harness does not have before the first connection opens). */
typedef struct builtin_model {
    const char *name;
    const unsigned char *start, *end;
} builtin_model;
int builtin_count(void);
const builtin_model *builtin_get(int i);

static const char *const NAMES[] = {"en-sentiment", "en-ner", "en-rel", "x", "y"};
static const char *const KEYS[] = {"config", "cls.w", "cls.b", "pos", "embed.norm",
                                   "embed.proj.w", "final_ln.w", "tag.w", "crf.trans", "zz"};
static const char *const DTYPES[] = {"json", "f32", "f16", "q8", "q4", "f64"};
static const char *const SHAPES[] = {"[]", "[2]", "[2,64]", "[128,32]", "[0]", "[-1]", "x"};
static const char *const VIEWS[] = {
    "SELECT name, 'config', 'json', '[]', config FROM attn_models",
    "SELECT 'x', 'config', 'json', '[]', attn_classify('a')",
    ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
     "SELECT 'en-sentiment', 'config', 'json', '[]', zeroblob(1000000) FROM n"),
    "SELECT name, key, dtype, shape, data FROM main.attn_model",
    "SELECT 'x', 'config', 'json', '[]', (SELECT group_concat(name) FROM attn_models)",
};
static const char *const CALLS[] = {
    "SELECT attn_classify('Ann met Bob in Paris.', ?1)",
    "SELECT attn_classify_scores('Ann met Bob in Paris.', ?1)",
    "SELECT count(*) FROM attn_entities('Ann met Bob in Paris.', ?1)",
    "SELECT count(*) FROM attn_relations('Ann met Bob in Paris.', ?1)",
    "SELECT attn_relation('Ann met Bob in Paris.', 0, 3, 8, 11, ?1)",
    "SELECT count(*), ?1 FROM attn_models",
    "SELECT attn_classify('Ann met Bob in Paris.')",
};
#define PICK(list, b) list[(b) % (sizeof list / sizeof list[0])]

typedef struct prog { const uint8_t *p; size_t n, at; } prog;

static int take(prog *g, size_t k, const uint8_t **out) {
    if (g->n - g->at < k) return 0;
    *out = g->p + g->at;
    g->at += k;
    return 1;
}

/* Runs sql (with ?1 = text when given) to its end; errors are fine, a hang is not. */
static void run(sqlite3 *db, const char *sql, const char *text, const void *blob, int n_blob) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK || !st) return;
    if (text) sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    if (blob) sqlite3_bind_blob(st, 2, blob, n_blob, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {}
    if (rc != SQLITE_DONE) {
        const char *msg = sqlite3_errmsg(db);
        FUZZ_CHECK(msg && *msg, "statement failed without a message: %s", sql);
    }
    sqlite3_finalize(st);
}

/* A statement may run at most this many VM steps (x 1000): a lookup that loops is a finding. */
static int steps;
static int progress(void *user) {
    (void)user;
    FUZZ_CHECK(++steps < 200000, "a statement ran 2e8 VM steps");
    return 0;
}

static void create_table(sqlite3 *db, uint8_t kind) {
    char sql[512];
    switch (kind % 4) {
    case 0:
        run(db, "CREATE TABLE aux.attn_model(name TEXT NOT NULL, key TEXT NOT NULL, dtype TEXT "
                "NOT NULL, shape TEXT NOT NULL, data BLOB, PRIMARY KEY (name, key))", NULL,
            NULL, 0);
        break;
    case 1:
        snprintf(sql, sizeof sql, "CREATE VIEW aux.attn_model(name, key, dtype, shape, data) "
                 "AS %s", PICK(VIEWS, kind / 4));
        run(db, sql, NULL, NULL, 0);
        break;
    case 2:
        run(db, "CREATE TABLE aux.attn_model(name TEXT, key TEXT, dtype TEXT, shape TEXT, "
                "raw BLOB, data BLOB GENERATED ALWAYS AS (zeroblob(1000000)) VIRTUAL)", NULL,
            NULL, 0);
        break;
    default:
        run(db, "CREATE TABLE aux.attn_model(name TEXT, key TEXT, dtype TEXT, shape TEXT, "
                "data BLOB, PRIMARY KEY (name, key)) WITHOUT ROWID", NULL, NULL, 0);
    }
}

static void step_op(sqlite3 *db, prog *g, uint8_t op) {
    const uint8_t *a;
    char sql[256];
    switch (op % 9) {
    case 0:
        if (take(g, 1, &a)) create_table(db, a[0]);
        break;
    case 1: {
        if (!take(g, 6, &a)) break;
        size_t n = (size_t)(a[4] | a[5] << 8);
        if (n > g->n - g->at) n = g->n - g->at;        /* what is left of the input */
        const uint8_t *data;
        if (!take(g, n, &data)) break;
        snprintf(sql, sizeof sql, "INSERT INTO aux.attn_model(name, key, dtype, shape, data) "
                 "VALUES (?1, '%s', '%s', '%s', ?2)", PICK(KEYS, a[1]), PICK(DTYPES, a[2]),
                 PICK(SHAPES, a[3]));
        run(db, sql, PICK(NAMES, a[0]), data, (int)n);
        break;
    }
    case 2:
        if (!take(g, 2, &a)) break;
        snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO aux.attn_model(name, key, dtype, "
                 "shape, data) SELECT ?1, key, dtype, shape, data FROM seeds.seed "
                 "WHERE image = %d", builtin_count() ? a[0] % builtin_count() : 0);
        run(db, sql, PICK(NAMES, a[1]), NULL, 0);
        break;
    case 3: {
        if (!take(g, 4, &a)) break;
        const uint8_t *bytes;
        if (!take(g, a[3], &bytes)) break;
        snprintf(sql, sizeof sql, "UPDATE aux.attn_model SET data = substr(data, 1, %d) || ?2 "
                 "|| substr(data, %d) WHERE key = '%s'", a[1] | a[2] << 8,
                 (a[1] | a[2] << 8) + 1 + a[3], PICK(KEYS, a[0]));
        run(db, sql, NULL, bytes, a[3]);
        break;
    }
    case 4:
        run(db, "DETACH aux", NULL, NULL, 0);
        run(db, "ATTACH ':memory:' AS aux", NULL, NULL, 0);
        break;
    case 5: {
        static const char *const tx[] = {"BEGIN", "SAVEPOINT s", "ROLLBACK TO s", "COMMIT",
                                         "ROLLBACK"};
        if (take(g, 1, &a)) run(db, PICK(tx, a[0]), NULL, NULL, 0);
        break;
    }
    case 6:
        if (take(g, 2, &a)) run(db, PICK(CALLS, a[0]), PICK(NAMES, a[1]), NULL, 0);
        break;
    case 7:
        run(db, "DROP TABLE IF EXISTS aux.attn_model", NULL, NULL, 0);
        run(db, "DROP VIEW IF EXISTS aux.attn_model", NULL, NULL, 0);
        break;
    default:
        if (take(g, 1, &a))
            run(db, a[0] & 1 ? "PRAGMA trusted_schema = ON" : "PRAGMA trusted_schema = OFF",
                NULL, NULL, 0);
    }
}

/* A file holding the rows of every built-in in a table `seed` (not attn_model: lookups do
 * not look there), made once per process; each input attaches it read-only as `seeds`. */
static char seed_path[64];

static void make_seed_file(void) {
    snprintf(seed_path, sizeof seed_path, "/tmp/fuzz_lookup_seed_%d.db", (int)getpid());
    remove(seed_path);
    sqlite3 *db;
    FUZZ_CHECK(sqlite3_open(seed_path, &db) == SQLITE_OK, "open %s", seed_path);
    run(db, "CREATE TABLE seed(image INTEGER, name TEXT, key TEXT, dtype TEXT, shape TEXT, "
            "data BLOB)", NULL, NULL, 0);
    for (int i = 0; i < builtin_count(); i++) {
        const builtin_model *b = builtin_get(i);
        const sqlite3_int64 n = b->end - b->start;
        run(db, "ATTACH ':memory:' AS b", NULL, NULL, 0);
        FUZZ_CHECK(sqlite3_deserialize(db, "b", (unsigned char *)b->start, n, n,
                                       SQLITE_DESERIALIZE_READONLY) == SQLITE_OK,
                   "deserialize %s", b->name);
        char sql[160];
        snprintf(sql, sizeof sql, "INSERT INTO seed SELECT %d, name, key, dtype, shape, data "
                 "FROM b.attn_model", i);
        run(db, sql, NULL, NULL, 0);
        run(db, "DETACH b", NULL, NULL, 0);
    }
    FUZZ_CHECK(sqlite3_close(db) == SQLITE_OK, "close");
}

static void remove_seed_file(void) { remove(seed_path); }

static sqlite3 *open_db(void) {
    sqlite3 *db;
    FUZZ_CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK, "open");
    char sql[128];
    snprintf(sql, sizeof sql, "ATTACH 'file:%s?mode=ro' AS seeds", seed_path);
    run(db, sql, NULL, NULL, 0);
    return db;
}

/* Holds the built-ins loaded for the whole run (the registry keeps a model while a connection
 * uses it): each input then finds them shared instead of loading megabytes again. */
static sqlite3 *keeper;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    sqlite3_auto_extension((void (*)(void))sqlite3_attnext_init);
    make_seed_file();
    atexit(remove_seed_file);
    FUZZ_CHECK(sqlite3_open(":memory:", &keeper) == SQLITE_OK, "open");
    for (size_t i = 0; i < sizeof CALLS / sizeof CALLS[0]; i++)
        for (int b = 0; b < 3; b++) run(keeper, CALLS[i], NAMES[b], NULL, 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sqlite3 *db = open_db();
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, 4000000);
    sqlite3_progress_handler(db, 1000, progress, NULL);
    run(db, "PRAGMA trusted_schema = OFF", NULL, NULL, 0);
    run(db, "ATTACH ':memory:' AS aux", NULL, NULL, 0);
    prog g = {data, size, 0};
    const uint8_t *op;
    steps = 0;
    while (take(&g, 1, &op)) {
        steps = 0;
        step_op(db, &g, op[0]);
    }
    FUZZ_CHECK(sqlite3_close(db) == SQLITE_OK, "close: %s (a statement left open?)",
               sqlite3_errmsg(db));
    return 0;
}
