/* dump_forward.c: writes models with random weights, and what the C engine computes with them,
 * for check_forward.py to recompute independently in numpy.
 *
 *   dump_forward OUTDIR
 *
 * For each model in MODELS below: OUTDIR/<name>/config.json, tensors.txt ("key ndim d0 d1"
 * per tensor), tensors/<key>.bin (raw little-endian f32), and per text i: case<i>.txt (the text's
 * bytes) and case<i>.json (tokens, feature rows and every C output for that text). The numpy
 * side uses only the config, the tensors, the tokens and the feature rows as inputs, and for a
 * model with a gazetteer feature OUTDIR/<name>/gazetteer.json: each list's entries as the
 * tokens the C tokenizer makes of them ({"PER": [["John", "New"], ...], ...}). Rows are the
 * token's slots (features.h) as the token alone gives them: ATTN_SUBWORD_SLOTS of them for the
 * subword feature, unused ones ATTN_ROW_NONE (4294967295); the gazetteer's one a list, O. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crf.h"
#include "encoder.h"
#include "heads.h"
#include "model.h"
#include "pipeline.h"
#include "tokenizer.h"

typedef struct model_def {
    const char *name;
    const char *config;
    float o_bias;       /* added to tag.b[0] ("O"): negative = more entities */
    float none_bias;    /* added to rel.out.b[0] ("none"): negative = more relations kept */
} model_def;

