/* gen_model: writes a model with random weights into the attn_model table of a database,
 * through the real SQLite C API, for the SQL tests and benchmarks. The tensor list comes from
 * the engine itself (attn_config_tensors), so the model always matches the format.
 *
 *   gen_model DB NAME [options]
 *     --tasks LIST            classify,entities,relations (default: all three)
 *     --dim N --layers N --heads N --ffn N --max-len N     (default 32 2 2 64 16)
 *     --classify-labels LIST  (default negative,positive)
 *     --entity-labels LIST    (default PER,LOC,ORG)
 *     --relation-labels LIST  (default Work_For,Located_In)
 *     --seed N                (default 1)
 *     --dtype f32|f16         (default f32)
 *     --scale X               weights uniform in [-X, X] (default 0.1); LayerNorm gains 1 +/- X
 *     --set KEY:INDEX:VALUE   after the random fill, element INDEX of tensor KEY = VALUE
 *                             (repeatable; e.g. --set cls.b:1:10 makes label 1 win)
 *     --break KIND[:KEY]      write a broken model, for error tests:
 *                               missing:KEY   no row for tensor KEY
 *                               shape:KEY     stored shape's last dimension one less
 *                               truncate:KEY  blob two bytes short
 *                               nan:KEY       element 0 is NaN
 *                               config        config JSON cut short (syntax error)
 * Rows of NAME already in the table are replaced. Exit status 0 on success, 1 on error. */
#include "config.h"
#include "model.h"      /* attn_f32_to_f16 */

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SETS 64

#include "schema.h"

typedef struct set_op { char key[ATTN_MAX_KEY]; long index; float value; } set_op;

typedef struct options {
    const char *db_path, *name;
    const char *tasks, *classify_labels, *entity_labels, *relation_labels;
    int dim, layers, heads, ffn, max_len;
    unsigned long long seed;
    int f16;
    double scale;
    set_op sets[MAX_SETS];
    int n_sets;
    char break_kind[16];
    char break_key[ATTN_MAX_KEY];
} options;

static int usage(void) {
    fprintf(stderr, "usage: gen_model DB NAME [--tasks LIST] [--dim N] [--layers N] [--heads N] "
                    "[--ffn N] [--max-len N] [--classify-labels LIST] [--entity-labels LIST] "
                    "[--relation-labels LIST] [--seed N] [--dtype f32|f16] [--scale X] "
                    "[--set KEY:INDEX:VALUE]... [--break KIND[:KEY]]\n");
    return 1;
}

static int parse_set(const char *arg, set_op *op) {
    const char *c1 = strchr(arg, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2 || (size_t)(c1 - arg) >= sizeof op->key) return -1;
    memcpy(op->key, arg, (size_t)(c1 - arg));
    op->key[c1 - arg] = '\0';
    op->index = strtol(c1 + 1, NULL, 10);
    op->value = strtof(c2 + 1, NULL);
    return 0;
}

static int parse_args(int argc, char **argv, options *o) {
    *o = (options){.tasks = "classify,entities,relations", .classify_labels = "negative,positive",
                   .entity_labels = "PER,LOC,ORG", .relation_labels = "Work_For,Located_In",
                   .dim = 32, .layers = 2, .heads = 2, .ffn = 64, .max_len = 16, .seed = 1,
                   .scale = 0.1};
    if (argc < 3) return -1;
    o->db_path = argv[1];
    o->name = argv[2];
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return -1;
        i++;
        if (!strcmp(a, "--tasks")) o->tasks = v;
        else if (!strcmp(a, "--dim")) o->dim = atoi(v);
        else if (!strcmp(a, "--layers")) o->layers = atoi(v);
        else if (!strcmp(a, "--heads")) o->heads = atoi(v);
        else if (!strcmp(a, "--ffn")) o->ffn = atoi(v);
        else if (!strcmp(a, "--max-len")) o->max_len = atoi(v);
        else if (!strcmp(a, "--classify-labels")) o->classify_labels = v;
        else if (!strcmp(a, "--entity-labels")) o->entity_labels = v;
        else if (!strcmp(a, "--relation-labels")) o->relation_labels = v;
        else if (!strcmp(a, "--seed")) o->seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--dtype")) o->f16 = !strcmp(v, "f16");
        else if (!strcmp(a, "--scale")) o->scale = atof(v);
        else if (!strcmp(a, "--set")) {
            if (o->n_sets == MAX_SETS || parse_set(v, &o->sets[o->n_sets++])) return -1;
        } else if (!strcmp(a, "--break")) {
            const char *colon = strchr(v, ':');
            size_t n = colon ? (size_t)(colon - v) : strlen(v);
            if (n >= sizeof o->break_kind) return -1;
            memcpy(o->break_kind, v, n);
            if (colon) snprintf(o->break_key, sizeof o->break_key, "%s", colon + 1);
        } else return -1;
    }
    return 0;
}

