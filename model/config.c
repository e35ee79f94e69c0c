/* config.c: parses and validates a model config, and lays out the tensors it implies.
 *
 * The config comes from a model table anyone may have written, so every value is checked
 * before it is used, and the total parameter count is computed with overflow-checked
 * arithmetic before anything is allocated. Every message starts with "config: " and names the
 * key it is about. */
#include "config.h"
#include "json.h"
#include "subword.h"
#include "tokenizer.h"      /* attn_utf8_next */

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFG_FAIL(err, code, ...) attn_fail((err), (code), "config: " __VA_ARGS__)

static const char *const TASK_NAMES[] = { "classify", "entities", "relations", "mlm", "rtd" };
static const int TASK_BITS[] = { ATTN_TASK_CLASSIFY, ATTN_TASK_ENTITIES, ATTN_TASK_RELATIONS,
                                 ATTN_TASK_MLM, ATTN_TASK_RTD };
#define N_TASKS 5

/* ---- small readers ---------------------------------------------------------------------- */

static const char *json_type_phrase(const attn_json *j) {
    switch (j->type) {
    case ATTN_JSON_NULL: return "null";
    case ATTN_JSON_BOOL: return j->boolean ? "true" : "false";
    case ATTN_JSON_NUMBER: return "a number";
    case ATTN_JSON_STRING: return "a string";
    case ATTN_JSON_ARRAY: return "an array";
    case ATTN_JSON_OBJECT: return "an object";
    }
    return "?";
}

/* "found 3.5" / "found a string": what the value was, for messages. */
static void describe_value(const attn_json *j, char *buf, size_t cap) {
    if (j->type != ATTN_JSON_NUMBER) { snprintf(buf, cap, "%s", json_type_phrase(j)); return; }
    /* The shortest text that reads back as the same double: 1e+39, not 9.9999999999999994e+38. */
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, cap, "%.*g", digits, j->number);
        if (strtod(buf, NULL) == j->number) return;
    }
}

/* Every key of obj must be in allowed[] (NULL-terminated). path: "" or "relations." etc. */
static int check_known_keys(const attn_json *obj, const char *const *allowed, const char *path,
                            attn_error *err) {
    for (size_t i = 0; i < obj->len; i++) {
        int known = 0;
        for (const char *const *a = allowed; *a && !known; a++) known = strcmp(*a, obj->keys[i]) == 0;
        if (!known) return CFG_FAIL(err, ATTN_EINVAL, "unknown key '%s%.100s'", path, obj->keys[i]);
    }
    return ATTN_OK;
}

/* Integer member `key` of obj in [lo, hi]; name is the key as shown in messages.
 * Missing: error when required, else *out keeps its value. Above hi is ATTN_ELIMIT. */
static int read_int(const attn_json *obj, const char *key, const char *name, int64_t lo,
                    int64_t hi, int required, int64_t *out, attn_error *err) {
    const attn_json *v = attn_json_get(obj, key);
    if (!v) return required ? CFG_FAIL(err, ATTN_EINVAL, "'%s' is missing", name) : ATTN_OK;
    if (attn_json_int(v, lo, hi, out) == ATTN_OK) return ATTN_OK;
    char found[64];
    describe_value(v, found, sizeof found);
    int over = v->type == ATTN_JSON_NUMBER && v->number > (double)hi;
    return CFG_FAIL(err, over ? ATTN_ELIMIT : ATTN_EINVAL,
                    "'%s' must be an integer in %lld..%lld, found %s", name, (long long)lo,
                    (long long)hi, found);
}

static int read_int32(const attn_json *obj, const char *key, int64_t lo, int64_t hi, int *out,
                      attn_error *err) {
    int64_t v = 0;
    int rc = read_int(obj, key, key, lo, hi, 1, &v, err);
    if (rc == ATTN_OK) *out = (int)v;
    return rc;
}

/* ---- format, tasks, sizes --------------------------------------------------------------- */

static int parse_format(const attn_json *root, attn_config *cfg, attn_error *err) {
    const attn_json *v = attn_json_get(root, "format");
    if (!v) return CFG_FAIL(err, ATTN_EINVAL, "'format' is missing");
    int64_t f;
    if (attn_json_int(v, INT32_MIN, INT32_MAX, &f) != ATTN_OK) {
        char found[64];
        describe_value(v, found, sizeof found);
        return CFG_FAIL(err, ATTN_EINVAL, "'format' must be an integer, found %s", found);
    }
    if (f != ATTN_FORMAT_VERSION)
        return CFG_FAIL(err, ATTN_EINVAL, "format %lld is not supported (this build reads format %d)",
                        (long long)f, ATTN_FORMAT_VERSION);
    cfg->format = (int)f;
    return ATTN_OK;
}

