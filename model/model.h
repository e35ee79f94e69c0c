/* model.h: a model in memory: its config and every tensor, in one contiguous f32 buffer
 * with named views into it (llm.c style, so the trainer can lay gradients and optimiser state
 * out the same way by binding the same views to another buffer). An inference-only model
 * (attn_model_set_inference_only: every model the extension loads) keeps its f16/q8/q4
 * embedding tables in their stored form instead, decoded a row at a time on lookup, and its
 * q8 linear weights too, which the encoder packs for its int8 kernels straight from the
 * stored ints (attn_encoder_prepare).
 *
 * Loading is the attack surface (a user may open a database someone else made), so it trusts
 * nothing: attn_model_set_tensor checks the key is one the config implies, the dtype is known,
 * the shape text equals the expected shape, the byte count equals shape x dtype size, and every
 * value is finite; attn_model_finish checks every tensor was given exactly once. Errors name the
 * key: "tensor 'layers.1.ffn.up.w': shape [512,256] expected, found [256,512]". The rows of a
 * gazetteer feature's lists ('gazetteer.<list>[.<part>]', gazetteer.h) come the same way and
 * are checked by attn_gazetteer_add_row, within its limits.
 *
 * A finished model is read-only and may be shared by any number of threads. */
#ifndef ATTN_MODEL_H
#define ATTN_MODEL_H

#include "config.h"
#include "gazetteer.h"

typedef struct attn_layer_weights {
    const float *ln1_w, *ln1_b;      /* [D] */
    const float *qkv_w, *qkv_b;      /* [3D, D], [3D] */
    const float *out_w, *out_b;      /* [D, D], [D] */
    const float *rel_bias;           /* [H, 2k+1], k = rel_positions; NULL when 0 */
    const float *ln2_w, *ln2_b;      /* [D] */
    const float *up_w, *up_b;        /* [F, D], [F] */
    const float *down_w, *down_b;    /* [D, F], [D] */
} attn_layer_weights;

typedef struct attn_weights {
    const float *embed[ATTN_MAX_FEATURES];  /* [buckets_f, dim_f] */
    /* Non-NULL: table f kept in its stored form (an inference-only model, attn_model_set_
     * inference_only); embed[f] then points at zeros and rows are read through attn_table_decode
     * (attn_embed_forward does). NULL (always for gradient views): embed[f] holds the values. */
    const struct attn_table *embed_table[ATTN_MAX_FEATURES];
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
    const float *mlm_w, *mlm_b;             /* [V, D], [V]           (mlm) */
    const float *rtd_w, *rtd_b;             /* [1, D], [1]           (rtd) */
} attn_weights;

/* Points every view of *w into base (a buffer of n_params floats laid out by specs). */
void attn_weights_bind(const attn_config *cfg, const attn_tensor_spec *specs, size_t n_specs,
                       const float *base, attn_weights *w);

/* The stored dtypes of attn_model_set_tensor (below), as codes. */
typedef enum attn_dtype {
    ATTN_DTYPE_NONE = 0, ATTN_DTYPE_F32, ATTN_DTYPE_F16, ATTN_DTYPE_Q8, ATTN_DTYPE_Q4
} attn_dtype;

/* A tensor kept in its stored form (inference-only models: an embedding table, or a q8 linear
 * weight of the encoder): the stored values with scales in host byte order. attn_table_decode
 * gives exactly the f32 values the loader would have decoded (q * scale; the half as f32). */
typedef struct attn_table {
    attn_dtype dtype;           /* ATTN_DTYPE_F16, ATTN_DTYPE_Q8 or ATTN_DTYPE_Q4 */
    size_t rows, cols;
    const float *scales;        /* q8 [rows]; q4 [rows, ceil(cols / ATTN_Q4_GROUP)]; f16 NULL */
    const void *values;         /* f16: uint16_t [rows, cols]; q8: int8_t [rows, cols];
                                 * q4: [rows, ceil(cols / 2)] bytes in the stored nibble layout */
    void *block;                /* the one allocation holding scales and values (owned) */
    size_t n_bytes;             /* its size: the stored bytes */
} attn_table;

