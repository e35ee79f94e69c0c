/* test_gazetteer.c: name lists and their matches (gazetteer.h): longest match, overlaps,
 * several lists, case and typographic folding, multi-token and Chinese entries, the rows'
 * errors and limits; the gazetteer feature in the config, the feature rows and the model
 * loader. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "features.h"
#include "gazetteer.h"
#include "model.h"
#include "tokenizer.h"

/* A gazetteer feature of lists "A", "B", ... (n of them). */
static attn_feature_spec spec_of(int n) {
    attn_feature_spec s = {.kind = ATTN_FEAT_GAZETTEER, .n_buckets = 3u * (uint32_t)n, .dim = 4,
                           .n_lists = n};
    for (int l = 0; l < n; l++) s.lists[l][0] = (char)('A' + l);
    return s;
}

static int add(attn_gazetteer *g, const char *key, const char *entries, attn_error *err) {
    return attn_gazetteer_add_row(g, key, "text", "[]", entries, strlen(entries), NULL, NULL,
                                  err);
}

/* The tags of text in list l as one letter a token ("BIO"), into out. */
static const char *tags(const attn_gazetteer *g, const char *text, int l, char *out) {
    attn_tokens toks = {0};
    attn_error err;
    const int L = attn_gazetteer_n_lists(g) ? attn_gazetteer_n_lists(g) : 1;
    out[0] = 0;
    if (attn_tokenize(text, strlen(text), &toks, &err) != ATTN_OK) return out;
    uint32_t *slots = malloc((toks.n + 1) * (size_t)L * sizeof *slots);
    attn_gazetteer_match(g, text, toks.tok, toks.n, slots, (size_t)L);
    size_t t = 0;
    for (; t < toks.n && t < 63; t++) {
        const uint32_t r = slots[t * (size_t)L + (size_t)l];
        out[t] = r == ATTN_GAZ_ROW(l, ATTN_GAZ_B) ? 'B' : r == ATTN_GAZ_ROW(l, ATTN_GAZ_I) ? 'I'
               : r == ATTN_GAZ_ROW(l, ATTN_GAZ_O) ? 'O' : '?';
    }
    out[t] = 0;
    free(slots);
    attn_tokens_free(&toks);
    return out;
}

#define EXPECT_TAGS(g, text, l, want) do { \
    char got_[64]; \
    tags((g), (text), (l), got_); \
    CHECK_MSG(strcmp(got_, (want)) == 0, "list %d of '%s': %s, want %s", (l), (text), got_, (want)); \
} while (0)

static void test_longest_and_overlaps(void) {
    attn_feature_spec s = spec_of(1);
    attn_gazetteer *g = attn_gazetteer_new(&s);
    attn_error err;
    CHECK(add(g, "gazetteer.A", "New York\nNew York City\nYork\nYork City\nBoston", &err) == ATTN_OK);
    CHECK(attn_gazetteer_n_entries(g) == 5 && attn_gazetteer_n_rows(g) == 1);
    EXPECT_TAGS(g, "I love New York City today", 0, "OOBIIO");    /* longest of three */
    EXPECT_TAGS(g, "New York is big", 0, "BIOO");
    EXPECT_TAGS(g, "New Jersey", 0, "OO");                         /* a prefix alone: no */
    EXPECT_TAGS(g, "York City", 0, "BI");
    EXPECT_TAGS(g, "Boston York", 0, "BB");                        /* adjacent matches */
    attn_gazetteer_release(g);

    /* Greedy from the left: "a b" wins over the overlapping "b c"; then "c d" after it. */
    g = attn_gazetteer_new(&s);
    CHECK(add(g, "gazetteer.A", "alpha beta\nbeta gamma\ngamma delta", &err) == ATTN_OK);
    EXPECT_TAGS(g, "alpha beta gamma delta", 0, "BIBI");
    EXPECT_TAGS(g, "beta gamma delta", 0, "BIO");
    attn_gazetteer_release(g);
}

