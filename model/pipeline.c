/* pipeline.c: text in, answers out (see pipeline.h).
 *
 * One call: tokenize -> per window: feature rows -> encoder, stitched into h[N, D] -> a head
 * -> decoding. Every buffer lives in the session and only grows, so a session that has seen
 * its largest text allocates nothing more. */
#include "pipeline.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "crf.h"
#include "encoder.h"
#include "features.h"
#include "heads.h"
#include "layers.h"
#include "token_cache.h"

struct attn_session {
    attn_tokens toks;
    attn_scratch scratch;             /* encoder intermediates */
    uint32_t *rows;   size_t rows_cap;    /* [L, S] one window's feature rows, S = slots */
    float *hidden;    size_t hidden_cap;  /* [N, D] stitched encoder output */
    float *window;    size_t window_cap;  /* [max_len, D] output of one window */
    int *starts;      size_t starts_cap;  /* [n_windows] */
    int *owner;       size_t owner_cap;   /* [N] window each token takes its output from */
    float *em;        size_t em_cap;      /* [N, K] emissions */
    float *marg;      size_t marg_cap;    /* [N, K] CRF marginals */
    float *crf_work;  size_t crf_work_cap;
    int *path;        size_t path_cap;    /* [N] Viterbi tags */
    uint8_t *allowed; size_t allowed_cap; /* [K*K + K] IOB2 transitions, then starts */
    float *pool;      size_t pool_cap;    /* [2D] */
    float *rel_work;  size_t rel_work_cap;/* ATTN_REL_WORK + [R+1] probabilities */
    attn_entity *ents;   size_t ents_cap;  size_t n_ents;
    attn_relation *rels; size_t rels_cap;  size_t n_rels;
    int n_tokens;
    size_t memory_limit;              /* bytes a call may need (attn_call_bytes); 0 = none */
    int over_memory;                  /* the last call failed on memory_limit */
    attn_token_cache *cache;          /* made on first use; NULL with cache_entries 0 */
    size_t cache_entries;             /* its size (ATTN_TOKEN_CACHE_ENTRIES); 0 = no cache */
    int has_epoch;                    /* attn_session_set_model_epoch was called */
    uint64_t epoch;
};

void attn_session_set_memory_limit(attn_session *s, size_t max_bytes) {
    s->memory_limit = max_bytes;
}

int attn_session_over_memory(const attn_session *s) { return s->over_memory; }

size_t attn_call_bytes(const attn_model *m, int task, size_t n_tokens) {
    const attn_config *c = &m->cfg;
    const size_t N = n_tokens, D = (size_t)c->dim, K = (size_t)attn_config_n_tags(c);
    const size_t L = N < (size_t)c->max_len ? N : (size_t)c->max_len;
    const size_t slots = (size_t)attn_feature_slots(c->features, c->n_features);
    size_t per_token = sizeof(attn_token) + sizeof(int);                 /* token, owner */
    if (task != ATTN_TASK_CLASSIFY)     /* emissions, marginals, CRF work, path, entities */
        per_token += 4 * K * sizeof(float) + sizeof(int) + sizeof(attn_entity);
    if (task == ATTN_TASK_RELATIONS)    /* the stitched h[N, D] */
        per_token += D * sizeof(float);
    const size_t fixed = (attn_encode_scratch_floats(m, (int)L) + L * D + 2 * D +
                          ATTN_REL_WORK(m) + (size_t)c->relation_labels.n + 1) * sizeof(float) +
                         L * slots * sizeof(uint32_t);          /* one window's feature rows */
    return fixed + N * per_token;
}

size_t attn_session_window_bytes(const attn_session *s) {
    return (s->scratch.cap + s->window_cap) * sizeof(float) + s->rows_cap * sizeof *s->rows +
           (s->cache ? attn_token_cache_bytes(s->cache) : 0);
}

size_t attn_session_bytes(const attn_session *s) {
    return attn_session_window_bytes(s) + s->toks.cap * sizeof(attn_token) +
           s->hidden_cap * sizeof *s->hidden +
           s->starts_cap * sizeof *s->starts + s->owner_cap * sizeof *s->owner +
           (s->em_cap + s->marg_cap + s->crf_work_cap + s->pool_cap + s->rel_work_cap) *
               sizeof(float) +
           s->path_cap * sizeof *s->path + s->allowed_cap + s->ents_cap * sizeof *s->ents +
           s->rels_cap * sizeof *s->rels;
}

