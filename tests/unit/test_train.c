/* test_train.c: the trainer end to end.
 *   - the training forward equals attn_encode bit for bit when dropout is off
 *   - tiny data sets are learnt: 8 texts reach 100% training accuracy (classify) and entity
 *     and relation F1 1.0 (measured with the inference pipeline) within a bounded step count
 *   - the same seed gives bit-identical parameters (1 and 2 threads); another seed does not
 *   - chunks (examples run together, up to 512 tokens): the batch gradient is the mean of the
 *     examples' gradients, and dropout masks do not depend on how the batch was chunked
 *   - clipping bounds the gradient norm and keeps its direction; AdamW's update and its
 *     weight-decay rule; the learning-rate schedule
 *   - character spans -> IOB2 tags (snapping outward) and every validation error */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "encoder.h"
#include "features.h"
#include "pipeline.h"
#include "tokenizer.h"
#include "train.h"
#include "train_data.h"

#define MAX_TOKENS 32

static const char *FEATURES =
    " \"features\": [{\"kind\": \"norm\", \"buckets\": 2000, \"dim\": 16},"
    "                {\"kind\": \"prefix\", \"buckets\": 500, \"dim\": 8, \"affix\": 3},"
    "                {\"kind\": \"suffix\", \"buckets\": 500, \"dim\": 8, \"affix\": 3},"
    "                {\"kind\": \"shape\", \"buckets\": 100, \"dim\": 8}],";

static attn_model *new_model(const char *sizes, const char *tasks, uint64_t seed) {
    char config[4096];
    snprintf(config, sizeof config, "{\"format\": 1, %s %s %s}", sizes, FEATURES, tasks);
    attn_model *m = NULL;
    attn_error err;
    if (attn_train_model_new(config, strlen(config), seed, &m, &err)) {
        fprintf(stderr, "model: %s\n", err.msg);
        return NULL;
    }
    return m;
}

static attn_trainer *new_trainer(attn_model *m, const attn_train_opts *o) {
    attn_trainer *tr = NULL;
    attn_error err;
    if (attn_trainer_new(m, o, &tr, &err)) fprintf(stderr, "trainer: %s\n", err.msg);
    return tr;
}

/* A tokenized text with its feature rows. */
typedef struct text_rows {
    const char *text;
    attn_tokens toks;
    uint32_t rows[MAX_TOKENS * ATTN_MAX_SLOTS];
    int T;
} text_rows;

static void featurise(const attn_model *m, text_rows *tx, const char *text) {
    attn_error err;
    memset(&tx->toks, 0, sizeof tx->toks);
    tx->text = text;
    CHECK(attn_tokenize(text, strlen(text), &tx->toks, &err) == ATTN_OK);
    tx->T = (int)tx->toks.n;
    const int slots = attn_feature_slots(m->cfg.features, m->cfg.n_features);
    for (int t = 0; t < tx->T && t < MAX_TOKENS; t++) {
        const attn_token *tk = &tx->toks.tok[t];
        attn_token_features(text + tk->byte_start, tk->byte_end - tk->byte_start,
                            m->cfg.features, m->cfg.n_features, tx->rows + (size_t)t * slots);
    }
}

/* ---- the forward pass equals the inference encoder ---- */

static void test_forward_matches_encode(void) {
    attn_model *m = new_model("\"dim\": 32, \"layers\": 2, \"heads\": 4, \"ffn\": 64, \"max_len\": 64,",
                              "\"tasks\": [\"classify\"], \"classify\": {\"labels\": [\"a\", \"b\"]}", 11);
    attn_train_opts o = attn_train_defaults();
    attn_trainer *tr = new_trainer(m, &o);
    o.dropout_attn = o.dropout_embed = o.dropout_resid = 0.1f;
    o.word_dropout = 0.1f;
    attn_trainer *drop = new_trainer(m, &o);
    if (!m || !tr || !drop) { CHECK(0); return; }
    uint32_t rows[64 * 4];
    for (int i = 0; i < 64 * 4; i++) rows[i] = (uint32_t)(i * 2654435761u % 97u);
    float *enc = malloc(64 * 32 * 4), *trn = malloc(64 * 32 * 4), *trn2 = malloc(64 * 32 * 4);
    attn_scratch s = { 0 };
    attn_error err;
    static const int lengths[] = { 1, 2, 5, 16, 17, 40, 64 };   /* both matmul paths */
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        const int T = lengths[i];
        CHECK(attn_encode(m, rows, T, enc, &s, &err) == ATTN_OK);
        CHECK(attn_trainer_encode(tr, rows, T, trn, &err) == ATTN_OK);
        CHECK_MSG(memcmp(enc, trn, (size_t)T * 32 * 4) == 0, "T = %d: hidden states differ", T);
        /* with dropout: different, and the same masks again for the same step */
        CHECK(attn_trainer_encode(drop, rows, T, trn, &err) == ATTN_OK);
        CHECK(attn_trainer_encode(drop, rows, T, trn2, &err) == ATTN_OK);
        CHECK(memcmp(enc, trn, (size_t)T * 32 * 4) != 0);
        CHECK(memcmp(trn, trn2, (size_t)T * 32 * 4) == 0);
    }
    CHECK(attn_trainer_encode(tr, rows, 65, trn, &err) == ATTN_EINVAL);
    CHECK(strstr(err.msg, "65 tokens") != NULL);
    attn_scratch_free(&s);
    free(enc); free(trn); free(trn2);
    attn_trainer_free(tr); attn_trainer_free(drop);
    attn_model_free(m);
}

/* A subword feature between two others: the training forward still equals attn_encode, and
 * both validate the slots (word row required, later slots may be ATTN_ROW_NONE). */
