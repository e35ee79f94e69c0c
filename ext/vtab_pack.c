/* vtab_pack.c: attn_pack(model, target, storage [, schema]), an eponymous table-valued
 * function that writes model `model` again as `target`, re-encoded in another storage, into
 * schema.attn_model (default main; another database once ATTACHed), and yields one row:
 *
 *   name TEXT, schema TEXT      where it was written
 *   tensors INTEGER             tensors written, and how many of each dtype:
 *   q4, q8, f16, f32 INTEGER
 *   bytes_f32 INTEGER           the tensors' bytes as f32
 *   bytes_stored INTEGER        ... and as stored
 *   max_difference REAL         largest |value written - value read| over every tensor
 *
 * storage: 'f32', 'f16', 'q8', 'q4', 'q4-int8' or 'q8-int8' (model.h: attn_storage; the
 * values of attn_train's option dtype).
 *
 * The source is found as every function finds a model (main, attached databases in order,
 * built-ins) and so has passed the engine's loader, which checks every row; a damaged model is
 * refused, not copied. The rows go in one savepoint (model_write.c), are loaded back as a
 * lookup would load them before it is released, and that model is compared with the source:
 * the row's max_difference. Nothing is written but the rows of `target` in the one schema
 * named; a schema that is not main or an attached database is refused, so is an attn_model
 * that is a view or has triggers.
 *
 * DIRECTONLY: it writes a table, so it must not run from a view or trigger someone else
 * wrote. */
#include "ext.h"

#include <string.h>

#define FN "attn_pack"

enum { COL_NAME, COL_SCHEMA, COL_TENSORS, COL_Q4, COL_Q8, COL_F16, COL_F32, COL_BYTES_F32,
       COL_BYTES_STORED, COL_MAX_DIFFERENCE, COL_MODEL, COL_TARGET, COL_STORAGE, COL_DB };
#define N_ARGS 4

/* In attn_storage order. */
static const char *const STORAGE_NAMES[] = {"f32", "f16", "q8", "q4", "q4-int8", "q8-int8"};
#define N_STORAGES ((int)(sizeof STORAGE_NAMES / sizeof STORAGE_NAMES[0]))
static const char *const DTYPES[] = {"q4", "q8", "f16", "f32"};   /* COL_Q4 .. COL_F32 */

typedef struct pack_vtab {
    sqlite3_vtab base;
    sqlite3 *db;
    attn_conn *conn;
} pack_vtab;

typedef struct pack_cursor {
    sqlite3_vtab_cursor base;
    char *name, *schema;        /* sqlite3_malloc'd */
    sqlite3_int64 tensors, n_dtype[4], bytes_f32, bytes_stored;
    double max_difference;
    int eof;
} pack_cursor;

static int parse_storage(const char *s, attn_storage *out, char **err_msg) {
    for (int i = 0; i < N_STORAGES; i++)
        if (strcmp(s, STORAGE_NAMES[i]) == 0) {
            *out = (attn_storage)i;
            return SQLITE_OK;
        }
    *err_msg = sqlite3_mprintf("%s: unknown storage '%s' (expected 'f32', 'f16', 'q8', 'q4', "
                               "'q4-int8' or 'q8-int8')", FN, s);
    return SQLITE_ERROR;
}

/* The schema as the connection spells it (main or an attached database), into cur->schema. */
static int find_schema(pack_cursor *cur, sqlite3 *db, const char *schema, char **err_msg) {
    char **names;
    int n = schema_names(db, &names);
    if (n < 0) return SQLITE_NOMEM;
    for (int i = 0; i < n && !cur->schema; i++)
        if (sqlite3_stricmp(names[i], schema) == 0) cur->schema = sqlite3_mprintf("%s", names[i]);
    int found = cur->schema != NULL;
    schema_names_free(names, n);
    if (found) return SQLITE_OK;
    *err_msg = sqlite3_mprintf("%s: no database '%s' to write to (main, or one ATTACHed as "
                               "'%s')", FN, schema, schema);
    return SQLITE_ERROR;
}

