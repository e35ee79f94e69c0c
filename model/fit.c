/* fit.c: datasets of annotated texts, the epoch loop around train.h, dev evaluation with the
 * inference pipeline, and word vectors into the norm table (see fit.h).
 *
 * Memory: a dataset keeps everything in a few growing arrays, one per kind (text bytes, feature
 * rows, tags, spans, ...); records hold offsets into them, never pointers, so growing an array
 * never invalidates a record. attn_fit builds the attn_example structs of a batch on the fly. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1   /* qsort_r, getline */
#endif
#include "fit.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calibrate.h"
#include "encoder.h"
#include "features.h"
#include "heads.h"
#include "metrics.h"
#include "mlm.h"
#include "pipeline.h"
#include "subword.h"
#include "wordvec.h"

#define LABEL_LIST_BYTES 200   /* label names quoted in an error message, at most */

/* ---- growing arrays --------------------------------------------------------------------- */

typedef struct array {
    void *p;
    size_t n, cap;             /* elements */
} array;

/* Room for `more` elements of elem bytes after the n in use; 0 or -1 (ENOMEM). */
static int array_reserve(array *a, size_t more, size_t elem) {
    if (a->n + more <= a->cap && a->p) return 0;
    size_t want = a->cap ? a->cap : 64;
    while (want < a->n + more) {
        if (want > SIZE_MAX / 2 / elem) return -1;
        want *= 2;
    }
    void *q = realloc(a->p, want * elem);
    if (!q) return -1;
    a->p = q;
    a->cap = want;
    return 0;
}

/* Appends count elements (uninitialised); returns a pointer to the first or NULL. */
static void *array_push(array *a, size_t count, size_t elem) {
    if (array_reserve(a, count, elem)) return NULL;
    void *first = (char *)a->p + a->n * elem;
    a->n += count;
    return first;
}

#define AT(arr, type, i) ((type *)(arr).p + (i))

/* ---- the dataset ------------------------------------------------------------------------ */

typedef struct text_rec {
    size_t byte_off, n_bytes;  /* into bytes */
    int64_t n_chars;
    int label;                 /* classify gold, -1 = not given */
    int has_ents, has_rels;    /* entity / relation gold given */
    size_t ent_off, rel_off;   /* into gold_ents / gold_rels */
    int n_ents, n_rels;
} text_rec;

typedef struct example_rec {
    size_t tok_off;            /* first token in the token-indexed arrays (rows, tags) */
    int T;
    int label;
    int has_tags, has_spans;
    size_t span_off, rel_off;  /* into spans / rels */
    int n_spans, n_rels;
} example_rec;

struct attn_dataset {
    attn_config cfg;           /* own copy, parsed from the model config's JSON */
    array texts;               /* text_rec */
    array bytes;               /* char: every text, concatenated */
    array gold_ents;           /* attn_char_span: entities in characters, per text */
    array gold_rels;           /* attn_rel_gold: head/tail = entity index within the text */
    array examples;            /* example_rec */
    array rows;                /* uint32_t [tokens, S]: S = attn_feature_slots */
    array tags;                /* int [tokens]: IOB2 path (0 where no entity gold) */
    array spans;               /* attn_span: token spans, per example (relations) */
    array rels;                /* attn_rel_gold: per example, indices into its spans */
    array mlm_hash;            /* uint64_t [tokens]: hash of the normalised word (task mlm) */
    array mlm_caps;            /* uint8_t [tokens]: 1 = capitalised (task mlm) */
    array mlm_target;          /* int32_t [tokens]: output index or -1, once computed */
    int mlm_ready;             /* mlm_target holds every token's target */
    size_t skipped;
    /* scratch of attn_dataset_add */
    attn_tokens toks;
    array s_ents;              /* attn_char_span */
    array s_tok;               /* attn_span: each entity snapped to tokens */
    array s_order;             /* int: entities by first token */
    array s_local;             /* int: entity -> span index within the current chunk */
};

attn_dataset *attn_dataset_new(const attn_config *cfg) {
    if (!cfg || !cfg->json) return NULL;
    attn_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return NULL;
    attn_error err;
    if (attn_config_parse(cfg->json, strlen(cfg->json), &ds->cfg, &err)) {
        free(ds);
        return NULL;
    }
    return ds;
}

void attn_dataset_free(attn_dataset *ds) {
    if (!ds) return;
    attn_config_free(&ds->cfg);
    array *all[] = { &ds->texts, &ds->bytes, &ds->gold_ents, &ds->gold_rels, &ds->examples,
                     &ds->rows, &ds->tags, &ds->spans, &ds->rels, &ds->s_ents, &ds->s_tok,
                     &ds->s_order, &ds->s_local, &ds->mlm_hash, &ds->mlm_caps,
                     &ds->mlm_target };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]->p);
    attn_tokens_free(&ds->toks);
    free(ds);
}

size_t attn_dataset_size(const attn_dataset *ds) { return ds->texts.n; }
size_t attn_dataset_skipped(const attn_dataset *ds) { return ds->skipped; }
size_t attn_dataset_examples(const attn_dataset *ds) { return ds->examples.n; }
int64_t attn_dataset_tokens(const attn_dataset *ds) { return (int64_t)ds->tags.n; }

static int no_memory(attn_error *err) {
    return attn_fail(err, ATTN_ENOMEM, "out of memory (dataset)");
}

/* "(a, b, c)" into buf, cut with "..." when long. */
static void label_list(const attn_labels *l, char *buf, size_t cap) {
    size_t n = 0;
    buf[n++] = '(';
    for (int i = 0; i < l->n; i++) {
        const size_t len = strlen(l->names[i]);
        if (n + len + 8 > cap || n + len > LABEL_LIST_BYTES) {
            memcpy(buf + n, "...", 3);
            n += 3;
            break;
        }
        if (i) buf[n++] = ',', buf[n++] = ' ';
        memcpy(buf + n, l->names[i], len);
        n += len;
    }
    buf[n++] = ')';
    buf[n] = 0;
}

/* Index of name in l, or ATTN_EINVAL naming what (prefix, e.g. "entity 2: ") and the set. */
static int find_label(const attn_labels *l, const char *name, const char *prefix,
                      const char *kind, int *index, attn_error *err) {
    if (!name) return attn_fail(err, ATTN_EINVAL, "%sno label given", prefix);
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->names[i], name)) { *index = i; return ATTN_OK; }
    char list[LABEL_LIST_BYTES + 64];
    label_list(l, list, sizeof list);
    return attn_fail(err, ATTN_EINVAL, "%slabel '%s' is not one of the model's %slabels %s",
                     prefix, name, kind, list);
}

static int has_task(const attn_config *c, int task) { return (c->tasks & task) != 0; }

/* Entity labels resolved and character ranges checked into ds->s_ents. */
static int resolve_entities(attn_dataset *ds, const attn_gold_entity *ents, int n_ents,
                            int64_t n_chars, attn_error *err) {
    ds->s_ents.n = 0;
    attn_char_span *out = array_push(&ds->s_ents, (size_t)n_ents + 1, sizeof *out);
    if (!out) return no_memory(err);
    for (int i = 0; i < n_ents; i++) {
        const attn_gold_entity *e = &ents[i];
        const long long s = (long long)e->start, t = (long long)e->end;
        if (e->start < 0)
            return attn_fail(err, ATTN_EINVAL, "entity %d [%lld, %lld): start before 0", i, s, t);
        if (e->end < e->start)
            return attn_fail(err, ATTN_EINVAL, "entity %d [%lld, %lld): end before start", i, s, t);
        if (e->end == e->start)
            return attn_fail(err, ATTN_EINVAL, "entity %d [%lld, %lld): empty", i, s, t);
        if (e->end > n_chars)
            return attn_fail(err, ATTN_EINVAL, "entity %d [%lld, %lld): past the end of the text "
                             "(%lld characters)", i, s, t, (long long)n_chars);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "entity %d: ", i);
        int rc = find_label(&ds->cfg.entity_labels, e->label, prefix, "entity ", &out[i].label,
                            err);
        if (rc) return rc;
        out[i].start = e->start;
        out[i].end = e->end;
    }
    ds->s_ents.n = (size_t)n_ents;
    return ATTN_OK;
}

/* Relation indices, labels and duplicates checked; labels written into out[n_rels]. */
static int resolve_relations(const attn_dataset *ds, const attn_gold_relation *rels, int n_rels,
                             int n_ents, attn_rel_gold *out, attn_error *err) {
    for (int i = 0; i < n_rels; i++) {
        const attn_gold_relation *r = &rels[i];
        if (r->head < 0 || r->head >= n_ents)
            return attn_fail(err, ATTN_EINVAL, "relation %d: head %d out of range (%d entities)",
                             i, r->head, n_ents);
        if (r->tail < 0 || r->tail >= n_ents)
            return attn_fail(err, ATTN_EINVAL, "relation %d: tail %d out of range (%d entities)",
                             i, r->tail, n_ents);
        if (r->head == r->tail)
            return attn_fail(err, ATTN_EINVAL, "relation %d: head and tail are the same entity "
                             "(%d)", i, r->head);
        for (int j = 0; j < i; j++)
            if (rels[j].head == r->head && rels[j].tail == r->tail)
                return attn_fail(err, ATTN_EINVAL, "relation %d: pair (%d, %d) already given by "
                                 "relation %d", i, r->head, r->tail, j);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "relation %d: ", i);
        int rc = find_label(&ds->cfg.relation_labels, r->label, prefix, "relation ",
                            &out[i].label, err);
        if (rc) return rc;
        out[i].head = r->head;
        out[i].tail = r->tail;
    }
    return ATTN_OK;
}