static void test_subword_forward_and_rows(void) {
    const char *config =
        "{\"format\": 1, \"dim\": 16, \"layers\": 1, \"heads\": 2, \"ffn\": 32, \"max_len\": 32,"
        " \"features\": [{\"kind\": \"norm\", \"buckets\": 200, \"dim\": 8},"
        "  {\"kind\": \"subword\", \"buckets\": 500, \"dim\": 8, \"min_n\": 2, \"max_n\": 4},"
        "  {\"kind\": \"shape\", \"buckets\": 50, \"dim\": 4}],"
        " \"tasks\": [\"classify\"], \"classify\": {\"labels\": [\"a\", \"b\"]}}";
    attn_model *m = NULL;
    attn_error err;
    CHECK(attn_train_model_new(config, strlen(config), 5, &m, &err) == ATTN_OK);
    if (!m) return;
    attn_train_opts o = attn_train_defaults();
    attn_trainer *tr = new_trainer(m, &o);
    text_rows tx;
    featurise(m, &tx, "Anna-Lena Müller visited the Internationalisation office in 2023 .");
    const int S = attn_feature_slots(m->cfg.features, m->cfg.n_features);
    CHECK(S == 2 + ATTN_SUBWORD_SLOTS && tx.T >= 8);
    float enc[MAX_TOKENS * 16], trn[MAX_TOKENS * 16];
    attn_scratch s = { 0 };
    CHECK(attn_encode(m, tx.rows, tx.T, enc, &s, &err) == ATTN_OK);
    CHECK(tr && attn_trainer_encode(tr, tx.rows, tx.T, trn, &err) == ATTN_OK);
    CHECK(memcmp(enc, trn, (size_t)tx.T * 16 * sizeof(float)) == 0);

    uint32_t *tok1 = tx.rows + S;          /* token 1: its subword slots start at tok1[1] */
    const uint32_t word_row = tok1[1], later = tok1[5];
    tok1[5] = ATTN_ROW_NONE;               /* a later slot unused: fine */
    CHECK(attn_encode(m, tx.rows, tx.T, enc, &s, &err) == ATTN_OK);
    tok1[5] = 500;
    CHECK(attn_encode(m, tx.rows, tx.T, enc, &s, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "encoder: feature row 500 of token 1 out of range (500 buckets)"));
    tok1[5] = later;
    tok1[1] = ATTN_ROW_NONE;               /* no word row: invalid */
    CHECK(attn_encode(m, tx.rows, tx.T, enc, &s, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "encoder: feature row 4294967295 of token 1 out of range (500 buckets)"));
    CHECK(tr && attn_trainer_encode(tr, tx.rows, tx.T, trn, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "train: example 0: feature row 4294967295 of token 1 out of range "
                           "(500 buckets)"));
    tok1[1] = word_row;
    tok1[S - 1] = 50;                      /* the shape slot after the subword slots */
    CHECK(attn_encode(m, tx.rows, tx.T, enc, &s, &err) == ATTN_EINVAL);
    CHECK(!strcmp(err.msg, "encoder: feature row 50 of token 1 out of range (50 buckets)"));
    attn_tokens_free(&tx.toks);
    attn_scratch_free(&s);
    attn_trainer_free(tr);
    attn_model_free(m);
}

/* ---- overfitting tiny sets ---- */

static const char *SMALL = "\"dim\": 32, \"layers\": 2, \"heads\": 2, \"ffn\": 64, \"max_len\": 32,";

static const struct { const char *text; int label; } CLASSIFY_SET[8] = {
    { "what a wonderful film , I loved it", 1 },
    { "the plot was dull and the acting worse", 0 },
    { "great music and a moving story", 1 },
    { "I want my two hours back", 0 },
    { "a charming , funny and clever movie", 1 },
    { "boring , predictable , far too long", 0 },
    { "the best thing I saw this year", 1 },
    { "nothing works in this mess", 0 },
};

#define CLASSIFY_MAX_STEPS 200

static void test_overfit_classify(void) {
    attn_model *m = new_model(SMALL, "\"tasks\": [\"classify\"], \"classify\": {\"labels\": [\"neg\", \"pos\"]}", 1);
    attn_train_opts o = attn_train_defaults();
    o.lr = 3e-3f;
    o.warmup_steps = 5;
    o.total_steps = CLASSIFY_MAX_STEPS;
    o.dropout_resid = 0.1f;
    attn_trainer *tr = new_trainer(m, &o);
    attn_session *s = attn_session_new();
    if (!m || !tr || !s) { CHECK(0); return; }
    static text_rows tx[8];
    attn_example ex[8];
    memset(ex, 0, sizeof ex);
    for (int i = 0; i < 8; i++) {
        featurise(m, &tx[i], CLASSIFY_SET[i].text);
        ex[i].rows = tx[i].rows; ex[i].T = tx[i].T; ex[i].label = CLASSIFY_SET[i].label;
    }
    attn_error err;
    attn_train_stats st;
    double first_loss = -1.0, last_loss = 0.0;
    int correct = 0, steps = 0;
    while (steps < CLASSIFY_MAX_STEPS && correct < 8) {
        CHECK(attn_trainer_step(tr, ex, 8, &st, &err) == ATTN_OK);
        if (first_loss < 0) first_loss = st.loss;
        last_loss = st.loss;
        steps++;
        correct = 0;
        for (int i = 0; i < 8; i++) {
            float probs[2];
            CHECK(attn_run_classify(m, s, tx[i].text, strlen(tx[i].text), probs, &err) == ATTN_OK);
            correct += probs[CLASSIFY_SET[i].label] > 0.9f;   /* right, and confidently */
        }
    }
    printf("  classify: 8/8 with p(gold) > 0.9 after %d steps (loss %.3f -> %.3f)\n", steps, first_loss, last_loss);
    CHECK_MSG(correct == 8, "classify: %d/8 correct after %d steps", correct, steps);
    CHECK(last_loss < first_loss);
    CHECK(st.n_classified == 8 && st.n_tokens > 8 * 5);
    for (int i = 0; i < 8; i++) attn_tokens_free(&tx[i].toks);
    attn_session_free(s);
    attn_trainer_free(tr);
    attn_model_free(m);
}

