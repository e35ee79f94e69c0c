/* train_data.h: datasets of annotated texts, turned once into training examples.
 *
 * A dataset is built from annotated texts (what attn_train reads from SQL rows), turned once
 * into token feature rows, gold tag paths, spans and relation pairs (train.h's attn_example).
 * fit.h trains on it, train_eval.h evaluates on it, mlm.h gives it masked-word targets.
 *
 * Long texts: a training text of more than max_len tokens is cut into consecutive chunks of
 * max_len tokens, each a training example (classify: each chunk carries the text's label;
 * entities: tags sliced; relations: only pairs whose two spans fall in one chunk). An entity
 * crossing a chunk edge is cut at it there (both pieces keep the type). Gold entity spans
 * are kept as given (in characters) for evaluation, and snapped outward to tokens
 * (attn_tokens_covering, tokenizer.h) for training.
 *
 * The engine never includes sqlite3.h. */
#ifndef ATTN_TRAIN_DATA_H
#define ATTN_TRAIN_DATA_H

#include "train.h"

typedef struct attn_dataset attn_dataset;

/* An empty dataset for models of this config (labels are looked up by name in it; the
 * dataset keeps its own copy of the config). NULL when out of memory. */
attn_dataset *attn_dataset_new(const attn_config *cfg);
void attn_dataset_free(attn_dataset *ds);
/* The lists a gazetteer feature of the config matches (the model's m->gazetteer; the dataset
 * takes a reference), before the first text is added: without them every token is O in every
 * list. attn_dataset_check_compatible requires the model's own. */
void attn_dataset_set_gazetteer(attn_dataset *ds, attn_gazetteer *gaz);
size_t attn_dataset_size(const attn_dataset *ds);          /* texts added (not skipped) */
size_t attn_dataset_examples(const attn_dataset *ds);      /* training sequences (chunks) */
int64_t attn_dataset_tokens(const attn_dataset *ds);       /* tokens of the texts added */

/* Gold entity / relation as given by a user, by label name, in characters (SQLite counting). */
typedef struct attn_gold_entity {
    int64_t start, end;
    const char *label;
} attn_gold_entity;

typedef struct attn_gold_relation {
    int head, tail;             /* indices into the text's entity array */
    const char *label;
} attn_gold_relation;

/* Adds one annotated text. label: classify gold label name (NULL when the model has no
 * classify task or the row gives none); ents/rels as for the entities/relations tasks.
 * A NULL pointer means "not given"; a non-NULL pointer with a count of 0 means "given: none"
 * (ents: every token O; rels: no pair of its entities is related). So a text trains and is
 * evaluated on: classify when label != NULL, entities when ents != NULL, relations when
 * rels != NULL (rels requires ents). A text giving nothing for any task is stored (and
 * counted) but yields no training example. Giving an answer for a task the model lacks is an
 * error. Errors (ATTN_EINVAL) name what is wrong; exactly:
 *   "label 'neutral' is not one of the model's labels (negative, positive)"
 *   "entity 2: label 'X' is not one of the model's entity labels (PER, LOC)"
 *   "entity 2: no label given"            (label NULL; relations likewise)
 *   "entity 2 [-1, 3): start before 0"   "entity 2 [10, 8): end before start"
 *   "entity 2 [5, 5): empty"              "entity 2 [0, 99): past the end of the text (20 characters)"
 *   "entity 2 [3, 4): covers no token (only whitespace)"
 *   "entity 1 overlaps entity 0"          (after snapping outward to tokens; higher index first)
 *   "relation 0: head 5 out of range (3 entities)"   (tail likewise)
 *   "relation 0: head and tail are the same entity (2)"
 *   "relation 1: pair (0, 2) already given by relation 0"
 *   "relation 0: label 'X' is not one of the model's relation labels (Work_For, Kill)"
 *   "a label is given but the model has no classify task" (entities/relations likewise)
 *   "relations are given without entities"
 * (label lists longer than ~200 bytes end in "..."); the caller prefixes the row.
 * A text with no tokens is skipped (counted in attn_dataset_skipped, not in _size). */
int attn_dataset_add(attn_dataset *ds, const char *text, size_t n_bytes, const char *label,
                     const attn_gold_entity *ents, int n_ents,
                     const attn_gold_relation *rels, int n_rels, attn_error *err);
size_t attn_dataset_skipped(const attn_dataset *ds);

/* Training example i in 0..attn_dataset_examples(ds)-1, in the order added (a long text gives
 * consecutive chunks): pointers into the dataset, valid until it is next changed or freed.
 * ATTN_EINVAL when i is out of range. (Tests, inspection.) */
int attn_dataset_example(const attn_dataset *ds, size_t i, attn_example *out, attn_error *err);

/* ---- entity spans in characters -> IOB2 tags (the snapping rule: attn_tokens_covering) ---- */

typedef struct attn_char_span {
    int64_t start, end;         /* characters (SQLite counting, as tokenizer.h), end exclusive */
    int label;                  /* entity label index */
} attn_char_span;

/* IOB2 tags for a tokenized text from entity spans given in characters. Policy for spans not
 * aligned to tokens: snap OUTWARD, i.e. a span covers every token it overlaps by at least one
 * character ("New Yor" in "New York" covers both tokens; "ork" covers "York"). Errors
 * (ATTN_EINVAL, naming the span): start < 0, end <= start, end > n_chars (the text's
 * length in characters); a span that overlaps no token (only whitespace); a label outside
 * [0, n_labels); two spans sharing a token after snapping (IOB2 cannot express nested or
 * overlapping entities). tags[n_tokens] receives the path; tok_spans[n_spans] (may be NULL)
 * the token spans, in the order of spans. Spans may be given in any order. */
int attn_char_spans_to_iob2(const attn_token *toks, int n_tokens, int64_t n_chars,
                            const attn_char_span *spans, int n_spans, int n_labels,
                            int *tags, attn_span *tok_spans, attn_error *err);

#endif
