/* test_tokenizer.c: segmentation rules, UTF-8 decoding with SQLite's character rule, and offsets
 * checked against SQLite itself (length() and substr() on every token). */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tokenizer.h"

static sqlite3 *db;
static sqlite3_stmt *len_stmt, *substr_stmt;

/* ---- helpers ---- */

/* Tokens joined by single spaces (a token never contains U+0020). */
static size_t join_tokens(const char *text, const attn_tokens *t, char *buf, size_t cap) {
    size_t len = 0;
    for (size_t i = 0; i < t->n; i++) {
        size_t n = t->tok[i].byte_end - t->tok[i].byte_start;
        if (len + n + 2 > cap) break;
        if (i) buf[len++] = ' ';
        memcpy(buf + len, text + t->tok[i].byte_start, n);
        len += n;
    }
    buf[len] = '\0';
    return len;
}

static int64_t sqlite_length(const char *text, size_t n) {
    sqlite3_reset(len_stmt);
    sqlite3_bind_text(len_stmt, 1, text, (int)n, SQLITE_STATIC);
    if (sqlite3_step(len_stmt) != SQLITE_ROW) return -1;
    return sqlite3_column_int64(len_stmt, 0);
}

/* substr(text, start + 1, end - start) equals the token's bytes. */
static int sqlite_substr_matches(const char *text, size_t n, const attn_token *tok) {
    sqlite3_reset(substr_stmt);
    sqlite3_bind_text(substr_stmt, 1, text, (int)n, SQLITE_STATIC);
    sqlite3_bind_int64(substr_stmt, 2, tok->start + 1);
    sqlite3_bind_int64(substr_stmt, 3, tok->end - tok->start);
    if (sqlite3_step(substr_stmt) != SQLITE_ROW) return 0;
    const void *got = sqlite3_column_blob(substr_stmt, 0);
    size_t got_n = (size_t)sqlite3_column_bytes(substr_stmt, 0);
    size_t want_n = tok->byte_end - tok->byte_start;
    return got_n == want_n && (want_n == 0 || memcmp(got, text + tok->byte_start, want_n) == 0);
}

/* Every invariant of a tokenization, and the offsets against SQLite. SQLite's length() and
 * substr() stop at the first NUL, so tokens after one are checked by our counting only.
 * Returns the number of violations (also counted as failed checks). */
static int check_tokens(const char *text, size_t n, const attn_tokens *t) {
    int bad = 0;
    const char *nul = memchr(text, 0, n);
    size_t sqlite_n = nul ? (size_t)(nul - text) : n;
    int64_t len = sqlite_length(text, sqlite_n);
    if (len != attn_utf8_count(text, sqlite_n)) bad++;
    CHECK_MSG(len == attn_utf8_count(text, sqlite_n), "length() %lld vs count %lld",
              (long long)len, (long long)attn_utf8_count(text, sqlite_n));
    size_t prev_end = 0;
    for (size_t i = 0; i < t->n; i++) {
        const attn_token *k = &t->tok[i];
        int ok = k->byte_start >= prev_end && k->byte_start < k->byte_end && k->byte_end <= n
                 && k->start < k->end
                 && attn_utf8_count(text, k->byte_start) == k->start
                 && attn_utf8_count(text, k->byte_end) == k->end;
        if (ok && k->byte_end <= sqlite_n) ok = sqlite_substr_matches(text, n, k);
        if (!ok) {
            bad++;
            fprintf(stderr, "  token %zu [%lld,%lld) bytes [%zu,%zu) of %zu-byte input is wrong\n", i,
                    (long long)k->start, (long long)k->end, k->byte_start, k->byte_end, n);
        }
        prev_end = k->byte_end;
    }
    /* Coverage: a character is inside a token exactly when it is not a separator. */
    size_t ti = 0;
    for (size_t b = 0; b < n;) {
        uint32_t cp;
        size_t step = attn_utf8_next((const unsigned char *)text + b, n - b, &cp);
        while (ti < t->n && t->tok[ti].byte_end <= b) ti++;
        int inside = ti < t->n && t->tok[ti].byte_start <= b;
        int sep = attn_char_classify(cp) == ATTN_CH_SEP;
        if (inside == sep) {
            bad++;
            fprintf(stderr, "  byte %zu (U+%04X) %s a token\n", b, (unsigned)cp, inside ? "inside" : "outside");
            break;
        }
        b += step;
    }
    return bad;
}

