/* pipeline.h: text in, answers out. What the SQL binding calls; everything between the text
 * and the answer (tokenizing, features, windows, encoder, heads, decoding) happens here.
 *
 * Long texts: a text of more than max_len tokens is classified from consecutive chunks of
 * max_len tokens (the last one shorter), each encoded alone, exactly as the trainer cuts a long
 * text into examples, with the pooling over all N tokens. For entities and relations it is
 * encoded in overlapping windows of max_len tokens (stride = max_len - max_len/4): each token
 * takes its encoder output from the window in which it sits farthest from an edge, so every
 * token is represented exactly once, with context on both sides, and the stitched sequence
 * covers the whole text. Entities come from one CRF decoding of all N emissions (so no entity
 * is lost or duplicated at a window boundary); relations are classified for every ordered pair
 * of distinct entities whose combined extent (first token of the earlier to last token of the
 * later) fits in max_len tokens, each entity with at most ATTN_REL_MAX_NEIGHBOURS entities on
 * either side (the nearest): a call classifies at most 2 x that many pairs per entity, not
 * E^2. Offsets are always relative to the whole text.
 *
 * Memory: classification and entities stream the text. Classification takes each chunk from
 * the tokenizer as it encodes it and adds its output to the pooling sums. Entities make a first
 * pass that counts the tokens (the last window is flush with the end); then each window's
 * tokens are tokenized again when the window is encoded, into a buffer that holds only the
 * tokens still needed. Entities turn each window's output into emissions and push them,
 * in token order, into a streaming CRF decoder (crf.h, attn_crf_stream) that holds at most
 * ATTN_TAG_PENDING_WINDOWS windows of undecided tokens and decides the rest as it goes:
 *   - the tags are exactly the whole-text Viterbi path's, except if the survivor paths still
 *     part after that many tokens: then the oldest are forced along the best path so far (the
 *     only case where a tag can differ; real taggers reset on every confident "O");
 *   - an entity's score uses marginals whose backward pass sees at least ATTN_TAG_LOOKAHEAD
 *     tokens of the future (from a uniform start) instead of all of it: the error decays
 *     geometrically with that distance, far below 1e-5 on real and random texts
 *     (test_crf / test_pipeline measure it);
 *   - a text of fewer than ATTN_TAG_PENDING_WINDOWS / 2 windows (at least 2 * lookahead)
 *     tokens is decided only at its end: bit for bit the whole-text Viterbi and marginals.
 * Entities are emitted as their tokens are decided; the entity array is the call's output and
 * grows with it. So for these two tasks attn_call_bytes is a constant per model (one window's
 * encoder scratch, feature rows and output, the held tokens and the decoder), plus one
 * attn_entity per entity found. Relations (and attn_run_encode, attn_run_relation_pair) keep
 * every token and the stitched h[N, D]: a constant plus a few hundred bytes and 4 D per token;
 * their entities come from the same emissions through the same streaming decoder, so they are
 * exactly those of attn_run_entities.
 *
 * An attn_session holds reusable buffers (no allocation per call in steady state) and the
 * results of the last call, valid until the next call on that session. A session is used by
 * one thread at a time; models are shared read-only. */
#ifndef ATTN_PIPELINE_H
#define ATTN_PIPELINE_H

#include "model.h"
#include "tokenizer.h"

typedef struct attn_entity {
    int64_t start, end;         /* characters in the text (SQLite counting), end exclusive */
    size_t byte_start, byte_end;
    int tok_start, tok_end;     /* token indices, end exclusive */
    int label;                  /* index into cfg.entity_labels */
    float score;                /* mean over its tokens of the CRF marginal of the decoded tag
                                 * (at the entity temperature, config.h) */
} attn_entity;

typedef struct attn_relation {
    int head, tail;             /* indices into the entity array */
    int label;                  /* index into cfg.relation_labels (never "none") */
    float score;                /* the chance the relation is right: the softmax probability
                                 * of its label (at the relation temperature, config.h) times
                                 * the scores of its head and tail entities (calibrate.h) */
} attn_relation;

typedef struct attn_session attn_session;

/* The streaming tagger of entities (see above): tokens of lookahead every decided marginal has
 * seen at least, and undecided tokens held at most, in windows of max_len (and at least
 * 4 * ATTN_TAG_LOOKAHEAD tokens). */
