/* pack_model: copies one model from a database's attn_model table into another's, re-encoded in
 * a chosen storage. The source rows go through the engine's loader (attn_model_new,
 * attn_model_set_tensor, attn_model_finish), so a damaged model is refused, not copied; the
 * written model is loaded back the same way and compared with the source.
 *
 *   pack_model SRC.db NAME DST.db [--dtype q4-int8|q8-int8|q4|q8|f16|f32]
 *     --dtype q8   (default) 2-D embedding tables ("embed.*" except "embed.proj.w") as q8,
 *                  every other tensor f16 (model.h: attn_storage_dtype)
 *     --dtype q4   as q8, but embedding tables at least 32 wide as q4
 *     --dtype q4-int8  as q4, plus the encoder's linear weights (projection, and qkv, out,
 *                  up, down of each layer) as q8: inference runs them on the int8 kernels
 *     --dtype q8-int8  as q8, plus those linear weights as q8 (int8 kernels)
 *     --dtype f16  every tensor f16;  --dtype f32: every tensor f32
 *
 * DST.db's attn_model is created if missing (the definition of sql/schema.sql); rows of NAME
 * already there are replaced, in one transaction. Prints one line: the tensor count per dtype,
 * the tensor bytes before and after, and the largest |difference| of a value after the round
 * trip. Exit status 0 on success, 1 on error (message on stderr). */
#include "model.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

static int usage(void) {
    fprintf(stderr, "usage: pack_model SRC.db NAME DST.db [--dtype q4-int8|q8-int8|q4|q8|f16|f32]\n");
    return 1;
}

static int fail(const char *what, const char *detail) {
    fprintf(stderr, "pack_model: %s: %s\n", what, detail);
    return 1;
}

static int parse_storage(const char *s, attn_storage *out) {
    if (!strcmp(s, "q4-int8")) *out = ATTN_STORE_Q4_INT8;
    else if (!strcmp(s, "q8-int8")) *out = ATTN_STORE_Q8_INT8;
    else if (!strcmp(s, "q4")) *out = ATTN_STORE_Q4;
    else if (!strcmp(s, "q8")) *out = ATTN_STORE_Q8;
    else if (!strcmp(s, "f16")) *out = ATTN_STORE_F16;
    else if (!strcmp(s, "f32")) *out = ATTN_STORE_F32;
    else return -1;
    return 0;
}

/* ---- reading: the rows of name, through the engine's loader --------------------------------- */

static int load_config(sqlite3 *db, const char *name, attn_model **m, char **config,
                       size_t *n_config) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT dtype, data FROM attn_model WHERE name = ?1 AND key = 'config'",
                           -1, &st, NULL) != SQLITE_OK)
        return fail("reading the source", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = 1;
    if (sqlite3_step(st) != SQLITE_ROW) fail(name, "no 'config' row in the source");
    else if (!sqlite3_column_text(st, 0) || strcmp((const char *)sqlite3_column_text(st, 0), "json"))
        fail(name, "the 'config' row's dtype is not 'json'");
    else {
        *n_config = (size_t)sqlite3_column_bytes(st, 1);
        *config = malloc(*n_config + 1);
        if (!*config) fail(name, "out of memory");
        else {
            memcpy(*config, sqlite3_column_blob(st, 1) ? sqlite3_column_blob(st, 1) : "", *n_config);
            (*config)[*n_config] = '\0';
            attn_error err;
            rc = attn_model_new(*config, *n_config, m, &err) == ATTN_OK ? 0 : fail(name, err.msg);
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static int load_tensors(sqlite3 *db, const char *name, attn_model *m) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT key, dtype, shape, data FROM attn_model "
                               "WHERE name = ?1 AND key <> 'config'", -1, &st, NULL) != SQLITE_OK)
        return fail("reading the source", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    attn_error err;
    int rc = 0, step;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const void *data = sqlite3_column_blob(st, 3);
        if (attn_model_set_tensor(m, (const char *)sqlite3_column_text(st, 0),
                                  (const char *)sqlite3_column_text(st, 1),
                                  (const char *)sqlite3_column_text(st, 2), data ? data : "",
                                  (size_t)sqlite3_column_bytes(st, 3), &err) != ATTN_OK)
            rc = fail(name, err.msg);
    }
    sqlite3_finalize(st);
    if (!rc && attn_model_finish(m, &err) != ATTN_OK) rc = fail(name, err.msg);
    return rc;
}

/* Opens path and loads model name from its attn_model. *config: the stored config text. */
static int read_model(const char *path, const char *name, attn_model **m, char **config,
                      size_t *n_config) {
    sqlite3 *db;
    *m = NULL;
    *config = NULL;
    int rc = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        rc = fail(path, sqlite3_errmsg(db));
    if (!rc) rc = load_config(db, name, m, config, n_config);
    if (!rc) rc = load_tensors(db, name, *m);
    sqlite3_close(db);
    return rc;
}

/* ---- writing ------------------------------------------------------------------------------- */

typedef struct pack_stats {
    size_t n_f32, n_f16, n_q8, n_q4;
    size_t bytes_before, bytes_after;   /* tensor data: source as f32, destination as stored */
} pack_stats;

