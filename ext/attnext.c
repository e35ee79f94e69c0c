/* attnext.c: the SQLite entry point. Registers the scalar functions from one table and the
 * virtual tables, and holds the argument checks and JSON helpers the other files share.
 *
 *   attn_classify(text [, model])         -> the most probable label (TEXT)
 *   attn_classify_scores(text [, model])  -> {"label": probability, ...} in label order
 *   attn_version()                        -> '0.1.0'
 *   attn_debug()                          -> build, SIMD, BLAS and SQLite details (TEXT)
 *   attn_entities(text [, model]), attn_relations(text [, model]), attn_models: vtab_*.c
 *   attn_relation(_scores)(text, hs, he, ts, te [, model]): fn_relation.c
 *   attn_detok(tokens_json [, 'offsets']): fn_detok.c
 *   attn_train, attn_eval, attn_conll: vtab_train.c, vtab_eval.c, vtab_conll.c
 *
 * Model functions are SQLITE_INNOCUOUS but not DETERMINISTIC: their answer depends on the
 * attn_model table, which can change between statements. */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include "ext.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared helpers ----------------------------------------------------------------------- */

const char *value_type_name(sqlite3_value *v) {
    switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER: return "integer";
    case SQLITE_FLOAT: return "real";
    case SQLITE_TEXT: return "text";
    case SQLITE_BLOB: return "blob";
    default: return "null";
    }
}

int arg_text(const char *fn, int arg_no, sqlite3_value *v, const char **text, size_t *n,
             char **err_msg) {
    if (sqlite3_value_type(v) == SQLITE_NULL) return SQLITE_DONE;
    if (sqlite3_value_type(v) != SQLITE_TEXT) {
        *err_msg = sqlite3_mprintf("%s: argument %d must be TEXT, got %s", fn, arg_no,
                                   value_type_name(v));
        return SQLITE_MISMATCH;
    }
    const char *s = (const char *)sqlite3_value_text(v);
    if (!s) return SQLITE_NOMEM;
    sqlite3_int64 bytes = sqlite3_value_bytes(v);
    if (bytes > ATTN_SQL_MAX_TEXT_BYTES) {
        *err_msg = sqlite3_mprintf("%s: text is %lld bytes, more than the limit of %lld "
                                   "(ATTN_SQL_MAX_TEXT_BYTES)", fn, (long long)bytes,
                                   (long long)ATTN_SQL_MAX_TEXT_BYTES);
        return SQLITE_TOOBIG;
    }
    *text = s;
    *n = (size_t)bytes;
    return SQLITE_OK;
}

int arg_model(const char *fn, int arg_no, sqlite3_value *v, const char *default_name,
              const char **name, char **err_msg) {
    /* NULL is "not given": the default model, where the function has one (attn_train and
     * attn_eval have none). */
    if (!v || (sqlite3_value_type(v) == SQLITE_NULL && default_name)) {
        *name = default_name;
        return SQLITE_OK;
    }
    if (sqlite3_value_type(v) != SQLITE_TEXT) {
        *err_msg = sqlite3_mprintf("%s: argument %d (model name) must be TEXT, got %s", fn,
                                   arg_no, value_type_name(v));
        return SQLITE_MISMATCH;
    }
    const char *s = (const char *)sqlite3_value_text(v);
    if (!s) return SQLITE_NOMEM;
    if (sqlite3_value_bytes(v) > ATTN_SQL_MAX_NAME_BYTES) {
        *err_msg = sqlite3_mprintf("%s: model name is %d bytes, more than the limit of %d "
                                   "(ATTN_SQL_MAX_NAME_BYTES)", fn, sqlite3_value_bytes(v),
                                   ATTN_SQL_MAX_NAME_BYTES);
        return SQLITE_TOOBIG;
    }
    if (!*s || (int)strlen(s) != sqlite3_value_bytes(v)) {
        *err_msg = sqlite3_mprintf("%s: argument %d (model name) %s", fn, arg_no,
                                   *s ? "contains a NUL byte" : "is empty");
        return SQLITE_ERROR;
    }
    *name = s;
    return SQLITE_OK;
}