/* ---- segmentation table ---- */

typedef struct seg_case {
    const char *text;
    const char *want;   /* tokens joined by one space */
} seg_case;

static const seg_case seg_cases[] = {
    /* CoNLL-2003 style English */
    {"EU rejects German call to boycott British lamb.", "EU rejects German call to boycott British lamb ."},
    {"Peter Blackburn's", "Peter Blackburn 's"},
    {"1996-08-22", "1996-08-22"},
    {"$5.5 million", "$ 5.5 million"},
    {"(AP)", "( AP )"},
    {"don't", "do n't"},
    {"state-of-the-art", "state-of-the-art"},
    {"U.S.", "U.S."},
    {"Hello.", "Hello ."},
    {"e-mail me at a.b@c.com.", "e-mail me at a.b@c.com ."},
    {"see https://x.org/a?b=1.", "see https://x.org/a?b=1 ."},
    {"BRUSSELS 1996-08-22", "BRUSSELS 1996-08-22"},
    {"Germany's representative to the European Union's veterinary committee Werner Zwingmann said.",
     "Germany 's representative to the European Union 's veterinary committee Werner Zwingmann said ."},
    {"\"We don't support any such recommendation,\" he said.",
     "\" We do n't support any such recommendation , \" he said ."},
    {"-- Brussels Newsroom 32 2 287 6800", "-- Brussels Newsroom 32 2 287 6800"},
    {"Soccer - Japan get lucky win, China in surprise defeat.",
     "Soccer - Japan get lucky win , China in surprise defeat ."},
    /* clitics */
    {"I can't, won't; Don't!", "I ca n't , wo n't ; Do n't !"},
    {"n't", "n't"},
    {"we're they'll I'd I'm you've JOHN'S", "we 're they 'll I 'd I 'm you 've JOHN 'S"},
    {"we\xE2\x80\x99re John\xE2\x80\x99s don\xE2\x80\x99t", "we \xE2\x80\x99re John \xE2\x80\x99s do n\xE2\x80\x99t"},
    {"O'Neill's rock'n'roll d'Artagnan don'tcha", "O'Neill 's rock'n'roll d'Artagnan don'tcha"},
    {"James' book 'quoted'", "James ' book ' quoted '"},
    {"1990's", "1990 's"},
    {"Ghana 's lead 'd", "Ghana 's lead 'd"},          /* pre-tokenised text keeps its clitics */
    {"('s) 'sup", "( ' s ) ' sup"},
    /* initialisms with & */
    {"AT&T and S&P 500, R&D; rock&roll", "AT&T and S&P 500 , R&D ; rock & roll"},
    /* numbers */
    {"3.14 1,000,000 12:30 1/2 2024-05-01", "3.14 1,000,000 12:30 1/2 2024-05-01"},
    {"v1.2.3 5.5. 3.5% -7", "v1.2.3 5.5 . 3.5 % - 7"},
    {"1, 2 and 3.", "1 , 2 and 3 ."},
    {"10am 2nd", "10am 2nd"},
    /* abbreviations */
    {"U.S.-led e.g., i.e. U.S.A", "U.S.-led e.g. , i.e. U.S.A"},
    {"Mr. Smith met Dr. Jones of Acme Inc.", "Mr. Smith met Dr. Jones of Acme Inc."},
    {"John F. Kennedy", "John F. Kennedy"},
    {"plan B.", "plan B ."},
    {"the U.S. and the U.K. said", "the U.S. and the U.K. said"},
    /* URLs and e-mail */
    {"(see https://en.wikipedia.org/wiki/Foo_(bar))", "( see https://en.wikipedia.org/wiki/Foo_(bar) )"},
    {"<http://a.b/c>", "< http://a.b/c >"},
    {"www.example.com/x, ftp://h/p;", "www.example.com/x , ftp://h/p ;"},
    {"Visit WWW.Example.COM!", "Visit WWW.Example.COM !"},
    {"https:// x", "https : // x"},
    {"mail john.smith+nlp@mail.example.co.uk now", "mail john.smith+nlp@mail.example.co.uk now"},
    {"a@b not-an@email. x@y.z", "a @ b not-an @ email . x@y.z"},
    {"@user #tag", "@ user # tag"},
    /* punctuation runs */
    {"Wait... what?! --- ok!!", "Wait ... what ? ! --- ok !!"},
    {"''quoted'' ``x``", "'' quoted '' `` x ``"},
    {"a_b x=y+z 50%", "a _ b x = y + z 50 %"},
    {"\xE2\x80\x9C" "Curly\xE2\x80\x9D \xE2\x80\xA6", "\xE2\x80\x9C Curly \xE2\x80\x9D \xE2\x80\xA6"},
    /* CJK, kana, Hangul */
    {"北京欢迎你", "北 京 欢 迎 你"},
    {"こんにちは、世界！", "こ ん に ち は 、 世 界 ！"},
    {"カタカナ iPhone手机", "カ タ カ ナ iPhone 手 机"},
    {"안녕하세요 세계", "안 녕 하 세 요 세 계"},
    /* RTL */
    {"مرحبا بالعالم، كيف حالك؟", "مرحبا بالعالم ، كيف حالك ؟"},
    {"שלום עולם. צה\xD7\xB4ל", "שלום עולם . צה\xD7\xB4ל"},
    {"\xD9\x85\xD9\x8E\xD8\xB1\xD9\x92\xD8\xAD\xD9\x8E\xD8\xA8\xD8\xA7", "\xD9\x85\xD9\x8E\xD8\xB1\xD9\x92\xD8\xAD\xD9\x8E\xD8\xA8\xD8\xA7"},
    /* emoji */
    {"\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7\xE2\x80\x8D\xF0\x9F\x91\xA6!",
     "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7\xE2\x80\x8D\xF0\x9F\x91\xA6 !"},
    {"ok\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD\xF0\x9F\x91\x8D", "ok \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD \xF0\x9F\x91\x8D"},
    {"\xF0\x9F\x87\xBA\xF0\x9F\x87\xB8\xF0\x9F\x87\xAC\xF0\x9F\x87\xA7\xF0\x9F\x87\xAB",
     "\xF0\x9F\x87\xBA\xF0\x9F\x87\xB8 \xF0\x9F\x87\xAC\xF0\x9F\x87\xA7 \xF0\x9F\x87\xAB"},
    {"I\xE2\x9D\xA4\xEF\xB8\x8FNY \xF0\x9F\x98\x82\xF0\x9F\x98\x82", "I \xE2\x9D\xA4\xEF\xB8\x8F NY \xF0\x9F\x98\x82 \xF0\x9F\x98\x82"},
    {"#\xEF\xB8\x8F\xE2\x83\xA3 1\xEF\xB8\x8F\xE2\x83\xA3", "#\xEF\xB8\x8F\xE2\x83\xA3 1\xEF\xB8\x8F\xE2\x83\xA3"},
    /* combining marks attach to the token before them */
    {"e\xCC\x81t\xC3\xA9 caf\xC3\xA9", "e\xCC\x81t\xC3\xA9 caf\xC3\xA9"},
    {"?\xCC\x81 \xE5\x8C\x97\xCC\x81", "?\xCC\x81 \xE5\x8C\x97\xCC\x81"},
    {"\xCC\x81" "abc", "\xCC\x81" "abc"},
    /* whitespace of all kinds, invisible separators */
    {"a\tb\nc\r\nd\xC2\xA0" "e\xE3\x80\x80" "f\xE2\x80\x8B" "g\xEF\xBB\xBFh", "a b c d e f g h"},
    {"  ", ""},
    {"", ""},
    /* ZWNJ inside a Persian word stays inside */
    {"\xD9\x85\xDB\x8C\xE2\x80\x8C\xD8\xB1\xD9\x88\xD9\x85", "\xD9\x85\xDB\x8C\xE2\x80\x8C\xD8\xB1\xD9\x88\xD9\x85"},
    /* invalid UTF-8: each malformed character is a token of its own */
    {"ab\xFF" "cd", "ab \xFF cd"},
    {"\x80\x80x", "\x80 \x80 x"},
    {"x\xC3", "x \xC3"},
    {"\xC3\xA9\x80 y", "\xC3\xA9\x80 y"},
    {"a\xE0\x80\x80" "b", "a \xE0\x80\x80 b"},
    {"\xC0\xAF\xC1\xBF", "\xC0\xAF \xC1\xBF"},
    {"\xED\xA0\x80\xED\xB0\x80", "\xED\xA0\x80 \xED\xB0\x80"},
    {"\xF4\x90\x80\x80 \xF8\x88\x80\x80\x80 \xFE\xFF", "\xF4\x90\x80\x80 \xF8\x88\x80\x80\x80 \xFE \xFF"},
    {"\xE2\x82 ok", "\xE2\x82 ok"},
    {"\x01\x02" "ctl\x7F" "del", "ctl del"},
};