static const model_def MODELS[] = {
    { "classify",
      "{\"format\": 1, \"tasks\": [\"classify\"], \"dim\": 16, \"layers\": 2, \"heads\": 2,"
      " \"ffn\": 32, \"max_len\": 8,"
      " \"features\": [{\"kind\": \"norm\", \"buckets\": 64, \"dim\": 8},"
      "  {\"kind\": \"prefix\", \"buckets\": 32, \"dim\": 4, \"affix\": 2},"
      "  {\"kind\": \"suffix\", \"buckets\": 32, \"dim\": 4, \"affix\": 3},"
      "  {\"kind\": \"shape\", \"buckets\": 16, \"dim\": 4}],"
      " \"classify\": {\"labels\": [\"neg\", \"neu\", \"pos\"]}}", 0.0f, 0.0f },
    { "all",
      "{\"format\": 1, \"tasks\": [\"classify\", \"entities\", \"relations\"], \"dim\": 12,"
      " \"layers\": 2, \"heads\": 3, \"ffn\": 20, \"max_len\": 6, \"ln_eps\": 0.001,"
      " \"attn_scale\": \"none\","
      " \"features\": [{\"kind\": \"norm\", \"buckets\": 50, \"dim\": 6},"
      "  {\"kind\": \"shape\", \"buckets\": 10, \"dim\": 3}],"
      " \"classify\": {\"labels\": [\"a\", \"b\"]},"
      " \"entities\": {\"labels\": [\"PER\", \"LOC\", \"ORG\"]},"
      " \"relations\": {\"labels\": [\"Work_For\", \"Live_In\"], \"hidden\": 10,"
      " \"type_dim\": 4}}", -0.5f, -1.0f },
    { "entities",
      "{\"format\": 1, \"tasks\": [\"entities\", \"relations\"], \"dim\": 8, \"layers\": 1,"
      " \"heads\": 1, \"ffn\": 16, \"max_len\": 5,"
      " \"features\": [{\"kind\": \"norm\", \"buckets\": 40, \"dim\": 5},"
      "  {\"kind\": \"suffix\", \"buckets\": 20, \"dim\": 3, \"affix\": 2}],"
      " \"entities\": {\"labels\": [\"X\"]},"
      " \"relations\": {\"labels\": [\"R\"], \"hidden\": 6, \"type_dim\": 2}}", 0.0f, -0.5f },
    /* max_len above 16 so that long windows take the sgemm path of attn_matmul_forward;
     * embed_context 2: the projection reads two neighbours a side; rel_positions 3: relative
     * position biases, clamped past 3 tokens */
    { "wide",
      "{\"format\": 1, \"tasks\": [\"classify\", \"entities\"], \"dim\": 32, \"layers\": 2,"
      " \"heads\": 4, \"ffn\": 48, \"max_len\": 24, \"embed_context\": 2, \"rel_positions\": 3,"
      " \"features\": [{\"kind\": \"norm\", \"buckets\": 100, \"dim\": 8},"
      "  {\"kind\": \"prefix\", \"buckets\": 50, \"dim\": 4, \"affix\": 1},"
      "  {\"kind\": \"shape\", \"buckets\": 20, \"dim\": 4}],"
      " \"classify\": {\"labels\": [\"p\", \"q\", \"r\", \"s\"]},"
      " \"entities\": {\"labels\": [\"A\", \"B\"]}}", 0.0f, 0.0f },
    /* subword: each token's block is the mean of its n-gram rows (between two other features);
     * embed_context 1 */
    { "subword",
      "{\"format\": 1, \"tasks\": [\"classify\", \"entities\"], \"dim\": 12, \"layers\": 2,"
      " \"heads\": 2, \"ffn\": 16, \"max_len\": 6, \"embed_context\": 1,"
      " \"features\": [{\"kind\": \"shape\", \"buckets\": 16, \"dim\": 3},"
      "  {\"kind\": \"subword\", \"buckets\": 97, \"dim\": 5, \"min_n\": 2, \"max_n\": 4},"
      "  {\"kind\": \"norm\", \"buckets\": 40, \"dim\": 4}],"
      " \"classify\": {\"labels\": [\"x\", \"y\"]},"
      " \"entities\": {\"labels\": [\"P\", \"Q\"]}}", -0.5f, 0.0f },
    /* gazetteer: the sum of a row a list (GAZ_LISTS below), matched in each window */
    { "gazetteer",
      "{\"format\": 1, \"tasks\": [\"classify\", \"entities\"], \"dim\": 12, \"layers\": 1,"
      " \"heads\": 2, \"ffn\": 16, \"max_len\": 8,"
      " \"features\": [{\"kind\": \"norm\", \"buckets\": 40, \"dim\": 4},"
      "  {\"kind\": \"gazetteer\", \"dim\": 5, \"lists\": [\"PER\", \"LOC\", \"ORG\"]},"
      "  {\"kind\": \"shape\", \"buckets\": 16, \"dim\": 3}],"
      " \"classify\": {\"labels\": [\"x\", \"y\"]},"
      " \"entities\": {\"labels\": [\"PER\", \"LOC\", \"ORG\"]}}", -0.5f, 0.0f },
    /* every head with a temperature (config.h): softmax(z / T), CRF marginals at T;
     * rel_positions 1 */
    { "tempered",
      "{\"format\": 1, \"tasks\": [\"classify\", \"entities\", \"relations\"], \"dim\": 12,"
      " \"layers\": 1, \"heads\": 3, \"ffn\": 20, \"max_len\": 6, \"rel_positions\": 1,"
      " \"features\": [{\"kind\": \"norm\", \"buckets\": 50, \"dim\": 6},"
      "  {\"kind\": \"shape\", \"buckets\": 10, \"dim\": 3}],"
      " \"classify\": {\"labels\": [\"a\", \"b\", \"c\"], \"temperature\": 0.4},"
      " \"entities\": {\"labels\": [\"PER\", \"LOC\"], \"temperature\": 2.5},"
      " \"relations\": {\"labels\": [\"Work_For\", \"Live_In\"], \"hidden\": 10,"
      " \"type_dim\": 4, \"temperature\": 1.7}}", -0.5f, -1.0f },
};

static const char *WORDS[] = {
    "John", "Smith", "works", "for", "Acme", "Corp", "in", "New", "York", "since", "1999", ",",
    "and", "Mary", "lives", "near", "the", "river", ".", "Zoë", "visited", "Köln", "with",
    "東京", "friends", "O'Neill", "said", "3.14", "is", "pi", "!",
};
#define N_WORDS (sizeof WORDS / sizeof WORDS[0])

/* The lists of the "gazetteer" model. The texts below are WORDS in steps of 7 ("... John New
 * lives Köln is Acme , . O'Neill Smith York near with ... the 東京 ! in Mary visited 3.14 for
 * 1999 ..."), so entries along that chain match: nested and overlapping ones, several lists
 * on one token, punctuation, digits (1998 is 1999's norm), two ideographs, an entry of
 * ATTN_GAZ_MAX_TOKENS tokens (longer than a window) and one more (never matches). */
