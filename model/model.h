/* model.h: a model in memory: its config and every tensor, in one contiguous f32 buffer
 * with named views into it (llm.c style, so the trainer can lay gradients and optimiser state
 * out the same way by binding the same views to another buffer).
 *
 * Loading is the attack surface (a user may open a database someone else made), so it trusts
 * nothing: attn_model_set_tensor checks the key is one the config implies, the dtype is known,
 * the shape text equals the expected shape, the byte count equals shape x dtype size, and every
 * value is finite; attn_model_finish checks every tensor was given exactly once. Errors name the
 * key: "tensor 'layers.1.ffn.up.w': shape [512,256] expected, found [256,512]".
 *
 * A finished model is read-only and may be shared by any number of threads. */
#ifndef ATTN_MODEL_H
#define ATTN_MODEL_H

#include "config.h"

typedef struct attn_layer_weights {
    const float *ln1_w, *ln1_b;      /* [D] */
    const float *qkv_w, *qkv_b;      /* [3D, D], [3D] */
    const float *out_w, *out_b;      /* [D, D], [D] */
    const float *ln2_w, *ln2_b;      /* [D] */
    const float *up_w, *up_b;        /* [F, D], [F] */
    const float *down_w, *down_b;    /* [D, F], [D] */
} attn_layer_weights;

typedef struct attn_weights {
    const float *embed[ATTN_MAX_FEATURES];  /* [buckets_f, dim_f] */
    const float *proj_w, *proj_b;           /* [D, sum dim_f], [D] */
    const float *pos;                       /* [max_len, D] */
    attn_layer_weights layer[ATTN_MAX_LAYERS];
    const float *final_ln_w, *final_ln_b;   /* [D] */
    const float *cls_w, *cls_b;             /* [L, 2D], [L]          (classify) */
    const float *tag_w, *tag_b;             /* [K, D], [K]           (entities) */
    const float *crf_trans, *crf_start, *crf_end; /* [K, K], [K], [K] */
    const float *rel_type;                  /* [E, TD]               (relations) */
    const float *rel_hidden_w, *rel_hidden_b; /* [RH, 3D + 2TD], [RH] */
    const float *rel_out_w, *rel_out_b;     /* [R + 1, RH], [R + 1] */
} attn_weights;

/* Points every view of *w into base (a buffer of n_params floats laid out by specs). */
void attn_weights_bind(const attn_config *cfg, const attn_tensor_spec *specs, size_t n_specs,
                       const float *base, attn_weights *w);

typedef struct attn_model {
    attn_config cfg;
    attn_tensor_spec *specs;    /* [n_specs] */
    size_t n_specs;
    float *params;              /* [n_params], owned; 64-byte aligned, padding zero */
    void *params_block;         /* the allocation params points into (freed by attn_model_free) */
    size_t n_params;
    unsigned char *given;       /* [n_specs]: tensor already set (loading only) */
    int finished;               /* attn_model_finish succeeded: read-only from now on */
    attn_weights w;
    /* Inference copy of the encoder's linear weights in GEMM panels (attn_encoder_prepare,
     * encoder.h), one allocation freed by attn_model_free; NULL: the unpacked sgemm path. */
    struct attn_encoder_packed *packed;
} attn_model;

typedef struct attn_encoder_packed attn_encoder_packed;

/* Starts a model from its config JSON: parses it, allocates the (zeroed) parameter buffer. */
int attn_model_new(const char *config_json, size_t n, attn_model **out, attn_error *err);

/* Stored dtypes (the attn_model table's dtype column), all little-endian:
 *   "f32"  IEEE single, 4 bytes a value.
 *   "f16"  IEEE half, 2 bytes a value.
 *   "q8"   2-D tensors only, one scale per row: first [rows] f32 scales, then [rows, cols]
 *          int8 values, row-major; value[r][c] = q[r][c] * scale[r]. rows * 4 + rows * cols
 *          bytes. Scales must be finite and >= 0; q must be in [-127, 127] (-128 is refused,
 *          the format is symmetric). About a quarter of f32 for wide rows: it is meant for the
 *          embedding tables, which dominate a model's size.
 *   "q4"   2-D tensors only, one scale per group of 32 consecutive values of a row (the last
 *          group of a row may be shorter): first [rows, groups] f32 scales, groups =
 *          ceil(cols / 32), then each row as ceil(cols / 2) bytes of 4-bit two's-complement
 *          values, value c in byte c / 2, low nibble for even c; value[r][c] = q * scale of
 *          its group. q must be in [-7, 7] (-8 is refused); scales finite and >= 0. About an
 *          eighth of f32: for the widest embedding tables (q4 storage below).
 * Every dtype is decoded into the f32 parameter buffer at load: the engine computes in f32. */
