/*
 * tools/cmd_serve.c - `heapshim serve --listen ADDR:PORT`: GET /metrics.
 *
 * Room: a small HTTP/1.0 server: one thread, a poll() loop over up to 512
 * non-blocking connections, Connection: close. Every connection has a
 * deadline (5 s to send its request head, 10 s to take the reply), so idle
 * or slow clients cannot delay anybody else's scrape; a malformed request
 * (NUL byte, request line over 2 KiB or head over 8 KiB, not
 * "METHOD PATH HTTP/1.x") gets a 400 at once, another method a 405.
 * Scrapes that are ready in the same round share one read of the live files
 * and one render (and reset the window peaks once).
 * Binds only to the numeric address given (no name lookup, no wildcard
 * unless asked for). The live files are read through tools/live.c (copies
 * only; see the rules there).
 */
#include "live.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char usage[] =
    "usage: heapshim serve --listen ADDR:PORT [--dir DIR]\n"
    "  Serve the live counters of every shimmed process of this user as\n"
    "  Prometheus metrics on http://ADDR:PORT/metrics (other paths: 404).\n"
    "  ADDR is a numeric IPv4 address, or an IPv6 one in brackets ([::1]:9464).\n"
    "  PORT 0 picks a free port; the address actually bound is printed on stderr.\n"
    "  Each scrape resets heapshim_window_peak_bytes (the high-water mark since\n"
    "  the previous scrape). SIGINT/SIGTERM stop the server (exit 0).\n";


static volatile sig_atomic_t stop;
static void on_stop(int sig) { (void)sig; stop = 1; }

static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *colon, *port_s;
    memset(ss, 0, sizeof *ss);
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof host) return -1;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = 0;
        port_s = end + 2;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof host || strchr(s, ':') != colon) return -1;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = 0;
        port_s = colon + 1;
    }
    uint64_t port;
    if (parse_u64(port_s, 0, 65535, &port)) return -2;
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (s[0] != '[' && inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof *a4;
        return 0;
    }
    if (s[0] == '[' && inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof *a6;
        return 0;
    }
    return -1;
}

/* ---- the event loop ------------------------------------------------------------
 * One thread, poll(): every connection is non-blocking and has a deadline,
 * so an idle or slow client only ever costs its own slot. A request is
 * answered as soon as its head is complete; a malformed one (NUL byte,
 * line or head over the limits, no "METHOD PATH HTTP/x") gets a 400 at
 * once. After the answer the write side is shut and the connection is
 * drained briefly, so that the client reads the reply rather than a reset. */

#define MAX_CONN 512                 /* connections served at once; more wait in the backlog */
#define LINE_MAX_B 2048              /* request line */
#define HEAD_MAX 8192                /* whole request head */
#define IDLE_MS 5000                 /* to send the request head */
#define WRITE_MS 10000               /* to take the reply */
#define LINGER_MS 1000               /* drain after the reply */

enum { C_READ, C_SCRAPE, C_WRITE, C_DRAIN };   /* C_SCRAPE: waits for the batch's render */
struct conn {
    int fd, state;
    uint64_t deadline;               /* now_ns() units */
    size_t got;
    char req[HEAD_MAX + 1];
    char *out;                       /* reply: malloc'd, or static when out_static */
    size_t out_len, out_off;
    int out_static;
    int head;                        /* C_SCRAPE: a HEAD request */
};

static void conn_close(struct conn *c)
{
    if (c->fd >= 0) close(c->fd);
    if (c->out && !c->out_static) free(c->out);
    c->fd = -1;
    c->out = NULL;
}

/* build the reply (head + body) into c->out and switch to writing */
static void conn_reply(struct conn *c, const char *status, const char *type, const char *body,
                       size_t len, int head)
{
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr,
                     "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\nServer: heapshim/" HS_TOOL_VERSION "\r\n\r\n",
                     status, type, len);
    size_t total = (size_t)n + (head ? 0 : len);
    char *o = malloc(total ? total : 1);
    if (!o) {
        static const char oom[] = "HTTP/1.0 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        c->out = (char *)oom;
        c->out_len = sizeof oom - 1;
        c->out_static = 1;
    } else {
        memcpy(o, hdr, (size_t)n);
        if (!head && len) memcpy(o + n, body, len);
        c->out = o;
        c->out_len = total;
        c->out_static = 0;
    }
    c->out_off = 0;
    c->state = C_WRITE;
    c->deadline = now_ns() + (uint64_t)WRITE_MS * 1000000ull;
}

static void bad_request(struct conn *c, const char *why)
{
    char m[160];
    int n = snprintf(m, sizeof m, "bad request: %s\n", why);
    conn_reply(c, "400 Bad Request", "text/plain", m, (size_t)n, 0);
}

