/* test_calibrate.c: temperature scaling (model/calibrate.h): the NLL and ECE at a temperature
 * against values worked out by hand, the fit against a brute-force scan of the same
 * objective, and the entity scores at T against the CRF's tempered marginals (crf.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"
#include "check.h"
#include "crf.h"
#include "fit.h"
#include "metrics.h"
#include "train.h"

#define CONFIG(tasks) \
    "{\"format\": 1, \"dim\": 4, \"layers\": 1, \"heads\": 1, \"ffn\": 4, \"max_len\": 8," \
    " \"features\": [{\"kind\": \"norm\", \"buckets\": 8, \"dim\": 2}], " tasks "}"

static attn_model *new_model(const char *config) {
    attn_model *m = NULL;
    attn_error err = { "" };
    if (attn_train_model_new(config, strlen(config), 11, &m, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return NULL;
    }
    return m;
}

/* The fit: no point of a fine scan of the same objective over log T is lower, and it lies
 * near the best one. */
static void check_fit_against_scan(const attn_calib *c) {
    attn_error err = { "" };
    double T, fit_nll, nll;
    CHECK(attn_calib_fit(c, NULL, NULL, &T, &fit_nll, &err) == ATTN_OK);
    double best = INFINITY, best_T = 0;
    for (double u = log(ATTN_TEMPERATURE_MIN); u <= log(ATTN_TEMPERATURE_MAX); u += 0.001) {
        double v;
        attn_calib_score(c, exp(u), &v, NULL, &err);
        if (v < best) { best = v; best_T = exp(u); }
    }
    CHECK_MSG(fit_nll <= best + 1e-9, "fit %.9g at T %.6g, scan %.9g at T %.6g", fit_nll, T, best,
              best_T);
    CHECK_NEAR(log(T), log(best_T), 2e-3);
    attn_calib_score(c, T, &nll, NULL, &err);
    CHECK_NEAR(nll, fit_nll, 1e-12);
}

/* Two examples, two labels:
 *   z = [2, 0], gold 0: -log softmax = log(1 + e^-2) = 0.126928011
 *   z = [0, 1], gold 0: log(1 + e)                   = 1.313261687
 * T = 1: NLL = 0.720094849; predictions 0 (p 0.880797078, right; bin 13) and 1 (p
 * 0.731058579, wrong; bin 10): ECE = (0.119202922 + 0.731058579) / 2 = 0.425130751.
 * T = 2: NLL = (log(1 + e^-1) + log(1 + e^0.5)) / 2 = (0.313261687 + 0.974076984) / 2. */
static void test_classify_by_hand(void) {
    attn_model *m = new_model(CONFIG("\"tasks\": [\"classify\"], \"classify\": {\"labels\": [\"a\", \"b\"]}"));
    if (!m) return;
    attn_calib *c = attn_calib_new(m, ATTN_TASK_CLASSIFY);
    attn_error err = { "" };
    const float z1[] = { 2, 0 }, z2[] = { 0, 1 };
    CHECK(attn_calib_add_logits(c, z1, 0, &err) == ATTN_OK);
    CHECK(attn_calib_add_logits(c, z2, 0, &err) == ATTN_OK);
    CHECK(attn_calib_add_logits(c, z2, 2, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "calibration: gold 2 outside 0..1") == 0);
    CHECK(attn_calib_add_pair(c, z2, 0, 0.5f, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "calibration: only relations take pairs") == 0);
    CHECK(attn_calib_count(c) == 2);
    double nll, ece;
    CHECK(attn_calib_score(c, 1.0, &nll, &ece, &err) == ATTN_OK);
    CHECK_NEAR(nll, 0.720094849, 1e-8);
    CHECK_NEAR(ece, 0.425130751, 1e-8);
    CHECK(attn_calib_score(c, 2.0, &nll, &ece, &err) == ATTN_OK);
    CHECK_NEAR(nll, (0.313261687 + 0.974076984) / 2, 1e-8);
    CHECK(attn_calib_score(c, 0.0, &nll, &ece, &err) == ATTN_EINVAL);

    check_fit_against_scan(c);
    attn_calib_free(c);
    attn_model_free(m);
}

