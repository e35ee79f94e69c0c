/* wordvec.h: word vectors learned from unlabelled text, as an embedding table of the model.
 *
 * fastText-style skip-gram with subword n-grams (Bojanowski et al. 2017) and negative sampling
 * (Mikolov et al. 2013). Each token is represented as subword.h says: the mean of the hashed
 * rows of its word and character n-grams in one input table [n_buckets, dim]. That table is
 * the result: the model loads it as the "subword" embedding table (same hash, same rows).
 *
 * Training, per document line: tokens (attn_tokenize) -> norms (attn_token_norm) -> ids of
 * words seen >= min_count times (others are dropped, as fastText does); each training pass
 * drops frequent words at random (keep probability sqrt(t/f) + t/f, f = word frequency);
 * for each kept word w and each context word c within a random window 1..window on each side
 * (not crossing the line), the input vector h = mean(rows(w)) is trained to score c against
 * `negatives` words drawn from the unigram^0.75 distribution (a table of word ids), with the
 * logistic loss; the gradient wrt h is added to every row of w (fastText's skip-gram update).
 * One shortcut: h is computed once per centre word; after each context word h += its step
 * (what recomputing the mean gives once the step is added to each row), and the summed step
 * is added to the rows once, after the window. fastText adds it after each context word; the
 * two agree in exact arithmetic when a word's rows are distinct, with ~3x less row traffic.
 * The learning rate decays linearly from lr to 0 over epochs * tokens. Output vectors (one per
 * vocabulary word, [n_vocab, dim]) start at 0; input rows at uniform(-1/dim, 1/dim).
 *
 * Units: the skip-gram's "words" are the corpus's tokens (ATTN_WORDVEC_WORDS, the default) or
 * the pairs of consecutive tokens of a line (ATTN_WORDVEC_BIGRAMS): the unit of tokens a and b
 * is the concatenation of their norms, which is what a model's bigram_left / bigram_right
 * features hash (features.h: attn_bigram_row), so bigram vectors fill those tables
 * (attn_init_bigrams_from_wordvec) as word vectors fill the norm table. A unit's n-grams are
 * those of the concatenation. Character models of Chinese lean on bigrams (a character
 * bigram is often a word): pretrained bigram vectors are what the literature's character
 * taggers start from (Zhang and Yang 2018).
 *
 * Threads: Hogwild (Recht et al. 2011), on the thread pool (threadpool.h). The documents are
 * split into `threads` contiguous shards of about equal token counts; each thread trains its
 * shard for all epochs with its own RNG (seed, thread index), updating the shared tables
 * without locks. With threads = 1 the result is a pure function of (corpus, params, kernel
 * table in use): the same bits every run. With threads > 1 it is not: the interleaving of
 * unlocked updates and the shared learning-rate clock depend on timing (quality is the same,
 * the bits differ).
 *
 * The engine never includes sqlite3.h; files are read with stdio. */
#ifndef ATTN_WORDVEC_H
#define ATTN_WORDVEC_H

#include "common.h"
#include "model.h"

#define ATTN_WORDVEC_MAGIC "ATWV"
#define ATTN_WORDVEC_VERSION 2u          /* 2 added the unit; version 1 files are of words */
#define ATTN_WORDVEC_HEADER_BYTES 28u
#define ATTN_WORDVEC_HEADER_BYTES_V1 24u
#define ATTN_WORDVEC_MAX_THREADS 64     /* = ATTN_THREADPOOL_MAX_THREADS: one pool runs them */
#define ATTN_WORDVEC_MAX_WINDOW 64
#define ATTN_WORDVEC_MAX_NEGATIVES 64
#define ATTN_WORDVEC_MAX_EPOCHS 1000
#define ATTN_WORDVEC_MAX_TYPES ((size_t)1 << 30)   /* distinct norms in one corpus */
#define ATTN_WORDVEC_STOP_LINES 4096    /* lines read between two questions to a stop callback */

/* What the skip-gram's words are (see above); the values are part of the file format. */
typedef enum attn_wordvec_unit { ATTN_WORDVEC_WORDS = 0, ATTN_WORDVEC_BIGRAMS = 1 } attn_wordvec_unit;

typedef struct attn_wordvec_params {
    uint32_t dim;        /* vector width, default 100 */
    uint32_t n_buckets;  /* rows of the table, default 2,000,000 */
    int min_n, max_n;    /* n-gram lengths in characters, default 3..6 */
    int window;          /* max context distance on each side, default 5 */
    int negatives;       /* negative samples per context word, default 5 */
    int epochs;          /* default 5 */
    uint64_t min_count;  /* words seen fewer times are dropped, default 3 */
    int threads;         /* default 2 */
    float lr;            /* initial learning rate, default 0.05 */
    double subsample;    /* t of the frequent-word subsampling, default 1e-4; 0 keeps all */
    uint64_t seed;       /* default 1 */
    int verbose;         /* progress lines on stderr when non-zero, default 0 */
} attn_wordvec_params;

