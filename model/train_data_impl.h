/* train_data_impl.h: the layout of attn_dataset, for the training files only (train_data.c
 * builds it; fit.c, train_eval.c and mlm.c read it). Everything else sees train_data.h.
 *
 * Memory: a dataset keeps everything in a few growing arrays, one per kind (text bytes, feature
 * rows, tags, spans, ...); records hold offsets into them, never pointers, so growing an array
 * never invalidates a record. attn_fit builds the attn_example structs of a batch on the fly
 * (attn_dataset_example_at). */
#ifndef ATTN_TRAIN_DATA_IMPL_H
#define ATTN_TRAIN_DATA_IMPL_H

#include <stdint.h>

#include "config.h"
#include "tokenizer.h"
#include "train_data.h"

/* ---- growing arrays (attn_grow, common.h) ----------------------------------------------- */

typedef struct array {
    void *p;
    size_t n, cap;             /* elements */
} array;

/* Room for `more` elements of elem bytes after the n in use; 0 or ATTN_ENOMEM. */
static inline int array_reserve(array *a, size_t more, size_t elem) {
    if (more > SIZE_MAX - a->n) return ATTN_ENOMEM;
    return attn_grow(&a->p, &a->cap, a->n + more, elem);
}

/* Appends count elements (uninitialised); returns a pointer to the first or NULL. */
static inline void *array_push(array *a, size_t count, size_t elem) {
    if (array_reserve(a, count, elem)) return NULL;
    void *first = (char *)a->p + a->n * elem;
    a->n += count;
    return first;
}

#define AT(arr, type, i) ((type *)(arr).p + (i))

/* ---- the dataset ------------------------------------------------------------------------ */

typedef struct text_rec {
    size_t byte_off, n_bytes;  /* into bytes */
    int64_t n_chars;
    int label;                 /* classify gold, -1 = not given */
    int has_ents, has_rels;    /* entity / relation gold given */
    size_t ent_off, rel_off;   /* into gold_ents / gold_rels */
    int n_ents, n_rels;
} text_rec;

typedef struct example_rec {
    size_t tok_off;            /* first token in the token-indexed arrays (rows, tags) */
    int T;
    int label;
    int has_tags, has_spans;
    size_t span_off, rel_off;  /* into spans / rels */
    int n_spans, n_rels;
} example_rec;

struct attn_dataset {
    attn_config cfg;           /* own copy, parsed from the model config's JSON */
    attn_gazetteer *gaz;       /* one reference to the model's lists, or NULL */
    array texts;               /* text_rec */
    array bytes;               /* char: every text, concatenated */
    array gold_ents;           /* attn_char_span: entities in characters, per text */
    array gold_rels;           /* attn_rel_gold: head/tail = entity index within the text */
    array examples;            /* example_rec */
    array rows;                /* uint32_t [tokens, S]: S = attn_feature_slots */
    array tags;                /* int [tokens]: IOB2 path (0 where no entity gold) */
    array spans;               /* attn_span: token spans, per example (relations) */
    array rels;                /* attn_rel_gold: per example, indices into its spans */
    array mlm_hash;            /* uint64_t [tokens]: hash of the normalised word (mlm, rtd) */
    array mlm_caps;            /* uint8_t [tokens]: 1 = entity-like: capitalised, or in a
                                * gazetteer match (tasks mlm and rtd) */
    array mlm_target;          /* int32_t [tokens]: output index or -1, once computed */
    int mlm_ready;             /* mlm_target holds every token's target */
    size_t skipped;
    /* scratch of attn_dataset_add */
    attn_tokens toks;
    array s_ents;              /* attn_char_span */
    array s_tok;               /* attn_span: each entity snapped to tokens */
    array s_order;             /* int: entities by first token */
    array s_local;             /* int: entity -> span index within the current chunk */
};

static inline int has_task(const attn_config *c, int task) { return (c->tasks & task) != 0; }

static inline int dataset_no_memory(attn_error *err) {
    return attn_fail(err, ATTN_ENOMEM, "out of memory (dataset)");
}

/* Training example i (i < ds->examples.n): pointers into the dataset. */
attn_example attn_dataset_example_at(const attn_dataset *ds, size_t i);

/* ATTN_OK when ds was built for a config with the same tasks, max_len, features and labels
 * as m's; else ATTN_EINVAL "<what>: the dataset was built for another config (...)". */
int attn_dataset_check_compatible(const attn_model *m, const attn_dataset *ds, const char *what,
                                  attn_error *err);

#endif
