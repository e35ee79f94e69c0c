/* vtab_calibrate.c: attn_calibrate(model, dev_sql [, task]), an eponymous table-valued
 * function that fits the temperature of the model's heads on held-out rows (temperature
 * scaling, model/calibrate.h) and writes it into the model's config row:
 *
 *   task TEXT, temperature REAL, nll_before REAL, nll_after REAL, ece_before REAL,
 *   ece_after REAL, n INTEGER
 *
 * one row per head fitted. dev_sql gives the rows attn_eval reads ((text, label), (text,
 * entities_json) or (text, entities_json, relations_json)) and must be read-only. Without the
 * task argument the task comes from the rows as in attn_eval, and relation rows fit both the
 * entities and the relations head. The model runs once over the rows (attn_evaluate_collect
 * keeps the logits or emissions); the fit re-scores those at each temperature. "before" is at
 * the temperature the model had, "after" at the fitted one (rounded to 4 significant digits;
 * the model's own when that is no better). All temperatures are written in one savepoint to
 * the config row of the attn_model table the model was found in; a built-in is refused. The
 * next statement loads the changed model (the connection sees the data version move).
 *
 * DIRECTONLY: it runs SQL given as an argument and writes a table. */
#include "ext.h"


#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FN "attn_calibrate"
#define N_ARGS 3
#define MAX_HEADS 2             /* entities + relations from relation rows */

enum { COL_TASK, COL_TEMPERATURE, COL_NLL_BEFORE, COL_NLL_AFTER, COL_ECE_BEFORE, COL_ECE_AFTER,
       COL_N, COL_MODEL, COL_SQL, COL_TASK_ARG };

typedef struct calib_vtab {
    sqlite3_vtab base;
    sqlite3 *db;
    attn_conn *conn;
} calib_vtab;

typedef struct head_result {
    int task;
    double temperature, nll_before, nll_after, ece_before, ece_after;
    sqlite3_int64 n;
} head_result;

typedef struct calib_cursor {
    sqlite3_vtab_cursor base;
    head_result heads[MAX_HEADS];
    int n_heads, row;
} calib_cursor;

static int calib_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                         sqlite3_vtab **out, char **err_msg) {
    (void)argc, (void)argv, (void)err_msg;
    int rc = vtab_new(db, "CREATE TABLE x(task TEXT, temperature REAL, nll_before REAL, "
                          "nll_after REAL, ece_before REAL, ece_after REAL, n INTEGER, "
                          "model HIDDEN, dev_sql HIDDEN, task_arg HIDDEN)",
                      SQLITE_VTAB_DIRECTONLY, sizeof(calib_vtab), out);
    if (rc != SQLITE_OK) return rc;
    calib_vtab *vt = (calib_vtab *)*out;
    vt->db = db;
    vt->conn = aux;
    return SQLITE_OK;
}

static int calib_best_index(sqlite3_vtab *base, sqlite3_index_info *info) {
    static const vtab_args args = {COL_MODEL, N_ARGS, 2, FN, "argument",
                                   "model, dev_sql [, task]", 1e9, 2};
    return vtab_bind_args(base, info, &args);
}

static int calib_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out) {
    (void)base;
    return vtab_cursor_new(sizeof(calib_cursor), out);
}

static int calib_close(sqlite3_vtab_cursor *base) {
    sqlite3_free(base);
    return SQLITE_OK;
}

static const char *task_section(int task) {
    return task == ATTN_TASK_CLASSIFY ? "classify"
         : task == ATTN_TASK_ENTITIES ? "entities" : "relations";
}

static float model_temperature(const attn_model *m, int task) {
    return task == ATTN_TASK_CLASSIFY ? m->cfg.classify_temperature
         : task == ATTN_TASK_ENTITIES ? m->cfg.entity_temperature
                                      : m->cfg.relation_temperature;
}

static int engine_error(int status, const attn_error *err, char **err_msg) {
    if (status == ATTN_ESTOPPED) {
        *err_msg = sqlite3_mprintf("%s: interrupted; the model was not changed", FN);
        return SQLITE_INTERRUPT;
    }
    *err_msg = sqlite3_mprintf("%s: %s", FN, err->msg);
    return sqlite_code(status);
}

/* T rounded to 4 significant digits, within the config's range. */
static double round_temperature(double T) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.4g", T);
    T = strtod(buf, NULL);
    return T < ATTN_TEMPERATURE_MIN ? ATTN_TEMPERATURE_MIN
         : T > ATTN_TEMPERATURE_MAX ? ATTN_TEMPERATURE_MAX : T;
}

