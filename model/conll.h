/* conll.h: a streaming reader of CoNLL column files (NER training and evaluation data).
 *
 * Input: one token a line, columns separated by runs of spaces or tabs, a blank line (or a line
 * of only spaces/tabs) after each sentence, e.g. CoNLL-2003 `EU NNP B-NP B-ORG` or the Chinese
 * character files `高 B-NAME`. A line whose token column is `-DOCSTART-` is a document
 * boundary: it ends the current sentence, is not a token, and the next sentence has
 * new_document = 1. CRLF line ends are accepted; the last line need not end with a newline.
 *
 * Output: one sentence at a time as text plus entity spans.
 *   text   the tokens joined (ATTN_CONLL_JOIN_AUTO, the default):
 *            - a "character-level" sentence (every token is exactly one character and at least
 *              one of them is CJK, as in MSRA and Resume NER) is joined with no separator:
 *              高勇：男，1963年 rather than 高 勇 ： 男 ， 1 9 6 3 年;
 *            - otherwise tokens are joined by one space, except that no space goes between two
 *              tokens when the last character of the left one and the first character of the
 *              right one are both CJK (word-segmented Chinese/Japanese stays unspaced).
 *          CJK here: ideographs, kana, hangul, CJK punctuation (U+3000..) and fullwidth forms
 *          (U+FF00..), a fixed list of ranges in conll.c.
 *          ATTN_CONLL_JOIN_SPACE always uses one space; ATTN_CONLL_JOIN_NONE never;
 *          ATTN_CONLL_JOIN_DETOK joins as people write the text (detok.h: no space before
 *          "." or "'s", none inside quotes and brackets), CJK as AUTO does.
 *   spans  entities in CHARACTER offsets of text (code points, 0-based, end exclusive; the
 *          same counting as SQLite length()/substr() and tokenizer.h, since text is valid
 *          UTF-8), in text order, non-overlapping.
 *
 * Tags: "O", or PREFIX-TYPE with PREFIX one of B I E S (L and U are read as E and S, for
 * BILOU) and TYPE non-empty (it may contain '-'). One decoder serves IOB1, IOB2 and IOBES
 * (ATTN_CONLL_SCHEME_AUTO); for B/I/O tags it finds exactly the chunks conlleval finds:
 *   - a chunk starts at B or S, and at I or E that does not continue an open chunk of the same
 *     type (I after O or after another type starts a chunk: IOB1, and conlleval's repair of
 *     ill-formed IOB2);
 *   - a chunk ends before O, B, S or a change of type, and after E or S.
 * IOB1 and IOB2 files therefore decode to the same spans whichever is declared. Declaring a
 * scheme adds checks: IOB1/IOB2 reject E/S/L/U prefixes; IOB2 and IOBES count each tag that
 * had to be repaired (I without a preceding B/I of its type; in IOBES also a chunk not closed
 * by E, S) in n_repaired.
 *
 * Malformed input never crashes; it is an error naming the 1-based line number:
 *   "line 12: expected at least 2 columns, found 1", "line 7: invalid tag 'B-' (empty type)",
 *   "line 3: invalid UTF-8 at byte 5", "line 9: control character 0x00 at byte 2",
 *   "line 40: longer than 65536 bytes". Errors are sticky: later calls return the same code.
 * With opt.lenient_tags set, an invalid tag is read as O and counted in n_bad_tags instead.
 *
 * The reader never includes sqlite3.h and reads files with stdio in fixed-size blocks. */
#ifndef ATTN_CONLL_H
#define ATTN_CONLL_H

#include "common.h"

/* Limits (each is an error with a line number, tested). */
#define ATTN_CONLL_MAX_LINE_BYTES   65536       /* one line, without its line end */
#define ATTN_CONLL_MAX_TOKENS       100000      /* tokens in one sentence */
#define ATTN_CONLL_MAX_COLUMNS      64