/* Each list matches on its own: a token may be B in one and I in another. */
static void test_several_lists(void) {
    attn_feature_spec s = spec_of(2);
    attn_gazetteer *g = attn_gazetteer_new(&s);
    attn_error err;
    CHECK(add(g, "gazetteer.A", "George Washington\nWashington", &err) == ATTN_OK);
    CHECK(add(g, "gazetteer.B", "Washington\nWashington D.C.", &err) == ATTN_OK);
    const char *text = "George Washington visited Washington D.C. today";
    EXPECT_TAGS(g, text, 0, "BIOBOO");
    EXPECT_TAGS(g, text, 1, "OBOBIO");
    /* A second row of a list ('gazetteer.<list>.<part>') adds to it. */
    CHECK(add(g, "gazetteer.A.mine", "visited Washington", &err) == ATTN_OK);
    EXPECT_TAGS(g, text, 0, "BIBIOO");
    CHECK(attn_gazetteer_n_rows(g) == 3 && attn_gazetteer_n_entries(g) == 5);
    const char *key, *data;
    size_t n;
    attn_gazetteer_row(g, 2, &key, &data, &n);
    CHECK(strcmp(key, "gazetteer.A.mine") == 0 && n == 18 && memcmp(data, "visited Washington", n) == 0);
    attn_gazetteer_release(g);
}

/* Entries match by the features' norm: case, digits, typographic punctuation, traditional
 * Chinese characters; blank lines, CRLF and surrounding spaces do not matter. */
static void test_normalised(void) {
    attn_feature_spec s = spec_of(1);
    attn_gazetteer *g = attn_gazetteer_new(&s);
    attn_error err;
    CHECK(add(g, "gazetteer.A", "new york\r\n\n   \n  IKEA's  \nArea 51\nAT&T Inc.\n", &err) == ATTN_OK);
    CHECK(attn_gazetteer_n_entries(g) == 4);
    EXPECT_TAGS(g, "NEW YORK and New York", 0, "BIOBI");
    EXPECT_TAGS(g, "Shares of IKEA\u2019s parent", 0, "OOBIO");       /* curly apostrophe */
    EXPECT_TAGS(g, "IKEA alone", 0, "OO");
    EXPECT_TAGS(g, "Area 52 is near", 0, "BIOO");                   /* digits fold to 0 */
    EXPECT_TAGS(g, "AT&T Inc. said", 0, "BIO");
    attn_gazetteer_release(g);
}

/* Chinese: one token per ideograph, so an entry of n characters is n tokens; traditional
 * characters fold to simplified on both sides. */
static void test_chinese(void) {
    attn_feature_spec s = spec_of(2);
    attn_gazetteer *g = attn_gazetteer_new(&s);
    attn_error err;
    CHECK(add(g, "gazetteer.A", "北京\n上海", &err) == ATTN_OK);
    CHECK(add(g, "gazetteer.B", "北京大学\n國務院", &err) == ATTN_OK);
    const char *text = "我在北京大学学习";
    EXPECT_TAGS(g, text, 0, "OOBIOOOO");
    EXPECT_TAGS(g, text, 1, "OOBIIIOO");
    EXPECT_TAGS(g, "北京大學和国务院", 1, "BIIIOBII");
    EXPECT_TAGS(g, "北京大學和国务院", 0, "BIOOOOOO");
    attn_gazetteer_release(g);
}

/* An entry of ATTN_GAZ_MAX_TOKENS tokens matches; a longer one is skipped. */
static void test_entry_length(void) {
    attn_feature_spec s = spec_of(1);
    attn_gazetteer *g = attn_gazetteer_new(&s);
    attn_error err;
    CHECK(ATTN_GAZ_MAX_TOKENS == 8);
    CHECK(add(g, "gazetteer.A", "a b c d e f g h\np q r s t u v w x", &err) == ATTN_OK);
    CHECK(attn_gazetteer_n_entries(g) == 1);
    EXPECT_TAGS(g, "a b c d e f g h i", 0, "BIIIIIIIO");
    EXPECT_TAGS(g, "p q r s t u v w x", 0, "OOOOOOOOO");
    EXPECT_TAGS(g, "a b c d e f g", 0, "OOOOOOO");
    attn_gazetteer_release(g);
}

static void test_empty(void) {
    attn_feature_spec s = spec_of(3);
    attn_gazetteer *g = attn_gazetteer_new(&s);
    attn_error err;
    EXPECT_TAGS(g, "nothing here", 2, "OO");
    CHECK(attn_gazetteer_add_row(g, "gazetteer.B", "text", "[]", NULL, 0, NULL, NULL, &err) == ATTN_OK);
    EXPECT_TAGS(g, "nothing here", 1, "OO");
    /* a sequence of no token, a NULL gazetteer */
    uint32_t slot = 7;
    attn_gazetteer_match(g, "", NULL, 0, &slot, 3);
    attn_gazetteer_match(NULL, "", NULL, 0, &slot, 3);
    CHECK(slot == 7);
    attn_gazetteer_release(g);
    attn_gazetteer_release(NULL);
}

