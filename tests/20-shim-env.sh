#!/bin/bash
# tests/20-shim-env.sh - HEAPSHIM_* variables: good values work, bad values
# give exactly one warning line naming the variable and the accepted values,
# and the program runs unchanged (same output, same exit status).
. "$(dirname "$0")/lib.sh"
[ -f "$SHIM" ] || { skip shim-env "no $SHIM"; finish; }

prog() { sh -c 'echo hello; ls / >/dev/null; exit 3'; }

plain_out=$(sh -c 'echo hello; ls / >/dev/null; exit 3' 2>&1); plain_rc=$?

bad_case() {   # name VAR value expected-words...
    local name=$1 var=$2 val=$3; shift 3
    local out err rc
    out=$(env "$var=$val" LD_PRELOAD="$SHIM" sh -c 'echo hello; ls / >/dev/null; exit 3' 2>"$TMPD/err"); rc=$?
    err=$(cat "$TMPD/err")
    # sh and ls both start under the shim: one warning per process is fine,
    # but each process must say it once, in one line
    local lines; lines=$(grep -c "heapshim: warning: $var" "$TMPD/err")
    if [ "$out" != "hello" ] || [ $rc != 3 ]; then fail "$name" "program changed: rc=$rc out=$out"; return; fi
    if [ "$lines" -lt 1 ]; then fail "$name" "no warning naming $var: $err"; return; fi
    local per_proc; per_proc=$(sort "$TMPD/err" | uniq -c | awk '$1>2{print}')
    [ -n "$per_proc" ] && { fail "$name" "repeated warnings: $per_proc"; return; }
    for w in "$@"; do
        grep -q -- "$w" "$TMPD/err" || { fail "$name" "warning lacks '$w': $err"; return; }
    done
    pass "$name"
}

bad_case bad-allocator HEAPSHIM_ALLOCATOR bogus pymalloc malloc_debug
bad_case bad-route-nodomain HEAPSHIM_ROUTE 'libc*=heap' 'GLOB=raw|mem|obj' "HEAPSHIM_ROUTE='libc\*=heap'"
bad_case bad-route-syntax HEAPSHIM_ROUTE 'libc*' 'GLOB=raw|mem|obj'
bad_case bad-route-trailing HEAPSHIM_ROUTE 'a=mem,' 'GLOB=raw|mem|obj'
bad_case bad-stats HEAPSHIM_STATS maybe '1/0' "HEAPSHIM_STATS='maybe'"
bad_case bad-publish HEAPSHIM_PUBLISH 2 '1/0' "HEAPSHIM_PUBLISH='2'"
bad_case bad-report-optional HEAPSHIM_REPORT_OPTIONAL maybe '1/0' "HEAPSHIM_REPORT_OPTIONAL='maybe'"
bad_case bad-report-template HEAPSHIM_REPORT "$TMPD/r-%q.json" '%p'
bad_case bad-dir HEAPSHIM_DIR /nonexistent/dir/here HEAPSHIM_DIR
# HEAPSHIM_LABELS is the exporters' (interpose/labels.h): the shim says at
# start what they would refuse
bad_case bad-labels-noeq HEAPSHIM_LABELS 'service' "HEAPSHIM_LABELS='service'" 'name=value' 'without these labels'
bad_case bad-labels-name HEAPSHIM_LABELS 'service=api,pid=3' "HEAPSHIM_LABELS='service=api,pid=3'" 'bad label name' 'A-Za-z_'
bad_case bad-labels-value HEAPSHIM_LABELS 'team=a b' "HEAPSHIM_LABELS='team=a b'" 'bad label value' 'printable ASCII'
bad_case bad-labels-twice HEAPSHIM_LABELS 'a=1,a=2' 'given twice'
bad_case bad-labels-many HEAPSHIM_LABELS 'a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9' 'more than 8 labels'
bad_case bad-labels-trailing HEAPSHIM_LABELS 'a=1,' "HEAPSHIM_LABELS='a=1,'" 'name=value'

