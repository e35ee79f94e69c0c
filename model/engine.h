/* engine.h: the engine as ext/ (the SQLite binding) sees it: the whole contract, in one place.
 *
 * ext/ includes this header and no other of model/. What it offers, by header:
 *   model.h        a model: config, tensors, loading from rows, copies, storage dtypes
 *   pipeline.h     inference sessions: classify, entities, relations, limits, stop callback
 *                  (and through it tokenizer.h: attn_text_script, which picks a default model)
 *   train_data.h   datasets of annotated texts     fit.h        the epoch loop (attn_train)
 *   train_eval.h   evaluation (attn_eval)           mlm.h        mlm targets of a dataset
 *   pretrain.h     pretraining (task rtd, rtd.h) on a stream of text files, resumable
 *   wordvec.h      word vectors: training runs, into a model, vocabulary of text files
 *   calibrate.h    temperature scaling (attn_calibrate)
 *   conll.h        CoNLL files as rows              detok.h      detokenisation
 *   json.h         the JSON parser (SQL arguments given as JSON)
 *   threadpool.h   the thread pool of the bulk path (attn_*_each)
 *   sha256.h       fingerprints of model rows
 *   common.h       (through all of them) errors, limits and the shared helpers: array growth
 *                  (ext/'s sqlite_grow is attn_grow_with), argmax, splitmix64, the clock
 * and, below, what ext/ needs of the engine's internals (kernels, BLAS, the encoder's packed
 * weights), wrapped. Tensor specs, offsets and config serialisation stay in model/: ext/
 * writes a model through attn_model_stored_tensor, copies an encoder with
 * attn_model_copy_encoder and compares or prints features with attn_features_equal/_json.
 *
 * The engine never includes sqlite3.h; ext/ never does arithmetic on tensors. */
#ifndef ATTN_ENGINE_H
#define ATTN_ENGINE_H

#include "calibrate.h"
#include "conll.h"
#include "detok.h"
#include "fit.h"
#include "json.h"
#include "mlm.h"
#include "model.h"
#include "pipeline.h"
#include "pretrain.h"
#include "sha256.h"
#include "threadpool.h"
#include "tokenizer.h"
#include "train_data.h"
#include "train_eval.h"
#include "wordvec.h"

/* Once per process, before any model runs: OpenBLAS runs blas_threads threads (with 1 its own
 * pool is shut down: blas_threads.h) and the SIMD kernels are chosen (kernels.h), so neither
 * happens inside a query. */
void attn_engine_init(int blas_threads);

/* What attn_debug() reports of the engine; the strings are static. */
typedef struct attn_engine_info {
    const char *simd;           /* the fp32 kernel table in use (kernels.h; ATTN_SIMD) */
    const char *cpu_features;   /* what the CPU offers */
    const char *int8;           /* the int8 kernel table in use (qgemm.h; ATTN_Q8) */
    const char *blas_config;    /* OpenBLAS's build configuration */
    const char *blas_core;      /* the core OpenBLAS picked */
    int blas_threads;
} attn_engine_info;
void attn_engine_get_info(attn_engine_info *out);

/* The inference copy of a loaded model's weights in GEMM panels (encoder.h:
 * attn_encoder_prepare): once, after loading, before the model is shared between threads.
 * ATTN_ENOMEM. */
int attn_engine_prepare_model(attn_model *m, attn_error *err);

#endif
