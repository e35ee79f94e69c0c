/* train.h: training an attnext model from scratch, in plain C (llm.c style).
 *
 * ---- map of the training code ---------------------------------------------------------------
 *   train_data.h/.c  datasets: annotated texts -> tokens, feature rows, IOB2 tags (character
 *                    spans -> IOB2), spans, relation pairs, chunks of max_len tokens
 *                    (attn_example, below); its layout for these files: train_data_impl.h
 *   train.h/.c       THIS FILE: the trainer: one optimiser step on a mini-batch (forward with
 *                    dropout, losses, backward, clipping, AdamW), fresh models
 *   backward.h/.c    the backward pass of every layer (llm.c's layer_backward)
 *   mlm.h/.c         masked-language-model pretraining: masking, the head, a dataset's targets,
 *                    the dev metric; the span choice (attn_mlm_spans) rtd shares
 *   rtd.h/.c         replaced-token detection pretraining: the pool of replacements, the
 *                    corruption, the per-token head, the dev metric
 *   pretrain.h/.c    pretraining on a stream of text files (task rtd): packing, shuffled
 *                    blocks, the dev share, steps, the position a checkpoint stores
 *   train_eval.h/.c  a model evaluated on a dataset with the inference pipeline (metrics.h)
 *   fit.h/.c         the epoch loop: shuffled mini-batches, dev evaluation, best parameters,
 *                    early stopping, time limit, parameter averaging
 *   wordvec.h/.c     word vectors (skip-gram with subwords) from text files, into a model's
 *                    norm and subword tables; the vocabulary of text files
 *   threadpool.h/.c  the one thread pool (the trainer's workers, word vectors, the bulk path)
 *   ext/vtab_train.c attn_train in SQL: options, rows -> dataset, one row per epoch; task
 *                    rtd: files -> pretrain.h, progress rows, checkpoints, resume
 * Data flow of attn_train:
 *   SQL rows --(ext/train_rows.c)--> attn_dataset_add --> attn_dataset (train_data.c)
 *     [mlm: attn_dataset_mlm_targets]  [vectors: attn_init_*_from_wordvec]
 *   attn_fit_begin/epoch/end (fit.c) --> attn_trainer_step (train.c) per mini-batch
 *     --> after each epoch attn_evaluate (train_eval.c) or attn_mlm_evaluate on the dev set
 *   --> best parameters left in the model --> ext/model_write.c stores it.
 * Data flow of attn_train(.., 'rtd', files): files --(pretrain.c: lines, packed, blocks)-->
 *   attn_dataset per block --> attn_trainer_step (train.c corrupts with the rtd pool) -->
 *   every checkpoint_seconds and at the end ext/model_write.c stores the model with the
 *   stream position in its meta; a later call resumes (attn_pretrain_begin at the position,
 *   attn_trainer_resume).
 * ----------------------------------------------------------------------------------------------
 *
 * The trainer knows nothing of SQL: examples are token feature rows (attn_token_features) with
 * gold answers. A training step takes a mini-batch of variable-length sequences and runs them,
 * in chunks of consecutive examples of up to max(max_len, 512) tokens, through a training-mode
 * forward (every linear layer, LayerNorm and GELU runs once over all the chunk's tokens: one
 * GEMM per layer, so the weights are packed once per chunk, not once per example; attention,
 * dropout draws and the heads run per example) that keeps every activation in one activation
 * buffer, runs the backward pass layer by layer, accumulates gradients, then applies clipping
 * and AdamW.
 *
 * Memory: the trainer holds the gradients (one buffer laid out like the model's parameters,
 * with the same named views, bound by attn_weights_bind), the AdamW moments (one buffer:
 * m | v, each laid out like the parameters) and, per worker thread, an activation buffer and a
 * backward scratch buffer sized for one chunk (attention probabilities: heads x max_len x
 * chunk floats per layer). Nothing is allocated per step except the
 * list of relation pairs, which only grows.
 *
 * Loss of one example = the sum of the losses of the tasks the model has and the example
 * gives answers for:
 *   classify   cross-entropy of the gold label (pooled mean|max head)
 *   entities   CRF negative log-likelihood of the gold IOB2 path (IOB2 constraints on)
 *   relations  mean cross-entropy over pairs: every gold pair (label 1 + r) and up to
 *              rel_negatives sampled ordered pairs of distinct gold entities that have no gold
 *              relation (label 0 = none); entity types are the gold span labels.
 *   mlm        masked-language-model pretraining (mlm.h): the step masks spans of the
 *              sequence (drawn from (seed, step, example index)), runs the encoder on the
 *              masked feature rows, and the loss is the mean cross-entropy of the masked
 *              words' targets over the predicted positions (0 when none is predicted).
 *   rtd        replaced-token detection pretraining (rtd.h): before the workers run, the step
 *              corrupts every rtd example (seed from (seed, step, example index)) with the
 *              trainer's pool (attn_trainer_set_rtd_pool); the encoder runs on the corrupted
 *              rows and the loss is the mean binary cross-entropy of "replaced" over all T
 *              tokens.
 * The batch loss is the mean over examples; gradients are of that mean.
 *
 * Regularisation (all off at rate 0; inverted dropout: kept values scaled by 1/(1 - rate)):
 *   dropout_embed   on the concatenated feature embeddings, before the projection
 *   dropout_attn    on the attention probabilities
 *   dropout_resid   on the output of every attention and FFN branch, before the residual add
 *   word_dropout    per token, the "norm" feature's embedding is replaced by zeros (not scaled;
 *                   an unknown word) with this probability; that row then gets no gradient
 * With every rate 0 the training forward computes exactly what attn_encode computes (same
 * primitives in the same order: bit-identical hidden states).
 *
 * AdamW: decoupled weight decay applies only to the weight matrices of linear layers (2-D
 * tensors whose key ends in ".w": embed.proj.w, attention, FFN, head weights). Not decayed:
 * LayerNorm gains and biases, all biases, embedding tables (embed.<kind>, pos, rel.type) and
 * the CRF scores. Learning rate: linear warm-up from lr/warmup to lr over warmup_steps, then
 * linear or cosine decay to lr * min_lr_ratio at total_steps (constant after).
 * Clipping: the batch gradient is scaled by clip_norm / ||g|| when its global L2 norm exceeds
 * clip_norm (0 = no clipping).
 *
 * Determinism: every random draw (dropout masks, word dropout, negative pairs) comes from a
 * generator seeded by (seed, step, example index), so it does not depend on the thread an
 * example runs on. With threads = 2 (a thread pool of 2, threadpool.h), worker 0 takes the
 * first half of the batch and worker 1 the second, each into its own gradient buffer, summed
 * in a fixed order: the same seed, data and thread count give bit-identical parameters on the same machine (OpenBLAS should run
 * with one thread, as the extension sets it; the trainer's own threads are its parallelism).
 * Chunks depend only on the batch and the thread count, so this holds with chunking too.
 *
 * The trainer updates the model's parameters in place (m->params): while training, the model
 * must not be used by another thread. Between steps it may be used for inference (attn_encode,
 * pipeline.h), which is how the tests measure training accuracy. */