void json_append_string(sqlite3_str *out, const char *s) {
    sqlite3_str_appendchar(out, 1, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') sqlite3_str_appendf(out, "\\%c", *p);
        else if (*p < 0x20) sqlite3_str_appendf(out, "\\u%04x", *p);
        else sqlite3_str_appendchar(out, 1, (char)*p);
    }
    sqlite3_str_appendchar(out, 1, '"');
}

static void json_append_label_list(sqlite3_str *out, const attn_labels *labels) {
    sqlite3_str_appendchar(out, 1, '[');
    for (int i = 0; i < labels->n; i++) {
        if (i) sqlite3_str_appendchar(out, 1, ',');
        json_append_string(out, labels->names[i]);
    }
    sqlite3_str_appendchar(out, 1, ']');
}

void json_append_labels(sqlite3_str *out, const attn_config *cfg) {
    static const struct { int task; const char *name; } tasks[] = {
        {ATTN_TASK_CLASSIFY, "classify"},
        {ATTN_TASK_ENTITIES, "entities"},
        {ATTN_TASK_RELATIONS, "relations"},
    };
    const attn_labels *lists[] = {&cfg->classify_labels, &cfg->entity_labels,
                                  &cfg->relation_labels};
    int first = 1;
    sqlite3_str_appendchar(out, 1, '{');
    for (int i = 0; i < 3; i++) {
        if (!(cfg->tasks & tasks[i].task)) continue;
        sqlite3_str_appendf(out, "%s\"%s\":", first ? "" : ",", tasks[i].name);
        json_append_label_list(out, lists[i]);
        first = 0;
    }
    sqlite3_str_appendchar(out, 1, '}');
}

const char *tasks_text(int tasks) {
    static const char *const names[32] = {   /* indexed by the ATTN_TASK_* bit set */
        "", "classify", "entities", "classify,entities", "relations", "classify,relations",
        "entities,relations", "classify,entities,relations", "mlm", "classify,mlm", "entities,mlm",
        "classify,entities,mlm", "relations,mlm", "classify,relations,mlm",
        "entities,relations,mlm", "classify,entities,relations,mlm", "rtd", "classify,rtd",
        "entities,rtd", "classify,entities,rtd", "relations,rtd", "classify,relations,rtd",
        "entities,relations,rtd", "classify,entities,relations,rtd", "mlm,rtd", "classify,mlm,rtd",
        "entities,mlm,rtd", "classify,entities,mlm,rtd", "relations,mlm,rtd",
        "classify,relations,mlm,rtd", "entities,relations,mlm,rtd",
        "classify,entities,relations,mlm,rtd",
    };
    return names[tasks & 31];
}

int sqlite_code(int attn_status) {
    return attn_status == ATTN_ENOMEM ? SQLITE_NOMEM
         : attn_status == ATTN_ELIMIT ? SQLITE_TOOBIG
         : attn_status == ATTN_ESTOPPED ? SQLITE_INTERRUPT : SQLITE_ERROR;
}

int model_check_task(const char *fn, const char *name, const attn_model *m, int task,
                     char **err_msg) {
    if (m->cfg.tasks & task) return SQLITE_OK;
    *err_msg = sqlite3_mprintf("%s: model '%s' has no %s task (tasks: %s)", fn, name,
                               tasks_text(task), tasks_text(m->cfg.tasks));
    return SQLITE_ERROR;
}

int task_from_name(const char *fn, const char *s, int *task, char **err_msg) {
    *task = strcmp(s, "classify") == 0 ? ATTN_TASK_CLASSIFY
          : strcmp(s, "entities") == 0 ? ATTN_TASK_ENTITIES
          : strcmp(s, "relations") == 0 ? ATTN_TASK_RELATIONS : 0;
    if (*task) return SQLITE_OK;
    *err_msg = sqlite3_mprintf("%s: unknown task '%s' (expected 'classify', 'entities' or "
                               "'relations')", fn, s);
    return SQLITE_ERROR;
}

