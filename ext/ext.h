/* ext.h: what the files of the SQLite binding share. Internal to ext/; the engine (model/)
 * never sees sqlite3.h and this binding never does arithmetic on tensors. ext/ sees the engine
 * through model/engine.h alone (included here).
 *
 *   attnext.c     entry point, registration table, scalar functions, attn_version/attn_debug
 *   conn.c        per-connection state and model lookup (main, attached, built-in), with
 *                 revalidation by SQLITE_FCNTL_DATA_VERSION
 *   registry.c    the process-wide cache of loaded models, keyed by a SHA-256 of their rows
 *   builtin.c     models embedded in the library (SQLite database images)
 *   vtab_entities_relations.c  attn_entities and attn_relations (eponymous table-valued functions)
 *   vtab_models.c attn_models (eponymous virtual table)
 *   vtab_train.c  attn_train (training, one row per epoch); model_write.c stores the result
 *   vtab_eval.c   attn_eval; train_rows.c reads annotated rows for both
 *   vtab_calibrate.c attn_calibrate (fits the heads' temperatures, writes them in the config)
 *   vtab_conll.c  attn_conll (CoNLL files as rows)
 *   vtab_wordvec.c attn_wordvec_train (word vectors from text files, progress rows)
 *   vtab_pack.c   attn_pack (a model re-encoded into another storage, another database)
 *   fn_relation.c attn_relation, attn_relation_scores (relation of two given spans)
 *   fn_detok.c    attn_detok (pre-tokenised text joined as people write it)
 *   vtab_each.c   attn_classify_each, attn_entities_each, attn_relations_each (the bulk path:
 *                 a query's rows on every core)
 *   vtab_common.c what the table-valued functions share: argument columns, errors; and
 *                 sqlite_grow, the binding's arrays grown with SQLite's allocator
 *   limits.c      per-connection resource limits, attn_limit() and attn_set_limit
 *   interrupt.c   sqlite3_interrupt as the engine's stop callback */
#ifndef ATTN_EXT_H
#define ATTN_EXT_H

#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3

#include "engine.h"

/* Oldest SQLite we run on: sqlite3_total_changes64 (3.37.0); sqlite3_vtab_config INNOCUOUS,
 * SQLITE_INNOCUOUS, SQLITE_FCNTL_DATA_VERSION and sqlite3_deserialize are all older. */
#define ATTN_SQLITE_MIN_VERSION      3037000
#define ATTN_SQLITE_MIN_VERSION_TEXT "3.37.0"
/* sqlite3_db_name (cheap schema enumeration) exists from 3.39.0; before that we fall back to
 * PRAGMA database_list. */
#ifndef ATTN_SQLITE_DB_NAME_VERSION  /* -DATTN_SQLITE_DB_NAME_VERSION=99999999 tests the fallback */
#define ATTN_SQLITE_DB_NAME_VERSION  3039000
#endif

/* Longest text a SQL function accepts, in bytes. */
#define ATTN_SQL_MAX_TEXT_BYTES      100000000
/* Most entities or relations in one annotated row. */
#define ATTN_SQL_MAX_ITEMS           100000
/* Longest model name, in bytes. */
#define ATTN_SQL_MAX_NAME_BYTES      256

/* What arg_model gives a task function whose model argument is absent or NULL: "choose by
 * the text", which the function resolves with default_model once it has the text. */
extern const char ATTN_DEFAULT_BY_TEXT[];

/* ---- registry.c: process-wide, reference-counted, read-only models ---------------------- */

/* What the registry keys on: SHA-256 of a model's rows (key, dtype, shape, data, each with
 * its type and length), or of a built-in's identity. Collision-resistant: no database can make
 * the registry hand out another model for its rows. */
typedef struct model_digest { unsigned char b[ATTN_SHA256_BYTES]; } model_digest;

typedef struct shared_model {
    model_digest digest;
    int n_refs;                 /* guarded by the registry mutex */
    attn_model *model;          /* finished, read-only */
    struct shared_model *next;
} shared_model;

