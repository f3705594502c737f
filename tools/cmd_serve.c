/*
 * tools/cmd_serve.c - `heapshim serve --listen ADDR:PORT`: GET /metrics.
 *
 * Room: a deliberately small HTTP/1.0 server: one thread, one connection at
 * a time, Connection: close. A scrape is cheap (a few file reads), so there
 * is nothing to gain from concurrency, and a single loop is easy to trust.
 * Binds only to the numeric address given (no name lookup, no wildcard
 * unless asked for); a client that stalls is dropped after a timeout so it
 * cannot block the next scrape.
 */
#include "cli.h"
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

#define REQ_MAX 8192
#define REQ_TIMEOUT_MS 5000

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

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;          /* the client went away: nothing to do */
        p += w;
        n -= (size_t)w;
    }
}

static void reply(int fd, const char *status, const char *type, const char *body, size_t len,
                  int head)
{
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr,
                     "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\nServer: heapshim/" HS_TOOL_VERSION "\r\n\r\n",
                     status, type, len);
    send_all(fd, hdr, (size_t)n);
    if (!head) send_all(fd, body, len);
}

/* Read until the end of the headers, the buffer is full, or the deadline. */
static int read_request(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    uint64_t deadline = now_ns() + (uint64_t)REQ_TIMEOUT_MS * 1000000ull;
    while (got + 1 < cap) {
        uint64_t now = now_ns();
        if (now >= deadline) return -1;
        struct pollfd p = { fd, POLLIN, 0 };
        int r = poll(&p, 1, (int)((deadline - now) / 1000000ull) + 1);
        if (r < 0 && errno == EINTR) {
            if (stop) return -1;
            continue;
        }
        if (r <= 0) return -1;
        ssize_t n = recv(fd, buf + got, cap - 1 - got, 0);
        if (n <= 0) return got ? 0 : -1;
        got += (size_t)n;
        buf[got] = 0;
        if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n")) return 0;
    }
    buf[got] = 0;
    return 0;   /* headers too long: judge the request line we have */
}

static void handle(int fd, const char *dir)
{
    static char req[REQ_MAX];
    if (read_request(fd, req, sizeof req)) return;
    char method[16], path[1024], version[16];
    if (sscanf(req, "%15s %1023s %15s", method, path, version) != 3 || strncmp(version, "HTTP/", 5)) {
        static const char m[] = "bad request\n";
        reply(fd, "400 Bad Request", "text/plain", m, sizeof m - 1, 0);
        return;
    }
    int head = !strcmp(method, "HEAD");
    if (strcmp(method, "GET") && !head) {
        static const char m[] = "only GET and HEAD are served\n";
        reply(fd, "405 Method Not Allowed", "text/plain", m, sizeof m - 1, 0);
        return;
    }
    char *q = strchr(path, '?');
    if (q) *q = 0;
    if (strcmp(path, "/metrics")) {
        static const char m[] = "not found: the metrics are at /metrics\n";
        reply(fd, "404 Not Found", "text/plain", m, sizeof m - 1, head);
        return;
    }
    struct scan s;
    live_scan(dir, NULL, 0, LIVE_RESET_WINDOW, &s, 1);
    size_t len;
    char *text = prom_render(&s, &len);
    scan_free(&s);
    if (!text) {
        static const char m[] = "out of memory\n";
        reply(fd, "500 Internal Server Error", "text/plain", m, sizeof m - 1, head);
        return;
    }
    reply(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", text, len, head);
    free(text);
}

int cmd_serve(int argc, char **argv)
{
    const char *listen_s = NULL, *dir_opt = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--listen") || !strcmp(a, "--dir")) {
            if (i + 1 >= argc) die_bad("%s needs a value", a);
            if (!strcmp(a, "--listen")) listen_s = argv[++i];
            else dir_opt = argv[++i];
        } else die_bad("unknown argument '%s' (accepted: --listen ADDR:PORT, --dir DIR, --help)", a);
    }
    if (!listen_s) die_bad("--listen ADDR:PORT is required (e.g. --listen 127.0.0.1:9464)");
    struct sockaddr_storage ss;
    socklen_t sl;
    int pr = parse_listen(listen_s, &ss, &sl);
    if (pr == -2) die_bad("--listen %s: bad port (accepted: 0..65535)", listen_s);
    if (pr) die_bad("--listen %s: bad address (accepted: IPV4:PORT or [IPV6]:PORT, numeric)", listen_s);

    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0) die_bad("socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0)
        die_bad("--listen %s: cannot bind: %s", listen_s, strerror(errno));
    if (listen(fd, 16) != 0) die_bad("--listen %s: cannot listen: %s", listen_s, strerror(errno));
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

    char dir[4096];
    live_dir(dir_opt, dir, sizeof dir);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;      /* no SA_RESTART: accept() must return */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    while (!stop) {
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
                if (errno == EMFILE || errno == ENFILE) usleep(100000);
                continue;
            }
            die_bad("accept: %s", strerror(errno));
        }
        handle(c, dir);
        close(c);
    }
    close(fd);
    return 0;
}
