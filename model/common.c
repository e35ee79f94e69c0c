/* common.c: the error helper, argmax, the shuffle, array growth, duplicate strings, the
 * monotonic clock and the opening of input files. */
#include "common.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#ifndef _WIN32
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

int attn_fail(attn_error *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int attn_argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Swaps the elem bytes at x and y; 4 and 8 bytes (word ids, indices) in one move each. */
static inline void swap_elems(unsigned char *x, unsigned char *y, size_t elem) {
    if (elem == 4) {
        uint32_t t, u;
        memcpy(&t, x, 4), memcpy(&u, y, 4), memcpy(x, &u, 4), memcpy(y, &t, 4);
    } else if (elem == 8) {
        uint64_t t, u;
        memcpy(&t, x, 8), memcpy(&u, y, 8), memcpy(x, &u, 8), memcpy(y, &t, 8);
    } else {
        for (size_t k = 0; k < elem; k++) {
            const unsigned char t = x[k];
            x[k] = y[k];
            y[k] = t;
        }
    }
}

void attn_shuffle(void *a, size_t n, size_t elem, uint64_t *state) {
    unsigned char *b = a;
    for (size_t i = n > 1 ? n - 1 : 0; i > 0; i--) {
        const size_t j = (size_t)(attn_splitmix64(state) % (i + 1));
        swap_elems(b + i * elem, b + j * elem, elem);
    }
}

int attn_grow(void **p, size_t *cap, size_t n, size_t elem) {
    return attn_grow_with(realloc, p, cap, n, elem);
}

int attn_grow_with(attn_realloc_fn re, void **p, size_t *cap, size_t n, size_t elem) {
    if (n <= *cap && *p) return ATTN_OK;
    size_t want = *cap > SIZE_MAX / 2 ? SIZE_MAX : 2 * *cap;
    if (want < n) want = n;
    if (want == 0) want = 1;
    if (elem == 0 || want > SIZE_MAX / elem) return ATTN_ENOMEM;
    void *q = re(*p, want * elem);
    if (!q) return ATTN_ENOMEM;
    *p = q;
    *cap = want;
    return ATTN_OK;
}

static int string_ptr_compare(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int attn_find_duplicate(const char *const *s, size_t n, const char **dup) {
    *dup = NULL;
    if (n < 2) return ATTN_OK;
    const char **sorted = malloc(n * sizeof *sorted);
    if (!sorted) return ATTN_ENOMEM;
    memcpy(sorted, s, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, string_ptr_compare);
    for (size_t i = 1; i < n && !*dup; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0) *dup = sorted[i];
    free(sorted);
    return ATTN_OK;
}

double attn_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

FILE *attn_fopen_regular(const char *path, attn_error *err) {
#ifdef _WIN32
    FILE *f = fopen(path, "rb");
    if (!f) attn_fail(err, ATTN_EINVAL, "cannot open '%s'", path);
    return f;
#else
    /* O_NONBLOCK: opening a FIFO without a writer would block, beyond sqlite3_interrupt's
     * reach. Cleared once we know the file is regular. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        attn_fail(err, ATTN_EINVAL, "cannot open '%s'", path);
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        attn_fail(err, ATTN_EINVAL, "'%s' is not a regular file", path);
        return NULL;
    }
    int flags = fcntl(fd, F_GETFL);
    FILE *f = flags >= 0 && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0 ? fdopen(fd, "rb")
                                                                          : NULL;
    if (!f) {
        close(fd);
        attn_fail(err, ATTN_EINVAL, "cannot open '%s'", path);
    }
    return f;
#endif
}

int attn_ends_with(const char *s, const char *suffix) {
    const size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}
