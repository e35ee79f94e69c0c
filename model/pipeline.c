/* pipeline.c: text in, answers out (see pipeline.h).
 *
 * One call: tokenize -> per window: feature rows -> encoder -> each token's output, from the
 * window that owns it -> a head -> decoding. Classify and entities stream. Classify takes
 * consecutive chunks of max_len tokens straight from the tokenizer and pools each as it is
 * encoded. Entities make a counting pass (the overlapping windows need N), then take each
 * window's tokens from the tokenizer into a buffer of the tokens still needed, and push the
 * emissions into the streaming CRF (crf.h), whose decided tokens become entities at once.
 * Relations keep all tokens and h[N, D]. Every buffer lives in the session and only grows, so
 * a session that has seen its largest text allocates nothing more. */
#include "pipeline.h"

#include <assert.h>
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
    attn_tokens toks;                 /* tokens [tok_base, tok_base + toks.n) of the text */
    int tok_base;
    int streaming;                    /* toks holds a sliding part of the text (classify,
                                         entities), else all of it (relations, encode) */
    attn_tokenizer tokenizer;         /* where streaming takes the next tokens from */
    attn_scratch scratch;             /* encoder intermediates */
    uint32_t *rows;   size_t rows_cap;    /* [L, S] one window's feature rows, S = slots */
    float *hidden;    size_t hidden_cap;  /* [N, D] stitched encoder output (relations) */
    float *window;    size_t window_cap;  /* [max_len, D] output of one window */
    float *em;        size_t em_cap;      /* [N, K] emissions (relations), [max_len, K] else */
    float *marg;      size_t marg_cap;    /* [N, K] CRF marginals (relation pairs) */
    float *crf_work;  size_t crf_work_cap;
    int *path;        size_t path_cap;    /* [N] Viterbi tags (relation pairs) */
    uint8_t *allowed; size_t allowed_cap; /* [K*K + K] IOB2 transitions, then starts */
    attn_crf_stream tagger;           /* streaming Viterbi and marginals (entities) */
    float *tag_work;  size_t tag_work_cap;    /* ATTN_CRF_STREAM_WORK(rows, K) */
    int *decided_tag; size_t decided_tag_cap; /* [rows] tags the tagger decided, */
    float *decided_prob; size_t decided_prob_cap; /* [rows] and their marginals */
    int n_decided;                    /* tokens decided so far in this call */
    int entity_open;                  /* ents[n_ents - 1] may still grow */
    double entity_prob_sum;           /* over its tokens so far */
    float *pool;      size_t pool_cap;    /* [2D] */
    float *rel_work;  size_t rel_work_cap;/* ATTN_REL_WORK + [R+1] probabilities */
    float *pair_logits; size_t pair_logits_cap; /* [pairs, R+1] (relation candidates) */
    attn_entity *ents;   size_t ents_cap;  size_t n_ents;
    attn_relation *rels; size_t rels_cap;  size_t n_rels;
    int n_tokens;
    size_t memory_limit;              /* bytes a call may need (attn_call_bytes); 0 = none */
    int over_memory;                  /* the last call failed on memory_limit */
    attn_token_cache *cache;          /* made on first use; NULL with cache_entries 0 */
    size_t cache_entries;             /* its size (ATTN_TOKEN_CACHE_ENTRIES); 0 = no cache */
    int has_epoch;                    /* attn_session_set_model_epoch was called */
    uint64_t epoch;
    attn_stop_cb stop;                /* asked between windows, chunks and relation pairs */
    void *stop_user;
};

void attn_session_set_stop(attn_session *s, attn_stop_cb stop, void *user) {
    s->stop = stop;
    s->stop_user = user;
}

/* ATTN_ESTOPPED when the caller's stop callback says so. */
static int check_stop(const attn_session *s, attn_error *err) {
    if (s->stop && s->stop(s->stop_user)) return attn_fail(err, ATTN_ESTOPPED, "interrupted");
    return ATTN_OK;
}

void attn_session_set_memory_limit(attn_session *s, size_t max_bytes) {
    s->memory_limit = max_bytes;
}

int attn_session_over_memory(const attn_session *s) { return s->over_memory; }

/* Undecided tokens the streaming tagger may hold: ATTN_TAG_PENDING_WINDOWS windows, and
 * room for its lookahead. */
static int tagger_cap(const attn_config *c) {
    const int windows = ATTN_TAG_PENDING_WINDOWS * c->max_len, least = 4 * ATTN_TAG_LOOKAHEAD;
    return windows > least ? windows : least;
}

/* Tokens a streaming call holds at once: those of the current window and, for entities, every
 * token since the first one the tagger has not decided (fewer than its cap). */
static size_t held_tokens(const attn_config *c, int task, size_t n_tokens) {
    size_t held = (size_t)c->max_len + (task == ATTN_TASK_ENTITIES ? (size_t)tagger_cap(c) : 0);
    return held < n_tokens ? held : n_tokens;
}

/* Rows of the streaming tagger's work for a text of n_tokens: no more than it has tokens. */
static int tagger_rows(const attn_config *c, size_t n_tokens) {
    const int cap = tagger_cap(c);
    return n_tokens < (size_t)cap ? (n_tokens ? (int)n_tokens : 1) : cap;
}

