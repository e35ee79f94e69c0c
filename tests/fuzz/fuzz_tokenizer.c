/* fuzz_tokenizer: attn_tokenize on arbitrary bytes, then the contract of tokenizer.h checked
 * on the result, and every token featurised (features.h, subword.h).
 *
 * Invariants (abort when broken):
 *   - tokens are non-empty, in order, non-overlapping, inside the input;
 *   - token edges are character edges (the attn_utf8_next walk), and start/end are the
 *     character counts of the prefixes: attn_utf8_count(text, byte_start) == start;
 *   - no character inside a token is a separator, every character between tokens is one;
 *   - tokenizing again into the same (reused) attn_tokens gives the same tokens;
 *   - features: every row < its bucket count (attn_feature_rows_check agrees), the subword
 *     slots are the first ATTN_SUBWORD_SLOTS rows of attn_subword_rows then ATTN_ROW_NONE, the
 *     result is deterministic; norm and shape are NUL-terminated valid UTF-8
 *     within their documented maximum sizes, and a short buffer gets a prefix of the result
 *     that never splits a character. */
#include "features.h"
#include "subword.h"
#include "tokenizer.h"

#include <string.h>

#include "fuzz_check.h"

#define SMALL_INPUT_BYTES 512  /* below this, every token's prefix count is checked directly */
#define SHORT_CAP 7            /* a norm/shape buffer too small for most results */

static const attn_feature_spec SPECS[] = {
    { .kind = ATTN_FEAT_NORM, .n_buckets = 1000, .dim = 4 },
    { .kind = ATTN_FEAT_PREFIX, .n_buckets = 97, .dim = 4, .affix = 3 },
    { .kind = ATTN_FEAT_SUBWORD, .n_buckets = 101, .dim = 4, .min_n = 2, .max_n = 5 },
    { .kind = ATTN_FEAT_SUFFIX, .n_buckets = 1, .dim = 4, .affix = 8 },  /* one bucket: row 0 */
    { .kind = ATTN_FEAT_SHAPE, .n_buckets = ATTN_MAX_BUCKETS, .dim = 4 },
};
#define N_SPECS (int)(sizeof SPECS / sizeof *SPECS)
#define SUBWORD_SPEC 2
#define SUBWORD_FIRST_SLOT 2   /* slots of the specs before it: one each */

/* chars[b] = character index of byte b when b starts a character (or b == n), else -1. */
static int64_t *character_edges(const unsigned char *s, size_t n) {
    int64_t *chars = malloc((n + 1) * sizeof *chars);
    if (!chars) abort();
    for (size_t b = 0; b <= n; b++) chars[b] = -1;
    int64_t c = 0;
    for (size_t b = 0; b < n;) {
        uint32_t cp;
        chars[b] = c++;
        size_t len = attn_utf8_next(s + b, n - b, &cp);
        FUZZ_CHECK(len >= 1 && len <= n - b, "attn_utf8_next returned %zu at byte %zu of %zu", len, b, n);
        b += len;
    }
    chars[n] = c;
    FUZZ_CHECK(attn_utf8_count((const char *)s, n) == c, "count %lld, walk %lld",
               (long long)attn_utf8_count((const char *)s, n), (long long)c);
    return chars;
}

/* Every character in s[from..to) is (want_sep = 1) / is not (want_sep = 0) a separator. */
static void check_classes(const unsigned char *s, size_t from, size_t to, int want_sep) {
    for (size_t b = from; b < to;) {
        uint32_t cp;
        size_t len = attn_utf8_next(s + b, to - b, &cp);
        int sep = attn_char_classify(cp) == ATTN_CH_SEP;
        FUZZ_CHECK(sep == want_sep, "U+%04X at byte %zu is %sa separator but lies %s a token",
                   (unsigned)cp, b, sep ? "" : "not ", want_sep ? "between" : "inside");
        b += len;
    }
}

static void check_spans(const unsigned char *s, size_t n, const attn_tokens *t) {
    int64_t *chars = character_edges(s, n);
    size_t prev_end = 0;
    for (size_t i = 0; i < t->n; i++) {
        const attn_token *k = &t->tok[i];
        FUZZ_CHECK(k->byte_start >= prev_end && k->byte_start < k->byte_end && k->byte_end <= n,
                   "token %zu bytes [%zu, %zu), previous end %zu, input %zu", i, k->byte_start,
                   k->byte_end, prev_end, n);
        FUZZ_CHECK(chars[k->byte_start] == k->start && chars[k->byte_end] == k->end,
                   "token %zu chars [%lld, %lld) vs edges %lld %lld", i, (long long)k->start,
                   (long long)k->end, (long long)chars[k->byte_start], (long long)chars[k->byte_end]);
        if (n < SMALL_INPUT_BYTES || i == 0 || i + 1 == t->n)
            FUZZ_CHECK(attn_utf8_count((const char *)s, k->byte_start) == k->start,
                       "token %zu: prefix count differs from start %lld", i, (long long)k->start);
        check_classes(s, prev_end, k->byte_start, 1);
        check_classes(s, k->byte_start, k->byte_end, 0);
        prev_end = k->byte_end;
    }
    check_classes(s, prev_end, n, 1);
    free(chars);
}

