/* fuzz_json: attn_json_parse on arbitrary bytes (json.h).
 *
 * Invariants on success (abort when broken):
 *   - nesting depth <= ATTN_MAX_JSON_DEPTH, numbers finite, strings and keys valid UTF-8 with
 *     a NUL at [len], keys free of U+0000 and unique within their object, attn_json_get finds
 *     each member (its first occurrence = the only one);
 *   - round trip: the tree written back as JSON parses to an equal tree (numbers exactly,
 *     printed with 17 significant digits);
 *   - attn_json_int agrees with the number: success exactly when it is integral in range.
 * On failure the error message must be non-empty. The input buffer is exactly `size` bytes
 * long (libFuzzer's copy), so any read past n is an ASan report. */
#include "json.h"

#include <math.h>
#include <string.h>

#include "fuzz_check.h"

#define MAX_KEYS_COMPARED 256   /* unique-key check is quadratic: only on small objects */

typedef struct buf { char *p; size_t len, cap; } buf;

static void put(buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void put_string(buf *b, const char *s, size_t n) {
    put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\') {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(b, esc, 6);
        } else {
            put(b, s + i, 1);
        }
    }
    put(b, "\"", 1);
}

static void check_int(const attn_json *j) {
    int64_t v = 0;
    int ok = attn_json_int(j, -1000000, 1000000, &v) == ATTN_OK;
    int want = j->number == floor(j->number) && j->number >= -1000000 && j->number <= 1000000;
    FUZZ_CHECK(ok == want, "attn_json_int(%.17g) = %d", j->number, ok);
    FUZZ_CHECK(!ok || (double)v == j->number, "attn_json_int(%.17g) gave %lld", j->number, (long long)v);
}

static void check_object(const attn_json *j) {
    for (size_t i = 0; i < j->len; i++) {
        const char *k = j->keys[i];
        FUZZ_CHECK(k != NULL && fuzz_valid_utf8((const unsigned char *)k, strlen(k)), "key %zu", i);
        if (j->len <= MAX_KEYS_COMPARED)
            for (size_t m = 0; m < i; m++) FUZZ_CHECK(strcmp(j->keys[m], k) != 0, "duplicate key '%s'", k);
        if (j->len <= MAX_KEYS_COMPARED)
            FUZZ_CHECK(attn_json_get(j, k) == &j->items[i], "attn_json_get('%s')", k);
    }
}

/* Checks j and writes it as JSON into b. */
static void walk(const attn_json *j, int depth, buf *b) {
    FUZZ_CHECK(depth <= ATTN_MAX_JSON_DEPTH, "depth %d", depth);
    char num[40];
    switch (j->type) {
    case ATTN_JSON_NULL: put(b, "null", 4); return;
    case ATTN_JSON_BOOL:
        FUZZ_CHECK(j->boolean == 0 || j->boolean == 1, "boolean %d", j->boolean);
        put(b, j->boolean ? "true" : "false", j->boolean ? 4 : 5);
        return;
    case ATTN_JSON_NUMBER:
        FUZZ_CHECK(isfinite(j->number), "number %g", j->number);
        check_int(j);
        put(b, num, (size_t)snprintf(num, sizeof num, "%.17g", j->number));
        return;
    case ATTN_JSON_STRING:
        FUZZ_CHECK(j->str && j->str[j->len] == '\0', "string end");
        FUZZ_CHECK(fuzz_valid_utf8((const unsigned char *)j->str, j->len), "string UTF-8");
        put_string(b, j->str, j->len);
        return;
    case ATTN_JSON_ARRAY:
    case ATTN_JSON_OBJECT: {
        int obj = j->type == ATTN_JSON_OBJECT;
        FUZZ_CHECK(j->len == 0 || j->items, "items missing");
        if (obj) check_object(j);
        put(b, obj ? "{" : "[", 1);
        for (size_t i = 0; i < j->len; i++) {
            if (i) put(b, ",", 1);
            if (obj) {
                put_string(b, j->keys[i], strlen(j->keys[i]));
                put(b, ":", 1);
            }
            walk(&j->items[i], depth + 1, b);
        }
        put(b, obj ? "}" : "]", 1);
        return;
    }
    }
    FUZZ_CHECK(0, "unknown type %d", (int)j->type);
}

static int same_tree(const attn_json *a, const attn_json *b) {
    if (a->type != b->type || a->len != b->len) return 0;
    switch (a->type) {
    case ATTN_JSON_NULL: return 1;
    case ATTN_JSON_BOOL: return a->boolean == b->boolean;
    case ATTN_JSON_NUMBER: return a->number == b->number && signbit(a->number) == signbit(b->number);
    case ATTN_JSON_STRING: return memcmp(a->str, b->str, a->len) == 0;
    case ATTN_JSON_ARRAY:
    case ATTN_JSON_OBJECT:
        for (size_t i = 0; i < a->len; i++) {
            if (a->type == ATTN_JSON_OBJECT && strcmp(a->keys[i], b->keys[i]) != 0) return 0;
            if (!same_tree(&a->items[i], &b->items[i])) return 0;
        }
        return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    attn_json *j = NULL;
    attn_error err;
    err.msg[0] = 0;
    if (attn_json_parse((const char *)data, size, &j, &err) != ATTN_OK) {
        FUZZ_CHECK(err.msg[0] != 0, "failure without a message");
        return 0;
    }
    FUZZ_CHECK(j != NULL, "success without a tree");
    buf b = {0};
    walk(j, 0, &b);
    attn_json *again = NULL;
    FUZZ_CHECK(attn_json_parse(b.p, b.len, &again, &err) == ATTN_OK, "reparse of '%.200s': %s", b.p, err.msg);
    FUZZ_CHECK(same_tree(j, again), "round trip changed the tree: '%.200s'", b.p);
    attn_json_free(again);
    attn_json_free(j);
    free(b.p);
    return 0;
}
