/* model_write.c: a model in memory into SCHEMA.attn_model (sql/schema.sql; main for attn_train
 * and attn_calibrate, the schema the user names for attn_pack), all or nothing.
 *
 * One SAVEPOINT around: CREATE TABLE IF NOT EXISTS, DELETE the rows of that name, INSERT the
 * config row and one row per tensor (in the config's tensor order). Any failure rolls back to
 * the savepoint, so an existing model of that name is left exactly as it was. Inside a user's
 * transaction the savepoint nests; outside, RELEASE commits. Under a writing statement
 * (INSERT ... SELECT FROM attn_train) SQLite refuses new savepoints; the rows are then written
 * inside that statement's transaction, and the error we return aborts it. Tensor bytes are
 * little-endian, in the dtype the storage choice gives each tensor (model.h: f32, f16, or q8
 * for the embedding tables with f16 for the rest), encoded by the engine
 * (attn_model_stored_tensor). The rows of a gazetteer's lists follow the tensors, as given.
 * Before the savepoint is released, the rows written are read back exactly as a lookup will
 * (model_rows_fingerprint's bounds, model_rows_load): a model that would not load (say a
 * meta that takes the config over ATTN_MAX_CONFIG_BYTES) is not written. */
#include "ext.h"

#include <stdio.h>
#include <string.h>

static const char SCHEMA_SQL[] =
    "CREATE TABLE IF NOT EXISTS \"%w\".attn_model(name TEXT NOT NULL, key TEXT NOT NULL, "
    "dtype TEXT NOT NULL, shape TEXT NOT NULL, data BLOB, PRIMARY KEY (name, key))";

static int exec(sqlite3 *db, const char *fn, const char *sql, char **err_msg) {
    int rc = sql ? sqlite3_exec(db, sql, NULL, NULL, NULL) : SQLITE_NOMEM;
    if (rc != SQLITE_OK && rc != SQLITE_NOMEM)
        *err_msg = sqlite3_mprintf("%s: writing the model: %s", fn, sqlite3_errmsg(db));
    return rc;
}

/* Tensor i as stored under storage (*t) and its bytes (*owned, sqlite3_malloc'd). */
static int tensor_bytes(const attn_model *m, size_t i, attn_storage storage,
                        attn_stored_tensor *t, void **owned) {
    attn_error err;
    if (attn_model_stored_tensor(m, i, storage, t, NULL, &err) != ATTN_OK) return SQLITE_NOMEM;
    *owned = sqlite3_malloc64(t->n_bytes ? t->n_bytes : 1);
    if (!*owned) return SQLITE_NOMEM;
    if (attn_model_stored_tensor(m, i, storage, t, *owned, &err) != ATTN_OK) {
        sqlite3_free(*owned);
        *owned = NULL;
        return SQLITE_NOMEM;    /* the dtype comes from attn_storage_dtype: only ENOMEM */
    }
    return SQLITE_OK;
}

static int insert_tensor(sqlite3 *db, sqlite3_stmt *ins, const char *fn, const attn_model *m,
                         size_t i, attn_storage storage, char **err_msg) {
    attn_stored_tensor t;
    void *data;
    if (tensor_bytes(m, i, storage, &t, &data) != SQLITE_OK) return SQLITE_NOMEM;
    sqlite3_bind_text(ins, 2, t.key, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, t.dtype, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 4, t.shape, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob64(ins, 5, data, t.n_bytes, SQLITE_STATIC);
    int rc = sqlite3_step(ins);
    sqlite3_reset(ins);
    sqlite3_free(data);
    if (rc != SQLITE_DONE) {
        *err_msg = sqlite3_mprintf("%s: writing tensor '%s': %s", fn, t.key,
                                   sqlite3_errmsg(db));
        return rc;
    }
    return SQLITE_OK;
}

/* Row i of the gazetteer's lists as it was given: text, so that a user extends it with ||. */
static int insert_gazetteer_row(sqlite3 *db, sqlite3_stmt *ins, const char *fn,
                                const attn_model *m, size_t i, char **err_msg) {
    const char *key, *data;
    size_t n;
    attn_gazetteer_row(m->gazetteer, i, &key, &data, &n);
    sqlite3_bind_text(ins, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, "text", -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 4, "[]", -1, SQLITE_STATIC);
    sqlite3_bind_text64(ins, 5, data, n, SQLITE_STATIC, SQLITE_UTF8);
    int rc = sqlite3_step(ins);
    sqlite3_reset(ins);
    if (rc != SQLITE_DONE) {
        *err_msg = sqlite3_mprintf("%s: writing row '%s': %s", fn, key, sqlite3_errmsg(db));
        return rc;
    }
    return SQLITE_OK;
}

static int write_rows(sqlite3 *db, const char *fn, const char *schema, const char *name,
                      const attn_model *m, const char *config_json, attn_storage storage,
                      char **err_msg) {
    sqlite3_stmt *del = NULL, *ins = NULL;
    char *del_sql = sqlite3_mprintf("DELETE FROM \"%w\".attn_model WHERE name = ?1", schema);
    char *ins_sql = sqlite3_mprintf("INSERT INTO \"%w\".attn_model(name, key, dtype, shape, "
                                    "data) VALUES (?1, ?2, ?3, ?4, ?5)", schema);
    int rc = del_sql && ins_sql ? SQLITE_OK : SQLITE_NOMEM;
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, del_sql, -1, &del, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, ins_sql, -1, &ins, NULL);
    sqlite3_free(del_sql);
    sqlite3_free(ins_sql);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(del, 1, name, -1, SQLITE_STATIC);
        rc = sqlite3_step(del) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(ins, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, "config", -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, "json", -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 4, "[]", -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 5, config_json, -1, SQLITE_STATIC);
        rc = sqlite3_step(ins) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        sqlite3_reset(ins);
    }
    if (rc != SQLITE_OK && rc != SQLITE_NOMEM)
        *err_msg = sqlite3_mprintf("%s: writing the model: %s", fn, sqlite3_errmsg(db));
    for (size_t i = 0; rc == SQLITE_OK && i < attn_model_n_tensors(m); i++)
        rc = insert_tensor(db, ins, fn, m, i, storage, err_msg);
    for (size_t i = 0; rc == SQLITE_OK && i < attn_gazetteer_n_rows(m->gazetteer); i++)
        rc = insert_gazetteer_row(db, ins, fn, m, i, err_msg);
    sqlite3_finalize(del);
    sqlite3_finalize(ins);
    return rc;
}

