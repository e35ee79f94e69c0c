/* test_conll.c: the CoNLL column reader (model/conll.h). */
#include "check.h"
#include "conll.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

/* Reads every sentence of buf; returns the number read, or the negative status. The last
 * sentence read stays in *last (valid while *r is open). */
static int read_all(attn_conll_reader **r, const char *buf, const attn_conll_options *o,
                    attn_conll_sentence *last, attn_error *err) {
    *r = attn_conll_open_buffer(buf, strlen(buf), o, err);
    if (!*r) return -100;
    int n = 0, rc;
    attn_conll_sentence s;
    while ((rc = attn_conll_next(*r, &s, err)) == 1) *last = s, n++;
    return rc < 0 ? rc : n;
}

static int span_is(const attn_conll_sentence *s, size_t i, int64_t start, int64_t end,
                   const char *label) {
    return i < s->n_spans && s->spans[i].start == start && s->spans[i].end == end &&
           strcmp(s->spans[i].label_name, label) == 0;
}

/* The substring of s->text at character offsets [start, end) equals want. */
static int substr_is(const attn_conll_sentence *s, int64_t start, int64_t end, const char *want) {
    for (size_t i = 0; i < s->n_tokens; i++)
        if (s->tokens[i].start == start)
            for (size_t j = i; j < s->n_tokens; j++)
                if (s->tokens[j].end == end) {
                    size_t b0 = s->tokens[i].byte_start, b1 = s->tokens[j].byte_end;
                    return strlen(want) == b1 - b0 && memcmp(s->text + b0, want, b1 - b0) == 0;
                }
    return 0;
}

static void test_conll2003_format(void) {
    const char *buf =
        "-DOCSTART- -X- -X- O\n"
        "\n"
        "EU NNP B-NP B-ORG\n"
        "rejects VBZ B-VP O\n"
        "German JJ B-NP B-MISC\n"
        "call NN I-NP O\n"
        "\n"
        "Peter NNP B-NP B-PER\n"
        "Blackburn NNP I-NP I-PER\n"
        "\n"
        "-DOCSTART- -X- -X- O\n"
        "\n"
        "BRUSSELS NNP B-NP B-LOC\n";
    attn_error err = {0};
    attn_conll_reader *r = attn_conll_open_buffer(buf, strlen(buf), NULL, &err);
    attn_conll_sentence s;
    CHECK(r != NULL);
    CHECK(attn_conll_next(r, &s, &err) == 1);
    CHECK(strcmp(s.text, "EU rejects German call") == 0);
    CHECK(s.n_bytes == 22 && s.n_chars == 22 && s.n_tokens == 4);
    CHECK(s.line == 3 && s.new_document == 1);
    CHECK(s.n_spans == 2 && span_is(&s, 0, 0, 2, "ORG") && span_is(&s, 1, 11, 17, "MISC"));
    CHECK(s.spans[0].label == 0 && s.spans[1].label == 1);
    CHECK(s.tokens[1].start == 3 && s.tokens[1].end == 10 && s.tokens[1].byte_start == 3);
    CHECK(attn_conll_next(r, &s, &err) == 1);
    CHECK(strcmp(s.text, "Peter Blackburn") == 0 && s.line == 8 && s.new_document == 0);
    CHECK(s.n_spans == 1 && span_is(&s, 0, 0, 15, "PER") && substr_is(&s, 0, 15, "Peter Blackburn"));
    CHECK(attn_conll_next(r, &s, &err) == 1);
    CHECK(strcmp(s.text, "BRUSSELS") == 0 && s.new_document == 1 && s.line == 13);
    CHECK(span_is(&s, 0, 0, 8, "LOC"));
    CHECK(attn_conll_next(r, &s, &err) == 0);
    CHECK(attn_conll_next(r, &s, &err) == 0);      /* end stays end */
    CHECK(attn_conll_n_labels(r) == 4);
    CHECK(strcmp(attn_conll_label(r, 2), "PER") == 0 && attn_conll_label(r, 4) == NULL);
    CHECK(attn_conll_label(r, -1) == NULL);
    CHECK(attn_conll_lines(r) == 13);
    attn_conll_close(r);
}