/* First token whose end is after c (tokens are sorted and disjoint). */
static int first_token_ending_after(const attn_token *tok, int n, int64_t c) {
    int lo = 0, hi = n;
    while (lo < hi) {
        const int mid = lo + (hi - lo) / 2;
        if (tok[mid].end > c) hi = mid; else lo = mid + 1;
    }
    return lo;
}

static int by_start_then_index(const void *a, const void *b, void *spans) {
    const attn_span *s = spans;
    const int x = *(const int *)a, y = *(const int *)b;
    if (s[x].start != s[y].start) return s[x].start < s[y].start ? -1 : 1;
    return (x > y) - (x < y);
}

/* Snaps every entity outward to tokens (as attn_char_spans_to_iob2 does) into ds->s_tok and
 * reports an entity covering no token, or two sharing a token, by their indices. */
static int snap_entities(attn_dataset *ds, attn_error *err) {
    const int n = (int)ds->s_ents.n, N = (int)ds->toks.n;
    const attn_token *tok = ds->toks.tok;
    ds->s_tok.n = ds->s_order.n = 0;
    attn_span *sp = array_push(&ds->s_tok, (size_t)n + 1, sizeof *sp);
    int *order = array_push(&ds->s_order, (size_t)n + 1, sizeof *order);
    if (!sp || !order) return no_memory(err);
    for (int i = 0; i < n; i++) {
        const attn_char_span *e = AT(ds->s_ents, attn_char_span, i);
        const int first = first_token_ending_after(tok, N, e->start);
        const int last = first_token_ending_after(tok, N, e->end - 1);  /* may end after e */
        const int end = last < N && tok[last].start < e->end ? last + 1 : last;
        if (first >= end)
            return attn_fail(err, ATTN_EINVAL, "entity %d [%lld, %lld): covers no token "
                             "(only whitespace)", i, (long long)e->start, (long long)e->end);
        sp[i] = (attn_span){ first, end, e->label };
        order[i] = i;
    }
    qsort_r(order, (size_t)n, sizeof *order, by_start_then_index, sp);
    for (int k = 1; k < n; k++) {
        const int a = order[k - 1], b = order[k];
        if (sp[b].start < sp[a].end) {
            const int later = a > b ? a : b, earlier = a > b ? b : a;
            return attn_fail(err, ATTN_EINVAL, "entity %d overlaps entity %d", later, earlier);
        }
    }
    return ATTN_OK;
}

/* mlm: the normalised-word hash and the capitalisation of every token of the text. */
static int mlm_words(attn_dataset *ds, const char *text, attn_error *err) {
    uint64_t *hash = array_push(&ds->mlm_hash, ds->toks.n, sizeof *hash);
    uint8_t *caps = array_push(&ds->mlm_caps, ds->toks.n, sizeof *caps);
    if (!hash || !caps) return no_memory(err);
    char norm[ATTN_MAX_NORM_BYTES + 1];
    for (size_t t = 0; t < ds->toks.n; t++) {
        const attn_token *tk = &ds->toks.tok[t];
        const char *s = text + tk->byte_start;
        const size_t n = tk->byte_end - tk->byte_start;
        hash[t] = attn_hash64(0x6d6c6d, norm, attn_token_norm(s, n, norm, sizeof norm));
        caps[t] = (uint8_t)attn_mlm_is_capitalised(s, n);
    }
    ds->mlm_ready = 0;
    return ATTN_OK;
}

/* Feature rows of every token of the text, appended to ds->rows. */
static int featurise(attn_dataset *ds, const char *text, attn_error *err) {
    const int slots = attn_feature_slots(ds->cfg.features, ds->cfg.n_features);
    uint32_t *rows = array_push(&ds->rows, ds->toks.n * (size_t)slots, sizeof *rows);
    if (!rows) return no_memory(err);
    attn_sequence_features(text, ds->toks.tok, ds->toks.n, ds->cfg.features, ds->cfg.n_features,
                           rows);
    return has_task(&ds->cfg, ATTN_TASK_MLM) ? mlm_words(ds, text, err) : ATTN_OK;
}

/* Spans lying inside tokens [c0, c1) and the relations between two of them, rebased to the
 * chunk, appended to ds->spans / ds->rels for example ex. */
static int chunk_relations(attn_dataset *ds, const text_rec *tr, int c0, int c1,
                           example_rec *ex, attn_error *err) {
    const int n = tr->n_ents;
    ds->s_local.n = 0;
    int *local = array_push(&ds->s_local, (size_t)n + 1, sizeof *local);
    if (!local) return no_memory(err);
    ex->span_off = ds->spans.n;
    ex->n_spans = 0;
    for (int i = 0; i < n; i++) {
        const attn_span *s = AT(ds->s_tok, attn_span, i);
        local[i] = -1;
        if (s->start < c0 || s->end > c1) continue;
        attn_span *o = array_push(&ds->spans, 1, sizeof *o);
        if (!o) return no_memory(err);
        *o = (attn_span){ s->start - c0, s->end - c0, s->label };
        local[i] = ex->n_spans++;
    }
    ex->rel_off = ds->rels.n;
    ex->n_rels = 0;
    for (int r = 0; r < tr->n_rels; r++) {
        const attn_rel_gold g = *AT(ds->gold_rels, attn_rel_gold, tr->rel_off + (size_t)r);
        if (local[g.head] < 0 || local[g.tail] < 0) continue;
        attn_rel_gold *o = array_push(&ds->rels, 1, sizeof *o);
        if (!o) return no_memory(err);
        *o = (attn_rel_gold){ local[g.head], local[g.tail], g.label };
        ex->n_rels++;
    }
    ex->has_spans = 1;
    return ATTN_OK;
}

/* Cuts the text (its tokens from tok_off) into examples of at most max_len tokens. */
static int add_examples(attn_dataset *ds, const text_rec *tr, size_t tok_off, attn_error *err) {
    const int N = (int)ds->toks.n, L = ds->cfg.max_len;
    const int classify = has_task(&ds->cfg, ATTN_TASK_CLASSIFY) && tr->label >= 0;
    const int relations = has_task(&ds->cfg, ATTN_TASK_RELATIONS) && tr->has_rels;
    const int entities = has_task(&ds->cfg, ATTN_TASK_ENTITIES) && tr->has_ents;
    const int mlm = has_task(&ds->cfg, ATTN_TASK_MLM);
    if (!classify && !relations && !entities && !mlm) return ATTN_OK;   /* nothing to learn */
    for (int c0 = 0; c0 < N; c0 += L) {
        const int c1 = N - c0 > L ? c0 + L : N;
        example_rec ex = { .tok_off = tok_off + (size_t)c0, .T = c1 - c0,
                           .label = classify ? tr->label : -1, .has_tags = entities };
        int *first_tag = AT(ds->tags, int, ex.tok_off);
        if (*first_tag > 0 && *first_tag % 2 == 0) (*first_tag)--;  /* I-x cut at the edge: B-x */
        if (relations) {
            int rc = chunk_relations(ds, tr, c0, c1, &ex, err);
            if (rc) return rc;
        }
        example_rec *slot = array_push(&ds->examples, 1, sizeof *slot);
        if (!slot) return no_memory(err);
        *slot = ex;
    }
    return ATTN_OK;
}

/* Tags of the whole text appended to ds->tags (all O without entity gold). */
static int tag_text(attn_dataset *ds, const text_rec *tr, attn_error *err) {
    const int N = (int)ds->toks.n;
    int *tags = array_push(&ds->tags, (size_t)N, sizeof *tags);
    if (!tags) return no_memory(err);
    if (!tr->has_ents || tr->n_ents == 0) {
        memset(tags, 0, (size_t)N * sizeof *tags);
        return ATTN_OK;
    }
    return attn_char_spans_to_iob2(ds->toks.tok, N, tr->n_chars, ds->s_ents.p, tr->n_ents,
                                   ds->cfg.entity_labels.n, tags, NULL, err);
}

