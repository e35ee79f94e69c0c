/* gazetteer.h: the name lists of a gazetteer feature (features.h), and where their entries
 * occur in a sequence of tokens.
 *
 * Rows. A model whose config has a gazetteer feature with "lists": ["PER", "LOC"] takes its
 * entries from rows of its model table, besides the config and the tensors:
 *   key   'gazetteer.<list>' or 'gazetteer.<list>.<part>' (<list> one of the feature's lists,
 *         <part> any non-empty text: a user adds a row of their own beside the shipped one)
 *   dtype 'text', shape '[]'
 *   data  the entries as UTF-8 text, one a line ("\n"; a "\r" before it is dropped; blank
 *         lines are skipped); NULL or empty: none
 * A list may have any number of rows, or none (no entry). attn_gazetteer_add_row takes them
 * one at a time, as the loader reads the table (model.h: attn_model_set_tensor hands it every
 * key beginning with "gazetteer.").
 *
 * Matching. An entry is tokenised by tokenizer.h and compared by the norms of its tokens
 * (features.h: case-folded, digits as 0, typographic punctuation folded, traditional Chinese
 * characters simplified), so "New York", "NEW YORK" and "new york" are one entry, and 北京
 * (two tokens: one per ideograph) matches 北京 and 北京 in traditional script alike.
 * attn_gazetteer_match marks each list on its own, greedily from left to right: at a token
 * not inside an earlier match of that list, the longest of its entries that starts there
 * (at most ATTN_GAZ_MAX_TOKENS tokens) is a match, its first token tagged B, the others I;
 * tokens in no match of the list are O. So "New York City" with entries "New York" and
 * "York City" is B I O, and a token may be B in one list and I in another. An entry of more
 * than ATTN_GAZ_MAX_TOKENS tokens never matches (it is skipped, not an error).
 *
 * Stored as every prefix of every entry (its first 1, 2, ... tokens), each a 64-bit hash of
 * the tokens' norms, in one open-addressed table with a bit a list ("a whole entry of list
 * l") and a bit "the start of a longer entry", which stops a lookup as soon as no entry can
 * continue. Two n-grams of equal hash would share their bits: with 64 bits and at most
 * ATTN_GAZ_MAX_NGRAMS stored, the chance that a text's n-gram hits a wrong one is below 2^-42
 * a lookup. The rows' text is kept too, for writers (attn_gazetteer_row).
 *
 * Limits (a model table may be hostile): ATTN_GAZ_MAX_BYTES of row data in all and
 * ATTN_GAZ_MAX_NGRAMS stored n-grams; both are ATTN_ELIMIT errors naming the constant. At
 * most about 100 MB of memory for a gazetteer at the limits (the text and a table of 12
 * bytes a slot at most half full). Adding a row asks the stop callback every 4096 lines.
 *
 * A gazetteer is reference counted: a model and the datasets and copies made from it share
 * one. It is changed only while one owner holds it (while a model loads), read-only after:
 * then any number of threads may match with it. */
#ifndef ATTN_GAZETTEER_H
#define ATTN_GAZETTEER_H

#include "features.h"
#include "tokenizer.h"

#define ATTN_GAZ_MAX_TOKENS 8                   /* tokens of an entry that can match */
#define ATTN_GAZ_MAX_BYTES  ((size_t)32 << 20)  /* row data of one model's lists, in all */
#define ATTN_GAZ_MAX_NGRAMS ((size_t)1 << 21)   /* distinct entry prefixes stored */
#define ATTN_GAZ_KEY_PREFIX "gazetteer."

typedef struct attn_gazetteer attn_gazetteer;

/* An empty gazetteer for the lists of spec (a gazetteer feature: spec->n_lists names), list
 * index = its position there. NULL when out of memory. */
attn_gazetteer *attn_gazetteer_new(const attn_feature_spec *spec);

/* Another reference to g (returned); attn_gazetteer_release drops one, freeing g with the
 * last. Both accept NULL. */
attn_gazetteer *attn_gazetteer_ref(attn_gazetteer *g);
void attn_gazetteer_release(attn_gazetteer *g);

/* 1 when key names a gazetteer row (begins with ATTN_GAZ_KEY_PREFIX), else 0. */
int attn_gazetteer_is_key(const char *key);

/* Adds the entries of one row (above). Errors name the row:
 *   "row 'gazetteer.X': 'X' is not a list of the gazetteer feature (PER, LOC)"   ATTN_EMODEL
 *   "row 'gazetteer.PER': dtype must be 'text', found 'f32'"                      ATTN_EMODEL
 *   "row 'gazetteer.PER': shape must be '[]', found '[3]'"                        ATTN_EMODEL
 *   "row 'gazetteer.PER': given twice"                                             ATTN_EMODEL
 *   "row 'gazetteer.PER': the lists hold more than 33554432 bytes (ATTN_GAZ_MAX_BYTES)"
 *   "row 'gazetteer.PER': more than 2097152 entry n-grams (ATTN_GAZ_MAX_NGRAMS)"  ATTN_ELIMIT
 *   "row 'gazetteer.PER': interrupted"   (stop returned non-zero; stop may be NULL) ATTN_ESTOPPED
 * and ATTN_ENOMEM. data may be NULL when n_bytes is 0. After a failure g must not be used
 * except to release it. */
int attn_gazetteer_add_row(attn_gazetteer *g, const char *key, const char *dtype,
                           const char *shape_json, const void *data, size_t n_bytes,
                           attn_stop_cb stop, void *stop_user, attn_error *err);

/* The gazetteer slots of tokens toks[0 .. n_tokens) of text, as one sequence: for token t and
 * list l, slots[t * stride + l] = ATTN_GAZ_ROW(l, tag), tag O, B or I as matched (above).
 * stride >= the number of lists. No allocation; O(n_tokens x ATTN_GAZ_MAX_TOKENS) lookups. */
void attn_gazetteer_match(const attn_gazetteer *g, const char *text, const attn_token *toks,
                          size_t n_tokens, uint32_t *slots, size_t stride);

/* Lists, rows added, entries added (lines that were stored, in all lists), and the bytes held
 * (the rows' text and the table). */
int attn_gazetteer_n_lists(const attn_gazetteer *g);
size_t attn_gazetteer_n_rows(const attn_gazetteer *g);
size_t attn_gazetteer_n_entries(const attn_gazetteer *g);
size_t attn_gazetteer_bytes(const attn_gazetteer *g);

/* Row i (< attn_gazetteer_n_rows) as it was added: its key, and data[*n_bytes] (the bytes
 * given, not NUL-terminated); pointers owned by g. */
void attn_gazetteer_row(const attn_gazetteer *g, size_t i, const char **key, const char **data,
                        size_t *n_bytes);

/* 1 when g was made for the same list names as spec (a gazetteer feature), else 0. */
int attn_gazetteer_fits(const attn_gazetteer *g, const attn_feature_spec *spec);

#endif
