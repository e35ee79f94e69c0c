/* pipeline.h: text in, answers out. What the SQL binding calls; everything between the text
 * and the answer (tokenizing, features, windows, encoder, heads, decoding) happens here.
 *
 * Long texts: a text of more than max_len tokens is encoded in overlapping windows of max_len
 * tokens (stride = max_len - max_len/4). Each token takes its encoder output from the window in
 * which it sits farthest from an edge, so every token is represented exactly once and the
 * stitched sequence h[N, D] covers the whole text. Classification pools over all N tokens; the
 * CRF decodes all N emissions in one Viterbi pass (so no entity is lost or duplicated at a
 * window boundary); relations are classified for every ordered pair of distinct entities whose
 * combined extent (first token of the earlier to last token of the later) fits in max_len
 * tokens. Offsets are always relative to the whole text.
 *
 * An attn_session holds reusable buffers (no allocation per call in steady state) and the
 * results of the last call, valid until the next call on that session. A session is used by
 * one thread at a time; models are shared read-only. */
#ifndef ATTN_PIPELINE_H
#define ATTN_PIPELINE_H

#include "model.h"

typedef struct attn_entity {
    int64_t start, end;         /* characters in the text (SQLite counting), end exclusive */
    size_t byte_start, byte_end;
    int tok_start, tok_end;     /* token indices, end exclusive */
    int label;                  /* index into cfg.entity_labels */
    float score;                /* mean over its tokens of the CRF marginal of the decoded tag */
} attn_entity;

typedef struct attn_relation {
    int head, tail;             /* indices into the entity array */
    int label;                  /* index into cfg.relation_labels (never "none") */
    float score;                /* softmax probability of that label */
} attn_relation;

typedef struct attn_session attn_session;

attn_session *attn_session_new(void);
void attn_session_free(attn_session *s);

/* probs[n classify labels]. Empty or all-whitespace text (no tokens) is classified from zero
 * tokens: pooled vector of zeros. Fails with ATTN_EINVAL if the model has no classify task. */
int attn_run_classify(const attn_model *m, attn_session *s, const char *text, size_t n_bytes,
                      float *probs, attn_error *err);

/* Entities in text order. *ents points into the session. */
int attn_run_entities(const attn_model *m, attn_session *s, const char *text, size_t n_bytes,
                      const attn_entity **ents, size_t *n_ents, attn_error *err);

/* Entities and the relations between them (pairs predicted "none" are omitted).
 * Requires a model with the relations task. */
int attn_run_relations(const attn_model *m, attn_session *s, const char *text, size_t n_bytes,
                       const attn_entity **ents, size_t *n_ents,
                       const attn_relation **rels, size_t *n_rels, attn_error *err);

/* Relation for given character spans [hs,he) and [ts,te) of the text (a user's own entities):
 * probs[R+1] (0 = none). Spans are snapped outward to token boundaries; a span covering no
 * token, or out of range, is ATTN_EINVAL. Entity types: the model's tagger decides the type of
 * each given span (its most probable label over the span's tokens). */
int attn_run_relation_pair(const attn_model *m, attn_session *s, const char *text,
                           size_t n_bytes, int64_t hs, int64_t he, int64_t ts, int64_t te,
                           float *probs, attn_error *err);

#endif
