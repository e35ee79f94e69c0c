/* pretrain.c: the stream of text files, blocks, the dev set and pool, the step loop (see
 * pretrain.h). */
#define _GNU_SOURCE 1   /* getline */
#include "pretrain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "features.h"
#include "train_data_impl.h"

#define DEV_HASH_SEED 0x64657673706c6974ull
#define STOP_LINES 4096          /* lines between two should_stop calls while scanning */
#define BLOCK_STOP_LINES 64      /* training lines (tokenised: a document can be long) between
                                  * two should_stop calls while a block is read */

attn_pretrain_opts attn_pretrain_defaults(void) {
    attn_pretrain_opts o;
    memset(&o, 0, sizeof o);
    o.train = attn_train_defaults();
    o.batch_size = 32;
    o.block_tokens = 262144;
    o.dev_share = 0.002;
    o.dev_examples = 512;
    o.pool_tokens = 2000000;
    o.token_budget = 100000000;
    o.rewarm_steps = 100;
    return o;
}

/* ---- reading lines: one open file, its byte offset ---------------------------------------- */

typedef struct reader {
    const attn_pretrain_opts *o;
    FILE *f;
    int64_t file, offset;        /* the next line's file and byte offset */
    char *line;
    size_t cap;
    size_t len;                  /* bytes of the line read, without the newline */
    int wrapped;                 /* the last read went past the last file */
} reader;

static int reader_seek(reader *r, int64_t file, int64_t offset, attn_error *err) {
    if (r->f) fclose(r->f);
    r->f = NULL;
    if (file < 0 || file >= r->o->n_files)
        return attn_fail(err, ATTN_EINVAL, "pretrain: file %lld of %d", (long long)file,
                         r->o->n_files);
    const char *path = r->o->files[file];
    if (!(r->f = attn_fopen_regular(path, err))) return ATTN_EINVAL;
    if (fseeko(r->f, (off_t)offset, SEEK_SET) != 0)
        return attn_fail(err, ATTN_EINVAL, "pretrain: cannot seek to byte %lld of '%s'",
                         (long long)offset, path);
    r->file = file;
    r->offset = offset;
    return ATTN_OK;
}

/* The next line into r->line (r->len bytes, no newline); at the end of the last file, the
 * first line of the first (r->wrapped = 1). A file with no line at all: ATTN_EINVAL. */
static int reader_next(reader *r, attn_error *err) {
    r->wrapped = 0;
    for (int opened = 0;; opened++) {
        const ssize_t n = getline(&r->line, &r->cap, r->f);
        if (n >= 0) {
            r->offset += n;
            r->len = (size_t)n;
            while (r->len && (r->line[r->len - 1] == '\n' || r->line[r->len - 1] == '\r'))
                r->len--;
            return ATTN_OK;
        }
        if (ferror(r->f))
            return attn_fail(err, ATTN_EINVAL, "pretrain: cannot read '%s'", r->o->files[r->file]);
        if (opened > r->o->n_files)
            return attn_fail(err, ATTN_EINVAL, "pretrain: the files have no line of text");
        const int64_t next = r->file + 1 < r->o->n_files ? r->file + 1 : 0;
        if (next == 0) r->wrapped = 1;
        int rc = reader_seek(r, next, 0, err);
        if (rc) return rc;
    }
}

static int is_dev_line(const attn_pretrain_opts *o, const char *line, size_t n) {
    const uint64_t h = attn_hash64(DEV_HASH_SEED, line, n);
    return (double)(h >> 11) / 9007199254740992.0 < o->dev_share;
}

/* ---- the run -------------------------------------------------------------------------------- */

struct attn_pretrain {
    attn_model *m;
    attn_pretrain_opts o;
    attn_trainer *tr;
    attn_rtd_pool *pool;
    attn_dataset *dev;
    reader rd;
    attn_pretrain_pos pos;
    /* the block being trained: examples in shuffled order */
    attn_dataset *block;
    size_t *order;
    size_t n_order, cap_order;
    char *pack;                  /* packed text */
    size_t pack_len, pack_cap;
    attn_example *batch;
};

/* Adds the packed text to ds and empties it. */
static int flush_pack(attn_pretrain *p, attn_dataset *ds, attn_error *err) {
    if (!p->pack_len) return ATTN_OK;
    int rc = attn_dataset_add(ds, p->pack, p->pack_len, NULL, NULL, 0, NULL, 0, err);
    p->pack_len = 0;
    return rc;
}

