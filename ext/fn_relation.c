/* fn_relation.c: the relation between two spans the user gives (their own entities).
 *
 *   attn_relation(text, head_start, head_end, tail_start, tail_end [, model])
 *       -> the most probable label, 'none' when "no relation" wins
 *   attn_relation_scores(text, head_start, head_end, tail_start, tail_end [, model])
 *       -> {"none": p, "<label>": p, ...}: every output, "none" first
 * Spans are characters (SQLite counting, end exclusive), as attn_entities reports them; the
 * pipeline snaps them outward to tokens and lets the tagger decide the entity types
 * (attn_run_relation_pair). Default model 'en-rel'. A NULL text or span gives NULL. */
#include "ext.h"

#include <string.h>

#define NONE_LABEL "none"

/* Arguments 2..5: integers. SQLITE_DONE when one is NULL. */
static int span_args(const char *fn, sqlite3_value **argv, int64_t pos[4], char **err_msg) {
    for (int i = 0; i < 4; i++) {
        sqlite3_value *v = argv[1 + i];
        if (sqlite3_value_type(v) == SQLITE_NULL) return SQLITE_DONE;
        if (sqlite3_value_type(v) != SQLITE_INTEGER) {
            *err_msg = sqlite3_mprintf("%s: argument %d must be INTEGER, got %s", fn, 2 + i,
                                       value_type_name(v));
            return SQLITE_MISMATCH;
        }
        pos[i] = sqlite3_value_int64(v);
    }
    return SQLITE_OK;
}

static void relation_common(sqlite3_context *ctx, int argc, sqlite3_value **argv,
                            const char *fn, int want_scores) {
    const char *text = NULL, *name;
    size_t n_bytes = 0;
    int64_t pos[4];
    char *err_msg = NULL;
    int rc = arg_model(fn, 6, argc > 5 ? argv[5] : NULL, ATTN_DEFAULT_BY_TEXT, &name,
                       &err_msg);
    if (rc == SQLITE_OK) rc = limit_check_text(sqlite3_user_data(ctx), fn, argv[0], &err_msg);
    if (rc == SQLITE_OK) rc = arg_text(fn, 1, argv[0], &text, &n_bytes, &err_msg);
    if (rc == SQLITE_OK) rc = span_args(fn, argv, pos, &err_msg);
    if (rc == SQLITE_DONE) return;                       /* NULL argument: NULL result */
    if (rc != SQLITE_OK) {
        result_error(ctx, rc, err_msg);
        return;
    }
    if (name == ATTN_DEFAULT_BY_TEXT) name = default_model(ATTN_TASK_RELATIONS, text, n_bytes);
    const attn_model *m;
    attn_session *s;
    float *probs;
    if (scalar_setup(ctx, fn, name, ATTN_TASK_RELATIONS, &m, &s, &probs) != SQLITE_OK) return;
    const attn_labels *labels = &m->cfg.relation_labels;
    attn_error err = {{0}};
    int status = attn_run_relation_pair(m, s, text, n_bytes, pos[0], pos[1], pos[2], pos[3],
                                        probs, &err);
    call_session_end(sqlite3_user_data(ctx));
    if (status != ATTN_OK)
        result_error(ctx, sqlite_code(status), limit_engine_error(fn, name, s, &err));
    else
        result_label_probs(ctx, NONE_LABEL, labels, probs, want_scores);
    sqlite3_free(probs);
}

void attn_relation_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    relation_common(ctx, argc, argv, "attn_relation", 0);
}

void attn_relation_scores_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    relation_common(ctx, argc, argv, "attn_relation_scores", 1);
}