/* The chunk (NP/VP) column can be chosen instead of the NER column; the token column too. */
static void test_columns(void) {
    const char *buf = "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\ncall NN I-NP O\n";
    attn_conll_options o = {.tag_column = 3};
    attn_conll_reader *r;
    attn_conll_sentence s;
    attn_error err = {0};
    CHECK(read_all(&r, buf, &o, &s, &err) == 1);
    CHECK(s.n_spans == 3 && span_is(&s, 0, 0, 2, "NP") && span_is(&s, 1, 3, 10, "VP") &&
          span_is(&s, 2, 11, 22, "NP"));
    attn_conll_close(r);
    o = (attn_conll_options){.token_column = 2, .tag_column = 4};
    CHECK(read_all(&r, buf, &o, &s, &err) == 1);
    CHECK(strcmp(s.text, "NNP VBZ JJ NN") == 0 && span_is(&s, 0, 0, 3, "ORG"));
    attn_conll_close(r);
    /* the token column named explicitly must exist */
    o = (attn_conll_options){.token_column = 5};
    CHECK(read_all(&r, buf, &o, &s, &err) == -ATTN_EINVAL);
    CHECK(strcmp(err.msg, "line 1: expected at least 5 columns, found 4") == 0);
    attn_conll_close(r);
    o = (attn_conll_options){.token_column = 2, .tag_column = 2};
    CHECK(attn_conll_open_buffer(buf, strlen(buf), &o, &err) == NULL);
    CHECK(strstr(err.msg, "token and tag columns must differ") != NULL);
    o = (attn_conll_options){.tag_column = ATTN_CONLL_MAX_COLUMNS + 1};
    CHECK(attn_conll_open_buffer(buf, strlen(buf), &o, &err) == NULL);
    o = (attn_conll_options){.scheme = (attn_conll_scheme)9};
    CHECK(attn_conll_open_buffer(buf, strlen(buf), &o, &err) == NULL);
}

/* IOB1 (as the original eng.train) and IOB2 encode the same spans. */
static void test_iob1_equals_iob2(void) {
    const char *iob1 = "A I-PER\nB I-PER\nC B-PER\nD O\nE I-LOC\nF I-ORG\nG I-ORG\n";
    const char *iob2 = "A B-PER\nB I-PER\nC B-PER\nD O\nE B-LOC\nF B-ORG\nG I-ORG\n";
    attn_conll_reader *r1, *r2;
    attn_conll_sentence s1, s2;
    attn_error err = {0};
    attn_conll_options o1 = {.scheme = ATTN_CONLL_SCHEME_IOB1}, o2 = {.scheme = ATTN_CONLL_SCHEME_IOB2};
    CHECK(read_all(&r1, iob1, &o1, &s1, &err) == 1);
    CHECK(read_all(&r2, iob2, &o2, &s2, &err) == 1);
    /* "A B C D E F G": A B = PER [0,3), C = PER [4,5), E = LOC [8,9), F G = ORG [10,13) */
    CHECK(s1.n_spans == 4 && span_is(&s1, 0, 0, 3, "PER") && span_is(&s1, 1, 4, 5, "PER") &&
          span_is(&s1, 2, 8, 9, "LOC") && span_is(&s1, 3, 10, 13, "ORG"));
    CHECK(s2.n_spans == 4);
    for (size_t i = 0; i < 4 && i < s2.n_spans; i++)
        CHECK(s1.spans[i].start == s2.spans[i].start && s1.spans[i].end == s2.spans[i].end &&
              strcmp(s1.spans[i].label_name, s2.spans[i].label_name) == 0);
    CHECK(s1.n_repaired == 0 && s2.n_repaired == 0);
    attn_conll_close(r1);
    /* Read as IOB2, the IOB1 text breaks the scheme three times (I-PER at the start, I-LOC after O,
     * I-ORG after I-LOC: 3 repairs) but decodes to the same spans, as conlleval does. */
    attn_conll_close(r2);
    CHECK(read_all(&r2, iob1, &o2, &s2, &err) == 1);
    CHECK(s2.n_spans == 4 && s2.n_repaired == 3 && span_is(&s2, 3, 10, 13, "ORG"));
    attn_conll_close(r2);
    /* IOB1/IOB2 reject IOBES prefixes */
    CHECK(read_all(&r2, "A S-PER\n", &o2, &s2, &err) == -ATTN_EINVAL);
    CHECK(strcmp(err.msg, "line 1: invalid tag 'S-PER' (prefix not allowed in IOB1/IOB2)") == 0);
    attn_conll_close(r2);
}

