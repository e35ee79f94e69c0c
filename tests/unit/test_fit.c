/* test_fit.c: datasets, evaluation and the epoch loop (train_data.c, train_eval.c, fit.c).
 *   - every dataset error, with its exact message; nothing is stored on an error
 *   - a long text is cut into max_len chunks: tags sliced (an entity cut at an edge restarts
 *     with B-), relations kept only between spans inside one chunk, the label on every chunk
 *   - evaluation on models whose predictions are forced by their biases (every text
 *     "positive", every token a one-token PER, every pair Work_For): the metrics are known
 *   - end to end: a classifier reaches dev accuracy 1.0, a tagger of "Mr <Name>" reaches dev
 *     F1 >= 0.9 on unseen names, a relation model's loss falls
 *   - the same seed gives the same parameters; patience, time limit, the epoch callback and
 *     should_stop end training as documented, leaving the best (or initial) parameters
 *   - word vectors into the norm table, or as the subword table; training with a subword
 *     feature; the vocabulary of text files */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "features.h"
#include "fit.h"
#include "layers.h"
#include "pipeline.h"
#include "subword.h"
#include "tokenizer.h"
#include "wordvec.h"

static const char *FEATURES =
    "\"features\": [{\"kind\": \"norm\", \"buckets\": 2000, \"dim\": 16},"
    " {\"kind\": \"prefix\", \"buckets\": 500, \"dim\": 8, \"affix\": 3},"
    " {\"kind\": \"suffix\", \"buckets\": 500, \"dim\": 8, \"affix\": 3},"
    " {\"kind\": \"shape\", \"buckets\": 100, \"dim\": 8}]";

static const char *ALL_TASKS =
    "\"tasks\": [\"classify\", \"entities\", \"relations\"],"
    " \"classify\": {\"labels\": [\"negative\", \"positive\"]},"
    " \"entities\": {\"labels\": [\"PER\", \"LOC\"]},"
    " \"relations\": {\"labels\": [\"Work_For\", \"Kill\"], \"hidden\": 16, \"type_dim\": 4}";

static const char *CLASSIFY =
    "\"tasks\": [\"classify\"], \"classify\": {\"labels\": [\"negative\", \"positive\"]}";

static const char *ENTITIES = "\"tasks\": [\"entities\"], \"entities\": {\"labels\": [\"PER\"]}";

static const char *ENT_REL =
    "\"tasks\": [\"entities\", \"relations\"], \"entities\": {\"labels\": [\"PER\", \"ORG\"]},"
    " \"relations\": {\"labels\": [\"Works_For\"], \"hidden\": 16, \"type_dim\": 4}";

static attn_model *new_model(const char *tasks, int dim, int max_len, uint64_t seed) {
    char config[4096];
    snprintf(config, sizeof config, "{\"format\": 1, \"dim\": %d, \"layers\": 1, \"heads\": 2,"
             " \"ffn\": %d, \"max_len\": %d, %s, %s}", dim, 2 * dim, max_len, FEATURES, tasks);
    attn_model *m = NULL;
    attn_error err;
    if (attn_train_model_new(config, strlen(config), seed, &m, &err))
        fprintf(stderr, "model: %s\n", err.msg);
    return m;
}

static void set_param(attn_model *m, const char *key, size_t index, float value) {
    const int t = attn_model_tensor_index(m, key);
    if (t < 0 || index >= m->specs[t].size) {
        fprintf(stderr, "no element %zu of %s\n", index, key);
        exit(1);
    }
    m->params[m->specs[t].offset + index] = value;
}

static int add(attn_dataset *ds, const char *text, const char *label, const attn_gold_entity *e,
               int ne, const attn_gold_relation *r, int nr, attn_error *err) {
    return attn_dataset_add(ds, text, strlen(text), label, e, ne, r, nr, err);
}

/* The call fails with ATTN_EINVAL and exactly this message, storing nothing. */
#define CHECK_ERROR(ds, call, expected) do { \
    attn_error err_; err_.msg[0] = 0; \
    const size_t n_before_ = attn_dataset_size(ds), x_before_ = attn_dataset_examples(ds); \
    const int rc_ = (call); \
    CHECK_MSG(rc_ == ATTN_EINVAL && !strcmp(err_.msg, expected), "rc %d, got \"%s\"", rc_, \
              err_.msg); \
    CHECK(attn_dataset_size(ds) == n_before_ && attn_dataset_examples(ds) == x_before_); \
} while (0)

/* ---- dataset errors ---- */

