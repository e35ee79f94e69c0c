/* vtab_conll.c: attn_conll(path [, options_json]), an eponymous table-valued function reading
 * a CoNLL column file (conll.h) one sentence per row, streaming (one sentence in memory):
 *
 *   text TEXT        the tokens joined (see conll.h for the join rule)
 *   entities TEXT    [{"start":0,"end":2,"label":"ORG"},...] in characters of text
 *   line INTEGER     1-based line of the sentence's first token
 *   doc INTEGER      1-based document number (each -DOCSTART- line after the first sentence
 *                    starts the next one)
 *
 * Options: {"scheme": "auto"|"iob1"|"iob2"|"iobes", "join": "auto"|"space"|"none"|"detok",
 * "token_column": N, "tag_column": N (1-based), "lenient": true|false}. Unknown keys are
 * errors. The rows are exactly what attn_train's entities task reads:
 *   SELECT * FROM attn_train('ner', 'entities', 'SELECT text, entities FROM attn_conll(''x'')')
 *
 * DIRECTONLY: it reads files named by its argument. */
#include "ext.h"

#include <stdlib.h>
#include <string.h>

#define FN "attn_conll"

enum { COL_TEXT, COL_ENTITIES, COL_LINE, COL_DOC, COL_PATH, COL_OPTIONS };
#define N_ARGS 2

typedef struct conll_cursor {
    sqlite3_vtab_cursor base;
    attn_conll_reader *reader;
    attn_conll_sentence s;
    char *entities;             /* JSON of s (malloc'd by conll.c) */
    sqlite3_int64 row, doc;
    int eof;
} conll_cursor;

static int conll_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                         sqlite3_vtab **out, char **err_msg) {
    (void)aux, (void)argc, (void)argv, (void)err_msg;
    return vtab_new(db, "CREATE TABLE x(text TEXT, entities TEXT, line INTEGER, doc INTEGER, "
                        "path HIDDEN, options HIDDEN)", SQLITE_VTAB_DIRECTONLY,
                    sizeof(sqlite3_vtab), out);
}

static int conll_best_index(sqlite3_vtab *base, sqlite3_index_info *info) {
    static const vtab_args args = {COL_PATH, N_ARGS, 1, FN, "path argument",
                                   "path [, options_json]", 1e6, 10000};
    return vtab_bind_args(base, info, &args);
}

static int conll_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out) {
    (void)base;
    return vtab_cursor_new(sizeof(conll_cursor), out);
}

static void cursor_reset(conll_cursor *cur) {
    attn_conll_close(cur->reader);
    free(cur->entities);
    memset((char *)cur + sizeof cur->base, 0, sizeof *cur - sizeof cur->base);
}

static int conll_close(sqlite3_vtab_cursor *base) {
    cursor_reset((conll_cursor *)base);
    sqlite3_free(base);
    return SQLITE_OK;
}

/* ---- options ------------------------------------------------------------------------------ */

static int choice(const attn_json *v, const char *key, const char *const *names, int n,
                  int *out, char **err_msg) {
    for (int i = 0; v->type == ATTN_JSON_STRING && i < n; i++)
        if (strcmp(v->str, names[i]) == 0) {
            *out = i;
            return SQLITE_OK;
        }
    sqlite3_str *list = sqlite3_str_new(NULL);
    for (int i = 0; i < n; i++) sqlite3_str_appendf(list, "%s'%s'", i ? ", " : "", names[i]);
    char *text = sqlite3_str_finish(list);
    *err_msg = sqlite3_mprintf("%s: option '%s' must be one of %s", FN, key, text ? text : "");
    sqlite3_free(text);
    return SQLITE_ERROR;
}

static int set_option(attn_conll_options *o, const char *key, const attn_json *v,
                      char **err_msg) {
    static const char *const schemes[] = {"auto", "iob1", "iob2", "iobes"};
    static const char *const joins[] = {"auto", "space", "none", "detok"};
    int index = 0, rc;
    if (strcmp(key, "scheme") == 0) {
        rc = choice(v, key, schemes, 4, &index, err_msg);
        o->scheme = (attn_conll_scheme)index;
        return rc;
    }
    if (strcmp(key, "join") == 0) {
        rc = choice(v, key, joins, 4, &index, err_msg);
        o->join = (attn_conll_join)index;
        return rc;
    }
    if (strcmp(key, "token_column") == 0 || strcmp(key, "tag_column") == 0) {
        int64_t col;
        if (attn_json_int(v, 1, ATTN_CONLL_MAX_COLUMNS, &col) != ATTN_OK) {
            *err_msg = sqlite3_mprintf("%s: option '%s' must be an integer in [1, %d]", FN, key,
                                       ATTN_CONLL_MAX_COLUMNS);
            return SQLITE_ERROR;
        }
        if (key[1] == 'o') o->token_column = (int)col;
        else o->tag_column = (int)col;
        return SQLITE_OK;
    }
    if (strcmp(key, "lenient") == 0) {
        if (v->type != ATTN_JSON_BOOL) {
            *err_msg = sqlite3_mprintf("%s: option 'lenient' must be true or false", FN);
            return SQLITE_ERROR;
        }
        o->lenient_tags = v->boolean;
        return SQLITE_OK;
    }
    *err_msg = sqlite3_mprintf("%s: unknown option '%s'", FN, key);
    return SQLITE_ERROR;
}

