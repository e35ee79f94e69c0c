/* wordvec_nn: nearest neighbours by cosine, for a sanity look at trained word vectors.
 *
 *   wordvec_nn MODEL.bin VOCAB WORD... [--k 10] [--max-vocab N]
 *
 * VOCAB is a file of lines "word[\tanything]" (attn_wordvec_train's option vocab writes one);
 * its first max-vocab words (all by default) are the candidates. Each WORD, seen or not, gets
 * its vector from its subword rows (wordvec.h), so misspelt words work too. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wordvec.h"

typedef struct candidates {
    char **words;
    float *vecs;      /* [n, dim], unit length (or zero) */
    size_t n;
} candidates;

static void normalise(float *v, uint32_t dim) {
    double s = 0.0;
    for (uint32_t i = 0; i < dim; i++) s += (double)v[i] * v[i];
    if (s <= 0.0) return;
    float inv = (float)(1.0 / sqrt(s));
    for (uint32_t i = 0; i < dim; i++) v[i] *= inv;
}

static int read_vocab(const char *path, size_t max_words, const attn_wordvec *wv, candidates *c) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "wordvec_nn: cannot open %s\n", path); return -1; }
    size_t words_cap = 0, vecs_cap = 0;
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    while (c->n < max_words && (len = getline(&line, &line_cap, f)) > 0) {
        size_t word_len = strcspn(line, "\t\n");
        if (word_len == 0) continue;
        if (attn_grow((void **)&c->words, &words_cap, c->n + 1, sizeof *c->words) ||
            attn_grow((void **)&c->vecs, &vecs_cap, (c->n + 1) * wv->dim, sizeof *c->vecs)) {
            fprintf(stderr, "wordvec_nn: out of memory\n");
            exit(1);
        }
        c->words[c->n] = strndup(line, word_len);
        float *v = c->vecs + c->n * wv->dim;
        attn_wordvec_token_vector(wv, line, word_len, v);
        normalise(v, wv->dim);
        c->n++;
    }
    free(line);
    fclose(f);
    return 0;
}

typedef struct hit { float cos; size_t index; } hit;

/* Keeps best[0..k) sorted by decreasing cosine. */
static void offer(hit *best, int k, int *n_best, float cos, size_t index) {
    if (*n_best == k && cos <= best[k - 1].cos) return;
    int i = *n_best < k ? (*n_best)++ : k - 1;
    while (i > 0 && best[i - 1].cos < cos) { best[i] = best[i - 1]; i--; }
    best[i] = (hit){cos, index};
}

static void print_neighbours(const attn_wordvec *wv, const candidates *c, const char *word, int k) {
    float *q = malloc(wv->dim * sizeof *q);
    hit *best = malloc((size_t)k * sizeof *best);
    if (!q || !best) { fprintf(stderr, "wordvec_nn: out of memory\n"); exit(1); }
    attn_wordvec_token_vector(wv, word, strlen(word), q);
    normalise(q, wv->dim);
    int n_best = 0, in_vocab = 0;
    for (size_t i = 0; i < c->n; i++) {
        float dot = 0.0f;
        const float *v = c->vecs + i * wv->dim;
        for (uint32_t d = 0; d < wv->dim; d++) dot += q[d] * v[d];
        if (dot > 0.99999f) { in_vocab = 1; continue; }   /* the word itself */
        offer(best, k, &n_best, dot, i);
    }
    printf("%s%s:", word, in_vocab ? "" : " (not in vocab)");
    for (int i = 0; i < n_best; i++) printf(" %s %.3f%s", c->words[best[i].index], (double)best[i].cos,
                                            i + 1 < n_best ? "," : "");
    printf("\n");
    free(q);
    free(best);
}

int main(int argc, char **argv) {
    int k = 10;
    size_t max_vocab = (size_t)-1;
    const char *pos[1024];
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--k") == 0 && i + 1 < argc) k = atoi(argv[++i]);
        else if (strcmp(argv[i], "--max-vocab") == 0 && i + 1 < argc) max_vocab = strtoull(argv[++i], NULL, 10);
        else if (n_pos < 1024) pos[n_pos++] = argv[i];
    }
    if (n_pos < 3 || k < 1) {
        fprintf(stderr, "usage: wordvec_nn MODEL.bin VOCAB WORD... [--k 10] [--max-vocab N]\n");
        return 2;
    }
    attn_error err = {{0}};
    attn_wordvec wv;
    if (attn_wordvec_load(pos[0], &wv, &err) != ATTN_OK) { fprintf(stderr, "wordvec_nn: %s\n", err.msg); return 1; }
    candidates c = {0};
    if (read_vocab(pos[1], max_vocab, &wv, &c) != 0) return 1;
    for (int i = 2; i < n_pos; i++) print_neighbours(&wv, &c, pos[i], k);
    for (size_t i = 0; i < c.n; i++) free(c.words[i]);
    free(c.words);
    free(c.vecs);
    attn_wordvec_free(&wv);
    return 0;
}