static void test_dataset_errors(void) {
    attn_model *m = new_model(ALL_TASKS, 16, 8, 1);
    attn_dataset *ds = attn_dataset_new(&m->cfg);
    const char *text = "John met Mary in Paris";   /* 22 characters */
    attn_gold_entity e[3] = { { 0, 4, "PER" }, { 9, 13, "PER" }, { 17, 22, "LOC" } };
    attn_gold_relation r[2] = { { 0, 1, "Work_For" }, { 1, 0, "Kill" } };
    attn_error err;
    CHECK(add(ds, text, "positive", e, 3, r, 2, &err) == ATTN_OK);
    CHECK(attn_dataset_size(ds) == 1 && attn_dataset_examples(ds) == 1);

    CHECK_ERROR(ds, add(ds, text, "neutral", e, 3, r, 2, &err_),
                "label 'neutral' is not one of the model's labels (negative, positive)");
    attn_gold_entity bad[3] = { e[0], e[1], { 17, 22, "ORG" } };
    CHECK_ERROR(ds, add(ds, text, NULL, bad, 3, NULL, 0, &err_),
                "entity 2: label 'ORG' is not one of the model's entity labels (PER, LOC)");
    bad[2] = (attn_gold_entity){ 17, 22, NULL };
    CHECK_ERROR(ds, add(ds, text, NULL, bad, 3, NULL, 0, &err_), "entity 2: no label given");
    bad[2] = (attn_gold_entity){ 10, 8, "LOC" };
    CHECK_ERROR(ds, add(ds, text, NULL, bad, 3, NULL, 0, &err_),
                "entity 2 [10, 8): end before start");
    bad[2] = (attn_gold_entity){ 5, 5, "LOC" };
    CHECK_ERROR(ds, add(ds, text, NULL, bad, 3, NULL, 0, &err_), "entity 2 [5, 5): empty");
    bad[2] = (attn_gold_entity){ -1, 3, "LOC" };
    CHECK_ERROR(ds, add(ds, text, NULL, bad, 3, NULL, 0, &err_),
                "entity 2 [-1, 3): start before 0");
    bad[2] = (attn_gold_entity){ 17, 23, "LOC" };
    CHECK_ERROR(ds, add(ds, text, NULL, bad, 3, NULL, 0, &err_),
                "entity 2 [17, 23): past the end of the text (22 characters)");
    bad[2] = (attn_gold_entity){ 8, 9, "LOC" };      /* the space between "met" and "Mary" */
    CHECK_ERROR(ds, add(ds, text, NULL, bad, 3, NULL, 0, &err_),
                "entity 2 [8, 9): covers no token (only whitespace)");
    bad[2] = (attn_gold_entity){ 2, 7, "LOC" };      /* "hn me" shares tokens with entity 0 */
    CHECK_ERROR(ds, add(ds, text, NULL, bad, 3, NULL, 0, &err_), "entity 2 overlaps entity 0");
    /* disjoint in characters, but both snap outward to the token "John" */
    attn_gold_entity snap[2] = { { 2, 4, "PER" }, { 0, 1, "LOC" } };
    CHECK_ERROR(ds, add(ds, text, NULL, snap, 2, NULL, 0, &err_), "entity 1 overlaps entity 0");
    attn_gold_relation br[2] = { r[0], { 5, 0, "Kill" } };
    CHECK_ERROR(ds, add(ds, text, NULL, e, 3, br, 2, &err_),
                "relation 1: head 5 out of range (3 entities)");
    br[1] = (attn_gold_relation){ 0, -1, "Kill" };
    CHECK_ERROR(ds, add(ds, text, NULL, e, 3, br, 2, &err_),
                "relation 1: tail -1 out of range (3 entities)");
    br[1] = (attn_gold_relation){ 2, 2, "Kill" };
    CHECK_ERROR(ds, add(ds, text, NULL, e, 3, br, 2, &err_),
                "relation 1: head and tail are the same entity (2)");
    br[1] = (attn_gold_relation){ 0, 1, "Kill" };
    CHECK_ERROR(ds, add(ds, text, NULL, e, 3, br, 2, &err_),
                "relation 1: pair (0, 1) already given by relation 0");
    br[1] = (attn_gold_relation){ 1, 2, "Live_In" };
    CHECK_ERROR(ds, add(ds, text, NULL, e, 3, br, 2, &err_),
                "relation 1: label 'Live_In' is not one of the model's relation labels "
                "(Work_For, Kill)");
    CHECK_ERROR(ds, add(ds, text, NULL, NULL, 0, r, 2, &err_),
                "relations are given without entities");
    CHECK_ERROR(ds, add(ds, "   ", NULL, e, 1, NULL, 0, &err_),
                "entity 0 [0, 4): past the end of the text (3 characters)");
    attn_gold_entity ws = { 0, 2, "PER" };
    CHECK_ERROR(ds, add(ds, "  \t", NULL, &ws, 1, NULL, 0, &err_),
                "entity 0 [0, 2): covers no token (only whitespace)");

    /* a text with no tokens is skipped, not stored */
    CHECK(add(ds, " \n\t ", "negative", NULL, 0, NULL, 0, &err) == ATTN_OK);
    CHECK(attn_dataset_size(ds) == 1 && attn_dataset_skipped(ds) == 1);
    /* characters, not bytes: "Zoë" is 3 characters, 4 bytes */
    attn_gold_entity zoe = { 4, 7, "PER" };
    CHECK(add(ds, "met Zoë", NULL, &zoe, 1, NULL, 0, &err) == ATTN_OK);
    /* a text giving nothing for any task is stored but trains nothing */
    CHECK(add(ds, "no answers here", NULL, NULL, 0, NULL, 0, &err) == ATTN_OK);
    CHECK(attn_dataset_size(ds) == 3 && attn_dataset_examples(ds) == 2);
    attn_example ex;
    CHECK(attn_dataset_example(ds, 1, &ex, &err) == ATTN_OK);
    CHECK(ex.T == 2 && ex.label == -1 && ex.tags && ex.tags[0] == 0 && ex.tags[1] == 1);
    CHECK(ex.spans == NULL);                       /* no relations given: none trained */
    CHECK(attn_dataset_example(ds, 2, &ex, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "example 2 out of range (2 examples)"));
    attn_dataset_free(ds);

    /* answers for tasks the model lacks */
    attn_model *tagger = new_model(ENTITIES, 16, 8, 1);
    ds = attn_dataset_new(&tagger->cfg);
    CHECK_ERROR(ds, add(ds, text, "positive", NULL, 0, NULL, 0, &err_),
                "a label is given but the model has no classify task");
    CHECK_ERROR(ds, add(ds, text, NULL, e, 1, r, 0, &err_),
                "relations are given but the model has no relations task");
    attn_dataset_free(ds);
    ds = attn_dataset_new(&m->cfg);
    attn_model_free(tagger);
    tagger = new_model(CLASSIFY, 16, 8, 1);
    attn_dataset *cds = attn_dataset_new(&tagger->cfg);
    CHECK_ERROR(cds, add(cds, text, NULL, e, 1, NULL, 0, &err_),
                "entities are given but the model has no entities task");
    /* a dataset of another config is refused by evaluate and fit */
    CHECK(add(ds, text, "positive", e, 3, r, 2, &err) == ATTN_OK);
    attn_eval_result res;
    CHECK(attn_evaluate(tagger, ds, ATTN_TASK_CLASSIFY, NULL, NULL, &res, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "evaluate: the dataset was built for another config (tasks, max_len, "
                           "features, gazetteer lists or labels differ from the model's)"));
    CHECK(attn_evaluate(m, ds, ATTN_TASK_CLASSIFY, NULL, NULL, &res, &err) == ATTN_OK);
    attn_eval_result_free(&res);
    CHECK(attn_evaluate(tagger, cds, ATTN_TASK_ENTITIES, NULL, NULL, &res, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "evaluate: the model has no entities task"));
    attn_fit_opts o = attn_fit_defaults();
    CHECK(attn_fit(tagger, cds, NULL, &o, NULL, NULL, NULL, NULL, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "fit: the training set has no examples"));
    o.batch_size = 0;
    CHECK(attn_fit(m, ds, NULL, &o, NULL, NULL, NULL, NULL, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "fit: batch_size 0, expected 1..65536"));
    attn_dataset_free(cds);
    attn_dataset_free(ds);
    attn_model_free(tagger);
    attn_model_free(m);
}

/* ---- chunking ---- */

static void test_chunking(void) {
    attn_model *m = new_model(ALL_TASKS, 16, 8, 1);
    attn_dataset *ds = attn_dataset_new(&m->cfg);
    char text[256];
    int64_t start[20], end[20];
    size_t n = 0;
    for (int t = 0; t < 20; t++) {                  /* "w0 w1 ... w19" */
        if (t) text[n++] = ' ';
        start[t] = (int64_t)n;
        n += (size_t)sprintf(text + n, "w%d", t);
        end[t] = (int64_t)n;
    }
    /* E1 (tokens 6..9) crosses the edge at token 8 */
    const attn_gold_entity e[5] = { { start[1], end[2], "PER" }, { start[6], end[9], "LOC" },
                                    { start[10], end[11], "PER" }, { start[13], end[13], "PER" },
                                    { start[17], end[17], "LOC" } };
    const attn_gold_relation r[3] = { { 0, 1, "Work_For" }, { 2, 3, "Kill" },
                                      { 0, 4, "Work_For" } };
    attn_error err;
    CHECK(attn_dataset_add(ds, text, n, "positive", e, 5, r, 3, &err) == ATTN_OK);
    CHECK(attn_dataset_examples(ds) == 3 && attn_dataset_tokens(ds) == 20);
    const int want_T[3] = { 8, 8, 4 };
    const int want_tags[20] = { 0, 1, 2, 0, 0, 0, 3, 4,   3, 4, 1, 2, 0, 1, 0, 0,   0, 3, 0, 0 };
    const int want_spans[3] = { 1, 2, 1 }, want_rels[3] = { 0, 1, 0 };
    int tags_ok = 1, rows_ok = 1;
    attn_example ex[3];
    for (int c = 0; c < 3; c++) {
        CHECK(attn_dataset_example(ds, (size_t)c, &ex[c], &err) == ATTN_OK);
        CHECK(ex[c].T == want_T[c] && ex[c].label == 1);
        CHECK(ex[c].n_spans == want_spans[c] && ex[c].n_rels == want_rels[c]);
        for (int t = 0; t < ex[c].T; t++) {
            tags_ok &= ex[c].tags[t] == want_tags[8 * c + t];
            uint32_t rows[4];
            char word[8];
            const int len = sprintf(word, "w%d", 8 * c + t);
            attn_token_features(word, (size_t)len, m->cfg.features, 4, rows);
            rows_ok &= !memcmp(rows, ex[c].rows + 4 * t, sizeof rows);
        }
    }
    CHECK(tags_ok);
    CHECK(rows_ok);
    /* chunk 0: E0 only (E1 is cut); chunk 1: E2, E3 and their relation; chunk 2: E4 */
    CHECK(ex[0].spans[0].start == 1 && ex[0].spans[0].end == 3 && ex[0].spans[0].label == 0);
    CHECK(ex[1].spans[0].start == 2 && ex[1].spans[0].end == 4 && ex[1].spans[0].label == 0);
    CHECK(ex[1].spans[1].start == 5 && ex[1].spans[1].end == 6);
    CHECK(ex[1].rels[0].head == 0 && ex[1].rels[0].tail == 1 && ex[1].rels[0].label == 1);
    CHECK(ex[2].spans[0].start == 1 && ex[2].spans[0].end == 2 && ex[2].spans[0].label == 1);
    CHECK(ex[2].rels != NULL);                     /* given, none: trained as all "none" */

    /* exactly max_len tokens: one example */
    CHECK(attn_dataset_add(ds, text, (size_t)end[7], "negative", NULL, 0, NULL, 0, &err) == 0);
    CHECK(attn_dataset_examples(ds) == 4);
    CHECK(attn_dataset_example(ds, 3, &ex[0], &err) == 0 && ex[0].T == 8 && ex[0].label == 0);
    CHECK(ex[0].tags == NULL && ex[0].spans == NULL);
    attn_dataset_free(ds);
    attn_model_free(m);
}