static int parse_options(const char *json, size_t n, attn_conll_options *o, char **err_msg) {
    memset(o, 0, sizeof *o);
    if (!json) return SQLITE_OK;
    attn_json *tree;
    attn_error err = {{0}};
    if (attn_json_parse(json, n, &tree, &err) != ATTN_OK) {
        *err_msg = sqlite3_mprintf("%s: options: %s", FN, err.msg);
        return SQLITE_ERROR;
    }
    int rc = SQLITE_OK;
    if (tree->type != ATTN_JSON_OBJECT) {
        *err_msg = sqlite3_mprintf("%s: options must be a JSON object", FN);
        rc = SQLITE_ERROR;
    }
    for (size_t i = 0; rc == SQLITE_OK && i < tree->len; i++)
        rc = set_option(o, tree->keys[i], &tree->items[i], err_msg);
    attn_json_free(tree);
    return rc;
}

/* ---- reading ------------------------------------------------------------------------------ */

/* The next sentence, or eof. */
static int read_next(conll_cursor *cur, char **err_msg) {
    free(cur->entities);
    cur->entities = NULL;
    attn_error err = {{0}};
    int got = attn_conll_next(cur->reader, &cur->s, &err);
    if (got < 0) {
        *err_msg = sqlite3_mprintf("%s: %s", FN, err.msg);
        return sqlite_code(-got);
    }
    if (got == 0) {
        cur->eof = 1;
        return SQLITE_OK;
    }
    if (cur->s.new_document && cur->row > 0) cur->doc++;
    cur->row++;
    int status = attn_conll_entities_json(&cur->s, &cur->entities, NULL, &err);
    return status == ATTN_OK ? SQLITE_OK : SQLITE_NOMEM;
}

static int start(conll_cursor *cur, sqlite3_value *args[N_ARGS], char **err_msg) {
    const char *path, *options = NULL;
    size_t n = 0, n_options = 0;
    int rc = arg_text(FN, 1, args[0], &path, &n, err_msg);
    if (rc == SQLITE_OK && args[1]) {
        rc = arg_text(FN, 2, args[1], &options, &n_options, err_msg);
        if (rc == SQLITE_DONE) rc = SQLITE_OK, options = NULL;
    }
    if (rc != SQLITE_OK) return rc;           /* SQLITE_DONE: NULL path, no rows */
    if (strlen(path) != n) {
        *err_msg = sqlite3_mprintf("%s: path contains a NUL byte", FN);
        return SQLITE_ERROR;
    }
    attn_conll_options opt;
    rc = parse_options(options, n_options, &opt, err_msg);
    if (rc != SQLITE_OK) return rc;
    attn_error err = {{0}};
    cur->reader = attn_conll_open(path, &opt, &err);
    if (!cur->reader) {
        *err_msg = sqlite3_mprintf("%s: %s", FN, err.msg);
        return SQLITE_ERROR;
    }
    cur->doc = 1;
    return read_next(cur, err_msg);
}

static int conll_filter(sqlite3_vtab_cursor *base, int idx_num, const char *idx_str, int argc,
                        sqlite3_value **argv) {
    int missing = vtab_missing_args(base, idx_num, idx_str);
    if (missing != SQLITE_OK) return missing;
    conll_cursor *cur = (conll_cursor *)base;
    cursor_reset(cur);
    sqlite3_value *args[N_ARGS];
    vtab_filter_args(idx_num, argc, argv, N_ARGS, args);
    char *err_msg = NULL;
    int rc = start(cur, args, &err_msg);
    if (rc == SQLITE_DONE) {
        cur->eof = 1;
        return SQLITE_OK;
    }
    if (rc != SQLITE_OK) {
        cursor_reset(cur);
        cur->eof = 1;
        if (rc == SQLITE_NOMEM && !err_msg) return rc;
        return vtab_error(base->pVtab, SQLITE_ERROR, err_msg);
    }
    return SQLITE_OK;
}

static int conll_next(sqlite3_vtab_cursor *base) {
    conll_cursor *cur = (conll_cursor *)base;
    char *err_msg = NULL;
    int rc = read_next(cur, &err_msg);
    if (rc != SQLITE_OK) {
        cur->eof = 1;
        if (rc == SQLITE_NOMEM && !err_msg) return rc;
        return vtab_error(base->pVtab, SQLITE_ERROR, err_msg);
    }
    return SQLITE_OK;
}

static int conll_eof(sqlite3_vtab_cursor *base) { return ((conll_cursor *)base)->eof; }

static int conll_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid) {
    *rowid = ((conll_cursor *)base)->row;
    return SQLITE_OK;
}

static int conll_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col) {
    conll_cursor *cur = (conll_cursor *)base;
    switch (col) {
    case COL_TEXT:
        sqlite3_result_text(ctx, cur->s.text, (int)cur->s.n_bytes, SQLITE_TRANSIENT);
        break;
    case COL_ENTITIES: sqlite3_result_text(ctx, cur->entities, -1, SQLITE_TRANSIENT); break;
    case COL_LINE: sqlite3_result_int64(ctx, cur->s.line); break;
    case COL_DOC: sqlite3_result_int64(ctx, cur->doc); break;
    default: break;
    }
    return SQLITE_OK;
}

static const sqlite3_module conll_module = {
    .iVersion = 0,
    .xCreate = NULL,
    .xConnect = conll_connect,
    .xBestIndex = conll_best_index,
    .xDisconnect = vtab_disconnect,
    .xDestroy = NULL,
    .xOpen = conll_open,
    .xClose = conll_close,
    .xFilter = conll_filter,
    .xNext = conll_next,
    .xEof = conll_eof,
    .xColumn = conll_column,
    .xRowid = conll_rowid,
};

int vtab_conll_register(sqlite3 *db, attn_conn *c) {
    (void)c;
    return sqlite3_create_module_v2(db, FN, &conll_module, NULL, NULL);
}
