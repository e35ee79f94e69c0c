/* test_mlm.c: masked-language-model pretraining (mlm.h, task "mlm" of train.h / fit.h).
 *   - masking is a function of the seed: the same seed masks the same tokens the same way,
 *     other seeds differ; the budget (~15%) and the 80/10/10 replacement shares hold
 *   - span masking: a capitalised run is masked whole or not at all, runs longer than
 *     ATTN_MLM_MAX_RUN never; names are masked more often than their share of tokens
 *   - the head + softmax cross-entropy against finite differences (weights, bias, h), and the
 *     whole model through the trainer (every tensor probed, masks fixed by seed and step)
 *   - the output vocabulary: ranks by count, -1 outside it, dev targets from the train vocab
 *   - overfitting 6 texts reaches >= 95% masked-token accuracy (attn_mlm_evaluate)
 *   - errors: targets out of range, fit without computed targets */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "train_util.h"
#include "features.h"
#include "fit.h"
#include "mlm.h"
#include "tokenizer.h"
#include "train.h"

static const char *HEAD_CONFIG =
    "{\"format\": 1, \"dim\": 8, \"layers\": 2, \"heads\": 2, \"ffn\": 12, \"max_len\": 12,"
    " \"features\": [{\"kind\": \"norm\", \"buckets\": 40, \"dim\": 4},"
    "                {\"kind\": \"suffix\", \"buckets\": 30, \"dim\": 3, \"affix\": 2},"
    "                {\"kind\": \"shape\", \"buckets\": 20, \"dim\": 2}],"
    " \"tasks\": [\"mlm\"], \"mlm\": {\"vocab\": 7}}";

/* ---- masking ---- */

/* "the" "President" "of" "the" "United" "States" "met" "John" "Smith" "in" ... */
static const uint8_t CAPS[24] = { 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0,
                                  1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1 };

static void test_mask_deterministic(void) {
    uint8_t a[24], b[24];
    int differ = 0, budget_ok = 1, counts[4] = { 0 };
    const int budget = (int)(ATTN_MLM_RATE * 24 + 0.5);
    for (uint64_t seed = 1; seed <= 400; seed++) {
        const int na = attn_mlm_choose(CAPS, 24, seed, a);
        const int nb = attn_mlm_choose(CAPS, 24, seed, b);
        CHECK(na == nb && memcmp(a, b, sizeof a) == 0);
        int n = 0;
        for (int t = 0; t < 24; t++) { n += a[t] != ATTN_MLM_NONE; counts[a[t]]++; }
        budget_ok &= n == na && n >= 1 && n <= budget;
        attn_mlm_choose(CAPS, 24, seed + 1000, b);
        differ += memcmp(a, b, sizeof a) != 0;
    }
    CHECK_MSG(budget_ok, "masked counts within 1..%d", budget);
    CHECK_MSG(differ > 350, "only %d of 400 seed pairs differ", differ);
    const double masked = counts[1] + counts[2] + counts[3];
    CHECK_MSG(counts[1] / masked > 0.72 && counts[1] / masked < 0.88, "[MASK] share %g",
              counts[1] / masked);
    CHECK_MSG(counts[2] / masked > 0.05 && counts[2] / masked < 0.15, "random share %g",
              counts[2] / masked);
    CHECK_MSG(counts[3] / masked > 0.05 && counts[3] / masked < 0.15, "kept share %g",
              counts[3] / masked);
    /* tiny sequences: one token is masked (the budget rounds up to 1), never more */
    const uint8_t one[1] = { 1 }, two[2] = { 1, 1 };
    CHECK(attn_mlm_choose(one, 1, 5, a) == 1 && a[0] != ATTN_MLM_NONE);
    for (uint64_t seed = 1; seed < 50; seed++)     /* a run covering the sequence: never */
        CHECK(attn_mlm_choose(two, 2, seed, a) == 0);
}

static void test_span_masking(void) {
    uint8_t a[24];
    int whole = 1, long_run_masked = 0, caps_masked = 0, masked = 0, n_caps = 0;
    for (int t = 0; t < 24; t++) n_caps += CAPS[t];
    for (uint64_t seed = 1; seed <= 2000; seed++) {
        attn_mlm_choose(CAPS, 24, seed, a);
        /* runs: [1,2) [4,6) [7,9) [12,21) (9 tokens: too long) [23,24) */
        static const int runs[5][2] = { { 1, 2 }, { 4, 6 }, { 7, 9 }, { 12, 21 }, { 23, 24 } };
        for (int r = 0; r < 5; r++) {
            int k = 0;
            for (int t = runs[r][0]; t < runs[r][1]; t++) k += a[t] != ATTN_MLM_NONE;
            whole &= k == 0 || k == runs[r][1] - runs[r][0];
            if (r == 3) long_run_masked += k;
        }
        for (int t = 0; t < 24; t++) {
            masked += a[t] != ATTN_MLM_NONE;
            caps_masked += a[t] != ATTN_MLM_NONE && CAPS[t] && !(t >= 12 && t < 21);
        }
    }
    CHECK_MSG(whole, "a capitalised run was masked in part");
    CHECK_MSG(long_run_masked == 0, "the 9-token run was masked %d times", long_run_masked);
    /* short runs hold 6 of 24 tokens (25%); span draws favour them */
    CHECK_MSG((double)caps_masked / masked > 0.35, "names are %g of the masked tokens",
              (double)caps_masked / masked);
    (void)n_caps;
}

