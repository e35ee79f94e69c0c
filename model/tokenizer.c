/* tokenizer.c: UTF-8 text -> word tokens with SQLite character offsets.
 *
 * One left-to-right pass. A scanner decodes characters on demand (attn_utf8_next) and
 * classifies them (attn_char_classify, ASCII by table, the rest by utf8proc); each token rule
 * below is a small function that starts at a position and returns where its token ends.
 * Look-ahead is bounded by named constants, so the whole pass is linear in the input. */
#include "tokenizer.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define REPLACEMENT_CHAR 0xFFFDu
#define MAX_SCHEME_CHARS 32     /* "https", "svn+ssh", ...: URL look-ahead at a word start */
#define MAX_EMAIL_LOCAL_CHARS 64 /* RFC 5321 limits: e-mail look-ahead at a word start */
#define MAX_EMAIL_DOMAIN_CHARS 255
#define MAX_EMAIL_LABEL_CHARS 63
#define MIN_TOKENS_CAP 64

/* ---- UTF-8 with SQLite's character rule ---- */

static bool is_continuation(unsigned char b) { return (b & 0xC0) == 0x80; }

size_t attn_utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned char lead = s[0];
    if (lead < 0x80) { *cp = lead; return 1; }
    if (lead < 0xC0) { *cp = REPLACEMENT_CHAR; return 1; }   /* stray continuation byte */
    size_t len = 1;                                           /* lead + every continuation */
    while (len < n && is_continuation(s[len])) len++;
    size_t want = lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : lead < 0xF8 ? 4 : 0;
    if (len != want) { *cp = REPLACEMENT_CHAR; return len; }
    uint32_t c = lead & (0x7Fu >> want);
    for (size_t i = 1; i < len; i++) c = (c << 6) | (s[i] & 0x3Fu);
    static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    bool bad = c < min_for_len[want] || (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF;
    *cp = bad ? REPLACEMENT_CHAR : c;
    return len;
}

int64_t attn_utf8_count(const char *text, size_t n_bytes) {
    const unsigned char *s = (const unsigned char *)text;
    int64_t count = 0;
    bool in_sequence = false;   /* after a lead byte 0xC0..0xFF, continuations are absorbed */
    for (size_t i = 0; i < n_bytes; i++) {
        unsigned char b = s[i];
        if (b < 0x80) { count++; in_sequence = false; }
        else if (b >= 0xC0) { count++; in_sequence = true; }
        else if (!in_sequence) count++;
    }
    return count;
}

/* ---- character classes ---- */

/* ASCII: whitespace and controls separate, letters, digits, everything else punctuation. */
static attn_char_class ascii_class(unsigned char c) {
    if (c <= 0x20 || c == 0x7F) return ATTN_CH_SEP;
    if ((unsigned)((c | 32) - 'a') < 26u) return ATTN_CH_LETTER;
    if ((unsigned)(c - '0') < 10u) return ATTN_CH_DIGIT;
    return ATTN_CH_PUNCT;
}

/* Scripts written without spaces where each character is a token. */
static bool is_cjk_like(uint32_t cp) {
    return (cp >= 0x3040 && cp <= 0x30FF)       /* Hiragana, Katakana */
        || (cp >= 0x31F0 && cp <= 0x31FF)       /* Katakana phonetic extensions */
        || (cp >= 0xFF66 && cp <= 0xFF9F)       /* half-width Katakana */
        || (cp >= 0x3005 && cp <= 0x3007)       /* 々 〆 〇 */
        || (cp >= 0x3400 && cp <= 0x4DBF)       /* CJK extension A */
        || (cp >= 0x4E00 && cp <= 0x9FFF)       /* CJK unified ideographs */
        || (cp >= 0xF900 && cp <= 0xFAFF)       /* CJK compatibility ideographs */
        || (cp >= 0x20000 && cp <= 0x3FFFF)     /* CJK extensions B.. and supplements */
        || (cp >= 0xAC00 && cp <= 0xD7AF);      /* Hangul syllables */
}