static int task_bit(const char *name) {
    for (int t = 0; t < N_TASKS; t++)
        if (strcmp(name, TASK_NAMES[t]) == 0) return TASK_BITS[t];
    return 0;
}

static int parse_tasks(const attn_json *root, attn_config *cfg, attn_error *err) {
    const attn_json *v = attn_json_get(root, "tasks");
    if (!v) return CFG_FAIL(err, ATTN_EINVAL, "'tasks' is missing");
    if (v->type != ATTN_JSON_ARRAY || v->len == 0)
        return CFG_FAIL(err, ATTN_EINVAL, "'tasks' must be a non-empty array of task names");
    for (size_t i = 0; i < v->len; i++) {
        const attn_json *t = &v->items[i];
        if (t->type != ATTN_JSON_STRING)
            return CFG_FAIL(err, ATTN_EINVAL, "'tasks[%zu]' must be a string", i);
        int bit = task_bit(t->str);
        if (!bit)
            return CFG_FAIL(err, ATTN_EINVAL,
                            "'tasks[%zu]' '%.64s' is unknown (expected classify, entities, relations, mlm or rtd)",
                            i, t->str);
        if (cfg->tasks & bit)
            return CFG_FAIL(err, ATTN_EINVAL, "'tasks' lists '%s' twice", t->str);
        cfg->tasks |= bit;
    }
    if ((cfg->tasks & ATTN_TASK_RELATIONS) && !(cfg->tasks & ATTN_TASK_ENTITIES))
        return CFG_FAIL(err, ATTN_EINVAL, "task 'relations' requires task 'entities' in 'tasks'");
    /* A section is required exactly when its task is listed. */
    for (int t = 0; t < N_TASKS; t++) {
        const attn_json *s = attn_json_get(root, TASK_NAMES[t]);
        int listed = (cfg->tasks & TASK_BITS[t]) != 0;
        if (listed && !s)
            return CFG_FAIL(err, ATTN_EINVAL, "'%s' is missing (task '%s' is listed in 'tasks')",
                            TASK_NAMES[t], TASK_NAMES[t]);
        if (!listed && s)
            return CFG_FAIL(err, ATTN_EINVAL, "'%s' is given but task '%s' is not in 'tasks'",
                            TASK_NAMES[t], TASK_NAMES[t]);
        if (s && s->type != ATTN_JSON_OBJECT)
            return CFG_FAIL(err, ATTN_EINVAL, "'%s' must be an object", TASK_NAMES[t]);
    }
    return ATTN_OK;
}

static int parse_sizes(const attn_json *root, attn_config *cfg, attn_error *err) {
    int rc;
    if ((rc = read_int32(root, "dim", 1, ATTN_MAX_DIM, &cfg->dim, err))) return rc;
    if ((rc = read_int32(root, "layers", 1, ATTN_MAX_LAYERS, &cfg->layers, err))) return rc;
    if ((rc = read_int32(root, "heads", 1, ATTN_MAX_DIM, &cfg->heads, err))) return rc;
    if ((rc = read_int32(root, "ffn", 1, ATTN_MAX_DIM, &cfg->ffn, err))) return rc;
    if ((rc = read_int32(root, "max_len", 1, ATTN_MAX_SEQ_LEN, &cfg->max_len, err))) return rc;
    if (attn_json_get(root, "embed_context") &&
        (rc = read_int32(root, "embed_context", 0, ATTN_MAX_EMBED_CONTEXT, &cfg->embed_context,
                         err)))
        return rc;
    if (attn_json_get(root, "rel_positions") &&
        (rc = read_int32(root, "rel_positions", 0, ATTN_MAX_REL_POSITIONS, &cfg->rel_positions,
                         err)))
        return rc;
    if (cfg->dim % cfg->heads != 0)
        return CFG_FAIL(err, ATTN_EINVAL, "'heads' (%d) must divide 'dim' (%d)", cfg->heads, cfg->dim);
    return ATTN_OK;
}

static int parse_numerics(const attn_json *root, attn_config *cfg, attn_error *err) {
    cfg->ln_eps = 1e-5f;
    const attn_json *eps = attn_json_get(root, "ln_eps");
    if (eps) {
        float e = eps->type == ATTN_JSON_NUMBER ? (float)eps->number : 0.0f;
        if (eps->type != ATTN_JSON_NUMBER || !(e > 0.0f) || !isfinite(e)) {
            char found[64];
            describe_value(eps, found, sizeof found);
            return CFG_FAIL(err, ATTN_EINVAL, "'ln_eps' must be a positive finite number, found %s",
                            found);
        }
        cfg->ln_eps = e;
    }
    const attn_json *scale = attn_json_get(root, "attn_scale");
    const char *mode = "sqrt";
    if (scale) {
        if (scale->type != ATTN_JSON_STRING ||
            (strcmp(scale->str, "sqrt") != 0 && strcmp(scale->str, "none") != 0))
            return CFG_FAIL(err, ATTN_EINVAL, "'attn_scale' must be \"sqrt\" or \"none\"");
        mode = scale->str;
    }
    cfg->attn_scale = strcmp(mode, "none") == 0 ? 1.0f
                                                : (float)(1.0 / sqrt((double)(cfg->dim / cfg->heads)));
    return ATTN_OK;
}