/* The streaming tagger: its work memory, decided tags and marginals, constraints. */
static size_t tagger_bytes(const attn_config *c, size_t n_tokens) {
    const size_t K = (size_t)attn_config_n_tags(c), rows = (size_t)tagger_rows(c, n_tokens);
    return ATTN_CRF_STREAM_WORK(rows, K) * sizeof(float) +
           rows * (sizeof(int) + sizeof(float)) + K * K + K;
}

size_t attn_call_bytes(const attn_model *m, int task, size_t n_tokens) {
    const attn_config *c = &m->cfg;
    const size_t N = n_tokens, D = (size_t)c->dim, K = (size_t)attn_config_n_tags(c);
    const size_t L = N < (size_t)c->max_len ? N : (size_t)c->max_len;
    const size_t slots = (size_t)attn_feature_slots(c->features, c->n_features);
    const size_t fixed = (attn_encode_scratch_floats(m, (int)L) + L * D + 2 * D +
                          ATTN_REL_WORK(m) + (size_t)c->relation_labels.n + 1) * sizeof(float) +
                         L * slots * sizeof(uint32_t);          /* one window's feature rows */
    if (task == ATTN_TASK_CLASSIFY)
        return fixed + held_tokens(c, task, N) * sizeof(attn_token);
    if (task == ATTN_TASK_ENTITIES)     /* + one window's emissions; entities as found */
        return fixed + held_tokens(c, task, N) * sizeof(attn_token) + tagger_bytes(c, N) +
               L * K * sizeof(float);
    /* relations: every token, h[N, D], emissions, marginals, CRF work, path, entities */
    const size_t per_token = sizeof(attn_token) + D * sizeof(float) +
                             4 * K * sizeof(float) + sizeof(int) + sizeof(attn_entity);
    return fixed + tagger_bytes(c, N) + N * per_token;
}

size_t attn_session_window_bytes(const attn_session *s) {
    return (s->scratch.cap + s->window_cap) * sizeof(float) + s->rows_cap * sizeof *s->rows +
           (s->cache ? attn_token_cache_bytes(s->cache) : 0);
}

size_t attn_session_bytes(const attn_session *s) {
    return attn_session_window_bytes(s) + s->toks.cap * sizeof(attn_token) +
           s->hidden_cap * sizeof *s->hidden +
           (s->em_cap + s->marg_cap + s->crf_work_cap + s->pool_cap + s->rel_work_cap +
            s->pair_logits_cap +
            s->tag_work_cap + s->decided_prob_cap) * sizeof(float) +
           (s->path_cap + s->decided_tag_cap) * sizeof(int) + s->allowed_cap +
           s->ents_cap * sizeof *s->ents + s->rels_cap * sizeof *s->rels;
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
    free(s->rows); free(s->hidden); free(s->window);
    free(s->em); free(s->marg); free(s->crf_work); free(s->path); free(s->allowed);
    free(s->tag_work); free(s->decided_tag); free(s->decided_prob);
    free(s->pool); free(s->rel_work); free(s->pair_logits); free(s->ents); free(s->rels);
    free(s);
}

#define GROW(s, field, n) attn_grow((void **)&(s)->field, &(s)->field##_cap, (n), sizeof *(s)->field)

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

/* starts[w] of attn_windows, without the array. */
static int window_start(int w, int n_windows, int n_tokens, int max_len) {
    if (n_tokens <= max_len) return 0;
    return w < n_windows - 1 ? w * window_stride(max_len) : n_tokens - max_len;
}

int attn_window_owner(int t, int n_tokens, int max_len) {
    const int n_windows = attn_windows(n_tokens, max_len, NULL);
    const int len = n_tokens < max_len ? n_tokens : max_len, stride = window_stride(max_len);
    const int first = t - len < 0 ? 0 : (t - len) / stride;   /* no earlier window reaches t */
    const int last = t / stride + 1 < n_windows - 1 ? t / stride + 1 : n_windows - 1;
    int owner = -1, owner_distance = -1;
    for (int w = first; w <= last; w++) {
        const int start = window_start(w, n_windows, n_tokens, max_len);
        if (t < start || t >= start + len) continue;
        const int d = edge_distance(t, start, len);
        if (d > owner_distance) { owner = w; owner_distance = d; }   /* earlier on a tie */
    }
    return owner;
}

/* ---- tokens ---- */

/* Appends up to n tokens from the tokenizer to s->toks (room reserved); returns how many. */
static int take_tokens(attn_session *s, int n) {
    int taken = 0;
    while (taken < n && attn_tokenizer_next(&s->tokenizer, &s->toks.tok[s->toks.n])) {
        s->toks.n++;
        taken++;
    }
    return taken;
}

/* Counts the tokens left in the tokenizer, storing none. */
/* Tokens the tokenizer has left; asks the stop callback every STOP_EVERY_TOKENS (a 100 MB
 * text takes seconds to count). */