static void test_segmentation(void) {
    attn_tokens t = {0};
    attn_error err;
    char got[1024];
    for (size_t i = 0; i < sizeof seg_cases / sizeof *seg_cases; i++) {
        const seg_case *c = &seg_cases[i];
        int rc = attn_tokenize(c->text, strlen(c->text), &t, &err);
        CHECK(rc == ATTN_OK);
        join_tokens(c->text, &t, got, sizeof got);
        CHECK_MSG(strcmp(got, c->want) == 0, "case %zu: \"%s\"\n   got: %s\n  want: %s", i, c->text, got, c->want);
        CHECK(check_tokens(c->text, strlen(c->text), &t) == 0);
    }
    attn_tokens_free(&t);
}

/* ---- offsets ---- */

static void test_offsets(void) {
    attn_tokens t = {0};
    attn_error err;
    const char *s = "北京 is \xF0\x9F\x98\x80 nice.";
    CHECK(attn_tokenize(s, strlen(s), &t, &err) == ATTN_OK);
    CHECK(t.n == 6);
    if (t.n == 6) {
        CHECK(t.tok[0].start == 0 && t.tok[0].end == 1 && t.tok[0].byte_start == 0 && t.tok[0].byte_end == 3);
        CHECK(t.tok[1].start == 1 && t.tok[1].end == 2 && t.tok[1].byte_start == 3 && t.tok[1].byte_end == 6);
        CHECK(t.tok[2].start == 3 && t.tok[2].end == 5);
        CHECK(t.tok[3].start == 6 && t.tok[3].end == 7 && t.tok[3].byte_end - t.tok[3].byte_start == 4);
        CHECK(t.tok[4].start == 8 && t.tok[4].end == 12);
        CHECK(t.tok[5].start == 12 && t.tok[5].end == 13);
    }
    /* Embedded NUL: a separator, counted as one character. */
    const char nul_text[] = "ab\0cd \xC3\xA9";
    size_t nul_n = sizeof nul_text - 1;
    CHECK(attn_tokenize(nul_text, nul_n, &t, &err) == ATTN_OK);
    CHECK(t.n == 3);
    if (t.n == 3) {
        CHECK(t.tok[0].start == 0 && t.tok[0].end == 2);
        CHECK(t.tok[1].start == 3 && t.tok[1].end == 5 && t.tok[1].byte_start == 3);
        CHECK(t.tok[2].start == 6 && t.tok[2].end == 7 && t.tok[2].byte_end == 8);
    }
    CHECK(check_tokens(nul_text, nul_n, &t) == 0);
    CHECK(attn_utf8_count(nul_text, nul_n) == 7);
    attn_tokens_free(&t);
}

