/* test_pipeline.c: windows, stitching, IOB2 decoding, relation pairs and errors of pipeline.c.
 *
 * Besides the exposed building blocks, it runs the whole pipeline on hand-made models whose
 * behaviour is known exactly: every encoder layer is zero (the residual stream passes through),
 * the only feature is the token shape with a 2-wide embedding (+1,-1) for capitalised words and
 * (-1,+1) otherwise, so after the final LayerNorm h[t] = (+-1, -+1). The tagger then emits B-PER
 * or I-PER on capitalised tokens and O elsewhere, with a bonus of 3 on B->I and I->I: every maximal
 * run of capitalised words is one PER entity, which the test knows from how it built the text.
 * The relation head is all zeros except rel.out.b = (0, 5): every classified pair is "Rel". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "crf.h"
#include "encoder.h"
#include "features.h"
#include "heads.h"
#include "model.h"
#include "pipeline.h"
#include "tokenizer.h"

#define MAX_LEN 8
#define SHAPE_BUCKETS 4096

static const char *CAPS[] = { "John", "Mary", "Émile", "Paris", "Acme", "Zoë", "Ng" };
static const char *LOWER[] = { "the", "of", "met", "and", "works", "near", "x", ",", "." };
#define N_CAPS (sizeof CAPS / sizeof CAPS[0])
#define N_LOWER (sizeof LOWER / sizeof LOWER[0])

static const char *TAGGER_CONFIG =
    "{\"format\": 1, \"tasks\": [\"entities\", \"relations\"], \"dim\": 2, \"layers\": 1,"
    " \"heads\": 1, \"ffn\": 1, \"max_len\": 8,"
    " \"features\": [{\"kind\": \"shape\", \"buckets\": 4096, \"dim\": 2}],"
    " \"entities\": {\"labels\": [\"PER\"]},"
    " \"relations\": {\"labels\": [\"Rel\"], \"hidden\": 1, \"type_dim\": 1}}";

static const char *CLASSIFY_CONFIG =
    "{\"format\": 1, \"tasks\": [\"classify\"], \"dim\": 2, \"layers\": 1,"
    " \"heads\": 1, \"ffn\": 1, \"max_len\": 8,"
    " \"features\": [{\"kind\": \"shape\", \"buckets\": 4096, \"dim\": 2}],"
    " \"classify\": {\"labels\": [\"caps\", \"other\"]}}";

/* ---- exposed building blocks ---- */

static void test_windows(void) {
    int starts[256], owner[512];
    int all_ok = 1;
    for (int L = 1; L <= 12; L++)
        for (int N = 1; N <= 120; N++) {
            const int nw = attn_windows(N, L, starts), len = N < L ? N : L;
            int ok = nw >= 1 && nw == attn_windows(N, L, NULL) && starts[0] == 0 &&
                     starts[nw - 1] + len == N;
            for (int w = 1; w < nw; w++)   /* increasing, overlapping or touching, stride */
                ok = ok && starts[w] > starts[w - 1] && starts[w] <= starts[w - 1] + len &&
                     starts[w] - starts[w - 1] <= L - L / 4;
            if (N <= L) ok = ok && nw == 1;
            attn_window_owners(N, L, starts, nw, owner);
            for (int t = 0; t < N; t++) {
                const int w = owner[t];
                ok = ok && w >= 0 && w < nw && starts[w] <= t && t < starts[w] + len;
                if (!ok) break;
                int best = -1, best_w = -1;  /* brute force: farthest from an edge, earliest */
                for (int v = 0; v < nw; v++) {
                    if (t < starts[v] || t >= starts[v] + len) continue;
                    int d = t - starts[v] < starts[v] + len - 1 - t ? t - starts[v]
                                                                    : starts[v] + len - 1 - t;
                    if (d > best) { best = d; best_w = v; }
                }
                ok = ok && best_w == w;
                ok = ok && attn_window_owner(t, N, L) == w;   /* the streaming calls' owner */
            }
            if (!ok) fprintf(stderr, "windows wrong for N=%d max_len=%d\n", N, L);
            all_ok = all_ok && ok;
        }
    CHECK(all_ok);
    /* the documented example: max_len 8 -> stride 6, last window flush with the end */
    CHECK(attn_windows(20, 8, starts) == 3);
    CHECK(starts[0] == 0 && starts[1] == 6 && starts[2] == 12);
    CHECK(attn_windows(21, 8, starts) == 4);
    CHECK(starts[2] == 12 && starts[3] == 13);
    attn_window_owners(21, 8, starts, 4, owner);
    /* token 6: 1 from w0's edge, 0 from w1's; token 7: 0 vs 1 */
    CHECK(owner[0] == 0 && owner[5] == 0 && owner[6] == 0 && owner[7] == 1);
    CHECK(owner[8] == 1 && owner[10] == 1 && owner[12] == 1);
    /* windows [12,20) and [13,21): token 16 is 3 from an edge in both (tie: earlier) */
    CHECK(owner[15] == 2 && owner[16] == 2 && owner[17] == 3 && owner[20] == 3);
}