#define ATTN_TAG_LOOKAHEAD 64
#define ATTN_TAG_PENDING_WINDOWS 4

/* Relation candidates of one entity on each side (see above). */
#define ATTN_REL_MAX_NEIGHBOURS 16

attn_session *attn_session_new(void);
void attn_session_free(attn_session *s);

/* Calls on s ask stop(user) between encoder windows or chunks, every 65536 tokens counted and
 * every 256 relation pairs, and fail with ATTN_ESTOPPED ("interrupted") when it returns
 * non-zero. NULL: never stop. */
void attn_session_set_stop(attn_session *s, attn_stop_cb stop, void *user);

/* Working memory, in bytes, a call of task (one ATTN_TASK_* bit) on a text of n_tokens tokens
 * needs: one window's encoder scratch, feature rows and output, the heads' work, and the
 * tokens and tagger state the task holds. Classify and entities: the same for every text of
 * at least ATTN_TAG_PENDING_WINDOWS + 1 windows (entities add sizeof(attn_entity) per entity
 * found, checked as they are found). Relations: plus every per-token buffer (tokens,
 * emissions, CRF, entities, h[N, D]). */
size_t attn_call_bytes(const attn_model *m, int task, size_t n_tokens);
/* Calls on s fail with ATTN_ELIMIT ("N tokens need B bytes of working memory, above the limit
 * of L") when attn_call_bytes is above max_bytes (0: no limit). Checked after counting the
 * tokens, before any other buffer grows; an entities call also fails ("N tokens and E entities
 * need B bytes ...") when its entities would take it above the limit. attn_session_over_memory
 * then tells that this was the cause. */
void attn_session_set_memory_limit(attn_session *s, size_t max_bytes);
int attn_session_over_memory(const attn_session *s);
/* Bytes the session holds now: all its buffers, and those of the encoder window alone
 * (scratch and window output: bounded by max_len, not by the text). */
size_t attn_session_bytes(const attn_session *s);
size_t attn_session_window_bytes(const attn_session *s);

/* Token cache (token_cache.h): a session keeps the input embedding rows of up to
 * ATTN_TOKEN_CACHE_ENTRIES tokens it has met, keyed exactly by the token's text, so a known
 * token is neither featurised nor looked up again; results are bit for bit those without it.
 * It counts in attn_session_window_bytes (bounded, whatever the text) and a call uses it only
 * when its bytes fit under the memory limit beside attn_call_bytes (attn_call_bytes does not
 * include it: a call that cannot have it runs without it).
 * Entries outlive a call only under an epoch: attn_session_set_model_epoch(s, e) is the
 * caller's promise that every model it passes to calls on s while e is set stays alive and
 * unchanged (a freed model's address may be reused by another); a different epoch, or a
 * different model, drops them. Without an epoch (a new session) entries last one call. */
void attn_session_set_model_epoch(attn_session *s, uint64_t epoch);
/* Replaces the cache with one of n_entries rows (0: no cache); for tests and tuning. */
void attn_session_set_token_cache(attn_session *s, size_t n_entries);
/* Tokens the cache found and made since it was (re)made; zeros without a cache. */
void attn_session_token_cache_stats(const attn_session *s, uint64_t *hits, uint64_t *misses);

/* probs[n classify labels]. Empty or all-whitespace text (no tokens) is classified from zero
 * tokens: pooled vector of zeros. Fails with ATTN_EINVAL if the model has no classify task. */
int attn_run_classify(const attn_model *m, attn_session *s, const char *text, size_t n_bytes,
                      float *probs, attn_error *err);

/* The same before the softmax: logits[n classify labels] (probs = softmax(logits / the
 * classify temperature)). For calibration. */
int attn_run_classify_logits(const attn_model *m, attn_session *s, const char *text,
                             size_t n_bytes, float *logits, attn_error *err);

/* Entities in text order. *ents points into the session. Scores use the model's entity
 * temperature (config.h). */
int attn_run_entities(const attn_model *m, attn_session *s, const char *text, size_t n_bytes,
                      const attn_entity **ents, size_t *n_ents, attn_error *err);

/* The same entities (bit for bit) with the emissions of the whole text, *em [*n_tokens, K],
 * from which the scores can be recomputed at another temperature (calibration). Keeps every
 * token and h[N, D] as relations do (attn_call_bytes of relations). */