/* ---- evaluation with forced predictions ---- */

static const attn_eval_row *row(const attn_eval_result *r, const char *label) {
    for (int i = 0; i < r->n; i++) if (!strcmp(r->rows[i].label, label)) return &r->rows[i];
    return NULL;
}

#define CHECK_ROW(res, name, p, r, f, sup, pred) do { \
    const attn_eval_row *row_ = row(res, name); \
    CHECK_MSG(row_ != NULL, "no row %s", name); \
    if (row_) { \
        CHECK_NEAR(row_->precision, p, 1e-12); CHECK_NEAR(row_->recall, r, 1e-12); \
        CHECK_NEAR(row_->f1, f, 1e-12); \
        CHECK(row_->support == (sup) && row_->predicted == (pred)); \
    } \
} while (0)

static void test_eval_classify(void) {
    attn_model *m = new_model(CLASSIFY, 16, 8, 3);
    set_param(m, "cls.b", 1, 50.0f);                /* every text is "positive" */
    attn_dataset *ds = attn_dataset_new(&m->cfg);
    attn_error err;
    CHECK(add(ds, "what a fine day", "positive", NULL, 0, NULL, 0, &err) == 0);
    CHECK(add(ds, "I liked it", "positive", NULL, 0, NULL, 0, &err) == 0);
    CHECK(add(ds, "a long and happy film about dogs and cats", "positive", NULL, 0, NULL, 0,
              &err) == 0);
    CHECK(add(ds, "awful", "negative", NULL, 0, NULL, 0, &err) == 0);
    CHECK(add(ds, "no label: not evaluated", NULL, NULL, 0, NULL, 0, &err) == 0);
    attn_eval_result res;
    CHECK(attn_evaluate(m, ds, ATTN_TASK_CLASSIFY, NULL, NULL, &res, &err) == ATTN_OK);
    CHECK(res.n == 4);
    CHECK(res.n == 4 && !strcmp(res.rows[0].label, "negative") &&
          !strcmp(res.rows[1].label, "positive") && !strcmp(res.rows[2].label, "accuracy") &&
          !strcmp(res.rows[3].label, "macro"));
    CHECK_NEAR(res.accuracy, 0.75, 1e-12);
    CHECK_NEAR(res.headline, 0.75, 1e-12);
    CHECK_ROW(&res, "negative", 0.0, 0.0, 0.0, 1, 0);
    CHECK_ROW(&res, "positive", 0.75, 1.0, 6.0 / 7.0, 3, 4);
    CHECK_ROW(&res, "accuracy", 0.75, 0.75, 0.75, 4, 4);
    CHECK_ROW(&res, "macro", 0.375, 0.5, 3.0 / 7.0, 4, 4);
    attn_eval_result_free(&res);
    attn_dataset_free(ds);
    attn_model_free(m);
}

static void test_eval_entities_relations(void) {
    attn_model *m = new_model(ALL_TASKS, 16, 16, 3);
    set_param(m, "tag.b", 1, 20.0f);               /* every token B-PER: one-token entities */
    set_param(m, "rel.out.b", 1, 30.0f);           /* every classified pair Work_For */
    attn_dataset *ds = attn_dataset_new(&m->cfg);
    attn_error err;
    const attn_gold_entity e1[2] = { { 0, 4, "PER" }, { 9, 13, "PER" } };
    const attn_gold_relation r1[2] = { { 0, 1, "Work_For" }, { 1, 0, "Kill" } };
    const attn_gold_entity e2[1] = { { 0, 5, "LOC" } };
    CHECK(add(ds, "John met Mary", NULL, e1, 2, r1, 2, &err) == 0);
    CHECK(add(ds, "Paris is big", NULL, e2, 1, NULL, 0, &err) == 0);
    CHECK(add(ds, "not annotated for entities", "negative", NULL, 0, NULL, 0, &err) == 0);
    attn_eval_result res;
    /* entities: PER tp 2 (John, Mary) fp 4 (met, Paris, is, big); LOC fn 1 */
    CHECK(attn_evaluate(m, ds, ATTN_TASK_ENTITIES, NULL, NULL, &res, &err) == ATTN_OK);
    CHECK(res.n == 4 && !strcmp(res.rows[0].label, "PER") && !strcmp(res.rows[1].label, "LOC")
          && !strcmp(res.rows[2].label, "micro") && !strcmp(res.rows[3].label, "macro"));
    CHECK(isnan(res.accuracy));
    CHECK_NEAR(res.headline, 4.0 / 9.0, 1e-12);
    CHECK_ROW(&res, "PER", 1.0 / 3.0, 1.0, 0.5, 2, 6);
    CHECK_ROW(&res, "LOC", 0.0, 0.0, 0.0, 1, 0);
    CHECK_ROW(&res, "micro", 1.0 / 3.0, 2.0 / 3.0, 4.0 / 9.0, 3, 6);
    CHECK_ROW(&res, "macro", 1.0 / 6.0, 0.5, 0.25, 3, 6);
    attn_eval_result_free(&res);
    /* relations (first text only: the second gives none): the 6 ordered pairs of John, met,
     * Mary are all Work_For; right: John -> Mary; Mary -> John Kill is missed */
    CHECK(attn_evaluate(m, ds, ATTN_TASK_RELATIONS, NULL, NULL, &res, &err) == ATTN_OK);
    CHECK(res.n == 4 && !strcmp(res.rows[0].label, "Work_For") &&
          !strcmp(res.rows[1].label, "Kill"));
    CHECK_ROW(&res, "Work_For", 1.0 / 6.0, 1.0, 2.0 / 7.0, 1, 6);
    CHECK_ROW(&res, "Kill", 0.0, 0.0, 0.0, 1, 0);
    CHECK_ROW(&res, "micro", 1.0 / 6.0, 0.5, 0.25, 2, 6);
    CHECK_NEAR(res.headline, 0.25, 1e-12);
    attn_eval_result_free(&res);
    /* a relation is wrong when an entity type is: with tag.b forcing LOC, nothing is right */
    set_param(m, "tag.b", 1, 0.0f);
    set_param(m, "tag.b", 3, 20.0f);
    CHECK(attn_evaluate(m, ds, ATTN_TASK_RELATIONS, NULL, NULL, &res, &err) == ATTN_OK);
    CHECK_ROW(&res, "micro", 0.0, 0.0, 0.0, 2, 6);
    attn_eval_result_free(&res);
    attn_dataset_free(ds);
    attn_model_free(m);
}

