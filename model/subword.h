/* subword.h: the "subword" token representation (fastText, Bojanowski et al. 2017).
 *
 * A token is represented by hashed rows of one embedding table [n_buckets, dim]:
 *   - the row of the whole word "<" + norm + ">"  (norm as attn_token_norm: case-folded,
 *     digits -> '0', first ATTN_MAX_TOKEN_CHARS characters of the token);
 *   - the row of every character n-gram of "<" + norm + ">" with min_n <= n <= max_n,
 *     except the n-gram that is the whole "<norm>" (that one is the word row already).
 * The token's vector is the mean of those rows; repeated n-grams ("ana" in "banana") count
 * once per occurrence. n-grams are over code points, not bytes ("<ün" is 3 characters).
 * Words are just another hashed row, so a word never seen in training still gets a vector
 * from its n-grams (its own word row is then whatever shares that bucket).
 *
 * Row = attn_hash64(ATTN_FEATURE_HASH_SEED, [ATTN_SUBWORD_HASH_TAG] ++ utf8 bytes) % n_buckets.
 * The tag byte 'S' (0x53) keeps these rows apart from the attn_feature_kind bytes (0..3) of
 * features.h. The hash, the tag and the row order are part of the wordvec file format.
 *
 * Row order (fixed, so that a capped list keeps what matters most): rows[0] is the word row,
 * then all n-grams of length min_n from left to right, then those of length min_n + 1, ...
 *
 * Example, "Where", min_n 3, max_n 6: "<where>", then "<wh" "whe" "her" "ere" "re>",
 * "<whe" "wher" "here" "ere>", "<wher" "where" "here>", "<where" "where>": 15 rows. */
#ifndef ATTN_SUBWORD_H
#define ATTN_SUBWORD_H

#include "common.h"

#define ATTN_SUBWORD_HASH_TAG 0x53u   /* 'S': the kind byte of subword rows; model format */
#define ATTN_SUBWORD_DEFAULT_MIN_N 3
#define ATTN_SUBWORD_DEFAULT_MAX_N 6
#define ATTN_SUBWORD_MAX_N 8          /* longest n-gram allowed (characters) */
/* Characters of "<norm>" at most: case folding turns one character into <= 3. */
#define ATTN_SUBWORD_MAX_CHARS (ATTN_MAX_TOKEN_CHARS * 3 + 2)
/* A rows buffer of this many entries always holds the whole list, for any valid min_n/max_n. */
#define ATTN_SUBWORD_MAX_ROWS (ATTN_SUBWORD_MAX_CHARS * ATTN_SUBWORD_MAX_N + 1)

/* Checks 1 <= min_n <= max_n <= ATTN_SUBWORD_MAX_N and 1 <= n_buckets <= ATTN_MAX_BUCKETS.
 * Returns ATTN_OK or ATTN_EINVAL with a message. */
int attn_subword_check(int min_n, int max_n, uint32_t n_buckets, attn_error *err);

/* Writes the rows of token[0..n_bytes) (raw UTF-8, may be malformed) into rows[0..cap) in the
 * order above and returns how many were written: min(total, cap). Returns 0 when the
 * parameters fail attn_subword_check. Deterministic, allocation-free, thread-safe. */
size_t attn_subword_rows(const char *token, size_t n_bytes, int min_n, int max_n,
                         uint32_t n_buckets, uint32_t *rows, size_t cap);

/* The same for a token that is already normalised (the output of attn_token_norm): norm is
 * used as is, except that it is cut to ATTN_SUBWORD_MAX_CHARS - 2 characters. */
size_t attn_subword_rows_of_norm(const char *norm, size_t n_bytes, int min_n, int max_n,
                                 uint32_t n_buckets, uint32_t *rows, size_t cap);

#endif
