/* test_metrics.c: evaluation metrics (model/metrics.h), each case worked out by hand. */
#include "check.h"
#include "conll.h"
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

#define TOL 1e-12
enum { PER = 0, LOC = 1, ORG = 2, MISC = 3 };

static void check_prf(attn_prf got, double p, double r, double f1, int64_t tp, int64_t fp,
                      int64_t fn, int line) {
    CHECK_MSG(fabs(got.precision - p) < 1e-9 && fabs(got.recall - r) < 1e-9 &&
              fabs(got.f1 - f1) < 1e-9 && got.tp == tp && got.fp == fp && got.fn == fn &&
              got.support == tp + fn && got.predicted == tp + fp,
              "line %d: got P %.6f R %.6f F1 %.6f tp %lld fp %lld fn %lld", line, got.precision,
              got.recall, got.f1, (long long)got.tp, (long long)got.fp, (long long)got.fn);
}
#define CHECK_PRF(got, p, r, f1, tp, fp, fn) check_prf(got, p, r, f1, tp, fp, fn, __LINE__)

static void test_prf_from_counts(void) {
    /* P = 1/2, R = 1/3, F1 = 2 * 1/6 / (5/6) = 0.4 */
    CHECK_PRF(attn_prf_from_counts(1, 1, 2), 0.5, 1.0 / 3, 0.4, 1, 1, 2);
    CHECK_PRF(attn_prf_from_counts(0, 0, 5), 0, 0, 0, 0, 0, 5);   /* no predictions: P = 0 */
    CHECK_PRF(attn_prf_from_counts(0, 3, 0), 0, 0, 0, 0, 3, 0);   /* no gold: R = 0 */
    CHECK_PRF(attn_prf_from_counts(0, 0, 0), 0, 0, 0, 0, 0, 0);
    CHECK_PRF(attn_prf_from_counts(4, 0, 0), 1, 1, 1, 4, 0, 0);
}

static void test_entities_basic(void) {
    attn_span_eval *e = attn_span_eval_new();
    attn_error err = {0};
    /* 3 gold, 2 predicted of which 1 exact: tp 1, fp 1, fn 2 -> P = 0.5, R = 0.333, F1 = 0.4 */
    attn_eval_span gold[] = {{0, 5, PER}, {10, 15, LOC}, {20, 23, ORG}};
    attn_eval_span pred[] = {{0, 5, PER}, {30, 33, ORG}};
    CHECK(attn_span_eval_add(e, gold, 3, pred, 2, &err) == ATTN_OK);
    CHECK_PRF(attn_span_eval_micro(e), 0.5, 1.0 / 3, 0.4, 1, 1, 2);
    CHECK_PRF(attn_span_eval_label(e, PER), 1, 1, 1, 1, 0, 0);
    CHECK_PRF(attn_span_eval_label(e, LOC), 0, 0, 0, 0, 0, 1);
    CHECK_PRF(attn_span_eval_label(e, ORG), 0, 0, 0, 0, 1, 1);
    CHECK_PRF(attn_span_eval_label(e, MISC), 0, 0, 0, 0, 0, 0);   /* never seen */
    CHECK(attn_span_eval_n_labels(e) == 3);
    /* macro over PER, LOC, ORG: P = (1+0+0)/3, R = (1+0+0)/3, F1 = (1+0+0)/3 */
    attn_prf m = attn_span_eval_macro(e);
    CHECK_NEAR(m.precision, 1.0 / 3, TOL);
    CHECK_NEAR(m.recall, 1.0 / 3, TOL);
    CHECK_NEAR(m.f1, 1.0 / 3, TOL);
    CHECK(m.tp == 1 && m.fp == 1 && m.fn == 2);
    attn_span_eval_free(e);
}

