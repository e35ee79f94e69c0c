/* test_model.c: config parsing/validation (config.c), the tensor layout, and model loading
 * (model.c): every field round-trips, every error message is exact, every view points at the
 * right data. */
#include "check.h"
#include "model.h"
#include "kernels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A valid config using all three tasks and all four features. */
static const char *FULL =
    "{\"format\": 1, \"tasks\": [\"classify\", \"entities\", \"relations\"],\n"
    " \"dim\": 16, \"layers\": 2, \"heads\": 4, \"ffn\": 32, \"max_len\": 12,\n"
    " \"ln_eps\": 1e-6, \"attn_scale\": \"sqrt\",\n"
    " \"features\": [{\"kind\": \"norm\", \"buckets\": 100, \"dim\": 8},\n"
    "              {\"kind\": \"prefix\", \"buckets\": 20, \"dim\": 4, \"affix\": 3},\n"
    "              {\"kind\": \"suffix\", \"buckets\": 21, \"dim\": 5, \"affix\": 2},\n"
    "              {\"kind\": \"shape\", \"buckets\": 10, \"dim\": 3}],\n"
    " \"classify\": {\"labels\": [\"negative\", \"positive\", \"neutral\"]},\n"
    " \"entities\": {\"labels\": [\"PER\", \"LOC\", \"ORG\", \"MISC\"]},\n"
    " \"relations\": {\"labels\": [\"Work_For\", \"Kill\"], \"hidden\": 24, \"type_dim\": 6},\n"
    " \"meta\": {\"description\": \"test\", \"anything\": [1, {\"x\": null}], \"unknown\": true}}";

/* FULL with the first occurrence of `from` replaced by `to` (caller frees). */
static char *edit(const char *base, const char *from, const char *to) {
    const char *at = strstr(base, from);
    if (!at) { fprintf(stderr, "edit: '%s' not found\n", from); abort(); }
    size_t pre = (size_t)(at - base), from_len = strlen(from), to_len = strlen(to);
    char *out = malloc(strlen(base) - from_len + to_len + 1);
    memcpy(out, base, pre);
    memcpy(out + pre, to, to_len);
    strcpy(out + pre + to_len, at + from_len);
    return out;
}

/* Parses FULL edited once; checks the code and the exact message and that cfg stays zeroed. */
static void expect_config_error(const char *from, const char *to, int code, const char *msg) {
    char *text = edit(FULL, from, to);
    attn_config cfg;
    attn_error err = { "" };
    int rc = attn_config_parse(text, strlen(text), &cfg, &err);
    CHECK_MSG(rc == code, "'%s' -> '%s': rc %d, expected %d (%s)", from, to, rc, code, err.msg);
    CHECK_MSG(strcmp(err.msg, msg) == 0, "'%s' -> '%s':\n  got      %s\n  expected %s", from, to,
              err.msg, msg);
    CHECK(cfg.json == NULL && cfg.tasks == 0 && cfg.entity_labels.names == NULL &&
          cfg.classify_labels.n == 0);
    free(text);
}

static int parse_ok(const char *text, attn_config *cfg) {
    attn_error err = { "" };
    int rc = attn_config_parse(text, strlen(text), cfg, &err);
    CHECK_MSG(rc == ATTN_OK, "%s", err.msg);
    return rc == ATTN_OK;
}

/* ---- config: round trip ------------------------------------------------------------------ */

static void test_full_config_fields(void) {
    attn_config c;
    if (!parse_ok(FULL, &c)) return;
    CHECK(c.format == 1);
    CHECK(c.tasks == (ATTN_TASK_CLASSIFY | ATTN_TASK_ENTITIES | ATTN_TASK_RELATIONS));
    CHECK(c.dim == 16 && c.layers == 2 && c.heads == 4 && c.ffn == 32 && c.max_len == 12);
    CHECK_NEAR(c.ln_eps, 1e-6, 1e-12);
    CHECK_NEAR(c.attn_scale, 0.5, 1e-7);    /* 1/sqrt(16/4) */
    CHECK(c.n_features == 4);
    CHECK(c.features[0].kind == ATTN_FEAT_NORM && c.features[0].n_buckets == 100 &&
          c.features[0].dim == 8 && c.features[0].affix == 0);
    CHECK(c.features[1].kind == ATTN_FEAT_PREFIX && c.features[1].n_buckets == 20 &&
          c.features[1].dim == 4 && c.features[1].affix == 3);
    CHECK(c.features[2].kind == ATTN_FEAT_SUFFIX && c.features[2].n_buckets == 21 &&
          c.features[2].dim == 5 && c.features[2].affix == 2);
    CHECK(c.features[3].kind == ATTN_FEAT_SHAPE && c.features[3].n_buckets == 10 &&
          c.features[3].dim == 3 && c.features[3].affix == 0);
    CHECK(c.classify_labels.n == 3 && strcmp(c.classify_labels.names[0], "negative") == 0 &&
          strcmp(c.classify_labels.names[2], "neutral") == 0);
    CHECK(c.entity_labels.n == 4 && strcmp(c.entity_labels.names[3], "MISC") == 0);
    CHECK(c.relation_labels.n == 2 && strcmp(c.relation_labels.names[0], "Work_For") == 0 &&
          strcmp(c.relation_labels.names[1], "Kill") == 0);
    CHECK(c.rel_hidden == 24 && c.rel_type_dim == 6);
    CHECK(c.json && strcmp(c.json, FULL) == 0);
    CHECK(attn_config_n_tags(&c) == 9);
    char tag[32];
    const char *tags[] = { "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC" };
    for (int k = 0; k < 9; k++) {
        attn_config_tag_name(&c, k, tag, sizeof tag);
        CHECK_MSG(strcmp(tag, tags[k]) == 0, "tag %d: %s", k, tag);
    }
    attn_config_tag_name(&c, 9, tag, sizeof tag);
    CHECK(tag[0] == 0);
    attn_config_tag_name(&c, 7, tag, 4);            /* truncated, still terminated */
    CHECK(strcmp(tag, "B-M") == 0);
    attn_config_free(&c);
    CHECK(c.json == NULL && c.entity_labels.names == NULL);
    attn_config_free(&c);                           /* twice is harmless */
}

static void test_config_defaults_and_options(void) {
    attn_config c;
    char *t = edit(FULL, " \"ln_eps\": 1e-6, \"attn_scale\": \"sqrt\",\n", "");
    if (parse_ok(t, &c)) {
        CHECK_NEAR(c.ln_eps, 1e-5, 1e-11);
        CHECK_NEAR(c.attn_scale, 0.5, 1e-7);
        attn_config_free(&c);
    }
    free(t);
    t = edit(FULL, "\"sqrt\"", "\"none\"");
    if (parse_ok(t, &c)) { CHECK(c.attn_scale == 1.0f && c.language[0] == 0); attn_config_free(&c); }
    free(t);
    t = edit(FULL, "\"attn_scale\": \"sqrt\",", "\"attn_scale\": \"sqrt\", \"language\": \"zh-Hans\",");
    if (parse_ok(t, &c)) { CHECK(strcmp(c.language, "zh-Hans") == 0); attn_config_free(&c); }
    free(t);
    /* Only entities; no classify/relations sections. */
    const char *ents =
        "{\"format\":1,\"tasks\":[\"entities\"],\"dim\":8,\"layers\":1,\"heads\":1,\"ffn\":8,"
        "\"max_len\":4,\"features\":[{\"kind\":\"shape\",\"buckets\":3,\"dim\":2}],"
        "\"entities\":{\"labels\":[\"O\",\"x\\u00e9\"]}}";
    if (parse_ok(ents, &c)) {
        CHECK(c.tasks == ATTN_TASK_ENTITIES && c.classify_labels.n == 0 && c.relation_labels.n == 0);
        CHECK(strcmp(c.entity_labels.names[1], "x\xc3\xa9") == 0);
        CHECK(c.attn_scale == 1.0f / sqrtf(8.0f));
        attn_config_free(&c);
    }
    /* Classify labels may contain spaces; 256-byte labels are fine. */
    char label[300];
    memset(label, 'a', 256);
    label[256] = 0;
    char repl[400];
    snprintf(repl, sizeof repl, "[\"very negative\", \"%s\"]", label);
    t = edit(FULL, "[\"negative\", \"positive\", \"neutral\"]", repl);
    if (parse_ok(t, &c)) { CHECK(strlen(c.classify_labels.names[1]) == 256); attn_config_free(&c); }
    free(t);
}

/* Exactly ATTN_MAX_LABELS labels pass; one more is refused. */
static void test_label_count_limit(void) {
    for (int n = ATTN_MAX_LABELS; n <= ATTN_MAX_LABELS + 1; n++) {
        size_t cap = (size_t)n * 12 + 16;
        char *labels = malloc(cap);
        size_t len = 0;
        len += (size_t)snprintf(labels + len, cap - len, "[");
        for (int i = 0; i < n; i++)
            len += (size_t)snprintf(labels + len, cap - len, "%s\"L%d\"", i ? "," : "", i);
        snprintf(labels + len, cap - len, "]");
        char *t = edit(FULL, "[\"negative\", \"positive\", \"neutral\"]", labels);
        attn_config c;
        attn_error err = { "" };
        int rc = attn_config_parse(t, strlen(t), &c, &err);
        if (n == ATTN_MAX_LABELS) {
            CHECK_MSG(rc == ATTN_OK && c.classify_labels.n == n, "%s", err.msg);
            attn_config_free(&c);
        } else {
            CHECK(rc == ATTN_ELIMIT);
            CHECK_MSG(strcmp(err.msg, "config: 'classify.labels' has 4097 labels (at most 4096)") == 0,
                      "%s", err.msg);
        }
        free(t);
        free(labels);
    }
}

/* ---- config: one test per message -------------------------------------------------------- */

static void test_config_errors_top(void) {
    attn_config c;
    attn_error err = { "" };
    CHECK(attn_config_parse("{", 1, &c, &err) == ATTN_EINVAL);
    CHECK_MSG(strcmp(err.msg, "config: JSON: unexpected end of input at byte 1") == 0, "%s", err.msg);
    CHECK(attn_config_parse("[1]", 3, &c, &err) == ATTN_EINVAL);
    CHECK_MSG(strcmp(err.msg, "config: must be a JSON object, found an array") == 0, "%s", err.msg);
    size_t big = (size_t)ATTN_MAX_CONFIG_BYTES + 1;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    CHECK(attn_config_parse(huge, big, &c, &err) == ATTN_ELIMIT);
    CHECK_MSG(strcmp(err.msg, "config: 1048577 bytes, more than the limit of 1048576") == 0, "%s", err.msg);
    free(huge);

    expect_config_error("\"format\": 1", "\"format\": 2", ATTN_EINVAL,
                        "config: format 2 is not supported (this build reads format 1)");
    expect_config_error("\"format\": 1", "\"format\": 0, \"newkey\": 5", ATTN_EINVAL,
                        "config: format 0 is not supported (this build reads format 1)");
    expect_config_error("\"format\": 1,", "", ATTN_EINVAL, "config: 'format' is missing");
    expect_config_error("\"format\": 1", "\"format\": \"1\"", ATTN_EINVAL,
                        "config: 'format' must be an integer, found a string");
    expect_config_error("\"format\": 1", "\"format\": 1.5", ATTN_EINVAL,
                        "config: 'format' must be an integer, found 1.5");
    expect_config_error("\"format\": 1,", "\"format\": 1, \"colour\": 3,", ATTN_EINVAL,
                        "config: unknown key 'colour'");
    expect_config_error("\"format\": 1", "\"format\": 1, \"format\": 1", ATTN_EINVAL,
                        "config: JSON: duplicate key \"format\" in the object at byte 0");
}