static void test_iobes(void) {
    /* tokens a..h: S-PER | B-LOC E-LOC | O | S-PER S-PER | B-ORG I-ORG (no E: repaired) */
    const char *buf = "a S-PER\nb B-LOC\nc E-LOC\nd O\ne S-PER\nf U-PER\ng B-ORG\nh I-ORG\n";
    attn_conll_options o = {.scheme = ATTN_CONLL_SCHEME_IOBES};
    attn_conll_reader *r;
    attn_conll_sentence s;
    attn_error err = {0};
    CHECK(read_all(&r, buf, &o, &s, &err) == 1);
    /* text "a b c d e f g h" */
    CHECK(s.n_spans == 5 && span_is(&s, 0, 0, 1, "PER") && span_is(&s, 1, 2, 5, "LOC") &&
          span_is(&s, 2, 8, 9, "PER") && span_is(&s, 3, 10, 11, "PER") &&
          span_is(&s, 4, 12, 15, "ORG"));
    CHECK(s.n_repaired == 1);
    attn_conll_close(r);
    /* AUTO reads the same spans (L/U as E/S too) without counting repairs */
    CHECK(read_all(&r, "a B-X\nb L-X\nc E-X\n", NULL, &s, &err) == 1);
    /* b closes the chunk [a b]; E-X at c opens and closes a chunk of its own */
    CHECK(s.n_spans == 2 && span_is(&s, 0, 0, 3, "X") && span_is(&s, 1, 4, 5, "X"));
    CHECK(s.n_repaired == 0);
    attn_conll_close(r);
}

static void test_cjk_join(void) {
    attn_conll_reader *r;
    attn_conll_sentence s;
    attn_error err = {0};
    /* character-level (Resume NER): joined without separators, digits included */
    CHECK(read_all(&r, "高 B-NAME\n勇 I-NAME\n： O\n1 O\n9 O\n年 O\n", NULL, &s, &err) == 1);
    CHECK(strcmp(s.text, "高勇：19年") == 0 && s.n_chars == 6 && s.n_bytes == 14);
    CHECK(s.n_spans == 1 && span_is(&s, 0, 0, 2, "NAME") && substr_is(&s, 0, 2, "高勇"));
    CHECK(s.tokens[3].start == 3 && s.tokens[3].byte_start == 9);
    attn_conll_close(r);
    /* word-level with Latin words: a space except between two wide neighbours */
    const char *mixed = "北京 B-LOC\n是 O\nCapital O\nof O\n中国 B-LOC\n";
    CHECK(read_all(&r, mixed, NULL, &s, &err) == 1);
    CHECK(strcmp(s.text, "北京是 Capital of 中国") == 0);
    CHECK(s.n_spans == 2 && span_is(&s, 0, 0, 2, "LOC") && span_is(&s, 1, 15, 17, "LOC"));
    CHECK(substr_is(&s, 15, 17, "中国"));
    attn_conll_close(r);
    attn_conll_options o = {.join = ATTN_CONLL_JOIN_SPACE};
    CHECK(read_all(&r, mixed, &o, &s, &err) == 1);
    CHECK(strcmp(s.text, "北京 是 Capital of 中国") == 0 && span_is(&s, 1, 16, 18, "LOC"));
    attn_conll_close(r);
    o.join = ATTN_CONLL_JOIN_NONE;
    CHECK(read_all(&r, mixed, &o, &s, &err) == 1);
    CHECK(strcmp(s.text, "北京是Capitalof中国") == 0 && span_is(&s, 1, 12, 14, "LOC"));
    attn_conll_close(r);
    /* all one-character tokens but none wide: an English sentence keeps its spaces */
    CHECK(read_all(&r, "( O\n1 O\n) O\n", NULL, &s, &err) == 1);
    CHECK(strcmp(s.text, "( 1 )") == 0);
    attn_conll_close(r);
}