static int span_is(const attn_entity *e, int t0, int t1, int label) {
    return e->tok_start == t0 && e->tok_end == t1 && e->label == label;
}

static void test_iob2_spans(void) {
    attn_entity out[16];
    /* tags with 2 labels: 0 O, 1 B-0, 2 I-0, 3 B-1, 4 I-1 */
    const int path[] = { 0, 1, 2, 2, 0, 3, 4, 1, 1, 2, 3 };
    size_t n = attn_iob2_spans(path, 11, out);
    CHECK(n == 5);
    CHECK(span_is(&out[0], 1, 4, 0));
    CHECK(span_is(&out[1], 5, 7, 1));
    CHECK(span_is(&out[2], 7, 8, 0));     /* B after B: a new entity */
    CHECK(span_is(&out[3], 8, 10, 0));
    CHECK(span_is(&out[4], 10, 11, 1));
    CHECK(out[0].score == 0.0f && out[0].start == 0 && out[0].end == 0);
    /* I-X that does not continue an X (not producible under the constraints): starts one */
    const int orphan[] = { 2, 0, 4, 1, 4, 4 };
    n = attn_iob2_spans(orphan, 6, out);
    CHECK(n == 4);
    CHECK(span_is(&out[0], 0, 1, 0));
    CHECK(span_is(&out[1], 2, 3, 1));
    CHECK(span_is(&out[2], 3, 4, 0));
    CHECK(span_is(&out[3], 4, 6, 1));
    const int none[] = { 0, 0, 0 };
    CHECK(attn_iob2_spans(none, 3, out) == 0);
    CHECK(attn_iob2_spans(none, 0, out) == 0);
}

static void test_pair_extent(void) {
    attn_entity a = {0}, b = {0};
    a.tok_start = 0; a.tok_end = 2;
    b.tok_start = 6; b.tok_end = 8;
    CHECK(attn_pair_in_extent(&a, &b, 8));      /* tokens 0..7: exactly 8 */
    CHECK(attn_pair_in_extent(&b, &a, 8));
    CHECK(!attn_pair_in_extent(&a, &b, 7));
    b.tok_start = 1; b.tok_end = 3;             /* overlapping spans */
    CHECK(attn_pair_in_extent(&a, &b, 3));
    CHECK(!attn_pair_in_extent(&a, &b, 2));
}

/* ---- hand-made models ---- */

typedef struct shape_rows {
    uint32_t caps[N_CAPS], lower[N_LOWER];
} shape_rows;

static uint32_t shape_row(const char *word) {
    attn_feature_spec spec = {.kind = ATTN_FEAT_SHAPE, .n_buckets = SHAPE_BUCKETS, .dim = 2};
    uint32_t row;
    attn_token_features(word, strlen(word), &spec, 1, &row);
    return row;
}

static void fill(const attn_tensor_spec *sp, float *x, const shape_rows *rows) {
    memset(x, 0, sp->size * sizeof *x);
    const char *k = sp->key;
    if (strcmp(k, "embed.shape") == 0) {
        for (size_t r = 0; r < SHAPE_BUCKETS; r++) { x[2 * r] = -1; x[2 * r + 1] = 1; }
        for (size_t i = 0; i < N_CAPS; i++) {
            x[2 * rows->caps[i]] = 1;
            x[2 * rows->caps[i] + 1] = -1;
        }
    } else if (strcmp(k, "embed.proj.w") == 0 || strcmp(k, "final_ln.w") == 0) {
        x[0] = 1; x[sp->size - 1] = 1;          /* identity [2,2] / gains (1,1) */
    } else if (strcmp(k, "tag.w") == 0) {       /* rows O, B-PER, I-PER over (x0, x1) */
        x[1] = 4; x[2] = 4; x[4] = 4;
    } else if (strcmp(k, "crf.trans") == 0) {   /* B->I and I->I bonus */
        x[1 * 3 + 2] = 3; x[2 * 3 + 2] = 3;
    } else if (strcmp(k, "rel.out.b") == 0) {
        x[1] = 5;
    } else if (strcmp(k, "cls.w") == 0) {       /* logit of "caps" = mean over tokens of x0 */
        x[0] = 1;
    }
}

typedef void fill_fn(const attn_tensor_spec *sp, float *x, const shape_rows *rows);

