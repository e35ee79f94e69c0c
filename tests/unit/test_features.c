/* test_features.c: feature names, the hash (known answers from an independent Python
 * implementation), norm and shape, affixes, long tokens and malformed UTF-8. */
#include <string.h>
#include <utf8proc.h>

#include "check.h"
#include "features.h"
#include "subword.h"
#include "tokenizer.h"

/* Known answers, computed with plain Python 3 integers:
 *   def h64(seed, data):
 *       h = 0xcbf29ce484222325 ^ seed
 *       for b in data: h = ((h ^ b) * 0x100000001b3) % 2**64
 *       z = (h + 0x9e3779b97f4a7c15) % 2**64
 *       z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) % 2**64
 *       z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) % 2**64
 *       return z ^ (z >> 31)
 *   SEED = int.from_bytes(b"attnext1", "big")
 * and rows = h64(SEED, bytes([kind]) + feature_bytes) % buckets. */
static void test_hash_known_answers(void) {
    CHECK(ATTN_FEATURE_HASH_SEED == 0x6174746e65787431ull);
    CHECK(attn_hash64(0, "", 0) == 0xc3817c016ba4ff30ull);
    CHECK(attn_hash64(0, "a", 1) == 0x5f29c2aadd9b8527ull);
    CHECK(attn_hash64(42, "foobar", 6) == 0x1214e024c636ac2cull);
    CHECK(attn_hash64(ATTN_FEATURE_HASH_SEED, "\0apple", 6) == 0x14ffab33ac05a7a9ull);
    CHECK(attn_hash64(1, "a", 1) != attn_hash64(0, "a", 1));

    static const attn_feature_spec spec[4] = {
        {.kind = ATTN_FEAT_NORM, .n_buckets = 50000, .dim = 64},
        {.kind = ATTN_FEAT_PREFIX, .n_buckets = 10000, .dim = 16, .affix = 3},
        {.kind = ATTN_FEAT_SUFFIX, .n_buckets = 10000, .dim = 16, .affix = 3},
        {.kind = ATTN_FEAT_SHAPE, .n_buckets = 1000, .dim = 16},
    };
    static const struct { const char *token; uint32_t rows[4]; } known[] = {
        {"Apple", {9545, 2959, 3829, 646}},
        {"1996-08-22", {21752, 5547, 3556, 63}},
        {"北京", {32819, 4417, 4588, 358}},
    };
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        uint32_t rows[4] = {0};
        attn_token_features(known[i].token, strlen(known[i].token), spec, 4, rows);
        for (int f = 0; f < 4; f++)
            CHECK_MSG(rows[f] == known[i].rows[f], "%s feature %d: row %u, want %u",
                      known[i].token, f, rows[f], known[i].rows[f]);
    }
}

static void test_names(void) {
    static const char *const names[] = {"norm", "prefix", "suffix", "shape", "subword",
                                        "bigram_left", "bigram_right", "gazetteer"};
    for (int k = 0; k < 8; k++) {
        attn_feature_kind kind = (attn_feature_kind)99;
        CHECK(attn_feature_name((attn_feature_kind)k) && strcmp(attn_feature_name((attn_feature_kind)k), names[k]) == 0);
        CHECK(attn_feature_kind_from_name(names[k], &kind) == 0 && kind == (attn_feature_kind)k);
    }
    attn_feature_kind kind = ATTN_FEAT_SHAPE;
    CHECK(attn_feature_kind_from_name("Norm", &kind) == -1);
    CHECK(attn_feature_kind_from_name("", &kind) == -1);
    CHECK(attn_feature_kind_from_name(NULL, &kind) == -1);
    CHECK(kind == ATTN_FEAT_SHAPE);   /* untouched on failure */
    CHECK(attn_feature_name((attn_feature_kind)8) == NULL);
    CHECK(attn_feature_name((attn_feature_kind)-1) == NULL);
}

typedef struct text_case {
    const char *token;
    const char *norm;
    const char *shape;
} text_case;

