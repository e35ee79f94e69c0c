/* vtab_entities_relations.c: attn_entities(text [, model]) and attn_relations(text [, model]), eponymous
 * table-valued functions in the manner of SQLite's generate_series and json_each.
 *
 * The arguments are the HIDDEN columns text and model; xBestIndex maps their equality
 * constraints to argvIndex 1 and 2, answers SQLITE_CONSTRAINT when one is present but not
 * usable yet (so SQLite picks a join order that supplies it, as in
 * `SELECT d.id, e.* FROM docs d, attn_entities(d.body) e`), and fails with a message when the
 * text is missing. A NULL text gives zero rows. xFilter runs the pipeline once and copies every
 * row (and the label names) into the cursor: two cursors may be alive at once (a self-join),
 * and the session's buffers are reused by the next call. */
#include "ext.h"

#include <string.h>

typedef enum { TASK_ENTITIES, TASK_RELATIONS } task_kind;

typedef struct task_spec {
    const char *name;           /* SQL name, also the prefix of its error messages */
    const char *schema;         /* declared columns; text and model are the last two */
    int n_visible;              /* columns before text */
    int task_bit;
} task_spec;

static const task_spec task_specs[] = {
    [TASK_ENTITIES] = {
        "attn_entities",
        "CREATE TABLE x(\"start\" INTEGER, \"end\" INTEGER, label TEXT, entity TEXT, "
        "score REAL, text HIDDEN, model HIDDEN)",
        5, ATTN_TASK_ENTITIES},
    [TASK_RELATIONS] = {
        "attn_relations",
        "CREATE TABLE x(head TEXT, head_label TEXT, head_start INTEGER, head_end INTEGER, "
        "relation TEXT, tail TEXT, tail_label TEXT, tail_start INTEGER, tail_end INTEGER, "
        "score REAL, text HIDDEN, model HIDDEN)",
        10, ATTN_TASK_RELATIONS},
};

#define N_ARGS 2                /* text, model */

enum { ENT_START, ENT_END, ENT_LABEL, ENT_ENTITY, ENT_SCORE };
enum { REL_HEAD, REL_HEAD_LABEL, REL_HEAD_START, REL_HEAD_END, REL_RELATION, REL_TAIL,
       REL_TAIL_LABEL, REL_TAIL_START, REL_TAIL_END, REL_SCORE };

/* pAux of both modules. */
typedef struct task_aux {
    attn_conn *conn;
    task_kind kind;
} task_aux;

typedef struct task_vtab {
    sqlite3_vtab base;
    attn_conn *conn;
    const task_spec *spec;
} task_vtab;

/* Everything a cursor shows, copied out of the session and the model. */
typedef struct task_cursor {
    sqlite3_vtab_cursor base;
    char *text;                 /* the input text [n_text bytes] */
    size_t n_text;
    char *model_name;
    attn_entity *ents;          /* [n_ents] */
    size_t n_ents;
    attn_relation *rels;        /* [n_rels] */
    size_t n_rels;
    char **entity_labels;       /* [n_entity_labels] */
    int n_entity_labels;
    char **relation_labels;     /* [n_relation_labels] */
    int n_relation_labels;
    sqlite3_int64 row;
} task_cursor;

/* ---- connect / disconnect ----------------------------------------------------------------- */

static int task_connect(sqlite3 *db, void *aux_ptr, int argc, const char *const *argv,
                        sqlite3_vtab **out, char **err_msg) {
    (void)argc, (void)argv, (void)err_msg;
    task_aux *aux = aux_ptr;
    const task_spec *spec = &task_specs[aux->kind];
    int rc = vtab_new(db, spec->schema, SQLITE_VTAB_INNOCUOUS, sizeof(task_vtab), out);
    if (rc != SQLITE_OK) return rc;
    task_vtab *vt = (task_vtab *)*out;
    vt->conn = aux->conn;
    vt->spec = spec;
    return SQLITE_OK;
}

/* ---- planning ----------------------------------------------------------------------------- */

/* text is required, model optional; idxNum bit 1 = model given. */
static int task_best_index(sqlite3_vtab *base, sqlite3_index_info *info) {
    const task_spec *spec = ((task_vtab *)base)->spec;
    const vtab_args args = {spec->n_visible, N_ARGS, 1, spec->name, "text argument",
                            "text [, model]", 1000.0, 20};
    return vtab_bind_args(base, info, &args);
}

/* ---- cursor ------------------------------------------------------------------------------- */

static int task_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out) {
    (void)base;
    return vtab_cursor_new(sizeof(task_cursor), out);
}

static void free_labels(char **labels, int n) {
    for (int i = 0; i < n; i++) sqlite3_free(labels[i]);
    sqlite3_free(labels);
}

static void cursor_reset(task_cursor *cur) {
    sqlite3_free(cur->text);
    sqlite3_free(cur->model_name);
    sqlite3_free(cur->ents);
    sqlite3_free(cur->rels);
    free_labels(cur->entity_labels, cur->n_entity_labels);
    free_labels(cur->relation_labels, cur->n_relation_labels);
    memset((char *)cur + sizeof cur->base, 0, sizeof *cur - sizeof cur->base);
}