void result_error(sqlite3_context *ctx, int rc, char *err_msg) {
    if (rc == SQLITE_NOMEM || !err_msg) sqlite3_result_error_nomem(ctx);
    else sqlite3_result_error(ctx, err_msg, -1);
    sqlite3_free(err_msg);
}

static void result_str(sqlite3_context *ctx, sqlite3_str *out) {
    int n = sqlite3_str_length(out);
    char *text = sqlite3_str_finish(out);
    if (!text) sqlite3_result_error_nomem(ctx);
    else sqlite3_result_text(ctx, text, n, sqlite3_free);
}

/* Name of output i: first (when non-NULL) is output 0, then the labels. */
static const char *output_name(const char *first, const attn_labels *labels, int i) {
    return first ? (i == 0 ? first : labels->names[i - 1]) : labels->names[i];
}

void result_label_probs(sqlite3_context *ctx, const char *first, const attn_labels *labels,
                        const float *probs, int want_scores) {
    const int n = labels->n + (first != NULL);
    if (!want_scores) {
        sqlite3_result_text(ctx, output_name(first, labels, attn_argmax(probs, n)), -1,
                            SQLITE_TRANSIENT);
        return;
    }
    sqlite3_str *out = sqlite3_str_new(sqlite3_context_db_handle(ctx));
    sqlite3_str_appendchar(out, 1, '{');
    for (int i = 0; i < n; i++) {
        if (i) sqlite3_str_appendchar(out, 1, ',');
        json_append_string(out, output_name(first, labels, i));
        sqlite3_str_appendf(out, ":%.9g", (double)probs[i]);
    }
    sqlite3_str_appendchar(out, 1, '}');
    result_str(ctx, out);
}

int scalar_setup(sqlite3_context *ctx, const char *fn, const char *name, int task,
                 const attn_model **m, attn_session **s, float **probs) {
    attn_conn *c = sqlite3_user_data(ctx);
    char *err_msg = NULL;
    int rc = conn_model_get_scalar(c, ctx, fn, name, m, &err_msg);
    if (rc == SQLITE_OK) rc = model_check_task(fn, name, *m, task, &err_msg);
    if (rc != SQLITE_OK) {
        result_error(ctx, rc, err_msg);
        return rc;
    }
    const attn_config *cfg = &(*m)->cfg;
    int n = task == ATTN_TASK_RELATIONS ? cfg->relation_labels.n + 1 : cfg->classify_labels.n;
    *probs = sqlite3_malloc64(sizeof(float) * (size_t)(n > 0 ? n : 1));
    *s = call_session_begin(c);
    if (!*probs || !*s) {
        sqlite3_free(*probs);
        sqlite3_result_error_nomem(ctx);
        return SQLITE_NOMEM;
    }
    return SQLITE_OK;
}

/* ---- attn_classify, attn_classify_scores -------------------------------------------------- */

static void classify_common(sqlite3_context *ctx, int argc, sqlite3_value **argv,
                            const char *fn, int want_scores) {
    const char *text = NULL, *name;
    size_t n_bytes = 0;
    char *err_msg = NULL;
    int is_null = 0;
    int rc = arg_model(fn, 2, argc > 1 ? argv[1] : NULL, ATTN_DEFAULT_BY_TEXT, &name, &err_msg);
    if (rc == SQLITE_OK) rc = limit_check_text(sqlite3_user_data(ctx), fn, argv[0], &err_msg);
    if (rc == SQLITE_OK) rc = arg_text(fn, 1, argv[0], &text, &n_bytes, &err_msg);
    if (rc == SQLITE_DONE) is_null = 1;
    if (rc != SQLITE_OK) {
        if (!is_null) result_error(ctx, rc, err_msg);
        return;                              /* NULL text: NULL result */
    }
    if (name == ATTN_DEFAULT_BY_TEXT) name = default_model(ATTN_TASK_CLASSIFY, text, n_bytes);
    const attn_model *m;
    attn_session *s;
    float *probs;
    if (scalar_setup(ctx, fn, name, ATTN_TASK_CLASSIFY, &m, &s, &probs) != SQLITE_OK) return;
    const attn_labels *labels = &m->cfg.classify_labels;
    attn_error err = {{0}};
    int status = attn_run_classify(m, s, text, n_bytes, probs, &err);
    call_session_end(sqlite3_user_data(ctx));
    if (status != ATTN_OK)
        result_error(ctx, sqlite_code(status), limit_engine_error(fn, name, s, &err));
    else
        result_label_probs(ctx, NULL, labels, probs, want_scores);
    sqlite3_free(probs);
}

