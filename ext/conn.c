/* conn.c: per-connection state and model lookup.
 *
 * Each connection keeps its resolutions name -> (storage, shared model) and one signature of
 * the databases it can see: every schema name with its SQLITE_FCNTL_DATA_VERSION (which
 * changes on every commit, by this connection or any other), plus sqlite3_total_changes64
 * while a transaction is open (changes of this connection inside a transaction are not yet
 * committed, so the data version does not move). A resolution made under the current
 * signature is used as is: `UPDATE docs SET label = attn_classify(body)` reads the model rows
 * once, not once per row (total_changes64 only moves when a statement ends).
 * Inside an explicit transaction that has written, neither moves on ROLLBACK TO or on DDL
 * (DROP TABLE attn_model): there the signature also holds a statement count, so each
 * statement looks again (once: a scalar function marks its statement with auxiliary data;
 * each scan of a table-valued function counts as a statement). When the
 * signature changes, each resolution is checked again on its next use by re-hashing the
 * model's rows: rows found in the same database file with the same 64-bit fingerprint keep
 * their model; anything else is keyed by the SHA-256 of the rows, which loads (or shares
 * through the registry) exactly the model those rows make. */
#include "ext.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct conn_model {
    char *name;             /* sqlite3_malloc'd */
    char *storage;          /* schema it was found in, or NULL for a built-in */
    char *file;             /* that schema's file (sqlite3_db_filename), or NULL */
    uint64_t fp;            /* fingerprint of its rows there */
    shared_model *sm;       /* one registry reference */
    uint64_t generation;    /* conn generation at which it was last validated */
};

attn_conn *conn_new(sqlite3 *db) {
    attn_conn *c = sqlite3_malloc64(sizeof *c);
    if (!c) return NULL;
    memset(c, 0, sizeof *c);
    c->db = db;
    c->n_refs = 1;
    return c;
}

void conn_ref(attn_conn *c) { c->n_refs++; }

static void conn_model_clear(conn_model *cm) {
    sqlite3_free(cm->name);
    sqlite3_free(cm->storage);
    sqlite3_free(cm->file);
    registry_release(cm->sm);
    memset(cm, 0, sizeof *cm);
}

void conn_unref(void *p) {
    attn_conn *c = p;
    if (!c || --c->n_refs > 0) return;
    for (int i = 0; i < c->n_models; i++) conn_model_clear(&c->models[i]);
    sqlite3_free(c->models);
    sqlite3_free(c->signature);
    attn_session_free(c->session);
    sqlite3_free(c);
}

attn_session *conn_session(attn_conn *c) {
    if (!c->session) c->session = attn_session_new();
    return c->session;
}

/* ---- schemas ------------------------------------------------------------------------------ */

void schema_names_free(char **names, int n) {
    for (int i = 0; i < n; i++) sqlite3_free(names[i]);
    sqlite3_free(names);
}

static int push_name(char ***names, int *n, size_t *cap, const char *name) {
    if (sqlite_grow((void **)names, cap, (size_t)*n + 1, sizeof **names) != SQLITE_OK)
        return SQLITE_NOMEM;
    (*names)[*n] = sqlite3_mprintf("%s", name);
    if (!(*names)[*n]) return SQLITE_NOMEM;
    (*n)++;
    return SQLITE_OK;
}

/* Before 3.39 there is no sqlite3_db_name: ask PRAGMA database_list. */
static int schema_names_pragma(sqlite3 *db, char ***names, int *n, size_t *cap) {
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA database_list", -1, &st, NULL);
    while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        if (name && strcmp(name, "temp") != 0) rc = push_name(names, n, cap, name);
    }
    if (rc == SQLITE_OK) rc = sqlite3_finalize(st);
    else sqlite3_finalize(st);
    return rc;
}