static int insert(sqlite3_stmt *ins, const char *key, const char *dtype, const char *shape,
                  const void *data, size_t n, int as_text) {
    sqlite3_reset(ins);
    sqlite3_bind_text(ins, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, dtype, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 4, shape, -1, SQLITE_STATIC);
    if (as_text) sqlite3_bind_text64(ins, 5, data, n, SQLITE_STATIC, SQLITE_UTF8);
    else sqlite3_bind_blob64(ins, 5, data, n, SQLITE_STATIC);
    return sqlite3_step(ins) == SQLITE_DONE ? 0 : fail(key, sqlite3_errmsg(sqlite3_db_handle(ins)));
}

static int write_tensor(sqlite3_stmt *ins, const attn_model *m, const attn_tensor_spec *t,
                        attn_storage storage, pack_stats *stats) {
    const char *dtype = attn_storage_dtype(storage, t);
    size_t n = attn_tensor_stored_bytes(t, dtype);
    void *data = malloc(n ? n : 1);
    if (!data) return fail(t->key, "out of memory");
    attn_error err;
    int rc = attn_tensor_encode(t, dtype, m->params + t->offset, data, &err) == ATTN_OK
                 ? 0 : fail(t->key, err.msg);
    char shape[64];
    if (t->ndim == 1) snprintf(shape, sizeof shape, "[%lld]", (long long)t->shape[0]);
    else snprintf(shape, sizeof shape, "[%lld,%lld]", (long long)t->shape[0], (long long)t->shape[1]);
    if (!rc) rc = insert(ins, t->key, dtype, shape, data, n, 0);
    free(data);
    stats->n_q8 += !strcmp(dtype, "q8");
    stats->n_q4 += !strcmp(dtype, "q4");
    stats->n_f16 += !strcmp(dtype, "f16");
    stats->n_f32 += !strcmp(dtype, "f32");
    stats->bytes_before += t->size * sizeof(float);
    stats->bytes_after += n;
    return rc;
}

static int write_rows(sqlite3 *db, const char *name, const attn_model *m, const char *config,
                      size_t n_config, attn_storage storage, pack_stats *stats) {
    sqlite3_stmt *del = NULL, *ins = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(db, "DELETE FROM attn_model WHERE name = ?1", -1, &del, NULL) ||
        sqlite3_prepare_v2(db, "INSERT INTO attn_model(name, key, dtype, shape, data) "
                               "VALUES (?1, ?2, ?3, ?4, ?5)", -1, &ins, NULL))
        rc = fail("writing", sqlite3_errmsg(db));
    if (!rc) {
        sqlite3_bind_text(del, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 1, name, -1, SQLITE_STATIC);
        rc = sqlite3_step(del) == SQLITE_DONE ? 0 : fail("writing", sqlite3_errmsg(db));
    }
    if (!rc) rc = insert(ins, "config", "json", "[]", config, n_config, 1);
    for (size_t i = 0; !rc && i < m->n_specs; i++)
        rc = write_tensor(ins, m, &m->specs[i], storage, stats);
    sqlite3_finalize(del);
    sqlite3_finalize(ins);
    return rc;
}

static int exec(sqlite3 *db, const char *sql) {
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : fail("writing", sqlite3_errmsg(db));
}

static int write_model(const char *path, const char *name, const attn_model *m,
                       const char *config, size_t n_config, attn_storage storage,
                       pack_stats *stats) {
    sqlite3 *db;
    int rc = sqlite3_open(path, &db) == SQLITE_OK ? 0 : fail(path, sqlite3_errmsg(db));
    if (!rc) rc = exec(db, "BEGIN");
    if (!rc) rc = exec(db, SCHEMA_SQL);
    if (!rc) rc = write_rows(db, name, m, config, n_config, storage, stats);
    if (!rc) rc = exec(db, "COMMIT");
    sqlite3_close(db);      /* an open transaction is rolled back */
    return rc;
}

/* Largest |a - b| over every tensor value of two models of the same config. */
static double max_difference(const attn_model *a, const attn_model *b) {
    double worst = 0;
    for (size_t i = 0; i < a->n_specs; i++) {
        const attn_tensor_spec *t = &a->specs[i];
        for (size_t k = 0; k < t->size; k++)
            worst = fmax(worst, fabs((double)a->params[t->offset + k] - b->params[t->offset + k]));
    }
    return worst;
}

int main(int argc, char **argv) {
    attn_storage storage = ATTN_STORE_Q8;
    if (argc != 4 && argc != 6) return usage();
    if (argc == 6 && (strcmp(argv[4], "--dtype") != 0 || parse_storage(argv[5], &storage)))
        return usage();
    const char *src = argv[1], *name = argv[2], *dst = argv[3];
    attn_model *m = NULL, *back = NULL;
    char *config = NULL, *config_back = NULL;
    size_t n_config = 0, n_back = 0;
    pack_stats stats = {0};
    int rc = read_model(src, name, &m, &config, &n_config);
    if (!rc) rc = write_model(dst, name, m, config, n_config, storage, &stats);
    if (!rc) rc = read_model(dst, name, &back, &config_back, &n_back);
    if (!rc)
        printf("pack_model: %s: %zu tensors (%zu q4, %zu q8, %zu f16, %zu f32), %zu bytes as f32 "
               "-> %zu bytes stored; max |difference| %.3g\n", name, m->n_specs, stats.n_q4,
               stats.n_q8, stats.n_f16, stats.n_f32, stats.bytes_before, stats.bytes_after, max_difference(m, back));
    attn_model_free(m);
    attn_model_free(back);
    free(config);
    free(config_back);
    return rc;
}
