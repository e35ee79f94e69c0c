/* vtab_each.c: the bulk path. Eponymous table-valued functions that run a query and answer
 * for every row of it, using every core:
 *
 *   attn_classify_each(sql [, model [, threads]])   -> id, label, score, scores
 *   attn_entities_each(sql [, model [, threads]])   -> id, start, end, label, entity, score
 *   attn_relations_each(sql [, model [, threads]])  -> id, head, ..., score (as attn_relations)
 *
 * sql is one read-only statement giving two columns: an id (any value, passed through) and the
 * text. The answers come in the query's row order and are those of the scalar path row for
 * row: label = attn_classify(text), scores = attn_classify_scores(text), score = the label's
 * probability; one row per entity or relation as attn_entities / attn_relations give them (a
 * text without any yields no row). A NULL text gives a classify row with NULL label, score and
 * scores, and no entity or relation rows; a NULL sql gives no rows.
 *
 * How: the main thread (the only one that touches the connection) steps the query and copies a
 * chunk of rows (EACH_CHUNK_ROWS rows or EACH_CHUNK_BYTES of text) into the cursor, then runs
 * the model over the chunk on a pool of threads (model/threadpool.h: the caller plus threads - 1
 * workers, each with its own attn_session; the model is shared read-only from the registry).
 * Each row's answer goes into its own slot, so the output order is the input order whatever
 * thread ran it. The model is looked up again before each chunk, as the scalar functions do
 * per row, and its label names are copied, so nothing of it is held while the query (or the
 * statement around us) runs. sqlite3_interrupt stops the query's next step, so between chunks.
 * threads: NULL or 0 = one per online CPU; 1 = no worker threads.
 *
 * DIRECTONLY: it runs SQL given as a string. Used from a view or trigger of an untrusted
 * database file, it would let that file run any query of its choosing with the privileges of
 * whoever opens it; so, like attn_train and attn_eval, it works only in top-level SQL. */
#include "ext.h"

#include <stdlib.h>
#include <string.h>

/* Rows copied from the query per batch: enough for every thread to stay busy (items are
 * dealt out one at a time), few enough to bound the memory of a chunk. */
#define EACH_CHUNK_ROWS  256
/* A chunk also ends at the row where its texts pass this many bytes. */
#define EACH_CHUNK_BYTES ((size_t)16 << 20)
#define EACH_CHUNK_MIN_BYTES 4096     /* first capacity of a chunk's bytes */

typedef enum { EACH_CLASSIFY, EACH_ENTITIES, EACH_RELATIONS } each_kind;

typedef struct each_spec {
    const char *name;           /* SQL name, also the prefix of its error messages */
    const char *schema;         /* declared columns; sql, model, threads are the last three */
    int n_visible;              /* columns before sql */
    int task_bit;
} each_spec;

static const each_spec each_specs[] = {
    [EACH_CLASSIFY] = {
        "attn_classify_each",
        "CREATE TABLE x(id, label TEXT, score REAL, scores TEXT, "
        "sql HIDDEN, model HIDDEN, threads HIDDEN)",
        4, ATTN_TASK_CLASSIFY},
    [EACH_ENTITIES] = {
        "attn_entities_each",
        "CREATE TABLE x(id, \"start\" INTEGER, \"end\" INTEGER, label TEXT, entity TEXT, "
        "score REAL, sql HIDDEN, model HIDDEN, threads HIDDEN)",
        6, ATTN_TASK_ENTITIES},
    [EACH_RELATIONS] = {
        "attn_relations_each",
        "CREATE TABLE x(id, head TEXT, head_label TEXT, head_start INTEGER, head_end INTEGER, "
        "relation TEXT, tail TEXT, tail_label TEXT, tail_start INTEGER, tail_end INTEGER, "
        "score REAL, sql HIDDEN, model HIDDEN, threads HIDDEN)",
        11, ATTN_TASK_RELATIONS},
};

#define N_ARGS 3                /* sql, model, threads */
#define N_GROUPS 2              /* models one call runs: see each_cursor.model_names */

enum { COL_ID };
enum { CLS_LABEL = 1, CLS_SCORE, CLS_SCORES };
enum { ENT_START = 1, ENT_END, ENT_LABEL, ENT_ENTITY, ENT_SCORE };
enum { REL_HEAD = 1, REL_HEAD_LABEL, REL_HEAD_START, REL_HEAD_END, REL_RELATION, REL_TAIL,
       REL_TAIL_LABEL, REL_TAIL_START, REL_TAIL_END, REL_SCORE };

/* ---- a chunk of rows and their answers ------------------------------------------------------ */

