/* attnext-dq: a small client of a dqlite cluster (wire.h), for scripts and tests.
 *
 *   attnext-dq -s ADDR[,ADDR...] [-t SECONDS] DB [SQL]   run SQL on the leader (or each line
 *                                                       of stdin when SQL is absent)
 *   attnext-dq -s ADDR[,ADDR...] --leader               print the leader: "ID ADDRESS"
 *   attnext-dq -s ADDR[,ADDR...] --cluster              print each member: "ID ADDRESS ROLE"
 *
 * Statements starting with SELECT, VALUES, PRAGMA, EXPLAIN or WITH (without INSERT, UPDATE,
 * DELETE or REPLACE) are queries: their rows are
 * printed one a line, columns separated by '|', as the sqlite3 shell does (NULL empty, reals
 * with %.17g). Others are executed and print nothing. -t bounds the search for a leader and
 * each statement (default 60 s). Exit status 1 with the node's message on any error. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wire.h"

static void usage(void) {
    fprintf(stderr, "usage: attnext-dq -s ADDR[,ADDR...] [-t SECONDS] DB [SQL]\n"
                    "       attnext-dq -s ADDR[,ADDR...] [-t SECONDS] --leader | --cluster\n");
    exit(2);
}

static int print_row(void *ctx, int n, const char *const *names, const dqw_value *v) {
    (void)ctx, (void)names;
    for (int i = 0; i < n; i++) {
        if (i) putchar('|');
        switch (v[i].type) {
        case 1: printf("%lld", (long long)v[i].i); break;
        case 2: printf("%.17g", v[i].f); break;
        case 3: case 4: fwrite(v[i].s, 1, v[i].n, stdout); break;
        default: break;
        }
    }
    putchar('\n');
    return 0;
}

static int starts_with_word(const char *s, const char *word) {
    size_t n = strlen(word);
    return !strncasecmp(s, word, n) && !isalnum((unsigned char)s[n]) && s[n] != '_';
}

/* dqlite refuses a write sent as a query, so WITH ... INSERT/UPDATE/DELETE is executed. */
static int is_query(const char *sql) {
    static const char *const reads[] = {"select", "values", "pragma", "explain"};
    static const char *const writes[] = {"insert", "update", "delete", "replace"};
    while (isspace((unsigned char)*sql) || *sql == '(') sql++;
    for (size_t i = 0; i < sizeof reads / sizeof *reads; i++)
        if (starts_with_word(sql, reads[i])) return 1;
    if (!starts_with_word(sql, "with")) return 0;
    for (const char *p = sql; *p; p++)
        if (p == sql || !isalnum((unsigned char)p[-1]))
            for (size_t i = 0; i < sizeof writes / sizeof *writes; i++)
                if (starts_with_word(p, writes[i])) return 0;
    return 1;
}

static int run(dqw *c, uint32_t db, const char *sql) {
    int rc = is_query(sql) ? dqw_query(c, db, sql, print_row, NULL) : dqw_exec(c, db, sql, NULL);
    fflush(stdout);
    return rc;
}

int main(int argc, char **argv) {
    const char *servers = NULL, *db_name = NULL, *sql = NULL;
    int timeout_s = 60, leader = 0, cluster = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-s") && i + 1 < argc) servers = argv[++i];
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) timeout_s = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--leader")) leader = 1;
        else if (!strcmp(argv[i], "--cluster")) cluster = 1;
        else if (argv[i][0] == '-') usage();
        else if (!db_name) db_name = argv[i];
        else if (!sql) sql = argv[i];
        else usage();
    }
    if (!servers || timeout_s <= 0 || (!db_name && !leader && !cluster)) usage();

    dqw c;
    if (dqw_connect_leader(&c, servers, timeout_s * 1000)) {
        fprintf(stderr, "attnext-dq: %s\n", c.err);
        return 1;
    }
    /* dqw_connect_leader used short timeouts; statements get the full one. */
    char leader_addr[DQW_ADDR_MAX];
    snprintf(leader_addr, sizeof leader_addr, "%s", c.addr);
    dqw_close(&c);
    if (dqw_connect(&c, leader_addr, timeout_s * 1000)) {
        fprintf(stderr, "attnext-dq: %s\n", c.err);
        return 1;
    }
    int rc = 0;
    if (leader) {
        uint64_t id = 0;
        char addr[DQW_ADDR_MAX];
        rc = dqw_leader(&c, &id, addr, sizeof addr);
        if (!rc) printf("%llu %s\n", (unsigned long long)id, addr);
    } else if (cluster) {
        dqw_node nodes[64];
        int n = 0;
        static const char *const roles[] = {"voter", "standby", "spare"};
        rc = dqw_cluster(&c, nodes, 64, &n);
        for (int i = 0; !rc && i < n; i++)
            printf("%llu %s %s\n", (unsigned long long)nodes[i].id, nodes[i].addr,
                   nodes[i].role < 3 ? roles[nodes[i].role] : "?");
    } else {
        uint32_t db = 0;
        rc = dqw_open(&c, db_name, &db);
        if (!rc && sql) {
            rc = run(&c, db, sql);
        } else if (!rc) {
            char *line = NULL;
            size_t cap = 0;
            ssize_t len;
            while (!rc && (len = getline(&line, &cap, stdin)) > 0) {
                while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
                if (len > 0) rc = run(&c, db, line);
            }
            free(line);
        }
    }
    if (rc && c.err[0]) fprintf(stderr, "attnext-dq: %s\n", c.err);
    dqw_close(&c);
    return rc ? 1 : 0;
}
