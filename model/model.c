/* model.c: a model's parameters in one aligned buffer, loaded tensor by tensor from untrusted
 * stored bytes, with named views bound once every tensor is in. */
#include "model.h"
#include "json.h"
#include "kernels.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARAM_ALIGN_BYTES 64
#define MAX_SHAPE_DIMS 8          /* dims shown in a "found [...]" message */
#define F16_CHUNK 1024            /* halves decoded per call of f16_to_f32 */

/* ---- views ------------------------------------------------------------------------------ */

typedef struct view_field {
    const char *name;
    size_t offset;                /* of a const float * inside attn_weights / attn_layer_weights */
} view_field;

static const view_field TOP_VIEWS[] = {
    { "embed.proj.w", offsetof(attn_weights, proj_w) },
    { "embed.proj.b", offsetof(attn_weights, proj_b) },
    { "pos", offsetof(attn_weights, pos) },
    { "final_ln.w", offsetof(attn_weights, final_ln_w) },
    { "final_ln.b", offsetof(attn_weights, final_ln_b) },
    { "cls.w", offsetof(attn_weights, cls_w) },
    { "cls.b", offsetof(attn_weights, cls_b) },
    { "tag.w", offsetof(attn_weights, tag_w) },
    { "tag.b", offsetof(attn_weights, tag_b) },
    { "crf.trans", offsetof(attn_weights, crf_trans) },
    { "crf.start", offsetof(attn_weights, crf_start) },
    { "crf.end", offsetof(attn_weights, crf_end) },
    { "rel.type", offsetof(attn_weights, rel_type) },
    { "rel.hidden.w", offsetof(attn_weights, rel_hidden_w) },
    { "rel.hidden.b", offsetof(attn_weights, rel_hidden_b) },
    { "rel.out.w", offsetof(attn_weights, rel_out_w) },
    { "rel.out.b", offsetof(attn_weights, rel_out_b) },
    { "mlm.w", offsetof(attn_weights, mlm_w) },
    { "mlm.b", offsetof(attn_weights, mlm_b) },
    { "rtd.w", offsetof(attn_weights, rtd_w) },
    { "rtd.b", offsetof(attn_weights, rtd_b) },
};

