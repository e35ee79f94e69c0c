/* common.h: error reporting, limits and the small helpers every part of the engine shares
 * (ext/ too, through engine.h): argmax, array growth, splitmix64 and the shuffle, duplicate
 * strings, little-endian loads and stores, the monotonic clock, opening input files. Search
 * here before writing one.
 *
 * Every engine function that can fail on data (a user's text, a model table, a file) returns
 * an int status (ATTN_OK or an ATTN_E* code) and writes a human-readable message into an
 * attn_error the caller owns. assert() is only for our own invariants, never for data. */
#ifndef ATTN_COMMON_H
#define ATTN_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define ATTN_VERSION "0.1.0"

enum {
    ATTN_OK = 0,
    ATTN_ENOMEM = 1,   /* allocation failed */
    ATTN_EINVAL = 2,   /* bad argument or malformed data (config, tensor, JSON) */
    ATTN_ELIMIT = 3,   /* a named limit below was exceeded */
    ATTN_EMODEL = 4,   /* model inconsistent: missing tensor, wrong shape, NaN weight, ... */
    ATTN_ESTOPPED = 5, /* the caller's attn_stop_cb asked to stop (e.g. sqlite3_interrupt) */
};

/* Consulted by long loops (training steps, encoder windows, relation pairs): return non-zero
 * to stop; the call then fails with ATTN_ESTOPPED. */
typedef int (*attn_stop_cb)(void *user);

typedef struct attn_error {
    char msg[512];
} attn_error;

/* printf-style: fills err->msg (when err is non-NULL) and returns code. */
int attn_fail(attn_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Index of the largest of x[n], the first one on a tie; 0 when n <= 1 (x unread when n = 0). */
int attn_argmax(const float *x, int n);

/* Makes the array *p (capacity *cap elements of elem bytes) hold at least n elements: realloc
 * to max(n, 2 * *cap) elements (at least 1), so appending one at a time costs amortised O(1).
 * Nothing changes when n <= *cap and *p is allocated. ATTN_OK, or ATTN_ENOMEM (no err message:
 * the caller names what it was growing) when realloc fails or the size overflows size_t; *p
 * and *cap are then unchanged. The one growth helper of the engine (and of ext/, which grows
 * its arrays with SQLite's allocator through attn_grow_with: ext.h sqlite_grow). */
int attn_grow(void **p, size_t *cap, size_t n, size_t elem);
/* attn_grow with another allocator: re(p, bytes) must behave as realloc. */
typedef void *(*attn_realloc_fn)(void *p, size_t bytes);
int attn_grow_with(attn_realloc_fn re, void **p, size_t *cap, size_t n, size_t elem);

/* splitmix64 (Steele, Lea, Flood 2014): the engine's one pseudo-random generator. Every
 * random draw (initial weights, dropout, shuffles, masks, word-vector sampling) takes its
 * bits from it, so a seed means the same stream everywhere.
 *   attn_splitmix64_hash(x)  the generator's output for state x without advancing: a 64-bit
 *                            mixing function (also the finaliser of attn_hash64, features.h)
 *   attn_splitmix64(&state)  the next output; advances the state
 *   attn_uniform01(&state)   uniform in [0, 1) from the top 24 bits of the next output */
#define ATTN_SPLITMIX64_GAMMA 0x9e3779b97f4a7c15ull
static inline uint64_t attn_splitmix64_hash(uint64_t x) {
    uint64_t z = x + ATTN_SPLITMIX64_GAMMA;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline uint64_t attn_splitmix64(uint64_t *state) {
    const uint64_t z = attn_splitmix64_hash(*state);
    *state += ATTN_SPLITMIX64_GAMMA;
    return z;
}
static inline float attn_uniform01(uint64_t *state) {
    return (float)(attn_splitmix64(state) >> 40) * (1.0f / 16777216.0f);
}

/* Fisher-Yates: the n elements of elem bytes at a in a random order drawn from *state
 * (attn_splitmix64, one draw per element from the last down to the second: element i swaps
 * with element draw % (i + 1)). The same state gives the same order. */
void attn_shuffle(void *a, size_t n, size_t elem, uint64_t *state);

/* 1 when s ends with suffix (a tensor key's ".w", say), else 0. */
int attn_ends_with(const char *s, const char *suffix);

/* A string that occurs more than once among s[0..n) (strcmp), the first such in sorted order,
 * into *dup; NULL when all differ. ATTN_OK, or ATTN_ENOMEM (it sorts a copy of the pointers;
 * no err message: the caller names what it was checking). */
int attn_find_duplicate(const char *const *s, size_t n, const char **dup);

/* Little-endian byte order, that of every stored format (model tensors, word-vector files),
 * at any alignment:
 *   attn_host_is_little_endian()                  1 on a little-endian host
 *   attn_load_u32_le(b), attn_store_u32_le(b, x)  a uint32 at b[0..4)
 *   attn_load_f32_le(b), attn_store_f32_le(b, f)  an IEEE binary32 at b[0..4) */
static inline int attn_host_is_little_endian(void) {
    const uint32_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}
static inline uint32_t attn_load_u32_le(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static inline void attn_store_u32_le(unsigned char *b, uint32_t x) {
    for (int k = 0; k < 4; k++) b[k] = (unsigned char)(x >> (8 * k));
}
static inline float attn_load_f32_le(const unsigned char *b) {
    const uint32_t bits = attn_load_u32_le(b);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}
static inline void attn_store_f32_le(unsigned char *b, float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    attn_store_u32_le(b, bits);
}

/* Seconds on the monotonic clock: a duration is the difference of two readings. */
double attn_now_seconds(void);

/* Opens path for reading if it is a regular file: a device (/dev/zero), a FIFO (whose open
 * would block until a writer comes) or a directory is refused with "'path' is not a regular
 * file"; a file that cannot be opened with "cannot open 'path'". NULL then, err set. */
FILE *attn_fopen_regular(const char *path, attn_error *err);

/* Limits. Each is checked where data enters and has a tested error message. */
#define ATTN_MAX_TEXT_BYTES      ((size_t)1 << 30) /* 1 GiB: beyond SQLite's default max anyway */
#define ATTN_MAX_CONFIG_BYTES    (1 << 20)         /* config JSON of a model */
#define ATTN_MAX_JSON_DEPTH      64
#define ATTN_MAX_LABELS          4096              /* per label set */
#define ATTN_MAX_LABEL_BYTES     256
#define ATTN_MAX_DIM             16384             /* width, ffn size, feature dims */
#define ATTN_MAX_LAYERS          64
#define ATTN_MAX_SEQ_LEN         8192              /* a model's max_len */
#define ATTN_MAX_BUCKETS         (1u << 24)        /* rows of one hashed embedding table */
#define ATTN_MAX_PARAMS          ((size_t)1 << 28) /* floats in one model (1 GiB f32): a hostile config cannot make a loader reserve more */
#define ATTN_MAX_TOKEN_CHARS     64                /* longer tokens are featurised by their first 64 code points */

#endif
