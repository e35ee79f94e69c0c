/* limits.c: per-connection resource limits, attn_limit() and attn_set_limit.
 *
 *   attn_limit(name)         -> the value of limit `name` on this connection (INTEGER)
 *   SELECT * FROM attn_set_limit(name, value)
 *                            -> sets it; one row, `value`, the value now in effect. Setting a
 *                               limit also frees the buffers the connection's engine session
 *                               kept from its largest call so far.
 * Setting is a table-valued function, DIRECTONLY, because a scalar function cannot be kept
 * from a database's schema: SQLite (3.40) does not apply DIRECTONLY to CHECK constraints, so
 * `CHECK (attn_limit('max_text_bytes', 3) > 0)` would change the limits of whoever inserts a
 * row or runs PRAGMA integrity_check. A table-valued function cannot appear in a CHECK, and
 * DIRECTONLY keeps it out of views and triggers. attn_limit(name, value) is an error naming
 * attn_set_limit.
 * Settable, each an integer in [1, its ceiling]:
 *   'max_text_bytes'   longest text attn_classify(_scores), attn_entities, attn_relations and
 *                      attn_relation(_scores) accept; default and ceiling 100 000 000
 *                      (ATTN_SQL_MAX_TEXT_BYTES). SQLite's own SQLITE_LIMIT_LENGTH applies
 *                      before it: no text or result can be longer than that.
 *   'max_call_memory'  working memory of one call, in bytes, as the engine estimates it from
 *                      the token count before encoding (attn_call_bytes); default 1 GiB.
 * Read-only (what the last call on this connection left allocated; for tests and tuning):
 *   'call_memory'      every buffer of the connection's engine session
 *   'window_memory'    those of one encoder window alone: bounded by the model's max_len,
 *                      whatever the length of the text */
#include "ext.h"

#include <string.h>

#define LIMIT_DEFAULT_CALL_MEMORY   ((sqlite3_int64)1 << 30)
#define LIMIT_MAX_CALL_MEMORY       ((sqlite3_int64)1 << 48)

typedef enum { LIMIT_TEXT, LIMIT_MEMORY, LIMIT_CALL_MEMORY, LIMIT_WINDOW_MEMORY } limit_id;

static const struct {
    const char *name;
    limit_id id;
    sqlite3_int64 ceiling;      /* 0: read-only */
} limit_names[] = {
    {"max_text_bytes", LIMIT_TEXT, ATTN_SQL_MAX_TEXT_BYTES},
    {"max_call_memory", LIMIT_MEMORY, LIMIT_MAX_CALL_MEMORY},
    {"call_memory", LIMIT_CALL_MEMORY, 0},
    {"window_memory", LIMIT_WINDOW_MEMORY, 0},
};
#define N_LIMITS (int)(sizeof limit_names / sizeof limit_names[0])

sqlite3_int64 limit_text_bytes(const attn_conn *c) {
    return c->limits.max_text_bytes ? c->limits.max_text_bytes : ATTN_SQL_MAX_TEXT_BYTES;
}

sqlite3_int64 limit_call_memory(const attn_conn *c) {
    return c->limits.max_call_memory ? c->limits.max_call_memory : LIMIT_DEFAULT_CALL_MEMORY;
}

int limit_check_text(const attn_conn *c, const char *fn, sqlite3_value *v, char **err_msg) {
    if (sqlite3_value_type(v) != SQLITE_TEXT) return SQLITE_OK;     /* arg_text's business */
    const sqlite3_int64 bytes = sqlite3_value_bytes(v), max = limit_text_bytes(c);
    if (bytes <= max) return SQLITE_OK;
    *err_msg = sqlite3_mprintf("%s: text is %lld bytes, above the limit of %lld "
                               "(attn_limit('max_text_bytes'))", fn, bytes, max);
    return SQLITE_TOOBIG;
}

attn_session *call_session_begin(attn_conn *c) {
    attn_session *s = conn_session(c);
    if (!s) return NULL;
    attn_session_set_memory_limit(s, (size_t)limit_call_memory(c));
    /* Models handed out under this generation stay alive until it changes (conn.c releases a
     * model only when revalidating under a newer one): the session's token cache keys on it. */
    attn_session_set_model_epoch(s, c->generation);
    /* Long calls stop within a window (or 256 relation pairs) of sqlite3_interrupt. */
    interrupt_probe_init(&c->probe, c->db);
    attn_session_set_stop(s, interrupt_probe_check, &c->probe);
    return s;
}