/* One row of the query and its answer. ents and rels are grown by the worker that runs the
 * row (plain malloc: workers must not depend on SQLite's allocator configuration) and kept
 * from chunk to chunk, so steady state allocates nothing. */
typedef struct each_row {
    int id_type;                /* SQLITE_INTEGER, _FLOAT, _TEXT, _BLOB or _NULL */
    sqlite3_int64 id_int;
    double id_real;
    size_t id_off, id_len;      /* text or blob id: bytes in chunk.bytes */
    int has_text;               /* 0: the text was NULL */
    int group;                  /* the model that runs it: cursor.model_names[group] */
    size_t text_off, n_text;    /* the text: bytes in chunk.bytes */
    attn_entity *ents;          /* [n_ents] of cap_ents */
    size_t n_ents, cap_ents;
    attn_relation *rels;        /* [n_rels] of cap_rels */
    size_t n_rels, cap_rels;
} each_row;

typedef struct each_chunk {
    each_row *rows;             /* [n_rows] of cap_rows (slots past n_rows keep buffers) */
    size_t n_rows, cap_rows;
    char *bytes;                /* ids and texts [n_bytes] of cap_bytes */
    size_t n_bytes, cap_bytes;
    float *probs;               /* classify: [n_rows, n_labels] of cap_probs floats */
    size_t cap_probs;
    int n_labels;               /* the row stride of probs: the most labels of any group */
} each_chunk;

static void chunk_free(each_chunk *ch) {
    for (size_t i = 0; i < ch->cap_rows; i++) {
        free(ch->rows[i].ents);
        free(ch->rows[i].rels);
    }
    sqlite3_free(ch->rows);
    sqlite3_free(ch->bytes);
    sqlite3_free(ch->probs);
    memset(ch, 0, sizeof *ch);
}

/* Makes room for n more bytes; their offset in *off. */
static int chunk_reserve_bytes(each_chunk *ch, size_t n, size_t *off) {
    size_t need = ch->n_bytes + n + 1;
    if (need < EACH_CHUNK_MIN_BYTES) need = EACH_CHUNK_MIN_BYTES;
    if (sqlite_grow((void **)&ch->bytes, &ch->cap_bytes, need, 1) != SQLITE_OK)
        return SQLITE_NOMEM;
    *off = ch->n_bytes;
    ch->n_bytes += n;
    return SQLITE_OK;
}

static int chunk_add_bytes(each_chunk *ch, const void *data, size_t n, size_t *off) {
    int rc = chunk_reserve_bytes(ch, n, off);
    if (rc == SQLITE_OK && n) memcpy(ch->bytes + *off, data, n);
    return rc;
}

/* A fresh row slot at the end (its result buffers kept from earlier chunks). */
static each_row *chunk_add_row(each_chunk *ch) {
    const size_t old_cap = ch->cap_rows;
    if (sqlite_grow((void **)&ch->rows, &ch->cap_rows, ch->n_rows + 1, sizeof *ch->rows)
        != SQLITE_OK)
        return NULL;
    memset(ch->rows + old_cap, 0, (ch->cap_rows - old_cap) * sizeof *ch->rows);
    each_row *r = &ch->rows[ch->n_rows++];
    r->id_type = SQLITE_NULL;
    r->has_text = 0;
    r->n_ents = r->n_rels = 0;
    return r;
}

static int chunk_reserve_probs(each_chunk *ch, int n_labels) {
    if (n_labels < ch->n_labels) n_labels = ch->n_labels;
    size_t need = ch->n_rows * (size_t)(n_labels > 0 ? n_labels : 1);
    ch->n_labels = n_labels;
    return sqlite_grow((void **)&ch->probs, &ch->cap_probs, need, sizeof *ch->probs);
}

/* ---- the job the pool runs: one row per item --------------------------------------------- */

typedef struct each_job {
    const attn_model *m;
    int group;                  /* the rows it runs: those of this group */
    int task_bit;
    size_t max_call_memory;     /* the connection's attn_limit('max_call_memory') */
    each_chunk *chunk;
    uint64_t model_epoch;       /* the connection's generation after m was looked up: the
                                 * sessions' token caches keep entries while it holds */
} each_job;

static void *session_new(void) { return attn_session_new(); }
static void session_free(void *s) { attn_session_free(s); }

static int copy_entities(each_row *r, const attn_entity *ents, size_t n_ents,
                         const attn_relation *rels, size_t n_rels, attn_error *err) {
    if (attn_grow((void **)&r->ents, &r->cap_ents, n_ents, sizeof *ents) != ATTN_OK ||
        attn_grow((void **)&r->rels, &r->cap_rels, n_rels, sizeof *rels) != ATTN_OK)
        return attn_fail(err, ATTN_ENOMEM, "out of memory");
    if (n_ents) memcpy(r->ents, ents, n_ents * sizeof *ents);
    if (n_rels) memcpy(r->rels, rels, n_rels * sizeof *rels);
    r->n_ents = n_ents;
    r->n_rels = n_rels;
    return ATTN_OK;
}