static void test_config_errors_tasks(void) {
    const char *tasks = "[\"classify\", \"entities\", \"relations\"]";
    expect_config_error(tasks, "[\"classify\", \"ner\"]", ATTN_EINVAL,
                        "config: 'tasks[1]' 'ner' is unknown (expected classify, entities, relations, mlm or rtd)");
    expect_config_error(tasks, "[\"classify\", \"entities\", \"classify\"]", ATTN_EINVAL,
                        "config: 'tasks' lists 'classify' twice");
    expect_config_error(tasks, "[]", ATTN_EINVAL, "config: 'tasks' must be a non-empty array of task names");
    expect_config_error(tasks, "\"classify\"", ATTN_EINVAL,
                        "config: 'tasks' must be a non-empty array of task names");
    expect_config_error(tasks, "[\"classify\", 2]", ATTN_EINVAL, "config: 'tasks[1]' must be a string");
    expect_config_error("\"tasks\": ", "\"tasks_\": ", ATTN_EINVAL, "config: unknown key 'tasks_'");
    expect_config_error(tasks, "[\"classify\", \"relations\"]", ATTN_EINVAL,
                        "config: task 'relations' requires task 'entities' in 'tasks'");
    expect_config_error(" \"classify\": {\"labels\": [\"negative\", \"positive\", \"neutral\"]},\n", "",
                        ATTN_EINVAL, "config: 'classify' is missing (task 'classify' is listed in 'tasks')");
    expect_config_error(tasks, "[\"entities\", \"relations\"]", ATTN_EINVAL,
                        "config: 'classify' is given but task 'classify' is not in 'tasks'");
    expect_config_error("\"classify\": {\"labels\": [\"negative\", \"positive\", \"neutral\"]}",
                        "\"classify\": [\"negative\"]", ATTN_EINVAL, "config: 'classify' must be an object");
}

static void test_config_errors_sizes(void) {
    expect_config_error("\"dim\": 16", "\"dim\": 0", ATTN_EINVAL,
                        "config: 'dim' must be an integer in 1..16384, found 0");
    expect_config_error("\"dim\": 16", "\"dim\": 16385", ATTN_ELIMIT,
                        "config: 'dim' must be an integer in 1..16384, found 16385");
    expect_config_error("\"dim\": 16", "\"dim\": 2.5", ATTN_EINVAL,
                        "config: 'dim' must be an integer in 1..16384, found 2.5");
    expect_config_error("\"dim\": 16", "\"dim\": \"16\"", ATTN_EINVAL,
                        "config: 'dim' must be an integer in 1..16384, found a string");
    expect_config_error("\"dim\": 16", "\"dim\": 1e300", ATTN_ELIMIT,
                        "config: 'dim' must be an integer in 1..16384, found 1e+300");
    expect_config_error("\"dim\": 16, ", "", ATTN_EINVAL, "config: 'dim' is missing");
    expect_config_error("\"layers\": 2", "\"layers\": 65", ATTN_ELIMIT,
                        "config: 'layers' must be an integer in 1..64, found 65");
    expect_config_error("\"layers\": 2", "\"layers\": 0", ATTN_EINVAL,
                        "config: 'layers' must be an integer in 1..64, found 0");
    expect_config_error("\"heads\": 4", "\"heads\": null", ATTN_EINVAL,
                        "config: 'heads' must be an integer in 1..16384, found null");
    expect_config_error("\"heads\": 4", "\"heads\": 3", ATTN_EINVAL, "config: 'heads' (3) must divide 'dim' (16)");
    expect_config_error("\"heads\": 4", "\"heads\": 32", ATTN_EINVAL, "config: 'heads' (32) must divide 'dim' (16)");
    expect_config_error("\"ffn\": 32", "\"ffn\": -1", ATTN_EINVAL,
                        "config: 'ffn' must be an integer in 1..16384, found -1");
    expect_config_error("\"max_len\": 12", "\"max_len\": 8193", ATTN_ELIMIT,
                        "config: 'max_len' must be an integer in 1..8192, found 8193");
    expect_config_error("\"ln_eps\": 1e-6", "\"ln_eps\": 0", ATTN_EINVAL,
                        "config: 'ln_eps' must be a positive finite number, found 0");
    expect_config_error("\"ln_eps\": 1e-6", "\"ln_eps\": -0.5", ATTN_EINVAL,
                        "config: 'ln_eps' must be a positive finite number, found -0.5");
    expect_config_error("\"ln_eps\": 1e-6", "\"ln_eps\": 1e39", ATTN_EINVAL,   /* inf as a float */
                        "config: 'ln_eps' must be a positive finite number, found 1e+39");
    expect_config_error("\"ln_eps\": 1e-6", "\"ln_eps\": 1e-50", ATTN_EINVAL,  /* 0 as a float */
                        "config: 'ln_eps' must be a positive finite number, found 1e-50");
    expect_config_error("\"ln_eps\": 1e-6", "\"ln_eps\": \"small\"", ATTN_EINVAL,
                        "config: 'ln_eps' must be a positive finite number, found a string");
    expect_config_error("\"sqrt\"", "\"cube\"", ATTN_EINVAL, "config: 'attn_scale' must be \"sqrt\" or \"none\"");
    expect_config_error("\"sqrt\"", "1", ATTN_EINVAL, "config: 'attn_scale' must be \"sqrt\" or \"none\"");
    static const char *const bad_languages[] = {"\"e\"", "\"\"", "\"-en\"", "\"en_US\"", "\"zh hans\"",
                                                "\"abcdefghijklmnop\"", "1", "null", "[\"en\"]"};
    for (size_t i = 0; i < sizeof bad_languages / sizeof *bad_languages; i++) {
        char to[64];
        snprintf(to, sizeof to, "\"sqrt\", \"language\": %s", bad_languages[i]);
        expect_config_error("\"sqrt\"", to, ATTN_EINVAL,
                            "config: 'language' must be a language tag of 2 to 15 letters, digits "
                            "and '-', such as \"en\" or \"zh\"");
    }
}

static void test_config_errors_features(void) {
    const char *norm = "{\"kind\": \"norm\", \"buckets\": 100, \"dim\": 8}";
    expect_config_error("\"features\": ", "\"feature\": ", ATTN_EINVAL, "config: unknown key 'feature'");
    expect_config_error(norm, "[]", ATTN_EINVAL, "config: 'features[0]' must be an object");
    expect_config_error(norm, "{\"kind\": \"norm\", \"buckets\": 100, \"dim\": 8, \"seed\": 1}", ATTN_EINVAL,
                        "config: unknown key 'features[0].seed'");
    expect_config_error(norm, "{\"buckets\": 100, \"dim\": 8}", ATTN_EINVAL, "config: 'features[0].kind' is missing");
    expect_config_error(norm, "{\"kind\": \"char\", \"buckets\": 100, \"dim\": 8}", ATTN_EINVAL,
                        "config: 'features[0].kind' must be one of \"norm\", \"prefix\", \"suffix\", \"shape\", \"subword\", \"bigram_left\", \"bigram_right\", \"gazetteer\"");
    expect_config_error(norm, "{\"kind\": 0, \"buckets\": 100, \"dim\": 8}", ATTN_EINVAL,
                        "config: 'features[0].kind' must be one of \"norm\", \"prefix\", \"suffix\", \"shape\", \"subword\", \"bigram_left\", \"bigram_right\", \"gazetteer\"");
    expect_config_error("{\"kind\": \"shape\"", "{\"kind\": \"norm\"", ATTN_EINVAL,
                        "config: 'features[3].kind' \"norm\" is given twice");
    expect_config_error(norm, "{\"kind\": \"norm\", \"buckets\": 0, \"dim\": 8}", ATTN_EINVAL,
                        "config: 'features[0].buckets' must be an integer in 1..16777216, found 0");
    expect_config_error(norm, "{\"kind\": \"norm\", \"buckets\": 16777217, \"dim\": 8}", ATTN_ELIMIT,
                        "config: 'features[0].buckets' must be an integer in 1..16777216, found 16777217");
    expect_config_error(norm, "{\"kind\": \"norm\", \"dim\": 8}", ATTN_EINVAL,
                        "config: 'features[0].buckets' is missing");
    expect_config_error(norm, "{\"kind\": \"norm\", \"buckets\": 100, \"dim\": 16385}", ATTN_ELIMIT,
                        "config: 'features[0].dim' must be an integer in 1..16384, found 16385");
    expect_config_error(", \"affix\": 3}", "}", ATTN_EINVAL, "config: 'features[1].affix' is missing");
    expect_config_error("\"affix\": 3", "\"affix\": 9", ATTN_ELIMIT,
                        "config: 'features[1].affix' must be an integer in 1..8, found 9");
    expect_config_error("\"affix\": 2", "\"affix\": 0", ATTN_EINVAL,
                        "config: 'features[2].affix' must be an integer in 1..8, found 0");
    expect_config_error(norm, "{\"kind\": \"norm\", \"buckets\": 100, \"dim\": 8, \"affix\": 2}", ATTN_EINVAL,
                        "config: 'features[0].affix' is only allowed for kinds prefix and suffix");
}

/* The subword feature: optional n-gram lengths (default 3..6), its table "embed.subword", and
 * the errors of its keys. */