void call_session_end(attn_conn *c) {
    if (c->session) attn_session_set_stop(c->session, NULL, NULL);
    interrupt_probe_done(&c->probe);
}

char *limit_engine_error(const char *fn, const char *name, const attn_session *s,
                         const attn_error *err) {
    const int memory = s && attn_session_over_memory(s);
    return sqlite3_mprintf("%s: model '%s': %s%s", fn, name, err->msg,
                           memory ? " (attn_limit('max_call_memory'))" : "");
}

static int limit_find(const char *name) {
    for (int i = 0; i < N_LIMITS; i++)
        if (strcmp(limit_names[i].name, name) == 0) return i;
    return -1;
}

static sqlite3_int64 limit_value(attn_conn *c, limit_id id) {
    switch (id) {
    case LIMIT_TEXT: return limit_text_bytes(c);
    case LIMIT_MEMORY: return limit_call_memory(c);
    case LIMIT_CALL_MEMORY:
        return c->session ? (sqlite3_int64)attn_session_bytes(c->session) : 0;
    case LIMIT_WINDOW_MEMORY:
        return c->session ? (sqlite3_int64)attn_session_window_bytes(c->session) : 0;
    }
    return 0;
}

/* Sets limit i from v: SQLITE_OK, or an error with *err_msg set. */
static int limit_set(attn_conn *c, int i, sqlite3_value *v, char **err_msg) {
    const char *name = limit_names[i].name;
    const sqlite3_int64 ceiling = limit_names[i].ceiling;
    if (!ceiling) {
        *err_msg = sqlite3_mprintf("attn_set_limit: '%s' is read-only", name);
        return SQLITE_ERROR;
    }
    if (sqlite3_value_type(v) != SQLITE_INTEGER) {
        *err_msg = sqlite3_mprintf("attn_set_limit: argument 2 must be INTEGER, got %s",
                                   value_type_name(v));
        return SQLITE_MISMATCH;
    }
    const sqlite3_int64 value = sqlite3_value_int64(v);
    if (value < 1 || value > ceiling) {
        *err_msg = sqlite3_mprintf("attn_set_limit: '%s' must be in [1, %lld], got %lld", name,
                                   ceiling, value);
        return SQLITE_RANGE;
    }
    if (limit_names[i].id == LIMIT_TEXT) c->limits.max_text_bytes = value;
    else c->limits.max_call_memory = value;
    /* The session's buffers only grow; a new limit is the moment to give them back (the next
     * call makes a fresh session). Nothing holds the session between calls. */
    attn_session_free(c->session);
    c->session = NULL;
    return SQLITE_OK;
}

/* The index of limit `name` (argument 1 of fn, TEXT), or -1 with *err_msg set. */
static int limit_arg(const char *fn, sqlite3_value *v, char **err_msg) {
    const char *name = (const char *)sqlite3_value_text(v);
    if (sqlite3_value_type(v) != SQLITE_TEXT || !name) {
        *err_msg = sqlite3_mprintf("%s: argument 1 must be TEXT, got %s", fn,
                                   value_type_name(v));
        return -1;
    }
    if ((int)strlen(name) != sqlite3_value_bytes(v)) {
        *err_msg = sqlite3_mprintf("%s: limit name contains a NUL byte", fn);
        return -1;
    }
    const int i = limit_find(name);
    if (i < 0)
        *err_msg = sqlite3_mprintf("%s: unknown limit '%s' (expected 'max_text_bytes', "
                                   "'max_call_memory', 'call_memory' or 'window_memory')", fn,
                                   name);
    return i;
}

static void attn_limit_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    attn_conn *c = sqlite3_user_data(ctx);
    char *err_msg = NULL;
    if (argc > 1) {
        result_error(ctx, SQLITE_ERROR,
                     sqlite3_mprintf("attn_limit: takes one argument; to set a limit use "
                                     "SELECT * FROM attn_set_limit(name, value)"));
        return;
    }
    const int i = limit_arg("attn_limit", argv[0], &err_msg);
    if (i < 0) {
        result_error(ctx, SQLITE_ERROR, err_msg);
        return;
    }
    sqlite3_result_int64(ctx, limit_value(c, limit_names[i].id));
}

/* ---- attn_set_limit(name, value): one row, the value in effect ------------------------- */

enum { SET_COL_VALUE, SET_COL_NAME, SET_COL_ARG };