/* ---- decoding ---- */

typedef struct decode_case {
    const char *bytes;
    size_t n;
    uint32_t cp;
    size_t len;
} decode_case;

static void test_utf8_next(void) {
    static const decode_case cases[] = {
        {"A", 1, 'A', 1},
        {"\0", 1, 0, 1},
        {"\xC3\xA9", 2, 0xE9, 2},
        {"\xE5\x8C\x97", 3, 0x5317, 3},
        {"\xF0\x9F\x98\x80", 4, 0x1F600, 4},
        {"\xF4\x8F\xBF\xBF", 4, 0x10FFFF, 4},
        {"\xEF\xBF\xBD", 3, 0xFFFD, 3},
        {"\x80", 1, 0xFFFD, 1},                 /* stray continuation */
        {"\xBF\x80", 2, 0xFFFD, 1},             /* each stray byte is its own character */
        {"\xC3", 1, 0xFFFD, 1},                 /* truncated at the end */
        {"\xC3" "A", 2, 0xFFFD, 1},             /* truncated before ASCII */
        {"\xE5\x8C" "A", 3, 0xFFFD, 2},
        {"\xC3\xA9\x80\x80", 4, 0xFFFD, 4},     /* too many continuations: one SQLite char */
        {"\xC0\x80", 2, 0xFFFD, 2},             /* overlong NUL */
        {"\xC1\xBF", 2, 0xFFFD, 2},
        {"\xE0\x9F\xBF", 3, 0xFFFD, 3},         /* overlong 3-byte */
        {"\xF0\x8F\xBF\xBF", 4, 0xFFFD, 4},     /* overlong 4-byte */
        {"\xED\xA0\x80", 3, 0xFFFD, 3},         /* surrogate U+D800 */
        {"\xED\xBF\xBF", 3, 0xFFFD, 3},         /* surrogate U+DFFF */
        {"\xED\x9F\xBF", 3, 0xD7FF, 3},
        {"\xF4\x90\x80\x80", 4, 0xFFFD, 4},     /* > U+10FFFF */
        {"\xF8\x88\x80\x80\x80", 5, 0xFFFD, 5}, /* 5-byte form */
        {"\xFF", 1, 0xFFFD, 1},
        {"\xFF\x80\x80", 3, 0xFFFD, 3},
        {"\xC3\xA9", 1, 0xFFFD, 1},             /* n limits the look-ahead */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint32_t cp = 12345;
        size_t len = attn_utf8_next((const unsigned char *)cases[i].bytes, cases[i].n, &cp);
        CHECK_MSG(cp == cases[i].cp && len == cases[i].len, "case %zu: got U+%04X len %zu", i, (unsigned)cp, len);
        CHECK(attn_utf8_count(cases[i].bytes, len) == 1);
    }
}