/* Appends the reader's line to the packed text, flushing into ds once it is long enough. */
static int pack_line(attn_pretrain *p, attn_dataset *ds, attn_error *err) {
    const reader *r = &p->rd;
    if (attn_grow((void **)&p->pack, &p->pack_cap, p->pack_len + r->len + 2, 1))
        return attn_fail(err, ATTN_ENOMEM, "pretrain: out of memory");
    if (p->pack_len) p->pack[p->pack_len++] = ' ';
    memcpy(p->pack + p->pack_len, r->line, r->len);
    p->pack_len += r->len;
    p->pack[p->pack_len] = '\0';
    const size_t full = (size_t)ATTN_PRETRAIN_PACK_BYTES_PER_TOKEN * (size_t)p->m->cfg.max_len;
    return p->pack_len >= full ? flush_pack(p, ds, err) : ATTN_OK;
}

/* The pool's examples so far into the pool, the dataset emptied (bounded memory: a token's
 * rows are up to ATTN_MAX_SLOTS values). *pooled counts their tokens. */
static int drain_pool(attn_pretrain *p, attn_dataset **ds, int64_t *pooled, attn_error *err) {
    int rc = flush_pack(p, *ds, err);
    if (!rc) rc = attn_rtd_pool_add_dataset(p->pool, *ds, err);
    if (rc) return rc;
    *pooled += attn_dataset_tokens(*ds);
    attn_dataset_free(*ds);
    if (!(*ds = attn_dataset_new(&p->m->cfg)))
        return attn_fail(err, ATTN_ENOMEM, "pretrain: out of memory");
    attn_dataset_set_gazetteer(*ds, p->m->gazetteer);
    return ATTN_OK;
}

#define POOL_DRAIN_TOKENS 65536  /* tokens the pool's dataset holds at most before a drain */

/* The dev set and the pool, from the start of the files. */
static int read_start(attn_pretrain *p, attn_stop_cb stop, void *user, attn_error *err) {
    attn_dataset *pool_ds = attn_dataset_new(&p->m->cfg);
    if (!pool_ds) return attn_fail(err, ATTN_ENOMEM, "pretrain: out of memory");
    attn_dataset_set_gazetteer(pool_ds, p->m->gazetteer);
    int rc = reader_seek(&p->rd, 0, 0, err);
    int64_t pooled = 0, lines = 0;
    while (!rc && (pooled < p->o.pool_tokens ||
                   (p->o.dev_share > 0 && attn_dataset_examples(p->dev) <
                                              (size_t)p->o.dev_examples))) {
        if ((rc = reader_next(&p->rd, err))) break;
        if (p->rd.wrapped) break;                           /* the files are read */
        if (stop && ++lines % STOP_LINES == 0 && stop(user)) {
            rc = attn_fail(err, ATTN_ESTOPPED, "pretrain: stopped while reading the files");
            break;
        }
        if (p->rd.len == 0) continue;
        if (is_dev_line(&p->o, p->rd.line, p->rd.len)) {
            if (attn_dataset_examples(p->dev) < (size_t)p->o.dev_examples)
                rc = attn_dataset_add(p->dev, p->rd.line, p->rd.len, NULL, NULL, 0, NULL, 0, err);
        } else if (pooled < p->o.pool_tokens) {
            rc = pack_line(p, pool_ds, err);
            if (!rc && attn_dataset_tokens(pool_ds) >= POOL_DRAIN_TOKENS)
                rc = drain_pool(p, &pool_ds, &pooled, err);
        }
    }
    if (!rc) rc = drain_pool(p, &pool_ds, &pooled, err);
    if (!rc) rc = attn_rtd_pool_finish(p->pool, err);
    attn_dataset_free(pool_ds);
    return rc;
}

static void shuffle_block(attn_pretrain *p, int64_t block_offset, int64_t block_file) {
    uint64_t state = p->o.train.seed ^ 0x626c6f636bull ^
                     attn_splitmix64_hash((uint64_t)p->pos.epoch * 0x10000ull ^
                                          (uint64_t)block_file << 48 ^ (uint64_t)block_offset);
    for (size_t i = 0; i < p->n_order; i++) p->order[i] = i;
    attn_shuffle(p->order, p->n_order, sizeof *p->order, &state);
}

/* Reads the block starting at the position's (file, offset): training lines until it holds
 * block_tokens tokens. */
