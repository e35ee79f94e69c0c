/* features.h: per-token input features for a model trained from scratch.
 *
 * Each token is described by a few hashed features (spaCy's MultiHashEmbed idea), each looked
 * up in its own embedding table; the embeddings are concatenated and projected to the model
 * width by the encoder. Hashing means no vocabulary to store and no unknown words: a word never
 * seen in training still gets its prefix, suffix and shape embeddings, which carry most of the
 * signal for names (capitalisation, -ville, -son, digits).
 *
 *   norm    lower-cased token (full Unicode case folding via utf8proc), every decimal digit
 *           mapped to '0' (so 1996 and 2003 share a row: "0000")
 *   prefix  first `affix` characters of norm
 *   suffix  last `affix` characters of norm
 *   shape   character classes of the original token: X upper, x lower, d digit, the character
 *           itself for punctuation/symbols, and 'C' for CJK; runs longer than 4 are cut to 4
 *           (Xxxxx..., dd-dd); capped at 16 characters
 *   char    (no table lookup) - reserved for later
 *
 * A token of more than ATTN_MAX_TOKEN_CHARS characters is featurised by its first that many.
 * Row = hash64(feature kind, seed, bytes) % n_buckets. The hash is fixed forever (it is part of
 * the model format): FNV-1a 64 over the bytes, finalised with splitmix64. */
#ifndef ATTN_FEATURES_H
#define ATTN_FEATURES_H

#include "common.h"

typedef enum attn_feature_kind {
    ATTN_FEAT_NORM = 0,
    ATTN_FEAT_PREFIX = 1,
    ATTN_FEAT_SUFFIX = 2,
    ATTN_FEAT_SHAPE = 3,
} attn_feature_kind;

#define ATTN_MAX_FEATURES 8

typedef struct attn_feature_spec {
    attn_feature_kind kind;
    uint32_t n_buckets;   /* rows of the embedding table, 1..ATTN_MAX_BUCKETS */
    uint32_t dim;         /* embedding width */
    uint32_t affix;       /* characters, for prefix/suffix (1..8); 0 otherwise */
} attn_feature_spec;

/* Name as stored in the config ("norm", "prefix", "suffix", "shape"); NULL if out of range. */
const char *attn_feature_name(attn_feature_kind kind);
/* Parses a name; returns 0 and sets *kind, or -1 if unknown. */
int attn_feature_kind_from_name(const char *name, attn_feature_kind *kind);

/* Computes the embedding row of one token for each spec: rows[f] in [0, spec[f].n_buckets).
 * token/n_bytes is the token's UTF-8 text (may be malformed: decoded with attn_utf8_next). */
void attn_token_features(const char *token, size_t n_bytes,
                         const attn_feature_spec *spec, int n_features, uint32_t *rows);

/* The normalised form and the shape, exposed for tests and for the trainer's vocabulary
 * statistics. Write at most cap-1 bytes plus NUL into buf; return the length written. */
size_t attn_token_norm(const char *token, size_t n_bytes, char *buf, size_t cap);
size_t attn_token_shape(const char *token, size_t n_bytes, char *buf, size_t cap);

uint64_t attn_hash64(uint64_t seed, const void *data, size_t n);

#endif