static void test_config_subword(void) {
    const char *shape = "{\"kind\": \"shape\", \"buckets\": 10, \"dim\": 3}";
    attn_config c;
    char *t = edit(FULL, shape, "{\"kind\": \"subword\", \"buckets\": 50, \"dim\": 6}");
    if (parse_ok(t, &c)) {
        CHECK(c.features[3].kind == ATTN_FEAT_SUBWORD && c.features[3].n_buckets == 50 &&
              c.features[3].dim == 6 && c.features[3].min_n == 3 && c.features[3].max_n == 6 &&
              c.features[3].affix == 0);
        CHECK(c.features[0].min_n == 0 && c.features[0].max_n == 0);
        CHECK(attn_feature_slots(c.features, c.n_features) == 3 + ATTN_SUBWORD_SLOTS);
        size_t n = 0, n_params = 0;
        attn_tensor_spec *s = attn_config_tensors(&c, &n, &n_params);
        const int e = s ? attn_tensor_find(s, n, "embed.subword") : -1;
        const int p = s ? attn_tensor_find(s, n, "embed.proj.w") : -1;
        CHECK(e == 3 && s[e].ndim == 2 && s[e].shape[0] == 50 && s[e].shape[1] == 6);
        CHECK(p >= 0 && s[p].shape[1] == 8 + 4 + 5 + 6);
        free(s);
        attn_config_free(&c);
    }
    free(t);
    t = edit(FULL, shape, "{\"kind\": \"subword\", \"buckets\": 50, \"dim\": 6, \"min_n\": 1, \"max_n\": 8}");
    if (parse_ok(t, &c)) {
        CHECK(c.features[3].min_n == 1 && c.features[3].max_n == 8);
        attn_config_free(&c);
    }
    free(t);
    t = edit(FULL, shape, "{\"kind\": \"subword\", \"buckets\": 50, \"dim\": 6, \"min_n\": 5}");
    if (parse_ok(t, &c)) {
        CHECK(c.features[3].min_n == 5 && c.features[3].max_n == 6);
        attn_config_free(&c);
    }
    free(t);

    expect_config_error(shape, "{\"kind\": \"subword\", \"buckets\": 10, \"dim\": 3},"
                        " {\"kind\": \"subword\", \"buckets\": 20, \"dim\": 3}", ATTN_EINVAL,
                        "config: 'features[4].kind' \"subword\" is given twice");
    expect_config_error(shape, "{\"kind\": \"subword\", \"buckets\": 10, \"dim\": 3, \"min_n\": 0}",
                        ATTN_EINVAL, "config: 'features[3].min_n' must be an integer in 1..8, found 0");
    expect_config_error(shape, "{\"kind\": \"subword\", \"buckets\": 10, \"dim\": 3, \"max_n\": 9}",
                        ATTN_ELIMIT, "config: 'features[3].max_n' must be an integer in 1..8, found 9");
    expect_config_error(shape, "{\"kind\": \"subword\", \"buckets\": 10, \"dim\": 3, \"min_n\": 2.5}",
                        ATTN_EINVAL, "config: 'features[3].min_n' must be an integer in 1..8, found 2.5");
    expect_config_error(shape, "{\"kind\": \"subword\", \"buckets\": 10, \"dim\": 3, \"min_n\": 5,"
                        " \"max_n\": 3}", ATTN_EINVAL,
                        "config: 'features[3]': subword n-gram lengths must satisfy "
                        "1 <= min_n <= max_n <= 8 (got min_n 5, max_n 3)");
    expect_config_error(shape, "{\"kind\": \"subword\", \"buckets\": 10, \"dim\": 3, \"max_n\": 2}",
                        ATTN_EINVAL, "config: 'features[3]': subword n-gram lengths must satisfy "
                        "1 <= min_n <= max_n <= 8 (got min_n 3, max_n 2)");
    expect_config_error(shape, "{\"kind\": \"shape\", \"buckets\": 10, \"dim\": 3, \"min_n\": 3}",
                        ATTN_EINVAL, "config: 'features[3].min_n' is only allowed for kind subword");
    expect_config_error(shape, "{\"kind\": \"shape\", \"buckets\": 10, \"dim\": 3, \"max_n\": 3}",
                        ATTN_EINVAL, "config: 'features[3].max_n' is only allowed for kind subword");
    expect_config_error(shape, "{\"kind\": \"subword\", \"buckets\": 10, \"dim\": 3, \"affix\": 3}",
                        ATTN_EINVAL, "config: 'features[3].affix' is only allowed for kinds prefix and suffix");
    expect_config_error(shape, "{\"kind\": \"subword\", \"buckets\": 10, \"dim\": 3, \"min\": 3}",
                        ATTN_EINVAL, "config: unknown key 'features[3].min'");
}

static void test_config_errors_features_arrays(void) {
    /* Replaces the whole features array. */
    const char *start = "[{\"kind\": \"norm\", \"buckets\": 100, \"dim\": 8},\n"
                        "              {\"kind\": \"prefix\", \"buckets\": 20, \"dim\": 4, \"affix\": 3},\n"
                        "              {\"kind\": \"suffix\", \"buckets\": 21, \"dim\": 5, \"affix\": 2},\n"
                        "              {\"kind\": \"shape\", \"buckets\": 10, \"dim\": 3}]";
    expect_config_error(start, "[]", ATTN_EINVAL, "config: 'features' must be a non-empty array of objects");
    expect_config_error(start, "{}", ATTN_EINVAL, "config: 'features' must be a non-empty array of objects");
    expect_config_error(start, "[{},{},{},{},{},{},{},{},{}]", ATTN_ELIMIT,
                        "config: 'features' has 9 entries (at most 8)");
}

static void test_config_errors_labels(void) {
    const char *cls = "[\"negative\", \"positive\", \"neutral\"]";
    const char *ent = "[\"PER\", \"LOC\", \"ORG\", \"MISC\"]";
    expect_config_error("{\"labels\": [\"negative\"", "{\"label\": [\"negative\"", ATTN_EINVAL,
                        "config: unknown key 'classify.label'");
    expect_config_error("\"hidden\": 24", "\"hidden\": 24, \"extra\": 1", ATTN_EINVAL,
                        "config: unknown key 'relations.extra'");
    expect_config_error("{\"labels\": [\"negative\", \"positive\", \"neutral\"]}", "{}", ATTN_EINVAL,
                        "config: 'classify.labels' is missing");
    expect_config_error(cls, "[]", ATTN_EINVAL, "config: 'classify.labels' must be a non-empty array of strings");
    expect_config_error(cls, "\"negative\"", ATTN_EINVAL,
                        "config: 'classify.labels' must be a non-empty array of strings");
    expect_config_error(cls, "[\"a\", 1]", ATTN_EINVAL, "config: 'classify.labels[1]' must be a string");
    expect_config_error(cls, "[\"\", \"a\"]", ATTN_EINVAL, "config: 'classify.labels[0]' is empty");
    expect_config_error(cls, "[\"a\\u0000b\"]", ATTN_EINVAL, "config: 'classify.labels[0]' contains U+0000");
    expect_config_error(cls, "[\"neg\", \"pos\", \"neg\"]", ATTN_EINVAL, "config: 'classify.labels' lists \"neg\" twice");
    char label[300], repl[400];
    memset(label, 'b', 257);
    label[257] = 0;
    snprintf(repl, sizeof repl, "[\"%s\"]", label);
    expect_config_error(cls, repl, ATTN_ELIMIT, "config: 'classify.labels[0]' is 257 bytes long (at most 256)");
    expect_config_error(ent, "[\"PER\", \"NEW YORK\"]", ATTN_EINVAL,
                        "config: 'entities.labels[1]' \"NEW YORK\" contains whitespace");
    expect_config_error(ent, "[\"PER\\t\"]", ATTN_EINVAL, "config: 'entities.labels[0]' \"PER\t\" contains whitespace");
    expect_config_error(ent, "[\"A\\u00a0B\"]", ATTN_EINVAL,
                        "config: 'entities.labels[0]' \"A\xc2\xa0" "B\" contains whitespace");
    expect_config_error(ent, "[\"X\\u3000\"]", ATTN_EINVAL,
                        "config: 'entities.labels[0]' \"X\xe3\x80\x80\" contains whitespace");
    expect_config_error(ent, "[\"B-PER\"]", ATTN_EINVAL,
                        "config: 'entities.labels[0]' \"B-PER\" must not start with \"B-\" or \"I-\" (tags add those)");
    expect_config_error(ent, "[\"PER\", \"I-LOC\"]", ATTN_EINVAL,
                        "config: 'entities.labels[1]' \"I-LOC\" must not start with \"B-\" or \"I-\" (tags add those)");
    expect_config_error(ent, "[\"PER\", \"LOC\", \"PER\"]", ATTN_EINVAL, "config: 'entities.labels' lists \"PER\" twice");
    expect_config_error("[\"Work_For\", \"Kill\"]", "[\"Kill\", \"Kill\"]", ATTN_EINVAL,
                        "config: 'relations.labels' lists \"Kill\" twice");
    expect_config_error("\"hidden\": 24", "\"hidden\": 0", ATTN_EINVAL,
                        "config: 'relations.hidden' must be an integer in 1..16384, found 0");
    expect_config_error(", \"type_dim\": 6", "", ATTN_EINVAL, "config: 'relations.type_dim' is missing");
    expect_config_error("\"type_dim\": 6", "\"type_dim\": -6", ATTN_EINVAL,
                        "config: 'relations.type_dim' must be an integer in 1..16384, found -6");
    /* temperature (optional in every head's section): a number in [0.01, 100] */
    expect_config_error(cls, "[\"neg\"], \"temperature\": 0", ATTN_EINVAL,
                        "config: 'classify.temperature' must be a number in [0.01, 100], found 0");
    expect_config_error(cls, "[\"neg\"], \"temperature\": -1.5", ATTN_EINVAL,
                        "config: 'classify.temperature' must be a number in [0.01, 100], found -1.5");
    expect_config_error(cls, "[\"neg\"], \"temperature\": 100.5", ATTN_EINVAL,
                        "config: 'classify.temperature' must be a number in [0.01, 100], found 100.5");
    expect_config_error(cls, "[\"neg\"], \"temperature\": 0.001", ATTN_EINVAL,
                        "config: 'classify.temperature' must be a number in [0.01, 100], found 0.001");
    expect_config_error(ent, "[\"PER\"], \"temperature\": \"2\"", ATTN_EINVAL,
                        "config: 'entities.temperature' must be a number in [0.01, 100], found a string");
    expect_config_error("\"hidden\": 24", "\"hidden\": 24, \"temperature\": null", ATTN_EINVAL,
                        "config: 'relations.temperature' must be a number in [0.01, 100], found null");
    expect_config_error("\"hidden\": 24", "\"hidden\": 24, \"temp\": 2", ATTN_EINVAL,
                        "config: unknown key 'relations.temp'");
}

/* A head's temperature: 1 when not given, as written otherwise (the bounds included). */
static void test_config_temperature(void) {
    attn_config c;
    if (parse_ok(FULL, &c)) {
        CHECK(c.classify_temperature == 1.0f && c.entity_temperature == 1.0f &&
              c.relation_temperature == 1.0f);
        attn_config_free(&c);
    }
    char *t = edit(FULL, "\"neutral\"]", "\"neutral\"], \"temperature\": 1.5");
    char *t2 = edit(t, "\"MISC\"]", "\"MISC\"], \"temperature\": 0.01");
    char *t3 = edit(t2, "\"type_dim\": 6", "\"type_dim\": 6, \"temperature\": 100");
    if (parse_ok(t3, &c)) {
        CHECK(c.classify_temperature == 1.5f && c.entity_temperature == 0.01f &&
              c.relation_temperature == 100.0f);
        CHECK(strstr(c.json, "\"temperature\": 1.5") != NULL);   /* the text is kept as given */
        attn_config_free(&c);
    }
    free(t);
    free(t2);
    free(t3);
}

/* Floats of a buffer holding tensors of these sizes, each starting at a multiple of
 * ATTN_TENSOR_ALIGN (the documented layout rule), computed independently of config.c. */
static unsigned long long padded_total(const unsigned long long *sizes, size_t n) {
    unsigned long long total = 0;
    for (size_t i = 0; i < n; i++) {
        total = (total + ATTN_TENSOR_ALIGN - 1) / ATTN_TENSOR_ALIGN * ATTN_TENSOR_ALIGN;
        total += sizes[i];
    }
    return total;
}

