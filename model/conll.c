/* conll.c: streaming CoNLL column reader; see conll.h for the format and the decoding rules. */
#include "conll.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detok.h"

#define BLOCK_BYTES 65536
#define DOCSTART "-DOCSTART-"

typedef struct field { size_t off, len; } field;

/* A token of the sentence being collected: its bytes live in r->tokbuf. */
typedef struct pending_token {
    size_t off, len;              /* bytes in tokbuf */
    int64_t n_chars;
    int first_wide, last_wide;    /* first / last character is East Asian wide */
    char prefix;                  /* 'O', 'B', 'I', 'E', 'S' */
    int label;                    /* -1 for O */
} pending_token;

struct attn_conll_reader {
    attn_conll_options opt;
    /* input: a file read in blocks, or a caller's buffer */
    FILE *file;
    char *block;
    size_t block_pos, block_len;
    int file_eof;
    const char *mem;
    size_t mem_n, mem_pos;
    char *line;                   /* [ATTN_CONLL_MAX_LINE_BYTES + 2], file mode */
    int64_t line_no;
    /* sticky error */
    int status;
    char status_msg[sizeof(((attn_error *)0)->msg)];
    /* the sentence being collected */
    char *tokbuf;
    size_t tokbuf_len, tokbuf_cap;
    pending_token *toks;
    size_t n_toks, toks_cap;
    int64_t first_line;
    int pending_doc, sentence_doc;
    int n_repaired, n_bad_tags;
    /* the sentence handed out */
    char *text;
    size_t text_cap;
    attn_conll_token *out_tok;
    size_t out_tok_cap;
    attn_conll_span *spans;
    size_t spans_cap;
    /* labels in order of first sight */
    char **labels;
    int n_labels, labels_cap;
};

/* ---- small helpers ---- */

/* Strict UTF-8: returns the length (1..4) of the character at s[0..n), or 0 when it is not a
 * well-formed sequence (stray continuation, overlong, surrogate, > U+10FFFF, truncated). */
