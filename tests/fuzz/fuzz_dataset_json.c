/* fuzz_dataset_json: annotated training rows (train_data.h attn_dataset_add) as attn_train
 * reads them from SQL: text, classify label, entities JSON, relations JSON (row shapes of
 * ext/train_rows.c, whose JSON-to-gold mapping is mirrored here because ext/ needs SQLite).
 *
 * Input: fields separated by byte 0x01: text \x01 label \x01 entities_json \x01 relations_json.
 * A field that is absent (fewer separators) is "not given" (NULL), so is an empty label; an
 * empty entities/relations field is given as "[]". JSON that is not an array of objects with integer start/end
 * (head/tail) and a string label is ignored like a row error in the binding.
 * The dataset's config is fixed: all three tasks, max_len 4 (so texts are cut into chunks).
 *
 * Invariants (abort when broken):
 *   - add succeeds -> size + skipped == 1; add fails -> error message, nothing counted;
 *   - every example: 1 <= T <= max_len, feature rows < buckets, label -1 or in range, a legal
 *     IOB2 tag path, spans inside [0, T) with labels in range, relations between distinct
 *     spans with labels in range; the chunks' T add up to the text's tokens;
 *   - attn_evaluate of a fixed random model on the dataset gives metrics in [0, 1]. */
#include "fit.h"
#include "json.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "fuzz_check.h"

#define SEP 0x01
#define MAX_ITEMS 64    /* entities/relations read from one row */
#define N_FIELDS 4

static const char CONFIG[] =
    "{\"format\":1,\"tasks\":[\"classify\",\"entities\",\"relations\"],"
    "\"dim\":8,\"layers\":1,\"heads\":2,\"ffn\":8,\"max_len\":4,"
    "\"features\":[{\"kind\":\"norm\",\"buckets\":32,\"dim\":4},{\"kind\":\"shape\",\"buckets\":8,\"dim\":2},"
    "{\"kind\":\"subword\",\"buckets\":64,\"dim\":2,\"min_n\":2,\"max_n\":4}],"
    "\"classify\":{\"labels\":[\"negative\",\"positive\"]},"
    "\"entities\":{\"labels\":[\"PER\",\"LOC\",\"ORG\"]},"
    "\"relations\":{\"labels\":[\"Work_For\",\"Located_In\"],\"hidden\":4,\"type_dim\":2}}";

static attn_model *model;   /* read-only after LLVMFuzzerInitialize */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    openblas_set_num_threads(1);
    attn_error err;
    if (attn_train_model_new(CONFIG, strlen(CONFIG), 7, &model, &err) != ATTN_OK) {
        fprintf(stderr, "fuzz_dataset_json: %s\n", err.msg);
        abort();
    }
    return 0;
}

/* ---- the row ---- */

typedef struct row {
    const char *field[N_FIELDS];        /* NULL: absent */
    size_t len[N_FIELDS];
    char *label;                        /* NUL-terminated copy of field 1 */
    attn_gold_entity ents[MAX_ITEMS];
    attn_gold_relation rels[MAX_ITEMS];
    char *names[2 * MAX_ITEMS];         /* label strings of ents and rels (owned) */
    int n_ents, n_rels, n_names;
} row;

static void split(const uint8_t *data, size_t size, row *r) {
    int f = 0;
    size_t start = 0;
    for (size_t i = 0; i <= size && f < N_FIELDS; i++) {
        if (i < size && !(data[i] == SEP && f < N_FIELDS - 1)) continue;
        r->field[f] = (const char *)data + start;
        r->len[f++] = i - start;
        start = i + 1;
    }
}

/* An array of {"start"/"head": int, "end"/"tail": int, "label": string}; 0 when not one. */
static int read_items(const char *json, size_t n, int relations, row *r) {
    if (n == 0) return 1;   /* given: none */
    attn_json *j = NULL;
    attn_error err;
    if (attn_json_parse(json, n, &j, &err) != ATTN_OK) return 0;
    int ok = j->type == ATTN_JSON_ARRAY && j->len <= MAX_ITEMS;
    for (size_t i = 0; ok && i < j->len; i++) {
        const attn_json *o = &j->items[i];
        const attn_json *a = attn_json_get(o, relations ? "head" : "start");
        const attn_json *b = attn_json_get(o, relations ? "tail" : "end");
        const attn_json *l = attn_json_get(o, "label");
        int64_t va, vb;
        int64_t hi = relations ? MAX_ITEMS : INT32_MAX;
        ok = a && b && l && l->type == ATTN_JSON_STRING && attn_json_int(a, 0, hi, &va) == ATTN_OK &&
             attn_json_int(b, 0, hi, &vb) == ATTN_OK;
        if (!ok) break;
        char *name = strdup(l->str);
        if (!name) abort();
        r->names[r->n_names++] = name;
        if (relations) r->rels[r->n_rels++] = (attn_gold_relation){ (int)va, (int)vb, name };
        else r->ents[r->n_ents++] = (attn_gold_entity){ va, vb, name };
    }
    attn_json_free(j);
    return ok;
}

static void free_row(row *r) {
    for (int i = 0; i < r->n_names; i++) free(r->names[i]);
    free(r->label);
}

/* ---- checks ---- */

static void check_tags(const int *tags, int T, int K) {
    for (int t = 0; t < T; t++) {
        FUZZ_CHECK(tags[t] >= 0 && tags[t] < K, "tag %d at %d", tags[t], t);
        int is_inside = tags[t] != 0 && tags[t] % 2 == 0;
        if (!is_inside) continue;
        int label = (tags[t] - 2) / 2;
        FUZZ_CHECK(t > 0 && tags[t - 1] != 0 && (tags[t - 1] - 1) / 2 == label,
                   "I-%d at %d after tag %d", label, t, t ? tags[t - 1] : -1);
    }
}

