/* features.c: hashed per-token features (norm, prefix, suffix, shape, subword), and the two
 * bigram features and the gazetteer feature, which read a token's neighbours. */
#include "features.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "gazetteer.h"
#include "subword.h"
#include "tokenizer.h"
#include "zh_fold_table.h"

#define FNV64_OFFSET 0xcbf29ce484222325ull
#define FNV64_PRIME 0x100000001b3ull
#define MAX_FOLDED_CPS 4     /* utf8proc's full case folding yields at most 3 code points */
#define MAX_SHAPE_RUN 4

/* ---- hash (part of the model format: never change) ---- */

static uint64_t fnv1a64_update(uint64_t h, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= FNV64_PRIME;
    }
    return h;
}

uint64_t attn_hash64(uint64_t seed, const void *data, size_t n) {
    return attn_splitmix64_hash(fnv1a64_update(FNV64_OFFSET ^ seed, data, n));
}

/* ---- names ---- */

static const char *const feature_names[] = {"norm", "prefix", "suffix", "shape", "subword",
                                            "bigram_left", "bigram_right", "gazetteer"};
#define N_FEATURE_KINDS (int)(sizeof feature_names / sizeof *feature_names)

const char *attn_feature_name(attn_feature_kind kind) {
    if ((int)kind < 0 || (int)kind >= N_FEATURE_KINDS) return NULL;
    return feature_names[kind];
}

int attn_feature_kind_from_name(const char *name, attn_feature_kind *kind) {
    if (!name) return -1;
    for (int k = 0; k < N_FEATURE_KINDS; k++) {
        if (strcmp(name, feature_names[k]) == 0) { *kind = (attn_feature_kind)k; return 0; }
    }
    return -1;
}

/* ---- output buffer that never splits a UTF-8 character ---- */

typedef struct out_buf {
    char *p;
    size_t cap, len;     /* len + 1 <= cap when cap > 0 (room for the NUL) */
    int full;            /* a character did not fit: write nothing more */
} out_buf;

static void put_bytes(out_buf *o, const unsigned char *b, size_t n) {
    if (o->full || o->cap == 0 || o->len + n + 1 > o->cap) { o->full = 1; return; }
    memcpy(o->p + o->len, b, n);
    o->len += n;
}

static void put_cp(out_buf *o, uint32_t cp) {
    unsigned char b[4];
    utf8proc_ssize_t n = utf8proc_encode_char((utf8proc_int32_t)cp, b);
    put_bytes(o, b, (size_t)n);
}

static size_t finish(out_buf *o) {
    if (o->cap) o->p[o->len] = '\0';
    return o->len;
}

/* ---- norm ---- */

static size_t token_prefix_bytes(const unsigned char *s, size_t n) {
    size_t b = 0;
    for (int c = 0; c < ATTN_MAX_TOKEN_CHARS && b < n; c++) {
        uint32_t cp;
        b += attn_utf8_next(s + b, n - b, &cp);
    }
    return b;
}

/* Typographic variants of ASCII punctuation, as people (and word processors) write them, folded
 * to the plain forms CoNLL-2003 and most training text use: curly and low-9 quotes, primes,
 * the modifier-letter apostrophe, dashes and the minus sign, the ellipsis, and the full-width
 * forms U+FF01..U+FF5E (full-width letters then case-fold as usual). The em and horizontal bar
 * dashes become "--" and the ellipsis "..." (Penn Treebank's spellings). Writes the ASCII
 * replacement to out[0..n) and returns n, or returns 0 when cp is not such a variant. */
static int typographic_fold(uint32_t cp, unsigned char out[3]) {
    if (cp >= 0xFF01 && cp <= 0xFF5E) { out[0] = (unsigned char)(cp - 0xFEE0); return 1; }
    switch (cp) {
    case 0x2018: case 0x2019: case 0x201A: case 0x201B: case 0x2032: case 0x2035: case 0x02BC:
        out[0] = '\''; return 1;
    case 0x201C: case 0x201D: case 0x201E: case 0x201F: case 0x2033: case 0x2036: case 0x00AB:
    case 0x00BB:
        out[0] = '"'; return 1;
    case 0x2010: case 0x2011: case 0x2012: case 0x2013: case 0x2212: case 0xFE63:
        out[0] = '-'; return 1;
    case 0x2014: case 0x2015:
        out[0] = out[1] = '-'; return 2;
    case 0x2026:
        out[0] = out[1] = out[2] = '.'; return 3;
    default:
        return 0;
    }
}