static size_t utf8_decode_strict(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (len == 0 || len > n || c > 0xF4) return 0;
    uint32_t v = c & (0x3F >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_of_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min_of_len[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

/* CJK characters written without spaces between words: ideographs, kana, hangul, CJK
 * punctuation and fullwidth forms. Fixed ranges (not a width table) so the text a file
 * produces never changes with a library version. */
static int is_wide(uint32_t cp) {
    static const uint32_t ranges[][2] = {
        {0x1100, 0x115F},   {0x2E80, 0x303E},   {0x3041, 0x33FF},   {0x3400, 0x4DBF},
        {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},
        {0xFE30, 0xFE4F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x20000, 0x3FFFD},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof *ranges; i++)
        if (cp >= ranges[i][0] && cp <= ranges[i][1]) return 1;
    return 0;
}

static int reader_fail(attn_conll_reader *r, attn_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int reader_fail(attn_conll_reader *r, attn_error *err, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->status_msg, sizeof r->status_msg, fmt, ap);
    va_end(ap);
    r->status = code;
    attn_fail(err, code, "%s", r->status_msg);
    return -code;
}

/* ---- lines ---- */

/* Next raw line (without '\n') from the caller's buffer. 1 = line, 0 = end. */
static int mem_line(attn_conll_reader *r, const char **line, size_t *len) {
    if (r->mem_pos >= r->mem_n) return 0;
    const char *s = r->mem + r->mem_pos;
    size_t left = r->mem_n - r->mem_pos;
    const char *nl = memchr(s, '\n', left);
    *line = s;
    *len = nl ? (size_t)(nl - s) : left;
    r->mem_pos += *len + (nl ? 1 : 0);
    return 1;
}

/* Next raw line from the file, copied into r->line. A line longer than the buffer is reported
 * with *len = SIZE_MAX as soon as it is (an error: nothing reads past it), so a file without a
 * line end is never read to its end. 1 = line, 0 = end, -1 = read error. */
static int file_line(attn_conll_reader *r, const char **line, size_t *len) {
    size_t cap = ATTN_CONLL_MAX_LINE_BYTES + 2, n = 0;
    int got = 0, too_long = 0;
    for (;;) {
        if (r->block_pos == r->block_len) {
            if (r->file_eof) break;
            r->block_len = fread(r->block, 1, BLOCK_BYTES, r->file);
            r->block_pos = 0;
            if (r->block_len == 0) {
                if (ferror(r->file)) return -1;
                r->file_eof = 1;
                break;
            }
        }
        got = 1;
        const char *s = r->block + r->block_pos;
        size_t left = r->block_len - r->block_pos;
        const char *nl = memchr(s, '\n', left);
        size_t seg = nl ? (size_t)(nl - s) : left;
        if (n + seg > cap) {
            too_long = 1;
            break;
        }
        memcpy(r->line + n, s, seg), n += seg;
        r->block_pos += seg + (nl ? 1 : 0);
        if (nl) break;
    }
    if (!got) return 0;
    *line = r->line;
    *len = too_long ? SIZE_MAX : n;
    return 1;
}

/* ---- labels and tags ---- */

static int intern_label(attn_conll_reader *r, const char *s, size_t n, attn_error *err) {
    for (int i = 0; i < r->n_labels; i++)
        if (strlen(r->labels[i]) == n && memcmp(r->labels[i], s, n) == 0) return i;
    if (r->n_labels >= ATTN_MAX_LABELS)
        return reader_fail(r, err, ATTN_ELIMIT, "line %lld: more than %d entity labels",
                           (long long)r->line_no, ATTN_MAX_LABELS);
    size_t cap = (size_t)r->labels_cap;
    char *copy = malloc(n + 1);
    if (!copy || attn_grow((void **)&r->labels, &cap, (size_t)r->n_labels + 1, sizeof(char *))) {
        free(copy);
        return reader_fail(r, err, ATTN_ENOMEM, "out of memory");
    }
    r->labels_cap = (int)cap;
    memcpy(copy, s, n);
    copy[n] = 0;
    r->labels[r->n_labels] = copy;
    return r->n_labels++;
}

/* Why tag t[0..n) is invalid under the reader's scheme, or NULL if it is valid. */
static const char *tag_problem(const attn_conll_reader *r, const char *t, size_t n) {
    if (n == 1 && t[0] == 'O') return NULL;
    if (n < 2 || t[1] != '-' || !strchr("BIESLU", t[0])) return "expected O or B-/I-/E-/S-TYPE";
    if (n == 2) return "empty type";
    if (n - 2 >= ATTN_MAX_LABEL_BYTES) return "type too long";
    attn_conll_scheme sc = r->opt.scheme;
    if ((sc == ATTN_CONLL_SCHEME_IOB1 || sc == ATTN_CONLL_SCHEME_IOB2) && !strchr("BI", t[0]))
        return "prefix not allowed in IOB1/IOB2";
    return NULL;
}

/* Fills tok->prefix and tok->label from tag t[0..n). Returns 0 or -code. */
static int parse_tag(attn_conll_reader *r, const char *t, size_t n, pending_token *tok,
                     attn_error *err) {
    const char *why = tag_problem(r, t, n);
    if (why) {
        if (!r->opt.lenient_tags)
            return reader_fail(r, err, ATTN_EINVAL, "line %lld: invalid tag '%.*s' (%s)",
                               (long long)r->line_no, (int)(n > 40 ? 40 : n), t, why);
        r->n_bad_tags++;
        n = 1, t = "O";
    }
    tok->prefix = t[0] == 'L' ? 'E' : t[0] == 'U' ? 'S' : t[0];
    tok->label = -1;
    if (tok->prefix == 'O') return 0;
    int id = intern_label(r, t + 2, n - 2, err);
    if (id < 0) return id;
    tok->label = id;
    return 0;
}

/* ---- one line ---- */

/* Checks UTF-8 and control characters of line[0..n). Returns 0 or -code. */
static int check_line_bytes(attn_conll_reader *r, const char *line, size_t n, attn_error *err) {
    const unsigned char *s = (const unsigned char *)line;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = utf8_decode_strict(s + i, n - i, &cp);
        if (k == 0)
            return reader_fail(r, err, ATTN_EINVAL, "line %lld: invalid UTF-8 at byte %zu",
                               (long long)r->line_no, i + 1);
        if ((cp < 0x20 && cp != '\t') || cp == 0x7F)
            return reader_fail(r, err, ATTN_EINVAL, "line %lld: control character 0x%02X at byte %zu",
                               (long long)r->line_no, (unsigned)cp, i + 1);
        i += k;
    }
    return 0;
}

/* Splits on runs of spaces/tabs. Returns the number of fields or -code. */
static int split_fields(attn_conll_reader *r, const char *line, size_t n, field *f,
                        attn_error *err) {
    int nf = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && (line[i] == ' ' || line[i] == '\t')) i++;
        if (i == n) break;
        size_t start = i;
        while (i < n && line[i] != ' ' && line[i] != '\t') i++;
        if (nf == ATTN_CONLL_MAX_COLUMNS)
            return reader_fail(r, err, ATTN_ELIMIT, "line %lld: more than %d columns",
                               (long long)r->line_no, ATTN_CONLL_MAX_COLUMNS);
        f[nf].off = start;
        f[nf].len = i - start;
        nf++;
    }
    return nf;
}

