/* tokenizer.h: UTF-8 text -> word tokens with character offsets.
 *
 * Offsets count characters the way SQLite's length() and substr() do, so that
 * substr(text, start + 1, end - start) is exactly the token, even on invalid UTF-8:
 *   - a byte in 0x00..0x7F or a stray continuation byte 0x80..0xBF is one character;
 *   - a lead byte 0xC0..0xFF plus all continuation bytes that follow it is one character.
 * For valid UTF-8 this is one character per Unicode code point. A character that is not a
 * well-formed UTF-8 sequence (overlong, surrogate, truncated, > U+10FFFF, stray byte)
 * decodes to U+FFFD and becomes a token of its own; it never stops tokenization.
 * An embedded NUL byte is a control character: a separator like whitespace. (SQLite's length()
 * and substr() stop at the first NUL; tokens after one get offsets that count the NUL as one
 * character, consistent with their bytes, but substr() cannot reach them.)
 *
 * Segmentation rules, in order of precedence (see README "Tokenizer"):
 *   - Unicode whitespace and control characters separate tokens and are never part of one.
 *   - URLs (scheme://... or www. ...) and e-mail addresses are one token; trailing
 *     sentence punctuation is not part of them.
 *   - CJK ideographs, Hiragana, Katakana and Hangul syllables: one token per character.
 *   - Numbers keep inner separators between digits: 3.14, 1,000,000, 12:30, 1/2, 2024-05-01.
 *   - Words are runs of letters, digits and combining marks, joined by an inner hyphen
 *     (state-of-the-art), an inner apostrophe (O'Neill) or periods of an abbreviation (U.S.).
 *     English clitics are split off as in the Penn Treebank / CoNLL: John's -> John 's,
 *     don't -> do n't.
 *   - Every other character (punctuation, symbols) is a token of its own, except that a run of
 *     the same punctuation character (..., --, !!) is one token, and an emoji with its modifiers,
 *     variation selectors and zero-width-joiner sequence is one token.
 *   - Combining marks attach to the token before them.
 * Details: a period ends the word except in dotted abbreviations of single letters (U.S., e.g.,
 * U.S.A), after a few listed abbreviations (Mr. Dr. Inc. Corp. Jan. ...), and after an initial
 * (one capital letter, period, space, capital letter: "J. Smith"). & joins two capitals (AT&T).
 * A clitic also starts a token after whitespace ("Ghana 's"). Number separators are
 * . , : / - between digits. Hyphens (- U+2010 U+2011) join when a letter or digit follows.
 * URL: scheme "://" or "www."; it ends at whitespace, an invalid byte, CJK, " < > `, and gives
 * back trailing . , ; : ! ? ' ’ ” and unbalanced ) ] }. E-mail: local part of letters, digits
 * . _ % + - (at most 64 characters), '@', two or more dot-separated labels. A clitic is split
 * only when followed by a non-word character (don'tcha stays whole). The format characters
 * ZWSP, LRM/RLM, bidi embeddings/isolates, word joiner and BOM count as whitespace; other
 * format characters (ZWJ, ZWNJ, soft hyphen, tags) behave as combining marks.
 *
 * The engine never includes sqlite3.h; this file works on plain byte buffers. */
#ifndef ATTN_TOKENIZER_H
#define ATTN_TOKENIZER_H

#include "common.h"

typedef struct attn_token {
    int64_t start, end;           /* characters, 0-based, end exclusive (SQLite counting) */
    size_t byte_start, byte_end;  /* the same span in bytes of the input */
} attn_token;

typedef struct attn_tokens {
    attn_token *tok;              /* [n], owned */
    size_t n, cap;
} attn_tokens;

/* Tokenizes text[0..n_bytes) into *out, replacing its previous contents. Tokens are non-empty,
 * in order, non-overlapping, never contain a separator, and together cover every character that
 * is not one. Linear time: every look-ahead is bounded. (out->tok is reused
 * when large enough: no allocation per call in steady state). Fails only with ATTN_ENOMEM or
 * ATTN_ELIMIT (n_bytes > ATTN_MAX_TEXT_BYTES). *out must be zero-initialised before first use. */
int attn_tokenize(const char *text, size_t n_bytes, attn_tokens *out, attn_error *err);

