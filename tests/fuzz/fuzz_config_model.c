/* fuzz_config_model: the model loader (config.h, model.h) and, when a model loads, the whole
 * forward pass (pipeline.h) on a few fixed texts.
 *
 * Input framing (all integers little-endian; a truncated record ends the input):
 *   [u16 config length L][config JSON, L bytes][u8 flags]
 *   then records [u8 key length][key][u8 dtype][u8 shape length][shape text][u16 n][n bytes]
 *   dtype byte: 0 "f32", 1 "f16", 2 "bf16" (unsupported), 3 "q8", 4 "text" (the rows of a
 *   gazetteer's lists, gazetteer.h), else "" (unsupported).
 *   flags: bit 0  after the records, give every tensor not yet given generated values, so that
 *                 attn_model_finish succeeds and the pipeline runs on the config as mutated;
 *          bit 1  generated values as f16 (else f32);
 *          bits 2-4 k: generated values uniform in [-s, s], s = 0.01 * 4^k (0.01 .. 163.84);
 *          bit 5  generated values in q8 storage (model.h attn_storage_dtype: q8 embedding
 *                 tables, f16 for the rest); overrides bit 1.
 * tests/fuzz/make_model_seeds.c writes seeds in this framing.
 *
 * Configs whose parameter count is above FUZZ_MAX_PARAMS are skipped before attn_model_new:
 * the engine's own limit (ATTN_MAX_PARAMS, 2^28 floats = 1 GiB) is far above what a fuzzer
 * process may allocate (libFuzzer's -malloc_limit_mb). The environment variable
 * FUZZ_MAX_PARAMS overrides the cap (0 = none), e.g. to reproduce a large allocation:
 *   FUZZ_MAX_PARAMS=0 build/fuzz/fuzz_config_model -malloc_limit_mb=2048 FILE
 *
 * Invariants (abort when broken):
 *   - a config attn_config_parse accepts is accepted by attn_model_new; its tensor list has
 *     offsets aligned to ATTN_TENSOR_ALIGN, non-overlapping, inside n_params;
 *   - a tensor key the config does not imply is rejected unless it is a gazetteer row, which
 *     only a model with a gazetteer feature accepts; a tensor given twice is rejected;
 *   - the generated tensor of each spec (its own shape text, exact byte count, finite values)
 *     is accepted; attn_model_finish succeeds exactly when every tensor was given; a finished
 *     model rejects further tensors;
 *   - pipeline results: probabilities in [0, 1] summing to 1, entities in text order, inside
 *     the text, with consistent byte/character/token offsets and labels in range; relations
 *     between distinct existing entities with labels in range; attn_run_relations finds the
 *     same entities as attn_run_entities. When every tensor was generated (bounded weights),
 *     every probability and score must be finite. */
#include "model.h"
#include "pipeline.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "fuzz_check.h"

#define FUZZ_MAX_PARAMS 50000000u   /* 200 MB of f32 */

static size_t max_params = FUZZ_MAX_PARAMS;   /* FUZZ_MAX_PARAMS from the environment */
#define MAX_RECORD_KEY 255

static const char *const TEXTS[] = {
    "",
    "John Smith works for Acme Corp. in New York.",
    "Dr. Anna-Maria O'Neill (anna@example.org) met 3 people at 12:30 on 2024-05-01 in S\xc3\xa3o "
    "Paulo; she didn't stay. \xe5\xbc\xa0\xe4\xb8\x89\xe5\x9c\xa8\xe5\x8c\x97\xe4\xba\xac "
    "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd \xff\xfe bad bytes, https://example.org/a?b=c. "
    "Then John met Mary and Peter in Paris, London, Berlin and Rome again and again.",
};
#define N_TEXTS (sizeof TEXTS / sizeof *TEXTS)

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    openblas_set_num_threads(1);
    const char *cap = getenv("FUZZ_MAX_PARAMS");
    if (cap) max_params = strtoull(cap, NULL, 10) ? (size_t)strtoull(cap, NULL, 10) : SIZE_MAX;
    return 0;
}

/* ---- reading the framing ---- */

typedef struct reader { const uint8_t *p; size_t left; } reader;

static int take(reader *r, size_t n, const uint8_t **out) {
    if (r->left < n) return 0;
    *out = r->p;
    r->p += n;
    r->left -= n;
    return 1;
}

static int take_u8(reader *r, unsigned *v) {
    const uint8_t *b;
    if (!take(r, 1, &b)) return 0;
    *v = b[0];
    return 1;
}

static int take_u16(reader *r, unsigned *v) {
    const uint8_t *b;
    if (!take(r, 2, &b)) return 0;
    *v = (unsigned)b[0] | (unsigned)b[1] << 8;
    return 1;
}

