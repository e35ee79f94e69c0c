/* registry.c: the process-wide cache of loaded models.
 *
 * A model is identified by the SHA-256 of its rows, not by its name or database, so N
 * connections (threads) using the same model share one read-only copy, a model edited in its
 * table gets a new digest and is loaded afresh, and a hit is always the very same rows: a
 * database cannot make its name serve weights it does not hold (a 64-bit fingerprint could be
 * forged in seconds). Entries are reference counted; the
 * last release frees the model. A plain linked list under one mutex: a process holds a
 * handful of models, and lookups happen once per statement at most. */
#include "ext.h"

#include <pthread.h>
#include <string.h>

static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static shared_model *registry_head;     /* guarded by registry_mutex */

static shared_model *find_locked(const model_digest *digest) {
    for (shared_model *sm = registry_head; sm; sm = sm->next)
        if (memcmp(sm->digest.b, digest->b, sizeof digest->b) == 0) return sm;
    return NULL;
}

shared_model *registry_acquire(const model_digest *digest) {
    pthread_mutex_lock(&registry_mutex);
    shared_model *sm = find_locked(digest);
    if (sm) sm->n_refs++;
    pthread_mutex_unlock(&registry_mutex);
    return sm;
}

shared_model *registry_insert(const model_digest *digest, attn_model *m) {
    shared_model *fresh = sqlite3_malloc64(sizeof *fresh);
    pthread_mutex_lock(&registry_mutex);
    shared_model *sm = find_locked(digest);
    if (sm) {
        sm->n_refs++;                    /* another thread loaded it first: use theirs */
    } else if (fresh) {
        fresh->digest = *digest;
        fresh->n_refs = 1;
        fresh->model = m;
        fresh->next = registry_head;
        registry_head = fresh;
        sm = fresh;
        fresh = NULL;
        m = NULL;
    }
    pthread_mutex_unlock(&registry_mutex);
    sqlite3_free(fresh);
    attn_model_free(m);
    return sm;
}

void registry_release(shared_model *sm) {
    if (!sm) return;
    attn_model *to_free = NULL;
    pthread_mutex_lock(&registry_mutex);
    if (--sm->n_refs == 0) {
        for (shared_model **p = &registry_head; *p; p = &(*p)->next) {
            if (*p == sm) { *p = sm->next; break; }
        }
        to_free = sm->model;
    } else {
        sm = NULL;
    }
    pthread_mutex_unlock(&registry_mutex);
    if (sm) {
        attn_model_free(to_free);
        sqlite3_free(sm);
    }
}

int registry_count(void) {
    int n = 0;
    pthread_mutex_lock(&registry_mutex);
    for (shared_model *sm = registry_head; sm; sm = sm->next) n++;
    pthread_mutex_unlock(&registry_mutex);
    return n;
}

/* ---- fingerprint: 64-bit multiply-xorshift over 8-byte words -------------------------- */

#define FP_MUL  0x9E3779B97F4A7C15ull
#define FP_SEED 0x6174746E65787431ull   /* "attnext1" */

static uint64_t fp_mix(uint64_t h, uint64_t w) {
    h ^= w;
    h *= FP_MUL;
    return h ^ (h >> 29);
}

void fingerprint_init(fingerprint *f) { f->h = FP_SEED; }

/* Long inputs run FP_LANES independent chains (the multiply's latency, not its throughput,
 * bounds one chain), folded into h at the end: a model's megabytes hash ~3x faster. */
#define FP_LANES 4
static const uint64_t FP_LANE_SEED[FP_LANES] = {
    0x243F6A8885A308D3ull, 0x13198A2E03707344ull, 0xA4093822299F31D0ull, 0x082EFA98EC4E6C89ull
};

void fingerprint_add(fingerprint *f, const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t h = fp_mix(f->h, (uint64_t)n);
    size_t i = 0;
    if (n >= 8 * FP_LANES) {
        uint64_t lane[FP_LANES];
        for (int l = 0; l < FP_LANES; l++) lane[l] = h ^ FP_LANE_SEED[l];
        for (; i + 8 * FP_LANES <= n; i += 8 * FP_LANES)
            for (int l = 0; l < FP_LANES; l++) {
                uint64_t w;
                memcpy(&w, p + i + 8 * (size_t)l, 8);
                lane[l] = fp_mix(lane[l], w);
            }
        for (int l = 0; l < FP_LANES; l++) h = fp_mix(h, lane[l]);
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = fp_mix(h, w);
    }
    if (i < n) {
        uint64_t w = 0;
        memcpy(&w, p + i, n - i);
        h = fp_mix(h, w ^ 0xFFull << 56);
    }
    f->h = h;
}

uint64_t fingerprint_final(const fingerprint *f) {
    return attn_splitmix64_hash(f->h);      /* splitmix64's finaliser (common.h) */
}
