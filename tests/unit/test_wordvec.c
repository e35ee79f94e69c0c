/* test_wordvec.c: the corpus (counts, vocabulary file), parameter checks, training on a
 * synthetic two-topic corpus (words sharing contexts end up closer), single-thread
 * determinism, the token vector, and the file format with every validation error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "subword.h"
#include "wordvec.h"

#define WORDS_PER_TOPIC 12
#define WORD_LEN 6

static char tmp_path[256];

static const char *temp_file(const char *name) {
    snprintf(tmp_path, sizeof tmp_path, "/tmp/test_wordvec_%d_%s", (int)getpid(), name);
    return tmp_path;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    fwrite(data, 1, n, f);
    fclose(f);
}

static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    *n = fread(buf, 1, (size_t)size, f);
    buf[*n] = 0;
    fclose(f);
    return buf;
}

/* ---- synthetic corpus: two topics of random lower-case words; each line uses one topic ---- */

static uint64_t lcg(uint64_t *s) { *s = *s * 6364136223846793005ull + 1442695040888963407ull; return *s >> 33; }

static char topic_words[2][WORDS_PER_TOPIC][WORD_LEN + 1];

static void make_topic_words(void) {
    uint64_t s = 12345;
    for (int t = 0; t < 2; t++)
        for (int w = 0; w < WORDS_PER_TOPIC; w++) {
            for (int i = 0; i < WORD_LEN; i++) topic_words[t][w][i] = (char)('a' + lcg(&s) % 26);
            topic_words[t][w][WORD_LEN] = 0;
        }
}

static char *make_topic_corpus(size_t n_lines, size_t words_per_line) {
    uint64_t s = 54321;
    char *text = malloc(n_lines * words_per_line * (WORD_LEN + 1) + 1), *p = text;
    for (size_t l = 0; l < n_lines; l++) {
        int t = (int)(l % 2);
        for (size_t i = 0; i < words_per_line; i++) {
            memcpy(p, topic_words[t][lcg(&s) % WORDS_PER_TOPIC], WORD_LEN);
            p += WORD_LEN;
            *p++ = i + 1 < words_per_line ? ' ' : '\n';
        }
    }
    *p = 0;
    return text;
}

