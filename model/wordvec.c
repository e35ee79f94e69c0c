/* wordvec.c: skip-gram with subword n-grams and negative sampling, word vectors into a
 * model's norm and subword tables, and the vocabulary of text files (see wordvec.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1   /* qsort_r, getline */
#endif
#include "wordvec.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "features.h"
#include "kernels.h"
#include "subword.h"
#include "threadpool.h"
#include "tokenizer.h"

#define TYPE_HASH_SEED 0x766f636162756c61ull   /* "vocabula": corpus hash table only */
#define NEG_TABLE_PER_WORD 1000                 /* unigram table entries per word, at most */
#define NEG_TABLE_MAX 10000000                  /* ... and in all (fastText's size) */
#define NEG_POWER 0.75
#define NEG_RETRIES 16                          /* redraws when the target itself is drawn */
#define LR_UPDATE_TOKENS 10000                  /* tokens between learning-rate updates */
#define PROGRESS_SECONDS 5.0
#define LOSS_EPS 1e-7f
#define NO_WORD UINT32_MAX

_Static_assert(ATTN_WORDVEC_MAX_THREADS <= ATTN_THREADPOOL_MAX_THREADS,
               "one thread pool runs the word-vector threads");

/* ================================================================ params */

void attn_wordvec_default_params(attn_wordvec_params *p) {
    memset(p, 0, sizeof *p);
    p->dim = 100;
    p->n_buckets = 2000000;
    p->min_n = ATTN_SUBWORD_DEFAULT_MIN_N;
    p->max_n = ATTN_SUBWORD_DEFAULT_MAX_N;
    p->window = 5;
    p->negatives = 5;
    p->epochs = 5;
    p->min_count = 3;
    p->threads = 2;
    p->lr = 0.05f;
    p->subsample = 1e-4;
    p->seed = 1;
}

int attn_wordvec_check_params(const attn_wordvec_params *p, attn_error *err) {
    if (p->dim < 1 || p->dim > ATTN_MAX_DIM)
        return attn_fail(err, ATTN_EINVAL, "wordvec dim must be 1..%d (got %u)", ATTN_MAX_DIM, p->dim);
    int rc = attn_subword_check(p->min_n, p->max_n, p->n_buckets, err);
    if (rc != ATTN_OK) return rc;
    if (p->window < 1 || p->window > ATTN_WORDVEC_MAX_WINDOW)
        return attn_fail(err, ATTN_EINVAL, "wordvec window must be 1..%d (got %d)",
                         ATTN_WORDVEC_MAX_WINDOW, p->window);
    if (p->negatives < 1 || p->negatives > ATTN_WORDVEC_MAX_NEGATIVES)
        return attn_fail(err, ATTN_EINVAL, "wordvec negatives must be 1..%d (got %d)",
                         ATTN_WORDVEC_MAX_NEGATIVES, p->negatives);
    if (p->epochs < 1 || p->epochs > ATTN_WORDVEC_MAX_EPOCHS)
        return attn_fail(err, ATTN_EINVAL, "wordvec epochs must be 1..%d (got %d)",
                         ATTN_WORDVEC_MAX_EPOCHS, p->epochs);
    if (p->min_count < 1)
        return attn_fail(err, ATTN_EINVAL, "wordvec min_count must be >= 1");
    if (p->threads < 1 || p->threads > ATTN_WORDVEC_MAX_THREADS)
        return attn_fail(err, ATTN_EINVAL, "wordvec threads must be 1..%d (got %d)",
                         ATTN_WORDVEC_MAX_THREADS, p->threads);
    if (!(p->lr > 0.0f && p->lr <= 10.0f))
        return attn_fail(err, ATTN_EINVAL, "wordvec lr must be in (0, 10] (got %g)", (double)p->lr);
    if (!(p->subsample >= 0.0 && p->subsample <= 1.0))
        return attn_fail(err, ATTN_EINVAL, "wordvec subsample must be in [0, 1] (got %g)", p->subsample);
    return ATTN_OK;
}

/* ================================================================ small helpers */


/* ================================================================ corpus */

typedef struct type_entry {
    uint64_t hash, count;
    size_t offset;        /* into strings */
    uint32_t len;         /* bytes */
} type_entry;

struct attn_wordvec_corpus {
    char *strings;        /* every distinct norm, back to back, no NUL */
    size_t strings_len, strings_cap;
    type_entry *types;    /* [n_types], in first-seen order: the type id is the index */
    size_t n_types, types_cap;
    uint32_t *slots;      /* [n_slots] open-addressing table: type id + 1, 0 = empty */
    size_t n_slots;
    uint32_t *tokens;     /* [n_tokens] type ids, documents back to back */
    size_t n_tokens, tokens_cap;
    size_t *doc_end;      /* [n_docs]: document d is tokens[doc_end[d-1] .. doc_end[d]) */
    size_t n_docs, docs_cap;
    attn_tokens scratch;
    attn_wordvec_unit unit;
};

attn_wordvec_corpus *attn_wordvec_corpus_new(attn_wordvec_unit unit) {
    attn_wordvec_corpus *c = calloc(1, sizeof(attn_wordvec_corpus));
    if (c) c->unit = unit;
    return c;
}

void attn_wordvec_corpus_free(attn_wordvec_corpus *c) {
    if (!c) return;
    free(c->strings);
    free(c->types);
    free(c->slots);
    free(c->tokens);
    free(c->doc_end);
    attn_tokens_free(&c->scratch);
    free(c);
}

uint64_t attn_wordvec_corpus_tokens(const attn_wordvec_corpus *c) { return c->n_tokens; }
uint64_t attn_wordvec_corpus_types(const attn_wordvec_corpus *c) { return c->n_types; }

/* Slot of norm in the table: either holding its type or the empty slot where it belongs. */
static size_t find_slot(const attn_wordvec_corpus *c, const char *norm, size_t len, uint64_t hash) {
    size_t mask = c->n_slots - 1;
    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        uint32_t s = c->slots[i];
        if (s == 0) return i;
        const type_entry *t = &c->types[s - 1];
        if (t->hash == hash && t->len == len && memcmp(c->strings + t->offset, norm, len) == 0)
            return i;
    }
}

static int rehash(attn_wordvec_corpus *c, size_t n_slots) {
    uint32_t *slots = calloc(n_slots, sizeof *slots);
    if (!slots) return ATTN_ENOMEM;
    free(c->slots);
    c->slots = slots;
    c->n_slots = n_slots;
    for (size_t id = 0; id < c->n_types; id++) {
        const type_entry *t = &c->types[id];
        c->slots[find_slot(c, c->strings + t->offset, t->len, t->hash)] = (uint32_t)(id + 1);
    }
    return ATTN_OK;
}

