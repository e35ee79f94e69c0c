/* train_rows.c: annotated rows from a user's SQL, for attn_train and attn_eval.
 *
 * Row shapes, by task (columns by position, names do not matter):
 *   classify   (text, label)
 *   entities   (text, entities_json)
 *   relations  (text, entities_json, relations_json)
 * entities_json: [{"start": 0, "end": 4, "label": "PER"}, ...] in characters (SQLite counting,
 * end exclusive); relations_json: [{"head": 0, "tail": 1, "label": "Work_For"}, ...] with head
 * and tail indices into that row's entity array. Other keys of an entity or relation object are
 * ignored (exports often carry the entity text). Every error names the 1-based row:
 * "attn_train: row 17: entities JSON: entity 2: missing 'label'". */
#include "ext.h"

#include <stdio.h>
#include <string.h>

void train_rows_free(train_rows *r) {
    for (size_t i = 0; i < r->n; i++) {
        train_row *row = &r->rows[i];
        sqlite3_free(row->text);
        sqlite3_free(row->label);
        for (int e = 0; e < row->n_ents; e++) sqlite3_free((char *)row->ents[e].label);
        for (int k = 0; k < row->n_rels; k++) sqlite3_free((char *)row->rels[k].label);
        sqlite3_free(row->ents);
        sqlite3_free(row->rels);
    }
    sqlite3_free(r->rows);
    memset(r, 0, sizeof *r);
}

static train_row *push_row(train_rows *r) {
    if (sqlite_grow((void **)&r->rows, &r->cap, r->n + 1, sizeof *r->rows) != SQLITE_OK)
        return NULL;
    train_row *row = &r->rows[r->n++];
    memset(row, 0, sizeof *row);
    return row;
}

int rows_prepare(sqlite3 *db, const char *fn, const char *what, const char *sql,
                 sqlite3_stmt **st, char **err_msg) {
    /* what names the SQL argument in messages: "train_sql", "dev", "sql" */
    const char *tail = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, st, &tail);
    if (rc != SQLITE_OK) {
        *err_msg = sqlite3_mprintf("%s: %s: %s", fn, what, sqlite3_errmsg(db));
        return rc;
    }
    if (!*st) {
        *err_msg = sqlite3_mprintf("%s: %s is empty", fn, what);
        return SQLITE_ERROR;
    }
    while (tail && (*tail == ' ' || *tail == '\t' || *tail == '\n' || *tail == '\r' ||
                    *tail == ';'))
        tail++;
    if (tail && *tail) {
        sqlite3_finalize(*st);
        *st = NULL;
        *err_msg = sqlite3_mprintf("%s: %s must be one statement", fn, what);
        return SQLITE_ERROR;
    }
    /* Rows are read, never written: DELETE ... RETURNING gives rows too, and its changes
     * would stay even when the call then fails. */
    if (!sqlite3_stmt_readonly(*st)) {
        sqlite3_finalize(*st);
        *st = NULL;
        *err_msg = sqlite3_mprintf("%s: %s must be a read-only query", fn, what);
        return SQLITE_ERROR;
    }
    return SQLITE_OK;
}