static void test_entities_boundary_and_type(void) {
    attn_span_eval *e = attn_span_eval_new();
    attn_error err = {0};
    /* boundary error: one fp AND one fn of PER */
    attn_eval_span g1[] = {{0, 5, PER}}, p1[] = {{0, 4, PER}};
    CHECK(attn_span_eval_add(e, g1, 1, p1, 1, &err) == ATTN_OK);
    CHECK_PRF(attn_span_eval_micro(e), 0, 0, 0, 0, 1, 1);
    /* type error: fn of PER, fp of LOC */
    attn_eval_span g2[] = {{3, 9, PER}}, p2[] = {{3, 9, LOC}};
    CHECK(attn_span_eval_add(e, g2, 1, p2, 1, &err) == ATTN_OK);
    CHECK_PRF(attn_span_eval_label(e, PER), 0, 0, 0, 0, 1, 2);
    CHECK_PRF(attn_span_eval_label(e, LOC), 0, 0, 0, 0, 1, 0);
    /* the same span in another document is not a match: documents are separate */
    attn_eval_span g3[] = {{0, 4, PER}};
    CHECK(attn_span_eval_add(e, g3, 1, NULL, 0, &err) == ATTN_OK);
    CHECK_PRF(attn_span_eval_label(e, PER), 0, 0, 0, 0, 1, 3);
    /* an exact match with predictions listed out of order and a duplicate (counted once):
     * doc gold {PER [0,2), LOC [5,8)}, pred {LOC [5,8), PER [0,2), PER [0,2)} -> 2 tp */
    attn_eval_span g4[] = {{0, 2, PER}, {5, 8, LOC}}, p4[] = {{5, 8, LOC}, {0, 2, PER}, {0, 2, PER}};
    CHECK(attn_span_eval_add(e, g4, 2, p4, 3, &err) == ATTN_OK);
    /* totals: tp 2, fp 1+1 = 2, fn 1+1+1 = 3 -> P = 0.5, R = 0.4, F1 = 0.4/0.9 = 0.444444 */
    CHECK_PRF(attn_span_eval_micro(e), 0.5, 0.4, 0.4 / 0.9, 2, 2, 3);
    /* PER: tp 1 fp 1 fn 3 -> P 0.5 R 0.25 F1 1/3; LOC: tp 1 fp 1 fn 0 -> P 0.5 R 1 F1 2/3 */
    CHECK_PRF(attn_span_eval_label(e, PER), 0.5, 0.25, 1.0 / 3, 1, 1, 3);
    CHECK_PRF(attn_span_eval_label(e, LOC), 0.5, 1, 2.0 / 3, 1, 1, 0);
    attn_prf m = attn_span_eval_macro(e);
    CHECK_NEAR(m.precision, 0.5, TOL);
    CHECK_NEAR(m.recall, 0.625, TOL);
    CHECK_NEAR(m.f1, 0.5, TOL);
    attn_span_eval_free(e);
}

static void test_entities_empty(void) {
    attn_span_eval *e = attn_span_eval_new();
    attn_error err = {0};
    CHECK_PRF(attn_span_eval_micro(e), 0, 0, 0, 0, 0, 0);   /* nothing added */
    CHECK_PRF(attn_span_eval_macro(e), 0, 0, 0, 0, 0, 0);
    attn_eval_span g[] = {{0, 1, PER}, {2, 3, PER}};
    CHECK(attn_span_eval_add(e, g, 2, NULL, 0, &err) == ATTN_OK);   /* empty predictions */
    CHECK(attn_span_eval_add(e, NULL, 0, NULL, 0, &err) == ATTN_OK); /* empty document */
    CHECK_PRF(attn_span_eval_micro(e), 0, 0, 0, 0, 0, 2);
    attn_span_eval_free(e);
}

