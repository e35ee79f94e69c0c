/* train_util.h: helpers of the pretraining-head tests (test_mlm.c, test_rtd.c): a seeded
 * generator, fresh models, random parameters, and one finite-difference probe.
 * Header-only; include after check.h. */
#ifndef ATTN_TEST_TRAIN_UTIL_H
#define ATTN_TEST_TRAIN_UTIL_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train.h"

#define FD_STEP 1e-3
#define FD_ATOL 5e-4
#define FD_RTOL 1e-2

static uint64_t test_rng = 0x1234567;

static inline double urand(void) {
    test_rng = test_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(test_rng >> 11) / 9007199254740992.0;
}

static inline float srand1(void) { return (float)(2.0 * urand() - 1.0); }

static inline attn_model *new_model(const char *config, uint64_t seed) {
    attn_model *m = NULL;
    attn_error err;
    if (attn_train_model_new(config, strlen(config), seed, &m, &err)) {
        CHECK_MSG(0, "model: %s", err.msg);
        return NULL;
    }
    return m;
}

/* Every parameter uniform in +-scale (LayerNorm gains around 1). */
static inline void randomize_params(attn_model *m, float scale) {
    for (size_t s = 0; s < m->n_specs; s++) {
        const attn_tensor_spec *sp = &m->specs[s];
        float *x = m->params + sp->offset;
        const int gain = strstr(sp->key, "ln") && sp->ndim == 1 &&
                         sp->key[strlen(sp->key) - 1] == 'w';
        for (size_t i = 0; i < sp->size; i++) x[i] = (gain ? 1.0f : 0.0f) + scale * srand1();
    }
}

/* A model of config with parameters uniform in +-scale and a trainer (default options,
 * threads) on it; NULL (and nothing left allocated) on an error. */
static inline attn_model *new_trained_model(const char *config, uint64_t seed, float scale, int threads,
                                     attn_trainer **tr) {
    attn_model *m = new_model(config, seed);
    if (!m) return NULL;
    randomize_params(m, scale);
    attn_train_opts o = attn_train_defaults();
    o.threads = threads;
    attn_error err;
    if (attn_trainer_new(m, &o, tr, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        attn_model_free(m);
        return NULL;
    }
    return m;
}

/* Central difference of loss(ctx) in *x against the analytical derivative an; on a mismatch
 * prints the first one (what[i]) and clears *ok. */
static inline void fd_probe(float *x, double an, double (*loss)(void *ctx), void *ctx, const char *what,
                     size_t i, int *ok) {
    const float keep = *x;
    *x = keep + (float)FD_STEP;
    const double up = loss(ctx);
    *x = keep - (float)FD_STEP;
    const double down = loss(ctx);
    *x = keep;
    const double num = (up - down) / (2 * FD_STEP);
    if (fabs(an - num) <= FD_ATOL + FD_RTOL * fabs(num)) return;
    if (*ok) fprintf(stderr, "%s[%zu]: analytical %.7g numerical %.7g\n", what, i, an, num);
    *ok = 0;
}

/* The trainer's gradient probed at a few parameters of every tensor (table rows: among the
 * first table_rows) by fd_probe on the batch's mean loss. Returns the probes whose analytical
 * gradient is non-zero; *ok cleared on a mismatch. */
typedef struct trainer_probe { attn_trainer *tr; const attn_example *ex; int n; } trainer_probe;

static inline double trainer_probe_loss(void *ctx) {
    trainer_probe *p = ctx;
    double loss = 0.0;
    attn_error err;
    CHECK(attn_trainer_grad(p->tr, p->ex, p->n, &loss, &err) == ATTN_OK);
    return loss;
}

static inline int probe_trainer(attn_model *m, attn_trainer *tr, const attn_example *ex, int n,
                         const float *an, int table_rows, int *ok) {
    trainer_probe ctx = { tr, ex, n };
    int nonzero = 0;
    for (size_t s = 0; s < m->n_specs; s++) {
        const attn_tensor_spec *sp = &m->specs[s];
        const int table = strncmp(sp->key, "embed.", 6) == 0 && strcmp(sp->key, "embed.proj.w");
        for (int probe = 0; probe < 6; probe++) {
            size_t i = (size_t)(urand() * (double)sp->size);
            if (table && table_rows > 0)
                i = (size_t)(urand() * table_rows) * (size_t)sp->shape[1] +
                    (size_t)(urand() * (double)sp->shape[1]);
            fd_probe(m->params + sp->offset + i, an[sp->offset + i], trainer_probe_loss, &ctx,
                     sp->key, i, ok);
            nonzero += an[sp->offset + i] != 0.0f;
        }
    }
    return nonzero;
}

#endif
