/*
 * tools/httpd.h - the exporters' HTTP loop (tools/httpd.c), shared by
 * `heapshim serve` and `heapshim-probe --serve`.
 */
#ifndef HS_TOOLS_HTTPD_H
#define HS_TOOLS_HTTPD_H
#include "cli.h"
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct httpd_ops {
    /* GET /metrics: a malloc'd exposition (len set), or NULL (500) */
    char *(*render)(void *arg, size_t *len);
    /* called first, then every tick_ms (NULL: never) */
    void (*tick)(void *arg);
    uint64_t tick_ms;
    /* one more descriptor to watch (inotify), -1 for none; on_extra when readable */
    int extra_fd;
    void (*on_extra)(void *arg);
    void *arg;
};
/* Bind and listen on spec ("ADDR:PORT", "[ADDR6]:PORT"; opt names the
 * option in messages); prints the address bound on stderr. Exits 2 on a
 * bad or unusable address. Returns the listening socket. */
int httpd_listen(const char *opt, const char *spec);
/* Serve until *stop (SIGINT/SIGTERM handlers set it). */
void httpd_run(int lfd, const struct httpd_ops *ops, volatile sig_atomic_t *stop);

#endif