/* Type id of norm, adding it (count 0) when new. */
static int intern(attn_wordvec_corpus *c, const char *norm, size_t len, uint32_t *id, attn_error *err) {
    if (2 * (c->n_types + 1) > c->n_slots && rehash(c, c->n_slots ? 2 * c->n_slots : 1024) != ATTN_OK)
        return attn_fail(err, ATTN_ENOMEM, "out of memory (wordvec vocabulary)");
    uint64_t hash = attn_hash64(TYPE_HASH_SEED, norm, len);
    size_t slot = find_slot(c, norm, len, hash);
    if (c->slots[slot]) { *id = c->slots[slot] - 1; return ATTN_OK; }
    if (c->n_types >= ATTN_WORDVEC_MAX_TYPES)
        return attn_fail(err, ATTN_ELIMIT, "wordvec corpus has more than %zu distinct words",
                         (size_t)ATTN_WORDVEC_MAX_TYPES);
    if (attn_grow((void **)&c->types, &c->types_cap, c->n_types + 1, sizeof *c->types) != ATTN_OK ||
        attn_grow((void **)&c->strings, &c->strings_cap, c->strings_len + len, 1) != ATTN_OK)
        return attn_fail(err, ATTN_ENOMEM, "out of memory (wordvec vocabulary)");
    memcpy(c->strings + c->strings_len, norm, len);
    c->types[c->n_types] = (type_entry){hash, 0, c->strings_len, (uint32_t)len};
    c->strings_len += len;
    c->slots[slot] = (uint32_t)(c->n_types + 1);
    *id = (uint32_t)c->n_types++;
    return ATTN_OK;
}

/* Tokenises one line into c->scratch and calls fn with the type id of each of its units, in
 * order: its tokens' norms (empty norms skipped when skip_empty), or, in a corpus of bigrams,
 * the norms of every two consecutive tokens back to back (the bytes a bigram feature hashes). */
typedef int (*unit_fn)(attn_wordvec_corpus *c, uint32_t id, attn_error *err);
static int each_unit(attn_wordvec_corpus *c, const char *line, size_t n_bytes, int skip_empty,
                     unit_fn fn, attn_error *err) {
    int rc = attn_tokenize(line, n_bytes, &c->scratch, err);
    char pair[2 * ATTN_MAX_NORM_BYTES + 1];   /* the previous norm, then this one */
    size_t prev_len = 0;
    for (size_t i = 0; rc == ATTN_OK && i < c->scratch.n; i++) {
        const attn_token *t = &c->scratch.tok[i];
        char *norm = c->unit == ATTN_WORDVEC_BIGRAMS ? pair + prev_len : pair;
        const size_t len = attn_token_norm(line + t->byte_start, t->byte_end - t->byte_start,
                                           norm, ATTN_MAX_NORM_BYTES + 1);
        uint32_t id = 0;
        if (c->unit == ATTN_WORDVEC_BIGRAMS) {
            if (i > 0 && (rc = intern(c, pair, prev_len + len, &id, err)) == ATTN_OK)
                rc = fn(c, id, err);
            memmove(pair, norm, len);
            prev_len = len;
        } else if (len || !skip_empty) {
            if ((rc = intern(c, pair, len, &id, err)) == ATTN_OK) rc = fn(c, id, err);
        }
    }
    return rc;
}

static int append_unit(attn_wordvec_corpus *c, uint32_t id, attn_error *err) {
    if (attn_grow((void **)&c->tokens, &c->tokens_cap, c->n_tokens + 1, sizeof *c->tokens) != ATTN_OK)
        return attn_fail(err, ATTN_ENOMEM, "out of memory (wordvec corpus)");
    c->types[id].count++;
    c->tokens[c->n_tokens++] = id;
    return ATTN_OK;
}

/* Tokenises one document line and appends the type ids of its units. */
static int add_line(attn_wordvec_corpus *c, const char *line, size_t n_bytes, attn_error *err) {
    const size_t start = c->n_tokens;
    int rc = each_unit(c, line, n_bytes, 0, append_unit, err);
    if (rc != ATTN_OK || c->n_tokens == start) return rc;
    if (attn_grow((void **)&c->doc_end, &c->docs_cap, c->n_docs + 1, sizeof *c->doc_end) != ATTN_OK)
        return attn_fail(err, ATTN_ENOMEM, "out of memory (wordvec corpus)");
    c->doc_end[c->n_docs++] = c->n_tokens;
    return ATTN_OK;
}

int attn_wordvec_corpus_add_text(attn_wordvec_corpus *c, const char *text, size_t n_bytes,
                                 attn_error *err) {
    size_t pos = 0;
    while (pos < n_bytes) {
        const char *nl = memchr(text + pos, '\n', n_bytes - pos);
        size_t end = nl ? (size_t)(nl - text) : n_bytes;
        int rc = add_line(c, text + pos, end - pos, err);
        if (rc != ATTN_OK) return rc;
        pos = end + 1;
    }
    return ATTN_OK;
}

/* Calls fn on each line of the file at path (with its '\n'); asks stop (when non-NULL) every
 * ATTN_WORDVEC_STOP_LINES lines. The one reader of text files here. */
typedef int (*line_fn)(attn_wordvec_corpus *c, const char *line, size_t n_bytes, attn_error *err);
static int for_each_line(attn_wordvec_corpus *c, const char *path, line_fn fn, attn_stop_cb stop,
                         void *stop_user, attn_error *err) {
    FILE *f = attn_fopen_regular(path, err);
    if (!f) return ATTN_EINVAL;
    char *line = NULL;
    size_t cap = 0, n_lines = 0;
    ssize_t len;
    int rc = ATTN_OK;
    while (rc == ATTN_OK && (len = getline(&line, &cap, f)) >= 0) {
        rc = fn(c, line, (size_t)len, err);
        if (rc == ATTN_OK && stop && ++n_lines % ATTN_WORDVEC_STOP_LINES == 0 && stop(stop_user))
            rc = attn_fail(err, ATTN_ESTOPPED, "stopped while reading '%s'", path);
    }
    if (rc == ATTN_OK && ferror(f)) rc = attn_fail(err, ATTN_EINVAL, "cannot read '%s'", path);
    free(line);
    fclose(f);
    return rc;
}

int attn_wordvec_corpus_add_file(attn_wordvec_corpus *c, const char *path, attn_stop_cb stop,
                                 void *stop_user, attn_error *err) {
    return for_each_line(c, path, attn_wordvec_corpus_add_text, stop, stop_user, err);
}

uint64_t attn_wordvec_corpus_count(const attn_wordvec_corpus *c, const char *token, size_t n_bytes) {
    if (c->n_slots == 0) return 0;
    char buf[ATTN_MAX_NORM_BYTES + 1];
    const char *norm = token;
    size_t len = n_bytes;
    if (c->unit == ATTN_WORDVEC_WORDS) {
        len = attn_token_norm(token, n_bytes, buf, sizeof buf);
        norm = buf;
    }
    size_t slot = find_slot(c, norm, len, attn_hash64(TYPE_HASH_SEED, norm, len));
    return c->slots[slot] ? c->types[c->slots[slot] - 1].count : 0;
}

/* ================================================================ vocabulary */

typedef struct ranked { uint64_t count; uint32_t type; } ranked;

static int by_count_desc(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return x->type < y->type ? -1 : x->type > y->type;
}

/* Types seen >= min_count times, most frequent first (ties: first seen first). Sets *n. */
static ranked *rank_types(const attn_wordvec_corpus *c, uint64_t min_count, size_t *n) {
    ranked *r = malloc((c->n_types ? c->n_types : 1) * sizeof *r);
    if (!r) return NULL;
    *n = 0;
    for (size_t t = 0; t < c->n_types; t++)
        if (c->types[t].count >= min_count) r[(*n)++] = (ranked){c->types[t].count, (uint32_t)t};
    qsort(r, *n, sizeof *r, by_count_desc);
    return r;
}

