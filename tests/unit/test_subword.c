/* test_subword.c: character n-gram rows of a token, against known answers from an independent
 * Python implementation, plus normalisation, code points, caps, long tokens and bad input. */
#include <string.h>

#include "check.h"
#include "features.h"
#include "subword.h"

/* Known answers, plain Python 3 (h64 and SEED exactly as in test_features.c):
 *   def rows(norm, minn, maxn, B):
 *       s = "<" + norm + ">"
 *       out = [h64(SEED, b"S" + s.encode()) % B]
 *       for n in range(minn, maxn + 1):
 *           for i in range(len(s) - n + 1):
 *               if n != len(s): out.append(h64(SEED, b"S" + s[i:i+n].encode()) % B)
 *       return out */
static void test_known_answers(void) {
    static const struct { const char *token; int min_n, max_n; uint32_t buckets; size_t n; uint32_t rows[16]; } known[] = {
        {"Where", 3, 6, 1000003, 15, {297830, 920499, 174650, 756468, 998185, 403036, 713498, 320378,
                                      226569, 583166, 571915, 798655, 541265, 18104, 238338}},
        {"ab", 3, 6, 1000003, 3, {864012, 472525, 335365}},
        {"ÜNÏ", 2, 3, 5000, 8, {1697, 2498, 291, 1415, 2380, 406, 4387, 1547}},
        /* digits become 0; "000" occurs twice and is listed twice */
        {"1996", 3, 6, 2000000, 10, {802820, 1611400, 1086199, 1086199, 235037, 398971, 1862689,
                                     304900, 296028, 1348401}},
    };
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        uint32_t rows[ATTN_SUBWORD_MAX_ROWS];
        size_t n = attn_subword_rows(known[i].token, strlen(known[i].token), known[i].min_n,
                                     known[i].max_n, known[i].buckets, rows, ATTN_SUBWORD_MAX_ROWS);
        CHECK_MSG(n == known[i].n, "%s: %zu rows, expected %zu", known[i].token, n, known[i].n);
        for (size_t r = 0; r < n && r < known[i].n; r++)
            CHECK_MSG(rows[r] == known[i].rows[r], "%s row %zu: %u, expected %u", known[i].token,
                      r, rows[r], known[i].rows[r]);
    }
}

/* The word row is hash("S<norm>"), the n-grams are hash("S" + piece): check by hashing. */
static uint32_t row_of(const char *piece, uint32_t buckets) {
    char buf[256];
    buf[0] = 'S';
    size_t n = strlen(piece);
    memcpy(buf + 1, piece, n);
    return (uint32_t)(attn_hash64(ATTN_FEATURE_HASH_SEED, buf, n + 1) % buckets);
}

static void test_order_and_pieces(void) {
    const uint32_t B = 1u << 24;   /* large: distinct pieces almost surely distinct rows */
    const char *expected[] = {"<where>", "<wh", "whe", "her", "ere", "re>", "<whe", "wher", "here",
                              "ere>", "<wher", "where", "here>", "<where", "where>"};
    uint32_t rows[64];
    size_t n = attn_subword_rows("WHERE", 5, 3, 6, B, rows, 64);
    CHECK(n == 15);
    for (size_t i = 0; i < 15 && i < n; i++) CHECK_MSG(rows[i] == row_of(expected[i], B), "piece %s", expected[i]);

    /* min_n 1: single characters, including the brackets */
    const char *one[] = {"<a>", "<", "a", ">", "<a", "a>"};
    n = attn_subword_rows("a", 1, 1, 2, B, rows, 64);
    CHECK(n == 6);
    for (size_t i = 0; i < 6 && i < n; i++) CHECK_MSG(rows[i] == row_of(one[i], B), "piece %s", one[i]);

    /* code points, not bytes: "<ün" is one 3-gram of 4 bytes */
    n = attn_subword_rows("Ün", 3, 3, 3, B, rows, 64);
    CHECK(n == 3);
    CHECK(rows[0] == row_of("<ün>", B));
    CHECK(rows[1] == row_of("<ün", B));
    CHECK(rows[2] == row_of("ün>", B));
}

static int same_rows(const char *a, const char *b) {
    uint32_t ra[ATTN_SUBWORD_MAX_ROWS], rb[ATTN_SUBWORD_MAX_ROWS];
    size_t na = attn_subword_rows(a, strlen(a), 3, 6, 2000000, ra, ATTN_SUBWORD_MAX_ROWS);
    size_t nb = attn_subword_rows(b, strlen(b), 3, 6, 2000000, rb, ATTN_SUBWORD_MAX_ROWS);
    return na == nb && memcmp(ra, rb, na * sizeof *ra) == 0;
}

static void test_normalisation(void) {
    CHECK(same_rows("London", "LONDON"));
    CHECK(same_rows("1996", "2003"));
    CHECK(same_rows("Straße", "STRASSE"));
    CHECK(!same_rows("London", "Londres"));
    /* rows_of_norm on the norm gives the same list as rows on the raw token */
    uint32_t a[64], b[64];
    size_t na = attn_subword_rows("Clinton's", 9, 3, 6, 100000, a, 64);
    size_t nb = attn_subword_rows_of_norm("clinton's", 9, 3, 6, 100000, b, 64);
    CHECK(na == nb && na == 1 + 9 + 8 + 7 + 6);
    CHECK(memcmp(a, b, na * sizeof *a) == 0);
}