typedef struct set_limit_vtab {
    sqlite3_vtab base;
    attn_conn *conn;
} set_limit_vtab;

typedef struct set_limit_cursor {
    sqlite3_vtab_cursor base;
    sqlite3_int64 value;
    int eof;
} set_limit_cursor;

static int set_limit_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                             sqlite3_vtab **out, char **err_msg) {
    (void)argc, (void)argv, (void)err_msg;
    int rc = vtab_new(db, "CREATE TABLE x(value INTEGER, name HIDDEN, new_value HIDDEN)",
                      SQLITE_VTAB_DIRECTONLY, sizeof(set_limit_vtab), out);
    if (rc == SQLITE_OK) ((set_limit_vtab *)*out)->conn = aux;
    return rc;
}

static int set_limit_best_index(sqlite3_vtab *base, sqlite3_index_info *info) {
    static const vtab_args args = {SET_COL_NAME, 2, 2, "attn_set_limit", "argument",
                                   "name, value", 1, 1};
    return vtab_bind_args(base, info, &args);
}

static int set_limit_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out) {
    (void)base;
    return vtab_cursor_new(sizeof(set_limit_cursor), out);
}

static int set_limit_close(sqlite3_vtab_cursor *base) {
    sqlite3_free(base);
    return SQLITE_OK;
}

static int set_limit_filter(sqlite3_vtab_cursor *base, int idx_num, const char *idx_str,
                            int argc, sqlite3_value **argv) {
    set_limit_cursor *cur = (set_limit_cursor *)base;
    attn_conn *c = ((set_limit_vtab *)base->pVtab)->conn;
    cur->eof = 1;
    int rc = vtab_missing_args(base, idx_num, idx_str);
    if (rc != SQLITE_OK) return rc;
    sqlite3_value *args[2];
    vtab_filter_args(idx_num, argc, argv, 2, args);
    char *err_msg = NULL;
    const int i = limit_arg("attn_set_limit", args[0], &err_msg);
    if (i < 0) return vtab_error(base->pVtab, SQLITE_ERROR, err_msg);
    if (limit_set(c, i, args[1], &err_msg) != SQLITE_OK)
        return vtab_error(base->pVtab, SQLITE_ERROR, err_msg);
    cur->value = limit_value(c, limit_names[i].id);
    cur->eof = 0;
    return SQLITE_OK;
}

static int set_limit_next(sqlite3_vtab_cursor *base) {
    ((set_limit_cursor *)base)->eof = 1;
    return SQLITE_OK;
}

static int set_limit_eof(sqlite3_vtab_cursor *base) {
    return ((set_limit_cursor *)base)->eof;
}

static int set_limit_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col) {
    if (col == SET_COL_VALUE) sqlite3_result_int64(ctx, ((set_limit_cursor *)base)->value);
    return SQLITE_OK;
}

static int set_limit_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid) {
    (void)base;
    *rowid = 1;
    return SQLITE_OK;
}

static const sqlite3_module set_limit_module = {
    .iVersion = 0,
    .xCreate = NULL,                    /* eponymous only */
    .xConnect = set_limit_connect,
    .xBestIndex = set_limit_best_index,
    .xDisconnect = vtab_disconnect,
    .xOpen = set_limit_open,
    .xClose = set_limit_close,
    .xFilter = set_limit_filter,
    .xNext = set_limit_next,
    .xEof = set_limit_eof,
    .xColumn = set_limit_column,
    .xRowid = set_limit_rowid,
};

int limits_register(sqlite3 *db, attn_conn *c) {
    static const struct { int n_args, flags; } forms[] = {
        {1, SQLITE_UTF8 | SQLITE_INNOCUOUS},       /* reading: harmless anywhere */
        {2, SQLITE_UTF8 | SQLITE_INNOCUOUS},       /* an error naming attn_set_limit */
    };
    int rc = SQLITE_OK;
    for (int i = 0; rc == SQLITE_OK && i < 2; i++) {
        conn_ref(c);                 /* dropped by the destructor, also when this call fails */
        rc = sqlite3_create_function_v2(db, "attn_limit", forms[i].n_args, forms[i].flags, c,
                                        attn_limit_func, NULL, NULL, conn_unref);
    }
    if (rc == SQLITE_OK) {
        conn_ref(c);
        rc = sqlite3_create_module_v2(db, "attn_set_limit", &set_limit_module, c, conn_unref);
    }
    return rc;
}