/* The entry with that digest with one more reference, or NULL. */
shared_model *registry_acquire(const model_digest *digest);
/* Adds a freshly loaded model (ownership passes to the registry) and returns it with one
 * reference. If another thread inserted the same digest meanwhile, frees m and returns
 * that entry instead. NULL on ENOMEM (m is freed). */
shared_model *registry_insert(const model_digest *digest, attn_model *m);
/* Drops one reference; the model is freed when none are left. NULL is a no-op. */
void registry_release(shared_model *sm);
/* Number of entries (for tests and attn_debug). */
int registry_count(void);

/* Streaming 64-bit fingerprint of byte strings (not cryptographic): only tells a connection
 * whether rows of the same storage changed (conn.c); never a key across databases. */
typedef struct fingerprint { uint64_t h; } fingerprint;
void fingerprint_init(fingerprint *f);
void fingerprint_add(fingerprint *f, const void *data, size_t n);   /* length is mixed in */
uint64_t fingerprint_final(const fingerprint *f);

/* ---- builtin.c: models compiled into the library ---------------------------------------- */

typedef struct builtin_model {
    const char *name;
    const unsigned char *start, *end;  /* a SQLite database image holding an attn_model table */
} builtin_model;

int builtin_count(void);
const builtin_model *builtin_get(int i);
const builtin_model *builtin_find(const char *name);
/* Opens a built-in image read-only in a private in-memory connection. On failure returns an
 * SQLite code and sets *err_msg (sqlite3_malloc'd). */
int builtin_open(const builtin_model *b, sqlite3 **db, char **err_msg);

/* The built-in model a call of task (ATTN_TASK_*) on text runs when it names none: by the
 * text's script (attn_text_script): Chinese text (Han) gets zh-sentiment / zh-ner, every
 * other text en-sentiment / en-ner; relations are en-rel's for every text (no Chinese
 * relation model). A name the call gives, or a model of that name in the database, takes
 * precedence as for any name (main, then attached databases, then the built-ins). */
const char *default_model(int task, const char *text, size_t n_bytes);
/* The same by script: han non-zero for Chinese text. */
const char *default_model_of_script(int task, int han);
/* Drops the image's pages from the process's resident set (read-only, file-backed: a later
 * read faults them back in): a loaded built-in keeps its own copy, so the image would only
 * double its RSS. Safe while other threads read the image. */
void builtin_drop_pages(const builtin_model *b);

/* ---- interrupt.c: sqlite3_interrupt as the engine's attn_stop_cb ----------------------- */

typedef struct interrupt_probe {
    sqlite3 *db;
    sqlite3_stmt *st;           /* prepared on the first check (SQLite < 3.41) */
} interrupt_probe;

void interrupt_probe_init(interrupt_probe *p, sqlite3 *db);
/* An attn_stop_cb (user = the probe): non-zero once sqlite3_interrupt was called on p->db
 * while the current statement runs. */
int interrupt_probe_check(void *user);
/* Finalizes the probe's statement (before the call returns: a connection with a statement
 * left open cannot close). */
void interrupt_probe_done(interrupt_probe *p);

/* ---- conn.c: per-connection state -------------------------------------------------------- */

typedef struct conn_model conn_model;

/* Per-connection limits set with attn_limit() (limits.c); 0 = the default. */
typedef struct attn_limits {
    sqlite3_int64 max_text_bytes;
    sqlite3_int64 max_call_memory;
} attn_limits;

typedef struct attn_conn {
    sqlite3 *db;
    int n_refs;                 /* functions and modules holding it (one thread: the db's) */
    attn_session *session;      /* created on first use */
    conn_model *models;         /* [n_models] resolutions name -> model */
    int n_models;
    size_t cap_models;
    char *signature;            /* schemas and data versions when last validated (malloc'd) */
    uint64_t generation;        /* bumped whenever the signature changes */
    int busy;                   /* a lookup is running (guards against re-entry) */
    attn_limits limits;
    interrupt_probe probe;      /* the session's stop callback during a call (limits.c) */
    uint64_t statements;        /* statements that looked up a model (conn.c) */
} attn_conn;

attn_conn *conn_new(sqlite3 *db);
void conn_ref(attn_conn *c);
void conn_unref(void *c);       /* destructor for sqlite3_create_*_v2 */

