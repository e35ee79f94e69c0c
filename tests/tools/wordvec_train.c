/* wordvec_train: trains subword word vectors on UTF-8 text files (one document a line).
 *
 *   wordvec_train OUT.bin FILE... [--dim 100] [--epochs 5] [--buckets 2000000] [--threads 2]
 *                 [--min-count 3] [--minn 3] [--maxn 6] [--window 5] [--neg 5] [--lr 0.05]
 *                 [--subsample 1e-4] [--seed 1] [--quiet]
 *
 * Writes the table to OUT.bin (wordvec.h format) and the vocabulary ("norm\tcount", words seen
 * >= min-count times, most frequent first) to OUT.bin.vocab, for wordvec_nn. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wordvec.h"

static void usage(void) {
    fprintf(stderr, "usage: wordvec_train OUT.bin FILE... [--dim N] [--epochs N] [--buckets N] "
                    "[--threads N] [--min-count N] [--minn N] [--maxn N] [--window N] [--neg N] "
                    "[--lr F] [--subsample F] [--seed N] [--quiet]\n");
    exit(2);
}

/* Parses --name VALUE options into p; returns 1 if argv[*i] was an option. */
static int parse_option(int argc, char **argv, int *i, attn_wordvec_params *p) {
    const char *name = argv[*i];
    if (strcmp(name, "--quiet") == 0) { p->verbose = 0; return 1; }
    if (strncmp(name, "--", 2) != 0) return 0;
    if (*i + 1 >= argc) usage();
    const char *v = argv[++*i];
    if (strcmp(name, "--dim") == 0) p->dim = (uint32_t)strtoul(v, NULL, 10);
    else if (strcmp(name, "--epochs") == 0) p->epochs = atoi(v);
    else if (strcmp(name, "--buckets") == 0) p->n_buckets = (uint32_t)strtoul(v, NULL, 10);
    else if (strcmp(name, "--threads") == 0) p->threads = atoi(v);
    else if (strcmp(name, "--min-count") == 0) p->min_count = strtoull(v, NULL, 10);
    else if (strcmp(name, "--minn") == 0) p->min_n = atoi(v);
    else if (strcmp(name, "--maxn") == 0) p->max_n = atoi(v);
    else if (strcmp(name, "--window") == 0) p->window = atoi(v);
    else if (strcmp(name, "--neg") == 0) p->negatives = atoi(v);
    else if (strcmp(name, "--lr") == 0) p->lr = strtof(v, NULL);
    else if (strcmp(name, "--subsample") == 0) p->subsample = strtod(v, NULL);
    else if (strcmp(name, "--seed") == 0) p->seed = strtoull(v, NULL, 10);
    else usage();
    return 1;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    attn_wordvec_params p;
    attn_wordvec_default_params(&p);
    p.verbose = 1;
    const char *out = NULL;
    const char *files[1024];
    int n_files = 0;
    for (int i = 1; i < argc; i++) {
        if (parse_option(argc, argv, &i, &p)) continue;
        if (!out) out = argv[i];
        else if (n_files < 1024) files[n_files++] = argv[i];
        else usage();
    }
    if (!out || n_files == 0) usage();

    attn_error err = {{0}};
    int rc = attn_wordvec_check_params(&p, &err);
    if (rc != ATTN_OK) { fprintf(stderr, "wordvec_train: %s\n", err.msg); return 1; }
    double t0 = now();
    attn_wordvec_corpus *c = attn_wordvec_corpus_new();
    if (!c) { fprintf(stderr, "wordvec_train: out of memory\n"); return 1; }
    for (int f = 0; f < n_files && rc == ATTN_OK; f++) rc = attn_wordvec_corpus_add_file(c, files[f], &err);
    double t1 = now();
    if (rc == ATTN_OK)
        fprintf(stderr, "read %llu tokens, %llu distinct norms in %.1f s\n",
                (unsigned long long)attn_wordvec_corpus_tokens(c),
                (unsigned long long)attn_wordvec_corpus_types(c), t1 - t0);
    attn_wordvec wv = {0};
    attn_wordvec_stats s;
    if (rc == ATTN_OK) rc = attn_wordvec_train(c, &p, &wv, &s, &err);
    char vocab_path[4096];
    snprintf(vocab_path, sizeof vocab_path, "%s.vocab", out);
    if (rc == ATTN_OK) rc = attn_wordvec_save(&wv, out, &err);
    if (rc == ATTN_OK) rc = attn_wordvec_corpus_write_vocab(c, vocab_path, p.min_count, &err);
    attn_wordvec_corpus_free(c);
    attn_wordvec_free(&wv);
    if (rc != ATTN_OK) { fprintf(stderr, "wordvec_train: %s\n", err.msg); return 1; }
    printf("vocab %llu words (min count %llu), %llu training tokens/epoch\n",
           (unsigned long long)s.vocab_words, (unsigned long long)p.min_count,
           (unsigned long long)s.train_tokens);
    printf("trained %d epochs, dim %u, buckets %u, %d threads: %.1f s, %.0f words/s, final loss %.4f\n",
           p.epochs, p.dim, p.n_buckets, p.threads, s.seconds, s.words_per_second, s.final_loss);
    printf("total wall time %.1f s; wrote %s and %s\n", now() - t0, out, vocab_path);
    return 0;
}