/* The simplified form of a traditional Chinese character (zh_fold_table.h, from OpenCC's t2s
 * characters), or cp itself: so 國 reads as 国 and 說 as 说, as simplified-text models (and
 * their vectors) learned them. Characters only, never phrases; 4,101 pairs, of which MSRA's
 * simplified training text holds 22 characters in 2 million. */
static uint32_t simplified_of(uint32_t cp) {
    if (cp < 0x3400) return cp;
    size_t lo = 0, hi = sizeof zh_fold_table / sizeof *zh_fold_table;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (zh_fold_table[mid][0] < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < sizeof zh_fold_table / sizeof *zh_fold_table && zh_fold_table[lo][0] == cp
               ? zh_fold_table[lo][1] : cp;
}

static void put_normalised(out_buf *o, uint32_t cp) {
    cp = simplified_of(cp);
    unsigned char plain[3];
    int n_plain = typographic_fold(cp, plain);
    if (n_plain == 1) cp = plain[0];   /* then as the ASCII character (full-width A -> a) */
    else if (n_plain > 1) { put_bytes(o, plain, (size_t)n_plain); return; }
    if (cp < 128) {   /* ASCII fast path */
        unsigned char c = (unsigned char)cp;
        if (c >= 'A' && c <= 'Z') c += 32;
        else if (c >= '0' && c <= '9') c = '0';
        put_bytes(o, &c, 1);
        return;
    }
    if (utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_ND) { put_cp(o, '0'); return; }
    utf8proc_int32_t folded[MAX_FOLDED_CPS];
    int boundclass = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)cp, folded, MAX_FOLDED_CPS,
                                                 UTF8PROC_CASEFOLD, &boundclass);
    if (n < 1 || n > MAX_FOLDED_CPS) { put_cp(o, cp); return; }
    for (utf8proc_ssize_t i = 0; i < n; i++) put_cp(o, (uint32_t)folded[i]);
}

size_t attn_token_norm(const char *token, size_t n_bytes, char *buf, size_t cap) {
    out_buf o = {buf, cap, 0, 0};
    const unsigned char *s = (const unsigned char *)token;
    size_t n = token_prefix_bytes(s, n_bytes);
    for (size_t b = 0; b < n && !o.full;) {
        uint32_t cp;
        b += attn_utf8_next(s + b, n - b, &cp);
        put_normalised(&o, cp);
    }
    return finish(&o);
}

/* ---- shape ---- */

static uint32_t shape_char(uint32_t cp) {
    attn_char_class k = attn_char_classify(cp);
    switch (k) {
    case ATTN_CH_DIGIT: return 'd';
    case ATTN_CH_IDEO: return 'C';
    case ATTN_CH_MARK: return 0;    /* no shape of its own */
    case ATTN_CH_SEP: return ' ';
    case ATTN_CH_LETTER: {
        if (cp < 128) return (cp >= 'A' && cp <= 'Z') ? 'X' : 'x';
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
        return (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LT) ? 'X' : 'x';
    }
    default: return cp;             /* punctuation, symbols, emoji, U+FFFD: itself */
    }
}

size_t attn_token_shape(const char *token, size_t n_bytes, char *buf, size_t cap) {
    out_buf o = {buf, cap, 0, 0};
    const unsigned char *s = (const unsigned char *)token;
    size_t n = token_prefix_bytes(s, n_bytes);
    uint32_t prev = 0;
    int run = 0, n_chars = 0;
    for (size_t b = 0; b < n && n_chars < ATTN_MAX_SHAPE_CHARS && !o.full;) {
        uint32_t cp;
        b += attn_utf8_next(s + b, n - b, &cp);
        unsigned char plain[3];
        int n_plain = typographic_fold(cp, plain);
        for (int k = 0; k < (n_plain ? n_plain : 1) && n_chars < ATTN_MAX_SHAPE_CHARS; k++) {
            uint32_t sc = shape_char(n_plain ? plain[k] : cp);
            if (sc == 0) continue;
            run = sc == prev ? run + 1 : 1;
            prev = sc;
            if (run > MAX_SHAPE_RUN) continue;
            put_cp(&o, sc);
            if (!o.full) n_chars++;
        }
    }
    return finish(&o);
}

/* ---- affixes of the norm ---- */

