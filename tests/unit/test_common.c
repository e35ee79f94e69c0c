/* test_common.c: the shared helpers of model/common.h. attn_grow doubles, keeps what it holds,
 * and on an overflow or a failed allocation changes nothing; attn_grow_with uses the caller's
 * allocator; attn_shuffle is a seeded permutation equal to the textbook Fisher-Yates for any
 * element size; argmax takes the first of equals; attn_find_duplicate names a repeated string
 * (the first in sorted order) and leaves the list as it was; the little-endian loads and stores lay out
 * bytes as the stored formats do; the monotonic clock does not go back. */
#include "common.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

static void test_grow(void) {
    int *a = NULL;
    size_t cap = 0;
    CHECK(attn_grow((void **)&a, &cap, 0, sizeof *a) == ATTN_OK && a && cap == 1);
    CHECK(attn_grow((void **)&a, &cap, 3, sizeof *a) == ATTN_OK && cap == 3);
    for (int i = 0; i < 3; i++) a[i] = 10 + i;
    CHECK(attn_grow((void **)&a, &cap, 4, sizeof *a) == ATTN_OK && cap == 6);   /* doubles */
    CHECK(a[0] == 10 && a[1] == 11 && a[2] == 12);                              /* kept */
    int *before = a;
    CHECK(attn_grow((void **)&a, &cap, 6, sizeof *a) == ATTN_OK && a == before && cap == 6);
    /* n * elem beyond size_t: ATTN_ENOMEM, nothing changed */
    CHECK(attn_grow((void **)&a, &cap, SIZE_MAX / 2, sizeof *a) == ATTN_ENOMEM);
    CHECK(a == before && cap == 6 && a[2] == 12);
    size_t huge = SIZE_MAX / 2 + 1;   /* doubling it would overflow size_t (no allocation tried) */
    void *p = NULL;
    CHECK(attn_grow(&p, &huge, huge + 1, 2) == ATTN_ENOMEM);
    CHECK(p == NULL && huge == SIZE_MAX / 2 + 1);
    free(a);
}

static int calls;
static void *counting_realloc(void *p, size_t bytes) {
    calls++;
    return realloc(p, bytes);
}
static void *failing_realloc(void *p, size_t bytes) {
    (void)p, (void)bytes;
    return NULL;
}

static void test_grow_with(void) {
    double *d = NULL;
    size_t cap = 0;
    calls = 0;
    CHECK(attn_grow_with(counting_realloc, (void **)&d, &cap, 5, sizeof *d) == ATTN_OK);
    CHECK(calls == 1 && cap == 5);
    CHECK(attn_grow_with(counting_realloc, (void **)&d, &cap, 5, sizeof *d) == ATTN_OK);
    CHECK(calls == 1);                                /* nothing to do: no call */
    double *before = d;
    CHECK(attn_grow_with(failing_realloc, (void **)&d, &cap, 6, sizeof *d) == ATTN_ENOMEM);
    CHECK(d == before && cap == 5);
    free(d);
}

/* The textbook shuffle on an array of int, for comparison. */
static void reference_shuffle(int *a, size_t n, uint64_t state) {
    for (size_t i = n; i > 1; i--) {
        const size_t j = (size_t)(attn_splitmix64(&state) % i);
        const int t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

typedef struct three { unsigned char b[3]; } three;   /* an element size with no fast path */

static void test_shuffle(void) {
    enum { N = 1000 };
    static int ref[N];
    static uint32_t u32[N];
    static uint64_t u64[N];
    static three t3[N];
    for (size_t n = 0; n <= N; n = n ? n * 10 : 1) {
        for (size_t i = 0; i < n; i++) {
            ref[i] = (int)i, u32[i] = (uint32_t)i, u64[i] = i;
            t3[i] = (three){{(unsigned char)i, (unsigned char)(i >> 8), 7}};
        }
        reference_shuffle(ref, n, 99);
        uint64_t s1 = 99, s2 = 99, s3 = 99;
        attn_shuffle(u32, n, sizeof *u32, &s1);
        attn_shuffle(u64, n, sizeof *u64, &s2);
        attn_shuffle(t3, n, sizeof *t3, &s3);
        int same = 1, seen_all = 1;
        static unsigned char seen[N];
        memset(seen, 0, sizeof seen);
        for (size_t i = 0; i < n; i++) {
            same &= u32[i] == (uint32_t)ref[i] && u64[i] == (uint64_t)ref[i] &&
                    (t3[i].b[0] | t3[i].b[1] << 8) == ref[i] && t3[i].b[2] == 7;
            seen[u32[i]] = 1;
        }
        for (size_t i = 0; i < n; i++) seen_all &= seen[i];
        CHECK_MSG(same && seen_all, "n = %zu: not the reference permutation", n);
        CHECK(s1 == s2 && s2 == s3);                  /* one draw per element, whatever its size */
    }
    uint32_t a[50], b[50];
    for (int i = 0; i < 50; i++) a[i] = b[i] = (uint32_t)i;
    uint64_t sa = 1, sb = 2;
    attn_shuffle(a, 50, sizeof *a, &sa);
    attn_shuffle(b, 50, sizeof *b, &sb);
    CHECK(memcmp(a, b, sizeof a) != 0);               /* another seed, another order */
}

static void test_argmax(void) {
    const float x[] = {1.0f, 3.0f, -2.0f, 3.0f};
    CHECK(attn_argmax(x, 4) == 1);                    /* the first of two equal maxima */
    CHECK(attn_argmax(x, 1) == 0);
    const float neg[] = {-5.0f, -1.0f, -3.0f};
    CHECK(attn_argmax(neg, 3) == 1);
}

static void test_find_duplicate(void) {
    const char *dup = "x";
    const char *none[] = {"b", "a", "c"};
    CHECK(attn_find_duplicate(none, 3, &dup) == ATTN_OK && dup == NULL);
    CHECK(attn_find_duplicate(none, 0, &dup) == ATTN_OK && dup == NULL);
    const char *twice[] = {"zeta", "beta", "zeta", "alpha", "beta"};
    CHECK(attn_find_duplicate(twice, 5, &dup) == ATTN_OK && dup && strcmp(dup, "beta") == 0);
    CHECK(strcmp(twice[0], "zeta") == 0 && strcmp(twice[3], "alpha") == 0);   /* not sorted */
}

static void test_little_endian(void) {
    unsigned char b[5] = {0};
    attn_store_u32_le(b + 1, 0x11223344u);            /* any alignment */
    CHECK(b[1] == 0x44 && b[2] == 0x33 && b[3] == 0x22 && b[4] == 0x11);
    CHECK(attn_load_u32_le(b + 1) == 0x11223344u);
    attn_store_f32_le(b + 1, 1.0f);                   /* 0x3f800000 */
    CHECK(b[1] == 0x00 && b[2] == 0x00 && b[3] == 0x80 && b[4] == 0x3f);
    CHECK(attn_load_f32_le(b + 1) == 1.0f);
    attn_store_f32_le(b, -0.15625f);
    CHECK(attn_load_f32_le(b) == -0.15625f);
    const uint16_t probe = 1;
    CHECK(attn_host_is_little_endian() == (*(const unsigned char *)&probe == 1));
}

static void test_clock(void) {
    const double a = attn_now_seconds(), b = attn_now_seconds();
    CHECK(a > 0.0 && b >= a);
}

int main(void) {
    test_grow();
    test_grow_with();
    test_shuffle();
    test_argmax();
    test_find_duplicate();
    test_little_endian();
    test_clock();
    return CHECK_DONE();
}
