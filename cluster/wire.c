/* wire.c: see wire.h. The encoding is dqlite's doc/protocol.md: 8-byte words, little endian,
 * a one-word header per message (body size in words, type, schema revision), text
 * zero-terminated and padded to a word, tuples with a type header. */
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

enum { REQ_LEADER = 0, REQ_OPEN = 3, REQ_EXEC_SQL = 8, REQ_QUERY_SQL = 9, REQ_ADD = 12,
       REQ_ASSIGN = 13, REQ_CLUSTER = 16 };
enum { RESP_FAILURE = 0, RESP_SERVER = 1, RESP_SERVERS = 3, RESP_DB = 4, RESP_RESULT = 6,
       RESP_ROWS = 7, RESP_EMPTY = 8 };
#define ROWS_DONE 0xffffffffffffffffULL
#define ROWS_PART 0xeeeeeeeeeeeeeeeeULL
#define PROTOCOL_VERSION 1
#define MAX_MESSAGE (256u << 20)   /* a response larger than this is refused */
#define MAX_COLS 256

static int fail(dqw *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(c->err, sizeof c->err, "node %s: ", c->addr);
    if (n < 0 || (size_t)n >= sizeof c->err) n = 0;
    vsnprintf(c->err + n, sizeof c->err - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- buffer: building a request, reading a response --------------------------------------- */

static int reserve(dqw *c, size_t n) {
    if (c->len + n <= c->cap) return 0;
    size_t cap = c->cap ? c->cap : 4096;
    while (cap < c->len + n) cap *= 2;
    uint8_t *p = realloc(c->buf, cap);
    if (!p) return fail(c, "out of memory (%zu bytes)", cap);
    c->buf = p;
    c->cap = cap;
    return 0;
}

static int put_u64(dqw *c, uint64_t v) {
    if (reserve(c, 8)) return -1;
    for (int i = 0; i < 8; i++) c->buf[c->len++] = (uint8_t)(v >> (8 * i));
    return 0;
}

static int put_text(dqw *c, const char *s) {
    size_t n = strlen(s) + 1, padded = (n + 7) & ~(size_t)7;
    if (reserve(c, padded)) return -1;
    memcpy(c->buf + c->len, s, n);
    memset(c->buf + c->len + n, 0, padded - n);
    c->len += padded;
    return 0;
}

static void begin(dqw *c) { c->len = 8; c->pos = 0; c->code = 0; c->err[0] = 0; }

static int write_all(dqw *c, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return fail(c, "write: %s", w < 0 ? strerror(errno) : "closed");
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(dqw *c, uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t r = recv(c->fd, p, n, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return fail(c, "read: timed out");
        if (r <= 0) return fail(c, "read: %s", r < 0 ? strerror(errno) : "connection closed");
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Sends the message built since begin() with the given type. */
static int send_request(dqw *c, int type) {
    if (c->fd < 0) return fail(c, "not connected");
    size_t words = (c->len - 8) / 8;
    uint8_t *h = c->buf;
    for (int i = 0; i < 4; i++) h[i] = (uint8_t)(words >> (8 * i));
    h[4] = (uint8_t)type;
    h[5] = h[6] = h[7] = 0;
    return write_all(c, c->buf, c->len);
}

/* Reads one response into buf; *type is its type. A FAILURE becomes -1 with its message. */
static int recv_response(dqw *c, int *type) {
    uint8_t h[8];
    if (read_all(c, h, 8)) return -1;
    size_t words = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24;
    if (words * 8 > MAX_MESSAGE) return fail(c, "response of %zu bytes, above %u", words * 8, MAX_MESSAGE);
    c->len = 0;
    if (reserve(c, words * 8)) return -1;
    if (read_all(c, c->buf, words * 8)) return -1;
    c->len = words * 8;
    c->pos = 0;
    *type = h[4];
    if (*type == RESP_FAILURE) {
        uint64_t code = 0;
        const char *msg = "";
        if (c->len >= 16) {
            for (int i = 7; i >= 0; i--) code = code << 8 | c->buf[i];
            c->buf[c->len - 1] = 0;
            msg = (const char *)c->buf + 8;
        }
        fail(c, "%s (code %llu)", msg, (unsigned long long)code);
        c->code = code ? code : 1;
        return -1;
    }
    return 0;
}

static int expect(dqw *c, int want) {
    int type;
    if (recv_response(c, &type)) return -1;
    if (type != want) return fail(c, "response type %d, expected %d", type, want);
    return 0;
}

static int get_u64(dqw *c, uint64_t *v) {
    if (c->pos + 8 > c->len) return fail(c, "response truncated");
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--) x = x << 8 | c->buf[c->pos + (size_t)i];
    c->pos += 8;
    *v = x;
    return 0;
}

static int get_text(dqw *c, const char **s, size_t *n) {
    const uint8_t *p = c->buf + c->pos, *end = c->buf + c->len;
    const uint8_t *z = memchr(p, 0, (size_t)(end - p));
    if (!z) return fail(c, "response text not terminated");
    size_t len = (size_t)(z - p), padded = (len + 1 + 7) & ~(size_t)7;
    if (c->pos + padded > c->len) return fail(c, "response truncated");
    *s = (const char *)p;
    if (n) *n = len;
    c->pos += padded;
    return 0;
}

/* ---- connection ---------------------------------------------------------------------------- */

int dqw_connect(dqw *c, const char *addr, int timeout_ms) {
    memset(c, 0, sizeof *c);
    c->fd = -1;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    char host[DQW_ADDR_MAX];
    snprintf(host, sizeof host, "%s", addr);
    char *colon = strrchr(host, ':');
    if (!colon) return fail(c, "address must be host:port");
    *colon = 0;
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc) return fail(c, "resolve: %s", gai_strerror(rc));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) { freeaddrinfo(ai); return fail(c, "socket: %s", strerror(errno)); }
    rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (rc && errno == EINPROGRESS) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        int err = 0;
        socklen_t len = sizeof err;
        rc = poll(&pfd, 1, timeout_ms);
        if (rc == 0) { close(fd); return fail(c, "connect: timed out"); }
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        errno = err;
        rc = err ? -1 : 0;
    }
    if (rc) { int e = errno; close(fd); return fail(c, "connect: %s", strerror(e)); }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    uint8_t v[8] = {PROTOCOL_VERSION};
    if (write_all(c, v, 8)) { dqw_close(c); return -1; }
    return 0;
}

void dqw_close(dqw *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->cap = c->len = c->pos = 0;
}

/* ---- requests ------------------------------------------------------------------------------- */

int dqw_leader(dqw *c, uint64_t *id, char *addr, size_t addr_size) {
    begin(c);
    const char *a;
    if (put_u64(c, 0) || send_request(c, REQ_LEADER) || expect(c, RESP_SERVER) ||
        get_u64(c, id) || get_text(c, &a, NULL))
        return -1;
    snprintf(addr, addr_size, "%s", a);
    return 0;
}

int dqw_cluster(dqw *c, dqw_node *nodes, int max, int *n) {
    begin(c);
    uint64_t count = 0;
    if (put_u64(c, 1) || send_request(c, REQ_CLUSTER) || expect(c, RESP_SERVERS) ||
        get_u64(c, &count))
        return -1;
    *n = 0;
    for (uint64_t i = 0; i < count; i++) {
        dqw_node nd = {0};
        const char *a;
        if (get_u64(c, &nd.id) || get_text(c, &a, NULL) || get_u64(c, &nd.role)) return -1;
        snprintf(nd.addr, sizeof nd.addr, "%s", a);
        if (*n < max) nodes[(*n)++] = nd;
    }
    return 0;
}

int dqw_add(dqw *c, uint64_t id, const char *addr) {
    begin(c);
    return put_u64(c, id) || put_text(c, addr) || send_request(c, REQ_ADD) ||
                   expect(c, RESP_EMPTY) ? -1 : 0;
}

int dqw_assign(dqw *c, uint64_t id, uint64_t role) {
    begin(c);
    return put_u64(c, id) || put_u64(c, role) || send_request(c, REQ_ASSIGN) ||
                   expect(c, RESP_EMPTY) ? -1 : 0;
}

int dqw_open(dqw *c, const char *name, uint32_t *db_id) {
    begin(c);
    uint64_t w = 0;
    if (put_text(c, name) || put_u64(c, 0) || put_text(c, "volatile") ||
        send_request(c, REQ_OPEN) || expect(c, RESP_DB) || get_u64(c, &w))
        return -1;
    *db_id = (uint32_t)w;
    return 0;
}

int dqw_exec(dqw *c, uint32_t db_id, const char *sql, uint64_t *changes) {
    begin(c);
    uint64_t last_id = 0, n = 0;
    /* the empty parameter tuple: a count of 0, padded to a word */
    if (put_u64(c, db_id) || put_text(c, sql) || put_u64(c, 0) || send_request(c, REQ_EXEC_SQL) ||
        expect(c, RESP_RESULT) || get_u64(c, &last_id) || get_u64(c, &n))
        return -1;
    if (changes) *changes = n;
    return 0;
}

/* Decodes the ROWS batches of one query, calling fn per row. */
static int read_rows(dqw *c, dqw_row_fn fn, void *ctx) {
    int stopped = 0;
    for (;;) {
        uint64_t n_cols = 0;
        if (get_u64(c, &n_cols)) return -1;
        if (n_cols == 0 || n_cols > MAX_COLS) return fail(c, "%llu result columns", (unsigned long long)n_cols);
        const char *names[MAX_COLS];
        dqw_value v[MAX_COLS];
        for (uint64_t i = 0; i < n_cols; i++)
            if (get_text(c, &names[i], NULL)) return -1;
        size_t header_words = (size_t)(n_cols + 15) / 16;
        for (;;) {
            uint64_t marker = 0;
            if (get_u64(c, &marker)) return -1;
            if (marker == ROWS_DONE) return 0;
            if (marker == ROWS_PART) break;
            c->pos -= 8;
            const uint8_t *hdr = c->buf + c->pos;
            if (c->pos + header_words * 8 > c->len) return fail(c, "response truncated");
            c->pos += header_words * 8;
            for (uint64_t i = 0; i < n_cols; i++) {
                int type = (hdr[i / 2] >> (4 * (i % 2))) & 0xf;
                uint64_t w = 0;
                memset(&v[i], 0, sizeof v[i]);
                v[i].type = type;
                switch (type) {
                case 1: case 9: case 11:
                    if (get_u64(c, &w)) return -1;
                    v[i].type = 1;
                    v[i].i = (int64_t)w;
                    break;
                case 2:
                    if (get_u64(c, &w)) return -1;
                    memcpy(&v[i].f, &w, 8);
                    break;
                case 3: case 10:
                    if (get_text(c, &v[i].s, &v[i].n)) return -1;
                    v[i].type = 3;
                    break;
                case 4:
                    if (get_u64(c, &w)) return -1;
                    if (w > c->len - c->pos) return fail(c, "response truncated");
                    v[i].s = (const char *)c->buf + c->pos;
                    v[i].n = (size_t)w;
                    c->pos += ((size_t)w + 7) & ~(size_t)7;
                    break;
                case 5:
                    if (get_u64(c, &w)) return -1;
                    break;
                default:
                    return fail(c, "unknown value type %d in column %llu", type, (unsigned long long)i);
                }
            }
            if (!stopped && fn && fn(ctx, (int)n_cols, names, v)) stopped = 1;
        }
        int type;   /* PART: the node sends the next batch unasked */
        if (recv_response(c, &type)) return -1;
        if (type != RESP_ROWS) return fail(c, "response type %d, expected rows", type);
    }
}

int dqw_query(dqw *c, uint32_t db_id, const char *sql, dqw_row_fn fn, void *ctx) {
    begin(c);
    if (put_u64(c, db_id) || put_text(c, sql) || put_u64(c, 0) || send_request(c, REQ_QUERY_SQL) ||
        expect(c, RESP_ROWS))
        return -1;
    return read_rows(c, fn, ctx);
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dqw_connect_leader(dqw *c, const char *addrs, int timeout_ms) {
    memset(c, 0, sizeof *c);
    c->fd = -1;
    long long deadline = now_ms() + timeout_ms;
    char last[DQW_ERR_MAX] = "no address given";
    for (;;) {
        char list[1024];
        snprintf(list, sizeof list, "%s", addrs);
        for (char *save = NULL, *a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
            uint64_t id = 0;
            char leader[DQW_ADDR_MAX];
            if (dqw_connect(c, a, 2000) == 0 && dqw_leader(c, &id, leader, sizeof leader) == 0) {
                if (id != 0 && strcmp(leader, a) == 0) return 0;   /* asked the leader itself */
                dqw_close(c);
                if (id != 0) {
                    if (dqw_connect(c, leader, 2000) == 0) {
                        uint64_t id2 = 0;
                        char again[DQW_ADDR_MAX];
                        if (dqw_leader(c, &id2, again, sizeof again) == 0 && id2 == id) return 0;
                    }
                    snprintf(last, sizeof last, "%s", c->err[0] ? c->err : "leader changed");
                    dqw_close(c);
                } else {
                    snprintf(last, sizeof last, "node %s: knows no leader", a);
                }
            } else {
                snprintf(last, sizeof last, "%s", c->err);
                dqw_close(c);
            }
        }
        if (now_ms() >= deadline) break;
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
    }
    dqw_close(c);
    snprintf(c->err, sizeof c->err, "no leader found among %s within %d ms (last: %s)", addrs,
             timeout_ms, last);
    return -1;
}
