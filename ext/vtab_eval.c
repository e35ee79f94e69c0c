/* vtab_eval.c: attn_eval(model, sql [, task]), an eponymous table-valued function scoring a
 * model on annotated rows (same shapes as attn_train: (text, label), (text, entities_json),
 * (text, entities_json, relations_json)) with the inference pipeline (attn_evaluate):
 *
 *   label TEXT, precision REAL, recall REAL, f1 REAL, support INTEGER, predicted INTEGER,
 *   ece REAL
 *
 * one row per label, then "micro" and "macro" (classify: "accuracy" and "macro"; see fit.h);
 * ece, the expected calibration error of the predictions, is on the "accuracy" / "micro" row
 * and NULL elsewhere. sqlite3_interrupt stops it between texts. Without
 * the task argument it is inferred: 3 columns -> relations; 2 columns -> the model's classify
 * or entities task (a model with both needs the argument).
 *
 * DIRECTONLY: it runs SQL given as an argument. */
#include "ext.h"

#include <string.h>

#define FN "attn_eval"
#define N_ARGS 3

enum { COL_LABEL, COL_PRECISION, COL_RECALL, COL_F1, COL_SUPPORT, COL_PREDICTED, COL_ECE,
       COL_MODEL, COL_SQL, COL_TASK };

typedef struct eval_vtab {
    sqlite3_vtab base;
    sqlite3 *db;
    attn_conn *conn;
} eval_vtab;

typedef struct eval_cursor {
    sqlite3_vtab_cursor base;
    attn_eval_result result;
    int have_result;
    int row;
} eval_cursor;

static int eval_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                        sqlite3_vtab **out, char **err_msg) {
    (void)argc, (void)argv, (void)err_msg;
    int rc = vtab_new(db, "CREATE TABLE x(label TEXT, precision REAL, recall REAL, f1 REAL, "
                          "support INTEGER, predicted INTEGER, ece REAL, model HIDDEN, sql HIDDEN, "
                          "task HIDDEN)", SQLITE_VTAB_DIRECTONLY, sizeof(eval_vtab), out);
    if (rc != SQLITE_OK) return rc;
    eval_vtab *vt = (eval_vtab *)*out;
    vt->db = db;
    vt->conn = aux;
    return SQLITE_OK;
}

/* Hidden columns model, sql, task; idxNum bit i = argument i given. model and sql required. */
static int eval_best_index(sqlite3_vtab *base, sqlite3_index_info *info) {
    static const vtab_args args = {COL_MODEL, N_ARGS, 2, FN, "argument", "model, sql [, task]",
                                   1e6, 10};
    return vtab_bind_args(base, info, &args);
}

static int eval_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out) {
    (void)base;
    return vtab_cursor_new(sizeof(eval_cursor), out);
}

static void cursor_reset(eval_cursor *cur) {
    if (cur->have_result) attn_eval_result_free(&cur->result);
    memset((char *)cur + sizeof cur->base, 0, sizeof *cur - sizeof cur->base);
}

static int eval_close(sqlite3_vtab_cursor *base) {
    cursor_reset((eval_cursor *)base);
    sqlite3_free(base);
    return SQLITE_OK;
}

static int evaluate(eval_cursor *cur, sqlite3 *db, const attn_model *m, int task,
                    const train_rows *rows, char **err_msg) {
    attn_dataset *ds;
    int rc = rows_to_dataset(db, rows, task, m, FN, "row", &ds, err_msg);
    if (rc != SQLITE_OK) return rc;
    attn_error err = {{0}};
    interrupt_probe probe;
    interrupt_probe_init(&probe, db);
    int status = attn_evaluate(m, ds, task, interrupt_probe_check, &probe, &cur->result, &err);
    interrupt_probe_done(&probe);
    if (status == ATTN_OK) {
        cur->have_result = 1;
    } else if (status == ATTN_ESTOPPED) {
        *err_msg = sqlite3_mprintf("%s: interrupted", FN);
        rc = SQLITE_INTERRUPT;
    } else {
        *err_msg = sqlite3_mprintf("%s: %s", FN, err.msg);
        rc = sqlite_code(status);
    }
    attn_dataset_free(ds);
    return rc;
}

