/* blas_threads.c: see blas_threads.h. */
#include "blas_threads.h"

#include <cblas.h>

/* OpenBLAS's own, exported but not in cblas.h; weak, since not every build has it. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

void attn_blas_set_threads(int n) {
    openblas_set_num_threads(n);
    if (n == 1 && blas_thread_shutdown_) blas_thread_shutdown_();
}
