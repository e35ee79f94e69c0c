/* gazetteer.c: name lists as a table of hashed entry prefixes, and greedy longest matching
 * of a token sequence against them (see gazetteer.h). */
#include "gazetteer.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define GAZ_HASH_SEED 0x67617a6574746565ull   /* "gazettee": in memory only, not stored */
#define BIT_LONGER (1u << 31)                  /* the n-gram begins a longer entry */
#define STOP_EVERY_LINES 4096
#define MIN_SLOTS 1024

_Static_assert(ATTN_GAZ_MAX_LISTS <= 31, "one bit a list below BIT_LONGER");

typedef struct gaz_row {
    char *key;
    char *data;                 /* [n] as given, plus a NUL of our own */
    size_t n;
} gaz_row;

struct attn_gazetteer {
    atomic_int refs;
    int n_lists;
    char names[ATTN_GAZ_MAX_LISTS][ATTN_GAZ_NAME_BYTES];
    /* open addressing, linear probing: keys[i] == 0 is an empty slot; bits[i] the list bits
     * of the n-gram (bit l: a whole entry of list l) and BIT_LONGER */
    uint64_t *keys;             /* [cap] */
    uint32_t *bits;             /* [cap] */
    size_t cap;                 /* 0 or a power of two */
    size_t n_ngrams;
    gaz_row *rows;
    size_t n_rows, rows_cap;
    size_t data_bytes, n_entries;
};

attn_gazetteer *attn_gazetteer_new(const attn_feature_spec *spec) {
    attn_gazetteer *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    atomic_init(&g->refs, 1);
    g->n_lists = spec->n_lists;
    memcpy(g->names, spec->lists, sizeof g->names);
    return g;
}

attn_gazetteer *attn_gazetteer_ref(attn_gazetteer *g) {
    if (g) atomic_fetch_add(&g->refs, 1);
    return g;
}

void attn_gazetteer_release(attn_gazetteer *g) {
    if (!g || atomic_fetch_sub(&g->refs, 1) != 1) return;
    for (size_t i = 0; i < g->n_rows; i++) {
        free(g->rows[i].key);
        free(g->rows[i].data);
    }
    free(g->rows);
    free(g->keys);
    free(g->bits);
    free(g);
}

int attn_gazetteer_is_key(const char *key) {
    return key && strncmp(key, ATTN_GAZ_KEY_PREFIX, sizeof ATTN_GAZ_KEY_PREFIX - 1) == 0;
}

int attn_gazetteer_fits(const attn_gazetteer *g, const attn_feature_spec *spec) {
    if (!g || g->n_lists != spec->n_lists) return 0;
    for (int l = 0; l < g->n_lists; l++)
        if (strcmp(g->names[l], spec->lists[l]) != 0) return 0;
    return 1;
}

int attn_gazetteer_n_lists(const attn_gazetteer *g) { return g ? g->n_lists : 0; }
size_t attn_gazetteer_n_rows(const attn_gazetteer *g) { return g ? g->n_rows : 0; }
size_t attn_gazetteer_n_entries(const attn_gazetteer *g) { return g ? g->n_entries : 0; }

size_t attn_gazetteer_bytes(const attn_gazetteer *g) {
    if (!g) return 0;
    return sizeof *g + g->data_bytes + g->n_rows * sizeof(gaz_row) +
           g->cap * (sizeof *g->keys + sizeof *g->bits);
}

void attn_gazetteer_row(const attn_gazetteer *g, size_t i, const char **key, const char **data,
                        size_t *n_bytes) {
    *key = g->rows[i].key;
    *data = g->rows[i].data;
    *n_bytes = g->rows[i].n;
}

/* ---- hashing ------------------------------------------------------------------------------ */