static const view_field LAYER_VIEWS[] = {
    { "ln1.w", offsetof(attn_layer_weights, ln1_w) },
    { "ln1.b", offsetof(attn_layer_weights, ln1_b) },
    { "attn.qkv.w", offsetof(attn_layer_weights, qkv_w) },
    { "attn.qkv.b", offsetof(attn_layer_weights, qkv_b) },
    { "attn.out.w", offsetof(attn_layer_weights, out_w) },
    { "attn.out.b", offsetof(attn_layer_weights, out_b) },
    { "attn.rel_bias", offsetof(attn_layer_weights, rel_bias) },
    { "ln2.w", offsetof(attn_layer_weights, ln2_w) },
    { "ln2.b", offsetof(attn_layer_weights, ln2_b) },
    { "ffn.up.w", offsetof(attn_layer_weights, up_w) },
    { "ffn.up.b", offsetof(attn_layer_weights, up_b) },
    { "ffn.down.w", offsetof(attn_layer_weights, down_w) },
    { "ffn.down.b", offsetof(attn_layer_weights, down_b) },
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static void set_view(void *base_struct, size_t offset, const float *p) {
    memcpy((char *)base_struct + offset, &p, sizeof p);
}

/* "layers.<i>.<suffix>": returns 1 and the view if the key is one. */
static int bind_layer_view(const char *key, const float *p, attn_weights *w) {
    if (strncmp(key, "layers.", 7) != 0) return 0;
    char *end;
    long i = strtol(key + 7, &end, 10);
    if (end == key + 7 || *end != '.' || i < 0 || i >= ATTN_MAX_LAYERS) return 0;
    for (size_t f = 0; f < N_ELEMS(LAYER_VIEWS); f++)
        if (strcmp(end + 1, LAYER_VIEWS[f].name) == 0) {
            set_view(&w->layer[i], LAYER_VIEWS[f].offset, p);
            return 1;
        }
    return 0;
}

/* "embed.<kind>": the index in config order of the feature with that kind, or -1. */
static int feature_of_key(const attn_config *cfg, const char *key) {
    if (strncmp(key, "embed.", 6) != 0) return -1;
    for (int f = 0; f < cfg->n_features; f++) {
        const char *name = attn_feature_name(cfg->features[f].kind);
        if (name && strcmp(key + 6, name) == 0) return f;
    }
    return -1;
}

/* "embed.<kind>": the view of the feature with that kind. */
static int bind_embed_view(const attn_config *cfg, const char *key, const float *p, attn_weights *w) {
    int f = feature_of_key(cfg, key);
    if (f >= 0) w->embed[f] = p;
    return f >= 0;
}

void attn_weights_bind(const attn_config *cfg, const attn_tensor_spec *specs, size_t n_specs,
                       const float *base, attn_weights *w) {
    memset(w, 0, sizeof *w);
    for (size_t s = 0; s < n_specs; s++) {
        const char *key = specs[s].key;
        const float *p = base + specs[s].offset;
        int bound = 0;
        for (size_t f = 0; f < N_ELEMS(TOP_VIEWS) && !bound; f++)
            if (strcmp(key, TOP_VIEWS[f].name) == 0) {
                set_view(w, TOP_VIEWS[f].offset, p);
                bound = 1;
            }
        if (!bound && !bind_layer_view(key, p, w)) bind_embed_view(cfg, key, p, w);
    }
}

/* ---- creation --------------------------------------------------------------------------- */

/* Zeroed, PARAM_ALIGN_BYTES-aligned floats. calloc, not aligned_alloc + memset: a config that
 * claims billions of parameters costs address space, not touched pages, until tensors arrive. */
static float *alloc_params(size_t n_floats, void **block) {
    *block = NULL;
    if (n_floats > (SIZE_MAX - PARAM_ALIGN_BYTES) / sizeof(float)) return NULL;
    *block = calloc(1, n_floats * sizeof(float) + PARAM_ALIGN_BYTES);
    if (!*block) return NULL;
    uintptr_t at = ((uintptr_t)*block + PARAM_ALIGN_BYTES - 1) / PARAM_ALIGN_BYTES * PARAM_ALIGN_BYTES;
    return (float *)at;
}

int attn_model_new(const char *config_json, size_t n, attn_model **out, attn_error *err) {
    *out = NULL;
    attn_model *m = calloc(1, sizeof *m);
    if (!m) return attn_fail(err, ATTN_ENOMEM, "model: out of memory");
    int rc = attn_config_parse(config_json, n, &m->cfg, err);
    if (rc) { free(m); return rc; }
    m->specs = attn_config_tensors(&m->cfg, &m->n_specs, &m->n_params);
    if (!m->specs) {
        attn_model_free(m);
        return attn_fail(err, ATTN_ENOMEM, "model: out of memory for the tensor list");
    }
    m->params = alloc_params(m->n_params, &m->params_block);
    m->given = calloc(m->n_specs, 1);
    for (int f = 0; f < m->cfg.n_features; f++)
        if (m->cfg.features[f].kind == ATTN_FEAT_GAZETTEER &&
            !(m->gazetteer = attn_gazetteer_new(&m->cfg.features[f]))) {
            attn_model_free(m);
            return attn_fail(err, ATTN_ENOMEM, "model: out of memory");
        }
    if (!m->params || !m->given) {
        size_t n_params = m->n_params;
        attn_model_free(m);
        return attn_fail(err, ATTN_ENOMEM, "model: out of memory for %zu parameters (%zu MiB)",
                         n_params, n_params / (1024 * 1024 / sizeof(float)));
    }
    *out = m;
    return ATTN_OK;
}

void attn_model_free(attn_model *m) {
    if (!m) return;
    attn_config_free(&m->cfg);
    free(m->specs);
    free(m->params_block);
    free(m->given);
    free(m->packed);
    for (size_t i = 0; m->tables && i < m->n_specs; i++) free(m->tables[i].block);
    free(m->tables);
    attn_gazetteer_release(m->gazetteer);
    free(m);
}

void attn_model_set_stop(attn_model *m, attn_stop_cb stop, void *stop_user) {
    m->stop = stop;
    m->stop_user = stop_user;
}

int attn_model_set_gazetteer(attn_model *m, attn_gazetteer *g, attn_error *err) {
    for (int f = 0; f < m->cfg.n_features; f++) {
        if (m->cfg.features[f].kind != ATTN_FEAT_GAZETTEER) continue;
        if (!attn_gazetteer_fits(g, &m->cfg.features[f]))
            return attn_fail(err, ATTN_EINVAL, "model: the gazetteer's lists are not the "
                             "feature's");
        attn_gazetteer_release(m->gazetteer);
        m->gazetteer = attn_gazetteer_ref(g);
        return ATTN_OK;
    }
    return attn_fail(err, ATTN_EINVAL, "model: no gazetteer feature");
}

int attn_model_set_inference_only(attn_model *m, attn_error *err) {
    if (!m) return attn_fail(err, ATTN_EINVAL, "model: no model");
    for (size_t i = 0; i < m->n_specs; i++)
        if (m->given[i])
            return attn_fail(err, ATTN_EINVAL, "model: inference-only must be set before the "
                             "first tensor ('%s' is set)", m->specs[i].key);
    if (!m->tables && !(m->tables = calloc(m->n_specs ? m->n_specs : 1, sizeof *m->tables)))
        return attn_fail(err, ATTN_ENOMEM, "model: out of memory");
    m->inference_only = 1;
    return ATTN_OK;
}

size_t attn_model_param_count(const attn_model *m) {
    return m ? attn_config_param_count(&m->cfg) : 0;
}

int attn_model_tensor_index(const attn_model *m, const char *key) {
    return m ? attn_tensor_find(m->specs, m->n_specs, key) : -1;
}

/* ---- loading one tensor ----------------------------------------------------------------- */

static void format_shape(const int64_t *dims, size_t n, char *buf, size_t cap) {
    size_t len = 0;
    len += (size_t)snprintf(buf + len, cap - len, "[");
    for (size_t i = 0; i < n && i < MAX_SHAPE_DIMS && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (n > MAX_SHAPE_DIMS && len < cap) len += (size_t)snprintf(buf + len, cap - len, ",...");
    if (len < cap) snprintf(buf + len, cap - len, "]");
}

/* shape_json must be a JSON array of non-negative integers equal to the spec's shape. */
static int check_shape(const attn_tensor_spec *spec, const char *shape_json, attn_error *err) {
    if (!shape_json) return attn_fail(err, ATTN_EMODEL, "tensor '%s': shape is missing", spec->key);
    attn_json *j = NULL;
    attn_error jerr;
    int64_t found[MAX_SHAPE_DIMS];
    size_t n_found = 0;
    int ok = attn_json_parse(shape_json, strlen(shape_json), &j, &jerr) == ATTN_OK &&
             j->type == ATTN_JSON_ARRAY;
    for (size_t i = 0; ok && i < j->len; i++) {
        int64_t d;
        ok = attn_json_int(&j->items[i], 0, INT64_MAX, &d) == ATTN_OK;
        if (ok && i < MAX_SHAPE_DIMS) found[n_found++] = d;
    }
    size_t ndim = ok ? j->len : 0;
    attn_json_free(j);
    if (!ok)
        return attn_fail(err, ATTN_EMODEL,
                         "tensor '%s': shape '%.64s' is not a JSON array of non-negative integers",
                         spec->key, shape_json);
    int same = ndim == (size_t)spec->ndim;
    for (int i = 0; same && i < spec->ndim; i++) same = found[i] == spec->shape[i];
    if (same) return ATTN_OK;
    char want[64], got[200];
    format_shape(spec->shape, (size_t)spec->ndim, want, sizeof want);
    format_shape(found, ndim, got, sizeof got);
    return attn_fail(err, ATTN_EMODEL, "tensor '%s': shape %s expected, found %s", spec->key,
                     want, got);
}

/* dst[n] from n little-endian f32 values at src (any alignment). */
static void decode_f32(float *dst, const unsigned char *src, size_t n) {
    memcpy(dst, src, n * sizeof(float));
    if (attn_host_is_little_endian()) return;
    for (size_t i = 0; i < n; i++) dst[i] = attn_load_f32_le(src + 4 * i);
}

/* dst[n] from n little-endian IEEE halves at src through the kernel table: in one call when
 * src can be read as uint16_t in place (a little-endian host, an even address: SQLite's blob
 * buffers are), else in chunks assembled byte by byte. */
static void decode_f16(float *dst, const unsigned char *src, size_t n) {
    const attn_kernels *k = attn_kernels_best();
    if (attn_host_is_little_endian() && (uintptr_t)src % sizeof(uint16_t) == 0) {
        k->f16_to_f32(dst, (const uint16_t *)(const void *)src, n);
        return;
    }
    uint16_t chunk[F16_CHUNK];
    for (size_t start = 0; start < n; start += F16_CHUNK) {
        size_t len = n - start < F16_CHUNK ? n - start : F16_CHUNK;
        for (size_t i = 0; i < len; i++) {
            const unsigned char *b = src + 2 * (start + i);
            chunk[i] = (uint16_t)(b[0] | b[1] << 8);
        }
        k->f16_to_f32(dst + start, chunk, len);
    }
}

/* The error for element i of the tensor, of value x (NaN or +-Inf). */
static int non_finite_error(const attn_tensor_spec *spec, size_t i, float x, attn_error *err) {
    const char *what = isnan(x) ? "NaN" : (x > 0 ? "+Inf" : "-Inf");
    return attn_fail(err, ATTN_EMODEL, "tensor '%s': element %zu is %s", spec->key, i, what);
}

/* 1 if some value of x[n] is NaN or +-Inf (all exponent bits set): one pass without a branch
 * per value, so the common all-finite case costs a load and an OR a value. */
static int any_non_finite(const float *x, size_t n) {
    uint32_t hit = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], sizeof bits);
        hit |= (uint32_t)((bits & 0x7f800000u) == 0x7f800000u);
    }
    return hit != 0;
}

