/* sql_throughput_rows: the token feature rows of texts, for the PyTorch side of
 * tests/bench/sql_throughput.py (PyTorch has no attnext tokenizer; the rows are made here
 * with the engine's own tokenizer and feature hashing, before the timing starts).
 *
 *   sql_throughput_rows MODEL.db NAME DATA.db SQL OUT.bin
 *
 * MODEL.db holds NAME's attn_model rows (only its config is read: the features). SQL runs on
 * DATA.db and gives one column of text. OUT.bin: int32 count, int32 slots S, then per text
 * int32 N (tokens), uint32 rows[N, S] (features.h; ATTN_ROW_NONE in unused subword slots),
 * int32 n_bytes of the text and its UTF-8 bytes (the PyTorch UDF looks rows up by text). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "features.h"
#include "model.h"
#include "tokenizer.h"

static attn_model *load_config(const char *path, const char *name) {
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    attn_model *m = NULL;
    attn_error err = {{0}};
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT data FROM attn_model WHERE name = ?1 AND key = 'config'",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW &&
            attn_model_new((const char *)sqlite3_column_blob(st, 0),
                           (size_t)sqlite3_column_bytes(st, 0), &m, &err) != ATTN_OK)
            fprintf(stderr, "sql_throughput_rows: %s\n", err.msg);
    }
    if (!m) fprintf(stderr, "sql_throughput_rows: no config for '%s' in %s\n", name, path);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return m;
}

/* Writes one text's rows; returns 0 or -1. */
static int write_text(FILE *out, const attn_model *m, int slots, const char *text, size_t n,
                      attn_tokens *toks, uint32_t **rows, size_t *cap) {
    attn_error err = {{0}};
    if (attn_tokenize(text, n, toks, &err) != ATTN_OK) {
        fprintf(stderr, "sql_throughput_rows: %s\n", err.msg);
        return -1;
    }
    if (attn_grow((void **)rows, cap, toks->n * (size_t)slots + 1, sizeof **rows) != ATTN_OK)
        return -1;
    for (size_t t = 0; t < toks->n; t++)
        attn_token_features(text + toks->tok[t].byte_start,
                            toks->tok[t].byte_end - toks->tok[t].byte_start, m->cfg.features,
                            m->cfg.n_features, *rows + t * (size_t)slots);
    int32_t n_tok = (int32_t)toks->n, n_bytes = (int32_t)n;
    fwrite(&n_tok, sizeof n_tok, 1, out);
    fwrite(*rows, sizeof **rows, toks->n * (size_t)slots, out);
    fwrite(&n_bytes, sizeof n_bytes, 1, out);
    fwrite(text, 1, n, out);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: sql_throughput_rows MODEL.db NAME DATA.db SQL OUT.bin\n");
        return 2;
    }
    attn_model *m = load_config(argv[1], argv[2]);
    if (!m) return 1;
    const int slots = attn_feature_slots(m->cfg.features, m->cfg.n_features);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    FILE *out = fopen(argv[5], "wb");
    int rc = out && sqlite3_open_v2(argv[3], &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
             sqlite3_prepare_v2(db, argv[4], -1, &st, NULL) == SQLITE_OK ? 0 : 1;
    if (rc) fprintf(stderr, "sql_throughput_rows: %s\n", db ? sqlite3_errmsg(db) : argv[5]);
    int32_t count = 0, s32 = slots;
    if (!rc) {
        fwrite(&count, sizeof count, 1, out);
        fwrite(&s32, sizeof s32, 1, out);
    }
    attn_tokens toks = {0};
    uint32_t *rows = NULL;
    size_t cap = 0;
    while (!rc && sqlite3_step(st) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        rc = write_text(out, m, slots, text ? text : "", n, &toks, &rows, &cap);
        count++;
    }
    if (!rc) {
        fseek(out, 0, SEEK_SET);
        fwrite(&count, sizeof count, 1, out);
    }
    if (out && fclose(out) != 0) rc = 1;
    free(rows);
    attn_tokens_free(&toks);
    sqlite3_finalize(st);
    sqlite3_close(db);
    attn_model_free(m);
    return rc;
}
