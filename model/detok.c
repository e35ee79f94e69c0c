/* detok.c: joining pre-tokenised text as people write it (rules in detok.h). */
#include "detok.h"

#include <stdlib.h>
#include <string.h>

static int is_one_of(const char *tok, size_t n, const char *const *list) {
    for (; *list; list++)
        if (strlen(*list) == n && memcmp(tok, *list, n) == 0) return 1;
    return 0;
}

static int is_ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* 's 'm 'd 're 've 'll n't, any case. */
static int is_clitic(const char *tok, size_t n) {
    if (n == 3 && (tok[0] == 'n' || tok[0] == 'N') && tok[1] == '\'' &&
        (tok[2] == 't' || tok[2] == 'T'))
        return 1;
    if (n < 2 || n > 3 || tok[0] != '\'') return 0;
    for (size_t i = 1; i < n; i++)
        if (!is_ascii_letter(tok[i])) return 0;
    return 1;
}

static const char *const closing[] = {".", ",", ";", ":", "!", "?", "%", ")", "]", "}", "''",
                                      "'", NULL};
static const char *const opening[] = {"(", "[", "{", "$", "`", "``", NULL};

void attn_detok_start(attn_detok *d) { *d = (attn_detok){0}; }

int attn_detok_space(attn_detok *d, const char *tok, size_t n, int first) {
    int space = !first && !d->no_space_next;
    d->no_space_next = 0;
    if (n == 1 && tok[0] == '"') {
        const int opens = d->n_double_quotes++ % 2 == 0;
        if (opens) d->no_space_next = 1;
        else space = 0;
        return space;
    }
    if (is_one_of(tok, n, closing) || is_clitic(tok, n)) space = 0;
    if (is_one_of(tok, n, opening)) d->no_space_next = 1;
    return space;
}

static int64_t utf8_chars(const char *s, size_t n) {
    int64_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

int attn_detok_join(const char *const *tok, const size_t *n_bytes, size_t n, char **text,
                    size_t *text_bytes, int64_t *start, int64_t *end, attn_error *err) {
    size_t cap = 1;
    for (size_t i = 0; i < n; i++) {
        if (n_bytes[i] > SIZE_MAX - cap - 1) return attn_fail(err, ATTN_ENOMEM, "out of memory");
        cap += n_bytes[i] + 1;
    }
    char *out = malloc(cap);
    if (!out) return attn_fail(err, ATTN_ENOMEM, "out of memory");
    attn_detok d;
    attn_detok_start(&d);
    size_t b = 0;
    int64_t c = 0;
    for (size_t i = 0; i < n; i++) {
        if (attn_detok_space(&d, tok[i], n_bytes[i], i == 0)) out[b++] = ' ', c++;
        memcpy(out + b, tok[i], n_bytes[i]);
        start[i] = c;
        c += utf8_chars(tok[i], n_bytes[i]);
        end[i] = c;
        b += n_bytes[i];
    }
    out[b] = 0;
    *text = out;
    *text_bytes = b;
    return ATTN_OK;
}