/* Byte length of the first n_chars characters of valid UTF-8 s[0..n). */
static size_t utf8_first_chars(const unsigned char *s, size_t n, uint32_t n_chars) {
    size_t b = 0;
    for (uint32_t c = 0; c < n_chars && b < n; c++) {
        b++;
        while (b < n && (s[b] & 0xC0) == 0x80) b++;
    }
    return b;
}

/* Byte offset where the last n_chars characters of valid UTF-8 s[0..n) start. */
static size_t utf8_last_chars_start(const unsigned char *s, size_t n, uint32_t n_chars) {
    size_t b = n;
    for (uint32_t c = 0; c < n_chars && b > 0; c++) {
        b--;
        while (b > 0 && (s[b] & 0xC0) == 0x80) b--;
    }
    return b;
}

/* ---- rows ---- */

static uint32_t feature_row(attn_feature_kind kind, const unsigned char *bytes, size_t n,
                            uint32_t n_buckets) {
    unsigned char tag = (unsigned char)kind;
    uint64_t h = fnv1a64_update(FNV64_OFFSET ^ ATTN_FEATURE_HASH_SEED, &tag, 1);
    h = attn_splitmix64_hash(fnv1a64_update(h, bytes, n));
    return n_buckets ? (uint32_t)(h % n_buckets) : 0;
}

/* The two marks a bigram uses beyond a sequence's edges: control characters, which text
 * rarely holds (a token that is one would share the mark's rows: harmless). */
static const char START_MARK[] = "\x02", END_MARK[] = "\x03";

/* The row of the bigram left ++ right: hashed like every feature, kind byte first. The hash
 * runs over the bytes of left then right, so it is that of their concatenation: what
 * attn_bigram_row and the bigram word vectors (wordvec.h) rely on. */
static uint32_t bigram_row(const attn_feature_spec *spec, const char *left, size_t n_left,
                           const char *right, size_t n_right) {
    unsigned char tag = (unsigned char)spec->kind;
    uint64_t h = fnv1a64_update(FNV64_OFFSET ^ ATTN_FEATURE_HASH_SEED, &tag, 1);
    h = fnv1a64_update(h, (const unsigned char *)left, n_left);
    h = attn_splitmix64_hash(fnv1a64_update(h, (const unsigned char *)right, n_right));
    return (uint32_t)(h % spec->n_buckets);
}

uint32_t attn_bigram_row(const attn_feature_spec *spec, const char *pair, size_t n) {
    return bigram_row(spec, pair, n, "", 0);
}

int attn_feature_n_slots(const attn_feature_spec *spec) {
    return spec->kind == ATTN_FEAT_SUBWORD ? ATTN_SUBWORD_SLOTS
         : spec->kind == ATTN_FEAT_GAZETTEER ? spec->n_lists : 1;
}

int attn_feature_slots(const attn_feature_spec *spec, int n_features) {
    int slots = 0;
    for (int f = 0; f < n_features; f++) slots += attn_feature_n_slots(&spec[f]);
    return slots;
}

/* The subword slots of one token from its norm: rows in subword.h's order, rest NONE. */
static void subword_slots(const char *norm, size_t norm_len, const attn_feature_spec *spec,
                          uint32_t *slots) {
    size_t n = attn_subword_rows_of_norm(norm, norm_len, spec->min_n, spec->max_n,
                                         spec->n_buckets, slots, ATTN_SUBWORD_SLOTS);
    if (n == 0) slots[n++] = 0;   /* bad n-gram lengths: the config parser rejects them first */
    for (; n < ATTN_SUBWORD_SLOTS; n++) slots[n] = ATTN_ROW_NONE;
}

