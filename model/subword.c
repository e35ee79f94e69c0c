/* subword.c: hashed character n-gram rows of a token (see subword.h). */
#include "subword.h"

#include <string.h>

#include "features.h"
#include "tokenizer.h"

#define MAX_BRACKETED_BYTES (ATTN_MAX_NORM_BYTES + 2)

int attn_subword_check(int min_n, int max_n, uint32_t n_buckets, attn_error *err) {
    if (min_n < 1 || max_n < min_n || max_n > ATTN_SUBWORD_MAX_N)
        return attn_fail(err, ATTN_EINVAL,
                         "subword n-gram lengths must satisfy 1 <= min_n <= max_n <= %d "
                         "(got min_n %d, max_n %d)", ATTN_SUBWORD_MAX_N, min_n, max_n);
    if (n_buckets < 1 || n_buckets > ATTN_MAX_BUCKETS)
        return attn_fail(err, ATTN_EINVAL, "subword n_buckets must be 1..%u (got %u)",
                         ATTN_MAX_BUCKETS, n_buckets);
    return ATTN_OK;
}

/* Row of one n-gram (or of the whole bracketed word): tag byte ++ bytes, hashed. */
static uint32_t ngram_row(const char *bytes, size_t n, uint32_t n_buckets) {
    unsigned char buf[1 + MAX_BRACKETED_BYTES];
    buf[0] = (unsigned char)ATTN_SUBWORD_HASH_TAG;
    memcpy(buf + 1, bytes, n);
    return (uint32_t)(attn_hash64(ATTN_FEATURE_HASH_SEED, buf, n + 1) % n_buckets);
}

/* Builds "<" + norm + ">" in text and the byte offset of every character boundary in
 * offsets[0..n_chars] (offsets[n_chars] = total bytes). Returns n_chars. */
static size_t bracket_norm(const char *norm, size_t n_bytes, char *text, size_t *offsets) {
    size_t n_chars = 0, len = 0;
    offsets[n_chars++] = len;
    text[len++] = '<';
    const unsigned char *s = (const unsigned char *)norm;
    for (size_t b = 0; b < n_bytes && n_chars < ATTN_SUBWORD_MAX_CHARS - 1;) {
        uint32_t cp;
        size_t step = attn_utf8_next(s + b, n_bytes - b, &cp);
        if (len + step + 1 > MAX_BRACKETED_BYTES) break;
        offsets[n_chars++] = len;
        memcpy(text + len, s + b, step);
        len += step;
        b += step;
    }
    offsets[n_chars++] = len;
    text[len++] = '>';
    offsets[n_chars] = len;
    return n_chars;
}

size_t attn_subword_rows_of_norm(const char *norm, size_t n_bytes, int min_n, int max_n,
                                 uint32_t n_buckets, uint32_t *rows, size_t cap) {
    if (attn_subword_check(min_n, max_n, n_buckets, NULL) != ATTN_OK || cap == 0) return 0;
    char text[MAX_BRACKETED_BYTES];
    size_t offsets[ATTN_SUBWORD_MAX_CHARS + 1];
    size_t n_chars = bracket_norm(norm, n_bytes, text, offsets);
    size_t count = 0;
    rows[count++] = ngram_row(text, offsets[n_chars], n_buckets);
    for (size_t n = (size_t)min_n; n <= (size_t)max_n && n <= n_chars; n++) {
        for (size_t i = 0; i + n <= n_chars; i++) {
            if (n == n_chars) continue;               /* the whole word: rows[0] already */
            if (count == cap) return count;
            size_t start = offsets[i], end = offsets[i + n];
            rows[count++] = ngram_row(text + start, end - start, n_buckets);
        }
    }
    return count;
}

size_t attn_subword_rows(const char *token, size_t n_bytes, int min_n, int max_n,
                         uint32_t n_buckets, uint32_t *rows, size_t cap) {
    char norm[ATTN_MAX_NORM_BYTES + 1];
    size_t len = attn_token_norm(token, n_bytes, norm, sizeof norm);
    return attn_subword_rows_of_norm(norm, len, min_n, max_n, n_buckets, rows, cap);
}