/* attn_threadpool_item_fn: runs the task on row `item` with this thread's session. */
static int each_item(void *job_ptr, void *scratch, size_t item, attn_error *err) {
    each_job *job = job_ptr;
    each_chunk *ch = job->chunk;
    each_row *r = &ch->rows[item];
    if (!r->has_text || r->group != job->group) return ATTN_OK;
    attn_session *s = scratch;
    attn_session_set_memory_limit(s, job->max_call_memory);
    attn_session_set_model_epoch(s, job->model_epoch);
    const char *text = ch->bytes + r->text_off;
    const attn_entity *ents = NULL;
    const attn_relation *rels = NULL;
    size_t n_ents = 0, n_rels = 0;
    int status;
    switch (job->task_bit) {
    case ATTN_TASK_CLASSIFY:
        status = attn_run_classify(job->m, s, text, r->n_text,
                                   ch->probs + item * (size_t)ch->n_labels, err);
        break;
    case ATTN_TASK_ENTITIES:
        status = attn_run_entities(job->m, s, text, r->n_text, &ents, &n_ents, err);
        break;
    default:
        status = attn_run_relations(job->m, s, text, r->n_text, &ents, &n_ents, &rels, &n_rels,
                                    err);
        break;
    }
    if (status != ATTN_OK) {
        if (attn_session_over_memory(s))        /* name the limit, as the scalar path does */
            strncat(err->msg, " (attn_limit('max_call_memory'))",
                    sizeof err->msg - strlen(err->msg) - 1);
        return status;
    }
    return copy_entities(r, ents, n_ents, rels, n_rels, err);
}

/* ---- vtab and cursor ------------------------------------------------------------------------ */

typedef struct each_aux {
    attn_conn *conn;
    each_kind kind;
} each_aux;

typedef struct each_vtab {
    sqlite3_vtab base;
    sqlite3 *db;
    attn_conn *conn;
    const each_spec *spec;
} each_vtab;

typedef struct each_cursor {
    sqlite3_vtab_cursor base;
    attn_conn *conn;
    sqlite3_stmt *st;           /* the user's query; NULL once it has ended */
    char *sql;                  /* the argument (hidden column, messages) */
    /* The models: [0] the one named, or without a name the default for text that is not
     * Chinese; [1] without a name, the default for Chinese text (NULL when the task has no
     * Chinese one). Each row is run by the model of its group (default_model per row). */
    char *model_names[N_GROUPS];
    int n_threads;
    attn_threadpool *pool;           /* kept across xFilter calls with the same thread count */
    each_chunk chunk;
    attn_labels labels[N_GROUPS];         /* names of each model's task labels (per chunk) */
    attn_labels entity_labels[N_GROUPS];  /* relations: the entity labels too */
    sqlite3_int64 rows_before;  /* query rows in earlier chunks: row numbers in messages */
    size_t row, item;           /* the current output: chunk row, entity or relation in it */
    sqlite3_int64 rowid;
    int eof;
} each_cursor;

static int each_connect(sqlite3 *db, void *aux_ptr, int argc, const char *const *argv,
                        sqlite3_vtab **out, char **err_msg) {
    (void)argc, (void)argv, (void)err_msg;
    each_aux *aux = aux_ptr;
    const each_spec *spec = &each_specs[aux->kind];
    int rc = vtab_new(db, spec->schema, SQLITE_VTAB_DIRECTONLY, sizeof(each_vtab), out);
    if (rc != SQLITE_OK) return rc;
    each_vtab *vt = (each_vtab *)*out;
    vt->db = db;
    vt->conn = aux->conn;
    vt->spec = spec;
    return SQLITE_OK;
}

/* sql is required, model and threads optional; idxNum bit i = argument i given. */
static int each_best_index(sqlite3_vtab *base, sqlite3_index_info *info) {
    const each_spec *spec = ((each_vtab *)base)->spec;
    const vtab_args args = {spec->n_visible, N_ARGS, 1, spec->name, "sql argument",
                            "sql [, model [, threads]]", 1e6, 1000};
    return vtab_bind_args(base, info, &args);
}

static int each_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out) {
    (void)base;
    return vtab_cursor_new(sizeof(each_cursor), out);
}