static void expect_row_error(attn_gazetteer *g, const char *key, const char *dtype,
                             const char *shape, int code, const char *msg) {
    attn_error err = {{0}};
    int rc = attn_gazetteer_add_row(g, key, dtype, shape, "x", 1, NULL, NULL, &err);
    CHECK_MSG(rc == code && strcmp(err.msg, msg) == 0, "%s: %d %s", key, rc, err.msg);
}

static void test_row_errors(void) {
    attn_feature_spec s = spec_of(2);
    strcpy(s.lists[0], "PER");
    strcpy(s.lists[1], "LOC");
    attn_gazetteer *g = attn_gazetteer_new(&s);
    attn_error err;
    CHECK(add(g, "gazetteer.PER", "Ann", &err) == ATTN_OK);
    expect_row_error(g, "gazetteer.ORG", "text", "[]", ATTN_EMODEL,
                     "row 'gazetteer.ORG': 'ORG' is not a list of the gazetteer feature (PER, LOC)");
    expect_row_error(g, "gazetteer.PERSON.x", "text", "[]", ATTN_EMODEL,
                     "row 'gazetteer.PERSON.x': 'PERSON' is not a list of the gazetteer feature "
                     "(PER, LOC)");
    expect_row_error(g, "gazetteer.", "text", "[]", ATTN_EMODEL,
                     "row 'gazetteer.': '' is not a list of the gazetteer feature (PER, LOC)");
    expect_row_error(g, "gazetteer.PER.", "text", "[]", ATTN_EMODEL,
                     "row 'gazetteer.PER.': the part after the list name is empty "
                     "('gazetteer.<list>' or 'gazetteer.<list>.<part>')");
    expect_row_error(g, "gazetteer.LOC", "f32", "[]", ATTN_EMODEL,
                     "row 'gazetteer.LOC': dtype must be 'text', found 'f32'");
    expect_row_error(g, "gazetteer.LOC", "text", "[1]", ATTN_EMODEL,
                     "row 'gazetteer.LOC': shape must be '[]', found '[1]'");
    expect_row_error(g, "gazetteer.PER", "text", "[]", ATTN_EMODEL,
                     "row 'gazetteer.PER': given twice");
    CHECK(attn_gazetteer_is_key("gazetteer.PER") && !attn_gazetteer_is_key("gazetteer") &&
          !attn_gazetteer_is_key("embed.norm") && !attn_gazetteer_is_key(NULL));
    CHECK(attn_gazetteer_fits(g, &s));
    attn_feature_spec other = spec_of(2);
    CHECK(!attn_gazetteer_fits(g, &other));
    attn_gazetteer_release(g);
}

static int stop_now(void *user) {
    ++*(int *)user;
    return 1;
}

