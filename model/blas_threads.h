/* blas_threads.h: the number of threads OpenBLAS runs (the trainer's GEMMs and the reference
 * layers use it; inference does not), set in one place for the extension and the tools. */
#ifndef ATTN_BLAS_THREADS_H
#define ATTN_BLAS_THREADS_H

/* OpenBLAS runs n threads (n >= 1). With n == 1 the pool OpenBLAS started when it loaded is
 * also shut down: openblas_set_num_threads(1) leaves its workers spinning in sched_yield
 * until their timeout. Measured with OpenBLAS 0.3.21 on 2 cores: 160 ms of CPU on the other
 * core, and attn_classify over 1,000 Reuters rows took 0.37-0.39 s of wall time instead of
 * 0.30 s; a second thread of ours lost that core. OpenBLAS starts the pool again by itself if
 * a threaded call ever needs it (its fork handling). A build without blas_thread_shutdown_
 * (the OpenMP variant) keeps its pool. Call before other threads use BLAS. */
void attn_blas_set_threads(int n);

#endif