/* FULL's layout with embed.norm [buckets, fdim]: the total floats, padding included. */
static unsigned long long full_total_with_norm(unsigned long long buckets, unsigned long long fdim) {
    attn_config c;
    unsigned long long sizes[64], total = 0;
    if (!parse_ok(FULL, &c)) return 0;
    size_t n = 0, n_params = 0;
    attn_tensor_spec *s = attn_config_tensors(&c, &n, &n_params);
    if (s && n <= 64) {
        for (size_t i = 0; i < n; i++) sizes[i] = s[i].size;
        sizes[0] = buckets * fdim;                       /* embed.norm */
        sizes[4] = 16ull * (fdim + 4 + 5 + 3);           /* embed.proj.w [D, sum fdim] */
        total = padded_total(sizes, n);
    }
    free(s);
    attn_config_free(&c);
    return total;
}

/* A config that claims huge sizes is refused before anything is allocated. */
static void test_config_param_limit(void) {
    const char *norm = "{\"kind\": \"norm\", \"buckets\": 100, \"dim\": 8}";
    char msg[256];
    snprintf(msg, sizeof msg, "config: the model would have %llu parameters, more than the limit of "
             "268435456 (largest tensor: 'embed.norm' [16777216,16384])",
             full_total_with_norm(16777216, 16384));
    expect_config_error(norm, "{\"kind\": \"norm\", \"buckets\": 16777216, \"dim\": 16384}",
                        ATTN_ELIMIT, msg);
    /* 16384 x 16384 = 2^28 floats alone: the rest pushes it over. */
    snprintf(msg, sizeof msg, "config: the model would have %llu parameters, more than the limit of "
             "268435456 (largest tensor: 'embed.norm' [16384,16384])",
             full_total_with_norm(16384, 16384));
    expect_config_error(norm, "{\"kind\": \"norm\", \"buckets\": 16384, \"dim\": 16384}",
                        ATTN_ELIMIT, msg);
    /* Just under the limit: parses (parsing allocates no parameters). */
    CHECK(full_total_with_norm(16350, 16384) <= ATTN_MAX_PARAMS);
    char *t = edit(FULL, norm, "{\"kind\": \"norm\", \"buckets\": 16350, \"dim\": 16384}");
    attn_config c;
    if (parse_ok(t, &c)) {
        size_t n, n_params;
        attn_tensor_spec *s = attn_config_tensors(&c, &n, &n_params);
        CHECK(s && n_params == full_total_with_norm(16350, 16384));
        free(s);
        attn_config_free(&c);
    }
    free(t);
}

/* ---- tensor layout ----------------------------------------------------------------------- */

typedef struct expected_tensor { const char *key; int64_t d0, d1; } expected_tensor;

static void test_tensor_layout(void) {
    attn_config c;
    if (!parse_ok(FULL, &c)) return;
    /* D=16 F=32 max_len=12, feature dims 8+4+5+3=20, L=3, K=9, E=4, TD=6, RH=24, R=2. */
    const expected_tensor want[] = {
        { "embed.norm", 100, 8 }, { "embed.prefix", 20, 4 }, { "embed.suffix", 21, 5 },
        { "embed.shape", 10, 3 }, { "embed.proj.w", 16, 20 }, { "embed.proj.b", 16, -1 },
        { "pos", 12, 16 },
        { "layers.0.ln1.w", 16, -1 }, { "layers.0.ln1.b", 16, -1 },
        { "layers.0.attn.qkv.w", 48, 16 }, { "layers.0.attn.qkv.b", 48, -1 },
        { "layers.0.attn.out.w", 16, 16 }, { "layers.0.attn.out.b", 16, -1 },
        { "layers.0.ln2.w", 16, -1 }, { "layers.0.ln2.b", 16, -1 },
        { "layers.0.ffn.up.w", 32, 16 }, { "layers.0.ffn.up.b", 32, -1 },
        { "layers.0.ffn.down.w", 16, 32 }, { "layers.0.ffn.down.b", 16, -1 },
        { "layers.1.ln1.w", 16, -1 }, { "layers.1.ln1.b", 16, -1 },
        { "layers.1.attn.qkv.w", 48, 16 }, { "layers.1.attn.qkv.b", 48, -1 },
        { "layers.1.attn.out.w", 16, 16 }, { "layers.1.attn.out.b", 16, -1 },
        { "layers.1.ln2.w", 16, -1 }, { "layers.1.ln2.b", 16, -1 },
        { "layers.1.ffn.up.w", 32, 16 }, { "layers.1.ffn.up.b", 32, -1 },
        { "layers.1.ffn.down.w", 16, 32 }, { "layers.1.ffn.down.b", 16, -1 },
        { "final_ln.w", 16, -1 }, { "final_ln.b", 16, -1 },
        { "cls.w", 3, 32 }, { "cls.b", 3, -1 },
        { "tag.w", 9, 16 }, { "tag.b", 9, -1 }, { "crf.trans", 9, 9 }, { "crf.start", 9, -1 },
        { "crf.end", 9, -1 },
        { "rel.type", 4, 6 }, { "rel.hidden.w", 24, 3 * 16 + 2 * 6 }, { "rel.hidden.b", 24, -1 },
        { "rel.out.w", 3, 24 }, { "rel.out.b", 3, -1 },
    };
    size_t n_want = sizeof want / sizeof want[0], n = 0, n_params = 0;
    attn_tensor_spec *s = attn_config_tensors(&c, &n, &n_params);
    CHECK(s != NULL && n == n_want);
    size_t end = 0;
    for (size_t i = 0; s && i < n && i < n_want; i++) {
        int ndim = want[i].d1 < 0 ? 1 : 2;
        size_t size = (size_t)want[i].d0 * (size_t)(ndim == 2 ? want[i].d1 : 1);
        CHECK_MSG(strcmp(s[i].key, want[i].key) == 0, "spec %zu: %s, expected %s", i, s[i].key, want[i].key);
        CHECK_MSG(s[i].ndim == ndim && s[i].shape[0] == want[i].d0 &&
                  (ndim == 1 || s[i].shape[1] == want[i].d1) && s[i].size == size, "spec %s", s[i].key);
        CHECK_MSG(s[i].offset % ATTN_TENSOR_ALIGN == 0 && s[i].offset >= end &&
                  s[i].offset < end + ATTN_TENSOR_ALIGN, "offset of %s: %zu after %zu", s[i].key,
                  s[i].offset, end);
        end = s[i].offset + s[i].size;
        CHECK(attn_tensor_find(s, n, want[i].key) == (int)i);
    }
    CHECK(n_params == end);
    CHECK(attn_tensor_find(s, n, "layers.2.ln1.w") == -1);
    CHECK(attn_tensor_find(s, n, "embed") == -1);
    free(s);
    attn_config_free(&c);
}

/* ---- model loading ----------------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* Reference half -> float, independent of the kernels. */
static float half_to_float_ref(uint16_t h) {
    int sign = h >> 15, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    double v;
    if (exp == 0) v = ldexp(mant, -24);
    else if (exp == 31) v = mant ? NAN : INFINITY;
    else v = ldexp(1024 + mant, exp - 25);
    return (float)(sign ? -v : v);
}

/* Little-endian bytes of one tensor, random values; returns the values it encodes in *vals. */
static unsigned char *tensor_bytes(size_t n, int f16, float *vals) {
    unsigned char *b = malloc(n * 4 + 1);
    for (size_t i = 0; i < n; i++) {
        if (f16) {
            uint16_t h;
            do h = (uint16_t)rng_next(); while (((h >> 10) & 0x1F) == 31);
            vals[i] = half_to_float_ref(h);
            b[2 * i] = (unsigned char)(h & 0xFF);
            b[2 * i + 1] = (unsigned char)(h >> 8);
        } else {
            float v = ((float)(rng_next() % 200001) - 100000.0f) / 12345.0f;
            uint32_t bits;
            memcpy(&bits, &v, 4);
            vals[i] = v;
            for (int k = 0; k < 4; k++) b[4 * i + (size_t)k] = (unsigned char)(bits >> (8 * k));
        }
    }
    return b;
}

static void shape_text(const attn_tensor_spec *s, char *buf, size_t cap) {
    if (s->ndim == 1) snprintf(buf, cap, "[%lld]", (long long)s->shape[0]);
    else snprintf(buf, cap, "[%lld, %lld]", (long long)s->shape[0], (long long)s->shape[1]);
}

static attn_model *new_model(const char *cfg_text) {
    attn_model *m = NULL;
    attn_error err = { "" };
    int rc = attn_model_new(cfg_text, strlen(cfg_text), &m, &err);
    CHECK_MSG(rc == ATTN_OK && m, "%s", err.msg);
    return m;
}

/* Sets tensor i with random data (f16 when asked); the decoded values go to expect[offset..]. */
static int set_random(attn_model *m, size_t i, int f16, float *expect, attn_error *err) {
    const attn_tensor_spec *s = &m->specs[i];
    char shape[64];
    shape_text(s, shape, sizeof shape);
    unsigned char *b = tensor_bytes(s->size, f16, expect + s->offset);
    /* +1 byte: data need not be aligned. */
    unsigned char *unaligned = malloc(s->size * 4 + 1);
    memcpy(unaligned + 1, b, s->size * (f16 ? 2 : 4));
    int rc = attn_model_set_tensor(m, s->key, f16 ? "f16" : "f32", shape, unaligned + 1,
                                   s->size * (f16 ? 2 : 4), err);
    free(unaligned);
    free(b);
    return rc;
}

#define VIEW_IS(ptr, key) CHECK_MSG((ptr) == m->params + m->specs[attn_model_tensor_index(m, key)].offset, "view %s", key)