static int task_close(sqlite3_vtab_cursor *base) {
    cursor_reset((task_cursor *)base);
    sqlite3_free(base);
    return SQLITE_OK;
}

static int copy_labels(const attn_labels *from, char ***to, int *n) {
    *to = sqlite3_malloc64(sizeof(char *) * (size_t)(from->n > 0 ? from->n : 1));
    if (!*to) return SQLITE_NOMEM;
    for (*n = 0; *n < from->n; (*n)++) {
        (*to)[*n] = sqlite3_mprintf("%s", from->names[*n]);
        if (!(*to)[*n]) return SQLITE_NOMEM;
    }
    return SQLITE_OK;
}

static void *copy_array(const void *from, size_t n, size_t size) {
    void *to = sqlite3_malloc64(n ? n * size : 1);
    if (to && n) memcpy(to, from, n * size);
    return to;
}

/* Runs the task on cur->text and copies the answer into the cursor. */
static int run_task(task_vtab *vt, task_cursor *cur, const attn_model *m, char **err_msg) {
    attn_session *s = call_session_begin(vt->conn);
    if (!s) return SQLITE_NOMEM;
    const attn_entity *ents;
    const attn_relation *rels = NULL;
    size_t n_ents = 0, n_rels = 0;
    attn_error err = {{0}};
    int status = vt->spec->task_bit == ATTN_TASK_RELATIONS
        ? attn_run_relations(m, s, cur->text, cur->n_text, &ents, &n_ents, &rels, &n_rels, &err)
        : attn_run_entities(m, s, cur->text, cur->n_text, &ents, &n_ents, &err);
    call_session_end(vt->conn);
    if (status != ATTN_OK) {
        *err_msg = limit_engine_error(vt->spec->name, cur->model_name, s, &err);
        return sqlite_code(status);
    }
    cur->ents = copy_array(ents, n_ents, sizeof *ents);
    cur->rels = copy_array(rels, n_rels, sizeof *rels);
    if (!cur->ents || !cur->rels) return SQLITE_NOMEM;
    cur->n_ents = n_ents;
    cur->n_rels = n_rels;
    int rc = copy_labels(&m->cfg.entity_labels, &cur->entity_labels, &cur->n_entity_labels);
    if (rc == SQLITE_OK)
        rc = copy_labels(&m->cfg.relation_labels, &cur->relation_labels,
                         &cur->n_relation_labels);
    return rc;
}

static int task_filter(sqlite3_vtab_cursor *base, int idx_num, const char *idx_str, int argc,
                       sqlite3_value **argv) {
    int missing = vtab_missing_args(base, idx_num, idx_str);
    if (missing != SQLITE_OK) return missing;
    task_cursor *cur = (task_cursor *)base;
    task_vtab *vt = (task_vtab *)base->pVtab;
    const char *fn = vt->spec->name;
    cursor_reset(cur);
    sqlite3_value *args[N_ARGS];
    vtab_filter_args(idx_num, argc, argv, N_ARGS, args);
    const char *text, *name;
    size_t n_text = 0;
    char *err_msg = NULL;
    int rc = arg_model(fn, 2, args[1], ATTN_DEFAULT_BY_TEXT, &name, &err_msg);
    if (rc == SQLITE_OK && args[0]) rc = limit_check_text(vt->conn, fn, args[0], &err_msg);
    if (rc == SQLITE_OK) rc = arg_text(fn, 1, args[0], &text, &n_text, &err_msg);
    if (rc == SQLITE_DONE) return SQLITE_OK;             /* NULL text: no rows */
    if (rc != SQLITE_OK) return vtab_error(base->pVtab, SQLITE_ERROR, err_msg);  /* or NOMEM */
    if (name == ATTN_DEFAULT_BY_TEXT) name = default_model(vt->spec->task_bit, text, n_text);
    cur->text = copy_array(text, n_text, 1);
    cur->n_text = n_text;
    cur->model_name = sqlite3_mprintf("%s", name);
    if (!cur->text || !cur->model_name) return SQLITE_NOMEM;
    const attn_model *m;
    rc = conn_model_get(vt->conn, fn, name, &m, &err_msg);
    if (rc == SQLITE_OK) rc = model_check_task(fn, name, m, vt->spec->task_bit, &err_msg);
    if (rc == SQLITE_OK) rc = run_task(vt, cur, m, &err_msg);
    if (rc != SQLITE_OK) {
        cursor_reset(cur);
        return vtab_error(base->pVtab, rc == SQLITE_NOMEM ? rc : SQLITE_ERROR, err_msg);
    }
    return SQLITE_OK;
}

static int task_next(sqlite3_vtab_cursor *base) {
    ((task_cursor *)base)->row++;
    return SQLITE_OK;
}