/* ATTN_ELIMIT when a call of task on the session's tokens needs more than its limit. */
static int check_memory(const attn_model *m, attn_session *s, int task, attn_error *err) {
    const size_t need = attn_call_bytes(m, task, (size_t)s->n_tokens);
    if (!s->memory_limit || need <= s->memory_limit) return ATTN_OK;
    s->over_memory = 1;
    return attn_fail(err, ATTN_ELIMIT, "%d tokens need %zu bytes of working memory, above "
                     "the limit of %zu", s->n_tokens, need, s->memory_limit);
}

attn_session *attn_session_new(void) {
    attn_session *s = calloc(1, sizeof(attn_session));
    if (s) s->cache_entries = ATTN_TOKEN_CACHE_ENTRIES;
    return s;
}

void attn_session_set_model_epoch(attn_session *s, uint64_t epoch) {
    s->has_epoch = 1;
    s->epoch = epoch;
}

void attn_session_set_token_cache(attn_session *s, size_t n_entries) {
    attn_token_cache_free(s->cache);
    s->cache = NULL;
    s->cache_entries = n_entries;
}

void attn_session_token_cache_stats(const attn_session *s, uint64_t *hits, uint64_t *misses) {
    *hits = *misses = 0;
    if (s->cache) attn_token_cache_stats(s->cache, hits, misses);
}

void attn_session_free(attn_session *s) {
    if (!s) return;
    attn_tokens_free(&s->toks);
    attn_scratch_free(&s->scratch);
    attn_token_cache_free(s->cache);
    free(s->rows); free(s->hidden); free(s->window); free(s->starts); free(s->owner);
    free(s->em); free(s->marg); free(s->crf_work); free(s->path); free(s->allowed);
    free(s->pool); free(s->rel_work); free(s->ents); free(s->rels);
    free(s);
}

/* Makes *p hold at least n elements of elem bytes (growing by doubling); 0 or -1 (ENOMEM). */
static int grow(void **p, size_t *cap, size_t n, size_t elem) {
    if (n <= *cap && *p) return 0;
    size_t want = n > 2 * *cap ? n : 2 * *cap;
    if (want == 0) want = 1;
    if (want > SIZE_MAX / elem) return -1;
    void *q = realloc(*p, want * elem);
    if (!q) return -1;
    *p = q;
    *cap = want;
    return 0;
}
#define GROW(s, field, n) grow((void **)&(s)->field, &(s)->field##_cap, (n), sizeof *(s)->field)

static int no_memory(attn_error *err, const char *what) {
    return attn_fail(err, ATTN_ENOMEM, "out of memory (%s)", what);
}

static int require_task(const attn_model *m, int task, const char *name, attn_error *err) {
    if (m->cfg.tasks & task) return ATTN_OK;
    return attn_fail(err, ATTN_EINVAL, "model has no '%s' task", name);
}

/* ---- windows ---- */

static int window_stride(int max_len) { return max_len - max_len / 4; }

int attn_windows(int n_tokens, int max_len, int *starts) {
    if (n_tokens <= max_len) {
        if (starts) starts[0] = 0;
        return 1;
    }
    const int stride = window_stride(max_len), last = n_tokens - max_len;
    const int n = 1 + (last + stride - 1) / stride;
    if (starts)
        for (int w = 0; w < n; w++) starts[w] = w < n - 1 ? w * stride : last;
    return n;
}

/* Distance of token t from the nearer edge of the window [start, start + len). */
static int edge_distance(int t, int start, int len) {
    const int left = t - start, right = start + len - 1 - t;
    return left < right ? left : right;
}

void attn_window_owners(int n_tokens, int max_len, const int *starts, int n_windows,
                        int *owner) {
    const int len = n_tokens < max_len ? n_tokens : max_len;
    for (int t = 0; t < n_tokens; t++) owner[t] = -1;
    for (int w = 0; w < n_windows; w++)
        for (int t = starts[w]; t < starts[w] + len; t++)
            if (owner[t] < 0 || edge_distance(t, starts[w], len) >
                                edge_distance(t, starts[owner[t]], len))
                owner[t] = w;
}

/* ---- text -> encoder output ---- */

/* Tokenizes text into s->toks, checking the memory a call of task needs (attn_call_bytes) once
 * the token count is known and before the per-token buffers grow. */