typedef struct ner_item {
    const char *text;
    attn_char_span ents[3];
    int n_ents;
    attn_rel_gold rels[2];
    int n_rels;
} ner_item;

/* Labels PER = 0, ORG = 1, LOC = 2; relation Work_For = 0, Lives_In = 1. */
static const ner_item NER_SET[8] = {
    { "John Smith works for Acme Corp .", { { 0, 10, 0 }, { 21, 30, 1 } }, 2, { { 0, 1, 0 } }, 1 },
    { "Mary lives in Paris .", { { 0, 4, 0 }, { 14, 19, 2 } }, 2, { { 0, 1, 1 } }, 1 },
    { "Globex hired Peter Jones in Berlin .", { { 0, 6, 1 }, { 13, 24, 0 }, { 28, 34, 2 } }, 3,
      { { 1, 0, 0 } }, 1 },
    { "the weather was nice .", { { 0, 0, 0 } }, 0, { { 0, 0, 0 } }, 0 },
    { "Anna Berg moved to Oslo and joined Initech .",
      { { 0, 9, 0 }, { 19, 23, 2 }, { 35, 42, 1 } }, 3, { { 0, 1, 1 }, { 0, 2, 0 } }, 2 },
    { "Rome is old .", { { 0, 4, 2 } }, 1, { { 0, 0, 0 } }, 0 },
    { "Umbrella Inc sued Hooli .", { { 0, 12, 1 }, { 18, 23, 1 } }, 2, { { 0, 0, 0 } }, 0 },
    { "Tom met Lisa Park in London .", { { 0, 3, 0 }, { 8, 17, 0 }, { 21, 27, 2 } }, 3,
      { { 0, 0, 0 } }, 0 },
};

static const char *NER_TASKS =
    "\"tasks\": [\"entities\", \"relations\"],"
    " \"entities\": {\"labels\": [\"PER\", \"ORG\", \"LOC\"]},"
    " \"relations\": {\"labels\": [\"Work_For\", \"Lives_In\"], \"hidden\": 32, \"type_dim\": 8}";

#define NER_MAX_STEPS 300

/* Entity and relation true positives / predicted / gold over the set, with the pipeline. */
static void ner_counts(const attn_model *m, attn_session *s, int *tp, int *pred, int *gold,
                       int *rtp, int *rpred, int *rgold) {
    *tp = *pred = *gold = *rtp = *rpred = *rgold = 0;
    attn_error err;
    for (int i = 0; i < 8; i++) {
        const ner_item *it = &NER_SET[i];
        const attn_entity *ents;
        const attn_relation *rels;
        size_t ne, nr;
        if (attn_run_relations(m, s, it->text, strlen(it->text), &ents, &ne, &rels, &nr, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return;
        }
        *pred += (int)ne;
        *gold += it->n_ents;
        *rpred += (int)nr;
        *rgold += it->n_rels;
        for (size_t e = 0; e < ne; e++)
            for (int g = 0; g < it->n_ents; g++)
                *tp += ents[e].start == it->ents[g].start && ents[e].end == it->ents[g].end &&
                       ents[e].label == it->ents[g].label;
        for (size_t r = 0; r < nr; r++)
            for (int g = 0; g < it->n_rels; g++) {
                const attn_char_span *h = &it->ents[it->rels[g].head], *t = &it->ents[it->rels[g].tail];
                *rtp += ents[rels[r].head].start == h->start && ents[rels[r].tail].start == t->start &&
                        rels[r].label == it->rels[g].label;
            }
    }
}

static void test_overfit_entities_relations(void) {
    attn_model *m = new_model(SMALL, NER_TASKS, 2);
    attn_train_opts o = attn_train_defaults();
    o.lr = 3e-3f;
    o.warmup_steps = 5;
    o.total_steps = NER_MAX_STEPS;
    o.word_dropout = 0.05f;
    o.threads = 2;
    attn_trainer *tr = new_trainer(m, &o);
    attn_session *s = attn_session_new();
    if (!m || !tr || !s) { CHECK(0); return; }
    static text_rows tx[8];
    static int tags[8][MAX_TOKENS];
    static attn_span spans[8][3];
    attn_example ex[8];
    attn_error err;
    for (int i = 0; i < 8; i++) {
        const ner_item *it = &NER_SET[i];
        featurise(m, &tx[i], it->text);
        CHECK(attn_char_spans_to_iob2(tx[i].toks.tok, tx[i].T, (int64_t)strlen(it->text), it->ents,
                                      it->n_ents, 3, tags[i], spans[i], &err) == ATTN_OK);
        ex[i] = (attn_example){ tx[i].rows, tx[i].T, -1, tags[i], spans[i], it->n_ents,
                                it->rels, it->n_rels, NULL, NULL };
    }
    int tp = 0, pred = 0, gold = 0, rtp = 0, rpred = 0, rgold = 0, steps = 0;
    attn_train_stats st;
    while (steps < NER_MAX_STEPS) {
        CHECK(attn_trainer_step(tr, ex, 8, &st, &err) == ATTN_OK);
        steps++;
        if (steps % 5) continue;
        ner_counts(m, s, &tp, &pred, &gold, &rtp, &rpred, &rgold);
        if (tp == gold && pred == gold && rtp == rgold && rpred == rgold) break;
    }
    printf("  entities+relations: F1 1.0 after %d steps (loss %.3f)\n", steps, st.loss);
    CHECK_MSG(tp == gold && pred == gold, "entities: %d true of %d predicted, %d gold", tp, pred, gold);
    CHECK_MSG(rtp == rgold && rpred == rgold, "relations: %d true of %d predicted, %d gold", rtp,
              rpred, rgold);
    CHECK(gold == 16 && rgold == 5);
    for (int i = 0; i < 8; i++) attn_tokens_free(&tx[i].toks);
    attn_session_free(s);
    attn_trainer_free(tr);
    attn_model_free(m);
}

/* ---- chunks: a worker runs consecutive examples, up to 512 tokens in all, as one chunk ---- */

#define CHUNK_TEST_N 6

/* Feature rows of T tokens cycling through a few words (salt shifts the cycle). */
static void cycle_rows(const attn_model *m, uint32_t *rows, int T, int salt) {
    static const char *words[] = { "The", "film", "was", "great", "and", "Paris", "1999", "!" };
    const int S = attn_feature_slots(m->cfg.features, m->cfg.n_features);
    for (int t = 0; t < T; t++) {
        const char *w = words[(t + salt) % 8];
        attn_token_features(w, strlen(w), m->cfg.features, m->cfg.n_features,
                            rows + (size_t)t * S);
    }
}

/* sqrt(sum (a - b)^2 / sum b^2) */
static double rel_diff(const float *a, const float *b, size_t n) {
    double d = 0.0, nb = 0.0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        nb += (double)b[i] * b[i];
    }
    return sqrt(d / (nb > 0.0 ? nb : 1.0));
}