/* The table: row r = table[r * dim .. (r + 1) * dim). */
typedef struct attn_wordvec {
    uint32_t n_buckets, dim;
    int min_n, max_n;
    float *table;        /* [n_buckets, dim], owned (malloc) */
    attn_wordvec_unit unit;   /* what the rows were trained on: the corpus's unit */
} attn_wordvec;

typedef struct attn_wordvec_stats {
    uint64_t corpus_tokens;   /* tokens read */
    uint64_t corpus_types;    /* distinct norms read */
    uint64_t vocab_words;     /* norms kept (count >= min_count) */
    uint64_t train_tokens;    /* tokens of kept words, one epoch */
    uint64_t processed;       /* tokens gone through, all epochs (before subsampling) */
    double seconds;           /* wall time of the training passes */
    double words_per_second;  /* processed / seconds */
    double final_loss;        /* mean logistic loss per sample (positive or negative) in the
                               * last epoch, all threads */
} attn_wordvec_stats;

void attn_wordvec_default_params(attn_wordvec_params *p);
/* ATTN_OK, or ATTN_EINVAL naming the first bad field. */
int attn_wordvec_check_params(const attn_wordvec_params *p, attn_error *err);

/* ---- corpus: the tokenised text, as word ids per document, plus word counts ---- */

typedef struct attn_wordvec_corpus attn_wordvec_corpus;

/* A corpus of the given unit (words or bigrams: every line's units are made as it is added).
 * Returns NULL when out of memory. */
attn_wordvec_corpus *attn_wordvec_corpus_new(attn_wordvec_unit unit);
void attn_wordvec_corpus_free(attn_wordvec_corpus *c);
/* Adds text whose lines ('\n'; a '\r' before it is whitespace anyway) are documents. Empty
 * lines are skipped. Errors: ATTN_ENOMEM, ATTN_ELIMIT (a line over ATTN_MAX_TEXT_BYTES, or
 * more than ATTN_WORDVEC_MAX_TYPES distinct norms). */
int attn_wordvec_corpus_add_text(attn_wordvec_corpus *c, const char *text, size_t n_bytes,
                                 attn_error *err);
/* The same for a whole UTF-8 file, a line at a time. stop (may be NULL) is asked every
 * ATTN_WORDVEC_STOP_LINES lines; when it says stop, ATTN_ESTOPPED (the lines read so far stay
 * in the corpus). ATTN_EINVAL when the file cannot be opened ("cannot open 'path'", "'path' is
 * not a regular file": attn_fopen_regular) or read ("cannot read 'path'"). */
int attn_wordvec_corpus_add_file(attn_wordvec_corpus *c, const char *path, attn_stop_cb stop,
                                 void *stop_user, attn_error *err);
uint64_t attn_wordvec_corpus_tokens(const attn_wordvec_corpus *c);
uint64_t attn_wordvec_corpus_types(const attn_wordvec_corpus *c);
/* Occurrences of the norm of token[0..n_bytes) (0 when never seen); in a corpus of bigrams,
 * token is one unit: the two norms back to back. */
uint64_t attn_wordvec_corpus_count(const attn_wordvec_corpus *c, const char *token,
                                   size_t n_bytes);
/* Writes "norm\tcount\n" for every norm seen >= min_count times, most frequent first (ties:
 * first seen first). Norms never contain whitespace. ATTN_EINVAL when the file fails. */
int attn_wordvec_corpus_write_vocab(const attn_wordvec_corpus *c, const char *path,
                                    uint64_t min_count, attn_error *err);

/* ---- training ---- */

/* Trains on the corpus and fills *out (caller frees with attn_wordvec_free); stats may be
 * NULL. Errors: ATTN_EINVAL (bad params; no word seen min_count times), ATTN_ENOMEM,
 * ATTN_ELIMIT (n_buckets * dim > ATTN_MAX_PARAMS). On error *out is left empty. */
int attn_wordvec_train(const attn_wordvec_corpus *c, const attn_wordvec_params *p,
                       attn_wordvec *out, attn_wordvec_stats *stats, attn_error *err);

void attn_wordvec_free(attn_wordvec *wv);

/* The same training as a run on background threads (threads = 1: one thread, the same bits as
 * attn_wordvec_train) that the caller watches and may stop: start it, call attn_wordvec_wait
 * until it says the run has ended, then attn_wordvec_finish; or attn_wordvec_cancel at any
 * time. attn_wordvec_train is exactly that loop. The corpus is not used after start returns. */
typedef struct attn_wordvec_run attn_wordvec_run;

typedef struct attn_wordvec_progress {
    uint64_t processed;       /* tokens gone through so far, all epochs (before subsampling) */
    uint64_t total;           /* epochs * training tokens: processed at the end */
    double loss;              /* mean logistic loss per sample in each worker's current epoch
                               * so far (updated every few thousand tokens); 0 before any */
    double seconds;           /* since the start */
} attn_wordvec_progress;

/* Builds the vocabulary and tables and starts the threads. Errors as attn_wordvec_train. */
int attn_wordvec_start(const attn_wordvec_corpus *c, const attn_wordvec_params *p,
                       attn_wordvec_run **out, attn_error *err);
/* Waits up to `seconds` (0: not at all) for the run to end; fills *progress (may be NULL).
 * Returns 1 once every thread has ended, else 0. */