/* A length-prefixed (u8) field as a NUL-terminated copy in buf[256]. */
static int take_text(reader *r, char *buf) {
    unsigned n;
    const uint8_t *b;
    if (!take_u8(r, &n) || !take(r, n, &b)) return 0;
    memcpy(buf, b, n);
    buf[n] = '\0';
    return 1;
}

static const char *dtype_name(unsigned code) {
    static const char *const names[] = { "f32", "f16", "bf16", "q8", "text" };
    return code < 5 ? names[code] : "";
}

/* One record: returns 0 at the end of the input. *explicit_given counts accepted tensors. */
static int apply_record(reader *r, attn_model *m, int *explicit_given) {
    char key[MAX_RECORD_KEY + 1], shape[MAX_RECORD_KEY + 1];
    unsigned dtype, n;
    const uint8_t *data;
    if (!take_text(r, key) || !take_u8(r, &dtype) || !take_text(r, shape) || !take_u16(r, &n) ||
        !take(r, n, &data))
        return 0;
    int idx = attn_model_tensor_index(m, key);
    int was_given = idx >= 0 && m->given[idx];
    attn_error err;
    int rc = attn_model_set_tensor(m, key, dtype_name(dtype), shape, data, n, &err);
    FUZZ_CHECK(idx >= 0 || rc != ATTN_OK || (attn_gazetteer_is_key(key) && m->gazetteer),
               "unknown key '%s' accepted", key);
    if (idx < 0 && rc == ATTN_OK) return 1;     /* a gazetteer row: not a tensor */
    FUZZ_CHECK(!was_given || rc != ATTN_OK, "tensor '%s' accepted twice", key);
    if (rc == ATTN_OK) (*explicit_given)++;
    return 1;
}

/* ---- generated tensors ---- */

static uint64_t next_random(uint64_t *state) { return attn_splitmix64(state); }   /* common.h */

/* Bytes of spec's tensor: uniform in [-scale, scale], encoded as dtype. */
static void *generate_tensor(const attn_tensor_spec *spec, const char *dtype, float scale,
                             size_t *n_bytes) {
    uint64_t state = spec->offset * 2654435761u + spec->size;
    float *v = malloc((spec->size ? spec->size : 1) * sizeof *v);
    if (!v) abort();
    for (size_t i = 0; i < spec->size; i++)
        v[i] = scale * (2.0f * (float)(next_random(&state) >> 40) / (float)(1u << 24) - 1.0f);
    *n_bytes = attn_tensor_stored_bytes(spec, dtype);
    void *out = malloc(*n_bytes ? *n_bytes : 1);
    attn_error err;
    if (!out || attn_tensor_encode(spec, dtype, v, out, &err) != ATTN_OK) abort();
    free(v);
    return out;
}

static void fill_missing(attn_model *m, unsigned flags) {
    attn_storage storage = (flags >> 5) & 1 ? ATTN_STORE_Q8
                         : (flags >> 1) & 1 ? ATTN_STORE_F16 : ATTN_STORE_F32;
    float scale = 0.01f * (float)(1u << (2 * ((flags >> 2) & 7)));
    for (size_t i = 0; i < m->n_specs; i++) {
        if (m->given[i]) continue;
        const attn_tensor_spec *s = &m->specs[i];
        char shape[64];
        if (s->ndim == 2) snprintf(shape, sizeof shape, "[%lld,%lld]", (long long)s->shape[0], (long long)s->shape[1]);
        else snprintf(shape, sizeof shape, "[%lld]", (long long)s->shape[0]);
        const char *dtype = attn_storage_dtype(storage, s);
        size_t n_bytes;
        void *data = generate_tensor(s, dtype, scale, &n_bytes);
        attn_error err;
        int rc = attn_model_set_tensor(m, s->key, dtype, shape, data, n_bytes, &err);
        FUZZ_CHECK(rc == ATTN_OK, "own tensor '%s' %s (%s) refused: %s", s->key, shape, dtype, err.msg);
        free(data);
    }
}

/* ---- the loaded model's layout ---- */

static void check_layout(const attn_model *m) {
    size_t end = 0;
    for (size_t i = 0; i < m->n_specs; i++) {
        const attn_tensor_spec *s = &m->specs[i];
        FUZZ_CHECK(s->offset % ATTN_TENSOR_ALIGN == 0 && s->offset >= end, "'%s' offset %zu", s->key, s->offset);
        FUZZ_CHECK((s->ndim == 1 && (size_t)s->shape[0] == s->size) ||
                   (s->ndim == 2 && (size_t)(s->shape[0] * s->shape[1]) == s->size), "'%s' size", s->key);
        end = s->offset + s->size;
    }
    FUZZ_CHECK(end <= m->n_params, "tensors end at %zu, buffer %zu", end, m->n_params);
}

