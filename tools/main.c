/*
 * tools/main.c - `heapshim`: dispatch to the subcommands, --help, --version.
 *
 * Room: argument dispatch only; each subcommand lives in its own cmd_*.c.
 * Exit codes everywhere: 0 success, 1 a regression (diff) or the command's
 * own status (run), 2 bad input.
 */
#include "cli.h"
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *what;
} cmds[] = {
    { "run", cmd_run, "run a command under the shim; per-domain table when it exits" },
    { "top", cmd_top, "live view of every shimmed process of this user" },
    { "report", cmd_report, "the per-domain table of a saved JSON report" },
    { "diff", cmd_diff, "compare two runs process by process; CI regression gate (exit 0/1/2/4)" },
    { "export", cmd_export, "live counters as Prometheus text exposition (one shot)" },
    { "serve", cmd_serve, "serve the live counters on http://ADDR:PORT/metrics" },
    { "plot", cmd_plot, "SVG chart of a `run --timeline` CSV" },
    { "gc", cmd_gc, "remove live files left behind by processes that died" },
    { "profile", cmd_profile, "sampled heap profile of a process: top stacks, pprof, flame graph" },
};

static void usage(FILE *f)
{
    fputs("usage: heapshim COMMAND [OPTIONS] [ARGS]\n"
          "       heapshim COMMAND --help | heapshim --help | heapshim --version\n\n"
          "commands:\n", f);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].what);
    fputs("\nLive files are read from $HEAPSHIM_DIR, else /dev/shm/heapshim-<uid>.\n"
          "Exit status: 0 ok, 1 regression (diff), 2 bad input, 4 no data (diff);\n"
          "run exits with the command's status; heapshim-ci gate adds 3, the workload failed.\n",
          f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("heapshim: no command given (accepted: run, top, report, diff, export, serve, "
              "plot, gc, profile; see heapshim --help)\n", stderr);
        return HS_EXIT_BAD;
    }
    if (is_help(argv[1])) {
        if (argc > 2) {
            fprintf(stderr, "heapshim: %s takes no arguments (got '%s'; try heapshim %s --help)\n",
                    argv[1], argv[2], argv[2]);
            return HS_EXIT_BAD;
        }
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        if (argc > 2) {
            fprintf(stderr, "heapshim: %s takes no arguments (got '%s')\n", argv[1], argv[2]);
            return HS_EXIT_BAD;
        }
        printf("heapshim %s (report schema %s, live file version %u)\n", HS_TOOL_VERSION,
               HS_REPORT_SCHEMA, HS_LIVE_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name)) {
            static char prog[32];
            snprintf(prog, sizeof prog, "heapshim %s", cmds[i].name);
            hs_prog = prog;
            return cmds[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "heapshim: unknown command '%s' (accepted: run, top, report, diff, export, "
                    "serve, plot, gc, profile; see heapshim --help)\n", argv[1]);
    return HS_EXIT_BAD;
}