void attn_token_features(const char *token, size_t n_bytes,
                         const attn_feature_spec *spec, int n_features, uint32_t *rows) {
    char norm[ATTN_MAX_NORM_BYTES + 1];
    char shape[ATTN_MAX_SHAPE_BYTES + 1];
    size_t norm_len = 0, shape_len = 0;
    int have_norm = 0, have_shape = 0;
    for (int f = 0; f < n_features; rows += attn_feature_n_slots(&spec[f]), f++) {
        const unsigned char *bytes = (const unsigned char *)norm;
        size_t len = 0;
        attn_feature_kind kind = spec[f].kind;
        if (kind == ATTN_FEAT_SHAPE) {
            if (!have_shape) { shape_len = attn_token_shape(token, n_bytes, shape, sizeof shape); have_shape = 1; }
            bytes = (const unsigned char *)shape;
            len = shape_len;
        } else if (kind == ATTN_FEAT_NORM || kind == ATTN_FEAT_PREFIX || kind == ATTN_FEAT_SUFFIX ||
                   kind == ATTN_FEAT_SUBWORD) {
            if (!have_norm) { norm_len = attn_token_norm(token, n_bytes, norm, sizeof norm); have_norm = 1; }
            len = norm_len;
            if (kind == ATTN_FEAT_SUBWORD) { subword_slots(norm, norm_len, &spec[f], rows); continue; }
            if (kind == ATTN_FEAT_PREFIX) len = utf8_first_chars(bytes, norm_len, spec[f].affix);
            if (kind == ATTN_FEAT_SUFFIX) {
                size_t start = utf8_last_chars_start(bytes, norm_len, spec[f].affix);
                bytes += start;
                len = norm_len - start;
            }
        } else if (kind == ATTN_FEAT_BIGRAM_LEFT || kind == ATTN_FEAT_BIGRAM_RIGHT) {
            if (!have_norm) { norm_len = attn_token_norm(token, n_bytes, norm, sizeof norm); have_norm = 1; }
            rows[0] = bigram_row(&spec[f], kind == ATTN_FEAT_BIGRAM_LEFT ? START_MARK : norm,
                                 kind == ATTN_FEAT_BIGRAM_LEFT ? 1 : norm_len,
                                 kind == ATTN_FEAT_BIGRAM_LEFT ? norm : END_MARK,
                                 kind == ATTN_FEAT_BIGRAM_LEFT ? norm_len : 1);
            continue;
        } else if (kind == ATTN_FEAT_GAZETTEER) {
            for (int l = 0; l < spec[f].n_lists; l++) rows[l] = ATTN_GAZ_ROW(l, ATTN_GAZ_O);
            continue;
        } else {
            rows[0] = 0;   /* unknown kind: the config parser rejects it before this */
            continue;
        }
        rows[0] = feature_row(kind, bytes, len, spec[f].n_buckets);
    }
}

int attn_features_have_context(const attn_feature_spec *spec, int n_features) {
    for (int f = 0; f < n_features; f++)
        if (spec[f].kind == ATTN_FEAT_BIGRAM_LEFT || spec[f].kind == ATTN_FEAT_BIGRAM_RIGHT ||
            spec[f].kind == ATTN_FEAT_GAZETTEER)
            return 1;
    return 0;
}

/* A token's norm, for the bigrams of a sequence. */
typedef struct token_norm {
    char bytes[ATTN_MAX_NORM_BYTES + 1];
    size_t len;
} token_norm;

static void norm_of(const char *text, const attn_token *tk, token_norm *out) {
    out->len = attn_token_norm(text + tk->byte_start, tk->byte_end - tk->byte_start, out->bytes,
                               sizeof out->bytes);
}

/* Overwrites the bigram slots of token t (rows: its first slot) with its neighbours' pairs;
 * prev/next are NULL at the sequence's edges. */
static void bigram_slots(const attn_feature_spec *spec, int n_features, const token_norm *prev,
                         const token_norm *cur, const token_norm *next, uint32_t *rows) {
    for (int f = 0; f < n_features; rows += attn_feature_n_slots(&spec[f]), f++) {
        if (spec[f].kind == ATTN_FEAT_BIGRAM_LEFT)
            rows[0] = bigram_row(&spec[f], prev ? prev->bytes : START_MARK, prev ? prev->len : 1,
                                 cur->bytes, cur->len);
        else if (spec[f].kind == ATTN_FEAT_BIGRAM_RIGHT)
            rows[0] = bigram_row(&spec[f], cur->bytes, cur->len, next ? next->bytes : END_MARK,
                                 next ? next->len : 1);
    }
}

/* Whether any feature is a bigram. */
static int have_bigrams(const attn_feature_spec *spec, int n_features) {
    for (int f = 0; f < n_features; f++)
        if (spec[f].kind == ATTN_FEAT_BIGRAM_LEFT || spec[f].kind == ATTN_FEAT_BIGRAM_RIGHT)
            return 1;
    return 0;
}

