/* features.h: per-token input features for a model trained from scratch.
 *
 * Each token is described by a few hashed features (spaCy's MultiHashEmbed idea), each looked
 * up in its own embedding table; the embeddings are concatenated and projected to the model
 * width by the encoder. Hashing means no vocabulary to store and no unknown words: a word never
 * seen in training still gets its prefix, suffix and shape embeddings, which carry most of the
 * signal for names (capitalisation, -ville, -son, digits).
 *
 *   norm    lower-cased token (full Unicode case folding via utf8proc), every decimal digit
 *           mapped to '0' (so 1996 and 2003 share a row: "0000"), typographic punctuation
 *           folded to its plain ASCII form (below), so "IKEA’s" looks like "IKEA's", and
 *           traditional Chinese characters folded to their simplified forms (國 -> 国, one
 *           character at a time: OpenCC's t2s character table, model/zh_fold_table.h)
 *   prefix  first `affix` characters of norm
 *   suffix  last `affix` characters of norm
 *   shape   character classes of the original token: X upper, x lower, d digit, the character
 *           itself for punctuation/symbols, and 'C' for CJK; runs longer than 4 are cut to 4
 *           (Xxxxx..., dd-dd); capped at 16 characters
 *   subword fastText-style: the MEAN of the rows of the token's word and character n-grams
 *           (min_n..max_n characters of "<" + norm + ">"), exactly as subword.h lists them, in
 *           one table; a table trained by wordvec.h (same hash, same rows) can be loaded as is
 *   bigram_left   norm of the previous token followed by norm of this one ("中" then "国":
 *           "中国"); the first token of a sequence pairs with the start mark "\x02"
 *   bigram_right  norm of this token followed by norm of the next; the last token pairs with
 *           the end mark "\x03". The two bigram kinds are the only features that look beyond
 *           the token: they carry word-like units to character models (Chinese, where one
 *           token is one ideograph) and a little local order to every model. A "sequence" is
 *           what the caller featurises at once (attn_sequence_features): the trainer gives a
 *           whole text, inference one window of at most max_len tokens, so a token on a
 *           window's edge pairs with the mark, as it does at a text's edge. A model with a
 *           bigram feature runs without the token cache (token_cache.h): its input row is no
 *           longer a function of the token's text alone.
 *   gazetteer     the token's place in the matches of named lists (gazetteer.h): for each
 *           list l of the feature's "lists", whether the token begins (B), continues (I) or is
 *           outside (O) a match of one of l's entries. The table has 3 rows a list, row
 *           3 l + tag (ATTN_GAZ_ROW), and the token's embedding is the SUM of its lists' rows
 *           (one slot a list), so a token in several lists carries all of them. Like the
 *           bigrams it reads the sequence (an entry spans tokens; a window's edge cuts a match
 *           as a text's edge does) and turns the token cache off. The entries are not part of
 *           the config: they are rows of the model table, which a user may extend.
 *
 * Slots: a token's rows are a fixed number of SLOTS, one per feature in config order, except
 * that the subword feature takes ATTN_SUBWORD_SLOTS consecutive slots: the first
 * ATTN_SUBWORD_SLOTS rows of attn_subword_rows in its documented order (word row, then the
 * min_n-grams left to right, then the (min_n+1)-grams, ...), unused slots = ATTN_ROW_NONE, and
 * the gazetteer feature takes one slot per list (n_lists). So a
 * sequence's rows are [T, attn_feature_slots(spec, n_features)], token t at rows + t * slots.
 * Words longer than about ATTN_SUBWORD_SLOTS / (max_n - min_n + 1) characters lose their
 * longest n-grams; the word row and the short n-grams always stay.
 *
 * A token of more than ATTN_MAX_TOKEN_CHARS characters is featurised by its first that many.
 * Characters are counted and decoded as in tokenizer.h (SQLite's rule); a malformed character
 * becomes U+FFFD in norm, prefix, suffix and shape.
 *
 * Typographic folding (norm and shape; offsets stay on the original text): ‘ ’ ‚ ‛ ′ ‵ ʼ -> ',
 * “ ” „ ‟ ″ ‶ « » -> ", ‐ ‑ ‒ – − ﹣ -> -, — ― -> --, … -> ..., and the full-width forms
 * U+FF01..U+FF5E -> their ASCII characters (full-width letters are then case-folded).
 *
 * Details: norm folds each code point with utf8proc's full case folding (so "Straße" and
 * "STRASSE" share "strasse", "É" -> "é"); any Nd digit of any script becomes '0'. Shape maps
 * Lu/Lt -> X, other letters (Ll, Lm, Lo, Nl, No) -> x, Nd -> d, CJK/kana/Hangul -> C, combining
 * marks and attaching format characters -> nothing, whitespace/controls -> ' ', anything else
 * (punctuation, symbols, emoji, U+FFFD) -> the character itself.
 *
 * Row = attn_hash64(ATTN_FEATURE_HASH_SEED, [kind byte] ++ feature bytes) % n_buckets, where
 * the kind byte is the attn_feature_kind value (subword rows: subword.h's tag 'S' instead).
 * The hash is fixed forever (it is part of the model format): h = 0xcbf29ce484222325 ^ seed;
 * for each byte b: h ^= b, h *= 0x100000001b3 (FNV-1a 64); then splitmix64's finaliser:
 * z = h + 0x9e3779b97f4a7c15, z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9,
 * z = (z ^ z >> 27) * 0x94d049bb133111eb, z ^ z >> 31. */