static void test_entities_errors_and_names(void) {
    attn_span_eval *e = attn_span_eval_new();
    attn_error err = {0};
    attn_eval_span ok[] = {{0, 1, PER}};
    attn_eval_span bad_end[] = {{0, 1, PER}, {0, 2, PER}, {5, 3, PER}};
    CHECK(attn_span_eval_add(e, ok, 1, bad_end, 3, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "entities: pred[2]: end 3 <= start 5") == 0);
    attn_eval_span bad_start[] = {{-1, 3, PER}};
    CHECK(attn_span_eval_add(e, bad_start, 1, ok, 1, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "entities: gold[0]: start -1 < 0") == 0);
    attn_eval_span bad_label[] = {{0, 3, ATTN_MAX_LABELS}};
    CHECK(attn_span_eval_add(e, ok, 1, bad_label, 1, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "entities: pred[0]: label 4096 outside 0..4095") == 0);
    CHECK_PRF(attn_span_eval_micro(e), 0, 0, 0, 0, 0, 0);     /* nothing was counted */
    /* names: interned in order, mixed with explicit indices */
    int per = attn_span_eval_label_id(e, "PER", &err);
    int loc = attn_span_eval_label_id(e, "LOC", &err);
    CHECK(per == 1 && loc == 2);          /* slot 0 already exists (used by index above) */
    CHECK(attn_span_eval_label_id(e, "PER", &err) == 1);
    CHECK(strcmp(attn_span_eval_label_name(e, 2), "LOC") == 0);
    CHECK(attn_span_eval_label_name(e, 0) == NULL && attn_span_eval_label_name(e, 99) == NULL);
    char long_name[ATTN_MAX_LABEL_BYTES + 1];
    memset(long_name, 'x', ATTN_MAX_LABEL_BYTES);
    long_name[ATTN_MAX_LABEL_BYTES] = 0;
    CHECK(attn_span_eval_label_id(e, long_name, &err) == -ATTN_ELIMIT);
    CHECK(strcmp(err.msg, "entities: label name longer than 255 bytes") == 0);
    attn_span_eval_free(e);
}

/* One document with 200,000 gold spans and 200,000 predictions: the merge must stay linear
 * (a quadratic matcher would take minutes). Predictions: every even gold span exact, every
 * odd one shifted by one character -> tp 100,000, fp 100,000, fn 100,000. */
static void test_entities_large(void) {
    enum { N = 200000 };
    attn_eval_span *g = malloc(N * sizeof *g), *p = malloc(N * sizeof *p);
    for (int i = 0; i < N; i++) {
        g[i] = (attn_eval_span){10 * (int64_t)i, 10 * (int64_t)i + 5, i % 4};
        p[N - 1 - i] = g[i];
        if (i % 2) p[N - 1 - i].end++;
    }
    attn_span_eval *e = attn_span_eval_new();
    attn_error err = {0};
    CHECK(attn_span_eval_add(e, g, N, p, N, &err) == ATTN_OK);
    CHECK_PRF(attn_span_eval_micro(e), 0.5, 0.5, 0.5, N / 2, N / 2, N / 2);
    /* labels 0 and 2 sit on even i (all exact), 1 and 3 on odd i (all wrong) */
    CHECK_PRF(attn_span_eval_label(e, 0), 1, 1, 1, N / 4, 0, 0);
    CHECK_PRF(attn_span_eval_label(e, 1), 0, 0, 0, 0, N / 4, N / 4);
    attn_span_eval_free(e);
    free(g);
    free(p);
}