static void labels_free(attn_labels *l) {
    for (int i = 0; i < l->n; i++) sqlite3_free(l->names[i]);
    sqlite3_free(l->names);
    l->names = NULL;
    l->n = 0;
}

static int labels_copy(const attn_labels *from, attn_labels *to) {
    labels_free(to);
    to->names = sqlite3_malloc64(sizeof(char *) * (size_t)(from->n > 0 ? from->n : 1));
    if (!to->names) return SQLITE_NOMEM;
    for (; to->n < from->n; to->n++) {
        to->names[to->n] = sqlite3_mprintf("%s", from->names[to->n]);
        if (!to->names[to->n]) return SQLITE_NOMEM;
    }
    return SQLITE_OK;
}

/* Ends the query and forgets the arguments; the pool and the chunk's buffers stay. */
static void cursor_reset(each_cursor *cur) {
    sqlite3_finalize(cur->st);
    cur->st = NULL;
    sqlite3_free(cur->sql);
    cur->sql = NULL;
    for (int g = 0; g < N_GROUPS; g++) {
        sqlite3_free(cur->model_names[g]);
        cur->model_names[g] = NULL;
    }
    cur->chunk.n_rows = cur->chunk.n_bytes = 0;
    cur->rows_before = 0;
    cur->row = cur->item = 0;
    cur->rowid = 0;
    cur->eof = 1;
}

static int each_close(sqlite3_vtab_cursor *base) {
    each_cursor *cur = (each_cursor *)base;
    cursor_reset(cur);
    attn_threadpool_free(cur->pool);
    chunk_free(&cur->chunk);
    for (int g = 0; g < N_GROUPS; g++) {
        labels_free(&cur->labels[g]);
        labels_free(&cur->entity_labels[g]);
    }
    sqlite3_free(cur);
    return SQLITE_OK;
}

/* ---- reading the query ---------------------------------------------------------------------- */

/* Copies the current row of the query into a new chunk row; row_no counts from 1. */
static int read_row(each_cursor *cur, const char *fn, sqlite3_int64 row_no, char **err_msg) {
    each_chunk *ch = &cur->chunk;
    each_row *r = chunk_add_row(ch);
    if (!r) return SQLITE_NOMEM;
    int rc = SQLITE_OK;
    r->id_type = sqlite3_column_type(cur->st, 0);
    switch (r->id_type) {
    case SQLITE_INTEGER: r->id_int = sqlite3_column_int64(cur->st, 0); break;
    case SQLITE_FLOAT: r->id_real = sqlite3_column_double(cur->st, 0); break;
    case SQLITE_TEXT:
    case SQLITE_BLOB: {
        const void *p = r->id_type == SQLITE_TEXT ? (const void *)sqlite3_column_text(cur->st, 0)
                                                  : sqlite3_column_blob(cur->st, 0);
        r->id_len = (size_t)sqlite3_column_bytes(cur->st, 0);
        if (!p && r->id_len) return SQLITE_NOMEM;
        rc = chunk_add_bytes(ch, p, r->id_len, &r->id_off);
        break;
    }
    default: break;
    }
    if (rc != SQLITE_OK) return rc;
    int type = sqlite3_column_type(cur->st, 1);
    r->group = 0;
    if (type == SQLITE_NULL) return SQLITE_OK;         /* NULL text: NULL answers */
    if (type != SQLITE_TEXT) {
        *err_msg = sqlite3_mprintf("%s: row %lld: text (column 2) must be TEXT, got %s", fn,
                                   (long long)row_no,
                                   value_type_name(sqlite3_column_value(cur->st, 1)));
        return SQLITE_ERROR;
    }
    const char *text = (const char *)sqlite3_column_text(cur->st, 1);
    sqlite3_int64 n = sqlite3_column_bytes(cur->st, 1);
    if (!text) return SQLITE_NOMEM;
    const sqlite3_int64 max = limit_text_bytes(cur->conn);
    if (n > max) {
        *err_msg = sqlite3_mprintf("%s: row %lld: text is %lld bytes, above the limit of %lld "
                                   "(attn_limit('max_text_bytes'))", fn, (long long)row_no,
                                   (long long)n, (long long)max);
        return SQLITE_TOOBIG;
    }
    r->has_text = 1;
    r->n_text = (size_t)n;
    r->group = cur->model_names[1] && attn_text_script(text, (size_t)n) == ATTN_SCRIPT_HAN;
    return chunk_add_bytes(ch, text, (size_t)n, &r->text_off);
}