static attn_model *make_model(const char *config, const shape_rows *rows, fill_fn *fill) {
    attn_model *m = NULL;
    attn_error err;
    if (attn_model_new(config, strlen(config), &m, &err)) {
        fprintf(stderr, "model: %s\n", err.msg);
        return NULL;
    }
    for (size_t i = 0; i < m->n_specs; i++) {
        const attn_tensor_spec *sp = &m->specs[i];
        float *x = malloc(sp->size * sizeof *x);
        char shape[64];
        if (sp->ndim == 1) snprintf(shape, sizeof shape, "[%lld]", (long long)sp->shape[0]);
        else snprintf(shape, sizeof shape, "[%lld,%lld]", (long long)sp->shape[0],
                      (long long)sp->shape[1]);
        fill(sp, x, rows);
        int rc = attn_model_set_tensor(m, sp->key, "f32", shape, x, sp->size * sizeof *x, &err);
        free(x);
        if (rc) {
            fprintf(stderr, "tensor %s: %s\n", sp->key, err.msg);
            attn_model_free(m);
            return NULL;
        }
    }
    if (attn_model_finish(m, &err)) {
        fprintf(stderr, "finish: %s\n", err.msg);
        attn_model_free(m);
        return NULL;
    }
    return m;
}

/* ---- a long text with known entities ---- */

typedef struct expected {
    char text[8192];
    size_t len;
    int n_tokens;
    int n_ents;
    size_t byte_start[512], byte_end[512];
    int tok_start[512], tok_end[512];
} expected;

static void append(expected *e, const char *word) {
    e->len += (size_t)snprintf(e->text + e->len, sizeof e->text - e->len, "%s%s",
                               e->len ? " " : "", word);
    e->n_tokens++;
}

/* Lowercase words and runs of 1..3 capitalised words, n_words words in all. */
static void build_text(expected *e, int n_words) {
    memset(e, 0, sizeof *e);
    unsigned seed = 12345;
    while (e->n_tokens < n_words) {
        seed = seed * 1103515245u + 12345u;
        int run = (int)((seed >> 16) % 4);      /* 0: a lowercase word */
        if (run == 0 || e->n_tokens + run > n_words) {
            append(e, LOWER[(seed >> 8) % N_LOWER]);
            continue;
        }
        e->tok_start[e->n_ents] = e->n_tokens;
        e->byte_start[e->n_ents] = e->len + (e->len ? 1 : 0);
        for (int i = 0; i < run; i++) append(e, CAPS[(seed >> (4 + i)) % N_CAPS]);
        e->byte_end[e->n_ents] = e->len;
        e->tok_end[e->n_ents] = e->n_tokens;
        e->n_ents++;
        if (e->n_tokens < n_words) append(e, LOWER[(seed >> 12) % N_LOWER]);
    }
}

static float expected_rel_score(void) { return (float)(1.0 / (1.0 + exp(-5.0))); }

static void check_entities(const expected *e, const attn_entity *ents, size_t n) {
    CHECK_MSG((int)n == e->n_ents, "%zu entities, expected %d", n, e->n_ents);
    int ok = (int)n == e->n_ents;
    for (size_t i = 0; ok && i < n; i++) {
        const attn_entity *x = &ents[i];
        ok = x->tok_start == e->tok_start[i] && x->tok_end == e->tok_end[i] && x->label == 0 &&
             x->byte_start == e->byte_start[i] && x->byte_end == e->byte_end[i] &&
             /* substr(text, start + 1, end - start) is the entity: count characters */
             x->start == attn_utf8_count(e->text, x->byte_start) &&
             x->end - x->start == attn_utf8_count(e->text + x->byte_start,
                                                  x->byte_end - x->byte_start) &&
             x->score > 0.8f && x->score <= 1.0f + 1e-6f;
        if (!ok) fprintf(stderr, "entity %zu: tokens [%d,%d) bytes [%zu,%zu) score %g\n", i,
                         x->tok_start, x->tok_end, x->byte_start, x->byte_end, x->score);
    }
    CHECK(ok);
}