/* Fits one head on ds: runs the model once (collecting), then scores and fits. */
static int fit_head(const attn_model *m, const attn_dataset *ds, int task, interrupt_probe *stop,
                    head_result *out, char **err_msg) {
    attn_calib *c = attn_calib_new(m, task);
    if (!c) return SQLITE_NOMEM;
    attn_error err = {{0}};
    attn_eval_result res;
    int status = attn_evaluate_collect(m, ds, task, interrupt_probe_check, stop, c, &res, &err);
    if (status == ATTN_OK) attn_eval_result_free(&res);
    const double T0 = model_temperature(m, task);
    double T = T0, nll_fit;
    out->task = task;
    out->n = (sqlite3_int64)attn_calib_count(c);
    if (!status) status = attn_calib_score(c, T0, &out->nll_before, &out->ece_before, &err);
    if (!status) status = attn_calib_fit(c, interrupt_probe_check, stop, &T, &nll_fit, &err);
    if (!status) {
        T = round_temperature(T);
        status = attn_calib_score(c, T, &out->nll_after, &out->ece_after, &err);
    }
    if (!status && !(out->nll_after < out->nll_before)) {     /* no better: keep the model's */
        T = round_temperature(T0);      /* T0 is a float: as written in the config */
        out->nll_after = out->nll_before;
        out->ece_after = out->ece_before;
    }
    out->temperature = T;
    attn_calib_free(c);
    return status == ATTN_OK ? SQLITE_OK : engine_error(status, &err, err_msg);
}

/* The config text of name in schema.attn_model with every head's temperature set (removed
 * when 1), into *out (sqlite3_malloc'd). */
static int new_config(sqlite3 *db, const char *schema, const char *name,
                      const head_result *heads, int n_heads, char **out, char **err_msg) {
    *out = NULL;
    char *sql = sqlite3_mprintf("SELECT data FROM \"%w\".attn_model WHERE name = ?1 AND "
                                "key = 'config'", schema);
    if (!sql) return SQLITE_NOMEM;
    sqlite3_stmt *st = NULL, *edit = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    sqlite3_free(sql);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_text(st, 0)) {
            *out = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(st, 0));
            rc = *out ? SQLITE_OK : SQLITE_NOMEM;
        } else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
            *err_msg = sqlite3_mprintf("%s: model '%s': no config row in %s.attn_model", FN,
                                       name, schema);
            rc = SQLITE_ERROR;
        }
    }
    for (int i = 0; rc == SQLITE_OK && i < n_heads; i++) {
        char path[48];
        snprintf(path, sizeof path, "$.%s.temperature", task_section(heads[i].task));
        const int one = heads[i].temperature == 1.0;
        rc = sqlite3_prepare_v2(db, one ? "SELECT json_remove(?1, ?2)"
                                        : "SELECT json_set(?1, ?2, ?3)", -1, &edit, NULL);
        if (rc != SQLITE_OK) break;
        sqlite3_bind_text(edit, 1, *out, -1, SQLITE_STATIC);
        sqlite3_bind_text(edit, 2, path, -1, SQLITE_STATIC);
        if (!one) sqlite3_bind_double(edit, 3, heads[i].temperature);
        rc = sqlite3_step(edit);
        char *next = rc == SQLITE_ROW && sqlite3_column_text(edit, 0)
                   ? sqlite3_mprintf("%s", (const char *)sqlite3_column_text(edit, 0)) : NULL;
        rc = rc == SQLITE_ROW ? (next ? SQLITE_OK : SQLITE_NOMEM) : rc;
        sqlite3_finalize(edit);
        edit = NULL;
        sqlite3_free(*out);
        *out = next;
    }
    if (rc != SQLITE_OK && rc != SQLITE_NOMEM && !*err_msg)
        *err_msg = sqlite3_mprintf("%s: model '%s': reading the config: %s", FN, name,
                                   sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
        sqlite3_free(*out);
        *out = NULL;
    }
    return rc;
}