static int check_finite(const attn_tensor_spec *spec, const float *x, attn_error *err) {
    if (!any_non_finite(x, spec->size)) return ATTN_OK;
    for (size_t i = 0; i < spec->size; i++)
        if (!isfinite(x[i])) return non_finite_error(spec, i, x[i], err);
    return ATTN_OK;
}

/* The kept-stored twin of check_finite for f16 bytes: the first half with all exponent bits set
 * (NaN with a non-zero mantissa, else +-Inf) gives check_finite's error. */
static int check_f16_finite(const attn_tensor_spec *spec, const unsigned char *src,
                            attn_error *err) {
    for (size_t i = 0; i < spec->size; i++) {
        unsigned hi = src[2 * i + 1], lo = src[2 * i];
        if ((hi & 0x7cu) != 0x7cu) continue;
        float x = (hi & 0x03u) || lo ? NAN : (hi & 0x80u ? -INFINITY : INFINITY);
        return non_finite_error(spec, i, x, err);
    }
    return ATTN_OK;
}

/* The filters below run over every byte of a model's tables when it loads, so they are
 * written to vectorise: fixed-length inner loops over independent lanes, no branch (the lane
 * counts are the fastest measured with the baseline SSE2 code gcc makes of them). */

/* 1 if some byte of p[n] is 0x80 (q8's refused -128). */
static int any_byte_0x80(const unsigned char *p, size_t n) {
    enum { LANES = 32 };
    unsigned char hit[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) hit[j] |= p[i + j] == 0x80;
    unsigned any = 0;
    for (; i < n; i++) any |= p[i] == 0x80;
    for (int j = 0; j < LANES; j++) any |= hit[j];
    return any != 0;
}

/* 1 if some nibble of p[n] is 8 (q4's refused -8), padding nibbles included. */
static int any_nibble_8(const unsigned char *p, size_t n) {
    enum { LANES = 16 };
    unsigned char hit[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++)
            hit[j] |= ((p[i + j] & 0x0fu) == 0x08u) | ((p[i + j] & 0xf0u) == 0x80u);
    unsigned any = 0;
    for (; i < n; i++) any |= ((p[i] & 0x0fu) == 0x08u) | ((p[i] & 0xf0u) == 0x80u);
    for (int j = 0; j < LANES; j++) any |= hit[j];
    return any != 0;
}

/* attn_load_f32_le, as a plain load where the host is little-endian (so that loops vectorise). */
static float load_scale(const unsigned char *b) {
    if (!attn_host_is_little_endian()) return attn_load_f32_le(b);
    float f;
    memcpy(&f, b, sizeof f);
    return f;
}

/* 1 if some of the n little-endian f32 scales at src is not a scale s >= 0 with qmax * s
 * finite (NaN, +-Inf and negative scales fail; qmax 1 tests the scale alone). */
static int any_scale_outside(const unsigned char *src, size_t n, float qmax) {
    enum { LANES = 4 };
    int out[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            const float s = load_scale(src + (i + (size_t)j) * sizeof(float));
            out[j] |= ((s >= 0.0f) & (s * qmax <= FLT_MAX)) ? 0 : 1;
        }
    int any = 0;
    for (; i < n; i++) {
        const float s = load_scale(src + i * sizeof(float));
        any |= ((s >= 0.0f) & (s * qmax <= FLT_MAX)) ? 0 : 1;
    }
    for (int j = 0; j < LANES; j++) any |= out[j];
    return any;
}

/* Every scale of a q8 blob is finite and >= 0 (the filter first; the scan only to name the
 * row). */
static int check_q8_scales(const attn_tensor_spec *spec, const unsigned char *src,
                           attn_error *err) {
    size_t rows = (size_t)spec->shape[0];
    if (!any_scale_outside(src, rows, 1.0f)) return ATTN_OK;
    for (size_t r = 0; r < rows; r++) {
        float scale = attn_load_f32_le(src + r * sizeof(float));
        if (isnan(scale) || isinf(scale) || scale < 0)
            return attn_fail(err, ATTN_EMODEL, "tensor '%s': q8 scale of row %zu is %s", spec->key,
                             r, isnan(scale) ? "NaN" : isinf(scale) ? (scale > 0 ? "+Inf" : "-Inf")
                                                                    : "negative");
    }
    return ATTN_OK;
}

/* No q of a q8 blob is -128 (the filter first; the scan only to name the element). */
static int check_q8_values(const attn_tensor_spec *spec, const unsigned char *src,
                           attn_error *err) {
    size_t rows = (size_t)spec->shape[0], n = spec->size;
    const int8_t *q = (const int8_t *)(src + rows * sizeof(float));
    if (!any_byte_0x80((const unsigned char *)q, n)) return ATTN_OK;
    for (size_t i = 0; i < n; i++)
        if (q[i] < -ATTN_Q8_MAX)
            return attn_fail(err, ATTN_EMODEL,
                             "tensor '%s': q8 element %zu is %d (values are in [-%d, %d])",
                             spec->key, i, q[i], ATTN_Q8_MAX, ATTN_Q8_MAX);
    return ATTN_OK;
}

/* Without decoding: the first q * scale that overflows gives check_finite's error. Only rows
 * whose scale times the largest |q| overflows are scanned (the product is monotonic in |q|),
 * and only when the filter finds one. */
static int check_q8_products(const attn_tensor_spec *spec, const unsigned char *src,
                             attn_error *err) {
    size_t rows = (size_t)spec->shape[0], cols = (size_t)spec->shape[1];
    const int8_t *q = (const int8_t *)(src + rows * sizeof(float));
    if (!any_scale_outside(src, rows, (float)ATTN_Q8_MAX)) return ATTN_OK;
    for (size_t r = 0; r < rows; r++) {
        float scale = attn_load_f32_le(src + r * sizeof(float));
        if (isfinite((float)ATTN_Q8_MAX * scale)) continue;
        for (size_t c = 0; c < cols; c++) {
            float x = (float)q[r * cols + c] * scale;
            if (!isfinite(x)) return non_finite_error(spec, r * cols + c, x, err);
        }
    }
    return ATTN_OK;
}

/* q8 blob -> dst [rows, cols]: checks every scale (finite, >= 0) and every q (not -128) first,
 * so a refused blob writes nothing. Products may still overflow; check_finite catches that. */
static int decode_q8(const attn_tensor_spec *spec, float *dst, const unsigned char *src,
                     attn_error *err) {
    size_t rows = (size_t)spec->shape[0], cols = (size_t)spec->shape[1];
    const int8_t *q = (const int8_t *)(src + rows * sizeof(float));
    int rc = check_q8_scales(spec, src, err);
    if (!rc) rc = check_q8_values(spec, src, err);
    if (rc) return rc;
    for (size_t r = 0; r < rows; r++) {
        float scale = attn_load_f32_le(src + r * sizeof(float));
        for (size_t c = 0; c < cols; c++) dst[r * cols + c] = (float)q[r * cols + c] * scale;
    }
    return ATTN_OK;
}

static int is_dtype(const char *dtype, const char *name) {
    return dtype && strcmp(dtype, name) == 0;
}