/* ---- limits and reuse ---- */

static void test_limits_and_reuse(void) {
    attn_tokens t = {0};
    attn_error err = {{0}};
    const char *big = "one two three four five six seven eight nine ten";
    CHECK(attn_tokenize(big, strlen(big), &t, &err) == ATTN_OK && t.n == 10);
    attn_token *before = t.tok;
    size_t cap = t.cap;
    CHECK(attn_tokenize("x y", 3, &t, &err) == ATTN_OK && t.n == 2);
    CHECK(t.tok == before && t.cap == cap);   /* reused, no reallocation */
    CHECK(attn_tokenize(NULL, 0, &t, &err) == ATTN_OK && t.n == 0);
    CHECK(attn_tokenize(big, ATTN_MAX_TEXT_BYTES + 1, &t, &err) == ATTN_ELIMIT);
    CHECK(t.n == 0);
    CHECK(strstr(err.msg, "exceeds the limit") != NULL);
    /* Many tokens: the array grows. */
    size_t n = 20000;
    char *many = malloc(2 * n);
    for (size_t i = 0; i < n; i++) { many[2 * i] = 'a' + (char)(i % 26); many[2 * i + 1] = ','; }
    CHECK(attn_tokenize(many, 2 * n, &t, &err) == ATTN_OK);
    CHECK(t.n == 2 * n);
    CHECK(t.n == 2 * n && t.tok[2 * n - 1].start == (int64_t)(2 * n - 1));
    free(many);
    attn_tokens_free(&t);
    CHECK(t.tok == NULL && t.n == 0 && t.cap == 0);
    attn_tokens_free(&t);   /* twice is harmless */
}

