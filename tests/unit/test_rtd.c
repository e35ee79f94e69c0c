/* test_rtd.c: replaced-token detection pretraining (rtd.h, task "rtd" of train.h).
 *   - the pool: token counts by rows, capitalised runs by length (only whole ones)
 *   - corruption is a function of the seed: same seed same output, other seeds differ; about
 *     ATTN_RTD_RATE of the tokens replaced; a capitalised run is replaced whole or not at all
 *     (never in part), by a pool run of the same length; labels = rows changed
 *   - the head + binary cross-entropy against finite differences (weights, bias, h), and the
 *     whole model through the trainer (every tensor probed, corruption fixed by seed and step)
 *   - a model learns to find replacements on a small text (dev F1 well above chance)
 *   - a gazetteer match counts as an entity-like span (as a capitalised run)
 *   - resume: the schedule position carries over, the re-warm-up scales the learning rate */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "train_util.h"
#include "features.h"
#include "fit.h"
#include "gazetteer.h"
#include "mlm.h"
#include "rtd.h"
#include "train.h"

static const char *HEAD_CONFIG =
    "{\"format\": 1, \"dim\": 8, \"layers\": 2, \"heads\": 2, \"ffn\": 12, \"max_len\": 24,"
    " \"features\": [{\"kind\": \"norm\", \"buckets\": 40, \"dim\": 4},"
    "                {\"kind\": \"suffix\", \"buckets\": 30, \"dim\": 3, \"affix\": 2},"
    "                {\"kind\": \"shape\", \"buckets\": 20, \"dim\": 2}],"
    " \"tasks\": [\"rtd\"], \"rtd\": {}}";

/* "the" "President" "of" "the" "United" "States" "met" "John" "Smith" "in" ... */
static const uint8_t CAPS[24] = { 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0,
                                  1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1 };

/* Rows where token t's every slot is 100 + t (distinct from any pool token below). */
static void sequence_rows(int S, uint32_t *rows) {
    for (int t = 0; t < 24; t++)
        for (int k = 0; k < S; k++) rows[t * S + k] = (uint32_t)(1000 + t);
}

/* A pool of 30 tokens (rows k, k = 0..29, token k seen k + 1 times) and capitalised runs of
 * lengths 1 and 2 (rows 500.., 600..), from sequences framed by lower-case tokens. */
static attn_rtd_pool *small_pool(const attn_config *c) {
    const int S = attn_feature_slots(c->features, c->n_features);
    attn_rtd_pool *p = attn_rtd_pool_new(c);
    attn_error err;
    uint32_t rows[4 * ATTN_MAX_SLOTS];
    uint8_t caps[4];
    for (int k = 0; k < 30; k++)
        for (int r = 0; r <= k; r++) {
            for (int i = 0; i < S; i++) rows[i] = (uint32_t)k;
            caps[0] = 0;
            CHECK(attn_rtd_pool_add(p, rows, caps, 1, &err) == ATTN_OK);
        }
    for (int j = 0; j < 3; j++) {      /* "x Aj y" and "x Bj Cj y" */
        const uint8_t c1[3] = { 0, 1, 0 }, c2[4] = { 0, 1, 1, 0 };
        for (int i = 0; i < 4 * S; i++) rows[i] = 0;
        for (int i = 0; i < S; i++) rows[S + i] = (uint32_t)(500 + j);
        CHECK(attn_rtd_pool_add(p, rows, c1, 3, &err) == ATTN_OK);
        for (int i = 0; i < S; i++) rows[S + i] = (uint32_t)(600 + j), rows[2 * S + i] = (uint32_t)(700 + j);
        CHECK(attn_rtd_pool_add(p, rows, c2, 4, &err) == ATTN_OK);
    }
    /* a run at the edge of a sequence is not whole: not kept */
    const uint8_t edge[2] = { 1, 0 };
    for (int i = 0; i < 2 * S; i++) rows[i] = 9;
    CHECK(attn_rtd_pool_add(p, rows, edge, 2, &err) == ATTN_OK);
    CHECK(attn_rtd_pool_finish(p, &err) == ATTN_OK);
    CHECK(attn_rtd_pool_add(p, rows, edge, 2, &err) == ATTN_EINVAL);
    return p;
}