/* ATTN_CONLL_JOIN_DETOK: the text as people write it, entity offsets following it. */
static void test_detok_join(void) {
    attn_conll_reader *r;
    attn_conll_sentence s;
    attn_error err = {{0}};
    attn_conll_options o = {.join = ATTN_CONLL_JOIN_DETOK};
    const char *text = "\" O\nWe O\ndo O\nn't O\nsee O\nit O\n, O\n\" O\nthe O\n"
                       "Commission B-ORG\n's O\nspokesman O\ntold O\n( O\nReuters B-ORG\n) O\n"
                       "in O\nCanada B-LOC\n. O\n";
    CHECK(read_all(&r, text, &o, &s, &err) == 1);
    CHECK_MSG(strcmp(s.text, "\"We don't see it,\" the Commission's spokesman told (Reuters) in "
                             "Canada.") == 0, "%s", s.text);
    CHECK(s.n_spans == 3 && span_is(&s, 0, 23, 33, "ORG") && span_is(&s, 1, 52, 59, "ORG") &&
          span_is(&s, 2, 64, 70, "LOC"));
    CHECK(substr_is(&s, 64, 70, "Canada"));
    attn_conll_close(r);
    /* dollars, percentages, dashes, a plural possessive, a second quotation */
    text = "$ O\n5 O\nor O\n3 O\n% O\n-- O\nplayers O\n' O\nfees O\n: O\n\" O\nNo O\n! O\n\" O\n";
    CHECK(read_all(&r, text, &o, &s, &err) == 1);
    CHECK_MSG(strcmp(s.text, "$5 or 3% -- players' fees: \"No!\"") == 0, "%s", s.text);
    attn_conll_close(r);
    /* character-level Chinese stays unspaced */
    CHECK(read_all(&r, "北 B-LOC\n京 I-LOC\n。 O\n", &o, &s, &err) == 1);
    CHECK(strcmp(s.text, "北京。") == 0 && span_is(&s, 0, 0, 2, "LOC"));
    attn_conll_close(r);
}

/* Offsets count characters, not bytes. */
static void test_multibyte_offsets(void) {
    attn_conll_reader *r;
    attn_conll_sentence s;
    attn_error err = {0};
    CHECK(read_all(&r, "Zürich B-LOC\nist O\nschön O\nMüller B-PER\n😀 O\nOK B-ORG\n", NULL, &s,
                   &err) == 1);
    CHECK(strcmp(s.text, "Zürich ist schön Müller 😀 OK") == 0);
    CHECK(s.n_chars == 28 && s.n_bytes == 34);   /* ü ö ü: +1 byte each, 😀: +3 */
    CHECK(s.n_spans == 3 && span_is(&s, 0, 0, 6, "LOC") && span_is(&s, 1, 17, 23, "PER") &&
          span_is(&s, 2, 26, 28, "ORG"));
    CHECK(substr_is(&s, 17, 23, "Müller") && substr_is(&s, 26, 28, "OK"));
    attn_conll_close(r);
}

static void test_line_ends_and_blanks(void) {
    attn_conll_reader *r;
    attn_conll_sentence s;
    attn_error err = {0};
    /* CRLF, tabs and runs of spaces as separators, a whitespace-only line as a blank line,
     * several blank lines, no final newline */
    const char *buf = "\r\n\r\nA\tB-PER\r\nB  I-PER\r\n \t \r\n\r\nC O\r\nD\tB-LOC";
    r = attn_conll_open_buffer(buf, strlen(buf), NULL, &err);
    CHECK(attn_conll_next(r, &s, &err) == 1);
    CHECK(strcmp(s.text, "A B") == 0 && s.line == 3 && span_is(&s, 0, 0, 3, "PER"));
    CHECK(attn_conll_next(r, &s, &err) == 1);
    CHECK(strcmp(s.text, "C D") == 0 && s.line == 7 && span_is(&s, 0, 2, 3, "LOC"));
    CHECK(attn_conll_next(r, &s, &err) == 0);
    attn_conll_close(r);
    /* nothing at all, only blank lines, only a DOCSTART: no sentence */
    CHECK(read_all(&r, "", NULL, &s, &err) == 0);
    attn_conll_close(r);
    CHECK(read_all(&r, "\n\n  \n", NULL, &s, &err) == 0);
    attn_conll_close(r);
    CHECK(read_all(&r, "-DOCSTART- -X- O O\n\n", NULL, &s, &err) == 0);
    attn_conll_close(r);
    /* a DOCSTART right after a token ends the sentence */
    CHECK(read_all(&r, "A O\n-DOCSTART- O\nB O\n", NULL, &s, &err) == 2);
    CHECK(strcmp(s.text, "B") == 0 && s.new_document == 1 && s.n_spans == 0);
    attn_conll_close(r);
    /* a sentence may end inside an entity: it is closed at the sentence end */
    CHECK(read_all(&r, "A B-X\nB I-X\n\nC I-X\n", NULL, &s, &err) == 2);
    CHECK(span_is(&s, 0, 0, 1, "X"));
    attn_conll_close(r);
}