/* The batch gradient with opts o (threads, dropout) into g[n_params]; returns the loss. */
static double batch_grad(attn_model *m, attn_train_opts o, const attn_example *ex, int n,
                         float *g) {
    attn_trainer *tr = new_trainer(m, &o);
    attn_error err;
    double loss = NAN;
    CHECK(tr && attn_trainer_grad(tr, ex, n, &loss, &err) == ATTN_OK);
    if (tr) memcpy(g, attn_trainer_grads(tr), m->n_params * sizeof *g);
    attn_trainer_free(tr);
    return loss;
}

/* Lengths 300 100 300 100 100 50 (max_len 320): one thread runs the chunks [0 1] [2 3 4] [5];
 * two threads [0 1] [2] and [3 4 5]. The batch gradient must equal the mean of the examples'
 * own gradients, and with dropout on (masks drawn per example) not depend on the chunking. */
static void test_chunks(void) {
    attn_model *m = new_model("\"dim\": 16, \"layers\": 1, \"heads\": 2, \"ffn\": 32, "
                              "\"max_len\": 320,", "\"tasks\": [\"classify\"], \"classify\": "
                              "{\"labels\": [\"neg\", \"pos\"]}", 9);
    if (!m) { CHECK(0); return; }
    static const int len[CHUNK_TEST_N] = { 300, 100, 300, 100, 100, 50 };
    const int S = attn_feature_slots(m->cfg.features, m->cfg.n_features);
    attn_example ex[CHUNK_TEST_N];
    uint32_t *rows[CHUNK_TEST_N];
    for (int i = 0; i < CHUNK_TEST_N; i++) {
        rows[i] = malloc((size_t)len[i] * S * sizeof **rows);
        cycle_rows(m, rows[i], len[i], i);
        ex[i] = (attn_example){ rows[i], len[i], i % 2, NULL, NULL, 0, NULL, 0, NULL, NULL };
    }
    const size_t np = m->n_params;
    float *g = malloc(np * 4), *mean = calloc(np, 4), *one = malloc(np * 4);
    attn_train_opts o = attn_train_defaults();
    const double loss = batch_grad(m, o, ex, CHUNK_TEST_N, g);
    double mean_loss = 0.0;
    for (int i = 0; i < CHUNK_TEST_N; i++) {
        mean_loss += batch_grad(m, o, &ex[i], 1, one) / CHUNK_TEST_N;
        for (size_t k = 0; k < np; k++) mean[k] += one[k] / CHUNK_TEST_N;
    }
    CHECK_NEAR(loss, mean_loss, 1e-5 * fabs(mean_loss));
    CHECK_MSG(rel_diff(g, mean, np) < 1e-4, "batch vs per-example gradients: %g",
              rel_diff(g, mean, np));
    o.threads = 2;
    batch_grad(m, o, ex, CHUNK_TEST_N, one);
    CHECK_MSG(rel_diff(one, g, np) < 1e-4, "2 threads: %g", rel_diff(one, g, np));
    /* dropout: the same masks whatever the chunks */
    o.dropout_embed = o.dropout_attn = o.dropout_resid = 0.2f;
    o.word_dropout = 0.1f;
    o.threads = 1;
    batch_grad(m, o, ex, CHUNK_TEST_N, mean);
    o.threads = 2;
    batch_grad(m, o, ex, CHUNK_TEST_N, one);
    CHECK_MSG(rel_diff(one, mean, np) < 1e-4, "dropout, 1 vs 2 threads: %g",
              rel_diff(one, mean, np));
    CHECK(rel_diff(mean, g, np) > 1e-2);          /* dropout was on */
    for (int i = 0; i < CHUNK_TEST_N; i++) free(rows[i]);
    free(g); free(mean); free(one);
    attn_model_free(m);
}

/* ---- determinism ---- */