#define STOP_EVERY_TOKENS 65536
static int count_rest(attn_session *s, size_t *n, attn_error *err) {
    attn_token tok;
    *n = 0;
    while (attn_tokenizer_next(&s->tokenizer, &tok))
        if (++*n % STOP_EVERY_TOKENS == 0 && check_stop(s, err)) return ATTN_ESTOPPED;
    return ATTN_OK;
}

/* Classify: starts the tokenizer and takes the first chunk (max_len tokens, or all of a shorter
 * text) into s->toks, which is all a call's memory depends on (attn_call_bytes of min(N,
 * max_len) tokens); only when that is over the limit are the remaining tokens counted, for the
 * message. The other chunks are taken as they are encoded (pool_chunks). */
static int first_chunk(const attn_model *m, attn_session *s, const char *text, size_t n_bytes,
                       attn_error *err) {
    const int L = m->cfg.max_len;
    int rc = attn_tokenizer_start(&s->tokenizer, text, n_bytes, err);
    if (rc) return rc;
    if (attn_grow((void **)&s->toks.tok, &s->toks.cap, (size_t)L, sizeof *s->toks.tok))
        return no_memory(err, "tokens");
    s->n_tokens = take_tokens(s, L);
    const size_t need = attn_call_bytes(m, ATTN_TASK_CLASSIFY, (size_t)s->n_tokens);
    if (s->memory_limit && need > s->memory_limit && s->n_tokens == L) {
        size_t rest;
        rc = count_rest(s, &rest, err);
        if (rc) return rc;
        const size_t n = (size_t)L + rest;
        s->n_tokens = n > INT_MAX ? INT_MAX : (int)n;
    }
    return check_memory(m, s, ATTN_TASK_CLASSIFY, err);
}

/* Counts the text's tokens (entities) or tokenizes all of it (relations), checking the memory
 * a call of task needs (attn_call_bytes) once the count is known and before any buffer grows.
 * Entities then take the tokens again from s->tokenizer, window by window; classify takes its
 * first chunk (first_chunk). */
static int tokenize_text(const attn_model *m, attn_session *s, const char *text, size_t n_bytes,
                         int task, attn_error *err) {
    s->over_memory = 0;
    s->streaming = task != ATTN_TASK_RELATIONS;
    s->tok_base = 0;
    s->toks.n = 0;
    if (task == ATTN_TASK_CLASSIFY) return first_chunk(m, s, text, n_bytes, err);
    /* Counted first (relations too), so that the memory limit is checked before a buffer
     * grows with the text; relations then take all the tokens at once. */
    size_t n = 0;
    int rc = attn_tokenizer_start(&s->tokenizer, text, n_bytes, err);
    if (!rc) rc = count_rest(s, &n, err);
    if (!rc && n <= INT_MAX) {
        s->n_tokens = (int)n;
        rc = check_memory(m, s, task, err);
    }
    if (!rc) {
        if (s->streaming) rc = attn_tokenizer_start(&s->tokenizer, text, n_bytes, err);
        else rc = attn_tokenize(text, n_bytes, &s->toks, err);
    }
    if (rc) return rc;
    if (n > INT_MAX) return attn_fail(err, ATTN_ELIMIT, "text has too many tokens");
    return ATTN_OK;
}

/* Makes s->toks hold tokens [from, to) of the text: drops those before from (from never
 * decreases within a call), takes the next ones from the tokenizer. Room was reserved for
 * held_tokens. A no-op when all tokens are held. */
static void hold_tokens(attn_session *s, int from, int to) {
    if (!s->streaming) return;
    const size_t drop = (size_t)(from - s->tok_base);
    assert(from >= s->tok_base && drop <= s->toks.n && (size_t)(to - from) <= s->toks.cap);
    memmove(s->toks.tok, s->toks.tok + drop, (s->toks.n - drop) * sizeof *s->toks.tok);
    s->toks.n -= drop;
    s->tok_base = from;
    const int want = to - (s->tok_base + (int)s->toks.n);
    if (want > 0) {
        const int got = take_tokens(s, want);
        assert(got == want);    /* the same tokens as the counting pass */
        (void)got;
    }
}

/* Token t of the text (held). */
static const attn_token *token_at(const attn_session *s, int t) {
    return &s->toks.tok[t - s->tok_base];
}

/* s->rows[len, slots] = the feature rows of tokens [start, start + len) of text: one window's
 * worth, made when the window is encoded, so they take no memory per token of the text. */
static void featurise_window(const attn_model *m, attn_session *s, const char *text, int start,
                             int len) {
    attn_sequence_features(text, token_at(s, start), (size_t)len, m->cfg.features,
                           m->cfg.n_features, m->gazetteer, s->rows);
}

/* ---- entities as the tagger decides them ---- */

/* How IOB2 tag (0 = O, 1+2i = B-i, 2+2i = I-i) continues a decoding whose last entity is open
 * (NULL: none): B-i starts an entity; I-i continues only an open entity of label i (an I-i
 * elsewhere starts one, as conlleval does; the IOB2 constraints make that impossible in
 * decoding). */
typedef enum { IOB2_OUTSIDE, IOB2_EXTEND, IOB2_START } iob2_move;