/* the scrape itself: rendered fresh for every request */
static void answer(struct conn *c, const char *dir, int explicit_dir)
{
    char method[16], path[LINE_MAX_B], version[16];
    char *eol = memchr(c->req, '\n', c->got);
    size_t ll = eol ? (size_t)(eol - c->req) : c->got;
    char line[LINE_MAX_B + 1];
    memcpy(line, c->req, ll);
    line[ll] = 0;
    if (ll && line[ll - 1] == '\r') line[--ll] = 0;
    char extra;
    if (sscanf(line, "%15s %2047s %15s %c", method, path, version, &extra) != 3 ||
        strncmp(version, "HTTP/1.", 7)) {
        bad_request(c, "expected 'GET /metrics HTTP/1.x'");
        return;
    }
    int head = !strcmp(method, "HEAD");
    if (strcmp(method, "GET") && !head) {
        static const char m[] = "only GET and HEAD are served\n";
        conn_reply(c, "405 Method Not Allowed", "text/plain", m, sizeof m - 1, 0);
        return;
    }
    char *q = strchr(path, '?');
    if (q) *q = 0;
    if (strcmp(path, "/metrics")) {
        static const char m[] = "not found: the metrics are at /metrics\n";
        conn_reply(c, "404 Not Found", "text/plain", m, sizeof m - 1, head);
        return;
    }
    /* rendered once for every scrape that is ready in this round (see serve_loop) */
    c->state = C_SCRAPE;
    c->head = head;
}

static void on_writable(struct conn *c);

/* One scan and render for all the connections waiting in C_SCRAPE: scrapes
 * that arrive together (several Prometheus servers, a burst of curls) cost
 * one read of the live files, and the window peaks are reset once. */
static void scrape_batch(struct conn *conns, int n, const char *dir, int explicit_dir)
{
    struct scan s;
    live_scan_opt(dir, explicit_dir, NULL, 0, LIVE_RESET_WINDOW, &s, 1);
    size_t len;
    char *text = prom_render(&s, &len);
    scan_free(&s);
    for (int i = 0; i < n; i++) {
        struct conn *c = &conns[i];
        if (c->fd < 0 || c->state != C_SCRAPE) continue;
        if (!text) {
            static const char m[] = "out of memory\n";
            conn_reply(c, "500 Internal Server Error", "text/plain", m, sizeof m - 1, c->head);
        } else {
            conn_reply(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", text, len, c->head);
        }
        on_writable(c);
    }
    free(text);
}

/* a request line "GET|HEAD SP target SP HTTP/1.x" (without its line end) */
static int line_is_get(const char *l, size_t n)
{
    if (n && l[n - 1] == '\r') n--;
    size_t m = n >= 4 && !memcmp(l, "GET ", 4) ? 4 : n >= 5 && !memcmp(l, "HEAD ", 5) ? 5 : 0;
    if (!m) return 0;
    const char *sp = memchr(l + m, ' ', n - m);
    return sp && sp > l + m && (size_t)(l + n - sp - 1) == 8 && !memcmp(sp + 1, "HTTP/1.", 7);
}

/* new bytes of a request: judge them at once */
static void on_readable(struct conn *c, const char *dir, int explicit_dir)
{
    for (;;) {
        if (c->got >= HEAD_MAX) {
            bad_request(c, "request head longer than 8192 bytes");
            return;
        }
        ssize_t n = recv(c->fd, c->req + c->got, HEAD_MAX - c->got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n == 0 && memchr(c->req, '\n', c->got)) {
            /* the client stopped sending after its request line: answer it */
            answer(c, dir, explicit_dir);
            return;
        }
        if (n <= 0) {            /* closed (or reset) before a complete request line */
            conn_close(c);
            return;
        }
        size_t from = c->got;
        c->got += (size_t)n;
        c->req[c->got] = 0;
        if (memchr(c->req + from, 0, (size_t)n)) {
            bad_request(c, "NUL byte in the request");
            return;
        }
        char *eol = memchr(c->req, '\n', c->got);
        if ((eol ? (size_t)(eol - c->req) : c->got) > LINE_MAX_B) {
            bad_request(c, "request line longer than 2048 bytes");
            return;
        }
        if (eol && !line_is_get(c->req, (size_t)(eol - c->req))) {
            /* malformed, or not GET/HEAD: answer now, the rest is not needed */
            answer(c, dir, explicit_dir);
            return;
        }
        if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n")) {
            answer(c, dir, explicit_dir);
            return;
        }
    }
}

static void on_writable(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (w <= 0) {
            conn_close(c);
            return;
        }
        c->out_off += (size_t)w;
    }
    if (!c->out_static) free(c->out);
    c->out = NULL;
    shutdown(c->fd, SHUT_WR);
    c->state = C_DRAIN;
    c->deadline = now_ns() + (uint64_t)LINGER_MS * 1000000ull;
}