# a HEAPSHIM_* name that is no setting (a typo, HEAPSHIM_MODE for
# HEAPSHIM_ALLOCATOR) says so and names the real ones; so does a name with
# control characters, shown as '?'; every known one is silent (below, all
# set at once)
bad_case unknown-name HEAPSHIM_MODE malloc 'not a heapshim setting' 'HEAPSHIM_ALLOCATOR'
bad_case unknown-name-lower HEAPSHIM_rate 1 'HEAPSHIM_rate: not a heapshim setting'
out=$(env HEAPSHIM_ALLOCATOR=pymalloc HEAPSHIM_STATS=0 HEAPSHIM_PUBLISH=1 HEAPSHIM_REPORT= HEAPSHIM_ROUTE= \
    HEAPSHIM_DIR="$HEAPSHIM_DIR" HEAPSHIM_LABELS= HEAPSHIM_PYTHON=1 HEAPSHIM_PROFILE_RATE=512k HEAPSHIM_PROFILE_SEED=1 \
    HEAPSHIM_PROFILE_UNWIND=dwarf HEAPSHIM_PROFILE_OUT= HEAPSHIM_LIB="$SHIM" HEAPSHIM_CI_OUT=x HEAPSHIM_KEEP_PLOT= \
    LD_PRELOAD="$SHIM" sh -c 'echo hello; ls / >/dev/null; exit 3' 2>"$TMPD/err"); rc=$?
if [ "$out" = hello ] && [ $rc = 3 ] && [ ! -s "$TMPD/err" ]; then pass known-names-silent
else fail known-names-silent "rc=$rc out=$out err=$(head -c 300 "$TMPD/err")"; fi
n=$(env HEAPSHIM_A=1 HEAPSHIM_B=1 HEAPSHIM_C=1 HEAPSHIM_D=1 HEAPSHIM_E=1 HEAPSHIM_F=1 LD_PRELOAD="$SHIM" /bin/true 2>&1 | grep -c "not a heapshim setting")
[ "$n" = 4 ] && pass unknown-names-at-most-4 || fail unknown-names-at-most-4 "$n warning lines for 6 unknown names"

# HEAPSHIM_REPORT naming what is not a regular file: a symbolic link is
# neither followed nor replaced, a FIFO nobody reads does not hang the
# program (both: one warning, the program unchanged); a character device is
# written into, never replaced (as root the shim used to rename its report
# over it: HEAPSHIM_REPORT=/dev/null replaced /dev/null), and so is a FIFO
# that someone reads. A node of our own stands in for /dev/null.
echo precious > "$TMPD/mine.json"; ln -s "$TMPD/mine.json" "$TMPD/link.json"
bad_case report-symlink HEAPSHIM_REPORT "$TMPD/link.json" 'is a symbolic link: not followed, not replaced'
[ -L "$TMPD/link.json" ] && [ "$(cat "$TMPD/mine.json")" = precious ] && pass report-symlink-kept \
    || fail report-symlink-kept "$(ls -l "$TMPD/link.json") $(head -c 80 "$TMPD/mine.json")"
mkfifo "$TMPD/nobody.fifo"
out=$(timeout 20 env HEAPSHIM_REPORT="$TMPD/nobody.fifo" LD_PRELOAD="$SHIM" sh -c 'echo hello; exit 3' 2>"$TMPD/err"); rc=$?
[ "$out" = hello ] && [ $rc = 3 ] && grep -q 'is a FIFO nobody reads' "$TMPD/err" && [ -p "$TMPD/nobody.fifo" ] \
    && pass report-fifo-unread || fail report-fifo-unread "rc $rc (124: hung) out=$out err=$(head -c 300 "$TMPD/err")"
# (the reader has the FIFO open before the program starts: a `cat` started
# in the background had not opened it yet, now and then under load, and
# the shim rightly found nobody reading)
mkfifo "$TMPD/read.fifo"
"$PY" - "$TMPD/read.fifo" "$TMPD/read.ready" "$TMPD/fifo.out" <<'PYEOF' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)   # a reader from now on
open(sys.argv[2], "w").close()
out, seen, end = open(sys.argv[3], "wb"), False, time.time() + 20
while time.time() < end:
    try:
        b = os.read(fd, 65536)
    except BlockingIOError:           # a writer, nothing written yet
        time.sleep(0.01); continue
    if b: out.write(b); seen = True
    elif seen: break                  # the writer closed it
    else: time.sleep(0.01)            # no writer yet
