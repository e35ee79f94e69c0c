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
#include "features.h"
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

static attn_model *make_model(const char *config, const shape_rows *rows) {
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

    /* relations: exactly the ordered pairs within the extent rule, each once */
    const attn_relation *rels;
    size_t n_ents, n_rels, want = 0;
    CHECK(attn_run_relations(m, s, e.text, e.len, &ents, &n_ents, &rels, &n_rels, &err) == 0);
    check_entities(&e, ents, n_ents);
    for (int i = 0; i < e.n_ents; i++)
        for (int j = 0; j < e.n_ents; j++)
            if (i != j && (e.tok_end[i] > e.tok_end[j] ? e.tok_end[i] : e.tok_end[j]) -
                          (e.tok_start[i] < e.tok_start[j] ? e.tok_start[i] : e.tok_start[j])
                          <= MAX_LEN)
                want++;
    CHECK_MSG(n_rels == want, "%zu relations, expected %zu", n_rels, want);
    ok = want > 0;
    for (size_t r = 0; r < n_rels; r++) {
        const attn_relation *x = &rels[r];
        ok = ok && x->head != x->tail && x->head >= 0 && (size_t)x->head < n_ents &&
             x->tail >= 0 && (size_t)x->tail < n_ents && x->label == 0 &&
             fabsf(x->score - expected_rel_score()) < 1e-5f &&
             attn_pair_in_extent(&ents[x->head], &ents[x->tail], MAX_LEN);
        for (size_t q = 0; q < r; q++)
            ok = ok && !(rels[q].head == x->head && rels[q].tail == x->tail);
    }
    CHECK(ok);
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

    attn_model *tagger = make_model(TAGGER_CONFIG, &rows);
    attn_model *cls = make_model(CLASSIFY_CONFIG, &rows);
    attn_session *s = attn_session_new();
    CHECK(tagger && cls && s);
    if (tagger && cls && s && distinct) {
        test_entities_long_text(tagger, s);
        test_short_and_empty(tagger, s);
        test_relation_pair(tagger, s);
        test_entities_long_text(tagger, s);     /* the same session again: same answers */
        test_classify(cls, tagger, s);
    }
    attn_session_free(s);
    attn_model_free(tagger);
    attn_model_free(cls);
    return CHECK_DONE();
}
