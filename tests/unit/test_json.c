/* test_json.c: the strict JSON parser (json.c). Valid and invalid corpora with exact messages,
 * depth limits, escapes and UTF-8, numbers, and inputs that are not NUL-terminated: every
 * parse here reads from a heap copy of exactly n bytes, so AddressSanitizer catches any read
 * past the end. */
#include "check.h"
#include "json.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>

/* Parses an exact-size heap copy of s[0..n). */
static int parse_n(const char *s, size_t n, attn_json **out, attn_error *err) {
    char *copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    int rc = attn_json_parse(copy, n, out, err);
    free(copy);                      /* the tree must not point into the input */
    return rc;
}

static attn_json *parse_ok(const char *s) {
    attn_json *j = NULL;
    attn_error err = { "" };
    int rc = parse_n(s, strlen(s), &j, &err);
    CHECK_MSG(rc == ATTN_OK && j, "'%s': %s", s, err.msg);
    return rc == ATTN_OK ? j : NULL;
}

static void expect_error_n(const char *s, size_t n, int code, const char *msg) {
    attn_json *j = (attn_json *)&j;
    attn_error err = { "" };
    int rc = parse_n(s, n, &j, &err);
    CHECK_MSG(rc == code, "'%.*s': rc %d, expected %d (%s)", (int)n, s, rc, code, err.msg);
    CHECK_MSG(j == NULL, "'%.*s': *out not NULL on error", (int)n, s);
    CHECK_MSG(strcmp(err.msg, msg) == 0, "'%.*s':\n  got      %s\n  expected %s", (int)n, s, err.msg, msg);
}

static void expect_error(const char *s, const char *msg) {
    expect_error_n(s, strlen(s), ATTN_EINVAL, msg);
}

/* ---- valid documents --------------------------------------------------------------------- */

static void test_literals_and_structure(void) {
    attn_json *j;
    if ((j = parse_ok("null"))) { CHECK(j->type == ATTN_JSON_NULL); attn_json_free(j); }
    if ((j = parse_ok(" true "))) { CHECK(j->type == ATTN_JSON_BOOL && j->boolean == 1); attn_json_free(j); }
    if ((j = parse_ok("\t\r\nfalse\n"))) { CHECK(j->type == ATTN_JSON_BOOL && j->boolean == 0); attn_json_free(j); }
    if ((j = parse_ok("[]"))) { CHECK(j->type == ATTN_JSON_ARRAY && j->len == 0); attn_json_free(j); }
    if ((j = parse_ok("{ }"))) { CHECK(j->type == ATTN_JSON_OBJECT && j->len == 0); attn_json_free(j); }
    j = parse_ok("{\"a\": [1, 2.5, \"x\", null, true, {\"b\": {}}], \"c\": {\"d\": -3}, \"\": 0}");
    if (j) {
        CHECK(j->type == ATTN_JSON_OBJECT && j->len == 3);
        CHECK(strcmp(j->keys[0], "a") == 0 && strcmp(j->keys[1], "c") == 0 && j->keys[2][0] == 0);
        const attn_json *a = attn_json_get(j, "a");
        CHECK(a && a->type == ATTN_JSON_ARRAY && a->len == 6);
        if (a && a->len == 6) {
            CHECK(a->items[0].type == ATTN_JSON_NUMBER && a->items[0].number == 1.0);
            CHECK(a->items[1].number == 2.5);
            CHECK(a->items[2].type == ATTN_JSON_STRING && strcmp(a->items[2].str, "x") == 0 && a->items[2].len == 1);
            CHECK(a->items[3].type == ATTN_JSON_NULL);
            CHECK(a->items[4].type == ATTN_JSON_BOOL && a->items[4].boolean);
            const attn_json *b = attn_json_get(&a->items[5], "b");
            CHECK(b && b->type == ATTN_JSON_OBJECT && b->len == 0);
        }
        const attn_json *d = attn_json_get(attn_json_get(j, "c"), "d");
        CHECK(d && d->number == -3.0);
        CHECK(attn_json_get(j, "") != NULL);
        CHECK(attn_json_get(j, "missing") == NULL);
        CHECK(attn_json_get(a, "a") == NULL);         /* not an object */
        CHECK(attn_json_get(NULL, "a") == NULL);
        attn_json_free(j);
    }
    attn_json_free(NULL);
    /* A big flat array grows its storage correctly. */
    size_t n = 10000;
    char *big = malloc(n * 8 + 4);
    size_t len = 0;
    big[len++] = '[';
    for (size_t i = 0; i < n; i++) len += (size_t)sprintf(big + len, "%s%zu", i ? "," : "", i);
    big[len++] = ']';
    big[len] = 0;
    if ((j = parse_ok(big))) {
        CHECK(j->len == n && j->items[n - 1].number == (double)(n - 1) && j->items[4321].number == 4321.0);
        attn_json_free(j);
    }
    free(big);
}