static void test_entities_long_text(const attn_model *m, attn_session *s) {
    static expected e;
    build_text(&e, 150);
    const attn_entity *ents;
    size_t n;
    attn_error err;
    CHECK(e.n_ents > 20);
    CHECK(attn_run_entities(m, s, e.text, e.len, &ents, &n, &err) == ATTN_OK);
    check_entities(&e, ents, n);
    /* entities crossing window boundaries (starts 0, 6, 12, ...): at least one exists */
    int crossing = 0;
    for (int i = 0; i < e.n_ents; i++)
        for (int w = 6; w < e.n_tokens; w += 6)
            crossing += e.tok_start[i] < w && e.tok_end[i] > w;
    CHECK(crossing > 0);

    /* every token got the output of its own position: h[t] = (+1,-1) iff capitalised */
    const float *h;
    const attn_token *toks;
    int N, ok = 1;
    CHECK(attn_run_encode(m, s, e.text, e.len, &h, &N, &toks, &err) == ATTN_OK);
    CHECK(N == e.n_tokens);
    for (int t = 0, i = 0; t < N; t++) {
        while (i < e.n_ents && e.tok_end[i] <= t) i++;
        const int caps = i < e.n_ents && e.tok_start[i] <= t;
        ok = ok && fabsf(h[2 * t] - (caps ? 1.0f : -1.0f)) < 1e-3f &&
             fabsf(h[2 * t + 1] + h[2 * t]) < 1e-3f;
    }
    CHECK(ok);

    /* relations: exactly the ordered pairs within the extent rule and ATTN_REL_MAX_NEIGHBOURS
     * entities of each other, each once */
    const attn_relation *rels;
    size_t n_ents, n_rels, want = 0;
    CHECK(attn_run_relations(m, s, e.text, e.len, &ents, &n_ents, &rels, &n_rels, &err) == 0);
    check_entities(&e, ents, n_ents);
    for (int i = 0; i < e.n_ents; i++)
        for (int j = 0; j < e.n_ents; j++)
            if (i != j && abs(i - j) <= ATTN_REL_MAX_NEIGHBOURS &&
                (e.tok_end[i] > e.tok_end[j] ? e.tok_end[i] : e.tok_end[j]) -
                          (e.tok_start[i] < e.tok_start[j] ? e.tok_start[i] : e.tok_start[j])
                          <= MAX_LEN)
                want++;
    CHECK_MSG(n_rels == want, "%zu relations, expected %zu", n_rels, want);
    ok = want > 0;
    for (size_t r = 0; r < n_rels; r++) {
        const attn_relation *x = &rels[r];
        ok = ok && x->head != x->tail && x->head >= 0 && (size_t)x->head < n_ents &&
             x->tail >= 0 && (size_t)x->tail < n_ents && x->label == 0 &&
             /* the label's probability times the chance both entities are right */
             fabsf(x->score - expected_rel_score() * ents[x->head].score * ents[x->tail].score)
                 < 1e-5f &&
             attn_pair_in_extent(&ents[x->head], &ents[x->tail], MAX_LEN);
        for (size_t q = 0; q < r; q++)
            ok = ok && !(rels[q].head == x->head && rels[q].tail == x->tail);
    }
    CHECK(ok);
}

/* The stop callback: asked between windows and relation pairs; a call it stops fails with
 * ATTN_ESTOPPED and leaves the session fit for the next call. */
static int stop_after(void *user) {
    int *left = user;
    return --*left < 0;
}

static void test_stop(const attn_model *m, attn_session *s) {
    static expected e;
    build_text(&e, 150);
    const attn_entity *ents;
    const attn_relation *rels;
    size_t n, n_rels;
    attn_error err;
    int left = 2;
    attn_session_set_stop(s, stop_after, &left);
    CHECK(attn_run_entities(m, s, e.text, e.len, &ents, &n, &err) == ATTN_ESTOPPED);
    CHECK(strcmp(err.msg, "interrupted") == 0 && left == -1);
    left = 1000000;
    CHECK(attn_run_relations(m, s, e.text, e.len, &ents, &n, &rels, &n_rels, &err) == ATTN_OK);
    const int asked = 1000000 - left;
    left = asked - 1;               /* the last question, among the relation pairs */
    CHECK(attn_run_relations(m, s, e.text, e.len, &ents, &n, &rels, &n_rels, &err) ==
          ATTN_ESTOPPED);
    attn_session_set_stop(s, NULL, NULL);
    CHECK(attn_run_entities(m, s, e.text, e.len, &ents, &n, &err) == ATTN_OK);
    check_entities(&e, ents, n);
}

static void test_short_and_empty(const attn_model *m, attn_session *s) {
    const attn_entity *ents;
    const attn_relation *rels;
    size_t n, n_rels;
    attn_error err;
    const char *text = "Émile met Zoë in Paris .";
    CHECK(attn_run_entities(m, s, text, strlen(text), &ents, &n, &err) == ATTN_OK);
    CHECK(n == 3);
    if (n == 3) {
        CHECK(ents[0].start == 0 && ents[0].end == 5 && ents[0].byte_end == 6);
        CHECK(ents[1].start == 10 && ents[1].end == 13 && ents[1].byte_start == 11);
        CHECK(ents[2].start == 17 && ents[2].end == 22);
        CHECK(ents[0].tok_start == 0 && ents[2].tok_start == 4 && ents[2].tok_end == 5);
    }
    const char *empties[] = { "", "   \t\n " };
    for (int i = 0; i < 2; i++) {
        n = 99; n_rels = 99;
        CHECK(attn_run_entities(m, s, empties[i], strlen(empties[i]), &ents, &n, &err) == 0);
        CHECK(n == 0);
        CHECK(attn_run_relations(m, s, empties[i], strlen(empties[i]), &ents, &n, &rels,
                                 &n_rels, &err) == 0);
        CHECK(n == 0 && n_rels == 0);
    }
    CHECK(attn_run_entities(m, s, NULL, 0, &ents, &n, &err) == 0 && n == 0);
}