static iob2_move iob2_next(int tag, const attn_entity *open) {
    if (tag <= 0) return IOB2_OUTSIDE;
    const int label = (tag - 1) / 2, inside = (tag - 1) % 2;
    return inside && open && open->label == label ? IOB2_EXTEND : IOB2_START;
}

size_t attn_iob2_spans(const int *path, int N, attn_entity *out) {
    size_t n = 0;
    int open = 0;                       /* an entity out[n-1] is still being extended */
    for (int t = 0; t < N; t++) {
        switch (iob2_next(path[t], open ? &out[n - 1] : NULL)) {
        case IOB2_OUTSIDE: open = 0; break;
        case IOB2_EXTEND: out[n - 1].tok_end = t + 1; break;
        case IOB2_START:
            memset(&out[n], 0, sizeof out[n]);
            out[n].tok_start = t;
            out[n].tok_end = t + 1;
            out[n].label = (path[t] - 1) / 2;
            n++;
            open = 1;
            break;
        }
    }
    return n;
}

/* The open entity's score: the mean over its tokens of the marginal of the decoded tag. */
static void close_entity(attn_session *s) {
    if (!s->entity_open) return;
    attn_entity *e = &s->ents[s->n_ents - 1];
    e->score = (float)(s->entity_prob_sum / (e->tok_end - e->tok_start));
    s->entity_open = 0;
}

/* Room for one more entity. Entities calls count them beside attn_call_bytes under the memory
 * limit (the other tasks' attn_call_bytes has room for one per token). */
static int reserve_entity(const attn_model *m, attn_session *s, int task, attn_error *err) {
    const size_t need = attn_call_bytes(m, task, (size_t)s->n_tokens) +
                        (s->n_ents + 1) * sizeof(attn_entity);
    if (task == ATTN_TASK_ENTITIES && s->memory_limit && need > s->memory_limit) {
        s->over_memory = 1;
        return attn_fail(err, ATTN_ELIMIT, "%d tokens and %zu entities need %zu bytes of "
                         "working memory, above the limit of %zu", s->n_tokens, s->n_ents + 1,
                         need, s->memory_limit);
    }
    if (GROW(s, ents, s->n_ents + 1)) return no_memory(err, "entities");
    return ATTN_OK;
}

/* Token t has been given tag (whose marginal is prob): extends, starts or closes an entity,
 * with offsets from the token. */
static int decide_token(const attn_model *m, attn_session *s, int task, int t, int tag,
                        float prob, attn_error *err) {
    const attn_token *tk = token_at(s, t);
    attn_entity *e;
    switch (iob2_next(tag, s->entity_open ? &s->ents[s->n_ents - 1] : NULL)) {
    case IOB2_OUTSIDE:
        close_entity(s);
        return ATTN_OK;
    case IOB2_EXTEND:
        e = &s->ents[s->n_ents - 1];
        e->tok_end = t + 1;
        e->end = tk->end;
        e->byte_end = tk->byte_end;
        s->entity_prob_sum += prob;
        return ATTN_OK;
    case IOB2_START: break;
    }
    close_entity(s);
    int rc = reserve_entity(m, s, task, err);
    if (rc) return rc;
    s->ents[s->n_ents++] = (attn_entity){ tk->start, tk->end, tk->byte_start, tk->byte_end,
                                          t, t + 1, (tag - 1) / 2, 0.0f };
    s->entity_open = 1;
    s->entity_prob_sum = prob;
    return ATTN_OK;
}

/* The n tokens the tagger has just decided, in order. */
static int take_decided(const attn_model *m, attn_session *s, int task, int n,
                        attn_error *err) {
    for (int q = 0; q < n; q++) {
        int rc = decide_token(m, s, task, s->n_decided++, s->decided_tag[q],
                              s->decided_prob[q], err);
        if (rc) return rc;
    }
    return ATTN_OK;
}

/* A new text for the streaming tagger (attn_crf_stream: Viterbi decided online, marginals
 * with ATTN_TAG_LOOKAHEAD tokens of lookahead). */
static int begin_tagging(const attn_model *m, attn_session *s, attn_error *err) {
    const int K = attn_config_n_tags(&m->cfg), cap = tagger_cap(&m->cfg);
    const int rows = tagger_rows(&m->cfg, (size_t)s->n_tokens);
    if (GROW(s, tag_work, ATTN_CRF_STREAM_WORK(rows, K)) ||
        GROW(s, decided_tag, (size_t)rows) || GROW(s, decided_prob, (size_t)rows) ||
        GROW(s, allowed, (size_t)K * K + K))
        return no_memory(err, "tagging");
    attn_bio_constraints(m->cfg.entity_labels.n, s->allowed, s->allowed + (size_t)K * K);
    const attn_crf crf = { K, m->w.crf_trans, m->w.crf_start, m->w.crf_end,
                           s->allowed, s->allowed + (size_t)K * K };
    attn_crf_stream_begin(&s->tagger, &crf, cap, ATTN_TAG_LOOKAHEAD, rows, s->tag_work);
    attn_crf_stream_set_temperature(&s->tagger, m->cfg.entity_temperature);
    s->n_ents = 0;
    s->n_decided = 0;
    s->entity_open = 0;
    return ATTN_OK;
}