/* ---- synthetic data ---- */

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static const char *FILLER[] = { "the", "film", "was", "really", "and", "plot", "story", "quite",
                                "actors", "music", "this", "very", "overall", "ending" };
static const char *GOOD[] = { "good", "great", "excellent", "nice" };
static const char *BAD[] = { "bad", "awful", "terrible", "poor" };

/* n sentiment texts: filler words with one sentiment word at a random place. */
static attn_dataset *sentiment_set(const attn_model *m, int n, uint64_t seed) {
    attn_dataset *ds = attn_dataset_new(&m->cfg);
    attn_error err;
    for (int i = 0; i < n; i++) {
        char text[256];
        size_t len = 0;
        const int positive = i % 2, words = 4 + (int)(lcg(&seed) % 5);
        const int at = (int)(lcg(&seed) % (uint64_t)words);
        for (int w = 0; w < words; w++) {
            const char *word = w == at ? (positive ? GOOD : BAD)[lcg(&seed) % 4]
                                       : FILLER[lcg(&seed) % 14];
            len += (size_t)sprintf(text + len, "%s%s", w ? " " : "", word);
        }
        if (attn_dataset_add(ds, text, len, positive ? "positive" : "negative", NULL, 0, NULL,
                             0, &err))
            fprintf(stderr, "sentiment: %s\n", err.msg);
    }
    return ds;
}

static const char *SYLLABLES[] = { "ka", "ro", "ven", "mi", "lo", "tar", "bel", "su", "den",
                                   "ga", "mor", "li", "ton", "pe", "ras", "wi", "nel", "do" };
static const char *PLACES[] = { "London", "Paris", "Leeds", "Bristol", "York" };
static const char *VERBS[] = { "met", "called", "visited", "saw" };

/* A made-up capitalised name of 2 or 3 syllables ("Kaven", "Tarbelli"): never memorised. */
static int made_up_name(char *out, uint64_t *seed) {
    const int n = 2 + (int)(lcg(seed) % 2);
    int len = 0;
    for (int i = 0; i < n; i++) len += sprintf(out + len, "%s", SYLLABLES[lcg(seed) % 18]);
    out[0] = (char)(out[0] - 'a' + 'A');
    return len;
}

/* "Mr <Name> <verb> Mr <Name> in <Place> ." or "Mr <Name> <verb> the office in <Place> .":
 * PER = a capitalised name after "Mr" (places are capitalised too, and not entities). */
static attn_dataset *names_set(const attn_model *m, int n, uint64_t seed) {
    attn_dataset *ds = attn_dataset_new(&m->cfg);
    attn_error err;
    for (int i = 0; i < n; i++) {
        char text[256], a[32], b[32];
        attn_gold_entity e[2];
        int ne = 0;
        size_t len = 0;
        const int la = made_up_name(a, &seed), lb = made_up_name(b, &seed);
        const char *place = PLACES[lcg(&seed) % 5];
        const char *verb = VERBS[lcg(&seed) % 4];
        len += (size_t)sprintf(text + len, "Mr ");
        e[ne++] = (attn_gold_entity){ (int64_t)len, (int64_t)len + la, "PER" };
        len += (size_t)sprintf(text + len, "%s %s ", a, verb);
        if (i % 2) {
            len += (size_t)sprintf(text + len, "Mr ");
            e[ne++] = (attn_gold_entity){ (int64_t)len, (int64_t)len + lb, "PER" };
            len += (size_t)sprintf(text + len, "%s", b);
        } else {
            len += (size_t)sprintf(text + len, "the office");
        }
        len += (size_t)sprintf(text + len, " in %s .", place);
        if (attn_dataset_add(ds, text, len, NULL, e, ne, NULL, 0, &err))
            fprintf(stderr, "names: %s\n", err.msg);
    }
    return ds;
}

static attn_fit_opts small_opts(void) {
    attn_fit_opts o = attn_fit_defaults();
    o.train.lr = 3e-3f;
    o.train.warmup_steps = 2;
    o.train.weight_decay = 0.0f;
    o.batch_size = 4;
    o.max_epochs = 8;
    return o;
}

typedef struct epoch_log {
    attn_epoch_report r[64];
    int n;
    int stop_after;            /* on_epoch returns 1 after this many epochs (0: never) */
    float *snapshot;           /* params copied here when an epoch is the best */
    const attn_model *m;
    int steps, stop_at_step;   /* should_stop: fires at this call count (0: never) */
} epoch_log;

static int log_epoch(const attn_epoch_report *r, void *user) {
    epoch_log *l = user;
    if (l->n < 64) l->r[l->n++] = *r;
    if (l->snapshot && r->is_best)
        memcpy(l->snapshot, l->m->params, l->m->n_params * sizeof(float));
    return l->stop_after && l->n >= l->stop_after;
}

static int stop_at(void *user) {
    epoch_log *l = user;
    return l->stop_at_step && ++l->steps >= l->stop_at_step;
}

static void test_fit_classify(void) {
    attn_model *m = new_model(CLASSIFY, 32, 16, 7);
    attn_dataset *train = sentiment_set(m, 64, 11), *dev = sentiment_set(m, 24, 99);
    attn_fit_opts o = small_opts();
    o.batch_size = 8;
    o.max_epochs = 30;
    o.patience = 5;
    o.train.lr = 1e-2f;
    o.train.word_dropout = 0.1f;
    o.train.dropout_embed = 0.1f;
    epoch_log log = { .m = m };
    attn_epoch_report best;
    attn_error err;
    int rc = attn_fit(m, train, dev, &o, log_epoch, NULL, &log, &best, &err);
    CHECK_MSG(rc == ATTN_OK, "%s", err.msg);
    CHECK_NEAR(best.dev_metric, 1.0, 0.0);
    CHECK(!strcmp(best.metric_name, "accuracy"));
    CHECK(log.n >= 1 && log.r[0].epoch == 1 && log.r[0].tokens == attn_dataset_tokens(train));
    CHECK(log.r[log.n - 1].train_loss < log.r[0].train_loss);
    /* patience 3: training ended 3 epochs after the best (accuracy cannot exceed 1.0) or at
     * max_epochs */
    CHECK(log.n == o.max_epochs || log.n == best.epoch + o.patience);
    double best_so_far = -1.0;     /* is_best exactly when the dev metric strictly improves */
    int flags_ok = 1;
    for (int i = 0; i < log.n; i++) {
        flags_ok &= log.r[i].is_best == (log.r[i].dev_metric > best_so_far);
        if (log.r[i].is_best) best_so_far = log.r[i].dev_metric;
    }
    CHECK(flags_ok);
    CHECK(log.r[best.epoch - 1].is_best && log.r[best.epoch - 1].dev_metric == 1.0);
    for (int i = best.epoch; i < log.n; i++) CHECK(!log.r[i].is_best);
    /* the model holds the best epoch's parameters: evaluating again gives its metric */
    attn_eval_result res;
    CHECK(attn_evaluate(m, dev, ATTN_TASK_CLASSIFY, NULL, NULL, &res, &err) == ATTN_OK);
    CHECK_NEAR(res.accuracy, 1.0, 0.0);
    attn_eval_result_free(&res);
    printf("classify: %d epochs, best %d (dev accuracy %.3f), loss %.4f -> %.4f\n", log.n,
           best.epoch, best.dev_metric, log.r[0].train_loss, log.r[log.n - 1].train_loss);
    attn_dataset_free(train);
    attn_dataset_free(dev);
    attn_model_free(m);
}