static void token_char_info(const char *s, size_t n, pending_token *t) {
    const unsigned char *u = (const unsigned char *)s;
    uint32_t cp = 0;
    t->n_chars = 0;
    for (size_t i = 0; i < n;) {
        i += utf8_decode_strict(u + i, n - i, &cp);   /* valid: checked by check_line_bytes */
        if (t->n_chars++ == 0) t->first_wide = is_wide(cp);
    }
    t->last_wide = is_wide(cp);
}

static int add_token(attn_conll_reader *r, const char *line, const field *tok, const field *tag,
                     attn_error *err) {
    if (r->n_toks >= ATTN_CONLL_MAX_TOKENS)
        return reader_fail(r, err, ATTN_ELIMIT, "line %lld: sentence longer than %d tokens",
                           (long long)r->line_no, ATTN_CONLL_MAX_TOKENS);
    if (attn_grow((void **)&r->toks, &r->toks_cap, r->n_toks + 1, sizeof *r->toks) ||
        attn_grow((void **)&r->tokbuf, &r->tokbuf_cap, r->tokbuf_len + tok->len, 1))
        return reader_fail(r, err, ATTN_ENOMEM, "out of memory");
    pending_token *t = &r->toks[r->n_toks];
    int rc = parse_tag(r, line + tag->off, tag->len, t, err);
    if (rc < 0) return rc;
    if (r->n_toks == 0) {
        r->first_line = r->line_no;
        r->sentence_doc = r->pending_doc;
        r->pending_doc = 0;
    }
    t->off = r->tokbuf_len;
    t->len = tok->len;
    memcpy(r->tokbuf + r->tokbuf_len, line + tok->off, tok->len);
    r->tokbuf_len += tok->len;
    token_char_info(line + tok->off, tok->len, t);
    r->n_toks++;
    return 0;
}

typedef enum line_kind { LINE_TOKEN, LINE_BLANK, LINE_DOCSTART } line_kind;