static void test_apply(void) {
    attn_model *m = new_model(HEAD_CONFIG, 1);
    if (!m) return;
    const int S = attn_feature_slots(m->cfg.features, m->cfg.n_features);
    uint32_t rows[4 * ATTN_MAX_SLOTS], out[4 * ATTN_MAX_SLOTS], mask[ATTN_MAX_SLOTS];
    for (int i = 0; i < 4 * S; i++) rows[i] = (uint32_t)(i % 20);
    attn_mlm_mask_rows(&m->cfg, mask);
    uint32_t want[ATTN_MAX_SLOTS];
    attn_token_features("[MASK]", 6, m->cfg.features, m->cfg.n_features, want);
    CHECK(memcmp(mask, want, (size_t)S * sizeof *mask) == 0);
    const uint8_t action[4] = { ATTN_MLM_NONE, ATTN_MLM_MASKED, ATTN_MLM_RANDOM, ATTN_MLM_KEPT };
    const int random_of[4] = { 0, 0, 3, 0 };
    attn_mlm_apply(&m->cfg, rows, 4, action, random_of, mask, out);
    CHECK(memcmp(out, rows, (size_t)S * sizeof *out) == 0);
    CHECK(memcmp(out + S, mask, (size_t)S * sizeof *out) == 0);
    CHECK(memcmp(out + 2 * S, rows + 3 * S, (size_t)S * sizeof *out) == 0);
    CHECK(memcmp(out + 3 * S, rows + 3 * S, (size_t)S * sizeof *out) == 0);
    const int32_t target[4] = { 5, -1, 2, 6 };
    int pos[4], tgt[4];
    CHECK(attn_mlm_positions(action, target, 4, pos, tgt) == 2);
    CHECK(pos[0] == 2 && tgt[0] == 2 && pos[1] == 3 && tgt[1] == 6);
    CHECK(attn_mlm_is_capitalised("Paris", 5) && !attn_mlm_is_capitalised("paris", 5) &&
          attn_mlm_is_capitalised("\xc3\x89tienne", 8) && !attn_mlm_is_capitalised("3M", 2));
    attn_model_free(m);
}

/* ---- the head against finite differences ---- */

#define HT 6
#define HM 4

typedef struct head_ctx {
    const attn_model *m;
    const float *h;
    const int *pos, *tgt;
    float *gbuf, *dh, *work;
} head_ctx;

static double head_loss(void *ctx) {
    const head_ctx *c = ctx;
    attn_weights g;
    attn_weights_bind(&c->m->cfg, c->m->specs, c->m->n_specs, c->gbuf, &g);
    return attn_mlm_backward(c->m, &g, c->h, c->pos, c->tgt, HM, 0.25f, c->dh, NULL, c->work);
}

static void test_head_gradient(void) {
    attn_model *m = new_model(HEAD_CONFIG, 2);
    if (!m) return;
    randomize_params(m, 0.5f);
    const int D = m->cfg.dim;
    float h[HT * 8], dh[HT * 8] = { 0 }, dh_tmp[HT * 8];
    for (int i = 0; i < HT * D; i++) h[i] = srand1();
    const int pos[HM] = { 0, 2, 3, 5 }, tgt[HM] = { 6, 0, 6, 3 };
    float *grad = calloc(m->n_params, sizeof *grad), *tmp = calloc(m->n_params, sizeof *tmp);
    float *work = malloc(ATTN_MLM_WORK(m, HM) * sizeof *work);
    attn_weights g;
    attn_weights_bind(&m->cfg, m->specs, m->n_specs, grad, &g);
    int correct = -1;
    const double loss = attn_mlm_backward(m, &g, h, pos, tgt, HM, 0.25f, dh, &correct, work);
    CHECK(loss > 0.0 && isfinite(loss) && correct >= 0 && correct <= HM);
    int ok = 1;
    head_ctx ctx = { m, h, pos, tgt, tmp, dh_tmp, work };
    const char *keys[2] = { "mlm.w", "mlm.b" };
    for (int k = 0; k < 2; k++) {
        const attn_tensor_spec *sp = &m->specs[attn_model_tensor_index(m, keys[k])];
        for (size_t i = 0; i < sp->size; i++)
            fd_probe(m->params + sp->offset + i, grad[sp->offset + i], head_loss, &ctx, keys[k],
                     i, &ok);
    }
    for (int i = 0; i < HT * D; i++) {
        fd_probe(&h[i], dh[i], head_loss, &ctx, "h", (size_t)i, &ok);
        if (i / D == 1 || i / D == 4) ok &= dh[i] == 0.0f;    /* rows not predicted */
    }
    CHECK_MSG(ok, "mlm head gradient");
    /* predict = argmax of the same logits */
    int pred[HM];
    attn_mlm_predict(m, h, pos, HM, pred, work);
    int same = 0;
    for (int i = 0; i < HM; i++) same += pred[i] == tgt[i];
    CHECK(same == correct);
    free(grad);
    free(tmp);
    free(work);
    attn_model_free(m);
}