int schema_names(sqlite3 *db, char ***names) {
    int n = 0, rc = SQLITE_OK;
    size_t cap = 0;
    *names = NULL;
#if SQLITE_VERSION_NUMBER >= ATTN_SQLITE_DB_NAME_VERSION
    if (sqlite3_libversion_number() >= ATTN_SQLITE_DB_NAME_VERSION) {
        const char *name;
        for (int i = 0; rc == SQLITE_OK && (name = sqlite3_db_name(db, i)) != NULL; i++)
            if (i != 1) rc = push_name(names, &n, &cap, name);    /* 1 is always temp */
    } else
#endif
        rc = schema_names_pragma(db, names, &n, &cap);
    if (rc != SQLITE_OK) {
        schema_names_free(*names, n);
        *names = NULL;
        return -1;
    }
    return n;
}

/* 1 when "schema.name" is a view, a virtual table or has generated columns: reading it could
 * run arbitrary SQL (a view may call attn_ functions, recurse or yield a zeroblob of a GB from a
 * file of 4 KB). */
static int not_ordinary_table(sqlite3 *db, const char *schema, const char *table,
                              const char **what) {
    char *sql = sqlite3_mprintf(
        "SELECT type = 'view', type = 'table' AND sql LIKE 'CREATE VIRTUAL%%', "
        "(SELECT count(*) FROM pragma_table_xinfo(?1, ?2) WHERE hidden <> 0) "
        "FROM \"%w\".sqlite_master WHERE name = ?1 COLLATE NOCASE AND type IN ('table', 'view')",
        schema);
    sqlite3_stmt *st = NULL;
    int bad = 0;
    *what = "";
    if (sql && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, schema, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            bad = 1;
            if (sqlite3_column_int(st, 0)) *what = "a view";
            else if (sqlite3_column_int(st, 1)) *what = "a virtual table";
            else if (sqlite3_column_int(st, 2)) *what = "a table with generated columns";
            else bad = 0;
        }
    }
    sqlite3_finalize(st);
    sqlite3_free(sql);
    return bad;
}

int schema_model_table(sqlite3 *db, const char *schema, char **err_msg) {
    char *sql = sqlite3_mprintf("SELECT 1 FROM \"%w\".sqlite_master WHERE type IN ('table', "
                                "'view') AND name = 'attn_model' COLLATE NOCASE", schema);
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sql && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK)
        found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    sqlite3_free(sql);
    const char *what;
    if (found && not_ordinary_table(db, schema, "attn_model", &what)) {
        *err_msg = sqlite3_mprintf("%s.attn_model is %s; attn_model must be an ordinary table",
                                   schema, what);
        return -1;
    }
    return found;
}

/* The current signature (sqlite3_malloc'd) or NULL on ENOMEM. */
static char *db_signature(const attn_conn *c) {
    sqlite3 *db = c->db;
    char **names;
    int n = schema_names(db, &names);
    if (n < 0) return NULL;
    sqlite3_str *s = sqlite3_str_new(db);
    for (int i = 0; i < n; i++) {
        unsigned int version = 0;
        if (sqlite3_file_control(db, names[i], SQLITE_FCNTL_DATA_VERSION, &version) != SQLITE_OK)
            version = 0;
        sqlite3_str_appendf(s, "%s\x1f%u\x1e", names[i], version);
    }
    if (!sqlite3_get_autocommit(db)) {
        sqlite3_str_appendf(s, "tx\x1f%lld", (long long)sqlite3_total_changes64(db));
        if (sqlite3_txn_state(db, NULL) == SQLITE_TXN_WRITE)
            sqlite3_str_appendf(s, "\x1estmt\x1f%llu", (unsigned long long)c->statements);
    }
    schema_names_free(names, n);
    return sqlite3_str_finish(s);
}

/* Bumps c->generation if what the connection sees may have changed. */
static int refresh_signature(attn_conn *c) {
    char *sig = db_signature(c);
    if (!sig) return SQLITE_NOMEM;
    if (c->signature && strcmp(sig, c->signature) == 0) {
        sqlite3_free(sig);
        return SQLITE_OK;
    }
    sqlite3_free(c->signature);
    c->signature = sig;
    c->generation++;
    return SQLITE_OK;
}