/* Limits: the bytes of all rows, the n-grams stored; the stop callback. */
static void test_limits(void) {
    attn_feature_spec s = spec_of(2);
    attn_gazetteer *g = attn_gazetteer_new(&s);
    attn_error err = {{0}};
    const size_t big = ATTN_GAZ_MAX_BYTES / 2 + 1;
    char *text = malloc(big);
    memset(text, 'a', big);
    CHECK(attn_gazetteer_add_row(g, "gazetteer.A", "text", "[]", text, big, NULL, NULL, &err) == ATTN_OK);
    CHECK(attn_gazetteer_add_row(g, "gazetteer.B", "text", "[]", text, big, NULL, NULL, &err) == ATTN_ELIMIT);
    CHECK_MSG(strcmp(err.msg, "row 'gazetteer.B': the lists hold more than 33554432 bytes "
                              "(ATTN_GAZ_MAX_BYTES)") == 0, "%s", err.msg);
    attn_gazetteer_release(g);
    free(text);

    /* 2^21 distinct n-grams: 2^18 lines of 8 tokens, each line's first token its own word */
    const size_t lines = ATTN_GAZ_MAX_NGRAMS / 8 + 1, per_line = 5 + 8 * 2;
    text = malloc(lines * per_line + 1);
    size_t n = 0;
    for (size_t i = 0; i < lines; i++) {
        for (int k = 0; k < 5; k++) text[n++] = (char)('a' + (i >> (4 * k)) % 16);
        for (int k = 0; k < 7; k++) { text[n++] = ' '; text[n++] = 'z'; }
        text[n++] = '\n';
    }
    g = attn_gazetteer_new(&s);
    CHECK(attn_gazetteer_add_row(g, "gazetteer.A", "text", "[]", text, n, NULL, NULL, &err) == ATTN_ELIMIT);
    CHECK_MSG(strcmp(err.msg, "row 'gazetteer.A': more than 2097152 entry n-grams "
                              "(ATTN_GAZ_MAX_NGRAMS)") == 0, "%s", err.msg);
    attn_gazetteer_release(g);

    /* stopped after the first 4096 lines */
    int asked = 0;
    g = attn_gazetteer_new(&s);
    CHECK(attn_gazetteer_add_row(g, "gazetteer.A", "text", "[]", text, n, stop_now, &asked, &err) == ATTN_ESTOPPED);
    CHECK(asked == 1 && strcmp(err.msg, "row 'gazetteer.A': interrupted") == 0);
    CHECK(attn_gazetteer_n_entries(g) == 4096);
    attn_gazetteer_release(g);
    free(text);
}

/* ---- the feature ---- */

static const char *GAZ_CONFIG =
    "{\"format\": 1, \"tasks\": [\"entities\"], \"dim\": 8, \"layers\": 1, \"heads\": 2,"
    " \"ffn\": 8, \"max_len\": 16,"
    " \"features\": [{\"kind\": \"subword\", \"buckets\": 50, \"dim\": 4},"
    "                {\"kind\": \"gazetteer\", \"dim\": 3, \"lists\": [\"PER\", \"LOC\"]},"
    "                {\"kind\": \"shape\", \"buckets\": 20, \"dim\": 2}],"
    " \"entities\": {\"labels\": [\"PER\", \"LOC\"]}}";

static void expect_config_error(const char *feature, int code, const char *msg) {
    char json[1024];
    snprintf(json, sizeof json, "{\"format\": 1, \"tasks\": [\"classify\"], \"dim\": 8, "
             "\"layers\": 1, \"heads\": 2, \"ffn\": 8, \"max_len\": 16, \"features\": "
             "[{\"kind\": \"norm\", \"buckets\": 10, \"dim\": 2}, %s], "
             "\"classify\": {\"labels\": [\"a\", \"b\"]}}", feature);
    attn_config cfg;
    attn_error err = {{0}};
    int rc = attn_config_parse(json, strlen(json), &cfg, &err);
    CHECK_MSG(rc == code && strcmp(err.msg, msg) == 0, "%s: %d %s", feature, rc, err.msg);
    if (rc == ATTN_OK) attn_config_free(&cfg);
}