/* The session, created on first use; NULL on ENOMEM. */
attn_session *conn_session(attn_conn *c);

/* Finds model `name` (main, then attached schemas in order, then built-ins), loading or
 * revalidating it as needed. On success *m is valid until the next conn_model_get on this
 * connection's state or its destruction. On failure returns an SQLite code and sets *err_msg
 * (sqlite3_malloc'd) to a message prefixed with fn, e.g.
 * "attn_classify: model 'x' not found in attn_model or built-ins". */
int conn_model_get(attn_conn *c, const char *fn, const char *name, const attn_model **m,
                   char **err_msg);
/* The schema model name was found in by the last conn_model_get of it on c ("main", an
 * attached name), or NULL for a built-in (or a name not looked up). Valid until the next
 * conn_model_get on c. */
const char *conn_model_schema(attn_conn *c, const char *name);

/* The same for a scalar function: inside a written transaction, where a statement may have
 * rolled back to a savepoint or dropped attn_model, each statement (not each row) looks
 * again. conn_model_get counts each call as a statement (a table-valued function's scan). */
int conn_model_get_scalar(attn_conn *c, sqlite3_context *ctx, const char *fn,
                          const char *name, const attn_model **m, char **err_msg);

/* Schema names in lookup order (main, then attached; never temp). Returns a count or -1 on
 * error; names[i] are sqlite3_malloc'd (free with schema_names_free). */
int schema_names(sqlite3 *db, char ***names);
void schema_names_free(char **names, int n);

/* Most rows and data bytes one model may have in attn_model: the loader accepts no more
 * (ATTN_MAX_PARAMS values at 5 bytes at most, q8 with its scales, plus the config); reading
 * stops with an error there instead of reading a file of any size. */
#define ATTN_SQL_MAX_MODEL_ROWS   4096
#define ATTN_SQL_MAX_MODEL_BYTES  ((sqlite3_int64)(5 * ATTN_MAX_PARAMS + ATTN_MAX_CONFIG_BYTES))

/* Hashes the rows of schema.attn_model for name, in key order: the 64-bit fingerprint *fp and,
 * when digest is non-NULL, their SHA-256. Returns 0 when found, 1 when there are no rows for
 * that name, or -1 on error with *err_msg set (no prefix), also when the rows pass
 * ATTN_SQL_MAX_MODEL_ROWS or _BYTES or sqlite3_interrupt is called.
 * model_rows_load loads them for inference (config row, attn_model_set_inference_only, every
 * tensor, finish): SQLITE_OK or an error code with *err_msg set, e.g. "tensor 'tag.w': shape [9,32] expected, found [9,31]". */
int model_rows_fingerprint(sqlite3 *db, const char *schema, const char *name, uint64_t *fp,
                           model_digest *digest, char **err_msg);
int model_rows_load(sqlite3 *db, const char *schema, const char *name, attn_model **out,
                    char **err_msg);
/* Whether schema has an attn_model table: 1 yes, 0 no, -1 when it is not an ordinary table
 * (a view, a virtual table, generated columns: refused, since reading it could run any SQL)
 * with *err_msg set, e.g. "aux.attn_model is a view; attn_model must be an ordinary table". */
int schema_model_table(sqlite3 *db, const char *schema, char **err_msg);

/* ---- shared helpers (attnext.c) ---------------------------------------------------------- */

/* Name of a value's type as users see it: "integer", "real", "text", "blob", "null". */
const char *value_type_name(sqlite3_value *v);
/* Checks the text argument: returns SQLITE_OK with text and n set, SQLITE_DONE for NULL, or an
 * error with *err_msg set: "fn: argument 1 must be TEXT, got integer". */
int arg_text(const char *fn, int arg_no, sqlite3_value *v, const char **text, size_t *n,
             char **err_msg);
/* Model name argument: v NULL (not given) or an SQL NULL -> default_name; with no default
 * (attn_train, attn_eval) an SQL NULL is an error. Errors as arg_text, and for an empty name
 * or one containing a NUL byte. */
int arg_model(const char *fn, int arg_no, sqlite3_value *v, const char *default_name,
              const char **name, char **err_msg);