static int tokenize_text(const attn_model *m, attn_session *s, const char *text, size_t n_bytes,
                         int task, attn_error *err) {
    s->over_memory = 0;
    int rc = attn_tokenize(text, n_bytes, &s->toks, err);
    if (rc) return rc;
    if (s->toks.n > INT_MAX) return attn_fail(err, ATTN_ELIMIT, "text has too many tokens");
    s->n_tokens = (int)s->toks.n;
    return check_memory(m, s, task, err);
}

/* s->rows[len, slots] = the feature rows of tokens [start, start + len) of text: one window's
 * worth, made when the window is encoded, so they take no memory per token of the text. */
static void featurise_window(const attn_model *m, attn_session *s, const char *text, int start,
                             int len) {
    const int slots = attn_feature_slots(m->cfg.features, m->cfg.n_features);
    for (int t = 0; t < len; t++) {
        const attn_token *tk = &s->toks.tok[start + t];
        attn_token_features(text + tk->byte_start, tk->byte_end - tk->byte_start,
                            m->cfg.features, m->cfg.n_features, s->rows + (size_t)t * slots);
    }
}

/* What a call keeps of the encoder output. Only relations need all of h[N, D]; the other
 * tasks consume each window's output as it is made, so for them no [N, D] array exists and
 * memory per token does not grow with the model's width. */
typedef enum { KEEP_HIDDEN, KEEP_EMISSIONS, KEEP_POOL } keep_kind;

static keep_kind keep_for(int task) {
    return task == ATTN_TASK_CLASSIFY ? KEEP_POOL
         : task == ATTN_TASK_ENTITIES ? KEEP_EMISSIONS : KEEP_HIDDEN;
}

/* Takes the encoder output h_rows[t1 - t0, D] of tokens [t0, t1) of the text. */
static void keep_rows(const attn_model *m, attn_session *s, keep_kind keep,
                      const float *h_rows, int t0, int t1) {
    const int D = m->cfg.dim, K = attn_config_n_tags(&m->cfg);
    switch (keep) {
    case KEEP_HIDDEN:
        memcpy(s->hidden + (size_t)t0 * D, h_rows, (size_t)(t1 - t0) * D * sizeof *s->hidden);
        /* The emissions too, from the same runs as for entities: the same products, so the
         * tagger decodes exactly the same entities in both tasks. */
        if (m->cfg.tasks & ATTN_TASK_ENTITIES)
            attn_tag_emissions(m, h_rows, t1 - t0, s->em + (size_t)t0 * K);
        break;
    case KEEP_EMISSIONS: attn_tag_emissions(m, h_rows, t1 - t0, s->em + (size_t)t0 * K); break;
    case KEEP_POOL: attn_pool_add(s->pool, h_rows, t1 - t0, D); break;
    }
}

/* Whether the call of task on the session's tokens runs through the token cache: it has one
 * (made now) and the cache's bytes fit under the memory limit beside attn_call_bytes. The
 * cache changes no result, so a call that cannot have it runs without it. */
static int use_token_cache(const attn_model *m, attn_session *s, int task) {
    if (!s->cache_entries) return 0;
    if (s->memory_limit) {
        const size_t call = attn_call_bytes(m, task, (size_t)s->n_tokens);
        const size_t cache = attn_token_cache_bytes_for(m, s->cache_entries);
        if (call > s->memory_limit || cache > s->memory_limit - call) return 0;
    }
    if (!s->cache) s->cache = attn_token_cache_new(s->cache_entries);
    return s->cache != NULL;
}

/* The model the window's rows are for, with s->rows[len, slots] filled: through the token
 * cache (one slot per token, rows of the cache's table) or straight from the features. */
static const attn_model *window_rows(const attn_model *m, attn_session *s, const char *text,
                                     int start, int len, int cached) {
    if (!cached) {
        featurise_window(m, s, text, start, len);
        return m;
    }
    attn_token_cache_window(s->cache, m, text, s->toks.tok + start, len, s->rows);
    return attn_token_cache_model(s->cache);
}

/* Encodes every window (one when N <= max_len) and hands each token's output, from the window
 * that owns it, to keep_rows in runs of consecutive tokens. */