/* The hash of one token: of its norm, as the features see it. */
static uint64_t token_hash(const char *text, const attn_token *tk) {
    char norm[ATTN_MAX_NORM_BYTES + 1];
    size_t len = attn_token_norm(text + tk->byte_start, tk->byte_end - tk->byte_start, norm,
                                 sizeof norm);
    return attn_hash64(GAZ_HASH_SEED, norm, len);
}

/* The n-gram of h's tokens followed by the token of hash t (h: GAZ_HASH_SEED for none). Never
 * 0, which marks an empty slot. */
static uint64_t ngram_next(uint64_t h, uint64_t t) {
    const uint64_t z = attn_splitmix64_hash(h ^ t);
    return z ? z : 1;
}

/* ---- the table ---------------------------------------------------------------------------- */

static size_t find_slot(const uint64_t *keys, size_t cap, uint64_t key) {
    const size_t mask = cap - 1;
    size_t i = (size_t)(key >> 17) & mask;
    while (keys[i] && keys[i] != key) i = (i + 1) & mask;
    return i;
}

static uint32_t lookup(const attn_gazetteer *g, uint64_t key) {
    if (!g->cap) return 0;
    const size_t i = find_slot(g->keys, g->cap, key);
    return g->keys[i] ? g->bits[i] : 0;
}

static int rehash(attn_gazetteer *g, size_t cap, attn_error *err) {
    uint64_t *keys = calloc(cap, sizeof *keys);
    uint32_t *bits = calloc(cap, sizeof *bits);
    if (!keys || !bits) {
        free(keys);
        free(bits);
        return attn_fail(err, ATTN_ENOMEM, "gazetteer: out of memory for %zu entries", cap);
    }
    for (size_t i = 0; i < g->cap; i++) {
        if (!g->keys[i]) continue;
        const size_t j = find_slot(keys, cap, g->keys[i]);
        keys[j] = g->keys[i];
        bits[j] = g->bits[i];
    }
    free(g->keys);
    free(g->bits);
    g->keys = keys;
    g->bits = bits;
    g->cap = cap;
    return ATTN_OK;
}

/* ORs bits into the n-gram key's, adding it when new. */
static int insert(attn_gazetteer *g, uint64_t key, uint32_t bits, const char *row_key,
                  attn_error *err) {
    if (g->cap) {
        const size_t i = find_slot(g->keys, g->cap, key);
        if (g->keys[i]) {
            g->bits[i] |= bits;
            return ATTN_OK;
        }
    }
    if (g->n_ngrams == ATTN_GAZ_MAX_NGRAMS)
        return attn_fail(err, ATTN_ELIMIT, "row '%.100s': more than %zu entry n-grams "
                         "(ATTN_GAZ_MAX_NGRAMS)", row_key, ATTN_GAZ_MAX_NGRAMS);
    if (2 * (g->n_ngrams + 1) > g->cap) {
        const int rc = rehash(g, g->cap ? 2 * g->cap : MIN_SLOTS, err);
        if (rc) return rc;
    }
    const size_t i = find_slot(g->keys, g->cap, key);
    g->keys[i] = key;
    g->bits[i] = bits;
    g->n_ngrams++;
    return ATTN_OK;
}

/* ---- rows --------------------------------------------------------------------------------- */

/* The list a row key names, after ATTN_GAZ_KEY_PREFIX up to a '.' and a part name: its index,
 * -1 when it names none of g's lists, -2 when the part after the '.' is empty. */
static int list_of_key(const attn_gazetteer *g, const char *key) {
    const char *name = key + sizeof ATTN_GAZ_KEY_PREFIX - 1;
    const char *dot = strchr(name, '.');
    const size_t len = dot ? (size_t)(dot - name) : strlen(name);
    if (dot && dot[1] == 0) return -2;
    for (int l = 0; l < g->n_lists; l++)
        if (strlen(g->names[l]) == len && memcmp(g->names[l], name, len) == 0) return l;
    return -1;
}

