/* test_kept_tables.c: inference-only models (model.h attn_model_set_inference_only) keep their
 * f16 / q8 / q4 embedding tables stored. Each test loads the same stored bytes into a plain
 * model and an inference-only one and compares them bit for bit: every value read back, the
 * embedding layer's output, the copy a trainer gets, every load error. Then the point of it:
 * the f32 region of a kept table is never touched, so its pages are never resident. */
#include "check.h"
#include "layers.h"
#include "model.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Odd widths: norm q4 [30, 37] (a short last group, a padding nibble), prefix q8 [20, 5],
 * suffix f16 [21, 3], shape f32 [10, 8] (f32 is never kept), subword q4 [50, 40] (a mean of
 * rows). Every other tensor f16, biases and LayerNorm f32. */
static const char *KEPT =
    "{\"format\": 1, \"tasks\": [\"classify\"], \"dim\": 8, \"layers\": 1, \"heads\": 2,"
    " \"ffn\": 8, \"max_len\": 8,"
    " \"features\": [{\"kind\": \"norm\", \"buckets\": 30, \"dim\": 37},"
    "              {\"kind\": \"prefix\", \"buckets\": 20, \"dim\": 5, \"affix\": 3},"
    "              {\"kind\": \"suffix\", \"buckets\": 21, \"dim\": 3, \"affix\": 2},"
    "              {\"kind\": \"shape\", \"buckets\": 10, \"dim\": 8},"
    "              {\"kind\": \"subword\", \"buckets\": 50, \"dim\": 40}],"
    " \"classify\": {\"labels\": [\"a\", \"b\"]}}";

static uint32_t rng_state = 12345;
static uint32_t rng_next(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

static const char *dtype_of(const attn_tensor_spec *t) {
    if (!strcmp(t->key, "embed.norm") || !strcmp(t->key, "embed.subword")) return "q4";
    if (!strcmp(t->key, "embed.prefix")) return "q8";
    if (!strcmp(t->key, "embed.suffix")) return "f16";
    return t->ndim == 2 && strcmp(t->key, "embed.shape") != 0 ? "f16" : "f32";
}

static attn_dtype code_of(const char *dtype) {
    return !strcmp(dtype, "q4") ? ATTN_DTYPE_Q4 : !strcmp(dtype, "q8") ? ATTN_DTYPE_Q8
         : !strcmp(dtype, "f16") ? ATTN_DTYPE_F16 : ATTN_DTYPE_F32;
}

static void shape_text(const attn_tensor_spec *s, char *buf, size_t cap) {
    if (s->ndim == 1) snprintf(buf, cap, "[%lld]", (long long)s->shape[0]);
    else snprintf(buf, cap, "[%lld,%lld]", (long long)s->shape[0], (long long)s->shape[1]);
}

static attn_model *new_model(const char *cfg, int inference_only) {
    attn_model *m = NULL;
    attn_error err = { "" };
    int rc = attn_model_new(cfg, strlen(cfg), &m, &err);
    if (!rc && inference_only) rc = attn_model_set_inference_only(m, &err);
    CHECK_MSG(rc == ATTN_OK, "%s", err.msg);
    if (rc) { attn_model_free(m); return NULL; }
    return m;
}

/* Random values: some tiny (subnormal as halves), some exact zeros and negative zeros. */
static float random_value(void) {
    uint32_t r = rng_next();
    if (r % 17 == 0) return r % 2 ? 0.0f : -0.0f;
    float x = ((float)(r % 20001) - 10000.0f) / 5000.0f;
    return r % 13 == 0 ? x * 1e-6f : x;
}

/* Loads plain and inference-only models of cfg from the same stored bytes (dtype_of). */
static int load_pair(const char *cfg, attn_model **plain, attn_model **kept) {
    *plain = new_model(cfg, 0);
    *kept = new_model(cfg, 1);
    if (!*plain || !*kept) return 0;
    attn_error err = { "" };
    int ok = 1;
    for (size_t i = 0; i < (*plain)->n_specs && ok; i++) {
        const attn_tensor_spec *t = &(*plain)->specs[i];
        float *x = malloc(t->size * sizeof *x);
        for (size_t k = 0; k < t->size; k++) x[k] = random_value();
        const char *dtype = dtype_of(t);
        size_t n = attn_tensor_stored_bytes(t, dtype);
        unsigned char *b = malloc(n + 1);
        char shape[64];
        shape_text(t, shape, sizeof shape);
        ok = attn_tensor_encode(t, dtype, x, b + 1, &err) == ATTN_OK &&     /* odd address */
             attn_model_set_tensor(*plain, t->key, dtype, shape, b + 1, n, &err) == ATTN_OK &&
             attn_model_set_tensor(*kept, t->key, dtype, shape, b + 1, n, &err) == ATTN_OK;
        CHECK_MSG(ok, "%s: %s", t->key, err.msg);
        free(b);
        free(x);
    }
    ok = ok && attn_model_finish(*plain, &err) == ATTN_OK && attn_model_finish(*kept, &err) == ATTN_OK;
    CHECK_MSG(ok, "%s", err.msg);
    return ok;
}

static int bits_equal(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof *a) == 0;
}

