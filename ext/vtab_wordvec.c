/* vtab_wordvec.c: attn_wordvec_train(out_path, files_json [, options_json]), an eponymous
 * table-valued function that trains subword word vectors (wordvec.h) on unlabelled text files
 * (UTF-8, one document a line) and writes them to out_path, the file attn_train's option
 * 'vectors' reads. One row as each file is read, one every report_seconds while training, and
 * a last one once the file is written:
 *
 *   phase TEXT          'read', 'train' or 'done'
 *   file TEXT           read: the file just read; done: out_path
 *   tokens INTEGER      read: tokens read so far; train, done: tokens trained on so far (all
 *                       epochs, before subsampling)
 *   words INTEGER       read: distinct words so far; done: words kept (seen min_count times)
 *   progress REAL       train, done: tokens / (epochs * training tokens), 0..1
 *   loss REAL           train, done: mean logistic loss per sample in the current epoch
 *   tokens_per_s REAL   train, done: tokens / training seconds
 *   seconds REAL        since the call began
 *
 * Options: dim, buckets, min_n, max_n, window, negatives, epochs, min_count, threads, lr,
 * subsample, seed (wordvec.h, same defaults), report_seconds (default 10), vocab (a path: the
 * vocabulary as "word\tcount" lines, most frequent first, for tests/tools/wordvec_nn), unit
 * ('words', the default, or 'bigrams': vectors of every two consecutive tokens, for the
 * bigram tables: attn_train's option 'bigram_vectors'; the file records which).
 *
 * Files are written whole or not at all: each goes to a new temporary file beside it (made at
 * the start, so an unwritable path fails before the training, not after), renamed over the
 * path once complete: a symbolic link at the path is replaced, never written through. An
 * error, sqlite3_interrupt (checked while reading and every 50 ms while training) or a cursor
 * closed before the end (LIMIT) stops the threads and removes the temporary files.
 *
 * DIRECTONLY: it reads and writes files named by its arguments, so it must not run from a view
 * or trigger someone else wrote. */
#include "ext.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FN "attn_wordvec_train"
#define WAIT_SLICE_SECONDS 0.05         /* how often a training wait checks for an interrupt */
#define DEFAULT_REPORT_SECONDS 10.0

enum { COL_PHASE, COL_FILE, COL_TOKENS, COL_WORDS, COL_PROGRESS, COL_LOSS, COL_TOKENS_PER_S,
       COL_SECONDS, COL_OUT, COL_FILES, COL_OPTIONS };
#define N_ARGS 3

typedef enum { PHASE_READ, PHASE_TRAIN, PHASE_DONE } phase;
static const char *const PHASE_NAMES[] = {"read", "train", "done"};

/* A file written whole or not at all: tmp is created at once, renamed to path on commit. */
typedef struct out_file {
    char *path, *tmp;           /* sqlite3_malloc'd; tmp NULL once committed or discarded */
} out_file;

typedef struct wordvec_vtab {
    sqlite3_vtab base;
    sqlite3 *db;
} wordvec_vtab;

typedef struct wordvec_cursor {
    sqlite3_vtab_cursor base;
    sqlite3 *db;
    interrupt_probe probe;
    attn_json *files;           /* the parsed files_json (an array of strings) */
    attn_json *options;
    attn_wordvec_params params;
    attn_wordvec_unit unit;
    double report_seconds;
    out_file out, vocab;        /* vocab.path NULL without option 'vocab' */
    attn_wordvec_corpus *corpus;
    attn_wordvec_run *run;
    size_t next_file;
    double start;               /* seconds on the monotonic clock */
    /* the current row */
    phase ph;
    const char *file;
    uint64_t tokens, words;
    double progress, loss, tokens_per_s, seconds;
    int have_progress;          /* progress, loss, tokens_per_s are set */
    int have_words;
    int eof;
} wordvec_cursor;

/* ---- output files --------------------------------------------------------------------------- */

static void out_file_discard(out_file *f) {
    if (f->tmp) unlink(f->tmp);
    sqlite3_free(f->tmp);
    sqlite3_free(f->path);
    f->tmp = f->path = NULL;
}

