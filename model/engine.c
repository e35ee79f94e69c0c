/* engine.c: the engine-wide calls of engine.h: process set-up, introspection, and the
 * preparation of a loaded model for inference. */
#include "engine.h"

#include <cblas.h>

#include "blas_threads.h"
#include "encoder.h"
#include "kernels.h"
#include "qgemm.h"

void attn_engine_init(int blas_threads) {
    attn_blas_set_threads(blas_threads);
    (void)attn_kernels_best();       /* choose the SIMD level now, not inside a query */
}

void attn_engine_get_info(attn_engine_info *out) {
    out->simd = attn_kernels_best()->name;
    out->cpu_features = attn_cpu_features();
    out->int8 = attn_q8_kernels_best()->name;
    out->blas_config = openblas_get_config();
    out->blas_core = openblas_get_corename();
    out->blas_threads = openblas_get_num_threads();
}

int attn_engine_prepare_model(attn_model *m, attn_error *err) {
    return attn_encoder_prepare(m, err);
}