/* Every tensor read back equals the decoded one bit for bit (whole and a prefix that ends
 * inside a row); kept tables are exactly the f16/q8/q4 feature tables; their f32 region is
 * still all zero; the views say which features are kept. */
static void test_values_equal_decoded(void) {
    attn_model *a, *b;
    if (!load_pair(KEPT, &a, &b)) goto done;
    size_t kept = 0, stored_bytes = 0, kept_floats = 0;
    for (size_t i = 0; i < a->n_specs; i++) {
        const attn_tensor_spec *t = &a->specs[i];
        const float *want = a->params + t->offset;
        float *got = malloc((t->size + 1) * sizeof *got);
        attn_model_read_values(b, i, t->size, got);
        CHECK_MSG(bits_equal(got, want, t->size), "%s differs", t->key);
        size_t prefix = t->ndim == 2 ? (size_t)t->shape[1] + 2 : 1;
        if (prefix > t->size) prefix = t->size;
        got[prefix] = 12345.0f;
        attn_model_read_values(b, i, prefix, got);
        CHECK_MSG(bits_equal(got, want, prefix) && got[prefix] == 12345.0f, "%s prefix", t->key);
        const char *dtype = dtype_of(t);
        int should_keep = !strncmp(t->key, "embed.", 6) && strcmp(t->key, "embed.proj.w") &&
                          t->ndim == 2 && strcmp(dtype, "f32");
        CHECK_MSG((b->tables[i].dtype != ATTN_DTYPE_NONE) == should_keep, "%s kept?", t->key);
        CHECK(a->tables == NULL);
        if (should_keep) {
            kept++;
            CHECK(b->tables[i].dtype == code_of(dtype));
            CHECK(b->tables[i].n_bytes == attn_tensor_stored_bytes(t, dtype));
            stored_bytes += b->tables[i].n_bytes;
            kept_floats += t->size;
            size_t nonzero = 0;
            for (size_t k = 0; k < t->size; k++) nonzero += b->params[t->offset + k] != 0.0f;
            CHECK_MSG(nonzero == 0, "%s: %zu f32 values written", t->key, nonzero);
            /* Row by row and in pieces (attn_table_decode's c0, n). */
            size_t cols = (size_t)t->shape[1];
            for (size_t r = 0; r < (size_t)t->shape[0]; r += 7) {
                attn_table_decode(&b->tables[i], r, 3 % cols, cols - 3 % cols, got);
                CHECK(bits_equal(got, want + r * cols + 3 % cols, cols - 3 % cols));
            }
        }
        free(got);
    }
    CHECK(kept == 4);
    for (int f = 0; f < 5; f++) {
        CHECK(a->w.embed_table[f] == NULL);
        CHECK_MSG((b->w.embed_table[f] != NULL) == (f != 3), "feature %d", f);
    }
    CHECK(attn_model_bytes(a) == a->n_params * sizeof(float));
    CHECK(attn_model_bytes(b) == (b->n_params - kept_floats) * sizeof(float) + stored_bytes);
    CHECK(attn_model_bytes(b) < attn_model_bytes(a));
done:
    attn_model_free(a);
    attn_model_free(b);
}

