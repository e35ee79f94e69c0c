/* config.h: a model's configuration (the JSON stored under key 'config' in the model table)
 * and the list of tensors it implies.
 *
 * Example (every key is checked; unknown keys are an error except inside "meta"):
 * {
 *   "format": 1,
 *   "tasks": ["entities", "relations"],         subset of classify, entities, relations, mlm, rtd
 *   "dim": 256, "layers": 4, "heads": 4, "ffn": 1024, "max_len": 128,
 *   "ln_eps": 1e-5,                              optional, default 1e-5
 *   "attn_scale": "sqrt",                        "sqrt" (1/sqrt(head dim), default) or "none"
 *   "embed_context": 1,                          optional, default 0: the projection reads
 *                                                the embedding rows of the k tokens on each
 *                                                side too (a convolution of width 2k+1 over
 *                                                the sequence, zeros past its ends), so every
 *                                                position starts knowing its neighbours in
 *                                                order; 0..ATTN_MAX_EMBED_CONTEXT
 *   "rel_positions": 16,                         optional, default 0: relative, direction-
 *                                                aware positions (TENER, Yan et al. 2019; the
 *                                                bias form of Shaw et al. 2018 / T5): head h
 *                                                of each layer adds a learned bias
 *                                                rel_bias[h][clamp(j - i, -k, k) + k] to the
 *                                                score of query i for key j, k this value;
 *                                                0..ATTN_MAX_REL_POSITIONS
 *   "language": "en",                            optional: the language of the text the model
 *                                                was trained on, a BCP 47 tag (letters, digits,
 *                                                '-'; 2..ATTN_MAX_LANGUAGE characters, e.g.
 *                                                "en", "zh", "zh-Hans"); the default model of a
 *                                                text is chosen by it (ext: attn_models)
 *   "features": [ {"kind": "norm",   "buckets": 50000, "dim": 64},
 *                 {"kind": "prefix", "buckets": 10000, "dim": 16, "affix": 3},
 *                 {"kind": "suffix", "buckets": 10000, "dim": 16, "affix": 3},
 *                 {"kind": "shape",  "buckets": 1000,  "dim": 16},
 *                 {"kind": "subword", "buckets": 200000, "dim": 100, "min_n": 3, "max_n": 6},
 *                 {"kind": "gazetteer", "dim": 16, "lists": ["PER", "LOC"]} ],
 *                                            subword: min_n/max_n optional (default 3/6),
 *                                            1 <= min_n <= max_n <= ATTN_SUBWORD_MAX_N;
 *                                            gazetteer: "lists" required, 1..ATTN_GAZ_MAX_LISTS
 *                                            distinct names of [A-Za-z0-9_-] (at most
 *                                            ATTN_GAZ_NAME_BYTES-1); "buckets" optional, and
 *                                            when given 3 x lists; the entries are rows
 *                                            'gazetteer.<list>[.<part>]' (gazetteer.h)
 *   "classify":  {"labels": ["negative", "positive"], "temperature": 1.42},
 *   "entities":  {"labels": ["PER", "LOC", "ORG", "MISC"]},
 *   "relations": {"labels": ["Work_For", "Kill"], "hidden": 128, "type_dim": 16},
 *   "temperature" (optional in classify, entities and relations; default 1, written only when
 *   not 1): the head's probabilities are computed from its scores divided by it (temperature
 *   scaling, Guo et al. 2017; attn_calibrate fits it): classify and relations softmax(z / T);
 *   entities the CRF marginals of potentials (emissions, transitions, start, end) / T. The
 *   decisions (argmax label, Viterbi path) do not depend on it. A number in
 *   [ATTN_TEMPERATURE_MIN, ATTN_TEMPERATURE_MAX].
 *   "meta": { anything: description, training data, scores }
 * }
 * A section ("classify", "entities", "relations") is required exactly when its task is listed.
 * "relations" requires "entities" (relations are classified between found entities).
 * Each feature kind (features.h) at most once; "affix" only for prefix/suffix, "min_n"/"max_n"
 * only for subword, "lists" only for gazetteer. A token's feature rows take
 * attn_feature_slots(features, n_features) slots (subword takes ATTN_SUBWORD_SLOTS of them,
 * gazetteer one a list, every other feature one).
 *
 * Entity tags (IOB2) are derived from the entity labels: tag 0 = "O", tag 1+2i = "B-<label i>",
 * tag 2+2i = "I-<label i>"; so n_tags = 1 + 2 * n_entity_labels.
 * Relation outputs: index 0 = no relation, index 1+r = relation label r.
 *
 * Tensors, all row-major f32 in memory, weights stored [out, in] (y = x W^T + b), D = dim:
 *   embed.<kind>                 [buckets, fdim]   one per feature, <kind> = its name
 *                                                  (embed.subword: a wordvec.h table fits;
 *                                                  embed.gazetteer: buckets = 3 x lists)
 *   embed.proj.w                 [D, (2k+1) sum fdim]  embed.proj.b [D]   k = embed_context;
 *                                                  columns: the rows of tokens t-k .. t+k
 *   pos                          [max_len, D]      learned absolute positions
 *   layers.<i>.ln1.w / .ln1.b    [D]
 *   layers.<i>.attn.qkv.w        [3D, D]           rows: all of Q, then K, then V; head h uses
 *   layers.<i>.attn.qkv.b        [3D]              columns h*D/H .. (h+1)*D/H - 1 of each
 *   layers.<i>.attn.out.w        [D, D]            layers.<i>.attn.out.b [D]
 *   layers.<i>.attn.rel_bias     [H, 2k+1]         k = rel_positions (only when k > 0);
 *                                                  column k + d: key d tokens after the query
 *   layers.<i>.ln2.w / .ln2.b    [D]
 *   layers.<i>.ffn.up.w          [F, D]            layers.<i>.ffn.up.b [F]
 *   layers.<i>.ffn.down.w        [D, F]            layers.<i>.ffn.down.b [D]
 *   final_ln.w / final_ln.b      [D]
 * classify:   cls.w [L, 2D], cls.b [L]             (input: concat(mean, max) over tokens)
 * entities:   tag.w [K, D], tag.b [K], crf.trans [K, K] (from row i to column j),
 *             crf.start [K], crf.end [K]           K = n_tags
 * relations:  rel.type [E, TD]                     E = n entity labels, TD = type_dim
 *             rel.hidden.w [RH, 3D + 2TD], rel.hidden.b [RH]   RH = hidden
 *             rel.out.w [R + 1, RH], rel.out.b [R + 1]         R = n relation labels
 *   (pair input: concat(max-pool head span, max-pool tail span, max-pool tokens between,
 *    type(head), type(tail)); hidden = GELU(W x + b); probs = softmax(out))
 * mlm:        mlm.w [V, D], mlm.b [V]              V = mlm.vocab (config: "mlm": {"vocab": V});
 *             masked-language-model pretraining only (model/mlm.h): output i = the i-th most
 *             frequent normalised word of the pretraining rows; no inference function uses it
 * rtd:        rtd.w [1, D], rtd.b [1]              (config: "rtd": {}); replaced-token detection
 *             pretraining only (model/rtd.h): one logit per token, "this token was replaced"
 */