typedef enum attn_conll_scheme {
    ATTN_CONLL_SCHEME_AUTO = 0,   /* accept every prefix; no repair counting */
    ATTN_CONLL_SCHEME_IOB1,
    ATTN_CONLL_SCHEME_IOB2,
    ATTN_CONLL_SCHEME_IOBES,
} attn_conll_scheme;

typedef enum attn_conll_join {
    ATTN_CONLL_JOIN_AUTO = 0,     /* see above */
    ATTN_CONLL_JOIN_SPACE,
    ATTN_CONLL_JOIN_NONE,
    ATTN_CONLL_JOIN_DETOK,        /* as people write it (detok.h): "Canada.", "(Reuters)" */
} attn_conll_join;

/* A zero-initialised struct (or NULL) means: token = first column, tag = last column, AUTO
 * scheme, AUTO join, strict tags. Columns are 1-based; 0 means the default. */
typedef struct attn_conll_options {
    int token_column;             /* 0 = first column */
    int tag_column;               /* 0 = last column */
    attn_conll_scheme scheme;
    attn_conll_join join;
    int lenient_tags;             /* 1: an invalid tag reads as O and counts in n_bad_tags */
} attn_conll_options;

typedef struct attn_conll_span {
    int64_t start, end;           /* characters of text, end exclusive */
    int label;                    /* index into the reader's labels, in order of first sight */
    const char *label_name;       /* NUL-terminated, owned by the reader, valid until close */
} attn_conll_span;

typedef struct attn_conll_token {
    int64_t start, end;           /* characters of text */
    size_t byte_start, byte_end;  /* bytes of text */
} attn_conll_token;

/* One sentence. Every pointer is owned by the reader and valid until the next call. */
typedef struct attn_conll_sentence {
    const char *text;             /* UTF-8, NUL-terminated */
    size_t n_bytes;
    int64_t n_chars;
    const attn_conll_token *tokens;   /* [n_tokens] */
    size_t n_tokens;
    const attn_conll_span *spans;     /* [n_spans], in text order */
    size_t n_spans;
    int64_t line;                 /* 1-based line number of the first token */
    int new_document;             /* 1: first sentence after a -DOCSTART- line */
    int n_repaired;               /* tags that broke the declared scheme (IOB2/IOBES) */
    int n_bad_tags;               /* invalid tags read as O (lenient_tags only) */
} attn_conll_sentence;

typedef struct attn_conll_reader attn_conll_reader;

/* Opens a file. Returns NULL and fills err when the file cannot be opened, an option is out of
 * range or memory runs out. opt may be NULL. */
attn_conll_reader *attn_conll_open(const char *path, const attn_conll_options *opt,
                                   attn_error *err);

/* Reads from memory: buf[0..n) (need not be NUL-terminated) must stay valid and unchanged
 * until attn_conll_close. For tests and fuzzing. */
attn_conll_reader *attn_conll_open_buffer(const char *buf, size_t n,
                                          const attn_conll_options *opt, attn_error *err);

/* Next sentence into *out. Returns 1 (a sentence), 0 (end of input) or -code (-ATTN_EINVAL
 * malformed input, -ATTN_ELIMIT a limit above, -ATTN_ENOMEM) with err filled. */
int attn_conll_next(attn_conll_reader *r, attn_conll_sentence *out, attn_error *err);

/* Labels seen so far, in order of first sight (the span label indices). */
int attn_conll_n_labels(const attn_conll_reader *r);
const char *attn_conll_label(const attn_conll_reader *r, int i);   /* NULL if out of range */

/* Total lines read so far (the line number of the last line read). */
int64_t attn_conll_lines(const attn_conll_reader *r);

void attn_conll_close(attn_conll_reader *r);

/* The entities of s as JSON text: [{"start":0,"end":2,"label":"ORG"},...] ("[]" when none),
 * labels JSON-escaped. *json is malloc'd and NUL-terminated (caller frees); *n_bytes (may be
 * NULL) receives its length. Fails only with ATTN_ENOMEM. */
int attn_conll_entities_json(const attn_conll_sentence *s, char **json, size_t *n_bytes,
                             attn_error *err);

#endif