static void check_example(const attn_config *c, const attn_example *e) {
    FUZZ_CHECK(e->T >= 1 && e->T <= c->max_len, "T %d", e->T);
    int stride = attn_feature_slots(c->features, c->n_features);
    for (int t = 0; t < e->T; t++) {
        int bad_slot = -1;
        int bad = attn_feature_rows_check(c->features, c->n_features, e->rows + (size_t)t * stride, &bad_slot);
        FUZZ_CHECK(bad == -1, "token %d: feature %d slot %d", t, bad, bad_slot);
    }
    FUZZ_CHECK(e->label >= -1 && e->label < c->classify_labels.n, "label %d", e->label);
    if (e->tags) check_tags(e->tags, e->T, attn_config_n_tags(c));
    FUZZ_CHECK(e->n_spans >= 0 && (e->n_spans == 0 || e->spans), "%d spans", e->n_spans);
    for (int i = 0; i < e->n_spans; i++)
        FUZZ_CHECK(e->spans[i].start >= 0 && e->spans[i].start < e->spans[i].end && e->spans[i].end <= e->T &&
                   e->spans[i].label >= 0 && e->spans[i].label < c->entity_labels.n, "span %d", i);
    FUZZ_CHECK(e->n_rels >= 0 && (e->n_rels == 0 || e->rels), "%d rels", e->n_rels);
    for (int i = 0; i < e->n_rels; i++)
        FUZZ_CHECK(e->rels[i].head >= 0 && e->rels[i].head < e->n_spans && e->rels[i].tail >= 0 &&
                   e->rels[i].tail < e->n_spans && e->rels[i].head != e->rels[i].tail &&
                   e->rels[i].label >= 0 && e->rels[i].label < c->relation_labels.n, "relation %d", i);
}

static void check_unit(double v, const char *what, const char *row_label) {
    FUZZ_CHECK(!(v < 0.0) && !(v > 1.0), "%s %g (%s)", what, v, row_label);
}

static void check_evaluate(const attn_dataset *ds, int task) {
    attn_eval_result res;
    attn_error err;
    memset(&res, 0, sizeof res);
    FUZZ_CHECK(attn_evaluate(model, ds, task, NULL, NULL, &res, &err) == ATTN_OK,
               "evaluate task %d: %s", task, err.msg);
    check_unit(res.headline, "headline", "");
    for (int i = 0; i < res.n; i++) {
        const attn_eval_row *w = &res.rows[i];
        check_unit(w->precision, "precision", w->label);
        check_unit(w->recall, "recall", w->label);
        check_unit(w->f1, "f1", w->label);
        FUZZ_CHECK(w->support >= 0 && w->predicted >= 0, "counts of %s", w->label);
    }
    attn_eval_result_free(&res);
}

static void check_dataset(const attn_dataset *ds, int gives_something) {
    const attn_config *c = &model->cfg;
    int64_t sum_T = 0;
    attn_error err;
    for (size_t i = 0; i < attn_dataset_examples(ds); i++) {
        attn_example e;
        FUZZ_CHECK(attn_dataset_example(ds, i, &e, &err) == ATTN_OK, "%s", err.msg);
        check_example(c, &e);
        sum_T += e.T;
    }
    attn_example e;
    FUZZ_CHECK(attn_dataset_example(ds, attn_dataset_examples(ds), &e, &err) == ATTN_EINVAL, "past the end");
    if (gives_something && attn_dataset_size(ds) == 1)
        FUZZ_CHECK(sum_T == attn_dataset_tokens(ds), "chunks hold %lld tokens of %lld", (long long)sum_T,
                   (long long)attn_dataset_tokens(ds));
    check_evaluate(ds, ATTN_TASK_CLASSIFY);
    check_evaluate(ds, ATTN_TASK_ENTITIES);
    check_evaluate(ds, ATTN_TASK_RELATIONS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    row r;
    memset(&r, 0, sizeof r);
    split(data, size, &r);
    int ents_given = r.field[2] != NULL, rels_given = r.field[3] != NULL;
    if ((ents_given && !read_items(r.field[2], r.len[2], 0, &r)) ||
        (rels_given && !read_items(r.field[3], r.len[3], 1, &r))) {
        free_row(&r);
        return 0;
    }
    if (r.field[1] && r.len[1] > 0) {
        r.label = strndup(r.field[1], r.len[1]);
        if (!r.label) abort();
    }
    attn_dataset *ds = attn_dataset_new(&model->cfg);
    if (!ds) abort();
    attn_error err;
    err.msg[0] = 0;
    int rc = attn_dataset_add(ds, r.field[0], r.len[0], r.label, ents_given ? r.ents : NULL, r.n_ents,
                              rels_given ? r.rels : NULL, r.n_rels, &err);
    if (getenv("FUZZ_VERBOSE"))   /* for checking seeds: what did the row give? */
        fprintf(stderr, "add: %s; %zu examples\n", rc == ATTN_OK ? "ok" : err.msg,
                attn_dataset_examples(ds));
    if (rc == ATTN_OK) {
        FUZZ_CHECK(attn_dataset_size(ds) + attn_dataset_skipped(ds) == 1, "size %zu skipped %zu",
                   attn_dataset_size(ds), attn_dataset_skipped(ds));
        check_dataset(ds, r.label || ents_given);
    } else {
        FUZZ_CHECK(err.msg[0] != 0, "error %d without a message", rc);
        FUZZ_CHECK(attn_dataset_size(ds) == 0 && attn_dataset_examples(ds) == 0, "a failed add counted");
    }
    attn_dataset_free(ds);
    free_row(&r);
    return 0;
}