static void attn_classify_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    classify_common(ctx, argc, argv, "attn_classify", 0);
}

static void attn_classify_scores_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    classify_common(ctx, argc, argv, "attn_classify_scores", 1);
}

/* ---- attn_version, attn_debug ------------------------------------------------------------- */

static void attn_version_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc, (void)argv;
    sqlite3_result_text(ctx, ATTN_VERSION, -1, SQLITE_STATIC);
}

#if defined(__clang__)
#define ATTN_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define ATTN_COMPILER "gcc " __VERSION__
#else
#define ATTN_COMPILER "unknown compiler"
#endif

/* The optimisation flags: from the build (-DATTN_OPT_FLAGS='"$(OPT)"') when given, else what
 * the compiler's predefined macros tell (they cannot tell -O1 from -O3). */
#if defined(ATTN_OPT_FLAGS)
#define ATTN_OPT_TEXT ATTN_OPT_FLAGS
#elif defined(__OPTIMIZE_SIZE__)
#define ATTN_OPT_TEXT "-Os"
#elif defined(__OPTIMIZE__)
#define ATTN_OPT_TEXT "-O1 or higher"
#else
#define ATTN_OPT_TEXT "-O0"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define ATTN_SAN_TEXT ", AddressSanitizer"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ATTN_SAN_TEXT ", AddressSanitizer"
#endif
#endif
#ifndef ATTN_SAN_TEXT
#define ATTN_SAN_TEXT ""
#endif

static void attn_debug_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc, (void)argv;
    const char *forced = getenv("ATTN_SIMD");
    const char *forced_q8 = getenv("ATTN_Q8");
    const char *threads = getenv("ATTN_THREADS");
    attn_engine_info info;
    attn_engine_get_info(&info);
    char *text = sqlite3_mprintf(
        "attnext %s\n"
        "build: %s, %s%s, SQLite headers %s\n"
        "simd: %s (cpu: %s; ATTN_SIMD=%s)\n"
        "int8: %s (ATTN_Q8=%s)\n"
        "blas: OpenBLAS %s, core %s, %d thread(s) (ATTN_THREADS=%s)\n"
        "sqlite: %s\n"
        "models: %d loaded in this process, %d built-in",
        ATTN_VERSION, ATTN_COMPILER, ATTN_OPT_TEXT, ATTN_SAN_TEXT, SQLITE_VERSION,
        info.simd, info.cpu_features, forced ? forced : "unset",
        info.int8, forced_q8 ? forced_q8 : "unset",
        info.blas_config, info.blas_core, info.blas_threads,
        threads ? threads : "unset", sqlite3_libversion(), registry_count(), builtin_count());
    if (!text) sqlite3_result_error_nomem(ctx);
    else sqlite3_result_text(ctx, text, -1, sqlite3_free);
}

/* ---- registration ------------------------------------------------------------------------- */

#define MODEL_FN_FLAGS (SQLITE_UTF8 | SQLITE_INNOCUOUS)

static const struct {
    const char *name;
    int n_args;
    int flags;
    int needs_conn;
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
} scalar_functions[] = {
    {"attn_classify", 1, MODEL_FN_FLAGS, 1, attn_classify_func},
    {"attn_classify", 2, MODEL_FN_FLAGS, 1, attn_classify_func},
    {"attn_classify_scores", 1, MODEL_FN_FLAGS, 1, attn_classify_scores_func},
    {"attn_classify_scores", 2, MODEL_FN_FLAGS, 1, attn_classify_scores_func},
    {"attn_relation", 5, MODEL_FN_FLAGS, 1, attn_relation_func},
    {"attn_relation", 6, MODEL_FN_FLAGS, 1, attn_relation_func},
    {"attn_relation_scores", 5, MODEL_FN_FLAGS, 1, attn_relation_scores_func},
    {"attn_relation_scores", 6, MODEL_FN_FLAGS, 1, attn_relation_scores_func},
    {"attn_version", 0, SQLITE_UTF8 | SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC, 0,
     attn_version_func},
    {"attn_debug", 0, SQLITE_UTF8 | SQLITE_INNOCUOUS, 0, attn_debug_func},
    {"attn_detok", 1, SQLITE_UTF8 | SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC, 0, attn_detok_func},
    {"attn_detok", 2, SQLITE_UTF8 | SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC, 0, attn_detok_func},
};