/* Relations: only the pairs predicted as a relation are examples, of the NLL of "it is right"
 * and of the ECE. Outputs: none, r1. Pair 1 z = [0, 3] gold 1: predicted r1 (p = 0.952574127),
 * right; pair 2 z = [3, 0] gold 0: predicted none, not a prediction; pair 3 z = [0, 1] gold 0:
 * predicted r1 (p = 0.731058579), wrong. ECE (bins 14 and 10) = (0.047425873 + 0.731058579) / 2.
 * NLL = (-log p1 - log(1 - p3)) / 2 = (log(1 + e^-3) + log(1 + e)) / 2; at T = 2 the same with
 * the logits halved. */
static void test_relations_by_hand(void) {
    attn_model *m = new_model(CONFIG("\"tasks\": [\"entities\", \"relations\"],"
                                     " \"entities\": {\"labels\": [\"PER\"]},"
                                     " \"relations\": {\"labels\": [\"r1\"], \"hidden\": 2, \"type_dim\": 1}"));
    if (!m) return;
    attn_calib *c = attn_calib_new(m, ATTN_TASK_RELATIONS);
    attn_error err = { "" };
    const float z1[] = { 0, 3 }, z2[] = { 3, 0 }, z3[] = { 0, 1 };
    CHECK(attn_calib_add_logits(c, z1, 1, &err) == ATTN_OK);
    CHECK(attn_calib_add_logits(c, z2, 0, &err) == ATTN_OK);
    CHECK(attn_calib_add_logits(c, z3, 0, &err) == ATTN_OK);
    CHECK(attn_calib_count(c) == 2);
    double nll, ece;
    CHECK(attn_calib_score(c, 1.0, &nll, &ece, &err) == ATTN_OK);
    CHECK_NEAR(nll, (log1p(exp(-3.0)) + log1p(exp(1.0))) / 2, 1e-8);
    CHECK_NEAR(ece, (0.047425873 + 0.731058579) / 2, 1e-8);
    CHECK(attn_calib_score(c, 2.0, &nll, &ece, &err) == ATTN_OK);
    CHECK_NEAR(nll, (log1p(exp(-1.5)) + log1p(exp(0.5))) / 2, 1e-8);
    check_fit_against_scan(c);
    CHECK(attn_calib_add_text(c, NULL, 0, NULL, 0, NULL, &err) == ATTN_EINVAL);
    attn_calib_free(c);

    /* The same pairs with the chance that both entities are right: pair 1 at 0.5, pair 3 at
     * 0.25; a prediction's confidence is its probability times that (pipeline.h). */
    c = attn_calib_new(m, ATTN_TASK_RELATIONS);
    CHECK(attn_calib_add_pair(c, z1, 1, 0.5f, &err) == ATTN_OK);
    CHECK(attn_calib_add_pair(c, z2, 0, 0.9f, &err) == ATTN_OK);
    CHECK(attn_calib_add_pair(c, z3, 0, 0.25f, &err) == ATTN_OK);
    CHECK(attn_calib_count(c) == 2);
    const double p1 = 0.5 / (1 + exp(-3.0)), p3 = 0.25 / (1 + exp(-1.0));
    CHECK(attn_calib_score(c, 1.0, &nll, &ece, &err) == ATTN_OK);
    CHECK_NEAR(nll, (-log(p1) - log1p(-p3)) / 2, 1e-7);
    CHECK_NEAR(ece, ((1 - p1) + p3) / 2, 1e-7);                  /* bins 7 and 2 */
    check_fit_against_scan(c);
    CHECK(attn_calib_add_pair(c, z1, 1, 1.5f, &err) == ATTN_EINVAL);
    CHECK(strstr(err.msg, "entity score 1.5 outside 0..1") != NULL);
    CHECK(attn_calib_add_pair(c, z1, 1, NAN, &err) == ATTN_EINVAL);
    CHECK(attn_calib_add_pair(c, z1, 2, 0.5f, &err) == ATTN_EINVAL);
    CHECK(attn_calib_count(c) == 2);
    attn_calib_free(c);
    attn_model_free(m);
}

/* Entities: a score at T is the mean of the tempered marginals of the entity's B and I tags;
 * the NLL is that of "right" (-log score) or "wrong" (-log(1 - score)). */