/* The whole model through the trainer: masks fixed by (seed, step, example). */
static void test_model_gradient(int threads) {
    attn_trainer *tr = NULL;
    attn_model *m = new_trained_model(HEAD_CONFIG, 3, 0.4f, threads, &tr);
    if (!m) return;
    attn_error err;
    const int S = attn_feature_slots(m->cfg.features, m->cfg.n_features);
    uint32_t rows0[12 * ATTN_MAX_SLOTS], rows1[10 * ATTN_MAX_SLOTS];
    for (int i = 0; i < 12 * S; i++) rows0[i] = (uint32_t)(urand() * 15);
    for (int i = 0; i < 10 * S; i++) rows1[i] = (uint32_t)(urand() * 15);
    static const int32_t tgt0[12] = { 0, 1, 2, 3, 4, 5, 6, 0, 1, -1, 2, 3 };
    static const int32_t tgt1[10] = { 6, 5, 4, 3, 2, 1, 0, 6, 5, 4 };
    static const uint8_t caps0[12] = { 1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0 };
    static const uint8_t caps1[10] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
    attn_example ex[2];
    memset(ex, 0, sizeof ex);
    ex[0] = (attn_example){ .rows = rows0, .T = 12, .label = -1, .mlm_target = tgt0, .mlm_caps = caps0 };
    ex[1] = (attn_example){ .rows = rows1, .T = 10, .label = -1, .mlm_target = tgt1, .mlm_caps = caps1 };
    double loss = 0.0;
    CHECK(attn_trainer_grad(tr, ex, 2, &loss, &err) == ATTN_OK);
    CHECK_MSG(loss > 0.0 && isfinite(loss), "loss %g", loss);
    float *an = malloc(m->n_params * sizeof *an);
    memcpy(an, attn_trainer_grads(tr), m->n_params * sizeof *an);
    int ok = 1;
    /* embedding tables: rows 0..14 are the used ones (and the [MASK] rows) */
    const int nonzero = probe_trainer(m, tr, ex, 2, an, 0, &ok);
    CHECK_MSG(ok, "whole mlm model gradient (%d threads)", threads);
    CHECK_MSG(nonzero > (int)m->n_specs * 2, "only %d probed gradients non-zero", nonzero);
    /* another step draws other masks: the loss changes */
    attn_train_stats st;
    CHECK(attn_trainer_step(tr, ex, 2, &st, &err) == ATTN_OK);
    CHECK(st.n_mlm_predicted > 0 && st.n_mlm_correct <= st.n_mlm_predicted);
    free(an);
    attn_trainer_free(tr);
    attn_model_free(m);
}

/* ---- datasets: vocabulary, targets, overfitting ---- */

static const char *SMALL_CONFIG =
    "{\"format\": 1, \"dim\": 32, \"layers\": 2, \"heads\": 2, \"ffn\": 64, \"max_len\": 16,"
    " \"features\": [{\"kind\": \"norm\", \"buckets\": 2000, \"dim\": 16},"
    "                {\"kind\": \"suffix\", \"buckets\": 500, \"dim\": 8, \"affix\": 3},"
    "                {\"kind\": \"shape\", \"buckets\": 100, \"dim\": 8}],"
    " \"tasks\": [\"mlm\"], \"mlm\": {\"vocab\": %d}}";

static attn_dataset *dataset_of(const attn_config *c, const char *const *texts, int n) {
    attn_dataset *ds = attn_dataset_new(c);
    attn_error err;
    for (int i = 0; ds && i < n; i++)
        CHECK(attn_dataset_add(ds, texts[i], strlen(texts[i]), NULL, NULL, 0, NULL, 0, &err) == ATTN_OK);
    return ds;
}

