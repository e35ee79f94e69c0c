/* make_model_seeds: writes the seed corpus of fuzz_config_model (framing in
 * fuzz_config_model.c) into a directory: tiny valid models (dim 8, 1-2 layers, the tensor list
 * from attn_config_tensors, so the seeds always match the format) plus a few broken ones.
 *
 *   make_model_seeds DIR
 *
 * `make fuzz-seeds` builds it (build/rel/fuzz/make_model_seeds) and rewrites
 * tests/fuzz/corpus/fuzz_config_model; the output is deterministic. */
#include "config.h"
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLAG_FILL 1u
#define FLAG_F16 2u
#define SCALE_BITS(k) ((unsigned)(k) << 2)

static const char CFG_ALL[] =
    "{\"format\":1,\"tasks\":[\"classify\",\"entities\",\"relations\"],"
    "\"dim\":8,\"layers\":1,\"heads\":1,\"ffn\":16,\"max_len\":8,"
    "\"features\":[{\"kind\":\"norm\",\"buckets\":16,\"dim\":4},"
    "{\"kind\":\"prefix\",\"buckets\":8,\"dim\":2,\"affix\":3},"
    "{\"kind\":\"suffix\",\"buckets\":8,\"dim\":2,\"affix\":3},"
    "{\"kind\":\"shape\",\"buckets\":8,\"dim\":2}],"
    "\"classify\":{\"labels\":[\"negative\",\"positive\"]},"
    "\"entities\":{\"labels\":[\"PER\",\"ORG\"]},"
    "\"relations\":{\"labels\":[\"Work_For\",\"Located_In\"],\"hidden\":8,\"type_dim\":2}}";

static const char CFG_ENTITIES[] =
    "{\"format\":1,\"tasks\":[\"entities\"],\"dim\":8,\"layers\":2,\"heads\":2,\"ffn\":8,"
    "\"max_len\":4,\"ln_eps\":1e-6,\"attn_scale\":\"none\","
    "\"features\":[{\"kind\":\"shape\",\"buckets\":5,\"dim\":3},{\"kind\":\"norm\",\"buckets\":7,\"dim\":5},"
    "{\"kind\":\"subword\",\"buckets\":11,\"dim\":2,\"min_n\":2,\"max_n\":4}],"
    "\"entities\":{\"labels\":[\"PER\",\"LOC\",\"ORG\",\"MISC\"]},\"meta\":{\"note\":\"seed\"}}";

static const char CFG_CLASSIFY[] =
    "{\"format\":1,\"tasks\":[\"classify\"],\"dim\":4,\"layers\":1,\"heads\":4,\"ffn\":4,"
    "\"max_len\":2,\"features\":[{\"kind\":\"suffix\",\"buckets\":3,\"dim\":1,\"affix\":8}],"
    "\"classify\":{\"labels\":[\"a\",\"b\",\"c\"]}}";

static const char CFG_GAZETTEER[] =
    "{\"format\":1,\"tasks\":[\"entities\"],\"dim\":8,\"layers\":1,\"heads\":2,\"ffn\":8,"
    "\"max_len\":6,\"features\":[{\"kind\":\"norm\",\"buckets\":16,\"dim\":4},"
    "{\"kind\":\"gazetteer\",\"dim\":3,\"lists\":[\"PER\",\"LOC\"]}],"
    "\"entities\":{\"labels\":[\"PER\",\"LOC\"]}}";

typedef struct seed { unsigned char *p; size_t len, cap; } seed;

static void put(seed *s, const void *b, size_t n) {
    if (s->len + n > s->cap) {
        s->cap = (s->len + n) * 2;
        s->p = realloc(s->p, s->cap);
        if (!s->p) { perror("realloc"); exit(1); }
    }
    memcpy(s->p + s->len, b, n);
    s->len += n;
}

static void put_u8(seed *s, unsigned v) { unsigned char b = (unsigned char)v; put(s, &b, 1); }
static void put_u16(seed *s, size_t v) { put_u8(s, v & 0xff); put_u8(s, (v >> 8) & 0xff); }

static void header(seed *s, const char *config, unsigned flags) {
    put_u16(s, strlen(config));
    put(s, config, strlen(config));
    put_u8(s, flags);
}

static void record(seed *s, const char *key, unsigned dtype, const char *shape, const void *data, size_t n) {
    put_u8(s, strlen(key));
    put(s, key, strlen(key));
    put_u8(s, dtype);
    put_u8(s, strlen(shape));
    put(s, shape, strlen(shape));
    put_u16(s, n);
    put(s, data, n);
}