/* Steps the query for the next chunk of rows: n_rows == 0 when it has ended. */
static int read_chunk(each_cursor *cur, sqlite3 *db, const char *fn, char **err_msg) {
    each_chunk *ch = &cur->chunk;
    cur->rows_before += (sqlite3_int64)ch->n_rows;
    ch->n_rows = ch->n_bytes = 0;
    while (cur->st && ch->n_rows < EACH_CHUNK_ROWS && ch->n_bytes < EACH_CHUNK_BYTES) {
        int rc = sqlite3_step(cur->st);
        if (rc == SQLITE_DONE) {
            sqlite3_finalize(cur->st);
            cur->st = NULL;
            break;
        }
        if (rc == SQLITE_INTERRUPT) {
            *err_msg = sqlite3_mprintf("%s: sql: %s", fn, sqlite3_errmsg(db));
            return rc;
        }
        if (rc != SQLITE_ROW) {       /* an error of the query while making that row */
            *err_msg = sqlite3_mprintf("%s: sql, row %lld: %s", fn,
                                       (long long)(cur->rows_before + (sqlite3_int64)ch->n_rows
                                                   + 1), sqlite3_errmsg(db));
            return rc;
        }
        rc = read_row(cur, fn, cur->rows_before + (sqlite3_int64)ch->n_rows + 1, err_msg);
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}

/* ---- running a chunk ----------------------------------------------------------------------- */

/* The model of a group now (looked up again per chunk, as the scalar functions do per row). */
static int chunk_model(each_vtab *vt, each_cursor *cur, int group, const attn_model **m,
                       char **err_msg) {
    const char *fn = vt->spec->name, *name = cur->model_names[group];
    int rc = conn_model_get(vt->conn, fn, name, m, err_msg);
    if (rc == SQLITE_OK) rc = model_check_task(fn, name, *m, vt->spec->task_bit, err_msg);
    return rc;
}

/* The labels of group's model m into the cursor (its names outlive the model). */
static int take_labels(each_vtab *vt, each_cursor *cur, int group, const attn_model *m) {
    const attn_config *cfg = &m->cfg;
    switch (vt->spec->task_bit) {
    case ATTN_TASK_CLASSIFY: {
        int rc = labels_copy(&cfg->classify_labels, &cur->labels[group]);
        return rc == SQLITE_OK ? chunk_reserve_probs(&cur->chunk, cfg->classify_labels.n) : rc;
    }
    case ATTN_TASK_ENTITIES:
        return labels_copy(&cfg->entity_labels, &cur->entity_labels[group]);
    default: {
        int rc = labels_copy(&cfg->entity_labels, &cur->entity_labels[group]);
        return rc == SQLITE_OK ? labels_copy(&cfg->relation_labels, &cur->labels[group]) : rc;
    }
    }
}

/* Runs the rows of one group with its model m. */
static int run_group(each_vtab *vt, each_cursor *cur, int group, const attn_model *m,
                     char **err_msg) {
    each_job job = {m, group, vt->spec->task_bit, (size_t)limit_call_memory(vt->conn),
                    &cur->chunk, vt->conn->generation};
    size_t failed = 0;
    attn_error err = {{0}};
    int status = attn_threadpool_run(cur->pool, cur->chunk.n_rows, each_item, &job, &failed, &err);
    if (status == ATTN_OK) return SQLITE_OK;
    *err_msg = sqlite3_mprintf("%s: row %lld: model '%s': %s", vt->spec->name,
                               (long long)(cur->rows_before + (sqlite3_int64)failed + 1),
                               cur->model_names[group], err.msg);
    return sqlite_code(status);
}

/* Each group's rows with its model (a model pointer is valid until the next lookup, so one
 * group at a time). Classify scores are kept [rows, stride] with the stride the most labels
 * of any group's model, which a first lookup of each finds. The named model is checked on
 * every chunk, even one of NULL rows; the Chinese default only when the chunk has Chinese
 * text. */
static int run_chunk(each_vtab *vt, each_cursor *cur, char **err_msg) {
    int used[N_GROUPS] = {1};
    for (size_t i = 0; i < cur->chunk.n_rows; i++) used[cur->chunk.rows[i].group] = 1;
    const attn_model *m;
    int rc = SQLITE_OK;
    cur->chunk.n_labels = 0;
    for (int g = 0; g < N_GROUPS && rc == SQLITE_OK; g++)
        if (used[g] && (rc = chunk_model(vt, cur, g, &m, err_msg)) == SQLITE_OK &&
            vt->spec->task_bit == ATTN_TASK_CLASSIFY)
            rc = chunk_reserve_probs(&cur->chunk, m->cfg.classify_labels.n);
    for (int g = 0; g < N_GROUPS && rc == SQLITE_OK; g++) {
        if (!used[g]) continue;
        rc = chunk_model(vt, cur, g, &m, err_msg);
        if (rc == SQLITE_OK) rc = take_labels(vt, cur, g, m);
        if (rc == SQLITE_OK) rc = run_group(vt, cur, g, m, err_msg);
    }
    return rc;
}

static size_t outputs_of(const each_vtab *vt, const each_row *r) {
    switch (vt->spec->task_bit) {
    case ATTN_TASK_CLASSIFY: return 1;
    case ATTN_TASK_ENTITIES: return r->n_ents;
    default: return r->n_rels;
    }
}

/* Moves to the first output at or after (row, item), reading and running chunks as needed. */
static int settle(each_vtab *vt, each_cursor *cur, char **err_msg) {
    for (;;) {
        each_chunk *ch = &cur->chunk;
        for (; cur->row < ch->n_rows; cur->row++, cur->item = 0)
            if (cur->item < outputs_of(vt, &ch->rows[cur->row])) return SQLITE_OK;
        if (!cur->st) {
            cur->eof = 1;
            return SQLITE_OK;
        }
        cur->row = cur->item = 0;
        int rc = read_chunk(cur, vt->db, vt->spec->name, err_msg);
        if (rc == SQLITE_OK && ch->n_rows > 0) rc = run_chunk(vt, cur, err_msg);
        if (rc != SQLITE_OK) return rc;
    }
}

/* Fails the cursor: ends the query, sets the message. */
static int cursor_fail(each_cursor *cur, int rc, char *err_msg) {
    cursor_reset(cur);
    return vtab_error(cur->base.pVtab, rc == SQLITE_NOMEM ? rc : rc == SQLITE_INTERRUPT ? rc
                                       : SQLITE_ERROR, err_msg);
}

/* threads: NULL, absent or 0 -> one per online CPU; else 1 .. ATTN_THREADPOOL_MAX_THREADS. */
static int arg_threads(const char *fn, sqlite3_value *v, int *n, char **err_msg) {
    sqlite3_int64 want = 0;
    if (v && sqlite3_value_type(v) != SQLITE_NULL) {
        if (sqlite3_value_type(v) != SQLITE_INTEGER) {
            *err_msg = sqlite3_mprintf("%s: argument 3 (threads) must be an INTEGER, got %s", fn,
                                       value_type_name(v));
            return SQLITE_MISMATCH;
        }
        want = sqlite3_value_int64(v);
        if (want < 0 || want > ATTN_THREADPOOL_MAX_THREADS) {
            *err_msg = sqlite3_mprintf("%s: argument 3 (threads) must be 0 (one per CPU) to %d "
                                       "(ATTN_THREADPOOL_MAX_THREADS), got %lld", fn,
                                       ATTN_THREADPOOL_MAX_THREADS, (long long)want);
            return SQLITE_ERROR;
        }
    }
    *n = want ? (int)want : attn_threadpool_default_threads();
    return SQLITE_OK;
}

/* The query: one read-only statement of exactly two columns. */
static int prepare_query(each_vtab *vt, each_cursor *cur, char **err_msg) {
    const char *fn = vt->spec->name;
    int rc = rows_prepare(vt->db, fn, "sql", cur->sql, &cur->st, err_msg);
    if (rc != SQLITE_OK) return rc;
    int n = sqlite3_column_count(cur->st);
    if (n != 2) {
        *err_msg = sqlite3_mprintf("%s: sql gives %d column%s; expected 2 (id, text)", fn, n,
                                   n == 1 ? "" : "s");
        return SQLITE_ERROR;
    }
    return SQLITE_OK;
}

static int ensure_pool(each_cursor *cur, const char *fn, char **err_msg) {
    if (cur->pool && attn_threadpool_threads(cur->pool) == cur->n_threads) return SQLITE_OK;
    attn_threadpool_free(cur->pool);
    cur->pool = NULL;
    attn_error err = {{0}};
    int status = attn_threadpool_new(cur->n_threads, session_new, session_free, &cur->pool, &err);
    if (status == ATTN_OK) return SQLITE_OK;
    *err_msg = sqlite3_mprintf("%s: %s", fn, err.msg);
    return sqlite_code(status);
}

static int start_query(each_vtab *vt, each_cursor *cur, sqlite3_value **args, char **err_msg) {
    const char *fn = vt->spec->name;
    const char *sql, *name;
    size_t n_sql;
    int rc = arg_model(fn, 2, args[1], ATTN_DEFAULT_BY_TEXT, &name, err_msg);
    if (rc == SQLITE_OK) rc = arg_threads(fn, args[2], &cur->n_threads, err_msg);
    if (rc == SQLITE_OK) rc = arg_text(fn, 1, args[0], &sql, &n_sql, err_msg);
    if (rc != SQLITE_OK) return rc;                 /* SQLITE_DONE: NULL sql, no rows */
    cur->sql = sqlite3_mprintf("%s", sql);
    if (name != ATTN_DEFAULT_BY_TEXT) {
        cur->model_names[0] = sqlite3_mprintf("%s", name);
    } else {                                        /* each row gets its text's default */
        const char *other = default_model_of_script(vt->spec->task_bit, 0);
        const char *han = default_model_of_script(vt->spec->task_bit, 1);
        cur->model_names[0] = sqlite3_mprintf("%s", other);
        if (strcmp(han, other) != 0 && !(cur->model_names[1] = sqlite3_mprintf("%s", han)))
            return SQLITE_NOMEM;
    }
    if (!cur->sql || !cur->model_names[0]) return SQLITE_NOMEM;
    const attn_model *m;
    rc = chunk_model(vt, cur, 0, &m, err_msg);      /* a bad model fails before any row */
    if (rc == SQLITE_OK) rc = prepare_query(vt, cur, err_msg);
    if (rc == SQLITE_OK) rc = ensure_pool(cur, fn, err_msg);
    return rc;
}

static int each_filter(sqlite3_vtab_cursor *base, int idx_num, const char *idx_str, int argc,
                       sqlite3_value **argv) {
    int missing = vtab_missing_args(base, idx_num, idx_str);
    if (missing != SQLITE_OK) return missing;
    each_cursor *cur = (each_cursor *)base;
    each_vtab *vt = (each_vtab *)base->pVtab;
    cursor_reset(cur);
    cur->conn = vt->conn;
    sqlite3_value *args[N_ARGS];
    vtab_filter_args(idx_num, argc, argv, N_ARGS, args);
    char *err_msg = NULL;
    int rc = start_query(vt, cur, args, &err_msg);
    if (rc == SQLITE_DONE) return SQLITE_OK;        /* NULL sql: no rows */
    cur->eof = 0;
    if (rc == SQLITE_OK) rc = settle(vt, cur, &err_msg);
    return rc == SQLITE_OK ? SQLITE_OK : cursor_fail(cur, rc, err_msg);
}

static int each_next(sqlite3_vtab_cursor *base) {
    each_cursor *cur = (each_cursor *)base;
    cur->item++;
    cur->rowid++;
    char *err_msg = NULL;
    int rc = settle((each_vtab *)base->pVtab, cur, &err_msg);
    return rc == SQLITE_OK ? SQLITE_OK : cursor_fail(cur, rc, err_msg);
}

static int each_eof(sqlite3_vtab_cursor *base) {
    return ((each_cursor *)base)->eof;
}

static int each_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid) {
    *rowid = ((each_cursor *)base)->rowid + 1;
    return SQLITE_OK;
}