static void test_pool(void) {
    attn_model *m = new_model(HEAD_CONFIG, 1);
    if (!m) return;
    attn_rtd_pool *p = small_pool(&m->cfg);
    CHECK_MSG(attn_rtd_pool_words(p) == 30 + 9, "%zu words", attn_rtd_pool_words(p));
    CHECK(attn_rtd_pool_spans(p, 1) == 3 && attn_rtd_pool_spans(p, 2) == 3 &&
          attn_rtd_pool_spans(p, 3) == 0 && attn_rtd_pool_spans(p, 0) == 0);
    attn_error err;
    attn_rtd_pool *empty = attn_rtd_pool_new(&m->cfg);
    CHECK(attn_rtd_pool_finish(empty, &err) == ATTN_EINVAL && strstr(err.msg, "no token"));
    attn_rtd_pool_free(empty);
    attn_rtd_pool_free(p);
    attn_model_free(m);
}

static void test_corrupt(void) {
    attn_model *m = new_model(HEAD_CONFIG, 1);
    if (!m) return;
    const int S = attn_feature_slots(m->cfg.features, m->cfg.n_features);
    attn_rtd_pool *p = small_pool(&m->cfg);
    uint32_t rows[24 * ATTN_MAX_SLOTS], a[24 * ATTN_MAX_SLOTS], b[24 * ATTN_MAX_SLOTS];
    uint8_t la[24], lb[24];
    sequence_rows(S, rows);
    int differ = 0, whole = 1, same_len = 1, labels_ok = 1, long_run = 0;
    long replaced = 0, total = 0, name_tokens = 0;
    static const int runs[5][2] = { { 1, 2 }, { 4, 6 }, { 7, 9 }, { 12, 21 }, { 23, 24 } };
    for (uint64_t seed = 1; seed <= 2000; seed++) {
        const int na = attn_rtd_corrupt(p, rows, CAPS, 24, seed, a, la);
        const int nb = attn_rtd_corrupt(p, rows, CAPS, 24, seed, b, lb);
        CHECK(na == nb && memcmp(a, b, (size_t)24 * S * sizeof *a) == 0 &&
              memcmp(la, lb, sizeof la) == 0);
        attn_rtd_corrupt(p, rows, CAPS, 24, seed + 5000, b, lb);
        differ += memcmp(a, b, (size_t)24 * S * sizeof *a) != 0;
        int n = 0;
        for (int t = 0; t < 24; t++) {
            const int changed = memcmp(a + t * S, rows + t * S, (size_t)S * sizeof *a) != 0;
            labels_ok &= la[t] == changed;
            n += la[t];
        }
        labels_ok &= n == na;
        replaced += na;
        total += 24;
        for (int r = 0; r < 5; r++) {
            int k = 0;
            for (int t = runs[r][0]; t < runs[r][1]; t++) k += la[t];
            const int len = runs[r][1] - runs[r][0];
            whole &= k == 0 || k == len;
            if (r == 3) long_run += k;
            if (k && len <= 2) {  /* replaced by a pool run of that length (rows 500../600..) */
                name_tokens += k;
                const uint32_t first = a[runs[r][0] * S];
                same_len &= len == 1 ? first >= 500 && first < 503 : first >= 600 && first < 603;
            }
        }
    }
    CHECK_MSG(labels_ok, "labels are the tokens whose rows changed");
    CHECK_MSG(differ > 1900, "only %d of 2000 seed pairs differ", differ);
    CHECK_MSG(whole, "a capitalised run was replaced in part");
    CHECK_MSG(long_run == 0, "the 9-token run was replaced %d times", long_run);
    CHECK_MSG(same_len, "a name was replaced by a run of another length");
    CHECK(name_tokens > 0);
    const double rate = (double)replaced / (double)total;
    CHECK_MSG(rate > 0.10 && rate <= ATTN_RTD_RATE + 0.02, "replaced share %g", rate);
    attn_rtd_pool_free(p);
    attn_model_free(m);
}

/* ---- the head against finite differences ---- */

#define HT 6

typedef struct head_ctx {
    const attn_model *m;
    const float *h;
    const uint8_t *label;
    float *gbuf, *dh;
} head_ctx;

static double head_loss(void *ctx) {
    const head_ctx *c = ctx;
    attn_weights g;
    attn_weights_bind(&c->m->cfg, c->m->specs, c->m->n_specs, c->gbuf, &g);
    return attn_rtd_backward(c->m, &g, c->h, HT, c->label, 1.0f / HT, c->dh, NULL);
}

