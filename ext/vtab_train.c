/* vtab_train.c: attn_train(model, task, train_sql [, options_json]), an eponymous
 * table-valued function that trains a model and yields one row per epoch as it goes:
 *
 *   epoch INTEGER, train_loss REAL, dev_metric REAL (NULL without dev), metric TEXT,
 *   seconds REAL, best INTEGER (1: this epoch's parameters are the best so far),
 *   tokens INTEGER (the epoch's), tokens_per_s REAL, eta_seconds REAL and step INTEGER (NULL)
 *
 * Task rtd is pretraining from text files instead (pretrain.h; the section "task rtd" below):
 * train_sql is a JSON array of paths, a progress row comes every report_seconds (tokens so
 * far, loss, tokens/s, ETA, step), and the model is written with its position in the stream
 * (a checkpoint) every checkpoint_seconds and when the call ends; a later call continues it.
 *
 * xFilter reads the rows (train_sql, and options.dev), builds the config (or copies the init
 * model), the datasets and the fit state (fit.h), then trains epoch 1; each xNext trains one
 * more epoch. When the fit says it is done, the best parameters are written to main.attn_model
 * under the model name in one savepoint (model_write.c), and only then is the last epoch's row
 * shown: a statement that reaches the end has saved the model. An error, an interrupt
 * (sqlite3_interrupt, checked between steps) or a cursor closed before the end (LIMIT) writes
 * nothing: an existing model of that name is left untouched.
 *
 * DIRECTONLY: it runs SQL given as an argument, reads files and writes a table, so it must
 * not run from a view or trigger someone else wrote. */
#include "ext.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FN "attn_train"
#define ATTN_SQL_MAX_EPOCHS 100000
#define PRETRAIN_REPORT_SECONDS 10.0       /* rtd: a progress row this often */
#define PRETRAIN_CHECKPOINT_SECONDS 900.0  /* rtd: the checkpoint written this often */

enum { COL_EPOCH, COL_TRAIN_LOSS, COL_DEV_METRIC, COL_METRIC, COL_SECONDS, COL_BEST,
       COL_TOKENS, COL_TOKENS_PER_S, COL_ETA, COL_STEP,
       COL_MODEL, COL_TASK, COL_SQL, COL_OPTIONS };
#define N_ARGS 4
#define GIVEN_ATTN_SCALE (1u << 31)     /* bit of train_options.structural */

static const char DEFAULT_FEATURES[] =
    "[{\"kind\":\"norm\",\"buckets\":50000,\"dim\":64},"
    "{\"kind\":\"prefix\",\"buckets\":10000,\"dim\":16,\"affix\":3},"
    "{\"kind\":\"suffix\",\"buckets\":10000,\"dim\":16,\"affix\":3},"
    "{\"kind\":\"shape\",\"buckets\":1000,\"dim\":16}]";

/* ---- options ------------------------------------------------------------------------------ */

enum { TASK_SLOT_CLASSIFY, TASK_SLOT_ENTITIES, TASK_SLOT_RELATIONS, N_TASK_SLOTS };
static const char *const SLOT_NAMES[N_TASK_SLOTS] = {"classify", "entities", "relations"};

typedef struct label_list {
    const char **names;         /* pointers into rows or the options tree */
    int n;
    size_t cap;
} label_list;

typedef struct train_options {
    attn_json *tree;            /* the parsed options; strings below point into it */
    int dim, layers, heads, ffn, max_len, rel_hidden, rel_type_dim, mlm_vocab, embed_context;
    int rel_positions;
    char *features;             /* JSON text (sqlite3_malloc'd) or NULL: DEFAULT_FEATURES */
    const char *attn_scale;     /* "sqrt" or "none" */
    attn_fit_opts fit;
    const char *dev, *init, *vectors, *bigram_vectors;
    const attn_json *gazetteers; /* an object {list: SQL or [entries]}, or NULL */
    const attn_json *init_labels; /* an object {entity label: the init model's label}, or NULL */
    const char *language;       /* option 'language' (the config's), or the init model's */
    const char **vocab_files;   /* [n_vocab_files], sqlite3_malloc'd array */
    int n_vocab_files;
    label_list labels[N_TASK_SLOTS];
    int has_labels[N_TASK_SLOTS];
    attn_storage storage;       /* option 'dtype': f32 (default), f16, q8 or q4 */
    const attn_json *meta;      /* an object, or NULL */
    /* task rtd (pretraining from files, pretrain.h) */
    double tokens;              /* option 'tokens': the token budget */
    int steps;                  /* option 'steps': at most this many steps a call, 0 = any */
    double report_seconds, checkpoint_seconds, dev_share;
    double block_tokens, pool_tokens;
    int dev_examples, rewarm_steps;
    int storage_given;          /* option 'dtype' was given */
    uint64_t given;             /* bit set of the NUM_OPTIONS given (by index) */
    unsigned structural;        /* bit set of structural options given: NUM_OPTIONS index */
    const char *first_structural;
} train_options;

typedef enum { T_INT, T_FLOAT, T_DOUBLE, T_SEED } num_type;

typedef struct num_option {
    const char *key;
    num_type type;
    double lo, hi;
    size_t offset;
    int structural;             /* part of the architecture: not allowed with init */
} num_option;

#define OPT(field) offsetof(train_options, field)
static const num_option NUM_OPTIONS[] = {
    {"dim", T_INT, 1, ATTN_MAX_DIM, OPT(dim), 1},
    {"layers", T_INT, 0, ATTN_MAX_LAYERS, OPT(layers), 1},
    {"heads", T_INT, 1, ATTN_MAX_DIM, OPT(heads), 1},
    {"ffn", T_INT, 1, ATTN_MAX_DIM, OPT(ffn), 1},
    {"max_len", T_INT, 1, ATTN_MAX_SEQ_LEN, OPT(max_len), 1},
    {"rel_hidden", T_INT, 1, ATTN_MAX_DIM, OPT(rel_hidden), 1},
    {"rel_type_dim", T_INT, 1, ATTN_MAX_DIM, OPT(rel_type_dim), 1},
    {"mlm_vocab", T_INT, 1, ATTN_MLM_MAX_VOCAB, OPT(mlm_vocab), 1},
    {"embed_context", T_INT, 0, ATTN_MAX_EMBED_CONTEXT, OPT(embed_context), 1},
    {"rel_positions", T_INT, 0, ATTN_MAX_REL_POSITIONS, OPT(rel_positions), 1},
    {"epochs", T_INT, 1, ATTN_SQL_MAX_EPOCHS, OPT(fit.max_epochs), 0},
    {"batch_size", T_INT, 1, ATTN_TRAIN_MAX_BATCH, OPT(fit.batch_size), 0},
    {"patience", T_INT, 0, ATTN_SQL_MAX_EPOCHS, OPT(fit.patience), 0},
    {"time_limit", T_DOUBLE, 0, 1e9, OPT(fit.time_limit), 0},
    {"ema", T_DOUBLE, 0, 0.999999, OPT(fit.ema), 0},
    {"lr", T_FLOAT, 0, 10, OPT(fit.train.lr), 0},
    {"seed", T_SEED, 0, 9007199254740991.0, OPT(fit.train.seed), 0},
    {"dropout_embed", T_FLOAT, 0, 0.99, OPT(fit.train.dropout_embed), 0},
    {"dropout_attn", T_FLOAT, 0, 0.99, OPT(fit.train.dropout_attn), 0},
    {"dropout_resid", T_FLOAT, 0, 0.99, OPT(fit.train.dropout_resid), 0},
    {"word_dropout", T_FLOAT, 0, 0.99, OPT(fit.train.word_dropout), 0},
    {"warmup", T_INT, 0, INT_MAX, OPT(fit.train.warmup_steps), 0},
    {"weight_decay", T_FLOAT, 0, 10, OPT(fit.train.weight_decay), 0},
    {"clip", T_FLOAT, 0, 1e9, OPT(fit.train.clip_norm), 0},
    {"threads", T_INT, 1, ATTN_TRAIN_MAX_THREADS, OPT(fit.train.threads), 0},
    {"min_lr_ratio", T_FLOAT, 0, 1, OPT(fit.train.min_lr_ratio), 0},
    {"rel_negatives", T_INT, 0, 100000, OPT(fit.train.rel_negatives), 0},
    {"embed_lr_scale", T_FLOAT, 0.001, 10, OPT(fit.train.embed_lr_scale), 0},
    {"tokens", T_DOUBLE, 1, 1e15, OPT(tokens), 0},
    {"report_seconds", T_DOUBLE, 0.01, 86400, OPT(report_seconds), 0},
    {"checkpoint_seconds", T_DOUBLE, 1, 1e9, OPT(checkpoint_seconds), 0},
    {"dev_share", T_DOUBLE, 0, 0.5, OPT(dev_share), 0},
    {"dev_examples", T_INT, 0, 1000000, OPT(dev_examples), 0},
    {"block_tokens", T_DOUBLE, 1, 1e9, OPT(block_tokens), 0},
    {"pool_tokens", T_DOUBLE, 1, 1e9, OPT(pool_tokens), 0},
    {"rewarm_steps", T_INT, 0, 1000000, OPT(rewarm_steps), 0},
    {"steps", T_INT, 1, INT_MAX, OPT(steps), 0},
};
#undef OPT

static int option_error(char **err_msg, const char *fmt, const char *key, const char *what) {
    *err_msg = sqlite3_mprintf(fmt, key, what);
    return SQLITE_ERROR;
}