/* Invisible format characters that act as separators (others, like ZWJ, ZWNJ, soft hyphen,
 * tag characters, attach to the token like combining marks). */
static bool is_invisible_separator(uint32_t cp) {
    return cp == 0x200B || cp == 0x200E || cp == 0x200F || cp == 0xFEFF || cp == 0x180E
        || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x2064)
        || (cp >= 0x2066 && cp <= 0x2069);
}

static bool is_pictographic(uint32_t cp) {
    int bc = utf8proc_get_property((utf8proc_int32_t)cp)->boundclass;
    return bc == UTF8PROC_BOUNDCLASS_EXTENDED_PICTOGRAPHIC || bc == UTF8PROC_BOUNDCLASS_E_ZWG
        || bc == UTF8PROC_BOUNDCLASS_REGIONAL_INDICATOR;
}

attn_char_class attn_char_classify(uint32_t cp) {
    if (cp < 128) return ascii_class((unsigned char)cp);
    if (cp == REPLACEMENT_CHAR) return ATTN_CH_INVALID;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_CC:
        return ATTN_CH_SEP;
    case UTF8PROC_CATEGORY_CF:
        return is_invisible_separator(cp) ? ATTN_CH_SEP : ATTN_CH_MARK;
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
        return ATTN_CH_MARK;
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_NL:
        return is_cjk_like(cp) ? ATTN_CH_IDEO : ATTN_CH_LETTER;
    case UTF8PROC_CATEGORY_NO:
        return ATTN_CH_LETTER;
    case UTF8PROC_CATEGORY_ND:
        return ATTN_CH_DIGIT;
    default:   /* punctuation, symbols, private use, unassigned */
        return is_pictographic(cp) ? ATTN_CH_EMOJI : ATTN_CH_PUNCT;
    }
}

/* Chinese characters: the ideographs of is_cjk_like without kana and Hangul. */
static bool is_han(uint32_t cp) {
    return (cp >= 0x3005 && cp <= 0x3007) || (cp >= 0x3400 && cp <= 0x4DBF)
        || (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xF900 && cp <= 0xFAFF)
        || (cp >= 0x20000 && cp <= 0x3FFFF);
}

attn_script attn_text_script(const char *text, size_t n_bytes) {
    const unsigned char *s = (const unsigned char *)text;
    const size_t n = n_bytes < ATTN_SCRIPT_SAMPLE_BYTES ? n_bytes : ATTN_SCRIPT_SAMPLE_BYTES;
    size_t han = 0, kana = 0, other = 0;   /* other: every letter but Han, kana included */
    for (size_t b = 0; b < n;) {
        uint32_t cp;
        b += attn_utf8_next(s + b, n - b, &cp);
        const attn_char_class cls = attn_char_classify(cp);
        if (cls == ATTN_CH_IDEO && is_han(cp)) han++;
        else if (cls == ATTN_CH_IDEO || cls == ATTN_CH_LETTER) other++;
        if ((cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0xFF66 && cp <= 0xFF9F)) kana++;
    }
    /* Japanese writes kanji between kana; Chinese has (almost) no kana. */
    return han > other && kana * 8 < han ? ATTN_SCRIPT_HAN : ATTN_SCRIPT_OTHER;
}

/* ---- scanner ---- */

typedef struct pos {
    size_t b;        /* byte offset */
    int64_t c;       /* character offset (SQLite counting) */
} pos;

typedef struct ch {
    uint32_t cp;     /* 0 past the end */
    size_t len;      /* bytes; 0 past the end */
    attn_char_class cls;
} ch;

/* The scanner is the public attn_tokenizer's text and look-ahead caches (tokenizer.h): s, n,
 * next_at and next_colon (byte offset of the next '@' / ':', n if none; a cache that lets most
 * words skip the e-mail and URL look-ahead). */
typedef attn_tokenizer scanner;

/* Offset of the first byte c at or after from, using and refreshing *cache. */
static size_t next_byte(const scanner *sc, size_t *cache, size_t from, unsigned char c) {
    if (*cache < from || *cache == (size_t)-1) {
        const unsigned char *hit = memchr(sc->s + from, c, sc->n - from);
        *cache = hit ? (size_t)(hit - sc->s) : sc->n;
    }
    return *cache;
}