static void run_steps(attn_model *m, int threads, uint64_t seed, const attn_example *ex, int n,
                      int steps) {
    attn_train_opts o = attn_train_defaults();
    o.seed = seed;
    o.threads = threads;
    o.dropout_embed = o.dropout_attn = o.dropout_resid = 0.2f;
    o.word_dropout = 0.1f;
    o.rel_negatives = 1;          /* sampling, not all pairs */
    attn_trainer *tr = new_trainer(m, &o);
    attn_error err;
    for (int i = 0; i < steps && tr; i++) CHECK(attn_trainer_step(tr, ex, n, NULL, &err) == ATTN_OK);
    attn_trainer_free(tr);
}

static void test_determinism(void) {
    attn_model *a = new_model(SMALL, NER_TASKS, 5), *b = new_model(SMALL, NER_TASKS, 5);
    attn_model *c = new_model(SMALL, NER_TASKS, 5), *d = new_model(SMALL, NER_TASKS, 5);
    if (!a || !b || !c || !d) { CHECK(0); return; }
    CHECK(memcmp(a->params, b->params, a->n_params * 4) == 0);   /* seeded initialisation */
    static text_rows tx[8];
    static int tags[8][MAX_TOKENS];
    static attn_span spans[8][3];
    attn_example ex[8];
    attn_error err;
    for (int i = 0; i < 8; i++) {
        featurise(a, &tx[i], NER_SET[i].text);
        attn_char_spans_to_iob2(tx[i].toks.tok, tx[i].T, (int64_t)strlen(NER_SET[i].text),
                                NER_SET[i].ents, NER_SET[i].n_ents, 3, tags[i], spans[i], &err);
        ex[i] = (attn_example){ tx[i].rows, tx[i].T, -1, tags[i], spans[i], NER_SET[i].n_ents,
                                NER_SET[i].rels, NER_SET[i].n_rels, NULL, NULL };
    }
    run_steps(a, 2, 9, ex, 8, 4);
    run_steps(b, 2, 9, ex, 8, 4);
    run_steps(c, 1, 9, ex, 8, 4);
    run_steps(d, 2, 10, ex, 8, 4);
    CHECK_MSG(memcmp(a->params, b->params, a->n_params * 4) == 0, "same seed, 2 threads: differ");
    CHECK(memcmp(a->params, d->params, a->n_params * 4) != 0);  /* another seed: other masks */
    /* 1 thread vs 2: the same masks, sums in another order: close, not necessarily equal */
    double diff = 0.0, moved = 0.0;
    attn_model *fresh = new_model(SMALL, NER_TASKS, 5);
    for (size_t i = 0; i < a->n_params; i++) {
        diff = fmax(diff, fabs(a->params[i] - c->params[i]));
        moved = fmax(moved, fabs(a->params[i] - fresh->params[i]));
    }
    CHECK_MSG(diff < 1e-3 * moved && moved > 0, "1 vs 2 threads: %g (moved %g)", diff, moved);
    /* same seed, 1 thread, twice: identical too */
    attn_model *e = new_model(SMALL, NER_TASKS, 5);
    run_steps(e, 1, 9, ex, 8, 4);
    CHECK(memcmp(c->params, e->params, c->n_params * 4) == 0);
    for (int i = 0; i < 8; i++) attn_tokens_free(&tx[i].toks);
    attn_model_free(a); attn_model_free(b); attn_model_free(c); attn_model_free(d);
    attn_model_free(e); attn_model_free(fresh);
}

/* ---- clipping, AdamW, schedule ---- */

static double norm_of(const float *g, const attn_model *m) {
    double sq = 0.0;
    for (size_t i = 0; i < m->n_params; i++) sq += (double)g[i] * g[i];
    return sqrt(sq);
}