static int set_number(train_options *o, const num_option *def, const attn_json *v,
                      char **err_msg) {
    char *field = (char *)o + def->offset;
    int integral = def->type == T_INT || def->type == T_SEED;
    int64_t i = 0;
    int ok = integral ? attn_json_int(v, (int64_t)def->lo, (int64_t)def->hi, &i) == ATTN_OK
                      : v->type == ATTN_JSON_NUMBER && v->number >= def->lo &&
                            v->number <= def->hi;
    if (!ok) {
        *err_msg = integral
            ? sqlite3_mprintf("%s: option '%s' must be an integer in [%lld, %lld]", FN, def->key,
                              (long long)def->lo, (long long)def->hi)
            : sqlite3_mprintf("%s: option '%s' must be a number in [%g, %g]", FN, def->key,
                              def->lo, def->hi);
        return SQLITE_ERROR;
    }
    switch (def->type) {
    case T_INT: *(int *)field = (int)i; break;
    case T_SEED: *(uint64_t *)field = (uint64_t)i; break;
    case T_FLOAT: *(float *)field = (float)v->number; break;
    case T_DOUBLE: *(double *)field = v->number; break;
    }
    o->given |= 1ull << (def - NUM_OPTIONS);
    if (def->structural && !o->first_structural) o->first_structural = def->key;
    if (def->structural) o->structural |= 1u << (def - NUM_OPTIONS);
    return SQLITE_OK;
}

/* Appends j as JSON text (strings re-escaped, numbers as %.17g). */
static void json_write(sqlite3_str *out, const attn_json *j) {
    switch (j->type) {
    case ATTN_JSON_NULL: sqlite3_str_appendall(out, "null"); break;
    case ATTN_JSON_BOOL: sqlite3_str_appendall(out, j->boolean ? "true" : "false"); break;
    case ATTN_JSON_NUMBER: sqlite3_str_appendf(out, "%.17g", j->number); break;
    case ATTN_JSON_STRING: json_append_string(out, j->str); break;
    case ATTN_JSON_ARRAY:
    case ATTN_JSON_OBJECT:
        sqlite3_str_appendchar(out, 1, j->type == ATTN_JSON_ARRAY ? '[' : '{');
        for (size_t i = 0; i < j->len; i++) {
            if (i) sqlite3_str_appendchar(out, 1, ',');
            if (j->type == ATTN_JSON_OBJECT) {
                json_append_string(out, j->keys[i]);
                sqlite3_str_appendchar(out, 1, ':');
            }
            json_write(out, &j->items[i]);
        }
        sqlite3_str_appendchar(out, 1, j->type == ATTN_JSON_ARRAY ? ']' : '}');
        break;
    }
}

static char *json_text(const attn_json *j) {
    sqlite3_str *out = sqlite3_str_new(NULL);
    json_write(out, j);
    return sqlite3_str_finish(out);
}

static int label_push(label_list *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0) return SQLITE_OK;
    if (l->n == ATTN_MAX_LABELS) return SQLITE_TOOBIG;
    if (sqlite_grow((void **)&l->names, &l->cap, (size_t)l->n + 1, sizeof *l->names)
        != SQLITE_OK)
        return SQLITE_NOMEM;
    l->names[l->n++] = name;
    return SQLITE_OK;
}

/* An array of strings into a label list. */
static int set_label_list(train_options *o, int slot, const attn_json *v, const char *key,
                          char **err_msg) {
    if (v->type != ATTN_JSON_ARRAY || v->len == 0)
        return option_error(err_msg, FN ": option '%s' must be %s", key,
                            "a non-empty array of label names");
    for (size_t i = 0; i < v->len; i++) {
        if (v->items[i].type != ATTN_JSON_STRING || v->items[i].len == 0)
            return option_error(err_msg, FN ": option '%s' must be %s", key,
                                "a non-empty array of label names");
        int rc = label_push(&o->labels[slot], v->items[i].str);
        if (rc != SQLITE_OK) return rc;
    }
    if ((size_t)o->labels[slot].n != v->len)
        return option_error(err_msg, FN ": option '%s': %s", key, "a label is listed twice");
    o->has_labels[slot] = 1;
    return SQLITE_OK;
}