/* ---- pipeline results ---- */

static void check_probs(const float *p, int n, int must_be_finite, const char *what) {
    double sum = 0;
    int finite = 1;
    for (int i = 0; i < n; i++) {
        if (!isfinite(p[i])) { finite = 0; continue; }
        FUZZ_CHECK(p[i] >= 0.0f && p[i] <= 1.0f + 1e-5f, "%s[%d] = %g", what, i, p[i]);
        sum += p[i];
    }
    FUZZ_CHECK(finite || !must_be_finite, "%s: non-finite probability from bounded weights", what);
    FUZZ_CHECK(!finite || fabs(sum - 1.0) < 1e-3, "%s: probabilities sum to %g", what, sum);
}

static void check_entities(const attn_model *m, const char *text, size_t n, const attn_entity *e,
                           size_t n_ents, int n_tokens, int must_be_finite) {
    int prev_tok = 0;
    for (size_t i = 0; i < n_ents; i++) {
        FUZZ_CHECK(e[i].tok_start >= prev_tok && e[i].tok_start < e[i].tok_end && e[i].tok_end <= n_tokens,
                   "entity %zu tokens [%d, %d) of %d", i, e[i].tok_start, e[i].tok_end, n_tokens);
        FUZZ_CHECK(e[i].byte_start < e[i].byte_end && e[i].byte_end <= n, "entity %zu bytes", i);
        FUZZ_CHECK(attn_utf8_count(text, e[i].byte_start) == e[i].start &&
                   attn_utf8_count(text, e[i].byte_end) == e[i].end, "entity %zu chars", i);
        FUZZ_CHECK(e[i].label >= 0 && e[i].label < m->cfg.entity_labels.n, "entity %zu label %d", i, e[i].label);
        FUZZ_CHECK(isfinite(e[i].score) || !must_be_finite, "entity %zu score %g", i, e[i].score);
        FUZZ_CHECK(!isfinite(e[i].score) || (e[i].score >= 0.0f && e[i].score <= 1.0f + 1e-5f),
                   "entity %zu score %g", i, e[i].score);
        prev_tok = e[i].tok_end;
    }
}

static int encode(const attn_model *m, attn_session *s, const char *text, size_t n, int must_be_finite) {
    const float *h;
    const attn_token *toks;
    int n_tokens = -1;
    attn_error err;
    FUZZ_CHECK(attn_run_encode(m, s, text, n, &h, &n_tokens, &toks, &err) == ATTN_OK, "%s", err.msg);
    attn_tokens ref = {0};
    FUZZ_CHECK(attn_tokenize(text, n, &ref, &err) == ATTN_OK && ref.n == (size_t)n_tokens, "token count");
    attn_tokens_free(&ref);
    for (size_t i = 0; must_be_finite && i < (size_t)n_tokens * (size_t)m->cfg.dim; i++)
        FUZZ_CHECK(isfinite(h[i]), "encoder output %zu is %g", i, h[i]);
    return n_tokens;
}

static void run_pair(const attn_model *m, attn_session *s, const char *text, size_t n, int must_be_finite) {
    const float *h;
    const attn_token *toks;
    int n_tokens;
    attn_error err;
    FUZZ_CHECK(attn_run_encode(m, s, text, n, &h, &n_tokens, &toks, &err) == ATTN_OK, "%s", err.msg);
    if (n_tokens < 2) return;
    int64_t hs = toks[0].start, he = toks[0].end;
    int64_t ts = toks[n_tokens - 1].start, te = toks[n_tokens - 1].end;
    float probs[ATTN_MAX_LABELS + 1];
    FUZZ_CHECK(attn_run_relation_pair(m, s, text, n, hs, he, ts, te, probs, &err) == ATTN_OK, "%s", err.msg);
    check_probs(probs, m->cfg.relation_labels.n + 1, must_be_finite, "relation pair");
    FUZZ_CHECK(attn_run_relation_pair(m, s, text, n, he, he, ts, te, probs, &err) == ATTN_EINVAL,
               "empty head span accepted");
}

