/* attnext-node: one dqlite node whose every SQLite connection has attnext loaded.
 *
 *   attnext-node --id N --address HOST:PORT --dir DIR [--join HOST:PORT[,...]]
 *                [--ext PATH] [--latency-ms MS]
 *
 * The node opens its connections in-process with the system libsqlite3, so the extension is
 * registered with sqlite3_auto_extension before the node starts: every connection dqlite opens
 * then has the attn_* functions and the built-in models, and models trained with attn_train
 * are rows of attn_model, replicated with the data. Node 1 bootstraps a cluster of itself
 * (dqlite does so for id 1 on first start); any other node, given --join, asks the leader
 * (found through the listed addresses) to ADD it and ASSIGN it the voter role, as the wire
 * protocol's membership requests allow. It runs until SIGTERM or SIGINT, then stops cleanly.
 * --latency-ms is dqlite_node_set_network_latency_ms (Raft's heartbeat and election timeouts
 * scale with it; README "Running on a cluster"). */
#include <dlfcn.h>
#include <dqlite.h>
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "wire.h"

#define JOIN_TIMEOUT_MS 30000

/* dqlite replicates a write only when it runs as an EXEC request; a write made while a QUERY
 * runs (attn_train inside "SELECT * FROM attn_train(...)" writes attn_model from within a
 * read-only statement) reaches the node's WAL outside replication, and libdqlite aborts the
 * node at its next request. So on a node, a write prepared while statements run, none of
 * which writes, is refused ("not authorized"); a write prepared with none running (the
 * statement a client sent) or under a writing statement (CREATE TABLE log AS SELECT * FROM
 * attn_train(...)) goes ahead. */
static int only_reads_running(sqlite3 *db) {
    int busy = 0;
    for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st; st = sqlite3_next_stmt(db, st)) {
        if (!sqlite3_stmt_busy(st)) continue;
        if (!sqlite3_stmt_readonly(st)) return 0;
        busy = 1;
    }
    return busy;
}

static int node_authorizer(void *arg, int action, const char *a1, const char *a2, const char *db_name,
                           const char *trigger) {
    (void)a1, (void)a2, (void)trigger;
    switch (action) {
    case SQLITE_INSERT: case SQLITE_UPDATE: case SQLITE_DELETE: case SQLITE_CREATE_TABLE:
    case SQLITE_DROP_TABLE: case SQLITE_CREATE_INDEX: case SQLITE_DROP_INDEX:
        if (db_name && !strcmp(db_name, "temp")) return SQLITE_OK;
        /* fall through */
    case SQLITE_SAVEPOINT: case SQLITE_TRANSACTION:
        return only_reads_running((sqlite3 *)arg) ? SQLITE_DENY : SQLITE_OK;
    default:
        return SQLITE_OK;
    }
}

/* Registered after the extension, so it runs on every connection the node opens. */
static int node_connection_init(sqlite3 *db, char **err, const sqlite3_api_routines *api) {
    (void)err, (void)api;
    return sqlite3_set_authorizer(db, node_authorizer, db);
}

static void usage(void) {
    fprintf(stderr, "usage: attnext-node --id N --address HOST:PORT --dir DIR [--join HOST:PORT[,...]]\n"
                    "                    [--ext PATH] [--latency-ms MS]\n");
    exit(2);
}

/* Asks the cluster at `addrs` to take node (id, address) as a voter. A node that is already a
 * member (a restart) is fine: ADD fails and ASSIGN of its current role succeeds or is skipped. */
static int join(unsigned long long id, const char *address, const char *addrs, char *err, size_t n) {
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        dqw c;
        int ok = 0;
        if (dqw_connect_leader(&c, addrs, 5000) == 0) {
            dqw_node nodes[64];
            int count = 0, member = 0, voter = 0;
            if (dqw_cluster(&c, nodes, 64, &count) == 0)
                for (int i = 0; i < count; i++)
                    if (nodes[i].id == id) member = 1, voter = nodes[i].role == DQW_VOTER;
            if (voter) ok = 1;
            else if ((member || dqw_add(&c, id, address) == 0) && dqw_assign(&c, id, DQW_VOTER) == 0)
                ok = 1;
        }
        if (!ok) snprintf(err, n, "%s", c.err);
        dqw_close(&c);
        if (ok) return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (ms > JOIN_TIMEOUT_MS) return -1;
        usleep(300 * 1000);
    }
}

int main(int argc, char **argv) {
    unsigned long long id = 0;
    const char *address = NULL, *dir = NULL, *join_addrs = NULL, *ext = NULL;
    unsigned latency_ms = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (!strcmp(a, "--id")) id = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--address")) address = v;
        else if (!strcmp(a, "--dir")) dir = v;
        else if (!strcmp(a, "--join")) join_addrs = v;
        else if (!strcmp(a, "--ext")) ext = v;
        else if (!strcmp(a, "--latency-ms")) latency_ms = (unsigned)strtoul(v, NULL, 10);
        else usage();
        i++;
    }
    if (id == 0 || !address || !dir) usage();
    if (id != 1 && !join_addrs) {
        fprintf(stderr, "attnext-node: node %llu needs --join (only node 1 starts a new cluster)\n", id);
        return 2;
    }
    if (!ext) ext = "./attnext.so";

    /* The extension first: dqlite opens connections as soon as it serves requests. */
    void *so = dlopen(ext, RTLD_NOW | RTLD_LOCAL);
    if (!so) { fprintf(stderr, "attnext-node: %s\n", dlerror()); return 1; }
    void *init = dlsym(so, "sqlite3_attnext_init");
    if (!init) { fprintf(stderr, "attnext-node: %s: no sqlite3_attnext_init\n", ext); return 1; }
    int rc = sqlite3_auto_extension((void (*)(void))init);
    if (rc == SQLITE_OK) rc = sqlite3_auto_extension((void (*)(void))node_connection_init);
    if (rc != SQLITE_OK) { fprintf(stderr, "attnext-node: sqlite3_auto_extension: %d\n", rc); return 1; }

    if (mkdir(dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "attnext-node: mkdir %s: %s\n", dir, strerror(errno));
        return 1;
    }
    /* A peer that dies leaves sockets whose writes fail: EPIPE, not a fatal SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    /* Block the stop signals before dqlite starts its thread, so only sigwait sees them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    dqlite_node *node;
    rc = dqlite_node_create(id, address, dir, &node);
    if (rc) { fprintf(stderr, "attnext-node: dqlite_node_create: %d\n", rc); return 1; }
    if ((rc = dqlite_node_set_bind_address(node, address)) ||
        (latency_ms && (rc = dqlite_node_set_network_latency_ms(node, latency_ms))) ||
        (rc = dqlite_node_start(node))) {
        fprintf(stderr, "attnext-node %llu: start on %s: %s\n", id, address, dqlite_node_errmsg(node));
        dqlite_node_destroy(node);
        return 1;
    }
    if (join_addrs) {
        char err[DQW_ERR_MAX] = "";
        if (join(id, address, join_addrs, err, sizeof err)) {
            fprintf(stderr, "attnext-node %llu: could not join %s within %d s: %s\n", id, join_addrs,
                    JOIN_TIMEOUT_MS / 1000, err);
            dqlite_node_stop(node);
            dqlite_node_destroy(node);
            return 1;
        }
    }
    fprintf(stderr, "attnext-node %llu: serving on %s (data in %s)\n", id, address, dir);

    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "attnext-node %llu: signal %d, stopping\n", id, sig);
    dqlite_node_stop(node);
    dqlite_node_destroy(node);
    return 0;
}