/* The embedding layer gives the same bits from kept tables, subword means included (slots with
 * 1, 2, 3 and 32 rows, NONE between them). */
static void test_embed_forward_equal(void) {
    attn_model *a, *b;
    if (!load_pair(KEPT, &a, &b)) goto done;
    enum { T = 9 };
    const attn_config *c = &a->cfg;
    const int S = attn_feature_slots(c->features, c->n_features);
    uint32_t *rows = malloc((size_t)T * (size_t)S * sizeof *rows);
    for (int t = 0; t < T; t++) {
        uint32_t *tok = rows + (size_t)t * S;
        for (int f = 0; f < c->n_features; f++) {
            const attn_feature_spec *fs = &c->features[f];
            int n = attn_feature_n_slots(fs);
            for (int s = 0; s < n; s++) {
                int used = n == 1 || s == 0 || s < t * 4 || t == T - 1;
                tok[s] = used ? rng_next() % fs->n_buckets : ATTN_ROW_NONE;
            }
            tok += n;
        }
    }
    const size_t W = (size_t)attn_embed_width(c);
    float *out_a = malloc(T * W * sizeof *out_a), *out_b = malloc(T * W * sizeof *out_b);
    attn_embed_forward(out_a, c, &a->w, rows, T);
    attn_embed_forward(out_b, &b->cfg, &b->w, rows, T);
    CHECK(bits_equal(out_a, out_b, T * W));
    size_t nonzero = 0;
    for (size_t k = 0; k < T * W; k++) nonzero += out_a[k] != 0.0f;
    CHECK(nonzero > T * W / 2);
    free(rows);
    free(out_a);
    free(out_b);
done:
    attn_model_free(a);
    attn_model_free(b);
}

/* A trainer's copy of an inference-only model: plain f32, the decoded values, padding zero. */
static void test_copy_is_decoded(void) {
    attn_model *a, *b, *c = NULL;
    if (!load_pair(KEPT, &a, &b)) goto done;
    attn_error err = { "" };
    CHECK_MSG(attn_model_copy(b, &c, &err) == ATTN_OK, "%s", err.msg);
    if (!c) goto done;
    CHECK(c->finished && !c->inference_only && c->tables == NULL && c->n_params == a->n_params);
    CHECK(bits_equal(c->params, a->params, a->n_params));
    for (int f = 0; f < 5; f++) CHECK(c->w.embed_table[f] == NULL);
    attn_model *unfinished = new_model(KEPT, 1), *none = NULL;
    CHECK(attn_model_copy(unfinished, &none, &err) == ATTN_EINVAL && none == NULL);
    CHECK(!strcmp(err.msg, "model: no finished model to copy"));
    attn_model_free(unfinished);
done:
    attn_model_free(a);
    attn_model_free(b);
    attn_model_free(c);
}

static void put_f32(unsigned char *b, size_t i, uint32_t bits) {
    for (int k = 0; k < 4; k++) b[4 * i + (size_t)k] = (unsigned char)(bits >> (8 * k));
}

/* Sets key from the blob on a plain and an inference-only model: the same code, the same
 * message, and want_msg it is; a refused table is not kept. */
static void expect_same_error(const char *key, const char *dtype, const char *shape,
                              const unsigned char *blob, size_t n, const char *want_msg) {
    attn_model *a = new_model(KEPT, 0), *b = new_model(KEPT, 1);
    if (!a || !b) { attn_model_free(a); attn_model_free(b); return; }
    attn_error ea = { "" }, eb = { "" };
    int ra = attn_model_set_tensor(a, key, dtype, shape, blob, n, &ea);
    int rb = attn_model_set_tensor(b, key, dtype, shape, blob, n, &eb);
    CHECK_MSG(ra == ATTN_EMODEL && rb == ra, "%s: rc %d / %d", key, ra, rb);
    CHECK_MSG(!strcmp(ea.msg, want_msg), "\n  got      %s\n  expected %s", ea.msg, want_msg);
    CHECK_MSG(!strcmp(eb.msg, want_msg), "\n  got      %s\n  expected %s", eb.msg, want_msg);
    int i = attn_model_tensor_index(b, key);
    CHECK(b->tables[i].dtype == ATTN_DTYPE_NONE && b->tables[i].block == NULL && !b->given[i]);
    attn_model_free(a);
    attn_model_free(b);
}