int attn_wordvec_corpus_write_vocab(const attn_wordvec_corpus *c, const char *path,
                                    uint64_t min_count, attn_error *err) {
    size_t n;
    ranked *r = rank_types(c, min_count, &n);
    if (!r) return attn_fail(err, ATTN_ENOMEM, "out of memory (wordvec vocabulary)");
    FILE *f = fopen(path, "wb");
    if (!f) { free(r); return attn_fail(err, ATTN_EINVAL, "cannot write %s", path); }
    for (size_t i = 0; i < n; i++) {
        const type_entry *t = &c->types[r[i].type];
        fprintf(f, "%.*s\t%llu\n", (int)t->len, c->strings + t->offset, (unsigned long long)t->count);
    }
    free(r);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return attn_fail(err, ATTN_EINVAL, "cannot write %s", path);
    return ATTN_OK;
}

/* What training needs: the kept words, their subword rows, and the documents in word ids. */
typedef struct vocab {
    size_t n_words;
    float *keep_prob;      /* [n_words] probability of keeping an occurrence (subsampling) */
    size_t *row_start;     /* [n_words + 1] word w has rows[row_start[w] .. row_start[w + 1]) */
    uint32_t *rows;
    uint32_t *neg_table;   /* [neg_size] word ids, each ~ count^0.75 times */
    size_t neg_size;
    uint32_t *words;       /* [n_train] corpus in word ids, dropped words removed */
    size_t n_train;
    size_t *doc_end;       /* [n_docs] into words; empty documents removed */
    size_t n_docs, longest_doc;
} vocab;

static void vocab_free(vocab *v) {
    free(v->keep_prob);
    free(v->row_start);
    free(v->rows);
    free(v->neg_table);
    free(v->words);
    free(v->doc_end);
    memset(v, 0, sizeof *v);
}

static int build_rows(vocab *v, const attn_wordvec_corpus *c, const ranked *r, const attn_wordvec_params *p) {
    size_t cap = 0, n = 0;
    uint32_t buf[ATTN_SUBWORD_MAX_ROWS];
    v->row_start = malloc((v->n_words + 1) * sizeof *v->row_start);
    if (!v->row_start) return ATTN_ENOMEM;
    for (size_t w = 0; w < v->n_words; w++) {
        const type_entry *t = &c->types[r[w].type];
        size_t k = attn_subword_rows_of_norm(c->strings + t->offset, t->len, p->min_n, p->max_n,
                                             p->n_buckets, buf, ATTN_SUBWORD_MAX_ROWS);
        if (attn_grow((void **)&v->rows, &cap, n + k, sizeof *v->rows) != ATTN_OK) return ATTN_ENOMEM;
        v->row_start[w] = n;
        memcpy(v->rows + n, buf, k * sizeof *buf);
        n += k;
    }
    v->row_start[v->n_words] = n;
    return ATTN_OK;
}

/* fastText's table: word w fills ceil(count^0.75 / z * size) entries, then the table is
 * shuffled (seeded) so that workers can read it sequentially from a random start: a
 * cache-friendly stream of draws instead of one cache miss per draw. */
static int build_neg_table(vocab *v, const ranked *r, uint64_t seed) {
    double z = 0.0;
    for (size_t w = 0; w < v->n_words; w++) z += pow((double)r[w].count, NEG_POWER);
    double size = (double)(v->n_words > NEG_TABLE_MAX / NEG_TABLE_PER_WORD ? NEG_TABLE_MAX
                                                                           : v->n_words * NEG_TABLE_PER_WORD);
    v->neg_table = malloc(((size_t)size + v->n_words) * sizeof *v->neg_table);
    if (!v->neg_table) return ATTN_ENOMEM;
    size_t n = 0;
    for (size_t w = 0; w < v->n_words; w++) {
        double share = pow((double)r[w].count, NEG_POWER) / z * size;
        for (size_t j = 0; (double)j < share; j++) v->neg_table[n++] = (uint32_t)w;
    }
    v->neg_size = n;
    uint64_t rng = seed ^ 0x6e65676174697665ull;
    attn_shuffle(v->neg_table, n, sizeof *v->neg_table, &rng);
    return ATTN_OK;
}

static void compute_keep_prob(vocab *v, const ranked *r, double t) {
    for (size_t w = 0; w < v->n_words; w++) {
        double f = (double)r[w].count / (double)v->n_train;
        v->keep_prob[w] = t > 0.0 ? (float)(sqrt(t / f) + t / f) : 1.0f;
    }
}

/* Rewrites the corpus in word ids, dropping types below min_count and emptied documents. */
static int build_documents(vocab *v, const attn_wordvec_corpus *c, const ranked *r) {
    uint32_t *type_to_word = malloc((c->n_types ? c->n_types : 1) * sizeof *type_to_word);
    v->words = malloc((c->n_tokens ? c->n_tokens : 1) * sizeof *v->words);
    v->doc_end = malloc((c->n_docs ? c->n_docs : 1) * sizeof *v->doc_end);
    if (!type_to_word || !v->words || !v->doc_end) { free(type_to_word); return ATTN_ENOMEM; }
    for (size_t t = 0; t < c->n_types; t++) type_to_word[t] = NO_WORD;
    for (size_t w = 0; w < v->n_words; w++) type_to_word[r[w].type] = (uint32_t)w;
    size_t begin = 0, doc_begin = 0;
    for (size_t d = 0; d < c->n_docs; d++) {
        for (size_t i = begin; i < c->doc_end[d]; i++) {
            uint32_t w = type_to_word[c->tokens[i]];
            if (w != NO_WORD) v->words[v->n_train++] = w;
        }
        begin = c->doc_end[d];
        if (v->n_train == doc_begin) continue;
        if (v->n_train - doc_begin > v->longest_doc) v->longest_doc = v->n_train - doc_begin;
        v->doc_end[v->n_docs++] = v->n_train;
        doc_begin = v->n_train;
    }
    free(type_to_word);
    return ATTN_OK;
}

static int build_vocab(vocab *v, const attn_wordvec_corpus *c, const attn_wordvec_params *p, attn_error *err) {
    memset(v, 0, sizeof *v);
    ranked *r = rank_types(c, p->min_count, &v->n_words);
    if (!r) return attn_fail(err, ATTN_ENOMEM, "out of memory (wordvec vocabulary)");
    if (v->n_words == 0) {
        free(r);
        return attn_fail(err, ATTN_EINVAL, "wordvec corpus has no word seen min_count (%llu) times",
                         (unsigned long long)p->min_count);
    }
    int rc = build_documents(v, c, r);
    if (rc == ATTN_OK) rc = build_rows(v, c, r, p);
    if (rc == ATTN_OK) rc = build_neg_table(v, r, p->seed);
    if (rc == ATTN_OK && !(v->keep_prob = malloc(v->n_words * sizeof *v->keep_prob))) rc = ATTN_ENOMEM;
    if (rc == ATTN_OK) compute_keep_prob(v, r, p->subsample);
    free(r);
    if (rc != ATTN_OK) { vocab_free(v); return attn_fail(err, rc, "out of memory (wordvec training data)"); }
    return ATTN_OK;
}

/* ================================================================ training */

