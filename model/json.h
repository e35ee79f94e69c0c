/* json.h: a small, strict RFC 8259 JSON parser (DOM) for model configs and training rows.
 *
 * Safe on hostile input: depth limited to ATTN_MAX_JSON_DEPTH, sizes checked, never reads past
 * n bytes (the input need not be NUL-terminated), rejects trailing garbage, invalid escapes,
 * unpaired surrogates and invalid UTF-8 in strings. Duplicate object keys are an error (keys
 * are compared after unescaping), so is a key containing U+0000, and a number beyond the range
 * of a double (1e400); numbers are read independently of the C locale. */
#ifndef ATTN_JSON_H
#define ATTN_JSON_H

#include "common.h"

typedef enum attn_json_type {
    ATTN_JSON_NULL, ATTN_JSON_BOOL, ATTN_JSON_NUMBER, ATTN_JSON_STRING,
    ATTN_JSON_ARRAY, ATTN_JSON_OBJECT
} attn_json_type;

typedef struct attn_json attn_json;
struct attn_json {
    attn_json_type type;
    int boolean;            /* BOOL */
    double number;          /* NUMBER */
    char *str;              /* STRING: decoded UTF-8, NUL-terminated (may contain NUL: use len) */
    size_t len;             /* STRING: bytes; ARRAY/OBJECT: number of items */
    attn_json *items;       /* ARRAY/OBJECT: [len] values */
    char **keys;            /* OBJECT: [len] keys, NUL-terminated */
};

/* Parses s[0..n). On success *out is a tree owned by the caller (free with attn_json_free).
 * Errors name the byte offset: "JSON: expected ',' or '}' at byte 17". */
int attn_json_parse(const char *s, size_t n, attn_json **out, attn_error *err);
void attn_json_free(attn_json *j);

/* Member of an object by key, or NULL (also NULL when obj is not an object). */
const attn_json *attn_json_get(const attn_json *obj, const char *key);

/* Integer value of a NUMBER that is integral and within [lo, hi]; returns 0 on success. */
int attn_json_int(const attn_json *j, int64_t lo, int64_t hi, int64_t *out);

#endif