static int bad_key(const attn_gazetteer *g, const char *key, int why, attn_error *err) {
    if (why == -2)
        return attn_fail(err, ATTN_EMODEL, "row '%.100s': the part after the list name is "
                         "empty ('gazetteer.<list>' or 'gazetteer.<list>.<part>')", key);
    char lists[ATTN_GAZ_MAX_LISTS * (ATTN_GAZ_NAME_BYTES + 2)] = "";
    for (int l = 0; l < g->n_lists; l++) {
        if (l) strcat(lists, ", ");
        strcat(lists, g->names[l]);
    }
    const char *name = key + sizeof ATTN_GAZ_KEY_PREFIX - 1;
    const char *dot = strchr(name, '.');
    const int len = dot ? (int)(dot - name) : (int)strlen(name);
    return attn_fail(err, ATTN_EMODEL, "row '%.100s': '%.*s' is not a list of the gazetteer "
                     "feature (%s)", key, len > 64 ? 64 : len, name, lists);
}

/* Adds one entry, line[0..n), to list l: every prefix of its tokens. Entries of no token or
 * of more than ATTN_GAZ_MAX_TOKENS are skipped. */
static int add_entry(attn_gazetteer *g, int l, const char *line, size_t n, const char *row_key,
                     attn_error *err) {
    attn_tokenizer tz;
    attn_error too_long;
    if (attn_tokenizer_start(&tz, line, n, &too_long) != ATTN_OK) return ATTN_OK;   /* skip */
    uint64_t hashes[ATTN_GAZ_MAX_TOKENS];
    int n_tokens = 0;
    attn_token tk;
    while (attn_tokenizer_next(&tz, &tk)) {
        if (n_tokens == ATTN_GAZ_MAX_TOKENS) return ATTN_OK;
        hashes[n_tokens++] = token_hash(line, &tk);
    }
    if (n_tokens == 0) return ATTN_OK;
    uint64_t h = GAZ_HASH_SEED;
    for (int k = 0; k < n_tokens; k++) {
        h = ngram_next(h, hashes[k]);
        const int rc = insert(g, h, k + 1 < n_tokens ? BIT_LONGER : 1u << l, row_key, err);
        if (rc) return rc;
    }
    g->n_entries++;
    return ATTN_OK;
}

static int add_lines(attn_gazetteer *g, int l, const gaz_row *row, attn_stop_cb stop,
                     void *stop_user, attn_error *err) {
    size_t n_lines = 0;
    for (size_t at = 0; at < row->n;) {
        const char *nl = memchr(row->data + at, '\n', row->n - at);
        const size_t end = nl ? (size_t)(nl - row->data) : row->n;
        size_t len = end - at;
        if (len && row->data[at + len - 1] == '\r') len--;
        const int rc = add_entry(g, l, row->data + at, len, row->key, err);
        if (rc) return rc;
        at = end + 1;
        if (++n_lines % STOP_EVERY_LINES == 0 && stop && stop(stop_user))
            return attn_fail(err, ATTN_ESTOPPED, "row '%.100s': interrupted", row->key);
    }
    return ATTN_OK;
}