static double cosine(const float *a, const float *b, uint32_t dim) {
    double ab = 0, aa = 0, bb = 0;
    for (uint32_t i = 0; i < dim; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
    return ab / sqrt(aa * bb + 1e-30);
}

/* Mean cosine within topics and across, and how many words have a nearest neighbour of
 * their own topic. */
static void topic_scores(const attn_wordvec *wv, double *within, double *across, int *nn_same) {
    enum { N = 2 * WORDS_PER_TOPIC };
    float vec[N][64];
    for (int i = 0; i < N; i++)
        attn_wordvec_token_vector(wv, topic_words[i / WORDS_PER_TOPIC][i % WORDS_PER_TOPIC], WORD_LEN, vec[i]);
    double sw = 0, sa = 0;
    int nw = 0, na = 0;
    *nn_same = 0;
    for (int i = 0; i < N; i++) {
        double best = -2;
        int best_j = -1;
        for (int j = 0; j < N; j++) {
            if (j == i) continue;
            double c = cosine(vec[i], vec[j], wv->dim);
            int same = i / WORDS_PER_TOPIC == j / WORDS_PER_TOPIC;
            if (same) { sw += c; nw++; } else { sa += c; na++; }
            if (c > best) { best = c; best_j = j; }
        }
        if (best_j / WORDS_PER_TOPIC == i / WORDS_PER_TOPIC) (*nn_same)++;
    }
    *within = sw / nw;
    *across = sa / na;
}

/* A stop callback: counts the questions, says stop at the second. */
static int count_and_stop_at_2(void *user) {
    return ++*(int *)user == 2;
}

static void small_params(attn_wordvec_params *p) {
    attn_wordvec_default_params(p);
    p->dim = 16;
    p->n_buckets = 4096;
    p->epochs = 3;
    p->threads = 1;
    p->min_count = 1;
    p->subsample = 0.0;
    p->window = 3;
}

static void test_topics(void) {
    char *text = make_topic_corpus(2000, 12);
    attn_wordvec_corpus *c = attn_wordvec_corpus_new(ATTN_WORDVEC_WORDS);
    attn_error err = {{0}};
    CHECK(attn_wordvec_corpus_add_text(c, text, strlen(text), &err) == ATTN_OK);
    CHECK(attn_wordvec_corpus_tokens(c) == 2000 * 12);
    CHECK(attn_wordvec_corpus_types(c) == 2 * WORDS_PER_TOPIC);

    attn_wordvec_params p;
    small_params(&p);
    attn_wordvec wv, again, other_seed, threaded;
    attn_wordvec_stats s;
    CHECK(attn_wordvec_train(c, &p, &wv, &s, &err) == ATTN_OK);
    CHECK(s.corpus_tokens == 24000 && s.vocab_words == 24 && s.train_tokens == 24000);
    CHECK(s.processed == 3 * 24000);
    CHECK(s.final_loss > 0.0 && s.final_loss < 0.69);   /* better than chance (log 2) */
    CHECK(wv.n_buckets == 4096 && wv.dim == 16 && wv.min_n == 3 && wv.max_n == 6);

    double within, across;
    int nn_same;
    topic_scores(&wv, &within, &across, &nn_same);
    CHECK_MSG(within > across + 0.3, "within %.3f across %.3f", within, across);
    CHECK_MSG(nn_same == 2 * WORDS_PER_TOPIC, "%d words have a nearest neighbour of their topic", nn_same);

    /* one thread: the same bits every run; another seed: other bits */
    CHECK(attn_wordvec_train(c, &p, &again, NULL, &err) == ATTN_OK);
    CHECK(memcmp(wv.table, again.table, (size_t)wv.n_buckets * wv.dim * sizeof(float)) == 0);
    p.seed = 2;
    CHECK(attn_wordvec_train(c, &p, &other_seed, NULL, &err) == ATTN_OK);
    CHECK(memcmp(wv.table, other_seed.table, (size_t)wv.n_buckets * wv.dim * sizeof(float)) != 0);

    /* two threads (Hogwild): not bit-reproducible, but learns the same structure */
    p.threads = 2;
    CHECK(attn_wordvec_train(c, &p, &threaded, &s, &err) == ATTN_OK);
    CHECK(s.processed == 3 * 24000);
    topic_scores(&threaded, &within, &across, &nn_same);
    CHECK_MSG(within > across + 0.3, "2 threads: within %.3f across %.3f", within, across);
    CHECK(nn_same == 2 * WORDS_PER_TOPIC);

    attn_wordvec_free(&wv);
    attn_wordvec_free(&again);
    attn_wordvec_free(&other_seed);
    attn_wordvec_free(&threaded);
    attn_wordvec_corpus_free(c);
    free(text);
}

/* Control for test_topics: a random table has no topic structure, so the check can fail. */
static void test_untrained_has_no_topics(void) {
    attn_wordvec wv = {4096, 16, 3, 6, malloc(4096 * 16 * sizeof(float)), ATTN_WORDVEC_WORDS};
    uint64_t s = 99;
    for (size_t i = 0; i < 4096 * 16; i++) wv.table[i] = (float)(lcg(&s) % 2001) / 1000.0f - 1.0f;
    double within, across;
    int nn_same;
    topic_scores(&wv, &within, &across, &nn_same);
    CHECK_MSG(!(within > across + 0.3), "random: within %.3f across %.3f", within, across);
    CHECK(nn_same < 2 * WORDS_PER_TOPIC);
    attn_wordvec_free(&wv);
}

static void test_corpus_counts_and_vocab(void) {
    attn_wordvec_corpus *c = attn_wordvec_corpus_new(ATTN_WORDVEC_WORDS);
    attn_error err = {{0}};
    const char *text = "Paris 1996 , Paris .\n\n  \nPARIS in 2003 ,\r\nparis";
    CHECK(attn_wordvec_corpus_add_text(c, text, strlen(text), &err) == ATTN_OK);
    CHECK(attn_wordvec_corpus_tokens(c) == 10);
    CHECK(attn_wordvec_corpus_types(c) == 5);   /* paris 0000 , . in */
    CHECK(attn_wordvec_corpus_count(c, "paris", 5) == 4);
    CHECK(attn_wordvec_corpus_count(c, "1234", 4) == 2);
    CHECK(attn_wordvec_corpus_count(c, ",", 1) == 2);
    CHECK(attn_wordvec_corpus_count(c, "london", 6) == 0);

    const char *path = temp_file("vocab");
    CHECK(attn_wordvec_corpus_write_vocab(c, path, 2, &err) == ATTN_OK);
    size_t n;
    char *got = read_all(path, &n);
    CHECK(got && strcmp(got, "paris\t4\n0000\t2\n,\t2\n") == 0);
    free(got);
    unlink(path);
    CHECK(attn_wordvec_corpus_write_vocab(c, "/nonexistent/dir/vocab", 1, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "cannot write /nonexistent/dir/vocab") == 0);

    /* the same text from a file */
    path = temp_file("corpus.txt");
    write_bytes(path, text, strlen(text));
    attn_wordvec_corpus *f = attn_wordvec_corpus_new(ATTN_WORDVEC_WORDS);
    CHECK(attn_wordvec_corpus_add_file(f, path, NULL, NULL, &err) == ATTN_OK);
    CHECK(attn_wordvec_corpus_tokens(f) == 10 && attn_wordvec_corpus_count(f, "Paris", 5) == 4);
    unlink(path);
    CHECK(attn_wordvec_corpus_add_file(f, "/nonexistent/corpus.txt", NULL, NULL, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "cannot open '/nonexistent/corpus.txt'") == 0);
    attn_wordvec_corpus_free(f);

    /* a stop callback is asked every ATTN_WORDVEC_STOP_LINES lines */
    path = temp_file("lines.txt");
    FILE *lines = fopen(path, "w");
    for (int i = 0; i < 3 * ATTN_WORDVEC_STOP_LINES; i++) fprintf(lines, "line %d\n", i);
    fclose(lines);
    int asked = 0;
    f = attn_wordvec_corpus_new(ATTN_WORDVEC_WORDS);
    CHECK(attn_wordvec_corpus_add_file(f, path, count_and_stop_at_2, &asked, &err) == ATTN_ESTOPPED);
    CHECK(asked == 2 && attn_wordvec_corpus_tokens(f) == 2 * 2 * ATTN_WORDVEC_STOP_LINES);
    CHECK(strstr(err.msg, "stopped while reading") != NULL);
    attn_wordvec_corpus_free(f);
    unlink(path);

    /* min_count prunes: nothing seen 5 times -> no vocabulary */
    attn_wordvec_params p;
    small_params(&p);
    p.min_count = 5;
    attn_wordvec wv;
    CHECK(attn_wordvec_train(c, &p, &wv, NULL, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "wordvec corpus has no word seen min_count (5) times") == 0);
    CHECK(wv.table == NULL);
    /* min_count 4: a one-word vocabulary trains (no negatives can be drawn) */
    p.min_count = 4;
    attn_wordvec_stats s;
    CHECK(attn_wordvec_train(c, &p, &wv, &s, &err) == ATTN_OK);
    CHECK(s.vocab_words == 1 && s.train_tokens == 4);
    attn_wordvec_free(&wv);
    attn_wordvec_corpus_free(c);

    attn_wordvec_corpus *empty = attn_wordvec_corpus_new(ATTN_WORDVEC_WORDS);
    p.min_count = 1;
    CHECK(attn_wordvec_train(empty, &p, &wv, NULL, &err) == ATTN_EINVAL);
    CHECK(attn_wordvec_corpus_count(empty, "x", 1) == 0);
    attn_wordvec_corpus_free(empty);
}

/* A corpus of bigrams: the units of a line are its consecutive pairs of norms, back to back;
 * a one-token line has none; the vectors trained on it say they are of bigrams. */
static void test_bigram_corpus(void) {
    attn_wordvec_corpus *c = attn_wordvec_corpus_new(ATTN_WORDVEC_BIGRAMS);
    attn_error err = {{0}};
    const char *text = "中国人民\n國\nNew York 中国\n";   /* 國 folds to 国, New to new */
    CHECK(attn_wordvec_corpus_add_text(c, text, strlen(text), &err) == ATTN_OK);
    CHECK(attn_wordvec_corpus_tokens(c) == 3 + 0 + 3);   /* newyork, york中, 中国 */
    CHECK(attn_wordvec_corpus_types(c) == 5);
    CHECK(attn_wordvec_corpus_count(c, "中国", strlen("中国")) == 2);
    CHECK(attn_wordvec_corpus_count(c, "newyork", 7) == 1);
    CHECK(attn_wordvec_corpus_count(c, "york中", strlen("york中")) == 1);
    CHECK(attn_wordvec_corpus_count(c, "国", strlen("国")) == 0);
    attn_wordvec_params p;
    attn_wordvec_default_params(&p);
    p.dim = 4; p.n_buckets = 101; p.min_count = 1; p.threads = 1; p.epochs = 1;
    attn_wordvec wv;
    CHECK(attn_wordvec_train(c, &p, &wv, NULL, &err) == ATTN_OK);
    CHECK(wv.unit == ATTN_WORDVEC_BIGRAMS && wv.table != NULL);
    attn_wordvec_free(&wv);
    attn_wordvec_corpus_free(c);
}

static void test_params(void) {
    attn_wordvec_params p;
    attn_error err = {{0}};
    attn_wordvec_default_params(&p);
    CHECK(p.dim == 100 && p.n_buckets == 2000000 && p.min_n == 3 && p.max_n == 6 && p.window == 5 &&
          p.negatives == 5 && p.epochs == 5 && p.min_count == 3 && p.threads == 2);
    CHECK_NEAR(p.lr, 0.05, 1e-9);
    CHECK_NEAR(p.subsample, 1e-4, 1e-12);
    CHECK(attn_wordvec_check_params(&p, &err) == ATTN_OK);
    static const struct { int field, value; const char *msg; } bad[] = {
        {0, 0, "wordvec dim must be 1..16384 (got 0)"},
        {1, 0, "subword n_buckets must be 1..16777216 (got 0)"},
        {2, 7, "subword n-gram lengths must satisfy 1 <= min_n <= max_n <= 8 (got min_n 7, max_n 6)"},
        {3, 0, "wordvec window must be 1..64 (got 0)"},
        {4, 65, "wordvec negatives must be 1..64 (got 65)"},
        {5, 0, "wordvec epochs must be 1..1000 (got 0)"},
        {6, 0, "wordvec min_count must be >= 1"},
        {7, 65, "wordvec threads must be 1..64 (got 65)"},
        {8, -1, "wordvec lr must be in (0, 10] (got -1)"},
        {9, 2, "wordvec subsample must be in [0, 1] (got 2)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        attn_wordvec_default_params(&p);
        switch (bad[i].field) {
        case 0: p.dim = (uint32_t)bad[i].value; break;
        case 1: p.n_buckets = (uint32_t)bad[i].value; break;
        case 2: p.min_n = bad[i].value; break;
        case 3: p.window = bad[i].value; break;
        case 4: p.negatives = bad[i].value; break;
        case 5: p.epochs = bad[i].value; break;
        case 6: p.min_count = (uint64_t)bad[i].value; break;
        case 7: p.threads = bad[i].value; break;
        case 8: p.lr = (float)bad[i].value; break;
        case 9: p.subsample = bad[i].value; break;
        }
        CHECK(attn_wordvec_check_params(&p, &err) == ATTN_EINVAL);
        CHECK_MSG(strcmp(err.msg, bad[i].msg) == 0, "got \"%s\"", err.msg);
    }
    /* a table over ATTN_MAX_PARAMS floats is refused before anything is allocated */
    attn_wordvec_default_params(&p);
    p.n_buckets = ATTN_MAX_BUCKETS;
    p.dim = ATTN_MAX_DIM;
    attn_wordvec_corpus *c = attn_wordvec_corpus_new(ATTN_WORDVEC_WORDS);
    attn_wordvec wv;
    CHECK(attn_wordvec_train(c, &p, &wv, NULL, &err) == ATTN_ELIMIT);
    CHECK(strcmp(err.msg, "wordvec table of 16777216 x 16384 floats exceeds 268435456") == 0);
    attn_wordvec_corpus_free(c);
}

static void test_token_vector(void) {
    attn_wordvec wv = {1000, 4, 3, 6, calloc(1000 * 4, sizeof(float)), ATTN_WORDVEC_WORDS};
    for (size_t i = 0; i < 1000 * 4; i++) wv.table[i] = (float)i;
    uint32_t rows[64];
    size_t n = attn_subword_rows("Reuters", 7, 3, 6, 1000, rows, 64);
    CHECK(n == 1 + 7 + 6 + 5 + 4);
    float vec[4], expect[4] = {0};
    for (size_t r = 0; r < n; r++)
        for (int d = 0; d < 4; d++) expect[d] += (float)(rows[r] * 4 + (uint32_t)d) / (float)n;
    attn_wordvec_token_vector(&wv, "REUTERS", 7, vec);
    for (int d = 0; d < 4; d++) CHECK_NEAR(vec[d], expect[d], 1e-3);
    attn_wordvec_free(&wv);
    CHECK(wv.table == NULL);
}

/* ---- file format ---- */

static void put_u32(unsigned char *b, uint32_t x) { for (int i = 0; i < 4; i++) b[i] = (unsigned char)(x >> 8 * i); }

/* A valid file image of a 3 x 2 table: 28 + 24 bytes (version 2; version 1: 24 + 24, no unit
 * field). Returns its length. */
static size_t valid_image(unsigned char *img, uint32_t version, uint32_t unit) {
    memcpy(img, "ATWV", 4);
    put_u32(img + 4, version);
    put_u32(img + 8, 3);
    put_u32(img + 12, 2);
    put_u32(img + 16, 3);
    put_u32(img + 20, 6);
    const size_t header = version == 1 ? 24 : 28;
    if (version != 1) put_u32(img + 24, unit);
    for (int i = 0; i < 6; i++) { float v = (float)i - 2.5f; memcpy(img + header + 4 * i, &v, 4); }
    return header + 24;
}

static void expect_load_error(const unsigned char *img, size_t n, int code, const char *msg_tail) {
    const char *path = temp_file("bad.bin");
    write_bytes(path, img, n);
    attn_wordvec wv;
    attn_error err = {{0}};
    CHECK(attn_wordvec_load(path, &wv, &err) == code);
    CHECK(wv.table == NULL);
    size_t lt = strlen(msg_tail), lm = strlen(err.msg);
    CHECK_MSG(lm >= lt && strcmp(err.msg + lm - lt, msg_tail) == 0, "got \"%s\"", err.msg);
    unlink(path);
}

/* The image loads with its unit, and save writes exactly the same bytes. */
static void check_round_trip(const unsigned char *img, size_t n, attn_wordvec_unit unit) {
    const char *path = temp_file("ok.bin");
    write_bytes(path, img, n);
    attn_wordvec wv;
    attn_error err = {{0}};
    CHECK(attn_wordvec_load(path, &wv, &err) == ATTN_OK);
    CHECK(wv.n_buckets == 3 && wv.dim == 2 && wv.min_n == 3 && wv.max_n == 6 && wv.unit == unit);
    CHECK(wv.table && wv.table[0] == -2.5f && wv.table[5] == 2.5f);
    unlink(path);
    char saved_path[256];
    snprintf(saved_path, sizeof saved_path, "%s", temp_file("saved.bin"));
    CHECK(attn_wordvec_save(&wv, saved_path, &err) == ATTN_OK);
    size_t n_saved;
    char *bytes = read_all(saved_path, &n_saved);
    unsigned char expected[64];
    valid_image(expected, 2, unit);     /* always saved as the current version */
    CHECK(bytes && n_saved == 52 && memcmp(bytes, expected, 52) == 0);
    free(bytes);
    unlink(saved_path);
    attn_wordvec_free(&wv);
}

static void test_file_format(void) {
    unsigned char img[64] = {0}, v1[64] = {0};
    const size_t n = valid_image(img, 2, ATTN_WORDVEC_WORDS);
    CHECK(n == 52);
    check_round_trip(img, n, ATTN_WORDVEC_WORDS);
    check_round_trip(v1, valid_image(v1, 1, 0), ATTN_WORDVEC_WORDS);   /* version 1: words */
    unsigned char bigrams[64] = {0};
    check_round_trip(bigrams, valid_image(bigrams, 2, ATTN_WORDVEC_BIGRAMS), ATTN_WORDVEC_BIGRAMS);

    attn_wordvec wv = {0};
    attn_error err = {{0}};
    CHECK(attn_wordvec_save(&wv, "/nonexistent/dir/x.bin", &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "cannot write /nonexistent/dir/x.bin") == 0);
    CHECK(attn_wordvec_load("/nonexistent/x.bin", &wv, &err) == ATTN_EINVAL);
    CHECK(strcmp(err.msg, "cannot open '/nonexistent/x.bin'") == 0);

    unsigned char bad[64];
    memcpy(bad, img, n); bad[0] = 'X';
    expect_load_error(bad, n, ATTN_EMODEL, "is not a wordvec file (bad magic)");
    memcpy(bad, img, n); put_u32(bad + 4, 3);
    expect_load_error(bad, n, ATTN_EMODEL, "unsupported wordvec version 3 (expected 1..2)");
    memcpy(bad, img, n); put_u32(bad + 8, 0);
    expect_load_error(bad, n, ATTN_EMODEL, "n_buckets 0 out of range 1..16777216");
    memcpy(bad, img, n); put_u32(bad + 12, 0);
    expect_load_error(bad, n, ATTN_EMODEL, "dim 0 out of range 1..16384");
    memcpy(bad, img, n); put_u32(bad + 16, 7);
    expect_load_error(bad, n, ATTN_EMODEL, "n-gram lengths 7..6 invalid (1 <= min_n <= max_n <= 8)");
    memcpy(bad, img, n); put_u32(bad + 20, 9);
    expect_load_error(bad, n, ATTN_EMODEL, "n-gram lengths 3..9 invalid (1 <= min_n <= max_n <= 8)");
    memcpy(bad, img, n); put_u32(bad + 24, 2);
    expect_load_error(bad, n, ATTN_EMODEL, "unknown unit 2 (0 words, 1 bigrams)");
    memcpy(bad, img, n); put_u32(bad + 8, ATTN_MAX_BUCKETS); put_u32(bad + 12, ATTN_MAX_DIM);
    expect_load_error(bad, n, ATTN_ELIMIT, "table of 16777216 x 16384 floats exceeds 268435456");
    expect_load_error(img, 7, ATTN_EMODEL, "truncated wordvec header (7 bytes)");
    expect_load_error(img, 26, ATTN_EMODEL, "truncated wordvec header (26 bytes)");
    expect_load_error(v1, 20, ATTN_EMODEL, "truncated wordvec header (20 bytes)");
    expect_load_error(img, 51, ATTN_EMODEL, "truncated wordvec file: 51 bytes, expected 52");
    expect_load_error(v1, 52, ATTN_EMODEL, "trailing bytes in wordvec file: 52 bytes, expected 48");
    memcpy(bad, img, n); bad[n] = 0;
    expect_load_error(bad, n + 1, ATTN_EMODEL, "trailing bytes in wordvec file: 53 bytes, expected 52");
    memcpy(bad, img, n);
    float nan = NAN;
    memcpy(bad + 28 + 4 * 3, &nan, 4);
    expect_load_error(bad, n, ATTN_EMODEL, "non-finite value at row 1, column 1");
}

/* The run API: start/wait/finish gives attn_wordvec_train's bits (one thread); watched with
 * two threads, the progress ends at the total; a cancelled run stops long before its end. */
static void test_run(void) {
    char *text = make_topic_corpus(2000, 12);
    attn_wordvec_corpus *c = attn_wordvec_corpus_new(ATTN_WORDVEC_WORDS);
    attn_error err = {{0}};
    CHECK(attn_wordvec_corpus_add_text(c, text, strlen(text), &err) == ATTN_OK);
    attn_wordvec_params p;
    small_params(&p);
    attn_wordvec direct, watched;
    CHECK(attn_wordvec_train(c, &p, &direct, NULL, &err) == ATTN_OK);
    attn_wordvec_run *r = NULL;
    CHECK(attn_wordvec_start(c, &p, &r, &err) == ATTN_OK && r);
    attn_wordvec_progress pr;
    while (!attn_wordvec_wait(r, 0.001, &pr)) {}
    CHECK(pr.processed == 3 * 24000 && pr.total == 3 * 24000 && pr.loss > 0.0);
    attn_wordvec_stats s;
    CHECK(attn_wordvec_finish(r, &watched, &s) == ATTN_OK && s.processed == 3 * 24000);
    CHECK(memcmp(direct.table, watched.table, (size_t)4096 * 16 * sizeof(float)) == 0);
    attn_wordvec_free(&watched);

    p.threads = 2;
    CHECK(attn_wordvec_start(c, &p, &r, &err) == ATTN_OK && r);
    uint64_t last = 0;
    int backwards = 0;
    while (!attn_wordvec_wait(r, 0.001, &pr)) {
        backwards += pr.processed < last;
        last = pr.processed;
    }
    CHECK(!backwards && pr.processed == 3 * 24000 && pr.total == 3 * 24000);
    CHECK(attn_wordvec_finish(r, &watched, &s) == ATTN_OK && s.processed == 3 * 24000);

    for (int threads = 1; threads <= 2; threads++) {
        p.threads = threads;
        p.epochs = 1000;           /* minutes of work: cancelled after a moment */
        CHECK(attn_wordvec_start(c, &p, &r, &err) == ATTN_OK);
        CHECK(attn_wordvec_wait(r, 0.05, &pr) == 0);
        CHECK(pr.processed < pr.total && pr.total == (uint64_t)1000 * 24000);
        attn_wordvec_cancel(r);
    }
    attn_wordvec_cancel(NULL);

    p.min_count = 100000;          /* errors come from start, as from attn_wordvec_train */
    r = (attn_wordvec_run *)&p;
    CHECK(attn_wordvec_start(c, &p, &r, &err) == ATTN_EINVAL && r == NULL);
    attn_wordvec_free(&direct);
    attn_wordvec_free(&watched);
    attn_wordvec_corpus_free(c);
    free(text);
}

int main(void) {
    test_params();
    test_corpus_counts_and_vocab();
    test_bigram_corpus();
    test_token_vector();
    test_file_format();
    make_topic_words();
    test_untrained_has_no_topics();
    test_topics();
    test_run();
    return CHECK_DONE();
}