/* ---- columns -------------------------------------------------------------------------------- */

static void result_id(sqlite3_context *ctx, const each_cursor *cur, const each_row *r) {
    const char *p = cur->chunk.bytes + r->id_off;
    switch (r->id_type) {
    case SQLITE_INTEGER: sqlite3_result_int64(ctx, r->id_int); break;
    case SQLITE_FLOAT: sqlite3_result_double(ctx, r->id_real); break;
    case SQLITE_TEXT: sqlite3_result_text(ctx, p, (int)r->id_len, SQLITE_TRANSIENT); break;
    case SQLITE_BLOB: sqlite3_result_blob(ctx, p, (int)r->id_len, SQLITE_TRANSIENT); break;
    default: break;
    }
}

static void result_label(sqlite3_context *ctx, const attn_labels *labels, int i) {
    if (i >= 0 && i < labels->n) sqlite3_result_text(ctx, labels->names[i], -1, SQLITE_TRANSIENT);
}

static void classify_column(sqlite3_context *ctx, const each_cursor *cur, const each_row *r,
                            int col) {
    if (!r->has_text) return;                       /* NULL text: NULL answers */
    const each_chunk *ch = &cur->chunk;
    const attn_labels *labels = &cur->labels[r->group];
    const float *probs = ch->probs + cur->row * (size_t)ch->n_labels;
    const int best = attn_argmax(probs, labels->n); /* as attn_classify: first on ties */
    switch (col) {
    case CLS_LABEL: result_label_probs(ctx, NULL, labels, probs, 0); break;
    case CLS_SCORE: if (labels->n > 0) sqlite3_result_double(ctx, probs[best]); break;
    case CLS_SCORES: result_label_probs(ctx, NULL, labels, probs, 1); break;
    }
}