/* "language": optional, a BCP 47-shaped tag. */
static int parse_language(const attn_json *root, attn_config *cfg, attn_error *err) {
    const attn_json *v = attn_json_get(root, "language");
    if (!v) return ATTN_OK;
    int ok = v->type == ATTN_JSON_STRING && v->len >= 2 && v->len <= ATTN_MAX_LANGUAGE;
    for (size_t i = 0; ok && i < v->len; i++)
        ok = isalnum((unsigned char)v->str[i]) || (v->str[i] == '-' && i > 0);
    if (!ok)
        return CFG_FAIL(err, ATTN_EINVAL, "'language' must be a language tag of 2 to %d letters, "
                        "digits and '-', such as \"en\" or \"zh\"", ATTN_MAX_LANGUAGE);
    memcpy(cfg->language, v->str, v->len);
    cfg->language[v->len] = 0;
    return ATTN_OK;
}

/* ---- features --------------------------------------------------------------------------- */

/* "affix" of a prefix/suffix feature (required there, refused elsewhere). */
static int parse_affix(const attn_json *f, const char *path, attn_feature_spec *spec,
                       attn_error *err) {
    char name[64];
    snprintf(name, sizeof name, "%s.affix", path);
    int has_affix = (spec->kind == ATTN_FEAT_PREFIX || spec->kind == ATTN_FEAT_SUFFIX);
    if (!has_affix && attn_json_get(f, "affix"))
        return CFG_FAIL(err, ATTN_EINVAL, "'%s' is only allowed for kinds prefix and suffix", name);
    spec->affix = 0;
    if (!has_affix) return ATTN_OK;
    int64_t v = 0;
    int rc = read_int(f, "affix", name, 1, 8, 1, &v, err);
    if (rc == ATTN_OK) spec->affix = (uint32_t)v;
    return rc;
}

/* "min_n"/"max_n" of a subword feature (optional there, default 3/6; refused elsewhere). */
static int parse_ngram_lengths(const attn_json *f, const char *path, attn_feature_spec *spec,
                               attn_error *err) {
    const int is_subword = spec->kind == ATTN_FEAT_SUBWORD;
    spec->min_n = spec->max_n = 0;
    static const char *const keys[] = { "min_n", "max_n" };
    int64_t v[2] = { ATTN_SUBWORD_DEFAULT_MIN_N, ATTN_SUBWORD_DEFAULT_MAX_N };
    for (int k = 0; k < 2; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s.%s", path, keys[k]);
        if (!is_subword && attn_json_get(f, keys[k]))
            return CFG_FAIL(err, ATTN_EINVAL, "'%s' is only allowed for kind subword", name);
        int rc = is_subword ? read_int(f, keys[k], name, 1, ATTN_SUBWORD_MAX_N, 0, &v[k], err) : 0;
        if (rc) return rc;
    }
    if (!is_subword) return ATTN_OK;
    attn_error why;
    if (attn_subword_check((int)v[0], (int)v[1], spec->n_buckets, &why) != ATTN_OK)
        return CFG_FAIL(err, ATTN_EINVAL, "'%s': %s", path, why.msg);
    spec->min_n = (int)v[0];
    spec->max_n = (int)v[1];
    return ATTN_OK;
}

/* "lists" of a gazetteer feature (required there, refused elsewhere): 1..ATTN_GAZ_MAX_LISTS
 * distinct names of 1..ATTN_GAZ_NAME_BYTES-1 characters [A-Za-z0-9_-] (they are part of the
 * row keys 'gazetteer.<list>'). */