static int update_config(sqlite3 *db, const char *schema, const char *name, const char *config,
                         char **err_msg) {
    char *sql = sqlite3_mprintf("UPDATE \"%w\".attn_model SET data = ?1 WHERE name = ?2 AND "
                                "key = 'config'", schema);
    if (!sql) return SQLITE_NOMEM;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    sqlite3_free(sql);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, config, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    if (rc != SQLITE_OK && rc != SQLITE_NOMEM)
        *err_msg = sqlite3_mprintf("%s: model '%s': writing the config: %s", FN, name,
                                   sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}

/* Writes the temperatures into the config row, all or nothing (as model_write: a savepoint,
 * or inside the writing statement that runs us, whose transaction an error aborts). */
static int write_temperatures(sqlite3 *db, const char *schema, const char *name,
                              const head_result *heads, int n_heads, char **err_msg) {
    char *config = NULL;
    int rc = new_config(db, schema, name, heads, n_heads, &config, err_msg);
    if (rc != SQLITE_OK) return rc;
    attn_config cfg;
    attn_error err = {{0}};
    if (attn_config_parse(config, strlen(config), &cfg, &err) != ATTN_OK) {   /* defensive */
        *err_msg = sqlite3_mprintf("%s: model '%s': %s", FN, name, err.msg);
        sqlite3_free(config);
        return SQLITE_ERROR;
    }
    attn_config_free(&cfg);
    rc = sqlite3_exec(db, "SAVEPOINT attn_calibrate", NULL, NULL, NULL);
    if (rc == SQLITE_BUSY) {
        rc = update_config(db, schema, name, config, err_msg);
    } else if (rc == SQLITE_OK) {
        rc = update_config(db, schema, name, config, err_msg);
        if (rc == SQLITE_OK) rc = sqlite3_exec(db, "RELEASE attn_calibrate", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            if (!*err_msg)
                *err_msg = sqlite3_mprintf("%s: model '%s': writing the config: %s", FN, name,
                                           sqlite3_errmsg(db));
            sqlite3_exec(db, "ROLLBACK TO attn_calibrate", NULL, NULL, NULL);
            sqlite3_exec(db, "RELEASE attn_calibrate", NULL, NULL, NULL);
        }
    } else {
        *err_msg = sqlite3_mprintf("%s: model '%s': writing the config: %s", FN, name,
                                   sqlite3_errmsg(db));
    }
    sqlite3_free(config);
    return rc;
}

/* The model (again, after the user's SQL ran) and the schema it lives in; refuses built-ins. */
static int writable_model(calib_vtab *vt, const char *name, const attn_model **m,
                          const char **schema, char **err_msg) {
    int rc = conn_model_get(vt->conn, FN, name, m, err_msg);
    if (rc != SQLITE_OK) return rc;
    *schema = conn_model_schema(vt->conn, name);
    if (*schema) return SQLITE_OK;
    *err_msg = sqlite3_mprintf("%s: model '%s' is a built-in, which cannot be changed; "
                               "calibrate a copy in an attn_model table (no SQL function copies "
                               "a built-in: its rows are in model/builtin/%s.db of the source "
                               "tree, to ATTACH and INSERT INTO attn_model SELECT * FROM)",
                               FN, name, name);
    return SQLITE_ERROR;
}

static int run_calibrate(calib_cursor *cur, calib_vtab *vt, sqlite3_value **args,
                         char **err_msg) {
    const char *name, *sql, *schema = NULL;
    int task;
    int rc = rows_args(FN, args, &name, &sql, &task, err_msg);
    if (rc != SQLITE_OK) return rc;
    sqlite3_stmt *st = NULL;
    train_rows rows;
    memset(&rows, 0, sizeof rows);
    const attn_model *m = NULL;
    rc = rows_prepare(vt->db, FN, "dev_sql", sql, &st, err_msg);   /* read-only, one statement */
    if (rc == SQLITE_OK) rc = writable_model(vt, name, &m, &schema, err_msg);
    int rows_task = task;
    if (rc == SQLITE_OK && !task)
        rc = rows_infer_task(FN, m, name, sqlite3_column_count(st), &rows_task, err_msg);
    if (rc == SQLITE_OK) rc = model_check_task(FN, name, m, rows_task, err_msg);
    if (rc == SQLITE_OK)
        rc = rows_read(vt->db, st, FN, "dev_sql", "row", rows_task, &rows, err_msg);
    sqlite3_finalize(st);
    /* Reading the rows ran the user's SQL, which may have changed attn_model: look again. */
    if (rc == SQLITE_OK) rc = writable_model(vt, name, &m, &schema, err_msg);
    attn_dataset *ds = NULL;
    if (rc == SQLITE_OK) rc = rows_to_dataset(vt->db, &rows, rows_task, m, FN, "row", &ds, err_msg);
    train_rows_free(&rows);
    /* Relation rows without a task: the entity head too (its rows give the entities). */
    int heads[MAX_HEADS], n_heads = 0;
    if (!task && rows_task == ATTN_TASK_RELATIONS) heads[n_heads++] = ATTN_TASK_ENTITIES;
    heads[n_heads++] = rows_task;
    interrupt_probe stop;
    interrupt_probe_init(&stop, vt->db);
    /* A relation's score includes its entities' scores (pipeline.h): the relation head is
     * fitted on a view of the model whose entity temperature is the one just fitted, as it
     * will be once written. */
    attn_model with_fitted_entities;
    if (rc == SQLITE_OK) with_fitted_entities = *m;
    for (int i = 0; rc == SQLITE_OK && i < n_heads; i++) {
        rc = fit_head(&with_fitted_entities, ds, heads[i], &stop, &cur->heads[i], err_msg);
        if (rc == SQLITE_OK && heads[i] == ATTN_TASK_ENTITIES)
            with_fitted_entities.cfg.entity_temperature = (float)cur->heads[i].temperature;
    }
    interrupt_probe_done(&stop);
    attn_dataset_free(ds);
    char *schema_copy = NULL;
    if (rc == SQLITE_OK) {
        /* conn_model_get's strings may move with the next lookup: keep our own copy. */
        schema_copy = sqlite3_mprintf("%s", schema);
        rc = schema_copy ? write_temperatures(vt->db, schema_copy, name, cur->heads, n_heads,
                                              err_msg)
                         : SQLITE_NOMEM;
    }
    sqlite3_free(schema_copy);
    if (rc == SQLITE_OK) cur->n_heads = n_heads;
    return rc;
}

static int calib_filter(sqlite3_vtab_cursor *base, int idx_num, const char *idx_str, int argc,
                        sqlite3_value **argv) {
    int missing = vtab_missing_args(base, idx_num, idx_str);
    if (missing != SQLITE_OK) return missing;
    calib_cursor *cur = (calib_cursor *)base;
    calib_vtab *vt = (calib_vtab *)base->pVtab;
    cur->n_heads = cur->row = 0;
    sqlite3_value *args[N_ARGS];
    vtab_filter_args(idx_num, argc, argv, N_ARGS, args);
    char *err_msg = NULL;
    int rc = run_calibrate(cur, vt, args, &err_msg);
    if (rc != SQLITE_OK) {
        cur->n_heads = 0;
        if (rc == SQLITE_NOMEM && !err_msg) return rc;
        return vtab_error(base->pVtab, rc == SQLITE_INTERRUPT ? rc : SQLITE_ERROR, err_msg);
    }
    return SQLITE_OK;
}

static int calib_next(sqlite3_vtab_cursor *base) {
    ((calib_cursor *)base)->row++;
    return SQLITE_OK;
}

static int calib_eof(sqlite3_vtab_cursor *base) {
    const calib_cursor *cur = (const calib_cursor *)base;
    return cur->row >= cur->n_heads;
}

static int calib_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid) {
    *rowid = ((calib_cursor *)base)->row + 1;
    return SQLITE_OK;
}