static void expect_error(const char *buf, const attn_conll_options *o, int code, const char *msg) {
    attn_conll_reader *r;
    attn_conll_sentence s;
    attn_error err = {0};
    int rc = read_all(&r, buf, o, &s, &err);
    CHECK_MSG(rc == -code, "rc %d for %s", rc, msg);
    CHECK_MSG(strcmp(err.msg, msg) == 0, "got '%s', want '%s'", err.msg, msg);
    /* sticky: the next call repeats it */
    attn_error again = {0};
    CHECK(attn_conll_next(r, &s, &again) == -code && strcmp(again.msg, msg) == 0);
    attn_conll_close(r);
}

static void test_errors(void) {
    expect_error("EU B-ORG\nrejects\n", NULL, ATTN_EINVAL, "line 2: expected at least 2 columns, found 1");
    expect_error("A O\nB B-\n", NULL, ATTN_EINVAL, "line 2: invalid tag 'B-' (empty type)");
    expect_error("A PER\n", NULL, ATTN_EINVAL, "line 1: invalid tag 'PER' (expected O or B-/I-/E-/S-TYPE)");
    expect_error("A X-PER\n", NULL, ATTN_EINVAL, "line 1: invalid tag 'X-PER' (expected O or B-/I-/E-/S-TYPE)");
    expect_error("A o\n", NULL, ATTN_EINVAL, "line 1: invalid tag 'o' (expected O or B-/I-/E-/S-TYPE)");
    expect_error("A O\n\nab\xff O\n", NULL, ATTN_EINVAL, "line 3: invalid UTF-8 at byte 3");
    expect_error("\xc0\x80 O\n", NULL, ATTN_EINVAL, "line 1: invalid UTF-8 at byte 1");       /* overlong NUL */
    expect_error("\xed\xa0\x80 O\n", NULL, ATTN_EINVAL, "line 1: invalid UTF-8 at byte 1");   /* surrogate */
    expect_error("\xe4\xb8 O\n", NULL, ATTN_EINVAL, "line 1: invalid UTF-8 at byte 1");       /* truncated */
    expect_error("A O\rB O\n", NULL, ATTN_EINVAL, "line 1: control character 0x0D at byte 4");
    expect_error("A \x7f\n", NULL, ATTN_EINVAL, "line 1: control character 0x7F at byte 3");
    {   /* an embedded NUL (buffer length given explicitly) */
        const char buf[] = "A O\nB\0 O\n";
        attn_error err = {0};
        attn_conll_sentence s;
        attn_conll_reader *r = attn_conll_open_buffer(buf, sizeof buf - 1, NULL, &err);
        CHECK(attn_conll_next(r, &s, &err) == -ATTN_EINVAL);
        CHECK(strcmp(err.msg, "line 2: control character 0x00 at byte 2") == 0);
        attn_conll_close(r);
    }
    {   /* the type may not exceed ATTN_MAX_LABEL_BYTES - 1 bytes */
        char buf[400] = "A B-";
        memset(buf + 4, 'T', ATTN_MAX_LABEL_BYTES);
        strcpy(buf + 4 + ATTN_MAX_LABEL_BYTES, "\n");
        expect_error(buf, NULL, ATTN_EINVAL, "line 1: invalid tag 'B-TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT' (type too long)");
    }
    {   /* more than ATTN_CONLL_MAX_COLUMNS columns */
        char buf[512] = "";
        for (int i = 0; i <= ATTN_CONLL_MAX_COLUMNS; i++) strcat(buf, "x ");
        strcat(buf, "\n");
        expect_error(buf, NULL, ATTN_ELIMIT, "line 1: more than 64 columns");
    }
}