static int parse_lists(const attn_json *f, const char *path, attn_feature_spec *spec,
                       attn_error *err) {
    const attn_json *v = attn_json_get(f, "lists");
    spec->n_lists = 0;
    if (spec->kind != ATTN_FEAT_GAZETTEER)
        return v ? CFG_FAIL(err, ATTN_EINVAL, "'%s.lists' is only allowed for kind gazetteer",
                            path) : ATTN_OK;
    if (!v) return CFG_FAIL(err, ATTN_EINVAL, "'%s.lists' is missing", path);
    if (v->type != ATTN_JSON_ARRAY || v->len == 0 || v->len > ATTN_GAZ_MAX_LISTS)
        return CFG_FAIL(err, v->type == ATTN_JSON_ARRAY && v->len ? ATTN_ELIMIT : ATTN_EINVAL,
                        "'%s.lists' must be an array of 1 to %d list names", path,
                        ATTN_GAZ_MAX_LISTS);
    for (size_t i = 0; i < v->len; i++) {
        const attn_json *l = &v->items[i];
        int ok = l->type == ATTN_JSON_STRING && l->len >= 1 && l->len < ATTN_GAZ_NAME_BYTES;
        for (size_t c = 0; ok && c < l->len; c++)
            ok = isalnum((unsigned char)l->str[c]) || l->str[c] == '_' || l->str[c] == '-';
        if (!ok)
            return CFG_FAIL(err, ATTN_EINVAL, "'%s.lists[%zu]' must be a name of 1 to %d "
                            "letters, digits, '_' or '-'", path, i, ATTN_GAZ_NAME_BYTES - 1);
        for (size_t j = 0; j < i; j++)
            if (strcmp(spec->lists[j], l->str) == 0)
                return CFG_FAIL(err, ATTN_EINVAL, "'%s.lists' names '%s' twice", path, l->str);
        memcpy(spec->lists[i], l->str, l->len + 1);
    }
    spec->n_lists = (int)v->len;
    return ATTN_OK;
}

static int parse_feature(const attn_json *f, size_t i, attn_feature_spec *spec, int *seen_kinds,
                         attn_error *err) {
    char path[48], name[64];
    snprintf(path, sizeof path, "features[%zu]", i);
    if (f->type != ATTN_JSON_OBJECT) return CFG_FAIL(err, ATTN_EINVAL, "'%s' must be an object", path);
    static const char *const allowed[] = { "kind", "buckets", "dim", "affix", "min_n", "max_n",
                                           "lists", NULL };
    char prefix[56];
    snprintf(prefix, sizeof prefix, "%s.", path);
    int rc = check_known_keys(f, allowed, prefix, err);
    if (rc) return rc;
    const attn_json *kind = attn_json_get(f, "kind");
    if (!kind) return CFG_FAIL(err, ATTN_EINVAL, "'%s.kind' is missing", path);
    attn_feature_kind k;
    if (kind->type != ATTN_JSON_STRING || attn_feature_kind_from_name(kind->str, &k) != 0)
        return CFG_FAIL(err, ATTN_EINVAL, "'%s.kind' must be one of \"norm\", \"prefix\", "
                        "\"suffix\", \"shape\", \"subword\", \"bigram_left\", "
                        "\"bigram_right\", \"gazetteer\"", path);
    if (*seen_kinds & (1 << k))
        return CFG_FAIL(err, ATTN_EINVAL, "'%s.kind' \"%s\" is given twice", path, kind->str);
    *seen_kinds |= 1 << k;
    spec->kind = k;
    if ((rc = parse_lists(f, path, spec, err))) return rc;
    /* gazetteer: 3 rows a list (O, B, I), "buckets" optional */
    int64_t v = (int64_t)spec->n_lists * ATTN_GAZ_TAGS;
    snprintf(name, sizeof name, "%s.buckets", path);
    if ((rc = read_int(f, "buckets", name, 1, ATTN_MAX_BUCKETS, !spec->n_lists, &v, err)))
        return rc;
    if (spec->n_lists && v != (int64_t)spec->n_lists * ATTN_GAZ_TAGS)
        return CFG_FAIL(err, ATTN_EINVAL, "'%s' must be %d (3 rows for each of the %d lists), "
                        "found %lld", name, spec->n_lists * ATTN_GAZ_TAGS, spec->n_lists,
                        (long long)v);
    spec->n_buckets = (uint32_t)v;
    snprintf(name, sizeof name, "%s.dim", path);
    if ((rc = read_int(f, "dim", name, 1, ATTN_MAX_DIM, 1, &v, err))) return rc;
    spec->dim = (uint32_t)v;
    if ((rc = parse_affix(f, path, spec, err))) return rc;
    return parse_ngram_lengths(f, path, spec, err);
}

static int parse_features(const attn_json *root, attn_config *cfg, attn_error *err) {
    const attn_json *v = attn_json_get(root, "features");
    if (!v) return CFG_FAIL(err, ATTN_EINVAL, "'features' is missing");
    if (v->type != ATTN_JSON_ARRAY || v->len == 0)
        return CFG_FAIL(err, ATTN_EINVAL, "'features' must be a non-empty array of objects");
    if (v->len > ATTN_MAX_FEATURES)
        return CFG_FAIL(err, ATTN_ELIMIT, "'features' has %zu entries (at most %d)", v->len,
                        ATTN_MAX_FEATURES);
    int seen = 0;
    for (size_t i = 0; i < v->len; i++) {
        int rc = parse_feature(&v->items[i], i, &cfg->features[i], &seen, err);
        if (rc) return rc;
        cfg->n_features = (int)i + 1;
    }
    return ATTN_OK;
}