/* Emission rows em[n, K] of the next n tokens, in order. */
static int tag_rows(const attn_model *m, attn_session *s, int task, const float *em, int n,
                    attn_error *err) {
    const int K = attn_config_n_tags(&m->cfg);
    for (int t = 0; t < n; t++) {
        const int decided = attn_crf_stream_push(&s->tagger, em + (size_t)t * K,
                                                 s->decided_tag, s->decided_prob);
        int rc = take_decided(m, s, task, decided, err);
        if (rc) return rc;
    }
    return ATTN_OK;
}

/* The end of the text: the tagger decides every token left. */
static int finish_tagging(const attn_model *m, attn_session *s, int task, attn_error *err) {
    const int n = attn_crf_stream_finish(&s->tagger, s->decided_tag, s->decided_prob);
    int rc = take_decided(m, s, task, n, err);
    close_entity(s);
    return rc;
}

/* ---- text -> encoder output ---- */

/* What a call keeps of the encoder output. Only relations need all of h[N, D]; the other
 * tasks consume each window's output as it is made (entities: its emissions; classify: the
 * pooling sums, over consecutive chunks in pool_chunks), so for them no [N, D] array exists
 * and memory per token does not grow with the model's width. */
typedef enum { KEEP_HIDDEN, KEEP_EMISSIONS, KEEP_POOL } keep_kind;

static keep_kind keep_for(int task) {
    return task == ATTN_TASK_CLASSIFY ? KEEP_POOL
         : task == ATTN_TASK_ENTITIES ? KEEP_EMISSIONS : KEEP_HIDDEN;
}

/* Takes the encoder output h_rows[t1 - t0, D] of tokens [t0, t1) of the text, from the
 * overlapping windows (KEEP_HIDDEN or KEEP_EMISSIONS). */
static int keep_rows(const attn_model *m, attn_session *s, keep_kind keep,
                     const float *h_rows, int t0, int t1, attn_error *err) {
    const int D = m->cfg.dim, K = attn_config_n_tags(&m->cfg);
    if (keep == KEEP_EMISSIONS) {
        attn_tag_emissions(m, h_rows, t1 - t0, s->em);
        return tag_rows(m, s, ATTN_TASK_ENTITIES, s->em, t1 - t0, err);
    }
    memcpy(s->hidden + (size_t)t0 * D, h_rows, (size_t)(t1 - t0) * D * sizeof *s->hidden);
    /* The emissions too, from the same runs as for entities: the same products, which
     * find_entities hands to the same streaming tagger, so both tasks decode exactly the
     * same entities. */
    if (m->cfg.tasks & ATTN_TASK_ENTITIES)
        attn_tag_emissions(m, h_rows, t1 - t0, s->em + (size_t)t0 * K);
    return ATTN_OK;
}

/* Whether the call of task on the session's tokens runs through the token cache: it has one
 * (made now) and the cache's bytes fit under the memory limit beside attn_call_bytes. The
 * cache changes no result, so a call that cannot have it runs without it. A model with bigram
 * features never has it: a token's input row depends on its neighbours (features.h). */
static int use_token_cache(const attn_model *m, attn_session *s, int task) {
    if (!s->cache_entries || attn_features_have_context(m->cfg.features, m->cfg.n_features))
        return 0;
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
    attn_token_cache_window(s->cache, m, text, token_at(s, start), len, s->rows);
    return attn_token_cache_model(s->cache);
}

/* The first token a streaming call must still hold besides the window: the first one the
 * tagger has not decided (entities need its offsets). */
static int first_needed(const attn_session *s, keep_kind keep, int window_start_tok) {
    const int undecided = keep == KEEP_EMISSIONS ? s->n_decided : window_start_tok;
    return undecided < window_start_tok ? undecided : window_start_tok;
}

/* Hands the window's output to keep_rows in runs of consecutive tokens it owns. */
static int keep_owned(const attn_model *m, attn_session *s, keep_kind keep, int w, int start,
                      int len, attn_error *err) {
    const int N = s->n_tokens, L = m->cfg.max_len, D = m->cfg.dim;
    for (int t = start; t < start + len;) {
        if (attn_window_owner(t, N, L) != w) { t++; continue; }
        int end = t + 1;
        while (end < start + len && attn_window_owner(end, N, L) == w) end++;
        int rc = keep_rows(m, s, keep, s->window + (size_t)(t - start) * D, t, end, err);
        if (rc) return rc;
        t = end;
    }
    return ATTN_OK;
}

/* Encodes every window (one when N <= max_len), in order, taking each window's tokens from
 * the tokenizer when streaming, and hands each token's output, from the window that owns it,
 * to keep_rows. */
