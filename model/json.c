/* json.c: a strict RFC 8259 parser into a small DOM.
 *
 * Recursive descent over s[0..n) with an explicit position; every read checks pos < n, so the
 * input needs no terminator. Depth is bounded by ATTN_MAX_JSON_DEPTH, which also bounds the
 * C recursion. Every error names the byte offset where the problem was seen. */
#include "json.h"

#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *s;
    size_t n, pos;
    attn_error *err;
} parser;

static int at_end(const parser *p) { return p->pos >= p->n; }
static unsigned char peek(const parser *p) { return (unsigned char)p->s[p->pos]; }

static int fail_at(parser *p, size_t pos, const char *what) {
    return attn_fail(p->err, ATTN_EINVAL, "JSON: %s at byte %zu", what, pos);
}

static int fail_end(parser *p) {
    return fail_at(p, p->pos, "unexpected end of input");
}

static int fail_char(parser *p) {
    unsigned char c = peek(p);
    if (c >= 0x21 && c < 0x7f)
        return attn_fail(p->err, ATTN_EINVAL, "JSON: unexpected character '%c' at byte %zu",
                         c, p->pos);
    return attn_fail(p->err, ATTN_EINVAL, "JSON: unexpected byte 0x%02x at byte %zu", c, p->pos);
}