static void test_config(void) {
    attn_config cfg;
    attn_error err;
    CHECK(attn_config_parse(GAZ_CONFIG, strlen(GAZ_CONFIG), &cfg, &err) == ATTN_OK);
    const attn_feature_spec *g = &cfg.features[1];
    CHECK(g->kind == ATTN_FEAT_GAZETTEER && g->n_lists == 2 && g->n_buckets == 6 &&
          strcmp(g->lists[1], "LOC") == 0);
    CHECK(attn_feature_n_slots(g) == 2);
    CHECK(attn_feature_slots(cfg.features, 3) == ATTN_SUBWORD_SLOTS + 3);
    char *json = attn_features_json(cfg.features, cfg.n_features);
    CHECK(json && strstr(json, "{\"kind\":\"gazetteer\",\"buckets\":6,\"dim\":3,"
                               "\"lists\":[\"PER\",\"LOC\"]}"));
    attn_config back;
    char full[2048];
    snprintf(full, sizeof full, "{\"format\": 1, \"tasks\": [\"classify\"], \"dim\": 8, "
             "\"layers\": 1, \"heads\": 2, \"ffn\": 8, \"max_len\": 16, \"features\": %s, "
             "\"classify\": {\"labels\": [\"a\"]}}", json);
    CHECK(attn_config_parse(full, strlen(full), &back, &err) == ATTN_OK);
    CHECK(attn_features_equal(cfg.features, 3, back.features, back.n_features));
    strcpy(back.features[1].lists[1], "ORG");
    CHECK(!attn_features_equal(cfg.features, 3, back.features, back.n_features));
    attn_config_free(&back);
    free(json);
    attn_config_free(&cfg);

    expect_config_error("{\"kind\": \"gazetteer\", \"dim\": 3}", ATTN_EINVAL,
                        "config: 'features[1].lists' is missing");
    expect_config_error("{\"kind\": \"shape\", \"buckets\": 3, \"dim\": 3, \"lists\": [\"A\"]}",
                        ATTN_EINVAL, "config: 'features[1].lists' is only allowed for kind gazetteer");
    expect_config_error("{\"kind\": \"gazetteer\", \"dim\": 3, \"lists\": []}", ATTN_EINVAL,
                        "config: 'features[1].lists' must be an array of 1 to 16 list names");
    expect_config_error("{\"kind\": \"gazetteer\", \"dim\": 3, \"lists\": [\"a\",\"b\",\"c\",\"d\","
                        "\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]}",
                        ATTN_ELIMIT, "config: 'features[1].lists' must be an array of 1 to 16 list names");
    expect_config_error("{\"kind\": \"gazetteer\", \"dim\": 3, \"lists\": [\"A.B\"]}", ATTN_EINVAL,
                        "config: 'features[1].lists[0]' must be a name of 1 to 31 letters, "
                        "digits, '_' or '-'");
    expect_config_error("{\"kind\": \"gazetteer\", \"dim\": 3, \"lists\": [\"A\", \"A\"]}", ATTN_EINVAL,
                        "config: 'features[1].lists' names 'A' twice");
    expect_config_error("{\"kind\": \"gazetteer\", \"buckets\": 5, \"dim\": 3, \"lists\": [\"A\", \"B\"]}",
                        ATTN_EINVAL, "config: 'features[1].buckets' must be 6 (3 rows for each "
                        "of the 2 lists), found 5");
    expect_config_error("{\"kind\": \"gazetteer\", \"buckets\": 3, \"dim\": 3, \"lists\": [\"A\"]}",
                        ATTN_OK, "");
}

/* The sequence's gazetteer slots sit after the subword's; alone, a token is O everywhere. */
static void test_feature_rows(void) {
    attn_model *m;
    attn_error err;
    CHECK(attn_model_new(GAZ_CONFIG, strlen(GAZ_CONFIG), &m, &err) == ATTN_OK);
    CHECK(m->gazetteer && attn_gazetteer_n_lists(m->gazetteer) == 2);
    CHECK(add(m->gazetteer, "gazetteer.PER", "Angela Merkel", &err) == ATTN_OK);
    CHECK(add(m->gazetteer, "gazetteer.LOC", "Berlin\nMerkel", &err) == ATTN_OK);
    const char *text = "Angela Merkel met him in Berlin";
    attn_tokens toks = {0};
    CHECK(attn_tokenize(text, strlen(text), &toks, &err) == ATTN_OK && toks.n == 6);
    enum { S = ATTN_SUBWORD_SLOTS + 3 };
    uint32_t rows[6 * S], alone[S];
    attn_sequence_features(text, toks.tok, toks.n, m->cfg.features, 3, m->gazetteer, rows);
    static const uint32_t per[6] = {1, 2, 0, 0, 0, 0}, loc[6] = {3, 4, 3, 3, 3, 4};
    for (size_t t = 0; t < 6; t++) {
        CHECK_MSG(rows[t * S + ATTN_SUBWORD_SLOTS] == per[t] &&
                  rows[t * S + ATTN_SUBWORD_SLOTS + 1] == loc[t], "token %zu", t);
        const attn_token *tk = &toks.tok[t];
        attn_token_features(text + tk->byte_start, tk->byte_end - tk->byte_start,
                            m->cfg.features, 3, alone);
        CHECK(alone[ATTN_SUBWORD_SLOTS] == 0 && alone[ATTN_SUBWORD_SLOTS + 1] == 3);
        CHECK(memcmp(alone, rows + t * S, ATTN_SUBWORD_SLOTS * sizeof *alone) == 0);
        CHECK(alone[S - 1] == rows[t * S + S - 1]);
        CHECK(attn_feature_rows_check(m->cfg.features, 3, rows + t * S, NULL) == -1);
    }
    CHECK(attn_features_have_context(m->cfg.features, 3));
    /* without lists: O */
    attn_sequence_features(text, toks.tok, toks.n, m->cfg.features, 3, NULL, rows);
    CHECK(rows[ATTN_SUBWORD_SLOTS] == 0 && rows[S + ATTN_SUBWORD_SLOTS + 1] == 3);
    attn_tokens_free(&toks);
    attn_model_free(m);
}