/* Creates the temporary file beside path. what names the argument in errors. */
static int out_file_begin(out_file *f, const char *path, const char *what, char **err_msg) {
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
        *err_msg = sqlite3_mprintf("%s: %s '%s' exists and is not a regular file", FN, what,
                                   path);
        return SQLITE_ERROR;
    }
    f->path = sqlite3_mprintf("%s", path);
    f->tmp = sqlite3_mprintf("%s.tmp-XXXXXX", path);
    if (!f->path || !f->tmp) return SQLITE_NOMEM;
    int fd = mkstemp(f->tmp);
    if (fd < 0) {
        *err_msg = sqlite3_mprintf("%s: cannot create %s '%s': %s", FN, what, path,
                                   strerror(errno));
        sqlite3_free(f->tmp);
        f->tmp = NULL;
        return SQLITE_ERROR;
    }
    fchmod(fd, 0644);           /* mkstemp makes it 0600; what fopen would make, usually */
    close(fd);
    return SQLITE_OK;
}

static int out_file_commit(out_file *f, const char *what, char **err_msg) {
    if (rename(f->tmp, f->path) != 0) {
        *err_msg = sqlite3_mprintf("%s: cannot write %s '%s': %s", FN, what, f->path,
                                   strerror(errno));
        return SQLITE_ERROR;
    }
    sqlite3_free(f->tmp);
    f->tmp = NULL;
    return SQLITE_OK;
}

/* ---- arguments and options ------------------------------------------------------------------ */

static int engine_error(char **err_msg, int status, const attn_error *err) {
    *err_msg = sqlite3_mprintf("%s: %s", FN, err->msg);
    return sqlite_code(status);
}

/* A whole number in [0, hi] (the engine checks the real range: attn_wordvec_check_params). */
static int option_whole(const char *key, const attn_json *v, int64_t hi, int64_t *out,
                        char **err_msg) {
    if (attn_json_int(v, 0, hi, out) == 0) return SQLITE_OK;
    *err_msg = sqlite3_mprintf("%s: option '%s' must be an integer in [0, %lld]", FN, key,
                               (long long)hi);
    return SQLITE_ERROR;
}

static int option_number(const char *key, const attn_json *v, double lo, double hi, double *out,
                         char **err_msg) {
    if (v->type == ATTN_JSON_NUMBER && v->number >= lo && v->number <= hi) {
        *out = v->number;
        return SQLITE_OK;
    }
    *err_msg = sqlite3_mprintf("%s: option '%s' must be a number in [%g, %g]", FN, key, lo, hi);
    return SQLITE_ERROR;
}