int attn_wordvec_wait(attn_wordvec_run *r, double seconds, attn_wordvec_progress *progress);
/* Waits for the end, fills *out (caller frees with attn_wordvec_free) and stats (may be NULL),
 * frees r. ATTN_OK. */
int attn_wordvec_finish(attn_wordvec_run *r, attn_wordvec *out, attn_wordvec_stats *stats);
/* Stops the threads (each within the document it is on), discards the tables and frees r.
 * NULL is a no-op. */
void attn_wordvec_cancel(attn_wordvec_run *r);

/* vec[0..dim) = mean of the table rows of token[0..n_bytes) (raw UTF-8, normalised here). */
void attn_wordvec_token_vector(const attn_wordvec *wv, const char *token, size_t n_bytes,
                               float *vec);

/* ---- file format (all integers little-endian uint32, floats little-endian IEEE binary32):
 *   "ATWV" | version (2) | n_buckets | dim | min_n | max_n | unit | table [n_buckets * dim]
 * Rows are those of subword.h (ATTN_FEATURE_HASH_SEED, tag 'S'). Version 1 files (no unit
 * field, 24-byte header) are read as of words. ---- */

/* ATTN_EINVAL when the file cannot be written. */
int attn_wordvec_save(const attn_wordvec *wv, const char *path, attn_error *err);
/* Reads and validates everything: magic, version, sizes within limits (n_buckets 1..
 * ATTN_MAX_BUCKETS, dim 1..ATTN_MAX_DIM, n-gram lengths as attn_subword_check, n_buckets * dim
 * <= ATTN_MAX_PARAMS), exact file length (no truncation, no trailing bytes), every value finite.
 * Errors: ATTN_EINVAL (cannot open/read), ATTN_EMODEL (invalid content), ATTN_ELIMIT,
 * ATTN_ENOMEM. On error *out is left empty. */
int attn_wordvec_load(const char *path, attn_wordvec *out, attn_error *err);

/* ---- word vectors into a model, and the vocabulary of text files ---- */

/* Pretrained word vectors (wordvec.h) into a model's "norm" feature table: every word of the
 * vocabulary words[0..n) (most frequent first) gets, in the norm bucket it hashes to, the mean
 * of its subword rows in wv, unless a more frequent word already took that bucket; if the
 * table width differs from wv->dim, fails with ATTN_EINVAL. Buckets no word reaches keep their
 * values. Returns the number of buckets set in *n_set. */
int attn_init_norm_from_wordvec(attn_model *m, const struct attn_wordvec *wv,
                                const char *const *words, size_t n_words, size_t *n_set,
                                attn_error *err);

/* Pretrained word vectors (wordvec.h) as the model's "subword" feature table: the table is
 * copied as is (same hash, same rows: subword.h). The feature must have the vectors' buckets,
 * dim, min_n and max_n; otherwise ATTN_EINVAL naming the mismatch, e.g.
 *   "the 'subword' feature has 5000 buckets, the word vectors 2000000"
 *   "the 'subword' table is 64 wide, the word vectors 100"
 *   "the 'subword' feature uses n-grams 3..6, the word vectors 2..5"
 *   "the model has no 'subword' feature". */
int attn_init_subword_from_wordvec(attn_model *m, const struct attn_wordvec *wv,
                                   attn_error *err);
/* Both take word vectors only: vectors of bigrams fail with ATTN_EINVAL ("the vectors are of
 * character bigrams ..."). */

/* Pretrained bigram vectors (unit ATTN_WORDVEC_BIGRAMS) into the model's bigram_left and
 * bigram_right tables: every bigram of the vocabulary bigrams[0..n) (units: two norms back to
 * back, most frequent first, from attn_vocab_from_files with ATTN_WORDVEC_BIGRAMS) gets, in
 * the row each table hashes it to (attn_bigram_row), the mean of its subword rows in wv, unless
 * a more frequent bigram already took that row. Every bigram table must be wv->dim wide.
 * ATTN_EINVAL: vectors of words, no bigram feature, a width that differs. *n_set: rows set,
 * summed over the tables. */
int attn_init_bigrams_from_wordvec(attn_model *m, const struct attn_wordvec *wv,
                                   const char *const *bigrams, size_t n_bigrams, size_t *n_set,
                                   attn_error *err);

/* The vocabulary of text files for attn_init_norm_from_wordvec (unit ATTN_WORDVEC_WORDS) or
 * attn_init_bigrams_from_wordvec (ATTN_WORDVEC_BIGRAMS): every line is tokenized
 * (attn_tokenize), every token normalised (attn_token_norm); units seen >= min_count times,
 * most frequent first, ties by bytes (memcmp order, a prefix first). *words is ONE malloc'd
 * block holding the pointer array (NULL-terminated) and the strings: free(*words) frees all.
 * Errors: ATTN_EINVAL (a file cannot be opened or read), ATTN_ENOMEM. */
int attn_vocab_from_files(const char *const *paths, int n_paths, attn_wordvec_unit unit,
                          uint64_t min_count, char ***words, size_t *n_words, attn_error *err);

#endif