static ch peek(const scanner *sc, pos p) {
    ch r = {0, 0, ATTN_CH_SEP};
    if (p.b >= sc->n) return r;
    unsigned char b = sc->s[p.b];
    if (b < 0x80) {
        r.cp = b; r.len = 1;
        r.cls = ascii_class(b);
        return r;
    }
    r.len = attn_utf8_next(sc->s + p.b, sc->n - p.b, &r.cp);
    r.cls = attn_char_classify(r.cp);
    return r;
}

static pos step(pos p, ch c) { p.b += c.len; p.c += 1; return p; }

static bool at_end(const scanner *sc, pos p) { return p.b >= sc->n; }

/* The character after the one at p. */
static ch peek_next(const scanner *sc, pos p) { return peek(sc, step(p, peek(sc, p))); }

static bool is_word_class(attn_char_class k) {
    return k == ATTN_CH_LETTER || k == ATTN_CH_DIGIT || k == ATTN_CH_MARK;
}
static bool is_alnum_class(attn_char_class k) {
    return k == ATTN_CH_LETTER || k == ATTN_CH_DIGIT;
}
static bool is_apostrophe(uint32_t cp) { return cp == '\'' || cp == 0x2019; }
static bool is_hyphen(uint32_t cp) { return cp == '-' || cp == 0x2010 || cp == 0x2011; }
static bool is_number_separator(uint32_t cp) {
    return cp == '.' || cp == ',' || cp == ':' || cp == '/' || cp == '-';
}
/* Between two letters: Catalan middle dot (l·l), Hebrew geresh and gershayim. */
static bool is_letter_joiner(uint32_t cp) { return cp == 0xB7 || cp == 0x5F3 || cp == 0x5F4; }
static bool is_ascii_upper(uint32_t cp) { return cp >= 'A' && cp <= 'Z'; }
static uint32_t ascii_lower(uint32_t cp) { return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp; }

/* Consumes letters, digits and marks from p; *last receives the last character's code point
 * (unchanged when nothing was consumed). */
static pos consume_run(const scanner *sc, pos p, uint32_t *last) {
    for (;;) {
        size_t b = p.b;                                   /* ASCII fast path */
        while (b < sc->n && sc->s[b] < 0x80 && is_alnum_class(ascii_class(sc->s[b]))) b++;
        if (b > p.b) { *last = sc->s[b - 1]; p.c += (int64_t)(b - p.b); p.b = b; }
        ch c = peek(sc, p);
        if (!is_word_class(c.cls)) return p;
        if (c.cls != ATTN_CH_MARK) *last = c.cp;
        p = step(p, c);
    }
}

static pos attach_marks(const scanner *sc, pos p) {
    for (ch c = peek(sc, p); c.cls == ATTN_CH_MARK; c = peek(sc, p)) p = step(p, c);
    return p;
}

/* ---- English clitics (Penn Treebank) ---- */

/* Length in characters of a clitic ('s 'm 'd 're 've 'll, either apostrophe) starting at p,
 * followed by a non-word character; 0 if there is none. */
static int clitic_chars(const scanner *sc, pos p) {
    ch c = peek(sc, p);
    if (!is_apostrophe(c.cp)) return 0;
    pos q = step(p, c);
    uint32_t a = ascii_lower(peek(sc, q).cp);
    int letters = 0;
    if (a == 's' || a == 'm' || a == 'd') letters = 1;
    else if (a == 'r' || a == 'v' || a == 'l') {
        uint32_t b = ascii_lower(peek_next(sc, q).cp);
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) letters = 2;
    }
    if (!letters) return 0;
    for (int i = 0; i < letters; i++) q = step(q, peek(sc, q));
    return is_word_class(peek(sc, q).cls) ? 0 : 1 + letters;
}