/* "fn: model 'name' has no <task> task (tasks: ...)" unless m has task (one ATTN_TASK_* bit):
 * SQLITE_OK or SQLITE_ERROR with *err_msg set. */
int model_check_task(const char *fn, const char *name, const attn_model *m, int task,
                     char **err_msg);
/* ATTN_TASK_* of "classify", "entities" or "relations"; else SQLITE_ERROR with *err_msg
 * "fn: unknown task 'x' (expected 'classify', 'entities' or 'relations')". */
int task_from_name(const char *fn, const char *s, int *task, char **err_msg);
/* Reports err_msg (freed here) as the function's error: SQLITE_ERROR, or SQLITE_NOMEM when
 * rc says so or the message could not be allocated. */
void result_error(sqlite3_context *ctx, int rc, char *err_msg);
/* Start of a scalar model function (user data: the attn_conn): model name with task (an
 * ATTN_TASK_* bit: classify or relations), the session, and probs (sqlite3_malloc'd, one float
 * per output: the labels, plus "none" for relations). On failure the error is ctx's result
 * and the code is returned. */
int scalar_setup(sqlite3_context *ctx, const char *fn, const char *name, int task,
                 const attn_model **m, attn_session **s, float **probs);
/* The function's result from output probabilities probs[n], n = labels->n + (first != NULL),
 * output 0 named first when given, then the labels in order: the name of the most probable
 * output (the first on ties), or with want_scores the JSON object {"name": p, ...} of all. */
void result_label_probs(sqlite3_context *ctx, const char *first, const attn_labels *labels,
                        const float *probs, int want_scores);
/* Appends s as a JSON string literal. */
void json_append_string(sqlite3_str *out, const char *s);
/* Appends {"task": ["label", ...], ...} for every task of cfg. */
void json_append_labels(sqlite3_str *out, const attn_config *cfg);
/* Comma list of the config's tasks, e.g. "classify,entities" (static strings). */
const char *tasks_text(int tasks);
/* Maps an engine status to an SQLite result code. */
int sqlite_code(int attn_status);

/* ---- train_rows.c: annotated rows from SQL (attn_train, attn_eval) ---------------------- */

typedef struct train_row {
    char *text;                 /* [n_text bytes] + NUL, sqlite3_malloc'd */
    size_t n_text;
    char *label;                /* classify label, or NULL */
    attn_gold_entity *ents;     /* [n_ents], labels sqlite3_malloc'd */
    int n_ents;
    attn_gold_relation *rels;   /* [n_rels], labels sqlite3_malloc'd */
    int n_rels;
} train_row;

typedef struct train_rows {
    train_row *rows;
    size_t n, cap;
} train_rows;

/* Prepares exactly one read-only statement; errors "fn: <what>: ...", what naming the SQL argument
 * ("train_sql", "dev", "sql"). */
int rows_prepare(sqlite3 *db, const char *fn, const char *what, const char *sql,
                 sqlite3_stmt **st, char **err_msg);
/* Columns a task's rows have: 2 (classify, entities) or 3 (relations). */
int rows_columns_for(int task);
/* The arguments (model, sql [, task]) of attn_eval and attn_calibrate, args[2] NULL when the
 * task is not given (then *task = 0): errors as arg_model / arg_text / task_from_name, and
 * "fn: arguments must not be NULL". */
int rows_args(const char *fn, sqlite3_value **args, const char **name, const char **sql,
              int *task, char **err_msg);
/* The task of rows with n_columns columns for model m (attn_eval, attn_calibrate without a
 * task): 3 -> relations; 2 -> the model's classify or entities task. Errors "fn: model 'x' has
 * classify and entities tasks: give the task as the third argument", "fn: the SQL gives N
 * columns; expected ...". */
int rows_infer_task(const char *fn, const attn_model *m, const char *name, int n_columns,
                    int *task, char **err_msg);
/* Steps st to the end, appending its rows to *out; errors "fn: <what> N: ..." for a row
 * ("row 17"), "fn: <sql_name>: ..." for the statement. */
int rows_read(sqlite3 *db, sqlite3_stmt *st, const char *fn, const char *sql_name,
              const char *what, int task, train_rows *out, char **err_msg);
