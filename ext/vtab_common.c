/* vtab_common.c: what the eponymous table-valued functions share (see ext.h): creating and
 * freeing the vtab and cursor structs, the error helper, and the mapping of the HIDDEN
 * argument columns to xFilter arguments in the manner of SQLite's generate_series; and
 * sqlite_grow, which the whole binding uses. */
#include "ext.h"

#include <assert.h>
#include <string.h>

static void *sqlite_realloc(void *p, size_t bytes) {
    return sqlite3_realloc64(p, (sqlite3_uint64)bytes);
}

int sqlite_grow(void **p, size_t *cap, size_t n, size_t elem) {
    return attn_grow_with(sqlite_realloc, p, cap, n, elem) == ATTN_OK ? SQLITE_OK : SQLITE_NOMEM;
}

int vtab_new(sqlite3 *db, const char *schema, int vtab_config, size_t size,
             sqlite3_vtab **out) {
    int rc = sqlite3_declare_vtab(db, schema);
    if (rc != SQLITE_OK) return rc;
    sqlite3_vtab *vt = sqlite3_malloc64(size);
    if (!vt) return SQLITE_NOMEM;
    memset(vt, 0, size);
    sqlite3_vtab_config(db, vtab_config);
    *out = vt;
    return SQLITE_OK;
}

int vtab_disconnect(sqlite3_vtab *vt) {
    sqlite3_free(vt);
    return SQLITE_OK;
}

int vtab_cursor_new(size_t size, sqlite3_vtab_cursor **out) {
    sqlite3_vtab_cursor *cur = sqlite3_malloc64(size);
    if (!cur) return SQLITE_NOMEM;
    memset(cur, 0, size);
    *out = cur;
    return SQLITE_OK;
}

int vtab_error(sqlite3_vtab *vt, int rc, char *msg) {
    sqlite3_free(vt->zErrMsg);
    vt->zErrMsg = msg;
    return msg ? rc : SQLITE_NOMEM;       /* no message: sqlite3_mprintf ran out of memory */
}

int vtab_call_error(sqlite3_vtab *vt, int rc, char *err_msg) {
    if (rc == SQLITE_NOMEM) {
        sqlite3_free(err_msg);
        return rc;
    }
    return vtab_error(vt, rc == SQLITE_INTERRUPT ? rc : SQLITE_ERROR, err_msg);
}

int vtab_bind_args(sqlite3_vtab *vt, sqlite3_index_info *info, const vtab_args *spec) {
    (void)vt;   /* errors are reported by xFilter (vtab_missing_args) */
    assert(spec->n_args <= VTAB_MAX_ARGS);
    int usable[VTAB_MAX_ARGS];      /* per argument: its usable constraint, or -1 */
    int unusable[VTAB_MAX_ARGS];    /* per argument: 1 when constrained but not usable yet */
    for (int a = 0; a < spec->n_args; a++) {
        usable[a] = -1;
        unusable[a] = 0;
    }
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        int arg = c->iColumn - spec->first_col;
        if (arg < 0 || arg >= spec->n_args || c->op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
        if (c->usable) usable[arg] = i;
        else unusable[arg] = 1;
    }
    /* present but not usable yet: ask SQLite for a join order that supplies it */
    for (int a = 0; a < spec->n_args; a++)
        if (unusable[a] && usable[a] < 0) return SQLITE_CONSTRAINT;
    for (int a = 0; a < spec->n_required; a++)
        if (usable[a] < 0) {
            info->idxNum = VTAB_ARGS_MISSING;
            info->idxStr = sqlite3_mprintf("%s: missing %s: use %s(%s)", spec->fn, spec->missing,
                                           spec->fn, spec->usage);
            if (!info->idxStr) return SQLITE_NOMEM;
            info->needToFreeIdxStr = 1;
            info->estimatedCost = 1e300;
            info->estimatedRows = (sqlite3_int64)1 << 62;
            return SQLITE_OK;
        }
    int next = 1;
    info->idxNum = 0;
    for (int a = 0; a < spec->n_args; a++) {
        if (usable[a] < 0) continue;
        info->aConstraintUsage[usable[a]].argvIndex = next++;
        info->aConstraintUsage[usable[a]].omit = 1;
        info->idxNum |= 1 << a;
    }
    info->estimatedCost = spec->cost;
    info->estimatedRows = spec->rows;
    return SQLITE_OK;
}

int vtab_missing_args(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str) {
    if (idx_num != VTAB_ARGS_MISSING) return SQLITE_OK;
    return vtab_error(cur->pVtab, SQLITE_ERROR, sqlite3_mprintf("%s", idx_str ? idx_str : "?"));
}

void vtab_filter_args(int idx_num, int argc, sqlite3_value **argv, int n_args,
                      sqlite3_value **args) {
    for (int a = 0, k = 0; a < n_args; a++)
        args[a] = (idx_num & (1 << a)) && k < argc ? argv[k++] : NULL;
}