static size_t q4_groups(size_t cols) { return (cols + ATTN_Q4_GROUP - 1) / ATTN_Q4_GROUP; }
static size_t q4_row_bytes(size_t cols) { return (cols + 1) / 2; }

/* Value c of a q4 row: a 4-bit two's-complement nibble, sign-extended. */
static int q4_value(const unsigned char *row, size_t c) {
    int nibble = c % 2 ? row[c / 2] >> 4 : row[c / 2] & 0x0f;
    return nibble >= 8 ? nibble - 16 : nibble;
}

/* Every scale of a q4 blob is finite and >= 0 (the filter first, as for q8). */
static int check_q4_scales(const attn_tensor_spec *spec, const unsigned char *src,
                           attn_error *err) {
    size_t n_scales = (size_t)spec->shape[0] * q4_groups((size_t)spec->shape[1]);
    if (!any_scale_outside(src, n_scales, 1.0f)) return ATTN_OK;
    for (size_t i = 0; i < n_scales; i++) {
        float scale = attn_load_f32_le(src + i * sizeof(float));
        if (isnan(scale) || isinf(scale) || scale < 0)
            return attn_fail(err, ATTN_EMODEL, "tensor '%s': q4 scale %zu is %s", spec->key, i,
                             isnan(scale) ? "NaN" : isinf(scale) ? (scale > 0 ? "+Inf" : "-Inf")
                                                                 : "negative");
    }
    return ATTN_OK;
}

/* 1 if the padding nibble (the high one of the last byte) of some row is non-zero: rows of an
 * odd width only. */
static int any_q4_padding(const unsigned char *q, size_t rows, size_t cols) {
    unsigned hit = 0;
    for (size_t r = 0; cols % 2 && r < rows; r++) hit |= q[r * q4_row_bytes(cols) + cols / 2] >> 4;
    return hit != 0;
}

/* No value of a q4 blob is -8 and every padding nibble is 0 (the filters first; the scan, in
 * element order, only to name the first fault). */
static int check_q4_values(const attn_tensor_spec *spec, const unsigned char *src,
                           attn_error *err) {
    size_t rows = (size_t)spec->shape[0], cols = (size_t)spec->shape[1];
    size_t row_bytes = q4_row_bytes(cols);
    const unsigned char *q = src + rows * q4_groups(cols) * sizeof(float);
    if (!any_nibble_8(q, rows * row_bytes) && !any_q4_padding(q, rows, cols)) return ATTN_OK;
    for (size_t r = 0; r < rows; r++) {
        const unsigned char *row = q + r * row_bytes;
        for (size_t c = 0; c < cols; c++)
            if (q4_value(row, c) < -ATTN_Q4_MAX)
                return attn_fail(err, ATTN_EMODEL,
                                 "tensor '%s': q4 element %zu is -8 (values are in [-%d, %d])",
                                 spec->key, r * cols + c, ATTN_Q4_MAX, ATTN_Q4_MAX);
        if (cols % 2 && row[cols / 2] >> 4)
            return attn_fail(err, ATTN_EMODEL,
                             "tensor '%s': q4 row %zu has a non-zero padding nibble", spec->key, r);
    }
    return ATTN_OK;
}

/* Like check_q8_products, per group of ATTN_Q4_GROUP values sharing a scale. */
static int check_q4_products(const attn_tensor_spec *spec, const unsigned char *src,
                             attn_error *err) {
    size_t rows = (size_t)spec->shape[0], cols = (size_t)spec->shape[1];
    size_t groups = q4_groups(cols), row_bytes = q4_row_bytes(cols);
    const unsigned char *q = src + rows * groups * sizeof(float);
    if (!any_scale_outside(src, rows * groups, (float)ATTN_Q4_MAX)) return ATTN_OK;
    for (size_t r = 0; r < rows; r++)
        for (size_t g = 0; g < groups; g++) {
            float scale = attn_load_f32_le(src + (r * groups + g) * sizeof(float));
            if (isfinite((float)ATTN_Q4_MAX * scale)) continue;
            for (size_t c = g * ATTN_Q4_GROUP; c < cols && c < (g + 1) * ATTN_Q4_GROUP; c++) {
                float x = (float)q4_value(q + r * row_bytes, c) * scale;
                if (!isfinite(x)) return non_finite_error(spec, r * cols + c, x, err);
            }
        }
    return ATTN_OK;
}

/* q4 blob -> dst [rows, cols], in the layout model.h gives. Like decode_q8, checks every scale
 * and every value first, so a refused blob writes nothing. */
static int decode_q4(const attn_tensor_spec *spec, float *dst, const unsigned char *src,
                     attn_error *err) {
    size_t rows = (size_t)spec->shape[0], cols = (size_t)spec->shape[1];
    size_t groups = q4_groups(cols), row_bytes = q4_row_bytes(cols);
    const unsigned char *q = src + rows * groups * sizeof(float);
    int rc = check_q4_scales(spec, src, err);
    if (!rc) rc = check_q4_values(spec, src, err);
    if (rc) return rc;
    for (size_t r = 0; r < rows; r++)
        for (size_t g = 0; g < groups; g++) {
            float scale = attn_load_f32_le(src + (r * groups + g) * sizeof(float));
            for (size_t c = g * ATTN_Q4_GROUP; c < cols && c < (g + 1) * ATTN_Q4_GROUP; c++)
                dst[r * cols + c] = (float)q4_value(q + r * row_bytes, c) * scale;
        }
    return ATTN_OK;
}

size_t attn_tensor_stored_bytes(const attn_tensor_spec *t, const char *dtype) {
    if (is_dtype(dtype, "f32")) return t->size * 4;
    if (is_dtype(dtype, "f16")) return t->size * 2;
    if (is_dtype(dtype, "q8") && t->ndim == 2) return (size_t)t->shape[0] * sizeof(float) + t->size;
    if (is_dtype(dtype, "q4") && t->ndim == 2) {
        size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1];
        return rows * (q4_groups(cols) * sizeof(float) + q4_row_bytes(cols));
    }
    return 0;
}

static int dtype_known(const char *dtype) {
    return is_dtype(dtype, "f32") || is_dtype(dtype, "f16") || is_dtype(dtype, "q8") ||
           is_dtype(dtype, "q4");
}

static attn_dtype dtype_code(const char *dtype) {
    return is_dtype(dtype, "f32") ? ATTN_DTYPE_F32 : is_dtype(dtype, "f16") ? ATTN_DTYPE_F16
         : is_dtype(dtype, "q8") ? ATTN_DTYPE_Q8 : is_dtype(dtype, "q4") ? ATTN_DTYPE_Q4
         : ATTN_DTYPE_NONE;
}

static int is_quantized(const char *dtype) { return is_dtype(dtype, "q8") || is_dtype(dtype, "q4"); }