/* labels: an array (the labels of the trained task) or {"classify": [...], ...}. */
static int set_labels(train_options *o, int task_slot, const attn_json *v, char **err_msg) {
    if (v->type == ATTN_JSON_ARRAY) return set_label_list(o, task_slot, v, "labels", err_msg);
    if (v->type != ATTN_JSON_OBJECT)
        return option_error(err_msg, FN ": option '%s' must be %s", "labels",
                            "an array of label names or an object of such arrays by task");
    for (size_t i = 0; i < v->len; i++) {
        int slot = -1;
        for (int s = 0; s < N_TASK_SLOTS; s++)
            if (strcmp(v->keys[i], SLOT_NAMES[s]) == 0) slot = s;
        if (slot < 0)
            return option_error(err_msg, FN ": option 'labels': unknown task '%s'%s",
                                v->keys[i], "");
        char key[32];
        snprintf(key, sizeof key, "labels.%s", SLOT_NAMES[slot]);
        int rc = set_label_list(o, slot, &v->items[i], key, err_msg);
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}

static int set_string(const attn_json *v, const char *key, const char **out, char **err_msg) {
    if (v->type != ATTN_JSON_STRING || v->len == 0 || strlen(v->str) != v->len)
        return option_error(err_msg, FN ": option '%s' must be %s", key, "a non-empty string");
    *out = v->str;
    return SQLITE_OK;
}

/* A string that must be one of choices[0..n); *index receives its position. */
static int set_choice(const attn_json *v, const char *key, const char *const *choices, int n,
                      int *index, char **err_msg) {
    const char *s;
    int rc = set_string(v, key, &s, err_msg);
    for (int i = 0; rc == SQLITE_OK && i < n; i++)
        if (strcmp(s, choices[i]) == 0) {
            *index = i;
            return SQLITE_OK;
        }
    if (rc == SQLITE_OK) {
        sqlite3_str *list = sqlite3_str_new(NULL);
        for (int i = 0; i < n; i++) sqlite3_str_appendf(list, "%s'%s'", i ? ", " : "", choices[i]);
        char *text = sqlite3_str_finish(list);
        rc = option_error(err_msg, FN ": option '%s' must be one of %s", key, text ? text : "");
        sqlite3_free(text);
    }
    return rc;
}

static int set_vocab_files(train_options *o, const attn_json *v, char **err_msg) {
    if (v->type != ATTN_JSON_ARRAY || v->len == 0 || v->len > INT_MAX)
        return option_error(err_msg, FN ": option '%s' must be %s", "vocab_files",
                            "a non-empty array of file paths");
    o->vocab_files = sqlite3_malloc64(v->len * sizeof *o->vocab_files);
    if (!o->vocab_files) return SQLITE_NOMEM;
    for (size_t i = 0; i < v->len; i++) {
        int rc = set_string(&v->items[i], "vocab_files", &o->vocab_files[i], err_msg);
        if (rc != SQLITE_OK) return rc;
    }
    o->n_vocab_files = (int)v->len;
    return SQLITE_OK;
}

static int set_option(train_options *o, int task_slot, const char *key, const attn_json *v,
                      char **err_msg) {
    static const char *const scales[] = {"sqrt", "none"};
    static const char *const schedules[] = {"linear", "cosine"};
    static const char *const dtypes[] = {"f32", "f16", "q8", "q4", "q4-int8", "q8-int8"};  /* attn_storage order */
    for (size_t i = 0; i < sizeof NUM_OPTIONS / sizeof NUM_OPTIONS[0]; i++)
        if (strcmp(key, NUM_OPTIONS[i].key) == 0) return set_number(o, &NUM_OPTIONS[i], v, err_msg);
    int index = 0, rc;
    if (strcmp(key, "features") == 0) {
        if (v->type != ATTN_JSON_ARRAY)
            return option_error(err_msg, FN ": option '%s' must be %s", key,
                                "an array of feature objects (see config.h)");
        if (!o->first_structural) o->first_structural = "features";
        return (o->features = json_text(v)) ? SQLITE_OK : SQLITE_NOMEM;
    }
    if (strcmp(key, "attn_scale") == 0) {
        rc = set_choice(v, key, scales, 2, &index, err_msg);
        if (rc == SQLITE_OK) o->attn_scale = scales[index];
        if (!o->first_structural) o->first_structural = "attn_scale";
        o->structural |= GIVEN_ATTN_SCALE;
        return rc;
    }
    if (strcmp(key, "schedule") == 0) {
        rc = set_choice(v, key, schedules, 2, &index, err_msg);
        o->fit.train.schedule = index == 0 ? ATTN_LR_LINEAR : ATTN_LR_COSINE;
        return rc;
    }
    if (strcmp(key, "dtype") == 0) {
        rc = set_choice(v, key, dtypes, (int)(sizeof dtypes / sizeof *dtypes), &index, err_msg);
        o->storage = (attn_storage)index;     /* dtypes[] is in attn_storage order */
        o->storage_given = 1;
        return rc;
    }
    if (strcmp(key, "dev") == 0) return set_string(v, key, &o->dev, err_msg);
    if (strcmp(key, "init") == 0) return set_string(v, key, &o->init, err_msg);
    if (strcmp(key, "vectors") == 0) return set_string(v, key, &o->vectors, err_msg);
    if (strcmp(key, "bigram_vectors") == 0) return set_string(v, key, &o->bigram_vectors, err_msg);
    if (strcmp(key, "language") == 0) {
        int rc = set_string(v, key, &o->language, err_msg);
        /* checked here as well as by the engine: it is written into the config's JSON */
        for (const char *c = o->language; rc == SQLITE_OK && c && *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '-')
                rc = option_error(err_msg, FN ": option '%s' must be %s", key,
                                  "a language tag such as \"en\" or \"zh\"");
        return rc;
    }
    if (strcmp(key, "vocab_files") == 0) return set_vocab_files(o, v, err_msg);
    if (strcmp(key, "gazetteers") == 0) {
        o->gazetteers = v;
        return gazetteers_check(v, FN, err_msg);
    }
    if ((strcmp(key, "labels") == 0 || strcmp(key, "init_labels") == 0) && task_slot < 0)
        return option_error(err_msg, FN ": option '%s': %s", key, "tasks 'mlm' and 'rtd' have "
                            "no labels");
    if (strcmp(key, "labels") == 0) return set_labels(o, task_slot, v, err_msg);
    if (strcmp(key, "init_labels") == 0) {
        int names = v->type == ATTN_JSON_OBJECT && v->len > 0;
        for (size_t i = 0; names && i < v->len; i++)
            names = v->items[i].type == ATTN_JSON_STRING;
        if (!names)
            return option_error(err_msg, FN ": option '%s' must be %s", key, "a non-empty "
                                "object {entity label: the init model's entity label}");
        o->init_labels = v;
        return SQLITE_OK;
    }
    if (strcmp(key, "meta") == 0) {
        if (v->type != ATTN_JSON_OBJECT)
            return option_error(err_msg, FN ": option '%s' must be %s", key, "a JSON object");
        o->meta = v;
        return SQLITE_OK;
    }
    *err_msg = sqlite3_mprintf("%s: unknown option '%s'", FN, key);
    return SQLITE_ERROR;
}

static void options_defaults(train_options *o) {
    memset(o, 0, sizeof *o);
    o->dim = 128;
    o->layers = 2;
    o->heads = 4;
    o->ffn = 0;                 /* 0: 4 * dim */
    o->max_len = 128;
    o->rel_hidden = 0;          /* 0: dim */
    o->rel_type_dim = 16;
    o->mlm_vocab = ATTN_MLM_DEFAULT_VOCAB;
    o->attn_scale = "sqrt";
    o->fit = attn_fit_defaults();
    const attn_pretrain_opts p = attn_pretrain_defaults();
    o->tokens = (double)p.token_budget;
    o->report_seconds = PRETRAIN_REPORT_SECONDS;
    o->checkpoint_seconds = PRETRAIN_CHECKPOINT_SECONDS;
    o->dev_share = p.dev_share;
    o->dev_examples = p.dev_examples;
    o->block_tokens = (double)p.block_tokens;
    o->pool_tokens = (double)p.pool_tokens;
    o->rewarm_steps = p.rewarm_steps;
}

static void options_free(train_options *o) {
    attn_json_free(o->tree);
    sqlite3_free(o->features);
    sqlite3_free(o->vocab_files);
    for (int s = 0; s < N_TASK_SLOTS; s++) sqlite3_free(o->labels[s].names);
    memset(o, 0, sizeof *o);
}

static int options_parse(const char *json, size_t n, int task_slot, train_options *o,
                         char **err_msg) {
    options_defaults(o);
    if (!json) return SQLITE_OK;
    attn_error err = {{0}};
    if (attn_json_parse(json, n, &o->tree, &err) != ATTN_OK) {
        *err_msg = sqlite3_mprintf("%s: options: %s", FN, err.msg);
        return SQLITE_ERROR;
    }
    if (o->tree->type != ATTN_JSON_OBJECT) {
        *err_msg = sqlite3_mprintf("%s: options must be a JSON object", FN);
        return SQLITE_ERROR;
    }
    for (size_t i = 0; i < o->tree->len; i++) {
        int rc = set_option(o, task_slot, o->tree->keys[i], &o->tree->items[i], err_msg);
        if (rc != SQLITE_OK) return rc;
    }
    if (o->ffn == 0) o->ffn = 4 * o->dim > ATTN_MAX_DIM ? ATTN_MAX_DIM : 4 * o->dim;
    if (o->rel_hidden == 0) o->rel_hidden = o->dim;
    if (o->n_vocab_files && !o->vectors && !o->bigram_vectors)
        return option_error(err_msg, FN ": option '%s' needs %s", "vocab_files",
                            "'vectors' or 'bigram_vectors'");
    if (o->bigram_vectors && !o->n_vocab_files)
        return option_error(err_msg, FN ": option '%s' needs %s", "bigram_vectors",
                            "'vocab_files' (the texts whose bigrams get vectors)");
    return SQLITE_OK;
}

/* ---- the run: rows, config, model, datasets ---------------------------------------------- */

typedef struct train_vtab {
    sqlite3_vtab base;
    sqlite3 *db;
    attn_conn *conn;
} train_vtab;

typedef struct train_cursor {
    sqlite3_vtab_cursor base;
    char *name;                 /* model to write */
    int task;                   /* ATTN_TASK_* of the rows */
    int slot;                   /* TASK_SLOT_* of the rows */
    train_options opt;
    train_rows rows, dev_rows;
    attn_model *model;
    attn_dataset *train, *dev;
    attn_fit_state *fit;
    interrupt_probe probe;      /* sqlite3_interrupt, for the fit's should_stop */
    sqlite3 *db;
    attn_epoch_report report;   /* the current row */
    int have_row, eof;
    /* task rtd: pretraining from files (pretrain.h), a progress row every report_seconds */
    attn_json *files;           /* the parsed train_sql: an array of paths */
    const char **paths;         /* [files->len] into files */
    attn_pretrain *pt;
    attn_pretrain_pos resume;   /* the checkpoint's position when have_resume */
    int have_resume;
    double start, last_checkpoint;   /* seconds on the monotonic clock */
    int64_t checkpoint_step;    /* step of the last checkpoint written by this call, -1 none */
    int64_t steps_done;         /* steps of this call */
    int pretrain_over;          /* the last row is shown: the next xNext ends the scan */
    attn_pretrain_report progress;   /* the current row's figures */
    double eta;                 /* seconds to the time limit or the token budget, NaN unknown */
} train_cursor;

/* The task slot (label set) of an ATTN_TASK_* bit; -1 for mlm (no labels). */
static int slot_of_task(int task) {
    return task == ATTN_TASK_MLM || task == ATTN_TASK_RTD ? -1
         : task == ATTN_TASK_CLASSIFY ? TASK_SLOT_CLASSIFY
         : task == ATTN_TASK_ENTITIES ? TASK_SLOT_ENTITIES : TASK_SLOT_RELATIONS;
}

static const char *task_name(int task) {
    return task == ATTN_TASK_MLM ? "mlm" : task == ATTN_TASK_RTD ? "rtd"
                                         : SLOT_NAMES[slot_of_task(task)];
}

/* Labels of every task slot not given in the options, in order of first sight in the rows. */
static int collect_labels(train_cursor *cur, char **err_msg) {
    train_options *o = &cur->opt;
    int rc = SQLITE_OK;
    for (size_t i = 0; rc == SQLITE_OK && i < cur->rows.n; i++) {
        const train_row *r = &cur->rows.rows[i];
        if (r->label && !o->has_labels[TASK_SLOT_CLASSIFY])
            rc = label_push(&o->labels[TASK_SLOT_CLASSIFY], r->label);
        for (int e = 0; rc == SQLITE_OK && e < r->n_ents; e++)
            if (!o->has_labels[TASK_SLOT_ENTITIES])
                rc = label_push(&o->labels[TASK_SLOT_ENTITIES], r->ents[e].label);
        for (int k = 0; rc == SQLITE_OK && k < r->n_rels; k++)
            if (!o->has_labels[TASK_SLOT_RELATIONS])
                rc = label_push(&o->labels[TASK_SLOT_RELATIONS], r->rels[k].label);
    }
    if (rc == SQLITE_TOOBIG)
        *err_msg = sqlite3_mprintf("%s: more than %d labels in one label set (ATTN_MAX_LABELS)",
                                   FN, ATTN_MAX_LABELS);
    return rc;
}

static void append_label_array(sqlite3_str *out, const label_list *l) {
    sqlite3_str_appendchar(out, 1, '[');
    for (int i = 0; i < l->n; i++) {
        if (i) sqlite3_str_appendchar(out, 1, ',');
        json_append_string(out, l->names[i]);
    }
    sqlite3_str_appendchar(out, 1, ']');
}

/* The slots (label sets) a model for cur->task has. */
static int slot_used(int task, int slot) {
    if (task == ATTN_TASK_MLM || task == ATTN_TASK_RTD) return 0;
    if (task == ATTN_TASK_CLASSIFY) return slot == TASK_SLOT_CLASSIFY;
    if (task == ATTN_TASK_ENTITIES) return slot == TASK_SLOT_ENTITIES;
    return slot != TASK_SLOT_CLASSIFY;
}

static int check_label_slots(const train_cursor *cur, char **err_msg) {
    const train_options *o = &cur->opt;
    for (int s = 0; s < N_TASK_SLOTS; s++) {
        if (o->has_labels[s] && !slot_used(cur->task, s)) {
            *err_msg = sqlite3_mprintf("%s: option 'labels': task '%s' has no %s labels", FN,
                                       task_name(cur->task), SLOT_NAMES[s]);
            return SQLITE_ERROR;
        }
        if (slot_used(cur->task, s) && o->labels[s].n == 0) {
            *err_msg = sqlite3_mprintf("%s: the training rows have no %s labels (give option "
                                       "'labels')", FN, s == TASK_SLOT_CLASSIFY ? "classify"
                                       : s == TASK_SLOT_ENTITIES ? "entity" : "relation");
            return SQLITE_ERROR;
        }
    }
    return SQLITE_OK;
}

/* The config of a fresh model (sqlite3_malloc'd) or NULL on ENOMEM. */
static char *fresh_config(const train_cursor *cur) {
    const train_options *o = &cur->opt;
    sqlite3_str *out = sqlite3_str_new(NULL);
    sqlite3_str_appendf(out, "{\"format\":%d,\"tasks\":%s,\"dim\":%d,\"layers\":%d,\"heads\":%d,"
                        "\"ffn\":%d,\"max_len\":%d,\"attn_scale\":\"%s\",\"features\":%s",
                        ATTN_FORMAT_VERSION,
                        cur->task == ATTN_TASK_CLASSIFY ? "[\"classify\"]"
                        : cur->task == ATTN_TASK_ENTITIES ? "[\"entities\"]"
                        : cur->task == ATTN_TASK_MLM ? "[\"mlm\"]"
                        : cur->task == ATTN_TASK_RTD ? "[\"rtd\"]"
                                                     : "[\"entities\",\"relations\"]",
                        o->dim, o->layers, o->heads, o->ffn, o->max_len, o->attn_scale,
                        o->features ? o->features : DEFAULT_FEATURES);
    if (o->embed_context) sqlite3_str_appendf(out, ",\"embed_context\":%d", o->embed_context);
    if (o->rel_positions) sqlite3_str_appendf(out, ",\"rel_positions\":%d", o->rel_positions);
    if (o->language) sqlite3_str_appendf(out, ",\"language\":\"%s\"", o->language);
    for (int s = 0; s < N_TASK_SLOTS; s++) {
        if (!slot_used(cur->task, s)) continue;
        sqlite3_str_appendf(out, ",\"%s\":{\"labels\":", SLOT_NAMES[s]);
        append_label_array(out, &o->labels[s]);
        if (s == TASK_SLOT_RELATIONS)
            sqlite3_str_appendf(out, ",\"hidden\":%d,\"type_dim\":%d", o->rel_hidden,
                                o->rel_type_dim);
        sqlite3_str_appendchar(out, 1, '}');
    }
    if (cur->task == ATTN_TASK_MLM) sqlite3_str_appendf(out, ",\"mlm\":{\"vocab\":%d}", o->mlm_vocab);
    if (cur->task == ATTN_TASK_RTD) sqlite3_str_appendall(out, ",\"rtd\":{}");
    sqlite3_str_appendchar(out, 1, '}');
    return sqlite3_str_finish(out);
}

static int engine_error(char **err_msg, int status, const char *what, const attn_error *err) {
    *err_msg = sqlite3_mprintf("%s: %s%s", FN, what, err->msg);
    return sqlite_code(status);
}

/* cur->model = a fresh model of the run's config (labels collected and checked first). */
static int fresh_model(train_cursor *cur, char **err_msg) {
    int rc = collect_labels(cur, err_msg);
    if (rc == SQLITE_OK) rc = check_label_slots(cur, err_msg);
    if (rc == SQLITE_OK && cur->opt.gazetteers) {
        char *features;
        rc = gazetteers_features(cur->db, FN, cur->opt.gazetteers,
                                 cur->opt.features ? cur->opt.features : DEFAULT_FEATURES,
                                 &features, err_msg);
        if (rc == SQLITE_OK) {
            sqlite3_free(cur->opt.features);
            cur->opt.features = features;
        }
    }
    if (rc != SQLITE_OK) return rc;
    char *config = fresh_config(cur);
    if (!config) return SQLITE_NOMEM;
    attn_error err = {{0}};
    int status = attn_train_model_new(config, strlen(config), cur->opt.fit.train.seed,
                                      &cur->model, &err);
    sqlite3_free(config);
    return status == ATTN_OK ? SQLITE_OK : engine_error(err_msg, status, "", &err);
}

/* A trainable copy of a finished model (the registry's copies are shared, read-only and keep
 * their embedding tables stored: attn_model_copy decodes them). */
static int copy_model(const attn_model *src, attn_model **out, attn_error *err) {
    return attn_model_copy(src, out, err);
}

static int labels_match(const label_list *given, const attn_labels *model) {
    if (given->n != model->n) return 0;
    for (int i = 0; i < given->n; i++)
        if (strcmp(given->names[i], model->names[i]) != 0) return 0;
    return 1;
}

/* ---- init from another model's encoder (mlm pretraining or another task) ------------------ */

#define N_NUM_OPTIONS (sizeof NUM_OPTIONS / sizeof NUM_OPTIONS[0])

static int option_given(const train_options *o, const char *key) {
    for (size_t i = 0; i < N_NUM_OPTIONS; i++)
        if (strcmp(NUM_OPTIONS[i].key, key) == 0) return (o->structural >> i) & 1;
    return 0;
}

/* "none" (scale 1) or "sqrt" (1/sqrt(head dim); also 1 when the head dim is 1). */
static const char *scale_name(const attn_config *c) {
    return c->attn_scale == 1.0f && c->dim != c->heads ? "none" : "sqrt";
}

/* The features of a config as the JSON of option 'features' (sqlite3_malloc'd). */
static char *features_json(const attn_config *c) {
    char *json = attn_features_json(c->features, c->n_features);
    char *out = json ? sqlite3_mprintf("%s", json) : NULL;
    free(json);
    return out;
}

/* dim, layers, heads, ffn, embed_context, rel_positions and attn_scale: taken from the init
 * model; given ones must equal its (rel_positions may be added to a model without them). max_len may differ (positions are copied as far as both reach). */
static int take_architecture(train_cursor *cur, const attn_model *src, char **err_msg) {
    train_options *o = &cur->opt;
    struct { const char *key; int *opt; int init; } arch[] = {
        {"dim", &o->dim, src->cfg.dim}, {"layers", &o->layers, src->cfg.layers},
        {"heads", &o->heads, src->cfg.heads}, {"ffn", &o->ffn, src->cfg.ffn},
        {"embed_context", &o->embed_context, src->cfg.embed_context} };
    for (size_t i = 0; i < sizeof arch / sizeof arch[0]; i++) {
        if (option_given(o, arch[i].key) && *arch[i].opt != arch[i].init) {
            *err_msg = sqlite3_mprintf("%s: option '%s' (%d) differs from the init "
                                       "model '%s' (%d)", FN, arch[i].key, *arch[i].opt,
                                       o->init, arch[i].init);
            return SQLITE_ERROR;
        }
        *arch[i].opt = arch[i].init;
    }
    /* Relative position biases may be added to an init model without them: they start at 0,
     * so the copy computes what its source did until training moves them. */
    if (!option_given(o, "rel_positions")) o->rel_positions = src->cfg.rel_positions;
    else if (src->cfg.rel_positions && o->rel_positions != src->cfg.rel_positions) {
        *err_msg = sqlite3_mprintf("%s: option 'rel_positions' (%d) differs from the init "
                                   "model '%s' (%d)", FN, o->rel_positions, o->init,
                                   src->cfg.rel_positions);
        return SQLITE_ERROR;
    }
    const char *scale = scale_name(&src->cfg);
    if ((o->structural & GIVEN_ATTN_SCALE) && strcmp(o->attn_scale, scale) != 0) {
        *err_msg = sqlite3_mprintf("%s: option 'attn_scale' ('%s') differs from the init "
                                   "model '%s' ('%s')", FN, o->attn_scale, o->init, scale);
        return SQLITE_ERROR;
    }
    o->attn_scale = scale;
    if (!option_given(o, "max_len")) o->max_len = src->cfg.max_len;
    if (!o->language && src->cfg.language[0]) o->language = src->cfg.language;
    if (!option_given(o, "rel_hidden")) o->rel_hidden = o->dim;
    if (!o->features && !(o->features = features_json(&src->cfg))) return SQLITE_NOMEM;
    return SQLITE_OK;
}

static int label_index(const attn_labels *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0) return i;
    return -1;
}