typedef struct trainer {
    attn_wordvec_params p;    /* a copy: the run outlives the caller's struct */
    vocab v;
    const attn_kernels *k;
    float *input;             /* [n_buckets, dim] */
    float *output;            /* [n_words, dim] */
    uint64_t total_work;      /* epochs * n_train */
    uint64_t corpus_tokens, corpus_types;
    attn_wordvec_unit unit;   /* the corpus's */
    _Atomic uint64_t processed;
    atomic_int stop;          /* attn_wordvec_cancel: workers leave after their document */
    double start;
    pthread_mutex_t mutex;    /* guards the workers' published losses */
} trainer;

/* The state of one shard: item `index` of the pool's run. */
typedef struct worker {
    trainer *t;
    int index;
    size_t doc_first, doc_last;   /* documents [doc_first, doc_last) */
    uint64_t rng;
    size_t neg_pos;               /* next entry of the negative table */
    float lr;
    uint64_t unflushed;           /* tokens not yet added to t->processed */
    float *hidden, *grad, *center_grad;   /* [dim] each */
    uint32_t *line;               /* [longest_doc] kept words of the current document */
    double loss_sum;              /* this epoch's, this worker's */
    uint64_t loss_n;
    double shown_loss_sum;        /* copies of the two for attn_wordvec_wait (t->mutex) */
    uint64_t shown_loss_n;
} worker;

struct attn_wordvec_run {
    trainer t;
    worker ws[ATTN_WORDVEC_MAX_THREADS];   /* one per thread: shard i is item i */
    attn_threadpool *pool;        /* p.threads threads, running the shards in the background */
};

static float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* One logistic term: scores output[word] against hidden, accumulates d loss/d hidden into
 * grad (as a step, already times lr) and updates output[word]. Returns the loss. */
static float logistic_step(worker *w, uint32_t word, float label) {
    const attn_kernels *k = w->t->k;
    size_t dim = w->t->p.dim;
    float *out = w->t->output + (size_t)word * dim;
    float score = sigmoid(k->dot(w->hidden, out, dim));
    float alpha = w->lr * (label - score);
    k->axpy(w->grad, alpha, out, dim);
    k->axpy(out, alpha, w->hidden, dim);
    return -logf(fmaxf(label > 0.5f ? score : 1.0f - score, LOSS_EPS));
}

static uint32_t draw_negative(worker *w, uint32_t target) {
    const vocab *v = &w->t->v;
    for (int i = 0; i < NEG_RETRIES; i++) {
        uint32_t word = v->neg_table[w->neg_pos];
        w->neg_pos = w->neg_pos + 1 == v->neg_size ? 0 : w->neg_pos + 1;
        if (word != target) return word;
    }
    return NO_WORD;   /* a one-word vocabulary: nothing else to draw */
}

/* Trains hidden (the centre word's vector) to predict target; hidden += grad afterwards,
 * which is what recomputing the mean of the rows would give once grad is added to each. */
static void train_context(worker *w, uint32_t target) {
    const attn_kernels *k = w->t->k;
    size_t dim = w->t->p.dim;
    memset(w->grad, 0, dim * sizeof *w->grad);
    double loss = logistic_step(w, target, 1.0f);
    for (int i = 0; i < w->t->p.negatives; i++) {
        uint32_t neg = draw_negative(w, target);
        if (neg != NO_WORD) loss += logistic_step(w, neg, 0.0f);
    }
    w->loss_sum += loss;
    w->loss_n += 1 + (uint64_t)w->t->p.negatives;
    k->add(w->hidden, w->grad, dim);
    k->add(w->center_grad, w->grad, dim);
}

/* Skip-gram around line[pos]: hidden = mean of its rows, one step per context word, then the
 * summed gradient is added to every row of the centre word. */
static void train_center(worker *w, const uint32_t *line, size_t n, size_t pos) {
    const trainer *t = w->t;
    const attn_kernels *k = t->k;
    size_t dim = t->p.dim;
    const uint32_t *rows = t->v.rows + t->v.row_start[line[pos]];
    size_t n_rows = t->v.row_start[line[pos] + 1] - t->v.row_start[line[pos]];
    memset(w->hidden, 0, dim * sizeof *w->hidden);
    for (size_t r = 0; r < n_rows; r++) k->add(w->hidden, t->input + (size_t)rows[r] * dim, dim);
    k->scale(w->hidden, 1.0f / (float)n_rows, dim);
    memset(w->center_grad, 0, dim * sizeof *w->center_grad);
    size_t span = 1 + (size_t)(attn_splitmix64(&w->rng) % (uint64_t)t->p.window);
    size_t first = pos > span ? pos - span : 0, last = pos + span < n ? pos + span : n - 1;
    for (size_t c = first; c <= last; c++)
        if (c != pos) train_context(w, line[c]);
    for (size_t r = 0; r < n_rows; r++) k->add(t->input + (size_t)rows[r] * dim, w->center_grad, dim);
}

/* Adds this worker's recent tokens to the shared clock, sets the decayed learning rate and
 * shows its loss so far to attn_wordvec_wait. */
static void update_lr(worker *w, uint64_t tokens) {
    w->unflushed += tokens;
    if (w->unflushed < LR_UPDATE_TOKENS) return;
    trainer *t = w->t;
    uint64_t done = atomic_fetch_add(&t->processed, w->unflushed) + w->unflushed;
    w->unflushed = 0;
    double left = 1.0 - (double)done / (double)t->total_work;
    w->lr = t->p.lr * (float)(left > 0.0 ? left : 0.0);
    pthread_mutex_lock(&t->mutex);
    w->shown_loss_sum = w->loss_sum;
    w->shown_loss_n = w->loss_n;
    pthread_mutex_unlock(&t->mutex);
}

static void train_document(worker *w, size_t d) {
    const vocab *v = &w->t->v;
    size_t begin = d ? v->doc_end[d - 1] : 0, end = v->doc_end[d], n = 0;
    for (size_t i = begin; i < end; i++) {
        uint32_t word = v->words[i];
        float keep = v->keep_prob[word];
        if (keep >= 1.0f || attn_uniform01(&w->rng) < keep) w->line[n++] = word;
    }
    for (size_t pos = 0; pos < n; pos++) train_center(w, w->line, n, pos);
    update_lr(w, end - begin);
}

/* attn_threadpool_item_fn: shard `item`, all epochs. */
static int train_shard(void *job, void *scratch, size_t item, attn_error *err) {
    (void)scratch, (void)err;
    worker *w = &((attn_wordvec_run *)job)->ws[item];
    trainer *t = w->t;
    for (int epoch = 0; epoch < t->p.epochs && !atomic_load(&t->stop); epoch++) {
        w->loss_sum = 0.0;   /* the reported loss is the last epoch's */
        w->loss_n = 0;
        for (size_t d = w->doc_first; d < w->doc_last && !atomic_load(&t->stop); d++)
            train_document(w, d);
    }
    atomic_fetch_add(&t->processed, w->unflushed);
    w->unflushed = 0;
    pthread_mutex_lock(&t->mutex);
    w->shown_loss_sum = w->loss_sum;
    w->shown_loss_n = w->loss_n;
    pthread_mutex_unlock(&t->mutex);
    return ATTN_OK;
}