static const text_case text_cases[] = {
    {"Apple", "apple", "Xxxxx"},
    {"Washington", "washington", "Xxxxx"},
    {"1996-08-22", "0000-00-00", "dddd-dd-dd"},
    {"IBM", "ibm", "XXX"},
    {"\xC3\x89", "\xC3\xA9", "X"},                               /* É -> é */
    {"E\xCC\x81", "e\xCC\x81", "X"},                             /* combining acute: no shape */
    {"北京", "北京", "CC"},
    {"こんにちは", "こんにちは", "CCCC"},
    {"Stra\xC3\x9F" "e", "strasse", "Xxxxx"},                     /* full case folding: ß -> ss */
    {"STRASSE", "strasse", "XXXX"},
    {"\xCE\xA3\xCE\x91\xCE\xA3", "\xCF\x83\xCE\xB1\xCF\x83", "XXX"}, /* ΣΑΣ -> σασ */
    {"\xD9\xA2\xD9\xA0\xD9\xA2\xD9\xA4", "0000", "dddd"},         /* Arabic-Indic digits */
    {"\xEF\xBC\x91\xEF\xBC\x92", "00", "dd"},                     /* full-width digits */
    {"\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D", "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D", "xxxx"}, /* Hebrew */
    {"U.S.", "u.s.", "X.X."},
    {"McDonald's", "mcdonald's", "XxXxxxx'x"},
    {"$5.5", "$0.0", "$d.d"},
    {"...", "...", "..."},
    {"!!!!!!", "!!!!!!", "!!!!"},
    {"\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80"},
    {"\xC7\x85" "a", "\xC7\x86" "a", "Xx"},                        /* titlecase Dž */
    {"\xFF", "\xEF\xBF\xBD", "\xEF\xBF\xBD"},                     /* malformed -> U+FFFD */
    {"a\x80" "b\xC3", "a\xEF\xBF\xBD" "b\xEF\xBF\xBD", "x\xEF\xBF\xBDx\xEF\xBF\xBD"},
    {"\xED\xA0\x80" "X", "\xEF\xBF\xBD" "x", "\xEF\xBF\xBDX"},     /* surrogate */
    /* typographic punctuation folds to its ASCII form in norm and shape */
    {"\xE2\x80\x99s", "'s", "'x"},                                 /* ’s -> 's */
    {"O\xE2\x80\x99Neill", "o'neill", "X'Xxxxx"},
    {"\xE2\x80\x9C", "\"", "\""},                                  /* “ */
    {"\xE2\x80\x9D", "\"", "\""},                                  /* ” */
    {"\xC2\xAB", "\"", "\""},                                      /* « */
    {"\xE2\x80\x98", "'", "'"},                                     /* ‘ */
    {"\xE2\x80\x93", "-", "-"},                                     /* en dash */
    {"\xE2\x80\x94", "--", "--"},                                   /* em dash */
    {"\xE2\x80\xA6", "...", "..."},                                 /* ellipsis */
    {"\xE2\x88\x92" "5", "-0", "-d"},                               /* minus sign */
    {"\xEF\xBC\xA1\xEF\xBD\x82\xEF\xBD\x83", "abc", "Xxx"},         /* full-width Abc */
    {"\xEF\xBC\x8C", ",", ","},                                     /* full-width comma */
    {"\xE2\x80\x94\xE2\x80\x94\xE2\x80\x94", "------", "----"},     /* shape runs cut at 4 */
    {"a b", "a b", "x x"},                                        /* not a token, still defined */
    {"", "", ""},
};

static void test_norm_and_shape(void) {
    char buf[ATTN_MAX_NORM_BYTES + 1];
    for (size_t i = 0; i < sizeof text_cases / sizeof *text_cases; i++) {
        const text_case *c = &text_cases[i];
        size_t n = attn_token_norm(c->token, strlen(c->token), buf, sizeof buf);
        CHECK_MSG(n == strlen(c->norm) && strcmp(buf, c->norm) == 0, "norm of \"%s\": \"%s\"", c->token, buf);
        n = attn_token_shape(c->token, strlen(c->token), buf, sizeof buf);
        CHECK_MSG(n == strlen(c->shape) && strcmp(buf, c->shape) == 0, "shape of \"%s\": \"%s\"", c->token, buf);
    }
    /* Embedded NUL (never inside a token from attn_tokenize): the shape shows a space, the norm
     * keeps the byte; both lengths are returned. */
    CHECK(attn_token_shape("a\0b", 3, buf, sizeof buf) == 3 && strcmp(buf, "x x") == 0);
    CHECK(attn_token_norm("A\0B", 3, buf, sizeof buf) == 3 && memcmp(buf, "a\0b", 4) == 0);
}