/* Classifies and (for a token line) records one line. Returns a line_kind or -code. */
static int take_line(attn_conll_reader *r, const char *line, size_t n, attn_error *err) {
    if (n != SIZE_MAX && n > 0 && line[n - 1] == '\r') n--;
    if (n > ATTN_CONLL_MAX_LINE_BYTES)
        return reader_fail(r, err, ATTN_ELIMIT, "line %lld: longer than %d bytes",
                           (long long)r->line_no, ATTN_CONLL_MAX_LINE_BYTES);
    int rc = check_line_bytes(r, line, n, err);
    if (rc < 0) return rc;
    field f[ATTN_CONLL_MAX_COLUMNS];
    int nf = split_fields(r, line, n, f, err);
    if (nf < 0) return nf;
    if (nf == 0) return LINE_BLANK;
    int tok_col = r->opt.token_column ? r->opt.token_column - 1 : 0;
    if (tok_col < nf && f[tok_col].len == strlen(DOCSTART) &&
        memcmp(line + f[tok_col].off, DOCSTART, f[tok_col].len) == 0)
        return LINE_DOCSTART;
    int tag_col = r->opt.tag_column ? r->opt.tag_column - 1 : nf - 1;
    int need = (tok_col > tag_col ? tok_col : tag_col) + 1;
    if (need < 2) need = 2;
    if (nf < need || tag_col == tok_col)
        return reader_fail(r, err, ATTN_EINVAL, "line %lld: expected at least %d columns, found %d",
                           (long long)r->line_no, need, nf);
    rc = add_token(r, line, &f[tok_col], &f[tag_col], err);
    return rc < 0 ? rc : LINE_TOKEN;
}

/* ---- finishing a sentence: text, offsets, spans ---- */

static int char_level_sentence(const attn_conll_reader *r) {
    int any_wide = 0;
    for (size_t i = 0; i < r->n_toks; i++) {
        if (r->toks[i].n_chars != 1) return 0;
        any_wide |= r->toks[i].first_wide;
    }
    return any_wide;
}

static int needs_space(const attn_conll_reader *r, attn_detok *detok, int char_level, size_t i) {
    const pending_token *t = &r->toks[i];
    switch (r->opt.join) {
    case ATTN_CONLL_JOIN_SPACE: return i > 0;
    case ATTN_CONLL_JOIN_NONE: return 0;
    case ATTN_CONLL_JOIN_DETOK:
        if (char_level) return 0;
        return attn_detok_space(detok, r->tokbuf + t->off, t->len, i == 0) &&
               !(r->toks[i - 1].last_wide && t->first_wide);
    default:
        return i > 0 && !char_level && !(r->toks[i - 1].last_wide && t->first_wide);
    }
}

static int build_text(attn_conll_reader *r, attn_error *err) {
    size_t need = r->tokbuf_len + r->n_toks + 1;
    if (attn_grow((void **)&r->text, &r->text_cap, need, 1) ||
        attn_grow((void **)&r->out_tok, &r->out_tok_cap, r->n_toks, sizeof *r->out_tok))
        return reader_fail(r, err, ATTN_ENOMEM, "out of memory");
    int char_level = char_level_sentence(r);
    attn_detok detok;
    attn_detok_start(&detok);
    size_t b = 0;
    int64_t c = 0;
    for (size_t i = 0; i < r->n_toks; i++) {
        const pending_token *t = &r->toks[i];
        if (needs_space(r, &detok, char_level, i)) r->text[b++] = ' ', c++;
        memcpy(r->text + b, r->tokbuf + t->off, t->len);
        r->out_tok[i] = (attn_conll_token){c, c + t->n_chars, b, b + t->len};
        b += t->len;
        c += t->n_chars;
    }
    r->text[b] = 0;
    return 0;
}

static void emit_span(attn_conll_reader *r, size_t *n, size_t first, size_t last, int label) {
    r->spans[(*n)++] = (attn_conll_span){r->out_tok[first].start, r->out_tok[last].end, label,
                                         r->labels[label]};
}