/* Option init_labels: the entity tagger of src copied for the labels it maps (the others and
 * every other head start fresh), so a tagger for CoNLL04's Peop/Org/Loc/Other starts from
 * en-ner's PER/ORG/LOC/MISC instead of from nothing (attn_model_copy_tagger). */
static int copy_mapped_tagger(train_cursor *cur, const attn_model *src, char **err_msg) {
    const attn_json *map = cur->opt.init_labels;
    const attn_labels *mine = &cur->model->cfg.entity_labels, *its = &src->cfg.entity_labels;
    if (!(cur->model->cfg.tasks & ATTN_TASK_ENTITIES) || !(src->cfg.tasks & ATTN_TASK_ENTITIES))
        return option_error(err_msg, FN ": option '%s': %s", "init_labels", "both the trained "
                            "task and the init model must tag entities");
    int label_map[ATTN_MAX_LABELS];
    for (int i = 0; i < mine->n; i++) label_map[i] = -1;
    for (size_t k = 0; k < map->len; k++) {
        const int to = label_index(mine, map->keys[k]), from = label_index(its, map->items[k].str);
        if (to < 0 || from < 0) {
            *err_msg = sqlite3_mprintf("%s: option 'init_labels': '%s' is not an entity label "
                                       "of %s", FN, to < 0 ? map->keys[k] : map->items[k].str,
                                       to < 0 ? "the trained model" : "the init model");
            return SQLITE_ERROR;
        }
        label_map[to] = from;
    }
    attn_error err = {{0}};
    int status = attn_model_copy_tagger(cur->model, src, label_map, &err);
    return status == ATTN_OK ? SQLITE_OK : engine_error(err_msg, status, "init_labels: ", &err);
}

/* A model starting from the encoder of src, a pretrained mlm model, a model trained for
 * another task (transfer: en-ner's encoder for CoNLL04 relations) or for other labels of the
 * task (option 'labels' differs from src's): the same architecture and features, the encoder
 * copied, the task's heads fresh (seeded). */