/* Span snapping, the one policy of the engine (training gold, attn_relation's spans): the
 * character span [start, end) covers every token it overlaps by at least one character, so a
 * span not aligned to tokens snaps OUTWARD ("New Yor" in "New York" covers both tokens).
 * tok[n] must be in order and non-overlapping (as attn_tokenize makes them). *first and
 * *end_tok receive the covered tokens [first, end_tok); returns their count (0 when the span
 * overlaps no token, e.g. only whitespace). O(log n). */
int attn_tokens_covering(const attn_token *tok, int n, int64_t start, int64_t end, int *first,
                         int *end_tok);

void attn_tokens_free(attn_tokens *t);

/* Incremental tokenization: the very tokens of attn_tokenize, one at a time, so that a caller
 * can hold only those it still needs (pipeline.c streams long texts through a window-sized
 * buffer). Two tokenizers started on the same text produce the same sequence; the text must
 * stay alive and unchanged while one is used. The fields are private (the state between two
 * tokens: position, whether the previous token was a word ending here, look-ahead caches). */
typedef struct attn_tokenizer {
    const unsigned char *s;       /* the text [n] */
    size_t n;
    size_t next_at, next_colon;   /* cached byte offset of the next '@' / ':' */
    size_t at_byte;               /* where the next token is searched from */
    int64_t at_char;              /* at_byte in characters (SQLite counting) */
    size_t prev_end_byte;         /* end of the previous token ((size_t)-1: none) */
    int prev_word;                /* the previous token was a word */
} attn_tokenizer;

/* Starts *tz at the beginning of text[0..n_bytes) (text may be NULL when n_bytes is 0).
 * Fails only with ATTN_ELIMIT (n_bytes > ATTN_MAX_TEXT_BYTES), as attn_tokenize. */
int attn_tokenizer_start(attn_tokenizer *tz, const char *text, size_t n_bytes,
                         attn_error *err);

/* The next token into *tok: 1, or 0 (and *tok untouched) at the end of the text. */
int attn_tokenizer_next(attn_tokenizer *tz, attn_token *tok);

/* UTF-8 decoding with the SQLite character rule above: decodes the character starting at
 * s[0] (n > 0 bytes available), stores its code point (U+FFFD when malformed) in *cp and
 * returns the number of bytes it spans (>= 1). */
size_t attn_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* Number of characters in text (SQLite's length() of the same text when it has no NUL). */
int64_t attn_utf8_count(const char *text, size_t n_bytes);

/* Character classes used by the tokenizer and by the shape feature. */
typedef enum attn_char_class {
    ATTN_CH_SEP = 0,      /* whitespace, controls (incl. NUL), invisible separators */
    ATTN_CH_LETTER,       /* letters (not CJK), letter numbers (Nl), other numbers (No) */
    ATTN_CH_DIGIT,        /* decimal digits (Nd), any script */
    ATTN_CH_MARK,         /* combining marks, ZWJ/ZWNJ and other attaching format chars */
    ATTN_CH_IDEO,         /* CJK ideographs, Hiragana, Katakana, Hangul syllables */
    ATTN_CH_PUNCT,        /* punctuation, symbols, private use, unassigned */
    ATTN_CH_EMOJI,        /* Extended_Pictographic, regional indicators */
    ATTN_CH_INVALID,      /* U+FFFD: a malformed UTF-8 character (or a literal U+FFFD) */
} attn_char_class;

attn_char_class attn_char_classify(uint32_t cp);

/* The script that decides which language's default model reads a text: ATTN_SCRIPT_HAN when
 * Chinese characters (CJK unified and compatibility ideographs, with 々 〆 〇) outnumber every
 * other letter together (Latin, Cyrillic, kana, Hangul, ... counted one per character) and the
 * text has fewer than one kana to eight of them (Japanese writes kanji between kana), else
 * ATTN_SCRIPT_OTHER; digits, punctuation and emoji do not count. So "李强 met Olaf Scholz in
 * Berlin" is OTHER, "国务院总理李强会见了德国总理Olaf Scholz" is HAN and "東京は日本の首都です"
 * is OTHER. Only the first ATTN_SCRIPT_SAMPLE_BYTES bytes are read: a text's opening decides
 * (ties and texts without letters: OTHER). Malformed UTF-8 counts as nothing. */
typedef enum attn_script { ATTN_SCRIPT_OTHER = 0, ATTN_SCRIPT_HAN = 1 } attn_script;
#define ATTN_SCRIPT_SAMPLE_BYTES 65536
attn_script attn_text_script(const char *text, size_t n_bytes);

#endif