static void test_fit_entities(void) {
    attn_model *m = new_model(ENTITIES, 32, 16, 5);
    attn_dataset *train = names_set(m, 96, 3), *dev = names_set(m, 24, 4);
    attn_fit_opts o = small_opts();
    o.batch_size = 8;
    o.train.word_dropout = 0.2f;
    o.max_epochs = 20;
    o.patience = 5;
    o.train.lr = 5e-3f;
    attn_epoch_report best;
    attn_error err;
    epoch_log log = { .m = m };
    int rc = attn_fit(m, train, dev, &o, log_epoch, NULL, &log, &best, &err);
    CHECK_MSG(rc == ATTN_OK, "%s", err.msg);
    CHECK_MSG(best.dev_metric >= 0.9, "dev F1 %.3f", best.dev_metric);
    CHECK(!strcmp(best.metric_name, "entity_f1"));
    printf("entities: %d epochs, best %d (dev F1 %.3f)\n", log.n, best.epoch, best.dev_metric);
    attn_dataset_free(train);
    attn_dataset_free(dev);
    attn_model_free(m);
}

static const char *PEOPLE[] = { "Smith", "Jones", "Brown", "Taylor", "Wilson", "Davies" };
static const char *ORGS[] = { "Acme", "Initech", "Globex", "Umbrella" };

static void test_fit_relations(void) {
    attn_model *m = new_model(ENT_REL, 32, 16, 9);
    attn_dataset *train = attn_dataset_new(&m->cfg);
    uint64_t seed = 17;
    attn_error err;
    for (int i = 0; i < 24; i++) {       /* "<Person> works for <Org> ." / "<Person> visited <Org> ." */
        const char *p = PEOPLE[lcg(&seed) % 6], *org = ORGS[lcg(&seed) % 4];
        char text[128];
        const int works = i % 2;
        const int len = sprintf(text, "%s %s %s .", p, works ? "works for" : "visited", org);
        const int64_t os = (int64_t)(strlen(p) + (works ? 11 : 9));
        const attn_gold_entity e[2] = { { 0, (int64_t)strlen(p), "PER" },
                                        { os, os + (int64_t)strlen(org), "ORG" } };
        const attn_gold_relation r = { 0, 1, "Works_For" };
        CHECK(attn_dataset_add(train, text, (size_t)len, NULL, e, 2, &r, works, &err) == 0);
    }
    attn_fit_opts o = small_opts();
    o.max_epochs = 6;
    epoch_log log = { .m = m };
    attn_epoch_report best;
    int rc = attn_fit(m, train, NULL, &o, log_epoch, NULL, &log, &best, &err);
    CHECK_MSG(rc == ATTN_OK, "%s", err.msg);
    CHECK(log.n == 6 && best.epoch == 6 && isnan(best.dev_metric));
    CHECK(!strcmp(best.metric_name, "relation_f1"));
    CHECK_MSG(log.r[5].train_loss < 0.6 * log.r[0].train_loss, "loss %g -> %g",
              log.r[0].train_loss, log.r[5].train_loss);
    for (int i = 0; i < log.n; i++) CHECK(log.r[i].is_best && isnan(log.r[i].dev_metric));
    attn_eval_result res;
    CHECK(attn_evaluate(m, train, ATTN_TASK_RELATIONS, NULL, NULL, &res, &err) == ATTN_OK);
    printf("relations: loss %.3f -> %.3f, train relation F1 %.3f\n", log.r[0].train_loss,
           log.r[5].train_loss, res.headline);
    attn_eval_result_free(&res);
    attn_dataset_free(train);
    attn_model_free(m);
}

/* ---- determinism and stopping ---- */

static attn_model *fit_once(uint64_t seed, int threads, const attn_dataset *train,
                            const attn_dataset *dev) {
    attn_model *m = new_model(CLASSIFY, 32, 16, 7);
    attn_fit_opts o = small_opts();
    o.max_epochs = 2;
    o.train.seed = seed;
    o.train.threads = threads;
    o.train.dropout_embed = 0.1f;
    attn_error err;
    if (attn_fit(m, train, dev, &o, NULL, NULL, NULL, NULL, &err)) {
        fprintf(stderr, "fit: %s\n", err.msg);
        attn_model_free(m);
        return NULL;
    }
    return m;
}

static int same_params(const attn_model *a, const attn_model *b) {
    return a && b && a->n_params == b->n_params &&
           !memcmp(a->params, b->params, a->n_params * sizeof(float));
}

/* With opts.ema, the kept parameters are the moving average of the steps' parameters,
 * exactly as defined in fit.h: replayed here step by step with a trainer of its own. */
static void test_ema(void) {
    attn_model *m = new_model(CLASSIFY, 32, 16, 7), *replay = new_model(CLASSIFY, 32, 16, 7);
    attn_dataset *one = sentiment_set(m, 1, 11);
    attn_fit_opts o = small_opts();
    o.max_epochs = 3;
    o.batch_size = 1;
    o.ema = 0.9;
    attn_error err;
    CHECK_MSG(attn_fit(m, one, NULL, &o, NULL, NULL, NULL, NULL, &err) == ATTN_OK, "%s", err.msg);

    attn_train_opts to = o.train;
    to.total_steps = 3;                  /* as fit sets it: 1 step an epoch x 3 epochs */
    attn_trainer *tr = NULL;
    attn_example ex;
    CHECK(attn_trainer_new(replay, &to, &tr, &err) == ATTN_OK);
    CHECK(attn_dataset_example(one, 0, &ex, &err) == ATTN_OK);
    const size_t n = replay->n_params;
    float *avg = malloc(n * sizeof *avg);
    memcpy(avg, replay->params, n * sizeof *avg);
    for (int t = 1; t <= 3; t++) {
        CHECK(attn_trainer_step(tr, &ex, 1, NULL, &err) == ATTN_OK);
        const double warm = (1.0 + t) / (10.0 + t);
        const float w = (float)(1.0 - (0.9 < warm ? 0.9 : warm));
        for (size_t i = 0; i < n; i++) avg[i] += w * (replay->params[i] - avg[i]);
    }
    CHECK(!memcmp(m->params, avg, n * sizeof *avg));
    CHECK(memcmp(m->params, replay->params, n * sizeof *avg) != 0);   /* not the raw ones */

    o.ema = 1.0;
    CHECK(attn_fit(m, one, NULL, &o, NULL, NULL, NULL, NULL, &err) == ATTN_EINVAL);
    CHECK(strstr(err.msg, "ema 1, expected in [0, 1)") != NULL);
    free(avg);
    attn_trainer_free(tr);
    attn_dataset_free(one);
    attn_model_free(replay);
    attn_model_free(m);
}

static void test_determinism(void) {
    attn_model *ref = new_model(CLASSIFY, 32, 16, 7);
    attn_dataset *train = sentiment_set(ref, 24, 11), *dev = sentiment_set(ref, 8, 99);
    for (int threads = 1; threads <= 2; threads++) {
        attn_model *a = fit_once(1, threads, train, dev), *b = fit_once(1, threads, train, dev);
        attn_model *c = fit_once(2, threads, train, dev);
        CHECK(same_params(a, b));
        CHECK(a && c && !same_params(a, c));
        CHECK(a && !same_params(a, ref));
        attn_model_free(a);
        attn_model_free(b);
        attn_model_free(c);
    }
    attn_dataset_free(train);
    attn_dataset_free(dev);
    attn_model_free(ref);
}