static void test_model_load_and_views(void) {
    attn_model *m = new_model(FULL);
    if (!m) return;
    CHECK(((uintptr_t)m->params % 64) == 0);
    float *expect = calloc(m->n_params, sizeof(float));
    attn_error err = { "" };
    for (size_t i = 0; i < m->n_specs; i++) {
        int rc = set_random(m, i, i % 3 == 1, expect, &err);
        CHECK_MSG(rc == ATTN_OK, "%s", err.msg);
    }
    CHECK_MSG(attn_model_finish(m, &err) == ATTN_OK, "%s", err.msg);
    CHECK(m->finished);
    /* Every float of the buffer (padding included: zero) equals what was stored. */
    size_t bad = 0;
    for (size_t k = 0; k < m->n_params; k++) bad += m->params[k] != expect[k];
    CHECK_MSG(bad == 0, "%zu values differ", bad);
    size_t sum = 0;
    for (size_t i = 0; i < m->n_specs; i++) sum += m->specs[i].size;
    CHECK(attn_model_param_count(m) == sum);
    CHECK(attn_config_param_count(&m->cfg) == sum && sum < m->n_params);
    /* By formula: embeds 800+80+105+30, proj 320+16, pos 192, 2 layers of
     * 2*16 + 768+48 + 256+16 + 2*16 + 512+32 + 512+16 = 2224, final 32, cls 96+3,
     * tag 144+9, crf 81+18, rel 24 + 24*60+24 + 72+3. */
    CHECK(sum == 1015 + 336 + 192 + 2 * 2224 + 32 + 99 + 153 + 99 + 24 + 1464 + 75);
    const attn_weights *w = &m->w;
    VIEW_IS(w->embed[0], "embed.norm");
    VIEW_IS(w->embed[1], "embed.prefix");
    VIEW_IS(w->embed[2], "embed.suffix");
    VIEW_IS(w->embed[3], "embed.shape");
    CHECK(w->embed[4] == NULL);
    VIEW_IS(w->proj_w, "embed.proj.w");
    VIEW_IS(w->proj_b, "embed.proj.b");
    VIEW_IS(w->pos, "pos");
    VIEW_IS(w->layer[0].ln1_w, "layers.0.ln1.w");
    VIEW_IS(w->layer[0].qkv_w, "layers.0.attn.qkv.w");
    VIEW_IS(w->layer[1].ln1_b, "layers.1.ln1.b");
    VIEW_IS(w->layer[1].qkv_b, "layers.1.attn.qkv.b");
    VIEW_IS(w->layer[1].out_w, "layers.1.attn.out.w");
    VIEW_IS(w->layer[1].out_b, "layers.1.attn.out.b");
    VIEW_IS(w->layer[1].ln2_w, "layers.1.ln2.w");
    VIEW_IS(w->layer[1].ln2_b, "layers.1.ln2.b");
    VIEW_IS(w->layer[1].up_w, "layers.1.ffn.up.w");
    VIEW_IS(w->layer[1].up_b, "layers.1.ffn.up.b");
    VIEW_IS(w->layer[1].down_w, "layers.1.ffn.down.w");
    VIEW_IS(w->layer[1].down_b, "layers.1.ffn.down.b");
    CHECK(w->layer[2].ln1_w == NULL && w->layer[2].down_b == NULL);
    VIEW_IS(w->final_ln_w, "final_ln.w");
    VIEW_IS(w->final_ln_b, "final_ln.b");
    VIEW_IS(w->cls_w, "cls.w");
    VIEW_IS(w->cls_b, "cls.b");
    VIEW_IS(w->tag_w, "tag.w");
    VIEW_IS(w->tag_b, "tag.b");
    VIEW_IS(w->crf_trans, "crf.trans");
    VIEW_IS(w->crf_start, "crf.start");
    VIEW_IS(w->crf_end, "crf.end");
    VIEW_IS(w->rel_type, "rel.type");
    VIEW_IS(w->rel_hidden_w, "rel.hidden.w");
    VIEW_IS(w->rel_hidden_b, "rel.hidden.b");
    VIEW_IS(w->rel_out_w, "rel.out.w");
    VIEW_IS(w->rel_out_b, "rel.out.b");
    /* The value of one element through a view: crf.trans[2][3]. */
    int ti = attn_model_tensor_index(m, "crf.trans");
    CHECK(w->crf_trans[2 * 9 + 3] == expect[m->specs[ti].offset + 21]);
    /* Read-only after finish. */
    float one = 1.0f;
    CHECK(attn_model_set_tensor(m, "pos", "f32", "[12,16]", &one, 4, &err) == ATTN_EINVAL);
    CHECK_MSG(strcmp(err.msg, "tensor 'pos': the model is already finished") == 0, "%s", err.msg);
    free(expect);
    attn_model_free(m);
}

/* Views of absent tasks are NULL; the permutation of the features follows the config. */
static void test_model_views_absent_tasks(void) {
    const char *cfg =
        "{\"format\":1,\"tasks\":[\"entities\"],\"dim\":4,\"layers\":1,\"heads\":2,\"ffn\":4,"
        "\"max_len\":3,\"features\":[{\"kind\":\"shape\",\"buckets\":3,\"dim\":2},"
        "{\"kind\":\"norm\",\"buckets\":5,\"dim\":2}],\"entities\":{\"labels\":[\"A\"]}}";
    attn_model *m = new_model(cfg);
    if (!m) return;
    float *expect = calloc(m->n_params, sizeof(float));
    attn_error err = { "" };
    for (size_t i = 0; i < m->n_specs; i++) CHECK(set_random(m, i, 0, expect, &err) == ATTN_OK);
    CHECK_MSG(attn_model_finish(m, &err) == ATTN_OK, "%s", err.msg);
    const attn_weights *w = &m->w;
    VIEW_IS(w->embed[0], "embed.shape");
    VIEW_IS(w->embed[1], "embed.norm");
    CHECK(w->embed[2] == NULL);
    VIEW_IS(w->tag_w, "tag.w");
    VIEW_IS(w->crf_end, "crf.end");
    CHECK(w->cls_w == NULL && w->cls_b == NULL);
    CHECK(w->rel_type == NULL && w->rel_hidden_w == NULL && w->rel_hidden_b == NULL &&
          w->rel_out_w == NULL && w->rel_out_b == NULL);
    CHECK(w->layer[1].ln1_w == NULL);
    CHECK(m->n_specs == 2 + 2 + 1 + 12 + 2 + 5);
    free(expect);
    attn_model_free(m);
}

static void expect_set_error(attn_model *m, const char *key, const char *dtype, const char *shape,
                             const void *data, size_t n_bytes, int code, const char *msg) {
    attn_error err = { "" };
    int rc = attn_model_set_tensor(m, key, dtype, shape, data, n_bytes, &err);
    CHECK_MSG(rc == code, "%s: rc %d, expected %d (%s)", key, rc, code, err.msg);
    CHECK_MSG(strcmp(err.msg, msg) == 0, "\n  got      %s\n  expected %s", err.msg, msg);
}

static void put_f32(unsigned char *b, size_t i, uint32_t bits) {
    for (int k = 0; k < 4; k++) b[4 * i + (size_t)k] = (unsigned char)(bits >> (8 * k));
}

static void test_model_load_errors(void) {
    attn_model *m = new_model(FULL);
    if (!m) return;
    unsigned char *buf = calloc(1, 1 << 16);
    attn_error err = { "" };
    /* pos is [12, 16] = 192 floats = 768 bytes. */
    expect_set_error(m, "layers.2.ln1.w", "f32", "[16]", buf, 64, ATTN_EMODEL,
                     "tensor 'layers.2.ln1.w': not part of this model's config");
    expect_set_error(m, "", "f32", "[16]", buf, 64, ATTN_EMODEL, "tensor '': not part of this model's config");
    expect_set_error(m, "pos", "bf16", "[12,16]", buf, 384, ATTN_EMODEL,
                     "tensor 'pos': dtype 'bf16' is not supported (expected f32, f16, q8 or q4)");
    expect_set_error(m, "pos", "F32", "[12,16]", buf, 768, ATTN_EMODEL,
                     "tensor 'pos': dtype 'F32' is not supported (expected f32, f16, q8 or q4)");
    expect_set_error(m, "layers.1.ffn.up.w", "f32", "[16,32]", buf, 2048, ATTN_EMODEL,
                     "tensor 'layers.1.ffn.up.w': shape [32,16] expected, found [16,32]");
    expect_set_error(m, "pos", "f32", "[192]", buf, 768, ATTN_EMODEL,
                     "tensor 'pos': shape [12,16] expected, found [192]");
    expect_set_error(m, "pos", "f32", "[12,16,1]", buf, 768, ATTN_EMODEL,
                     "tensor 'pos': shape [12,16] expected, found [12,16,1]");
    expect_set_error(m, "final_ln.w", "f32", "[16,1]", buf, 64, ATTN_EMODEL,
                     "tensor 'final_ln.w': shape [16] expected, found [16,1]");
    expect_set_error(m, "final_ln.w", "f32", "[]", buf, 64, ATTN_EMODEL,
                     "tensor 'final_ln.w': shape [16] expected, found []");
    expect_set_error(m, "pos", "f32", "[12,-16]", buf, 768, ATTN_EMODEL,
                     "tensor 'pos': shape '[12,-16]' is not a JSON array of non-negative integers");
    expect_set_error(m, "pos", "f32", "[12,16.5]", buf, 768, ATTN_EMODEL,
                     "tensor 'pos': shape '[12,16.5]' is not a JSON array of non-negative integers");
    expect_set_error(m, "pos", "f32", "[12,16", buf, 768, ATTN_EMODEL,
                     "tensor 'pos': shape '[12,16' is not a JSON array of non-negative integers");
    expect_set_error(m, "pos", "f32", "{\"rows\":12}", buf, 768, ATTN_EMODEL,
                     "tensor 'pos': shape '{\"rows\":12}' is not a JSON array of non-negative integers");
    expect_set_error(m, "pos", "f32", "[\"12\",16]", buf, 768, ATTN_EMODEL,
                     "tensor 'pos': shape '[\"12\",16]' is not a JSON array of non-negative integers");
    expect_set_error(m, "pos", "f32", NULL, buf, 768, ATTN_EMODEL, "tensor 'pos': shape is missing");
    expect_set_error(m, "pos", "f32", " [ 12 , 16 ] ", buf, 767, ATTN_EMODEL,
                     "tensor 'pos': 768 bytes expected (192 f32 values), found 767");
    expect_set_error(m, "pos", "f32", "[12,16]", buf, 769, ATTN_EMODEL,
                     "tensor 'pos': 768 bytes expected (192 f32 values), found 769");
    expect_set_error(m, "pos", "f16", "[12,16]", buf, 768, ATTN_EMODEL,
                     "tensor 'pos': 384 bytes expected (192 f16 values), found 768");
    expect_set_error(m, "pos", "f32", "[12,16]", buf, 0, ATTN_EMODEL,
                     "tensor 'pos': 768 bytes expected (192 f32 values), found 0");
    expect_set_error(m, "pos", "f32", "[12,16]", NULL, 768, ATTN_EMODEL,
                     "tensor 'pos': 768 bytes expected (192 f32 values), found 0");
    /* Non-finite values, f32 and f16, named by element. */
    memset(buf, 0, 1 << 16);
    put_f32(buf, 5, 0x7FC00000u);
    expect_set_error(m, "final_ln.w", "f32", "[16]", buf, 64, ATTN_EMODEL, "tensor 'final_ln.w': element 5 is NaN");
    memset(buf, 0, 1 << 16);
    put_f32(buf, 15, 0x7F800000u);
    expect_set_error(m, "final_ln.w", "f32", "[16]", buf, 64, ATTN_EMODEL, "tensor 'final_ln.w': element 15 is +Inf");
    memset(buf, 0, 1 << 16);
    put_f32(buf, 0, 0xFF800000u);
    put_f32(buf, 1, 0x7FC00000u);
    expect_set_error(m, "final_ln.w", "f32", "[16]", buf, 64, ATTN_EMODEL, "tensor 'final_ln.w': element 0 is -Inf");
    memset(buf, 0, 1 << 16);
    buf[2 * 17] = 0x00; buf[2 * 17 + 1] = 0x7E;        /* f16 NaN at element 17 */
    expect_set_error(m, "layers.0.ffn.up.w", "f16", "[32,16]", buf, 1024, ATTN_EMODEL,
                     "tensor 'layers.0.ffn.up.w': element 17 is NaN");
    memset(buf, 0, 1 << 16);
    buf[2 * 511] = 0x00; buf[2 * 511 + 1] = 0xFC;      /* f16 -Inf, last element */
    expect_set_error(m, "layers.0.ffn.up.w", "f16", "[32,16]", buf, 1024, ATTN_EMODEL,
                     "tensor 'layers.0.ffn.up.w': element 511 is -Inf");
    /* A failed tensor leaves zeros and can be given again. */
    int fi = attn_model_tensor_index(m, "final_ln.w");
    CHECK(m->params[m->specs[fi].offset] == 0.0f && !m->given[fi]);
    memset(buf, 0, 1 << 16);
    put_f32(buf, 0, 0x3F800000u);                      /* 1.0 */
    put_f32(buf, 15, 0xC0000000u);                     /* -2.0 */
    CHECK(attn_model_set_tensor(m, "final_ln.w", "f32", "[16]", buf, 64, &err) == ATTN_OK);
    CHECK(m->params[m->specs[fi].offset] == 1.0f && m->params[m->specs[fi].offset + 15] == -2.0f);
    expect_set_error(m, "final_ln.w", "f32", "[16]", buf, 64, ATTN_EMODEL, "tensor 'final_ln.w': given twice");
    /* f16 decoding: 1.0 = 0x3C00, -2.0 = 0xC000, 65504 = 0x7BFF, smallest subnormal 0x0001. */
    memset(buf, 0, 1 << 16);
    buf[0] = 0x00; buf[1] = 0x3C; buf[2] = 0x00; buf[3] = 0xC0;
    buf[4] = 0xFF; buf[5] = 0x7B; buf[6] = 0x01; buf[7] = 0x00;
    CHECK(attn_model_set_tensor(m, "final_ln.b", "f16", "[16]", buf, 32, &err) == ATTN_OK);
    int bi = attn_model_tensor_index(m, "final_ln.b");
    const float *fb = m->params + m->specs[bi].offset;
    CHECK(fb[0] == 1.0f && fb[1] == -2.0f && fb[2] == 65504.0f && fb[3] == ldexpf(1.0f, -24) && fb[4] == 0.0f);
    /* finish names the first missing tensor in layout order. */
    CHECK(attn_model_finish(m, &err) == ATTN_EMODEL);
    CHECK_MSG(strcmp(err.msg, "model: tensor 'embed.norm' is missing") == 0, "%s", err.msg);
    CHECK(!m->finished);
    free(buf);
    attn_model_free(m);
}