typedef struct attn_model {
    attn_config cfg;
    attn_tensor_spec *specs;    /* [n_specs] */
    size_t n_specs;
    float *params;              /* [n_params], owned; 64-byte aligned, padding zero */
    void *params_block;         /* the allocation params points into (freed by attn_model_free) */
    size_t n_params;
    unsigned char *given;       /* [n_specs]: 0 = not set yet, else the attn_dtype it was stored
                                 * as (inference may use it, e.g. int8 kernels for q8 weights) */
    int finished;               /* attn_model_finish succeeded: read-only from now on */
    int inference_only;         /* attn_model_set_inference_only was called */
    attn_table *tables;         /* [n_specs] or NULL: tables[i].dtype != NONE where tensor i is
                                 * kept stored (its f32 region in params stays zero, untouched,
                                 * and so does its view in w: a kept linear weight is read
                                 * through the encoder's packed copy only) */
    attn_weights w;
    /* Inference copy of the encoder's linear weights in GEMM panels (attn_encoder_prepare,
     * encoder.h), one allocation freed by attn_model_free; NULL: the unpacked sgemm path. */
    struct attn_encoder_packed *packed;
    /* The lists of the gazetteer feature (one reference; NULL without such a feature): what
     * attn_sequence_features matches the text against. Empty until rows are given. */
    attn_gazetteer *gazetteer;
    attn_stop_cb stop;          /* asked while long rows load (attn_model_set_stop) */
    void *stop_user;
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
 * Every dtype is decoded into the f32 parameter buffer at load (the engine computes in f32),
 * except the embedding tables of an inference-only model (attn_model_set_inference_only),
 * whose rows are decoded when looked up. */
#define ATTN_Q8_MAX 127             /* |q| of a q8 value */
#define ATTN_Q4_MAX 7               /* |q| of a q4 value */
#define ATTN_Q4_GROUP 32            /* values of a row sharing one q4 scale */

/* Sets one tensor from stored bytes. dtype: "f32", "f16", "q8" or "q4" (above).
 * shape_json: the stored shape text, e.g. "[256,1024]" (JSON array of non-negative ints).
 * A key beginning with "gazetteer." is not a tensor but one row of the gazetteer feature's
 * lists (gazetteer.h: dtype "text", shape "[]", data the entries a line), added to
 * m->gazetteer by attn_gazetteer_add_row, with its errors and limits; a model without a
 * gazetteer feature refuses it ("row 'gazetteer.X': the model has no gazetteer feature"). */
int attn_model_set_tensor(attn_model *m, const char *key, const char *dtype,
                          const char *shape_json, const void *data, size_t n_bytes,
                          attn_error *err);

/* attn_model_set_tensor for data in a malloc'd buffer, which it takes over whatever the
 * outcome: a table kept stored (attn_model_set_inference_only) keeps the buffer itself, saving
 * a copy of megabytes; otherwise it is freed once decoded. */
int attn_model_set_tensor_owned(attn_model *m, const char *key, const char *dtype,
                                const char *shape_json, void *data, size_t n_bytes,
                                attn_error *err);

/* The dtype tensor key was stored as (ATTN_DTYPE_NONE: no such tensor, or not set yet). */
attn_dtype attn_model_stored_dtype(const attn_model *m, const char *key);

/* The stop callback asked while a long row is taken in (the lists of a gazetteer, every 4096
 * lines), or NULL: a loader sets it (sqlite3_interrupt), and clears it before the model is
 * shared. */
void attn_model_set_stop(attn_model *m, attn_stop_cb stop, void *stop_user);

/* Replaces the lists of m's gazetteer feature by g (m takes one reference; the old one is
 * released): how a trainer gives a fresh model lists that are not rows (attn_train's option
 * 'gazetteers'). m must not be shared yet. ATTN_EINVAL when m has no gazetteer feature or g
 * was made for other list names. */
int attn_model_set_gazetteer(attn_model *m, attn_gazetteer *g, attn_error *err);

/* Checks every tensor was set; binds the views. After this the model is read-only. */
int attn_model_finish(attn_model *m, attn_error *err);

void attn_model_free(attn_model *m);

/* Marks a new model (no tensor set yet) as used for inference only: embedding tables given as
 * f16, q8 or q4, and the encoder's linear weights given as q8 ("embed.proj.w", "layers.N.*.w"),
 * then stay in that form in memory (m->tables; w.embed_table for the tables) instead of being
 * decoded into params, whose f32 region for them is never written (calloc'd pages: never
 * resident). Checked exactly as a decoded tensor would be, with the same errors. A 13M-parameter
 * model with q4 tables holds ~15 MB instead of 53. Such a model encodes only once
 * attn_encoder_prepare has packed its kept linear weights (attn_encode refuses it before).
 * Read its values with attn_model_read_values, never from params; it must not be trained (copy
 * it first: the trainer's models are always plain f32). ATTN_EINVAL if a tensor was already
 * set. */
int attn_model_set_inference_only(attn_model *m, attn_error *err);

/* The kept stored form of the tensor with this key, or NULL (not kept: its values are in
 * params). */
const attn_table *attn_model_kept(const attn_model *m, const char *key);

/* out[n] = values [c0, c0 + n) of row r of t (r < rows, c0 + n <= cols), bit for bit what the
 * loader decodes into f32. */
void attn_table_decode(const attn_table *t, size_t r, size_t c0, size_t n, float *out);

/* out[n] = the first n values (n <= size) of tensor idx (an index into m->specs) of a model
 * whose tensors are all set, row-major, whether kept stored or in params: how a copy of a model
 * (training from it, writing it) must read it. */
void attn_model_read_values(const attn_model *m, size_t idx, size_t n, float *out);

/* *out = a plain f32 model (trainable, not inference-only) with src's config and values, src
 * finished (a shared loaded model: training starts from a copy), sharing src's gazetteer.
 * ATTN_ENOMEM or ATTN_EINVAL. */
int attn_model_copy(const attn_model *src, attn_model **out, attn_error *err);

/* *out = the largest |a - b| over every value of two finished models with the same tensors
 * (a model and its copy read back from another storage: how much the storage changed it).
 * ATTN_EINVAL when their tensors differ, ATTN_ENOMEM. */
int attn_model_max_difference(const attn_model *a, const attn_model *b, double *out,
                              attn_error *err);

/* Bytes of parameter storage the model holds: params without the untouched f32 regions of
 * kept tables, plus the kept tables' stored bytes and the gazetteer's (the encoder's packed
 * copy not included). */
size_t attn_model_bytes(const attn_model *m);

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
 * other tensor as f16; "q4" storage: as q8 storage, but embedding tables at least
 * ATTN_Q4_GROUP wide (the big word and subword tables) as q4; or "q4-int8" storage: as q4
 * storage, plus the encoder's linear weights ("embed.proj.w", and "layers.N.attn.qkv.w",
 * "layers.N.attn.out.w", "layers.N.ffn.up.w", "layers.N.ffn.down.w") as q8, which makes
 * inference run them on the int8 kernels (encoder.h: attn_encoder_prepare chooses by the
 * stored dtype); "q8-int8" storage: as q8 storage, plus those linear weights as q8 (for a
 * model whose tables lose too much as q4). The order is the option order of attn_train's
 * 'dtype'. */
