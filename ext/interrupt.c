/* interrupt.c: has sqlite3_interrupt been called on this connection? The engine's long loops
 * (training steps, encoder windows, relation pairs) ask through an attn_stop_cb; this is the
 * one the binding passes them.
 *
 * sqlite3_is_interrupted appeared in 3.41.0. Before, a probe statement tells: while the
 * interrupted statement runs, the connection's flag stays set and any statement stepped on it
 * fails with SQLITE_INTERRUPT. The probe is prepared on the first check, not per call: a call
 * short enough never to check costs nothing. */
#include "ext.h"

#define ATTN_SQLITE_IS_INTERRUPTED_VERSION 3041000

void interrupt_probe_init(interrupt_probe *p, sqlite3 *db) {
    p->db = db;
    p->st = NULL;
}

int interrupt_probe_check(void *user) {
    interrupt_probe *p = user;
#ifdef sqlite3_is_interrupted
    if (sqlite3_libversion_number() >= ATTN_SQLITE_IS_INTERRUPTED_VERSION)
        return sqlite3_is_interrupted(p->db);
#endif
    if (!p->st) {
        /* Preparing fails too once the flag is set (the parser checks it). */
        int rc = sqlite3_prepare_v2(p->db, "SELECT count(*) FROM (VALUES(1),(2))", -1, &p->st,
                                    NULL);
        if (rc != SQLITE_OK) return rc == SQLITE_INTERRUPT;
    }
    int rc = sqlite3_step(p->st);
    sqlite3_reset(p->st);
    return rc == SQLITE_INTERRUPT;
}

void interrupt_probe_done(interrupt_probe *p) {
    sqlite3_finalize(p->st);
    p->st = NULL;
}