/* A new dataset for model m (attn_dataset_new of its config, with its gazetteer lists) with
 * every row added (attn_dataset_add); errors "fn: <what> N: <engine message>" or
 * "fn: interrupted" (sqlite3_interrupt on db), and then *out is NULL. */
int rows_to_dataset(sqlite3 *db, const train_rows *rows, int task, const attn_model *m,
                    const char *fn, const char *what, attn_dataset **out, char **err_msg);
void train_rows_free(train_rows *r);

/* ---- train_gazetteers.c: attn_train's option 'gazetteers' -------------------------------- */

/* The option's value is an object of 1..ATTN_GAZ_MAX_LISTS lists, each named [A-Za-z0-9_-]
 * (1..31) and given as a non-empty SQL string or an array of strings; else an error
 * "fn: option 'gazetteers' ...". */
int gazetteers_check(const attn_json *lists, const char *fn, char **err_msg);
/* *out (sqlite3_malloc'd) = the features JSON array with the lists given to its gazetteer
 * item, or a gazetteer item of width 16 added; an item naming other lists is an error. */
int gazetteers_features(sqlite3 *db, const char *fn, const attn_json *lists,
                        const char *features, char **out, char **err_msg);
/* Reads every list (running its SQL) into a new gazetteer given to m, a fresh model whose
 * config has the lists' gazetteer feature (attn_model_set_gazetteer). Stops on
 * sqlite3_interrupt; errors "fn: gazetteer 'PER': ..." or "fn: option 'gazetteers': ...". */
int gazetteers_read(sqlite3 *db, const char *fn, const attn_json *lists, attn_model *m,
                    char **err_msg);

/* ---- model_write.c ----------------------------------------------------------------------- */

/* Replaces the rows of name in main.attn_model (created if missing) with config_json and
 * every tensor of m, each in the dtype storage gives it (attn_storage_dtype: all f32, all f16,
 * or q8 embedding tables + f16), in one SAVEPOINT: on any error nothing changes. Errors
 * "fn: ..." in *err_msg. */
int model_write(sqlite3 *db, const char *fn, const char *name, const attn_model *m,
                const char *config_json, attn_storage storage, char **err_msg);
/* The same into schema.attn_model (main or an attached database; refused when it is not an
 * ordinary table or has triggers). read_back, when non-NULL, receives the model as it loads
 * from the rows written (the check every write makes; the caller frees it), or NULL on error. */
int model_write_to(sqlite3 *db, const char *fn, const char *schema, const char *name,
                   const attn_model *m, const char *config_json, attn_storage storage,
                   attn_model **read_back, char **err_msg);

/* ---- fn_relation.c ----------------------------------------------------------------------- */
void attn_relation_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void attn_relation_scores_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);

/* ---- fn_detok.c -------------------------------------------------------------------------- */
void attn_detok_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);

/* ---- vtab_common.c: shared by the table-valued functions -------------------------------- */

/* attn_grow (model/common.h) with sqlite3_realloc64: *p (capacity *cap elements of elem
 * bytes) holds at least n elements, doubling; SQLITE_OK, or SQLITE_NOMEM with *p and *cap
 * unchanged. Such arrays are freed with sqlite3_free. */
int sqlite_grow(void **p, size_t *cap, size_t n, size_t elem);

/* Most HIDDEN argument columns of one table-valued function. */
#define VTAB_MAX_ARGS 8

/* xConnect: declares schema, allocates a zeroed struct of size bytes (its first member a
 * sqlite3_vtab) into *out and sets vtab_config (SQLITE_VTAB_INNOCUOUS or _DIRECTONLY). */
int vtab_new(sqlite3 *db, const char *schema, int vtab_config, size_t size,
             sqlite3_vtab **out);
/* xDisconnect of a vtab made by vtab_new. */
int vtab_disconnect(sqlite3_vtab *vt);
/* xOpen: a zeroed cursor struct of size bytes (its first member a sqlite3_vtab_cursor). */
int vtab_cursor_new(size_t size, sqlite3_vtab_cursor **out);
/* Sets vt's error message to msg (taking it) and returns rc; SQLITE_NOMEM when msg is NULL. */
int vtab_error(sqlite3_vtab *vt, int rc, char *msg);
/* The error of a call that failed with rc and err_msg (taken): SQLITE_NOMEM as is (message
 * dropped), SQLITE_INTERRUPT as is, anything else as SQLITE_ERROR, with the message. */