static void test_long_tokens(void) {
    char token[300], buf[ATTN_MAX_NORM_BYTES + 1], want[300];
    memset(token, 'A', 100);
    memset(want, 'a', ATTN_MAX_TOKEN_CHARS);
    want[ATTN_MAX_TOKEN_CHARS] = '\0';
    CHECK(attn_token_norm(token, 100, buf, sizeof buf) == ATTN_MAX_TOKEN_CHARS);
    CHECK(strcmp(buf, want) == 0);
    CHECK(attn_token_shape(token, 100, buf, sizeof buf) == 4 && strcmp(buf, "XXXX") == 0);

    /* Alternating case: the shape stops at 16 characters. */
    for (int i = 0; i < 100; i++) token[i] = i % 2 ? 'b' : 'A';
    CHECK(attn_token_shape(token, 100, buf, sizeof buf) == ATTN_MAX_SHAPE_CHARS);
    CHECK(strcmp(buf, "XxXxXxXxXxXxXxXx") == 0);

    /* A token longer than the limit has the features of its first ATTN_MAX_TOKEN_CHARS
     * characters, here 3-byte ones: 100 characters, 300 bytes. */
    for (int i = 0; i < 100; i++) memcpy(token + 3 * i, i % 3 ? "\xE4\xBA\xAC" : "\xE5\x8C\x97", 3);
    attn_feature_spec spec[4] = {
        {.kind = ATTN_FEAT_NORM, .n_buckets = ATTN_MAX_BUCKETS, .dim = 8},
        {.kind = ATTN_FEAT_PREFIX, .n_buckets = ATTN_MAX_BUCKETS, .dim = 8, .affix = 2},
        {.kind = ATTN_FEAT_SUFFIX, .n_buckets = ATTN_MAX_BUCKETS, .dim = 8, .affix = 2},
        {.kind = ATTN_FEAT_SHAPE, .n_buckets = ATTN_MAX_BUCKETS, .dim = 8},
    };
    uint32_t full[4], cut[4], shorter[4];
    attn_token_features(token, 300, spec, 4, full);
    attn_token_features(token, 3 * ATTN_MAX_TOKEN_CHARS, spec, 4, cut);
    attn_token_features(token, 3 * (ATTN_MAX_TOKEN_CHARS - 1), spec, 4, shorter);
    CHECK(memcmp(full, cut, sizeof full) == 0);
    CHECK(full[0] != shorter[0]);       /* the 64th character still counts */
    CHECK(full[1] == shorter[1]);       /* same first two characters */
    size_t n = attn_token_norm(token, 300, buf, sizeof buf);
    CHECK(n == 3 * ATTN_MAX_TOKEN_CHARS);
    CHECK(memcmp(buf, token, n) == 0);

    /* Worst-case expansion of case folding fits the documented buffer: U+0390 folds to 3 code
     * points (6 bytes) from 2 bytes. */
    for (int i = 0; i < 100; i++) memcpy(token + 2 * i, "\xCE\x90", 2);
    n = attn_token_norm(token, 200, buf, sizeof buf);
    CHECK(n == 6 * ATTN_MAX_TOKEN_CHARS && n <= ATTN_MAX_NORM_BYTES);
}