/* True when p is at "n't" (n, apostrophe, t) followed by a non-word character. */
static bool at_n_t(const scanner *sc, pos p) {
    ch n = peek(sc, p);
    if (ascii_lower(n.cp) != 'n') return false;
    pos q = step(p, n);
    ch apo = peek(sc, q);
    if (!is_apostrophe(apo.cp)) return false;
    q = step(q, apo);
    ch t = peek(sc, q);
    if (ascii_lower(t.cp) != 't') return false;
    return !is_word_class(peek(sc, step(q, t)).cls);
}

static pos skip_chars(const scanner *sc, pos p, int n_chars) {
    for (int i = 0; i < n_chars && !at_end(sc, p); i++) p = step(p, peek(sc, p));
    return p;
}

/* ---- URLs and e-mail addresses ---- */

static bool is_url_stop(ch c) {
    return c.cls == ATTN_CH_SEP || c.cls == ATTN_CH_INVALID || c.cls == ATTN_CH_IDEO
        || c.cp == '"' || c.cp == '<' || c.cp == '>' || c.cp == '`';
}

/* RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
static bool is_scheme_char(unsigned char c, size_t i) {
    if (ascii_class(c) == ATTN_CH_LETTER) return true;
    return i > 0 && (ascii_class(c) == ATTN_CH_DIGIT || c == '+' || c == '-' || c == '.');
}

/* scheme "://" with a non-stop character after it, or "www." with a word character after. */
static bool url_starts_at(scanner *sc, pos p) {
    const unsigned char *s = sc->s + p.b;
    size_t avail = sc->n - p.b;
    bool colon_near = next_byte(sc, &sc->next_colon, p.b, ':') - p.b <= MAX_SCHEME_CHARS;
    if (avail >= 5 && (s[0] | 32) == 'w' && (s[1] | 32) == 'w' && (s[2] | 32) == 'w' && s[3] == '.') {
        pos q = p; q.b += 4; q.c += 4;
        return is_alnum_class(peek(sc, q).cls);
    }
    if (!colon_near) return false;
    size_t i = 0;
    while (i < avail && i < MAX_SCHEME_CHARS && is_scheme_char(s[i], i)) i++;
    if (i == 0 || i + 3 >= avail || memcmp(s + i, "://", 3) != 0) return false;
    pos q = p; q.b += i + 3; q.c += (int64_t)i + 3;
    return !is_url_stop(peek(sc, q));
}

static bool is_url_trailing_punct(uint32_t cp) {
    return cp == '.' || cp == ',' || cp == ';' || cp == ':' || cp == '!' || cp == '?'
        || cp == '\'' || cp == ')' || cp == ']' || cp == '}' || cp == 0x2019 || cp == 0x201D;
}

/* A URL runs to the next stop character; trailing sentence punctuation is given back, and so is
 * a closing bracket that has no opening one inside the URL. */
static pos scan_url(const scanner *sc, pos p) {
    pos end = p;
    pos keep = p;              /* end of the URL without trailing punctuation */
    int open_paren = 0;
    for (ch c = peek(sc, end); !at_end(sc, end) && !is_url_stop(c); c = peek(sc, end)) {
        if (c.cp == '(') open_paren++;
        bool balanced_close = c.cp == ')' && open_paren > 0;
        if (balanced_close) open_paren--;
        end = step(end, c);
        if (balanced_close || !is_url_trailing_punct(c.cp)) keep = end;
    }
    return keep;
}

static bool is_email_local_char(ch c) {
    return is_word_class(c.cls) || c.cp == '.' || c.cp == '_' || c.cp == '%' || c.cp == '+'
        || c.cp == '-';
}

/* Domain after '@': labels of letters/digits/inner hyphens joined by dots; at least two labels.
 * Returns whether there is one; *end receives the end of its last label. */