static char *dup_bytes(const char *s, size_t n) {
    char *p = sqlite3_malloc64(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* A JSON string member as a new string; NULL with *msg set when missing or not a string. */
static char *member_label(const attn_json *obj, char *what, char **msg) {
    const attn_json *v = attn_json_get(obj, "label");
    if (!v || v->type != ATTN_JSON_STRING) {
        *msg = sqlite3_mprintf("%s: %s", what, v ? "'label' must be a string" : "missing 'label'");
        return NULL;
    }
    char *s = dup_bytes(v->str, v->len);
    if (!s) *msg = NULL;
    return s;
}

static int member_int(const attn_json *obj, const char *key, const char *what, int64_t lo,
                      int64_t hi, int64_t *out, char **msg) {
    const attn_json *v = attn_json_get(obj, key);
    if (!v) {
        *msg = sqlite3_mprintf("%s: missing '%s'", what, key);
        return SQLITE_ERROR;
    }
    if (attn_json_int(v, lo, hi, out) != ATTN_OK) {
        *msg = sqlite3_mprintf("%s: '%s' must be an integer in [%lld, %lld]", what, key,
                               (long long)lo, (long long)hi);
        return SQLITE_ERROR;
    }
    return SQLITE_OK;
}

/* Parses an entities or relations JSON array into row. *msg: the problem, without prefix
 * (NULL on ENOMEM). */
static int parse_array(const char *json, size_t n, int relations, train_row *row, char **msg) {
    attn_json *j = NULL;
    attn_error err = {{0}};
    if (attn_json_parse(json, n, &j, &err) != ATTN_OK) {
        *msg = sqlite3_mprintf("%s", err.msg);
        return SQLITE_ERROR;
    }
    int rc = SQLITE_OK;
    if (j->type != ATTN_JSON_ARRAY) {
        *msg = sqlite3_mprintf("expected an array");
        rc = SQLITE_ERROR;
    } else if (j->len > (size_t)ATTN_SQL_MAX_ITEMS) {
        *msg = sqlite3_mprintf("more than %d items (ATTN_SQL_MAX_ITEMS)", ATTN_SQL_MAX_ITEMS);
        rc = SQLITE_TOOBIG;
    }
    size_t count = rc == SQLITE_OK ? j->len : 0;
    void *items = NULL;
    if (rc == SQLITE_OK) {
        size_t size = relations ? sizeof(attn_gold_relation) : sizeof(attn_gold_entity);
        items = sqlite3_malloc64(count ? count * size : 1);
        if (!items) rc = SQLITE_NOMEM;
        else memset(items, 0, count ? count * size : 1);
    }
    if (relations) {
        row->rels = items;
    } else {
        row->ents = items;
    }
    for (size_t i = 0; rc == SQLITE_OK && i < count; i++) {
        const attn_json *o = &j->items[i];
        char what[48];
        snprintf(what, sizeof what, "%s %zu", relations ? "relation" : "entity", i);
        if (o->type != ATTN_JSON_OBJECT) {
            *msg = sqlite3_mprintf("%s: expected an object", what);
            rc = SQLITE_ERROR;
            break;
        }
        int64_t a, b;
        const char *ka = relations ? "head" : "start", *kb = relations ? "tail" : "end";
        int64_t hi = relations ? ATTN_SQL_MAX_ITEMS : (int64_t)ATTN_SQL_MAX_TEXT_BYTES;
        rc = member_int(o, ka, what, 0, hi, &a, msg);
        if (rc == SQLITE_OK) rc = member_int(o, kb, what, 0, hi, &b, msg);
        char *label = rc == SQLITE_OK ? member_label(o, what, msg) : NULL;
        if (rc == SQLITE_OK && !label) rc = *msg ? SQLITE_ERROR : SQLITE_NOMEM;
        if (rc != SQLITE_OK) break;
        if (relations) {
            row->rels[i] = (attn_gold_relation){(int)a, (int)b, label};
            row->n_rels++;
        } else {
            row->ents[i] = (attn_gold_entity){a, b, label};
            row->n_ents++;
        }
    }
    attn_json_free(j);
    return rc;
}

/* Column col of st as text, or an error naming what it is. */
static int column_text(sqlite3_stmt *st, int col, const char *name, const char **s, size_t *n,
                       char **msg) {
    int type = sqlite3_column_type(st, col);
    if (type != SQLITE_TEXT) {
        static const char *const names[] = {"", "integer", "real", "text", "blob", "null"};
        *msg = sqlite3_mprintf("%s must be TEXT, got %s", name, names[type]);
        return SQLITE_MISMATCH;
    }
    *s = (const char *)sqlite3_column_text(st, col);
    *n = (size_t)sqlite3_column_bytes(st, col);
    if (!*s) {
        *msg = NULL;
        return SQLITE_NOMEM;
    }
    if (*n > ATTN_SQL_MAX_TEXT_BYTES) {
        *msg = sqlite3_mprintf("%s is %llu bytes, more than ATTN_SQL_MAX_TEXT_BYTES", name,
                               (unsigned long long)*n);
        return SQLITE_TOOBIG;
    }
    return SQLITE_OK;
}

/* Fills row from the current result row of st. *msg as parse_array. */
static int read_row(sqlite3_stmt *st, int task, train_row *row, char **msg) {
    const char *s;
    size_t n;
    int rc = column_text(st, 0, "text", &s, &n, msg);
    if (rc != SQLITE_OK) return rc;
    if (!(row->text = dup_bytes(s, n))) return SQLITE_NOMEM;
    row->n_text = n;
    if (task == ATTN_TASK_MLM) return SQLITE_OK;
    if (task == ATTN_TASK_CLASSIFY) {
        rc = column_text(st, 1, "label", &s, &n, msg);
        if (rc == SQLITE_OK && !(row->label = dup_bytes(s, n))) rc = SQLITE_NOMEM;
        return rc;
    }
    rc = column_text(st, 1, "entities JSON", &s, &n, msg);
    if (rc == SQLITE_OK) {
        rc = parse_array(s, n, 0, row, msg);
        if (rc == SQLITE_ERROR && *msg) {
            char *m = sqlite3_mprintf("entities JSON: %s", *msg);
            sqlite3_free(*msg);
            *msg = m;
        }
    }
    if (rc != SQLITE_OK || task != ATTN_TASK_RELATIONS) return rc;
    /* NULL relations: not given (the row trains the entity tagger only, e.g. extra sentences
     * annotated with entities alone); '[]' means given: no pair of its entities is related. */
    if (sqlite3_column_type(st, 2) == SQLITE_NULL) return SQLITE_OK;
    rc = column_text(st, 2, "relations JSON", &s, &n, msg);
    if (rc == SQLITE_OK) {
        rc = parse_array(s, n, 1, row, msg);
        if (rc == SQLITE_ERROR && *msg) {
            char *m = sqlite3_mprintf("relations JSON: %s", *msg);
            sqlite3_free(*msg);
            *msg = m;
        }
    }
    return rc;
}

int rows_columns_for(int task) {
    return task == ATTN_TASK_MLM ? 1 : task == ATTN_TASK_RELATIONS ? 3 : 2;
}

int rows_read(sqlite3 *db, sqlite3_stmt *st, const char *fn, const char *sql_name,
              const char *what, int task, train_rows *out, char **err_msg) {
    int want = rows_columns_for(task);
    if (sqlite3_column_count(st) != want) {
        *err_msg = sqlite3_mprintf("%s: %s gives %d columns; the %s task needs %d: %s", fn,
                                   sql_name, sqlite3_column_count(st),
                                   task == ATTN_TASK_MLM ? "mlm" : tasks_text(task), want,
                                   task == ATTN_TASK_MLM ? "(text)"
                                   : task == ATTN_TASK_CLASSIFY ? "(text, label)"
                                   : task == ATTN_TASK_ENTITIES
                                       ? "(text, entities_json)"
                                       : "(text, entities_json, relations_json)");
        return SQLITE_ERROR;
    }
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        train_row *row = push_row(out);
        if (!row) return SQLITE_NOMEM;
        char *msg = NULL;
        int rc = read_row(st, task, row, &msg);
        if (rc == SQLITE_NOMEM || (rc != SQLITE_OK && !msg)) return SQLITE_NOMEM;
        if (rc != SQLITE_OK) {
            *err_msg = sqlite3_mprintf("%s: %s %llu: %s", fn, what,
                                       (unsigned long long)out->n, msg);
            sqlite3_free(msg);
            return rc;
        }
    }
    if (step != SQLITE_DONE) {
        *err_msg = sqlite3_mprintf("%s: %s: %s", fn, sql_name, sqlite3_errmsg(db));
        return step;
    }
    return SQLITE_OK;
}

/* Rows converted between two questions about sqlite3_interrupt. */
#define STOP_EVERY_ROWS 4096

static int add_rows(sqlite3 *db, const train_rows *rows, int task, attn_dataset *ds,
                    const char *fn, const char *what, char **err_msg) {
    interrupt_probe probe;
    interrupt_probe_init(&probe, db);
    int rc = SQLITE_OK;
    for (size_t i = 0; rc == SQLITE_OK && i < rows->n; i++) {
        if ((i + 1) % STOP_EVERY_ROWS == 0 && interrupt_probe_check(&probe)) {
            *err_msg = sqlite3_mprintf("%s: interrupted", fn);
            rc = SQLITE_INTERRUPT;
            break;
        }
        const train_row *r = &rows->rows[i];
        attn_error err = {{0}};
        int status = attn_dataset_add(ds, r->text, r->n_text, r->label, r->ents, r->n_ents,
                                      task == ATTN_TASK_RELATIONS ? r->rels : NULL,
                                      task == ATTN_TASK_RELATIONS ? r->n_rels : 0, &err);
        if (status != ATTN_OK) {
            *err_msg = sqlite3_mprintf("%s: %s %llu: %s", fn, what,
                                       (unsigned long long)(i + 1), err.msg);
            rc = sqlite_code(status);
        }
    }
    interrupt_probe_done(&probe);
    return rc;
}

int rows_to_dataset(sqlite3 *db, const train_rows *rows, int task, const attn_model *m,
                    const char *fn, const char *what, attn_dataset **out, char **err_msg) {
    *out = attn_dataset_new(&m->cfg);
    if (!*out) return SQLITE_NOMEM;
    attn_dataset_set_gazetteer(*out, m->gazetteer);
    int rc = add_rows(db, rows, task, *out, fn, what, err_msg);
    if (rc != SQLITE_OK) {
        attn_dataset_free(*out);
        *out = NULL;
    }
    return rc;
}

int rows_infer_task(const char *fn, const attn_model *m, const char *name, int n_columns,
                    int *task, char **err_msg) {
    int two = m->cfg.tasks & (ATTN_TASK_CLASSIFY | ATTN_TASK_ENTITIES);
    if (n_columns == 3) *task = ATTN_TASK_RELATIONS;
    else if (n_columns == 2 && two != (ATTN_TASK_CLASSIFY | ATTN_TASK_ENTITIES)) *task = two;
    else *task = 0;
    if (*task) return SQLITE_OK;
    *err_msg = n_columns == 2
        ? sqlite3_mprintf("%s: model '%s' has classify and entities tasks: give the task as "
                          "the third argument", fn, name)
        : sqlite3_mprintf("%s: the SQL gives %d columns; expected (text, label), (text, "
                          "entities_json) or (text, entities_json, relations_json)", fn,
                          n_columns);
    return SQLITE_ERROR;
}

int rows_args(const char *fn, sqlite3_value **args, const char **name, const char **sql,
              int *task, char **err_msg) {
    const char *task_name = NULL;
    size_t n;
    *task = 0;
    int rc = arg_model(fn, 1, args[0], NULL, name, err_msg);
    if (rc == SQLITE_OK) rc = arg_text(fn, 2, args[1], sql, &n, err_msg);
    if (rc == SQLITE_OK && args[2]) rc = arg_text(fn, 3, args[2], &task_name, &n, err_msg);
    if (rc == SQLITE_DONE) {
        *err_msg = sqlite3_mprintf("%s: arguments must not be NULL", fn);
        rc = SQLITE_ERROR;
    }
    if (rc == SQLITE_OK && task_name) rc = task_from_name(fn, task_name, task, err_msg);
    return rc;
}
