/* tokenizer.h: UTF-8 text -> word tokens with character offsets.
 *
 * Offsets count characters the way SQLite's length() and substr() do, so that
 * substr(text, start + 1, end - start) is exactly the token, even on invalid UTF-8:
 *   - a byte in 0x00..0x7F or a stray continuation byte 0x80..0xBF is one character;
 *   - a lead byte 0xC0..0xFF plus all continuation bytes that follow it is one character.
 * For valid UTF-8 this is one character per Unicode code point. A character that is not a
 * well-formed UTF-8 sequence (overlong, surrogate, truncated, > U+10FFFF, stray byte)
 * decodes to U+FFFD and becomes a token of its own; it never stops tokenization.
 * An embedded NUL byte is a control character: a separator like whitespace.
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

/* Tokenizes text[0..n_bytes) into *out, replacing its previous contents (out->tok is reused
 * when large enough: no allocation per call in steady state). Fails only with ATTN_ENOMEM or
 * ATTN_ELIMIT (n_bytes > ATTN_MAX_TEXT_BYTES). *out must be zero-initialised before first use. */
int attn_tokenize(const char *text, size_t n_bytes, attn_tokens *out, attn_error *err);

void attn_tokens_free(attn_tokens *t);

/* UTF-8 decoding with the SQLite character rule above: decodes the character starting at
 * s[0] (n > 0 bytes available), stores its code point (U+FFFD when malformed) in *cp and
 * returns the number of bytes it spans (>= 1). */
size_t attn_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* Number of characters in text (SQLite's length() of the same text). */
int64_t attn_utf8_count(const char *text, size_t n_bytes);

#endif