static void test_relations(void) {
    enum { PEOP = 0, ORGAN = 1 };
    enum { WORK_FOR = 0, LIVE_IN = 1 };
    attn_rel_eval *e = attn_rel_eval_new();
    attn_error err = {0};
    attn_eval_span john = {0, 4, PEOP}, ibm = {14, 17, ORGAN}, mary = {20, 24, PEOP};
    attn_eval_span ibm_short = {14, 16, ORGAN}, john_as_org = {0, 4, ORGAN};
    attn_eval_relation gold[] = {{john, ibm, WORK_FOR}, {mary, ibm, WORK_FOR}, {mary, john, LIVE_IN}};
    attn_eval_relation pred[] = {
        {john, ibm, WORK_FOR},          /* exact: tp */
        {ibm, mary, WORK_FOR},          /* head and tail swapped: fp (and gold mary->ibm fn) */
        {mary, john, WORK_FOR},         /* right pair, wrong relation label: fp WORK_FOR */
        {john_as_org, ibm, LIVE_IN},    /* head type wrong: fp LIVE_IN */
        {john, ibm_short, WORK_FOR},    /* tail boundary wrong: fp WORK_FOR */
    };
    CHECK(attn_rel_eval_add(e, gold, 3, pred, 5, &err) == ATTN_OK);
    /* tp 1, fp 4, fn 2 -> P = 0.2, R = 1/3, F1 = 2*(1/15)/(8/15) = 0.25 */
    CHECK_PRF(attn_rel_eval_micro(e), 0.2, 1.0 / 3, 0.25, 1, 4, 2);
    /* WORK_FOR: gold 2, pred 4 (exact, swapped, mary->john, short tail), tp 1:
     *   P 0.25 R 0.5 F1 1/3.  LIVE_IN: gold 1 (mary->john), pred 1 (wrong type), tp 0 */
    CHECK_PRF(attn_rel_eval_label(e, WORK_FOR), 0.25, 0.5, 1.0 / 3, 1, 3, 1);
    CHECK_PRF(attn_rel_eval_label(e, LIVE_IN), 0, 0, 0, 0, 1, 1);
    attn_prf m = attn_rel_eval_macro(e);
    CHECK_NEAR(m.f1, (1.0 / 3 + 0) / 2, TOL);
    CHECK_NEAR(m.precision, 0.125, TOL);
    CHECK_NEAR(m.recall, 0.25, TOL);
    /* an invalid tail span is named */
    attn_eval_relation bad[] = {{john, {5, 5, ORGAN}, WORK_FOR}};
    CHECK(attn_rel_eval_add(e, bad, 1, NULL, 0, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "relations (tail): gold[0]: end 5 <= start 5") == 0);
    CHECK(attn_rel_eval_label_id(e, "Kill", &err) == 2);
    CHECK(strcmp(attn_rel_eval_label_name(e, 2), "Kill") == 0 && attn_rel_eval_n_labels(e) == 3);
    attn_rel_eval_free(e);
}

static void test_classification(void) {
    attn_class_eval *c = attn_class_eval_new();
    attn_error err = {0};
    CHECK(attn_class_eval_accuracy(c) == 0.0);
    int pos = attn_class_eval_label_id(c, "positive", &err);
    int neg = attn_class_eval_label_id(c, "negative", &err);
    int neu = attn_class_eval_label_id(c, "neutral", &err);
    CHECK(pos == 0 && neg == 1 && neu == 2);
    /* gold -> pred: pos->pos x3, pos->neg x1, neg->neg x2, neg->pos x1, neu->pos x1 (8 examples)
     * accuracy 5/8. pos: tp 3, fp 2 (neg->pos, neu->pos), fn 1 -> P 0.6 R 0.75 F1 2/3
     * neg: tp 2, fp 1, fn 1 -> P R F1 2/3.  neu: tp 0 fp 0 fn 1 -> 0 0 0 (support 1) */
    int pairs[][2] = {{pos, pos}, {pos, pos}, {pos, pos}, {pos, neg}, {neg, neg}, {neg, neg},
                      {neg, pos}, {neu, pos}};
    for (int i = 0; i < 8; i++) CHECK(attn_class_eval_add(c, pairs[i][0], pairs[i][1], &err) == 0);
    CHECK(attn_class_eval_count(c) == 8);
    CHECK_NEAR(attn_class_eval_accuracy(c), 5.0 / 8, TOL);
    CHECK_PRF(attn_class_eval_label(c, pos), 0.6, 0.75, 2.0 / 3, 3, 2, 1);
    CHECK_PRF(attn_class_eval_label(c, neg), 2.0 / 3, 2.0 / 3, 2.0 / 3, 2, 1, 1);
    CHECK_PRF(attn_class_eval_label(c, neu), 0, 0, 0, 0, 0, 1);
    CHECK(attn_class_eval_label(c, neu).support == 1);
    attn_prf m = attn_class_eval_macro(c);
    CHECK_NEAR(m.f1, (2.0 / 3 + 2.0 / 3 + 0) / 3, TOL);
    CHECK_NEAR(m.precision, (0.6 + 2.0 / 3) / 3, TOL);
    CHECK(attn_class_eval_add(c, 0, -1, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "classification (pred): label -1 outside 0..4095") == 0);
    CHECK(attn_class_eval_count(c) == 8);
    attn_class_eval_free(c);
}