static void test_long_lines(void) {
    /* exactly ATTN_CONLL_MAX_LINE_BYTES is fine (with CRLF too); one more is ELIMIT */
    size_t max = ATTN_CONLL_MAX_LINE_BYTES;
    char *buf = malloc(max + 16);
    memset(buf, 'a', max - 2);
    memcpy(buf + max - 2, " O\r\n", 5);
    attn_conll_reader *r;
    attn_conll_sentence s;
    attn_error err = {0};
    CHECK(read_all(&r, buf, NULL, &s, &err) == 1 && s.n_bytes == max - 2);
    attn_conll_close(r);
    memset(buf, 'a', max - 1);
    memcpy(buf + max - 1, " O\n", 4);
    expect_error(buf, NULL, ATTN_ELIMIT, "line 1: longer than 65536 bytes");
    free(buf);
}

static void test_too_many_tokens(void) {
    size_t n = ATTN_CONLL_MAX_TOKENS + 1;
    char *buf = malloc(4 * n + 1);
    for (size_t i = 0; i < n; i++) memcpy(buf + 4 * i, "a O\n", 4);
    buf[4 * n] = 0;
    expect_error(buf, NULL, ATTN_ELIMIT, "line 100001: sentence longer than 100000 tokens");
    buf[4 * (n - 1)] = 0;   /* exactly the limit: one sentence */
    attn_conll_reader *r;
    attn_conll_sentence s;
    attn_error err = {0};
    CHECK(read_all(&r, buf, NULL, &s, &err) == 1 && s.n_tokens == ATTN_CONLL_MAX_TOKENS);
    attn_conll_close(r);
    free(buf);
}

static void test_lenient_tags(void) {
    /* the one malformed line of zh_ner_resume/train.txt: "-NAME I-" inside a name */
    const char *buf = "上 B-NAME\n汹 I-NAME\n-NAME I-\n同 I-NAME\n";
    attn_conll_options o = {.lenient_tags = 1, .scheme = ATTN_CONLL_SCHEME_IOB2};
    attn_conll_reader *r;
    attn_conll_sentence s;
    attn_error err = {0};
    CHECK(read_all(&r, buf, &o, &s, &err) == 1);
    CHECK(s.n_bad_tags == 1 && s.n_repaired == 1);
    /* "-NAME" is 5 characters, so the sentence is not character-level: "上汹 -NAME 同" */
    CHECK(strcmp(s.text, "上汹 -NAME 同") == 0);
    CHECK(s.n_spans == 2 && span_is(&s, 0, 0, 2, "NAME") && span_is(&s, 1, 9, 10, "NAME"));
    attn_conll_close(r);
    expect_error(buf, NULL, ATTN_EINVAL, "line 3: invalid tag 'I-' (empty type)");
}

static void test_json(void) {
    attn_conll_reader *r;
    attn_conll_sentence s;
    attn_error err = {0};
    CHECK(read_all(&r, "EU B-ORG\nsaid O\nKa B-A\"B\\C\n", NULL, &s, &err) == 1);
    char *json = NULL;
    size_t n = 0;
    CHECK(attn_conll_entities_json(&s, &json, &n, &err) == ATTN_OK);
    const char *want = "[{\"start\":0,\"end\":2,\"label\":\"ORG\"},"
                       "{\"start\":8,\"end\":10,\"label\":\"A\\\"B\\\\C\"}]";
    CHECK_MSG(json && strcmp(json, want) == 0, "%s", json ? json : "(null)");
    CHECK(n == strlen(want));
    free(json);
    attn_conll_close(r);
    CHECK(read_all(&r, "a O\n", NULL, &s, &err) == 1);
    CHECK(attn_conll_entities_json(&s, &json, NULL, &err) == ATTN_OK && strcmp(json, "[]") == 0);
    free(json);
    attn_conll_close(r);
}

static FILE *open_fixture(const char *name, char *path, size_t cap) {
    const char *dirs[] = {"tests/fixtures/", "../tests/fixtures/", "../../tests/fixtures/"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, cap, "%s%s", dirs[i], name);
        FILE *f = fopen(path, "rb");
        if (f) return f;
    }
    return NULL;
}