/* Stores the text, its gold and its examples (validation done). */
static int store_text(attn_dataset *ds, const char *text, text_rec *tr, const attn_rel_gold *rels,
                      attn_error *err) {
    char *bytes = array_push(&ds->bytes, tr->n_bytes + 1, 1);
    attn_char_span *ents = array_push(&ds->gold_ents, (size_t)tr->n_ents, sizeof *ents);
    attn_rel_gold *r = array_push(&ds->gold_rels, (size_t)tr->n_rels, sizeof *r);
    text_rec *slot = array_push(&ds->texts, 1, sizeof *slot);
    if (!bytes || !ents || !r || !slot) return no_memory(err);
    tr->byte_off = (size_t)(bytes - (char *)ds->bytes.p);
    tr->ent_off = ds->gold_ents.n - (size_t)tr->n_ents;
    tr->rel_off = ds->gold_rels.n - (size_t)tr->n_rels;
    if (tr->n_bytes) memcpy(bytes, text, tr->n_bytes);
    bytes[tr->n_bytes] = 0;
    if (tr->n_ents) memcpy(ents, ds->s_ents.p, (size_t)tr->n_ents * sizeof *ents);
    if (tr->n_rels) memcpy(r, rels, (size_t)tr->n_rels * sizeof *r);
    *slot = *tr;
    const size_t tok_off = ds->tags.n;
    int rc = featurise(ds, text, err);
    if (!rc) rc = tag_text(ds, tr, err);
    if (!rc) rc = add_examples(ds, tr, tok_off, err);
    return rc;
}

/* Arguments and task checks that need no tokens. */
static int check_arguments(const attn_dataset *ds, const char *text, size_t n_bytes,
                           const char *label, const attn_gold_entity *ents, int n_ents,
                           const attn_gold_relation *rels, int n_rels, attn_error *err) {
    const attn_config *c = &ds->cfg;
    if (!text && n_bytes) return attn_fail(err, ATTN_EINVAL, "text is NULL");
    if (n_bytes > ATTN_MAX_TEXT_BYTES)
        return attn_fail(err, ATTN_ELIMIT, "text longer than %zu bytes", ATTN_MAX_TEXT_BYTES);
    if (n_ents < 0 || (n_ents > 0 && !ents) || n_rels < 0 || (n_rels > 0 && !rels))
        return attn_fail(err, ATTN_EINVAL, "bad entity or relation count");
    if (label && !has_task(c, ATTN_TASK_CLASSIFY))
        return attn_fail(err, ATTN_EINVAL, "a label is given but the model has no classify task");
    if (ents && !has_task(c, ATTN_TASK_ENTITIES))
        return attn_fail(err, ATTN_EINVAL, "entities are given but the model has no entities "
                         "task");
    if (rels && !has_task(c, ATTN_TASK_RELATIONS))
        return attn_fail(err, ATTN_EINVAL, "relations are given but the model has no relations "
                         "task");
    if (rels && !ents)
        return attn_fail(err, ATTN_EINVAL, "relations are given without entities");
    return ATTN_OK;
}

int attn_dataset_add(attn_dataset *ds, const char *text, size_t n_bytes, const char *label,
                     const attn_gold_entity *ents, int n_ents,
                     const attn_gold_relation *rels, int n_rels, attn_error *err) {
    int rc = check_arguments(ds, text, n_bytes, label, ents, n_ents, rels, n_rels, err);
    if (rc) return rc;
    if (n_bytes == 0) text = "";
    text_rec tr = { .n_bytes = n_bytes, .n_chars = attn_utf8_count(text, n_bytes), .label = -1,
                    .has_ents = ents != NULL, .has_rels = rels != NULL,
                    .n_ents = ents ? n_ents : 0, .n_rels = rels ? n_rels : 0 };
    if (label && (rc = find_label(&ds->cfg.classify_labels, label, "", "", &tr.label, err)))
        return rc;
    if ((rc = resolve_entities(ds, ents, tr.n_ents, tr.n_chars, err))) return rc;
    attn_rel_gold *gold_rels = malloc(((size_t)tr.n_rels + 1) * sizeof *gold_rels);
    if (!gold_rels) return no_memory(err);
    rc = resolve_relations(ds, rels, tr.n_rels, tr.n_ents, gold_rels, err);
    if (!rc) rc = attn_tokenize(text, n_bytes, &ds->toks, err);
    if (!rc && ds->toks.n > INT_MAX) rc = attn_fail(err, ATTN_ELIMIT, "text has too many tokens");
    if (!rc) rc = snap_entities(ds, err);
    if (!rc && ds->toks.n == 0) {
        ds->skipped++;
    } else if (!rc) {
        rc = store_text(ds, text, &tr, gold_rels, err);
    }
    free(gold_rels);
    return rc;
}

/* ---- evaluation ------------------------------------------------------------------------- */

static int labels_equal(const attn_labels *a, const attn_labels *b) {
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->names[i], b->names[i])) return 0;
    return 1;
}

/* The dataset was built for a config with the same inputs and labels as the model's. */
static int check_compatible(const attn_model *m, const attn_dataset *ds, const char *what,
                            attn_error *err) {
    const attn_config *a = &m->cfg, *b = &ds->cfg;
    int same = a->tasks == b->tasks && a->max_len == b->max_len &&
               a->n_features == b->n_features &&
               labels_equal(&a->classify_labels, &b->classify_labels) &&
               labels_equal(&a->entity_labels, &b->entity_labels) &&
               labels_equal(&a->relation_labels, &b->relation_labels);
    for (int f = 0; same && f < a->n_features; f++)
        same = a->features[f].kind == b->features[f].kind &&
               a->features[f].n_buckets == b->features[f].n_buckets &&
               a->features[f].affix == b->features[f].affix &&
               a->features[f].min_n == b->features[f].min_n &&
               a->features[f].max_n == b->features[f].max_n;
    if (!same)
        return attn_fail(err, ATTN_EINVAL, "%s: the dataset was built for another config (tasks, "
                         "max_len, features or labels differ from the model's)", what);
    return ATTN_OK;
}

typedef struct rows_out {
    attn_eval_row *rows;
    int n, cap;
} rows_out;

static int add_row(rows_out *o, const char *label, attn_prf p) {
    if (o->n == o->cap) {
        const int cap = o->cap ? 2 * o->cap : 16;
        attn_eval_row *q = realloc(o->rows, (size_t)cap * sizeof *q);
        if (!q) return -1;
        o->rows = q;
        o->cap = cap;
    }
    attn_eval_row *r = &o->rows[o->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->label, sizeof r->label, "%s", label);
    r->precision = p.precision;
    r->recall = p.recall;
    r->f1 = p.f1;
    r->support = p.support;
    r->predicted = p.predicted;
    r->ece = NAN;
    return 0;
}

/* The summary row ("accuracy" or "micro", the last added) carries the ECE. */
static void set_ece(rows_out *o, attn_eval_result *out, const attn_ece *ece) {
    out->ece = o->rows[o->n - 1].ece = attn_ece_value(ece);
}

/* Rows of the labels that occur in the gold or the predictions, in the model's order. */
static int add_label_rows(rows_out *o, const attn_labels *l, attn_prf (*get)(const void *, int),
                          const void *e) {
    for (int i = 0; i < l->n; i++) {
        const attn_prf p = get(e, i);
        if ((p.support > 0 || p.predicted > 0) && add_row(o, l->names[i], p)) return -1;
    }
    return 0;
}

static attn_prf class_label(const void *e, int i) { return attn_class_eval_label(e, i); }
static attn_prf span_label(const void *e, int i) { return attn_span_eval_label(e, i); }
static attn_prf rel_label(const void *e, int i) { return attn_rel_eval_label(e, i); }

static const text_rec *text_at(const attn_dataset *ds, size_t i) {
    return AT(ds->texts, text_rec, i);
}
static const char *text_bytes(const attn_dataset *ds, const text_rec *t) {
    return (const char *)ds->bytes.p + t->byte_off;
}

/* What every eval_* loop takes besides the model and data: where to stop, what to collect. */
typedef struct eval_ctx {
    attn_stop_cb should_stop;
    void *user;
    attn_calib *collect;        /* NULL: evaluate only */
} eval_ctx;

static int stopped(const eval_ctx *x, attn_error *err) {
    if (x->should_stop && x->should_stop(x->user))
        return attn_fail(err, ATTN_ESTOPPED, "evaluate: stopped");
    return ATTN_OK;
}