static const char *const GAZ_LISTS[][2] = {
    { "PER", "John New\nJohn\nMary\nAlice\nBob\nO'Neill Smith" },
    { "LOC", "New lives Köln\nKöln\nParis\n東京\nYork near\n" },
    { "ORG", "Acme , . O'Neill\nlives Köln is\n1998\nthe 東京 ! in Mary visited 3.14\n"
             "the 東京 ! in Mary visited 3.14 for\nBob in Paris" },
};

/* ---- random weights: xorshift64* and Box-Muller, fixed seed ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static double rand_uniform(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return ((rng_state * 0x2545F4914F6CDD1Dull) >> 11) * (1.0 / 9007199254740992.0);
}

static float rand_normal(float sd) {
    double u = rand_uniform(), v = rand_uniform();
    if (u < 1e-300) u = 1e-300;
    return (float)(sd * sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Values like a real initialisation: LN gains near 1, biases small, embeddings ~1. */
static void fill_tensor(const model_def *def, const attn_tensor_spec *sp, float *x) {
    const int is_ln = strstr(sp->key, "ln") != NULL;
    float mean = 0.0f, sd = 0.1f;
    if (is_ln && ends_with(sp->key, ".w")) mean = 1.0f;
    else if (strncmp(sp->key, "embed.", 6) == 0 && strcmp(sp->key, "embed.proj.w") != 0)
        sd = 1.0f;
    else if (strcmp(sp->key, "embed.proj.w") == 0) sd = 0.5f;   /* tokens differ enough */
    else if (strstr(sp->key, "qkv.w")) sd = 0.4f;
    else if (strcmp(sp->key, "tag.w") == 0) sd = 1.0f;     /* varied tags along a text */
    else if (ends_with(sp->key, ".rel_bias")) sd = 1.0f;   /* position preferences that show */
    else if (strncmp(sp->key, "crf.", 4) == 0) sd = 0.2f;
    else if (strncmp(sp->key, "rel.", 4) == 0) sd = 0.5f;
    for (size_t i = 0; i < sp->size; i++) x[i] = mean + rand_normal(sd);
    if (strcmp(sp->key, "tag.b") == 0) x[0] += def->o_bias;
    if (strcmp(sp->key, "rel.out.b") == 0) x[0] += def->none_bias;
}

/* ---- output helpers ---- */

static FILE *open_out(const char *dir, const char *name, const char *mode) {
    char path[2048];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path) {
        fprintf(stderr, "dump_forward: path too long\n");
        exit(2);
    }
    FILE *f = fopen(path, mode);
    if (!f) { perror(path); exit(2); }
    return f;
}

static void put_floats(FILE *f, const char *key, const float *x, size_t n) {
    fprintf(f, "\"%s\": [", key);
    for (size_t i = 0; i < n; i++) fprintf(f, "%s%.9g", i ? ", " : "", x[i]);
    fprintf(f, "],\n");
}