static int encode_windows(const attn_model *m, attn_session *s, const char *text, int task,
                          attn_error *err) {
    const keep_kind keep = keep_for(task);
    const int N = s->n_tokens, L = m->cfg.max_len, D = m->cfg.dim;
    const int len = N < L ? N : L;
    const int slots = attn_feature_slots(m->cfg.features, m->cfg.n_features);
    const int n_windows = attn_windows(N, L, NULL);
    if (GROW(s, window, (size_t)len * D) || GROW(s, rows, (size_t)len * slots + 1) ||
        (s->streaming && attn_grow((void **)&s->toks.tok, &s->toks.cap,
                              held_tokens(&m->cfg, task, (size_t)N), sizeof *s->toks.tok)))
        return no_memory(err, "windows");
    const int cached = use_token_cache(m, s, task);
    if (cached) {
        int rc = attn_token_cache_begin(s->cache, m, s->has_epoch, s->epoch, err);
        if (rc) return rc;
    }
    for (int w = 0; w < n_windows; w++) {
        if (check_stop(s, err)) return ATTN_ESTOPPED;
        const int start = window_start(w, n_windows, N, L);
        hold_tokens(s, first_needed(s, keep, start), start + len);
        const attn_model *em = window_rows(m, s, text, start, len, cached);
        int rc = attn_encode(em, s->rows, len, s->window, &s->scratch, err);
        if (!rc) rc = keep_owned(m, s, keep, w, start, len, err);
        if (rc) return rc;
    }
    return ATTN_OK;
}

/* Classify: encodes the text in consecutive chunks of max_len tokens (the last one shorter), as
 * the trainer cuts its examples, and adds each chunk's output to the pooling sums; the first
 * chunk is in s->toks (first_chunk). Sets s->n_tokens to the text's token count. */
static int pool_chunks(const attn_model *m, attn_session *s, const char *text, attn_error *err) {
    const int L = m->cfg.max_len, D = m->cfg.dim;
    const int first = s->n_tokens;                  /* min(N, L) */
    const int slots = attn_feature_slots(m->cfg.features, m->cfg.n_features);
    if (GROW(s, window, (size_t)first * D) || GROW(s, rows, (size_t)first * slots + 1))
        return no_memory(err, "windows");
    const int cached = use_token_cache(m, s, ATTN_TASK_CLASSIFY);
    if (cached) {
        int rc = attn_token_cache_begin(s->cache, m, s->has_epoch, s->epoch, err);
        if (rc) return rc;
    }
    int total = 0;
    for (int len = (int)s->toks.n; len > 0; len = take_tokens(s, L)) {
        if (check_stop(s, err)) return ATTN_ESTOPPED;
        const attn_model *em = window_rows(m, s, text, total, len, cached);
        int rc = attn_encode(em, s->rows, len, s->window, &s->scratch, err);
        if (rc) return rc;
        attn_pool_add(s->pool, s->window, len, D);
        total += len;
        if (len < L) break;
        s->tok_base = total;                        /* the next chunk replaces this one */
        s->toks.n = 0;
    }
    s->n_tokens = total;
    return ATTN_OK;
}

/* Tokenizes text and encodes it for task (an ATTN_TASK_* bit): fills s->hidden[N, D] and
 * s->em[N, K] (relations), decides the entities (entities) or fills the pooling sums
 * s->pool[2D] (classify). N may be 0. */