static void test_semeval(void) {
    attn_semeval_eval *e = attn_semeval_eval_new();
    attn_error err = {0};
    const char *cases[][2] = {                               /* gold, predicted */
        {"Cause-Effect(e1,e2)", "Cause-Effect(e1,e2)"},          /* 1 CE tp */
        {"Cause-Effect(e2,e1)", "Cause-Effect(e1,e2)"},          /* 2 CE wrong direction */
        {"Cause-Effect(e1,e2)", "Other"},                        /* 3 CE missed */
        {"Other", "Cause-Effect(e2,e1)"},                        /* 4 CE false alarm */
        {"Component-Whole(e1,e2)", "Component-Whole(e1,e2)"},    /* 5 CW tp */
        {"Component-Whole(e2,e1)", "Message-Topic(e1,e2)"},      /* 6 CW missed, MT wrong */
        {"Other", "Other"},                                      /* 7 */
        {"Message-Topic(e1,e2)", "Message-Topic(e2,e1)"},        /* 8 MT wrong direction */
        {"Other", "Instrument-Agency(e2,e1)"},                   /* 9 IA: not in the gold */
    };
    for (int i = 0; i < 9; i++) CHECK(attn_semeval_eval_add(e, cases[i][0], cases[i][1], &err) == 0);
    /* CE: tp 1 (#1); predicted #1 #2 #4 = 3; gold #1 #2 #3 = 3 -> P R F1 1/3
     * CW: tp 1 (#5); predicted #5 = 1; gold #5 #6 = 2 -> P 1, R 0.5, F1 2/3
     * MT: tp 0; predicted #6 #8 = 2; gold #8 = 1 -> 0
     * official = (1/3 + 2/3 + 0) / 3 types in the gold (IA and Other excluded) = 1/3
     * As the scorer prints: CE "P = 1/(2 + 1)": 2 in the matrix column (#1, #4) + 1 xDIRx (#2). */
    CHECK_NEAR(attn_semeval_eval_official(e), 1.0 / 3, TOL);
    CHECK(attn_semeval_eval_n_types(e) == 5);   /* CE, Other, CW, MT, IA */
    CHECK(strcmp(attn_semeval_eval_type_name(e, 0), "Cause-Effect") == 0);
    CHECK(strcmp(attn_semeval_eval_type_name(e, 1), "Other") == 0);
    CHECK_PRF(attn_semeval_eval_type(e, 0), 1.0 / 3, 1.0 / 3, 1.0 / 3, 1, 2, 2);
    CHECK_PRF(attn_semeval_eval_type(e, 2), 1, 0.5, 2.0 / 3, 1, 0, 1);
    CHECK_PRF(attn_semeval_eval_type(e, 3), 0, 0, 0, 0, 2, 1);
    CHECK_PRF(attn_semeval_eval_type(e, 4), 0, 0, 0, 0, 1, 0);
    /* micro over CE, CW, MT: tp 2, predicted 6, gold 6 -> 1/3 each */
    CHECK_PRF(attn_semeval_eval_micro(e), 1.0 / 3, 1.0 / 3, 1.0 / 3, 2, 4, 4);
    /* Direction-blind scoring would give CE tp 2 and MT tp 1; the official one does not. */
    CHECK(attn_semeval_eval_add(e, "(e1,e2)", "Other", &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "semeval: gold label '(e1,e2)' has no type") == 0);
    attn_semeval_eval_free(e);

    /* all correct -> 1; nothing -> 0 */
    e = attn_semeval_eval_new();
    CHECK(attn_semeval_eval_official(e) == 0.0);
    CHECK(attn_semeval_eval_add(e, "Entity-Origin(e2,e1)", "Entity-Origin(e2,e1)", &err) == 0);
    CHECK(attn_semeval_eval_add(e, "Other", "Other", &err) == 0);
    CHECK_NEAR(attn_semeval_eval_official(e), 1.0, TOL);
    attn_semeval_eval_free(e);
}

