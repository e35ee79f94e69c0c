/* train_data.c: datasets of annotated texts (train_data.h): validation of the gold answers,
 * tokens, feature rows, IOB2 tags, chunks of max_len tokens and their relation pairs. The
 * layout is in train_data_impl.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1   /* qsort_r */
#endif
#include "train_data_impl.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "features.h"
#include "mlm.h"

#define LABEL_LIST_BYTES 200   /* label names quoted in an error message, at most */

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

void attn_dataset_set_gazetteer(attn_dataset *ds, attn_gazetteer *gaz) {
    attn_gazetteer_release(ds->gaz);
    ds->gaz = attn_gazetteer_ref(gaz);
}

void attn_dataset_free(attn_dataset *ds) {
    if (!ds) return;
    attn_gazetteer_release(ds->gaz);
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

/* Entity labels resolved and character ranges checked into ds->s_ents. */
static int resolve_entities(attn_dataset *ds, const attn_gold_entity *ents, int n_ents,
                            int64_t n_chars, attn_error *err) {
    ds->s_ents.n = 0;
    attn_char_span *out = array_push(&ds->s_ents, (size_t)n_ents + 1, sizeof *out);
    if (!out) return dataset_no_memory(err);
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
    if (!sp || !order) return dataset_no_memory(err);
    for (int i = 0; i < n; i++) {
        const attn_char_span *e = AT(ds->s_ents, attn_char_span, i);
        int first, end;
        if (!attn_tokens_covering(tok, N, e->start, e->end, &first, &end))
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

/* Tokens inside a gazetteer match (B or I in any list, read off the feature rows just made)
 * are entity-like, as capitalised ones are: mlm masks and rtd replaces them as whole spans. */
static void mark_gazetteer_matches(const attn_config *c, const uint32_t *rows, size_t n_tokens,
                                   uint8_t *caps) {
    const size_t S = (size_t)attn_feature_slots(c->features, c->n_features);
    for (int f = 0, slot = 0; f < c->n_features; slot += attn_feature_n_slots(&c->features[f]), f++) {
        if (c->features[f].kind != ATTN_FEAT_GAZETTEER) continue;
        const int n = attn_feature_n_slots(&c->features[f]);
        for (size_t t = 0; t < n_tokens; t++)
            for (int k = 0; k < n; k++)
                if (rows[t * S + (size_t)(slot + k)] % ATTN_GAZ_TAGS != ATTN_GAZ_O) caps[t] = 1;
    }
}

/* mlm, rtd: the normalised-word hash of every token of the text, and whether it is
 * entity-like (capitalised, or in a gazetteer match); rows[tokens, S] are its feature rows. */
static int mlm_words(attn_dataset *ds, const char *text, const uint32_t *rows, attn_error *err) {
    uint64_t *hash = array_push(&ds->mlm_hash, ds->toks.n, sizeof *hash);
    uint8_t *caps = array_push(&ds->mlm_caps, ds->toks.n, sizeof *caps);
    if (!hash || !caps) return dataset_no_memory(err);
    char norm[ATTN_MAX_NORM_BYTES + 1];
    for (size_t t = 0; t < ds->toks.n; t++) {
        const attn_token *tk = &ds->toks.tok[t];
        const char *s = text + tk->byte_start;
        const size_t n = tk->byte_end - tk->byte_start;
        hash[t] = attn_hash64(0x6d6c6d, norm, attn_token_norm(s, n, norm, sizeof norm));
        caps[t] = (uint8_t)attn_mlm_is_capitalised(s, n);
    }
    if (ds->gaz) mark_gazetteer_matches(&ds->cfg, rows, ds->toks.n, caps);
    ds->mlm_ready = 0;
    return ATTN_OK;
}

/* Feature rows of every token of the text, appended to ds->rows. */
static int featurise(attn_dataset *ds, const char *text, attn_error *err) {
    const int slots = attn_feature_slots(ds->cfg.features, ds->cfg.n_features);
    uint32_t *rows = array_push(&ds->rows, ds->toks.n * (size_t)slots, sizeof *rows);
    if (!rows) return dataset_no_memory(err);
    attn_sequence_features(text, ds->toks.tok, ds->toks.n, ds->cfg.features, ds->cfg.n_features,
                           ds->gaz, rows);
    return has_task(&ds->cfg, ATTN_TASK_MLM) || has_task(&ds->cfg, ATTN_TASK_RTD)
               ? mlm_words(ds, text, rows, err) : ATTN_OK;
}

/* Spans lying inside tokens [c0, c1) and the relations between two of them, rebased to the
 * chunk, appended to ds->spans / ds->rels for example ex. */
static int chunk_relations(attn_dataset *ds, const text_rec *tr, int c0, int c1,
                           example_rec *ex, attn_error *err) {
    const int n = tr->n_ents;
    ds->s_local.n = 0;
    int *local = array_push(&ds->s_local, (size_t)n + 1, sizeof *local);
    if (!local) return dataset_no_memory(err);
    ex->span_off = ds->spans.n;
    ex->n_spans = 0;
    for (int i = 0; i < n; i++) {
        const attn_span *s = AT(ds->s_tok, attn_span, i);
        local[i] = -1;
        if (s->start < c0 || s->end > c1) continue;
        attn_span *o = array_push(&ds->spans, 1, sizeof *o);
        if (!o) return dataset_no_memory(err);
        *o = (attn_span){ s->start - c0, s->end - c0, s->label };
        local[i] = ex->n_spans++;
    }
    ex->rel_off = ds->rels.n;
    ex->n_rels = 0;
    for (int r = 0; r < tr->n_rels; r++) {
        const attn_rel_gold g = *AT(ds->gold_rels, attn_rel_gold, tr->rel_off + (size_t)r);
        if (local[g.head] < 0 || local[g.tail] < 0) continue;
        attn_rel_gold *o = array_push(&ds->rels, 1, sizeof *o);
        if (!o) return dataset_no_memory(err);
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
    const int mlm = has_task(&ds->cfg, ATTN_TASK_MLM) || has_task(&ds->cfg, ATTN_TASK_RTD);
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
        if (!slot) return dataset_no_memory(err);
        *slot = ex;
    }
    return ATTN_OK;
}

/* Tags of the whole text appended to ds->tags (all O without entity gold). */
static int tag_text(attn_dataset *ds, const text_rec *tr, attn_error *err) {
    const int N = (int)ds->toks.n;
    int *tags = array_push(&ds->tags, (size_t)N, sizeof *tags);
    if (!tags) return dataset_no_memory(err);
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
    if (!bytes || !ents || !r || !slot) return dataset_no_memory(err);
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
    if (!gold_rels) return dataset_no_memory(err);
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

/* ---- character spans -> IOB2 ------------------------------------------------------------- */

int attn_char_spans_to_iob2(const attn_token *toks, int n_tokens, int64_t n_chars,
                            const attn_char_span *spans, int n_spans, int n_labels,
                            int *tags, attn_span *tok_spans, attn_error *err) {
    for (int t = 0; t < n_tokens; t++) tags[t] = 0;
    for (int i = 0; i < n_spans; i++) {
        const attn_char_span *sp = &spans[i];
        if (sp->start < 0 || sp->end <= sp->start || sp->end > n_chars)
            return attn_fail(err, ATTN_EINVAL, "entity %d: span [%lld, %lld) is not inside the "
                             "text (%lld characters) or is empty", i, (long long)sp->start,
                             (long long)sp->end, (long long)n_chars);
        if (sp->label < 0 || sp->label >= n_labels)
            return attn_fail(err, ATTN_EINVAL, "entity %d: label %d out of range (%d labels)",
                             i, sp->label, n_labels);
        int first, end;                     /* tokens overlapping the span (snap outward) */
        if (!attn_tokens_covering(toks, n_tokens, sp->start, sp->end, &first, &end))
            return attn_fail(err, ATTN_EINVAL, "entity %d: span [%lld, %lld) covers no token",
                             i, (long long)sp->start, (long long)sp->end);
        for (int t = first; t < end; t++) {
            if (tags[t] != 0)
                return attn_fail(err, ATTN_EINVAL, "entity %d: span [%lld, %lld) overlaps "
                                 "another entity at token %d", i, (long long)sp->start,
                                 (long long)sp->end, t);
            tags[t] = (t == first ? 1 : 2) + 2 * sp->label;
        }
        if (tok_spans) tok_spans[i] = (attn_span){ first, end, sp->label };
    }
    return ATTN_OK;
}

/* ---- examples and compatibility ---------------------------------------------------------- */

static const attn_span no_spans[1];
static const attn_rel_gold no_rels[1];

attn_example attn_dataset_example_at(const attn_dataset *ds, size_t i) {
    const example_rec *r = AT(ds->examples, example_rec, i);
    const int slots = attn_feature_slots(ds->cfg.features, ds->cfg.n_features);
    attn_example ex = { .rows = AT(ds->rows, uint32_t, r->tok_off * (size_t)slots), .T = r->T,
                        .label = r->label };
    if (r->has_tags) ex.tags = AT(ds->tags, int, r->tok_off);
    if (ds->mlm_ready) {
        ex.mlm_target = AT(ds->mlm_target, int32_t, r->tok_off);
        ex.mlm_caps = AT(ds->mlm_caps, uint8_t, r->tok_off);
    }
    if (has_task(&ds->cfg, ATTN_TASK_RTD)) ex.mlm_caps = AT(ds->mlm_caps, uint8_t, r->tok_off);
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
    *out = attn_dataset_example_at(ds, i);
    return ATTN_OK;
}

static int labels_equal(const attn_labels *a, const attn_labels *b) {
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->names[i], b->names[i])) return 0;
    return 1;
}

/* The dataset was built for a config with the same inputs and labels as the model's. */
int attn_dataset_check_compatible(const attn_model *m, const attn_dataset *ds, const char *what,
                                  attn_error *err) {
    const attn_config *a = &m->cfg, *b = &ds->cfg;
    int same = a->tasks == b->tasks && a->max_len == b->max_len &&
               a->n_features == b->n_features &&
               labels_equal(&a->classify_labels, &b->classify_labels) &&
               labels_equal(&a->entity_labels, &b->entity_labels) &&
               labels_equal(&a->relation_labels, &b->relation_labels) &&
               m->gazetteer == ds->gaz;
    for (int f = 0; same && f < a->n_features; f++)
        same = a->features[f].kind == b->features[f].kind &&
               a->features[f].n_buckets == b->features[f].n_buckets &&
               a->features[f].affix == b->features[f].affix &&
               a->features[f].min_n == b->features[f].min_n &&
               a->features[f].max_n == b->features[f].max_n;
    if (!same)
        return attn_fail(err, ATTN_EINVAL, "%s: the dataset was built for another config (tasks, "
                         "max_len, features, gazetteer lists or labels differ from the "
                         "model's)", what);
    return ATTN_OK;
}