static void test_model_missing_tensor(void) {
    attn_model *m = new_model(FULL);
    if (!m) return;
    float *expect = calloc(m->n_params, sizeof(float));
    attn_error err = { "" };
    int skip = attn_model_tensor_index(m, "layers.1.ln1.b");
    int skip2 = attn_model_tensor_index(m, "rel.out.b");
    CHECK(skip > 0 && skip2 > skip);
    for (size_t i = 0; i < m->n_specs; i++)
        if ((int)i != skip && (int)i != skip2) CHECK(set_random(m, i, 0, expect, &err) == ATTN_OK);
    CHECK(attn_model_finish(m, &err) == ATTN_EMODEL);
    CHECK_MSG(strcmp(err.msg, "model: tensor 'layers.1.ln1.b' is missing") == 0, "%s", err.msg);
    CHECK(set_random(m, (size_t)skip, 1, expect, &err) == ATTN_OK);
    CHECK(attn_model_finish(m, &err) == ATTN_EMODEL);
    CHECK_MSG(strcmp(err.msg, "model: tensor 'rel.out.b' is missing") == 0, "%s", err.msg);
    CHECK(set_random(m, (size_t)skip2, 0, expect, &err) == ATTN_OK);
    CHECK_MSG(attn_model_finish(m, &err) == ATTN_OK, "%s", err.msg);
    free(expect);
    attn_model_free(m);
}

static void test_model_new_errors(void) {
    attn_model *m = (attn_model *)&m;   /* must be reset to NULL on failure */
    attn_error err = { "" };
    char *t = edit(FULL, "\"heads\": 4", "\"heads\": 5");
    CHECK(attn_model_new(t, strlen(t), &m, &err) == ATTN_EINVAL);
    CHECK(m == NULL);
    CHECK_MSG(strcmp(err.msg, "config: 'heads' (5) must divide 'dim' (16)") == 0, "%s", err.msg);
    free(t);
    /* The config text need not be NUL-terminated: only n bytes are read. */
    size_t n = strlen(FULL);
    char *copy = malloc(n);
    memcpy(copy, FULL, n);
    CHECK(attn_model_new(copy, n, &m, &err) == ATTN_OK);
    CHECK(m && strcmp(m->cfg.json, FULL) == 0);
    CHECK(attn_model_tensor_index(m, "rel.out.b") == (int)m->n_specs - 1);
    CHECK(attn_model_tensor_index(m, "nope") == -1);
    CHECK(attn_model_tensor_index(NULL, "pos") == -1);
    attn_model_free(m);
    free(copy);
    attn_model_free(NULL);
}

/* attn_f32_to_f16 inverts the loader's f16 -> f32 on every half value, and rounds to nearest
 * even between two halves. */
static void test_f32_to_f16(void) {
    const attn_kernels *k = attn_kernels_scalar();
    int mismatches = 0;
    for (uint32_t bits = 0; bits < 65536; bits++) {
        uint16_t h = (uint16_t)bits, back;
        float f;
        k->f16_to_f32(&f, &h, 1);
        attn_f32_to_f16(&back, &f, 1);
        int is_nan = (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu);
        if (is_nan ? !((back & 0x7c00u) == 0x7c00u && (back & 0x3ffu)) : back != h) mismatches++;
    }
    CHECK_MSG(mismatches == 0, "%d half values do not round-trip", mismatches);
    /* 1 + 2^-11 lies halfway between 1 and the next half (1 + 2^-10): ties go to even (1). */
    float tie = 1.0f + 0x1p-11f, above = 1.0f + 0x1p-11f + 0x1p-20f, big = 70000.0f;
    uint16_t h;
    attn_f32_to_f16(&h, &tie, 1);
    CHECK(h == 0x3c00u);
    attn_f32_to_f16(&h, &above, 1);
    CHECK(h == 0x3c01u);
    attn_f32_to_f16(&h, &big, 1);
    CHECK(h == 0x7c00u);             /* beyond 65504: inf */
    float tiny = 0x1p-25f;           /* half of the smallest subnormal: ties to even (0) */
    attn_f32_to_f16(&h, &tiny, 1);
    CHECK(h == 0);
}

/* ---- q8: per-row int8 ------------------------------------------------------------------- */

/* The q8 blob of x [rows, cols]: rows little-endian f32 scales, then the int8 values. */
static unsigned char *q8_blob(const float *x, size_t rows, size_t cols, float *scales) {
    unsigned char *b = malloc(rows * 4 + rows * cols + 1);
    attn_quantize_rows_q8(x, rows, cols, scales, (int8_t *)(b + 1 + rows * 4));
    for (size_t r = 0; r < rows; r++) {
        uint32_t bits;
        memcpy(&bits, &scales[r], 4);
        for (int k = 0; k < 4; k++) b[1 + 4 * r + (size_t)k] = (unsigned char)(bits >> (8 * k));
    }
    return b;   /* the blob starts at b + 1: deliberately unaligned */
}

/* A hand-checked example: scale = max|x| / 127, round half away from zero, zero row -> 0. */
static void test_quantize_rows_q8_example(void) {
    const float x[3][4] = { { 127.0f, -3.4f, 0.5f, -0.5f },
                            { 0.0f, 0.0f, -0.0f, 0.0f },
                            { -254.0f, 127.0f, 1.0f, -3.0f } };
    const int8_t want[3][4] = { { 127, -3, 1, -1 }, { 0, 0, 0, 0 }, { -127, 64, 1, -2 } };
    float scales[3];
    int8_t q[3][4];
    attn_quantize_rows_q8(&x[0][0], 3, 4, scales, &q[0][0]);
    CHECK(scales[0] == 1.0f && scales[1] == 0.0f && scales[2] == 2.0f);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            CHECK_MSG(q[r][c] == want[r][c], "q[%d][%d] = %d, expected %d", r, c, q[r][c], want[r][c]);
    /* Rounding error can push x / scale past 127: clamped, never -128. */
    const float edge[2] = { -1.0f, 1.0f - 0x1p-24f };
    float s1;
    int8_t q1[2];
    attn_quantize_rows_q8(edge, 1, 2, &s1, q1);
    CHECK(q1[0] == -127 && q1[1] == 127);
}

/* Random rows through quantize + set_tensor: every value within scale / 2 of the input and
 * exactly q * scale; the zero row decodes to zeros. */
static void test_q8_round_trip(void) {
    attn_model *m = new_model(FULL);
    if (!m) return;
    int ei = attn_model_tensor_index(m, "embed.norm");     /* [100, 8] */
    size_t rows = 100, cols = 8;
    float *x = malloc(rows * cols * sizeof *x), scales[100];
    for (size_t i = 0; i < rows * cols; i++) {
        float magnitude = (float)(1u << (i / cols % 12)) / 64.0f;     /* rows of 1/64 .. 32 */
        x[i] = magnitude * (((float)(rng_next() % 20001) - 10000.0f) / 10000.0f);
    }
    for (size_t c = 0; c < cols; c++) x[7 * cols + c] = 0.0f;
    unsigned char *b = q8_blob(x, rows, cols, scales);
    attn_error err = { "" };
    CHECK_MSG(attn_model_set_tensor(m, "embed.norm", "q8", "[100,8]", b + 1, rows * 4 + rows * cols,
                                    &err) == ATTN_OK, "%s", err.msg);
    const float *got = m->params + m->specs[ei].offset;
    const int8_t *q = (const int8_t *)(b + 1 + rows * 4);
    size_t far = 0, inexact = 0;
    for (size_t i = 0; i < rows * cols; i++) {
        float scale = scales[i / cols];
        far += fabsf(got[i] - x[i]) > scale * 0.5f * (1.0f + 1e-5f);
        inexact += got[i] != (float)q[i] * scale;
    }
    CHECK_MSG(far == 0, "%zu values further than scale / 2", far);
    CHECK_MSG(inexact == 0, "%zu values are not q * scale", inexact);
    CHECK(scales[7] == 0.0f && got[7 * cols] == 0.0f && got[8 * cols - 1] == 0.0f);
    CHECK(m->given[ei]);
    CHECK(attn_model_stored_dtype(m, "embed.norm") == ATTN_DTYPE_Q8);
    CHECK(attn_model_stored_dtype(m, "embed.shape") == ATTN_DTYPE_NONE);     /* not set yet */
    CHECK(attn_model_stored_dtype(m, "no.such") == ATTN_DTYPE_NONE);
    free(b);
    free(x);
    attn_model_free(m);
}

/* Storage choices: which dtype each tensor gets, and a whole model encoded by
 * attn_tensor_encode loads back within the dtype's error. */
