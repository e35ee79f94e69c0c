/* model.c: a model's parameters in one aligned buffer, loaded tensor by tensor from untrusted
 * stored bytes, with named views bound once every tensor is in. */
#include "model.h"
#include "json.h"
#include "kernels.h"

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
};

static const view_field LAYER_VIEWS[] = {
    { "ln1.w", offsetof(attn_layer_weights, ln1_w) },
    { "ln1.b", offsetof(attn_layer_weights, ln1_b) },
    { "attn.qkv.w", offsetof(attn_layer_weights, qkv_w) },
    { "attn.qkv.b", offsetof(attn_layer_weights, qkv_b) },
    { "attn.out.w", offsetof(attn_layer_weights, out_w) },
    { "attn.out.b", offsetof(attn_layer_weights, out_b) },
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

/* "embed.<kind>": the view of the feature with that kind, in config order. */
static int bind_embed_view(const attn_config *cfg, const char *key, const float *p, attn_weights *w) {
    if (strncmp(key, "embed.", 6) != 0) return 0;
    for (int f = 0; f < cfg->n_features; f++) {
        const char *name = attn_feature_name(cfg->features[f].kind);
        if (name && strcmp(key + 6, name) == 0) {
            w->embed[f] = p;
            return 1;
        }
    }
    return 0;
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
    free(m);
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

static int host_is_little_endian(void) {
    const uint32_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

/* dst[n] from n little-endian f32 values at src (any alignment). */
static void decode_f32(float *dst, const unsigned char *src, size_t n) {
    memcpy(dst, src, n * sizeof(float));
    if (host_is_little_endian()) return;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *b = src + 4 * i;
        uint32_t bits = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        memcpy(&dst[i], &bits, sizeof bits);
    }
}

/* dst[n] from n little-endian IEEE halves at src, in chunks through the kernel table. */
static void decode_f16(float *dst, const unsigned char *src, size_t n) {
    const attn_kernels *k = attn_kernels_best();
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

static int check_finite(const attn_tensor_spec *spec, const float *x, attn_error *err) {
    for (size_t i = 0; i < spec->size; i++) {
        if (isfinite(x[i])) continue;
        const char *what = isnan(x[i]) ? "NaN" : (x[i] > 0 ? "+Inf" : "-Inf");
        return attn_fail(err, ATTN_EMODEL, "tensor '%s': element %zu is %s", spec->key, i, what);
    }
    return ATTN_OK;
}

/* Bytes per value of a stored dtype, or 0 if unknown. */
static size_t dtype_bytes(const char *dtype) {
    if (dtype && strcmp(dtype, "f32") == 0) return 4;
    if (dtype && strcmp(dtype, "f16") == 0) return 2;
    return 0;
}

int attn_model_set_tensor(attn_model *m, const char *key, const char *dtype,
                          const char *shape_json, const void *data, size_t n_bytes,
                          attn_error *err) {
    if (!m || !key) return attn_fail(err, ATTN_EINVAL, "model: no model or no tensor key");
    if (m->finished)
        return attn_fail(err, ATTN_EINVAL, "tensor '%.100s': the model is already finished", key);
    int idx = attn_model_tensor_index(m, key);
    if (idx < 0)
        return attn_fail(err, ATTN_EMODEL, "tensor '%.100s': not part of this model's config", key);
    const attn_tensor_spec *spec = &m->specs[idx];
    if (m->given[idx]) return attn_fail(err, ATTN_EMODEL, "tensor '%s': given twice", key);
    size_t width = dtype_bytes(dtype);
    if (!width)
        return attn_fail(err, ATTN_EMODEL, "tensor '%s': dtype '%.32s' is not supported (expected f32 or f16)",
                         key, dtype ? dtype : "(null)");
    int rc = check_shape(spec, shape_json, err);
    if (rc) return rc;
    uint64_t expected = (uint64_t)spec->size * width;
    if ((uint64_t)n_bytes != expected || (!data && n_bytes))
        return attn_fail(err, ATTN_EMODEL, "tensor '%s': %llu bytes expected (%zu %s values), found %zu",
                         key, (unsigned long long)expected, spec->size, dtype, data ? n_bytes : 0);
    float *dst = m->params + spec->offset;
    if (width == 4) decode_f32(dst, data, spec->size);
    else decode_f16(dst, data, spec->size);
    rc = check_finite(spec, dst, err);
    if (rc) { memset(dst, 0, spec->size * sizeof *dst); return rc; }
    m->given[idx] = 1;
    return ATTN_OK;
}

int attn_model_finish(attn_model *m, attn_error *err) {
    if (!m) return attn_fail(err, ATTN_EINVAL, "model: no model");
    for (size_t i = 0; i < m->n_specs; i++)
        if (!m->given[i])
            return attn_fail(err, ATTN_EMODEL, "model: tensor '%s' is missing", m->specs[i].key);
    attn_weights_bind(&m->cfg, m->specs, m->n_specs, m->params, &m->w);
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