int attn_run_entities_emissions(const attn_model *m, attn_session *s, const char *text,
                                size_t n_bytes, const attn_entity **ents, size_t *n_ents,
                                const float **em, int *n_tokens, attn_error *err);

/* Entities and the relations between them (pairs predicted "none" are omitted).
 * Requires a model with the relations task. Relations found count under the memory limit
 * (sizeof(attn_relation) each, beside attn_call_bytes): "N tokens and R relations need B
 * bytes of working memory, above the limit of L". */
int attn_run_relations(const attn_model *m, attn_session *s, const char *text, size_t n_bytes,
                       const attn_entity **ents, size_t *n_ents,
                       const attn_relation **rels, size_t *n_rels, attn_error *err);

/* Every pair attn_run_relations classifies (ordered, distinct entities, within the extent),
 * "none" included: pairs[k].head/.tail/.score as there, .label -1 for "none"; logits
 * [n_pairs, R+1] the relation head's scores before softmax(logits / relation temperature).
 * For calibration. All point into the session. */
int attn_run_relation_candidates(const attn_model *m, attn_session *s, const char *text,
                                 size_t n_bytes, const attn_entity **ents, size_t *n_ents,
                                 const attn_relation **pairs, size_t *n_pairs,
                                 const float **logits, attn_error *err);

/* Relation for given character spans [hs,he) and [ts,te) of the text (a user's own entities):
 * probs[R+1] (0 = none). Spans are snapped outward to token boundaries; a span covering no
 * token, or out of range (need 0 <= start < end <= length(text)), is ATTN_EINVAL. Entity
 * types: the model's tagger decides the type of each given span: the label i with the largest
 * sum of CRF marginals P(B-i) + P(I-i) over the span's tokens. The spans may be any distance
 * apart (the max_len extent rule applies only to attn_run_relations). */
int attn_run_relation_pair(const attn_model *m, attn_session *s, const char *text,
                           size_t n_bytes, int64_t hs, int64_t he, int64_t ts, int64_t te,
                           float *probs, attn_error *err);

/* The stitched encoder output of a whole text: *h [*n_tokens, D] and its tokens, both pointing
 * into the session. A text without tokens gives *n_tokens = 0. (Tests, embeddings.) */
int attn_run_encode(const attn_model *m, attn_session *s, const char *text, size_t n_bytes,
                    const float **h, int *n_tokens, const attn_token **toks, attn_error *err);

/* --- Building blocks of the above, exposed for tests. --- */

/* Windows over n_tokens >= 1 tokens: window w covers [starts[w], starts[w] + min(n, max_len)).
 * starts[w] = min(w * stride, n - max_len) with stride = max_len - max_len/4, so the last
 * window ends at the last token. Writes starts when non-NULL; returns the window count. */
int attn_windows(int n_tokens, int max_len, int *starts);

/* owner[t] = the window whose output token t takes: the one where min(t - start,
 * start + len - 1 - t) is largest; the earlier window on a tie. */
void attn_window_owners(int n_tokens, int max_len, const int *starts, int n_windows,
                        int *owner);

/* The same owner of token t computed alone (what a streaming call uses), 0 <= t < n_tokens. */
int attn_window_owner(int t, int n_tokens, int max_len);

/* Decodes an IOB2 tag path[N] (0 = O, 1+2i = B-i, 2+2i = I-i) into entities in out[] (room for
 * N): B-i starts an entity; I-i continues only an entity of label i (an I-i elsewhere starts
 * one, as conlleval does; the IOB2 constraints make that impossible in decoding). Fills
 * tok_start, tok_end and label; zeroes the other fields. Returns the count. */
size_t attn_iob2_spans(const int *path, int N, attn_entity *out);

/* Whether relations are classified between entities a and b: their combined extent, first
 * token of the earlier to last token of the later, is at most max_len tokens. */
int attn_pair_in_extent(const attn_entity *a, const attn_entity *b, int max_len);

/* The chance that both entities of a pair are right: the product of their scores. A relation's
 * score is its label's probability times this (attn_relation.score; calibrate.h fits the
 * relation temperature with it). */
float attn_pair_entities_right(const attn_entity *head, const attn_entity *tail);

#endif