static void test_q8_storage(void) {
    attn_model *m = new_model(FULL);
    if (!m) return;
    const attn_tensor_spec *sp = m->specs;
    const char *norm = attn_storage_dtype(ATTN_STORE_Q8, &sp[attn_model_tensor_index(m, "embed.norm")]);
    const char *shape = attn_storage_dtype(ATTN_STORE_Q8, &sp[attn_model_tensor_index(m, "embed.shape")]);
    const char *proj = attn_storage_dtype(ATTN_STORE_Q8, &sp[attn_model_tensor_index(m, "embed.proj.w")]);
    const char *proj_b = attn_storage_dtype(ATTN_STORE_Q8, &sp[attn_model_tensor_index(m, "embed.proj.b")]);
    const char *pos = attn_storage_dtype(ATTN_STORE_Q8, &sp[attn_model_tensor_index(m, "pos")]);
    const char *up = attn_storage_dtype(ATTN_STORE_Q8, &sp[attn_model_tensor_index(m, "layers.0.ffn.up.w")]);
    CHECK(!strcmp(norm, "q8") && !strcmp(shape, "q8"));
    CHECK(!strcmp(proj, "f16") && !strcmp(proj_b, "f16") && !strcmp(pos, "f16") && !strcmp(up, "f16"));
    CHECK(!strcmp(attn_storage_dtype(ATTN_STORE_F16, &sp[0]), "f16"));
    CHECK(!strcmp(attn_storage_dtype(ATTN_STORE_F32, &sp[0]), "f32"));
    const attn_tensor_spec *norm_spec = &sp[attn_model_tensor_index(m, "embed.norm")];
    const attn_tensor_spec *ln = &sp[attn_model_tensor_index(m, "final_ln.w")];
    CHECK(attn_tensor_stored_bytes(norm_spec, "q8") == 100 * 4 + 800);
    CHECK(attn_tensor_stored_bytes(norm_spec, "f16") == 1600 && attn_tensor_stored_bytes(norm_spec, "f32") == 3200);
    CHECK(attn_tensor_stored_bytes(ln, "q8") == 0 && attn_tensor_stored_bytes(ln, "bf16") == 0);
    attn_error err = { "" };
    float v[16] = { 0 };
    unsigned char out[64];
    CHECK(attn_tensor_encode(ln, "q8", v, out, &err) == ATTN_EINVAL);
    CHECK_MSG(!strcmp(err.msg, "tensor 'final_ln.w': cannot store as dtype 'q8'"), "%s", err.msg);
    CHECK(attn_tensor_encode(ln, "bf16", v, out, &err) == ATTN_EINVAL);
    CHECK_MSG(!strcmp(err.msg, "tensor 'final_ln.w': cannot store as dtype 'bf16'"), "%s", err.msg);
    /* Every tensor: random values, encoded under q8 storage, loaded back. */
    float *x = malloc(m->n_params * sizeof *x);
    for (size_t k = 0; k < m->n_params; k++) x[k] = ((float)(rng_next() % 20001) - 10000.0f) / 5000.0f;
    size_t far = 0;
    for (size_t i = 0; i < m->n_specs; i++) {
        const attn_tensor_spec *t = &sp[i];
        const char *dtype = attn_storage_dtype(ATTN_STORE_Q8, t);
        size_t n = attn_tensor_stored_bytes(t, dtype);
        unsigned char *b = malloc(n);
        CHECK(attn_tensor_encode(t, dtype, x + t->offset, b, &err) == ATTN_OK);
        char st[64];
        shape_text(t, st, sizeof st);
        CHECK_MSG(attn_model_set_tensor(m, t->key, dtype, st, b, n, &err) == ATTN_OK, "%s", err.msg);
        /* q8: |error| <= max|row| / 254; f16: relative 2^-11 (values are normal halves here). */
        for (size_t k = 0; k < t->size; k++) {
            float want = x[t->offset + k], got = m->params[t->offset + k];
            float tol = fabsf(want) * 0x1p-11f + 1e-7f;
            if (!strcmp(dtype, "q8")) {
                size_t cols = (size_t)t->shape[1], r0 = k / cols * cols;
                float max_abs = 0;
                for (size_t c = 0; c < cols; c++) max_abs = fmaxf(max_abs, fabsf(x[t->offset + r0 + c]));
                tol = max_abs / 254.0f * (1.0f + 1e-5f);
            }
            far += fabsf(got - want) > tol;
        }
        free(b);
    }
    CHECK_MSG(far == 0, "%zu values outside their dtype's error", far);
    CHECK_MSG(attn_model_finish(m, &err) == ATTN_OK, "%s", err.msg);
    free(x);
    attn_model_free(m);
}

static void test_q8_errors(void) {
    attn_model *m = new_model(FULL);
    if (!m) return;
    unsigned char *buf = calloc(1, 4096);
    int ei = attn_model_tensor_index(m, "embed.norm");     /* [100, 8]: 400 + 800 bytes */
    expect_set_error(m, "embed.norm", "q8", "[100,8]", buf, 1199, ATTN_EMODEL,
                     "tensor 'embed.norm': 1200 bytes expected (100 f32 scales + 800 q8 values), found 1199");
    expect_set_error(m, "embed.norm", "q8", "[100,8]", buf, 1201, ATTN_EMODEL,
                     "tensor 'embed.norm': 1200 bytes expected (100 f32 scales + 800 q8 values), found 1201");
    expect_set_error(m, "embed.norm", "q8", "[100,8]", buf, 800, ATTN_EMODEL,
                     "tensor 'embed.norm': 1200 bytes expected (100 f32 scales + 800 q8 values), found 800");
    expect_set_error(m, "embed.norm", "q8", "[100,8]", NULL, 1200, ATTN_EMODEL,
                     "tensor 'embed.norm': 1200 bytes expected (100 f32 scales + 800 q8 values), found 0");
    expect_set_error(m, "embed.norm", "q8", "[8,100]", buf, 1200, ATTN_EMODEL,
                     "tensor 'embed.norm': shape [100,8] expected, found [8,100]");
    expect_set_error(m, "final_ln.w", "q8", "[16]", buf, 80, ATTN_EMODEL,
                     "tensor 'final_ln.w': dtype 'q8' is for 2-D tensors only, this one is [16]");
    expect_set_error(m, "embed.norm", "Q8", "[100,8]", buf, 1200, ATTN_EMODEL,
                     "tensor 'embed.norm': dtype 'Q8' is not supported (expected f32, f16, q8 or q4)");
    /* Scales: finite and >= 0; the row is named. */
    for (size_t r = 0; r < 100; r++) put_f32(buf, r, 0x3F800000u);             /* 1.0 */
    put_f32(buf, 3, 0x7FC00000u);
    expect_set_error(m, "embed.norm", "q8", "[100,8]", buf, 1200, ATTN_EMODEL,
                     "tensor 'embed.norm': q8 scale of row 3 is NaN");
    put_f32(buf, 3, 0x3F800000u);
    put_f32(buf, 99, 0x7F800000u);
    expect_set_error(m, "embed.norm", "q8", "[100,8]", buf, 1200, ATTN_EMODEL,
                     "tensor 'embed.norm': q8 scale of row 99 is +Inf");
    put_f32(buf, 99, 0xBF000000u);                                             /* -0.5 */
    expect_set_error(m, "embed.norm", "q8", "[100,8]", buf, 1200, ATTN_EMODEL,
                     "tensor 'embed.norm': q8 scale of row 99 is negative");
    put_f32(buf, 99, 0x80000000u);                                             /* -0.0 is zero */
    /* -128 is refused (symmetric format); -127 and 127 are fine. */
    buf[400 + 0] = 0x81;                                                       /* -127 */
    buf[400 + 1] = 0x7F;                                                       /* 127 */
    buf[400 + 17] = 0x80;                                                      /* -128 */
    expect_set_error(m, "embed.norm", "q8", "[100,8]", buf, 1200, ATTN_EMODEL,
                     "tensor 'embed.norm': q8 element 17 is -128 (values are in [-127, 127])");
    /* A finite scale times q can still overflow a float: named like any non-finite value. */
    buf[400 + 17] = 0;
    put_f32(buf, 2, 0x7F7FFFFFu);                                              /* FLT_MAX */
    buf[400 + 2 * 8 + 5] = 2;
    expect_set_error(m, "embed.norm", "q8", "[100,8]", buf, 1200, ATTN_EMODEL,
                     "tensor 'embed.norm': element 21 is +Inf");
    /* Failures leave zeros and the tensor not given; then the fixed blob loads. */
    const float *dst = m->params + m->specs[ei].offset;
    CHECK(!m->given[ei] && dst[0] == 0.0f && dst[1] == 0.0f);
    buf[400 + 2 * 8 + 5] = 0;
    put_f32(buf, 2, 0x40000000u);                                              /* 2.0 */
    buf[400 + 2 * 8 + 7] = 0xFE;                                               /* -2 */
    attn_error err = { "" };
    CHECK_MSG(attn_model_set_tensor(m, "embed.norm", "q8", "[100,8]", buf, 1200, &err) == ATTN_OK,
              "%s", err.msg);
    CHECK(dst[0] == -127.0f && dst[1] == 127.0f && dst[2] == 0.0f && dst[2 * 8 + 7] == -4.0f);
    CHECK(dst[99 * 8] == 0.0f && !signbit(dst[2 * 8]) && m->given[ei]);
    free(buf);
    attn_model_free(m);
}

/* ---- q4: 4-bit groups of 32 --------------------------------------------------------------- */

/* Every 2-D tensor of the model through attn_tensor_encode("q4") and back: each value within
 * half a step of its group (max |group| / 14) and exactly q * scale; groups split at 32. */
static void test_q4_round_trip(void) {
    attn_model *m = new_model(FULL);
    if (!m) return;
    float *x = malloc(m->n_params * sizeof *x);
    for (size_t k = 0; k < m->n_params; k++)
        x[k] = (float)(1u << (k % 7)) * (((float)(rng_next() % 20001) - 10000.0f) / 80000.0f);
    attn_error err = { "" };
    size_t far = 0, tested = 0;
    for (size_t i = 0; i < m->n_specs; i++) {
        const attn_tensor_spec *t = &m->specs[i];
        if (t->ndim != 2) continue;
        size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1];
        size_t groups = (cols + 31) / 32, n = attn_tensor_stored_bytes(t, "q4");
        CHECK_MSG(n == rows * (groups * 4 + (cols + 1) / 2), "%s: %zu bytes", t->key, n);
        unsigned char *b = malloc(n + 1);
        CHECK(attn_tensor_encode(t, "q4", x + t->offset, b + 1, &err) == ATTN_OK);
        char st[64];
        shape_text(t, st, sizeof st);
        CHECK_MSG(attn_model_set_tensor(m, t->key, "q4", st, b + 1, n, &err) == ATTN_OK, "%s: %s",
                  t->key, err.msg);
        for (size_t k = 0; k < t->size; k++) {
            size_t r = k / cols, c = k % cols, c0 = c / 32 * 32;
            size_t c1 = c0 + 32 < cols ? c0 + 32 : cols;
            float max_abs = 0;
            for (size_t j = c0; j < c1; j++) max_abs = fmaxf(max_abs, fabsf(x[t->offset + r * cols + j]));
            float got = m->params[t->offset + k], want = x[t->offset + k];
            far += fabsf(got - want) > max_abs / 14.0f * (1.0f + 1e-5f);
        }
        tested++;
        free(b);
    }
    CHECK_MSG(far == 0, "%zu q4 values further than half a step", far);
    CHECK(tested >= 8);
    free(x);
    attn_model_free(m);
}