static int worker_init(worker *w, trainer *t, int index) {
    size_t dim = t->p.dim;
    memset(w, 0, sizeof *w);
    w->t = t;
    w->index = index;
    w->rng = t->p.seed ^ (0xd1b54a32d192ed03ull * (uint64_t)(index + 1));
    w->lr = t->p.lr;
    w->neg_pos = (size_t)(attn_splitmix64(&w->rng) % t->v.neg_size);
    w->hidden = malloc(3 * dim * sizeof(float));
    w->line = malloc((t->v.longest_doc ? t->v.longest_doc : 1) * sizeof *w->line);
    if (!w->hidden || !w->line) return ATTN_ENOMEM;
    w->grad = w->hidden + dim;
    w->center_grad = w->grad + dim;
    return ATTN_OK;
}

static void worker_free(worker *w) {
    free(w->hidden);
    free(w->line);
    w->hidden = NULL;
    w->line = NULL;
}

/* Splits the documents into n shards of about equal token counts. */
static void assign_shards(worker *ws, int n, const vocab *v) {
    size_t d = 0;
    for (int i = 0; i < n; i++) {
        ws[i].doc_first = d;
        size_t goal = (size_t)((double)v->n_train * (double)(i + 1) / (double)n);
        while (d < v->n_docs && (i == n - 1 || v->doc_end[d] <= goal)) d++;
        ws[i].doc_last = d;
    }
}

static void init_input(float *input, size_t n, uint32_t dim, uint64_t seed) {
    uint64_t rng = seed;
    float scale = 2.0f / (float)dim, offset = 1.0f / (float)dim;
    for (size_t i = 0; i < n; i++) input[i] = attn_uniform01(&rng) * scale - offset;
}

/* Stops the pool (after the run, if one is under way) and frees everything but what finish
 * hands over. */
static void run_free(attn_wordvec_run *r) {
    trainer *t = &r->t;
    attn_threadpool_free(r->pool);
    for (int i = 0; i < t->p.threads; i++) worker_free(&r->ws[i]);
    pthread_mutex_destroy(&t->mutex);
    free(t->input);
    free(t->output);
    vocab_free(&t->v);
    free(r);
}

/* The tables, the workers and the background run of the shards on the pool (run is zeroed,
 * its vocabulary built). */
static int run_begin(attn_wordvec_run *r, attn_error *err) {
    trainer *t = &r->t;
    const attn_wordvec_params *p = &t->p;
    size_t n_input = (size_t)p->n_buckets * p->dim;
    t->input = malloc(n_input * sizeof(float));
    t->output = calloc(t->v.n_words * p->dim, sizeof(float));
    if (!t->input || !t->output) return attn_fail(err, ATTN_ENOMEM, "out of memory (wordvec tables)");
    init_input(t->input, n_input, p->dim, p->seed);
    for (int i = 0; i < p->threads; i++)
        if (worker_init(&r->ws[i], t, i) != ATTN_OK)
            return attn_fail(err, ATTN_ENOMEM, "out of memory (wordvec worker)");
    assign_shards(r->ws, p->threads, &t->v);
    int rc = attn_threadpool_new(p->threads, NULL, NULL, &r->pool, err);
    t->start = attn_now_seconds();
    if (rc == ATTN_OK) rc = attn_threadpool_start(r->pool, (size_t)p->threads, train_shard, r, err);
    return rc;
}

int attn_wordvec_start(const attn_wordvec_corpus *c, const attn_wordvec_params *p,
                       attn_wordvec_run **out, attn_error *err) {
    *out = NULL;
    int rc = attn_wordvec_check_params(p, err);
    if (rc != ATTN_OK) return rc;
    if ((uint64_t)p->n_buckets * p->dim > ATTN_MAX_PARAMS)
        return attn_fail(err, ATTN_ELIMIT, "wordvec table of %u x %u floats exceeds %zu",
                         p->n_buckets, p->dim, (size_t)ATTN_MAX_PARAMS);
    attn_wordvec_run *r = calloc(1, sizeof *r);
    if (!r) return attn_fail(err, ATTN_ENOMEM, "out of memory (wordvec run)");
    trainer *t = &r->t;
    t->p = *p;
    pthread_mutex_init(&t->mutex, NULL);
    rc = build_vocab(&t->v, c, p, err);
    if (rc != ATTN_OK) {
        run_free(r);
        return rc;
    }
    t->k = attn_kernels_best();
    t->total_work = (uint64_t)p->epochs * t->v.n_train;
    t->corpus_tokens = c->n_tokens;
    t->unit = c->unit;
    t->corpus_types = c->n_types;
    atomic_init(&t->processed, 0);
    atomic_init(&t->stop, 0);
    rc = run_begin(r, err);
    if (rc != ATTN_OK) {
        run_free(r);
        return rc;
    }
    *out = r;
    return ATTN_OK;
}

int attn_wordvec_wait(attn_wordvec_run *r, double seconds, attn_wordvec_progress *progress) {
    trainer *t = &r->t;
    const int done = attn_threadpool_wait(r->pool, seconds);
    pthread_mutex_lock(&t->mutex);
    double loss = 0.0;
    uint64_t samples = 0;
    for (int i = 0; i < t->p.threads; i++) {
        loss += r->ws[i].shown_loss_sum;
        samples += r->ws[i].shown_loss_n;
    }
    pthread_mutex_unlock(&t->mutex);
    if (progress) {
        progress->processed = atomic_load(&t->processed);
        progress->total = t->total_work;
        progress->loss = samples ? loss / (double)samples : 0.0;
        progress->seconds = attn_now_seconds() - t->start;
    }
    return done;
}

int attn_wordvec_finish(attn_wordvec_run *r, attn_wordvec *out, attn_wordvec_stats *stats) {
    memset(out, 0, sizeof *out);
    trainer *t = &r->t;
    (void)attn_threadpool_join(r->pool, NULL, NULL);   /* the shards never fail */
    if (stats) {
        memset(stats, 0, sizeof *stats);
        stats->corpus_tokens = t->corpus_tokens;
        stats->corpus_types = t->corpus_types;
        stats->vocab_words = t->v.n_words;
        stats->train_tokens = t->v.n_train;
        stats->processed = atomic_load(&t->processed);
        stats->seconds = attn_now_seconds() - t->start;
        stats->words_per_second = stats->seconds > 0 ? (double)stats->processed / stats->seconds : 0.0;
        double loss = 0.0;
        uint64_t samples = 0;
        for (int i = 0; i < t->p.threads; i++) { loss += r->ws[i].loss_sum; samples += r->ws[i].loss_n; }
        stats->final_loss = samples ? loss / (double)samples : 0.0;
    }
    *out = (attn_wordvec){t->p.n_buckets, t->p.dim, t->p.min_n, t->p.max_n, t->input, t->unit};
    t->input = NULL;
    run_free(r);
    return ATTN_OK;
}

void attn_wordvec_cancel(attn_wordvec_run *r) {
    if (!r) return;
    atomic_store(&r->t.stop, 1);
    run_free(r);
}