static int set_option(wordvec_cursor *cur, const char *key, const attn_json *v,
                      const char **vocab_path, char **err_msg) {
    static const struct { const char *key; int64_t hi; } whole[] = {
        {"dim", UINT32_MAX}, {"buckets", UINT32_MAX}, {"min_n", INT32_MAX},
        {"max_n", INT32_MAX}, {"window", INT32_MAX}, {"negatives", INT32_MAX},
        {"epochs", INT32_MAX}, {"threads", INT32_MAX}, {"min_count", INT64_MAX},
        {"seed", 9007199254740991LL},
    };
    attn_wordvec_params *p = &cur->params;
    for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++) {
        if (strcmp(key, whole[i].key) != 0) continue;
        int64_t x;
        int rc = option_whole(key, v, whole[i].hi, &x, err_msg);
        if (rc != SQLITE_OK) return rc;
        switch (i) {
        case 0: p->dim = (uint32_t)x; break;
        case 1: p->n_buckets = (uint32_t)x; break;
        case 2: p->min_n = (int)x; break;
        case 3: p->max_n = (int)x; break;
        case 4: p->window = (int)x; break;
        case 5: p->negatives = (int)x; break;
        case 6: p->epochs = (int)x; break;
        case 7: p->threads = (int)x; break;
        case 8: p->min_count = (uint64_t)x; break;
        default: p->seed = (uint64_t)x; break;
        }
        return SQLITE_OK;
    }
    double x = 0;
    int rc;
    if (strcmp(key, "lr") == 0) {
        rc = option_number(key, v, 0, 10, &x, err_msg);
        p->lr = (float)x;
        return rc;
    }
    if (strcmp(key, "subsample") == 0) return option_number(key, v, 0, 1, &p->subsample, err_msg);
    if (strcmp(key, "report_seconds") == 0)
        return option_number(key, v, 0.01, 86400, &cur->report_seconds, err_msg);
    if (strcmp(key, "unit") == 0) {
        if (v->type == ATTN_JSON_STRING && (strcmp(v->str, "words") == 0 || strcmp(v->str, "bigrams") == 0)) {
            cur->unit = strcmp(v->str, "words") == 0 ? ATTN_WORDVEC_WORDS : ATTN_WORDVEC_BIGRAMS;
            return SQLITE_OK;
        }
        *err_msg = sqlite3_mprintf("%s: option 'unit' must be 'words' or 'bigrams'", FN);
        return SQLITE_ERROR;
    }
    if (strcmp(key, "vocab") == 0) {
        if (v->type == ATTN_JSON_STRING && v->len > 0 && strlen(v->str) == v->len) {
            *vocab_path = v->str;
            return SQLITE_OK;
        }
        *err_msg = sqlite3_mprintf("%s: option 'vocab' must be a non-empty string (a path)", FN);
        return SQLITE_ERROR;
    }
    *err_msg = sqlite3_mprintf("%s: unknown option '%s'", FN, key);
    return SQLITE_ERROR;
}

static int parse_options(wordvec_cursor *cur, const char *json, size_t n,
                         const char **vocab_path, char **err_msg) {
    attn_wordvec_default_params(&cur->params);
    cur->report_seconds = DEFAULT_REPORT_SECONDS;
    cur->unit = ATTN_WORDVEC_WORDS;
    *vocab_path = NULL;
    if (!json) return SQLITE_OK;
    attn_error err = {{0}};
    if (attn_json_parse(json, n, &cur->options, &err) != ATTN_OK) {
        *err_msg = sqlite3_mprintf("%s: options: %s", FN, err.msg);
        return SQLITE_ERROR;
    }
    if (cur->options->type != ATTN_JSON_OBJECT) {
        *err_msg = sqlite3_mprintf("%s: options must be a JSON object", FN);
        return SQLITE_ERROR;
    }
    for (size_t i = 0; i < cur->options->len; i++) {
        int rc = set_option(cur, cur->options->keys[i], &cur->options->items[i], vocab_path,
                            err_msg);
        if (rc != SQLITE_OK) return rc;
    }
    int status = attn_wordvec_check_params(&cur->params, &err);
    return status == ATTN_OK ? SQLITE_OK : engine_error(err_msg, status, &err);
}

static int parse_files(wordvec_cursor *cur, const char *json, size_t n, char **err_msg) {
    attn_error err = {{0}};
    if (attn_json_parse(json, n, &cur->files, &err) != ATTN_OK) {
        *err_msg = sqlite3_mprintf("%s: files: %s", FN, err.msg);
        return SQLITE_ERROR;
    }
    int ok = cur->files->type == ATTN_JSON_ARRAY && cur->files->len > 0;
    for (size_t i = 0; ok && i < cur->files->len; i++) {
        const attn_json *f = &cur->files->items[i];
        ok = f->type == ATTN_JSON_STRING && f->len > 0 && strlen(f->str) == f->len;
    }
    if (ok) return SQLITE_OK;
    *err_msg = sqlite3_mprintf("%s: files must be a non-empty JSON array of file paths", FN);
    return SQLITE_ERROR;
}

/* ---- the phases --------------------------------------------------------------------------- */

static int interrupted(wordvec_cursor *cur, char **err_msg) {
    *err_msg = sqlite3_mprintf("%s: interrupted; '%s' not written", FN, cur->out.path);
    return SQLITE_INTERRUPT;
}

/* Adds the next file to the corpus, checking for an interrupt (every
 * ATTN_WORDVEC_STOP_LINES lines). */