/* The tensors of m by the dtype storage gives each, and their bytes. */
static void count_tensors(pack_cursor *cur, const attn_model *m, attn_storage storage) {
    cur->tensors = (sqlite3_int64)m->n_specs;
    for (size_t i = 0; i < m->n_specs; i++) {
        const char *dtype = attn_storage_dtype(storage, &m->specs[i]);
        for (int d = 0; d < 4; d++) cur->n_dtype[d] += strcmp(dtype, DTYPES[d]) == 0;
        cur->bytes_f32 += (sqlite3_int64)(m->specs[i].size * sizeof(float));
        cur->bytes_stored += (sqlite3_int64)attn_tensor_stored_bytes(&m->specs[i], dtype);
    }
}

static int engine_error(char **err_msg, int status, const attn_error *err) {
    *err_msg = sqlite3_mprintf("%s: %s", FN, err->msg);
    return sqlite_code(status);
}

/* Source -> a plain f32 copy -> target rows -> read back -> compared. */
static int pack(pack_cursor *cur, pack_vtab *vt, const char *source, attn_storage storage,
                char **err_msg) {
    const attn_model *src;
    int rc = conn_model_get(vt->conn, FN, source, &src, err_msg);
    if (rc != SQLITE_OK) return rc;
    attn_model *copy = NULL, *back = NULL;
    attn_error err = {{0}};
    int status = attn_model_copy(src, &copy, &err);
    if (status != ATTN_OK) return engine_error(err_msg, status, &err);
    rc = model_write_to(vt->db, FN, cur->schema, cur->name, copy, copy->cfg.json, storage, &back,
                        err_msg);
    if (rc == SQLITE_OK) {
        count_tensors(cur, copy, storage);
        status = attn_model_max_difference(copy, back, &cur->max_difference, &err);
        if (status != ATTN_OK) rc = engine_error(err_msg, status, &err);
    }
    attn_model_free(copy);
    attn_model_free(back);
    return rc;
}

static int start_call(pack_cursor *cur, pack_vtab *vt, sqlite3_value *args[N_ARGS],
                      char **err_msg) {
    const char *source, *target, *storage_name, *schema = "main";
    size_t n = 0;
    attn_storage storage = ATTN_STORE_F32;
    int rc = arg_model(FN, 1, args[0], NULL, &source, err_msg);
    if (rc == SQLITE_OK) rc = arg_model(FN, 2, args[1], NULL, &target, err_msg);
    if (rc == SQLITE_OK) rc = arg_text(FN, 3, args[2], &storage_name, &n, err_msg);
    if (rc == SQLITE_OK && args[3]) {
        rc = arg_text(FN, 4, args[3], &schema, &n, err_msg);
        if (rc == SQLITE_DONE) rc = SQLITE_OK, schema = "main";
    }
    if (rc == SQLITE_DONE) {
        *err_msg = sqlite3_mprintf("%s: model, target and storage must not be NULL", FN);
        rc = SQLITE_ERROR;
    }
    if (rc == SQLITE_OK) rc = parse_storage(storage_name, &storage, err_msg);
    if (rc == SQLITE_OK) rc = find_schema(cur, vt->db, schema, err_msg);
    if (rc == SQLITE_OK && !(cur->name = sqlite3_mprintf("%s", target))) rc = SQLITE_NOMEM;
    if (rc == SQLITE_OK) rc = pack(cur, vt, source, storage, err_msg);
    return rc;
}

/* ---- the virtual table ------------------------------------------------------------------ */

static int pack_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                        sqlite3_vtab **out, char **err_msg) {
    (void)argc, (void)argv, (void)err_msg;
    int rc = vtab_new(db, "CREATE TABLE x(name TEXT, schema TEXT, tensors INTEGER, q4 INTEGER, "
                          "q8 INTEGER, f16 INTEGER, f32 INTEGER, bytes_f32 INTEGER, "
                          "bytes_stored INTEGER, max_difference REAL, model HIDDEN, "
                          "target HIDDEN, storage HIDDEN, db HIDDEN)",
                      SQLITE_VTAB_DIRECTONLY, sizeof(pack_vtab), out);
    if (rc != SQLITE_OK) return rc;
    pack_vtab *vt = (pack_vtab *)*out;
    vt->db = db;
    vt->conn = aux;
    return SQLITE_OK;
}