int vtab_call_error(sqlite3_vtab *vt, int rc, char *err_msg);

/* The arguments of a table-valued function: the HIDDEN columns first_col .. first_col +
 * n_args - 1, in order; the first n_required must be given. */
typedef struct vtab_args {
    int first_col, n_args, n_required;
    const char *fn;             /* SQL name, the prefix of the error message */
    const char *missing;        /* what is missing: "argument", "text argument", ... */
    const char *usage;          /* the argument list shown: "text [, model]" */
    double cost;                /* estimatedCost and estimatedRows of the plan */
    sqlite3_int64 rows;
} vtab_args;

/* xBestIndex: maps the equality constraints on the argument columns to argvIndex 1.. in
 * column order and sets idxNum bit i when argument i is given. Returns SQLITE_CONSTRAINT when
 * an argument is present but not usable yet. A plan without a required argument is not an
 * error here: SQLite also asks about plans it will not take (each side of an OR in WHERE is
 * planned alone), so such a plan gets an enormous cost, idxNum VTAB_ARGS_MISSING and the
 * message "fn: missing <missing>: use fn(<usage>)" as idxStr, which xFilter reports if SQLite
 * does run it (vtab_missing_args). */
#define VTAB_ARGS_MISSING (1 << 30)
int vtab_bind_args(sqlite3_vtab *vt, sqlite3_index_info *info, const vtab_args *spec);
/* xFilter, first: SQLITE_ERROR with the missing-argument message when idx_num says so. */
int vtab_missing_args(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str);
/* xFilter: args[0..n_args) = argument i from argv, or NULL when not given (see idxNum above). */
void vtab_filter_args(int idx_num, int argc, sqlite3_value **argv, int n_args,
                      sqlite3_value **args);

/* ---- limits.c: resource limits of the model functions ----------------------------------- */

/* The connection's limits in effect (defaults applied). */
sqlite3_int64 limit_text_bytes(const attn_conn *c);
sqlite3_int64 limit_call_memory(const attn_conn *c);
/* SQLITE_OK unless v is a TEXT longer than the connection's max_text_bytes: then
 * SQLITE_TOOBIG with *err_msg "fn: text is N bytes, above the limit of L
 * (attn_limit('max_text_bytes'))". Call it before arg_text. */
int limit_check_text(const attn_conn *c, const char *fn, sqlite3_value *v, char **err_msg);
/* The connection's session (conn_session) with its max_call_memory applied and the
 * connection's generation as its model epoch (the token cache's entries hold while it does);
 * NULL on ENOMEM. Call it after conn_model_get, which may move to a new generation and
 * release a model. */
attn_session *call_session_begin(attn_conn *c);
/* After the engine call on call_session_begin's session: releases what its stop callback (the
 * connection's interrupt probe) holds. */
void call_session_end(attn_conn *c);
/* "fn: model 'name': <engine message>", naming attn_limit('max_call_memory') when that limit
 * was the cause (sqlite3_malloc'd; NULL on ENOMEM). */
char *limit_engine_error(const char *fn, const char *name, const attn_session *s,
                         const attn_error *err);
int limits_register(sqlite3 *db, attn_conn *c);

/* ---- vtab registration ------------------------------------------------------------------- */
int vtab_entities_relations_register(sqlite3 *db, attn_conn *c);
int vtab_models_register(sqlite3 *db, attn_conn *c);
int vtab_train_register(sqlite3 *db, attn_conn *c);
int vtab_eval_register(sqlite3 *db, attn_conn *c);
int vtab_calibrate_register(sqlite3 *db, attn_conn *c);
int vtab_conll_register(sqlite3 *db, attn_conn *c);
int vtab_wordvec_register(sqlite3 *db, attn_conn *c);
int vtab_pack_register(sqlite3 *db, attn_conn *c);
int vtab_each_register(sqlite3 *db, attn_conn *c);      /* vtab_each.c: the bulk path */

#endif