/* ---- labels ----------------------------------------------------------------------------- */

/* Unicode White_Space property. */
static int is_unicode_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

static int has_space(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += attn_utf8_next(u + i, n - i, &cp);
        if (is_unicode_space(cp)) return 1;
    }
    return 0;
}

static int check_label(const attn_json *l, const char *path, size_t i, int entity, attn_error *err) {
    if (l->type != ATTN_JSON_STRING)
        return CFG_FAIL(err, ATTN_EINVAL, "'%s[%zu]' must be a string", path, i);
    if (l->len == 0) return CFG_FAIL(err, ATTN_EINVAL, "'%s[%zu]' is empty", path, i);
    if (l->len > ATTN_MAX_LABEL_BYTES)
        return CFG_FAIL(err, ATTN_ELIMIT, "'%s[%zu]' is %zu bytes long (at most %d)", path, i,
                        l->len, ATTN_MAX_LABEL_BYTES);
    if (strlen(l->str) != l->len)
        return CFG_FAIL(err, ATTN_EINVAL, "'%s[%zu]' contains U+0000", path, i);
    if (entity && has_space(l->str, l->len))
        return CFG_FAIL(err, ATTN_EINVAL, "'%s[%zu]' \"%s\" contains whitespace", path, i, l->str);
    if (entity && (strncmp(l->str, "B-", 2) == 0 || strncmp(l->str, "I-", 2) == 0))
        return CFG_FAIL(err, ATTN_EINVAL,
                        "'%s[%zu]' \"%s\" must not start with \"B-\" or \"I-\" (tags add those)",
                        path, i, l->str);
    return ATTN_OK;
}

/* Names must be unique (n up to ATTN_MAX_LABELS). */
static int check_unique(const attn_labels *labels, const char *path, attn_error *err) {
    const char *dup;
    if (attn_find_duplicate((const char *const *)labels->names, (size_t)labels->n, &dup))
        return CFG_FAIL(err, ATTN_ENOMEM, "out of memory checking '%s'", path);
    if (dup) return CFG_FAIL(err, ATTN_EINVAL, "'%s' lists \"%s\" twice", path, dup);
    return ATTN_OK;
}

static int parse_labels(const attn_json *section, const char *section_name, int entity,
                        attn_labels *out, attn_error *err) {
    char path[32];
    snprintf(path, sizeof path, "%s.labels", section_name);
    const attn_json *v = attn_json_get(section, "labels");
    if (!v) return CFG_FAIL(err, ATTN_EINVAL, "'%s' is missing", path);
    if (v->type != ATTN_JSON_ARRAY || v->len == 0)
        return CFG_FAIL(err, ATTN_EINVAL, "'%s' must be a non-empty array of strings", path);
    if (v->len > ATTN_MAX_LABELS)
        return CFG_FAIL(err, ATTN_ELIMIT, "'%s' has %zu labels (at most %d)", path, v->len,
                        ATTN_MAX_LABELS);
    for (size_t i = 0; i < v->len; i++) {
        int rc = check_label(&v->items[i], path, i, entity, err);
        if (rc) return rc;
        /* "none" is what a relation head's output 0 is called (attn_relation, the scores'
         * JSON): a label of that name would make two. */
        if (strcmp(section_name, "relations") == 0 && strcmp(v->items[i].str, "none") == 0)
            return CFG_FAIL(err, ATTN_EINVAL, "'%s[%zu]' \"none\" is reserved for unrelated "
                            "pairs", path, i);
    }
    out->names = calloc(v->len, sizeof *out->names);
    if (!out->names) return CFG_FAIL(err, ATTN_ENOMEM, "out of memory for '%s'", path);
    for (size_t i = 0; i < v->len; i++) {
        out->names[i] = malloc(v->items[i].len + 1);
        if (!out->names[i]) return CFG_FAIL(err, ATTN_ENOMEM, "out of memory for '%s'", path);
        memcpy(out->names[i], v->items[i].str, v->items[i].len + 1);
        out->n = (int)i + 1;
    }
    return check_unique(out, path, err);
}

/* "temperature" of a section (optional, default 1): a number in [ATTN_TEMPERATURE_MIN,
 * ATTN_TEMPERATURE_MAX]. */
static int parse_temperature(const attn_json *section, const char *section_name, float *out,
                             attn_error *err) {
    *out = 1.0f;
    const attn_json *v = attn_json_get(section, "temperature");
    if (!v) return ATTN_OK;
    if (v->type != ATTN_JSON_NUMBER || !isfinite(v->number) ||
        !(v->number >= ATTN_TEMPERATURE_MIN && v->number <= ATTN_TEMPERATURE_MAX)) {
        char found[64];
        describe_value(v, found, sizeof found);
        return CFG_FAIL(err, ATTN_EINVAL, "'%s.temperature' must be a number in [%g, %g], "
                        "found %s", section_name, ATTN_TEMPERATURE_MIN, ATTN_TEMPERATURE_MAX,
                        found);
    }
    *out = (float)v->number;
    return ATTN_OK;
}