static int read_next_file(wordvec_cursor *cur, char **err_msg) {
    const char *path = cur->files->items[cur->next_file++].str;
    attn_error err = {{0}};
    int status = attn_wordvec_corpus_add_file(cur->corpus, path, interrupt_probe_check,
                                              &cur->probe, &err);
    if (status == ATTN_ESTOPPED) return interrupted(cur, err_msg);
    if (status != ATTN_OK) return engine_error(err_msg, status, &err);
    cur->ph = PHASE_READ;
    cur->file = path;
    cur->tokens = attn_wordvec_corpus_tokens(cur->corpus);
    cur->words = attn_wordvec_corpus_types(cur->corpus);
    cur->have_words = 1;
    return SQLITE_OK;
}

/* The vocabulary file (option vocab), then the threads; the corpus is freed. */
static int start_training(wordvec_cursor *cur, char **err_msg) {
    attn_error err = {{0}};
    int status = ATTN_OK;
    if (cur->vocab.path)
        status = attn_wordvec_corpus_write_vocab(cur->corpus, cur->vocab.tmp,
                                                 cur->params.min_count, &err);
    if (status == ATTN_OK) status = attn_wordvec_start(cur->corpus, &cur->params, &cur->run, &err);
    if (status != ATTN_OK) return engine_error(err_msg, status, &err);
    attn_wordvec_corpus_free(cur->corpus);
    cur->corpus = NULL;
    return SQLITE_OK;
}

/* A train row, or the done row with the vocabulary's size (words). */
static void set_progress_row(wordvec_cursor *cur, phase ph, const attn_wordvec_progress *pr,
                             uint64_t words) {
    cur->ph = ph;
    cur->file = ph == PHASE_DONE ? cur->out.path : NULL;
    cur->tokens = pr->processed;
    cur->words = words;
    cur->have_words = ph == PHASE_DONE;
    cur->progress = pr->total ? (double)pr->processed / (double)pr->total : 1.0;
    cur->loss = pr->loss;
    cur->tokens_per_s = pr->seconds > 0 ? (double)pr->processed / pr->seconds : 0.0;
    cur->have_progress = 1;
}

/* The vectors into out_path, the vocabulary into its path: the run is over. */
static int finish_training(wordvec_cursor *cur, char **err_msg) {
    attn_wordvec wv;
    attn_wordvec_stats s;
    attn_wordvec_finish(cur->run, &wv, &s);
    cur->run = NULL;
    attn_error err = {{0}};
    int status = attn_wordvec_save(&wv, cur->out.tmp, &err);
    attn_wordvec_free(&wv);
    if (status != ATTN_OK) return engine_error(err_msg, status, &err);
    int rc = out_file_commit(&cur->out, "out_path", err_msg);
    if (rc == SQLITE_OK && cur->vocab.path) rc = out_file_commit(&cur->vocab, "vocab", err_msg);
    if (rc != SQLITE_OK) return rc;
    attn_wordvec_progress pr = {s.processed, s.processed, s.final_loss, s.seconds};
    set_progress_row(cur, PHASE_DONE, &pr, s.vocab_words);
    return SQLITE_OK;
}

/* Waits report_seconds (or to the end), checking for an interrupt every slice. */
static int train_some(wordvec_cursor *cur, char **err_msg) {
    double until = attn_now_seconds() + cur->report_seconds;
    attn_wordvec_progress pr;
    for (;;) {
        double left = until - attn_now_seconds();
        if (attn_wordvec_wait(cur->run, left < WAIT_SLICE_SECONDS ? (left > 0 ? left : 0)
                                                                  : WAIT_SLICE_SECONDS, &pr))
            return finish_training(cur, err_msg);
        if (interrupt_probe_check(&cur->probe)) return interrupted(cur, err_msg);
        if (left <= 0) break;
    }
    set_progress_row(cur, PHASE_TRAIN, &pr, 0);
    return SQLITE_OK;
}