static int eval_classify(const attn_model *m, const attn_dataset *ds, attn_session *s,
                         const eval_ctx *x, rows_out *o, attn_eval_result *out,
                         attn_error *err) {
    attn_class_eval *e = attn_class_eval_new();
    attn_ece ece;
    attn_ece_init(&ece);
    const int L = m->cfg.classify_labels.n;
    float *probs = malloc(2 * (size_t)L * sizeof *probs), *logits = probs + L;
    int rc = e && probs ? ATTN_OK : no_memory(err);
    for (size_t i = 0; !rc && i < ds->texts.n; i++) {
        const text_rec *t = text_at(ds, i);
        if (t->label < 0) continue;
        rc = stopped(x, err);
        if (!rc) rc = attn_run_classify_logits(m, s, text_bytes(ds, t), t->n_bytes, logits, err);
        if (rc) break;
        memcpy(probs, logits, (size_t)L * sizeof *probs);     /* as attn_run_classify */
        attn_softmax_tempered(probs, L, m->cfg.classify_temperature);
        const int best = attn_argmax(probs, L);
        attn_ece_add(&ece, probs[best], best == t->label);
        rc = attn_class_eval_add(e, t->label, best, err);
        if (!rc && x->collect) rc = attn_calib_add_logits(x->collect, logits, t->label, err);
    }
    if (!rc) {
        const double acc = attn_class_eval_accuracy(e);
        const int64_t count = attn_class_eval_count(e);
        const attn_prf a = { acc, acc, acc, 0, 0, 0, count, count };
        if (add_label_rows(o, &m->cfg.classify_labels, class_label, e) ||
            add_row(o, "accuracy", a))
            rc = no_memory(err);
        if (!rc) set_ece(o, out, &ece);
        if (!rc && add_row(o, "macro", attn_class_eval_macro(e))) rc = no_memory(err);
        out->accuracy = out->headline = acc;
    }
    free(probs);
    attn_class_eval_free(e);
    return rc;
}

typedef struct span_buf {
    attn_eval_span *gold, *pred;
    size_t gold_cap, pred_cap;
} span_buf;

static int reserve_spans(attn_eval_span **p, size_t *cap, size_t n) {
    if (n <= *cap && *p) return 0;
    attn_eval_span *q = realloc(*p, (n + 16) * sizeof *q);
    if (!q) return -1;
    *p = q;
    *cap = n + 16;
    return 0;
}

static attn_eval_span gold_span(const attn_dataset *ds, const text_rec *t, int i) {
    const attn_char_span *c = AT(ds->gold_ents, attn_char_span, t->ent_off + (size_t)i);
    return (attn_eval_span){ c->start, c->end, c->label };
}

static attn_eval_span pred_span(const attn_entity *e) {
    return (attn_eval_span){ e->start, e->end, e->label };
}

static int span_compare(const void *pa, const void *pb) {
    const attn_eval_span *a = pa, *b = pb;
    if (a->start != b->start) return a->start < b->start ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return (a->label > b->label) - (a->label < b->label);
}

/* Whether span p is among gold[n], sorted by span_compare (an entity is right when a gold one
 * has its start, end and label, as attn_span_eval counts it). */
static int span_in(const attn_eval_span *gold, size_t n, const attn_eval_span *p) {
    return n && bsearch(p, gold, n, sizeof *gold, span_compare) != NULL;
}

static int eval_entities(const attn_model *m, const attn_dataset *ds, attn_session *s,
                         const eval_ctx *x, rows_out *o, attn_eval_result *out,
                         attn_error *err) {
    attn_span_eval *e = attn_span_eval_new();
    attn_ece ece;
    attn_ece_init(&ece);
    span_buf b = { 0 };
    uint8_t *right = NULL;
    size_t right_cap = 0;
    int rc = e ? ATTN_OK : no_memory(err);
    for (size_t i = 0; !rc && i < ds->texts.n; i++) {
        const text_rec *t = text_at(ds, i);
        if (!t->has_ents) continue;
        const attn_entity *ents;
        const float *em = NULL;
        size_t n;
        int N = 0;
        rc = stopped(x, err);
        if (!rc)
            rc = x->collect ? attn_run_entities_emissions(m, s, text_bytes(ds, t), t->n_bytes,
                                                          &ents, &n, &em, &N, err)
                            : attn_run_entities(m, s, text_bytes(ds, t), t->n_bytes, &ents, &n,
                                                err);
        if (rc) break;
        if (n > right_cap) {
            uint8_t *r = realloc(right, n + 16);
            if (!r) { rc = no_memory(err); break; }
            right = r;
            right_cap = n + 16;
        }
        if (reserve_spans(&b.gold, &b.gold_cap, (size_t)t->n_ents) ||
            reserve_spans(&b.pred, &b.pred_cap, n)) {
            rc = no_memory(err);
            break;
        }
        for (int k = 0; k < t->n_ents; k++) b.gold[k] = gold_span(ds, t, k);
        for (size_t k = 0; k < n; k++) b.pred[k] = pred_span(&ents[k]);
        rc = attn_span_eval_add(e, b.gold, (size_t)t->n_ents, b.pred, n, err);
        qsort(b.gold, (size_t)t->n_ents, sizeof *b.gold, span_compare);
        for (size_t k = 0; k < n; k++) {
            right[k] = (uint8_t)span_in(b.gold, (size_t)t->n_ents, &b.pred[k]);
            attn_ece_add(&ece, ents[k].score, right[k]);
        }
        if (!rc && x->collect) rc = attn_calib_add_text(x->collect, em, N, ents, n, right, err);
    }
    if (!rc) {
        const attn_prf micro = attn_span_eval_micro(e);
        if (add_label_rows(o, &m->cfg.entity_labels, span_label, e) || add_row(o, "micro", micro))
            rc = no_memory(err);
        if (!rc) set_ece(o, out, &ece);
        if (!rc && add_row(o, "macro", attn_span_eval_macro(e))) rc = no_memory(err);
        out->headline = micro.f1;
    }
    free(right);
    free(b.gold);
    free(b.pred);
    attn_span_eval_free(e);
    return rc;
}

typedef struct rel_buf {
    attn_eval_relation *p;
    size_t cap;
} rel_buf;

static int reserve_rels(rel_buf *b, size_t n) {
    if (n <= b->cap && b->p) return 0;
    attn_eval_relation *q = realloc(b->p, (n + 16) * sizeof *q);
    if (!q) return -1;
    b->p = q;
    b->cap = n + 16;
    return 0;
}

static int same_span(attn_eval_span a, attn_eval_span b) {
    return a.start == b.start && a.end == b.end && a.label == b.label;
}

/* The gold output of a predicted pair: 1 + the label of the gold relation with the same head
 * and tail (spans and types), or 0 (none). A text never has two gold relations on one pair. */
static int pair_gold(const rel_buf *gold, int n_gold, attn_eval_span head, attn_eval_span tail) {
    for (int k = 0; k < n_gold; k++)
        if (same_span(gold->p[k].head, head) && same_span(gold->p[k].tail, tail))
            return 1 + gold->p[k].label;
    return 0;
}

static int eval_relations(const attn_model *m, const attn_dataset *ds, attn_session *s,
                          const eval_ctx *x, rows_out *o, attn_eval_result *out,
                          attn_error *err) {
    attn_rel_eval *e = attn_rel_eval_new();
    attn_ece ece;
    attn_ece_init(&ece);
    rel_buf gold = { 0 }, pred = { 0 };
    const int R1 = m->cfg.relation_labels.n + 1;
    int rc = e ? ATTN_OK : no_memory(err);
    for (size_t i = 0; !rc && i < ds->texts.n; i++) {
        const text_rec *t = text_at(ds, i);
        if (!t->has_rels) continue;
        const attn_entity *ents;
        const attn_relation *rels;
        const float *logits = NULL;
        size_t n_ents, n_rels;
        rc = stopped(x, err);
        /* Collecting: every candidate pair ("none" too, label -1), as attn_run_relations
         * classifies them; its relations are those with a label. */
        if (!rc)
            rc = x->collect ? attn_run_relation_candidates(m, s, text_bytes(ds, t), t->n_bytes,
                                                           &ents, &n_ents, &rels, &n_rels,
                                                           &logits, err)
                            : attn_run_relations(m, s, text_bytes(ds, t), t->n_bytes, &ents,
                                                 &n_ents, &rels, &n_rels, err);
        if (rc) break;
        if (reserve_rels(&gold, (size_t)t->n_rels) || reserve_rels(&pred, n_rels)) {
            rc = no_memory(err);
            break;
        }
        for (int k = 0; k < t->n_rels; k++) {
            const attn_rel_gold *g = AT(ds->gold_rels, attn_rel_gold, t->rel_off + (size_t)k);
            gold.p[k] = (attn_eval_relation){ gold_span(ds, t, g->head), gold_span(ds, t, g->tail),
                                              g->label };
        }
        size_t n_pred = 0;
        for (size_t k = 0; !rc && k < n_rels; k++) {
            const attn_eval_span head = pred_span(&ents[rels[k].head]);
            const attn_eval_span tail = pred_span(&ents[rels[k].tail]);
            const int truth = pair_gold(&gold, t->n_rels, head, tail);
            if (x->collect)
                rc = attn_calib_add_logits(x->collect, logits + k * (size_t)R1, truth, err);
            if (rels[k].label < 0) continue;
            attn_ece_add(&ece, rels[k].score, truth == 1 + rels[k].label);
            pred.p[n_pred++] = (attn_eval_relation){ head, tail, rels[k].label };
        }
        if (!rc) rc = attn_rel_eval_add(e, gold.p, (size_t)t->n_rels, pred.p, n_pred, err);
    }
    if (!rc) {
        const attn_prf micro = attn_rel_eval_micro(e);
        if (add_label_rows(o, &m->cfg.relation_labels, rel_label, e) || add_row(o, "micro", micro))
            rc = no_memory(err);
        if (!rc) set_ece(o, out, &ece);
        if (!rc && add_row(o, "macro", attn_rel_eval_macro(e))) rc = no_memory(err);
        out->headline = micro.f1;
    }
    free(gold.p);
    free(pred.p);
    attn_rel_eval_free(e);
    return rc;
}