static int encode_windows(const attn_model *m, attn_session *s, const char *text, int task,
                          attn_error *err) {
    const keep_kind keep = keep_for(task);
    const int N = s->n_tokens, L = m->cfg.max_len, D = m->cfg.dim;
    const int len = N < L ? N : L;
    const int slots = attn_feature_slots(m->cfg.features, m->cfg.n_features);
    const int n_windows = attn_windows(N, L, NULL);
    if (GROW(s, starts, (size_t)n_windows) || GROW(s, owner, (size_t)N) ||
        GROW(s, window, (size_t)len * D) || GROW(s, rows, (size_t)len * slots + 1))
        return no_memory(err, "windows");
    attn_windows(N, L, s->starts);
    attn_window_owners(N, L, s->starts, n_windows, s->owner);
    const int cached = use_token_cache(m, s, task);
    if (cached) {
        int rc = attn_token_cache_begin(s->cache, m, s->has_epoch, s->epoch, err);
        if (rc) return rc;
    }
    for (int w = 0; w < n_windows; w++) {
        const int start = s->starts[w];
        const attn_model *em = window_rows(m, s, text, start, len, cached);
        int rc = attn_encode(em, s->rows, len, s->window, &s->scratch, err);
        if (rc) return rc;
        for (int t = start; t < start + len;) {
            if (s->owner[t] != w) { t++; continue; }
            int end = t + 1;
            while (end < start + len && s->owner[end] == w) end++;
            keep_rows(m, s, keep, s->window + (size_t)(t - start) * D, t, end);
            t = end;
        }
    }
    return ATTN_OK;
}

/* Tokenizes text and encodes it for task (an ATTN_TASK_* bit): fills s->hidden[N, D]
 * (relations), s->em[N, K] (entities) or the pooling sums s->pool[2D] (classify). N may be 0. */
static int encode_text(const attn_model *m, attn_session *s, const char *text, size_t n_bytes,
                       int task, attn_error *err) {
    if (n_bytes == 0) text = "";
    int rc = tokenize_text(m, s, text, n_bytes, task, err);
    if (rc) return rc;
    const int N = s->n_tokens, D = m->cfg.dim, K = attn_config_n_tags(&m->cfg);
    const keep_kind keep = keep_for(task);
    if (keep == KEEP_HIDDEN && GROW(s, hidden, (size_t)N * D + 1))
        return no_memory(err, "hidden states");
    const int tags = keep == KEEP_EMISSIONS ||
                     (keep == KEEP_HIDDEN && (m->cfg.tasks & ATTN_TASK_ENTITIES));
    if (tags && GROW(s, em, (size_t)N * K + 1))
        return no_memory(err, "emissions");
    if (keep == KEEP_POOL) {
        if (GROW(s, pool, 2 * (size_t)D)) return no_memory(err, "pooling");
        attn_pool_init(s->pool, D);
    }
    if (N == 0) return ATTN_OK;
    return encode_windows(m, s, text, task, err);
}

int attn_run_encode(const attn_model *m, attn_session *s, const char *text, size_t n_bytes,
                    const float **h, int *n_tokens, const attn_token **toks, attn_error *err) {
    int rc = encode_text(m, s, text, n_bytes, ATTN_TASK_RELATIONS, err);
    if (rc) return rc;
    *h = s->hidden;
    *n_tokens = s->n_tokens;
    *toks = s->toks.tok;
    return ATTN_OK;
}

/* ---- classify ---- */

int attn_run_classify(const attn_model *m, attn_session *s, const char *text, size_t n_bytes,
                      float *probs, attn_error *err) {
    int rc = require_task(m, ATTN_TASK_CLASSIFY, "classify", err);
    if (!rc) rc = encode_text(m, s, text, n_bytes, ATTN_TASK_CLASSIFY, err);
    if (rc) return rc;
    attn_pool_finish(s->pool, m->cfg.dim, s->n_tokens);
    attn_classify_head(m, s->pool, probs);
    return ATTN_OK;
}

/* ---- entities ---- */

size_t attn_iob2_spans(const int *path, int N, attn_entity *out) {
    size_t n = 0;
    int open = 0;                       /* an entity out[n-1] is still being extended */
    for (int t = 0; t < N; t++) {
        const int tag = path[t];
        if (tag <= 0) { open = 0; continue; }
        const int label = (tag - 1) / 2, inside = (tag - 1) % 2;
        if (inside && open && out[n - 1].label == label) {
            out[n - 1].tok_end = t + 1;
            continue;
        }
        memset(&out[n], 0, sizeof out[n]);
        out[n].tok_start = t;
        out[n].tok_end = t + 1;
        out[n].label = label;
        n++;
        open = 1;
    }
    return n;
}