typedef enum attn_storage {
    ATTN_STORE_F32, ATTN_STORE_F16, ATTN_STORE_Q8, ATTN_STORE_Q4, ATTN_STORE_Q4_INT8,
    ATTN_STORE_Q8_INT8
} attn_storage;

/* 1 if the tensor with this key belongs to the encoder every task shares: the feature tables
 * and projection ("embed."), "pos", the layers ("layers.") and "final_ln."; 0 for the task
 * heads ("cls.", "tag.", "crf.", "rel.", "mlm.", "rtd."). attn_train's 'init' copies these only when
 * the init model lacks the task. */
int attn_is_encoder_tensor(const char *key);

/* The dtype ("f32", "f16", "q8" or "q4") tensor t is stored as under storage s. */
const char *attn_storage_dtype(attn_storage s, const attn_tensor_spec *t);

/* Bytes of tensor t stored as dtype ("f32", "f16", or "q8"/"q4" for a 2-D t); 0 otherwise. */
size_t attn_tensor_stored_bytes(const attn_tensor_spec *t, const char *dtype);

/* Encodes values [t->size] as dtype into out [attn_tensor_stored_bytes(t, dtype)], in the
 * byte layout attn_model_set_tensor reads. Returns ATTN_EINVAL (message in err) for a dtype
 * attn_tensor_stored_bytes does not know, ATTN_ENOMEM if the q8 scratch cannot be allocated. */