static int init_from_encoder(train_cursor *cur, const attn_model *src, char **err_msg) {
    int rc = take_architecture(cur, src, err_msg);
    if (rc == SQLITE_OK) rc = fresh_model(cur, err_msg);
    if (rc != SQLITE_OK) return rc;
    const attn_config *a = &cur->model->cfg, *b = &src->cfg;
    if (!attn_features_equal(a->features, a->n_features, b->features, b->n_features)) {
        *err_msg = sqlite3_mprintf("%s: option 'features' differs from the features of the "
                                   "init model '%s' (kinds, buckets, dims and "
                                   "n-gram/affix sizes must match)", FN, cur->opt.init);
        return SQLITE_ERROR;
    }
    attn_model_copy_encoder(cur->model, src);
    return cur->opt.init_labels ? copy_mapped_tagger(cur, src, err_msg) : SQLITE_OK;
}

static int init_model(train_cursor *cur, attn_conn *conn, char **err_msg) {
    const char *vectors = cur->opt.vectors ? "vectors" : cur->opt.bigram_vectors ? "bigram_vectors" : NULL;
    if (vectors)
        return option_error(err_msg, FN ": option '%s' %s", vectors, "cannot be combined with "
                            "'init': it would overwrite the tables the init model gives");
    if (cur->opt.gazetteers)
        return option_error(err_msg, FN ": option '%s' cannot be combined with 'init' %s",
                            "gazetteers", "(the init model's lists are used: extend them with "
                            "SQL, or train a fresh model)");
    const attn_model *src;
    int rc = conn_model_get(conn, FN, cur->opt.init, &src, err_msg);
    if (rc != SQLITE_OK) return rc;
    /* Without the task (an mlm model, or en-ner for relations): its encoder only. */
    if (!(src->cfg.tasks & cur->task)) return init_from_encoder(cur, src, err_msg);
    if (cur->opt.first_structural)
        return option_error(err_msg, FN ": option '%s' cannot be combined with 'init' %s",
                            cur->opt.first_structural, "(the init model's config is used)");
    const attn_labels *lists[N_TASK_SLOTS] = {&src->cfg.classify_labels,
                                              &src->cfg.entity_labels,
                                              &src->cfg.relation_labels};
    /* Other labels for the task (Resume NER's eight types from MSRA's tagger): the encoder
     * is transferred, the heads start fresh for the new labels. */
    for (int s = 0; s < N_TASK_SLOTS; s++)
        if (cur->opt.has_labels[s] && !labels_match(&cur->opt.labels[s], lists[s]))
            return init_from_encoder(cur, src, err_msg);
    if (cur->opt.init_labels)
        return option_error(err_msg, FN ": option '%s': %s", "init_labels", "the init model has "
                            "the task and its labels, and is copied whole");
    attn_error err = {{0}};
    int status = copy_model(src, &cur->model, &err);
    return status == ATTN_OK ? SQLITE_OK : engine_error(err_msg, status, "init model: ", &err);
}

static int has_subword_feature(const attn_config *c) {
    for (int f = 0; f < c->n_features; f++)
        if (c->features[f].kind == ATTN_FEAT_SUBWORD) return 1;
    return 0;
}

/* Option vectors into the norm table, for the words of vocab_files. */
static int vectors_into_norm(train_cursor *cur, const attn_wordvec *wv, attn_error *err) {
    char **words = NULL;
    size_t n_words = 0, n_set = 0;
    int status = attn_vocab_from_files(cur->opt.vocab_files, cur->opt.n_vocab_files,
                                       ATTN_WORDVEC_WORDS, 1, &words, &n_words, err);
    if (status == ATTN_OK)
        status = attn_init_norm_from_wordvec(cur->model, wv, (const char *const *)words,
                                             n_words, &n_set, err);
    free(words);
    return status;
}

/* Option vectors: copied as the subword table when the model has a subword feature (same
 * hash, same rows); into the norm table for the words of vocab_files when those are given. */
static int apply_vectors(train_cursor *cur, char **err_msg) {
    const int subword = has_subword_feature(&cur->model->cfg);
    if (!subword && !cur->opt.n_vocab_files)
        return option_error(err_msg, FN ": option '%s' needs %s", "vectors",
                            "'vocab_files' (the texts whose words get vectors) or a 'subword' "
                            "feature");
    attn_wordvec wv;
    memset(&wv, 0, sizeof wv);
    attn_error err = {{0}};
    int status = attn_wordvec_load(cur->opt.vectors, &wv, &err);
    if (status == ATTN_OK && subword) status = attn_init_subword_from_wordvec(cur->model, &wv, &err);
    if (status == ATTN_OK && cur->opt.n_vocab_files) status = vectors_into_norm(cur, &wv, &err);
    attn_wordvec_free(&wv);
    return status == ATTN_OK ? SQLITE_OK : engine_error(err_msg, status, "option 'vectors': ",
                                                        &err);
}

/* Option bigram_vectors (attn_wordvec_train with unit 'bigrams') into the bigram tables, for
 * the bigrams of vocab_files. */
static int apply_bigram_vectors(train_cursor *cur, char **err_msg) {
    attn_wordvec wv;
    memset(&wv, 0, sizeof wv);
    attn_error err = {{0}};
    char **bigrams = NULL;
    size_t n_bigrams = 0;
    int status = attn_wordvec_load(cur->opt.bigram_vectors, &wv, &err);
    if (status == ATTN_OK)
        status = attn_vocab_from_files(cur->opt.vocab_files, cur->opt.n_vocab_files,
                                       ATTN_WORDVEC_BIGRAMS, 1, &bigrams, &n_bigrams, &err);
    if (status == ATTN_OK)
        status = attn_init_bigrams_from_wordvec(cur->model, &wv, (const char *const *)bigrams,
                                                n_bigrams, NULL, &err);
    free(bigrams);
    attn_wordvec_free(&wv);
    return status == ATTN_OK ? SQLITE_OK
                             : engine_error(err_msg, status, "option 'bigram_vectors': ", &err);
}

static int read_rows(sqlite3 *db, const char *sql, const char *sql_name, const char *what,
                     int task, train_rows *out, char **err_msg) {
    sqlite3_stmt *st = NULL;
    int rc = rows_prepare(db, FN, sql_name, sql, &st, err_msg);
    if (rc == SQLITE_OK) rc = rows_read(db, st, FN, sql_name, what, task, out, err_msg);
    sqlite3_finalize(st);
    return rc;
}

/* mlm: the output vocabulary from the training rows, targets for train and dev. */
static int mlm_targets(train_cursor *cur, char **err_msg) {
    attn_error err = {{0}};
    int status = attn_dataset_mlm_targets(cur->train, cur->train, &err);
    if (status == ATTN_OK && cur->dev)
        status = attn_dataset_mlm_targets(cur->dev, cur->train, &err);
    return status == ATTN_OK ? SQLITE_OK : engine_error(err_msg, status, "", &err);
}

static int build_datasets(train_cursor *cur, char **err_msg) {
    const attn_model *m = cur->model;
    int rc = rows_to_dataset(cur->db, &cur->rows, cur->task, m, FN, "row", &cur->train,
                             err_msg);
    if (rc == SQLITE_OK && cur->opt.dev)
        rc = rows_to_dataset(cur->db, &cur->dev_rows, cur->task, m, FN, "dev row", &cur->dev,
                             err_msg);
    if (rc == SQLITE_OK && cur->task == ATTN_TASK_MLM) rc = mlm_targets(cur, err_msg);
    return rc;
}

/* Everything before the first epoch. */
static int prepare_run(train_cursor *cur, attn_conn *conn, const char *sql, char **err_msg) {
    int rc = read_rows(cur->db, sql, "train_sql", "row", cur->task, &cur->rows, err_msg);
    if (rc == SQLITE_OK && cur->rows.n == 0) {
        *err_msg = sqlite3_mprintf("%s: train_sql gave no rows", FN);
        rc = SQLITE_ERROR;
    }
    if (rc == SQLITE_OK && cur->opt.dev)
        rc = read_rows(cur->db, cur->opt.dev, "dev", "dev row", cur->task, &cur->dev_rows,
                       err_msg);
    if (rc == SQLITE_OK && cur->opt.init_labels && !cur->opt.init)
        rc = option_error(err_msg, FN ": option '%s' %s", "init_labels", "needs 'init' (the "
                          "model whose labels it names)");
    if (rc == SQLITE_OK)
        rc = cur->opt.init ? init_model(cur, conn, err_msg) : fresh_model(cur, err_msg);
    if (rc == SQLITE_OK && cur->opt.vectors) rc = apply_vectors(cur, err_msg);
    if (rc == SQLITE_OK && cur->opt.bigram_vectors) rc = apply_bigram_vectors(cur, err_msg);
    if (rc == SQLITE_OK && cur->opt.gazetteers)
        rc = gazetteers_read(cur->db, FN, cur->opt.gazetteers, cur->model, err_msg);
    if (rc == SQLITE_OK) rc = build_datasets(cur, err_msg);
    if (rc != SQLITE_OK) return rc;
    attn_error err = {{0}};
    int status = attn_fit_begin(cur->model, cur->train, cur->dev, &cur->opt.fit, &cur->fit, &err);
    return status == ATTN_OK ? SQLITE_OK : engine_error(err_msg, status, "", &err);
}

/* ---- saving --------------------------------------------------------------------------------- */

static void append_metric(sqlite3_str *out, double v) {
    if (isnan(v)) sqlite3_str_appendall(out, "null");
    else sqlite3_str_appendf(out, "%.9g", v);
}

/* The meta object: the user's members, then "training" with what this run did. */
/* "{" and the members of option meta but "training", each followed by a comma; the UTC date
 * into date[32]. */