#ifndef ATTN_TRAIN_H
#define ATTN_TRAIN_H

#include "model.h"
#include "tokenizer.h"

#define ATTN_TRAIN_MAX_THREADS 2
#define ATTN_TRAIN_MAX_BATCH 65536      /* examples in one step */

enum { ATTN_LR_LINEAR = 0, ATTN_LR_COSINE = 1 };

typedef struct attn_train_opts {
    uint64_t seed;
    float lr;                   /* peak learning rate, e.g. 1e-3 */
    float beta1, beta2, adam_eps;   /* 0.9, 0.999, 1e-8 */
    float weight_decay;         /* e.g. 0.01 (decoupled, see above) */
    int warmup_steps;           /* >= 0 */
    int total_steps;            /* >= 1: end of the decay */
    int schedule;               /* ATTN_LR_LINEAR or ATTN_LR_COSINE */
    float min_lr_ratio;         /* final lr / peak lr, in [0, 1] */
    float clip_norm;            /* 0 = off */
    float dropout_embed, dropout_attn, dropout_resid, word_dropout;  /* in [0, 1) */
    int rel_negatives;          /* max sampled "none" pairs per example, >= 0 */
    float embed_lr_scale;       /* learning-rate multiplier of the feature embedding tables
                                 * (embed.<kind>, not embed.proj): below 1 keeps pretrained
                                 * vectors closer to where they started; in (0, 10], default 1 */
    int threads;                /* 1 or 2 */
} attn_train_opts;

/* Defaults: seed 1, lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 0.01, warm-up 0,
 * total 1000 steps, linear decay to 0, clip 1.0, no dropout, 8 negatives, 1 thread. */
attn_train_opts attn_train_defaults(void);

typedef struct attn_span {
    int start, end;             /* tokens, end exclusive */
    int label;                  /* entity label index */
} attn_span;

typedef struct attn_rel_gold {
    int head, tail;             /* indices into the example's spans */
    int label;                  /* relation label index (0-based; output 1 + label) */
} attn_rel_gold;

/* One training sequence of 1..max_len tokens. Fields a task does not use are ignored; a task
 * the model has is trained on this example only when its answer is given:
 *   classify   label >= 0
 *   entities   tags != NULL: gold IOB2 path [T] (0 = O, 1+2i = B-i, 2+2i = I-i), which must
 *              obey the IOB2 constraints (no I-x after O or at the start)
 *   relations  spans != NULL (n_spans >= 0) and rels (n_rels >= 0); spans are the gold entities
 *              (their labels give the entity types), rels the gold pairs
 *   mlm        mlm_target != NULL and mlm_caps != NULL
 *   rtd        mlm_caps != NULL (the example's own rows are the original text). */