static void test_relation_pair(const attn_model *m, attn_session *s) {
    const char *text = "John met Mary in Paris";   /* tokens: 0-4 5-8 9-13 14-16 17-22 */
    float probs[2];
    attn_error err;
    /* spans snap outward: "oh" inside John, "ar" inside Mary */
    CHECK(attn_run_relation_pair(m, s, text, strlen(text), 1, 3, 10, 12, probs, &err) == 0);
    CHECK_NEAR(probs[1], expected_rel_score(), 1e-5);
    CHECK_NEAR(probs[0] + probs[1], 1.0, 1e-5);
    /* the whole text as one span, and far apart spans */
    CHECK(attn_run_relation_pair(m, s, text, strlen(text), 0, 22, 17, 22, probs, &err) == 0);
    CHECK(attn_run_relation_pair(m, s, text, strlen(text), 4, 5, 0, 1, probs, &err) ==
          ATTN_EINVAL);
    CHECK(strstr(err.msg, "head span [4, 5) covers no token") != NULL);
    CHECK(attn_run_relation_pair(m, s, text, strlen(text), 0, 1, 20, 23, probs, &err) ==
          ATTN_EINVAL);
    CHECK(strstr(err.msg, "tail span [20, 23) out of range for a text of 22 characters"));
    CHECK(attn_run_relation_pair(m, s, text, strlen(text), 3, 3, 0, 1, probs, &err) ==
          ATTN_EINVAL);
    CHECK(attn_run_relation_pair(m, s, text, strlen(text), -1, 2, 0, 1, probs, &err) ==
          ATTN_EINVAL);
    CHECK(attn_run_relation_pair(m, s, "", 0, 0, 1, 0, 1, probs, &err) == ATTN_EINVAL);
}

static void test_classify(const attn_model *cls, const attn_model *tagger, attn_session *s) {
    static expected e;
    float probs[2];
    attn_error err;
    build_text(&e, 100);
    int caps = 0;
    for (int i = 0; i < e.n_ents; i++) caps += e.tok_end[i] - e.tok_start[i];
    /* logit(caps) = mean over all 100 tokens (13 windows) of x0 = (2 caps - N) / N */
    const double mean = (2.0 * caps - e.n_tokens) / e.n_tokens;
    CHECK(attn_run_classify(cls, s, e.text, e.len, probs, &err) == ATTN_OK);
    CHECK_NEAR(probs[0], 1.0 / (1.0 + exp(-mean)), 1e-4);
    /* no tokens: pooled zeros, so both logits are 0 */
    CHECK(attn_run_classify(cls, s, " ", 1, probs, &err) == ATTN_OK);
    CHECK_NEAR(probs[0], 0.5, 1e-6);
    CHECK(attn_run_classify(cls, s, "", 0, probs, &err) == ATTN_OK);
    CHECK_NEAR(probs[1], 0.5, 1e-6);

    /* wrong task */
    const attn_entity *ents;
    const attn_relation *rels;
    size_t n, n_rels;
    CHECK(attn_run_classify(tagger, s, "x", 1, probs, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "model has no 'classify' task") == 0);
    CHECK(attn_run_entities(cls, s, "x", 1, &ents, &n, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "model has no 'entities' task") == 0);
    CHECK(attn_run_relations(cls, s, "x", 1, &ents, &n, &rels, &n_rels, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "model has no 'relations' task") == 0);
    CHECK(attn_run_relation_pair(cls, s, "x", 1, 0, 1, 0, 1, probs, &err) == ATTN_EINVAL);
}

/* ---- streaming against the whole-text decoding, on a model with random weights ---- */

static const char *RANDOM_CONFIG =
    "{\"format\": 1, \"tasks\": [\"entities\", \"relations\"], \"dim\": 8, \"layers\": 1,"
    " \"heads\": 2, \"ffn\": 16, \"max_len\": 8,"
    " \"features\": [{\"kind\": \"norm\", \"buckets\": 64, \"dim\": 6},"
    "  {\"kind\": \"shape\", \"buckets\": 16, \"dim\": 2}],"
    " \"entities\": {\"labels\": [\"A\", \"B\"]},"
    " \"relations\": {\"labels\": [\"R\"], \"hidden\": 4, \"type_dim\": 2}}";

/* The same with the two bigram features, which read each token's neighbours in its window:
 * streaming must hand every window its tokens in order, and the token cache stays out. */
static const char *RANDOM_BIGRAM_CONFIG =
    "{\"format\": 1, \"tasks\": [\"entities\", \"relations\"], \"dim\": 8, \"layers\": 1,"
    " \"heads\": 2, \"ffn\": 16, \"max_len\": 8,"
    " \"features\": [{\"kind\": \"norm\", \"buckets\": 64, \"dim\": 6},"
    "  {\"kind\": \"bigram_left\", \"buckets\": 128, \"dim\": 3},"
    "  {\"kind\": \"shape\", \"buckets\": 16, \"dim\": 2},"
    "  {\"kind\": \"bigram_right\", \"buckets\": 128, \"dim\": 3}],"
    " \"entities\": {\"labels\": [\"A\", \"B\"]},"
    " \"relations\": {\"labels\": [\"R\"], \"hidden\": 4, \"type_dim\": 2}}";

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static double rng_normal(void) {   /* xorshift64*, Box-Muller */
    double u[2];
    for (int i = 0; i < 2; i++) {
        rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
        u[i] = ((rng_state * 0x2545F4914F6CDD1Dull) >> 11) * (1.0 / 9007199254740992.0);
    }
    return sqrt(-2.0 * log(u[0] + 1e-300)) * cos(6.283185307179586 * u[1]);
}

