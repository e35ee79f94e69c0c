/* calibrate.h: temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural
 * Networks"). A head's probabilities are computed from its scores divided by one number T > 0
 * (config.h, "temperature"): classify and relations softmax(z / T); entities the CRF marginals
 * of potentials / T, an entity's score being the mean marginal of its decoded tags. T changes
 * no decision (argmax, Viterbi path), only how confident the probabilities are; it is fitted
 * on held-out data by minimising the negative log-likelihood (NLL).
 *
 * An attn_calib holds, once, what re-scoring at any T needs, so a fit never runs the encoder
 * again: the logits of every example (classify: one per text; relations: one per candidate
 * pair), or for entities the emissions of every text with its predicted entities.
 *   classify   NLL of the gold label; a prediction = the top label, confidence its
 *              probability, right when it is the gold label
 *   relations  a prediction = a candidate pair whose top output (argmax of the logits, the
 *              same at every T) is not "none", as attn_relations returns it; confidence its
 *              score as pipeline.h gives it: the output's probability at T times the scores
 *              of its two entities (the chance both are right, at the entity temperature);
 *              right when that output is the pair's gold one (strict, as attn_eval); NLL of
 *              the binary event "the predicted relation is right" with probability its
 *              confidence. Pairs predicted "none" are in neither the NLL nor the ECE. This
 *              objective, not the NLL of the gold output over every candidate pair, because
 *              that is what ECE and a user see: on en-rel (CoNLL04 dev -> test) the all-pairs
 *              NLL, dominated by easy "none" pairs, fitted T = 2.18 and left test ECE at 0.305
 *              (from 0.397). The entity factor is there because a relation with a wrong
 *              entity cannot be right, yet its head scored it as high as the others: with
 *              the head's probability alone (0.85 at T = 1 for the 142 of 466 predicted
 *              relations that had a wrong entity, 0.90 for the rest) no T brought en-rel's
 *              test ECE below 0.136.
 *   entities   NLL of the binary event "the predicted entity is right" with probability its
 *              score at T; a prediction = a predicted entity, confidence its score
 * (train_eval.h: attn_evaluate_collect fills one from a dataset, deciding gold and right as
 * attn_eval scores.) ECE is metrics.h's attn_ece. */
#ifndef ATTN_CALIBRATE_H
#define ATTN_CALIBRATE_H

#include "pipeline.h"

/* The probability that a predicted entity or relation is right is kept in [eps, 1 - eps] in
 * its NLL (a score that rounds to exactly 1 on a wrong one would make the NLL infinite). */
#define ATTN_CALIB_EPS 1e-7
/* The fit's search: ATTN_CALIB_GRID values of log T evenly over [log ATTN_TEMPERATURE_MIN,
 * log ATTN_TEMPERATURE_MAX], then golden-section steps around the best of them. */
#define ATTN_CALIB_GRID 25
#define ATTN_CALIB_GOLDEN_STEPS 40

typedef struct attn_calib attn_calib;

/* An empty set for task (ATTN_TASK_CLASSIFY, _ENTITIES or _RELATIONS, which m must have). m
 * must outlive it (entities read its CRF weights). NULL on ENOMEM or a bad task. */
attn_calib *attn_calib_new(const attn_model *m, int task);
void attn_calib_free(attn_calib *c);
int attn_calib_task(const attn_calib *c);

/* classify: logits[L] of one text and its gold label; relations: logits[R + 1] of one
 * candidate pair (every pair attn_relations classifies, "none" too) and its gold output
 * (0 = none, 1 + r), with both = 1 (add_logits) or the product of its two entities' scores
 * (add_pair, relations only). ATTN_EINVAL for gold out of range or both outside [0, 1]. */
int attn_calib_add_logits(attn_calib *c, const float *logits, int gold, attn_error *err);
int attn_calib_add_pair(attn_calib *c, const float *logits, int gold, float both,
                        attn_error *err);
/* entities: one text's emissions em[N, K] (N >= 0) and its predicted entities (token spans and
 * labels; nothing else is read), right[i] = entity i is right. */
int attn_calib_add_text(attn_calib *c, const float *em, int N, const attn_entity *ents,
                        size_t n_ents, const uint8_t *right, attn_error *err);

/* Examples the NLL (and ECE) is over: texts (classify), predicted relations (relations: the
 * candidate pairs whose top output is not "none"), predicted entities (entities). */
size_t attn_calib_count(const attn_calib *c);

/* Mean NLL (0 with no examples) and ECE (attn_ece, 15 bins) at temperature T > 0. */
int attn_calib_score(const attn_calib *c, double T, double *nll, double *ece, attn_error *err);

/* Called between evaluations of the fit: non-zero stops it (ATTN_ESTOPPED, as train_eval.h). */
typedef int (*attn_calib_stop_cb)(void *user);

/* *T = the temperature in [ATTN_TEMPERATURE_MIN, ATTN_TEMPERATURE_MAX] with the lowest mean
 * NLL (search: see ATTN_CALIB_GRID), *nll its NLL. With no examples *T = 1. */
int attn_calib_fit(const attn_calib *c, attn_calib_stop_cb should_stop, void *user, double *T,
                   double *nll, attn_error *err);

#endif
