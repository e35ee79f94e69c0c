/* test_data.c: checks on the public datasets in ../shared/data (or $ATTN_DATA).
 *
 * - the CoNLL reader finds exactly the sentence and entity counts the datasets' READMEs give;
 * - our tokenizer, run on the reader's text, puts a token boundary at both ends of (nearly)
 *   every gold entity, in English (CoNLL-2003) and Chinese (MSRA): the tagger can only find
 *   entities whose edges are token edges. The same holds for CoNLL-2003 joined as people
 *   write it (ATTN_CONLL_JOIN_DETOK, detok.h: "Canada.", "(Reuters)"), the text the built-in
 *   models train on.
 * Without the data directory every check here is named as not run, and the test passes. */
#include "check.h"
#include "conll.h"
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct data_file {
    const char *path;            /* under the data directory */
    long sentences, entities;    /* from the dataset's README */
    double min_aligned;          /* lowest acceptable share of token-aligned entities */
    attn_conll_join join;
} data_file;

static const data_file FILES[] = {
    {"conll2003/train.txt", 14041, 23499, 0.995, ATTN_CONLL_JOIN_AUTO},
    {"conll2003/dev.txt", 3250, 5942, 0.995, ATTN_CONLL_JOIN_AUTO},
    {"conll2003/test.txt", 3453, 5648, 0.995, ATTN_CONLL_JOIN_AUTO},
    {"zh_ner_msra/test.txt", 3442, 6190, 0.999, ATTN_CONLL_JOIN_AUTO},
    {"conll2003/train.txt", 14041, 23499, 0.995, ATTN_CONLL_JOIN_DETOK},
    {"conll2003/dev.txt", 3250, 5942, 0.995, ATTN_CONLL_JOIN_DETOK},
    {"conll2003/test.txt", 3453, 5648, 0.995, ATTN_CONLL_JOIN_DETOK},
};

/* 1 if some token starts at `start` (when want_start) or ends at `end`. */
static int is_boundary(const attn_tokens *t, int64_t pos, int want_start) {
    for (size_t i = 0; i < t->n; i++)
        if ((want_start ? t->tok[i].start : t->tok[i].end) == pos) return 1;
    return 0;
}

static void check_file(const char *dir, const data_file *f) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, f->path);
    attn_error err = {{0}};
    attn_conll_options opt = {.join = f->join};
    attn_conll_reader *r = attn_conll_open(path, &opt, &err);
    CHECK_MSG(r != NULL, "%s: %s", path, err.msg);
    if (!r) return;
    attn_tokens toks = {0};
    attn_conll_sentence s;
    long n_sent = 0, n_ent = 0, n_aligned = 0, n_shown = 0;
    int rc;
    while ((rc = attn_conll_next(r, &s, &err)) == 1) {
        n_sent++;
        if (attn_tokenize(s.text, s.n_bytes, &toks, &err) != ATTN_OK) break;
        for (size_t i = 0; i < s.n_spans; i++, n_ent++) {
            const int aligned = is_boundary(&toks, s.spans[i].start, 1) &&
                                is_boundary(&toks, s.spans[i].end, 0);
            n_aligned += aligned;
            if (!aligned && getenv("ATTN_SHOW_MISALIGNED") && n_shown++ < 20)
                printf("  misaligned [%lld, %lld) in: %s\n", (long long)s.spans[i].start,
                       (long long)s.spans[i].end, s.text);
        }
    }
    CHECK_MSG(rc == 0, "%s: %s", path, err.msg);
    CHECK_MSG(n_sent == f->sentences, "%s: %ld sentences, README says %ld", f->path, n_sent,
              f->sentences);
    CHECK_MSG(n_ent == f->entities, "%s: %ld entities, README says %ld", f->path, n_ent,
              f->entities);
    double aligned = n_ent ? (double)n_aligned / (double)n_ent : 0;
    printf("%s%s: %ld sentences, %ld entities, %.3f%% with token boundaries at both ends\n",
           f->path, f->join == ATTN_CONLL_JOIN_DETOK ? " (detokenised)" : "", n_sent, n_ent,
           100 * aligned);
    CHECK_MSG(aligned >= f->min_aligned, "%s: only %.4f of entities are token-aligned",
              f->path, aligned);
    attn_tokens_free(&toks);
    attn_conll_close(r);
}

int main(void) {
    const char *dir = getenv("ATTN_DATA");
    if (!dir || !*dir) dir = "../shared/data";
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("dataset checks NOT RUN (no data directory at %s; set ATTN_DATA):\n", dir);
        for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++)
            printf("  not run: reader counts and tokenizer alignment on %s%s\n", FILES[i].path,
                   FILES[i].join == ATTN_CONLL_JOIN_DETOK ? " (detokenised)" : "");
        return CHECK_DONE();
    }
    for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++) check_file(dir, &FILES[i]);
    return CHECK_DONE();
}