static bool scan_email_domain(const scanner *sc, pos p, pos *domain_end) {
    pos q = p, end = p;
    int labels = 0, total = 0;
    for (;;) {
        int label_chars = 0;
        pos label_end = q;
        for (ch c = peek(sc, q); total < MAX_EMAIL_DOMAIN_CHARS; c = peek(sc, q)) {
            if (is_word_class(c.cls)) { q = step(q, c); label_end = q; }
            else if (c.cp == '-' && label_chars > 0) q = step(q, c);
            else break;
            label_chars++; total++;
        }
        if (label_chars == 0 || label_chars > MAX_EMAIL_LABEL_CHARS) break;
        labels++;
        end = label_end;
        ch dot = peek(sc, label_end);
        if (dot.cp != '.' || !is_alnum_class(peek_next(sc, label_end).cls)) break;
        q = step(label_end, dot);
        total++;
    }
    *domain_end = end;
    return labels >= 2;
}

/* Returns the end of an e-mail address starting at p, or p when there is none. */
static pos scan_email(scanner *sc, pos p) {
    if (next_byte(sc, &sc->next_at, p.b, '@') - p.b > 4 * MAX_EMAIL_LOCAL_CHARS) return p;
    pos q = p;
    int n = 0;
    ch c = peek(sc, q);
    while (n < MAX_EMAIL_LOCAL_CHARS && is_email_local_char(c)) {
        q = step(q, c); n++; c = peek(sc, q);
    }
    if (c.cp != '@') return p;
    pos end;
    return scan_email_domain(sc, step(q, c), &end) ? end : p;
}

/* ---- words ---- */

/* "U.S.", "e.g.", "U.S.A": two or more single letters each followed by a period, optionally a
 * last single letter without one. Returns p when there is no such abbreviation. */
static pos scan_dotted_abbreviation(const scanner *sc, pos p) {
    pos q = p;
    int groups = 0;
    for (;;) {
        ch letter = peek(sc, q);
        if (letter.cls != ATTN_CH_LETTER) break;
        pos after = step(q, letter);
        ch dot = peek(sc, after);
        if (dot.cp == '.') { q = step(after, dot); groups++; continue; }
        if (groups >= 2 && !is_word_class(dot.cls)) q = after;
        break;
    }
    return groups >= 2 ? q : p;
}

/* Words whose period is part of them (titles, company suffixes, months). */
static const char *const period_abbreviations[] = {
    "Mr", "Mrs", "Ms", "Dr", "Prof", "Jr", "Sr", "St", "Mt", "Inc", "Corp", "Ltd", "Co", "Bros",
    "vs", "etc", "Gen", "Gov", "Sen", "Rep", "Lt", "Col", "Sgt", "Capt", "Adm", "Maj", "Rev",
    "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec",
};

static bool is_period_abbreviation(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < sizeof period_abbreviations / sizeof *period_abbreviations; i++) {
        const char *a = period_abbreviations[i];
        if (strlen(a) == n && memcmp(a, s, n) == 0) return true;
    }
    return false;
}

/* An initial: one upper-case ASCII letter, a period, spaces, an upper-case letter (J. Smith). */
static bool is_initial(const scanner *sc, pos start, pos period) {
    if (period.c != start.c + 1) return false;
    unsigned char l = sc->s[start.b];
    if (l < 'A' || l > 'Z') return false;
    pos q = step(period, peek(sc, period));
    ch c = peek(sc, q);
    if (c.cp != ' ') return false;
    while (c.cp == ' ') { q = step(q, c); c = peek(sc, q); }
    return utf8proc_category((utf8proc_int32_t)c.cp) == UTF8PROC_CATEGORY_LU;
}

static pos take_abbreviation_period(const scanner *sc, pos start, pos end) {
    ch c = peek(sc, end);
    if (c.cp != '.') return end;
    if (is_period_abbreviation(sc->s + start.b, end.b - start.b) || is_initial(sc, start, end))
        return step(end, c);
    return end;
}

/* What follows a run of word characters ending at p (p > start of the word). */
typedef enum {
    JOIN_NONE,            /* the word ends at p */
    JOIN_CONTINUE,        /* the joiner at p and the run after it belong to the word */
    JOIN_CLITIC,          /* the word ends at p, a clitic ('s, 're, ...) follows */
    JOIN_N_T,             /* the word ends before its last letter: "do|n't" */
} join_kind;