static void test_clipping_and_adamw(void) {
    attn_model *m = new_model(SMALL, "\"tasks\": [\"classify\"], \"classify\": {\"labels\": [\"neg\", \"pos\"]}", 3);
    attn_train_opts o = attn_train_defaults();
    o.clip_norm = 0.05f;
    o.weight_decay = 0.5f;
    o.lr = 1e-2f;
    o.dropout_resid = 0.1f;
    attn_trainer *tr = new_trainer(m, &o);
    if (!m || !tr) { CHECK(0); return; }
    static text_rows tx;
    featurise(m, &tx, "a short text to learn");
    attn_example ex = { tx.rows, tx.T, 1, NULL, NULL, 0, NULL, 0, NULL, NULL };
    attn_error err;
    double loss;
    /* the unclipped gradient of step 0 (same dropout masks as the step will draw) */
    CHECK(attn_trainer_grad(tr, &ex, 1, &loss, &err) == ATTN_OK);
    float *g0 = malloc(m->n_params * 4), *p0 = malloc(m->n_params * 4);
    memcpy(g0, attn_trainer_grads(tr), m->n_params * 4);
    memcpy(p0, m->params, m->n_params * 4);
    const double n0 = norm_of(g0, m);
    attn_train_stats st;
    CHECK(attn_trainer_step(tr, &ex, 1, &st, &err) == ATTN_OK);
    CHECK_NEAR(st.grad_norm, n0, 1e-6 * n0);
    CHECK_MSG(n0 > 0.05, "the test needs a gradient norm above the clip (%g)", n0);
    const float *g = attn_trainer_grads(tr);
    CHECK_NEAR(norm_of(g, m), 0.05, 1e-6);
    int parallel = 1;
    for (size_t i = 0; i < m->n_params; i++)
        parallel &= fabs(g[i] - g0[i] * (0.05 / n0)) <= 1e-6 * (fabs(g[i]) + 1e-9);
    CHECK(parallel);
    CHECK_NEAR(st.lr, o.lr * 1.0, 1e-9);          /* no warm-up: step 0 at the peak */

    /* AdamW's first step: m_hat = g, v_hat = g^2, so p1 = p0 - lr (g / (|g| + eps) + wd p0)
     * for decayed tensors and without the wd term for the others. */
    const int iw = attn_model_tensor_index(m, "layers.0.ffn.up.w");
    const int ib = attn_model_tensor_index(m, "layers.0.ffn.up.b");
    const int ie = attn_model_tensor_index(m, "embed.norm");
    const int il = attn_model_tensor_index(m, "layers.1.ln2.w");
    int adam_ok = 1;
    for (int k = 0; k < 4; k++) {
        const int idx = (int[]){ iw, ib, ie, il }[k];
        const attn_tensor_spec *sp = &m->specs[idx];
        const float wd = attn_train_decays(sp->key, sp->ndim) ? o.weight_decay : 0.0f;
        for (size_t i = 0; i < sp->size; i++) {
            const size_t j = sp->offset + i;
            const double want = p0[j] - o.lr * (g[j] / (fabs(g[j]) + o.adam_eps) + wd * p0[j]);
            adam_ok &= fabs(m->params[j] - want) <= 1e-6 * (1 + fabs(want));
        }
    }
    CHECK(adam_ok);
    CHECK(attn_train_decays("layers.0.ffn.up.w", 2) && attn_train_decays("embed.proj.w", 2) &&
          attn_train_decays("cls.w", 2) && attn_train_decays("rel.hidden.w", 2));
    CHECK(!attn_train_decays("layers.0.ffn.up.b", 1) && !attn_train_decays("layers.1.ln2.w", 1) &&
          !attn_train_decays("embed.norm", 2) && !attn_train_decays("pos", 2) &&
          !attn_train_decays("rel.type", 2) && !attn_train_decays("crf.trans", 2));
    /* an embedding row no token uses: zero gradient and no decay, so exactly unchanged */
    const attn_tensor_spec *emb = &m->specs[ie];
    uint32_t unused = 0;
    for (int used = 1; used; unused++) {
        used = 0;
        for (int t = 0; t < tx.T; t++)
            used |= tx.rows[t * attn_feature_slots(m->cfg.features, m->cfg.n_features)] == unused;
        if (!used) break;
    }
    CHECK(memcmp(m->params + emb->offset + unused * 16, p0 + emb->offset + unused * 16, 16 * 4) == 0);
    CHECK(attn_trainer_steps_done(tr) == 1);
    free(g0); free(p0);
    attn_tokens_free(&tx.toks);
    attn_trainer_free(tr);
    attn_model_free(m);
}

/* The feature tables are updated by row: after a step on text B, the rows only text A read
 * (the step before) have a zero gradient and did not move (lazy AdamW), B's rows moved. */
static void test_lazy_table_rows(void) {
    attn_model *m = new_model(SMALL, "\"tasks\": [\"classify\"], \"classify\": {\"labels\": [\"neg\", \"pos\"]}", 5);
    attn_train_opts o = attn_train_defaults();
    o.lr = 1e-2f;
    attn_trainer *tr = new_trainer(m, &o);
    if (!m || !tr) { CHECK(0); return; }
    static text_rows a, b;
    featurise(m, &a, "alpha beta gamma");
    featurise(m, &b, "delta epsilon");
    attn_example ea = { a.rows, a.T, 1, NULL, NULL, 0, NULL, 0, NULL, NULL };
    attn_example eb = { b.rows, b.T, 0, NULL, NULL, 0, NULL, 0, NULL, NULL };
    attn_error err;
    attn_train_stats st;
    CHECK(attn_trainer_step(tr, &ea, 1, &st, &err) == ATTN_OK);
    float *p1 = malloc(m->n_params * 4);
    memcpy(p1, m->params, m->n_params * 4);
    CHECK(attn_trainer_step(tr, &eb, 1, &st, &err) == ATTN_OK);
    const float *g = attn_trainer_grads(tr);
    const int S = attn_feature_slots(m->cfg.features, m->cfg.n_features);
    const attn_tensor_spec *emb = &m->specs[attn_model_tensor_index(m, "embed.norm")];
    const size_t dim = m->cfg.features[0].dim;   /* norm is the first feature */
    int only_a_zero = 1, only_a_kept = 1, b_moved = 1, n_only_a = 0;
    for (int t = 0; t < a.T; t++) {
        const uint32_t row = a.rows[t * S];
        int in_b = 0;
        for (int u = 0; u < b.T; u++) in_b |= b.rows[u * S] == row;
        if (in_b) continue;
        n_only_a++;
        const size_t off = emb->offset + row * dim;
        for (size_t i = 0; i < dim; i++) only_a_zero &= g[off + i] == 0.0f;
        only_a_kept &= memcmp(m->params + off, p1 + off, dim * 4) == 0;
    }
    for (int u = 0; u < b.T; u++) {
        const size_t off = emb->offset + b.rows[u * S] * dim;
        b_moved &= memcmp(m->params + off, p1 + off, dim * 4) != 0;
    }
    CHECK(n_only_a == 3 && only_a_zero && only_a_kept && b_moved);
    free(p1);
    attn_tokens_free(&a.toks);
    attn_tokens_free(&b.toks);
    attn_trainer_free(tr);
    attn_model_free(m);
}