PYEOF
CATP=$!
for _ in $(seq 200); do [ -e "$TMPD/read.ready" ] && break; sleep 0.05; done
out=$(timeout 20 env HEAPSHIM_REPORT="$TMPD/read.fifo" LD_PRELOAD="$SHIM" true 2>"$TMPD/err"); rc=$?
wait $CATP
[ $rc = 0 ] && [ ! -s "$TMPD/err" ] && "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMPD/fifo.out" && [ -p "$TMPD/read.fifo" ] \
    && pass report-fifo-read || fail report-fifo-read "rc $rc err=$(head -c 300 "$TMPD/err") out=$(head -c 100 "$TMPD/fifo.out")"
# a reader that goes away while the report is written (its pipe shrunk to
# one page, smaller than the report): EPIPE, one warning, no SIGPIPE death
mkfifo "$TMPD/gone.fifo"
"$PY" - "$TMPD/gone.fifo" "$TMPD/gone.ready" <<'PYEOF' &
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)   # a reader from now on
fcntl.fcntl(fd, 1031, 4096)          # F_SETPIPE_SZ: one page
open(sys.argv[2], "w").close()
time.sleep(1); os.close(fd)          # nothing read: the writer is blocked on a full pipe
PYEOF
GONE=$!
for _ in $(seq 100); do [ -e "$TMPD/gone.ready" ] && break; sleep 0.05; done
out=$(timeout 20 env HEAPSHIM_REPORT="$TMPD/gone.fifo" LD_PRELOAD="$SHIM" sh -c 'echo hello; exit 3' 2>"$TMPD/err"); rc=$?
wait $GONE
[ "$out" = hello ] && [ $rc = 3 ] && grep -q 'HEAPSHIM_REPORT' "$TMPD/err" && pass report-fifo-reader-gone \
    || fail report-fifo-reader-gone "rc $rc (141: SIGPIPE) out=$out err=$(head -c 300 "$TMPD/err")"
if [ "$(id -u)" = 0 ] && mknod "$TMPD/null" c 1 3 2>/dev/null; then
    out=$(env HEAPSHIM_REPORT="$TMPD/null" LD_PRELOAD="$SHIM" sh -c 'echo hello; exit 3' 2>"$TMPD/err"); rc=$?
    [ "$out" = hello ] && [ $rc = 3 ] && [ ! -s "$TMPD/err" ] && [ -c "$TMPD/null" ] && pass report-device-kept \
        || fail report-device-kept "rc $rc err=$(head -c 300 "$TMPD/err") $(ls -l "$TMPD/null")"
else
    skip report-device-kept "needs root for mknod"
fi

# a directory another user could write to is refused
mkdir -p "$TMPD/open" && chmod 777 "$TMPD/open"
bad_case world-writable-dir HEAPSHIM_DIR "$TMPD/open" HEAPSHIM_DIR

# good values: no warning at all, same output
for v in pymalloc malloc debug pymalloc_debug malloc_debug; do
    out=$(HEAPSHIM_ALLOCATOR=$v LD_PRELOAD="$SHIM" sh -c 'echo hello; ls / >/dev/null; exit 3' 2>"$TMPD/err"); rc=$?
    if [ "$out" = hello ] && [ $rc = 3 ] && [ ! -s "$TMPD/err" ]; then pass "allocator-$v"
    else fail "allocator-$v" "rc=$rc out=$out err=$(head -c 300 "$TMPD/err")"; fi
done

# good labels (and none): not a word
for v in 'service=api,team=payments' '' 'a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8'; do
    out=$(HEAPSHIM_LABELS=$v LD_PRELOAD="$SHIM" sh -c 'echo hello; ls / >/dev/null; exit 3' 2>"$TMPD/err"); rc=$?
    if [ "$out" = hello ] && [ $rc = 3 ] && [ ! -s "$TMPD/err" ]; then pass "labels-good '$v'"
    else fail "labels-good '$v'" "rc=$rc out=$out err=$(head -c 300 "$TMPD/err")"; fi
done

# HEAPSHIM_STATS=1 with stderr in a pipe whose reader has gone (`| head -1`):
# the program's exit status, not a SIGPIPE death at exit (as plain)
st=$(bash -c 'LD_PRELOAD="$1" HEAPSHIM_STATS=1 sh -c "echo one; sleep 0.3; exit 4" 2>&1 | (head -1 > /dev/null); echo ${PIPESTATUS[0]}' _ "$SHIM")
[ "$st" = 4 ] && pass stats-reader-gone || fail stats-reader-gone "exit status $st (141: SIGPIPE; expected 4)"