/* Viterbi path and marginals of all N stitched tokens (N >= 1), from the emissions keep_rows
 * made window by window. */
static int tag_sequence(const attn_model *m, attn_session *s, attn_error *err) {
    const int N = s->n_tokens, K = attn_config_n_tags(&m->cfg);
    const size_t NK = (size_t)N * K;
    if (GROW(s, em, NK) || GROW(s, marg, NK) || GROW(s, path, (size_t)N) ||
        GROW(s, crf_work, ATTN_CRF_WORK(N, K)) || GROW(s, allowed, (size_t)K * K + K))
        return no_memory(err, "tagging");
    attn_bio_constraints(m->cfg.entity_labels.n, s->allowed, s->allowed + (size_t)K * K);
    const attn_crf crf = { K, m->w.crf_trans, m->w.crf_start, m->w.crf_end,
                           s->allowed, s->allowed + (size_t)K * K };
    attn_crf_viterbi(&crf, s->em, N, s->path, s->crf_work);
    attn_crf_marginals(&crf, s->em, N, s->marg, s->crf_work);
    return ATTN_OK;
}

/* Offsets in the text and the score (mean marginal of the decoded tags) of each entity. */
static void finish_entities(const attn_model *m, attn_session *s) {
    const int K = attn_config_n_tags(&m->cfg);
    for (size_t i = 0; i < s->n_ents; i++) {
        attn_entity *e = &s->ents[i];
        const attn_token *first = &s->toks.tok[e->tok_start];
        const attn_token *last = &s->toks.tok[e->tok_end - 1];
        e->start = first->start;
        e->end = last->end;
        e->byte_start = first->byte_start;
        e->byte_end = last->byte_end;
        double sum = 0.0;
        for (int t = e->tok_start; t < e->tok_end; t++)
            sum += s->marg[(size_t)t * K + s->path[t]];
        e->score = (float)(sum / (e->tok_end - e->tok_start));
    }
}

/* Tokenize, encode, tag and decode for task (entities or relations): fills s->ents. */
static int find_entities(const attn_model *m, attn_session *s, const char *text,
                         size_t n_bytes, int task, attn_error *err) {
    s->n_ents = 0;
    int rc = encode_text(m, s, text, n_bytes, task, err);
    if (rc || s->n_tokens == 0) return rc;
    rc = tag_sequence(m, s, err);
    if (rc) return rc;
    if (GROW(s, ents, (size_t)s->n_tokens)) return no_memory(err, "entities");
    s->n_ents = attn_iob2_spans(s->path, s->n_tokens, s->ents);
    finish_entities(m, s);
    return ATTN_OK;
}

int attn_run_entities(const attn_model *m, attn_session *s, const char *text, size_t n_bytes,
                      const attn_entity **ents, size_t *n_ents, attn_error *err) {
    int rc = require_task(m, ATTN_TASK_ENTITIES, "entities", err);
    if (!rc) rc = find_entities(m, s, text, n_bytes, ATTN_TASK_ENTITIES, err);
    if (rc) return rc;
    *ents = s->ents;
    *n_ents = s->n_ents;
    return ATTN_OK;
}

/* ---- relations ---- */

int attn_pair_in_extent(const attn_entity *a, const attn_entity *b, int max_len) {
    const int first = a->tok_start < b->tok_start ? a->tok_start : b->tok_start;
    const int end = a->tok_end > b->tok_end ? a->tok_end : b->tok_end;
    return end - first <= max_len;
}

/* Index of the largest value (the first one on a tie). */
static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static int reserve_relation_work(const attn_model *m, attn_session *s, attn_error *err) {
    const size_t n = ATTN_REL_WORK(m) + (size_t)m->cfg.relation_labels.n + 1;
    if (GROW(s, rel_work, n)) return no_memory(err, "relation head");
    return ATTN_OK;
}

/* Classifies one ordered pair; appends it to s->rels unless predicted "none". */
static int classify_pair(const attn_model *m, attn_session *s, int i, int j, attn_error *err) {
    const attn_entity *a = &s->ents[i], *b = &s->ents[j];
    const int R1 = m->cfg.relation_labels.n + 1;
    float *probs = s->rel_work + ATTN_REL_WORK(m);
    attn_relation_head(m, s->hidden, s->n_tokens, a->tok_start, a->tok_end, a->label,
                       b->tok_start, b->tok_end, b->label, probs, s->rel_work);
    const int best = argmax(probs, R1);
    if (best == 0) return ATTN_OK;
    if (GROW(s, rels, s->n_rels + 1)) return no_memory(err, "relations");
    s->rels[s->n_rels++] = (attn_relation){ i, j, best - 1, probs[best] };
    return ATTN_OK;
}