int attn_wordvec_train(const attn_wordvec_corpus *c, const attn_wordvec_params *p,
                       attn_wordvec *out, attn_wordvec_stats *stats, attn_error *err) {
    memset(out, 0, sizeof *out);
    attn_wordvec_run *r;
    int rc = attn_wordvec_start(c, p, &r, err);
    if (rc != ATTN_OK) return rc;
    attn_wordvec_progress pr;
    while (!attn_wordvec_wait(r, PROGRESS_SECONDS, &pr))
        if (p->verbose)
            fprintf(stderr, "wordvec: %5.1f%%  %.0f words/s  loss %.4f\n",
                    100.0 * (double)pr.processed / (double)(pr.total ? pr.total : 1),
                    pr.seconds > 0 ? (double)pr.processed / pr.seconds : 0.0, pr.loss);
    return attn_wordvec_finish(r, out, stats);
}

void attn_wordvec_free(attn_wordvec *wv) {
    if (!wv) return;
    free(wv->table);
    memset(wv, 0, sizeof *wv);
}

/* Mean of the subword rows of wv of a raw token (is_norm 0) or of a norm, such as a unit of a
 * vocabulary (is_norm 1), into dst[wv->dim] (rows: [ATTN_SUBWORD_MAX_ROWS] scratch); 0, dst
 * untouched, when it has none. */
static int subword_mean(const struct attn_wordvec *wv, const char *word, size_t len, int is_norm,
                        uint32_t *rows, float *dst) {
    const size_t n = is_norm
        ? attn_subword_rows_of_norm(word, len, wv->min_n, wv->max_n, wv->n_buckets, rows,
                                    ATTN_SUBWORD_MAX_ROWS)
        : attn_subword_rows(word, len, wv->min_n, wv->max_n, wv->n_buckets, rows,
                            ATTN_SUBWORD_MAX_ROWS);
    if (n == 0) return 0;
    memset(dst, 0, wv->dim * sizeof *dst);
    for (size_t r = 0; r < n; r++) {
        const float *row = wv->table + (size_t)rows[r] * wv->dim;
        for (uint32_t i = 0; i < wv->dim; i++) dst[i] += row[i];
    }
    for (uint32_t i = 0; i < wv->dim; i++) dst[i] /= (float)n;
    return 1;
}

void attn_wordvec_token_vector(const attn_wordvec *wv, const char *token, size_t n_bytes, float *vec) {
    uint32_t rows[ATTN_SUBWORD_MAX_ROWS];
    if (!subword_mean(wv, token, n_bytes, 0, rows, vec)) memset(vec, 0, wv->dim * sizeof *vec);
}

/* ================================================================ file */

/* The table as little-endian floats: as is on a little-endian host, else in chunks. */
static int write_table(FILE *f, const attn_wordvec *wv) {
    size_t n = (size_t)wv->n_buckets * wv->dim;
    if (attn_host_is_little_endian()) return fwrite(wv->table, sizeof(float), n, f) == n ? 0 : -1;
    unsigned char chunk[4 * 4096];
    for (size_t i = 0; i < n; i += 4096) {
        size_t m = n - i < 4096 ? n - i : 4096;
        for (size_t j = 0; j < m; j++) attn_store_f32_le(chunk + 4 * j, wv->table[i + j]);
        if (fwrite(chunk, 4, m, f) != m) return -1;
    }
    return 0;
}

int attn_wordvec_save(const attn_wordvec *wv, const char *path, attn_error *err) {
    unsigned char h[ATTN_WORDVEC_HEADER_BYTES];
    memcpy(h, ATTN_WORDVEC_MAGIC, 4);
    attn_store_u32_le(h + 4, ATTN_WORDVEC_VERSION);
    attn_store_u32_le(h + 8, wv->n_buckets);
    attn_store_u32_le(h + 12, wv->dim);
    attn_store_u32_le(h + 16, (uint32_t)wv->min_n);
    attn_store_u32_le(h + 20, (uint32_t)wv->max_n);
    attn_store_u32_le(h + 24, (uint32_t)wv->unit);
    FILE *f = fopen(path, "wb");
    if (!f) return attn_fail(err, ATTN_EINVAL, "cannot write %s", path);
    int bad = fwrite(h, 1, sizeof h, f) != sizeof h || write_table(f, wv) != 0;
    if (fclose(f) != 0 || bad) return attn_fail(err, ATTN_EINVAL, "cannot write %s", path);
    return ATTN_OK;
}

/* The header's length for the version in its first 8 bytes (magic, version): 0 and an error
 * when the magic or the version is not ours. */
static size_t header_bytes(const unsigned char *h, const char *path, attn_error *err) {
    if (memcmp(h, ATTN_WORDVEC_MAGIC, 4) != 0) {
        attn_fail(err, ATTN_EMODEL, "%s is not a wordvec file (bad magic)", path);
        return 0;
    }
    uint32_t version = attn_load_u32_le(h + 4);
    if (version == 1) return ATTN_WORDVEC_HEADER_BYTES_V1;
    if (version == ATTN_WORDVEC_VERSION) return ATTN_WORDVEC_HEADER_BYTES;
    attn_fail(err, ATTN_EMODEL, "%s: unsupported wordvec version %u (expected 1..%u)", path,
              version, ATTN_WORDVEC_VERSION);
    return 0;
}

/* Checks the header fields (the header is n_header bytes); fills the sizes of *wv (table
 * NULL). */
static int parse_header(const unsigned char *h, size_t n_header, attn_wordvec *wv,
                        const char *path, attn_error *err) {
    uint32_t unit = n_header > ATTN_WORDVEC_HEADER_BYTES_V1 ? attn_load_u32_le(h + 24)
                                                            : ATTN_WORDVEC_WORDS;
    if (unit != ATTN_WORDVEC_WORDS && unit != ATTN_WORDVEC_BIGRAMS)
        return attn_fail(err, ATTN_EMODEL, "%s: unknown unit %u (0 words, 1 bigrams)", path, unit);
    uint32_t n_buckets = attn_load_u32_le(h + 8), dim = attn_load_u32_le(h + 12);
    uint32_t min_n = attn_load_u32_le(h + 16), max_n = attn_load_u32_le(h + 20);
    if (n_buckets < 1 || n_buckets > ATTN_MAX_BUCKETS)
        return attn_fail(err, ATTN_EMODEL, "%s: n_buckets %u out of range 1..%u", path, n_buckets, ATTN_MAX_BUCKETS);
    if (dim < 1 || dim > ATTN_MAX_DIM)
        return attn_fail(err, ATTN_EMODEL, "%s: dim %u out of range 1..%d", path, dim, ATTN_MAX_DIM);
    if (min_n < 1 || max_n < min_n || max_n > ATTN_SUBWORD_MAX_N)
        return attn_fail(err, ATTN_EMODEL, "%s: n-gram lengths %u..%u invalid (1 <= min_n <= max_n <= %d)",
                         path, min_n, max_n, ATTN_SUBWORD_MAX_N);
    if ((uint64_t)n_buckets * dim > ATTN_MAX_PARAMS)
        return attn_fail(err, ATTN_ELIMIT, "%s: table of %u x %u floats exceeds %zu", path,
                         n_buckets, dim, (size_t)ATTN_MAX_PARAMS);
    *wv = (attn_wordvec){n_buckets, dim, (int)min_n, (int)max_n, NULL, (attn_wordvec_unit)unit};
    return ATTN_OK;
}