/* Weights like a trained tagger's scale: varied tags along a text, some long entities. */
static void fill_random(const attn_tensor_spec *sp, float *x, const shape_rows *rows) {
    (void)rows;
    const char *k = sp->key;
    const int ln_gain = strstr(k, "ln") && strstr(k, ".w");
    const double sd = strncmp(k, "embed.", 6) == 0 && strcmp(k, "embed.proj.w") ? 1.0
                    : strcmp(k, "tag.w") == 0 ? 1.0 : strncmp(k, "crf.", 4) == 0 ? 0.5 : 0.3;
    for (size_t i = 0; i < sp->size; i++) x[i] = (float)((ln_gain ? 1.0 : 0.0) + sd * rng_normal());
}

/* The whole-text reference: attn_run_encode's h[N, D], emissions per run of tokens owned by
 * one window (as the pipeline makes them), one Viterbi and forward-backward pass over all N,
 * IOB2 spans, offsets, mean marginals. Returns the entity count (out has room for N). */
static size_t whole_text_entities(const attn_model *m, attn_session *s, const char *text,
                                  size_t n_bytes, attn_entity *out) {
    const float *h;
    const attn_token *toks;
    int N;
    attn_error err;
    if (attn_run_encode(m, s, text, n_bytes, &h, &N, &toks, &err) || N == 0) return 0;
    const int K = attn_config_n_tags(&m->cfg), D = m->cfg.dim, L = m->cfg.max_len;
    const int nw = attn_windows(N, L, NULL);
    int *starts = malloc(sizeof(int) * (size_t)nw), *owner = malloc(sizeof(int) * (size_t)N);
    int *path = malloc(sizeof(int) * (size_t)N);
    float *em = malloc(sizeof(float) * (size_t)N * K), *marg = malloc(sizeof(float) * (size_t)N * K);
    float *work = malloc(sizeof(float) * ATTN_CRF_WORK(N, K));
    uint8_t allowed[64];
    attn_windows(N, L, starts);
    attn_window_owners(N, L, starts, nw, owner);
    for (int t = 0; t < N;) {
        int end = t + 1;
        while (end < N && owner[end] == owner[t]) end++;
        attn_tag_emissions(m, h + (size_t)t * D, end - t, em + (size_t)t * K);
        t = end;
    }
    attn_bio_constraints(m->cfg.entity_labels.n, allowed, allowed + K * K);
    const attn_crf crf = { K, m->w.crf_trans, m->w.crf_start, m->w.crf_end, allowed,
                           allowed + K * K };
    attn_crf_viterbi(&crf, em, N, path, work);
    attn_crf_marginals(&crf, em, N, marg, work);
    const size_t n = attn_iob2_spans(path, N, out);
    for (size_t i = 0; i < n; i++) {
        attn_entity *e = &out[i];
        e->start = toks[e->tok_start].start;
        e->end = toks[e->tok_end - 1].end;
        e->byte_start = toks[e->tok_start].byte_start;
        e->byte_end = toks[e->tok_end - 1].byte_end;
        double sum = 0.0;
        for (int t = e->tok_start; t < e->tok_end; t++) sum += marg[(size_t)t * K + path[t]];
        e->score = (float)(sum / (e->tok_end - e->tok_start));
    }
    free(starts); free(owner); free(path); free(em); free(marg); free(work);
    return n;
}

static const char *RANDOM_WORDS[] = {
    "John", "Smith", "works", "for", "Acme", "Corp", "in", "New", "York", "since", "1999", ",",
    "and", "Mary", "lives", "near", "the", "river", ".", "Zoë", "Köln", "東京", "O'Neill", "!",
};

/* n_words random words, space-separated (each word here is one or two tokens). */
static char *random_text(int n_words, unsigned seed) {
    char *text = malloc((size_t)n_words * 12 + 1);
    size_t len = 0;
    for (int i = 0; i < n_words; i++) {
        seed = seed * 1103515245u + 12345u;
        const char *w = RANDOM_WORDS[(seed >> 16) % (sizeof RANDOM_WORDS / sizeof *RANDOM_WORDS)];
        len += (size_t)sprintf(text + len, "%s%s", i ? " " : "", w);
    }
    return text;
}

/* Spans, labels and offsets equal; scores bit for bit (max_diff NULL) or within max_diff
 * (then *max_diff receives the largest difference). */
static int same_entities(const attn_entity *a, size_t na, const attn_entity *b, size_t nb,
                         double *max_diff) {
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++) {
        if (a[i].tok_start != b[i].tok_start || a[i].tok_end != b[i].tok_end ||
            a[i].label != b[i].label || a[i].start != b[i].start || a[i].end != b[i].end ||
            a[i].byte_start != b[i].byte_start || a[i].byte_end != b[i].byte_end)
            return 0;
        if (!max_diff && memcmp(&a[i].score, &b[i].score, sizeof a[i].score)) return 0;
        if (max_diff && fabs(a[i].score - b[i].score) > *max_diff)
            *max_diff = fabs(a[i].score - b[i].score);
    }
    return 1;
}