static void run_text(const attn_model *m, attn_session *s, attn_session *s2, const char *text,
                     int must_be_finite) {
    size_t n = strlen(text);
    attn_error err;
    int n_tokens = encode(m, s, text, n, must_be_finite);
    if (m->cfg.tasks & ATTN_TASK_CLASSIFY) {
        float probs[ATTN_MAX_LABELS];
        FUZZ_CHECK(attn_run_classify(m, s, text, n, probs, &err) == ATTN_OK, "%s", err.msg);
        check_probs(probs, m->cfg.classify_labels.n, must_be_finite, "classify");
    }
    if (!(m->cfg.tasks & ATTN_TASK_ENTITIES)) return;
    const attn_entity *e;
    size_t n_ents;
    FUZZ_CHECK(attn_run_entities(m, s, text, n, &e, &n_ents, &err) == ATTN_OK, "%s", err.msg);
    check_entities(m, text, n, e, n_ents, n_tokens, must_be_finite);
    if (!(m->cfg.tasks & ATTN_TASK_RELATIONS)) return;
    const attn_entity *e2;
    const attn_relation *r;
    size_t n_ents2, n_rels;
    FUZZ_CHECK(attn_run_relations(m, s2, text, n, &e2, &n_ents2, &r, &n_rels, &err) == ATTN_OK, "%s", err.msg);
    FUZZ_CHECK(n_ents2 == n_ents, "relations found %zu entities, entities %zu", n_ents2, n_ents);
    for (size_t i = 0; i < n_ents; i++)
        FUZZ_CHECK(e2[i].tok_start == e[i].tok_start && e2[i].tok_end == e[i].tok_end &&
                   e2[i].label == e[i].label, "entity %zu differs between runs", i);
    for (size_t i = 0; i < n_rels; i++) {
        FUZZ_CHECK(r[i].head >= 0 && (size_t)r[i].head < n_ents && r[i].tail >= 0 &&
                   (size_t)r[i].tail < n_ents && r[i].head != r[i].tail, "relation %zu pair", i);
        FUZZ_CHECK(r[i].label >= 0 && r[i].label < m->cfg.relation_labels.n, "relation %zu label", i);
        FUZZ_CHECK(!isfinite(r[i].score) ? !must_be_finite : r[i].score >= 0 && r[i].score <= 1.0f + 1e-5f,
                   "relation %zu score %g", i, r[i].score);
    }
    run_pair(m, s, text, n, must_be_finite);
}

static void run_pipeline(const attn_model *m, int must_be_finite) {
    attn_session *s = attn_session_new(), *s2 = attn_session_new();
    if (!s || !s2) abort();
    for (size_t t = 0; t < N_TEXTS; t++) run_text(m, s, s2, TEXTS[t], must_be_finite);
    attn_session_free(s);
    attn_session_free(s2);
}

/* ---- the target ---- */

/* attn_config_parse first: skips what would allocate too much, and must agree with model_new. */
static int config_small_enough(const char *json, size_t n) {
    attn_config cfg;
    attn_error err;
    if (attn_config_parse(json, n, &cfg, &err) != ATTN_OK) return 0;
    size_t params = attn_config_param_count(&cfg);
    attn_config_free(&cfg);
    FUZZ_CHECK(params > 0, "a valid config with 0 parameters");
    return params <= max_params;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader r = { data, size };
    unsigned config_len, flags = 0;
    const uint8_t *config;
    if (!take_u16(&r, &config_len) || !take(&r, config_len, &config)) return 0;
    take_u8(&r, &flags);
    if (!config_small_enough((const char *)config, config_len)) return 0;
    attn_model *m = NULL;
    attn_error err;
    FUZZ_CHECK(attn_model_new((const char *)config, config_len, &m, &err) == ATTN_OK,
               "parse accepted, model_new refused: %s", err.msg);
    check_layout(m);
    int explicit_given = 0;
    while (apply_record(&r, m, &explicit_given)) {}
    if (flags & 1) fill_missing(m, flags);
    int complete = 1;
    for (size_t i = 0; i < m->n_specs; i++) complete &= m->given[i] != 0;
    int rc = attn_model_finish(m, &err);
    FUZZ_CHECK((rc == ATTN_OK) == complete, "finish %d with complete = %d: %s", rc, complete, err.msg);
    if (getenv("FUZZ_VERBOSE"))   /* for checking seeds: does this input reach the pipeline? */
        fprintf(stderr, "model of %zu tensors, %d given explicitly: %s\n", m->n_specs,
                explicit_given, rc == ATTN_OK ? "finished, running the pipeline" : err.msg);
    if (rc == ATTN_OK) {
        FUZZ_CHECK(attn_model_set_tensor(m, m->specs[0].key, "f32", "[1]", "abcd", 4, &err) != ATTN_OK,
                   "finished model accepted a tensor");
        run_pipeline(m, explicit_given == 0);
    }
    attn_model_free(m);
    return 0;
}