/* The next row: the next file, the first wait of the training, or the next one. */
static int step(wordvec_cursor *cur, char **err_msg) {
    int rc = SQLITE_OK;
    if (cur->next_file < cur->files->len) rc = read_next_file(cur, err_msg);
    else {
        if (!cur->run) rc = start_training(cur, err_msg);
        if (rc == SQLITE_OK) rc = train_some(cur, err_msg);
    }
    cur->seconds = attn_now_seconds() - cur->start;
    return rc;
}

/* ---- the virtual table ------------------------------------------------------------------ */

static int wordvec_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                           sqlite3_vtab **out, char **err_msg) {
    (void)aux, (void)argc, (void)argv, (void)err_msg;
    int rc = vtab_new(db, "CREATE TABLE x(phase TEXT, file TEXT, tokens INTEGER, words INTEGER, "
                          "progress REAL, loss REAL, tokens_per_s REAL, seconds REAL, "
                          "out_path HIDDEN, files HIDDEN, options HIDDEN)",
                      SQLITE_VTAB_DIRECTONLY, sizeof(wordvec_vtab), out);
    if (rc == SQLITE_OK) ((wordvec_vtab *)*out)->db = db;
    return rc;
}

static int wordvec_best_index(sqlite3_vtab *base, sqlite3_index_info *info) {
    static const vtab_args args = {COL_OUT, N_ARGS, 2, FN, "argument",
                                   "out_path, files_json [, options_json]", 1e9, 100};
    return vtab_bind_args(base, info, &args);
}

static int wordvec_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out) {
    int rc = vtab_cursor_new(sizeof(wordvec_cursor), out);
    if (rc != SQLITE_OK) return rc;
    wordvec_cursor *cur = (wordvec_cursor *)*out;
    cur->db = ((wordvec_vtab *)base)->db;
    interrupt_probe_init(&cur->probe, cur->db);
    return SQLITE_OK;
}

/* Drops the run: threads stopped, temporary files removed, nothing written. */
static void cursor_reset(wordvec_cursor *cur) {
    attn_wordvec_cancel(cur->run);
    attn_wordvec_corpus_free(cur->corpus);
    attn_json_free(cur->files);
    attn_json_free(cur->options);
    out_file_discard(&cur->out);
    out_file_discard(&cur->vocab);
    interrupt_probe_done(&cur->probe);
    sqlite3 *db = cur->db;
    memset((char *)cur + sizeof cur->base, 0, sizeof *cur - sizeof cur->base);
    cur->db = db;
    interrupt_probe_init(&cur->probe, db);
}

static int wordvec_close(sqlite3_vtab_cursor *base) {
    cursor_reset((wordvec_cursor *)base);
    sqlite3_free(base);
    return SQLITE_OK;
}

static int start_call(wordvec_cursor *cur, sqlite3_value *args[N_ARGS], char **err_msg) {
    const char *out, *files, *options = NULL, *vocab_path;
    size_t n = 0, n_files = 0, n_options = 0;
    int rc = arg_text(FN, 1, args[0], &out, &n, err_msg);
    if (rc == SQLITE_OK) rc = arg_text(FN, 2, args[1], &files, &n_files, err_msg);
    if (rc == SQLITE_OK && args[2]) {
        rc = arg_text(FN, 3, args[2], &options, &n_options, err_msg);
        if (rc == SQLITE_DONE) rc = SQLITE_OK, options = NULL;
    }
    if (rc == SQLITE_DONE) {
        *err_msg = sqlite3_mprintf("%s: out_path and files must not be NULL", FN);
        rc = SQLITE_ERROR;
    }
    if (rc == SQLITE_OK && (n == 0 || strlen(out) != n)) {
        *err_msg = sqlite3_mprintf("%s: out_path must be a non-empty path", FN);
        rc = SQLITE_ERROR;
    }
    if (rc == SQLITE_OK) rc = parse_files(cur, files, n_files, err_msg);
    if (rc == SQLITE_OK) rc = parse_options(cur, options, n_options, &vocab_path, err_msg);
    if (rc == SQLITE_OK) rc = out_file_begin(&cur->out, out, "out_path", err_msg);
    if (rc == SQLITE_OK && vocab_path)
        rc = out_file_begin(&cur->vocab, vocab_path, "vocab", err_msg);
    if (rc == SQLITE_OK && !(cur->corpus = attn_wordvec_corpus_new(cur->unit))) rc = SQLITE_NOMEM;
    cur->start = attn_now_seconds();
    return rc == SQLITE_OK ? step(cur, err_msg) : rc;
}