static void put_ints(FILE *f, const char *key, const int *x, size_t n) {
    fprintf(f, "\"%s\": [", key);
    for (size_t i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", x[i]);
    fprintf(f, "],\n");
}

static void die(const char *what, const attn_error *err) {
    fprintf(stderr, "dump_forward: %s: %s\n", what, err->msg);
    exit(2);
}

/* ---- model ---- */

/* The lists into m's gazetteer (rows 'gazetteer.<list>'), and dir/gazetteer.json. */
static void add_gazetteer(attn_model *m, const char *dir) {
    attn_error err;
    FILE *f = open_out(dir, "gazetteer.json", "w");
    fputc('{', f);
    for (size_t l = 0; l < sizeof GAZ_LISTS / sizeof GAZ_LISTS[0]; l++) {
        char key[64];
        const char *text = GAZ_LISTS[l][1];
        snprintf(key, sizeof key, "gazetteer.%s", GAZ_LISTS[l][0]);
        if (attn_model_set_tensor(m, key, "text", "[]", text, strlen(text), &err)) die(key, &err);
        fprintf(f, "%s\"%s\": [", l ? ", " : "", GAZ_LISTS[l][0]);
        int first = 1;
        for (const char *line = text; *line;) {
            const char *nl = strchr(line, '\n');
            const size_t n = nl ? (size_t)(nl - line) : strlen(line);
            attn_tokens toks = {0};
            if (attn_tokenize(line, n, &toks, &err)) die("tokenize", &err);
            fprintf(f, "%s[", first ? "" : ", ");
            for (size_t t = 0; t < toks.n; t++)   /* no entry holds a quote or a backslash */
                fprintf(f, "%s\"%.*s\"", t ? ", " : "",
                        (int)(toks.tok[t].byte_end - toks.tok[t].byte_start),
                        line + toks.tok[t].byte_start);
            fputc(']', f);
            first = 0;
            attn_tokens_free(&toks);
            line += n + (nl != NULL);
        }
        fputc(']', f);
    }
    fputs("}\n", f);
    fclose(f);
}

static attn_model *build_model(const model_def *def, const char *dir) {
    attn_error err;
    attn_model *m = NULL;
    if (attn_model_new(def->config, strlen(def->config), &m, &err)) die("config", &err);
    FILE *cfg = open_out(dir, "config.json", "w");
    fputs(def->config, cfg);
    fclose(cfg);
    FILE *manifest = open_out(dir, "tensors.txt", "w");
    for (size_t i = 0; i < m->n_specs; i++) {
        const attn_tensor_spec *sp = &m->specs[i];
        float *x = malloc(sp->size * sizeof *x + 1);
        if (!x) { fprintf(stderr, "dump_forward: out of memory\n"); exit(2); }
        fill_tensor(def, sp, x);
        char shape[64], name[128];
        if (sp->ndim == 1) snprintf(shape, sizeof shape, "[%lld]", (long long)sp->shape[0]);
        else snprintf(shape, sizeof shape, "[%lld,%lld]", (long long)sp->shape[0],
                      (long long)sp->shape[1]);
        if (attn_model_set_tensor(m, sp->key, "f32", shape, x, sp->size * sizeof *x, &err))
            die(sp->key, &err);
        snprintf(name, sizeof name, "tensors/%s.bin", sp->key);
        FILE *bin = open_out(dir, name, "wb");
        fwrite(x, sizeof *x, sp->size, bin);   /* x86-64 and aarch64: little-endian */
        fclose(bin);
        fprintf(manifest, "%s %d %lld %lld\n", sp->key, sp->ndim, (long long)sp->shape[0],
                sp->ndim == 2 ? (long long)sp->shape[1] : 1LL);
        free(x);
    }
    fclose(manifest);
    if (m->gazetteer) add_gazetteer(m, dir);
    if (attn_model_finish(m, &err)) die("finish", &err);
    /* The packed inference path the extension uses (attn_encoder_prepare). */
    if (attn_encoder_prepare(m, &err)) die("prepare", &err);
    return m;
}

/* ---- texts ---- */

/* Words joined by spaces, word i = WORDS[(i * 7 + seed) % N_WORDS], until the text has exactly
 * n_tokens tokens (each word here is one token or splits predictably; we check by tokenizing). */
static char *text_of_tokens(int n_tokens, int seed) {
    attn_tokens toks = {0};
    attn_error err;
    size_t cap = 16 * (size_t)n_tokens + 64, len = 0;
    char *text = calloc(cap, 1);
    for (int i = 0; text; i++) {
        if (attn_tokenize(text, len, &toks, &err)) die("tokenize", &err);
        if ((int)toks.n >= n_tokens) break;
        const char *w = WORDS[(size_t)(i * 7 + seed) % N_WORDS];
        len += (size_t)snprintf(text + len, cap - len, "%s%s", len ? " " : "", w);
    }
    attn_tokens_free(&toks);
    return text;
}

/* ---- one text ---- */

static void dump_tokens(FILE *f, const attn_model *m, const attn_token *toks, int N,
                        const char *text) {
    fprintf(f, "\"n_tokens\": %d,\n\"tokens\": [", N);
    for (int t = 0; t < N; t++)
        fprintf(f, "%s[%lld, %lld, %zu, %zu]", t ? ", " : "", (long long)toks[t].start,
                (long long)toks[t].end, toks[t].byte_start, toks[t].byte_end);
    fprintf(f, "],\n\"rows\": [");
    const int slots = attn_feature_slots(m->cfg.features, m->cfg.n_features);
    uint32_t rows[ATTN_MAX_SLOTS];
    for (int t = 0; t < N; t++) {
        attn_token_features(text + toks[t].byte_start, toks[t].byte_end - toks[t].byte_start,
                            m->cfg.features, m->cfg.n_features, rows);
        fprintf(f, "%s[", t ? ", " : "");
        for (int k = 0; k < slots; k++) fprintf(f, "%s%u", k ? ", " : "", rows[k]);
        fprintf(f, "]");
    }
    fprintf(f, "],\n");
}

/* Emissions from the C hidden states, then Viterbi and marginals (at the entity temperature)
 * through crf.c directly. */
static void dump_crf(FILE *f, const attn_model *m, const float *h, int N) {
    const int K = attn_config_n_tags(&m->cfg);
    float *em = malloc(sizeof(float) * ((size_t)N * K * 2 + ATTN_CRF_WORK(N, K)));
    int *path = malloc(sizeof(int) * (size_t)N);
    uint8_t *allowed = malloc((size_t)K * K + K);
    if (!em || !path || !allowed) { fprintf(stderr, "dump_forward: out of memory\n"); exit(2); }
    float *marg = em + (size_t)N * K, *work = marg + (size_t)N * K;
    attn_tag_emissions(m, h, N, em);
    attn_bio_constraints(m->cfg.entity_labels.n, allowed, allowed + (size_t)K * K);
    attn_crf crf = { K, m->w.crf_trans, m->w.crf_start, m->w.crf_end, allowed,
                     allowed + (size_t)K * K };
    attn_crf_viterbi(&crf, em, N, path, work);
    attn_crf_marginals_tempered(&crf, em, N, m->cfg.entity_temperature, marg, work);
    put_floats(f, "emissions", em, (size_t)N * K);
    put_ints(f, "path", path, (size_t)N);
    put_floats(f, "marginals", marg, (size_t)N * K);
    free(em); free(path); free(allowed);
}

static void dump_entities(FILE *f, const char *key, const attn_entity *e, size_t n) {
    fprintf(f, "\"%s\": [", key);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s[%d, %d, %d, %lld, %lld, %zu, %zu, %.9g]", i ? ", " : "", e[i].tok_start,
                e[i].tok_end, e[i].label, (long long)e[i].start, (long long)e[i].end,
                e[i].byte_start, e[i].byte_end, e[i].score);
    fprintf(f, "],\n");
}