int attn_evaluate(const attn_model *m, const attn_dataset *ds, int task,
                  attn_stop_cb should_stop, void *user, attn_eval_result *out,
                  attn_error *err) {
    return attn_evaluate_collect(m, ds, task, should_stop, user, NULL, out, err);
}

int attn_evaluate_collect(const attn_model *m, const attn_dataset *ds, int task,
                          attn_stop_cb should_stop, void *user, struct attn_calib *collect,
                          attn_eval_result *out, attn_error *err) {
    memset(out, 0, sizeof *out);
    out->accuracy = out->headline = out->ece = NAN;
    if (collect && (attn_calib_task(collect) != task || attn_calib_count(collect) != 0))
        return attn_fail(err, ATTN_EINVAL, "evaluate: the calibration set is not an empty one "
                         "of this task");
    if (!m || !m->finished) return attn_fail(err, ATTN_EINVAL, "evaluate: model not finished");
    if (task != ATTN_TASK_CLASSIFY && task != ATTN_TASK_ENTITIES && task != ATTN_TASK_RELATIONS)
        return attn_fail(err, ATTN_EINVAL, "evaluate: unknown task %d", task);
    if (!has_task(&m->cfg, task))
        return attn_fail(err, ATTN_EINVAL, "evaluate: the model has no %s task",
                         task == ATTN_TASK_CLASSIFY ? "classify"
                         : task == ATTN_TASK_ENTITIES ? "entities" : "relations");
    int rc = check_compatible(m, ds, "evaluate", err);
    if (rc) return rc;
    attn_session *s = attn_session_new();
    if (!s) return no_memory(err);
    attn_session_set_stop(s, should_stop, user);
    rows_out o = { 0 };
    const eval_ctx x = { should_stop, user, collect };
    if (task == ATTN_TASK_CLASSIFY) rc = eval_classify(m, ds, s, &x, &o, out, err);
    else if (task == ATTN_TASK_ENTITIES) rc = eval_entities(m, ds, s, &x, &o, out, err);
    else rc = eval_relations(m, ds, s, &x, &o, out, err);
    attn_session_free(s);
    if (rc) {
        free(o.rows);
        out->accuracy = out->headline = out->ece = NAN;
        return rc;
    }
    out->rows = o.rows;
    out->n = o.n;
    return ATTN_OK;
}

void attn_eval_result_free(attn_eval_result *r) {
    if (!r) return;
    free(r->rows);
    r->rows = NULL;
    r->n = 0;
}

/* ---- the epoch loop --------------------------------------------------------------------- */

attn_fit_opts attn_fit_defaults(void) {
    attn_fit_opts o;
    memset(&o, 0, sizeof o);
    o.train = attn_train_defaults();
    o.batch_size = 32;
    o.max_epochs = 10;
    o.patience = 0;
    o.time_limit = 0.0;
    return o;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Examples in a seeded random order for this epoch (Fisher-Yates). */
static void shuffle(size_t *order, size_t n, uint64_t seed, int epoch) {
    uint64_t state = seed ^ (0xf17ull << 40) ^ ((uint64_t)epoch * 0x2545f4914f6cdd1dull);
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = n; i > 1; i--) {
        const size_t j = (size_t)(splitmix64(&state) % i);
        const size_t tmp = order[i - 1];
        order[i - 1] = order[j];
        order[j] = tmp;
    }
}

static const attn_span no_spans[1];
static const attn_rel_gold no_rels[1];

static attn_example example_at(const attn_dataset *ds, size_t i) {
    const example_rec *r = AT(ds->examples, example_rec, i);
    const int slots = attn_feature_slots(ds->cfg.features, ds->cfg.n_features);
    attn_example ex = { .rows = AT(ds->rows, uint32_t, r->tok_off * (size_t)slots), .T = r->T,
                        .label = r->label };
    if (r->has_tags) ex.tags = AT(ds->tags, int, r->tok_off);
    if (ds->mlm_ready) {
        ex.mlm_target = AT(ds->mlm_target, int32_t, r->tok_off);
        ex.mlm_caps = AT(ds->mlm_caps, uint8_t, r->tok_off);
    }
    if (r->has_spans) {
        ex.spans = r->n_spans ? AT(ds->spans, attn_span, r->span_off) : no_spans;
        ex.n_spans = r->n_spans;
        ex.rels = r->n_rels ? AT(ds->rels, attn_rel_gold, r->rel_off) : no_rels;
        ex.n_rels = r->n_rels;
    }
    return ex;
}

int attn_dataset_example(const attn_dataset *ds, size_t i, attn_example *out, attn_error *err) {
    if (i >= ds->examples.n)
        return attn_fail(err, ATTN_EINVAL, "example %zu out of range (%zu examples)", i,
                         ds->examples.n);
    *out = example_at(ds, i);
    return ATTN_OK;
}

/* The task whose dev metric selects the best epoch: relations, else entities, else classify,
 * else mlm. */
static int selection_task(const attn_config *c) {
    if (has_task(c, ATTN_TASK_RELATIONS)) return ATTN_TASK_RELATIONS;
    if (has_task(c, ATTN_TASK_ENTITIES)) return ATTN_TASK_ENTITIES;
    if (has_task(c, ATTN_TASK_CLASSIFY)) return ATTN_TASK_CLASSIFY;
    return ATTN_TASK_MLM;
}

static const char *metric_name(int task) {
    return task == ATTN_TASK_RELATIONS ? "relation_f1"
         : task == ATTN_TASK_ENTITIES ? "entity_f1"
         : task == ATTN_TASK_MLM ? "masked_accuracy" : "accuracy";
}

static int check_fit_opts(const attn_fit_opts *o, attn_error *err) {
    if (o->batch_size < 1 || o->batch_size > ATTN_TRAIN_MAX_BATCH)
        return attn_fail(err, ATTN_EINVAL, "fit: batch_size %d, expected 1..%d", o->batch_size,
                         ATTN_TRAIN_MAX_BATCH);
    if (o->max_epochs < 1)
        return attn_fail(err, ATTN_EINVAL, "fit: max_epochs %d, expected >= 1", o->max_epochs);
    if (o->patience < 0)
        return attn_fail(err, ATTN_EINVAL, "fit: patience %d, expected >= 0", o->patience);
    if (!(o->time_limit >= 0.0))
        return attn_fail(err, ATTN_EINVAL, "fit: time_limit %g, expected >= 0", o->time_limit);
    if (!(o->ema >= 0.0 && o->ema < 1.0))
        return attn_fail(err, ATTN_EINVAL, "fit: ema %g, expected in [0, 1)", o->ema);
    return ATTN_OK;
}

/* State of one training run (attn_fit_begin .. attn_fit_end). */
struct attn_fit_state {
    attn_model *m;
    const attn_dataset *train, *dev;
    attn_fit_opts o;
    attn_trainer *tr;
    size_t *order;             /* [n_examples] */
    attn_example *batch;       /* [batch_size] */
    float *best_params;        /* [n_params]: the best completed epoch, or the initial ones */
    float *ema_params;         /* [n_params] with opts.ema: the moving average, else NULL */
    float *raw_params;         /* [n_params] with opts.ema: the trained ones while the
                                * average is evaluated */
    int64_t steps;             /* optimiser steps taken */
    double table_keep;         /* opts.ema: prod (1 - w) of the steps the tables' average */
    int table_pending;         /* has not taken yet (update_average), and their count */
    attn_epoch_report best;
    int have_best, task, use_dev;
    int epoch, since_best, done;
    double t0;
};

static int out_of_time(const attn_fit_state *f) {
    return f->o.time_limit > 0.0 && now_seconds() - f->t0 >= f->o.time_limit;
}

/* The feature tables' average is brought up to date every EMA_TABLE_STRIDE steps, in one
 * pass with the weight of the steps since: averaging millions of table rows each step cost a
 * quarter of a step, and a table row changes only in the steps whose batch reads it. For a
 * row that did not change over those steps the result is exactly the per-step average's. */
#define EMA_TABLE_STRIDE 16

static void average_into(float *a, const float *p, size_t n, float w) {
    for (size_t i = 0; i < n; i++) a[i] += w * (p[i] - a[i]);
}

static int is_table_key(const char *key) {
    return strncmp(key, "embed.", 6) == 0 && strncmp(key, "embed.proj.", 11) != 0;
}

/* The average of every tensor (tables: of every table when `tables`) moved by w (tables: by
 * the weight of the pending steps). */
