/* token_cache.h: a bounded cache from a token's text to its input embedding.
 *
 * Every input feature (features.h) is a function of the token's text alone, so the encoder's
 * input row of a token, attn_embed_forward's [E] row (the feature vectors concatenated, before
 * embed.proj; E = attn_embed_width), is too. Text repeats its words (Zipf): a session that
 * keeps the rows of the tokens it met neither featurises (norm, hashes of ~32 subword n-grams)
 * nor looks up (q4 decode, subword mean) a known token again. Overlapping windows of a long
 * text meet each other's tokens, which then cost nothing either.
 *
 * How the encoder takes the rows: the cache's table, [n_entries + max_len, E] floats, is the
 * only embedding table of a view of the model (attn_token_cache_model: the same model with a
 * one-feature config whose f32 table is the cache's rows). A window's rows are then one slot
 * per token, the index of its row in that table, and attn_encode copies them: the very floats
 * attn_embed_forward would have made, so every result is bit for bit that of the uncached path.
 *
 * Layout: n_entries rows in sets of ATTN_TOKEN_CACHE_WAYS, keyed exactly by the token's bytes
 * (a 64-bit hash picks the set and speeds the compare; the bytes decide). Tokens longer than
 * ATTN_TOKEN_CACHE_KEY_BYTES are never kept. The last max_len rows are private to the window
 * being built: a token that is not kept, or whose set is full of rows this window uses, gets
 * one. Eviction: the way of the set used longest ago, never one the current window uses.
 *
 * Validity: entries are made from one model (its config and embedding tables). A model's
 * address may be reused by another model once it is freed, so the address alone does not say
 * the entries still hold: attn_token_cache_begin keeps them only when the caller gives the
 * same model and the same epoch, a value by which the caller vouches that the models it passed
 * under it are alive and unchanged (ext: the connection's generation, which changes before any
 * model the connection holds is released). Without an epoch, entries live for one call.
 *
 * One thread at a time (a session's). */
#ifndef ATTN_TOKEN_CACHE_H
#define ATTN_TOKEN_CACHE_H

#include "model.h"
#include "tokenizer.h"

#define ATTN_TOKEN_CACHE_ENTRIES 4096     /* a session's default: ~2.5 MB at E = 144 */
#define ATTN_TOKEN_CACHE_WAYS 4           /* entries per set */
#define ATTN_TOKEN_CACHE_KEY_BYTES 27     /* longest token kept, in bytes */

typedef struct attn_token_cache attn_token_cache;

/* A cache of n_entries rows (rounded up to a power of two, at least ATTN_TOKEN_CACHE_WAYS);
 * NULL on ENOMEM. Its rows are allocated by the first attn_token_cache_begin. */
attn_token_cache *attn_token_cache_new(size_t n_entries);
void attn_token_cache_free(attn_token_cache *c);

/* Bytes c holds now; bytes a cache of n_entries holds once it has served m. */
size_t attn_token_cache_bytes(const attn_token_cache *c);
size_t attn_token_cache_bytes_for(const attn_model *m, size_t n_entries);

/* Starts a call on model m. has_epoch = 0: the entries of earlier calls are dropped; else
 * they are kept when the previous begin had the same m and the same epoch. Grows the rows
 * for m (ATTN_ENOMEM). */
int attn_token_cache_begin(attn_token_cache *c, const attn_model *m, int has_epoch,
                           uint64_t epoch, attn_error *err);

/* One window of len (1..max_len) tokens toks[0..len) of text: rows[t] = the row of token t in
 * the view's table, made now for tokens the cache did not hold. After begin with the same m;
 * the rows are valid until the next call of this function or of begin. */
void attn_token_cache_window(attn_token_cache *c, const attn_model *m, const char *text,
                             const attn_token *toks, int len, uint32_t *rows);

/* The model the encoder runs with the rows (valid until the next begin). */
const attn_model *attn_token_cache_model(const attn_token_cache *c);

/* Tokens found and made since the cache was created (tests, tuning). */
void attn_token_cache_stats(const attn_token_cache *c, uint64_t *hits, uint64_t *misses);

#endif
