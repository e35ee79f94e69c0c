/* train_gazetteers.c: attn_train's option 'gazetteers', name lists for a fresh model:
 *
 *   'gazetteers', json_object('PER', 'SELECT name FROM first_names',
 *                             'ORG', json_array('Acme Corp', 'Initech'))
 *
 * Each member is a list (the name: 1..31 of [A-Za-z0-9_-], at most ATTN_GAZ_MAX_LISTS lists)
 * and its entries: a read-only query whose first column gives one entry a row (NULLs skipped),
 * or an array of strings. The model's features get a gazetteer feature of these lists, in
 * this order (gazetteers_features), and its lists these entries (gazetteers_read), one row
 * 'gazetteer.<list>' each, which the trained model keeps in its table (model_write.c): the
 * training rows are featurised with the very lists the model is shipped with. */
#include "ext.h"

#include <ctype.h>
#include <string.h>

#define GAZETTEER_DEFAULT_DIM 16

int gazetteers_check(const attn_json *v, const char *fn, char **err_msg) {
    if (v->type != ATTN_JSON_OBJECT || v->len == 0 || v->len > ATTN_GAZ_MAX_LISTS) {
        *err_msg = sqlite3_mprintf("%s: option 'gazetteers' must be an object of 1 to %d lists "
                                   "(name: SQL or an array of entries)", fn, ATTN_GAZ_MAX_LISTS);
        return SQLITE_ERROR;
    }
    for (size_t i = 0; i < v->len; i++) {
        const char *name = v->keys[i];
        size_t n = strlen(name);
        int ok = n >= 1 && n < ATTN_GAZ_NAME_BYTES;
        for (size_t c = 0; ok && c < n; c++)
            ok = isalnum((unsigned char)name[c]) || name[c] == '_' || name[c] == '-';
        const attn_json *e = &v->items[i];
        int entries_ok = (e->type == ATTN_JSON_STRING && e->len > 0) || e->type == ATTN_JSON_ARRAY;
        for (size_t k = 0; entries_ok && e->type == ATTN_JSON_ARRAY && k < e->len; k++)
            entries_ok = e->items[k].type == ATTN_JSON_STRING;
        if (!ok) {
            *err_msg = sqlite3_mprintf("%s: option 'gazetteers': list name '%.64s' must be 1 to "
                                       "%d letters, digits, '_' or '-'", fn, name,
                                       ATTN_GAZ_NAME_BYTES - 1);
            return SQLITE_ERROR;
        }
        if (!entries_ok) {
            *err_msg = sqlite3_mprintf("%s: option 'gazetteers': list '%s' must be an SQL query "
                                       "or an array of strings", fn, name);
            return SQLITE_ERROR;
        }
    }
    return SQLITE_OK;
}

/* ["PER","LOC"]: the list names as a JSON array (sqlite3_malloc'd). */
static char *list_names(const attn_json *lists) {
    sqlite3_str *out = sqlite3_str_new(NULL);
    sqlite3_str_appendchar(out, 1, '[');
    for (size_t i = 0; i < lists->len; i++) {
        if (i) sqlite3_str_appendchar(out, 1, ',');
        json_append_string(out, lists->keys[i]);
    }
    sqlite3_str_appendchar(out, 1, ']');
    return sqlite3_str_finish(out);
}

/* Through SQLite's JSON functions, as config_with_meta does: the gazetteer item of the features
 * gets the lists (it must not name others), or one of width GAZETTEER_DEFAULT_DIM is added.
 * Columns: the features, and 1 when the item names other lists. */
static const char FEATURES_SQL[] =
    "SELECT CASE WHEN g.key IS NULL THEN json_insert(?1, '$[#]', json_object('kind', "
    "'gazetteer', 'dim', ?3, 'lists', json(?2))) "
    "ELSE json_set(?1, '$[' || g.key || '].lists', json(?2)) END, "
    "coalesce(json(json_extract(g.value, '$.lists')) <> json(?2), 0) "
    "FROM (SELECT 1) LEFT JOIN (SELECT key, value FROM json_each(?1) "
    "WHERE json_extract(value, '$.kind') = 'gazetteer' LIMIT 1) AS g";