/* out[0..len) with out[len] == 0, len < cap, valid UTF-8. */
static void check_text_out(const char *out, size_t len, size_t cap, const char *what) {
    FUZZ_CHECK(len < cap && out[len] == '\0', "%s: length %zu, cap %zu", what, len, cap);
    FUZZ_CHECK(fuzz_valid_utf8((const unsigned char *)out, len), "%s: invalid UTF-8", what);
}

typedef size_t (*text_fn)(const char *, size_t, char *, size_t);

/* The full result, then a short buffer: it must hold a prefix of the full result. */
static void check_norm_or_shape(text_fn fn, const char *tok, size_t n, size_t cap, const char *what) {
    char full[ATTN_MAX_NORM_BYTES + 1], shortb[SHORT_CAP];
    size_t len = fn(tok, n, full, cap);
    check_text_out(full, len, cap, what);
    size_t slen = fn(tok, n, shortb, sizeof shortb);
    check_text_out(shortb, slen, sizeof shortb, what);
    FUZZ_CHECK(slen <= len && memcmp(shortb, full, slen) == 0, "%s: short result is no prefix", what);
    char none = 'x';
    FUZZ_CHECK(fn(tok, n, &none, 0) == 0 && none == 'x', "%s: wrote into a zero-size buffer", what);
}

/* The subword slots are the first ATTN_SUBWORD_SLOTS rows of attn_subword_rows, then
 * ATTN_ROW_NONE. */
static void check_subword_slots(const char *tok, size_t n, const uint32_t *slots) {
    static uint32_t sub[ATTN_SUBWORD_MAX_ROWS];
    const attn_feature_spec *sw = &SPECS[SUBWORD_SPEC];
    size_t n_sub = attn_subword_rows(tok, n, sw->min_n, sw->max_n, sw->n_buckets, sub, ATTN_SUBWORD_MAX_ROWS);
    FUZZ_CHECK(n_sub >= 1 && n_sub <= ATTN_SUBWORD_MAX_ROWS, "subword rows %zu", n_sub);
    for (size_t i = 0; i < n_sub; i++) FUZZ_CHECK(sub[i] < sw->n_buckets, "subword row %u", sub[i]);
    for (size_t k = 0; k < ATTN_SUBWORD_SLOTS; k++)
        FUZZ_CHECK(slots[k] == (k < n_sub ? sub[k] : ATTN_ROW_NONE), "subword slot %zu: %u", k, slots[k]);
}

static void check_features(const char *tok, size_t n) {
    enum { MAX_ROWS = ATTN_MAX_SLOTS };
    int n_slots = attn_feature_slots(SPECS, N_SPECS);
    FUZZ_CHECK(n_slots == N_SPECS - 1 + ATTN_SUBWORD_SLOTS && n_slots <= MAX_ROWS, "%d slots", n_slots);
    uint32_t rows[MAX_ROWS], again[MAX_ROWS];
    attn_token_features(tok, n, SPECS, N_SPECS, rows);
    attn_token_features(tok, n, SPECS, N_SPECS, again);
    int bad_slot = -1;
    int bad = attn_feature_rows_check(SPECS, N_SPECS, rows, &bad_slot);
    FUZZ_CHECK(bad == -1, "feature %d slot %d: row %u", bad, bad_slot, bad_slot >= 0 ? rows[bad_slot] : 0);
    FUZZ_CHECK(memcmp(rows, again, (size_t)n_slots * sizeof *rows) == 0, "features not deterministic");
    for (int f = 0, slot = 0; f < N_SPECS; slot += attn_feature_n_slots(&SPECS[f]), f++)
        FUZZ_CHECK(rows[slot] < SPECS[f].n_buckets, "feature %d row %u", f, rows[slot]);
    FUZZ_CHECK(rows[SUBWORD_FIRST_SLOT + ATTN_SUBWORD_SLOTS] == 0, "one-bucket feature row %u",
               rows[SUBWORD_FIRST_SLOT + ATTN_SUBWORD_SLOTS]);
    check_subword_slots(tok, n, rows + SUBWORD_FIRST_SLOT);
    check_norm_or_shape(attn_token_norm, tok, n, ATTN_MAX_NORM_BYTES + 1, "norm");
    check_norm_or_shape(attn_token_shape, tok, n, ATTN_MAX_SHAPE_BYTES + 1, "shape");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    attn_tokens toks = {0}, again = {0};
    attn_error err;
    FUZZ_CHECK(attn_tokenize(text, size, &toks, &err) == ATTN_OK, "tokenize failed: %s", err.msg);
    check_spans(data, size, &toks);
    /* Reuse: tokenizing into a used buffer must give the same answer. */
    FUZZ_CHECK(attn_tokenize(text, size, &again, &err) == ATTN_OK, "%s", err.msg);
    FUZZ_CHECK(attn_tokenize(text, size, &again, &err) == ATTN_OK, "%s", err.msg);
    FUZZ_CHECK(again.n == toks.n && (toks.n == 0 ||
               memcmp(again.tok, toks.tok, toks.n * sizeof *toks.tok) == 0), "retokenize differs");
    for (size_t i = 0; i < toks.n; i++)
        check_features(text + toks.tok[i].byte_start, toks.tok[i].byte_end - toks.tok[i].byte_start);
    attn_tokens_free(&toks);
    attn_tokens_free(&again);
    return 0;
}
