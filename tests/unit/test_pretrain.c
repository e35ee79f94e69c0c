/* test_pretrain.c: pretraining on a stream of text files (pretrain.h).
 *   - the same options give the same steps: two runs end at the same position with
 *     bit-identical parameters
 *   - resume: N steps in one go vs N/2, a new run begun at the position, N/2 more: the same
 *     position (the same examples in the same order); the parameters differ only by the AdamW
 *     moments that restart (close: measured and bounded here)
 *   - the stream wraps: epochs and files advance, the budget ends the run
 *   - dev share: none with dev_share 0; some held out with a share
 *   - should_stop: ATTN_ESTOPPED after a whole step, the position counts it
 *   - errors: a missing file, a model without rtd, a position outside the files */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "train_util.h"
#include "pretrain.h"

static const char *CONFIG =
    "{\"format\": 1, \"dim\": 16, \"layers\": 1, \"heads\": 2, \"ffn\": 32, \"max_len\": 16,"
    " \"features\": [{\"kind\": \"norm\", \"buckets\": 500, \"dim\": 8},"
    "                {\"kind\": \"shape\", \"buckets\": 50, \"dim\": 4}],"
    " \"tasks\": [\"rtd\"], \"rtd\": {}}";

static char dir[64], file_a[96], file_b[96];
static const char *files[2] = { file_a, file_b };

