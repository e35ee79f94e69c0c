/* fn_detok.c: pre-tokenised text joined as people write it (model/detok.h), for loading
 * tokenised datasets (sql/load_datasets.sql reads CoNLL04 with it):
 *
 *   attn_detok(tokens_json)             -> the text: '["Canada", "."]' -> 'Canada.'
 *   attn_detok(tokens_json, 'offsets')  -> each token's [start, end] in that text, in
 *                                          characters (SQLite counting): '[[0,6],[6,7]]'
 * tokens_json is a JSON array of strings. NULL gives NULL. */
#include "ext.h"

#include <stdlib.h>
#include <string.h>

#define FN "attn_detok"

/* The tokens of a JSON array of strings, or an error naming the cause. */
static int parse_tokens(const char *json, size_t n, attn_json **tree, char **err_msg) {
    attn_error err = {{0}};
    int status = attn_json_parse(json, n, tree, &err);
    if (status != ATTN_OK) {
        *err_msg = sqlite3_mprintf(FN ": argument 1: %s", err.msg);
        return status == ATTN_ENOMEM ? SQLITE_NOMEM : SQLITE_ERROR;
    }
    const attn_json *j = *tree;
    if (j->type != ATTN_JSON_ARRAY) {
        *err_msg = sqlite3_mprintf(FN ": argument 1 must be a JSON array of strings");
        return SQLITE_ERROR;
    }
    for (size_t i = 0; i < j->len; i++) {
        if (j->items[i].type != ATTN_JSON_STRING || memchr(j->items[i].str, 0, j->items[i].len)) {
            *err_msg = sqlite3_mprintf(FN ": token %lld must be a JSON string without NUL", (long long)i);
            return SQLITE_ERROR;
        }
    }
    return SQLITE_OK;
}

static char *offsets_json(const int64_t *start, const int64_t *end, size_t n) {
    sqlite3_str *s = sqlite3_str_new(NULL);
    sqlite3_str_appendchar(s, 1, '[');
    for (size_t i = 0; i < n; i++)
        sqlite3_str_appendf(s, "%s[%lld,%lld]", i ? "," : "", (long long)start[i],
                            (long long)end[i]);
    sqlite3_str_appendchar(s, 1, ']');
    return sqlite3_str_finish(s);
}

void attn_detok_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    const char *json;
    size_t n_json;
    char *err_msg = NULL;
    int rc = arg_text(FN, 1, argv[0], &json, &n_json, &err_msg);
    if (rc == SQLITE_DONE) return;
    int want_offsets = 0;
    if (rc == SQLITE_OK && argc > 1) {
        const unsigned char *what = sqlite3_value_text(argv[1]);
        want_offsets = what && strcmp((const char *)what, "offsets") == 0;
        if (!want_offsets) {
            err_msg = sqlite3_mprintf(FN ": argument 2 must be 'offsets'");
            rc = SQLITE_ERROR;
        }
    }
    attn_json *tree = NULL;
    if (rc == SQLITE_OK) rc = parse_tokens(json, n_json, &tree, &err_msg);
    if (rc != SQLITE_OK) {
        attn_json_free(tree);
        result_error(ctx, rc, err_msg);
        return;
    }
    const size_t n = tree->len;
    const char **tok = malloc((n + 1) * sizeof *tok);
    size_t *len = malloc((n + 1) * sizeof *len);
    int64_t *start = malloc((n + 1) * sizeof *start), *end = malloc((n + 1) * sizeof *end);
    char *text = NULL;
    size_t n_text = 0;
    attn_error err = {{0}};
    int status = tok && len && start && end ? ATTN_OK : ATTN_ENOMEM;
    for (size_t i = 0; status == ATTN_OK && i < n; i++)
        tok[i] = tree->items[i].str, len[i] = tree->items[i].len;
    if (status == ATTN_OK)
        status = attn_detok_join(tok, len, n, &text, &n_text, start, end, &err);
    if (status != ATTN_OK) {
        sqlite3_result_error_nomem(ctx);
    } else if (want_offsets) {
        char *o = offsets_json(start, end, n);
        if (o) sqlite3_result_text(ctx, o, -1, sqlite3_free);
        else sqlite3_result_error_nomem(ctx);
    } else {
        sqlite3_result_text64(ctx, text, n_text, SQLITE_TRANSIENT, SQLITE_UTF8);
    }
    free(text), free(tok), free(len), free(start), free(end);
    attn_json_free(tree);
}