static int file_size(FILE *f, uint64_t *size) {
    if (fseeko(f, 0, SEEK_END) != 0) return -1;
    off_t end = ftello(f);
    if (end < 0 || fseeko(f, 0, SEEK_SET) != 0) return -1;
    *size = (uint64_t)end;
    return 0;
}

static int read_table(FILE *f, attn_wordvec *wv, const char *path, attn_error *err) {
    size_t n = (size_t)wv->n_buckets * wv->dim;
    wv->table = malloc(n * sizeof(float));
    if (!wv->table) return attn_fail(err, ATTN_ENOMEM, "out of memory (wordvec table of %zu floats)", n);
    if (fread(wv->table, sizeof(float), n, f) != n)
        return attn_fail(err, ATTN_EINVAL, "cannot read %s", path);
    if (!attn_host_is_little_endian())      /* the file's little-endian floats, in place */
        for (size_t i = 0; i < n; i++)
            wv->table[i] = attn_load_f32_le((const unsigned char *)&wv->table[i]);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(wv->table[i]))
            return attn_fail(err, ATTN_EMODEL, "%s: non-finite value at row %zu, column %zu",
                             path, i / wv->dim, i % wv->dim);
    return ATTN_OK;
}

static int load_from(FILE *f, const char *path, attn_wordvec *wv, attn_error *err) {
    uint64_t size;
    unsigned char h[ATTN_WORDVEC_HEADER_BYTES];
    if (file_size(f, &size) != 0) return attn_fail(err, ATTN_EINVAL, "cannot read %s", path);
    if (size < 8)
        return attn_fail(err, ATTN_EMODEL, "%s: truncated wordvec header (%llu bytes)", path,
                         (unsigned long long)size);
    if (fread(h, 1, 8, f) != 8) return attn_fail(err, ATTN_EINVAL, "cannot read %s", path);
    const size_t n_header = header_bytes(h, path, err);
    if (n_header == 0) return ATTN_EMODEL;
    if (size < n_header)
        return attn_fail(err, ATTN_EMODEL, "%s: truncated wordvec header (%llu bytes)", path,
                         (unsigned long long)size);
    if (fread(h + 8, 1, n_header - 8, f) != n_header - 8)
        return attn_fail(err, ATTN_EINVAL, "cannot read %s", path);
    int rc = parse_header(h, n_header, wv, path, err);
    if (rc != ATTN_OK) return rc;
    uint64_t expected = n_header + (uint64_t)wv->n_buckets * wv->dim * sizeof(float);
    if (size != expected)
        return attn_fail(err, ATTN_EMODEL, "%s: %s wordvec file: %llu bytes, expected %llu", path,
                         size < expected ? "truncated" : "trailing bytes in",
                         (unsigned long long)size, (unsigned long long)expected);
    return read_table(f, wv, path, err);
}

int attn_wordvec_load(const char *path, attn_wordvec *out, attn_error *err) {
    memset(out, 0, sizeof *out);
    FILE *f = attn_fopen_regular(path, err);
    if (!f) return ATTN_EINVAL;
    attn_wordvec wv = {0};
    int rc = load_from(f, path, &wv, err);
    fclose(f);
    if (rc != ATTN_OK) { attn_wordvec_free(&wv); return rc; }
    *out = wv;
    return ATTN_OK;
}

/* ================================================================ word vectors into a model */

/* Word vectors for the norm or subword table: vectors of bigrams are refused. */
static int check_of_words(const struct attn_wordvec *wv, const char *table, attn_error *err) {
    if (!wv || !wv->table) return attn_fail(err, ATTN_EINVAL, "no word vectors given");
    if (wv->unit != ATTN_WORDVEC_WORDS)
        return attn_fail(err, ATTN_EINVAL, "the vectors are of character bigrams, not words: "
                         "they fill the bigram tables, not the '%s' table", table);
    return ATTN_OK;
}

/* ---- into the norm table ---- */

static int norm_feature(const attn_config *c) {
    for (int f = 0; f < c->n_features; f++)
        if (c->features[f].kind == ATTN_FEAT_NORM) return f;
    return -1;
}

int attn_init_norm_from_wordvec(attn_model *m, const struct attn_wordvec *wv,
                                const char *const *words, size_t n_words, size_t *n_set,
                                attn_error *err) {
    if (n_set) *n_set = 0;
    const int f = norm_feature(&m->cfg);
    if (f < 0) return attn_fail(err, ATTN_EINVAL, "the model has no 'norm' feature");
    int rc = check_of_words(wv, "norm", err);
    if (rc) return rc;
    const attn_feature_spec spec = m->cfg.features[f];
    if (spec.dim != wv->dim)
        return attn_fail(err, ATTN_EINVAL, "the 'norm' table is %u wide, the word vectors %u",
                         spec.dim, wv->dim);
    const int t = attn_model_tensor_index(m, "embed.norm");
    if (t < 0) return attn_fail(err, ATTN_EMODEL, "the model has no tensor 'embed.norm'");
    float *table = m->params + m->specs[t].offset;      /* [buckets, dim] */
    unsigned char *taken = calloc(spec.n_buckets, 1);
    uint32_t *rows = malloc(ATTN_SUBWORD_MAX_ROWS * sizeof *rows);
    if (!taken || !rows) {
        free(taken);
        free(rows);
        return attn_fail(err, ATTN_ENOMEM, "out of memory (norm table)");
    }
    const attn_feature_spec one = { .kind = ATTN_FEAT_NORM, .n_buckets = spec.n_buckets,
                                    .dim = spec.dim };
    size_t set = 0;
    for (size_t w = 0; w < n_words; w++) {
        const size_t len = words[w] ? strlen(words[w]) : 0;
        if (len == 0) continue;
        uint32_t bucket;
        attn_token_features(words[w], len, &one, 1, &bucket);
        if (taken[bucket]) continue;
        if (subword_mean(wv, words[w], len, 0, rows, table + (size_t)bucket * spec.dim)) {
            taken[bucket] = 1;
            set++;
        }
    }
    free(taken);
    free(rows);
    if (n_set) *n_set = set;
    return ATTN_OK;
}

/* ---- as the subword table ---- */

static int subword_feature(const attn_config *c) {
    for (int f = 0; f < c->n_features; f++)
        if (c->features[f].kind == ATTN_FEAT_SUBWORD) return f;
    return -1;
}

/* The subword feature must hash like the word vectors: same buckets, width and n-grams. */
static int check_subword_matches(const attn_feature_spec *fs, const struct attn_wordvec *wv,
                                 attn_error *err) {
    if (fs->n_buckets != wv->n_buckets)
        return attn_fail(err, ATTN_EINVAL, "the 'subword' feature has %u buckets, the word "
                         "vectors %u", fs->n_buckets, wv->n_buckets);
    if (fs->dim != wv->dim)
        return attn_fail(err, ATTN_EINVAL, "the 'subword' table is %u wide, the word vectors %u",
                         fs->dim, wv->dim);
    if (fs->min_n != wv->min_n || fs->max_n != wv->max_n)
        return attn_fail(err, ATTN_EINVAL, "the 'subword' feature uses n-grams %d..%d, the word "
                         "vectors %d..%d", fs->min_n, fs->max_n, wv->min_n, wv->max_n);
    return ATTN_OK;
}