/* Every refusal of a kept table is the decoder's, element indices included; the filters that
 * skip the per-value scan find faults anywhere (first word, tail bytes). */
static void test_errors_equal(void) {
    enum { NR = 30, NC = 37, G = 2, RB = 19, N4 = NR * G * 4 + NR * RB };   /* embed.norm q4 */
    unsigned char q4[N4];
    memset(q4, 0, sizeof q4);
    for (size_t i = 0; i < NR * G; i++) put_f32(q4, i, 0x3F800000u);          /* 1.0 */
    unsigned char *nib = q4 + NR * G * 4;
    nib[0] = 0x08;                                                             /* c0 = -8 */
    expect_same_error("embed.norm", "q4", "[30,37]", q4, N4,
                      "tensor 'embed.norm': q4 element 0 is -8 (values are in [-7, 7])");
    nib[0] = 0x80;                                                             /* c1 = -8 */
    expect_same_error("embed.norm", "q4", "[30,37]", q4, N4,
                      "tensor 'embed.norm': q4 element 1 is -8 (values are in [-7, 7])");
    nib[0] = 0;
    nib[NR * RB - 1] = 0x08;                       /* last row, c36 = -8: the last tail byte */
    expect_same_error("embed.norm", "q4", "[30,37]", q4, N4,
                      "tensor 'embed.norm': q4 element 1109 is -8 (values are in [-7, 7])");
    nib[NR * RB - 1] = 0x80;                       /* its padding nibble 8: padding, not -8 */
    expect_same_error("embed.norm", "q4", "[30,37]", q4, N4,
                      "tensor 'embed.norm': q4 row 29 has a non-zero padding nibble");
    nib[NR * RB - 1] = 0;
    put_f32(q4, 5 * G + 1, 0x7F7FFFFFu);           /* row 5, group 1 (c32..36): FLT_MAX */
    nib[5 * RB + 17] = 0x20;                       /* c35 = 2: overflows */
    nib[5 * RB + 16] = 0x10;                       /* c33 = 1: fits */
    expect_same_error("embed.norm", "q4", "[30,37]", q4, N4,
                      "tensor 'embed.norm': element 220 is +Inf");
    nib[5 * RB + 17] = 0xE0;                       /* c35 = -2 */
    expect_same_error("embed.norm", "q4", "[30,37]", q4, N4,
                      "tensor 'embed.norm': element 220 is -Inf");
    put_f32(q4, 7, 0xFFC00000u);
    expect_same_error("embed.norm", "q4", "[30,37]", q4, N4,
                      "tensor 'embed.norm': q4 scale 7 is NaN");

    enum { PR = 20, PC = 5, N8 = PR * 4 + PR * PC };                           /* embed.prefix q8 */
    unsigned char q8[N8];
    memset(q8, 0, sizeof q8);
    for (size_t r = 0; r < PR; r++) put_f32(q8, r, 0x3F800000u);
    q8[N8 - 1] = 0x80;                                                         /* the last value */
    expect_same_error("embed.prefix", "q8", "[20,5]", q8, N8,
                      "tensor 'embed.prefix': q8 element 99 is -128 (values are in [-127, 127])");
    q8[N8 - 1] = 0;
    put_f32(q8, 3, 0x7F7FFFFFu);
    q8[PR * 4 + 3 * PC + 4] = 0xFF;                                            /* -1: fits */
    q8[PR * 4 + 3 * PC + 2] = 0xFE;                                            /* -2: overflows */
    expect_same_error("embed.prefix", "q8", "[20,5]", q8, N8,
                      "tensor 'embed.prefix': element 17 is -Inf");
    put_f32(q8, 19, 0xBF800000u);
    expect_same_error("embed.prefix", "q8", "[20,5]", q8, N8,
                      "tensor 'embed.prefix': q8 scale of row 19 is negative");

    enum { N16 = 21 * 3 * 2 };                                                 /* embed.suffix f16 */
    unsigned char h[N16];
    memset(h, 0, sizeof h);
    h[2 * 40] = 0x01; h[2 * 40 + 1] = 0x7C;                                    /* NaN */
    expect_same_error("embed.suffix", "f16", "[21,3]", h, N16,
                      "tensor 'embed.suffix': element 40 is NaN");
    h[2 * 40] = 0; h[2 * 40 + 1] = 0;
    h[2 * 62 + 1] = 0xFC;                                                      /* -Inf, the last */
    expect_same_error("embed.suffix", "f16", "[21,3]", h, N16,
                      "tensor 'embed.suffix': element 62 is -Inf");
    h[2 * 62] = 0xFF; h[2 * 62 + 1] = 0x7B;                                   /* 65504: fine */
    attn_model *b = new_model(KEPT, 1);
    attn_error err = { "" };
    if (!b) return;
    CHECK_MSG(attn_model_set_tensor(b, "embed.suffix", "f16", "[21,3]", h, N16, &err) == ATTN_OK,
              "%s", err.msg);
    float v[3];
    attn_table_decode(&b->tables[attn_model_tensor_index(b, "embed.suffix")], 20, 0, 3, v);
    CHECK(v[0] == 0.0f && v[1] == 0.0f && v[2] == 65504.0f);
    /* Too late once a tensor is set. */
    CHECK(attn_model_set_inference_only(b, &err) == ATTN_EINVAL);
    CHECK_MSG(!strcmp(err.msg, "model: inference-only must be set before the first tensor "
                      "('embed.suffix' is set)"), "%s", err.msg);
    attn_model_free(b);
}

