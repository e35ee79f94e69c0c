/* vtab_models.c: attn_models, an eponymous virtual table listing every model the connection
 * can see, in lookup order: the attn_model table of main, then of each attached database,
 * then the built-ins. A name stored in two places is listed twice; the first row is the model
 * the functions use. Only the config row is read (no tensor is loaded): task, labels and
 * params are derived from it, and are NULL when the config does not parse; config is NULL
 * when longer than ATTN_MAX_CONFIG_BYTES (no model could load it).
 *
 *   name, task ("classify,entities"), labels ({"entities": ["PER", ...]}),
 *   params (parameter count), storage ('main.attn_model', 'aux.attn_model' or 'built-in'),
 *   config (the JSON text as stored) */
#include "ext.h"

#include <string.h>

enum { COL_NAME, COL_TASK, COL_LABELS, COL_PARAMS, COL_STORAGE, COL_CONFIG, COL_LANGUAGE };

typedef struct model_row {
    char *name, *task, *labels, *storage, *config;   /* sqlite3_malloc'd; task, labels NULL
                                                         when the config does not parse */
    char *language;                                   /* the config's "language", or NULL */
    sqlite3_int64 params;                             /* -1: unknown */
} model_row;

typedef struct models_vtab {
    sqlite3_vtab base;
    sqlite3 *db;
} models_vtab;

typedef struct models_cursor {
    sqlite3_vtab_cursor base;
    model_row *rows;            /* [n_rows] */
    int n_rows;
    size_t cap_rows;
    int row;
} models_cursor;

static int models_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                          sqlite3_vtab **out, char **err_msg) {
    (void)aux, (void)argc, (void)argv, (void)err_msg;
    int rc = vtab_new(db, "CREATE TABLE x(name TEXT, task TEXT, labels TEXT, params INTEGER, "
                          "storage TEXT, config TEXT, language TEXT)", SQLITE_VTAB_INNOCUOUS,
                      sizeof(models_vtab), out);
    if (rc == SQLITE_OK) ((models_vtab *)*out)->db = db;
    return rc;
}

static int models_best_index(sqlite3_vtab *vt, sqlite3_index_info *info) {
    (void)vt;
    info->estimatedCost = 100.0;
    info->estimatedRows = 10;
    return SQLITE_OK;
}

static int models_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out) {
    (void)vt;
    return vtab_cursor_new(sizeof(models_cursor), out);
}

static void rows_free(models_cursor *cur) {
    for (int i = 0; i < cur->n_rows; i++) {
        model_row *r = &cur->rows[i];
        sqlite3_free(r->name);
        sqlite3_free(r->task);
        sqlite3_free(r->labels);
        sqlite3_free(r->language);
        sqlite3_free(r->storage);
        sqlite3_free(r->config);
    }
    sqlite3_free(cur->rows);
    cur->rows = NULL;
    cur->n_rows = cur->row = 0;
    cur->cap_rows = 0;
}

static int models_close(sqlite3_vtab_cursor *base) {
    rows_free((models_cursor *)base);
    sqlite3_free(base);
    return SQLITE_OK;
}

static model_row *push_row(models_cursor *cur) {
    if (sqlite_grow((void **)&cur->rows, &cur->cap_rows, (size_t)cur->n_rows + 1,
                    sizeof *cur->rows) != SQLITE_OK)
        return NULL;
    model_row *r = &cur->rows[cur->n_rows++];
    memset(r, 0, sizeof *r);
    r->params = -1;
    return r;
}

/* Fills task, labels, params and language from the config text when it parses. */
static int describe_config(model_row *r, const char *json, size_t n) {
    attn_config cfg;
    attn_error err;
    if (attn_config_parse(json, n, &cfg, &err) != ATTN_OK) return SQLITE_OK;
    sqlite3_str *labels = sqlite3_str_new(NULL);
    json_append_labels(labels, &cfg);
    r->labels = sqlite3_str_finish(labels);
    r->task = sqlite3_mprintf("%s", tasks_text(cfg.tasks));
    r->params = (sqlite3_int64)attn_config_param_count(&cfg);
    const int has_language = cfg.language[0] != 0;
    if (has_language) r->language = sqlite3_mprintf("%s", cfg.language);
    attn_config_free(&cfg);
    return r->labels && r->task && (!has_language || r->language) ? SQLITE_OK : SQLITE_NOMEM;
}