static void skip_space(parser *p) {
    while (!at_end(p)) {
        unsigned char c = peek(p);
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

/* Consumes the literal word (true/false/null) or fails. */
static int expect_word(parser *p, const char *word) {
    size_t len = strlen(word);
    for (size_t i = 0; i < len; i++) {
        if (p->pos + i >= p->n) { p->pos += i; return fail_end(p); }
        if (p->s[p->pos + i] != word[i]) { p->pos += i; return fail_char(p); }
    }
    p->pos += len;
    return ATTN_OK;
}

/* ---- strings ---------------------------------------------------------------------------- */

/* Length of a valid UTF-8 sequence at s[0..avail), or 0 if invalid (overlong, surrogate,
 * beyond U+10FFFF, truncated). */
static size_t utf8_valid_len(const unsigned char *s, size_t avail) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;   /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if (c == 0xED) { len = 3; hi = 0x9F; }          /* no UTF-16 surrogates */
    else if (c >= 0xE1 && c <= 0xEF) len = 3;
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) { len = 4; hi = 0x8F; }          /* nothing above U+10FFFF */
    else return 0;
    if (avail < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

static size_t utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Reads the 4 hex digits of a \u escape starting at p->pos; returns -1 if invalid. */
static long read_hex4(parser *p) {
    if (p->n - p->pos < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = (unsigned char)p->s[p->pos + i];
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        v = v * 16 + d;
    }
    p->pos += 4;
    return v;
}

/* After the backslash and 'u': decodes one code point, pairing surrogates. */
static int read_unicode_escape(parser *p, size_t esc_pos, uint32_t *cp) {
    long hi = read_hex4(p);
    if (hi < 0) return fail_at(p, esc_pos, "invalid \\u escape");
    if (hi >= 0xDC00 && hi <= 0xDFFF) return fail_at(p, esc_pos, "unpaired surrogate");
    if (hi < 0xD800 || hi > 0xDBFF) { *cp = (uint32_t)hi; return ATTN_OK; }
    if (p->n - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
        return fail_at(p, esc_pos, "unpaired surrogate");
    size_t low_pos = p->pos;
    p->pos += 2;
    long lo = read_hex4(p);
    if (lo < 0) return fail_at(p, low_pos, "invalid \\u escape");
    if (lo < 0xDC00 || lo > 0xDFFF) return fail_at(p, esc_pos, "unpaired surrogate");
    *cp = 0x10000 + (((uint32_t)hi - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
    return ATTN_OK;
}

/* One escape after the backslash at esc_pos; appends its UTF-8 to out. */
static int read_escape(parser *p, size_t esc_pos, char *out, size_t *len) {
    if (at_end(p)) return fail_end(p);
    char c = p->s[p->pos++];
    char simple = 0;
    switch (c) {
    case '"': simple = '"'; break;
    case '\\': simple = '\\'; break;
    case '/': simple = '/'; break;
    case 'b': simple = '\b'; break;
    case 'f': simple = '\f'; break;
    case 'n': simple = '\n'; break;
    case 'r': simple = '\r'; break;
    case 't': simple = '\t'; break;
    case 'u': {
        uint32_t cp = 0;
        int rc = read_unicode_escape(p, esc_pos, &cp);
        if (rc) return rc;
        *len += utf8_encode(cp, out + *len);
        return ATTN_OK;
    }
    default: return fail_at(p, esc_pos, "invalid escape");
    }
    out[(*len)++] = simple;
    return ATTN_OK;
}

/* Byte length of the raw string body starting at p->pos (just after the opening quote), up to
 * the closing quote; the decoded text is never longer. Fails on a missing closing quote. */
static int raw_string_length(parser *p, size_t *raw) {
    size_t i = p->pos;
    while (i < p->n && p->s[i] != '"') i += (p->s[i] == '\\') ? 2 : 1;
    if (i >= p->n) { p->pos = p->n; return fail_end(p); }
    *raw = i - p->pos;
    return ATTN_OK;
}

/* p->pos is at the opening quote. On success *out is malloc'd, NUL-terminated. */
static int parse_string(parser *p, char **out, size_t *out_len) {
    p->pos++;
    size_t raw = 0;
    int rc = raw_string_length(p, &raw);
    if (rc) return rc;
    char *buf = malloc(raw + 1);
    if (!buf) return attn_fail(p->err, ATTN_ENOMEM, "JSON: out of memory for a string of %zu bytes", raw);
    size_t len = 0;
    for (;;) {
        if (at_end(p)) { rc = fail_end(p); break; }
        unsigned char c = peek(p);
        if (c == '"') { p->pos++; break; }
        if (c == '\\') {
            size_t esc_pos = p->pos++;
            if ((rc = read_escape(p, esc_pos, buf, &len))) break;
            continue;
        }
        if (c < 0x20) { rc = fail_at(p, p->pos, "control character in string"); break; }
        size_t k = utf8_valid_len((const unsigned char *)p->s + p->pos, p->n - p->pos);
        if (k == 0) { rc = fail_at(p, p->pos, "invalid UTF-8"); break; }
        memcpy(buf + len, p->s + p->pos, k);
        len += k;
        p->pos += k;
    }
    if (rc) { free(buf); return rc; }
    buf[len] = 0;
    *out = buf;
    *out_len = len;
    return ATTN_OK;
}

/* ---- numbers ---------------------------------------------------------------------------- */

static size_t skip_digits(const parser *p, size_t i) {
    while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9') i++;
    return i;
}

/* End of the number token starting at p->pos per the RFC grammar
 *   -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?
 * or 0 with an error. */
static int scan_number(parser *p, size_t *end) {
    size_t i = p->pos;
    if (i < p->n && p->s[i] == '-') i++;
    if (i >= p->n) { p->pos = i; return fail_end(p); }
    if (p->s[i] == '0') i++;
    else if (p->s[i] >= '1' && p->s[i] <= '9') i = skip_digits(p, i);
    else return fail_at(p, i, "invalid number");
    if (i < p->n && p->s[i] == '.') {
        size_t d = skip_digits(p, i + 1);
        if (d == i + 1) return d >= p->n ? (p->pos = d, fail_end(p)) : fail_at(p, d, "invalid number");
        i = d;
    }
    if (i < p->n && (p->s[i] == 'e' || p->s[i] == 'E')) {
        i++;
        if (i < p->n && (p->s[i] == '+' || p->s[i] == '-')) i++;
        size_t d = skip_digits(p, i);
        if (d == i) return d >= p->n ? (p->pos = d, fail_end(p)) : fail_at(p, d, "invalid number");
        i = d;
    }
    *end = i;
    return ATTN_OK;
}

/* strtod on a NUL-terminated copy of the token, with '.' swapped for the locale's decimal
 * point (the host application may have called setlocale). */
static int convert_number(parser *p, size_t start, size_t end, double *out) {
    const char *point = localeconv()->decimal_point;
    if (!point || !*point) point = ".";
    size_t point_len = strlen(point);
    size_t need = (end - start) + point_len + 1;   /* at most one '.' in a valid number */
    char small[64];
    char *copy = need <= sizeof small ? small : malloc(need);
    if (!copy) return attn_fail(p->err, ATTN_ENOMEM, "JSON: out of memory for a number");
    size_t k = 0;
    for (size_t i = start; i < end; i++) {
        if (p->s[i] == '.') { memcpy(copy + k, point, point_len); k += point_len; }
        else copy[k++] = p->s[i];
    }
    copy[k] = 0;
    double v = strtod(copy, NULL);
    if (copy != small) free(copy);
    if (!isfinite(v)) return fail_at(p, start, "number out of range");
    *out = v;
    return ATTN_OK;
}

static int parse_number(parser *p, attn_json *j) {
    size_t end = 0, start = p->pos;
    int rc = scan_number(p, &end);
    if (rc) return rc;
    rc = convert_number(p, start, end, &j->number);
    if (rc) return rc;
    j->type = ATTN_JSON_NUMBER;
    p->pos = end;
    return ATTN_OK;
}

/* ---- containers ------------------------------------------------------------------------- */

static int parse_value(parser *p, attn_json *j, int depth);

/* Grows items (and keys, when with_keys) to hold at least len + 1 entries; *cap is the
 * capacity of both. */
static int grow(parser *p, attn_json *j, size_t *cap, int with_keys) {
    size_t items_cap = *cap, keys_cap = *cap;
    if (attn_grow((void **)&j->items, &items_cap, j->len + 1, sizeof *j->items) != ATTN_OK ||
        (with_keys &&
         attn_grow((void **)&j->keys, &keys_cap, j->len + 1, sizeof *j->keys) != ATTN_OK))
        return attn_fail(p->err, ATTN_ENOMEM, "JSON: out of memory at byte %zu", p->pos);
    *cap = items_cap;
    return ATTN_OK;
}

/* After an item: consumes ',' (returns 1 = more) or the closer (returns 0), else error < 0. */
static int after_item(parser *p, char closer, int *rc) {
    skip_space(p);
    if (at_end(p)) { *rc = fail_end(p); return -1; }
    char c = p->s[p->pos];
    if (c == ',') { p->pos++; return 1; }
    if (c == closer) { p->pos++; return 0; }
    *rc = fail_at(p, p->pos, closer == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
    return -1;
}

static int parse_array(parser *p, attn_json *j, int depth) {
    j->type = ATTN_JSON_ARRAY;
    p->pos++;
    skip_space(p);
    if (!at_end(p) && p->s[p->pos] == ']') { p->pos++; return ATTN_OK; }
    size_t cap = 0;
    int rc = ATTN_OK;
    for (;;) {
        if ((rc = grow(p, j, &cap, 0))) return rc;
        memset(&j->items[j->len], 0, sizeof j->items[0]);
        j->len++;
        if ((rc = parse_value(p, &j->items[j->len - 1], depth))) return rc;
        int more = after_item(p, ']', &rc);
        if (more <= 0) return rc;
    }
}

/* Duplicate keys are an error. */
static int check_duplicate_keys(parser *p, const attn_json *j, size_t obj_pos) {
    const char *dup;
    if (attn_find_duplicate((const char *const *)j->keys, j->len, &dup))
        return attn_fail(p->err, ATTN_ENOMEM, "JSON: out of memory at byte %zu", obj_pos);
    if (dup)
        return attn_fail(p->err, ATTN_EINVAL, "JSON: duplicate key \"%.100s\" in the object at "
                         "byte %zu", dup, obj_pos);
    return ATTN_OK;
}

static int parse_member(parser *p, attn_json *j, int depth) {
    skip_space(p);
    if (at_end(p)) return fail_end(p);
    if (p->s[p->pos] != '"') return fail_at(p, p->pos, "expected a string key");
    size_t key_pos = p->pos, key_len;
    char *key;
    int rc = parse_string(p, &key, &key_len);
    if (rc) return rc;
    j->keys[j->len] = key;
    memset(&j->items[j->len], 0, sizeof j->items[0]);
    j->len++;
    if (strlen(key) != key_len) return fail_at(p, key_pos, "key contains U+0000");
    skip_space(p);
    if (at_end(p)) return fail_end(p);
    if (p->s[p->pos] != ':') return fail_at(p, p->pos, "expected ':'");
    p->pos++;
    return parse_value(p, &j->items[j->len - 1], depth);
}

static int parse_object(parser *p, attn_json *j, int depth) {
    size_t obj_pos = p->pos;
    j->type = ATTN_JSON_OBJECT;
    p->pos++;
    skip_space(p);
    if (!at_end(p) && p->s[p->pos] == '}') { p->pos++; return ATTN_OK; }
    size_t cap = 0;
    int rc = ATTN_OK;
    for (;;) {
        if ((rc = grow(p, j, &cap, 1))) return rc;
        if ((rc = parse_member(p, j, depth))) return rc;
        int more = after_item(p, '}', &rc);
        if (more < 0) return rc;
        if (more == 0) return check_duplicate_keys(p, j, obj_pos);
    }
}

/* depth = containers already open around this value. */
static int parse_value(parser *p, attn_json *j, int depth) {
    skip_space(p);
    if (at_end(p)) return fail_end(p);
    unsigned char c = peek(p);
    if (c == '[' || c == '{') {
        if (depth >= ATTN_MAX_JSON_DEPTH)
            return attn_fail(p->err, ATTN_ELIMIT, "JSON: nesting deeper than %d at byte %zu",
                             ATTN_MAX_JSON_DEPTH, p->pos);
        return c == '[' ? parse_array(p, j, depth + 1) : parse_object(p, j, depth + 1);
    }
    if (c == '"') {
        int rc = parse_string(p, &j->str, &j->len);
        if (rc == ATTN_OK) j->type = ATTN_JSON_STRING;
        return rc;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, j);
    if (c == 't' || c == 'f') {
        j->type = ATTN_JSON_BOOL;
        j->boolean = (c == 't');
        return expect_word(p, c == 't' ? "true" : "false");
    }
    if (c == 'n') { j->type = ATTN_JSON_NULL; return expect_word(p, "null"); }
    return fail_char(p);
}

/* ---- public ----------------------------------------------------------------------------- */

static void free_contents(attn_json *j) {
    if (j->type == ATTN_JSON_STRING) free(j->str);
    if (j->type == ATTN_JSON_ARRAY || j->type == ATTN_JSON_OBJECT) {
        for (size_t i = 0; i < j->len; i++) {
            free_contents(&j->items[i]);
            if (j->keys) free(j->keys[i]);
        }
        free(j->items);
        free(j->keys);
    }
}

int attn_json_parse(const char *s, size_t n, attn_json **out, attn_error *err) {
    *out = NULL;
    if (!s && n) return attn_fail(err, ATTN_EINVAL, "JSON: no input");
    parser p = { s, n, 0, err };
    attn_json *root = calloc(1, sizeof *root);
    if (!root) return attn_fail(err, ATTN_ENOMEM, "JSON: out of memory");
    int rc = parse_value(&p, root, 0);
    if (rc == ATTN_OK) {
        skip_space(&p);
        if (!at_end(&p)) rc = fail_at(&p, p.pos, "trailing characters");
    }
    if (rc) { attn_json_free(root); return rc; }
    *out = root;
    return ATTN_OK;
}

void attn_json_free(attn_json *j) {
    if (!j) return;
    free_contents(j);
    free(j);
}

const attn_json *attn_json_get(const attn_json *obj, const char *key) {
    if (!obj || obj->type != ATTN_JSON_OBJECT || !key) return NULL;
    for (size_t i = 0; i < obj->len; i++)
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    return NULL;
}

int attn_json_int(const attn_json *j, int64_t lo, int64_t hi, int64_t *out) {
    if (!j || j->type != ATTN_JSON_NUMBER) return ATTN_EINVAL;
    double d = j->number;
    /* Range first, as doubles: converting an out-of-range double to int64 is undefined. */
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return ATTN_EINVAL;
    if (d != floor(d)) return ATTN_EINVAL;
    int64_t v = (int64_t)d;
    if (v < lo || v > hi) return ATTN_EINVAL;
    *out = v;
    return ATTN_OK;
}
