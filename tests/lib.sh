# tests/lib.sh - helpers for the shell suites (sourced).
# Each check prints "PASS name", "FAIL name: why" or "SKIP name: why".
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=${B:-build}
# the preloadable shim is never sanitized: always the plain build
SHIM="$ROOT/build/libheapshim.so"
FAILS=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; FAILS=$((FAILS + 1)); }
skip() { echo "SKIP $1: $2"; }
finish() { [ "$FAILS" = 0 ]; exit $?; }
# valgrind_why: nothing when valgrind runs here and can read the shim's
# debug information; else why not, in one line: no valgrind, or a shim whose
# DWARF valgrind cannot read (a clang build: valgrind 3.19 gives up on its
# DWARF 5, and every run under it fails). For the suites that count
# instructions under valgrind, which then SKIP rather than fail.
valgrind_why() {
    command -v valgrind > /dev/null || { echo "no valgrind"; return; }
    local out
    out=$(LD_PRELOAD="$SHIM" valgrind --tool=none /bin/true 2>&1) && return
    if grep -q "debuginfo reader\|unhandled dwarf2" <<< "$out"; then
        echo "valgrind cannot read the shim's debug information: $(grep -m1 'Valgrind: debuginfo' <<< "$out")"
    else
        echo "valgrind does not run here: $(tail -n 2 <<< "$out" | head -c 200)"
    fi
}

TMPD=$(mktemp -d /tmp/heapshim-test.XXXXXX)
trap 'rm -rf "$TMPD"' EXIT
# a private live-file directory so tests never see other users' processes
export HEAPSHIM_DIR="$TMPD/live"
mkdir -p "$HEAPSHIM_DIR" && chmod 700 "$HEAPSHIM_DIR"
# python3 of the system (Debian's), for JSON checks
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
# suites that start servers and workers in the background keep their pids
# here; reap_pids (from their cleanup) kills them and waits for them
pids=()
reap_pids() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
# wait_files PATH...: until every PATH exists, for at most 30 s (a loaded
# CI machine has taken seconds to start a shimmed python); 1 if one never did
wait_files() {
    local f
    for f in "$@"; do
        for _ in $(seq 600); do [ -e "$f" ] && break; sleep 0.05; done
        [ -e "$f" ] || return 1
    done
}

# the value of the first exposition line matching regex $1 in file $2
metric() { grep -E "^$1" "$2" | head -1 | awk '{print $NF}'; }

# await_metric PORT OUT REGEX WANT: scrape http://127.0.0.1:PORT/metrics into
# OUT every 0.5 s, for at most 15 s, until the first series matching REGEX
# (as for metric) is WANT; prints its last value (exits are folded at a
# step or scrape after them, and under load that can take a few steps)
await_metric() {
    local v=
    for _ in $(seq 30); do
        sleep 0.5
        curl -s -m 20 "http://127.0.0.1:$1/metrics" > "$2"
        v=$(metric "$3" "$2")
        [ "${v:-0}" = "$4" ] && break
    done
    echo "$v"
}

# gen_c_file FILE: a C file of 300 small structs and functions, for gcc runs
# whose cc1 allocates enough to be sampled (46-unwind, 56-unwind-store)
gen_c_file() {
    local i
    for i in $(seq 0 299); do
        printf 'struct s%d { int a[%d]; double d; };\n' $i $((i % 7 + 1))
        printf 'int f%d(struct s%d *p, int n) { int t = 0; for (int i = 0; i < n; i++) t += p->a[i %% %d] * i; return t + (int)p->d; }\n' $i $i $((i % 7 + 1))
    done > "$1"
}

# port_of LOG: the port an exporter (heapshim serve, heapshim-probe --serve)
# printed on its "listening on http://127.0.0.1:PORT/metrics" line, waited
# for up to 10 s; empty if it never did
port_of() {
    local p=
    for _ in $(seq 100); do
        p=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/metrics|\1|p' "$1" 2>/dev/null)
        [ -n "$p" ] && break; sleep 0.1
    done
    echo "$p"
}