static int pack_best_index(sqlite3_vtab *base, sqlite3_index_info *info) {
    static const vtab_args args = {COL_MODEL, N_ARGS, 3, FN, "argument",
                                   "model, target, storage [, schema]", 1e6, 1};
    return vtab_bind_args(base, info, &args);
}

static int pack_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out) {
    (void)base;
    return vtab_cursor_new(sizeof(pack_cursor), out);
}

static void cursor_reset(pack_cursor *cur) {
    sqlite3_free(cur->name);
    sqlite3_free(cur->schema);
    memset((char *)cur + sizeof cur->base, 0, sizeof *cur - sizeof cur->base);
}

static int pack_close(sqlite3_vtab_cursor *base) {
    cursor_reset((pack_cursor *)base);
    sqlite3_free(base);
    return SQLITE_OK;
}

static int pack_filter(sqlite3_vtab_cursor *base, int idx_num, const char *idx_str, int argc,
                       sqlite3_value **argv) {
    int missing = vtab_missing_args(base, idx_num, idx_str);
    if (missing != SQLITE_OK) return missing;
    pack_cursor *cur = (pack_cursor *)base;
    cursor_reset(cur);
    sqlite3_value *args[N_ARGS];
    vtab_filter_args(idx_num, argc, argv, N_ARGS, args);
    char *err_msg = NULL;
    int rc = start_call(cur, (pack_vtab *)base->pVtab, args, &err_msg);
    if (rc == SQLITE_OK) return SQLITE_OK;
    cursor_reset(cur);
    cur->eof = 1;
    return vtab_call_error(base->pVtab, rc, err_msg);
}

static int pack_next(sqlite3_vtab_cursor *base) {
    ((pack_cursor *)base)->eof = 1;
    return SQLITE_OK;
}

static int pack_eof(sqlite3_vtab_cursor *base) {
    return ((pack_cursor *)base)->eof;
}

static int pack_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid) {
    (void)base;
    *rowid = 1;
    return SQLITE_OK;
}

static int pack_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col) {
    const pack_cursor *cur = (const pack_cursor *)base;
    switch (col) {
    case COL_NAME: sqlite3_result_text(ctx, cur->name, -1, SQLITE_TRANSIENT); break;
    case COL_SCHEMA: sqlite3_result_text(ctx, cur->schema, -1, SQLITE_TRANSIENT); break;
    case COL_TENSORS: sqlite3_result_int64(ctx, cur->tensors); break;
    case COL_Q4: case COL_Q8: case COL_F16: case COL_F32:
        sqlite3_result_int64(ctx, cur->n_dtype[col - COL_Q4]);
        break;
    case COL_BYTES_F32: sqlite3_result_int64(ctx, cur->bytes_f32); break;
    case COL_BYTES_STORED: sqlite3_result_int64(ctx, cur->bytes_stored); break;
    case COL_MAX_DIFFERENCE: sqlite3_result_double(ctx, cur->max_difference); break;
    default: break;             /* hidden argument columns read back as NULL */
    }
    return SQLITE_OK;
}

static const sqlite3_module pack_module = {
    .iVersion = 0,
    .xCreate = NULL,
    .xConnect = pack_connect,
    .xBestIndex = pack_best_index,
    .xDisconnect = vtab_disconnect,
    .xDestroy = NULL,
    .xOpen = pack_open,
    .xClose = pack_close,
    .xFilter = pack_filter,
    .xNext = pack_next,
    .xEof = pack_eof,
    .xColumn = pack_column,
    .xRowid = pack_rowid,
};

int vtab_pack_register(sqlite3 *db, attn_conn *c) {
    conn_ref(c);
    return sqlite3_create_module_v2(db, FN, &pack_module, c, conn_unref);
}