#define ATTN_Q8_MAX 127             /* |q| of a q8 value */
#define ATTN_Q4_MAX 7               /* |q| of a q4 value */
#define ATTN_Q4_GROUP 32            /* values of a row sharing one q4 scale */

/* Sets one tensor from stored bytes. dtype: "f32", "f16", "q8" or "q4" (above).
 * shape_json: the stored shape text, e.g. "[256,1024]" (JSON array of non-negative ints). */
int attn_model_set_tensor(attn_model *m, const char *key, const char *dtype,
                          const char *shape_json, const void *data, size_t n_bytes,
                          attn_error *err);

/* Checks every tensor was set; binds the views. After this the model is read-only. */
int attn_model_finish(attn_model *m, attn_error *err);

void attn_model_free(attn_model *m);

/* float -> IEEE half, round to nearest even; overflow gives +-inf, NaN stays NaN (quiet).
 * For writing f16 tensors. */
void attn_f32_to_f16(uint16_t *out, const float *in, size_t n);

/* Symmetric per-row int8 quantization, for writing q8 tensors. x [rows, cols] (finite);
 * scales [rows] = max |x[r][.]| / 127 (0 for an all-zero row); q [rows, cols] =
 * round-to-nearest(x / scale), ties away from zero, clamped to [-127, 127]. Dequantized values
 * q * scale are within scale / 2 of x. */
void attn_quantize_rows_q8(const float *x, size_t rows, size_t cols, float *scales, int8_t *q);

/* Symmetric int8 quantization of n values (finite) with one scale: *scale = max |x| / qmax
 * (0 when all are 0), q[i] = round(x[i] / scale), clamped to [-qmax, qmax]. The building block
 * of q8 (qmax 127, one call per row) and q4 (qmax 7, one call per group). */
void attn_quantize_symmetric(const float *x, size_t n, int qmax, float *scale, int8_t *q);

/* How a writer stores a model's tensors: every tensor f32, every tensor f16, "q8" storage:
 * 2-D embedding tables (keys "embed.*" except the projection "embed.proj.w") as q8, every
 * other tensor as f16; or "q4" storage: as q8 storage, but embedding tables at least
 * ATTN_Q4_GROUP wide (the big word and subword tables) as q4. The order is the option order
 * of attn_train's 'dtype'. */
typedef enum attn_storage { ATTN_STORE_F32, ATTN_STORE_F16, ATTN_STORE_Q8, ATTN_STORE_Q4 } attn_storage;

/* The dtype ("f32", "f16", "q8" or "q4") tensor t is stored as under storage s. */
const char *attn_storage_dtype(attn_storage s, const attn_tensor_spec *t);

/* Bytes of tensor t stored as dtype ("f32", "f16", or "q8"/"q4" for a 2-D t); 0 otherwise. */
size_t attn_tensor_stored_bytes(const attn_tensor_spec *t, const char *dtype);

/* Encodes values [t->size] as dtype into out [attn_tensor_stored_bytes(t, dtype)], in the
 * byte layout attn_model_set_tensor reads. Returns ATTN_EINVAL (message in err) for a dtype
 * attn_tensor_stored_bytes does not know, ATTN_ENOMEM if the q8 scratch cannot be allocated. */
int attn_tensor_encode(const attn_tensor_spec *t, const char *dtype, const float *values,
                       void *out, attn_error *err);

/* Parameter count (floats): the sum of the tensor sizes, without the alignment padding that
 * n_params (the buffer length) includes. */
size_t attn_model_param_count(const attn_model *m);

/* Index into m->specs of the tensor with this key, or -1 if the config implies no such key. */
int attn_model_tensor_index(const attn_model *m, const char *key);

#endif