/* ---- config JSON ---------------------------------------------------------------------- */

/* Appends a comma list as a JSON array of strings. */
static void append_list(char *buf, size_t cap, const char *list) {
    size_t n = strlen(buf);
    n += (size_t)snprintf(buf + n, cap - n, "[");
    const char *p = list;
    while (*p && n < cap) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        n += (size_t)snprintf(buf + n, cap - n, "%s\"%.*s\"", p == list ? "" : ",", (int)len, p);
        p += len + (comma ? 1 : 0);
    }
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

static void config_json(const options *o, char *buf, size_t cap) {
    snprintf(buf, cap,
             "{\"format\":1,\"tasks\":");
    append_list(buf, cap, o->tasks);
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n,
             ",\"dim\":%d,\"layers\":%d,\"heads\":%d,\"ffn\":%d,\"max_len\":%d,"
             "\"features\":[{\"kind\":\"norm\",\"buckets\":1000,\"dim\":16},"
             "{\"kind\":\"prefix\",\"buckets\":500,\"dim\":8,\"affix\":3},"
             "{\"kind\":\"suffix\",\"buckets\":500,\"dim\":8,\"affix\":3},"
             "{\"kind\":\"shape\",\"buckets\":100,\"dim\":8}]",
             o->dim, o->layers, o->heads, o->ffn, o->max_len);
    if (strstr(o->tasks, "classify")) {
        strncat(buf, ",\"classify\":{\"labels\":", cap - strlen(buf) - 1);
        append_list(buf, cap, o->classify_labels);
        strncat(buf, "}", cap - strlen(buf) - 1);
    }
    if (strstr(o->tasks, "entities")) {
        strncat(buf, ",\"entities\":{\"labels\":", cap - strlen(buf) - 1);
        append_list(buf, cap, o->entity_labels);
        strncat(buf, "}", cap - strlen(buf) - 1);
    }
    if (strstr(o->tasks, "relations")) {
        strncat(buf, ",\"relations\":{\"labels\":", cap - strlen(buf) - 1);
        append_list(buf, cap, o->relation_labels);
        strncat(buf, ",\"hidden\":16,\"type_dim\":4}", cap - strlen(buf) - 1);
    }
    strncat(buf, ",\"meta\":{\"generator\":\"gen_model\"}}", cap - strlen(buf) - 1);
}

/* ---- values ----------------------------------------------------------------------------- */

static uint64_t rng_state;