static void test_schedule(void) {
    attn_model *m = new_model(SMALL, "\"tasks\": [\"classify\"], \"classify\": {\"labels\": [\"neg\", \"pos\"]}", 3);
    attn_train_opts o = attn_train_defaults();
    o.lr = 1e-3f;
    o.warmup_steps = 10;
    o.total_steps = 110;
    o.min_lr_ratio = 0.1f;
    attn_trainer *lin = new_trainer(m, &o);
    o.schedule = ATTN_LR_COSINE;
    attn_trainer *cosine = new_trainer(m, &o);
    if (!lin || !cosine) { CHECK(0); return; }
    const double lr = 1e-3f;
    CHECK_NEAR(attn_trainer_lr(lin, 0), lr / 10, 1e-12);
    CHECK_NEAR(attn_trainer_lr(lin, 4), lr / 2, 1e-12);
    CHECK_NEAR(attn_trainer_lr(lin, 9), lr, 1e-12);
    CHECK_NEAR(attn_trainer_lr(lin, 10), lr, 1e-12);
    CHECK_NEAR(attn_trainer_lr(lin, 60), lr * (0.1 + 0.9 * 0.5), 1e-12);
    CHECK_NEAR(attn_trainer_lr(lin, 110), lr * 0.1, 1e-10);
    CHECK_NEAR(attn_trainer_lr(lin, 5000), lr * 0.1, 1e-10);
    CHECK_NEAR(attn_trainer_lr(cosine, 9), lr, 1e-12);
    CHECK_NEAR(attn_trainer_lr(cosine, 35), lr * (0.1 + 0.9 * 0.5 * (1 + cos(M_PI / 4))), 1e-12);
    CHECK_NEAR(attn_trainer_lr(cosine, 60), lr * (0.1 + 0.9 * 0.5), 1e-12);
    CHECK_NEAR(attn_trainer_lr(cosine, 110), lr * 0.1, 1e-10);
    int monotone = 1;
    for (int s = 10; s < 120; s++) monotone &= attn_trainer_lr(cosine, s + 1) <= attn_trainer_lr(cosine, s);
    CHECK(monotone);
    attn_trainer_free(lin); attn_trainer_free(cosine);
    attn_model_free(m);
}

/* ---- character spans -> IOB2 ---- */

static void test_char_spans(void) {
    const char *text = "New York is big. Ünïcode Ltd";   /* Ü, ï: 2 bytes, 1 character */
    attn_tokens toks = { 0 };
    attn_error err;
    CHECK(attn_tokenize(text, strlen(text), &toks, &err) == ATTN_OK);
    CHECK(toks.n == 7);                   /* New York is big . Ünïcode Ltd */
    const int64_t n_chars = attn_utf8_count(text, strlen(text));
    int tags[8];
    attn_span sp[3];
    const int n = (int)toks.n;
    /* aligned: LOC = 1 (B 3, I 4); ORG = 0 */
    attn_char_span a[2] = { { 0, 8, 1 }, { 17, 28, 0 } };
    CHECK(attn_char_spans_to_iob2(toks.tok, n, n_chars, a, 2, 2, tags, sp, &err) == ATTN_OK);
    static const int want_a[7] = { 3, 4, 0, 0, 0, 1, 2 };
    CHECK(memcmp(tags, want_a, sizeof want_a) == 0);
    CHECK(sp[0].start == 0 && sp[0].end == 2 && sp[1].start == 5 && sp[1].end == 7 && sp[1].label == 0);
    /* not aligned: snapped outward. "w Y" -> New York; "ork" -> York; "nïc" -> Ünïcode */
    attn_char_span b[3] = { { 2, 5, 0 }, { 19, 22, 1 }, { 12, 14, 0 } };
    CHECK(attn_char_spans_to_iob2(toks.tok, n, n_chars, b, 3, 2, tags, sp, &err) == ATTN_OK);
    static const int want_b[7] = { 1, 2, 0, 1, 0, 3, 0 };
    CHECK(memcmp(tags, want_b, sizeof want_b) == 0);
    attn_char_span c[1] = { { 5, 6, 1 } };            /* inside "York" */
    CHECK(attn_char_spans_to_iob2(toks.tok, n, n_chars, c, 1, 2, tags, sp, &err) == ATTN_OK);
    CHECK(tags[0] == 0 && tags[1] == 3 && sp[0].start == 1 && sp[0].end == 2);
    /* two adjacent entities of one label stay two: B B */
    attn_char_span d[2] = { { 0, 3, 0 }, { 4, 8, 0 } };
    CHECK(attn_char_spans_to_iob2(toks.tok, n, n_chars, d, 2, 2, tags, NULL, &err) == ATTN_OK);
    CHECK(tags[0] == 1 && tags[1] == 1);
    /* errors */
    attn_char_span e1[1] = { { 3, 4, 0 } };           /* the space between New and York */
    CHECK(attn_char_spans_to_iob2(toks.tok, n, n_chars, e1, 1, 2, tags, sp, &err) == ATTN_EINVAL);
    CHECK(strstr(err.msg, "covers no token") != NULL);
    attn_char_span e2[2] = { { 0, 3, 0 }, { 2, 8, 1 } };
    CHECK(attn_char_spans_to_iob2(toks.tok, n, n_chars, e2, 2, 2, tags, sp, &err) == ATTN_EINVAL);
    CHECK(strstr(err.msg, "overlaps another entity") != NULL);
    attn_char_span e3[1] = { { 20, n_chars + 1, 0 } };
    CHECK(attn_char_spans_to_iob2(toks.tok, n, n_chars, e3, 1, 2, tags, sp, &err) == ATTN_EINVAL);
    CHECK(strstr(err.msg, "not inside the text") != NULL);
    attn_char_span e4[1] = { { 4, 4, 0 } };
    CHECK(attn_char_spans_to_iob2(toks.tok, n, n_chars, e4, 1, 2, tags, sp, &err) == ATTN_EINVAL);
    attn_char_span e5[1] = { { 0, 3, 2 } };
    CHECK(attn_char_spans_to_iob2(toks.tok, n, n_chars, e5, 1, 2, tags, sp, &err) == ATTN_EINVAL);
    CHECK(strstr(err.msg, "label 2 out of range") != NULL);
    attn_tokens_free(&toks);
}