int attn_gazetteer_add_row(attn_gazetteer *g, const char *key, const char *dtype,
                           const char *shape_json, const void *data, size_t n_bytes,
                           attn_stop_cb stop, void *stop_user, attn_error *err) {
    if (!g || !attn_gazetteer_is_key(key))
        return attn_fail(err, ATTN_EINVAL, "gazetteer: no gazetteer or not a gazetteer row");
    const int l = list_of_key(g, key);
    if (l < 0) return bad_key(g, key, l, err);
    if (!dtype || strcmp(dtype, "text") != 0)
        return attn_fail(err, ATTN_EMODEL, "row '%.100s': dtype must be 'text', found '%.32s'",
                         key, dtype ? dtype : "");
    if (!shape_json || strcmp(shape_json, "[]") != 0)
        return attn_fail(err, ATTN_EMODEL, "row '%.100s': shape must be '[]', found '%.32s'",
                         key, shape_json ? shape_json : "");
    for (size_t i = 0; i < g->n_rows; i++)
        if (strcmp(g->rows[i].key, key) == 0)
            return attn_fail(err, ATTN_EMODEL, "row '%.100s': given twice", key);
    if (n_bytes > ATTN_GAZ_MAX_BYTES - g->data_bytes)
        return attn_fail(err, ATTN_ELIMIT, "row '%.100s': the lists hold more than %zu bytes "
                         "(ATTN_GAZ_MAX_BYTES)", key, ATTN_GAZ_MAX_BYTES);
    if (attn_grow((void **)&g->rows, &g->rows_cap, g->n_rows + 1, sizeof *g->rows))
        return attn_fail(err, ATTN_ENOMEM, "row '%.100s': out of memory", key);
    gaz_row *row = &g->rows[g->n_rows];
    row->key = strdup(key);
    row->data = malloc(n_bytes + 1);
    if (!row->key || !row->data) {
        free(row->key);
        free(row->data);
        return attn_fail(err, ATTN_ENOMEM, "row '%.100s': out of memory for %zu bytes", key,
                         n_bytes);
    }
    if (n_bytes) memcpy(row->data, data, n_bytes);
    row->data[n_bytes] = 0;
    row->n = n_bytes;
    g->n_rows++;
    g->data_bytes += n_bytes;
    return add_lines(g, l, row, stop, stop_user, err);
}

/* ---- matching ----------------------------------------------------------------------------- */

void attn_gazetteer_match(const attn_gazetteer *g, const char *text, const attn_token *toks,
                          size_t n_tokens, uint32_t *slots, size_t stride) {
    const int L = attn_gazetteer_n_lists(g);
    for (size_t t = 0; t < n_tokens; t++)
        for (int l = 0; l < L; l++) slots[t * stride + (size_t)l] = ATTN_GAZ_ROW(l, ATTN_GAZ_O);
    if (!g || g->n_ngrams == 0) return;
    /* Token j's hash is ring[j % ATTN_GAZ_MAX_TOKENS], made once: tokens [0, hashed) are
     * hashed and a lookup from token i reads at most tokens i .. i + ATTN_GAZ_MAX_TOKENS - 1,
     * so the ring still holds them. */
    uint64_t ring[ATTN_GAZ_MAX_TOKENS];
    size_t hashed = 0;
    size_t covered[ATTN_GAZ_MAX_LISTS] = {0};   /* list l: tokens before it are in a match */
    for (size_t i = 0; i < n_tokens; i++) {
        int longest[ATTN_GAZ_MAX_LISTS];
        uint32_t found = 0;
        uint64_t h = GAZ_HASH_SEED;
        for (size_t k = 0; k < ATTN_GAZ_MAX_TOKENS && i + k < n_tokens; k++) {
            const size_t j = i + k;
            if (j == hashed) ring[hashed++ % ATTN_GAZ_MAX_TOKENS] = token_hash(text, &toks[j]);
            h = ngram_next(h, ring[j % ATTN_GAZ_MAX_TOKENS]);
            const uint32_t bits = lookup(g, h);
            for (int l = 0; l < L; l++)
                if (bits & (1u << l)) longest[l] = (int)k + 1;
            found |= bits & ~BIT_LONGER;
            if (!(bits & BIT_LONGER)) break;
        }
        for (int l = 0; l < L; l++) {
            if (!(found & (1u << l)) || i < covered[l]) continue;
            slots[i * stride + (size_t)l] = ATTN_GAZ_ROW(l, ATTN_GAZ_B);
            for (int k = 1; k < longest[l]; k++)
                slots[(i + (size_t)k) * stride + (size_t)l] = ATTN_GAZ_ROW(l, ATTN_GAZ_I);
            covered[l] = i + (size_t)longest[l];
        }
    }
}