static void test_file_mode(void) {
    char path[256];
    FILE *f = open_fixture("conlleval_iob1.txt", path, sizeof path);
    CHECK_MSG(f != NULL, "fixture tests/fixtures/conlleval_iob1.txt not found");
    if (!f) return;
    fclose(f);
    attn_error err = {0};
    attn_conll_options gold = {.tag_column = 2, .scheme = ATTN_CONLL_SCHEME_IOB1};
    attn_conll_reader *r = attn_conll_open(path, &gold, &err);
    attn_conll_sentence s;
    CHECK(r != NULL);
    CHECK(attn_conll_next(r, &s, &err) == 1 && s.new_document == 1);
    CHECK(strcmp(s.text, "U.N. official Ekeus heads for Baghdad .") == 0);
    CHECK(s.n_spans == 3 && span_is(&s, 0, 0, 4, "ORG") && span_is(&s, 2, 30, 37, "LOC"));
    CHECK(attn_conll_next(r, &s, &err) == 1);
    /* John Smith | Mary Jones: the IOB1 B- separates two adjacent PER entities */
    CHECK(s.n_spans == 4 && span_is(&s, 1, 20, 30, "PER") && span_is(&s, 2, 31, 41, "PER"));
    CHECK(substr_is(&s, 31, 41, "Mary Jones"));
    CHECK(attn_conll_next(r, &s, &err) == 1 && span_is(&s, 0, 4, 23, "ORG"));
    CHECK(attn_conll_next(r, &s, &err) == 0);
    attn_conll_close(r);
    CHECK(attn_conll_open("/nonexistent/x.txt", NULL, &err) == NULL);
    CHECK(strcmp(err.msg, "conll: cannot open '/nonexistent/x.txt'") == 0);
}

/* A line longer than the limit in a file (read in blocks) is ELIMIT with its line number. */
static void test_file_long_line(void) {
    char path[] = "/tmp/attn_conll_test_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    FILE *f = fdopen(fd, "wb");
    fputs("A B-PER\n\n", f);
    for (int i = 0; i < 3 * ATTN_CONLL_MAX_LINE_BYTES; i++) fputc('x', f);
    fputs(" O\nB O\n", f);
    fclose(f);
    attn_error err = {0};
    attn_conll_sentence s;
    attn_conll_reader *r = attn_conll_open(path, NULL, &err);
    CHECK(attn_conll_next(r, &s, &err) == 1 && span_is(&s, 0, 0, 1, "PER"));
    CHECK(attn_conll_next(r, &s, &err) == -ATTN_ELIMIT);
    CHECK(strcmp(err.msg, "line 3: longer than 65536 bytes") == 0);
    attn_conll_close(r);
    remove(path);
}

/* Only regular files are read: /dev/zero (endless), a FIFO without a writer (its open would
 * block) and a directory are refused at once; a file without a line end (a sparse file of
 * gigabytes) stops at the line limit, without reading on. */