static void on_drain(struct conn *c)
{
    char sink[4096];
    for (;;) {
        ssize_t n = recv(c->fd, sink, sizeof sink, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        conn_close(c);           /* EOF or error: done */
        return;
    }
}

static void serve_loop(int lfd, const char *dir, int explicit_dir)
{
    static struct conn conns[MAX_CONN];
    static struct pollfd pfd[MAX_CONN + 1];
    int idx[MAX_CONN + 1];
    for (int i = 0; i < MAX_CONN; i++) conns[i].fd = -1;
    int nconn = 0;
    while (!stop) {
        uint64_t now = now_ns(), next = now + 1000ull * 1000000ull;
        int np = 0;
        if (nconn < MAX_CONN) {
            pfd[np] = (struct pollfd){ lfd, POLLIN, 0 };
            idx[np++] = -1;
        }
        for (int i = 0; i < MAX_CONN; i++) {
            struct conn *c = &conns[i];
            if (c->fd < 0) continue;
            if (now >= c->deadline) {       /* idle, slow or lingering too long */
                conn_close(c);
                nconn--;
                continue;
            }
            if (c->deadline < next) next = c->deadline;
            pfd[np] = (struct pollfd){ c->fd, c->state == C_WRITE ? POLLOUT : POLLIN, 0 };
            idx[np++] = i;
        }
        int r = poll(pfd, (nfds_t)np, (int)((next - now) / 1000000ull) + 1);
        if (r < 0) {
            if (errno == EINTR) continue;
            die_bad("poll: %s", strerror(errno));
        }
        for (int k = 0; k < np && r > 0; k++) {
            if (!pfd[k].revents) continue;
            if (idx[k] < 0) {
                /* accept everything waiting, up to the table size */
                while (nconn < MAX_CONN) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                    if (fd < 0) {
                        if (errno == EMFILE || errno == ENFILE) usleep(10000);
                        break;              /* EAGAIN, ECONNABORTED, ...: poll again */
                    }
                    int slot = 0;
                    while (conns[slot].fd >= 0) slot++;
                    struct conn *c = &conns[slot];
                    c->fd = fd;
                    c->state = C_READ;
                    c->got = 0;
                    c->out = NULL;
                    c->out_static = 0;
                    c->deadline = now_ns() + (uint64_t)IDLE_MS * 1000000ull;
                    nconn++;
                }
                continue;
            }
            struct conn *c = &conns[idx[k]];
            if (c->fd < 0) continue;
            if (c->state == C_READ) on_readable(c, dir, explicit_dir);
            if (c->fd >= 0 && c->state == C_WRITE) on_writable(c);
            else if (c->fd >= 0 && c->state == C_DRAIN && (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
                on_drain(c);
            if (c->fd < 0) nconn--;
        }
        int waiting = 0;
        for (int i = 0; i < MAX_CONN && !waiting; i++) waiting = conns[i].fd >= 0 && conns[i].state == C_SCRAPE;
        if (waiting) {
            scrape_batch(conns, MAX_CONN, dir, explicit_dir);
            nconn = 0;
            for (int i = 0; i < MAX_CONN; i++) nconn += conns[i].fd >= 0;
        }
    }
    for (int i = 0; i < MAX_CONN; i++)
        if (conns[i].fd >= 0) conn_close(&conns[i]);
}

int cmd_serve(int argc, char **argv)
{
    const char *listen_s = NULL, *dir_opt = NULL;
    static const struct opt opts[] = {
        { "--listen", NULL, "ADDR:PORT", 1, OPT_NAME }, { "--dir", NULL, "DIR", 2, OPT_NAME },
        { NULL, NULL, NULL, 0, 0 },
    };
    struct optstate st = { argc, argv, opts, 0, 0, 0 };
    const char *v;
    int id;
    while ((id = opt_next(&st, &v)) != OPT_END) {
        if (id == OPT_HELP) {
            fputs(usage, stdout);
            return 0;
        } else if (id == 1) listen_s = v;
        else if (id == 2) dir_opt = v;
        else die_bad("unexpected argument '%s' (accepted: --listen ADDR:PORT, --dir DIR, --help; no operands)", v);
    }
    if (!listen_s) die_bad("--listen ADDR:PORT is required (e.g. --listen 127.0.0.1:9464)");
    struct sockaddr_storage ss;
    socklen_t sl;
    int pr = parse_listen(listen_s, &ss, &sl);
    if (pr == -2) die_bad("--listen %s: bad port (accepted: 0..65535)", listen_s);
    if (pr) die_bad("--listen %s: bad address (accepted: IPV4:PORT or [IPV6]:PORT, numeric)", listen_s);
    char dir[4096];
    live_dir(dir_opt, dir, sizeof dir);
    live_dir_check(dir, dir_opt != NULL);   /* refused before binding; each scrape checks again */

    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0) die_bad("socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0)
        die_bad("--listen %s: cannot bind: %s", listen_s, strerror(errno));
    if (listen(fd, SOMAXCONN) != 0) die_bad("--listen %s: cannot listen: %s", listen_s, strerror(errno));
    sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    char host[INET6_ADDRSTRLEN];
    int port;
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        fprintf(stderr, "heapshim serve: listening on http://%s:%d/metrics\n", host, port);
    } else {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        fprintf(stderr, "heapshim serve: listening on http://[%s]:%d/metrics\n", host, port);
    }
    fflush(stderr);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;      /* no SA_RESTART: accept() must return */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    serve_loop(fd, dir, dir_opt != NULL);
    close(fd);
    return 0;
}