static double worst_stream_score;

static void test_streaming_vs_whole_text(const attn_model *m) {
    attn_session *s = attn_session_new(), *ref = attn_session_new();
    attn_error err;
    const attn_entity *ents, *rel_ents;
    const attn_relation *rels;
    size_t n, n_rel_ents, n_rels;
    /* one window (N <= max_len), and up to ATTN_TAG_PENDING_WINDOWS / 2 windows (decided only
     * at the end): bit for bit the whole-text decoding */
    int exact_ok = 1, words_seen = 0;
    for (int words = 1; words <= 40; words++) {
        char *text = random_text(words, (unsigned)words * 7919u);
        static attn_entity want[512];
        const size_t n_want = whole_text_entities(m, ref, text, strlen(text), want);
        exact_ok = exact_ok && attn_run_entities(m, s, text, strlen(text), &ents, &n, &err) == 0 &&
                   same_entities(ents, n, want, n_want, NULL);
        words_seen += (int)n_want > 0;
        free(text);
    }
    CHECK(exact_ok);
    CHECK(words_seen > 20);
    /* long texts: the same entities, scores within 1e-5 */
    const int long_words[] = { 300, 2000, 12000 };
    for (int i = 0; i < 3; i++) {
        char *text = random_text(long_words[i], 17u + (unsigned)i);
        const size_t len = strlen(text);
        attn_entity *want = malloc(sizeof(attn_entity) * 2 * (size_t)long_words[i]);
        const size_t n_want = whole_text_entities(m, ref, text, len, want);
        double diff = 0.0;
        CHECK(attn_run_entities(m, s, text, len, &ents, &n, &err) == ATTN_OK);
        CHECK_MSG(same_entities(ents, n, want, n_want, &diff), "%d words: %zu vs %zu entities",
                  long_words[i], n, n_want);
        CHECK_MSG(diff < 1e-5, "%d words: score difference %g", long_words[i], diff);
        CHECK(n_want > (size_t)long_words[i] / 20);
        if (diff > worst_stream_score) worst_stream_score = diff;
        /* relations decode the same emissions through the same tagger: identical entities */
        CHECK(attn_run_relations(m, ref, text, len, &rel_ents, &n_rel_ents, &rels, &n_rels,
                                 &err) == ATTN_OK);
        CHECK(attn_run_entities(m, s, text, len, &ents, &n, &err) == ATTN_OK);
        CHECK(same_entities(rel_ents, n_rel_ents, ents, n, NULL));
        free(want);
        free(text);
    }
    attn_session_free(s);
    attn_session_free(ref);
}

/* A bigram model's windows are featurised from the window's own tokens: the encoder output of
 * a one-window text is that of its rows from attn_sequence_features, with the token cache on
 * (the default) or off. */
static void test_bigram_window_rows(const attn_model *m) {
    const char *text = "北京 is in 中国, Mary";
    attn_tokens toks = {0};
    attn_error err;
    CHECK(attn_tokenize(text, strlen(text), &toks, &err) == ATTN_OK && toks.n <= 8);
    const int S = attn_feature_slots(m->cfg.features, m->cfg.n_features), D = m->cfg.dim;
    uint32_t *rows = malloc(sizeof(uint32_t) * toks.n * (size_t)S);
    float *want = malloc(sizeof(float) * toks.n * (size_t)D);
    attn_scratch scratch = {0};
    attn_sequence_features(text, toks.tok, toks.n, m->cfg.features, m->cfg.n_features, NULL,
                           rows);
    CHECK(attn_encode(m, rows, (int)toks.n, want, &scratch, &err) == ATTN_OK);
    for (int cache = 0; cache < 2; cache++) {
        attn_session *s = attn_session_new();
        if (!cache) attn_session_set_token_cache(s, 0);
        const float *h;
        const attn_token *tk;
        int N = 0;
        CHECK(attn_run_encode(m, s, text, strlen(text), &h, &N, &tk, &err) == ATTN_OK);
        CHECK(N == (int)toks.n && memcmp(h, want, sizeof(float) * toks.n * (size_t)D) == 0);
        attn_session_free(s);
    }
    attn_scratch_free(&scratch);
    free(rows);
    free(want);
    attn_tokens_free(&toks);
}

/* Entities and classification hold no memory per token: a fresh session's buffers after a
 * text of 2 000 and one of 20 000 tokens are the same (no entities in these texts), and
 * attn_call_bytes is the same for any long text; relations grow with it. */