#ifndef ATTN_CONFIG_H
#define ATTN_CONFIG_H

#include "common.h"
#include "features.h"

#define ATTN_FORMAT_VERSION 1
#define ATTN_MAX_KEY 64     /* tensor key length including NUL */
#define ATTN_MAX_LANGUAGE 15 /* characters of "language" */
#define ATTN_MAX_EMBED_CONTEXT 4 /* "embed_context": neighbours a side */
#define ATTN_MAX_REL_POSITIONS 256 /* "rel_positions": distances with a bias of their own */
#define ATTN_TENSOR_ALIGN 16 /* floats: every tensor offset is a multiple of this (64 bytes) */

enum { ATTN_TASK_CLASSIFY = 1, ATTN_TASK_ENTITIES = 2, ATTN_TASK_RELATIONS = 4,
       ATTN_TASK_MLM = 8, ATTN_TASK_RTD = 16 };

/* Range of a head's "temperature". */
#define ATTN_TEMPERATURE_MIN 0.01
#define ATTN_TEMPERATURE_MAX 100.0

#define ATTN_MLM_MAX_VOCAB 65536    /* outputs of the masked-word head (mlm.vocab) */
#define ATTN_MLM_DEFAULT_VOCAB 8192 /* attn_train's option mlm_vocab */

typedef struct attn_labels {
    char **names;           /* [n], owned, NUL-terminated, unique */
    int n;
} attn_labels;

typedef struct attn_config {
    int format;
    int tasks;              /* bit set of ATTN_TASK_* */
    int dim, layers, heads, ffn, max_len;
    float ln_eps;
    float attn_scale;       /* multiplier of q.k: 1/sqrt(dim/heads) or 1 */
    int embed_context;      /* neighbours a side the projection reads (0: the token alone) */
    int rel_positions;      /* k of the relative position biases (0: none) */
    attn_feature_spec features[ATTN_MAX_FEATURES];
    int n_features;
    attn_labels classify_labels;
    attn_labels entity_labels;
    attn_labels relation_labels;
    int rel_hidden, rel_type_dim;
    /* "temperature" of each head (1 when not given) */
    float classify_temperature, entity_temperature, relation_temperature;
    int mlm_vocab;          /* outputs of the masked-word head (task mlm), else 0 */
    char language[ATTN_MAX_LANGUAGE + 1];   /* "language", "" when not given */
    char *json;             /* the config text as given (owned, NUL-terminated) */
} attn_config;

typedef struct attn_tensor_spec {
    char key[ATTN_MAX_KEY];
    int64_t shape[2];
    int ndim;               /* 1 or 2 */
    size_t offset;          /* floats from the start of the parameter buffer */
    size_t size;            /* floats */
} attn_tensor_spec;

/* Parses and validates a config. Every error names the key: "config: 'heads' (3) must divide
 * 'dim' (256)". On failure *cfg is left zeroed (nothing to free). */
int attn_config_parse(const char *json, size_t n, attn_config *cfg, attn_error *err);
void attn_config_free(attn_config *cfg);

/* The tensors this config implies, in a fixed order with offsets into one contiguous buffer.
 * Each offset is a multiple of ATTN_TENSOR_ALIGN floats; the gaps are padding (zero in a
 * model). Returns a malloc'd array of *n specs (caller frees), or NULL on ENOMEM; *n_params
 * receives the total floats of the buffer, padding included (sum of spec sizes excludes it). */
attn_tensor_spec *attn_config_tensors(const attn_config *cfg, size_t *n, size_t *n_params);

/* Parameters (floats) of the model, padding excluded: what a user should be shown. */
size_t attn_config_param_count(const attn_config *cfg);

/* Index of the spec with this key in specs[0..n), or -1. */
int attn_tensor_find(const attn_tensor_spec *specs, size_t n, const char *key);

int attn_config_n_tags(const attn_config *cfg);          /* 1 + 2 * entity labels */
/* Writes the name of tag k ("O", "B-PER", ...) into buf. */
void attn_config_tag_name(const attn_config *cfg, int k, char *buf, size_t cap);

#endif