# HEAPSHIM_STATS=1 prints the table on stderr, stdout untouched
out=$(HEAPSHIM_STATS=1 LD_PRELOAD="$SHIM" sh -c 'echo hello' 2>"$TMPD/err")
if [ "$out" = hello ] && grep -q 'mem' "$TMPD/err" && grep -q 'obj' "$TMPD/err" && grep -q 'raw' "$TMPD/err"; then
    pass stats-table
else fail stats-table "out=$out err=$(head -c 300 "$TMPD/err")"; fi

# HEAPSHIM_REPORT with %p: one report per process, valid JSON, right pid
rm -f "$TMPD"/rep-*.json
LD_PRELOAD="$SHIM" HEAPSHIM_REPORT="$TMPD/rep-%p.json" sh -c 'echo $$ > '"$TMPD/pid"'; ls / > /dev/null'
pid=$(cat "$TMPD/pid")
if [ -f "$TMPD/rep-$pid.json" ] && ls "$TMPD"/rep-*.json | wc -l | grep -q '^2$'; then
    if "$PY" - "$TMPD/rep-$pid.json" "$pid" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["schema"] == "heapshim-report/2", r["schema"]
assert r["mapped"]["live_bytes"] <= r["mapped"]["peak_bytes"] and r["rss_anon_bytes"] > 0
assert r["pid"] == int(sys.argv[2])
assert r["allocator"] == "pymalloc"
for d in ("raw", "mem", "obj"):
    x = r["domains"][d]
    for k in ("live_bytes", "live_blocks", "peak_bytes", "allocs", "reallocs", "frees", "failed"):
        assert isinstance(x[k], int) and x[k] >= 0, (d, k)
    assert x["allocs"] >= x["frees"] and x["peak_bytes"] >= x["live_bytes"]
t = r["total"]
assert t["peak_bytes"] >= max(r["domains"][d]["peak_bytes"] for d in ("raw", "mem", "obj"))
assert t["peak_bytes"] <= sum(r["domains"][d]["peak_bytes"] for d in ("raw", "mem", "obj"))
a = r["arenas"]
assert a["arena_size"] == 262144 and len(a["size_classes"]) == 64
assert a["size_classes"][0]["size"] == 16 and a["size_classes"][63]["size"] == 1024
assert r["rss_peak_bytes"] > 0
PYEOF
    then pass report-json; else fail report-json "schema check failed"; fi
else
    fail report-json "expected 2 reports (sh and ls), got: $(ls "$TMPD" | tr '\n' ' ')"
fi

# live file: present while running, 0600, removed at exit
LD_PRELOAD="$SHIM" sh -c 'sleep 0.5' & spid=$!
sleep 0.25
f="$HEAPSHIM_DIR/$spid"
if [ -f "$f" ]; then
    mode=$(stat -c %a "$f"); dmode=$(stat -c %a "$HEAPSHIM_DIR")
    [ "$mode" = 600 ] && [ "$dmode" = 700 ] && pass live-file-mode || fail live-file-mode "file $mode dir $dmode"
else
    fail live-file-mode "no live file $f"
fi
wait $spid
[ ! -e "$f" ] && pass live-file-removed || fail live-file-removed "$f left behind"
# (the stack walker's unwind-* files are a cache that earlier runs left)
out=$(HEAPSHIM_PUBLISH=0 LD_PRELOAD="$SHIM" sh -c 'ls '"$HEAPSHIM_DIR"' | grep -vc "^unwind-"')
[ "$out" = 0 ] && pass publish-off || fail publish-off "files: $out"