static void test_small_buffers(void) {
    char buf[8];
    memset(buf, 'Z', sizeof buf);
    CHECK(attn_token_norm("Apple", 5, buf, 0) == 0 && buf[0] == 'Z');   /* cap 0: untouched */
    CHECK(attn_token_norm("Apple", 5, buf, 1) == 0 && buf[0] == '\0');
    CHECK(attn_token_norm("Apple", 5, buf, 4) == 3 && strcmp(buf, "app") == 0);
    /* Never a partial character: "aé" needs 4 bytes with the NUL. */
    CHECK(attn_token_norm("a\xC3\xA9", 3, buf, 3) == 1 && strcmp(buf, "a") == 0);
    CHECK(attn_token_norm("a\xC3\xA9", 3, buf, 4) == 3 && strcmp(buf, "a\xC3\xA9") == 0);
    CHECK(attn_token_shape("Ab1", 3, buf, 3) == 2 && strcmp(buf, "Xx") == 0);
    CHECK(attn_token_shape("a\xE2\x82\xAC", 4, buf, 4) == 1 && strcmp(buf, "x") == 0);  /* a€ */
    /* A folded em dash is two ASCII characters: both fit where the 3-byte original would not. */
    CHECK(attn_token_shape("a\xE2\x80\x94", 4, buf, 4) == 3 && strcmp(buf, "x--") == 0);
}

static void test_affixes_and_rows(void) {
    attn_feature_spec spec[5] = {
        {.kind = ATTN_FEAT_NORM, .n_buckets = 1u << 20, .dim = 8},
        {.kind = ATTN_FEAT_PREFIX, .n_buckets = 1u << 20, .dim = 8, .affix = 3},
        {.kind = ATTN_FEAT_SUFFIX, .n_buckets = 1u << 20, .dim = 8, .affix = 3},
        {.kind = ATTN_FEAT_SHAPE, .n_buckets = 1u << 20, .dim = 8},
        {.kind = ATTN_FEAT_PREFIX, .n_buckets = 1u << 20, .dim = 8, .affix = 8},
    };
    uint32_t a[5], b[5];
    attn_token_features("apple", 5, spec, 5, a);
    attn_token_features("APPLY", 5, spec, 5, b);
    CHECK(a[0] != b[0] && a[1] == b[1] && a[2] != b[2] && a[3] != b[3]);
    CHECK(a[4] != b[4]);                     /* affix 8 of a 5-letter word: the whole norm */
    attn_token_features("walking", 7, spec, 5, a);
    attn_token_features("TALKING", 7, spec, 5, b);
    CHECK(a[1] != b[1] && a[2] == b[2]);
    attn_token_features("1996", 4, spec, 5, a);
    attn_token_features("2003", 4, spec, 5, b);
    CHECK(memcmp(a, b, sizeof a) == 0);      /* digits share every row */
    /* The kind byte separates tables: a prefix equal to the whole norm still hashes apart. */
    attn_token_features("ab", 2, spec, 5, a);
    CHECK(a[1] == a[4]);
    uint32_t norm_row = (uint32_t)(attn_hash64(ATTN_FEATURE_HASH_SEED, "\0ab", 3) % (1u << 20));
    uint32_t prefix_row = (uint32_t)(attn_hash64(ATTN_FEATURE_HASH_SEED, "\1ab", 3) % (1u << 20));
    CHECK(a[0] == norm_row && a[1] == prefix_row && norm_row != prefix_row);
    /* Suffix of multi-byte characters counts characters, not bytes. */
    attn_feature_spec suf = {.kind = ATTN_FEAT_SUFFIX, .n_buckets = 1u << 20, .dim = 8, .affix = 2};
    uint32_t r;
    attn_token_features("ab\xC3\xA9\xC3\xA9", 6, &suf, 1, &r);
    CHECK(r == (uint32_t)(attn_hash64(ATTN_FEATURE_HASH_SEED, "\2\xC3\xA9\xC3\xA9", 5) % (1u << 20)));
    /* One bucket: every row is 0. */
    attn_feature_spec one = {.kind = ATTN_FEAT_NORM, .n_buckets = 1, .dim = 8};
    attn_token_features("anything", 8, &one, 1, &r);
    CHECK(r == 0);
}

/* Row of a subword n-gram, straight from the definition in subword.h. */
static uint32_t ngram_row(const char *ngram, uint32_t buckets) {
    char buf[64] = "S";
    strcpy(buf + 1, ngram);
    return (uint32_t)(attn_hash64(ATTN_FEATURE_HASH_SEED, buf, strlen(buf)) % buckets);
}