#ifndef ATTN_FEATURES_H
#define ATTN_FEATURES_H

#include "common.h"

typedef enum attn_feature_kind {
    ATTN_FEAT_NORM = 0,
    ATTN_FEAT_PREFIX = 1,
    ATTN_FEAT_SUFFIX = 2,
    ATTN_FEAT_SHAPE = 3,
    ATTN_FEAT_SUBWORD = 4,
    ATTN_FEAT_BIGRAM_LEFT = 5,
    ATTN_FEAT_BIGRAM_RIGHT = 6,
    ATTN_FEAT_GAZETTEER = 7,
} attn_feature_kind;

#define ATTN_MAX_FEATURES 8
#define ATTN_SUBWORD_SLOTS 32          /* rows kept per token by the subword feature */
#define ATTN_ROW_NONE UINT32_MAX       /* an unused slot (subword feature only) */
#define ATTN_GAZ_MAX_LISTS 16          /* lists of a gazetteer feature */
#define ATTN_GAZ_NAME_BYTES 32         /* a list name: 1..31 of [A-Za-z0-9_-], and a NUL */
/* Gazetteer tags and the table row of list l with tag t. */
enum { ATTN_GAZ_O = 0, ATTN_GAZ_B = 1, ATTN_GAZ_I = 2, ATTN_GAZ_TAGS = 3 };
#define ATTN_GAZ_ROW(l, t) ((uint32_t)(l) * ATTN_GAZ_TAGS + (uint32_t)(t))
/* Slots per token at most: each kind at most once (the config parser checks it). */
#define ATTN_MAX_SLOTS (ATTN_MAX_FEATURES - 2 + ATTN_SUBWORD_SLOTS + ATTN_GAZ_MAX_LISTS)
#define ATTN_FEATURE_HASH_SEED 0x6174746e65787431ull   /* "attnext1"; part of the model format */
#define ATTN_MAX_NORM_BYTES (ATTN_MAX_TOKEN_CHARS * 3 * 4)  /* case folding: <= 3 code points */
#define ATTN_MAX_SHAPE_CHARS 16
#define ATTN_MAX_SHAPE_BYTES (ATTN_MAX_SHAPE_CHARS * 4)

typedef struct attn_feature_spec {
    attn_feature_kind kind;
    uint32_t n_buckets;   /* rows of the embedding table, 1..ATTN_MAX_BUCKETS */
    uint32_t dim;         /* embedding width */
    uint32_t affix;       /* characters, for prefix/suffix (1..8); 0 otherwise */
    int min_n, max_n;     /* n-gram lengths, for subword (as attn_subword_check); 0 otherwise */
    int n_lists;          /* gazetteer: lists (1..ATTN_GAZ_MAX_LISTS), n_buckets = 3 x n_lists;
                           * 0 otherwise */
    char lists[ATTN_GAZ_MAX_LISTS][ATTN_GAZ_NAME_BYTES];   /* gazetteer: their names */
} attn_feature_spec;

/* Name as stored in the config ("norm", "prefix", "suffix", "shape", "subword", "bigram_left",
 * "bigram_right", "gazetteer"); NULL if out of range. */