static int read_block(attn_pretrain *p, attn_stop_cb stop, void *user, attn_error *err) {
    attn_dataset_free(p->block);
    if (!(p->block = attn_dataset_new(&p->m->cfg)))
        return attn_fail(err, ATTN_ENOMEM, "pretrain: out of memory");
    attn_dataset_set_gazetteer(p->block, p->m->gazetteer);
    int rc = reader_seek(&p->rd, p->pos.file, p->pos.offset, err);
    int lines = 0;
    p->pack_len = 0;
    while (!rc && attn_dataset_tokens(p->block) < p->o.block_tokens) {
        /* the end of the last file ends the block: the next one starts the next epoch */
        const int64_t before_file = p->rd.file;
        if ((rc = reader_next(&p->rd, err))) break;
        if (p->rd.wrapped || p->rd.file != before_file) {
            if (p->rd.wrapped || lines > 0) {
                p->rd.file = before_file;     /* the line read belongs to the next block */
                p->rd.offset = -1;
                break;
            }
        }
        if (p->rd.len == 0 || is_dev_line(&p->o, p->rd.line, p->rd.len)) continue;
        rc = pack_line(p, p->block, err);
        lines++;
        if (!rc && stop && lines % BLOCK_STOP_LINES == 0 && stop(user))
            rc = attn_fail(err, ATTN_ESTOPPED, "pretrain: stopped while reading a block");
    }
    if (!rc) rc = flush_pack(p, p->block, err);
    if (rc) return rc;
    p->n_order = attn_dataset_examples(p->block);
    if (attn_grow((void **)&p->order, &p->cap_order, p->n_order + 1, sizeof *p->order))
        return attn_fail(err, ATTN_ENOMEM, "pretrain: out of memory");
    shuffle_block(p, p->pos.offset, p->pos.file);
    return ATTN_OK;
}

/* The position of the block after the current one. */
static void next_block_pos(attn_pretrain *p) {
    if (p->rd.offset < 0 || p->rd.wrapped) {      /* the block ended at the end of a file */
        if (p->rd.file + 1 < p->o.n_files) {
            p->pos.file = p->rd.file + 1;
        } else {
            p->pos.file = 0;
            p->pos.epoch++;
        }
        p->pos.offset = 0;
    } else {
        p->pos.file = p->rd.file;
        p->pos.offset = p->rd.offset;
    }
    p->pos.skip = 0;
}

static int check_opts(const attn_model *m, const attn_pretrain_opts *o, attn_error *err) {
    if (!(m->cfg.tasks & ATTN_TASK_RTD))
        return attn_fail(err, ATTN_EINVAL, "pretrain: the model has no task rtd");
    if (o->n_files < 1 || o->n_files > ATTN_PRETRAIN_MAX_FILES || !o->files)
        return attn_fail(err, ATTN_EINVAL, "pretrain: 1..%d files, got %d",
                         ATTN_PRETRAIN_MAX_FILES, o->n_files);
    if (o->batch_size < 1 || o->batch_size > ATTN_TRAIN_MAX_BATCH || o->block_tokens < 1 ||
        o->dev_examples < 0 || o->pool_tokens < 1 || o->rewarm_steps < 0)
        return attn_fail(err, ATTN_EINVAL, "pretrain: need batch_size 1..%d, block_tokens >= 1, "
                         "dev_examples >= 0, pool_tokens >= 1, rewarm_steps >= 0",
                         ATTN_TRAIN_MAX_BATCH);
    if (!(o->dev_share >= 0.0 && o->dev_share <= 0.5))
        return attn_fail(err, ATTN_EINVAL, "pretrain: dev_share %g, expected in [0, 0.5]",
                         o->dev_share);
    if (o->token_budget < 1)
        return attn_fail(err, ATTN_EINVAL, "pretrain: the token budget must be >= 1");
    return ATTN_OK;
}

static int check_pos(const attn_pretrain_opts *o, const attn_pretrain_pos *pos, attn_error *err) {
    if (pos->epoch < 0 || pos->file < 0 || pos->file >= o->n_files || pos->offset < 0 ||
        pos->skip < 0 || pos->step < 0 || pos->step > INT32_MAX || pos->tokens < 0)
        return attn_fail(err, ATTN_EINVAL, "pretrain: checkpoint position out of range (file "
                         "%lld of %d, offset %lld, step %lld)", (long long)pos->file, o->n_files,
                         (long long)pos->offset, (long long)pos->step);
    return ATTN_OK;
}