/* Ends the call after an error: nothing is written; the statement fails with err_msg. */
static int call_failed(wordvec_cursor *cur, int rc, char *err_msg) {
    sqlite3_vtab *vt = cur->base.pVtab;
    cursor_reset(cur);
    cur->eof = 1;
    return vtab_call_error(vt, rc, err_msg);
}

static int wordvec_filter(sqlite3_vtab_cursor *base, int idx_num, const char *idx_str,
                          int argc, sqlite3_value **argv) {
    int missing = vtab_missing_args(base, idx_num, idx_str);
    if (missing != SQLITE_OK) return missing;
    wordvec_cursor *cur = (wordvec_cursor *)base;
    cursor_reset(cur);
    sqlite3_value *args[N_ARGS];
    vtab_filter_args(idx_num, argc, argv, N_ARGS, args);
    char *err_msg = NULL;
    int rc = start_call(cur, args, &err_msg);
    return rc == SQLITE_OK ? SQLITE_OK : call_failed(cur, rc, err_msg);
}

static int wordvec_next(sqlite3_vtab_cursor *base) {
    wordvec_cursor *cur = (wordvec_cursor *)base;
    if (cur->ph == PHASE_DONE) {
        cur->eof = 1;
        return SQLITE_OK;
    }
    char *err_msg = NULL;
    int rc = step(cur, &err_msg);
    return rc == SQLITE_OK ? SQLITE_OK : call_failed(cur, rc, err_msg);
}

static int wordvec_eof(sqlite3_vtab_cursor *base) {
    return ((wordvec_cursor *)base)->eof;
}

static int wordvec_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid) {
    *rowid = (sqlite3_int64)((wordvec_cursor *)base)->next_file;
    return SQLITE_OK;
}

static int wordvec_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col) {
    const wordvec_cursor *cur = (const wordvec_cursor *)base;
    switch (col) {
    case COL_PHASE: sqlite3_result_text(ctx, PHASE_NAMES[cur->ph], -1, SQLITE_STATIC); break;
    case COL_FILE: if (cur->file) sqlite3_result_text(ctx, cur->file, -1, SQLITE_TRANSIENT); break;
    case COL_TOKENS: sqlite3_result_int64(ctx, (sqlite3_int64)cur->tokens); break;
    case COL_WORDS:
        if (cur->have_words) sqlite3_result_int64(ctx, (sqlite3_int64)cur->words);
        break;
    case COL_PROGRESS: if (cur->have_progress) sqlite3_result_double(ctx, cur->progress); break;
    case COL_LOSS: if (cur->have_progress) sqlite3_result_double(ctx, cur->loss); break;
    case COL_TOKENS_PER_S:
        if (cur->have_progress) sqlite3_result_double(ctx, cur->tokens_per_s);
        break;
    case COL_SECONDS: sqlite3_result_double(ctx, cur->seconds); break;
    default: break;             /* hidden argument columns read back as NULL */
    }
    return SQLITE_OK;
}

static const sqlite3_module wordvec_module = {
    .iVersion = 0,
    .xCreate = NULL,
    .xConnect = wordvec_connect,
    .xBestIndex = wordvec_best_index,
    .xDisconnect = vtab_disconnect,
    .xDestroy = NULL,
    .xOpen = wordvec_open,
    .xClose = wordvec_close,
    .xFilter = wordvec_filter,
    .xNext = wordvec_next,
    .xEof = wordvec_eof,
    .xColumn = wordvec_column,
    .xRowid = wordvec_rowid,
};

int vtab_wordvec_register(sqlite3 *db, attn_conn *c) {
    (void)c;
    return sqlite3_create_module_v2(db, FN, &wordvec_module, NULL, NULL);
}
