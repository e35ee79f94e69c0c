/* wire.h: a minimal client of dqlite's wire protocol (version 1), enough for attnext's cluster
 * tools: find the leader, list and grow the cluster (ADD, ASSIGN), open a database, run SQL.
 *
 * One dqw is one TCP connection to one node. Every call returns 0 on success or -1 with a
 * message in c->err ("node 127.0.0.1:9001: not leader", "connect 127.0.0.1:9002: refused").
 * A FAILURE response from the node also sets c->code (a SQLite or dqlite error code); I/O
 * errors leave it 0. Reads and writes time out after the connection's timeout (dqw_connect). */
#ifndef ATTN_CLUSTER_WIRE_H
#define ATTN_CLUSTER_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define DQW_ADDR_MAX 128     /* "host:port" */
#define DQW_ERR_MAX 512

/* Roles of dqlite's ASSIGN request. */
enum { DQW_VOTER = 0, DQW_STANDBY = 1, DQW_SPARE = 2 };

typedef struct dqw {
    int fd;
    char addr[DQW_ADDR_MAX];
    uint8_t *buf;              /* one message, grown as needed */
    size_t cap, len, pos;      /* read cursor over buf[0, len) */
    uint64_t code;             /* the node's failure code of the last call, 0 if none */
    char err[DQW_ERR_MAX];
} dqw;

/* One node of the cluster (CLUSTER response). */
typedef struct dqw_node {
    uint64_t id;
    char addr[DQW_ADDR_MAX];
    uint64_t role;
} dqw_node;

/* A value of a result row. type: 1 integer, 2 float, 3 text, 4 blob, 5 null (dqlite's codes;
 * 9-11, time and boolean, arrive as integer or text). text/blob point into the message. */
typedef struct dqw_value {
    int type;
    int64_t i;
    double f;
    const char *s;
    size_t n;
} dqw_value;

/* Called once per result row; a non-zero return stops reading (the rest is drained). */
typedef int (*dqw_row_fn)(void *ctx, int n_cols, const char *const *names, const dqw_value *v);

int dqw_connect(dqw *c, const char *addr, int timeout_ms);
void dqw_close(dqw *c);

/* The node's view of the leader: *id 0 and addr "" when it knows none. */
int dqw_leader(dqw *c, uint64_t *id, char *addr, size_t addr_size);
/* The cluster's members (on the leader); *n set to how many, up to max. */
int dqw_cluster(dqw *c, dqw_node *nodes, int max, int *n);
/* Membership (on the leader): ADD a node as spare, then ASSIGN it a role. */
int dqw_add(dqw *c, uint64_t id, const char *addr);
int dqw_assign(dqw *c, uint64_t id, uint64_t role);

int dqw_open(dqw *c, const char *name, uint32_t *db_id);
/* EXEC_SQL: runs sql (one statement or several); changes may be NULL. */
int dqw_exec(dqw *c, uint32_t db_id, const char *sql, uint64_t *changes);
/* QUERY_SQL: runs one statement and calls fn for each row. */
int dqw_query(dqw *c, uint32_t db_id, const char *sql, dqw_row_fn fn, void *ctx);

/* Connects to the leader among the comma-separated addrs (asking each node in turn, retrying
 * until timeout_ms has passed). On success c is connected to the leader. */
int dqw_connect_leader(dqw *c, const char *addrs, int timeout_ms);

#endif