/* attn_model_set_tensor_owned: a kept table adopts the buffer itself (no copy); a decoded
 * tensor's buffer and a refused one's are freed (LeakSanitizer would name a leak). */
static void test_owned_buffers(void) {
    attn_model *m = new_model(KEPT, 1);
    if (!m) return;
    attn_error err = { "" };
    const int pi = attn_model_tensor_index(m, "embed.prefix");
    const attn_tensor_spec *t = &m->specs[pi];
    size_t n = attn_tensor_stored_bytes(t, "q8");
    float *x = calloc(t->size, sizeof *x);
    x[7] = 0.5f;
    unsigned char *b = malloc(n);
    CHECK(attn_tensor_encode(t, "q8", x, b, &err) == ATTN_OK);
    CHECK_MSG(attn_model_set_tensor_owned(m, "embed.prefix", "q8", "[20,5]", b, n, &err) == ATTN_OK,
              "%s", err.msg);
    CHECK(m->tables[pi].block == b && m->tables[pi].values == b + 20 * 4);
    float row[5];
    attn_table_decode(&m->tables[pi], 1, 0, 5, row);
    CHECK(row[2] == 0.5f && row[1] == 0.0f);
    const attn_tensor_spec *s = &m->specs[attn_model_tensor_index(m, "embed.shape")];
    float *f = calloc(s->size, sizeof *f);
    CHECK(attn_model_set_tensor_owned(m, "embed.shape", "f32", "[10,8]", f, s->size * 4, &err) == ATTN_OK);
    unsigned char *bad = calloc(1, 4);
    CHECK(attn_model_set_tensor_owned(m, "embed.suffix", "f16", "[21,3]", bad, 4, &err) == ATTN_EMODEL);
    CHECK(!strcmp(err.msg, "tensor 'embed.suffix': 126 bytes expected (63 f16 values), found 4"));
    free(x);
    attn_model_free(m);
}