/* ---- validation ---- */

static int step_fails(attn_trainer *tr, const attn_example *ex, int n, const char *msg_part) {
    attn_error err;
    err.msg[0] = 0;
    const int rc = attn_trainer_step(tr, ex, n, NULL, &err);
    if (rc != ATTN_EINVAL || !strstr(err.msg, msg_part)) {
        fprintf(stderr, "expected an error with '%s', got %d '%s'\n", msg_part, rc, err.msg);
        return 0;
    }
    return 1;
}

static void test_errors(void) {
    attn_model *m = new_model("\"dim\": 8, \"layers\": 1, \"heads\": 2, \"ffn\": 8, \"max_len\": 6,",
                              "\"tasks\": [\"classify\", \"entities\", \"relations\"],"
                              " \"classify\": {\"labels\": [\"a\", \"b\"]},"
                              " \"entities\": {\"labels\": [\"X\"]},"
                              " \"relations\": {\"labels\": [\"r\"], \"hidden\": 4, \"type_dim\": 2}", 1);
    attn_train_opts o = attn_train_defaults();
    attn_trainer *tr = new_trainer(m, &o);
    if (!m || !tr) { CHECK(0); return; }
    float *before = malloc(m->n_params * 4);
    memcpy(before, m->params, m->n_params * 4);
    uint32_t rows[7 * 4] = { 0 };
    const int good_tags[3] = { 1, 2, 0 }, bad_tags[3] = { 0, 2, 0 }, big_tag[3] = { 0, 3, 0 };
    const attn_span spans[2] = { { 0, 2, 0 }, { 2, 3, 0 } }, bad_span[1] = { { 1, 4, 0 } };
    const attn_rel_gold rel[2] = { { 0, 1, 0 }, { 0, 1, 0 } }, self_rel[1] = { { 1, 1, 0 } };
    attn_example ok = { rows, 3, 1, good_tags, spans, 2, rel, 1, NULL, NULL };
    attn_example ex[2] = { ok, ok };
    ex[1].T = 7;
    CHECK(step_fails(tr, ex, 2, "example 1 has 7 tokens, expected 1..6"));
    ex[1] = ok; ex[1].T = 0;
    CHECK(step_fails(tr, ex, 2, "example 1 has 0 tokens"));
    ex[1] = ok; ex[1].label = 2;
    CHECK(step_fails(tr, ex, 2, "label 2 out of range"));
    ex[1] = ok; ex[1].tags = bad_tags;
    CHECK(step_fails(tr, ex, 2, "not valid IOB2"));
    ex[1] = ok; ex[1].tags = big_tag;
    CHECK(step_fails(tr, ex, 2, "not valid IOB2"));
    ex[1] = ok; ex[1].spans = bad_span; ex[1].n_spans = 1; ex[1].n_rels = 0;
    CHECK(step_fails(tr, ex, 2, "entity span 0 [1, 4)"));
    ex[1] = ok; ex[1].n_rels = 2;
    CHECK(step_fails(tr, ex, 2, "given twice"));
    ex[1] = ok; ex[1].rels = self_rel;
    CHECK(step_fails(tr, ex, 2, "relation 0 (1 -> 1"));
    ex[1] = ok; ex[1].label = -1; ex[1].tags = NULL; ex[1].spans = NULL;
    CHECK(step_fails(tr, ex, 2, "no answer for any task"));
    uint32_t bad_rows[3 * 4] = { 0, 0, 0, 0, 0, 0, 0, 100 };   /* shape has 100 buckets */
    ex[1] = ok; ex[1].rows = bad_rows;
    CHECK(step_fails(tr, ex, 2, "feature row 100 of token 1 out of range (100 buckets)"));
    CHECK(step_fails(tr, ex, 0, "batch of 0 examples"));
    CHECK(memcmp(before, m->params, m->n_params * 4) == 0);     /* nothing was updated */
    CHECK(attn_trainer_steps_done(tr) == 0);
    ex[1] = ok;
    attn_error err;
    CHECK(attn_trainer_step(tr, ex, 2, NULL, &err) == ATTN_OK);
    CHECK(memcmp(before, m->params, m->n_params * 4) != 0);
    /* options */
    attn_trainer *bad = NULL;
    o.threads = 3;
    CHECK(attn_trainer_new(m, &o, &bad, &err) == ATTN_EINVAL && bad == NULL);
    CHECK(strstr(err.msg, "threads must be 1..2") != NULL);
    o = attn_train_defaults();
    o.dropout_attn = 1.0f;
    CHECK(attn_trainer_new(m, &o, &bad, &err) == ATTN_EINVAL);
    CHECK(strstr(err.msg, "dropout rates") != NULL);
    o = attn_train_defaults();
    o.total_steps = 0;
    CHECK(attn_trainer_new(m, &o, &bad, &err) == ATTN_EINVAL);
    free(before);
    attn_trainer_free(tr);
    attn_model_free(m);
}

int main(void) {
    openblas_set_num_threads(1);
    test_forward_matches_encode();
    test_subword_forward_and_rows();
    test_schedule();
    test_char_spans();
    test_errors();
    test_clipping_and_adamw();
    test_lazy_table_rows();
    test_determinism();
    test_chunks();
    test_overfit_classify();
    test_overfit_entities_relations();
    return CHECK_DONE();
}