/* conlleval on tests/fixtures/conlleval_iob1.txt (TOKEN GOLD PRED, IOB1) prints
 *   processed 25 tokens with 8 phrases; found: 8 phrases; correct: 5.
 *   precision 62.50%  recall 62.50%  FB1 62.50
 *   LOC: P 100.00% R 50.00% FB1 66.67 (found 1);  MISC: P 0 R 0 FB1 0 (found 1)
 *   ORG: P 50.00% R 50.00% FB1 50.00 (found 2);   PER: P 75.00% R 75.00% FB1 75.00 (found 4)
 * The gold column has U.N./ORG Ekeus/PER Baghdad/LOC | Peter Blackburn/PER John Smith/PER
 * Mary Jones/PER (IOB1 B- between the two) New York/LOC | European Commission/ORG; the
 * predictions get Baghdad as ORG, cut "Peter Blackburn" to "Peter" and tag "European Commission
 * said" MISC. Reading both columns with the CoNLL reader and scoring must agree. */
static void test_against_conlleval(void) {
    const char *dirs[] = {"tests/fixtures/", "../tests/fixtures/", "../../tests/fixtures/"};
    char path[256];
    FILE *f = NULL;
    for (int i = 0; i < 3 && !f; i++) {
        snprintf(path, sizeof path, "%sconlleval_iob1.txt", dirs[i]);
        f = fopen(path, "rb");
    }
    CHECK_MSG(f != NULL, "fixture tests/fixtures/conlleval_iob1.txt not found");
    if (!f) return;
    fclose(f);
    attn_error err = {0};
    attn_conll_options og = {.tag_column = 2, .scheme = ATTN_CONLL_SCHEME_IOB1};
    attn_conll_options op = {.tag_column = 3, .scheme = ATTN_CONLL_SCHEME_IOB1};
    attn_conll_reader *rg = attn_conll_open(path, &og, &err), *rp = attn_conll_open(path, &op, &err);
    attn_span_eval *e = attn_span_eval_new();
    attn_conll_sentence sg, sp;
    int docs = 0;
    while (attn_conll_next(rg, &sg, &err) == 1 && attn_conll_next(rp, &sp, &err) == 1) {
        CHECK(strcmp(sg.text, sp.text) == 0);
        attn_eval_span g[16], p[16];
        for (size_t i = 0; i < sg.n_spans && i < 16; i++)
            g[i] = (attn_eval_span){sg.spans[i].start, sg.spans[i].end,
                                    attn_span_eval_label_id(e, sg.spans[i].label_name, &err)};
        for (size_t i = 0; i < sp.n_spans && i < 16; i++)
            p[i] = (attn_eval_span){sp.spans[i].start, sp.spans[i].end,
                                    attn_span_eval_label_id(e, sp.spans[i].label_name, &err)};
        CHECK(attn_span_eval_add(e, g, sg.n_spans, p, sp.n_spans, &err) == ATTN_OK);
        docs++;
    }
    CHECK(docs == 3);
    CHECK_PRF(attn_span_eval_micro(e), 0.625, 0.625, 0.625, 5, 3, 3);
    int loc = attn_span_eval_label_id(e, "LOC", &err), misc = attn_span_eval_label_id(e, "MISC", &err);
    int org = attn_span_eval_label_id(e, "ORG", &err), per = attn_span_eval_label_id(e, "PER", &err);
    CHECK(attn_span_eval_n_labels(e) == 4);
    CHECK_PRF(attn_span_eval_label(e, loc), 1, 0.5, 2.0 / 3, 1, 0, 1);
    CHECK_PRF(attn_span_eval_label(e, misc), 0, 0, 0, 0, 1, 0);
    CHECK_PRF(attn_span_eval_label(e, org), 0.5, 0.5, 0.5, 1, 1, 1);
    CHECK_PRF(attn_span_eval_label(e, per), 0.75, 0.75, 0.75, 3, 1, 1);
    /* macro: P (1 + 0 + .5 + .75)/4 = .5625, R (.5 + 0 + .5 + .75)/4 = .4375,
     * F1 (2/3 + 0 + .5 + .75)/4 = 0.4791667 */
    attn_prf m = attn_span_eval_macro(e);
    CHECK_NEAR(m.precision, 0.5625, TOL);
    CHECK_NEAR(m.recall, 0.4375, TOL);
    CHECK_NEAR(m.f1, (2.0 / 3 + 0.5 + 0.75) / 4, TOL);
    attn_span_eval_free(e);
    attn_conll_close(rg);
    attn_conll_close(rp);
}