static int parse_sections(const attn_json *root, attn_config *cfg, attn_error *err) {
    static const char *const labels_only[] = { "labels", "temperature", NULL };
    static const char *const rel_keys[] = { "labels", "hidden", "type_dim", "temperature", NULL };
    const attn_json *s;
    int rc;
    cfg->classify_temperature = cfg->entity_temperature = cfg->relation_temperature = 1.0f;
    if ((s = attn_json_get(root, "classify"))) {
        if ((rc = check_known_keys(s, labels_only, "classify.", err))) return rc;
        if ((rc = parse_labels(s, "classify", 0, &cfg->classify_labels, err))) return rc;
        if ((rc = parse_temperature(s, "classify", &cfg->classify_temperature, err))) return rc;
    }
    if ((s = attn_json_get(root, "entities"))) {
        if ((rc = check_known_keys(s, labels_only, "entities.", err))) return rc;
        if ((rc = parse_labels(s, "entities", 1, &cfg->entity_labels, err))) return rc;
        if ((rc = parse_temperature(s, "entities", &cfg->entity_temperature, err))) return rc;
    }
    if ((s = attn_json_get(root, "relations"))) {
        if ((rc = check_known_keys(s, rel_keys, "relations.", err))) return rc;
        if ((rc = parse_labels(s, "relations", 0, &cfg->relation_labels, err))) return rc;
        if ((rc = parse_temperature(s, "relations", &cfg->relation_temperature, err))) return rc;
        int64_t v = 0;
        if ((rc = read_int(s, "hidden", "relations.hidden", 1, ATTN_MAX_DIM, 1, &v, err))) return rc;
        cfg->rel_hidden = (int)v;
        if ((rc = read_int(s, "type_dim", "relations.type_dim", 1, ATTN_MAX_DIM, 1, &v, err))) return rc;
        cfg->rel_type_dim = (int)v;
    }
    if ((s = attn_json_get(root, "mlm"))) {
        static const char *const mlm_keys[] = { "vocab", NULL };
        if ((rc = check_known_keys(s, mlm_keys, "mlm.", err))) return rc;
        int64_t v = 0;
        if ((rc = read_int(s, "vocab", "mlm.vocab", 1, ATTN_MLM_MAX_VOCAB, 1, &v, err))) return rc;
        cfg->mlm_vocab = (int)v;
    }
    if ((s = attn_json_get(root, "rtd"))) {
        static const char *const rtd_keys[] = { NULL };
        if ((rc = check_known_keys(s, rtd_keys, "rtd.", err))) return rc;
    }
    return ATTN_OK;
}

/* ---- tensor layout ---------------------------------------------------------------------- */

/* Collects tensor specs in order; with specs == NULL it only counts (used to check the size
 * limit before allocating anything). Sizes are 64-bit and rows/cols are bounded by the
 * validated config, so no product overflows; the total is compared with ATTN_MAX_PARAMS. */
typedef struct spec_builder {
    attn_tensor_spec *specs;        /* [n] or NULL */
    size_t n;
    uint64_t total;                 /* floats, including alignment padding */
    uint64_t sum;                   /* floats, without padding */
    attn_tensor_spec largest;       /* for the too-big message */
} spec_builder;

static void add_tensor(spec_builder *b, int64_t rows, int64_t cols, int ndim, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* One tensor: [rows] when ndim == 1 (cols ignored), else [rows, cols]. */
static void add_tensor(spec_builder *b, int64_t rows, int64_t cols, int ndim, const char *fmt, ...) {
    attn_tensor_spec s;
    memset(&s, 0, sizeof s);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s.key, sizeof s.key, fmt, ap);
    va_end(ap);
    if (rows < 0) rows = 0;
    if (cols < 0) cols = 0;
    s.ndim = ndim;
    s.shape[0] = rows;
    s.shape[1] = ndim == 2 ? cols : 0;
    uint64_t size = (uint64_t)rows * (uint64_t)(ndim == 2 ? cols : 1);
    uint64_t offset = (b->total + ATTN_TENSOR_ALIGN - 1) / ATTN_TENSOR_ALIGN * ATTN_TENSOR_ALIGN;
    s.offset = (size_t)offset;
    s.size = (size_t)size;
    b->total = offset + size;
    b->sum += size;
    if (size > (uint64_t)b->largest.shape[0] * (uint64_t)(b->largest.ndim == 2 ? b->largest.shape[1] : 1))
        b->largest = s;
    if (b->specs) b->specs[b->n] = s;
    b->n++;
}