/* A hand-made blob: embed.suffix [21, 5] (odd width: a padding nibble per row). */
static void test_q4_layout_and_errors(void) {
    attn_model *m = new_model(FULL);
    if (!m) return;
    int ei = attn_model_tensor_index(m, "embed.suffix");
    const float *dst = m->params + m->specs[ei].offset;
    enum { ROWS = 21, COLS = 5, ROW_BYTES = 3, N = ROWS * 4 + ROWS * ROW_BYTES };
    unsigned char buf[N];
    memset(buf, 0, sizeof buf);
    for (size_t r = 0; r < ROWS; r++) put_f32(buf, r, 0x3F800000u);            /* scale 1.0 */
    put_f32(buf, 1, 0x40000000u);                                               /* row 1: 2.0 */
    unsigned char *q = buf + ROWS * 4;
    q[0] = 0x97;            /* row 0: c0 = 7, c1 = -7 */
    q[1] = 0xF0;            /* c2 = 0, c3 = -1 */
    q[2] = 0x03;            /* c4 = 3, padding 0 */
    q[ROW_BYTES + 0] = 0x1E; /* row 1: c0 = -2, c1 = 1 (times 2) */
    attn_error err = { "" };
    CHECK_MSG(attn_model_set_tensor(m, "embed.suffix", "q4", "[21,5]", buf, N, &err) == ATTN_OK,
              "%s", err.msg);
    CHECK(dst[0] == 7.0f && dst[1] == -7.0f && dst[2] == 0.0f && dst[3] == -1.0f && dst[4] == 3.0f);
    CHECK(dst[5] == -4.0f && dst[6] == 2.0f && dst[7] == 0.0f);
    CHECK(attn_model_stored_dtype(m, "embed.suffix") == ATTN_DTYPE_Q4);
    /* The encoder writes the same bytes for row 0 (its max is 7: scale 1); its all-zero rows
     * get scale 0 and zero nibbles. */
    unsigned char back[N];
    CHECK(attn_tensor_encode(&m->specs[ei], "q4", dst, back, &err) == ATTN_OK);
    CHECK(!memcmp(back, buf, 4) && !memcmp(back + ROWS * 4, q, ROW_BYTES));
    CHECK(back[4 * 2] == 0 && back[4 * 2 + 3] == 0 && back[ROWS * 4 + ROW_BYTES * 2] == 0);
    attn_model_free(m);
    m = new_model(FULL);
    if (!m) return;
    expect_set_error(m, "embed.suffix", "q4", "[21,5]", buf, N - 1, ATTN_EMODEL,
                     "tensor 'embed.suffix': 147 bytes expected (21 f32 scales + 21 rows of 3 q4 "
                     "bytes), found 146");
    expect_set_error(m, "final_ln.w", "q4", "[16]", buf, 64, ATTN_EMODEL,
                     "tensor 'final_ln.w': dtype 'q4' is for 2-D tensors only, this one is [16]");
    q[2] = 0x13;                                                                /* padding 1 */
    expect_set_error(m, "embed.suffix", "q4", "[21,5]", buf, N, ATTN_EMODEL,
                     "tensor 'embed.suffix': q4 row 0 has a non-zero padding nibble");
    q[2] = 0x03;
    q[ROW_BYTES * 4 + 1] = 0x08;                                                /* row 4, c2 = -8 */
    expect_set_error(m, "embed.suffix", "q4", "[21,5]", buf, N, ATTN_EMODEL,
                     "tensor 'embed.suffix': q4 element 22 is -8 (values are in [-7, 7])");
    q[ROW_BYTES * 4 + 1] = 0;
    put_f32(buf, 20, 0xFF800000u);
    expect_set_error(m, "embed.suffix", "q4", "[21,5]", buf, N, ATTN_EMODEL,
                     "tensor 'embed.suffix': q4 scale 20 is -Inf");
    CHECK(!m->given[ei]);
    attn_model_free(m);
}

/* q4 storage: embedding tables at least 32 wide are q4, narrower ones q8, the rest f16. */
static void test_q4_storage(void) {
    static const char *WIDE =
        "{\"format\": 1, \"tasks\": [\"classify\"], \"dim\": 16, \"layers\": 1, \"heads\": 2,"
        " \"ffn\": 32, \"max_len\": 8,"
        " \"features\": [{\"kind\": \"norm\", \"buckets\": 50, \"dim\": 32},"
        "              {\"kind\": \"shape\", \"buckets\": 10, \"dim\": 31}],"
        " \"classify\": {\"labels\": [\"a\", \"b\"]}}";
    attn_model *m = new_model(WIDE);
    if (!m) return;
    const attn_tensor_spec *sp = m->specs;
    CHECK(!strcmp(attn_storage_dtype(ATTN_STORE_Q4, &sp[attn_model_tensor_index(m, "embed.norm")]), "q4"));
    CHECK(!strcmp(attn_storage_dtype(ATTN_STORE_Q4, &sp[attn_model_tensor_index(m, "embed.shape")]), "q8"));
    CHECK(!strcmp(attn_storage_dtype(ATTN_STORE_Q4, &sp[attn_model_tensor_index(m, "embed.proj.w")]), "f16"));
    CHECK(!strcmp(attn_storage_dtype(ATTN_STORE_Q4, &sp[attn_model_tensor_index(m, "layers.0.ffn.down.w")]), "f16"));
    CHECK(!strcmp(attn_storage_dtype(ATTN_STORE_Q8, &sp[attn_model_tensor_index(m, "embed.norm")]), "q8"));
    attn_model_free(m);
}

/* q4-int8 storage: q4 storage plus the encoder's linear weights (the projection, 4 per layer)
 * as q8 (run on the int8 kernels); every other tensor as under q4 (LayerNorm weights under
 * "layers." and biases stay f16). */
static void test_q4_int8_storage(void) {
    static const char *WIDE =
        "{\"format\": 1, \"tasks\": [\"classify\"], \"dim\": 16, \"layers\": 2, \"heads\": 2,"
        " \"ffn\": 32, \"max_len\": 8,"
        " \"features\": [{\"kind\": \"norm\", \"buckets\": 50, \"dim\": 32},"
        "              {\"kind\": \"shape\", \"buckets\": 10, \"dim\": 31}],"
        " \"classify\": {\"labels\": [\"a\", \"b\"]}}";
    attn_model *m = new_model(WIDE);
    if (!m) return;
    static const char *const linears[] = { "attn.qkv.w", "attn.out.w", "ffn.up.w", "ffn.down.w" };
    size_t n_q8 = 0, n_same = 0;
    for (size_t i = 0; i < m->n_specs; i++) {
        const attn_tensor_spec *t = &m->specs[i];
        const char *d = attn_storage_dtype(ATTN_STORE_Q4_INT8, t);
        int linear = !strcmp(t->key, "embed.proj.w");
        for (int l = 0; l < 2; l++)
            for (int k = 0; k < 4; k++) {
                char key[64];
                snprintf(key, sizeof key, "layers.%d.%s", l, linears[k]);
                linear |= !strcmp(t->key, key);
            }
        if (linear) n_q8 += !strcmp(d, "q8");
        else n_same += !strcmp(d, attn_storage_dtype(ATTN_STORE_Q4, t));
    }
    CHECK_MSG(n_q8 == 9, "%zu of the 9 linear weights are q8", n_q8);
    CHECK_MSG(n_same == m->n_specs - 9, "%zu of %zu other tensors as under q4", n_same,
              m->n_specs - 9);
    const attn_tensor_spec *sp = m->specs;
    CHECK(!strcmp(attn_storage_dtype(ATTN_STORE_Q4_INT8, &sp[attn_model_tensor_index(m, "layers.1.ln2.w")]), "f16"));
    CHECK(!strcmp(attn_storage_dtype(ATTN_STORE_Q4_INT8, &sp[attn_model_tensor_index(m, "layers.0.ffn.up.b")]), "f16"));
    CHECK(!strcmp(attn_storage_dtype(ATTN_STORE_Q4_INT8, &sp[attn_model_tensor_index(m, "embed.proj.b")]), "f16"));
    CHECK(!strcmp(attn_storage_dtype(ATTN_STORE_Q4_INT8, &sp[attn_model_tensor_index(m, "embed.norm")]), "q4"));
    CHECK(!strcmp(attn_storage_dtype(ATTN_STORE_Q4_INT8, &sp[attn_model_tensor_index(m, "cls.w")]), "f16"));
    CHECK(!strcmp(attn_storage_dtype(ATTN_STORE_Q4, &sp[attn_model_tensor_index(m, "layers.1.attn.qkv.w")]), "f16"));
    /* q8-int8: the same linears as q8, every other tensor as under q8 (no q4 table) */
    size_t n_q8_int8 = 0, n_as_q8 = 0;
    for (size_t i = 0; i < m->n_specs; i++) {
        const attn_tensor_spec *t = &m->specs[i];
        const char *d = attn_storage_dtype(ATTN_STORE_Q8_INT8, t);
        if (!strcmp(attn_storage_dtype(ATTN_STORE_Q4_INT8, t), "q8") && strncmp(t->key, "embed.", 6) != 0)
            n_q8_int8 += !strcmp(d, "q8");
        else if (!strcmp(t->key, "embed.proj.w"))
            n_q8_int8 += !strcmp(d, "q8");
        else
            n_as_q8 += !strcmp(d, attn_storage_dtype(ATTN_STORE_Q8, t));
    }
    CHECK_MSG(n_q8_int8 == 9, "%zu of the 9 linear weights are q8 under q8-int8", n_q8_int8);
    CHECK_MSG(n_as_q8 == m->n_specs - 9, "%zu of %zu other tensors as under q8", n_as_q8,
              m->n_specs - 9);
    CHECK(!strcmp(attn_storage_dtype(ATTN_STORE_Q8_INT8, &sp[attn_model_tensor_index(m, "embed.norm")]), "q8"));
    attn_model_free(m);
}

/* attn_is_encoder_tensor: every key of a model is encoder or head, by its prefix. */
static void test_encoder_tensors(void) {
    CHECK(attn_is_encoder_tensor("embed.norm") && attn_is_encoder_tensor("embed.proj.w"));
    CHECK(attn_is_encoder_tensor("pos") && attn_is_encoder_tensor("final_ln.b"));
    CHECK(attn_is_encoder_tensor("layers.0.attn.qkv.w") && attn_is_encoder_tensor("layers.3.ln2.b"));
    static const char *const heads[] = { "cls.w", "cls.b", "tag.w", "tag.b", "crf.trans",
                                         "crf.start", "crf.end", "rel.type", "rel.hidden.w",
                                         "rel.out.b", "mlm.w", "mlm.b", "position", "embedding" };
    for (size_t i = 0; i < sizeof heads / sizeof *heads; i++)
        CHECK_MSG(!attn_is_encoder_tensor(heads[i]), "%s is not an encoder tensor", heads[i]);
}

int main(void) {
    test_f32_to_f16();
    test_full_config_fields();
    test_config_temperature();
    test_config_defaults_and_options();
    test_label_count_limit();
    test_config_errors_top();
    test_config_errors_tasks();
    test_config_errors_sizes();
    test_config_errors_features();
    test_config_subword();
    test_config_errors_features_arrays();
    test_config_errors_labels();
    test_config_param_limit();
    test_tensor_layout();
    test_model_load_and_views();
    test_model_views_absent_tasks();
    test_model_load_errors();
    test_model_missing_tensor();
    test_model_new_errors();
    test_quantize_rows_q8_example();
    test_q8_round_trip();
    test_q8_storage();
    test_q8_errors();
    test_q4_round_trip();
    test_q4_layout_and_errors();
    test_q4_storage();
    test_q4_int8_storage();
    test_encoder_tensors();
    return CHECK_DONE();
}