/* Relation head on C hidden states for a few token-span pairs (incl. adjacent, overlapping,
 * far apart), and attn_run_relation_pair on character spans (incl. invalid ones). */
static void dump_pairs(FILE *f, const attn_model *m, attn_session *s, const char *text,
                       size_t n_bytes, const float *h, int N) {
    const int R1 = m->cfg.relation_labels.n + 1, E = m->cfg.entity_labels.n;
    float probs[64], work[4096];
    fprintf(f, "\"pairs\": [");
    int first = 1;
    for (int hs = 0; hs < N; hs += 3)
        for (int ts = 0; ts < N; ts += 2) {
            const int he = hs + 1 + hs % 2 < N ? hs + 1 + hs % 2 : N, te = ts + 1;
            const int hl = (hs + ts) % E, tl = (hs * 3 + ts) % E;
            attn_relation_head(m, h, N, hs, he, hl, ts, te, tl, probs, work);
            fprintf(f, "%s[%d, %d, %d, %d, %d, %d", first ? "" : ", ", hs, he, hl, ts, te, tl);
            for (int r = 0; r < R1; r++) fprintf(f, ", %.9g", probs[r]);
            fprintf(f, "]");
            first = 0;
        }
    fprintf(f, "],\n\"pair_queries\": [");
    const int64_t n_chars = attn_utf8_count(text, n_bytes);
    const int64_t q[][4] = { {0, 3, n_chars - 4, n_chars}, {1, 2, 5, 9}, {2, 9, 0, 1},
                             {0, n_chars, 3, 4}, {4, 4, 0, 1}, {-1, 2, 3, 4},
                             {0, 2, 3, n_chars + 1} };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        attn_error err;
        int rc = attn_run_relation_pair(m, s, text, n_bytes, q[i][0], q[i][1], q[i][2],
                                        q[i][3], probs, &err);
        fprintf(f, "%s[%lld, %lld, %lld, %lld, %d", i ? ", " : "", (long long)q[i][0],
                (long long)q[i][1], (long long)q[i][2], (long long)q[i][3], rc);
        for (int r = 0; !rc && r < R1; r++) fprintf(f, ", %.9g", probs[r]);
        fprintf(f, "]");
    }
    fprintf(f, "],\n");
}