static void result_entity_text(sqlite3_context *ctx, const each_cursor *cur, const each_row *r,
                               const attn_entity *e) {
    if (e->byte_start <= e->byte_end && e->byte_end <= r->n_text)
        sqlite3_result_text(ctx, cur->chunk.bytes + r->text_off + e->byte_start,
                            (int)(e->byte_end - e->byte_start), SQLITE_TRANSIENT);
}

static void entity_column(sqlite3_context *ctx, const each_cursor *cur, const each_row *r,
                          int col) {
    const attn_entity *e = &r->ents[cur->item];
    switch (col) {
    case ENT_START: sqlite3_result_int64(ctx, e->start); break;
    case ENT_END: sqlite3_result_int64(ctx, e->end); break;
    case ENT_LABEL: result_label(ctx, &cur->entity_labels[r->group], e->label); break;
    case ENT_ENTITY: result_entity_text(ctx, cur, r, e); break;
    case ENT_SCORE: sqlite3_result_double(ctx, e->score); break;
    }
}

static void relation_column(sqlite3_context *ctx, const each_cursor *cur, const each_row *r,
                            int col) {
    const attn_relation *rel = &r->rels[cur->item];
    if (rel->head < 0 || (size_t)rel->head >= r->n_ents || rel->tail < 0 ||
        (size_t)rel->tail >= r->n_ents)
        return;                          /* cannot happen: the pipeline's invariant */
    const attn_entity *h = &r->ents[rel->head], *t = &r->ents[rel->tail];
    switch (col) {
    case REL_HEAD: result_entity_text(ctx, cur, r, h); break;
    case REL_HEAD_LABEL: result_label(ctx, &cur->entity_labels[r->group], h->label); break;
    case REL_HEAD_START: sqlite3_result_int64(ctx, h->start); break;
    case REL_HEAD_END: sqlite3_result_int64(ctx, h->end); break;
    case REL_RELATION: result_label(ctx, &cur->labels[r->group], rel->label); break;
    case REL_TAIL: result_entity_text(ctx, cur, r, t); break;
    case REL_TAIL_LABEL: result_label(ctx, &cur->entity_labels[r->group], t->label); break;
    case REL_TAIL_START: sqlite3_result_int64(ctx, t->start); break;
    case REL_TAIL_END: sqlite3_result_int64(ctx, t->end); break;
    case REL_SCORE: sqlite3_result_double(ctx, rel->score); break;
    }
}

