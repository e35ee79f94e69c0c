/* test_token_cache.c: the session's token cache (token_cache.h) changes no result.
 *
 * Two random models stored as the built-ins are (q4-int8: q4 embedding tables kept stored, int8
 * linears, attn_encoder_prepare'd), with every feature kind and max_len 8, so long texts run in
 * overlapping windows. A session without a cache gives the reference outputs; sessions with
 * caches of several sizes (down to one set of ATTN_TOKEN_CACHE_WAYS rows, where a window's
 * tokens overflow into private rows), with and without an epoch, switching models, must give
 * bit for bit the same encoder outputs and class probabilities. The hit and miss counts show
 * the cache was used, and dropped when it must be. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "encoder.h"
#include "model.h"
#include "pipeline.h"
#include "token_cache.h"

#define MAX_LEN 8

static const char *CONFIG =
    "{\"format\": 1, \"tasks\": [\"classify\"], \"dim\": 32, \"layers\": 1, \"heads\": 2,"
    " \"ffn\": 64, \"max_len\": 8,"
    " \"features\": [{\"kind\": \"norm\", \"buckets\": 512, \"dim\": 32},"
    "  {\"kind\": \"prefix\", \"buckets\": 128, \"dim\": 8, \"affix\": 3},"
    "  {\"kind\": \"suffix\", \"buckets\": 128, \"dim\": 8, \"affix\": 3},"
    "  {\"kind\": \"shape\", \"buckets\": 64, \"dim\": 8},"
    "  {\"kind\": \"subword\", \"buckets\": 1024, \"dim\": 32, \"min_n\": 3, \"max_n\": 5}],"
    " \"classify\": {\"labels\": [\"a\", \"b\", \"c\"]}}";

static const char *WORDS[] = {
    "the", "The", "of", "said", "mln", "dlrs", "1,234", "Reuters", ",", ".", "Émile", "Zoë",
    "straße", "STRASSE", "東京", "U.S.", "pct", "vs", "cts", "shr",
    "internationalisation-of-everything-longer-than-the-key", "x",
};
#define N_WORDS (sizeof WORDS / sizeof WORDS[0])
#define N_TEXTS 24

static uint64_t rng_state;
static uint32_t rng(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

/* A model with CONFIG, values uniform in [-0.5, 0.5) from seed, stored q4-int8. */
static attn_model *make_model(uint64_t seed) {
    attn_model *m = NULL;
    attn_error err;
    rng_state = seed;
    if (attn_model_new(CONFIG, strlen(CONFIG), &m, &err) ||
        attn_model_set_inference_only(m, &err)) {
        fprintf(stderr, "model: %s\n", err.msg);
        attn_model_free(m);
        return NULL;
    }
    int rc = ATTN_OK;
    for (size_t i = 0; i < m->n_specs && !rc; i++) {
        const attn_tensor_spec *sp = &m->specs[i];
        const char *dtype = attn_storage_dtype(ATTN_STORE_Q4_INT8, sp);
        float *x = malloc(sp->size * sizeof *x);
        const size_t n_bytes = attn_tensor_stored_bytes(sp, dtype);
        void *bytes = malloc(n_bytes);
        char shape[64];
        if (sp->ndim == 1) snprintf(shape, sizeof shape, "[%lld]", (long long)sp->shape[0]);
        else snprintf(shape, sizeof shape, "[%lld,%lld]", (long long)sp->shape[0],
                      (long long)sp->shape[1]);
        for (size_t k = 0; k < sp->size; k++) x[k] = (float)(rng() % 1000) / 1000.0f - 0.5f;
        if (!strncmp(sp->key, "final_ln.w", 10) || strstr(sp->key, "ln1.w") ||
            strstr(sp->key, "ln2.w"))
            for (size_t k = 0; k < sp->size; k++) x[k] += 1.0f;
        rc = attn_tensor_encode(sp, dtype, x, bytes, &err);
        if (!rc) rc = attn_model_set_tensor(m, sp->key, dtype, shape, bytes, n_bytes, &err);
        free(x);
        free(bytes);
    }
    if (!rc) rc = attn_model_finish(m, &err);
    if (!rc) rc = attn_encoder_prepare(m, &err);
    if (rc) {
        fprintf(stderr, "model: %s\n", err.msg);
        attn_model_free(m);
        return NULL;
    }
    return m;
}

typedef struct texts {
    char text[N_TEXTS][2048];
} texts;