static void write_files(void) {
    snprintf(dir, sizeof dir, "/tmp/attn_pretrain_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(file_a, sizeof file_a, "%s/a.txt", dir);
    snprintf(file_b, sizeof file_b, "%s/b.txt", dir);
    FILE *a = fopen(file_a, "w"), *b = fopen(file_b, "w");
    for (int i = 0; i < 300; i++)
        fprintf(a, "%s %d\n", i % 3 == 0 ? "Shares of Acme Corp rose in New York after John "
                                           "Smith spoke on Monday"
                              : i % 3 == 1 ? "the minister met Mary Jones in Paris on a cold day"
                                           : "rain fell on the quiet village all night long", i);
    for (int i = 0; i < 100; i++)
        fprintf(b, "the United Nations said that talks in Vienna would go on %d\n", i);
    fclose(a);
    fclose(b);
}

static attn_pretrain_opts opts(void) {
    attn_pretrain_opts o = attn_pretrain_defaults();
    o.files = files;
    o.n_files = 2;
    o.batch_size = 8;
    o.block_tokens = 600;
    o.pool_tokens = 1000;
    o.dev_share = 0.05;
    o.dev_examples = 30;
    o.token_budget = 1000000;
    o.rewarm_steps = 0;
    o.train.warmup_steps = 5;
    o.train.lr = 3e-3f;
    return o;
}

/* Runs `steps` steps (from pos when non-NULL) on m; *end receives the position, *last_loss
 * (may be NULL) the mean loss of the last `last` of them. */
static void run_steps(attn_model *m, const attn_pretrain_opts *o, const attn_pretrain_pos *pos,
                      int steps, int last, attn_pretrain_pos *end, double *last_loss) {
    attn_pretrain *p = NULL;
    attn_error err;
    if (attn_pretrain_begin(m, o, pos, NULL, NULL, &p, &err)) {
        CHECK_MSG(0, "begin: %s", err.msg);
        return;
    }
    attn_pretrain_report r;
    if (steps > last) CHECK(attn_pretrain_run(p, 1e9, steps - last, NULL, NULL, &r, &err) == ATTN_OK);
    CHECK(attn_pretrain_run(p, 1e9, last, NULL, NULL, &r, &err) == ATTN_OK);
    CHECK_MSG(r.steps == last, "%d steps, expected %d", r.steps, last);
    *end = attn_pretrain_position(p);
    CHECK(end->step == (pos ? pos->step : 0) + steps && end->tokens > 0);
    if (last_loss) *last_loss = r.loss;
    attn_pretrain_free(p);
}

static int same_pos(const attn_pretrain_pos *a, const attn_pretrain_pos *b) {
    return a->epoch == b->epoch && a->file == b->file && a->offset == b->offset &&
           a->skip == b->skip && a->step == b->step && a->tokens == b->tokens;
}

static void test_deterministic_and_resume(void) {
    const attn_pretrain_opts o = opts();
    attn_model *a = new_model(CONFIG, 1), *b = new_model(CONFIG, 1), *c = new_model(CONFIG, 1);
    if (!a || !b || !c) return;
    attn_pretrain_pos pa, pb, half, pc;
    double loss_a = 0, loss_c = 0;
    run_steps(a, &o, NULL, 60, 30, &pa, &loss_a);
    run_steps(b, &o, NULL, 60, 60, &pb, NULL);
    CHECK_MSG(same_pos(&pa, &pb) &&
              memcmp(a->params, b->params, a->n_params * sizeof *a->params) == 0,
              "two runs of the same options differ");
    CHECK_MSG(pa.epoch >= 1, "60 steps of 8 should pass the end of the files (epoch %lld)",
              (long long)pa.epoch);
    run_steps(c, &o, NULL, 30, 30, &half, NULL);
    run_steps(c, &o, &half, 30, 30, &pc, &loss_c);
    CHECK_MSG(same_pos(&pa, &pc), "resumed run at step %lld tokens %lld offset %lld, one go at "
              "%lld %lld %lld", (long long)pc.step, (long long)pc.tokens, (long long)pc.offset,
              (long long)pa.step, (long long)pa.tokens, (long long)pa.offset);
    /* parameters: close, not equal (the moments restarted) */
    double diff = 0.0, norm = 0.0;
    for (size_t i = 0; i < a->n_params; i++) {
        diff += ((double)a->params[i] - c->params[i]) * ((double)a->params[i] - c->params[i]);
        norm += (double)a->params[i] * a->params[i];
    }
    const double rel = sqrt(diff / norm);
    printf("resume at step 30 of 60: relative parameter distance %.4f, loss of steps 30-60 "
           "%.4f (resumed) vs %.4f (one go)\n", rel, loss_c, loss_a);
    CHECK_MSG(rel > 0.0 && rel < 0.05, "relative distance %g", rel);
    CHECK_MSG(fabs(loss_c - loss_a) < 0.1 * loss_a, "loss %g vs %g", loss_c, loss_a);
    attn_model_free(a);
    attn_model_free(b);
    attn_model_free(c);
}

static int stop_now(void *user) { return ++*(int *)user >= 3; }

static void test_budget_dev_stop(void) {
    attn_pretrain_opts o = opts();
    attn_model *m = new_model(CONFIG, 2);
    if (!m) return;
    attn_pretrain *p = NULL;
    attn_error err;
    attn_rtd_metrics dev;
    /* the budget */
    o.token_budget = 500;
    CHECK(attn_pretrain_begin(m, &o, NULL, NULL, NULL, &p, &err) == ATTN_OK);
    attn_pretrain_report r;
    CHECK(attn_pretrain_run(p, 1e9, 0, NULL, NULL, &r, &err) == ATTN_OK);
    CHECK(r.done && r.pos.tokens >= 500 && r.pos.tokens < 500 + 8 * 16 && r.steps > 0);
    CHECK(isfinite(r.loss) && r.accuracy >= 0 && r.accuracy <= 1 && r.tokens_per_s > 0);
    CHECK(attn_pretrain_run(p, 1e9, 0, NULL, NULL, &r, &err) == ATTN_OK && r.steps == 0 && r.done);
    CHECK(attn_pretrain_evaluate(p, NULL, NULL, &dev, &err) == ATTN_OK);
    CHECK(dev.tokens > 0 && dev.replaced > 0 && dev.f1 >= 0 && dev.f1 <= 1);
    attn_pretrain_free(p);
    /* no dev share: no dev metric */
    o.dev_share = 0;
    CHECK(attn_pretrain_begin(m, &o, NULL, NULL, NULL, &p, &err) == ATTN_OK);
    CHECK(attn_pretrain_evaluate(p, NULL, NULL, &dev, &err) == ATTN_OK && dev.tokens == 0 &&
          isnan(dev.f1));
    /* should_stop: after a whole step */
    o.token_budget = 1000000;
    attn_pretrain_free(p);
    CHECK(attn_pretrain_begin(m, &o, NULL, NULL, NULL, &p, &err) == ATTN_OK);
    int calls = 0;
    CHECK(attn_pretrain_run(p, 1e9, 0, stop_now, &calls, &r, &err) == ATTN_ESTOPPED);
    CHECK(attn_pretrain_position(p).step == 3);
    attn_pretrain_free(p);
    attn_model_free(m);
}

static void test_errors(void) {
    attn_pretrain_opts o = opts();
    attn_model *m = new_model(CONFIG, 3);
    if (!m) return;
    attn_pretrain *p = NULL;
    attn_error err;
    const char *missing[1] = { "/nonexistent/attn.txt" };
    o.files = missing;
    o.n_files = 1;
    CHECK(attn_pretrain_begin(m, &o, NULL, NULL, NULL, &p, &err) != ATTN_OK && !p &&
          strstr(err.msg, "/nonexistent/attn.txt"));
    o = opts();
    attn_pretrain_pos bad = { .file = 2 };
    CHECK(attn_pretrain_begin(m, &o, &bad, NULL, NULL, &p, &err) == ATTN_EINVAL &&
          strstr(err.msg, "position"));
    bad = (attn_pretrain_pos){ .skip = 100000 };
    CHECK(attn_pretrain_begin(m, &o, &bad, NULL, NULL, &p, &err) == ATTN_EINVAL &&
          strstr(err.msg, "files changed"));
    o.dev_share = 0.9;
    CHECK(attn_pretrain_begin(m, &o, NULL, NULL, NULL, &p, &err) == ATTN_EINVAL);
    attn_model_free(m);
    const char *mlm = "{\"format\": 1, \"dim\": 8, \"layers\": 1, \"heads\": 2, \"ffn\": 8,"
                      " \"max_len\": 8, \"features\": [{\"kind\": \"norm\", \"buckets\": 10,"
                      " \"dim\": 4}], \"tasks\": [\"mlm\"], \"mlm\": {\"vocab\": 4}}";
    attn_model *n = new_model(mlm, 1);
    o = opts();
    CHECK(attn_pretrain_begin(n, &o, NULL, NULL, NULL, &p, &err) == ATTN_EINVAL &&
          strstr(err.msg, "rtd"));
    attn_model_free(n);
}

int main(void) {
    write_files();
    test_deterministic_and_resume();
    test_budget_dev_stop();
    test_errors();
    unlink(file_a);
    unlink(file_b);
    rmdir(dir);
    return CHECK_DONE();
}