/* ---- random bytes ---- */

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint32_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* Pieces chosen to hit the rules: joiners, clitics, URLs, marks, emoji, malformed bytes. */
static const char *const atoms[] = {
    "a", "Z", "n", "t", "s", "0", "9", " ", ".", ",", "'", "-", ":", "/", "@", "(", ")", "!",
    "\xE2\x80\x99", "\xC3\xA9", "\xCC\x81", "\xE5\x8C\x97", "\xE3\x81\x82", "\xEA\xB0\x80",
    "\xF0\x9F\x91\xA8", "\xE2\x80\x8D", "\xF0\x9F\x8F\xBD", "\xF0\x9F\x87\xBA", "\xEF\xB8\x8F",
    "\xD8\xB9", "\xD7\xA9", "http://", "www.", "n't", "'s", "U.S.", "\xC2\xA0", "\t", "\n",
    "\xE2\x80\x8B", "\xE2\x80\x8C", "\xEF\xBF\xBD",
};

static size_t random_text(char *buf, size_t cap) {
    size_t n = 0, want = rng() % cap;
    while (n < want) {
        uint32_t kind = rng() % 4;
        if (kind == 0) {            /* a random byte, NUL and 0x80..0xFF included */
            buf[n++] = (char)(rng() & 0xFF);
        } else if (kind == 1) {     /* a high byte: lead or continuation */
            buf[n++] = (char)(0x80 | (rng() & 0x7F));
        } else {
            const char *a = atoms[rng() % (sizeof atoms / sizeof *atoms)];
            size_t len = strlen(a);
            if (n + len > want) break;
            memcpy(buf + n, a, len);
            n += len;
        }
    }
    return n;
}

static void test_random_bytes(void) {
    attn_tokens t = {0};
    attn_error err;
    char buf[96];
    int failures = 0, rounds = 4000;
    size_t total_tokens = 0;
    for (int r = 0; r < rounds && failures < 5; r++) {
        size_t n = random_text(buf, sizeof buf);
        if (attn_tokenize(buf, n, &t, &err) != ATTN_OK) { failures++; continue; }
        total_tokens += t.n;
        int bad = check_tokens(buf, n, &t);
        if (bad) {
            failures++;
            fprintf(stderr, "  random round %d, input hex:", r);
            for (size_t i = 0; i < n; i++) fprintf(stderr, " %02x", (unsigned char)buf[i]);
            fputc('\n', stderr);
        }
    }
    CHECK(failures == 0);
    CHECK(total_tokens > (size_t)rounds);   /* the generator produced real work */
    attn_tokens_free(&t);
}

/* ---- incremental tokenization ---- */

static int same_token(const attn_token *a, const attn_token *b) {
    return a->start == b->start && a->end == b->end && a->byte_start == b->byte_start &&
           a->byte_end == b->byte_end;
}

/* Two attn_tokenizers on the same text, advanced in turn (one sometimes twice), both give
 * exactly attn_tokenize's tokens, then 0 at the end (leaving *tok alone) and stay there.
 * Returns 0 when all holds. */
static int incremental_differs(const char *text, size_t n, attn_tokens *whole) {
    attn_error err;
    attn_tokenizer a, b;
    attn_token ta, tb, sentinel = {-7, -7, 7, 7};
    if (attn_tokenize(text, n, whole, &err) || attn_tokenizer_start(&a, text, n, &err) ||
        attn_tokenizer_start(&b, text, n, &err))
        return 1;
    size_t ia = 0, ib = 0;
    for (int turn = 0; ia < whole->n || ib < whole->n; turn++) {
        if (ia < whole->n && (!attn_tokenizer_next(&a, &ta) || !same_token(&ta, &whole->tok[ia++])))
            return 1;
        if (turn % 3 == 0 || ib >= whole->n) continue;     /* b falls behind, then catches up */
        if (!attn_tokenizer_next(&b, &tb) || !same_token(&tb, &whole->tok[ib++])) return 1;
    }
    ta = sentinel;
    return attn_tokenizer_next(&a, &ta) || attn_tokenizer_next(&a, &ta) ||
           attn_tokenizer_next(&b, &ta) || !same_token(&ta, &sentinel);
}

