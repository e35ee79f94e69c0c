/* token_cache.c: token text -> input embedding row (see token_cache.h). */
#include "token_cache.h"

#include <stdlib.h>
#include <string.h>

#include "features.h"
#include "layers.h"

typedef struct cache_entry {
    uint64_t hash;                  /* of the key bytes */
    uint64_t generation;            /* valid when equal to the cache's */
    uint64_t last_window;           /* window counter when last used */
    uint8_t len;
    char key[ATTN_TOKEN_CACHE_KEY_BYTES];
} cache_entry;

struct attn_token_cache {
    size_t n_entries;               /* power of two, multiple of ATTN_TOKEN_CACHE_WAYS */
    cache_entry *entries;           /* [n_entries] */
    float *emb;     size_t emb_cap; /* [n_entries + max_len, E] the view's table (floats) */
    uint32_t *queued_slots;           /* [max_len, S] feature rows of the window's new tokens */
    uint32_t *queued_rows;            /* [max_len] where each goes in emb */
    size_t queued_cap;                /* tokens both hold */
    int n_queued;
    uint64_t generation;            /* entries of another generation are empty */
    uint64_t window;                /* windows built so far */
    const attn_model *model;        /* of the last begin */
    int has_epoch;
    uint64_t epoch;
    int width;                      /* E of the model */
    attn_model view;                /* model with the cache's rows as its one feature table */
    uint64_t hits, misses;
    unsigned touched;               /* touch_rows's loads land here, so they stay */
};

static size_t round_entries(size_t n) {
    size_t p = ATTN_TOKEN_CACHE_WAYS;
    while (p < n && p <= SIZE_MAX / 2) p *= 2;
    return p;
}

attn_token_cache *attn_token_cache_new(size_t n_entries) {
    attn_token_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->n_entries = round_entries(n_entries);
    c->entries = calloc(c->n_entries, sizeof *c->entries);
    if (!c->entries) {
        free(c);
        return NULL;
    }
    c->generation = 1;              /* calloc'd entries (generation 0) are empty */
    return c;
}

void attn_token_cache_free(attn_token_cache *c) {
    if (!c) return;
    free(c->entries);
    free(c->emb);
    free(c->queued_slots);
    free(c->queued_rows);
    free(c);
}

static size_t table_floats(const attn_model *m, size_t n_entries) {
    return (n_entries + (size_t)m->cfg.max_len) * (size_t)attn_embed_width(&m->cfg);
}

size_t attn_token_cache_bytes(const attn_token_cache *c) {
    return sizeof *c + c->n_entries * sizeof *c->entries + c->emb_cap * sizeof *c->emb +
           c->queued_cap * (ATTN_MAX_SLOTS + 1) * sizeof(uint32_t);
}

size_t attn_token_cache_bytes_for(const attn_model *m, size_t n_entries) {
    n_entries = round_entries(n_entries);
    return sizeof(attn_token_cache) + n_entries * sizeof(cache_entry) +
           table_floats(m, n_entries) * sizeof(float) +
           (size_t)m->cfg.max_len * (ATTN_MAX_SLOTS + 1) * sizeof(uint32_t);
}

/* c->view = m whose only feature is an f32 table of E-wide rows: the cache's. */
static void make_view(attn_token_cache *c, const attn_model *m) {
    c->view = *m;
    attn_config *cfg = &c->view.cfg;
    const uint32_t rows = (uint32_t)(c->n_entries + (size_t)m->cfg.max_len);
    cfg->features[0] = (attn_feature_spec){ .kind = ATTN_FEAT_NORM, .n_buckets = rows,
                                            .dim = (uint32_t)c->width };
    cfg->n_features = 1;
    c->view.w.embed[0] = c->emb;
    c->view.w.embed_table[0] = NULL;
}

int attn_token_cache_begin(attn_token_cache *c, const attn_model *m, int has_epoch,
                           uint64_t epoch, attn_error *err) {
    const size_t need = table_floats(m, c->n_entries);
    if (need > c->emb_cap) {
        float *p = realloc(c->emb, need * sizeof *p);
        if (!p) return attn_fail(err, ATTN_ENOMEM, "out of memory (token cache)");
        c->emb = p;
        c->emb_cap = need;
    }
    const size_t want = (size_t)m->cfg.max_len;
    if (want > c->queued_cap) {
        uint32_t *slots = realloc(c->queued_slots, want * ATTN_MAX_SLOTS * sizeof *slots);
        if (slots) c->queued_slots = slots;
        uint32_t *rows = slots ? realloc(c->queued_rows, want * sizeof *rows) : NULL;
        if (rows) c->queued_rows = rows;
        if (!slots || !rows) return attn_fail(err, ATTN_ENOMEM, "out of memory (token cache)");
        c->queued_cap = want;
    }
    const int same = has_epoch && c->has_epoch && c->model == m && c->epoch == epoch;
    if (!same) c->generation++;     /* drops every entry */
    c->model = m;
    c->has_epoch = has_epoch;
    c->epoch = epoch;
    c->width = attn_embed_width(&m->cfg);
    make_view(c, m);
    return ATTN_OK;
}

/* The cache's row of token bytes[n] in its set, or -1. */
static long find_entry(const attn_token_cache *c, size_t set, uint64_t hash,
                       const char *bytes, size_t n) {
    for (size_t w = 0; w < ATTN_TOKEN_CACHE_WAYS; w++) {
        const cache_entry *e = &c->entries[set + w];
        if (e->generation == c->generation && e->hash == hash && e->len == n &&
            memcmp(e->key, bytes, n) == 0)
            return (long)(set + w);
    }
    return -1;
}