static void test_stopping(void) {
    attn_model *m = new_model(CLASSIFY, 32, 16, 7);
    attn_dataset *train = sentiment_set(m, 24, 11);       /* 6 steps an epoch */
    const size_t bytes = m->n_params * sizeof(float);
    float *initial = malloc(bytes), *snapshot = malloc(bytes);
    memcpy(initial, m->params, bytes);
    attn_fit_opts o = small_opts();
    attn_error err;
    attn_epoch_report best;

    /* should_stop during epoch 1: the initial parameters come back */
    epoch_log log = { .m = m, .stop_at_step = 3, .snapshot = snapshot };
    CHECK(attn_fit(m, train, NULL, &o, log_epoch, stop_at, &log, &best, &err) == ATTN_ESTOPPED);
    CHECK(!strcmp(err.msg, "fit: stopped during epoch 1"));
    CHECK(log.n == 0 && log.steps == 3 && best.epoch == 0);
    CHECK(!memcmp(m->params, initial, bytes));
    /* ... during epoch 3 (no dev: the last completed epoch is the best): epoch 2's */
    log = (epoch_log){ .m = m, .stop_at_step = 15, .snapshot = snapshot };
    CHECK(attn_fit(m, train, NULL, &o, log_epoch, stop_at, &log, &best, &err) == ATTN_ESTOPPED);
    CHECK(log.n == 2 && best.epoch == 2 && log.r[1].is_best);
    CHECK(!memcmp(m->params, snapshot, bytes) && memcmp(m->params, initial, bytes));

    /* the epoch callback stops after epoch 2: ATTN_OK, epoch 2's parameters */
    memcpy(m->params, initial, bytes);
    log = (epoch_log){ .m = m, .stop_after = 2, .snapshot = snapshot };
    CHECK(attn_fit(m, train, NULL, &o, log_epoch, NULL, &log, &best, &err) == ATTN_OK);
    CHECK(log.n == 2 && best.epoch == 2 && !memcmp(m->params, snapshot, bytes));

    /* time limit: checked between steps; the cut epoch is still evaluated and reported */
    memcpy(m->params, initial, bytes);
    o.time_limit = 1e-9;
    log = (epoch_log){ .m = m };
    CHECK(attn_fit(m, train, NULL, &o, log_epoch, NULL, &log, &best, &err) == ATTN_OK);
    CHECK(log.n == 1 && log.r[0].epoch == 1 && best.epoch == 1);
    CHECK(log.r[0].tokens > 0 && log.r[0].tokens < attn_dataset_tokens(train));

    /* patience: a dev set the model cannot improve on (lr tiny): stops after 1 + patience */
    memcpy(m->params, initial, bytes);
    o = small_opts();
    o.train.lr = 1e-12f;
    o.patience = 2;
    o.max_epochs = 20;
    attn_dataset *dev = sentiment_set(m, 8, 5);
    log = (epoch_log){ .m = m };
    CHECK(attn_fit(m, train, dev, &o, log_epoch, NULL, &log, &best, &err) == ATTN_OK);
    CHECK(log.n <= 20 && log.n == best.epoch + 2);
    printf("patience: %d epochs, best %d\n", log.n, best.epoch);

    /* begin / epoch / end, one epoch per call */
    memcpy(m->params, initial, bytes);
    o = small_opts();
    o.max_epochs = 2;
    attn_fit_state *f;
    CHECK(attn_fit_begin(m, train, dev, &o, &f, &err) == ATTN_OK);
    attn_epoch_report r;
    int done = 0, epochs = 0;
    while (!done && epochs < 5) {
        CHECK(attn_fit_epoch(f, NULL, NULL, &r, &done, &err) == ATTN_OK);
        CHECK(r.epoch == ++epochs && !isnan(r.dev_metric));
    }
    CHECK(epochs == 2 && done);
    CHECK(attn_fit_epoch(f, NULL, NULL, &r, &done, &err) == ATTN_EINVAL);
    attn_fit_end(f, &best);
    CHECK(best.epoch >= 1 && best.epoch <= 2);
    attn_fit_abort(NULL);
    attn_dataset_free(dev);
    free(initial);
    free(snapshot);
    attn_dataset_free(train);
    attn_model_free(m);
}

/* ---- word vectors ---- */