const char *attn_feature_name(attn_feature_kind kind);
/* The features fs[n] as the JSON array a config gives them in (what attn_train's option
 * 'features' takes), e.g. [{"kind":"norm","buckets":50000,"dim":64},{"kind":"suffix",
 * "buckets":5000,"dim":16,"affix":3},{"kind":"subword",...,"min_n":3,"max_n":6},
 * {"kind":"gazetteer","buckets":6,"dim":16,"lists":["PER","LOC"]}]: malloc'd, NULL on ENOMEM. */
char *attn_features_json(const attn_feature_spec *fs, int n);

/* 1 when a[n_a] and b[n_b] are the same features, in the same order: kinds, buckets, dims,
 * affix and n-gram sizes, gazetteer list names (so the same tables mean the same thing); else 0. */
int attn_features_equal(const attn_feature_spec *a, int n_a, const attn_feature_spec *b,
                        int n_b);

/* Parses a name; returns 0 and sets *kind, or -1 if unknown. */
int attn_feature_kind_from_name(const char *name, attn_feature_kind *kind);

/* Slots one feature takes per token: ATTN_SUBWORD_SLOTS for subword, n_lists for gazetteer,
 * else 1. */
int attn_feature_n_slots(const attn_feature_spec *spec);
/* Slots per token of all features: the row stride of a sequence's rows. */
int attn_feature_slots(const attn_feature_spec *spec, int n_features);

/* Computes the embedding rows of one token into rows[0 .. attn_feature_slots(spec, n)): for
 * each spec in order, its slots (one row in [0, spec[f].n_buckets), or for subword the
 * n-gram rows, unused slots ATTN_ROW_NONE; gazetteer: every list's O row, as the token alone
 * matches no list). token/n_bytes is the token's UTF-8 text (may be malformed: decoded with
 * attn_utf8_next). */
void attn_token_features(const char *token, size_t n_bytes,
                         const attn_feature_spec *spec, int n_features, uint32_t *rows);

/* The row of spec's bigram table (bigram_left or bigram_right) for the bigram whose two norms,
 * back to back, are pair[0..n): the row attn_sequence_features gives a token whose bigram it
 * is. (The hash runs over the two norms as one string, so the split does not matter.) */
uint32_t attn_bigram_row(const attn_feature_spec *spec, const char *pair, size_t n);

/* Whether any feature reads a token's neighbours (a bigram or the gazetteer). */
int attn_features_have_context(const attn_feature_spec *spec, int n_features);

/* The rows of tokens toks[0 .. n_tokens) of text as one sequence: rows[t * S ..] as
 * attn_token_features gives them for token t, with the bigram slots made from the token's
 * neighbours in the sequence (S = attn_feature_slots), and the gazetteer slots from gaz's
 * matches in the sequence (attn_gazetteer_match; gaz: the model's, made for this spec's
 * gazetteer feature; NULL: every list O). attn_token_features alone treats the token as a
 * sequence of one: both bigram slots pair it with the marks. */
struct attn_token;
struct attn_gazetteer;
void attn_sequence_features(const char *text, const struct attn_token *toks, size_t n_tokens,
                            const attn_feature_spec *spec, int n_features,
                            const struct attn_gazetteer *gaz, uint32_t *rows);

/* Checks one token's rows[0 .. attn_feature_slots) as attn_token_features makes them: every
 * slot in [0, n_buckets) of its feature, except subword slots after the first, which may be
 * ATTN_ROW_NONE. Returns -1 when all are valid, else the feature index of the first bad slot
 * (*bad_slot receives the slot when non-NULL). */
int attn_feature_rows_check(const attn_feature_spec *spec, int n_features,
                            const uint32_t *rows, int *bad_slot);

/* The normalised form and the shape, exposed for tests and for the trainer's vocabulary
 * statistics. Write at most cap-1 bytes plus NUL into buf (never a partial UTF-8 character;
 * nothing when cap is 0); return the length written. A buffer of ATTN_MAX_NORM_BYTES + 1 /
 * ATTN_MAX_SHAPE_BYTES + 1 bytes always holds the whole result. */
size_t attn_token_norm(const char *token, size_t n_bytes, char *buf, size_t cap);
size_t attn_token_shape(const char *token, size_t n_bytes, char *buf, size_t cap);

uint64_t attn_hash64(uint64_t seed, const void *data, size_t n);

#endif