/* The chunk rules of conll.h over r->toks -> r->spans. Returns the number of spans. */
static size_t decode_spans(attn_conll_reader *r) {
    int strict_iob2 = r->opt.scheme == ATTN_CONLL_SCHEME_IOB2;
    int iobes = r->opt.scheme == ATTN_CONLL_SCHEME_IOBES;
    size_t n = 0, start = 0;
    int open = -1;                           /* label of the open chunk, -1 none */
    for (size_t i = 0; i < r->n_toks; i++) {
        const pending_token *t = &r->toks[i];
        if (t->prefix == 'O') {
            if (open >= 0) emit_span(r, &n, start, i - 1, open), r->n_repaired += iobes;
            open = -1;
            continue;
        }
        int starts = t->prefix == 'B' || t->prefix == 'S' || open != t->label;
        if (starts && open >= 0) emit_span(r, &n, start, i - 1, open), r->n_repaired += iobes;
        if (starts) {
            if ((t->prefix == 'I' || t->prefix == 'E') && (strict_iob2 || iobes)) r->n_repaired++;
            open = t->label;
            start = i;
        }
        if (t->prefix == 'E' || t->prefix == 'S') {
            emit_span(r, &n, start, i, open);
            open = -1;
        }
    }
    if (open >= 0) emit_span(r, &n, start, r->n_toks - 1, open), r->n_repaired += iobes;
    return n;
}

static int finish_sentence(attn_conll_reader *r, attn_conll_sentence *out, attn_error *err) {
    int rc = build_text(r, err);
    if (rc < 0) return rc;
    if (attn_grow((void **)&r->spans, &r->spans_cap, r->n_toks, sizeof *r->spans))
        return reader_fail(r, err, ATTN_ENOMEM, "out of memory");
    size_t n_spans = decode_spans(r);
    const attn_conll_token *last = &r->out_tok[r->n_toks - 1];
    *out = (attn_conll_sentence){
        .text = r->text, .n_bytes = last->byte_end, .n_chars = last->end,
        .tokens = r->out_tok, .n_tokens = r->n_toks, .spans = r->spans, .n_spans = n_spans,
        .line = r->first_line, .new_document = r->sentence_doc,
        .n_repaired = r->n_repaired, .n_bad_tags = r->n_bad_tags,
    };
    r->n_toks = 0;
    r->tokbuf_len = 0;
    r->n_repaired = r->n_bad_tags = 0;
    return 1;
}

/* ---- public ---- */

static attn_conll_reader *reader_new(const attn_conll_options *opt, attn_error *err) {
    attn_conll_options o = opt ? *opt : (attn_conll_options){0};
    if (o.token_column < 0 || o.token_column > ATTN_CONLL_MAX_COLUMNS || o.tag_column < 0 ||
        o.tag_column > ATTN_CONLL_MAX_COLUMNS || (o.tag_column && o.tag_column == o.token_column) ||
        (unsigned)o.scheme > ATTN_CONLL_SCHEME_IOBES || (unsigned)o.join > ATTN_CONLL_JOIN_DETOK) {
        attn_fail(err, ATTN_EINVAL, "conll: invalid options (columns are 1..%d, token and tag "
                  "columns must differ)", ATTN_CONLL_MAX_COLUMNS);
        return NULL;
    }
    attn_conll_reader *r = calloc(1, sizeof *r);
    if (!r) {
        attn_fail(err, ATTN_ENOMEM, "out of memory");
        return NULL;
    }
    r->opt = o;
    return r;
}

attn_conll_reader *attn_conll_open(const char *path, const attn_conll_options *opt,
                                   attn_error *err) {
    attn_conll_reader *r = reader_new(opt, err);
    if (!r) return NULL;
    r->block = malloc(BLOCK_BYTES);
    r->line = malloc(ATTN_CONLL_MAX_LINE_BYTES + 2);
    if (!r->block || !r->line) {
        attn_conll_close(r);
        attn_fail(err, ATTN_ENOMEM, "out of memory");
        return NULL;
    }
    attn_error open_err;
    r->file = attn_fopen_regular(path, &open_err);
    if (!r->file) {
        attn_conll_close(r);
        attn_fail(err, ATTN_EINVAL, "conll: %s", open_err.msg);
        return NULL;
    }
    return r;
}