static void test_streaming_memory(const attn_model *tagger, const attn_model *cls) {
    char *small = malloc(2000 * 4 + 1), *large = malloc(20000 * 4 + 1);
    for (int i = 0; i < 2000; i++) memcpy(small + 4 * i, "the ", 4);
    for (int i = 0; i < 20000; i++) memcpy(large + 4 * i, "and ", 4);
    const attn_entity *ents;
    size_t n_small = 99, n_large = 99;
    float probs[2];
    attn_error err;
    attn_session *a = attn_session_new(), *b = attn_session_new();
    CHECK(attn_run_entities(tagger, a, small, 8000, &ents, &n_small, &err) == ATTN_OK);
    CHECK(attn_run_entities(tagger, b, large, 80000, &ents, &n_large, &err) == ATTN_OK);
    CHECK(n_small == 0 && n_large == 0);
    CHECK(attn_session_bytes(a) == attn_session_bytes(b));
    CHECK(attn_run_classify(cls, a, small, 8000, probs, &err) == ATTN_OK);
    CHECK(attn_run_classify(cls, b, large, 80000, probs, &err) == ATTN_OK);
    CHECK(attn_session_bytes(a) == attn_session_bytes(b));
    CHECK_MSG(attn_session_bytes(b) - attn_session_window_bytes(b) < 100000, "%zu", attn_session_bytes(b) - attn_session_window_bytes(b));
    CHECK(attn_call_bytes(tagger, ATTN_TASK_ENTITIES, 2000) ==
          attn_call_bytes(tagger, ATTN_TASK_ENTITIES, 50000000));
    CHECK(attn_call_bytes(cls, ATTN_TASK_CLASSIFY, 2000) ==
          attn_call_bytes(cls, ATTN_TASK_CLASSIFY, 50000000));
    CHECK(attn_call_bytes(tagger, ATTN_TASK_RELATIONS, 20000) >
          attn_call_bytes(tagger, ATTN_TASK_RELATIONS, 2000) + 18000 * 32);
    /* the memory limit counts the entities as they are found */
    static expected e;
    build_text(&e, 150);
    const size_t call = attn_call_bytes(tagger, ATTN_TASK_ENTITIES, (size_t)e.n_tokens);
    attn_session_set_memory_limit(a, call + 10 * sizeof(attn_entity));
    CHECK(attn_run_entities(tagger, a, e.text, e.len, &ents, &n_small, &err) == ATTN_ELIMIT);
    CHECK(attn_session_over_memory(a));
    CHECK_MSG(strstr(err.msg, "150 tokens and 11 entities need") != NULL, "%s", err.msg);
    CHECK(attn_run_entities(tagger, a, "John met Mary", 13, &ents, &n_small, &err) == ATTN_OK);
    CHECK(n_small == 2 && !attn_session_over_memory(a));
    attn_session_set_memory_limit(a, call - 1);
    CHECK(attn_run_entities(tagger, a, e.text, e.len, &ents, &n_small, &err) == ATTN_ELIMIT);
    CHECK(strstr(err.msg, "150 tokens need") != NULL);
    attn_session_free(a);
    attn_session_free(b);
    free(small);
    free(large);
}

int main(void) {
    test_windows();
    test_iob2_spans();
    test_pair_extent();

    shape_rows rows;
    int distinct = 1;
    for (size_t i = 0; i < N_CAPS; i++) rows.caps[i] = shape_row(CAPS[i]);
    for (size_t i = 0; i < N_LOWER; i++) rows.lower[i] = shape_row(LOWER[i]);
    for (size_t i = 0; i < N_CAPS; i++)
        for (size_t j = 0; j < N_LOWER; j++) distinct = distinct && rows.caps[i] != rows.lower[j];
    CHECK(distinct);    /* the hand-made embedding needs the two shape sets apart */

    attn_model *tagger = make_model(TAGGER_CONFIG, &rows, fill);
    attn_model *cls = make_model(CLASSIFY_CONFIG, &rows, fill);
    attn_session *s = attn_session_new();
    CHECK(tagger && cls && s);
    if (tagger && cls && s && distinct) {
        test_entities_long_text(tagger, s);
        test_short_and_empty(tagger, s);
        test_relation_pair(tagger, s);
        test_stop(tagger, s);
        test_entities_long_text(tagger, s);     /* the same session again: same answers */
        test_classify(cls, tagger, s);
        test_streaming_memory(tagger, cls);
    }
    attn_model *random_model = make_model(RANDOM_CONFIG, &rows, fill_random);
    CHECK(random_model != NULL);
    if (random_model) test_streaming_vs_whole_text(random_model);
    printf("streaming vs whole-text entity scores (random model, up to 12000 words): largest "
           "difference %.3g\n", worst_stream_score);
    attn_model_free(random_model);
    random_model = make_model(RANDOM_BIGRAM_CONFIG, &rows, fill_random);
    CHECK(random_model != NULL);
    if (random_model) test_streaming_vs_whole_text(random_model);
    if (random_model) test_bigram_window_rows(random_model);
    printf("the same with bigram features: largest difference %.3g\n", worst_stream_score);
    attn_model_free(random_model);
    attn_session_free(s);
    attn_model_free(tagger);
    attn_model_free(cls);
    return CHECK_DONE();
}