void attn_sequence_features(const char *text, const attn_token *toks, size_t n_tokens,
                            const attn_feature_spec *spec, int n_features,
                            const attn_gazetteer *gaz, uint32_t *rows) {
    const size_t S = (size_t)attn_feature_slots(spec, n_features);
    for (size_t t = 0; t < n_tokens; t++)
        attn_token_features(text + toks[t].byte_start, toks[t].byte_end - toks[t].byte_start,
                            spec, n_features, rows + t * S);
    for (int f = 0, slot = 0; f < n_features; slot += attn_feature_n_slots(&spec[f]), f++)
        if (spec[f].kind == ATTN_FEAT_GAZETTEER && gaz)
            attn_gazetteer_match(gaz, text, toks, n_tokens, rows + slot, S);
    if (!have_bigrams(spec, n_features) || n_tokens == 0) return;
    /* Three norms in rotation: the previous, this and the next token's. */
    token_norm ring[3];
    norm_of(text, &toks[0], &ring[0]);
    for (size_t t = 0; t < n_tokens; t++) {
        const token_norm *prev = t > 0 ? &ring[(t - 1) % 3] : NULL;
        token_norm *next = NULL;
        if (t + 1 < n_tokens) {
            next = &ring[(t + 1) % 3];
            norm_of(text, &toks[t + 1], next);
        }
        bigram_slots(spec, n_features, prev, &ring[t % 3], next, rows + t * S);
    }
}

int attn_feature_rows_check(const attn_feature_spec *spec, int n_features,
                            const uint32_t *rows, int *bad_slot) {
    int slot = 0;
    for (int f = 0; f < n_features; f++) {
        const int n = attn_feature_n_slots(&spec[f]);
        for (int k = 0; k < n; k++, slot++) {
            const int may_be_none = spec[f].kind == ATTN_FEAT_SUBWORD && k > 0;
            if (rows[slot] < spec[f].n_buckets || (may_be_none && rows[slot] == ATTN_ROW_NONE))
                continue;
            if (bad_slot) *bad_slot = slot;
            return f;
        }
    }
    return -1;
}

/* ---- features as config JSON, and equality ----------------------------------------------- */

/* Appends one feature's JSON object to buf[cap] at *len (snprintf: *len may pass cap, which
 * the caller checks). */
static void feature_json(const attn_feature_spec *fs, int first, char *buf, size_t cap,
                         size_t *len) {
    const char *name = attn_feature_name(fs->kind);
#define PUT(...) (*len += (size_t)snprintf(*len < cap ? buf + *len : NULL, \
                                           *len < cap ? cap - *len : 0, __VA_ARGS__))
    PUT("%s{\"kind\":\"%s\",\"buckets\":%u,\"dim\":%u", first ? "" : ",",
        name ? name : "", (unsigned)fs->n_buckets, (unsigned)fs->dim);
    if (fs->kind == ATTN_FEAT_PREFIX || fs->kind == ATTN_FEAT_SUFFIX)
        PUT(",\"affix\":%d", (int)fs->affix);
    if (fs->kind == ATTN_FEAT_SUBWORD)
        PUT(",\"min_n\":%d,\"max_n\":%d", (int)fs->min_n, (int)fs->max_n);
    for (int l = 0; fs->kind == ATTN_FEAT_GAZETTEER && l < fs->n_lists; l++)  /* names: [A-Za-z0-9_-] */
        PUT("%s\"%s\"", l ? "," : ",\"lists\":[", fs->lists[l]);
    PUT("%s}", fs->kind == ATTN_FEAT_GAZETTEER && fs->n_lists ? "]" : "");
#undef PUT
}

char *attn_features_json(const attn_feature_spec *fs, int n) {
    size_t len = 1;                                   /* '[' */
    for (int f = 0; f < n; f++) feature_json(&fs[f], f == 0, NULL, 0, &len);
    const size_t cap = len + 2;                       /* ']' and NUL */
    char *out = malloc(cap);
    if (!out) return NULL;
    len = 0;
    out[len++] = '[';
    for (int f = 0; f < n; f++) feature_json(&fs[f], f == 0, out, cap, &len);
    out[len++] = ']';
    out[len] = 0;
    return out;
}

int attn_features_equal(const attn_feature_spec *a, int n_a, const attn_feature_spec *b,
                        int n_b) {
    if (n_a != n_b) return 0;
    for (int f = 0; f < n_a; f++) {
        const attn_feature_spec *x = &a[f], *y = &b[f];
        if (x->kind != y->kind || x->n_buckets != y->n_buckets || x->dim != y->dim ||
            x->affix != y->affix || x->min_n != y->min_n || x->max_n != y->max_n ||
            x->n_lists != y->n_lists)
            return 0;
        for (int l = 0; l < x->n_lists; l++)
            if (strcmp(x->lists[l], y->lists[l]) != 0) return 0;
    }
    return 1;
}
