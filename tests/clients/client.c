/* tests/clients/client.c EXTENSION: attnext from C, as the README shows it.
 * cc -o client client.c -lsqlite3 && ./client ./attnext.so */
#include <sqlite3.h>
#include <stdio.h>

int main(int argc, char **argv) {
    const char *ext = argc > 1 ? argv[1] : "attnext"; /* bare name: after make install */
    sqlite3 *db;
    sqlite3_stmt *st;
    char *err = NULL;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 1;
    /* Enables sqlite3_load_extension() only, not the SQL function load_extension(). */
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 1, NULL);
    if (sqlite3_load_extension(db, ext, "sqlite3_attnext_init", &err) != SQLITE_OK) {
        fprintf(stderr, "load %s: %s\n", ext, err);
        sqlite3_free(err);
        return 1;
    }
    sqlite3_prepare_v2(db, "SELECT attn_classify(?1)", -1, &st, NULL);
    sqlite3_bind_text(st, 1, "What a wonderful, moving film.", -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) printf("%s\n", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_prepare_v2(db, "SELECT entity, label, start, \"end\" FROM attn_entities(?1)", -1, &st,
                       NULL);
    sqlite3_bind_text(st, 1, "Angela Merkel met Barack Obama in Berlin on Monday.", -1,
                      SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        printf("%s|%s|%d|%d\n", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
               sqlite3_column_int(st, 2), sqlite3_column_int(st, 3));
    if (rc != SQLITE_DONE) fprintf(stderr, "%s\n", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc == SQLITE_DONE ? 0 : 1;
}