static void shape_text(const attn_tensor_spec *t, char *buf, size_t cap) {
    if (t->ndim == 2) snprintf(buf, cap, "[%lld,%lld]", (long long)t->shape[0], (long long)t->shape[1]);
    else snprintf(buf, cap, "[%lld]", (long long)t->shape[0]);
}

/* Every tensor of config, explicitly: small deterministic values, f32 or f16.
 * skip: a key left out (NULL: none); nan_key: a tensor whose element 0 is NaN. */
static void all_tensors(seed *s, const char *config, int f16, const char *skip, const char *nan_key) {
    attn_config cfg;
    attn_error err;
    if (attn_config_parse(config, strlen(config), &cfg, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    size_t n, n_params;
    attn_tensor_spec *specs = attn_config_tensors(&cfg, &n, &n_params);
    for (size_t i = 0; i < n; i++) {
        if (skip && strcmp(specs[i].key, skip) == 0) continue;
        float *v = malloc(specs[i].size * sizeof *v);
        uint16_t *h = malloc(specs[i].size * sizeof *h);
        for (size_t k = 0; k < specs[i].size; k++) v[k] = 0.05f * (float)((int)((i * 7 + k * 13) % 41) - 20);
        if (strstr(specs[i].key, ".w") && strstr(specs[i].key, "ln")) for (size_t k = 0; k < specs[i].size; k++) v[k] += 1.0f;
        if (nan_key && strcmp(specs[i].key, nan_key) == 0) v[0] = NAN;
        char shape[64];
        shape_text(&specs[i], shape, sizeof shape);
        if (f16) {
            attn_f32_to_f16(h, v, specs[i].size);
            record(s, specs[i].key, 1, shape, h, specs[i].size * 2);
        } else {
            record(s, specs[i].key, 0, shape, v, specs[i].size * 4);
        }
        free(v);
        free(h);
    }
    free(specs);
    attn_config_free(&cfg);
}

static void write_seed(const char *dir, const char *name, seed *s) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(s->p, 1, s->len, f) != s->len || fclose(f) != 0) { perror(path); exit(1); }
    free(s->p);
    memset(s, 0, sizeof *s);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: make_model_seeds DIR\n"); return 1; }
    const char *dir = argv[1];
    seed s = {0};
    header(&s, CFG_ALL, 0);                         /* every tensor given, f32 */
    all_tensors(&s, CFG_ALL, 0, NULL, NULL);
    write_seed(dir, "all_tasks_f32", &s);
    header(&s, CFG_ENTITIES, 0);                    /* every tensor given, f16 */
    all_tensors(&s, CFG_ENTITIES, 1, NULL, NULL);
    write_seed(dir, "entities_f16", &s);
    header(&s, CFG_ALL, FLAG_FILL | SCALE_BITS(3)); /* generated weights, scale 0.64 */
    write_seed(dir, "all_tasks_generated", &s);
    header(&s, CFG_CLASSIFY, FLAG_FILL | FLAG_F16 | SCALE_BITS(7)); /* generated f16, scale 163.84 */
    write_seed(dir, "classify_generated_f16_large", &s);
    header(&s, CFG_ALL, 0);                         /* one tensor missing: finish fails */
    all_tensors(&s, CFG_ALL, 0, "crf.trans", NULL);
    write_seed(dir, "missing_tensor", &s);
    header(&s, CFG_CLASSIFY, FLAG_FILL);            /* NaN, wrong shape, unknown key, twice */
    all_tensors(&s, CFG_CLASSIFY, 0, NULL, "cls.w");
    record(&s, "pos", 0, "[1,4]", "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
    record(&s, "layers.1.ln1.w", 0, "[4]", "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
    record(&s, "cls.b", 2, "[3]", "\0\0\0\0\0\0", 6);
    write_seed(dir, "broken_tensors", &s);
    header(&s, CFG_GAZETTEER, FLAG_FILL | SCALE_BITS(4)); /* lists matching the texts */
    static const char per[] = "John Smith\nMary\nAnna-Maria O'Neill\nJohn", loc[] = "New York\n"
        "S\xc3\xa3o Paulo\nParis\n\xe5\x8c\x97\xe4\xba\xac\nLondon\r\n\nBerlin";
    record(&s, "gazetteer.PER", 4, "[]", per, strlen(per));
    record(&s, "gazetteer.LOC.more", 4, "[]", loc, strlen(loc));
    record(&s, "gazetteer.ORG", 4, "[]", "Acme Corp.", 10);
    write_seed(dir, "gazetteer_generated", &s);
    return 0;
}