static void test_numbers(void) {
    struct { const char *text; double value; } ok[] = {
        { "0", 0.0 }, { "-0", -0.0 }, { "7", 7.0 }, { "-12.25", -12.25 }, { "1.5e3", 1500.0 },
        { "1E-2", 0.01 }, { "2e+2", 200.0 }, { "0.1", 0.1 }, { "1e308", 1e308 },
        { "4.9406564584124654e-324", 4.9406564584124654e-324 }, { "1e-400", 0.0 },
        { "123456789012345678901234567890", 123456789012345678901234567890.0 },
        { "0.00000000000000000000000000000000000000000000000000000000000000000000000000001", 1e-77 },
        { "-9007199254740993", -9007199254740992.0 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        attn_json *j = parse_ok(ok[i].text);
        if (!j) continue;
        CHECK_MSG(j->type == ATTN_JSON_NUMBER && j->number == ok[i].value, "%s -> %.17g", ok[i].text, j->number);
        if (ok[i].value == 0.0) CHECK(signbit(j->number) == signbit(ok[i].value));
        attn_json_free(j);
    }
    /* 300 digits: finite; 400 digits: out of range. */
    char digits[512];
    memset(digits, '9', 400);
    digits[300] = 0;
    attn_json *j = parse_ok(digits);
    if (j) { CHECK(j->number > 9.9e299 && j->number < 1.1e300); attn_json_free(j); }
    digits[300] = '9';
    digits[400] = 0;
    expect_error_n(digits, 400, ATTN_EINVAL, "JSON: number out of range at byte 0");
    expect_error("[1, 1e400]", "JSON: number out of range at byte 4");
    expect_error("-1e309", "JSON: number out of range at byte 0");
    expect_error("-", "JSON: unexpected end of input at byte 1");
    expect_error("-a", "JSON: invalid number at byte 1");
    expect_error("1.", "JSON: unexpected end of input at byte 2");
    expect_error("1.e5", "JSON: invalid number at byte 2");
    expect_error("[1.]", "JSON: invalid number at byte 3");
    expect_error("1e", "JSON: unexpected end of input at byte 2");
    expect_error("1e+", "JSON: unexpected end of input at byte 3");
    expect_error("[1e+]", "JSON: invalid number at byte 4");
    expect_error("01", "JSON: trailing characters at byte 1");
    expect_error("-01", "JSON: trailing characters at byte 2");
    expect_error("0x10", "JSON: trailing characters at byte 1");
    expect_error("+1", "JSON: unexpected character '+' at byte 0");
    expect_error(".5", "JSON: unexpected character '.' at byte 0");
    expect_error("NaN", "JSON: unexpected character 'N' at byte 0");
    expect_error("[Infinity]", "JSON: unexpected character 'I' at byte 1");
    expect_error("[-Infinity]", "JSON: invalid number at byte 2");
    /* Not NUL-terminated: the digits after n are not part of the number. */
    const char *s = "12345";
    if (attn_json_parse(s, 3, &j, NULL) == ATTN_OK) { CHECK(j->number == 123.0); attn_json_free(j); }
    else CHECK(0);
}

/* strtod obeys LC_NUMERIC; the parser must not. Runs where a comma-decimal locale exists. */
static void test_numbers_under_comma_locale(void) {
    const char *names[] = { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", NULL };
    const char *got = NULL;
    for (int i = 0; names[i] && !got; i++) got = setlocale(LC_NUMERIC, names[i]);
    if (!got) { printf("test_json: no comma-decimal locale installed; locale check skipped\n"); return; }
    attn_json *j = parse_ok("[1.5, 2e-1]");
    if (j) { CHECK(j->items[0].number == 1.5 && j->items[1].number == 0.2); attn_json_free(j); }
    setlocale(LC_NUMERIC, "C");
}

static void test_strings(void) {
    attn_json *j = parse_ok("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"");
    if (j) { CHECK(strcmp(j->str, "\" \\ / \b \f \n \r \t") == 0 && j->len == 15); attn_json_free(j); }
    j = parse_ok("\"caf\\u00e9 \\u00E9 \\u20ac \\ud83d\\ude00 \\uD834\\uDD1E \\uffff\"");
    if (j) {
        const char *want = "caf\xc3\xa9 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf0\x9d\x84\x9e \xef\xbf\xbf";
        CHECK(strcmp(j->str, want) == 0 && j->len == strlen(want));
        attn_json_free(j);
    }
    j = parse_ok("\"a\\u0000b\"");              /* embedded NUL: len counts it */
    if (j) { CHECK(j->len == 3 && j->str[1] == 0 && j->str[2] == 'b' && j->str[3] == 0); attn_json_free(j); }
    /* Raw UTF-8 passes through: 2, 3 and 4-byte forms, U+10FFFF, DEL. */
    j = parse_ok("\"\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\xf4\x8f\xbf\xbf\x7f\"");
    if (j) { CHECK(j->len == 14); attn_json_free(j); }
    expect_error("\"abc", "JSON: unexpected end of input at byte 4");
    expect_error("\"abc\\", "JSON: unexpected end of input at byte 5");
    expect_error("\"abc\\\"", "JSON: unexpected end of input at byte 6");
    expect_error("\"a\\x\"", "JSON: invalid escape at byte 2");
    expect_error("\"a\\U00e9\"", "JSON: invalid escape at byte 2");
    expect_error("\"\\u12\"", "JSON: invalid \\u escape at byte 1");
    expect_error("\"\\u12g4\"", "JSON: invalid \\u escape at byte 1");
    expect_error("\"\\uD800\"", "JSON: unpaired surrogate at byte 1");
    expect_error("\"\\uDC00\\uD800\"", "JSON: unpaired surrogate at byte 1");
    expect_error("\"x\\uD800\\u0041\"", "JSON: unpaired surrogate at byte 2");
    expect_error("\"\\uD800\\uD800\"", "JSON: unpaired surrogate at byte 1");
    expect_error("\"\\uD800\\n\"", "JSON: unpaired surrogate at byte 1");
    expect_error("\"\\uD800\\uZZZZ\"", "JSON: invalid \\u escape at byte 7");
    expect_error("\"a\tb\"", "JSON: control character in string at byte 2");
    expect_error("\"a\nb\"", "JSON: control character in string at byte 2");
    expect_error_n("\"a\0b\"", 5, ATTN_EINVAL, "JSON: control character in string at byte 2");
    expect_error("\"\x1f\"", "JSON: control character in string at byte 1");
    /* Invalid UTF-8: lone continuation, overlong, surrogate, above U+10FFFF, truncated, 0xFF. */
    expect_error("\"\x80\"", "JSON: invalid UTF-8 at byte 1");
    expect_error("\"a\xc0\xaf\"", "JSON: invalid UTF-8 at byte 2");
    expect_error("\"\xc1\xbf\"", "JSON: invalid UTF-8 at byte 1");
    expect_error("\"\xe0\x80\x80\"", "JSON: invalid UTF-8 at byte 1");
    expect_error("\"\xed\xa0\x80\"", "JSON: invalid UTF-8 at byte 1");
    expect_error("\"\xf0\x80\x80\x80\"", "JSON: invalid UTF-8 at byte 1");
    expect_error("\"\xf4\x90\x80\x80\"", "JSON: invalid UTF-8 at byte 1");
    expect_error("\"\xf5\x80\x80\x80\"", "JSON: invalid UTF-8 at byte 1");
    expect_error("\"\xe2\x82\"", "JSON: invalid UTF-8 at byte 1");
    expect_error("\"\xff\"", "JSON: invalid UTF-8 at byte 1");
    expect_error_n("\"\xe2\x82", 3, ATTN_EINVAL, "JSON: unexpected end of input at byte 3");  /* unterminated */
}

static void test_structure_errors(void) {
    expect_error("", "JSON: unexpected end of input at byte 0");
    expect_error("   ", "JSON: unexpected end of input at byte 3");
    expect_error("[1,]", "JSON: unexpected character ']' at byte 3");
    expect_error("[1 2]", "JSON: expected ',' or ']' at byte 3");
    expect_error("[1", "JSON: unexpected end of input at byte 2");
    expect_error("[", "JSON: unexpected end of input at byte 1");
    expect_error("{\"a\" 1}", "JSON: expected ':' at byte 5");
    expect_error("{\"a\":1 \"b\":2}", "JSON: expected ',' or '}' at byte 7");
    expect_error("{1:2}", "JSON: expected a string key at byte 1");
    expect_error("{\"a\":1,}", "JSON: expected a string key at byte 7");
    expect_error("{\"a\":}", "JSON: unexpected character '}' at byte 5");
    expect_error("{\"a\"", "JSON: unexpected end of input at byte 4");
    expect_error("{'a':1}", "JSON: expected a string key at byte 1");
    expect_error("[1]]", "JSON: trailing characters at byte 3");
    expect_error("[] x", "JSON: trailing characters at byte 3");
    expect_error("{}{}", "JSON: trailing characters at byte 2");
    expect_error("1 2", "JSON: trailing characters at byte 2");
    expect_error("tru", "JSON: unexpected end of input at byte 3");
    expect_error("trux", "JSON: unexpected character 'x' at byte 3");
    expect_error("True", "JSON: unexpected character 'T' at byte 0");
    expect_error("nul", "JSON: unexpected end of input at byte 3");
    expect_error("[nulll]", "JSON: expected ',' or ']' at byte 5");
    expect_error("\xef\xbb\xbf[]", "JSON: unexpected byte 0xef at byte 0");   /* no BOM */
    expect_error("\f[]", "JSON: unexpected byte 0x0c at byte 0");              /* not JSON whitespace */
    expect_error("[\x01]", "JSON: unexpected byte 0x01 at byte 1");
    expect_error("[1,\n2,\n,3]", "JSON: unexpected character ',' at byte 7");
    expect_error("/* c */ 1", "JSON: unexpected character '/' at byte 0");
    /* Duplicate keys, also when spelled differently, and in nested objects. */
    expect_error("{\"a\":1,\"a\":2}", "JSON: duplicate key \"a\" in the object at byte 0");
    expect_error("{\"a\":1,\"\\u0061\":2}", "JSON: duplicate key \"a\" in the object at byte 0");
    expect_error("[0, {\"x\":{\"b\":1,\"c\":2,\"b\":3}}]", "JSON: duplicate key \"b\" in the object at byte 9");
    expect_error("{\"a\\u0000\":1}", "JSON: key contains U+0000 at byte 1");
    attn_json *j = parse_ok("{\"a\":{\"a\":1},\"b\":{\"a\":2}}");   /* same key, different objects */
    attn_json_free(j);
    /* NULL input with n > 0. */
    attn_error err = { "" };
    CHECK(attn_json_parse(NULL, 3, &j, &err) == ATTN_EINVAL && j == NULL);
}

/* Many keys: the duplicate check must still find them (it sorts). */
static void test_many_keys(void) {
    size_t n = 5000, cap = n * 16 + 32;
    char *s = malloc(cap);
    for (int dup = 0; dup < 2; dup++) {
        size_t len = 0;
        s[len++] = '{';
        for (size_t i = 0; i < n; i++)
            len += (size_t)snprintf(s + len, cap - len, "%s\"k%zu\":%zu", i ? "," : "", dup && i == n - 1 ? 17 : i, i);
        s[len++] = '}';
        attn_json *j = NULL;
        attn_error err = { "" };
        int rc = parse_n(s, len, &j, &err);
        if (dup) {
            CHECK(rc == ATTN_EINVAL);
            CHECK_MSG(strcmp(err.msg, "JSON: duplicate key \"k17\" in the object at byte 0") == 0, "%s", err.msg);
        } else {
            CHECK_MSG(rc == ATTN_OK && j->len == n, "%s", err.msg);
            const attn_json *v = attn_json_get(j, "k4999");
            CHECK(v && v->number == 4999.0);
            attn_json_free(j);
        }
    }
    free(s);
}

static char *nested(int depth, const char *open, const char *close, const char *inner) {
    size_t cap = (size_t)depth * (strlen(open) + strlen(close)) + strlen(inner) + 1;
    char *s = malloc(cap);
    size_t len = 0;
    for (int i = 0; i < depth; i++) { strcpy(s + len, open); len += strlen(open); }
    strcpy(s + len, inner);
    len += strlen(inner);
    for (int i = 0; i < depth; i++) { strcpy(s + len, close); len += strlen(close); }
    return s;
}

static void test_depth(void) {
    char *s = nested(ATTN_MAX_JSON_DEPTH, "[", "]", "1");
    attn_json *j = parse_ok(s);
    if (j) {
        const attn_json *p = j;
        int depth = 0;
        while (p->type == ATTN_JSON_ARRAY) { p = &p->items[0]; depth++; }
        CHECK(depth == ATTN_MAX_JSON_DEPTH && p->number == 1.0);
        attn_json_free(j);
    }
    free(s);
    s = nested(ATTN_MAX_JSON_DEPTH + 1, "[", "]", "");
    expect_error_n(s, strlen(s), ATTN_ELIMIT, "JSON: nesting deeper than 64 at byte 64");
    free(s);
    s = nested(ATTN_MAX_JSON_DEPTH / 2, "{\"a\":[", "]}", "0");
    j = parse_ok(s);
    attn_json_free(j);
    free(s);
    s = nested(ATTN_MAX_JSON_DEPTH / 2 + 1, "{\"a\":[", "]}", "0");
    expect_error_n(s, strlen(s), ATTN_ELIMIT, "JSON: nesting deeper than 64 at byte 192");
    free(s);
    /* Hostile: 1e6 open brackets, no stack overflow, no closing needed. */
    size_t n = 1000000;
    s = malloc(n);
    memset(s, '[', n);
    expect_error_n(s, n, ATTN_ELIMIT, "JSON: nesting deeper than 64 at byte 64");
    free(s);
}

/* Every strict prefix of a valid document (an object) is an error that names an offset within
 * the prefix; the whole document parses. Each prefix is an exact-size heap buffer. */
static void test_every_prefix(void) {
    const char *doc =
        "{\"format\": 1, \"tasks\": [\"entities\"], \"x\": -12.5e-3, \"s\": \"caf\\u00e9 \\ud83d\\ude00 \xc3\xa9\","
        " \"t\": true, \"f\": false, \"n\": null, \"arr\": [[], {}, [0, {\"k\": \"v\"}]], \"e\": \"\\n\\\"\"}";
    size_t n = strlen(doc);
    int all_failed = 1, offsets_ok = 1;
    for (size_t k = 0; k < n; k++) {
        attn_json *j = NULL;
        attn_error err = { "" };
        int rc = parse_n(doc, k, &j, &err);
        if (rc == ATTN_OK) { all_failed = 0; attn_json_free(j); fprintf(stderr, "prefix %zu parsed\n", k); continue; }
        const char *at = strstr(err.msg, " at byte ");
        size_t off = at ? strtoul(at + 9, NULL, 10) : (size_t)-1;
        if (!at || off > k || strncmp(err.msg, "JSON: ", 6) != 0) {
            offsets_ok = 0;
            fprintf(stderr, "prefix %zu: %s\n", k, err.msg);
        }
    }
    CHECK(all_failed);
    CHECK(offsets_ok);
    attn_json *j = NULL;
    CHECK(parse_n(doc, n, &j, NULL) == ATTN_OK);
    if (j) {
        const attn_json *s = attn_json_get(j, "s");
        CHECK(s && strcmp(s->str, "caf\xc3\xa9 \xf0\x9f\x98\x80 \xc3\xa9") == 0);
        CHECK(j->len == 9);
        attn_json_free(j);
    }
}

static void test_json_int(void) {
    attn_json *j = parse_ok("[3, 3.5, -7, 1e19, -9223372036854775808, 9223372036854775807, \"4\", 1e2, -0]");
    if (!j) return;
    int64_t v = 0;
    CHECK(attn_json_int(&j->items[0], 0, 10, &v) == ATTN_OK && v == 3);
    CHECK(attn_json_int(&j->items[0], 3, 3, &v) == ATTN_OK);          /* bounds inclusive */
    CHECK(attn_json_int(&j->items[0], 4, 10, &v) != ATTN_OK);
    CHECK(attn_json_int(&j->items[0], 0, 2, &v) != ATTN_OK);
    CHECK(attn_json_int(&j->items[1], 0, 10, &v) != ATTN_OK);         /* not integral */
    CHECK(attn_json_int(&j->items[2], -10, 10, &v) == ATTN_OK && v == -7);
    CHECK(attn_json_int(&j->items[3], INT64_MIN, INT64_MAX, &v) != ATTN_OK);   /* > int64 */
    CHECK(attn_json_int(&j->items[4], INT64_MIN, INT64_MAX, &v) == ATTN_OK && v == INT64_MIN);
    /* 9223372036854775807 reads as the double 2^63: not representable as int64. */
    CHECK(attn_json_int(&j->items[5], INT64_MIN, INT64_MAX, &v) != ATTN_OK);
    CHECK(attn_json_int(&j->items[6], 0, 10, &v) != ATTN_OK);         /* a string */
    CHECK(attn_json_int(&j->items[7], 0, 100, &v) == ATTN_OK && v == 100);
    CHECK(attn_json_int(&j->items[8], 0, 0, &v) == ATTN_OK && v == 0);
    CHECK(attn_json_int(NULL, 0, 0, &v) != ATTN_OK);
    attn_json_free(j);
}

/* Random mutations of valid documents: whatever happens, no crash, no leak, no read past n
 * (checked by the sanitizer build), and every error is a "JSON: ... at byte N" message. */
static void test_mutations(void) {
    const char *seeds[] = {
        "{\"a\": [1, 2.5e-3, \"x\\u00e9\\ud83d\\ude00\"], \"b\": {\"c\": null, \"d\": true}}",
        "[[[[{\"k\": \"v\"}]]], -0.0, 1E+2, \"\\\\\\\"\", false]",
        "\"\xf0\x9d\x84\x9e\xc3\xa9\"",
    };
    const char alphabet[] = "{}[]\",:\\u0123456789abcdefABCDEF.eE+- \t\n\x80\xc3\xed\xf4\xff";
    uint64_t state = 12345;
    int bad_messages = 0, successes = 0;
    for (int iter = 0; iter < 20000; iter++) {
        const char *seed = seeds[iter % 3];
        size_t n = strlen(seed);
        char buf[256];
        memcpy(buf, seed, n);
        int edits = 1 + iter % 4;
        for (int e = 0; e < edits; e++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)(state >> 33) % n;
            int op = (int)((state >> 20) % 3);
            char c = alphabet[(state >> 40) % (sizeof alphabet - 1)];
            if (op == 0) buf[pos] = c;
            else if (op == 1 && n > 1) { memmove(buf + pos, buf + pos + 1, n - pos - 1); n--; }
            else if (n < sizeof buf - 1) { memmove(buf + pos + 1, buf + pos, n - pos); buf[pos] = c; n++; }
        }
        attn_json *j = NULL;
        attn_error err = { "" };
        int rc = parse_n(buf, n, &j, &err);
        if (rc == ATTN_OK) { successes++; attn_json_free(j); continue; }
        if (strncmp(err.msg, "JSON: ", 6) != 0 || !strstr(err.msg, " at byte ") ||
            (rc != ATTN_EINVAL && rc != ATTN_ELIMIT))
            bad_messages++;
    }
    CHECK(bad_messages == 0);
    CHECK(successes > 0 && successes < 20000);
}

int main(void) {
    test_literals_and_structure();
    test_numbers();
    test_numbers_under_comma_locale();
    test_strings();
    test_structure_errors();
    test_many_keys();
    test_depth();
    test_every_prefix();
    test_json_int();
    test_mutations();
    return CHECK_DONE();
}