/* Text i: i * 3 words (0 to 69: up to 9 windows of 8), Zipf-ish (word k with weight 1/(k+1)). */
static void make_texts(texts *t) {
    rng_state = 99;
    for (int i = 0; i < N_TEXTS; i++) {
        char *p = t->text[i];
        p[0] = '\0';
        for (int w = 0; w < i * 3; w++) {
            size_t k = rng() % N_WORDS;
            k = rng() % (k + 1);
            strcat(p, WORDS[k]);
            strcat(p, w % 7 == 6 ? "  " : " ");
        }
    }
}

typedef struct outputs {
    float *h[N_TEXTS];          /* [n_tokens[i], D] */
    int n_tokens[N_TEXTS];
    float probs[N_TEXTS][3];
} outputs;

static int run_all(const attn_model *m, attn_session *s, const texts *t, outputs *o) {
    attn_error err;
    for (int i = 0; i < N_TEXTS; i++) {
        const float *h;
        const attn_token *toks;
        int n;
        if (attn_run_encode(m, s, t->text[i], strlen(t->text[i]), &h, &n, &toks, &err) ||
            attn_run_classify(m, s, t->text[i], strlen(t->text[i]), o->probs[i], &err)) {
            fprintf(stderr, "run: %s\n", err.msg);
            return 0;
        }
        free(o->h[i]);
        o->h[i] = malloc(((size_t)n * m->cfg.dim + 1) * sizeof(float));
        memcpy(o->h[i], h, (size_t)n * m->cfg.dim * sizeof(float));
        o->n_tokens[i] = n;
    }
    return 1;
}

static int same_outputs(const attn_model *m, const outputs *a, const outputs *b) {
    for (int i = 0; i < N_TEXTS; i++) {
        if (a->n_tokens[i] != b->n_tokens[i]) return 0;
        if (memcmp(a->h[i], b->h[i], (size_t)a->n_tokens[i] * m->cfg.dim * sizeof(float)))
            return 0;
        if (memcmp(a->probs[i], b->probs[i], sizeof a->probs[i])) return 0;
    }
    return 1;
}

static void free_outputs(outputs *o) {
    for (int i = 0; i < N_TEXTS; i++) free(o->h[i]);
}

static void stats(const attn_session *s, uint64_t *hits, uint64_t *misses) {
    attn_session_token_cache_stats(s, hits, misses);
}

/* Caches of every size, with and without an epoch, give the uncached outputs. */
static void test_same_results(const attn_model *m, const texts *t, const outputs *ref) {
    const size_t sizes[] = { ATTN_TOKEN_CACHE_WAYS, 8, 64, ATTN_TOKEN_CACHE_ENTRIES };
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        for (int epoch = 0; epoch < 2; epoch++) {
            attn_session *s = attn_session_new();
            outputs o = {0};
            attn_session_set_token_cache(s, sizes[k]);
            if (epoch) attn_session_set_model_epoch(s, 5);
            int ok = run_all(m, s, t, &o) && run_all(m, s, t, &o);   /* twice: warm */
            uint64_t hits, misses;
            stats(s, &hits, &misses);
            CHECK_MSG(ok && same_outputs(m, ref, &o), "cache of %zu rows, epoch %d", sizes[k],
                      epoch);
            CHECK_MSG(hits > 0 && misses > 0, "cache of %zu rows used: %llu hits, %llu misses",
                      sizes[k], (unsigned long long)hits, (unsigned long long)misses);
            free_outputs(&o);
            attn_session_free(s);
        }
}

/* A text of 8 distinct words (one window). Without an epoch the second call finds nothing of
 * the first; under one epoch it finds all; another epoch or another model drops them. */
static void test_lifetime(const attn_model *a, const attn_model *b) {
    const char *text = "the of said mln dlrs pct vs cts";
    attn_session *s = attn_session_new();
    float probs[3];
    attn_error err;
    uint64_t hits, misses;
    CHECK(!attn_run_classify(a, s, text, strlen(text), probs, &err));
    CHECK(!attn_run_classify(a, s, text, strlen(text), probs, &err));
    stats(s, &hits, &misses);
    CHECK_MSG(hits == 0 && misses == 16, "no epoch: %llu hits, %llu misses",
              (unsigned long long)hits, (unsigned long long)misses);

    attn_session_set_model_epoch(s, 1);
    CHECK(!attn_run_classify(a, s, text, strlen(text), probs, &err));   /* 8 misses */
    CHECK(!attn_run_classify(a, s, text, strlen(text), probs, &err));   /* 8 hits */
    stats(s, &hits, &misses);
    CHECK_MSG(hits == 8 && misses == 24, "epoch: %llu hits", (unsigned long long)hits);

    attn_session_set_model_epoch(s, 2);                                 /* drops */
    CHECK(!attn_run_classify(a, s, text, strlen(text), probs, &err));
    stats(s, &hits, &misses);
    CHECK_MSG(hits == 8 && misses == 32, "new epoch: %llu hits", (unsigned long long)hits);

    CHECK(!attn_run_classify(b, s, text, strlen(text), probs, &err));   /* other model */
    CHECK(!attn_run_classify(a, s, text, strlen(text), probs, &err));   /* and back */
    stats(s, &hits, &misses);
    CHECK_MSG(hits == 8 && misses == 48, "model switch: %llu hits", (unsigned long long)hits);
    attn_session_free(s);
}

