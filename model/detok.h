/* detok.h: joins pre-tokenised text (Penn Treebank / CoNLL-2003 tokens) the way people write
 * it, so that models train and are evaluated on text like their users' ("Canada." rather than
 * "Canada .", "(Reuters)", "Blackburn's", "don't", "\"Apple\"").
 *
 * attn_detok_space decides, token by token, whether a space goes before the next token. No
 * space goes:
 *   - before closing punctuation . , ; : ! ? % ) ] } '' and a lone ' (a plural possessive,
 *     "players '");
 *   - before an English clitic: 's 'm 'd 're 've 'll n't in any case (a token starting with an
 *     apostrophe followed by 1 or 2 letters, or n't);
 *   - after opening punctuation ( [ { $ ` ``;
 *   - inside straight double quotes: the odd-numbered " of a sentence opens (no space after
 *     it), the even-numbered one closes (no space before it).
 * Everything else is separated by one space, dashes included ("SOCCER - JAPAN", "1996 -- 97").
 * The rules only remove spaces where attnext's tokenizer (tokenizer.h) splits the joined text
 * back into the same tokens; the few exceptions (an abbreviation that the tokenizer keeps whole
 * with a following period, such as "Corp ." -> "Corp.") are counted on CoNLL-2003 by
 * tests/unit/test_data.c. */
#ifndef ATTN_DETOK_H
#define ATTN_DETOK_H

#include "common.h"

typedef struct attn_detok {
    int n_double_quotes;   /* straight double quotes seen so far in this sentence */
    int no_space_next;     /* the previous token opens: no space before the next one */
} attn_detok;

/* Starts a sentence. */
void attn_detok_start(attn_detok *d);

/* Returns 1 when a space goes before token tok[0..n) (UTF-8), 0 when it is joined to the
 * previous token; the first token of a sentence returns 0. Call once per token, in order. */
int attn_detok_space(attn_detok *d, const char *tok, size_t n, int first);

/* Joins tok[0..n) (tok[i] is n_bytes[i] bytes of valid UTF-8) by these rules into *text
 * (malloc'd, NUL-terminated, *text_bytes bytes; the caller frees it) and gives each token's
 * character offsets in it (SQLite counting, end exclusive) in start[i], end[i]. Fails only with
 * ATTN_ENOMEM (err filled). */
int attn_detok_join(const char *const *tok, const size_t *n_bytes, size_t n, char **text,
                    size_t *text_bytes, int64_t *start, int64_t *end, attn_error *err);

#endif