static void average_tensors(attn_fit_state *f, float w, int tables) {
    const attn_model *m = f->m;
    const float table_w = (float)(1.0 - f->table_keep);
    for (size_t s = 0; s < m->n_specs; s++) {
        const attn_tensor_spec *sp = &m->specs[s];
        const int table = is_table_key(sp->key);
        if (table && !tables) continue;
        average_into(f->ema_params + sp->offset, m->params + sp->offset, sp->size,
                     table ? table_w : w);
    }
    if (tables) {
        f->table_keep = 1.0;
        f->table_pending = 0;
    }
}

/* ema_params += (1 - d) (params - ema_params), d = min(ema, (1 + t) / (10 + t)). */
static void update_average(attn_fit_state *f) {
    if (!f->ema_params) return;
    const double t = (double)f->steps, warm = (1.0 + t) / (10.0 + t);
    const float w = (float)(1.0 - (f->o.ema < warm ? f->o.ema : warm));
    f->table_keep *= 1.0 - w;
    f->table_pending++;
    average_tensors(f, w, f->table_pending >= EMA_TABLE_STRIDE);
}

/* The tables' pending steps, before the average is used. */
static void flush_average(attn_fit_state *f) {
    if (f->ema_params && f->table_pending) average_tensors(f, 0.0f, 1);
}

/* One epoch of steps. *stop = 1 when should_stop fired, 2 when time ran out. */
static int train_epoch(attn_fit_state *f, attn_stop_cb should_stop, void *user,
                       attn_epoch_report *r, int *stop, attn_error *err) {
    const size_t n = attn_dataset_examples(f->train), bs = (size_t)f->o.batch_size;
    shuffle(f->order, n, f->o.train.seed, r->epoch);
    double loss = 0.0;
    int steps = 0;
    for (size_t at = 0; at < n; at += bs) {
        const size_t k = n - at < bs ? n - at : bs;
        for (size_t i = 0; i < k; i++) f->batch[i] = example_at(f->train, f->order[at + i]);
        attn_train_stats st;
        int rc = attn_trainer_step(f->tr, f->batch, (int)k, &st, err);
        if (rc) return rc;
        loss += st.loss;
        r->tokens += st.n_tokens;
        steps++;
        f->steps++;
        update_average(f);
        if (should_stop && should_stop(user)) { *stop = 1; break; }
        if (out_of_time(f)) { *stop = 2; break; }
    }
    flush_average(f);
    r->train_loss = steps ? loss / steps : NAN;
    return ATTN_OK;
}

/* Dev metric into r; keeps the parameters when they are the best so far. */
static int select_params(attn_fit_state *f, attn_epoch_report *r, attn_error *err) {
    r->dev_metric = NAN;
    r->metric_name = metric_name(f->task);
    if (f->use_dev && f->task == ATTN_TASK_MLM) {
        int rc = attn_mlm_evaluate(f->m, f->dev, &r->dev_metric, err);
        if (rc) return rc;
    } else if (f->use_dev) {
        attn_eval_result res;
        int rc = attn_evaluate(f->m, f->dev, f->task, NULL, NULL, &res, err);
        if (rc) return rc;
        r->dev_metric = res.headline;
        attn_eval_result_free(&res);
    }
    r->is_best = !f->have_best || !f->use_dev || r->dev_metric > f->best.dev_metric;
    if (r->is_best) {
        memcpy(f->best_params, f->m->params, f->m->n_params * sizeof *f->best_params);
        f->best = *r;
        f->have_best = 1;
    }
    return ATTN_OK;
}

/* select_params on the averaged parameters when there are any: they stand in for the
 * trained ones while the dev set is evaluated, which are then put back. */
static int select_epoch(attn_fit_state *f, attn_epoch_report *r, attn_error *err) {
    if (!f->ema_params) return select_params(f, r, err);
    const size_t bytes = f->m->n_params * sizeof *f->m->params;
    memcpy(f->raw_params, f->m->params, bytes);
    memcpy(f->m->params, f->ema_params, bytes);
    int rc = select_params(f, r, err);
    memcpy(f->m->params, f->raw_params, bytes);
    return rc;
}

int attn_fit_epoch(attn_fit_state *f, attn_stop_cb should_stop, void *user,
                   attn_epoch_report *report, int *done, attn_error *err) {
    memset(report, 0, sizeof *report);
    report->dev_metric = NAN;
    report->metric_name = metric_name(f->task);
    *done = f->done;
    if (f->done) return attn_fail(err, ATTN_EINVAL, "fit: training already ended");
    const double start = now_seconds();
    report->epoch = f->epoch + 1;
    int stop = 0;
    int rc = train_epoch(f, should_stop, user, report, &stop, err);
    if (!rc && stop == 1)
        rc = attn_fail(err, ATTN_ESTOPPED, "fit: stopped during epoch %d", report->epoch);
    if (!rc) rc = select_epoch(f, report, err);
    if (rc) {
        f->done = *done = 1;
        return rc;
    }
    f->epoch++;
    report->seconds = now_seconds() - start;
    f->since_best = report->is_best ? 0 : f->since_best + 1;
    f->done = stop == 2 || f->epoch >= f->o.max_epochs || out_of_time(f) ||
              (f->o.patience > 0 && f->since_best >= f->o.patience);
    *done = f->done;
    return ATTN_OK;
}

static int fit_setup(attn_fit_state *f, attn_error *err) {
    const size_t n = attn_dataset_examples(f->train), bs = (size_t)f->o.batch_size;
    const size_t steps = (n + bs - 1) / bs;
    if ((double)steps * f->o.max_epochs > INT_MAX)
        return attn_fail(err, ATTN_ELIMIT, "fit: too many steps (%zu per epoch x %d epochs)",
                         steps, f->o.max_epochs);
    attn_train_opts to = f->o.train;
    to.total_steps = (int)steps * f->o.max_epochs;
    int rc = attn_trainer_new(f->m, &to, &f->tr, err);
    if (rc) return rc;
    f->order = malloc(n * sizeof *f->order);
    f->batch = malloc(bs * sizeof *f->batch);
    f->best_params = malloc(f->m->n_params * sizeof *f->best_params);
    if (f->o.ema > 0.0) {
        f->ema_params = malloc(f->m->n_params * sizeof *f->ema_params);
        f->raw_params = malloc(f->m->n_params * sizeof *f->raw_params);
        if (!f->ema_params || !f->raw_params)
            return attn_fail(err, ATTN_ENOMEM, "fit: out of memory");
        memcpy(f->ema_params, f->m->params, f->m->n_params * sizeof *f->ema_params);
        f->table_keep = 1.0;
    }
    if (!f->order || !f->batch || !f->best_params)
        return attn_fail(err, ATTN_ENOMEM, "fit: out of memory");
    memcpy(f->best_params, f->m->params, f->m->n_params * sizeof *f->best_params);
    return ATTN_OK;
}

void attn_fit_abort(attn_fit_state *f) {
    if (!f) return;
    attn_trainer_free(f->tr);
    free(f->order);
    free(f->batch);
    free(f->best_params);
    free(f->ema_params);
    free(f->raw_params);
    free(f);
}

int attn_fit_begin(attn_model *m, const attn_dataset *train, const attn_dataset *dev,
                   const attn_fit_opts *opts, attn_fit_state **out, attn_error *err) {
    *out = NULL;
    if (!m || !m->finished || !train || !opts)
        return attn_fail(err, ATTN_EINVAL, "fit: needs a finished model, a dataset and options");
    int rc = check_fit_opts(opts, err);
    if (!rc) rc = check_compatible(m, train, "fit", err);
    if (!rc && dev) rc = check_compatible(m, dev, "fit (dev)", err);
    if (rc) return rc;
    if (attn_dataset_examples(train) == 0)
        return attn_fail(err, ATTN_EINVAL, "fit: the training set has no examples");
    if (has_task(&m->cfg, ATTN_TASK_MLM) && (!train->mlm_ready || (dev && !dev->mlm_ready)))
        return attn_fail(err, ATTN_EINVAL, "fit: the mlm targets of the datasets are not "
                         "computed (attn_dataset_mlm_targets)");
    attn_fit_state *f = calloc(1, sizeof *f);
    if (!f) return attn_fail(err, ATTN_ENOMEM, "fit: out of memory");
    *f = (attn_fit_state){ .m = m, .train = train, .dev = dev, .o = *opts, .t0 = now_seconds(),
                           .task = selection_task(&m->cfg) };
    f->use_dev = dev && attn_dataset_size(dev) > 0;
    f->best.dev_metric = NAN;
    if ((rc = fit_setup(f, err))) {
        attn_fit_abort(f);
        return rc;
    }
    *out = f;
    return ATTN_OK;
}

void attn_fit_end(attn_fit_state *f, attn_epoch_report *best) {
    if (!f) return;
    memcpy(f->m->params, f->best_params, f->m->n_params * sizeof *f->m->params);
    if (best) {
        if (f->have_best) *best = f->best;
        else memset(best, 0, sizeof *best), best->dev_metric = NAN;
        best->metric_name = metric_name(f->task);
    }
    attn_fit_abort(f);
}