static void test_head_gradient(void) {
    attn_model *m = new_model(HEAD_CONFIG, 2);
    if (!m) return;
    randomize_params(m, 0.5f);
    const int D = m->cfg.dim;
    float h[HT * 8], dh[HT * 8] = { 0 }, dh_tmp[HT * 8];
    for (int i = 0; i < HT * D; i++) h[i] = 2.0f * srand1();
    const uint8_t label[HT] = { 0, 1, 0, 0, 1, 0 };
    float *grad = calloc(m->n_params, sizeof *grad), *tmp = calloc(m->n_params, sizeof *tmp);
    attn_weights g;
    attn_weights_bind(&m->cfg, m->specs, m->n_specs, grad, &g);
    int correct = -1;
    const double loss = attn_rtd_backward(m, &g, h, HT, label, 1.0f / HT, dh, &correct);
    CHECK(loss > 0.0 && isfinite(loss) && correct >= 0 && correct <= HT);
    int ok = 1;
    head_ctx ctx = { m, h, label, tmp, dh_tmp };
    const char *keys[2] = { "rtd.w", "rtd.b" };
    for (int k = 0; k < 2; k++) {
        const attn_tensor_spec *sp = &m->specs[attn_model_tensor_index(m, keys[k])];
        for (size_t i = 0; i < sp->size; i++)
            fd_probe(m->params + sp->offset + i, grad[sp->offset + i], head_loss, &ctx, keys[k],
                     i, &ok);
    }
    for (int i = 0; i < HT * D; i++) fd_probe(&h[i], dh[i], head_loss, &ctx, "h", (size_t)i, &ok);
    CHECK_MSG(ok, "rtd head gradient");
    uint8_t pred[HT];
    attn_rtd_predict(m, h, HT, pred);
    int same = 0;
    for (int i = 0; i < HT; i++) same += pred[i] == label[i];
    CHECK(same == correct);
    free(grad);
    free(tmp);
    attn_model_free(m);
}

/* The whole model through the trainer: corruption fixed by (seed, step, example). */
static void test_model_gradient(int threads) {
    attn_trainer *tr = NULL;
    attn_model *m = new_trained_model(HEAD_CONFIG, 3, 0.4f, threads, &tr);
    if (!m) return;
    attn_error err;
    const int S = attn_feature_slots(m->cfg.features, m->cfg.n_features);
    uint32_t rows0[12 * ATTN_MAX_SLOTS], rows1[10 * ATTN_MAX_SLOTS];
    for (int i = 0; i < 12 * S; i++) rows0[i] = 10 + (uint32_t)(urand() * 9);
    for (int i = 0; i < 10 * S; i++) rows1[i] = 10 + (uint32_t)(urand() * 9);
    static const uint8_t caps0[12] = { 0, 1, 1, 0, 1, 0, 0, 0, 1, 1, 0, 0 };
    static const uint8_t caps1[10] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
    attn_example ex[2];
    memset(ex, 0, sizeof ex);
    ex[0] = (attn_example){ .rows = rows0, .T = 12, .label = -1, .mlm_caps = caps0 };
    ex[1] = (attn_example){ .rows = rows1, .T = 10, .label = -1, .mlm_caps = caps1 };
    double loss = 0.0;
    CHECK(attn_trainer_grad(tr, ex, 2, &loss, &err) == ATTN_EINVAL && strstr(err.msg, "pool"));
    /* a pool of tokens with rows 0..9 (in every table's range) and runs of length 1, 2 */
    attn_rtd_pool *p = attn_rtd_pool_new(&m->cfg);
    uint32_t prow[4 * ATTN_MAX_SLOTS];
    const uint8_t pc[4] = { 0, 1, 1, 0 }, pc1[3] = { 0, 1, 0 };
    for (int k = 0; k < 10; k++) {
        for (int i = 0; i < 4 * S; i++) prow[i] = (uint32_t)((k + i) % 10);
        CHECK(attn_rtd_pool_add(p, prow, k % 2 ? pc : pc1, k % 2 ? 4 : 3, &err) == ATTN_OK);
    }
    CHECK(attn_rtd_pool_finish(p, &err) == ATTN_OK);
    attn_trainer_set_rtd_pool(tr, p);
    CHECK(attn_trainer_grad(tr, ex, 2, &loss, &err) == ATTN_OK);
    CHECK_MSG(loss > 0.0 && isfinite(loss), "loss %g", loss);
    float *an = malloc(m->n_params * sizeof *an);
    memcpy(an, attn_trainer_grads(tr), m->n_params * sizeof *an);
    int ok = 1;
    /* tables: rows 0..18 are read (the sequences' and the pool's) */
    const int nonzero = probe_trainer(m, tr, ex, 2, an, 19, &ok);
    CHECK_MSG(ok, "whole rtd model gradient (%d threads)", threads);
    CHECK_MSG(nonzero > (int)m->n_specs * 2, "only %d probed gradients non-zero", nonzero);
    attn_train_stats st;
    CHECK(attn_trainer_step(tr, ex, 2, &st, &err) == ATTN_OK);
    CHECK(st.n_mlm_predicted == 22 && st.n_mlm_correct <= st.n_mlm_predicted);
    free(an);
    attn_trainer_free(tr);
    attn_rtd_pool_free(p);
    attn_model_free(m);
}