/* A row of the set to overwrite (empty, else used longest ago), or -1 when the current window
 * uses every way. */
static long victim(const attn_token_cache *c, size_t set) {
    long best = -1;
    for (size_t w = 0; w < ATTN_TOKEN_CACHE_WAYS; w++) {
        const cache_entry *e = &c->entries[set + w];
        if (e->generation != c->generation) return (long)(set + w);
        if (e->last_window == c->window) continue;
        if (best < 0 || e->last_window < c->entries[best].last_window) best = (long)(set + w);
    }
    return best;
}

/* The first stored byte of row r of table t and of its scale (layouts: model.h), read now.
 * A new token's ~35 rows are scattered over megabytes; reading one byte of each, as loads that
 * do not depend on each other, has the CPU fetch them all at once instead of one after
 * another while decoding, which is most of what making the token's row costs. (Loads, not
 * __builtin_prefetch: GCC deletes a loop of prefetches as having no effect.) */
static unsigned touch_table_row(const attn_table *t, uint32_t r) {
    const unsigned char *v = t->values;
    switch (t->dtype) {
    case ATTN_DTYPE_Q4: {
        const size_t groups = (t->cols + ATTN_Q4_GROUP - 1) / ATTN_Q4_GROUP;
        const unsigned char *scale = (const unsigned char *)(t->scales + (size_t)r * groups);
        return v[(size_t)r * ((t->cols + 1) / 2)] ^ *scale;
    }
    case ATTN_DTYPE_Q8: return v[(size_t)r * t->cols] ^ *(const unsigned char *)(t->scales + r);
    case ATTN_DTYPE_F16: return v[(size_t)r * t->cols * 2];
    default: return 0;
    }
}

/* Reads a byte of each table row of one token's slots (features.h layout) into c->touched. */
static void touch_rows(attn_token_cache *c, const attn_model *m, const uint32_t *slots) {
    unsigned sum = 0;
    for (int f = 0; f < m->cfg.n_features; f++) {
        const attn_table *t = m->w.embed_table[f];
        const int n = attn_feature_n_slots(&m->cfg.features[f]);
        for (int k = 0; k < n; k++, slots++) {
            if (*slots == ATTN_ROW_NONE) continue;
            sum ^= t ? touch_table_row(t, *slots)
                     : *(const unsigned char *)(m->w.embed[f] +
                                                (size_t)*slots * m->cfg.features[f].dim);
        }
    }
    c->touched ^= sum;
}

/* Queues emb row `row` to be made from the token bytes[n] (its features now, a touch of
 * their table rows, the lookup in make_rows). */
static void make_row(attn_token_cache *c, const attn_model *m, size_t row, const char *bytes,
                     size_t n) {
    uint32_t *slots = c->queued_slots + (size_t)c->n_queued * ATTN_MAX_SLOTS;
    attn_token_features(bytes, n, m->cfg.features, m->cfg.n_features, slots);
    touch_rows(c, m, slots);
    c->queued_rows[c->n_queued++] = (uint32_t)row;
    c->misses++;
}

/* Makes the queued rows: emb row = attn_embed_forward's row of the token under m. */
static void make_rows(attn_token_cache *c, const attn_model *m) {
    for (int i = 0; i < c->n_queued; i++)
        attn_embed_forward(c->emb + (size_t)c->queued_rows[i] * c->width, &m->cfg, &m->w,
                           c->queued_slots + (size_t)i * ATTN_MAX_SLOTS, 1);
    c->n_queued = 0;
}

/* The row of one token (t: its index in the window, for a private row). */
static uint32_t token_row(attn_token_cache *c, const attn_model *m, const char *bytes,
                          size_t n, int t) {
    const size_t private_row = c->n_entries + (size_t)t;
    if (n > ATTN_TOKEN_CACHE_KEY_BYTES) {
        make_row(c, m, private_row, bytes, n);
        return (uint32_t)private_row;
    }
    /* FNV-1a with splitmix64's finaliser: the low bits (the set) mix every byte */
    const uint64_t hash = attn_hash64(0, bytes, n);
    const size_t set = (size_t)(hash >> 32) & (c->n_entries - ATTN_TOKEN_CACHE_WAYS);
    long row = find_entry(c, set, hash, bytes, n);
    if (row >= 0) {
        c->entries[row].last_window = c->window;
        c->hits++;
        return (uint32_t)row;
    }
    row = victim(c, set);
    if (row < 0) {
        make_row(c, m, private_row, bytes, n);
        return (uint32_t)private_row;
    }
    cache_entry *e = &c->entries[row];
    make_row(c, m, (size_t)row, bytes, n);
    e->hash = hash;
    e->generation = c->generation;
    e->last_window = c->window;
    e->len = (uint8_t)n;
    memcpy(e->key, bytes, n);
    return (uint32_t)row;
}

void attn_token_cache_window(attn_token_cache *c, const attn_model *m, const char *text,
                             const attn_token *toks, int len, uint32_t *rows) {
    c->window++;
    c->n_queued = 0;
    for (int t = 0; t < len; t++) {
        const attn_token *tk = &toks[t];
        rows[t] = token_row(c, m, text + tk->byte_start, tk->byte_end - tk->byte_start, t);
    }
    make_rows(c, m);
}

const attn_model *attn_token_cache_model(const attn_token_cache *c) { return &c->view; }

void attn_token_cache_stats(const attn_token_cache *c, uint64_t *hits, uint64_t *misses) {
    *hits = c->hits;
    *misses = c->misses;
}