int gazetteers_features(sqlite3 *db, const char *fn, const attn_json *lists,
                        const char *features, char **out, char **err_msg) {
    *out = NULL;
    char *names = list_names(lists);
    if (!names) return SQLITE_NOMEM;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, FEATURES_SQL, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, features, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, names, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, GAZETTEER_DEFAULT_DIM);
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_ROW && sqlite3_column_int(st, 1)) {
        *err_msg = sqlite3_mprintf("%s: option 'features': the gazetteer feature's 'lists' "
                                   "must be those of option 'gazetteers' (%s), or left out",
                                   fn, names);
        rc = SQLITE_ERROR;
    } else if (rc == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(st, 0);
        rc = text && (*out = sqlite3_mprintf("%s", text)) ? SQLITE_OK : SQLITE_NOMEM;
    } else {
        *err_msg = sqlite3_mprintf("%s: option 'features': %s", fn, sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    sqlite3_free(names);
    return rc;
}

/* Appends entry e[n] to out, after a newline unless it is the first; SQLITE_TOOBIG past the
 * gazetteer's limit. */
static int append_entry(sqlite3_str *out, const char *e, size_t n) {
    const size_t len = (size_t)sqlite3_str_length(out);
    if (len + n + 1 > ATTN_GAZ_MAX_BYTES) return SQLITE_TOOBIG;
    if (len) sqlite3_str_appendchar(out, 1, '\n');
    sqlite3_str_append(out, e, (int)n);
    return sqlite3_str_errcode(out);
}

/* The entries of one list, a line each, into out. */
static int list_entries(sqlite3 *db, const char *fn, const char *name, const attn_json *src,
                        sqlite3_str *out, char **err_msg) {
    int rc = SQLITE_OK;
    if (src->type == ATTN_JSON_ARRAY) {
        for (size_t k = 0; rc == SQLITE_OK && k < src->len; k++)
            rc = append_entry(out, src->items[k].str, src->items[k].len);
    } else {
        char what[64];
        sqlite3_snprintf(sizeof what, what, "gazetteer '%s'", name);
        sqlite3_stmt *st = NULL;
        rc = rows_prepare(db, fn, what, src->str, &st, err_msg);
        if (rc != SQLITE_OK) return rc;
        while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *e = (const char *)sqlite3_column_text(st, 0);
            rc = e ? append_entry(out, e, (size_t)sqlite3_column_bytes(st, 0)) : SQLITE_OK;
        }
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
        else if (rc != SQLITE_TOOBIG && rc != SQLITE_NOMEM)
            *err_msg = sqlite3_mprintf("%s: %s: %s", fn, what, sqlite3_errmsg(db));
        sqlite3_finalize(st);
    }
    if (rc == SQLITE_TOOBIG)
        *err_msg = sqlite3_mprintf("%s: gazetteer '%s': the lists hold more than %llu bytes "
                                   "(ATTN_GAZ_MAX_BYTES)", fn, name,
                                   (unsigned long long)ATTN_GAZ_MAX_BYTES);
    return rc;
}

/* A gazetteer for m's gazetteer feature with each list's entries as row 'gazetteer.<list>'. */
static int read_lists(sqlite3 *db, const char *fn, const attn_json *lists, attn_gazetteer *g,
                      char **err_msg) {
    interrupt_probe probe;
    interrupt_probe_init(&probe, db);
    int rc = SQLITE_OK;
    for (size_t i = 0; rc == SQLITE_OK && i < lists->len; i++) {
        sqlite3_str *text = sqlite3_str_new(db);
        rc = list_entries(db, fn, lists->keys[i], &lists->items[i], text, err_msg);
        char *key = sqlite3_mprintf(ATTN_GAZ_KEY_PREFIX "%s", lists->keys[i]);
        const int n = sqlite3_str_length(text);
        char *data = sqlite3_str_finish(text);
        if (rc == SQLITE_OK && (!key || (n && !data))) rc = SQLITE_NOMEM;
        attn_error err = {{0}};
        int status = rc == SQLITE_OK ? attn_gazetteer_add_row(g, key, "text", "[]", data,
                                                              (size_t)n, interrupt_probe_check,
                                                              &probe, &err)
                                     : ATTN_OK;
        if (status != ATTN_OK) {
            *err_msg = sqlite3_mprintf("%s: option 'gazetteers': %s", fn, err.msg);
            rc = sqlite_code(status);
        }
        sqlite3_free(key);
        sqlite3_free(data);
    }
    interrupt_probe_done(&probe);
    return rc;
}

int gazetteers_read(sqlite3 *db, const char *fn, const attn_json *lists, attn_model *m,
                    char **err_msg) {
    const attn_feature_spec *spec = NULL;
    for (int f = 0; f < m->cfg.n_features; f++)
        if (m->cfg.features[f].kind == ATTN_FEAT_GAZETTEER) spec = &m->cfg.features[f];
    if (!spec) return SQLITE_ERROR;     /* gazetteers_features gave the config one */
    attn_gazetteer *g = attn_gazetteer_new(spec);
    if (!g) return SQLITE_NOMEM;
    int rc = read_lists(db, fn, lists, g, err_msg);
    attn_error err = {{0}};
    if (rc == SQLITE_OK && attn_model_set_gazetteer(m, g, &err) != ATTN_OK) {
        *err_msg = sqlite3_mprintf("%s: option 'gazetteers': %s", fn, err.msg);
        rc = SQLITE_ERROR;
    }
    attn_gazetteer_release(g);
    return rc;
}