static void test_cap_and_bounds(void) {
    uint32_t full[64], capped[64];
    size_t n = attn_subword_rows("football", 8, 3, 6, 1000, full, 64);
    CHECK(n == 1 + 8 + 7 + 6 + 5);
    for (size_t i = 0; i < n; i++) CHECK(full[i] < 1000);
    memset(capped, 0xff, sizeof capped);
    CHECK(attn_subword_rows("football", 8, 3, 6, 1000, capped, 5) == 5);
    CHECK(memcmp(full, capped, 5 * sizeof *full) == 0);
    CHECK(capped[5] == 0xffffffffu);   /* nothing written past cap */
    CHECK(attn_subword_rows("football", 8, 3, 6, 1000, capped, 0) == 0);
    CHECK(attn_subword_rows("football", 8, 3, 6, 1, capped, 64) == n);
    CHECK(capped[0] == 0 && capped[n - 1] == 0);
}

static void test_edge_tokens(void) {
    uint32_t rows[ATTN_SUBWORD_MAX_ROWS];
    /* empty token: "<>" is shorter than any 3-gram, so only the word row */
    CHECK(attn_subword_rows("", 0, 3, 6, 1000, rows, 64) == 1);
    CHECK(rows[0] == row_of("<>", 1000));
    /* "<ab>" is itself 4 characters: listed once, as the word row */
    CHECK(attn_subword_rows("ab", 2, 3, 6, 1000, rows, 64) == 3);
    /* a malformed byte becomes U+FFFD, one character */
    CHECK(attn_subword_rows("\xff", 1, 3, 6, 1u << 24, rows, 64) == 1);
    CHECK(rows[0] == row_of("<\xef\xbf\xbd>", 1u << 24));
    /* tokens longer than ATTN_MAX_TOKEN_CHARS count by their first ATTN_MAX_TOKEN_CHARS */
    char long_a[200], cut_a[ATTN_MAX_TOKEN_CHARS + 1];
    memset(long_a, 'a', sizeof long_a - 1);
    long_a[sizeof long_a - 1] = 0;
    memset(cut_a, 'A', ATTN_MAX_TOKEN_CHARS);
    cut_a[ATTN_MAX_TOKEN_CHARS] = 0;
    CHECK(same_rows(long_a, cut_a));
    size_t L = ATTN_MAX_TOKEN_CHARS + 2;
    CHECK(attn_subword_rows(long_a, strlen(long_a), 3, 6, 1000, rows, ATTN_SUBWORD_MAX_ROWS) ==
          1 + (L - 2) + (L - 3) + (L - 4) + (L - 5));
    /* the bound holds for the worst case: 64 characters that each fold to 3, max_n 8, min_n 1 */
    char worst[ATTN_MAX_TOKEN_CHARS * 2 + 1];
    for (int i = 0; i < ATTN_MAX_TOKEN_CHARS; i++) memcpy(worst + 2 * i, "\xc5\x89", 2);   /* U+0149 -> 2 cps */
    worst[ATTN_MAX_TOKEN_CHARS * 2] = 0;
    size_t n = attn_subword_rows(worst, strlen(worst), 1, ATTN_SUBWORD_MAX_N, 1000, rows, ATTN_SUBWORD_MAX_ROWS);
    size_t chars = ATTN_MAX_TOKEN_CHARS * 2 + 2, expect = 1;
    for (size_t k = 1; k <= ATTN_SUBWORD_MAX_N; k++) expect += chars - k + 1;
    CHECK(n == expect);   /* the word row + every n-gram (none is the whole: longer than max_n) */
    CHECK(n <= ATTN_SUBWORD_MAX_ROWS);
}

static void test_bad_parameters(void) {
    uint32_t rows[64];
    attn_error err = {{0}};
    CHECK(attn_subword_rows("word", 4, 0, 6, 1000, rows, 64) == 0);
    CHECK(attn_subword_rows("word", 4, 4, 3, 1000, rows, 64) == 0);
    CHECK(attn_subword_rows("word", 4, 3, ATTN_SUBWORD_MAX_N + 1, 1000, rows, 64) == 0);
    CHECK(attn_subword_rows("word", 4, 3, 6, 0, rows, 64) == 0);
    CHECK(attn_subword_rows("word", 4, 3, 6, ATTN_MAX_BUCKETS + 1, rows, 64) == 0);
    CHECK(attn_subword_check(3, 6, 1000, &err) == ATTN_OK);
    CHECK(attn_subword_check(4, 3, 1000, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "subword n-gram lengths must satisfy 1 <= min_n <= max_n <= 8 (got min_n 4, max_n 3)") == 0);
    CHECK(attn_subword_check(3, 6, 0, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "subword n_buckets must be 1..16777216 (got 0)") == 0);
}

int main(void) {
    test_known_answers();
    test_order_and_pieces();
    test_normalisation();
    test_cap_and_bounds();
    test_edge_tokens();
    test_bad_parameters();
    return CHECK_DONE();
}