static void test_not_regular(void) {
    attn_error err = {0};
    CHECK(attn_conll_open("/dev/zero", NULL, &err) == NULL);
    CHECK(strcmp(err.msg, "conll: '/dev/zero' is not a regular file") == 0);
    CHECK(attn_conll_open("/tmp", NULL, &err) == NULL);
    CHECK(strcmp(err.msg, "conll: '/tmp' is not a regular file") == 0);
    char dir[] = "/tmp/attn_conll_fifo_XXXXXX", fifo[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(fifo, sizeof fifo, "%s/f", dir);
    CHECK(mkfifo(fifo, 0600) == 0);
    CHECK(attn_conll_open(fifo, NULL, &err) == NULL);
    CHECK(strstr(err.msg, "is not a regular file") != NULL);
    remove(fifo);
    rmdir(dir);

    char path[] = "/tmp/attn_conll_sparse_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)1 << 31) == 0);   /* 2 GiB of NUL, no line end */
    close(fd);
    attn_conll_sentence s;
    clock_t t0 = clock();
    attn_conll_reader *r = attn_conll_open(path, NULL, &err);
    CHECK(r != NULL && attn_conll_next(r, &s, &err) == -ATTN_ELIMIT);
    CHECK(strcmp(err.msg, "line 1: longer than 65536 bytes") == 0);
    CHECK((double)(clock() - t0) / CLOCKS_PER_SEC < 0.5);     /* reading it all takes seconds */
    attn_conll_close(r);
    remove(path);
}

/* Random and mutated inputs: never a crash, and every sentence returned is consistent. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return rng_state;
}

static int sentence_consistent(const attn_conll_sentence *s) {
    if (s->n_tokens == 0 || strlen(s->text) != s->n_bytes) return 0;
    for (size_t i = 0; i < s->n_tokens; i++)
        if (s->tokens[i].start >= s->tokens[i].end || s->tokens[i].end > s->n_chars ||
            (i && s->tokens[i].start < s->tokens[i - 1].end))
            return 0;
    for (size_t i = 0; i < s->n_spans; i++)
        if (s->spans[i].start >= s->spans[i].end || s->spans[i].end > s->n_chars ||
            (i && s->spans[i].start < s->spans[i - 1].end) || !s->spans[i].label_name)
            return 0;
    return 1;
}

/* Mostly well-formed lines (token, separator, tag, line end); one part in ten is damaged. */
static const char *fuzz_part(const char *const *good, size_t n_good, const char *const *bad,
                             size_t n_bad) {
    return rng() % 10 ? good[rng() % n_good] : bad[rng() % n_bad];
}
#define FUZZ_PART(g, b) fuzz_part(g, sizeof g / sizeof *g, b, sizeof b / sizeof *b)

static size_t fuzz_input(char *buf, size_t cap) {
    static const char *const tok[] = {"A", "高", "é", "--", "B-A"};
    static const char *const tok_bad[] = {"-DOCSTART-", "\xff", "x y", "", "\xed\xa0\x80"};
    static const char *const sep[] = {" ", "\t", "  "};
    static const char *const sep_bad[] = {"", " x ", "\x7f"};
    static const char *const tag[] = {"O", "O", "B-PER", "I-PER", "E-LOC", "S-X", "U-X", "L-Y",
                                      "B-A-B", "I-LOC"};
    static const char *const tag_bad[] = {"B-", "I-", "X", "\xe4\xb8", "", "O O"};
    static const char *const end[] = {"\n", "\n", "\n", "\r\n", "\n\n"};
    static const char *const end_bad[] = {"\r", "", "\n \n"};
    size_t n = 0;
    int lines = (int)(rng() % 30);
    for (int l = 0; l < lines; l++) {
        const char *part[4] = {FUZZ_PART(tok, tok_bad), FUZZ_PART(sep, sep_bad),
                               FUZZ_PART(tag, tag_bad), FUZZ_PART(end, end_bad)};
        for (int p = 0; p < 4; p++) {
            size_t k = strlen(part[p]);
            if (n + k + 1 >= cap) return n;
            memcpy(buf + n, part[p], k), n += k;
        }
        if (rng() % 100 == 0) buf[n++] = (char)(rng() % 256);   /* any byte, NUL included */
    }
    return n;
}

static void test_fuzz(void) {
    int bad = 0, sentences = 0, errors = 0;
    for (int iter = 0; iter < 5000; iter++) {
        char buf[1024];
        size_t n = fuzz_input(buf, sizeof buf);
        attn_conll_options o = {.scheme = (attn_conll_scheme)(rng() % 4),
                                .join = (attn_conll_join)(rng() % 3),
                                .lenient_tags = (int)(rng() % 2)};
        attn_error err = {0};
        attn_conll_reader *r = attn_conll_open_buffer(buf, n, &o, &err);
        attn_conll_sentence s;
        int rc;
        while ((rc = attn_conll_next(r, &s, &err)) == 1) {
            sentences++;
            bad += !sentence_consistent(&s);
        }
        errors += rc < 0;
        bad += rc < 0 && strncmp(err.msg, "line ", 5) != 0;
        attn_conll_close(r);
    }
    CHECK(bad == 0);
    CHECK_MSG(sentences > 1000 && errors > 1000, "%d sentences, %d errors", sentences, errors);
}

int main(void) {
    test_conll2003_format();
    test_columns();
    test_iob1_equals_iob2();
    test_iobes();
    test_cjk_join();
    test_detok_join();
    test_multibyte_offsets();
    test_line_ends_and_blanks();
    test_errors();
    test_long_lines();
    test_too_many_tokens();
    test_lenient_tags();
    test_json();
    test_file_mode();
    test_file_long_line();
    test_not_regular();
    test_fuzz();
    return CHECK_DONE();
}