/* ---- rows of a model ---------------------------------------------------------------------- */

/* "schema.attn_model: <SQLite's message>" (sqlite3_malloc'd). */
static char *table_error(sqlite3 *db, const char *schema) {
    return sqlite3_mprintf("%s.attn_model: %s", schema, sqlite3_errmsg(db));
}

static int prepare_rows(sqlite3 *db, const char *schema, const char *name, const char *sql_fmt,
                        sqlite3_stmt **st, char **err_msg) {
    char *sql = sqlite3_mprintf(sql_fmt, schema);
    if (!sql) return SQLITE_NOMEM;
    int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
    sqlite3_free(sql);
    if (rc != SQLITE_OK) {
        *err_msg = table_error(db, schema);
        return rc;
    }
    sqlite3_bind_text(*st, 1, name, -1, SQLITE_STATIC);
    return SQLITE_OK;
}

/* Both hashes of one value: its type, its length, its bytes (in pieces, asking about
 * sqlite3_interrupt between them: a blob may be a gigabyte). */
#define HASH_PIECE_BYTES ((size_t)1 << 24)
static int hash_value(fingerprint *f, attn_sha256 *sha, unsigned char type, const void *p,
                      size_t n, interrupt_probe *probe) {
    const uint64_t len = n;
    fingerprint_add(f, &type, 1);
    fingerprint_add(f, p, n);
    if (!sha) return 0;
    attn_sha256_update(sha, &type, 1);
    attn_sha256_update(sha, &len, sizeof len);
    for (size_t at = 0; at < n; at += HASH_PIECE_BYTES) {
        if (at && interrupt_probe_check(probe)) return -1;
        attn_sha256_update(sha, (const char *)p + at, n - at < HASH_PIECE_BYTES ? n - at
                                                                                 : HASH_PIECE_BYTES);
    }
    return 0;
}

int model_rows_fingerprint(sqlite3 *db, const char *schema, const char *name, uint64_t *fp,
                           model_digest *digest, char **err_msg) {
    /* length(data) comes from the record header; data itself is read only when that fits
     * (a row over the limit is refused without reading it). */
    sqlite3_stmt *st;
    if (prepare_rows(db, schema, name,
                     "SELECT key, dtype, shape, CASE WHEN length(data) <= ?2 THEN data END, "
                     "length(data) FROM \"%w\".attn_model WHERE name = ?1 ORDER BY key", &st,
                     err_msg) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 2, ATTN_SQL_MAX_MODEL_BYTES);
    fingerprint f;
    attn_sha256 sha;
    interrupt_probe probe;
    fingerprint_init(&f);
    attn_sha256_init(&sha);
    interrupt_probe_init(&probe, db);
    sqlite3_int64 n_rows = 0, n_bytes = 0;
    int rc = SQLITE_DONE, stopped = 0;
    char *msg = NULL;
    while (!stopped && !msg && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        n_bytes += sqlite3_column_int64(st, 4);
        if (++n_rows > ATTN_SQL_MAX_MODEL_ROWS)
            msg = sqlite3_mprintf("more than %d rows (ATTN_SQL_MAX_MODEL_ROWS)",
                                  ATTN_SQL_MAX_MODEL_ROWS);
        else if (n_bytes > ATTN_SQL_MAX_MODEL_BYTES)
            msg = sqlite3_mprintf("more than %lld bytes of data (ATTN_SQL_MAX_MODEL_BYTES)",
                                  (long long)ATTN_SQL_MAX_MODEL_BYTES);
        for (int col = 0; col < 4 && !stopped && !msg; col++) {
            const int type = sqlite3_column_type(st, col);
            const void *p = type == SQLITE_BLOB ? sqlite3_column_blob(st, col)
                                                : (const void *)sqlite3_column_text(st, col);
            const size_t size = p ? (size_t)sqlite3_column_bytes(st, col) : 0;
            stopped = hash_value(&f, digest ? &sha : NULL, (unsigned char)type, p ? p : "",
                                 size, &probe) != 0;
        }
    }
    interrupt_probe_done(&probe);
    if (stopped) msg = sqlite3_mprintf("interrupted");
    else if (!msg && rc != SQLITE_DONE) msg = table_error(db, schema);
    sqlite3_finalize(st);
    if (msg) {
        *err_msg = msg;
        return -1;
    }
    *fp = fingerprint_final(&f);
    if (digest) attn_sha256_final(&sha, digest->b);
    return n_rows > 0 ? 0 : 1;
}