int attn_fit(attn_model *m, const attn_dataset *train, const attn_dataset *dev,
             const attn_fit_opts *opts, attn_epoch_cb on_epoch, attn_stop_cb should_stop,
             void *user, attn_epoch_report *best, attn_error *err) {
    attn_fit_state *f;
    int rc = attn_fit_begin(m, train, dev, opts, &f, err);
    if (rc) return rc;
    int done = 0;
    while (!done) {
        attn_epoch_report r;
        rc = attn_fit_epoch(f, should_stop, user, &r, &done, err);
        if (rc) break;
        if (on_epoch && on_epoch(&r, user)) break;
    }
    attn_fit_end(f, best);
    return rc;
}

/* ---- word vectors into the norm table --------------------------------------------------- */

static int norm_feature(const attn_config *c) {
    for (int f = 0; f < c->n_features; f++)
        if (c->features[f].kind == ATTN_FEAT_NORM) return f;
    return -1;
}

/* Mean of the word's subword rows of wv into dst[wv->dim]; 0 when it has none. */
static int subword_mean(const struct attn_wordvec *wv, const char *word, size_t len,
                        uint32_t *rows, float *dst) {
    const size_t n = attn_subword_rows(word, len, wv->min_n, wv->max_n, wv->n_buckets, rows,
                                       ATTN_SUBWORD_MAX_ROWS);
    if (n == 0) return 0;
    memset(dst, 0, wv->dim * sizeof *dst);
    for (size_t r = 0; r < n; r++) {
        const float *row = wv->table + (size_t)rows[r] * wv->dim;
        for (uint32_t i = 0; i < wv->dim; i++) dst[i] += row[i];
    }
    for (uint32_t i = 0; i < wv->dim; i++) dst[i] /= (float)n;
    return 1;
}

int attn_init_norm_from_wordvec(attn_model *m, const struct attn_wordvec *wv,
                                const char *const *words, size_t n_words, size_t *n_set,
                                attn_error *err) {
    if (n_set) *n_set = 0;
    const int f = norm_feature(&m->cfg);
    if (f < 0) return attn_fail(err, ATTN_EINVAL, "the model has no 'norm' feature");
    if (!wv || !wv->table) return attn_fail(err, ATTN_EINVAL, "no word vectors given");
    const attn_feature_spec spec = m->cfg.features[f];
    if (spec.dim != wv->dim)
        return attn_fail(err, ATTN_EINVAL, "the 'norm' table is %u wide, the word vectors %u",
                         spec.dim, wv->dim);
    const int t = attn_model_tensor_index(m, "embed.norm");
    if (t < 0) return attn_fail(err, ATTN_EMODEL, "the model has no tensor 'embed.norm'");
    float *table = m->params + m->specs[t].offset;      /* [buckets, dim] */
    unsigned char *taken = calloc(spec.n_buckets, 1);
    uint32_t *rows = malloc(ATTN_SUBWORD_MAX_ROWS * sizeof *rows);
    if (!taken || !rows) {
        free(taken);
        free(rows);
        return attn_fail(err, ATTN_ENOMEM, "out of memory (norm table)");
    }
    const attn_feature_spec one = { .kind = ATTN_FEAT_NORM, .n_buckets = spec.n_buckets,
                                    .dim = spec.dim };
    size_t set = 0;
    for (size_t w = 0; w < n_words; w++) {
        const size_t len = words[w] ? strlen(words[w]) : 0;
        if (len == 0) continue;
        uint32_t bucket;
        attn_token_features(words[w], len, &one, 1, &bucket);
        if (taken[bucket]) continue;
        if (subword_mean(wv, words[w], len, rows, table + (size_t)bucket * spec.dim)) {
            taken[bucket] = 1;
            set++;
        }
    }
    free(taken);
    free(rows);
    if (n_set) *n_set = set;
    return ATTN_OK;
}

/* ---- word vectors as the subword table ------------------------------------------------- */

static int subword_feature(const attn_config *c) {
    for (int f = 0; f < c->n_features; f++)
        if (c->features[f].kind == ATTN_FEAT_SUBWORD) return f;
    return -1;
}

/* The subword feature must hash like the word vectors: same buckets, width and n-grams. */
static int check_subword_matches(const attn_feature_spec *fs, const struct attn_wordvec *wv,
                                 attn_error *err) {
    if (fs->n_buckets != wv->n_buckets)
        return attn_fail(err, ATTN_EINVAL, "the 'subword' feature has %u buckets, the word "
                         "vectors %u", fs->n_buckets, wv->n_buckets);
    if (fs->dim != wv->dim)
        return attn_fail(err, ATTN_EINVAL, "the 'subword' table is %u wide, the word vectors %u",
                         fs->dim, wv->dim);
    if (fs->min_n != wv->min_n || fs->max_n != wv->max_n)
        return attn_fail(err, ATTN_EINVAL, "the 'subword' feature uses n-grams %d..%d, the word "
                         "vectors %d..%d", fs->min_n, fs->max_n, wv->min_n, wv->max_n);
    return ATTN_OK;
}

int attn_init_subword_from_wordvec(attn_model *m, const struct attn_wordvec *wv,
                                   attn_error *err) {
    const int f = subword_feature(&m->cfg);
    if (f < 0) return attn_fail(err, ATTN_EINVAL, "the model has no 'subword' feature");
    if (!wv || !wv->table) return attn_fail(err, ATTN_EINVAL, "no word vectors given");
    int rc = check_subword_matches(&m->cfg.features[f], wv, err);
    if (rc) return rc;
    const int t = attn_model_tensor_index(m, "embed.subword");
    if (t < 0) return attn_fail(err, ATTN_EMODEL, "the model has no tensor 'embed.subword'");
    memcpy(m->params + m->specs[t].offset, wv->table,
           (size_t)wv->n_buckets * wv->dim * sizeof *wv->table);    /* [buckets, dim] */
    return ATTN_OK;
}

/* ---- vocabulary of text files ----------------------------------------------------------- */

typedef struct vocab_type {
    size_t offset;             /* into the strings */
    uint32_t len;
    uint64_t count;
} vocab_type;

typedef struct vocab_counter {
    array types;               /* vocab_type */
    array strings;             /* char */
    uint32_t *slots;           /* [n_slots]: 1 + type index, 0 = empty */
    size_t n_slots;
} vocab_counter;

#define VOCAB_HASH_SEED 0x766f636162ull

static const char *type_text(const vocab_counter *c, const vocab_type *t) {
    return (const char *)c->strings.p + t->offset;
}

static size_t find_slot(const vocab_counter *c, const char *s, size_t len) {
    size_t i = (size_t)attn_hash64(VOCAB_HASH_SEED, s, len) & (c->n_slots - 1);
    for (;; i = (i + 1) & (c->n_slots - 1)) {
        if (!c->slots[i]) return i;
        const vocab_type *t = AT(c->types, vocab_type, c->slots[i] - 1);
        if (t->len == len && !memcmp(type_text(c, t), s, len)) return i;
    }
}

static int vocab_rehash(vocab_counter *c) {
    const size_t n = c->n_slots ? 2 * c->n_slots : 1024;
    uint32_t *old = c->slots;
    c->slots = calloc(n, sizeof *c->slots);
    if (!c->slots) { c->slots = old; return -1; }
    c->n_slots = n;
    for (size_t k = 0; k < c->types.n; k++) {
        const vocab_type *t = AT(c->types, vocab_type, k);
        c->slots[find_slot(c, type_text(c, t), t->len)] = (uint32_t)(k + 1);
    }
    free(old);
    return 0;
}

static int vocab_count(vocab_counter *c, const char *s, size_t len) {
    if (2 * (c->types.n + 1) > c->n_slots && vocab_rehash(c)) return -1;
    const size_t slot = find_slot(c, s, len);
    if (c->slots[slot]) {
        AT(c->types, vocab_type, c->slots[slot] - 1)->count++;
        return 0;
    }
    if (c->types.n >= UINT32_MAX - 1) return -1;
    char *dst = array_push(&c->strings, len + 1, 1);
    vocab_type *t = array_push(&c->types, 1, sizeof *t);
    if (!dst || !t) return -1;
    memcpy(dst, s, len);
    dst[len] = 0;
    *t = (vocab_type){ (size_t)(dst - (char *)c->strings.p), (uint32_t)len, 1 };
    c->slots[slot] = (uint32_t)c->types.n;
    return 0;
}