static void add_layer(spec_builder *b, const attn_config *c, int i) {
    int64_t D = c->dim, F = c->ffn;
    add_tensor(b, D, 0, 1, "layers.%d.ln1.w", i);
    add_tensor(b, D, 0, 1, "layers.%d.ln1.b", i);
    add_tensor(b, 3 * D, D, 2, "layers.%d.attn.qkv.w", i);
    add_tensor(b, 3 * D, 0, 1, "layers.%d.attn.qkv.b", i);
    add_tensor(b, D, D, 2, "layers.%d.attn.out.w", i);
    add_tensor(b, D, 0, 1, "layers.%d.attn.out.b", i);
    if (c->rel_positions)
        add_tensor(b, c->heads, 2 * (int64_t)c->rel_positions + 1, 2, "layers.%d.attn.rel_bias", i);
    add_tensor(b, D, 0, 1, "layers.%d.ln2.w", i);
    add_tensor(b, D, 0, 1, "layers.%d.ln2.b", i);
    add_tensor(b, F, D, 2, "layers.%d.ffn.up.w", i);
    add_tensor(b, F, 0, 1, "layers.%d.ffn.up.b", i);
    add_tensor(b, D, F, 2, "layers.%d.ffn.down.w", i);
    add_tensor(b, D, 0, 1, "layers.%d.ffn.down.b", i);
}

static void add_heads(spec_builder *b, const attn_config *c) {
    int64_t D = c->dim;
    if (c->tasks & ATTN_TASK_CLASSIFY) {
        int64_t L = c->classify_labels.n;
        add_tensor(b, L, 2 * D, 2, "cls.w");
        add_tensor(b, L, 0, 1, "cls.b");
    }
    if (c->tasks & ATTN_TASK_ENTITIES) {
        int64_t K = 1 + 2 * (int64_t)c->entity_labels.n;
        add_tensor(b, K, D, 2, "tag.w");
        add_tensor(b, K, 0, 1, "tag.b");
        add_tensor(b, K, K, 2, "crf.trans");
        add_tensor(b, K, 0, 1, "crf.start");
        add_tensor(b, K, 0, 1, "crf.end");
    }
    if (c->tasks & ATTN_TASK_RELATIONS) {
        int64_t E = c->entity_labels.n, TD = c->rel_type_dim, RH = c->rel_hidden;
        int64_t R1 = 1 + (int64_t)c->relation_labels.n;
        add_tensor(b, E, TD, 2, "rel.type");
        add_tensor(b, RH, 3 * D + 2 * TD, 2, "rel.hidden.w");
        add_tensor(b, RH, 0, 1, "rel.hidden.b");
        add_tensor(b, R1, RH, 2, "rel.out.w");
        add_tensor(b, R1, 0, 1, "rel.out.b");
    }
    if (c->tasks & ATTN_TASK_MLM) {
        add_tensor(b, c->mlm_vocab, D, 2, "mlm.w");
        add_tensor(b, c->mlm_vocab, 0, 1, "mlm.b");
    }
    if (c->tasks & ATTN_TASK_RTD) {
        add_tensor(b, 1, D, 2, "rtd.w");
        add_tensor(b, 1, 0, 1, "rtd.b");
    }
}

/* The fixed order documented in config.h. */
static void build_specs(const attn_config *c, spec_builder *b) {
    int64_t D = c->dim, feat_dims = 0;
    for (int f = 0; f < c->n_features; f++) {
        const attn_feature_spec *fs = &c->features[f];
        const char *name = attn_feature_name(fs->kind);
        add_tensor(b, fs->n_buckets, fs->dim, 2, "embed.%s", name ? name : "?");
        feat_dims += fs->dim;
    }
    add_tensor(b, D, feat_dims * (2 * c->embed_context + 1), 2, "embed.proj.w");
    add_tensor(b, D, 0, 1, "embed.proj.b");
    add_tensor(b, c->max_len, D, 2, "pos");
    for (int i = 0; i < c->layers; i++) add_layer(b, c, i);
    add_tensor(b, D, 0, 1, "final_ln.w");
    add_tensor(b, D, 0, 1, "final_ln.b");
    add_heads(b, c);
}

static int check_param_limit(const attn_config *cfg, attn_error *err) {
    spec_builder b;
    memset(&b, 0, sizeof b);
    build_specs(cfg, &b);
    if (b.total <= ATTN_MAX_PARAMS) return ATTN_OK;
    char shape[48];
    if (b.largest.ndim == 2)
        snprintf(shape, sizeof shape, "[%lld,%lld]", (long long)b.largest.shape[0],
                 (long long)b.largest.shape[1]);
    else
        snprintf(shape, sizeof shape, "[%lld]", (long long)b.largest.shape[0]);
    return CFG_FAIL(err, ATTN_ELIMIT,
                    "the model would have %llu parameters, more than the limit of %llu "
                    "(largest tensor: '%s' %s)",
                    (unsigned long long)b.total, (unsigned long long)ATTN_MAX_PARAMS,
                    b.largest.key, shape);
}