static int task_eof(sqlite3_vtab_cursor *base) {
    task_cursor *cur = (task_cursor *)base;
    task_vtab *vt = (task_vtab *)base->pVtab;
    size_t n = vt->spec->task_bit == ATTN_TASK_RELATIONS ? cur->n_rels : cur->n_ents;
    return cur->row >= (sqlite3_int64)n;
}

static int task_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid) {
    *rowid = ((task_cursor *)base)->row + 1;
    return SQLITE_OK;
}

static void result_label(sqlite3_context *ctx, char **labels, int n, int i) {
    if (i >= 0 && i < n) sqlite3_result_text(ctx, labels[i], -1, SQLITE_TRANSIENT);
}

static void result_entity_text(sqlite3_context *ctx, const task_cursor *cur,
                               const attn_entity *e) {
    if (e->byte_start <= e->byte_end && e->byte_end <= cur->n_text)
        sqlite3_result_text(ctx, cur->text + e->byte_start, (int)(e->byte_end - e->byte_start),
                            SQLITE_TRANSIENT);
}

static void entity_column(sqlite3_context *ctx, const task_cursor *cur, int col) {
    const attn_entity *e = &cur->ents[cur->row];
    switch (col) {
    case ENT_START: sqlite3_result_int64(ctx, e->start); break;
    case ENT_END: sqlite3_result_int64(ctx, e->end); break;
    case ENT_LABEL: result_label(ctx, cur->entity_labels, cur->n_entity_labels, e->label); break;
    case ENT_ENTITY: result_entity_text(ctx, cur, e); break;
    case ENT_SCORE: sqlite3_result_double(ctx, e->score); break;
    }
}

static void relation_column(sqlite3_context *ctx, const task_cursor *cur, int col) {
    const attn_relation *r = &cur->rels[cur->row];
    if (r->head < 0 || (size_t)r->head >= cur->n_ents || r->tail < 0 ||
        (size_t)r->tail >= cur->n_ents)
        return;                          /* cannot happen: the pipeline's invariant */
    const attn_entity *h = &cur->ents[r->head], *t = &cur->ents[r->tail];
    const int n_labels = cur->n_entity_labels;
    switch (col) {
    case REL_HEAD: result_entity_text(ctx, cur, h); break;
    case REL_HEAD_LABEL: result_label(ctx, cur->entity_labels, n_labels, h->label); break;
    case REL_HEAD_START: sqlite3_result_int64(ctx, h->start); break;
    case REL_HEAD_END: sqlite3_result_int64(ctx, h->end); break;
    case REL_RELATION:
        result_label(ctx, cur->relation_labels, cur->n_relation_labels, r->label);
        break;
    case REL_TAIL: result_entity_text(ctx, cur, t); break;
    case REL_TAIL_LABEL: result_label(ctx, cur->entity_labels, n_labels, t->label); break;
    case REL_TAIL_START: sqlite3_result_int64(ctx, t->start); break;
    case REL_TAIL_END: sqlite3_result_int64(ctx, t->end); break;
    case REL_SCORE: sqlite3_result_double(ctx, r->score); break;
    }
}

static int task_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col) {
    task_cursor *cur = (task_cursor *)base;
    task_vtab *vt = (task_vtab *)base->pVtab;
    int first_hidden = vt->spec->n_visible;
    if (col == first_hidden)
        sqlite3_result_text(ctx, cur->text, (int)cur->n_text, SQLITE_TRANSIENT);
    else if (col == first_hidden + 1)
        sqlite3_result_text(ctx, cur->model_name, -1, SQLITE_TRANSIENT);
    else if (vt->spec->task_bit == ATTN_TASK_RELATIONS)
        relation_column(ctx, cur, col);
    else
        entity_column(ctx, cur, col);
    return SQLITE_OK;
}

/* ---- registration ------------------------------------------------------------------------- */

static const sqlite3_module task_module = {
    .iVersion = 0,
    .xCreate = NULL,                    /* eponymous only: no CREATE VIRTUAL TABLE */
    .xConnect = task_connect,
    .xBestIndex = task_best_index,
    .xDisconnect = vtab_disconnect,
    .xDestroy = NULL,
    .xOpen = task_open,
    .xClose = task_close,
    .xFilter = task_filter,
    .xNext = task_next,
    .xEof = task_eof,
    .xColumn = task_column,
    .xRowid = task_rowid,
};

static void task_aux_free(void *p) {
    task_aux *aux = p;
    conn_unref(aux->conn);
    sqlite3_free(aux);
}

int vtab_entities_relations_register(sqlite3 *db, attn_conn *c) {
    for (int kind = TASK_ENTITIES; kind <= TASK_RELATIONS; kind++) {
        task_aux *aux = sqlite3_malloc64(sizeof *aux);
        if (!aux) return SQLITE_NOMEM;
        conn_ref(c);
        aux->conn = c;
        aux->kind = (task_kind)kind;
        /* On failure SQLite calls task_aux_free itself. */
        int rc = sqlite3_create_module_v2(db, task_specs[kind].name, &task_module, aux,
                                          task_aux_free);
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}