/* The subword feature takes ATTN_SUBWORD_SLOTS slots between its neighbours: exactly the rows
 * of subword.h's example, in its order, then ATTN_ROW_NONE. */
static void test_subword_slots(void) {
    enum { B = 1u << 20, SLOTS = 2 + ATTN_SUBWORD_SLOTS };
    const attn_feature_spec spec[3] = {
        {.kind = ATTN_FEAT_NORM, .n_buckets = B, .dim = 8},
        {.kind = ATTN_FEAT_SUBWORD, .n_buckets = B, .dim = 8, .min_n = 3, .max_n = 6},
        {.kind = ATTN_FEAT_SHAPE, .n_buckets = 50, .dim = 8},
    };
    CHECK(attn_feature_n_slots(&spec[0]) == 1 && attn_feature_n_slots(&spec[1]) == ATTN_SUBWORD_SLOTS);
    CHECK(attn_feature_slots(spec, 3) == SLOTS && SLOTS <= ATTN_MAX_SLOTS);
    CHECK(attn_feature_slots(spec, 1) == 1 && attn_feature_slots(spec + 2, 1) == 1);
    static const char *const where[] = {
        "<where>", "<wh", "whe", "her", "ere", "re>", "<whe", "wher", "here", "ere>",
        "<wher", "where", "here>", "<where", "where>",
    };
    uint32_t rows[SLOTS], norm_row, shape_row;
    attn_token_features("Where", 5, spec, 3, rows);
    attn_token_features("Where", 5, &spec[0], 1, &norm_row);
    attn_token_features("Where", 5, &spec[2], 1, &shape_row);
    CHECK(rows[0] == norm_row && rows[SLOTS - 1] == shape_row);
    int exact = 1;
    for (int k = 0; k < 15; k++) exact &= rows[1 + k] == ngram_row(where[k], B);
    for (int k = 15; k < ATTN_SUBWORD_SLOTS; k++) exact &= rows[1 + k] == ATTN_ROW_NONE;
    CHECK_MSG(exact, "subword slots of \"Where\"");
    CHECK(attn_feature_rows_check(spec, 3, rows, NULL) == -1);

    /* A long word: the first ATTN_SUBWORD_SLOTS rows of the full list, no ATTN_ROW_NONE. */
    const char *word = "Internationalisation";
    uint32_t all[ATTN_SUBWORD_MAX_ROWS];
    size_t n_all = attn_subword_rows(word, strlen(word), 3, 6, B, all, ATTN_SUBWORD_MAX_ROWS);
    attn_token_features(word, strlen(word), spec, 3, rows);
    CHECK(n_all == 1 + 20 + 19 + 18 + 17);
    CHECK(memcmp(rows + 1, all, ATTN_SUBWORD_SLOTS * sizeof *rows) == 0);
    CHECK(rows[1] == ngram_row("<internationalisation>", B) && rows[2] == ngram_row("<in", B));

    /* The row check: the word row is required, later subword slots may be NONE. */
    int slot = -1;
    attn_token_features("Where", 5, spec, 3, rows);
    rows[20] = B;
    CHECK(attn_feature_rows_check(spec, 3, rows, &slot) == 1 && slot == 20);
    rows[20] = ATTN_ROW_NONE;
    rows[1] = ATTN_ROW_NONE;
    CHECK(attn_feature_rows_check(spec, 3, rows, &slot) == 1 && slot == 1);
    rows[1] = 7;
    rows[SLOTS - 1] = 50;
    CHECK(attn_feature_rows_check(spec, 3, rows, &slot) == 2 && slot == SLOTS - 1);
    rows[SLOTS - 1] = 49;
    rows[0] = ATTN_ROW_NONE;
    CHECK(attn_feature_rows_check(spec, 3, rows, &slot) == 0 && slot == 0);
    rows[0] = 0;
    CHECK(attn_feature_rows_check(spec, 3, rows, NULL) == -1);
    /* A one-character token: "<a>" is the word; no n-gram of 3 besides it. */
    attn_token_features("A", 1, spec + 1, 1, rows);
    CHECK(rows[0] == ngram_row("<a>", B) && rows[1] == ATTN_ROW_NONE);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* Random bytes, then every token of them: rows in range, norm/shape NUL-terminated and valid
 * UTF-8 (utf8proc agrees), shape within its limits. */
static void test_random_tokens(void) {
    attn_tokens t = {0};
    attn_error err;
    char text[128], buf[ATTN_MAX_NORM_BYTES + 1];
    int bad = 0;
    for (int round = 0; round < 3000; round++) {
        size_t n = rng() % sizeof text;
        for (size_t i = 0; i < n; i++) {
            uint32_t r = rng();
            text[i] = (char)(r % 3 == 0 ? 'A' + r % 60 : r % 3 == 1 ? 0x80 | (r >> 8 & 0x7F) : r >> 8);
        }
        if (attn_tokenize(text, n, &t, &err) != ATTN_OK) { bad++; continue; }
        for (size_t k = 0; k < t.n; k++) {
            const char *tok = text + t.tok[k].byte_start;
            size_t len = t.tok[k].byte_end - t.tok[k].byte_start;
            attn_feature_spec spec[4] = {
                {.kind = ATTN_FEAT_NORM, .n_buckets = 1 + rng() % 1000, .dim = 8},
                {.kind = ATTN_FEAT_PREFIX, .n_buckets = 1 + rng() % 7, .dim = 8, .affix = 1 + rng() % 8},
                {.kind = ATTN_FEAT_SUFFIX, .n_buckets = 1 + rng() % 100, .dim = 8, .affix = 1 + rng() % 8},
                {.kind = ATTN_FEAT_SHAPE, .n_buckets = 1 + rng() % 50, .dim = 8},
            };
            uint32_t rows[4];
            attn_token_features(tok, len, spec, 4, rows);
            for (int f = 0; f < 4; f++) if (rows[f] >= spec[f].n_buckets) bad++;
            size_t nn = attn_token_norm(tok, len, buf, sizeof buf);
            utf8proc_ssize_t chars = 0;
            if (nn != strlen(buf) || nn == 0) bad++;
            for (size_t b = 0; b < nn; chars++) {
                utf8proc_int32_t cp;
                utf8proc_ssize_t step = utf8proc_iterate((const utf8proc_uint8_t *)buf + b, (utf8proc_ssize_t)(nn - b), &cp);
                if (step <= 0) { bad++; break; }
                b += (size_t)step;
            }
            if (chars > 3 * ATTN_MAX_TOKEN_CHARS) bad++;
            size_t sn = attn_token_shape(tok, len, buf, sizeof buf);
            if (sn != strlen(buf) || sn > ATTN_MAX_SHAPE_BYTES || attn_utf8_count(buf, sn) > ATTN_MAX_SHAPE_CHARS) bad++;
        }
    }
    CHECK(bad == 0);
    attn_tokens_free(&t);
}

/* Row of a bigram feature, straight from features.h: kind byte, left norm, right norm. */
static uint32_t bigram_row_def(int kind, const char *left, const char *right, uint32_t buckets) {
    char buf[64];
    buf[0] = (char)kind;
    strcpy(buf + 1, left);
    strcat(buf, right);
    return (uint32_t)(attn_hash64(ATTN_FEATURE_HASH_SEED, buf, strlen(buf)) % buckets);
}

/* Bigrams pair each token's norm with its neighbours' in the sequence, marks at the edges;
 * every other slot is what attn_token_features gives the token alone. */
static void test_bigrams(void) {
    const uint32_t B = 1u << 20;
    attn_feature_spec spec[3] = {
        {.kind = ATTN_FEAT_BIGRAM_LEFT, .n_buckets = B, .dim = 8},
        {.kind = ATTN_FEAT_NORM, .n_buckets = B, .dim = 8},
        {.kind = ATTN_FEAT_BIGRAM_RIGHT, .n_buckets = B, .dim = 8},
    };
    CHECK(attn_features_have_context(spec, 3) && !attn_features_have_context(spec + 1, 1));
    const char *text = "国务院 IBM 1996";   /* tokens: 国 务 院 IBM 1996 */
    attn_tokens toks = {0};
    attn_error err = {0};
    CHECK(attn_tokenize(text, strlen(text), &toks, &err) == ATTN_OK && toks.n == 5);
    uint32_t rows[5 * 3], alone[3];
    attn_sequence_features(text, toks.tok, toks.n, spec, 3, NULL, rows);
    const char *norm[5] = {"国", "务", "院", "ibm", "0000"};
    for (int t = 0; t < 5; t++) {
        const char *prev = t > 0 ? norm[t - 1] : "\x02", *next = t < 4 ? norm[t + 1] : "\x03";
        CHECK_MSG(rows[t * 3] == bigram_row_def(ATTN_FEAT_BIGRAM_LEFT, prev, norm[t], B), "t %d", t);
        CHECK_MSG(rows[t * 3 + 2] == bigram_row_def(ATTN_FEAT_BIGRAM_RIGHT, norm[t], next, B),
                  "t %d", t);
        const attn_token *tk = &toks.tok[t];
        attn_token_features(text + tk->byte_start, tk->byte_end - tk->byte_start, spec, 3, alone);
        CHECK(rows[t * 3 + 1] == alone[1]);
    }
    /* A token alone is a sequence of one: both bigrams meet the marks. */
    CHECK(alone[0] == bigram_row_def(ATTN_FEAT_BIGRAM_LEFT, "\x02", "0000", B));
    CHECK(alone[2] == bigram_row_def(ATTN_FEAT_BIGRAM_RIGHT, "0000", "\x03", B));
    /* The same bigram in the two kinds hashes to different rows (the kind byte). */
    CHECK(rows[0 * 3 + 2] != rows[1 * 3 + 0]);
    /* A sequence cut out of the text (an inference window) pairs its edges with the marks. */
    uint32_t window[2 * 3];
    attn_sequence_features(text, toks.tok + 1, 2, spec, 3, NULL, window);
    CHECK(window[0] == bigram_row_def(ATTN_FEAT_BIGRAM_LEFT, "\x02", "务", B));
    CHECK(window[3 + 2] == bigram_row_def(ATTN_FEAT_BIGRAM_RIGHT, "院", "\x03", B));
    CHECK(window[2] == rows[1 * 3 + 2] && window[3] == rows[2 * 3]);
    attn_sequence_features(text, toks.tok, 0, spec, 3, NULL, rows);   /* nothing to do, no crash */
    attn_tokens_free(&toks);
}

/* Traditional characters read as their simplified forms, one character at a time; simplified
 * text, kana and Latin are untouched; the bigrams see the folded norms. */
static void test_traditional_folding(void) {
    static const struct { const char *in, *want; } cases[] = {
        {"國語說", "国语说"}, {"臺灣", "台湾"}, {"国语说", "国语说"}, {"東京", "东京"},
        {"ひらがな", "ひらがな"}, {"著名", "著名"}, {"乾隆", "干隆"}, {"ABC國", "abc国"},
    };
    char buf[ATTN_MAX_NORM_BYTES + 1];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        attn_token_norm(cases[i].in, strlen(cases[i].in), buf, sizeof buf);
        CHECK_MSG(strcmp(buf, cases[i].want) == 0, "%s -> %s, want %s", cases[i].in, buf,
                  cases[i].want);
    }
    attn_feature_spec spec = {.kind = ATTN_FEAT_NORM, .n_buckets = 1u << 20, .dim = 8};
    uint32_t a, b;
    attn_token_features("灣", 3, &spec, 1, &a);
    attn_token_features("湾", 3, &spec, 1, &b);
    CHECK(a == b);
}

int main(void) {
    test_hash_known_answers();
    test_names();
    test_norm_and_shape();
    test_long_tokens();
    test_small_buffers();
    test_affixes_and_rows();
    test_subword_slots();
    test_random_tokens();
    test_bigrams();
    test_traditional_folding();
    return CHECK_DONE();
}