static double rng_uniform(void) {          /* the engine's splitmix64 (common.h) -> [0, 1) */
    return (double)(attn_splitmix64(&rng_state) >> 11) / 9007199254740992.0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int is_layernorm_gain(const char *key) {
    return ends_with(key, ".ln1.w") || ends_with(key, ".ln2.w") || !strcmp(key, "final_ln.w");
}

static void fill_tensor(const options *o, const attn_tensor_spec *spec, float *v) {
    int gain = is_layernorm_gain(spec->key);
    for (size_t i = 0; i < spec->size; i++)
        v[i] = (float)((gain ? 1.0 : 0.0) + o->scale * (2.0 * rng_uniform() - 1.0));
    for (int s = 0; s < o->n_sets; s++)
        if (!strcmp(o->sets[s].key, spec->key) && o->sets[s].index >= 0 &&
            (size_t)o->sets[s].index < spec->size)
            v[o->sets[s].index] = o->sets[s].value;
    if (!strcmp(o->break_kind, "nan") && !strcmp(o->break_key, spec->key)) v[0] = NAN;
}

/* ---- writing ---------------------------------------------------------------------------- */

static int exec(sqlite3 *db, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "gen_model: %s\n", msg);
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int insert_row(sqlite3_stmt *ins, const char *name, const char *key, const char *dtype,
                      const char *shape, const void *data, size_t n, int as_text) {
    sqlite3_reset(ins);
    sqlite3_bind_text(ins, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, dtype, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 4, shape, -1, SQLITE_STATIC);
    if (as_text) sqlite3_bind_text(ins, 5, data, (int)n, SQLITE_STATIC);
    else sqlite3_bind_blob(ins, 5, data, (int)n, SQLITE_STATIC);
    if (sqlite3_step(ins) != SQLITE_DONE) {
        fprintf(stderr, "gen_model: insert '%s': %s\n", key, sqlite3_db_handle(ins)
                ? sqlite3_errmsg(sqlite3_db_handle(ins)) : "?");
        return -1;
    }
    return 0;
}

static int write_tensor(const options *o, sqlite3_stmt *ins, const attn_tensor_spec *spec) {
    int breaks_this = o->break_key[0] && !strcmp(o->break_key, spec->key);
    if (breaks_this && !strcmp(o->break_kind, "missing")) return 0;
    float *v = malloc(spec->size * sizeof *v);
    uint16_t *h = o->f16 ? malloc(spec->size * sizeof *h) : NULL;
    if (!v || (o->f16 && !h)) { free(v); free(h); return -1; }
    fill_tensor(o, spec, v);
    size_t n_bytes = spec->size * (o->f16 ? 2 : 4);
    const void *data = v;
    if (o->f16) {
        attn_f32_to_f16(h, v, spec->size);     /* model.h */
        data = h;
    }
    int64_t last = spec->shape[spec->ndim - 1];
    if (breaks_this && !strcmp(o->break_kind, "shape")) last--;
    if (breaks_this && !strcmp(o->break_kind, "truncate")) n_bytes -= 2;
    char shape[64];
    if (spec->ndim == 1) snprintf(shape, sizeof shape, "[%lld]", (long long)last);
    else snprintf(shape, sizeof shape, "[%lld,%lld]", (long long)spec->shape[0], (long long)last);
    int rc = insert_row(ins, o->name, spec->key, o->f16 ? "f16" : "f32", shape, data, n_bytes, 0);
    free(v);
    free(h);
    return rc;
}

static int write_model(sqlite3 *db, const options *o, const char *config,
                       const attn_tensor_spec *specs, size_t n_specs) {
    sqlite3_stmt *del, *ins;
    if (sqlite3_prepare_v2(db, "DELETE FROM attn_model WHERE name = ?1", -1, &del, NULL) ||
        sqlite3_prepare_v2(db, "INSERT INTO attn_model(name, key, dtype, shape, data) "
                               "VALUES (?1, ?2, ?3, ?4, ?5)", -1, &ins, NULL)) {
        fprintf(stderr, "gen_model: %s\n", sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_bind_text(del, 1, o->name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(del) == SQLITE_DONE ? 0 : -1;
    size_t n_config = strlen(config);
    if (!strcmp(o->break_kind, "config")) n_config /= 2;
    if (rc == 0) rc = insert_row(ins, o->name, "config", "json", "[]", config, n_config, 1);
    for (size_t i = 0; rc == 0 && i < n_specs; i++) rc = write_tensor(o, ins, &specs[i]);
    sqlite3_finalize(del);
    sqlite3_finalize(ins);
    return rc;
}

int main(int argc, char **argv) {
    options o;
    if (parse_args(argc, argv, &o)) return usage();
    rng_state = o.seed;
    static char config[8192];
    config_json(&o, config, sizeof config);
    attn_config cfg;
    attn_error err;
    if (attn_config_parse(config, strlen(config), &cfg, &err) != ATTN_OK) {
        fprintf(stderr, "gen_model: %s\n", err.msg);
        return 1;
    }
    size_t n_specs = 0, n_params = 0;
    attn_tensor_spec *specs = attn_config_tensors(&cfg, &n_specs, &n_params);
    if (!specs) { fprintf(stderr, "gen_model: out of memory\n"); return 1; }
    sqlite3 *db;
    int rc = sqlite3_open(o.db_path, &db) == SQLITE_OK ? 0 : -1;
    if (rc) fprintf(stderr, "gen_model: %s: %s\n", o.db_path, sqlite3_errmsg(db));
    if (!rc) rc = exec(db, SCHEMA_SQL);
    if (!rc) rc = exec(db, "BEGIN");
    if (!rc) rc = write_model(db, &o, config, specs, n_specs);
    if (!rc) rc = exec(db, "COMMIT");
    sqlite3_close(db);
    free(specs);
    attn_config_free(&cfg);
    return rc ? 1 : 0;
}