int attn_init_subword_from_wordvec(attn_model *m, const struct attn_wordvec *wv,
                                   attn_error *err) {
    const int f = subword_feature(&m->cfg);
    if (f < 0) return attn_fail(err, ATTN_EINVAL, "the model has no 'subword' feature");
    int rc = check_of_words(wv, "subword", err);
    if (!rc) rc = check_subword_matches(&m->cfg.features[f], wv, err);
    if (rc) return rc;
    const int t = attn_model_tensor_index(m, "embed.subword");
    if (t < 0) return attn_fail(err, ATTN_EMODEL, "the model has no tensor 'embed.subword'");
    memcpy(m->params + m->specs[t].offset, wv->table,
           (size_t)wv->n_buckets * wv->dim * sizeof *wv->table);    /* [buckets, dim] */
    return ATTN_OK;
}

/* ---- into the bigram tables ---- */

/* The bigram table of feature f: its values, or NULL when the model lacks it. */
static float *bigram_table(attn_model *m, int f) {
    char key[32];
    snprintf(key, sizeof key, "embed.%s", attn_feature_name(m->cfg.features[f].kind));
    const int t = attn_model_tensor_index(m, key);
    return t < 0 ? NULL : m->params + m->specs[t].offset;
}

/* One bigram table [buckets, dim] filled from the vocabulary, most frequent bigram first. */
static size_t fill_bigram_table(const attn_feature_spec *spec, float *table,
                                const struct attn_wordvec *wv, const char *const *bigrams,
                                size_t n_bigrams, unsigned char *taken, uint32_t *rows) {
    memset(taken, 0, spec->n_buckets);
    size_t set = 0;
    for (size_t b = 0; b < n_bigrams; b++) {
        const size_t len = bigrams[b] ? strlen(bigrams[b]) : 0;
        if (len == 0) continue;
        const uint32_t row = attn_bigram_row(spec, bigrams[b], len);
        if (taken[row]) continue;
        if (subword_mean(wv, bigrams[b], len, 1, rows, table + (size_t)row * spec->dim)) {
            taken[row] = 1;
            set++;
        }
    }
    return set;
}

int attn_init_bigrams_from_wordvec(attn_model *m, const struct attn_wordvec *wv,
                                   const char *const *bigrams, size_t n_bigrams, size_t *n_set,
                                   attn_error *err) {
    if (n_set) *n_set = 0;
    if (!wv || !wv->table) return attn_fail(err, ATTN_EINVAL, "no bigram vectors given");
    if (wv->unit != ATTN_WORDVEC_BIGRAMS)
        return attn_fail(err, ATTN_EINVAL, "the vectors are of words, not character bigrams");
    const attn_config *c = &m->cfg;
    uint32_t max_buckets = 0;
    for (int f = 0; f < c->n_features; f++) {
        const attn_feature_spec *fs = &c->features[f];
        if (fs->kind != ATTN_FEAT_BIGRAM_LEFT && fs->kind != ATTN_FEAT_BIGRAM_RIGHT) continue;
        if (fs->dim != wv->dim)
            return attn_fail(err, ATTN_EINVAL, "the '%s' table is %u wide, the bigram vectors %u",
                             attn_feature_name(fs->kind), fs->dim, wv->dim);
        if (!bigram_table(m, f))
            return attn_fail(err, ATTN_EMODEL, "the model has no tensor 'embed.%s'",
                             attn_feature_name(fs->kind));
        if (fs->n_buckets > max_buckets) max_buckets = fs->n_buckets;
    }
    if (max_buckets == 0)
        return attn_fail(err, ATTN_EINVAL, "the model has no 'bigram_left' or 'bigram_right' "
                         "feature");
    unsigned char *taken = malloc(max_buckets);
    uint32_t *rows = malloc(ATTN_SUBWORD_MAX_ROWS * sizeof *rows);
    if (!taken || !rows) {
        free(taken);
        free(rows);
        return attn_fail(err, ATTN_ENOMEM, "out of memory (bigram tables)");
    }
    size_t set = 0;
    for (int f = 0; f < c->n_features; f++) {
        const attn_feature_spec *fs = &c->features[f];
        if (fs->kind == ATTN_FEAT_BIGRAM_LEFT || fs->kind == ATTN_FEAT_BIGRAM_RIGHT)
            set += fill_bigram_table(fs, bigram_table(m, f), wv, bigrams, n_bigrams, taken, rows);
    }
    free(taken);
    free(rows);
    if (n_set) *n_set = set;
    return ATTN_OK;
}

/* ================================================================ vocabulary of text files */

static int count_unit(attn_wordvec_corpus *c, uint32_t id, attn_error *err) {
    (void)err;
    c->types[id].count++;
    return ATTN_OK;
}

/* Counts the units of one line in the corpus's table (empty norms skipped) without keeping
 * them: attn_vocab_from_files wants the counts only. */
static int count_line(attn_wordvec_corpus *c, const char *line, size_t n_bytes, attn_error *err) {
    return each_unit(c, line, n_bytes, 1, count_unit, err);
}

static int by_count_then_bytes(const void *a, const void *b, void *ctx) {
    const attn_wordvec_corpus *c = ctx;
    const type_entry *x = &c->types[*(const uint32_t *)a], *y = &c->types[*(const uint32_t *)b];
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    const size_t n = x->len < y->len ? x->len : y->len;
    const int d = memcmp(c->strings + x->offset, c->strings + y->offset, n);
    if (d) return d;
    return (x->len > y->len) - (x->len < y->len);
}

/* One block: the pointer array, then the NUL-terminated words. */
static char **vocab_block(const attn_wordvec_corpus *c, uint64_t min_count, size_t *n_words) {
    uint32_t *order = malloc((c->n_types ? c->n_types : 1) * sizeof *order);
    if (!order) return NULL;
    size_t n = 0, bytes = 0;
    for (size_t t = 0; t < c->n_types; t++)
        if (c->types[t].count >= min_count) {
            order[n++] = (uint32_t)t;
            bytes += c->types[t].len + 1;
        }
    qsort_r(order, n, sizeof *order, by_count_then_bytes, (void *)c);
    char **words = malloc((n + 1) * sizeof *words + bytes);
    if (!words) { free(order); return NULL; }
    char *dst = (char *)(words + n + 1);
    for (size_t k = 0; k < n; k++) {
        const type_entry *t = &c->types[order[k]];
        words[k] = dst;
        memcpy(dst, c->strings + t->offset, t->len);
        dst[t->len] = 0;
        dst += t->len + 1;
    }
    words[n] = NULL;
    *n_words = n;
    free(order);
    return words;
}

int attn_vocab_from_files(const char *const *paths, int n_paths, attn_wordvec_unit unit,
                          uint64_t min_count, char ***words, size_t *n_words, attn_error *err) {
    *words = NULL;
    *n_words = 0;
    attn_wordvec_corpus *c = attn_wordvec_corpus_new(unit);
    if (!c) return attn_fail(err, ATTN_ENOMEM, "out of memory (vocabulary)");
    int rc = ATTN_OK;
    for (int p = 0; !rc && p < n_paths; p++)
        rc = for_each_line(c, paths[p], count_line, NULL, NULL, err);
    if (!rc && !(*words = vocab_block(c, min_count, n_words)))
        rc = attn_fail(err, ATTN_ENOMEM, "out of memory (vocabulary)");
    attn_wordvec_corpus_free(c);
    return rc;
}