/* ECE by hand, 15 bins of width 1/15, bin b = (b/15, (b+1)/15]:
 *   0.95 right, 0.95 wrong -> bin 14: n 2, accuracy 1/2, confidence 0.95: 2 |0.5 - 0.95| = 0.9
 *   0.9 right              -> bin 13 (0.867, 0.933]:  |1 - 0.9|  = 0.1
 *   0.55 right             -> bin 8 (0.533, 0.6]:     |1 - 0.55| = 0.45
 *   0.5 wrong              -> bin 7 (0.467, 0.533]:   |0 - 0.5|  = 0.5
 *   0 wrong                -> bin 0:                  |0 - 0|    = 0
 * ECE = (0.9 + 0.1 + 0.45 + 0.5 + 0) / 6 = 0.325. */
static void test_ece(void) {
    attn_ece e;
    attn_ece_init(&e);
    CHECK(attn_ece_value(&e) == 0.0 && attn_ece_count(&e) == 0);     /* nothing: 0 */
    attn_ece_add(&e, 0.95, 1);
    attn_ece_add(&e, 0.95, 0);
    attn_ece_add(&e, 0.9, 1);
    attn_ece_add(&e, 0.55, 1);
    attn_ece_add(&e, 0.5, 0);
    attn_ece_add(&e, 0.0, 0);
    CHECK(attn_ece_count(&e) == 6);
    CHECK(e.n[14] == 2 && e.n[13] == 1 && e.n[8] == 1 && e.n[7] == 1 && e.n[0] == 1);
    CHECK_NEAR(attn_ece_value(&e), 0.325, 1e-12);
    /* Perfectly calibrated: 4 predictions at 0.75 of which 3 right. */
    attn_ece_init(&e);
    for (int i = 0; i < 4; i++) attn_ece_add(&e, 0.75, i < 3);
    CHECK_NEAR(attn_ece_value(&e), 0.0, 1e-12);
    /* Out of range and NaN confidences are clamped: 1.5 -> 1 (bin 14), -0.2 and NaN -> 0. */
    attn_ece_init(&e);
    attn_ece_add(&e, 1.5, 1);
    attn_ece_add(&e, -0.2, 0);
    attn_ece_add(&e, NAN, 0);
    CHECK(e.n[14] == 1 && e.n[0] == 2);
    CHECK_NEAR(attn_ece_value(&e), 0.0, 1e-12);
    /* Always right at confidence 0.6 (bin 8): ECE = 0.4. */
    attn_ece_init(&e);
    attn_ece_add(&e, 0.6, 1);
    CHECK_NEAR(attn_ece_value(&e), 0.4, 1e-12);
}

int main(void) {
    test_prf_from_counts();
    test_entities_basic();
    test_entities_boundary_and_type();
    test_entities_empty();
    test_entities_errors_and_names();
    test_entities_large();
    test_relations();
    test_classification();
    test_semeval();
    test_against_conlleval();
    test_ece();
    return CHECK_DONE();
}