/* The dtype is known and fits the tensor: "f32", "f16", or "q8"/"q4" on a 2-D tensor. */
static int check_dtype(const attn_tensor_spec *spec, const char *dtype, attn_error *err) {
    if (!dtype_known(dtype))
        return attn_fail(err, ATTN_EMODEL,
                         "tensor '%s': dtype '%.32s' is not supported (expected f32, f16, q8 or q4)",
                         spec->key, dtype ? dtype : "(null)");
    if (is_quantized(dtype) && spec->ndim != 2)
        return attn_fail(err, ATTN_EMODEL,
                         "tensor '%s': dtype '%s' is for 2-D tensors only, this one is [%lld]",
                         spec->key, dtype, (long long)spec->shape[0]);
    return ATTN_OK;
}

static int check_byte_count(const attn_tensor_spec *spec, const char *dtype, const void *data,
                            size_t n_bytes, attn_error *err) {
    uint64_t expected = attn_tensor_stored_bytes(spec, dtype);
    if ((uint64_t)n_bytes == expected && (data || !n_bytes)) return ATTN_OK;
    size_t found = data ? n_bytes : 0;
    if (is_dtype(dtype, "q8"))
        return attn_fail(err, ATTN_EMODEL,
                         "tensor '%s': %llu bytes expected (%lld f32 scales + %zu q8 values), found %zu",
                         spec->key, (unsigned long long)expected, (long long)spec->shape[0],
                         spec->size, found);
    if (is_dtype(dtype, "q4"))
        return attn_fail(err, ATTN_EMODEL,
                         "tensor '%s': %llu bytes expected (%zu f32 scales + %lld rows of %zu q4 "
                         "bytes), found %zu", spec->key, (unsigned long long)expected,
                         (size_t)spec->shape[0] * q4_groups((size_t)spec->shape[1]),
                         (long long)spec->shape[0], q4_row_bytes((size_t)spec->shape[1]), found);
    return attn_fail(err, ATTN_EMODEL, "tensor '%s': %llu bytes expected (%zu %s values), found %zu",
                     spec->key, (unsigned long long)expected, spec->size, dtype, found);
}

static int decode_tensor(const attn_tensor_spec *spec, const char *dtype, float *dst,
                         const unsigned char *src, attn_error *err) {
    if (is_dtype(dtype, "q8")) return decode_q8(spec, dst, src, err);
    if (is_dtype(dtype, "q4")) return decode_q4(spec, dst, src, err);
    if (is_dtype(dtype, "f16")) decode_f16(dst, src, spec->size);
    else decode_f32(dst, src, spec->size);
    return ATTN_OK;
}

/* ---- embedding tables kept stored (inference-only models) -------------------------------- */

static int is_encoder_linear_weight(const attn_tensor_spec *t);

/* An inference-only model keeps this tensor stored: a feature's table given as f16, q8 or q4,
 * or an encoder linear weight given as q8 (the encoder packs its ints as they are). */
static int keeps_stored(const attn_model *m, const attn_tensor_spec *spec, const char *dtype) {
    if (!m->inference_only || spec->ndim != 2) return 0;
    if (feature_of_key(&m->cfg, spec->key) >= 0)
        return is_dtype(dtype, "f16") || is_quantized(dtype);
    return is_encoder_linear_weight(spec) && is_dtype(dtype, "q8");
}

/* Everything decode_tensor + check_finite would refuse, with the same errors, in the same
 * order, without decoding. */
static int check_stored(const attn_tensor_spec *spec, const char *dtype,
                        const unsigned char *src, attn_error *err) {
    int rc;
    const size_t rows = (size_t)spec->shape[0];
    /* One pass over the scales clears both scale checks when none is refused or overflows. */
    if (is_dtype(dtype, "q8") && !any_scale_outside(src, rows, (float)ATTN_Q8_MAX))
        return check_q8_values(spec, src, err);
    if (is_dtype(dtype, "q4") &&
        !any_scale_outside(src, rows * q4_groups((size_t)spec->shape[1]), (float)ATTN_Q4_MAX))
        return check_q4_values(spec, src, err);
    if (is_dtype(dtype, "q8")) {
        if ((rc = check_q8_scales(spec, src, err)) || (rc = check_q8_values(spec, src, err)))
            return rc;
        return check_q8_products(spec, src, err);
    }
    if (is_dtype(dtype, "q4")) {
        if ((rc = check_q4_scales(spec, src, err)) || (rc = check_q4_values(spec, src, err)))
            return rc;
        return check_q4_products(spec, src, err);
    }
    return check_f16_finite(spec, src, err);
}

/* block[n_bytes] = the stored bytes with the n_scales leading f32 scales (and, for f16, every
 * half) in host byte order: the identity on a little-endian host. */
static void copy_host_order(unsigned char *block, const unsigned char *src, size_t n_bytes,
                            size_t n_scales, int halves) {
    if (block != src) memcpy(block, src, n_bytes);
    if (attn_host_is_little_endian()) return;
    for (size_t i = 0; i < n_scales; i++) {
        float f = attn_load_f32_le(src + i * sizeof f);
        memcpy(block + i * sizeof f, &f, sizeof f);
    }
    for (size_t i = 0; halves && i < n_bytes / 2; i++) {
        uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
        memcpy(block + 2 * i, &h, sizeof h);
    }
}

/* Checks tensor idx's stored bytes and keeps them in host order in m->tables[idx]: in *adopt
 * itself when it is given (src's malloc'd buffer, converted in place; *adopt is then NULL),
 * else in a copy. */
static int keep_stored(attn_model *m, int idx, const char *dtype, const unsigned char *src,
                       size_t n_bytes, void **adopt, attn_error *err) {
    const attn_tensor_spec *spec = &m->specs[idx];
    int rc = check_stored(spec, dtype, src, err);
    if (rc) return rc;
    size_t rows = (size_t)spec->shape[0], cols = (size_t)spec->shape[1];
    size_t n_scales = is_dtype(dtype, "q8") ? rows : is_dtype(dtype, "q4") ? rows * q4_groups(cols) : 0;
    unsigned char *block = adopt ? *adopt : malloc(n_bytes ? n_bytes : 1);
    if (!block)
        return attn_fail(err, ATTN_ENOMEM, "tensor '%s': out of memory for %zu bytes", spec->key,
                         n_bytes);
    if (adopt) *adopt = NULL;
    copy_host_order(block, src, n_bytes, n_scales, is_dtype(dtype, "f16"));
    m->tables[idx] = (attn_table){
        .dtype = dtype_code(dtype), .rows = rows, .cols = cols,
        .scales = n_scales ? (const float *)(void *)block : NULL,
        .values = block + n_scales * sizeof(float), .block = block, .n_bytes = n_bytes,
    };
    return ATTN_OK;
}

/* The value of each 4-bit two's-complement nibble. */
static const float Q4_NIBBLE[16] = { 0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1 };

_Static_assert(ATTN_Q4_GROUP == ATTN_KERNELS_Q4_GROUP, "q4 groups: model.h and kernels.h");

/* out[n] = values c0 .. c0+n-1 of a q4 row (the hot loop of embedding lookups in kept q4
 * tables): whole groups by the SIMD kernel, the part of a group at either end a byte (two
 * values) at a time with the same products. */