static sqlite3_str *meta_begin(const train_cursor *cur, char *date) {
    sqlite3_str *out = sqlite3_str_new(NULL);
    sqlite3_str_appendchar(out, 1, '{');
    const attn_json *m = cur->opt.meta;
    for (size_t i = 0; m && i < m->len; i++) {
        if (strcmp(m->keys[i], "training") == 0) continue;
        json_append_string(out, m->keys[i]);
        sqlite3_str_appendchar(out, 1, ':');
        json_write(out, &m->items[i]);
        sqlite3_str_appendchar(out, 1, ',');
    }
    date[0] = '\0';
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(date, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return out;
}

static char *meta_json(const train_cursor *cur, const attn_epoch_report *best, int epochs) {
    char date[32];
    sqlite3_str *out = meta_begin(cur, date);
    sqlite3_str_appendf(out, "\"training\":{\"task\":\"%s\",\"rows\":%llu,\"dev_rows\":%llu,"
                        "\"epochs\":%d,\"best_epoch\":%d,\"metric\":\"%s\",\"best_dev_metric\":",
                        task_name(cur->task), (unsigned long long)cur->rows.n,
                        (unsigned long long)cur->dev_rows.n, epochs, best->epoch,
                        best->metric_name ? best->metric_name : "");
    append_metric(out, best->dev_metric);
    sqlite3_str_appendf(out, ",\"seed\":%llu,\"date\":\"%s\"",
                        (unsigned long long)cur->opt.fit.train.seed, date);
    if (cur->opt.init) {
        sqlite3_str_appendall(out, ",\"init\":");
        json_append_string(out, cur->opt.init);
    }
    sqlite3_str_appendall(out, "}}");
    return sqlite3_str_finish(out);
}

/* config with "$.meta" replaced (sqlite3_malloc'd), via SQLite's json_set. The heads'
 * temperatures (an init model's, fitted by attn_calibrate) are dropped: they were fitted to
 * other weights. */
static int config_with_meta(sqlite3 *db, const char *config, const char *meta, char **out,
                            char **err_msg) {
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT json_remove(json_set(?1, '$.meta', json(?2)), "
                                    "'$.classify.temperature', '$.entities.temperature', "
                                    "'$.relations.temperature')", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, config, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, meta, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_text(st, 0)) {
            *out = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(st, 0));
            rc = *out ? SQLITE_OK : SQLITE_NOMEM;
        } else if (rc == SQLITE_ROW) {
            rc = SQLITE_NOMEM;
        }
    }
    if (rc != SQLITE_OK && rc != SQLITE_NOMEM)
        *err_msg = sqlite3_mprintf("%s: config meta: %s", FN, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}

/* Best parameters into the model, then into main.attn_model. */
static int finish_run(train_cursor *cur, char **err_msg) {
    attn_epoch_report best;
    int epochs = cur->report.epoch;
    attn_fit_end(cur->fit, &best);
    cur->fit = NULL;
    char *meta = meta_json(cur, &best, epochs), *config = NULL;
    if (!meta) return SQLITE_NOMEM;
    int rc = config_with_meta(cur->db, cur->model->cfg.json, meta, &config, err_msg);
    if (rc == SQLITE_OK)
        rc = model_write(cur->db, FN, cur->name, cur->model, config, cur->opt.storage, err_msg);
    sqlite3_free(meta);
    sqlite3_free(config);
    return rc;
}

/* Trains the next epoch into cur->report; after the last one, saves the model. */
static int next_epoch(train_cursor *cur, char **err_msg) {
    attn_error err = {{0}};
    int done = 0;
    int status = attn_fit_epoch(cur->fit, interrupt_probe_check, &cur->probe, &cur->report,
                                &done, &err);
    if (status == ATTN_ESTOPPED) {
        *err_msg = sqlite3_mprintf("%s: interrupted; model '%s' not written", FN, cur->name);
        return SQLITE_INTERRUPT;
    }
    if (status != ATTN_OK) return engine_error(err_msg, status, "", &err);
    cur->have_row = 1;
    return done ? finish_run(cur, err_msg) : SQLITE_OK;
}

/* ---- task rtd: pretraining from files, resumable (pretrain.h) ------------------------------
 * attn_train(name, 'rtd', files_json [, options]): train_sql is a JSON array of text files.
 * A progress row every report_seconds; the model, with the stream's position in its
 * config's meta.training.pretrain, is written (the checkpoint) every checkpoint_seconds and
 * when the call ends (time_limit reached, or the token budget). A call on a name whose model
 * holds such a position continues from it. */

/* Options of the epoch loop that do not apply to pretraining, and pretraining's own. */
static int check_pretrain_options(const train_cursor *cur, char **err_msg) {
    static const char *const epoch_only[] = {"epochs", "patience", "ema"};
    static const char *const rtd_only[] = {"tokens", "report_seconds", "checkpoint_seconds",
                                           "dev_share", "dev_examples", "block_tokens",
                                           "pool_tokens", "rewarm_steps", "steps"};
    const int rtd = cur->task == ATTN_TASK_RTD;
    const char *const *keys = rtd ? epoch_only : rtd_only;
    const size_t n = rtd ? sizeof epoch_only / sizeof *epoch_only
                         : sizeof rtd_only / sizeof *rtd_only;
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < N_NUM_OPTIONS; i++)
            if (strcmp(NUM_OPTIONS[i].key, keys[k]) == 0 && ((cur->opt.given >> i) & 1))
                return option_error(err_msg, FN ": option '%s' %s", keys[k],
                                    rtd ? "does not apply to task 'rtd' (it trains on a token "
                                          "budget: option 'tokens')"
                                        : "applies to task 'rtd' only");
    if (rtd && cur->opt.dev)
        return option_error(err_msg, FN ": option '%s' %s", "dev", "does not apply to task "
                            "'rtd' (its dev set is a share of the files: option 'dev_share')");
    return SQLITE_OK;
}

/* train_sql of task rtd: a non-empty JSON array of file paths. */
static int parse_files(train_cursor *cur, const char *json, size_t n, char **err_msg) {
    attn_error err = {{0}};
    if (attn_json_parse(json, n, &cur->files, &err) != ATTN_OK) {
        *err_msg = sqlite3_mprintf("%s: task 'rtd': train_sql must be a JSON array of text "
                                   "files: %s", FN, err.msg);
        return SQLITE_ERROR;
    }
    const attn_json *f = cur->files;
    int ok = f->type == ATTN_JSON_ARRAY && f->len > 0 && f->len <= ATTN_PRETRAIN_MAX_FILES;
    for (size_t i = 0; ok && i < f->len; i++)
        ok = f->items[i].type == ATTN_JSON_STRING && f->items[i].len > 0 &&
             strlen(f->items[i].str) == f->items[i].len;
    if (!ok) {
        *err_msg = sqlite3_mprintf("%s: task 'rtd': train_sql must be a JSON array of 1..%d "
                                   "file paths", FN, ATTN_PRETRAIN_MAX_FILES);
        return SQLITE_ERROR;
    }
    if (!(cur->paths = sqlite3_malloc64(f->len * sizeof *cur->paths))) return SQLITE_NOMEM;
    for (size_t i = 0; i < f->len; i++) cur->paths[i] = f->items[i].str;
    return SQLITE_OK;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int json_int_member(const attn_json *o, const char *key, int64_t *out) {
    const attn_json *v = attn_json_get(o, key);
    return v && attn_json_int(v, 0, INT64_MAX, out) == ATTN_OK;
}

/* The checkpoint's position from its meta.training.pretrain (JSON text): the files must be
 * the run's (by base name: the same text may sit in another folder on another machine). */
static int checkpoint_position(train_cursor *cur, const char *json, char **err_msg) {
    attn_json *pt = NULL;
    attn_error err = {{0}};
    int ok = attn_json_parse(json, strlen(json), &pt, &err) == ATTN_OK &&
             pt->type == ATTN_JSON_OBJECT;
    attn_pretrain_pos *p = &cur->resume;
    ok = ok && json_int_member(pt, "epoch", &p->epoch) && json_int_member(pt, "file", &p->file) &&
         json_int_member(pt, "offset", &p->offset) && json_int_member(pt, "skip", &p->skip) &&
         json_int_member(pt, "step", &p->step) && json_int_member(pt, "tokens", &p->tokens);
    const attn_json *files = ok ? attn_json_get(pt, "files") : NULL;
    int same = files && files->type == ATTN_JSON_ARRAY && files->len == cur->files->len;
    for (size_t i = 0; same && i < files->len; i++)
        same = files->items[i].type == ATTN_JSON_STRING &&
               strcmp(files->items[i].str, base_name(cur->paths[i])) == 0;
    attn_json_free(pt);
    if (!ok) {
        *err_msg = sqlite3_mprintf("%s: the checkpoint of '%s' is damaged (meta.training."
                                   "pretrain)", FN, cur->name);
        return SQLITE_ERROR;
    }
    if (!same) {
        *err_msg = sqlite3_mprintf("%s: the checkpoint of '%s' was made on other files (its "
                                   "meta.training.pretrain.files); give the same files in "
                                   "the same order, or delete its rows to start again", FN,
                                   cur->name);
        return SQLITE_ERROR;
    }
    cur->have_resume = 1;
    return SQLITE_OK;
}

/* Whether main.attn_model holds a pretraining checkpoint under the name: its position. */
static int read_checkpoint(train_cursor *cur, char **err_msg) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(cur->db, "SELECT json_extract(CAST(data AS TEXT), "
                                "'$.meta.training.pretrain') FROM main.attn_model "
                                "WHERE name = ?1 AND key = 'config'", -1, &st, NULL);
    if (rc != SQLITE_OK) {          /* no attn_model table yet: nothing to resume */
        sqlite3_finalize(st);
        return SQLITE_OK;
    }
    sqlite3_bind_text(st, 1, cur->name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT)
        rc = checkpoint_position(cur, (const char *)sqlite3_column_text(st, 0), err_msg);
    else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        rc = SQLITE_OK;             /* no such model, or not a checkpoint: a fresh start */
    else
        *err_msg = sqlite3_mprintf("%s: reading the checkpoint of '%s': %s", FN, cur->name,
                                   sqlite3_errmsg(cur->db));
    sqlite3_finalize(st);
    return rc;
}

