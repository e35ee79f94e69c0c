/* fuzz_conll: the CoNLL column reader (conll.h) on arbitrary bytes.
 *
 * Input: byte 0 chooses the options (bits 0-1 scheme, bits 2-3 join, bit 4 lenient tags,
 * bit 5 token column 2, bit 6 tag column 3); the rest is the file, read from memory with
 * attn_conll_open_buffer and attn_conll_next until the end or an error.
 * Invariants per sentence (abort when broken):
 *   - text is NUL-terminated valid UTF-8 of n_bytes bytes (no NUL inside) and n_chars
 *     characters;
 *   - tokens are in order, non-overlapping, inside text, with character offsets equal to the
 *     counts of their byte prefixes;
 *   - spans are in text order, non-overlapping, non-empty, inside [0, n_chars], with a label
 *     index < attn_conll_n_labels and label_name == attn_conll_label(label);
 *   - attn_conll_entities_json is JSON (attn_json_parse) listing exactly those spans;
 * and errors are sticky: after a negative return the next call returns the same code. */
#include "conll.h"
#include "json.h"
#include "tokenizer.h"

#include <string.h>

#include "fuzz_check.h"

#define MAX_SENTENCES 100000   /* a stuck reader (returning 1 forever) is a finding too */

static void check_tokens(const attn_conll_sentence *s) {
    size_t prev = 0;
    for (size_t i = 0; i < s->n_tokens; i++) {
        const attn_conll_token *t = &s->tokens[i];
        FUZZ_CHECK(t->byte_start >= prev && t->byte_start < t->byte_end && t->byte_end <= s->n_bytes,
                   "token %zu bytes [%zu, %zu) of %zu", i, t->byte_start, t->byte_end, s->n_bytes);
        FUZZ_CHECK(attn_utf8_count(s->text, t->byte_start) == t->start &&
                   attn_utf8_count(s->text, t->byte_end) == t->end,
                   "token %zu chars [%lld, %lld)", i, (long long)t->start, (long long)t->end);
        prev = t->byte_end;
    }
}

static void check_spans(const attn_conll_reader *r, const attn_conll_sentence *s) {
    int64_t prev = 0;
    for (size_t i = 0; i < s->n_spans; i++) {
        const attn_conll_span *sp = &s->spans[i];
        FUZZ_CHECK(sp->start >= prev && sp->start < sp->end && sp->end <= s->n_chars,
                   "span %zu [%lld, %lld) of %lld chars", i, (long long)sp->start,
                   (long long)sp->end, (long long)s->n_chars);
        FUZZ_CHECK(sp->label >= 0 && sp->label < attn_conll_n_labels(r), "span %zu label %d", i, sp->label);
        const char *name = attn_conll_label(r, sp->label);
        FUZZ_CHECK(name && sp->label_name && strcmp(name, sp->label_name) == 0, "span %zu label name", i);
        prev = sp->end;
    }
}

static const char *json_str(const attn_json *obj, const char *key) {
    const attn_json *v = attn_json_get(obj, key);
    return v && v->type == ATTN_JSON_STRING ? v->str : NULL;
}

static int64_t json_int(const attn_json *obj, const char *key) {
    int64_t v = -1;
    const attn_json *n = attn_json_get(obj, key);
    FUZZ_CHECK(n && attn_json_int(n, 0, INT64_MAX / 2, &v) == ATTN_OK, "'%s' not an integer", key);
    return v;
}

static void check_entities_json(const attn_conll_sentence *s) {
    char *json = NULL;
    size_t n = 0;
    attn_error err;
    FUZZ_CHECK(attn_conll_entities_json(s, &json, &n, &err) == ATTN_OK, "%s", err.msg);
    FUZZ_CHECK(strlen(json) == n, "length %zu vs %zu", strlen(json), n);
    attn_json *j = NULL;
    FUZZ_CHECK(attn_json_parse(json, n, &j, &err) == ATTN_OK, "%s in %.200s", err.msg, json);
    FUZZ_CHECK(j->type == ATTN_JSON_ARRAY && j->len == s->n_spans, "%zu items for %zu spans", j->len, s->n_spans);
    for (size_t i = 0; i < j->len; i++) {
        const attn_json *o = &j->items[i];
        const char *label = json_str(o, "label");
        FUZZ_CHECK(json_int(o, "start") == s->spans[i].start && json_int(o, "end") == s->spans[i].end &&
                   label && strcmp(label, s->spans[i].label_name) == 0, "entity %zu differs", i);
    }
    attn_json_free(j);
    free(json);
}

static void check_sentence(const attn_conll_reader *r, const attn_conll_sentence *s) {
    FUZZ_CHECK(s->text && s->text[s->n_bytes] == '\0' && strlen(s->text) == s->n_bytes, "text end");
    FUZZ_CHECK(fuzz_valid_utf8((const unsigned char *)s->text, s->n_bytes), "text not UTF-8");
    FUZZ_CHECK(attn_utf8_count(s->text, s->n_bytes) == s->n_chars, "n_chars %lld", (long long)s->n_chars);
    FUZZ_CHECK(s->n_tokens >= 1 && s->line >= 1 && s->line <= attn_conll_lines(r), "tokens %zu line %lld",
               s->n_tokens, (long long)s->line);
    check_tokens(s);
    check_spans(r, s);
    check_entities_json(s);
}

static attn_conll_options options_from(uint8_t b) {
    attn_conll_options o;
    memset(&o, 0, sizeof o);
    o.scheme = (attn_conll_scheme)(b & 3);
    o.join = (attn_conll_join)((b >> 2) % 3);
    o.lenient_tags = (b >> 4) & 1;
    o.token_column = (b >> 5) & 1 ? 2 : 0;
    o.tag_column = (b >> 6) & 1 ? 3 : 0;
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    attn_conll_options opt = options_from(data[0]);
    attn_error err;
    attn_conll_reader *r = attn_conll_open_buffer((const char *)data + 1, size - 1, &opt, &err);
    FUZZ_CHECK(r != NULL, "open_buffer: %s", err.msg);
    attn_conll_sentence s;
    int rc, n = 0;
    while ((rc = attn_conll_next(r, &s, &err)) == 1) {
        check_sentence(r, &s);
        FUZZ_CHECK(++n < MAX_SENTENCES, "reader does not end");
    }
    FUZZ_CHECK(rc == 0 || rc == -ATTN_EINVAL || rc == -ATTN_ELIMIT || rc == -ATTN_ENOMEM, "rc %d", rc);
    FUZZ_CHECK(attn_conll_next(r, &s, &err) == rc, "not sticky after %d", rc);
    attn_conll_close(r);
    return 0;
}
