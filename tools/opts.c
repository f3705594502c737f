/*
 * tools/opts.c - the one command-line parser of the heapshim command.
 *
 * Room: argument syntax only (every cmd_*.c describes its options in a table
 * and calls opt_next; what a value means is checked by the command). The
 * rules, the same for every subcommand (docs/cli.md "Options"):
 *   - `--name VALUE` and `--name=VALUE`; short options `-o VALUE`, `-q`;
 *   - options may follow operands (`top 1234 --once`), except for commands
 *     that run another command (`run`): there the first operand ends them;
 *   - `--` ends the options; everything after it is an operand;
 *   - a lone `-` is an operand (or a value: `-o -` is standard output);
 *   - an option that takes a value never takes `--` as its value, and a value
 *     that starts with `-` is refused for options whose value is a path or a
 *     name (OPT_NAME); numbers and texts are passed to the command's checks;
 *   - an unknown option is an error naming it and listing the accepted ones;
 *   - `-h`/`--help` asks for the usage; it takes no arguments (docs/cli.md,
 *     as `heapshim --help`): with anything else before or after it, it is
 *     an error naming what came with it.
 * No abbreviations of long options and no bundling of short ones: a typo
 * is an error, never another option.
 */
#include "cli.h"
#include <string.h>

static void accepted(const struct opt *o, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    for (; o->name; o++) {
        int w = snprintf(buf + n, cap - n, "%s%s%s%s", n ? ", " : "", o->name, o->arg ? " " : "",
                         o->arg ? o->arg : "");
        if (w < 0 || (size_t)w >= cap - n) return;
        n += (size_t)w;
    }
    snprintf(buf + n, cap - n, "%s--help", n ? ", " : "");
}

static const struct opt *find(const struct opt *o, const char *a, size_t len)
{
    for (; o->name; o++) {
        if (strlen(o->name) == len && !strncmp(o->name, a, len)) return o;
        if (o->alias && strlen(o->alias) == len && !strncmp(o->alias, a, len)) return o;
    }
    return NULL;
}

int opt_next(struct optstate *st, const char **val)
{
    *val = NULL;
    if (st->i == 0) st->i = 1;
    if (st->i >= st->argc) return OPT_END;
    char *a = st->argv[st->i];
    if (st->done || a[0] != '-' || !a[1]) {
        if (st->stop_at_operand) {
            st->done = 1;
            return OPT_END;   /* st->i is the first operand */
        }
        st->i++;
        *val = a;
        return OPT_OPERAND;
    }
    st->i++;
    if (!strcmp(a, "--")) {
        st->done = 1;
        if (st->stop_at_operand) return OPT_END;
        return opt_next(st, val);
    }
    if (is_help(a)) {
        if (st->argc > 2)
            die_bad("%s takes no arguments (got '%s'; accepted: %s %s alone)", a,
                    st->argv[st->i == 2 ? 2 : 1], hs_prog, a);
        return OPT_HELP;
    }
    const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    const struct opt *o = find(st->opts, a, len);
    char acc[600];
    if (!o) {
        accepted(st->opts, acc, sizeof acc);
        die_bad("unknown option '%s' (accepted: %s)", a, acc);
    }
    if (!o->arg) {
        if (eq) die_bad("%.*s takes no value (got '%s')", (int)len, a, a);
        return o->id;
    }
    const char *v;
    if (eq) v = eq + 1;
    else if (st->i >= st->argc || !strcmp(st->argv[st->i], "--"))
        die_bad("%s needs a value (got %s; accepted: %s)", a,
                st->i >= st->argc ? "nothing" : "'--'", o->arg);
    else v = st->argv[st->i++];
    if (!*v) die_bad("%s: empty value (accepted: %s)", a, o->arg);
    if ((o->flags & OPT_NAME) && v[0] == '-' && strcmp(v, "-"))
        die_bad("%s: '%s' looks like an option, not %s (write ./%s for a file of that name)", a, v,
                o->arg, v);
    if ((o->flags & OPT_NAME) && !strcmp(v, "-") && !(o->flags & OPT_STDIO))
        die_bad("%s: '-' (standard output) is not accepted here (accepted: %s)", a, o->arg);
    *val = v;
    return o->id;
}