static void test_wordvec_init(void) {
    const char *config = "{\"format\": 1, \"tasks\": [\"classify\"], \"dim\": 8, \"layers\": 1,"
        " \"heads\": 1, \"ffn\": 8, \"max_len\": 8,"
        " \"features\": [{\"kind\": \"shape\", \"buckets\": 10, \"dim\": 2},"
        "                {\"kind\": \"norm\", \"buckets\": 5, \"dim\": 4}],"
        " \"classify\": {\"labels\": [\"a\", \"b\"]}}";
    attn_model *m = NULL;
    attn_error err;
    CHECK(attn_train_model_new(config, strlen(config), 1, &m, &err) == ATTN_OK);
    attn_wordvec wv = { .n_buckets = 97, .dim = 4, .min_n = 2, .max_n = 3 };
    wv.table = malloc(97 * 4 * sizeof(float));
    for (int i = 0; i < 97 * 4; i++) wv.table[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    const int t = attn_model_tensor_index(m, "embed.norm");
    float *table = m->params + m->specs[t].offset, before[5 * 4];
    memcpy(before, table, sizeof before);
    const char *words[] = { "the", "cat", "", "sat", "on", "mat", "dog", "a", "THE" };
    const size_t n_words = sizeof words / sizeof words[0];
    size_t n_set = 0;
    CHECK(attn_init_norm_from_wordvec(m, &wv, words, n_words, &n_set, &err) == ATTN_OK);
    /* independently: the first word reaching each bucket gives it its vector */
    const attn_feature_spec norm = {.kind = ATTN_FEAT_NORM, .n_buckets = 5, .dim = 4};
    int taken[5] = { 0 }, ok = 1;
    size_t expect_set = 0;
    for (size_t w = 0; w < n_words; w++) {
        if (!words[w][0]) continue;
        uint32_t b;
        attn_token_features(words[w], strlen(words[w]), &norm, 1, &b);
        if (taken[b]) continue;
        taken[b] = 1;
        expect_set++;
        float v[4];
        attn_wordvec_token_vector(&wv, words[w], strlen(words[w]), v);
        for (int i = 0; i < 4; i++) ok &= fabsf(table[b * 4 + i] - v[i]) < 1e-6f;
    }
    for (int b = 0; b < 5; b++)
        if (!taken[b]) ok &= !memcmp(table + b * 4, before + b * 4, 4 * sizeof(float));
    CHECK(ok);
    CHECK(n_set == expect_set && n_set >= 2 && n_set <= 5);
    wv.dim = 3;
    CHECK(attn_init_norm_from_wordvec(m, &wv, words, n_words, &n_set, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "the 'norm' table is 4 wide, the word vectors 3"));
    attn_model_free(m);
    m = new_model(CLASSIFY, 16, 8, 1);     /* norm is 16 wide here */
    wv.dim = 16;
    const char *no_norm = "{\"format\": 1, \"tasks\": [\"classify\"], \"dim\": 8, \"layers\": 1,"
        " \"heads\": 1, \"ffn\": 8, \"max_len\": 8,"
        " \"features\": [{\"kind\": \"shape\", \"buckets\": 10, \"dim\": 2}],"
        " \"classify\": {\"labels\": [\"a\", \"b\"]}}";
    attn_model_free(m);
    CHECK(attn_train_model_new(no_norm, strlen(no_norm), 1, &m, &err) == ATTN_OK);
    CHECK(attn_init_norm_from_wordvec(m, &wv, words, n_words, &n_set, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "the model has no 'norm' feature"));
    attn_model_free(m);
    free(wv.table);
}

/* A model with a subword feature: the pretrained table is copied as is, and then a word's
 * subword embedding is exactly its word vector (attn_wordvec_token_vector). */
static const char *SUBWORD_CONFIG =
    "{\"format\": 1, \"tasks\": [\"classify\"], \"dim\": 8, \"layers\": 1,"
    " \"heads\": 1, \"ffn\": 8, \"max_len\": 8,"
    " \"features\": [{\"kind\": \"shape\", \"buckets\": 10, \"dim\": 2},"
    "                {\"kind\": \"subword\", \"buckets\": 97, \"dim\": 4, \"min_n\": 2, \"max_n\": 3}],"
    " \"classify\": {\"labels\": [\"a\", \"b\"]}}";

static void test_subword_init(void) {
    attn_model *m = NULL;
    attn_error err;
    CHECK(attn_train_model_new(SUBWORD_CONFIG, strlen(SUBWORD_CONFIG), 1, &m, &err) == ATTN_OK);
    if (!m) return;
    attn_wordvec wv = { .n_buckets = 97, .dim = 4, .min_n = 2, .max_n = 3 };
    wv.table = malloc(97 * 4 * sizeof(float));
    for (int i = 0; i < 97 * 4; i++) wv.table[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    const int ts = attn_model_tensor_index(m, "embed.shape");
    const int tw = attn_model_tensor_index(m, "embed.subword");
    float shape_before[10 * 2];
    memcpy(shape_before, m->params + m->specs[ts].offset, sizeof shape_before);
    CHECK(memcmp(m->params + m->specs[tw].offset, wv.table, 97 * 4 * sizeof(float)) != 0);
    CHECK(attn_init_subword_from_wordvec(m, &wv, &err) == ATTN_OK);
    CHECK(memcmp(m->params + m->specs[tw].offset, wv.table, 97 * 4 * sizeof(float)) == 0);
    CHECK(memcmp(m->params + m->specs[ts].offset, shape_before, sizeof shape_before) == 0);
    /* the embedding the encoder sees: [shape | mean of subword rows] = [.. | word vector] */
    const char *words[] = { "cat", "Cats", "x", "Zoë", "1999" };
    int same = 1;
    for (int w = 0; w < 5; w++) {
        uint32_t rows[1 + ATTN_SUBWORD_SLOTS];
        float emb[6], vec[4];
        attn_token_features(words[w], strlen(words[w]), m->cfg.features, 2, rows);
        attn_embed_forward(emb, &m->cfg, &m->w, rows, 1);
        attn_wordvec_token_vector(&wv, words[w], strlen(words[w]), vec);
        for (int i = 0; i < 4; i++) same &= fabsf(emb[2 + i] - vec[i]) < 1e-6f;
    }
    CHECK(same);

    /* every mismatch is named */
    wv.n_buckets = 96;
    CHECK(attn_init_subword_from_wordvec(m, &wv, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "the 'subword' feature has 97 buckets, the word vectors 96"));
    wv.n_buckets = 97;
    wv.dim = 5;
    CHECK(attn_init_subword_from_wordvec(m, &wv, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "the 'subword' table is 4 wide, the word vectors 5"));
    wv.dim = 4;
    wv.max_n = 6;
    CHECK(attn_init_subword_from_wordvec(m, &wv, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "the 'subword' feature uses n-grams 2..3, the word vectors 2..6"));
    wv.max_n = 3;
    wv.min_n = 3;
    CHECK(attn_init_subword_from_wordvec(m, &wv, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "the 'subword' feature uses n-grams 2..3, the word vectors 3..3"));
    wv.min_n = 2;
    CHECK(attn_init_subword_from_wordvec(m, NULL, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "no word vectors given"));
    attn_model_free(m);
    m = new_model(CLASSIFY, 16, 8, 1);
    CHECK(attn_init_subword_from_wordvec(m, &wv, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "the model has no 'subword' feature"));
    attn_model_free(m);
    free(wv.table);
}

/* Bigram vectors into the two bigram tables: a bigram's row in each table (where a sequence's
 * features find it) holds the mean of its subword rows; the first (most frequent) bigram of
 * a row keeps it; every mismatch is named. */
static const char *BIGRAM_CONFIG =
    "{\"format\": 1, \"tasks\": [\"classify\"], \"dim\": 8, \"layers\": 1,"
    " \"heads\": 1, \"ffn\": 8, \"max_len\": 8,"
    " \"features\": [{\"kind\": \"shape\", \"buckets\": 10, \"dim\": 2},"
    "                {\"kind\": \"bigram_left\", \"buckets\": 53, \"dim\": 4},"
    "                {\"kind\": \"bigram_right\", \"buckets\": 61, \"dim\": 4}],"
    " \"classify\": {\"labels\": [\"a\", \"b\"]}}";

/* The expected vector of a bigram (two norms back to back): the mean of its subword rows. */
static void bigram_vector(const attn_wordvec *wv, const char *pair, float *v) {
    uint32_t rows[ATTN_SUBWORD_MAX_ROWS];
    size_t n = attn_subword_rows_of_norm(pair, strlen(pair), wv->min_n, wv->max_n, wv->n_buckets,
                                         rows, ATTN_SUBWORD_MAX_ROWS);
    for (uint32_t i = 0; i < wv->dim; i++) v[i] = 0;
    for (size_t r = 0; r < n; r++)
        for (uint32_t i = 0; i < wv->dim; i++) v[i] += wv->table[rows[r] * wv->dim + i] / (float)n;
}

static void test_bigram_init(void) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_fit_bigrams_%d.txt", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs("中国人民\n中国\n国\n", f);    /* bigrams: 中国 2, 国人 1, 人民 1; a lone 国 has none */
    fclose(f);
    const char *paths[1] = { path };
    char **bigrams;
    size_t n_bigrams;
    attn_error err;
    CHECK(attn_vocab_from_files(paths, 1, ATTN_WORDVEC_BIGRAMS, 1, &bigrams, &n_bigrams, &err) == ATTN_OK);
    CHECK(n_bigrams == 3 && !strcmp(bigrams[0], "中国") && !strcmp(bigrams[1], "人民") &&
          !strcmp(bigrams[2], "国人"));
    unlink(path);

    attn_model *m = NULL;
    CHECK(attn_train_model_new(BIGRAM_CONFIG, strlen(BIGRAM_CONFIG), 1, &m, &err) == ATTN_OK);
    if (!m) { free(bigrams); return; }
    attn_wordvec wv = { .n_buckets = 97, .dim = 4, .min_n = 2, .max_n = 3,
                        .unit = ATTN_WORDVEC_BIGRAMS };
    wv.table = malloc(97 * 4 * sizeof(float));
    for (int i = 0; i < 97 * 4; i++) wv.table[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    size_t n_set = 0;
    CHECK(attn_init_bigrams_from_wordvec(m, &wv, (const char *const *)bigrams, n_bigrams, &n_set,
                                         &err) == ATTN_OK);
    CHECK(n_set >= 4 && n_set <= 6);   /* 3 bigrams in each table, fewer where two share a row */
    /* "中国人": token 1's bigram_left and token 0's bigram_right are the bigram 中国 */
    const char *text = "中国人";
    attn_tokens toks = {0};
    CHECK(attn_tokenize(text, strlen(text), &toks, &err) == ATTN_OK && toks.n == 3);
    const int S = attn_feature_slots(m->cfg.features, m->cfg.n_features);
    uint32_t rows[3 * 3];
    attn_sequence_features(text, toks.tok, toks.n, m->cfg.features, m->cfg.n_features, NULL, rows);
    CHECK(S == 3 && rows[1 * S + 1] == attn_bigram_row(&m->cfg.features[1], "中国", strlen("中国")));
    CHECK(rows[0 * S + 2] == attn_bigram_row(&m->cfg.features[2], "中国", strlen("中国")));
    CHECK(rows[2 * S + 1] == attn_bigram_row(&m->cfg.features[1], "国人", strlen("国人")));
    float want[4], emb[2 + 4 + 4];
    bigram_vector(&wv, "中国", want);
    attn_embed_forward(emb, &m->cfg, &m->w, rows + 1 * S, 1);
    int same = 1;
    for (int i = 0; i < 4; i++) same &= fabsf(emb[2 + i] - want[i]) < 1e-6f;
    attn_embed_forward(emb, &m->cfg, &m->w, rows + 0 * S, 1);
    for (int i = 0; i < 4; i++) same &= fabsf(emb[6 + i] - want[i]) < 1e-6f;
    CHECK(same);
    attn_tokens_free(&toks);

    /* mismatches */
    wv.dim = 3;
    CHECK(attn_init_bigrams_from_wordvec(m, &wv, (const char *const *)bigrams, n_bigrams, NULL, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "the 'bigram_left' table is 4 wide, the bigram vectors 3"));
    wv.dim = 4;
    wv.unit = ATTN_WORDVEC_WORDS;
    CHECK(attn_init_bigrams_from_wordvec(m, &wv, (const char *const *)bigrams, n_bigrams, NULL, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "the vectors are of words, not character bigrams"));
    wv.unit = ATTN_WORDVEC_BIGRAMS;
    attn_model_free(m);
    CHECK(attn_train_model_new(SUBWORD_CONFIG, strlen(SUBWORD_CONFIG), 1, &m, &err) == ATTN_OK);
    CHECK(attn_init_bigrams_from_wordvec(m, &wv, (const char *const *)bigrams, n_bigrams, NULL, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "the model has no 'bigram_left' or 'bigram_right' feature"));
    CHECK(attn_init_subword_from_wordvec(m, &wv, &err) == ATTN_EINVAL);   /* bigrams as words */
    CHECK(!strcmp(err.msg, "the vectors are of character bigrams, not words: they fill the "
                           "bigram tables, not the 'subword' table"));
    attn_model_free(m);
    free(wv.table);
    free(bigrams);
}

/* Datasets and training with a subword feature: each example's rows are the tokens' slots
 * (attn_feature_slots per token), and a classifier on shape + subword learns the task. */
static void test_fit_subword(void) {
    const char *config =
        "{\"format\": 1, \"dim\": 32, \"layers\": 1, \"heads\": 2, \"ffn\": 64, \"max_len\": 16,"
        " \"features\": [{\"kind\": \"subword\", \"buckets\": 3000, \"dim\": 16},"
        "  {\"kind\": \"shape\", \"buckets\": 100, \"dim\": 8}], %s}";
    char text[1024];
    snprintf(text, sizeof text, config, CLASSIFY);
    attn_model *m = NULL;
    attn_error err;
    CHECK(attn_train_model_new(text, strlen(text), 3, &m, &err) == ATTN_OK);
    if (!m) return;
    const int S = attn_feature_slots(m->cfg.features, m->cfg.n_features);
    CHECK(S == ATTN_SUBWORD_SLOTS + 1);
    attn_dataset *train = sentiment_set(m, 64, 11), *dev = sentiment_set(m, 24, 99);
    attn_dataset *one = attn_dataset_new(&m->cfg);
    CHECK(add(one, "Hello wonderful world", "positive", NULL, 0, NULL, 0, &err) == ATTN_OK);
    attn_example ex;
    CHECK(attn_dataset_example(one, 0, &ex, &err) == ATTN_OK && ex.T == 3);
    static const char *const words[3] = { "Hello", "wonderful", "world" };
    int rows_ok = 1;
    for (int t = 0; t < 3; t++) {
        uint32_t rows[ATTN_MAX_SLOTS];
        attn_token_features(words[t], strlen(words[t]), m->cfg.features, 2, rows);
        rows_ok &= !memcmp(rows, ex.rows + (size_t)t * S, (size_t)S * sizeof *rows);
    }
    CHECK(rows_ok);
    CHECK(ex.rows[1] != ATTN_ROW_NONE && ex.rows[S - 2] == ATTN_ROW_NONE);  /* "hello": 15 rows */
    attn_dataset_free(one);
    attn_fit_opts o = small_opts();
    o.batch_size = 8;
    o.max_epochs = 30;
    o.patience = 5;
    o.train.lr = 1e-2f;
    attn_epoch_report best;
    int rc = attn_fit(m, train, dev, &o, NULL, NULL, NULL, &best, &err);
    CHECK_MSG(rc == ATTN_OK, "%s", err.msg);
    CHECK_MSG(best.dev_metric >= 0.9, "subword classifier: dev accuracy %.3f", best.dev_metric);
    printf("subword classify: best epoch %d, dev accuracy %.3f\n", best.epoch, best.dev_metric);
    attn_dataset_free(train);
    attn_dataset_free(dev);
    attn_model_free(m);
}

static void test_vocab(void) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_fit_vocab_%d.txt", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs("The cat the CAT dog\nthe 1999 2000 Zoë\n\nZOË cat\n", f);
    fclose(f);
    const char *paths[2] = { path, path };
    char **words;
    size_t n;
    attn_error err;
    CHECK(attn_vocab_from_files(paths, 1, ATTN_WORDVEC_WORDS, 2, &words, &n, &err) == ATTN_OK);
    /* the 3, cat 3, 0000 2, zoë 2 (ties by bytes: "0000" < "zoë"; "cat" < "the") */
    CHECK(n == 4 && words[4] == NULL);
    CHECK(n == 4 && !strcmp(words[0], "cat") && !strcmp(words[1], "the") &&
          !strcmp(words[2], "0000") && !strcmp(words[3], "zoë"));
    free(words);
    CHECK(attn_vocab_from_files(paths, 2, ATTN_WORDVEC_WORDS, 0, &words, &n, &err) == ATTN_OK);
    CHECK(n == 5 && !strcmp(words[0], "cat") && !strcmp(words[4], "dog"));
    free(words);
    paths[1] = "/nonexistent/vocab.txt";
    CHECK(attn_vocab_from_files(paths, 2, ATTN_WORDVEC_WORDS, 1, &words, &n, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "cannot open '/nonexistent/vocab.txt'") && words == NULL && n == 0);
    unlink(path);
}

int main(void) {
    openblas_set_num_threads(1);
    test_dataset_errors();
    test_chunking();
    test_eval_classify();
    test_eval_entities_relations();
    test_wordvec_init();
    test_subword_init();
    test_bigram_init();
    test_fit_subword();
    test_vocab();
    test_fit_classify();
    test_fit_entities();
    test_fit_relations();
    test_ema();
    test_determinism();
    test_stopping();
    return CHECK_DONE();
}