/* One session, one epoch, the two models in turn: each answer is that model's own. */
static void test_model_switch(const attn_model *a, const attn_model *b, const texts *t,
                              const outputs *ref_a, const outputs *ref_b) {
    attn_session *s = attn_session_new();
    attn_session_set_model_epoch(s, 3);
    outputs oa = {0}, ob = {0};
    int ok = 1;
    for (int round = 0; round < 2; round++)
        ok = ok && run_all(a, s, t, &oa) && run_all(b, s, t, &ob);
    CHECK(ok && same_outputs(a, ref_a, &oa) && same_outputs(b, ref_b, &ob));
    CHECK(!same_outputs(a, ref_a, ref_b));          /* the two models do differ */
    free_outputs(&oa);
    free_outputs(&ob);
    attn_session_free(s);
}

/* The cache counts in the session's window bytes, and a memory limit it does not fit under
 * beside the call's own needs turns it off for that call (same answers). */
static void test_memory(const attn_model *m, const texts *t, const outputs *ref) {
    attn_session *plain = attn_session_new(), *cached = attn_session_new();
    outputs o = {0}, p = {0};
    attn_session_set_token_cache(plain, 0);
    CHECK(run_all(m, plain, t, &p) && run_all(m, cached, t, &o));
    const size_t cache = attn_token_cache_bytes_for(m, ATTN_TOKEN_CACHE_ENTRIES);
    CHECK(attn_session_window_bytes(cached) >= attn_session_window_bytes(plain) + cache);
    CHECK(attn_session_bytes(cached) - attn_session_window_bytes(cached) ==
          attn_session_bytes(plain) - attn_session_window_bytes(plain));

    attn_session *limited = attn_session_new();
    const char *text = t->text[N_TEXTS - 1];
    const size_t n_tokens = (size_t)p.n_tokens[N_TEXTS - 1];
    const size_t need = attn_call_bytes(m, ATTN_TASK_RELATIONS, n_tokens);
    const float *h;
    const attn_token *toks;
    int n;
    attn_error err;
    uint64_t hits, misses;
    attn_session_set_memory_limit(limited, need + cache - 1);
    CHECK(!attn_run_encode(m, limited, text, strlen(text), &h, &n, &toks, &err));
    stats(limited, &hits, &misses);
    CHECK(hits == 0 && misses == 0 && n == p.n_tokens[N_TEXTS - 1] &&
          !memcmp(h, ref->h[N_TEXTS - 1], (size_t)n * m->cfg.dim * sizeof *h));
    attn_session_set_memory_limit(limited, need + cache);
    CHECK(!attn_run_encode(m, limited, text, strlen(text), &h, &n, &toks, &err));
    stats(limited, &hits, &misses);
    CHECK(hits + misses == (uint64_t)attn_windows(n, MAX_LEN, NULL) * MAX_LEN);  /* used */
    CHECK(!memcmp(h, ref->h[N_TEXTS - 1], (size_t)n * m->cfg.dim * sizeof *h));
    free_outputs(&o);
    free_outputs(&p);
    attn_session_free(plain);
    attn_session_free(cached);
    attn_session_free(limited);
}

int main(void) {
    static texts t;
    make_texts(&t);
    attn_model *a = make_model(1), *b = make_model(2);
    CHECK(a && b);
    if (a && b) {
        outputs ref_a = {0}, ref_b = {0};
        attn_session *plain = attn_session_new();
        attn_session_set_token_cache(plain, 0);
        CHECK(run_all(a, plain, &t, &ref_a) && run_all(b, plain, &t, &ref_b));
        uint64_t hits, misses;
        stats(plain, &hits, &misses);
        CHECK(hits == 0 && misses == 0);
        CHECK(ref_a.n_tokens[N_TEXTS - 1] > 4 * MAX_LEN);    /* several windows */
        test_same_results(a, &t, &ref_a);
        test_lifetime(a, b);
        test_model_switch(a, b, &t, &ref_a, &ref_b);
        test_memory(a, &t, &ref_a);
        free_outputs(&ref_a);
        free_outputs(&ref_b);
        attn_session_free(plain);
    }
    attn_model_free(a);
    attn_model_free(b);
    return CHECK_DONE();
}