static int calib_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col) {
    const calib_cursor *cur = (const calib_cursor *)base;
    const head_result *h = &cur->heads[cur->row];
    switch (col) {
    case COL_TASK: sqlite3_result_text(ctx, task_section(h->task), -1, SQLITE_STATIC); break;
    case COL_TEMPERATURE: sqlite3_result_double(ctx, h->temperature); break;
    case COL_NLL_BEFORE: sqlite3_result_double(ctx, h->nll_before); break;
    case COL_NLL_AFTER: sqlite3_result_double(ctx, h->nll_after); break;
    case COL_ECE_BEFORE: sqlite3_result_double(ctx, h->ece_before); break;
    case COL_ECE_AFTER: sqlite3_result_double(ctx, h->ece_after); break;
    case COL_N: sqlite3_result_int64(ctx, h->n); break;
    default: break;
    }
    return SQLITE_OK;
}

static const sqlite3_module calib_module = {
    .iVersion = 0,
    .xCreate = NULL,
    .xConnect = calib_connect,
    .xBestIndex = calib_best_index,
    .xDisconnect = vtab_disconnect,
    .xDestroy = NULL,
    .xOpen = calib_open,
    .xClose = calib_close,
    .xFilter = calib_filter,
    .xNext = calib_next,
    .xEof = calib_eof,
    .xColumn = calib_column,
    .xRowid = calib_rowid,
};

int vtab_calibrate_register(sqlite3 *db, attn_conn *c) {
    conn_ref(c);
    return sqlite3_create_module_v2(db, FN, &calib_module, c, conn_unref);
}