static int encode_text(const attn_model *m, attn_session *s, const char *text, size_t n_bytes,
                       int task, attn_error *err) {
    if (n_bytes == 0) text = "";
    int rc = tokenize_text(m, s, text, n_bytes, task, err);
    if (rc) return rc;
    const int N = s->n_tokens, D = m->cfg.dim, K = attn_config_n_tags(&m->cfg);
    const int L = N < m->cfg.max_len ? N : m->cfg.max_len;
    const keep_kind keep = keep_for(task);
    if (keep == KEEP_HIDDEN && GROW(s, hidden, (size_t)N * D + 1))
        return no_memory(err, "hidden states");
    const size_t em_rows = keep == KEEP_EMISSIONS ? (size_t)L
                         : keep == KEEP_HIDDEN && (m->cfg.tasks & ATTN_TASK_ENTITIES) ? (size_t)N
                         : 0;
    if (em_rows && GROW(s, em, em_rows * K + 1)) return no_memory(err, "emissions");
    if (keep == KEEP_EMISSIONS) {
        rc = begin_tagging(m, s, err);
        if (rc) return rc;
    }
    if (keep == KEEP_POOL) {
        if (GROW(s, pool, 2 * (size_t)D)) return no_memory(err, "pooling");
        attn_pool_init(s->pool, D);
    }
    if (N > 0) rc = keep == KEEP_POOL ? pool_chunks(m, s, text, err)
                          : encode_windows(m, s, text, task, err);
    if (!rc && keep == KEEP_EMISSIONS) rc = finish_tagging(m, s, task, err);
    return rc;
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

int attn_run_classify_logits(const attn_model *m, attn_session *s, const char *text,
                             size_t n_bytes, float *logits, attn_error *err) {
    int rc = require_task(m, ATTN_TASK_CLASSIFY, "classify", err);
    if (!rc) rc = encode_text(m, s, text, n_bytes, ATTN_TASK_CLASSIFY, err);
    if (rc) return rc;
    attn_pool_finish(s->pool, m->cfg.dim, s->n_tokens);
    attn_classify_logits(m, s->pool, logits);
    return ATTN_OK;
}

int attn_run_classify(const attn_model *m, attn_session *s, const char *text, size_t n_bytes,
                      float *probs, attn_error *err) {
    int rc = attn_run_classify_logits(m, s, text, n_bytes, probs, err);
    if (!rc)
        attn_softmax_tempered(probs, m->cfg.classify_labels.n, m->cfg.classify_temperature);
    return rc;
}

/* ---- entities ---- */

/* Whole-text Viterbi path and exact marginals of all N tokens (N >= 1) from s->em[N, K]
 * (relation pairs: span_label needs the marginals of any span). */
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

/* Tokenize, encode, tag and decode for task (entities or relations): fills s->ents. Entities
 * are decided while the windows are encoded; relations keep the emissions of every token and
 * hand them to the same streaming tagger afterwards. */
static int find_entities(const attn_model *m, attn_session *s, const char *text,
                         size_t n_bytes, int task, attn_error *err) {
    s->n_ents = 0;
    int rc = encode_text(m, s, text, n_bytes, task, err);
    if (rc || task == ATTN_TASK_ENTITIES || s->n_tokens == 0) return rc;
    rc = begin_tagging(m, s, err);
    if (!rc) rc = tag_rows(m, s, task, s->em, s->n_tokens, err);
    if (!rc) rc = finish_tagging(m, s, task, err);
    return rc;
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

int attn_run_entities_emissions(const attn_model *m, attn_session *s, const char *text,
                                size_t n_bytes, const attn_entity **ents, size_t *n_ents,
                                const float **em, int *n_tokens, attn_error *err) {
    int rc = require_task(m, ATTN_TASK_ENTITIES, "entities", err);
    if (!rc) rc = find_entities(m, s, text, n_bytes, ATTN_TASK_RELATIONS, err);
    if (rc) return rc;
    *ents = s->ents;
    *n_ents = s->n_ents;
    *em = s->em;
    *n_tokens = s->n_tokens;
    return ATTN_OK;
}

/* ---- relations ---- */

int attn_pair_in_extent(const attn_entity *a, const attn_entity *b, int max_len) {
    const int first = a->tok_start < b->tok_start ? a->tok_start : b->tok_start;
    const int end = a->tok_end > b->tok_end ? a->tok_end : b->tok_end;
    return end - first <= max_len;
}

static int reserve_relation_work(const attn_model *m, attn_session *s, attn_error *err) {
    const size_t n = ATTN_REL_WORK(m) + (size_t)m->cfg.relation_labels.n + 1;
    if (GROW(s, rel_work, n)) return no_memory(err, "relation head");
    return ATTN_OK;
}

/* Room for one more relation, counted beside attn_call_bytes under the memory limit. */
static int reserve_relation(const attn_model *m, attn_session *s, attn_error *err) {
    const size_t need = attn_call_bytes(m, ATTN_TASK_RELATIONS, (size_t)s->n_tokens) +
                        (s->n_rels + 1) * sizeof(attn_relation);
    if (s->memory_limit && need > s->memory_limit) {
        s->over_memory = 1;
        return attn_fail(err, ATTN_ELIMIT, "%d tokens and %zu relations need %zu bytes of "
                         "working memory, above the limit of %zu", s->n_tokens,
                         s->n_rels + 1, need, s->memory_limit);
    }
    if (GROW(s, rels, s->n_rels + 1)) return no_memory(err, "relations");
    return ATTN_OK;
}

float attn_pair_entities_right(const attn_entity *head, const attn_entity *tail) {
    return head->score * tail->score;
}

/* A relation's score: its label's probability given the two entities, times the chance that
 * both are right, so that a relation resting on a doubtful entity scores low (calibrate.h:
 * without the factor no temperature calibrated en-rel). */
static float relation_score(float p_label, const attn_entity *head, const attn_entity *tail) {
    return p_label * attn_pair_entities_right(head, tail);
}

/* Classifies one ordered pair; appends it to s->rels unless predicted "none". */
static int classify_pair(const attn_model *m, attn_session *s, size_t i, size_t j,
                         attn_error *err) {
    const attn_entity *a = &s->ents[i], *b = &s->ents[j];
    const int R1 = m->cfg.relation_labels.n + 1;
    float *probs = s->rel_work + ATTN_REL_WORK(m);
    attn_relation_head(m, s->hidden, s->n_tokens, a->tok_start, a->tok_end, a->label,
                       b->tok_start, b->tok_end, b->label, probs, s->rel_work);
    const int best = attn_argmax(probs, R1);
    if (best == 0) return ATTN_OK;
    int rc = reserve_relation(m, s, err);
    if (rc) return rc;
    s->rels[s->n_rels++] = (attn_relation){ (int)i, (int)j, best - 1,
                                            relation_score(probs[best], a, b) };
    return ATTN_OK;
}

/* The candidates of head i: entities [*lo, *hi) (i itself skipped), at most
 * ATTN_REL_MAX_NEIGHBOURS on each side, nearest first, stopping at the first beyond the
 * max_len extent (entities are in text order and do not overlap, so none further fits). */
static void relation_candidates(const attn_session *s, size_t i, int max_len, size_t *lo,
                                size_t *hi) {
    *lo = i;
    while (*lo > 0 && i - (*lo - 1) <= ATTN_REL_MAX_NEIGHBOURS &&
           attn_pair_in_extent(&s->ents[*lo - 1], &s->ents[i], max_len))
        (*lo)--;
    *hi = i + 1;
    while (*hi < s->n_ents && *hi - i <= ATTN_REL_MAX_NEIGHBOURS &&
           attn_pair_in_extent(&s->ents[i], &s->ents[*hi], max_len))
        (*hi)++;
}

/* Pairs classified between two asks of the stop callback (each is a small MLP). */
#define STOP_EVERY_PAIRS 256
int attn_run_relations(const attn_model *m, attn_session *s, const char *text, size_t n_bytes,
                       const attn_entity **ents, size_t *n_ents,
                       const attn_relation **rels, size_t *n_rels, attn_error *err) {
    s->n_rels = 0;
    int rc = require_task(m, ATTN_TASK_RELATIONS, "relations", err);
    if (!rc) rc = find_entities(m, s, text, n_bytes, ATTN_TASK_RELATIONS, err);
    if (!rc) rc = reserve_relation_work(m, s, err);
    size_t n_pairs = 0;
    for (size_t i = 0; !rc && i < s->n_ents; i++) {
        size_t lo, hi;
        relation_candidates(s, i, m->cfg.max_len, &lo, &hi);
        for (size_t j = lo; !rc && j < hi; j++) {
            if (j == i) continue;
            if (++n_pairs % STOP_EVERY_PAIRS == 0) rc = check_stop(s, err);
            if (!rc) rc = classify_pair(m, s, i, j, err);
        }
    }
    if (rc) return rc;
    *ents = s->ents;
    *n_ents = s->n_ents;
    *rels = s->rels;
    *n_rels = s->n_rels;
    return ATTN_OK;
}

int attn_run_relation_candidates(const attn_model *m, attn_session *s, const char *text,
                                 size_t n_bytes, const attn_entity **ents, size_t *n_ents,
                                 const attn_relation **pairs, size_t *n_pairs,
                                 const float **logits, attn_error *err) {
    s->n_rels = 0;
    int rc = require_task(m, ATTN_TASK_RELATIONS, "relations", err);
    if (!rc) rc = find_entities(m, s, text, n_bytes, ATTN_TASK_RELATIONS, err);
    if (!rc) rc = reserve_relation_work(m, s, err);
    const int R1 = m->cfg.relation_labels.n + 1;
    float *probs = s->rel_work + ATTN_REL_WORK(m);
    for (size_t i = 0; !rc && i < s->n_ents; i++) {
        size_t lo, hi;   /* the very candidates attn_run_relations classifies */
        relation_candidates(s, i, m->cfg.max_len, &lo, &hi);
        for (size_t j = lo; !rc && j < hi; j++) {
            if (j == i) continue;
            if ((s->n_rels + 1) % STOP_EVERY_PAIRS == 0) rc = check_stop(s, err);
            if (!rc && (GROW(s, rels, s->n_rels + 1) ||
                        GROW(s, pair_logits, (s->n_rels + 1) * (size_t)R1)))
                rc = no_memory(err, "relations");
            if (rc) break;
            const attn_entity *a = &s->ents[i], *b = &s->ents[j];
            float *z = s->pair_logits + s->n_rels * (size_t)R1;
            attn_relation_logits(m, s->hidden, s->n_tokens, a->tok_start, a->tok_end, a->label,
                                 b->tok_start, b->tok_end, b->label, z, s->rel_work);
            memcpy(probs, z, (size_t)R1 * sizeof *probs);
            attn_softmax_tempered(probs, R1, m->cfg.relation_temperature);
            const int best = attn_argmax(probs, R1);
            s->rels[s->n_rels++] = (attn_relation){ (int)i, (int)j, best - 1,
                                                    relation_score(probs[best], a, b) };
        }
    }
    if (rc) return rc;
    *ents = s->ents;
    *n_ents = s->n_ents;
    *pairs = s->rels;
    *n_pairs = s->n_rels;
    *logits = s->pair_logits;
    return ATTN_OK;
}

/* Snaps the character span [start, end) outward to the tokens it overlaps: [*t0, *t1). */
static int snap_span(const attn_session *s, const char *which, int64_t start, int64_t end,
                     int64_t n_chars, int *t0, int *t1, attn_error *err) {
    if (start < 0 || end > n_chars || start >= end)
        return attn_fail(err, ATTN_EINVAL, "%s span [%lld, %lld) out of range for a text of "
                         "%lld characters", which, (long long)start, (long long)end,
                         (long long)n_chars);
    if (!attn_tokens_covering(s->toks.tok, s->n_tokens, start, end, t0, t1))
        return attn_fail(err, ATTN_EINVAL, "%s span [%lld, %lld) covers no token", which,
                         (long long)start, (long long)end);
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