static void decode_q4_span(const unsigned char *row, const float *scales, size_t c0, size_t n,
                           float *out) {
    size_t c = c0, end = c0 + n;
    while (c < end) {
        if (c % ATTN_Q4_GROUP == 0 && end - c >= ATTN_Q4_GROUP) {
            const size_t groups = (end - c) / ATTN_Q4_GROUP;
            attn_kernels_best()->q4_to_f32(out, row + c / 2, scales + c / ATTN_Q4_GROUP, groups);
            c += groups * ATTN_Q4_GROUP;
            out += groups * ATTN_Q4_GROUP;
            continue;
        }
        const float scale = scales[c / ATTN_Q4_GROUP];
        size_t group_end = (c / ATTN_Q4_GROUP + 1) * ATTN_Q4_GROUP;
        if (group_end > end) group_end = end;
        if (c % 2) { *out++ = Q4_NIBBLE[row[c / 2] >> 4] * scale; c++; }
        for (; c + 2 <= group_end; c += 2) {
            const unsigned char b = row[c / 2];
            out[0] = Q4_NIBBLE[b & 0x0f] * scale;
            out[1] = Q4_NIBBLE[b >> 4] * scale;
            out += 2;
        }
        if (c < group_end) { *out++ = Q4_NIBBLE[row[c / 2] & 0x0f] * scale; c++; }
    }
}

void attn_table_decode(const attn_table *t, size_t r, size_t c0, size_t n, float *out) {
    if (t->dtype == ATTN_DTYPE_F16) {
        const uint16_t *h = (const uint16_t *)t->values + r * t->cols + c0;
        attn_kernels_best()->f16_to_f32(out, h, n);
    } else if (t->dtype == ATTN_DTYPE_Q8) {
        const int8_t *q = (const int8_t *)t->values + r * t->cols + c0;
        const float scale = t->scales[r];
        for (size_t i = 0; i < n; i++) out[i] = (float)q[i] * scale;
    } else if (t->dtype == ATTN_DTYPE_Q4) {
        const unsigned char *row = (const unsigned char *)t->values + r * q4_row_bytes(t->cols);
        decode_q4_span(row, t->scales + r * q4_groups(t->cols), c0, n, out);
    }
}

const attn_table *attn_model_kept(const attn_model *m, const char *key) {
    const int idx = m && m->tables && key ? attn_model_tensor_index(m, key) : -1;
    return idx >= 0 && m->tables[idx].dtype != ATTN_DTYPE_NONE ? &m->tables[idx] : NULL;
}

void attn_model_read_values(const attn_model *m, size_t idx, size_t n, float *out) {
    const attn_tensor_spec *spec = &m->specs[idx];
    const attn_table *t = m->tables ? &m->tables[idx] : NULL;
    if (!t || t->dtype == ATTN_DTYPE_NONE) {
        memcpy(out, m->params + spec->offset, n * sizeof *out);
        return;
    }
    for (size_t r = 0; r * t->cols < n; r++) {
        size_t len = n - r * t->cols < t->cols ? n - r * t->cols : t->cols;
        attn_table_decode(t, r, 0, len, out + r * t->cols);
    }
}

int attn_model_copy(const attn_model *src, attn_model **out, attn_error *err) {
    *out = NULL;
    if (!src || !src->finished) return attn_fail(err, ATTN_EINVAL, "model: no finished model to copy");
    attn_model *m;
    int rc = attn_model_new(src->cfg.json, strlen(src->cfg.json), &m, err);
    if (rc) return rc;
    for (size_t i = 0; i < m->n_specs; i++) {
        attn_model_read_values(src, i, src->specs[i].size, m->params + m->specs[i].offset);
        m->given[i] = ATTN_DTYPE_F32;
    }
    attn_gazetteer_release(m->gazetteer);
    m->gazetteer = attn_gazetteer_ref(src->gazetteer);
    rc = attn_model_finish(m, err);
    if (rc) { attn_model_free(m); return rc; }
    *out = m;
    return ATTN_OK;
}

int attn_model_max_difference(const attn_model *a, const attn_model *b, double *out,
                              attn_error *err) {
    *out = 0.0;
    size_t largest = 1;
    int same = a->n_specs == b->n_specs;
    for (size_t i = 0; same && i < a->n_specs; i++) {
        same = a->specs[i].size == b->specs[i].size && strcmp(a->specs[i].key, b->specs[i].key) == 0;
        if (a->specs[i].size > largest) largest = a->specs[i].size;
    }
    if (!same) return attn_fail(err, ATTN_EINVAL, "model: the two models have different tensors");
    float *x = malloc(2 * largest * sizeof *x);
    if (!x) return attn_fail(err, ATTN_ENOMEM, "out of memory (comparing models)");
    float *y = x + largest;
    double worst = 0.0;
    for (size_t i = 0; i < a->n_specs; i++) {
        attn_model_read_values(a, i, a->specs[i].size, x);
        attn_model_read_values(b, i, b->specs[i].size, y);
        for (size_t k = 0; k < a->specs[i].size; k++)
            worst = fmax(worst, fabs((double)x[k] - (double)y[k]));
    }
    free(x);
    *out = worst;
    return ATTN_OK;
}

size_t attn_model_bytes(const attn_model *m) {
    if (!m) return 0;
    size_t bytes = m->n_params * sizeof(float);
    for (size_t i = 0; m->tables && i < m->n_specs; i++)
        if (m->tables[i].dtype != ATTN_DTYPE_NONE)
            bytes = bytes - m->specs[i].size * sizeof(float) + m->tables[i].n_bytes;
    return bytes + attn_gazetteer_bytes(m->gazetteer);
}

/* ---- setting a tensor ------------------------------------------------------------------- */

/* attn_model_set_tensor; adopt: NULL, or &(data's malloc'd buffer) for keep_stored to take. */
static int set_tensor(attn_model *m, const char *key, const char *dtype, const char *shape_json,
                      const void *data, size_t n_bytes, void **adopt, attn_error *err) {
    if (!m || !key) return attn_fail(err, ATTN_EINVAL, "model: no model or no tensor key");
    if (m->finished)
        return attn_fail(err, ATTN_EINVAL, "tensor '%.100s': the model is already finished", key);
    if (attn_gazetteer_is_key(key))
        return m->gazetteer ? attn_gazetteer_add_row(m->gazetteer, key, dtype, shape_json, data,
                                                     n_bytes, m->stop, m->stop_user, err)
                            : attn_fail(err, ATTN_EMODEL, "row '%.100s': the model has no "
                                        "gazetteer feature", key);
    int idx = attn_model_tensor_index(m, key);
    if (idx < 0)
        return attn_fail(err, ATTN_EMODEL, "tensor '%.100s': not part of this model's config", key);
    const attn_tensor_spec *spec = &m->specs[idx];
    if (m->given[idx]) return attn_fail(err, ATTN_EMODEL, "tensor '%s': given twice", key);
    int rc = check_dtype(spec, dtype, err);
    if (!rc) rc = check_shape(spec, shape_json, err);
    if (!rc) rc = check_byte_count(spec, dtype, data, n_bytes, err);
    if (rc) return rc;
    if (keeps_stored(m, spec, dtype)) {
        rc = keep_stored(m, idx, dtype, data, n_bytes, adopt, err);
        if (rc) return rc;
    } else {
        float *dst = m->params + spec->offset;
        rc = decode_tensor(spec, dtype, dst, data, err);
        if (!rc) rc = check_finite(spec, dst, err);
        if (rc) { memset(dst, 0, spec->size * sizeof *dst); return rc; }
    }
    m->given[idx] = (unsigned char)dtype_code(dtype);
    return ATTN_OK;
}