static join_kind word_joiner(const scanner *sc, pos p, uint32_t last_cp) {
    ch c = peek(sc, p);
    ch after = peek_next(sc, p);
    if (is_hyphen(c.cp) && is_alnum_class(after.cls)) return JOIN_CONTINUE;
    bool last_is_digit = attn_char_classify(last_cp) == ATTN_CH_DIGIT;
    if (is_number_separator(c.cp) && last_is_digit && after.cls == ATTN_CH_DIGIT) return JOIN_CONTINUE;
    if (is_letter_joiner(c.cp) && after.cls == ATTN_CH_LETTER) return JOIN_CONTINUE;
    if (c.cp == '&' && is_ascii_upper(last_cp) && is_ascii_upper(after.cp)) return JOIN_CONTINUE;
    if (!is_apostrophe(c.cp) || after.cls != ATTN_CH_LETTER) return JOIN_NONE;
    if (clitic_chars(sc, p)) return JOIN_CLITIC;
    unsigned char before = sc->s[p.b - 1];   /* 'n' directly before the apostrophe */
    pos n_pos = {p.b - 1, p.c - 1};
    if ((before == 'n' || before == 'N') && at_n_t(sc, n_pos)) return JOIN_N_T;
    return JOIN_CONTINUE;
}

/* A word from p (a letter, digit or mark): runs joined by hyphens, apostrophes, number
 * separators and abbreviation periods; a clitic or "n't" ends it. */
static pos scan_word(const scanner *sc, pos p) {
    pos start = p;
    uint32_t last_cp = 0;
    pos end = scan_dotted_abbreviation(sc, p);
    if (end.b > p.b) last_cp = '.';
    else end = consume_run(sc, p, &last_cp);
    for (;;) {
        join_kind j = word_joiner(sc, end, last_cp);
        if (j == JOIN_NONE || j == JOIN_CLITIC) break;
        if (j == JOIN_N_T) {
            pos n_pos = {end.b - 1, end.c - 1};
            return n_pos.b > start.b ? n_pos : skip_chars(sc, n_pos, 3);   /* "n't" itself */
        }
        end = consume_run(sc, step(end, peek(sc, end)), &last_cp);
    }
    return take_abbreviation_period(sc, start, end);
}

/* ---- symbols ---- */

/* A punctuation/symbol/emoji character as an extended grapheme cluster (emoji ZWJ sequences,
 * skin tones, flags, combining marks); a run of one repeated punctuation character is one token. */
static pos scan_symbol(const scanner *sc, pos p) {
    ch first = peek(sc, p);
    pos end = step(p, first);
    utf8proc_int32_t state = 0;
    uint32_t prev = first.cp;
    int n_chars = 1;
    for (ch c = peek(sc, end); !at_end(sc, end); c = peek(sc, end)) {
        if (c.cls == ATTN_CH_SEP || c.cls == ATTN_CH_INVALID) break;
        if (utf8proc_grapheme_break_stateful((utf8proc_int32_t)prev, (utf8proc_int32_t)c.cp, &state))
            break;
        prev = c.cp;
        end = step(end, c);
        n_chars++;
    }
    if (n_chars == 1 && first.cls == ATTN_CH_PUNCT) {
        for (ch c = peek(sc, end); c.cp == first.cp && !at_end(sc, end); c = peek(sc, end))
            end = step(end, c);
        end = attach_marks(sc, end);
    }
    return end;
}

/* ---- driver ---- */

static int push_token(attn_tokens *out, attn_token tok, attn_error *err) {
    if (out->n == out->cap &&       /* the first time, MIN_TOKENS_CAP at once */
        attn_grow((void **)&out->tok, &out->cap, out->cap ? out->n + 1 : MIN_TOKENS_CAP,
                  sizeof *out->tok) != ATTN_OK)
        return attn_fail(err, ATTN_ENOMEM, "tokenize: out of memory for %zu tokens", out->n + 1);
    out->tok[out->n++] = tok;
    return ATTN_OK;
}