typedef struct attn_example {
    const uint32_t *rows;       /* [T, S]: S = attn_feature_slots (features.h) */
    int T;
    int label;
    const int *tags;
    const attn_span *spans;
    int n_spans;
    const attn_rel_gold *rels;
    int n_rels;
    /* mlm (given when mlm_target != NULL): per token the target word in [0, mlm.vocab) or -1
     * (not predicted), and 1 when the token is entity-like: capitalised
     * (attn_mlm_is_capitalised) or in a gazetteer match (mlm.h) */
    const int32_t *mlm_target;  /* [T] */
    const uint8_t *mlm_caps;    /* [T] */
} attn_example;

typedef struct attn_train_stats {
    double loss;                /* mean loss over the batch, before the update */
    double grad_norm;           /* global L2 norm of the batch gradient, before clipping */
    double lr;                  /* learning rate used */
    int n_correct;              /* classify: examples whose argmax label was the gold one */
    int n_classified;
    int n_mlm_correct;          /* mlm: predicted positions whose argmax was the target;
                                 * rtd: tokens whose replaced/original call was right */
    int n_mlm_predicted;        /* mlm: predicted positions; rtd: tokens */
    int64_t n_tokens;
} attn_train_stats;

typedef struct attn_trainer attn_trainer;

/* A model of this config with fresh random parameters (seeded), finished and ready to train:
 * linear weights N(0, 0.02^2), the output projections of the residual branches (attn.out.w,
 * ffn.down.w) scaled by 1/sqrt(2 layers), embedding tables N(0, 1), embed.proj.w
 * N(0, 1/sum fdim), pos N(0, 0.02^2), rel.type N(0, 0.1^2), LayerNorm gains 1, biases and CRF
 * scores 0. */
int attn_train_model_new(const char *config_json, size_t n, uint64_t seed, attn_model **out,
                         attn_error *err);

/* Checks opts and allocates everything. m must be finished; it stays owned by the caller and
 * must outlive the trainer. */
int attn_trainer_new(attn_model *m, const attn_train_opts *opts, attn_trainer **out,
                     attn_error *err);
void attn_trainer_free(attn_trainer *tr);

/* One optimiser step on batch[0..n): gradients, clipping, AdamW, step counter + 1.
 * Every example is validated first (tokens 1..max_len, feature rows in range, labels, tag
 * paths, spans and pairs); on an error nothing is updated and the message names the example.
 * stats may be NULL. */
int attn_trainer_step(attn_trainer *tr, const attn_example *batch, int n,
                      attn_train_stats *stats, attn_error *err);

/* The gradient of the mean loss of batch[0..n) (dropout as configured, drawn for the current
 * step), without updating anything. *loss receives the mean loss. */
int attn_trainer_grad(attn_trainer *tr, const attn_example *batch, int n, double *loss,
                      attn_error *err);

/* The gradient buffer [m->n_params] (layout of m->params): after attn_trainer_grad the batch
 * gradient; after attn_trainer_step the gradient AdamW used (clipped). Valid until the next
 * call. */
const float *attn_trainer_grads(const attn_trainer *tr);

/* Training-mode forward of one sequence (dropout drawn for the current step, example 0):
 * h[T, D] = the encoder output. With all rates 0 it equals attn_encode's output exactly. */
int attn_trainer_encode(attn_trainer *tr, const uint32_t *rows, int T, float *h,
                        attn_error *err);

/* Learning rate of step s (0-based) under the schedule. */
double attn_trainer_lr(const attn_trainer *tr, int step);
int attn_trainer_steps_done(const attn_trainer *tr);

/* rtd: the pool of replacements the steps draw from (rtd.h; finished, outliving the
 * trainer's use of it). Examples of task rtd are refused without one. */
typedef struct attn_rtd_pool attn_rtd_pool;
void attn_trainer_set_rtd_pool(attn_trainer *tr, const attn_rtd_pool *pool);

/* Continues a run from a checkpoint: the schedule goes on from step `step` (the learning rate
 * of attn_trainer_lr(step), the same draws as the uninterrupted run's step), while the AdamW
 * moments start again from zero (they are not stored: see README, "Pretraining") with their
 * bias correction counted from this call, and the learning rate is scaled by
 * (k + 1) / rewarm_steps over the first rewarm_steps steps k after it (a short re-warm-up
 * while the second moments fill). Call before the first step. ATTN_EINVAL for negatives. */
int attn_trainer_resume(attn_trainer *tr, int step, int rewarm_steps, attn_error *err);

/* 1 if AdamW decays the tensor with this key and number of dimensions (see above). */
int attn_train_decays(const char *key, int ndim);

#endif