/* ---- learning: a small text, dev F1 far above chance ---- */

static const char *SMALL_CONFIG =
    "{\"format\": 1, \"dim\": 32, \"layers\": 1, \"heads\": 2, \"ffn\": 64, \"max_len\": 16,"
    " \"features\": [{\"kind\": \"norm\", \"buckets\": 2000, \"dim\": 16},"
    "                {\"kind\": \"shape\", \"buckets\": 100, \"dim\": 8}],"
    " \"tasks\": [\"rtd\"], \"rtd\": {}}";

static void test_learns(void) {
    attn_model *m = new_model(SMALL_CONFIG, 1);
    if (!m) return;
    static const char *const texts[] = {
        "the cat sat on the mat in Paris today", "a dog ran to the park in London",
        "the bird flew over the house near Berlin", "my friend John Smith lives in Rome",
        "the old man walked to the river slowly", "she met Mary Jones at the station",
    };
    attn_dataset *ds = attn_dataset_new(&m->cfg);
    attn_error err;
    for (int r = 0; r < 8; r++)
        for (int i = 0; i < 6; i++)
            CHECK(attn_dataset_add(ds, texts[i], strlen(texts[i]), NULL, NULL, 0, NULL, 0, &err) == ATTN_OK);
    attn_rtd_pool *p = attn_rtd_pool_new(&m->cfg);
    CHECK(attn_rtd_pool_add_dataset(p, ds, &err) == ATTN_OK);
    CHECK(attn_rtd_pool_finish(p, &err) == ATTN_OK);
    CHECK(attn_rtd_pool_spans(p, 1) > 0 && attn_rtd_pool_spans(p, 2) > 0);
    attn_rtd_metrics before, after;
    CHECK(attn_rtd_evaluate(m, p, ds, NULL, NULL, &before, &err) == ATTN_OK);
    attn_train_opts o = attn_train_defaults();
    o.lr = 3e-3f;
    o.total_steps = 300;
    attn_trainer *tr = NULL;
    CHECK(attn_trainer_new(m, &o, &tr, &err) == ATTN_OK);
    attn_trainer_set_rtd_pool(tr, p);
    attn_example batch[48];
    for (int step = 0; step < 300; step++) {
        for (int i = 0; i < 48; i++) CHECK(attn_dataset_example(ds, (size_t)i, &batch[i], &err) == ATTN_OK);
        if (attn_trainer_step(tr, batch, 48, NULL, &err)) { CHECK_MSG(0, "%s", err.msg); break; }
    }
    CHECK(attn_rtd_evaluate(m, p, ds, NULL, NULL, &after, &err) == ATTN_OK);
    CHECK_MSG(after.f1 > 0.5 && after.f1 > before.f1 + 0.3, "rtd F1 %g -> %g (accuracy %g)",
              before.f1, after.f1, after.accuracy);
    CHECK_MSG(after.tokens == 47 * 8 && after.replaced > 0, "%lld tokens", (long long)after.tokens);
    attn_trainer_free(tr);
    attn_rtd_pool_free(p);
    attn_dataset_free(ds);
    attn_model_free(m);
}

/* A gazetteer match is entity-like as a capitalised run is: "acme widgets" (a listed name,
 * lower case) is one span, replaced whole or not at all. */