/* The checkpoint's model, copied; architecture options given must equal its. */
static int resume_model(train_cursor *cur, attn_conn *conn, char **err_msg) {
    if (cur->opt.init)
        return option_error(err_msg, FN ": option '%s' %s", "init", "cannot be combined with "
                            "continuing a checkpoint (delete its rows to start again)");
    const attn_model *src;
    int rc = conn_model_get(conn, FN, cur->name, &src, err_msg);
    if (rc != SQLITE_OK) return rc;
    const train_options *o = &cur->opt;
    struct { const char *key; int given, model; } arch[] = {
        {"dim", o->dim, src->cfg.dim}, {"layers", o->layers, src->cfg.layers},
        {"heads", o->heads, src->cfg.heads}, {"ffn", o->ffn, src->cfg.ffn},
        {"max_len", o->max_len, src->cfg.max_len},
        {"embed_context", o->embed_context, src->cfg.embed_context},
        {"rel_positions", o->rel_positions, src->cfg.rel_positions} };
    for (size_t i = 0; i < sizeof arch / sizeof arch[0]; i++)
        if (option_given(o, arch[i].key) && arch[i].given != arch[i].model) {
            *err_msg = sqlite3_mprintf("%s: option '%s' (%d) differs from the checkpoint of "
                                       "'%s' (%d)", FN, arch[i].key, arch[i].given, cur->name,
                                       arch[i].model);
            return SQLITE_ERROR;
        }
    attn_error err = {{0}};
    int status = copy_model(src, &cur->model, &err);
    return status == ATTN_OK ? SQLITE_OK : engine_error(err_msg, status, "checkpoint: ", &err);
}

static int prepare_pretrain(train_cursor *cur, attn_conn *conn, const char *files,
                            size_t n_files, char **err_msg) {
    int rc = check_pretrain_options(cur, err_msg);
    if (rc == SQLITE_OK) rc = parse_files(cur, files, n_files, err_msg);
    if (rc == SQLITE_OK) rc = read_checkpoint(cur, err_msg);
    if (rc == SQLITE_OK && cur->have_resume) rc = resume_model(cur, conn, err_msg);
    else if (rc == SQLITE_OK) {
        /* a fresh start: vectors and gazetteers as for any task (a checkpoint has them) */
        rc = cur->opt.init ? init_model(cur, conn, err_msg) : fresh_model(cur, err_msg);
        if (rc == SQLITE_OK && cur->opt.vectors) rc = apply_vectors(cur, err_msg);
        if (rc == SQLITE_OK && cur->opt.gazetteers)
            rc = gazetteers_read(cur->db, FN, cur->opt.gazetteers, cur->model, err_msg);
    }
    if (rc != SQLITE_OK) return rc;
    const train_options *o = &cur->opt;
    attn_pretrain_opts po = attn_pretrain_defaults();
    po.train = o->fit.train;
    po.files = cur->paths;
    po.n_files = (int)cur->files->len;
    po.batch_size = o->fit.batch_size;
    po.block_tokens = (int64_t)o->block_tokens;
    po.dev_share = o->dev_share;
    po.dev_examples = o->dev_examples;
    po.pool_tokens = (int64_t)o->pool_tokens;
    po.token_budget = (int64_t)o->tokens;
    po.rewarm_steps = o->rewarm_steps;
    attn_error err = {{0}};
    int status = attn_pretrain_begin(cur->model, &po, cur->have_resume ? &cur->resume : NULL,
                                     interrupt_probe_check, &cur->probe, &cur->pt, &err);
    if (status == ATTN_ESTOPPED) {
        *err_msg = sqlite3_mprintf("%s: interrupted while reading the files; model '%s' not "
                                   "written", FN, cur->name);
        return SQLITE_INTERRUPT;
    }
    if (status != ATTN_OK) return engine_error(err_msg, status, "", &err);
    cur->start = cur->last_checkpoint = attn_now_seconds();
    cur->checkpoint_step = -1;
    return SQLITE_OK;
}

/* The meta of a checkpoint: option meta's members, then "training" with the dev metric and
 * the position ("pretrain"). */
static char *checkpoint_meta(const train_cursor *cur, const attn_rtd_metrics *dev) {
    char date[32];
    sqlite3_str *out = meta_begin(cur, date);
    const attn_pretrain_pos p = attn_pretrain_position(cur->pt);
    sqlite3_str_appendall(out, "\"training\":{\"task\":\"rtd\",\"metric\":\"rtd_f1\","
                               "\"dev_metric\":");
    append_metric(out, dev->f1);
    sqlite3_str_appendall(out, ",\"dev_accuracy\":");
    append_metric(out, dev->accuracy);
    sqlite3_str_appendf(out, ",\"seed\":%llu,\"date\":\"%s\",\"pretrain\":{\"epoch\":%lld,"
                        "\"file\":%lld,\"offset\":%lld,\"skip\":%lld,\"step\":%lld,"
                        "\"tokens\":%lld,\"token_budget\":%lld,\"files\":[",
                        (unsigned long long)cur->opt.fit.train.seed, date, (long long)p.epoch,
                        (long long)p.file, (long long)p.offset, (long long)p.skip,
                        (long long)p.step, (long long)p.tokens, (long long)cur->opt.tokens);
    for (size_t i = 0; i < cur->files->len; i++) {
        if (i) sqlite3_str_appendchar(out, 1, ',');
        json_append_string(out, base_name(cur->paths[i]));
    }
    sqlite3_str_appendall(out, "]}}}");
    return sqlite3_str_finish(out);
}

/* The dev metric, then the model with its position into main.attn_model (f16 unless option
 * dtype says otherwise: the checkpoint is meant to be small enough to keep in a repository). */
static int write_checkpoint(train_cursor *cur, char **err_msg) {
    attn_rtd_metrics dev;
    attn_error err = {{0}};
    int status = attn_pretrain_evaluate(cur->pt, interrupt_probe_check, &cur->probe, &dev, &err);
    if (status == ATTN_ESTOPPED) return SQLITE_INTERRUPT;
    if (status != ATTN_OK) return engine_error(err_msg, status, "", &err);
    cur->report.dev_metric = dev.f1;
    char *meta = checkpoint_meta(cur, &dev), *config = NULL;
    if (!meta) return SQLITE_NOMEM;
    int rc = config_with_meta(cur->db, cur->model->cfg.json, meta, &config, err_msg);
    if (rc == SQLITE_OK)
        rc = model_write(cur->db, FN, cur->name, cur->model, config,
                         cur->opt.storage_given ? cur->opt.storage : ATTN_STORE_F16, err_msg);
    sqlite3_free(meta);
    sqlite3_free(config);
    if (rc != SQLITE_OK) return rc;
    cur->checkpoint_step = attn_pretrain_position(cur->pt).step;
    cur->last_checkpoint = attn_now_seconds();
    cur->report.is_best = 1;
    return SQLITE_OK;
}

static int pretrain_interrupted(const train_cursor *cur, char **err_msg) {
    const int64_t step = attn_pretrain_position(cur->pt).step;
    *err_msg = cur->checkpoint_step >= 0
        ? sqlite3_mprintf("%s: interrupted at step %lld; the checkpoint of step %lld is kept in "
                          "'%s' (call again to continue)", FN, (long long)step,
                          (long long)cur->checkpoint_step, cur->name)
        : sqlite3_mprintf("%s: interrupted at step %lld; no checkpoint was written by this "
                          "call ('%s' is as it was)", FN, (long long)step, cur->name);
    return SQLITE_INTERRUPT;
}

/* Trains until the next progress row (report_seconds, or the time limit); writes the
 * checkpoint when it is due and at the end. */
static int next_pretrain_row(train_cursor *cur, char **err_msg) {
    const train_options *o = &cur->opt;
    const double limit = o->fit.time_limit;
    double slice = o->report_seconds;
    if (limit > 0 && limit - (attn_now_seconds() - cur->start) < slice)
        slice = limit - (attn_now_seconds() - cur->start);
    attn_error err = {{0}};
    const int64_t steps_left = o->steps ? o->steps - cur->steps_done : 0;
    int status = attn_pretrain_run(cur->pt, slice > 0 ? slice : 0, steps_left,
                                   interrupt_probe_check, &cur->probe, &cur->progress, &err);
    cur->steps_done += cur->progress.steps;
    if (status == ATTN_ESTOPPED) return pretrain_interrupted(cur, err_msg);
    if (status != ATTN_OK) return engine_error(err_msg, status, "", &err);
    const attn_pretrain_report *p = &cur->progress;
    const double now = attn_now_seconds(), elapsed = now - cur->start;
    memset(&cur->report, 0, sizeof cur->report);
    cur->report.epoch = (int)p->pos.epoch + 1;
    cur->report.train_loss = p->loss;
    cur->report.dev_metric = NAN;
    cur->report.metric_name = "rtd_f1";
    cur->report.tokens = p->pos.tokens;
    cur->eta = NAN;
    if (p->tokens_per_s > 0)
        cur->eta = (double)((int64_t)o->tokens - p->pos.tokens) / p->tokens_per_s;
    if (limit > 0 && (isnan(cur->eta) || limit - elapsed < cur->eta))
        cur->eta = limit - elapsed > 0 ? limit - elapsed : 0;
    const int over = p->done || (limit > 0 && elapsed >= limit) ||
                     (o->steps && cur->steps_done >= o->steps);
    int rc = SQLITE_OK;
    if (over || now - cur->last_checkpoint >= o->checkpoint_seconds)
        rc = write_checkpoint(cur, err_msg);
    if (rc == SQLITE_INTERRUPT) {       /* the message says which checkpoint is kept */
        sqlite3_free(*err_msg);
        *err_msg = NULL;
        return pretrain_interrupted(cur, err_msg);
    }
    cur->report.seconds = attn_now_seconds() - cur->start;
    cur->pretrain_over = over;
    cur->have_row = 1;
    return rc;
}