int attn_model_set_tensor(attn_model *m, const char *key, const char *dtype,
                          const char *shape_json, const void *data, size_t n_bytes,
                          attn_error *err) {
    return set_tensor(m, key, dtype, shape_json, data, n_bytes, NULL, err);
}

int attn_model_set_tensor_owned(attn_model *m, const char *key, const char *dtype,
                                const char *shape_json, void *data, size_t n_bytes,
                                attn_error *err) {
    int rc = set_tensor(m, key, dtype, shape_json, data, n_bytes, data ? &data : NULL, err);
    free(data);         /* NULL when a kept table adopted it */
    return rc;
}

attn_dtype attn_model_stored_dtype(const attn_model *m, const char *key) {
    int idx = m && key ? attn_model_tensor_index(m, key) : -1;
    return idx < 0 ? ATTN_DTYPE_NONE : (attn_dtype)m->given[idx];
}

int attn_model_finish(attn_model *m, attn_error *err) {
    if (!m) return attn_fail(err, ATTN_EINVAL, "model: no model");
    for (size_t i = 0; i < m->n_specs; i++)
        if (!m->given[i])
            return attn_fail(err, ATTN_EMODEL, "model: tensor '%s' is missing", m->specs[i].key);
    attn_weights_bind(&m->cfg, m->specs, m->n_specs, m->params, &m->w);
    for (size_t i = 0; m->tables && i < m->n_specs; i++) {
        const int f = feature_of_key(&m->cfg, m->specs[i].key);
        if (f >= 0 && m->tables[i].dtype != ATTN_DTYPE_NONE) m->w.embed_table[f] = &m->tables[i];
    }
    m->finished = 1;
    return ATTN_OK;
}

/* One float to half: round to nearest even on the bits (no F16C needed; writing models is not
 * a hot path). */
static uint16_t f32_to_f16_one(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t exp = (x >> 23) & 0xffu, mant = x & 0x7fffffu;
    if (exp == 0xffu) /* inf or NaN (NaN kept quiet) */
        return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00u);          /* overflow: inf */
    if (e <= 0) {                                               /* subnormal half or zero */
        if (e < -10) return sign;
        mant |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = mant >> shift, rest = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rest > mid || (rest == mid && (half & 1u))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (mant >> 13), rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) half++;  /* may carry into inf: right */
    return (uint16_t)(sign | half);
}

void attn_f32_to_f16(uint16_t *out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = f32_to_f16_one(in[i]);
}

/* ---- writing: q8 and the storage choices ------------------------------------------------- */

void attn_quantize_symmetric(const float *x, size_t n, int qmax, float *scale, int8_t *q) {
    float max_abs = 0.0f;
    for (size_t i = 0; i < n; i++) max_abs = fmaxf(max_abs, fabsf(x[i]));
    *scale = max_abs / (float)qmax;
    for (size_t i = 0; i < n; i++) {
        float v = *scale > 0.0f ? roundf(x[i] / *scale) : 0.0f;
        /* Clamp, NaN to 0 (a finite x never gives NaN; a cast of NaN would be undefined). */
        v = v > (float)qmax ? (float)qmax : v < -(float)qmax ? -(float)qmax : v == v ? v : 0.0f;
        q[i] = (int8_t)v;
    }
}

void attn_quantize_rows_q8(const float *x, size_t rows, size_t cols, float *scales, int8_t *q) {
    for (size_t r = 0; r < rows; r++)
        attn_quantize_symmetric(x + r * cols, cols, ATTN_Q8_MAX, &scales[r], q + r * cols);
}

int attn_is_encoder_tensor(const char *key) {
    return strncmp(key, "embed.", 6) == 0 || strncmp(key, "layers.", 7) == 0 ||
           strcmp(key, "pos") == 0 || strncmp(key, "final_ln.", 9) == 0;
}

/* The encoder's linear weights: "embed.proj.w" and the 2-D ".w" tensors under "layers."
 * ("layers.N.attn.qkv.w", ".attn.out.w", ".ffn.up.w", ".ffn.down.w"; LayerNorm weights are
 * 1-D; ".attn.rel_bias" is added to scores, no linear). */
static int is_encoder_linear_weight(const attn_tensor_spec *t) {
    return t->ndim == 2 && ((strncmp(t->key, "layers.", 7) == 0 && attn_ends_with(t->key, ".w")) ||
                            strcmp(t->key, "embed.proj.w") == 0);
}

const char *attn_storage_dtype(attn_storage s, const attn_tensor_spec *t) {
    if (s == ATTN_STORE_F32) return "f32";
    const int int8_linears = s == ATTN_STORE_Q4_INT8 || s == ATTN_STORE_Q8_INT8;
    if (int8_linears && is_encoder_linear_weight(t)) return "q8";
    int embedding_table = t->ndim == 2 && strncmp(t->key, "embed.", 6) == 0 &&
                          strcmp(t->key, "embed.proj.w") != 0;
    if (!embedding_table || s == ATTN_STORE_F16) return "f16";
    int q4 = s == ATTN_STORE_Q4 || s == ATTN_STORE_Q4_INT8;
    return q4 && t->shape[1] >= ATTN_Q4_GROUP ? "q4" : "q8";
}

static int encode_q8(const attn_tensor_spec *t, const float *values, unsigned char *out,
                     attn_error *err) {
    size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1];
    float *scales = malloc((rows ? rows : 1) * sizeof *scales);
    if (!scales) return attn_fail(err, ATTN_ENOMEM, "tensor '%s': out of memory", t->key);
    attn_quantize_rows_q8(values, rows, cols, scales, (int8_t *)(out + rows * sizeof(float)));
    for (size_t r = 0; r < rows; r++) attn_store_f32_le(out + r * sizeof(float), scales[r]);
    free(scales);
    return ATTN_OK;
}

/* Rows in the q4 layout of model.h: each group quantised on its own, two values a byte. */
static void encode_q4(const attn_tensor_spec *t, const float *values, unsigned char *out) {
    size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1];
    size_t groups = q4_groups(cols), row_bytes = q4_row_bytes(cols);
    unsigned char *q = out + rows * groups * sizeof(float);
    memset(q, 0, rows * row_bytes);
    for (size_t r = 0; r < rows; r++) {
        for (size_t g = 0; g < groups; g++) {
            size_t c0 = g * ATTN_Q4_GROUP;
            size_t n = cols - c0 < ATTN_Q4_GROUP ? cols - c0 : ATTN_Q4_GROUP;
            int8_t v[ATTN_Q4_GROUP];
            float scale;
            attn_quantize_symmetric(values + r * cols + c0, n, ATTN_Q4_MAX, &scale, v);
            attn_store_f32_le(out + (r * groups + g) * sizeof(float), scale);
            for (size_t i = 0; i < n; i++) {
                size_t c = c0 + i;
                unsigned nibble = (unsigned)v[i] & 0x0fu;
                q[r * row_bytes + c / 2] |= (unsigned char)(c % 2 ? nibble << 4 : nibble);
            }
        }
    }
}