static void dump_relations(FILE *f, const attn_model *m, attn_session *s, const char *text,
                           size_t n) {
    const attn_entity *ents;
    const attn_relation *rels;
    size_t n_ents, n_rels;
    attn_error err;
    if (attn_run_relations(m, s, text, n, &ents, &n_ents, &rels, &n_rels, &err))
        die("relations", &err);
    dump_entities(f, "rel_entities", ents, n_ents);
    fprintf(f, "\"relations\": [");
    for (size_t i = 0; i < n_rels; i++)
        fprintf(f, "%s[%d, %d, %d, %.9g]", i ? ", " : "", rels[i].head, rels[i].tail,
                rels[i].label, rels[i].score);
    fprintf(f, "],\n");
}

static void dump_case(const attn_model *m, attn_session *s, const char *dir, int index,
                      const char *text) {
    char name[64];
    const size_t n = strlen(text);
    snprintf(name, sizeof name, "case%d.txt", index);
    FILE *txt = open_out(dir, name, "wb");
    fwrite(text, 1, n, txt);
    fclose(txt);
    snprintf(name, sizeof name, "case%d.json", index);
    FILE *f = open_out(dir, name, "w");
    attn_error err;
    const float *h;
    const attn_token *toks;
    int N;
    if (attn_run_encode(m, s, text, n, &h, &N, &toks, &err)) die("encode", &err);
    fprintf(f, "{\n");
    dump_tokens(f, m, toks, N, text);
    put_floats(f, "hidden", h, (size_t)N * m->cfg.dim);
    if (m->cfg.tasks & ATTN_TASK_ENTITIES && N > 0) dump_crf(f, m, h, N);
    if (m->cfg.tasks & ATTN_TASK_RELATIONS && N > 0) dump_pairs(f, m, s, text, n, h, N);
    /* h points into the session: everything using it comes before the runs below */
    if (m->cfg.tasks & ATTN_TASK_CLASSIFY) {
        float probs[64];
        if (attn_run_classify(m, s, text, n, probs, &err)) die("classify", &err);
        put_floats(f, "classify", probs, (size_t)m->cfg.classify_labels.n);
    }
    if (m->cfg.tasks & ATTN_TASK_ENTITIES) {
        const attn_entity *ents;
        size_t n_ents;
        if (attn_run_entities(m, s, text, n, &ents, &n_ents, &err)) die("entities", &err);
        dump_entities(f, "entities", ents, n_ents);
    }
    if (m->cfg.tasks & ATTN_TASK_RELATIONS) dump_relations(f, m, s, text, n);
    fprintf(f, "\"end\": 0\n}\n");
    fclose(f);
}

static void make_dir(const char *path) {
    if (mkdir(path, 0755) && errno != EEXIST) { perror(path); exit(2); }
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: dump_forward OUTDIR\n"); return 2; }
    make_dir(argv[1]);
    for (size_t i = 0; i < sizeof MODELS / sizeof MODELS[0]; i++) {
        char dir[900], sub[1000];
        snprintf(dir, sizeof dir, "%s/%s", argv[1], MODELS[i].name);
        snprintf(sub, sizeof sub, "%s/tensors", dir);
        make_dir(dir);
        make_dir(sub);
        attn_model *m = build_model(&MODELS[i], dir);
        attn_session *s = attn_session_new();
        if (!s) { fprintf(stderr, "dump_forward: out of memory\n"); return 2; }
        const int L = m->cfg.max_len;
        char *texts[] = {
            strdup(""), strdup("  \t\n "), strdup("Alice met Bob in Paris."), strdup("Paris"),
            text_of_tokens(L, 1), text_of_tokens(L + 1, 2), text_of_tokens(3 * L + 2, 3),
            text_of_tokens(7 * L + 3, 4),
            /* past the streaming tagger's first decisions (pipeline.h: at cap / 2 = 128
             * pending tokens for these models), so entities are decided in several steps */
            text_of_tokens(600 + L, 5),
        };
        for (int c = 0; c < (int)(sizeof texts / sizeof texts[0]); c++) {
            if (!texts[c]) { fprintf(stderr, "dump_forward: out of memory\n"); return 2; }
            dump_case(m, s, dir, c, texts[c]);
            free(texts[c]);
        }
        attn_session_free(s);
        attn_model_free(m);
    }
    return 0;
}
