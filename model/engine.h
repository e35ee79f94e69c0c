/* engine.h: the engine as ext/ (the SQLite binding) sees it: the whole contract, in one place.
 *
 * ext/ includes this header and no other of model/. What it offers, by header:
 *   model.h        a model: config, tensors, loading from rows, copies, storage dtypes
 *   pipeline.h     inference sessions: classify, entities, relations, limits, stop callback
 *   train_data.h   datasets of annotated texts     fit.h        the epoch loop (attn_train)
 *   train_eval.h   evaluation (attn_eval)           mlm.h        mlm targets of a dataset
 *   wordvec.h      word vectors into a model, vocabulary of text files
 *   calibrate.h    temperature scaling (attn_calibrate)
 *   conll.h        CoNLL files as rows              detok.h      detokenisation
 *   json.h         the JSON parser (SQL arguments given as JSON)
 *   threadpool.h   the thread pool of the bulk path (attn_*_each)
 *   sha256.h       fingerprints of model rows
 * and, below, what ext/ needs of the engine's internals (kernels, BLAS, encoder layout),
 * wrapped so that ext/ never walks tensor specs or offsets itself.
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
#include "sha256.h"
#include "threadpool.h"
#include "train_data.h"
#include "train_eval.h"
#include "wordvec.h"

#endif