attn_tensor_spec *attn_config_tensors(const attn_config *cfg, size_t *n, size_t *n_params) {
    spec_builder b;
    memset(&b, 0, sizeof b);
    build_specs(cfg, &b);
    *n = 0;
    *n_params = 0;
    if (b.total > ATTN_MAX_PARAMS || b.n == 0) return NULL;
    size_t count = b.n;
    memset(&b, 0, sizeof b);
    b.specs = malloc(count * sizeof *b.specs);
    if (!b.specs) return NULL;
    build_specs(cfg, &b);
    *n = b.n;
    *n_params = (size_t)b.total;
    return b.specs;
}

size_t attn_config_param_count(const attn_config *cfg) {
    spec_builder b;
    memset(&b, 0, sizeof b);
    build_specs(cfg, &b);
    return b.total > ATTN_MAX_PARAMS ? 0 : (size_t)b.sum;
}

int attn_tensor_find(const attn_tensor_spec *specs, size_t n, const char *key) {
    if (!specs || !key) return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(specs[i].key, key) == 0) return (int)i;
    return -1;
}

/* ---- public ----------------------------------------------------------------------------- */

static int parse_root(const attn_json *root, attn_config *cfg, attn_error *err) {
    static const char *const top_keys[] = {
        "format", "tasks", "dim", "layers", "heads", "ffn", "max_len", "ln_eps", "attn_scale",
        "embed_context", "rel_positions", "language", "features", "classify", "entities", "relations", "mlm", "rtd", "meta", NULL };
    if (root->type != ATTN_JSON_OBJECT)
        return CFG_FAIL(err, ATTN_EINVAL, "must be a JSON object, found %s", json_type_phrase(root));
    int rc;
    /* The format first: a newer config will have keys this build does not know. */
    if ((rc = parse_format(root, cfg, err))) return rc;
    if ((rc = check_known_keys(root, top_keys, "", err))) return rc;
    if ((rc = parse_tasks(root, cfg, err))) return rc;
    if ((rc = parse_sizes(root, cfg, err))) return rc;
    if ((rc = parse_numerics(root, cfg, err))) return rc;
    if ((rc = parse_language(root, cfg, err))) return rc;
    if ((rc = parse_features(root, cfg, err))) return rc;
    if ((rc = parse_sections(root, cfg, err))) return rc;
    return check_param_limit(cfg, err);
}

int attn_config_parse(const char *json, size_t n, attn_config *cfg, attn_error *err) {
    memset(cfg, 0, sizeof *cfg);
    if (n > ATTN_MAX_CONFIG_BYTES)
        return CFG_FAIL(err, ATTN_ELIMIT, "%zu bytes, more than the limit of %d", n,
                        ATTN_MAX_CONFIG_BYTES);
    attn_json *root = NULL;
    attn_error jerr;
    int rc = attn_json_parse(json, n, &root, &jerr);
    if (rc) return CFG_FAIL(err, rc, "%s", jerr.msg);
    rc = parse_root(root, cfg, err);
    attn_json_free(root);
    if (rc == ATTN_OK) {
        cfg->json = malloc(n + 1);
        if (!cfg->json) rc = CFG_FAIL(err, ATTN_ENOMEM, "out of memory copying the config text");
        else {
            memcpy(cfg->json, json, n);
            cfg->json[n] = 0;
        }
    }
    if (rc) attn_config_free(cfg);
    return rc;
}

static void free_labels(attn_labels *l) {
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    l->names = NULL;
    l->n = 0;
}

void attn_config_free(attn_config *cfg) {
    if (!cfg) return;
    free_labels(&cfg->classify_labels);
    free_labels(&cfg->entity_labels);
    free_labels(&cfg->relation_labels);
    free(cfg->json);
    memset(cfg, 0, sizeof *cfg);
}

int attn_config_n_tags(const attn_config *cfg) {
    return 1 + 2 * cfg->entity_labels.n;
}

void attn_config_tag_name(const attn_config *cfg, int k, char *buf, size_t cap) {
    if (!buf || cap == 0) return;
    buf[0] = 0;
    if (k == 0) { snprintf(buf, cap, "O"); return; }
    if (k < 0 || k >= attn_config_n_tags(cfg)) return;
    snprintf(buf, cap, "%s-%s", (k % 2 == 1) ? "B" : "I", cfg->entity_labels.names[(k - 1) / 2]);
}
