/* limits.c: per-connection resource limits and attn_limit().
 *
 *   attn_limit(name)         -> the value of limit `name` on this connection (INTEGER)
 *   attn_limit(name, value)  -> sets it and returns the new value (DIRECTONLY: a view or a
 *                               trigger in someone else's database cannot raise a limit).
 *                               Setting a limit also frees the buffers the connection's engine
 *                               session kept from its largest call so far.
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

attn_session *limit_session(attn_conn *c) {
    attn_session *s = conn_session(c);
    if (!s) return NULL;
    attn_session_set_memory_limit(s, (size_t)limit_call_memory(c));
    /* Models handed out under this generation stay alive until it changes (conn.c releases a
     * model only when revalidating under a newer one): the session's token cache keys on it. */
    attn_session_set_model_epoch(s, c->generation);
    return s;
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
        *err_msg = sqlite3_mprintf("attn_limit: '%s' is read-only", name);
        return SQLITE_ERROR;
    }
    if (sqlite3_value_type(v) != SQLITE_INTEGER) {
        *err_msg = sqlite3_mprintf("attn_limit: argument 2 must be INTEGER, got %s",
                                   value_type_name(v));
        return SQLITE_MISMATCH;
    }
    const sqlite3_int64 value = sqlite3_value_int64(v);
    if (value < 1 || value > ceiling) {
        *err_msg = sqlite3_mprintf("attn_limit: '%s' must be in [1, %lld], got %lld", name,
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

static void attn_limit_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    attn_conn *c = sqlite3_user_data(ctx);
    const char *name = (const char *)sqlite3_value_text(argv[0]);
    char *err_msg = NULL;
    if (sqlite3_value_type(argv[0]) != SQLITE_TEXT || !name) {
        result_error(ctx, SQLITE_MISMATCH,
                     sqlite3_mprintf("attn_limit: argument 1 must be TEXT, got %s",
                                     value_type_name(argv[0])));
        return;
    }
    const int i = limit_find(name);
    if (i < 0) {
        result_error(ctx, SQLITE_ERROR,
                     sqlite3_mprintf("attn_limit: unknown limit '%s' (expected "
                                     "'max_text_bytes', 'max_call_memory', 'call_memory' or "
                                     "'window_memory')", name));
        return;
    }
    if (argc > 1 && limit_set(c, i, argv[1], &err_msg) != SQLITE_OK) {
        result_error(ctx, SQLITE_ERROR, err_msg);
        return;
    }
    sqlite3_result_int64(ctx, limit_value(c, limit_names[i].id));
}

int limits_register(sqlite3 *db, attn_conn *c) {
    static const struct { int n_args, flags; } forms[] = {
        {1, SQLITE_UTF8 | SQLITE_INNOCUOUS},       /* reading: harmless anywhere */
        {2, SQLITE_UTF8 | SQLITE_DIRECTONLY},      /* setting: only in the user's own SQL */
    };
    int rc = SQLITE_OK;
    for (int i = 0; rc == SQLITE_OK && i < 2; i++) {
        conn_ref(c);                 /* dropped by the destructor, also when this call fails */
        rc = sqlite3_create_function_v2(db, "attn_limit", forms[i].n_args, forms[i].flags, c,
                                        attn_limit_func, NULL, NULL, conn_unref);
    }
    return rc;
}