# debug mode catches heap bugs in a program we run, with one clear diagnostic
BUG="$ROOT/$B/tests/buggy"
if [ -x "$BUG" ]; then
    for kind in overrun:"buffer overrun" underrun:"buffer underrun" double:"double free" double-large:"double free"; do
        k=${kind%%:*}; words=${kind#*:}
        HEAPSHIM_ALLOCATOR=debug LD_PRELOAD="$SHIM" "$BUG" "$k" > /dev/null 2> "$TMPD/err"; rc=$?
        if [ $rc = 134 ] && grep -q "heapshim: debug: $words" "$TMPD/err" && grep -q 'mem domain' "$TMPD/err"; then
            pass "debug-catches-$k"
        else fail "debug-catches-$k" "rc=$rc err=$(head -c 300 "$TMPD/err")"; fi
    done
    out=$(HEAPSHIM_ALLOCATOR=debug LD_PRELOAD="$SHIM" "$BUG" clean 2>&1); rc=$?
    [ $rc = 0 ] && [ "$out" = done ] && pass debug-clean-program || fail debug-clean-program "rc=$rc out=$out"
else
    skip debug-catches "no $BUG"
fi

# A program whose first malloc comes from a .preinit_array function starts
# the shim before glibc has set `environ`: the settings are read from
# /proc/self/environ then (they were silently ignored before).
cat > "$TMPD/preinit.c" <<'CEOF'
#include <stdlib.h>
static void first(int c, char **v, char **e) { (void)c; (void)v; (void)e; free(malloc(10)); }
__attribute__((section(".preinit_array"), used)) static void (*first_p)(int, char **, char **) = first;
int main(void) { free(malloc(100)); return 0; }
CEOF
if cc -o "$TMPD/preinit" "$TMPD/preinit.c" 2>/dev/null; then
    out=$(HEAPSHIM_STATS=1 HEAPSHIM_ALLOCATOR=malloc LD_PRELOAD="$SHIM" "$TMPD/preinit" 2>&1); rc=$?
    [ $rc = 0 ] && echo "$out" | grep -q "allocator malloc" && pass env-before-environ \
        || fail env-before-environ "rc=$rc: $(echo "$out" | head -c 300)"
else
    skip env-before-environ "cc cannot build the preinit program"
fi

# coreutils close stderr in an atexit handler (gnulib's close_stdout) before
# the shim's exit code runs: the table goes to the stderr the process started
# with (it printed nothing before)
out=$(HEAPSHIM_STATS=1 LD_PRELOAD="$SHIM" cat /dev/null 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q "^heapshim: total " && pass stats-after-close-stdout \
    || fail stats-after-close-stdout "rc=$rc: $(echo "$out" | head -c 300)"
# ... and never into a file that took fd 2 since
printf '#include <unistd.h>\n#include <fcntl.h>\n#include <stdlib.h>\nint main(int c, char **v) { (void)c; free(malloc(50)); close(2); int fd = open(v[1], O_WRONLY | O_CREAT | O_TRUNC, 0600); return fd == 2 ? 0 : 1; }\n' > "$TMPD/reuse2.c"
if cc -o "$TMPD/reuse2" "$TMPD/reuse2.c" 2>/dev/null; then
    HEAPSHIM_STATS=1 LD_PRELOAD="$SHIM" "$TMPD/reuse2" "$TMPD/user-file" 2>"$TMPD/reuse2.err"; rc=$?
    [ $rc = 0 ] && [ ! -s "$TMPD/user-file" ] && grep -q "^heapshim: total " "$TMPD/reuse2.err" \
        && pass stats-not-into-reused-fd2 \
        || fail stats-not-into-reused-fd2 "rc=$rc, user file: $(head -c 200 "$TMPD/user-file"), stderr: $(head -c 200 "$TMPD/reuse2.err")"
else
    skip stats-not-into-reused-fd2 "cc cannot build the test program"
fi

# glibc's thresholds (interpose/lifecycle.c, core/internal.h hs_sys_free):
# the shim keeps glibc's heap top but which blocks glibc maps stays glibc's
# choice -- its rule of raising the mmap threshold to each larger mapped
# block freed, and a program's own mallopt stopping that rule -- in every
# mode and with a user's GLIBC_TUNABLES malloc setting
TP="$ROOT/$B/tests/prog_thresholds"
if [ -x "$TP" ]; then
    # (no heap profile sampling: a sampled block is ours, behind our header)
    export HEAPSHIM_PROFILE_RATE=0
    plain=$("$TP"); dflt=$(LD_PRELOAD="$SHIM" "$TP"); mm=$(HEAPSHIM_ALLOCATOR=malloc LD_PRELOAD="$SHIM" "$TP")
    user=$(GLIBC_TUNABLES=glibc.malloc.tcache_count=7 LD_PRELOAD="$SHIM" "$TP")
    unset HEAPSHIM_PROFILE_RATE
    if [ "$plain" = "MHMHM MM" ] && [ "$dflt" = "$plain" ] && [ "$mm" = "$plain" ] && [ "$user" = "$plain" ]; then
        pass glibc-start-thresholds
    else
        fail glibc-start-thresholds "plain '$plain' default '$dflt' malloc mode '$mm' with GLIBC_TUNABLES '$user'"
    fi
else
    fail glibc-start-thresholds "$TP not built"
fi

# an old binary's cfree@GLIBC_2.2.5 frees the shim's blocks (glibc's own
# cfree would abort on them: "free(): invalid pointer"), in every mode
CF="$ROOT/$B/tests/prog_cfree"
for mode in pymalloc malloc debug malloc_debug; do
    out=$(HEAPSHIM_ALLOCATOR=$mode LD_PRELOAD="$SHIM" "$CF" 2>&1); rc=$?
    [ $rc = 0 ] && [ "$out" = 900 ] && pass "cfree-$mode" || fail "cfree-$mode" "rc $rc: $out"
done

# a call that succeeds leaves errno as it was, in every mode (the shim's
# own set-up and profile files open files that may not exist yet)
EP="$ROOT/$B/tests/prog_errno"
for mode in pymalloc malloc debug malloc_debug; do
    d=$(mktemp -d /tmp/hs-errno.XXXXXX)
    out=$(HEAPSHIM_DIR="$d" HEAPSHIM_ALLOCATOR=$mode LD_PRELOAD="$SHIM" "$EP" 2>&1); rc=$?
    rm -rf "$d"
    [ $rc = 0 ] && [ "$out" = "errno kept" ] && pass "errno-kept-$mode" || fail "errno-kept-$mode" "rc $rc: $(echo "$out" | head -3 | tr '\n' ' ')"
done

# errno is 0 at main (C11 7.5p3) with the live directory already there (the
# start-up's mkdir gave EEXIST, which a program saw at main: stop 28)
UP="$ROOT/$B/tests/prog_uidswap"
mkdir -p -m 700 "$HEAPSHIM_DIR"
for mode in pymalloc malloc debug malloc_debug; do
    out=$(HEAPSHIM_ALLOCATOR=$mode LD_PRELOAD="$SHIM" "$UP" start 2>&1)
    [ "$out" = "errno 0" ] && pass "errno-zero-at-main-$mode" || fail "errno-zero-at-main-$mode" "$out"
done

# the shim's lines go to the stderr the process started with, never into a
# file that took fd 2's place or the shim's copy's number: started with fd
# 2 closed, a program's own file got the stats table appended to it; a
# program that closed the copy and opened a file at its number, likewise
# (the copy sits 32 below the descriptor limit, counted as at most 1024)
F="$TMPD/own2"
HEAPSHIM_STATS=1 LD_PRELOAD="$SHIM" bash -c 'exec 2>"$1"; echo data >&2' _ "$F" 2>&-
[ "$(cat "$F")" = data ] && pass stderr-closed-no-lines || fail stderr-closed-no-lines "the program's file holds: $(head -c 200 "$F")"
F="$TMPD/owncopy"
lim=$(ulimit -n); [ "$lim" = unlimited ] || [ "$lim" -gt 1024 ] && lim=1024
cfd=$((lim - 32))
HEAPSHIM_STATS=1 LD_PRELOAD="$SHIM" bash -c 'exec '"$cfd"'>&- 2>"$2"; exec '"$cfd"'>"$1"; echo data >&'"$cfd" _ "$F" "$TMPD/logcopy" 2>/dev/null
[ "$(cat "$F")" = data ] && pass stderr-copy-reused-no-lines || fail stderr-copy-reused-no-lines "the program's file (fd $cfd) holds: $(head -c 200 "$F")"
# a script's own fd 64 (where the copy used to be: bash took the copy, a
# close-on-exec descriptor above 9, for one of its saved ones and put it
# back on 64 after `exec 64>file`, whose data went to stderr instead)
bad=""
for env in HEAPSHIM_STATS=1 HEAPSHIM_REPORT="$TMPD/r64-%p.json"; do
    F="$TMPD/own64"; rm -f "$F"
    env $env LD_PRELOAD="$SHIM" bash -c 'exec 64>"$1"; echo payload >&64; exec 64>&-' _ "$F" 2>/dev/null
    [ "$(cat "$F" 2>/dev/null)" = payload ] || bad="$bad ${env%%=*}:'$(head -c 80 "$F" 2>/dev/null)'"
done
[ -z "$bad" ] && pass script-fd64-kept || fail script-fd64-kept "the script's file held:$bad"
HEAPSHIM_STATS=1 LD_PRELOAD="$SHIM" /bin/true 2> "$TMPD/stats.err"
grep -q '^heapshim: ' "$TMPD/stats.err" && pass stderr-stats-still-shown || fail stderr-stats-still-shown "no table on stderr: $(head -c 200 "$TMPD/stats.err")"

# another allocator behind the shim (what `heapshim run` makes of an
# environment that preloads tcmalloc: LD_PRELOAD=shim:tcmalloc, whose
# __libc_malloc is tcmalloc's: the shim read glibc chunk headers that its
# blocks lack, malloc_usable_size(malloc(0)) was 2^64-8) and one ahead of it
# (jemalloc:shim: the calls jemalloc lacks, reallocarray and pvalloc, came to
# the shim with jemalloc's blocks and glibc's realloc aborted): the program
# sees its allocator as it is; ahead, one line says nothing is counted
USABLE="$ROOT/$B/tests/prog_usable"
LIBDIR=/usr/lib/x86_64-linux-gnu
for other in libtcmalloc_minimal.so.4 libjemalloc.so.2; do
    if [ ! -e "$LIBDIR/$other" ]; then skip "other-allocator-$other" "no $LIBDIR/$other"; continue; fi
    for mode in pymalloc malloc debug malloc_debug; do
        out=$(HEAPSHIM_ALLOCATOR=$mode LD_PRELOAD="$SHIM:$LIBDIR/$other" timeout 20 "$USABLE" 2>&1); rc=$?
        [ $rc = 0 ] && [ "$out" = ok ] && pass "behind-shim-$other-$mode" \
            || fail "behind-shim-$other-$mode" "exit $rc: $(echo "$out" | head -3 | tr '\n' ' ')"
    done
    out=$(timeout 20 env LD_PRELOAD="$LIBDIR/$other:$SHIM" "$USABLE" 2> "$TMPD/ahead.err"); rc=$?
    n=$(grep -c "heapshim: warning: malloc is $LIBDIR/$other, loaded before heapshim: nothing is counted" "$TMPD/ahead.err")
    [ $rc = 0 ] && [ "$out" = ok ] && [ "$n" = 1 ] && [ "$(wc -l < "$TMPD/ahead.err")" = 1 ] && pass "ahead-of-shim-$other" \
        || fail "ahead-of-shim-$other" "exit $rc, said '$(echo "$out" | head -2 | tr '\n' ' ')', stderr: $(head -c 300 "$TMPD/ahead.err")"
done
out=$(LD_PRELOAD="$SHIM" "$USABLE" 2>&1)
[ "$out" = ok ] && pass shim-alone-no-line || fail shim-alone-no-line "$out"
out=$(LD_PRELOAD="$SHIM" ls -la / 2>&1 >/dev/null)
[ -z "$out" ] && pass shim-program-takes-malloc-address-no-line || fail shim-program-takes-malloc-address-no-line "$out"

# privilege changes and chroot: errno is the call's; dropping and taking
# back root, then forking, and forking after a chroot add no line to the
# program's stderr (both printed a warning from the fork child: stop 28)
if [ "$(id -u)" = 0 ]; then
    out=$(LD_PRELOAD="$SHIM" "$UP" uid-errno 2>&1)
    [ "$out" = "errno kept" ] && pass uid-change-errno-kept || fail uid-change-errno-kept "$out"
    out=$(LD_PRELOAD="$SHIM" "$UP" swap-fork 2> "$TMPD/swap.err")
    [ "$out" = "ok 0" ] && [ ! -s "$TMPD/swap.err" ] && pass uid-swap-fork-quiet \
        || fail uid-swap-fork-quiet "said '$out', stderr: $(head -c 300 "$TMPD/swap.err")"
    mkdir -p "$TMPD/jail"
    out=$(LD_PRELOAD="$SHIM" "$UP" chroot-fork "$TMPD/jail" 2> "$TMPD/jail.err")
    [ "$out" = "ok 0" ] && [ ! -s "$TMPD/jail.err" ] && pass chroot-fork-quiet \
        || fail chroot-fork-quiet "said '$out', stderr: $(head -c 300 "$TMPD/jail.err")"
else
    skip uid-change-errno-kept "needs root"
fi

# A live directory on a full file system (a small /dev/shm, a container's
# 64 MiB): the live file and the profile are shared memory, and a store to a
# page a full tmpfs cannot give raises SIGBUS. The shim backs each page
# before its first store (MADV_POPULATE_WRITE): python3 with 4 threads and
# sampling at 4k, and a fork child (whose profile is copied: the copy must
# not read the parent file's holes, which a full tmpfs answers with SIGBUS),
# in a 64 KiB tmpfs filled to each level, must run as plain.
FULL="$TMPD/fullfs"
if [ "$(id -u)" = 0 ] && mkdir -p "$FULL" && mount -t tmpfs -o size=64k,mode=0700 tmpfs "$FULL" 2>/dev/null; then
    bad=""
    for k in 0 4 8 10 12 13 14 15 16; do
        rm -f "$FULL"/*; [ $k -gt 0 ] && head -c $((k * 4096)) /dev/zero > "$FULL/fill" 2>/dev/null
        out=$(timeout 60 env LD_PRELOAD="$SHIM" HEAPSHIM_DIR="$FULL" HEAPSHIM_PROFILE_RATE=4k "$PY" -c '
import os, threading
x = [str(i) * 10 for i in range(200000)]
t = [threading.Thread(target=lambda: [bytes(100) for _ in range(10000)]) for _ in range(4)]
[a.start() for a in t]; [a.join() for a in t]
p = os.fork()
if p == 0:
    y = [bytes(100) for _ in range(20000)]; os._exit(7)
st = os.waitpid(p, 0)[1]
print("ok" if st == 7 << 8 else "child status %d" % st)' 2>"$TMPD/full.err"); rc=$?
        [ $rc = 0 ] && [ "$out" = ok ] || bad="$bad fill=${k}x4KiB:rc=$rc($(head -c 120 "$TMPD/full.err"))"
    done
    umount "$FULL"
    [ -z "$bad" ] && pass full-live-dir || fail full-live-dir "$bad (135: SIGBUS)"
else
    skip full-live-dir "needs root to mount a small tmpfs"
fi

# A file-size limit (ulimit -f) below the shim's files: a regular file that
# grows past RLIMIT_FSIZE raises SIGXFSZ, which kills the process (exit
# 153) -- the live file is 2.4 MB, the profile 15 MB, and the report, the
# unwind store and a stderr redirected to a file grow too. Every one asks
# first now (hs_os_file_fits): the program runs as plain, with its output
# and status, at each limit (1 KiB, 1 MiB, 8 MiB), sampling at 4k, a fork
# child, HEAPSHIM_STATS into a stderr file and a report, in every mode.
bad=""
FSZ="$TMPD/fsz"; mkdir -p -m 0700 "$FSZ"
for lim in 1 1024 8192; do
    for mode in pymalloc malloc debug; do
        rm -rf "${FSZ:?}"/*
        out=$(ulimit -f $lim; env LD_PRELOAD="$SHIM" HEAPSHIM_ALLOCATOR=$mode HEAPSHIM_DIR="$FSZ" HEAPSHIM_PROFILE_RATE=4k \
              HEAPSHIM_STATS=1 HEAPSHIM_REPORT="$FSZ/r-%p.json" HEAPSHIM_PROFILE_OUT="$FSZ" "$PY" -c '
import os
x = [bytes(100) for i in range(100000)]
p = os.fork()
if p == 0:
    y = [str(i) for i in range(20000)]; os._exit(7)
st = os.waitpid(p, 0)[1]
print(len(x), st >> 8)' 2>"$FSZ/err"); rc=$?
        [ $rc = 0 ] && [ "$out" = "100000 7" ] || bad="$bad ulimit-f=$lim/$mode:rc=$rc,out='$out'"
    done
done
[ -z "$bad" ] && pass file-size-limit || fail file-size-limit "$bad (153: SIGXFSZ)"

# An address-space limit (ulimit -v) that leaves no room for the counters'
# 2.4 MB region: the shim aborted before main ("cannot map the counter
# region", exit 134) where the program runs without it. Now the counters
# fall back to a static region of two slots: the program runs, with its
# output and status, and one warning line.
bad=""
for mode in pymalloc malloc debug; do
    out=$(ulimit -v 6000; env HEAPSHIM_ALLOCATOR=$mode LD_PRELOAD="$SHIM" /bin/echo still-here 2>"$TMPD/as.err"); rc=$?
    [ $rc = 0 ] && [ "$out" = still-here ] || bad="$bad $mode:rc=$rc,out='$out',err='$(head -c 160 "$TMPD/as.err")'"
done
[ -z "$bad" ] && pass address-space-limit || fail address-space-limit "$bad (134: abort)"

finish