static void test_vocabulary(void) {
    char config[1024];
    snprintf(config, sizeof config, SMALL_CONFIG, 3);
    attn_model *m = new_model(config, 1);
    if (!m) return;
    static const char *const train[2] = { "b a c a b a d", "A e" };
    static const char *const dev[1] = { "a z b" };
    attn_dataset *tr = dataset_of(&m->cfg, train, 2), *dv = dataset_of(&m->cfg, dev, 1);
    attn_error err;
    /* fit refuses datasets without targets */
    attn_fit_opts fo = attn_fit_defaults();
    attn_fit_state *f = NULL;
    CHECK(attn_fit_begin(m, tr, NULL, &fo, &f, &err) == ATTN_EINVAL && strstr(err.msg, "targets"));
    CHECK(attn_dataset_mlm_targets(tr, tr, &err) == ATTN_OK);
    CHECK(attn_dataset_mlm_targets(dv, tr, &err) == ATTN_OK);
    attn_example ex;
    CHECK(attn_dataset_example(tr, 0, &ex, &err) == ATTN_OK);
    /* counts: a 4 ("A" normalises to "a"), b 2, c/d/e 1 each: a = 0, b = 1, one of c/d/e = 2 */
    CHECK(ex.T == 7 && ex.mlm_target[1] == 0 && ex.mlm_target[0] == 1 && ex.mlm_target[3] == 0);
    int twos = 0, outside = 0;
    for (int t = 0; t < 7; t++) { twos += ex.mlm_target[t] == 2; outside += ex.mlm_target[t] == -1; }
    attn_example ex1;
    CHECK(attn_dataset_example(tr, 1, &ex1, &err) == ATTN_OK);
    twos += ex1.mlm_target[1] == 2;
    outside += ex1.mlm_target[1] == -1;
    CHECK(twos == 1 && outside == 2);
    CHECK(ex1.mlm_target[0] == 0 && ex1.mlm_caps[0] == 1 && ex.mlm_caps[0] == 0);
    CHECK(attn_dataset_example(dv, 0, &ex, &err) == ATTN_OK);
    CHECK(ex.mlm_target[0] == 0 && ex.mlm_target[1] == -1 && ex.mlm_target[2] == 1);
    /* a target out of range is refused by the trainer */
    attn_train_opts o = attn_train_defaults();
    attn_trainer *trn = NULL;
    CHECK(attn_trainer_new(m, &o, &trn, &err) == ATTN_OK);
    int32_t bad[3] = { 0, 3, 1 };
    ex.mlm_target = bad;
    CHECK(attn_trainer_step(trn, &ex, 1, NULL, &err) == ATTN_EINVAL && strstr(err.msg, "out of range"));
    ex.mlm_caps = NULL;
    bad[1] = 1;
    CHECK(attn_trainer_step(trn, &ex, 1, NULL, &err) == ATTN_EINVAL);
    attn_trainer_free(trn);
    attn_dataset_free(tr);
    attn_dataset_free(dv);
    attn_model_free(m);
}

static void test_overfit(void) {
    char config[1024];
    snprintf(config, sizeof config, SMALL_CONFIG, 64);
    attn_model *m = new_model(config, 7);
    if (!m) return;
    static const char *const texts[6] = {
        "John Smith flew from Boston to Denver on a cold morning .",
        "the small red fox jumped over the lazy brown dog .",
        "Acme Corp hired Mary Jones as chief executive last year .",
        "rain fell on the quiet village all through the night .",
        "The United Nations met in Geneva to discuss the treaty .",
        "she sold her old green car to a young farmer .",
    };
    attn_dataset *ds = dataset_of(&m->cfg, texts, 6);
    attn_error err;
    CHECK(attn_dataset_mlm_targets(ds, ds, &err) == ATTN_OK);
    double before = 0.0, after = 0.0;
    CHECK(attn_mlm_evaluate(m, ds, &before, &err) == ATTN_OK);
    attn_fit_opts fo = attn_fit_defaults();
    fo.batch_size = 6;
    fo.max_epochs = 800;
    fo.train.lr = 1e-2f;
    fo.train.min_lr_ratio = 0.1f;
    fo.train.weight_decay = 0.0f;
    attn_epoch_report best;
    CHECK(attn_fit(m, ds, ds, &fo, NULL, NULL, NULL, &best, &err) == ATTN_OK);
    CHECK(attn_mlm_evaluate(m, ds, &after, &err) == ATTN_OK);
    CHECK_MSG(after >= 0.95 && after > before, "masked accuracy %g -> %g", before, after);
    CHECK(best.metric_name && strcmp(best.metric_name, "masked_accuracy") == 0);
    CHECK_NEAR(best.dev_metric, after, 1e-12);
    attn_dataset_free(ds);
    attn_model_free(m);
}

int main(void) {
    test_mask_deterministic();
    test_span_masking();
    test_apply();
    test_head_gradient();
    test_model_gradient(1);
    test_model_gradient(2);
    test_vocabulary();
    test_overfit();
    return CHECK_DONE();
}