int attn_tensor_encode(const attn_tensor_spec *t, const char *dtype, const float *values,
                       void *out, attn_error *err);

/* What a writer stores of one tensor (attn_model_stored_tensor). */
typedef struct attn_stored_tensor {
    const char *key;            /* the tensor's key (owned by the model) */
    const char *dtype;          /* attn_storage_dtype */
    char shape[64];             /* JSON text: "[n]" or "[rows,cols]" */
    size_t n_bytes;             /* attn_tensor_stored_bytes */
} attn_stored_tensor;

/* Tensors of m (the rows a writer stores, besides the config and the gazetteer's rows,
 * attn_gazetteer_row of m->gazetteer). */
size_t attn_model_n_tensors(const attn_model *m);

/* Tensor i (< attn_model_n_tensors) of a plain f32 model (one being trained or calibrated:
 * params holds every value) as stored under storage: *info, and with out != NULL its bytes
 * (attn_tensor_encode into out[info->n_bytes]). ATTN_EINVAL (i out of range), ATTN_ENOMEM. */
int attn_model_stored_tensor(const attn_model *m, size_t i, attn_storage storage,
                             attn_stored_tensor *info, void *out, attn_error *err);

/* Copies the encoder of src into dst: every encoder tensor (attn_is_encoder_tensor) of dst
 * whose key and shape src has is copied; "pos" as far as both reach when only max_len
 * differs; dst shares src's gazetteer lists when its gazetteer feature has the same list
 * names. The task heads keep their values, even where src has a head of the same shape: its
 * labels need not mean the same (PER vs Peop). dst: a plain f32 model; src: finished. */
void attn_model_copy_encoder(attn_model *dst, const attn_model *src);

/* Copies the entity tagger of src (tag.w, tag.b, crf.trans, crf.start, crf.end) into dst for
 * the labels mapped: label_map[i] is the index in src's entity labels of dst's entity label i,
 * or -1 (its B- and I- rows keep dst's values); tag O is always src's O. So a tagger for other
 * names of the same types (CoNLL04's Peop for CoNLL-2003's PER) starts from what src learned
 * rather than from nothing. Both need the entities head and equal dims (else ATTN_EINVAL); a
 * map entry outside src's labels is ATTN_EINVAL. dst: a plain f32 model; src: finished. */
int attn_model_copy_tagger(attn_model *dst, const attn_model *src, const int *label_map,
                           attn_error *err);

/* Parameter count (floats): the sum of the tensor sizes, without the alignment padding that
 * n_params (the buffer length) includes. */
size_t attn_model_param_count(const attn_model *m);

/* Index into m->specs of the tensor with this key, or -1 if the config implies no such key. */
int attn_model_tensor_index(const attn_model *m, const char *key);

#endif