/* The loader takes 'gazetteer.*' rows beside the tensors; a copy shares the lists. */
static void test_model_rows(void) {
    attn_model *m;
    attn_error err;
    CHECK(attn_model_new(GAZ_CONFIG, strlen(GAZ_CONFIG), &m, &err) == ATTN_OK);
    CHECK(attn_model_set_tensor(m, "gazetteer.PER", "text", "[]", "Ann\nBob", 7, &err) == ATTN_OK);
    CHECK(attn_model_set_tensor(m, "gazetteer.ORG", "text", "[]", "x", 1, &err) == ATTN_EMODEL);
    CHECK(strcmp(err.msg, "row 'gazetteer.ORG': 'ORG' is not a list of the gazetteer feature "
                          "(PER, LOC)") == 0);
    const size_t before = attn_model_bytes(m);
    CHECK(attn_model_set_tensor(m, "gazetteer.LOC.more", "text", "[]", "Rome", 4, &err) == ATTN_OK);
    CHECK(attn_model_bytes(m) > before);
    for (size_t i = 0; i < m->n_specs; i++) m->given[i] = ATTN_DTYPE_F32;
    CHECK(attn_model_finish(m, &err) == ATTN_OK);
    attn_model *copy;
    CHECK(attn_model_copy(m, &copy, &err) == ATTN_OK);
    CHECK(copy->gazetteer == m->gazetteer && attn_gazetteer_n_entries(copy->gazetteer) == 3);
    attn_model_free(m);
    CHECK(attn_gazetteer_n_rows(copy->gazetteer) == 2);    /* still held by the copy */
    /* a fresh gazetteer for the copy's lists */
    attn_gazetteer *g = attn_gazetteer_new(&copy->cfg.features[1]);
    CHECK(add(g, "gazetteer.PER", "Cleo", &err) == ATTN_OK);
    CHECK(attn_model_set_gazetteer(copy, g, &err) == ATTN_OK);
    attn_gazetteer_release(g);
    CHECK(attn_gazetteer_n_entries(copy->gazetteer) == 1);
    attn_feature_spec other = spec_of(2);
    g = attn_gazetteer_new(&other);
    CHECK(attn_model_set_gazetteer(copy, g, &err) == ATTN_EINVAL);
    attn_gazetteer_release(g);
    /* an encoder copied into a fresh model (transfer to another task) brings its lists */
    attn_model *fresh;
    CHECK(attn_model_new(GAZ_CONFIG, strlen(GAZ_CONFIG), &fresh, &err) == ATTN_OK);
    CHECK(attn_gazetteer_n_entries(fresh->gazetteer) == 0);
    attn_model_copy_encoder(fresh, copy);
    CHECK(fresh->gazetteer == copy->gazetteer);
    attn_model_free(fresh);
    attn_model_free(copy);

    /* a model without a gazetteer feature refuses such rows */
    static const char *plain =
        "{\"format\": 1, \"tasks\": [\"classify\"], \"dim\": 4, \"layers\": 1, \"heads\": 1,"
        " \"ffn\": 4, \"max_len\": 8, \"features\": [{\"kind\": \"norm\", \"buckets\": 5, \"dim\": 2}],"
        " \"classify\": {\"labels\": [\"a\", \"b\"]}}";
    CHECK(attn_model_new(plain, strlen(plain), &m, &err) == ATTN_OK);
    CHECK(!m->gazetteer);
    CHECK(attn_model_set_tensor(m, "gazetteer.PER", "text", "[]", "Ann", 3, &err) == ATTN_EMODEL);
    CHECK(strcmp(err.msg, "row 'gazetteer.PER': the model has no gazetteer feature") == 0);
    attn_model_free(m);
}

int main(void) {
    test_longest_and_overlaps();
    test_several_lists();
    test_normalised();
    test_chinese();
    test_entry_length();
    test_empty();
    test_row_errors();
    test_limits();
    test_config();
    test_feature_rows();
    test_model_rows();
    return CHECK_DONE();
}