/* Pages of [p, p + n) resident now (the whole pages inside it), -1 if mincore fails. */
static long resident_pages(const void *p, size_t n) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + page - 1) / page * page, hi = ((uintptr_t)p + n) / page * page;
    if (hi <= lo) return 0;
    size_t n_pages = (hi - lo) / page;
    unsigned char *vec = malloc(n_pages);
    long resident = 0;
    if (mincore((void *)lo, hi - lo, vec) != 0) resident = -1;
    for (size_t i = 0; resident >= 0 && i < n_pages; i++) resident += vec[i] & 1;
    free(vec);
    return resident;
}

/* A 33.5 MB table (above glibc's largest mmap threshold, so params is fresh mmap'd memory):
 * decoded, its pages are resident; kept as q4 (5 MB), none of them ever is, loading and
 * looking rows up included. Fails without kept tables. */
static void test_kept_region_never_resident(void) {
    static const char *BIG =
        "{\"format\": 1, \"tasks\": [\"classify\"], \"dim\": 8, \"layers\": 1, \"heads\": 2,"
        " \"ffn\": 8, \"max_len\": 8,"
        " \"features\": [{\"kind\": \"norm\", \"buckets\": 131072, \"dim\": 64}],"
        " \"classify\": {\"labels\": [\"a\", \"b\"]}}";
    enum { ROWS = 131072, COLS = 64, G = 2, RB = 32 };
    const size_t n = (size_t)ROWS * (G * 4 + RB);
    unsigned char *blob = malloc(n);
    for (size_t i = 0; i < (size_t)ROWS * G; i++) put_f32(blob, i, 0x3C000000u);   /* 1/128 */
    for (size_t i = (size_t)ROWS * G * 4; i < n; i++) blob[i] = (unsigned char)(rng_next() % 7 * 0x11);
    for (int keep = 0; keep < 2; keep++) {
        attn_model *m = new_model(BIG, keep);
        if (!m) continue;
        attn_error err = { "" };
        int rc = attn_model_set_tensor(m, "embed.norm", "q4", "[131072,64]", blob, n, &err);
        for (size_t i = 0; !rc && i < m->n_specs; i++) {
            const attn_tensor_spec *t = &m->specs[i];
            if (!strcmp(t->key, "embed.norm")) continue;
            float *zeros = calloc(t->size, sizeof *zeros);
            char shape[64];
            shape_text(t, shape, sizeof shape);
            rc = attn_model_set_tensor(m, t->key, "f32", shape, zeros, t->size * 4, &err);
            free(zeros);
        }
        if (!rc) rc = attn_model_finish(m, &err);
        CHECK_MSG(rc == ATTN_OK, "%s", err.msg);
        const attn_tensor_spec *t = &m->specs[attn_model_tensor_index(m, "embed.norm")];
        uint32_t rows[3] = { 0, 65536, ROWS - 1 };
        float out[3 * COLS];
        attn_embed_forward(out, &m->cfg, &m->w, rows, 3);
        float want[COLS];
        attn_model_read_values(m, (size_t)(t - m->specs), COLS, want);
        CHECK(bits_equal(out, want, COLS) && out[0] == (float)(blob[ROWS * G * 4] & 0x0f) / 128.0f);
        long pages = resident_pages(m->params + t->offset, t->size * sizeof(float));
        long all = (long)(t->size * sizeof(float) / (size_t)sysconf(_SC_PAGESIZE)) - 1;
        if (keep) {
            CHECK_MSG(pages == 0, "kept: %ld pages of the f32 region resident", pages);
            CHECK(attn_model_bytes(m) < m->n_params * sizeof(float) / 6);
        } else {
            CHECK_MSG(pages >= all, "decoded: %ld of %ld pages resident", pages, all);
        }
        attn_model_free(m);
    }
    free(blob);
}

int main(void) {
    test_kept_region_never_resident();      /* first: before any large block is freed */
    test_values_equal_decoded();
    test_embed_forward_equal();
    test_copy_is_decoded();
    test_errors_equal();
    test_owned_buffers();
    return CHECK_DONE();
}