/* OpenBLAS threads: one per process unless ATTN_THREADS=N asks for N (1..ATTN_MAX_THREADS).
 * Our parallelism is many connections on many threads; OpenBLAS's own pool would only
 * oversubscribe the cores (and with one thread its pool is shut down: blas_threads.h). Done
 * once per process, before any GEMM runs. */
#define ATTN_MAX_THREADS 256
static pthread_once_t process_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t api_mutex = PTHREAD_MUTEX_INITIALIZER;

static void process_init(void) {
    const char *env = getenv("ATTN_THREADS");
    int n = 1;
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v >= 1 && v <= ATTN_MAX_THREADS) n = (int)v;
    }
    attn_engine_init(n);             /* BLAS threads; the SIMD level chosen now, not in a query */
}

static int register_all(sqlite3 *db, attn_conn *c) {
    int rc = SQLITE_OK;
    size_t n = sizeof scalar_functions / sizeof scalar_functions[0];
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
        int with_conn = scalar_functions[i].needs_conn;
        if (with_conn) conn_ref(c);   /* dropped by the destructor, also when this call fails */
        rc = sqlite3_create_function_v2(db, scalar_functions[i].name, scalar_functions[i].n_args,
                                        scalar_functions[i].flags, with_conn ? c : NULL,
                                        scalar_functions[i].fn, NULL, NULL,
                                        with_conn ? conn_unref : NULL);
    }
    if (rc == SQLITE_OK) rc = vtab_entities_relations_register(db, c);
    if (rc == SQLITE_OK) rc = vtab_models_register(db, c);
    if (rc == SQLITE_OK) rc = vtab_train_register(db, c);
    if (rc == SQLITE_OK) rc = vtab_eval_register(db, c);
    if (rc == SQLITE_OK) rc = vtab_calibrate_register(db, c);
    if (rc == SQLITE_OK) rc = vtab_conll_register(db, c);
    if (rc == SQLITE_OK) rc = vtab_wordvec_register(db, c);
    if (rc == SQLITE_OK) rc = vtab_pack_register(db, c);
    if (rc == SQLITE_OK) rc = vtab_each_register(db, c);
    if (rc == SQLITE_OK) rc = limits_register(db, c);
    return rc;
}

#ifdef _WIN32
__declspec(dllexport)
#else
__attribute__((visibility("default")))
#endif
int sqlite3_attnext_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi) {
    /* SQLITE_EXTENSION_INIT2 stores pApi on every load; connections opened on other threads
     * would race on that global (same value, still a data race for TSan). Store it once. */
    pthread_mutex_lock(&api_mutex);
    if (!sqlite3_api) SQLITE_EXTENSION_INIT2(pApi);
    pthread_mutex_unlock(&api_mutex);
    if (sqlite3_libversion_number() < ATTN_SQLITE_MIN_VERSION) {
        *pzErrMsg = sqlite3_mprintf("attnext needs SQLite %s or newer; this is %s",
                                    ATTN_SQLITE_MIN_VERSION_TEXT, sqlite3_libversion());
        return SQLITE_ERROR;
    }
    pthread_once(&process_once, process_init);
    attn_conn *c = conn_new(db);
    if (!c) return SQLITE_NOMEM;
    int rc = register_all(db, c);
    conn_unref(c);                   /* the functions and modules now hold it */
    if (rc != SQLITE_OK && pzErrMsg)
        *pzErrMsg = sqlite3_mprintf("attnext: registration failed: %s", sqlite3_errstr(rc));
    return rc;
}