/* The rows of name in schema.attn_model load as a lookup would load them; the model loaded
 * into *read_back when read_back is non-NULL. */
static int check_loads(sqlite3 *db, const char *fn, const char *schema, const char *name,
                       attn_model **read_back, char **err_msg) {
    char *msg = NULL;
    uint64_t fp;
    attn_model *m = NULL;
    int rc = model_rows_fingerprint(db, schema, name, &fp, NULL, &msg) == 0 ? SQLITE_OK
                                                                            : SQLITE_ERROR;
    if (rc == SQLITE_OK) rc = model_rows_load(db, schema, name, &m, &msg);
    if (rc == SQLITE_OK && read_back) *read_back = m;
    else attn_model_free(m);
    if (rc == SQLITE_NOMEM && !msg) return rc;
    if (rc != SQLITE_OK) {
        *err_msg = sqlite3_mprintf("%s: model '%s' would not load, so it was not written: %s",
                                   fn, name, msg ? msg : "error");
        rc = SQLITE_ERROR;
    }
    sqlite3_free(msg);
    return rc;
}

/* 1 when schema.attn_model has triggers (they would run our inserts into SQL of whoever made
 * the database), 0 when not, -1 on error. */
static int has_triggers(sqlite3 *db, const char *schema) {
    char *sql = sqlite3_mprintf("SELECT 1 FROM \"%w\".sqlite_master WHERE type = 'trigger' "
                                "AND tbl_name = 'attn_model' COLLATE NOCASE", schema);
    sqlite3_stmt *st = NULL;
    int rc = sql ? sqlite3_prepare_v2(db, sql, -1, &st, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* CREATE TABLE IF NOT EXISTS, the rows, and the check that they load. */
static int write_checked(sqlite3 *db, const char *fn, const char *schema, const char *name,
                         const attn_model *m, const char *config_json, attn_storage storage,
                         attn_model **read_back, char **err_msg) {
    char *msg = NULL;
    if (schema_model_table(db, schema, &msg) < 0) {
        *err_msg = sqlite3_mprintf("%s: %s", fn, msg);
        sqlite3_free(msg);
        return SQLITE_ERROR;
    }
    int triggers = has_triggers(db, schema);
    if (triggers) {
        *err_msg = triggers < 0
            ? sqlite3_mprintf("%s: writing the model: %s", fn, sqlite3_errmsg(db))
            : sqlite3_mprintf("%s: %s.attn_model has triggers; models are not written through "
                              "them", fn, schema);
        return SQLITE_ERROR;
    }
    char *create = sqlite3_mprintf(SCHEMA_SQL, schema);
    int rc = exec(db, fn, create, err_msg);
    sqlite3_free(create);
    if (rc == SQLITE_OK) rc = write_rows(db, fn, schema, name, m, config_json, storage, err_msg);
    if (rc == SQLITE_OK) rc = check_loads(db, fn, schema, name, read_back, err_msg);
    return rc;
}

int model_write(sqlite3 *db, const char *fn, const char *name, const attn_model *m,
                const char *config_json, attn_storage storage, char **err_msg) {
    return model_write_to(db, fn, "main", name, m, config_json, storage, NULL, err_msg);
}

int model_write_to(sqlite3 *db, const char *fn, const char *schema, const char *name,
                   const attn_model *m, const char *config_json, attn_storage storage,
                   attn_model **read_back, char **err_msg) {
    if (read_back) *read_back = NULL;
    int rc = sqlite3_exec(db, "SAVEPOINT attn_model_write", NULL, NULL, NULL);
    if (rc == SQLITE_BUSY) {
        /* A writing statement is running us (INSERT INTO log SELECT * FROM attn_train(...)):
         * no savepoint may open, and our writes already belong to its transaction, which an
         * error of ours aborts. */
        return write_checked(db, fn, schema, name, m, config_json, storage, read_back,
                             err_msg);
    }
    if (rc != SQLITE_OK) {
        *err_msg = sqlite3_mprintf("%s: writing the model: %s", fn, sqlite3_errmsg(db));
        return rc;
    }
    rc = write_checked(db, fn, schema, name, m, config_json, storage, read_back, err_msg);
    if (rc == SQLITE_OK) {
        rc = exec(db, fn, "RELEASE attn_model_write", err_msg);
        if (rc == SQLITE_OK) return SQLITE_OK;
    }
    if (read_back) {
        attn_model_free(*read_back);
        *read_back = NULL;
    }
    /* Undo everything since the savepoint, then drop it (ends the transaction it began). */
    sqlite3_exec(db, "ROLLBACK TO attn_model_write", NULL, NULL, NULL);
    sqlite3_exec(db, "RELEASE attn_model_write", NULL, NULL, NULL);
    return rc;
}
