/* builtin.c: models compiled into the library.
 *
 * Each is a SQLite database image (the same attn_model table users have) embedded with the
 * assembler's .incbin from the list in builtin_list.h. A lookup that finds a name in no
 * attached database opens the image read-only in a private in-memory connection
 * (sqlite3_deserialize, no copy) and loads it through the same code as a user's table, so a
 * built-in is checked exactly like any other model. */
#include "ext.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BUILTIN_MMAP_BYTES "1073741824"   /* PRAGMA mmap_size: more than any image */

#define ATTN_BUILTIN(sym, name, path)                                                       \
    __asm__(".pushsection .rodata\n"                                                        \
            ".balign 16\n"                                                                  \
            ".globl attn_builtin_" #sym "_start\n"                                          \
            ".hidden attn_builtin_" #sym "_start\n"                                         \
            "attn_builtin_" #sym "_start:\n"                                                \
            ".incbin \"" path "\"\n"                                                        \
            ".globl attn_builtin_" #sym "_end\n"                                            \
            ".hidden attn_builtin_" #sym "_end\n"                                           \
            "attn_builtin_" #sym "_end:\n"                                                  \
            ".popsection\n");                                                               \
    extern const unsigned char attn_builtin_##sym##_start[]                                 \
        __attribute__((visibility("hidden")));                                              \
    extern const unsigned char attn_builtin_##sym##_end[] __attribute__((visibility("hidden")));
#include "builtin_list.h"
#undef ATTN_BUILTIN

#define ATTN_BUILTIN(sym, name, path) {name, attn_builtin_##sym##_start, attn_builtin_##sym##_end},
static const builtin_model builtins[] = {
#include "builtin_list.h"
    {NULL, NULL, NULL}          /* end marker; keeps the array non-empty */
};
#undef ATTN_BUILTIN

int builtin_count(void) { return (int)(sizeof builtins / sizeof builtins[0]) - 1; }

const builtin_model *builtin_get(int i) {
    return i >= 0 && i < builtin_count() ? &builtins[i] : NULL;
}

const builtin_model *builtin_find(const char *name) {
    for (int i = 0; i < builtin_count(); i++)
        if (strcmp(builtins[i].name, name) == 0) return &builtins[i];
    return NULL;
}

int builtin_open(const builtin_model *b, sqlite3 **db, char **err_msg) {
    *db = NULL;
    if (!sqlite3_api->deserialize) {
        *err_msg = sqlite3_mprintf("built-in models need sqlite3_deserialize, which this "
                                   "SQLite was built without");
        return SQLITE_ERROR;
    }
    int rc = sqlite3_open_v2(":memory:", db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_int64 n = (sqlite3_int64)(b->end - b->start);
        /* READONLY and no FREEONCLOSE: SQLite reads the image in place and never writes it. */
        rc = sqlite3_deserialize(*db, "main", (unsigned char *)b->start, n, n,
                                 SQLITE_DESERIALIZE_READONLY);
    }
    /* Memory-mapped reads: pages are read in place from the image instead of being copied
     * into the page cache first (a blob spanning overflow pages is still copied once). */
    if (rc == SQLITE_OK) rc = sqlite3_exec(*db, "PRAGMA mmap_size = " BUILTIN_MMAP_BYTES, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        *err_msg = sqlite3_mprintf("built-in '%s': %s", b->name,
                                   *db ? sqlite3_errmsg(*db) : "out of memory");
        sqlite3_close(*db);
        *db = NULL;
    }
    return rc;
}

void builtin_drop_pages(const builtin_model *b) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t lo = ((uintptr_t)b->start + page - 1) / page * page;
    const uintptr_t hi = (uintptr_t)b->end / page * page;
    if (page && hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

const char ATTN_DEFAULT_BY_TEXT[] = "(the default model of the text's language)";

/* The default of each task per script; NULL: the other script's. */
static const struct { int task; const char *other, *han; } defaults[] = {
    {ATTN_TASK_CLASSIFY, "en-sentiment", "zh-sentiment"},
    {ATTN_TASK_ENTITIES, "en-ner", "zh-ner"},
    {ATTN_TASK_RELATIONS, "en-rel", NULL},
};

const char *default_model_of_script(int task, int han) {
    for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++) {
        if (defaults[i].task != task) continue;
        return han && defaults[i].han ? defaults[i].han : defaults[i].other;
    }
    return "en-ner";   /* unreachable: every task function is listed */
}

const char *default_model(int task, const char *text, size_t n_bytes) {
    return default_model_of_script(task, attn_text_script(text, n_bytes) == ATTN_SCRIPT_HAN);
}