attn_conll_reader *attn_conll_open_buffer(const char *buf, size_t n,
                                          const attn_conll_options *opt, attn_error *err) {
    attn_conll_reader *r = reader_new(opt, err);
    if (!r) return NULL;
    r->mem = n ? buf : "";
    r->mem_n = n;
    return r;
}

static int next_raw_line(attn_conll_reader *r, const char **line, size_t *len, attn_error *err) {
    int got = r->file ? file_line(r, line, len) : mem_line(r, line, len);
    if (got < 0) return reader_fail(r, err, ATTN_EINVAL, "line %lld: read error", (long long)r->line_no + 1);
    if (got > 0) r->line_no++;
    return got;
}

int attn_conll_next(attn_conll_reader *r, attn_conll_sentence *out, attn_error *err) {
    if (r->status) {
        attn_fail(err, r->status, "%s", r->status_msg);
        return -r->status;
    }
    for (;;) {
        const char *line = NULL;
        size_t len = 0;
        int got = next_raw_line(r, &line, &len, err);
        if (got < 0) return got;
        if (got == 0) return r->n_toks ? finish_sentence(r, out, err) : 0;
        int kind = take_line(r, line, len, err);
        if (kind < 0) return kind;
        if (kind == LINE_DOCSTART) r->pending_doc = 1;
        if (kind != LINE_TOKEN && r->n_toks) return finish_sentence(r, out, err);
    }
}

int attn_conll_n_labels(const attn_conll_reader *r) { return r->n_labels; }

const char *attn_conll_label(const attn_conll_reader *r, int i) {
    return i >= 0 && i < r->n_labels ? r->labels[i] : NULL;
}

int64_t attn_conll_lines(const attn_conll_reader *r) { return r->line_no; }

void attn_conll_close(attn_conll_reader *r) {
    if (!r) return;
    if (r->file) fclose(r->file);
    for (int i = 0; i < r->n_labels; i++) free(r->labels[i]);
    free(r->labels);
    free(r->block);
    free(r->line);
    free(r->tokbuf);
    free(r->toks);
    free(r->text);
    free(r->out_tok);
    free(r->spans);
    free(r);
}

/* ---- entities JSON ---- */

/* Appends s JSON-escaped (without quotes) to out; returns bytes written. out == NULL: counts. */
static size_t json_escape(const char *s, char *out) {
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        size_t k;
        if (*p == '"' || *p == '\\') k = (size_t)snprintf(esc, sizeof esc, "\\%c", *p);
        else if (*p < 0x20) k = (size_t)snprintf(esc, sizeof esc, "\\u%04x", *p);
        else esc[0] = (char)*p, k = 1;
        if (out) memcpy(out + n, esc, k);
        n += k;
    }
    return n;
}

int attn_conll_entities_json(const attn_conll_sentence *s, char **json, size_t *n_bytes,
                             attn_error *err) {
    /* {"start":<=20 digits>,"end":<=20>,"label":""}, = 8+1+20+7+20+10+2+1 < 80 bytes + label */
    size_t cap = 3;
    for (size_t i = 0; i < s->n_spans; i++) cap += 80 + json_escape(s->spans[i].label_name, NULL);
    char *out = malloc(cap);
    if (!out) return attn_fail(err, ATTN_ENOMEM, "out of memory");
    size_t n = 0;
    out[n++] = '[';
    for (size_t i = 0; i < s->n_spans; i++) {
        const attn_conll_span *sp = &s->spans[i];
        n += (size_t)snprintf(out + n, cap - n, "%s{\"start\":%lld,\"end\":%lld,\"label\":\"",
                              i ? "," : "", (long long)sp->start, (long long)sp->end);
        n += json_escape(sp->label_name, out + n);
        out[n++] = '"';
        out[n++] = '}';
    }
    out[n++] = ']';
    out[n] = 0;
    *json = out;
    if (n_bytes) *n_bytes = n;
    return ATTN_OK;
}
