/* check.h: the whole unit-test framework. A test file is a main() calling CHECK* macros;
 * it prints one line per failure and a closing "N passed, N failed" line, exit status 1 on
 * any failure. */
#ifndef ATTN_CHECK_H
#define ATTN_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond) do { \
    if (cond) check_passed++; \
    else { check_failed++; fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_MSG(cond, ...) do { \
    if (cond) check_passed++; \
    else { check_failed++; fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
           fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } \
} while (0)

#define CHECK_NEAR(a, b, tol) do { \
    double check_a_ = (a), check_b_ = (b); \
    if (fabs(check_a_ - check_b_) <= (tol) && !isnan(check_a_) && !isnan(check_b_)) check_passed++; \
    else { check_failed++; fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.9g, %s = %.9g (tol %g)\n", \
           __FILE__, __LINE__, #a, check_a_, #b, check_b_, (double)(tol)); } \
} while (0)

#define CHECK_DONE() ( \
    printf("%s: %d passed, %d failed\n", __FILE__, check_passed, check_failed), \
    check_failed ? 1 : 0)

#endif