/* Sets *err_msg to the engine's message without its "model: " prefix (ours already names
 * the model) and returns the SQLite code of status. */
static int engine_failure(int status, const attn_error *err, char **err_msg) {
    const char *msg = err->msg;
    if (strncmp(msg, "model: ", 7) == 0) msg += 7;
    *err_msg = sqlite3_mprintf("%s", msg);
    return sqlite_code(status);
}

static const char *column_text_or_empty(sqlite3_stmt *st, int col) {
    const char *s = (const char *)sqlite3_column_text(st, col);
    return s ? s : "";
}

static int load_config(sqlite3 *db, const char *schema, const char *name, attn_model **out,
                       char **err_msg) {
    sqlite3_stmt *st;
    int rc = prepare_rows(db, schema, name,
                          "SELECT dtype, data FROM \"%w\".attn_model "
                          "WHERE name = ?1 AND key = 'config'", &st, err_msg);
    if (rc != SQLITE_OK) return rc;
    attn_error err = {{0}};
    if (sqlite3_step(st) != SQLITE_ROW) {
        *err_msg = sqlite3_mprintf("no 'config' row");
        rc = SQLITE_ERROR;
    } else if (strcmp(column_text_or_empty(st, 0), "json") != 0) {
        *err_msg = sqlite3_mprintf("row 'config': dtype must be 'json', found '%s'",
                                   column_text_or_empty(st, 0));
        rc = SQLITE_ERROR;
    } else {
        const char *json = (const char *)sqlite3_column_blob(st, 1);
        size_t n = (size_t)sqlite3_column_bytes(st, 1);
        int status = attn_model_new(json ? json : "", n, out, &err);
        if (status != ATTN_OK) rc = engine_failure(status, &err, err_msg);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Blobs at least this big are read with incremental blob I/O straight into a buffer the engine
 * takes over (attn_model_set_tensor_owned): one copy out of the pages instead of two (SQLite's
 * value, then the engine's), and no value-sized allocation per tensor. */
#define DIRECT_READ_BYTES 65536

/* key, dtype, shape, data (NULL when read directly), rowid, read directly?, length(data).
 * typeof() and length() read no blob content. A table without rowids (a view, WITHOUT ROWID)
 * fails to prepare it and is read through TENSORS_SQL. */
static const char TENSORS_DIRECT_SQL[] =
    "SELECT key, dtype, shape, CASE WHEN typeof(data) = 'blob' AND length(data) >= ?2 THEN NULL "
    "ELSE data END, rowid, typeof(data) = 'blob' AND length(data) >= ?2, length(data) "
    "FROM \"%w\".attn_model WHERE name = ?1 AND key <> 'config' ORDER BY key";
static const char TENSORS_SQL[] =
    "SELECT key, dtype, shape, data, NULL, 0, NULL FROM \"%w\".attn_model "
    "WHERE name = ?1 AND key <> 'config' ORDER BY key";

static int prepare_tensor_rows(sqlite3 *db, const char *schema, const char *name,
                               sqlite3_stmt **st, char **err_msg) {
    if (prepare_rows(db, schema, name, TENSORS_DIRECT_SQL, st, err_msg) == SQLITE_OK) {
        sqlite3_bind_int64(*st, 2, DIRECT_READ_BYTES);
        return SQLITE_OK;
    }
    sqlite3_free(*err_msg);
    *err_msg = NULL;
    return prepare_rows(db, schema, name, TENSORS_SQL, st, err_msg);
}

/* Maps the whole pages of p[n_bytes], about to be written, in one call instead of a page fault
 * a page: a model's tables are megabytes of fresh memory, and their page faults were most of
 * a first call (tests/bench/RESULTS.md). Only a hint: a kernel without MADV_POPULATE_WRITE
 * (Linux < 5.14) faults the pages in as before. */
static void populate_pages(void *p, size_t n_bytes) {
#ifdef MADV_POPULATE_WRITE
    const long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) return;
    const uintptr_t lo = ((uintptr_t)p + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
    const uintptr_t hi = ((uintptr_t)p + n_bytes) / (uintptr_t)page * (uintptr_t)page;
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)n_bytes;
#endif
}

/* *out = the n_bytes of row rowid's data in a malloc'd buffer (the engine frees it with
 * free()), read through *blob: opened on first use, moved to the next row after. */
static int read_direct(sqlite3 *db, const char *schema, sqlite3_int64 rowid, size_t n_bytes,
                       sqlite3_blob **blob, void **out) {
    *out = NULL;
    int rc = *blob ? sqlite3_blob_reopen(*blob, rowid)
                   : sqlite3_blob_open(db, schema, "attn_model", "data", rowid, 0, blob);
    if (rc != SQLITE_OK) return rc;
    if ((size_t)sqlite3_blob_bytes(*blob) != n_bytes) return SQLITE_CORRUPT;
    if (!(*out = malloc(n_bytes ? n_bytes : 1))) return SQLITE_NOMEM;
    populate_pages(*out, n_bytes);
    rc = sqlite3_blob_read(*blob, *out, (int)n_bytes, 0);
    if (rc != SQLITE_OK) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* One row of prepare_tensor_rows into the model: SQLite code, or ATTN_ code in *status. */
static int load_tensor_row(sqlite3 *db, const char *schema, sqlite3_stmt *st, attn_model *m,
                           sqlite3_blob **blob, int *status, attn_error *err) {
    const char *key = column_text_or_empty(st, 0), *dtype = column_text_or_empty(st, 1),
               *shape = column_text_or_empty(st, 2);
    if (sqlite3_column_int(st, 5)) {
        size_t n = (size_t)sqlite3_column_int64(st, 6);
        void *data;
        int rc = read_direct(db, schema, sqlite3_column_int64(st, 4), n, blob, &data);
        if (rc != SQLITE_OK) return rc;
        *status = attn_model_set_tensor_owned(m, key, dtype, shape, data, n, err);
        return SQLITE_OK;
    }
    const void *data = sqlite3_column_blob(st, 3);
    size_t n = (size_t)sqlite3_column_bytes(st, 3);
    *status = attn_model_set_tensor(m, key, dtype, shape, data ? data : "", n, err);
    return SQLITE_OK;
}

static int load_tensors(sqlite3 *db, const char *schema, const char *name, attn_model *m,
                        char **err_msg) {
    sqlite3_stmt *st;
    int rc = prepare_tensor_rows(db, schema, name, &st, err_msg);
    if (rc != SQLITE_OK) return rc;
    attn_error err = {{0}};
    sqlite3_blob *blob = NULL;
    int step = SQLITE_DONE, status = ATTN_OK;
    interrupt_probe probe;      /* a gazetteer's long lists stop on sqlite3_interrupt */
    interrupt_probe_init(&probe, db);
    attn_model_set_stop(m, interrupt_probe_check, &probe);
    while (rc == SQLITE_OK && status == ATTN_OK && (step = sqlite3_step(st)) == SQLITE_ROW)
        rc = load_tensor_row(db, schema, st, m, &blob, &status, &err);
    attn_model_set_stop(m, NULL, NULL);
    interrupt_probe_done(&probe);
    if (rc == SQLITE_OK && status == ATTN_OK && step != SQLITE_DONE) rc = step;
    if (rc != SQLITE_OK && rc != SQLITE_NOMEM) *err_msg = table_error(db, schema);
    sqlite3_blob_close(blob);
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) return rc;
    if (status == ATTN_OK) status = attn_model_finish(m, &err);
    return status == ATTN_OK ? SQLITE_OK : engine_failure(status, &err, err_msg);
}

int model_rows_load(sqlite3 *db, const char *schema, const char *name, attn_model **out,
                    char **err_msg) {
    *out = NULL;
    attn_model *m = NULL;
    int rc = load_config(db, schema, name, &m, err_msg);
    /* Loaded models are shared read-only for inference: their stored embedding tables stay
     * compact (model.h); a trainer copies them with attn_model_read_values. */
    attn_error err = {{0}};
    int status = rc == SQLITE_OK ? attn_model_set_inference_only(m, &err) : ATTN_OK;
    if (status != ATTN_OK) rc = engine_failure(status, &err, err_msg);
    if (rc == SQLITE_OK) rc = load_tensors(db, schema, name, m, err_msg);
    if (rc != SQLITE_OK) {
        attn_model_free(m);
        return rc;
    }
    *out = m;
    return SQLITE_OK;
}

/* ---- lookup ------------------------------------------------------------------------------- */

/* Where a name resolves now: *schema (sqlite3_malloc'd) or NULL with *builtin set. */
typedef struct resolution {
    char *schema;
    const builtin_model *builtin;
    uint64_t fp;                /* fingerprint of the rows (schema) */
    model_digest digest;        /* of the rows or the built-in; set by resolve_digest */
} resolution;

/* Finds the first schema whose attn_model has rows for name. Returns 0 found, 1 not found,
 * -1 error (*err_msg set). */
static int resolve_in_schemas(sqlite3 *db, const char *name, resolution *r, char **err_msg) {
    char **names;
    int n = schema_names(db, &names), found = 1;
    if (n < 0) {
        *err_msg = sqlite3_mprintf("cannot list the schemas: %s", sqlite3_errmsg(db));
        return -1;
    }
    for (int i = 0; i < n && found == 1; i++) {
        int has = schema_model_table(db, names[i], err_msg);
        if (has < 0) found = -1;
        if (has <= 0) continue;
        found = model_rows_fingerprint(db, names[i], name, &r->fp, NULL, err_msg);
        if (found == 0) {
            r->schema = names[i];
            names[i] = NULL;
        }
    }
    schema_names_free(names, n);
    return found;
}

/* A built-in's digest: its image is immutable while the library is loaded, so its identity
 * (name, address, size) stands for its rows; hashing them, megabytes, on a connection's first
 * use would cost as much as the rest of the load. A user table holding the same rows gets
 * another digest, hence its own copy. */
static void builtin_digest(const builtin_model *b, model_digest *out) {
    static const char tag[] = "attnext built-in image";
    const uintptr_t at = (uintptr_t)b->start;
    const size_t n_bytes = (size_t)(b->end - b->start);
    attn_sha256 sha;
    attn_sha256_init(&sha);
    attn_sha256_update(&sha, tag, sizeof tag);
    attn_sha256_update(&sha, b->name, strlen(b->name) + 1);
    attn_sha256_update(&sha, &at, sizeof at);
    attn_sha256_update(&sha, &n_bytes, sizeof n_bytes);
    attn_sha256_final(&sha, out->b);
}

static int builtin_load(const builtin_model *b, const char *name, attn_model **m,
                        char **err_msg) {
    sqlite3 *bdb;
    int rc = builtin_open(b, &bdb, err_msg);
    if (rc != SQLITE_OK) return rc;
    rc = model_rows_load(bdb, "main", name, m, err_msg);
    sqlite3_close(bdb);
    builtin_drop_pages(b);
    return rc;
}

static conn_model *find_entry(attn_conn *c, const char *name) {
    for (int i = 0; i < c->n_models; i++)
        if (strcmp(c->models[i].name, name) == 0) return &c->models[i];
    return NULL;
}

static conn_model *add_entry(attn_conn *c, const char *name) {
    if (sqlite_grow((void **)&c->models, &c->cap_models, (size_t)c->n_models + 1,
                    sizeof *c->models) != SQLITE_OK)
        return NULL;
    conn_model *cm = &c->models[c->n_models];
    memset(cm, 0, sizeof *cm);
    cm->name = sqlite3_mprintf("%s", name);
    if (!cm->name) return NULL;
    c->n_models++;
    return cm;
}

static void remove_entry(attn_conn *c, conn_model *cm) {
    conn_model_clear(cm);
    *cm = c->models[--c->n_models];
}

/* Where name lives now, with its fingerprint. */
static int resolve(attn_conn *c, const char *name, resolution *r, char **err_msg) {
    memset(r, 0, sizeof *r);
    int found = resolve_in_schemas(c->db, name, r, err_msg);
    if (found < 0) return SQLITE_ERROR;
    if (found == 0) return SQLITE_OK;
    r->builtin = builtin_find(name);
    if (!r->builtin) {
        *err_msg = sqlite3_mprintf("not found in attn_model or built-ins");
        return SQLITE_NOTFOUND;
    }
    builtin_digest(r->builtin, &r->digest);
    return SQLITE_OK;
}

/* The SHA-256 of r's rows (a second pass over them; a built-in's is set by resolve). */
static int resolve_digest(attn_conn *c, const char *name, resolution *r, char **err_msg) {
    if (!r->schema) return SQLITE_OK;
    uint64_t fp;
    const int found = model_rows_fingerprint(c->db, r->schema, name, &fp, &r->digest, err_msg);
    if (found == 0 && fp == r->fp) return SQLITE_OK;
    if (found >= 0) *err_msg = sqlite3_mprintf("rows changed while being read");
    return SQLITE_ERROR;
}

/* The file of schema (sqlite3_malloc'd), NULL for none (temp, in-memory) or ENOMEM. */
static char *schema_file(sqlite3 *db, const char *schema) {
    const char *file = schema ? sqlite3_db_filename(db, schema) : NULL;
    return file && *file ? sqlite3_mprintf("%s", file) : NULL;
}

/* Whether cm still stands for r: the same rows (by fingerprint) of the same database file.
 * In-memory databases have no file to tell them apart: they are always hashed again. */
static int same_rows(const conn_model *cm, const resolution *r, const char *file) {
    if (!cm || !cm->sm) return 0;
    if (!r->schema) return !cm->storage && memcmp(cm->sm->digest.b, r->digest.b,
                                                  sizeof r->digest.b) == 0;
    return cm->storage && strcmp(cm->storage, r->schema) == 0 && cm->file && file &&
           strcmp(cm->file, file) == 0 && cm->fp == r->fp;
}

/* A shared model for resolution r: from the registry, or loaded and inserted. */
static int acquire(attn_conn *c, const char *name, const resolution *r, shared_model **out,
                   char **err_msg) {
    *out = registry_acquire(&r->digest);
    if (*out) return SQLITE_OK;
    attn_model *m;
    int rc = r->schema ? model_rows_load(c->db, r->schema, name, &m, err_msg)
                       : builtin_load(r->builtin, name, &m, err_msg);
    if (rc != SQLITE_OK) return rc;
    /* The inference copy of the weights in GEMM panels, made once, before the model is shared. */
    attn_error pack_err = { "" };
    int status = attn_engine_prepare_model(m, &pack_err);
    if (status != ATTN_OK) {
        attn_model_free(m);
        return engine_failure(status, &pack_err, err_msg);
    }
    *out = registry_insert(&r->digest, m);
    return *out ? SQLITE_OK : SQLITE_NOMEM;
}

static int validate(attn_conn *c, const char *name, conn_model **out, char **err_msg) {
    conn_model *cm = find_entry(c, name);
    if (cm && cm->generation == c->generation) {
        *out = cm;
        return SQLITE_OK;
    }
    resolution r;
    int rc = resolve(c, name, &r, err_msg);
    char *file = rc == SQLITE_OK ? schema_file(c->db, r.schema) : NULL;
    if (rc == SQLITE_OK && !same_rows(cm, &r, file)) {
        shared_model *sm = NULL;
        rc = resolve_digest(c, name, &r, err_msg);
        if (rc == SQLITE_OK) rc = acquire(c, name, &r, &sm, err_msg);
        if (rc == SQLITE_OK && !cm && !(cm = add_entry(c, name))) {
            registry_release(sm);
            rc = SQLITE_NOMEM;
        }
        if (rc == SQLITE_OK) {
            registry_release(cm->sm);
            cm->sm = sm;
        }
    }
    if (rc != SQLITE_OK) {
        if (cm) remove_entry(c, cm);     /* a broken model is looked at again next time */
        sqlite3_free(r.schema);
        sqlite3_free(file);
        return rc;
    }
    sqlite3_free(cm->storage);
    sqlite3_free(cm->file);
    cm->storage = r.schema;
    cm->file = file;
    cm->fp = r.fp;
    cm->generation = c->generation;
    *out = cm;
    return SQLITE_OK;
}

static int conn_model_lookup(attn_conn *c, const char *fn, const char *name,
                             const attn_model **m, char **err_msg);

/* Any non-NULL pointer: the mark of a statement already counted (sqlite3_set_auxdata with a
 * negative argument index: kept for all the statement's calls, freed when it is reset). */
#define STATEMENT_MARK_ARG (-0x61747478)

int conn_model_get_scalar(attn_conn *c, sqlite3_context *ctx, const char *fn,
                          const char *name, const attn_model **m, char **err_msg) {
    if (!sqlite3_get_auxdata(ctx, STATEMENT_MARK_ARG)) {
        sqlite3_set_auxdata(ctx, STATEMENT_MARK_ARG, c, NULL);
        c->statements++;
    }
    return conn_model_lookup(c, fn, name, m, err_msg);
}

int conn_model_get(attn_conn *c, const char *fn, const char *name, const attn_model **m,
                   char **err_msg) {
    c->statements++;
    return conn_model_lookup(c, fn, name, m, err_msg);
}

static int conn_model_lookup(attn_conn *c, const char *fn, const char *name,
                             const attn_model **m, char **err_msg) {
    *m = NULL;
    *err_msg = NULL;
    if (c->busy) {
        *err_msg = sqlite3_mprintf("%s: model '%s': recursive model lookup (does attn_model "
                                   "call an attn_ function?)", fn, name);
        return SQLITE_ERROR;
    }
    c->busy = 1;
    char *msg = NULL;
    conn_model *cm = NULL;
    int rc = refresh_signature(c);
    if (rc == SQLITE_OK) rc = validate(c, name, &cm, &msg);
    c->busy = 0;
    if (rc == SQLITE_NOMEM) {
        sqlite3_free(msg);
        return rc;
    }
    if (rc != SQLITE_OK) {
        if (rc == SQLITE_NOTFOUND) {
            *err_msg = sqlite3_mprintf("%s: model '%s' %s", fn, name, msg ? msg : "not found");
            rc = SQLITE_ERROR;
        } else {
            *err_msg = sqlite3_mprintf("%s: model '%s': %s", fn, name, msg ? msg : "error");
        }
        sqlite3_free(msg);
        return rc;
    }
    *m = cm->sm->model;
    return SQLITE_OK;
}

const char *conn_model_schema(attn_conn *c, const char *name) {
    const conn_model *cm = find_entry(c, name);
    return cm ? cm->storage : NULL;
}