static void test_gazetteer_spans(void) {
    static const char *config =
        "{\"format\": 1, \"dim\": 8, \"layers\": 1, \"heads\": 2, \"ffn\": 8, \"max_len\": 16,"
        " \"features\": [{\"kind\": \"norm\", \"buckets\": 100, \"dim\": 4},"
        "                {\"kind\": \"gazetteer\", \"buckets\": 3, \"dim\": 4, \"lists\": [\"ORG\"]}],"
        " \"tasks\": [\"rtd\"], \"rtd\": {}}";
    attn_model *m = new_model(config, 1);
    if (!m) return;
    attn_error err;
    attn_gazetteer *g = attn_gazetteer_new(&m->cfg.features[1]);
    CHECK(g && attn_gazetteer_add_row(g, "gazetteer.ORG", "text", "[]", "acme widgets", 12, NULL,
                                      NULL, &err) == ATTN_OK);
    attn_dataset *ds = attn_dataset_new(&m->cfg);
    attn_dataset_set_gazetteer(ds, g);
    const char *text = "we bought acme widgets from Bob today";
    CHECK(attn_dataset_add(ds, text, strlen(text), NULL, NULL, 0, NULL, 0, &err) == ATTN_OK);
    attn_example ex;
    CHECK(attn_dataset_example(ds, 0, &ex, &err) == ATTN_OK && ex.T == 7 && ex.mlm_caps);
    static const uint8_t want[7] = { 0, 0, 1, 1, 0, 1, 0 };
    CHECK_MSG(memcmp(ex.mlm_caps, want, 7) == 0, "entity-like %d%d%d%d%d%d%d", ex.mlm_caps[0],
              ex.mlm_caps[1], ex.mlm_caps[2], ex.mlm_caps[3], ex.mlm_caps[4], ex.mlm_caps[5],
              ex.mlm_caps[6]);
    attn_dataset_free(ds);
    attn_gazetteer_release(g);
    attn_model_free(m);
}

/* Resume: the schedule's position and the re-warm-up. */
static void test_resume(void) {
    attn_model *m = new_model(HEAD_CONFIG, 4);
    if (!m) return;
    attn_train_opts o = attn_train_defaults();
    o.warmup_steps = 10;
    o.total_steps = 100;
    attn_trainer *tr = NULL;
    attn_error err;
    CHECK(attn_trainer_new(m, &o, &tr, &err) == ATTN_OK);
    CHECK(attn_trainer_resume(tr, -1, 0, &err) == ATTN_EINVAL);
    CHECK(attn_trainer_resume(tr, 50, 4, &err) == ATTN_OK);
    CHECK(attn_trainer_steps_done(tr) == 50);
    const int S = attn_feature_slots(m->cfg.features, m->cfg.n_features);
    uint32_t rows[4 * ATTN_MAX_SLOTS] = { 0 };
    const uint8_t caps[4] = { 0 };
    attn_rtd_pool *p = attn_rtd_pool_new(&m->cfg);
    for (int i = 0; i < 4 * S; i++) rows[i] = (uint32_t)(i % 7);
    CHECK(attn_rtd_pool_add(p, rows, caps, 4, &err) == ATTN_OK);
    CHECK(attn_rtd_pool_finish(p, &err) == ATTN_OK);
    attn_trainer_set_rtd_pool(tr, p);
    attn_example ex = { .rows = rows, .T = 4, .label = -1, .mlm_caps = caps };
    for (int k = 0; k < 6; k++) {
        attn_train_stats st;
        CHECK(attn_trainer_step(tr, &ex, 1, &st, &err) == ATTN_OK);
        const double want = attn_trainer_lr(tr, 50 + k) * (k < 4 ? (k + 1) / 4.0 : 1.0);
        CHECK_MSG(fabs(st.lr - want) < 1e-12, "step %d lr %g, expected %g", k, st.lr, want);
    }
    CHECK(attn_trainer_steps_done(tr) == 56);
    attn_trainer_free(tr);
    attn_rtd_pool_free(p);
    attn_model_free(m);
}

int main(void) {
    test_pool();
    test_corrupt();
    test_head_gradient();
    test_model_gradient(1);
    test_model_gradient(2);
    test_learns();
    test_gazetteer_spans();
    test_resume();
    return CHECK_DONE();
}