static void test_entities_against_crf(void) {
    attn_model *m = new_model(CONFIG("\"tasks\": [\"entities\"], \"entities\": {\"labels\": [\"PER\", \"LOC\"]}"));
    if (!m) return;
    const int K = 5, N = 4;
    const float em[4 * 5] = { 0.1f, 2.0f, -1.0f, 0.3f, -0.5f,     /* B-PER */
                              0.2f, -0.4f, 1.5f, 0.1f, 0.0f,      /* I-PER */
                              1.0f, 0.0f, -0.2f, 0.4f, 0.1f,      /* O */
                              -0.3f, 0.2f, 0.1f, 1.2f, -1.0f };   /* B-LOC */
    attn_entity ents[2];
    memset(ents, 0, sizeof ents);
    ents[0].tok_start = 0, ents[0].tok_end = 2, ents[0].label = 0;
    ents[1].tok_start = 3, ents[1].tok_end = 4, ents[1].label = 1;
    const uint8_t right[2] = { 1, 0 };
    attn_calib *c = attn_calib_new(m, ATTN_TASK_ENTITIES);
    attn_error err = { "" };
    CHECK(attn_calib_add_text(c, em, N, ents, 2, right, &err) == ATTN_OK);
    CHECK(attn_calib_add_text(c, em, 0, NULL, 0, NULL, &err) == ATTN_OK);   /* no tokens */
    CHECK(attn_calib_count(c) == 2);
    CHECK(attn_calib_add_logits(c, em, 0, &err) == ATTN_EINVAL);
    ents[1].tok_end = 5;                                                   /* past N */
    CHECK(attn_calib_add_text(c, em, N, ents, 2, right, &err) == ATTN_EINVAL);
    uint8_t allowed[5 * 5 + 5];
    attn_bio_constraints(2, allowed, allowed + K * K);
    const attn_crf crf = { K, m->w.crf_trans, m->w.crf_start, m->w.crf_end, allowed,
                           allowed + K * K };
    float marg[4 * 5], work[ATTN_CRF_WORK(4, 5)];
    const double temps[] = { 1.0, 0.5, 3.0 };
    for (int i = 0; i < 3; i++) {
        const double T = temps[i];
        attn_crf_marginals_tempered(&crf, em, N, T, marg, work);
        const float s0 = (float)((marg[0 * K + 1] + (double)marg[1 * K + 2]) / 2);
        const float s1 = marg[3 * K + 3];
        double nll, ece;
        CHECK(attn_calib_score(c, T, &nll, &ece, &err) == ATTN_OK);
        CHECK_NEAR(nll, (-log((double)s0) - log1p(-(double)s1)) / 2, 1e-6);
        attn_ece e;
        attn_ece_init(&e);
        attn_ece_add(&e, s0, 1);
        attn_ece_add(&e, s1, 0);
        CHECK_NEAR(ece, attn_ece_value(&e), 1e-12);
    }
    attn_calib_free(c);
    attn_model_free(m);
}

/* Nothing to fit: T = 1, NLL 0. A stop request ends the fit with ATTN_ESTOPPED. */
static int stop_now(void *user) { (void)user; return 1; }

static void test_empty_and_stop(void) {
    attn_model *m = new_model(CONFIG("\"tasks\": [\"classify\"], \"classify\": {\"labels\": [\"a\", \"b\"]}"));
    if (!m) return;
    CHECK(attn_calib_new(m, ATTN_TASK_ENTITIES) == NULL);        /* not a task of the model */
    attn_calib *c = attn_calib_new(m, ATTN_TASK_CLASSIFY);
    attn_error err = { "" };
    double T = 0, nll = -1, ece = -1;
    CHECK(attn_calib_fit(c, NULL, NULL, &T, &nll, &err) == ATTN_OK && T == 1.0 && nll == 0.0);
    CHECK(attn_calib_score(c, 1.0, &nll, &ece, &err) == ATTN_OK && nll == 0.0 && ece == 0.0);
    const float z[] = { 1, 0 };
    attn_calib_add_logits(c, z, 0, &err);
    CHECK(attn_calib_fit(c, stop_now, NULL, &T, &nll, &err) == ATTN_ESTOPPED);
    attn_calib_free(c);
    attn_model_free(m);
}

int main(void) {
    test_classify_by_hand();
    test_relations_by_hand();
    test_entities_against_crf();
    test_empty_and_stop();
    return CHECK_DONE();
}