static int run_eval(eval_cursor *cur, eval_vtab *vt, sqlite3_value **args, char **err_msg) {
    const char *name, *sql;
    int task;
    int rc = rows_args(FN, args, &name, &sql, &task, err_msg);
    if (rc != SQLITE_OK) return rc;
    sqlite3_stmt *st = NULL;
    train_rows rows;
    memset(&rows, 0, sizeof rows);
    rc = rows_prepare(vt->db, FN, "sql", sql, &st, err_msg);
    const attn_model *m = NULL;
    if (rc == SQLITE_OK) rc = conn_model_get(vt->conn, FN, name, &m, err_msg);
    if (rc == SQLITE_OK && !task) rc = rows_infer_task(FN, m, name, sqlite3_column_count(st), &task,
                                                    err_msg);
    if (rc == SQLITE_OK) rc = model_check_task(FN, name, m, task, err_msg);
    if (rc == SQLITE_OK) rc = rows_read(vt->db, st, FN, "sql", "row", task, &rows, err_msg);
    sqlite3_finalize(st);
    /* Reading the rows ran the user's SQL, which may have changed attn_model: look again. */
    if (rc == SQLITE_OK) rc = conn_model_get(vt->conn, FN, name, &m, err_msg);
    if (rc == SQLITE_OK) rc = evaluate(cur, vt->db, m, task, &rows, err_msg);
    train_rows_free(&rows);
    return rc;
}

static int eval_filter(sqlite3_vtab_cursor *base, int idx_num, const char *idx_str, int argc,
                       sqlite3_value **argv) {
    int missing = vtab_missing_args(base, idx_num, idx_str);
    if (missing != SQLITE_OK) return missing;
    eval_cursor *cur = (eval_cursor *)base;
    eval_vtab *vt = (eval_vtab *)base->pVtab;
    cursor_reset(cur);
    sqlite3_value *args[N_ARGS];
    vtab_filter_args(idx_num, argc, argv, N_ARGS, args);
    char *err_msg = NULL;
    int rc = run_eval(cur, vt, args, &err_msg);
    if (rc != SQLITE_OK) {
        cursor_reset(cur);
        if (rc == SQLITE_NOMEM) {
            sqlite3_free(err_msg);
            return rc;
        }
        return vtab_error(base->pVtab, SQLITE_ERROR, err_msg);
    }
    return SQLITE_OK;
}

static int eval_next(sqlite3_vtab_cursor *base) {
    ((eval_cursor *)base)->row++;
    return SQLITE_OK;
}

static int eval_eof(sqlite3_vtab_cursor *base) {
    eval_cursor *cur = (eval_cursor *)base;
    return !cur->have_result || cur->row >= cur->result.n;
}

static int eval_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid) {
    *rowid = ((eval_cursor *)base)->row + 1;
    return SQLITE_OK;
}

static int eval_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col) {
    eval_cursor *cur = (eval_cursor *)base;
    const attn_eval_row *r = &cur->result.rows[cur->row];
    switch (col) {
    case COL_LABEL: sqlite3_result_text(ctx, r->label, -1, SQLITE_TRANSIENT); break;
    case COL_PRECISION: sqlite3_result_double(ctx, r->precision); break;
    case COL_RECALL: sqlite3_result_double(ctx, r->recall); break;
    case COL_F1: sqlite3_result_double(ctx, r->f1); break;
    case COL_SUPPORT: sqlite3_result_int64(ctx, r->support); break;
    case COL_PREDICTED: sqlite3_result_int64(ctx, r->predicted); break;
    case COL_ECE:
        if (r->ece == r->ece) sqlite3_result_double(ctx, r->ece);    /* NaN: NULL */
        break;
    default: break;
    }
    return SQLITE_OK;
}

static const sqlite3_module eval_module = {
    .iVersion = 0,
    .xCreate = NULL,
    .xConnect = eval_connect,
    .xBestIndex = eval_best_index,
    .xDisconnect = vtab_disconnect,
    .xDestroy = NULL,
    .xOpen = eval_open,
    .xClose = eval_close,
    .xFilter = eval_filter,
    .xNext = eval_next,
    .xEof = eval_eof,
    .xColumn = eval_column,
    .xRowid = eval_rowid,
};

int vtab_eval_register(sqlite3 *db, attn_conn *c) {
    conn_ref(c);
    return sqlite3_create_module_v2(db, FN, &eval_module, c, conn_unref);
}