/* Adds a row per model name in schema.attn_model of db. */
static int add_models(models_cursor *cur, sqlite3 *db, const char *schema,
                      const char *storage, char **err_msg) {
    /* A config longer than the loader accepts is not read (NULL): a table of huge configs
     * must not make this listing hold them all. */
    char *sql = sqlite3_mprintf(
        "SELECT m.name, CASE WHEN length(c.data) <= %d THEN c.data END "
        "FROM (SELECT DISTINCT name FROM \"%w\".attn_model) m "
        "LEFT JOIN \"%w\".attn_model c ON c.name = m.name AND c.key = 'config' "
        "ORDER BY m.name", ATTN_MAX_CONFIG_BYTES, schema, schema);
    if (!sql) return SQLITE_NOMEM;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    sqlite3_free(sql);
    if (rc != SQLITE_OK) {
        *err_msg = sqlite3_mprintf("attn_models: %s.attn_model: %s", schema, sqlite3_errmsg(db));
        return rc;
    }
    while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        model_row *r = push_row(cur);
        if (!r) { rc = SQLITE_NOMEM; break; }
        const char *config = (const char *)sqlite3_column_text(st, 1);
        r->name = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(st, 0));
        r->storage = sqlite3_mprintf("%s", storage);
        if (config) r->config = sqlite3_mprintf("%s", config);
        if (!r->name || !r->storage || (config && !r->config)) rc = SQLITE_NOMEM;
        else if (config) rc = describe_config(r, config, strlen(config));
    }
    int rc2 = sqlite3_finalize(st);
    if (rc == SQLITE_OK && rc2 != SQLITE_OK) {
        *err_msg = sqlite3_mprintf("attn_models: %s.attn_model: %s", schema, sqlite3_errmsg(db));
        rc = rc2;
    }
    return rc;
}

static int add_schema_models(models_cursor *cur, sqlite3 *db, char **err_msg) {
    char **names;
    int n = schema_names(db, &names), rc = SQLITE_OK;
    if (n < 0) return SQLITE_NOMEM;
    for (int i = 0; rc == SQLITE_OK && i < n; i++) {
        char *msg = NULL;
        int has = schema_model_table(db, names[i], &msg);
        if (has < 0) {
            *err_msg = sqlite3_mprintf("attn_models: %s", msg);
            sqlite3_free(msg);
            rc = SQLITE_ERROR;
        }
        if (has <= 0) continue;
        char *storage = sqlite3_mprintf("%s.attn_model", names[i]);
        rc = storage ? add_models(cur, db, names[i], storage, err_msg) : SQLITE_NOMEM;
        sqlite3_free(storage);
    }
    schema_names_free(names, n);
    return rc;
}

static int add_builtin_models(models_cursor *cur, char **err_msg) {
    int rc = SQLITE_OK;
    for (int i = 0; rc == SQLITE_OK && i < builtin_count(); i++) {
        sqlite3 *bdb;
        rc = builtin_open(builtin_get(i), &bdb, err_msg);
        if (rc == SQLITE_OK) rc = add_models(cur, bdb, "main", "built-in", err_msg);
        sqlite3_close(bdb);
    }
    return rc;
}

static int models_filter(sqlite3_vtab_cursor *base, int idx_num, const char *idx_str, int argc,
                         sqlite3_value **argv) {
    (void)idx_num, (void)idx_str, (void)argc, (void)argv;
    models_cursor *cur = (models_cursor *)base;
    models_vtab *vt = (models_vtab *)base->pVtab;
    rows_free(cur);
    char *err_msg = NULL;
    int rc = add_schema_models(cur, vt->db, &err_msg);
    if (rc == SQLITE_OK) rc = add_builtin_models(cur, &err_msg);
    if (rc != SQLITE_OK) {
        rows_free(cur);
        sqlite3_free(vt->base.zErrMsg);
        vt->base.zErrMsg = err_msg;
    }
    return rc;
}

static int models_next(sqlite3_vtab_cursor *base) {
    ((models_cursor *)base)->row++;
    return SQLITE_OK;
}

static int models_eof(sqlite3_vtab_cursor *base) {
    models_cursor *cur = (models_cursor *)base;
    return cur->row >= cur->n_rows;
}

static int models_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid) {
    *rowid = ((models_cursor *)base)->row + 1;
    return SQLITE_OK;
}

static void result_text_or_null(sqlite3_context *ctx, const char *s) {
    if (s) sqlite3_result_text(ctx, s, -1, SQLITE_TRANSIENT);
}

static int models_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col) {
    models_cursor *cur = (models_cursor *)base;
    const model_row *r = &cur->rows[cur->row];
    switch (col) {
    case COL_NAME: result_text_or_null(ctx, r->name); break;
    case COL_TASK: result_text_or_null(ctx, r->task); break;
    case COL_LABELS: result_text_or_null(ctx, r->labels); break;
    case COL_PARAMS: if (r->params >= 0) sqlite3_result_int64(ctx, r->params); break;
    case COL_STORAGE: result_text_or_null(ctx, r->storage); break;
    case COL_CONFIG: result_text_or_null(ctx, r->config); break;
    case COL_LANGUAGE: result_text_or_null(ctx, r->language); break;
    }
    return SQLITE_OK;
}

static const sqlite3_module models_module = {
    .iVersion = 0,
    .xCreate = NULL,                    /* eponymous only */
    .xConnect = models_connect,
    .xBestIndex = models_best_index,
    .xDisconnect = vtab_disconnect,
    .xDestroy = NULL,
    .xOpen = models_open,
    .xClose = models_close,
    .xFilter = models_filter,
    .xNext = models_next,
    .xEof = models_eof,
    .xColumn = models_column,
    .xRowid = models_rowid,
};

int vtab_models_register(sqlite3 *db, attn_conn *c) {
    (void)c;
    return sqlite3_create_module_v2(db, "attn_models", &models_module, NULL, NULL);
}