static int vocab_add_file(vocab_counter *c, const char *path, attn_error *err) {
    FILE *fp = attn_fopen_regular(path, err);
    if (!fp) return ATTN_EINVAL;
    attn_tokens toks = { 0 };
    char *line = NULL, norm[ATTN_MAX_NORM_BYTES + 1];
    size_t cap = 0;
    ssize_t len;
    int rc = ATTN_OK;
    while (!rc && (len = getline(&line, &cap, fp)) >= 0) {
        rc = attn_tokenize(line, (size_t)len, &toks, err);
        for (size_t t = 0; !rc && t < toks.n; t++) {
            const attn_token *tk = &toks.tok[t];
            const size_t n = attn_token_norm(line + tk->byte_start, tk->byte_end - tk->byte_start,
                                             norm, sizeof norm);
            if (n && vocab_count(c, norm, n)) rc = attn_fail(err, ATTN_ENOMEM, "out of memory "
                                                             "(vocabulary)");
        }
    }
    if (!rc && ferror(fp)) rc = attn_fail(err, ATTN_EINVAL, "cannot read %s", path);
    free(line);
    attn_tokens_free(&toks);
    fclose(fp);
    return rc;
}

static int by_count_then_bytes(const void *a, const void *b, void *ctx) {
    const vocab_counter *c = ctx;
    const vocab_type *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    const size_t n = x->len < y->len ? x->len : y->len;
    const int d = memcmp(type_text(c, x), type_text(c, y), n);
    if (d) return d;
    return (x->len > y->len) - (x->len < y->len);
}

/* One block: the pointer array, then the NUL-terminated words. */
static char **vocab_block(vocab_counter *c, uint64_t min_count, size_t *n_words) {
    qsort_r(c->types.p, c->types.n, sizeof(vocab_type), by_count_then_bytes, c);
    size_t n = 0, bytes = 0;
    while (n < c->types.n && AT(c->types, vocab_type, n)->count >= min_count)
        bytes += AT(c->types, vocab_type, n)->len + 1, n++;
    char **words = malloc((n + 1) * sizeof *words + bytes);
    if (!words) return NULL;
    char *dst = (char *)(words + n + 1);
    for (size_t k = 0; k < n; k++) {
        const vocab_type *t = AT(c->types, vocab_type, k);
        words[k] = dst;
        memcpy(dst, type_text(c, t), (size_t)t->len + 1);
        dst += t->len + 1;
    }
    words[n] = NULL;
    *n_words = n;
    return words;
}

int attn_vocab_from_files(const char *const *paths, int n_paths, uint64_t min_count,
                          char ***words, size_t *n_words, attn_error *err) {
    *words = NULL;
    *n_words = 0;
    vocab_counter c = { 0 };
    int rc = ATTN_OK;
    for (int p = 0; !rc && p < n_paths; p++) rc = vocab_add_file(&c, paths[p], err);
    if (!rc && !(*words = vocab_block(&c, min_count, n_words)))
        rc = attn_fail(err, ATTN_ENOMEM, "out of memory (vocabulary)");
    free(c.types.p);
    free(c.strings.p);
    free(c.slots);
    return rc;
}

/* ---- mlm: the output vocabulary, targets and masked-token accuracy ---------------------- */

typedef struct word_count { uint64_t hash, count; int32_t index; } word_count;

static int by_hash(const void *a, const void *b) {
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int by_count_then_hash(const void *a, const void *b) {
    const word_count *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return (x->hash > y->hash) - (x->hash < y->hash);
}

static int by_word_hash(const void *a, const void *b) {
    const word_count *x = a, *y = b;
    return (x->hash > y->hash) - (x->hash < y->hash);
}

/* The V most frequent words of ds (index = rank), sorted by hash into *out[*n]. */
static int mlm_vocab(const attn_dataset *ds, int V, word_count **out, size_t *n,
                     attn_error *err) {
    const size_t N = ds->mlm_hash.n;
    uint64_t *h = malloc((N + 1) * sizeof *h);
    word_count *w = malloc((N + 1) * sizeof *w);
    if (!h || !w) { free(h); free(w); return no_memory(err); }
    if (N) memcpy(h, ds->mlm_hash.p, N * sizeof *h);
    qsort(h, N, sizeof *h, by_hash);
    size_t k = 0;
    for (size_t i = 0; i < N; i++) {
        if (k > 0 && w[k - 1].hash == h[i]) w[k - 1].count++;
        else w[k++] = (word_count){ h[i], 1, 0 };
    }
    free(h);
    qsort(w, k, sizeof *w, by_count_then_hash);
    if (k > (size_t)V) k = (size_t)V;
    for (size_t i = 0; i < k; i++) w[i].index = (int32_t)i;
    qsort(w, k, sizeof *w, by_word_hash);
    *out = w;
    *n = k;
    return ATTN_OK;
}

int attn_dataset_mlm_targets(attn_dataset *ds, const attn_dataset *vocab_from, attn_error *err) {
    if (!has_task(&ds->cfg, ATTN_TASK_MLM) || !has_task(&vocab_from->cfg, ATTN_TASK_MLM) ||
        ds->cfg.mlm_vocab != vocab_from->cfg.mlm_vocab)
        return attn_fail(err, ATTN_EINVAL, "mlm targets: both datasets need task mlm with the "
                         "same vocab size");
    word_count *vocab = NULL;
    size_t n_vocab = 0;
    int rc = mlm_vocab(vocab_from, vocab_from->cfg.mlm_vocab, &vocab, &n_vocab, err);
    if (rc) return rc;
    const size_t N = ds->mlm_hash.n;
    ds->mlm_target.n = 0;
    int32_t *target = array_push(&ds->mlm_target, N + 1, sizeof *target);
    if (!target) { free(vocab); return no_memory(err); }
    for (size_t t = 0; t < N; t++) {
        const word_count key = { *AT(ds->mlm_hash, uint64_t, t), 0, 0 };
        const word_count *hit = n_vocab ? bsearch(&key, vocab, n_vocab, sizeof *vocab,
                                                  by_word_hash) : NULL;
        target[t] = hit ? hit->index : -1;
    }
    free(vocab);
    ds->mlm_ready = 1;
    return ATTN_OK;
}

typedef struct mlm_eval_buf {
    uint32_t *rows, mask_rows[ATTN_MAX_SLOTS];
    uint8_t *action;
    int *random_of, *pos, *tgt, *pred;
    float *h, *work;
} mlm_eval_buf;

static void mlm_eval_buf_free(mlm_eval_buf *b) {
    free(b->rows);
    free(b->action);
    free(b->random_of);
    free(b->pos);
    free(b->tgt);
    free(b->pred);
    free(b->h);
    free(b->work);
}

static int mlm_eval_buf_new(const attn_model *m, mlm_eval_buf *b) {
    const size_t L = (size_t)m->cfg.max_len;
    const size_t S = (size_t)attn_feature_slots(m->cfg.features, m->cfg.n_features);
    memset(b, 0, sizeof *b);
    b->rows = malloc(L * S * sizeof *b->rows);
    b->action = malloc(L);
    b->random_of = malloc(L * sizeof(int));
    b->pos = malloc(L * sizeof(int));
    b->tgt = malloc(L * sizeof(int));
    b->pred = malloc(L * sizeof(int));
    b->h = malloc(L * (size_t)m->cfg.dim * sizeof(float));
    b->work = malloc(ATTN_MLM_WORK(m, L) * sizeof(float));
    attn_mlm_mask_rows(&m->cfg, b->mask_rows);
    return b->rows && b->action && b->random_of && b->pos && b->tgt && b->pred && b->h &&
           b->work ? 0 : -1;
}

int attn_mlm_evaluate(const attn_model *m, const attn_dataset *ds, double *accuracy,
                      attn_error *err) {
    *accuracy = NAN;
    if (!has_task(&m->cfg, ATTN_TASK_MLM) || !ds->mlm_ready)
        return attn_fail(err, ATTN_EINVAL, "mlm evaluation: needs an mlm model and a dataset "
                         "with targets");
    int rc = check_compatible(m, ds, "mlm evaluation", err);
    if (rc) return rc;
    mlm_eval_buf b;
    attn_scratch scratch = { 0 };
    if (mlm_eval_buf_new(m, &b)) { mlm_eval_buf_free(&b); return no_memory(err); }
    int64_t correct = 0, predicted = 0;
    for (size_t i = 0; !rc && i < ds->examples.n; i++) {
        const attn_example ex = example_at(ds, i);
        uint64_t seed = ATTN_MLM_EVAL_SEED ^ ((uint64_t)i * 0x9e3779b97f4a7c15ull);
        attn_mlm_choose(ex.mlm_caps, ex.T, seed, b.action);
        attn_mlm_random_sources(b.action, ex.T, seed, b.random_of);
        attn_mlm_apply(&m->cfg, ex.rows, ex.T, b.action, b.random_of, b.mask_rows, b.rows);
        const int M = attn_mlm_positions(b.action, ex.mlm_target, ex.T, b.pos, b.tgt);
        if (M == 0) continue;
        rc = attn_encode(m, b.rows, ex.T, b.h, &scratch, err);
        if (rc) break;
        attn_mlm_predict(m, b.h, b.pos, M, b.pred, b.work);
        for (int k = 0; k < M; k++) correct += b.pred[k] == b.tgt[k];
        predicted += M;
    }
    attn_scratch_free(&scratch);
    mlm_eval_buf_free(&b);
    if (!rc) *accuracy = predicted ? (double)correct / (double)predicted : 0.0;
    return rc;
}