static int each_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col) {
    each_cursor *cur = (each_cursor *)base;
    const each_spec *spec = ((each_vtab *)base->pVtab)->spec;
    const each_row *r = &cur->chunk.rows[cur->row];
    if (col == spec->n_visible) sqlite3_result_text(ctx, cur->sql, -1, SQLITE_TRANSIENT);
    else if (col == spec->n_visible + 1)
        sqlite3_result_text(ctx, cur->model_names[r->group], -1, SQLITE_TRANSIENT);
    else if (col == spec->n_visible + 2) sqlite3_result_int(ctx, cur->n_threads);
    else if (col == COL_ID) result_id(ctx, cur, r);
    else if (spec->task_bit == ATTN_TASK_CLASSIFY) classify_column(ctx, cur, r, col);
    else if (spec->task_bit == ATTN_TASK_ENTITIES) entity_column(ctx, cur, r, col);
    else relation_column(ctx, cur, r, col);
    return SQLITE_OK;
}

/* ---- registration ------------------------------------------------------------------------- */

static const sqlite3_module each_module = {
    .iVersion = 0,
    .xCreate = NULL,                    /* eponymous only: no CREATE VIRTUAL TABLE */
    .xConnect = each_connect,
    .xBestIndex = each_best_index,
    .xDisconnect = vtab_disconnect,
    .xDestroy = NULL,
    .xOpen = each_open,
    .xClose = each_close,
    .xFilter = each_filter,
    .xNext = each_next,
    .xEof = each_eof,
    .xColumn = each_column,
    .xRowid = each_rowid,
};

static void each_aux_free(void *p) {
    each_aux *aux = p;
    conn_unref(aux->conn);
    sqlite3_free(aux);
}

int vtab_each_register(sqlite3 *db, attn_conn *c) {
    for (int kind = EACH_CLASSIFY; kind <= EACH_RELATIONS; kind++) {
        each_aux *aux = sqlite3_malloc64(sizeof *aux);
        if (!aux) return SQLITE_NOMEM;
        conn_ref(c);
        aux->conn = c;
        aux->kind = (each_kind)kind;
        /* On failure SQLite calls each_aux_free itself. */
        int rc = sqlite3_create_module_v2(db, each_specs[kind].name, &each_module, aux,
                                          each_aux_free);
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}