int attn_tensor_encode(const attn_tensor_spec *t, const char *dtype, const float *values,
                       void *out, attn_error *err) {
    if (!dtype_known(dtype) || (is_quantized(dtype) && t->ndim != 2))
        return attn_fail(err, ATTN_EINVAL, "tensor '%s': cannot store as dtype '%.32s'", t->key,
                         dtype ? dtype : "(null)");
    unsigned char *b = out;
    if (is_dtype(dtype, "q8")) return encode_q8(t, values, b, err);
    if (is_dtype(dtype, "q4")) { encode_q4(t, values, b); return ATTN_OK; }
    if (is_dtype(dtype, "f16")) {
        for (size_t i = 0; i < t->size; i++) {
            uint16_t h;
            attn_f32_to_f16(&h, &values[i], 1);
            b[2 * i] = (unsigned char)(h & 0xff);
            b[2 * i + 1] = (unsigned char)(h >> 8);
        }
        return ATTN_OK;
    }
    for (size_t i = 0; i < t->size; i++) attn_store_f32_le(b + 4 * i, values[i]);
    return ATTN_OK;
}

/* ---- writing a model, and copying an encoder ---------------------------------------------- */

size_t attn_model_n_tensors(const attn_model *m) { return m->n_specs; }

int attn_model_stored_tensor(const attn_model *m, size_t i, attn_storage storage,
                             attn_stored_tensor *info, void *out, attn_error *err) {
    if (i >= m->n_specs)
        return attn_fail(err, ATTN_EINVAL, "tensor %zu out of range (%zu tensors)", i,
                         m->n_specs);
    const attn_tensor_spec *t = &m->specs[i];
    info->key = t->key;
    info->dtype = attn_storage_dtype(storage, t);
    if (t->ndim == 1) snprintf(info->shape, sizeof info->shape, "[%lld]", (long long)t->shape[0]);
    else snprintf(info->shape, sizeof info->shape, "[%lld,%lld]", (long long)t->shape[0],
                  (long long)t->shape[1]);
    info->n_bytes = attn_tensor_stored_bytes(t, info->dtype);
    return out ? attn_tensor_encode(t, info->dtype, m->params + t->offset, out, err) : ATTN_OK;
}

void attn_model_copy_encoder(attn_model *dst, const attn_model *src) {
    for (size_t i = 0; i < dst->n_specs; i++) {
        const attn_tensor_spec *d = &dst->specs[i];
        if (!attn_is_encoder_tensor(d->key)) continue;
        const int j = attn_tensor_find(src->specs, src->n_specs, d->key);
        if (j < 0) continue;
        const attn_tensor_spec *s = &src->specs[j];
        const int same = s->ndim == d->ndim && s->shape[0] == d->shape[0] &&
                         (d->ndim == 1 || s->shape[1] == d->shape[1]);
        const int pos = strcmp(d->key, "pos") == 0 && d->ndim == 2 && s->ndim == 2 &&
                        s->shape[1] == d->shape[1];
        size_t n = same ? d->size : 0;
        if (!same && pos)
            n = (size_t)(s->shape[0] < d->shape[0] ? s->shape[0] : d->shape[0]) *
                (size_t)d->shape[1];
        if (n) attn_model_read_values(src, (size_t)j, n, dst->params + d->offset);
    }
    /* The lists go with the gazetteer table that learned them: shared when the names agree. */
    for (int f = 0; f < dst->cfg.n_features; f++)
        if (dst->cfg.features[f].kind == ATTN_FEAT_GAZETTEER &&
            attn_gazetteer_fits(src->gazetteer, &dst->cfg.features[f])) {
            attn_gazetteer_release(dst->gazetteer);
            dst->gazetteer = attn_gazetteer_ref(src->gazetteer);
        }
}

/* The tag of dst's tag k in src's tag set (BIO: 0 = O, 1 + 2i = B-i, 2 + 2i = I-i), or -1. */
static int mapped_tag(int k, const int *label_map) {
    if (k == 0) return 0;
    const int from = label_map[(k - 1) / 2];
    return from < 0 ? -1 : 1 + 2 * from + (k - 1) % 2;
}

/* src's tensor key (read whole, decoded) into a malloc'd buffer, or NULL (ENOMEM). */
static float *read_tensor(const attn_model *src, const char *key, const attn_tensor_spec **spec) {
    const int j = attn_tensor_find(src->specs, src->n_specs, key);
    *spec = &src->specs[j];
    float *values = malloc((*spec)->size * sizeof *values);
    if (values) attn_model_read_values(src, (size_t)j, (*spec)->size, values);
    return values;
}

int attn_model_copy_tagger(attn_model *dst, const attn_model *src, const int *label_map,
                           attn_error *err) {
    if (!(dst->cfg.tasks & ATTN_TASK_ENTITIES) || !(src->cfg.tasks & ATTN_TASK_ENTITIES))
        return attn_fail(err, ATTN_EINVAL, "copy tagger: both models need the entities head");
    if (dst->cfg.dim != src->cfg.dim)
        return attn_fail(err, ATTN_EINVAL, "copy tagger: dim %d differs from the source's %d",
                         dst->cfg.dim, src->cfg.dim);
    for (int i = 0; i < dst->cfg.entity_labels.n; i++)
        if (label_map[i] < -1 || label_map[i] >= src->cfg.entity_labels.n)
            return attn_fail(err, ATTN_EINVAL, "copy tagger: label %d maps outside the "
                             "source's %d labels", i, src->cfg.entity_labels.n);
    static const char *const keys[] = {"tag.w", "tag.b", "crf.trans", "crf.start", "crf.end"};
    const int K = attn_config_n_tags(&dst->cfg);
    for (size_t t = 0; t < sizeof keys / sizeof *keys; t++) {
        const attn_tensor_spec *s;
        float *from = read_tensor(src, keys[t], &s);
        if (!from) return attn_fail(err, ATTN_ENOMEM, "copy tagger: out of memory");
        const attn_tensor_spec *d = &dst->specs[attn_tensor_find(dst->specs, dst->n_specs, keys[t])];
        float *to = dst->params + d->offset;
        /* crf.trans [from tag, to tag] maps both axes; the others a row per tag (tag.w: dim
         * wide, the 1-D ones: one value). */
        const int both_axes = strcmp(keys[t], "crf.trans") == 0;
        const size_t width = d->ndim == 2 && !both_axes ? (size_t)d->shape[1] : 1;
        for (int a = 0; a < K; a++) {
            const int sa = mapped_tag(a, label_map);
            if (sa < 0) continue;
            if (!both_axes) {
                memcpy(to + a * width, from + sa * width, width * sizeof *to);
                continue;
            }
            for (int b = 0; b < K; b++) {
                const int sb = mapped_tag(b, label_map);
                if (sb >= 0) to[(size_t)a * K + b] = from[(size_t)sa * s->shape[0] + sb];
            }
        }
        free(from);
    }
    return ATTN_OK;
}