static void test_incremental(void) {
    attn_tokens t = {0};
    attn_error err;
    char buf[96];
    int differ = 0, tokens = 0;
    for (size_t i = 0; i < sizeof seg_cases / sizeof *seg_cases; i++)
        differ += incremental_differs(seg_cases[i].text, strlen(seg_cases[i].text), &t);
    CHECK(differ == 0);
    rng_state = 0x9E3779B97F4A7C15ull;      /* random bytes: NULs, invalid UTF-8, atoms */
    for (int r = 0; r < 4000; r++) {
        size_t n = random_text(buf, sizeof buf);
        int bad = incremental_differs(buf, n, &t);
        tokens += (int)t.n;
        if (bad && differ++ < 3) {
            fprintf(stderr, "  incremental round %d, input hex:", r);
            for (size_t k = 0; k < n; k++) fprintf(stderr, " %02x", (unsigned char)buf[k]);
            fputc('\n', stderr);
        }
    }
    CHECK(differ == 0);
    CHECK(tokens > 4000);
    /* a long text: URLs, e-mails and clitics far from the start (the look-ahead caches) */
    static char text[20000];
    size_t len = 0;
    static const char *const words[] = { "see", "http://a.b/c.", "x@y.org", "don't", "U.S.",
                                         "Ghana", "'s", "3.14", "\xE5\x8C\x97", "\xC3\xA9t\xC3\xA9" };
    for (int i = 0; len < sizeof text - 64; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%s ", words[(i * 7) % 10]);
    CHECK(incremental_differs(text, len, &t) == 0);
    CHECK(t.n > 2000);
    /* empty and NULL texts, the byte limit */
    attn_tokenizer z;
    attn_token tok;
    CHECK(attn_tokenizer_start(&z, NULL, 0, &err) == ATTN_OK && !attn_tokenizer_next(&z, &tok));
    CHECK(attn_tokenizer_start(&z, "", 0, &err) == ATTN_OK && !attn_tokenizer_next(&z, &tok));
    CHECK(attn_tokenizer_start(&z, text, (size_t)ATTN_MAX_TEXT_BYTES + 1, &err) == ATTN_ELIMIT);
    CHECK(strstr(err.msg, "exceeds the limit") != NULL);
    attn_tokens_free(&t);
}

/* ---- SQLite's counting on multilingual text ---- */

static void test_sqlite_counting(void) {
    static const char *const texts[] = {
        "English text, with punctuation!",
        "中文文本，包含标点。日本語のテキスト。한국어 텍스트.",
        ("العربية עברית mixed RTL \xE2\x80\x8F" "done"),
        "\xF0\x9F\x91\xA9\xF0\x9F\x8F\xBD\xE2\x80\x8D\xF0\x9F\x92\xBB \xF0\x9F\x8F\xB4\xF3\xA0\x81\xA7\xF3\xA0\x81\xA2\xF3\xA0\x81\xA5\xF3\xA0\x81\xAE\xF3\xA0\x81\xA7\xF3\xA0\x81\xBF flag",
        "\x80\x81\xC3\xA9\xBF\xFF\xFE\xC0\xE0\x80 e\xCC\x81 \xED\xA0\x80",
    };
    attn_tokens t = {0};
    attn_error err;
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        size_t n = strlen(texts[i]);
        CHECK(attn_tokenize(texts[i], n, &t, &err) == ATTN_OK);
        CHECK(t.n > 0);
        CHECK(check_tokens(texts[i], n, &t) == 0);
        CHECK(attn_utf8_count(texts[i], n) == sqlite_length(texts[i], n));
    }
    attn_tokens_free(&t);
}