/* ---- the virtual table ------------------------------------------------------------------ */

static int train_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                         sqlite3_vtab **out, char **err_msg) {
    (void)argc, (void)argv, (void)err_msg;
    int rc = vtab_new(db, "CREATE TABLE x(epoch INTEGER, train_loss REAL, dev_metric REAL, "
                          "metric TEXT, seconds REAL, best INTEGER, tokens INTEGER, "
                          "tokens_per_s REAL, eta_seconds REAL, step INTEGER, "
                          "model HIDDEN, task HIDDEN, "
                          "train_sql HIDDEN, options HIDDEN)", SQLITE_VTAB_DIRECTONLY,
                      sizeof(train_vtab), out);
    if (rc != SQLITE_OK) return rc;
    train_vtab *vt = (train_vtab *)*out;
    vt->db = db;
    vt->conn = aux;
    return SQLITE_OK;
}

/* The arguments are the hidden columns, in order; idxNum has bit i set when argument i is
 * given (argv holds the given ones in order). model, task and train_sql are required. */
static int train_best_index(sqlite3_vtab *base, sqlite3_index_info *info) {
    static const vtab_args args = {COL_MODEL, N_ARGS, 3, FN, "argument",
                                   "model, task, train_sql [, options_json]", 1e9, 10};
    return vtab_bind_args(base, info, &args);
}

static int train_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out) {
    int rc = vtab_cursor_new(sizeof(train_cursor), out);
    if (rc != SQLITE_OK) return rc;
    train_cursor *cur = (train_cursor *)*out;
    cur->db = ((train_vtab *)base)->db;
    interrupt_probe_init(&cur->probe, cur->db);
    return SQLITE_OK;
}

/* Drops the run. A fit still in progress is abandoned: nothing was written. */
static void cursor_reset(train_cursor *cur) {
    attn_fit_abort(cur->fit);
    attn_pretrain_free(cur->pt);
    attn_json_free(cur->files);
    sqlite3_free(cur->paths);
    attn_dataset_free(cur->train);
    attn_dataset_free(cur->dev);
    attn_model_free(cur->model);
    train_rows_free(&cur->rows);
    train_rows_free(&cur->dev_rows);
    options_free(&cur->opt);
    interrupt_probe_done(&cur->probe);
    sqlite3_free(cur->name);
    sqlite3 *db = cur->db;
    memset((char *)cur + sizeof cur->base, 0, sizeof *cur - sizeof cur->base);
    cur->db = db;
    interrupt_probe_init(&cur->probe, db);
}

static int train_close(sqlite3_vtab_cursor *base) {
    cursor_reset((train_cursor *)base);
    sqlite3_free(base);
    return SQLITE_OK;
}

static int start_run(train_cursor *cur, attn_conn *conn, sqlite3_value *args[N_ARGS],
                     char **err_msg) {
    const char *name, *task, *sql, *options = NULL;
    size_t n = 0, n_options = 0;
    int rc = arg_model(FN, 1, args[0], NULL, &name, err_msg);
    if (rc == SQLITE_OK) rc = arg_text(FN, 2, args[1], &task, &n, err_msg);
    if (rc == SQLITE_OK) rc = arg_text(FN, 3, args[2], &sql, &n, err_msg);
    if (rc == SQLITE_OK && args[3]) {
        rc = arg_text(FN, 4, args[3], &options, &n_options, err_msg);
        if (rc == SQLITE_DONE) rc = SQLITE_OK, options = NULL;
    }
    if (rc == SQLITE_DONE) {
        *err_msg = sqlite3_mprintf("%s: model, task and train_sql must not be NULL", FN);
        rc = SQLITE_ERROR;
    }
    if (rc == SQLITE_OK && strcmp(task, "mlm") == 0) cur->task = ATTN_TASK_MLM;
    else if (rc == SQLITE_OK && strcmp(task, "rtd") == 0) cur->task = ATTN_TASK_RTD;
    else if (rc == SQLITE_OK) rc = task_from_name(FN, task, &cur->task, err_msg);
    if (rc == SQLITE_OK) cur->slot = slot_of_task(cur->task);
    if (rc == SQLITE_OK) rc = options_parse(options, n_options, cur->slot, &cur->opt, err_msg);
    if (rc != SQLITE_OK) return rc;
    if (!(cur->name = sqlite3_mprintf("%s", name))) return SQLITE_NOMEM;
    if (cur->task == ATTN_TASK_RTD) {
        rc = prepare_pretrain(cur, conn, sql, n, err_msg);
        return rc == SQLITE_OK ? next_pretrain_row(cur, err_msg) : rc;
    }
    rc = check_pretrain_options(cur, err_msg);
    if (rc == SQLITE_OK) rc = prepare_run(cur, conn, sql, err_msg);
    if (rc == SQLITE_OK) rc = next_epoch(cur, err_msg);
    return rc;
}

/* Ends the run after an error in xFilter or xNext: nothing is written; the statement fails
 * with err_msg (taken), as SQLITE_INTERRUPT, SQLITE_NOMEM or SQLITE_ERROR. */
static int run_failed(train_cursor *cur, int rc, char *err_msg) {
    sqlite3_vtab *vt = cur->base.pVtab;
    cursor_reset(cur);
    cur->eof = 1;
    return vtab_call_error(vt, rc, err_msg);
}

static int train_filter(sqlite3_vtab_cursor *base, int idx_num, const char *idx_str, int argc,
                        sqlite3_value **argv) {
    int missing = vtab_missing_args(base, idx_num, idx_str);
    if (missing != SQLITE_OK) return missing;
    train_cursor *cur = (train_cursor *)base;
    train_vtab *vt = (train_vtab *)base->pVtab;
    cursor_reset(cur);
    sqlite3_value *args[N_ARGS];
    vtab_filter_args(idx_num, argc, argv, N_ARGS, args);
    char *err_msg = NULL;
    int rc = start_run(cur, vt->conn, args, &err_msg);
    return rc == SQLITE_OK ? SQLITE_OK : run_failed(cur, rc, err_msg);
}

static int train_next(sqlite3_vtab_cursor *base) {
    train_cursor *cur = (train_cursor *)base;
    if (cur->pt && !cur->pretrain_over) {
        char *err_msg = NULL;
        int rc = next_pretrain_row(cur, &err_msg);
        return rc == SQLITE_OK ? SQLITE_OK : run_failed(cur, rc, err_msg);
    }
    if (!cur->fit) {            /* the last epoch was shown and the model saved */
        cur->eof = 1;
        return SQLITE_OK;
    }
    char *err_msg = NULL;
    int rc = next_epoch(cur, &err_msg);
    return rc == SQLITE_OK ? SQLITE_OK : run_failed(cur, rc, err_msg);
}

static int train_eof(sqlite3_vtab_cursor *base) {
    train_cursor *cur = (train_cursor *)base;
    return cur->eof || !cur->have_row;
}

static int train_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid) {
    *rowid = ((train_cursor *)base)->report.epoch;
    return SQLITE_OK;
}

static int train_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col) {
    const train_cursor *cur = (const train_cursor *)base;
    const attn_epoch_report *r = &cur->report;
    switch (col) {
    case COL_EPOCH: sqlite3_result_int(ctx, r->epoch); break;
    case COL_TRAIN_LOSS: if (!isnan(r->train_loss)) sqlite3_result_double(ctx, r->train_loss); break;
    case COL_DEV_METRIC: if (!isnan(r->dev_metric)) sqlite3_result_double(ctx, r->dev_metric); break;
    case COL_METRIC:
        if (r->metric_name) sqlite3_result_text(ctx, r->metric_name, -1, SQLITE_STATIC);
        break;
    case COL_SECONDS: sqlite3_result_double(ctx, r->seconds); break;
    case COL_BEST: sqlite3_result_int(ctx, r->is_best); break;
    case COL_TOKENS: sqlite3_result_int64(ctx, r->tokens); break;
    case COL_TOKENS_PER_S:
        if (cur->pt) sqlite3_result_double(ctx, cur->progress.tokens_per_s);
        else if (r->seconds > 0) sqlite3_result_double(ctx, (double)r->tokens / r->seconds);
        break;
    case COL_ETA: if (cur->pt && !isnan(cur->eta)) sqlite3_result_double(ctx, cur->eta); break;
    case COL_STEP: if (cur->pt) sqlite3_result_int64(ctx, cur->progress.pos.step); break;
    default: break;             /* hidden argument columns read back as NULL */
    }
    return SQLITE_OK;
}

static const sqlite3_module train_module = {
    .iVersion = 0,
    .xCreate = NULL,
    .xConnect = train_connect,
    .xBestIndex = train_best_index,
    .xDisconnect = vtab_disconnect,
    .xDestroy = NULL,
    .xOpen = train_open,
    .xClose = train_close,
    .xFilter = train_filter,
    .xNext = train_next,
    .xEof = train_eof,
    .xColumn = train_column,
    .xRowid = train_rowid,
};

int vtab_train_register(sqlite3 *db, attn_conn *c) {
    conn_ref(c);
    return sqlite3_create_module_v2(db, FN, &train_module, c, conn_unref);
}