int attn_run_relations(const attn_model *m, attn_session *s, const char *text, size_t n_bytes,
                       const attn_entity **ents, size_t *n_ents,
                       const attn_relation **rels, size_t *n_rels, attn_error *err) {
    s->n_rels = 0;
    int rc = require_task(m, ATTN_TASK_RELATIONS, "relations", err);
    if (!rc) rc = find_entities(m, s, text, n_bytes, ATTN_TASK_RELATIONS, err);
    if (!rc) rc = reserve_relation_work(m, s, err);
    for (size_t i = 0; !rc && i < s->n_ents; i++)
        for (size_t j = 0; !rc && j < s->n_ents; j++)
            if (i != j && attn_pair_in_extent(&s->ents[i], &s->ents[j], m->cfg.max_len))
                rc = classify_pair(m, s, (int)i, (int)j, err);
    if (rc) return rc;
    *ents = s->ents;
    *n_ents = s->n_ents;
    *rels = s->rels;
    *n_rels = s->n_rels;
    return ATTN_OK;
}

/* Snaps the character span [start, end) outward to the tokens it overlaps: [*t0, *t1). */
static int snap_span(const attn_session *s, const char *which, int64_t start, int64_t end,
                     int64_t n_chars, int *t0, int *t1, attn_error *err) {
    if (start < 0 || end > n_chars || start >= end)
        return attn_fail(err, ATTN_EINVAL, "%s span [%lld, %lld) out of range for a text of "
                         "%lld characters", which, (long long)start, (long long)end,
                         (long long)n_chars);
    int first = -1, last = -1;
    for (int t = 0; t < s->n_tokens; t++) {
        const attn_token *tk = &s->toks.tok[t];
        if (tk->end > start && tk->start < end) {
            if (first < 0) first = t;
            last = t;
        }
    }
    if (first < 0)
        return attn_fail(err, ATTN_EINVAL, "%s span [%lld, %lld) covers no token", which,
                         (long long)start, (long long)end);
    *t0 = first;
    *t1 = last + 1;
    return ATTN_OK;
}

/* The entity label with the largest summed marginal P(B-i) + P(I-i) over tokens [t0, t1). */
static int span_label(const attn_model *m, const attn_session *s, int t0, int t1) {
    const int E = m->cfg.entity_labels.n, K = attn_config_n_tags(&m->cfg);
    int best = 0;
    double best_mass = -1.0;
    for (int i = 0; i < E; i++) {
        double mass = 0.0;
        for (int t = t0; t < t1; t++)
            mass += s->marg[(size_t)t * K + 1 + 2 * i] + s->marg[(size_t)t * K + 2 + 2 * i];
        if (mass > best_mass) { best_mass = mass; best = i; }
    }
    return best;
}

int attn_run_relation_pair(const attn_model *m, attn_session *s, const char *text,
                           size_t n_bytes, int64_t hs, int64_t he, int64_t ts, int64_t te,
                           float *probs, attn_error *err) {
    int hs_tok, he_tok, ts_tok, te_tok;
    int rc = require_task(m, ATTN_TASK_RELATIONS, "relations", err);
    if (!rc) rc = encode_text(m, s, text, n_bytes, ATTN_TASK_RELATIONS, err);
    if (rc) return rc;
    const int64_t n_chars = attn_utf8_count(n_bytes ? text : "", n_bytes);
    rc = snap_span(s, "head", hs, he, n_chars, &hs_tok, &he_tok, err);
    if (!rc) rc = snap_span(s, "tail", ts, te, n_chars, &ts_tok, &te_tok, err);
    if (!rc) rc = tag_sequence(m, s, err);
    if (!rc) rc = reserve_relation_work(m, s, err);
    if (rc) return rc;
    const int head_label = span_label(m, s, hs_tok, he_tok);
    const int tail_label = span_label(m, s, ts_tok, te_tok);
    attn_relation_head(m, s->hidden, s->n_tokens, hs_tok, he_tok, head_label,
                       ts_tok, te_tok, tail_label, probs, s->rel_work);
    return ATTN_OK;
}