static void test_char_classes(void) {
    CHECK(attn_char_classify(' ') == ATTN_CH_SEP);
    CHECK(attn_char_classify(0) == ATTN_CH_SEP);
    CHECK(attn_char_classify(0x3000) == ATTN_CH_SEP);
    CHECK(attn_char_classify('q') == ATTN_CH_LETTER);
    CHECK(attn_char_classify(0x05D0) == ATTN_CH_LETTER);   /* Hebrew alef */
    CHECK(attn_char_classify(0x0663) == ATTN_CH_DIGIT);    /* Arabic-Indic three */
    CHECK(attn_char_classify(0x0301) == ATTN_CH_MARK);
    CHECK(attn_char_classify(0x200D) == ATTN_CH_MARK);
    CHECK(attn_char_classify(0x4E00) == ATTN_CH_IDEO);
    CHECK(attn_char_classify(0x30AB) == ATTN_CH_IDEO);
    CHECK(attn_char_classify(0xAC00) == ATTN_CH_IDEO);
    CHECK(attn_char_classify('!') == ATTN_CH_PUNCT);
    CHECK(attn_char_classify(0x1F600) == ATTN_CH_EMOJI);
    CHECK(attn_char_classify(0x1F1FA) == ATTN_CH_EMOJI);
    CHECK(attn_char_classify(0xFFFD) == ATTN_CH_INVALID);
}

/* The script that picks a language's default model: Han against all other letters. */
static void test_text_script(void) {
    static const struct { const char *text; attn_script want; } cases[] = {
        {"国务院总理李强在北京会见了德国总理。", ATTN_SCRIPT_HAN},
        {"国务院总理李强会见了德国总理Olaf Scholz", ATTN_SCRIPT_HAN}, /* 14 Han, 10 Latin */
        {"国务院总理李强会见了Olaf Scholz", ATTN_SCRIPT_OTHER},       /* 10 and 10: a tie */
        {"李强 met Olaf Scholz in Berlin", ATTN_SCRIPT_OTHER},
        {"東京は日本の首都です", ATTN_SCRIPT_OTHER},                 /* 6 kanji, 4 kana */
        {"他说：「はい」。我们走吧，今天去北京看看天安门广场和故宫博物院", ATTN_SCRIPT_HAN},
        {"서울은 한국의 수도이다", ATTN_SCRIPT_OTHER},                /* Hangul */
        {"1996年", ATTN_SCRIPT_HAN},                                  /* digits do not count */
        {"ab中文", ATTN_SCRIPT_OTHER},                                /* a tie */
        {"", ATTN_SCRIPT_OTHER},
        {"12345 !!! 😀", ATTN_SCRIPT_OTHER},
        {"\xE4\xB8\xAD\xFF\xFF\xE6\x96", ATTN_SCRIPT_HAN},            /* 中, then malformed */
        {"Ｂｅｉｊｉｎｇ 北京", ATTN_SCRIPT_OTHER},                    /* full-width letters count */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        CHECK_MSG(attn_text_script(cases[i].text, strlen(cases[i].text)) == cases[i].want,
                  "case %zu: %s", i, cases[i].text);
    /* Only the opening ATTN_SCRIPT_SAMPLE_BYTES decide. */
    const size_t n = ATTN_SCRIPT_SAMPLE_BYTES + 30000;
    char *text = malloc(n);
    memset(text, 'a', ATTN_SCRIPT_SAMPLE_BYTES / 2);
    for (size_t b = ATTN_SCRIPT_SAMPLE_BYTES / 2; b + 3 <= n; b += 3) memcpy(text + b, "中", 3);
    const size_t used = ATTN_SCRIPT_SAMPLE_BYTES / 2 + (n - ATTN_SCRIPT_SAMPLE_BYTES / 2) / 3 * 3;
    CHECK(attn_text_script(text, used) == ATTN_SCRIPT_OTHER);  /* 32768 a against 10922 中 */
    free(text);
}

int main(void) {
    if (sqlite3_open(":memory:", &db) != SQLITE_OK
        || sqlite3_prepare_v2(db, "SELECT length(?1)", -1, &len_stmt, NULL) != SQLITE_OK
        || sqlite3_prepare_v2(db, "SELECT substr(?1, ?2, ?3)", -1, &substr_stmt, NULL) != SQLITE_OK) {
        fprintf(stderr, "sqlite setup failed\n");
        return 1;
    }
    test_char_classes();
    test_utf8_next();
    test_segmentation();
    test_offsets();
    test_limits_and_reuse();
    test_sqlite_counting();
    test_random_bytes();
    test_incremental();
    test_text_script();
    sqlite3_finalize(len_stmt);
    sqlite3_finalize(substr_stmt);
    sqlite3_close(db);
    return CHECK_DONE();
}