/* End of the token starting at p (a non-separator); *was_word tells whether it is a word.
 * clitic_ok: p follows a word directly, or a separator, or is the start ("Ghana 's" as in
 * pre-tokenised text); not after other punctuation. */
static pos scan_token(scanner *sc, pos p, bool clitic_ok, bool *was_word) {
    ch c = peek(sc, p);
    *was_word = false;
    switch (c.cls) {
    case ATTN_CH_INVALID:
        return step(p, c);
    case ATTN_CH_IDEO:
        return attach_marks(sc, step(p, c));
    case ATTN_CH_LETTER: case ATTN_CH_DIGIT: case ATTN_CH_MARK: {
        *was_word = true;
        if (c.cls == ATTN_CH_LETTER && url_starts_at(sc, p)) return scan_url(sc, p);
        pos email = scan_email(sc, p);
        if (email.b > p.b) return email;
        return scan_word(sc, p);
    }
    default: {
        int clitic = clitic_ok ? clitic_chars(sc, p) : 0;
        if (clitic) return attach_marks(sc, skip_chars(sc, p, clitic));
        return scan_symbol(sc, p);
    }
    }
}

int attn_tokenizer_start(attn_tokenizer *tz, const char *text, size_t n_bytes,
                         attn_error *err) {
    if (n_bytes > ATTN_MAX_TEXT_BYTES)
        return attn_fail(err, ATTN_ELIMIT, "tokenize: text of %zu bytes exceeds the limit of %zu bytes",
                         n_bytes, (size_t)ATTN_MAX_TEXT_BYTES);
    *tz = (attn_tokenizer){ .s = (const unsigned char *)(n_bytes ? text : ""), .n = n_bytes,
                            .next_at = (size_t)-1, .next_colon = (size_t)-1,
                            .prev_end_byte = (size_t)-1 };
    return ATTN_OK;
}

int attn_tokenizer_next(attn_tokenizer *tz, attn_token *tok) {
    pos p = {tz->at_byte, tz->at_char};
    while (!at_end(tz, p)) {
        if (tz->s[p.b] == ' ') { p.b++; p.c++; continue; }   /* the common separator */
        ch c = peek(tz, p);
        if (c.cls == ATTN_CH_SEP) { p = step(p, c); continue; }
        bool was_word;
        bool clitic_ok = tz->prev_end_byte != p.b || tz->prev_word;
        pos end = scan_token(tz, p, clitic_ok, &was_word);
        *tok = (attn_token){p.c, end.c, p.b, end.b};
        tz->prev_word = was_word;
        tz->prev_end_byte = end.b;
        tz->at_byte = end.b;
        tz->at_char = end.c;
        return 1;
    }
    tz->at_byte = p.b;
    tz->at_char = p.c;
    return 0;
}

/* First token whose end is after c (tokens are sorted and disjoint). */
static int first_token_ending_after(const attn_token *tok, int n, int64_t c) {
    int lo = 0, hi = n;
    while (lo < hi) {
        const int mid = lo + (hi - lo) / 2;
        if (tok[mid].end > c) hi = mid; else lo = mid + 1;
    }
    return lo;
}

int attn_tokens_covering(const attn_token *tok, int n, int64_t start, int64_t end, int *first,
                         int *end_tok) {
    const int f = first_token_ending_after(tok, n, start);
    const int last = first_token_ending_after(tok, n, end - 1);   /* may end after the span */
    const int e = last < n && tok[last].start < end ? last + 1 : last;
    *first = f;
    *end_tok = e > f ? e : f;
    return e > f ? e - f : 0;
}

int attn_tokenize(const char *text, size_t n_bytes, attn_tokens *out, attn_error *err) {
    out->n = 0;
    attn_tokenizer tz;
    int rc = attn_tokenizer_start(&tz, text, n_bytes, err);
    attn_token tok;
    while (!rc && attn_tokenizer_next(&tz, &tok)) rc = push_token(out, tok, err);
    return rc;
}

void attn_tokens_free(attn_tokens *t) {
    if (!t) return;
    free(t->tok);
    t->tok = NULL;
    t->n = t->cap = 0;
}