int attn_pretrain_begin(attn_model *m, const attn_pretrain_opts *opts,
                        const attn_pretrain_pos *pos, attn_stop_cb should_stop, void *user,
                        attn_pretrain **out, attn_error *err) {
    *out = NULL;
    int rc = check_opts(m, opts, err);
    if (!rc && pos) rc = check_pos(opts, pos, err);
    if (rc) return rc;
    attn_pretrain *p = calloc(1, sizeof *p);
    if (!p) return attn_fail(err, ATTN_ENOMEM, "pretrain: out of memory");
    p->m = m;
    p->o = *opts;
    p->rd.o = &p->o;
    if (pos) p->pos = *pos;
    const double per_step = (double)opts->batch_size * m->cfg.max_len;
    const double steps = ceil((double)opts->token_budget / per_step);
    p->o.train.total_steps = steps > INT32_MAX ? INT32_MAX : (int)steps;
    p->pool = attn_rtd_pool_new(&m->cfg);
    p->dev = attn_dataset_new(&m->cfg);
    p->batch = malloc((size_t)opts->batch_size * sizeof *p->batch);
    if (!p->pool || !p->dev || !p->batch) rc = attn_fail(err, ATTN_ENOMEM, "pretrain: out of memory");
    if (!rc) attn_dataset_set_gazetteer(p->dev, m->gazetteer);
    if (!rc) rc = read_start(p, should_stop, user, err);
    if (!rc) rc = attn_trainer_new(m, &p->o.train, &p->tr, err);
    if (!rc) {
        attn_trainer_set_rtd_pool(p->tr, p->pool);
        rc = attn_trainer_resume(p->tr, (int)p->pos.step, opts->rewarm_steps, err);
    }
    if (!rc) rc = read_block(p, should_stop, user, err);
    if (!rc && (size_t)p->pos.skip > p->n_order)
        rc = attn_fail(err, ATTN_EINVAL, "pretrain: checkpoint position: %lld examples done "
                       "of a block of %zu (were the files changed?)", (long long)p->pos.skip,
                       p->n_order);
    if (rc) {
        attn_pretrain_free(p);
        return rc;
    }
    *out = p;
    return ATTN_OK;
}

int attn_pretrain_run(attn_pretrain *p, double seconds, int64_t max_steps,
                      attn_stop_cb should_stop, void *user, attn_pretrain_report *r,
                      attn_error *err) {
    memset(r, 0, sizeof *r);
    r->loss = r->accuracy = NAN;
    const double t0 = attn_now_seconds();
    double loss = 0.0;
    int64_t tokens = 0, right = 0, called = 0;
    int rc = ATTN_OK;
    while (p->pos.tokens < p->o.token_budget) {
        if ((size_t)p->pos.skip >= p->n_order) {
            next_block_pos(p);
            if ((rc = read_block(p, should_stop, user, err))) break;
            continue;
        }
        int n = 0;
        while (n < p->o.batch_size && (size_t)p->pos.skip < p->n_order)
            p->batch[n++] = attn_dataset_example_at(p->block, p->order[p->pos.skip++]);
        attn_train_stats st;
        if ((rc = attn_trainer_step(p->tr, p->batch, n, &st, err))) break;
        p->pos.step++;
        p->pos.tokens += st.n_tokens;
        tokens += st.n_tokens;
        loss += st.loss;
        right += st.n_mlm_correct;
        called += st.n_mlm_predicted;
        r->steps++;
        if (should_stop && should_stop(user)) {
            rc = attn_fail(err, ATTN_ESTOPPED, "pretrain: stopped at step %lld",
                           (long long)p->pos.step);
            break;
        }
        if (attn_now_seconds() - t0 >= seconds || (max_steps > 0 && r->steps >= max_steps)) break;
    }
    const double dt = attn_now_seconds() - t0;
    r->pos = p->pos;
    if (r->steps) r->loss = loss / r->steps;
    if (called) r->accuracy = (double)right / (double)called;
    r->tokens_per_s = dt > 0 ? (double)tokens / dt : 0.0;
    r->done = p->pos.tokens >= p->o.token_budget;
    return rc;
}

int attn_pretrain_evaluate(attn_pretrain *p, attn_stop_cb should_stop, void *user,
                           attn_rtd_metrics *dev, attn_error *err) {
    if (attn_dataset_examples(p->dev) == 0) {
        memset(dev, 0, sizeof *dev);
        dev->accuracy = dev->precision = dev->recall = dev->f1 = NAN;
        return ATTN_OK;
    }
    return attn_rtd_evaluate(p->m, p->pool, p->dev, should_stop, user, dev, err);
}

attn_pretrain_pos attn_pretrain_position(const attn_pretrain *p) { return p->pos; }

void attn_pretrain_free(attn_pretrain *p) {
    if (!p) return;
    attn_trainer_free(p->tr);
    attn_rtd_pool_free(p->pool);
    attn_dataset_free(p->dev);
    attn_dataset_free(p->block);
    if (p->rd.f) fclose(p->rd.f);
    free(p->rd.line);
    free(p->order);
    free(p->pack);
    free(p->batch);
    free(p);
}
