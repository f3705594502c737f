#!/bin/bash
# run-suites: alone (bpftrace uprobes on the shim, felt by every shimmed process)
# tests/29-python.sh - heapshim as CPython's allocator (issue 13,
# interpose/python.c), in Debian's unmodified python3 and in stand-ins:
#   fake-*      tests/shim/fakepy.c, a program exporting CPython's allocator
#               API with counting allocators of its own: installed at start,
#               beneath debug hooks after a PYTHONMALLOC=debug-like rewrite,
#               left alone for malloc, free-threaded and unknown versions
#               (one warning line each), HEAPSHIM_PYTHON=0; blocks from
#               before go back to the allocator that made them
#   same-*      python3 with and without the shim: identical stdout, stderr
#               and exit status (default, -X dev, PYTHONMALLOC=debug|pymalloc|
#               malloc, -X tracemalloc, PYTHONMALLOCSTATS, threads, fork,
#               subprocess, ctypes malloc/free, a buffer overflow that CPython's debug hooks must
#               still catch, HEAPSHIM_PYTHON=0/bad, the shim's own modes)
#   domains-*   the exit report: raw, mem and obj all counted (or, left
#               alone, CPython's calls in mem as before)
#   count-exact the report's allocs per domain against bpftrace uprobes on
#               the functions the shim installs (and on the shim's malloc
#               family for mem, which counts plain malloc too): within 1%
#   embedded    a C program linked with libpython3.X, and gdb
. "$(dirname "$0")/lib.sh"
[ -f "$SHIM" ] || { skip python "no $SHIM"; finish; }
unset PYTHONMALLOC PYTHONDEVMODE PYTHONTRACEMALLOC PYTHONMALLOCSTATS HEAPSHIM_PYTHON HEAPSHIM_ALLOCATOR \
      HEAPSHIM_ROUTE HEAPSHIM_STATS HEAPSHIM_REPORT
CFL="-std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow"

# ---- stand-ins: tests/shim/fakepy.c ------------------------------------------------
FAKE_SRC="$ROOT/tests/shim/fakepy.c"
fake_ok=1
for v in "" FT NONAME BADLAYOUT; do
    cc $CFL -rdynamic ${v:+-DFAKEPY_$v} -o "$TMPD/fakepy$v" "$FAKE_SRC" 2>"$TMPD/fakepy$v.cc" ||
        { fail fake-build "fakepy.c ${v:+-DFAKEPY_$v }does not compile: $(head -c 400 "$TMPD/fakepy$v.cc")"; fake_ok=0; }
done
# fake NAME BINARY MODE EXPECTED-STDOUT EXPECTED-WARNING(regex, or empty) [ENV...]
fake() {
    local name=$1 bin=$2 mode=$3 want=$4 warn=$5; shift 5
    timeout 30 env "$@" LD_PRELOAD="$SHIM" "$TMPD/$bin" "$mode" >"$TMPD/$name.out" 2>"$TMPD/$name.err"
    local rc=$? out err nerr
    out=$(tr '\n' ' ' <"$TMPD/$name.out") err=$(cat "$TMPD/$name.err") nerr=$(wc -l <"$TMPD/$name.err")
    if [ $rc != 0 ] || [ "$out" != "$want" ]; then
        fail "$name" "exit $rc, stdout '$out' (expected '$want'), stderr: $(head -c 300 "$TMPD/$name.err")"
    elif [ -z "$warn" ] && [ -n "$err" ]; then
        fail "$name" "unexpected stderr: $(head -c 300 "$TMPD/$name.err")"
    elif [ -n "$warn" ] && { [ "$nerr" != 1 ] || ! grep -Eq "^heapshim: warning: $warn" "$TMPD/$name.err"; }; then
        fail "$name" "expected one warning line matching '$warn', got $nerr lines: $(head -c 300 "$TMPD/$name.err")"
    else
        pass "$name${warn:+: $err}"
    fi
}
if [ $fake_ok = 1 ]; then
    fake fake-installed fakepy plain "at main: replaced after start: replaced ok " ""
    fake fake-installed-noname fakepyNONAME plain "at main: replaced after start: replaced ok " ""
    fake fake-beneath-debug-hooks fakepy debug "at main: replaced after start: replaced ok " ""
    fake fake-beneath-debug-hooks-noname fakepyNONAME debug "at main: replaced after start: replaced ok " ""
    fake fake-debug-unknown-layout fakepyBADLAYOUT debug "at main: replaced after start: untouched ok " \
        "python: CPython's debug hooks are not laid out"
    fake fake-malloc-left-alone fakepy malloc "at main: replaced after start: untouched ok " ""
    fake fake-shim-debug-mode fakepy debug "at main: replaced after start: replaced ok " "" HEAPSHIM_ALLOCATOR=debug
    # malloc mode is accounting only: CPython keeps its allocator unless asked
    fake fake-shim-malloc-mode fakepy plain "at main: untouched after start: untouched ok " "" HEAPSHIM_ALLOCATOR=malloc
    fake fake-shim-malloc-mode-asked fakepy plain "at main: replaced after start: replaced ok " "" HEAPSHIM_ALLOCATOR=malloc HEAPSHIM_PYTHON=1
    fake fake-free-threaded fakepyFT plain "at main: untouched after start: untouched ok " \
        "python: CPython 3\.11\.4 is a free-threaded build"
    fake fake-free-threaded-by-version fakepy plain "at main: untouched after start: untouched ok " \
        "python: CPython 3\.13\.1 is a free-threaded build" \
        "FAKEPY_VERSION=3.13.1 experimental free-threading build (main, Dec 3 2024) [GCC 14.2.0]"
    fake fake-unknown-version fakepy plain "at main: untouched after start: untouched ok " \
        "python: CPython version 3\.99\.1 is not one heapshim knows" "FAKEPY_VERSION=3.99.1 (main) [GCC]"
    fake fake-unparsable-version fakepy plain "at main: untouched after start: untouched ok " \
        "python: CPython version PyPy is not one heapshim knows" "FAKEPY_VERSION=PyPy 7.3"
    fake fake-off fakepy plain "at main: untouched after start: untouched ok " "" HEAPSHIM_PYTHON=0
    fake fake-off-word fakepy plain "at main: untouched after start: untouched ok " "" HEAPSHIM_PYTHON=off
    fake fake-on-word fakepy plain "at main: replaced after start: replaced ok " "" HEAPSHIM_PYTHON=yes
    fake fake-bad-value fakepy plain "at main: untouched after start: untouched ok " \
        "HEAPSHIM_PYTHON='2': not a boolean \(accepted: 1/0, yes/no, true/false, on/off\); off" HEAPSHIM_PYTHON=2
fi

# ---- Debian's python3 -----------------------------------------------------------
if [ ! -x "$PY" ] || ! "$PY" -c 'import ctypes; ctypes.pythonapi.PyMem_SetAllocator' 2>/dev/null; then
    skip python3 "no python3 exporting CPython's allocator API (PyMem_SetAllocator) at $PY"
    finish
fi
cd "$TMPD" || exit 1
cat >work.py <<'EOF'
import json, collections
words = collections.Counter()
for i in range(20000):
    words["w%d" % (i % 2000)] += 1
rows = [{"id": i, "name": "n%d" % i, "tags": [i, i + 1]} for i in range(3000)]
doc = json.dumps({"words": words, "rows": rows})
back = json.loads(doc)
buf = bytearray()
for i in range(2000):
    buf += b"%d," % i
s = sorted(set(str(i * 7919 % 10007) for i in range(5000)))
print(len(words), len(doc), len(back["rows"]), len(buf), s[:3])
EOF
cat >thr.py <<'EOF'
import threading
res = [None] * 4
def work(k):
    d = {}
    for i in range(20000):
        d["k%d" % i] = [i] * (i % 5)
    res[k] = sum(len(v) for v in d.values())
ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print(res)
EOF
cat >fork.py <<'EOF'
import os, sys
data = [str(i) for i in range(10000)]
pid = os.fork()
if pid == 0:
    more = [s * 2 for s in data]
    sys.stdout.write("child %d\n" % len(more))
    sys.stdout.flush()
    os._exit(7)
_, st = os.waitpid(pid, 0)
print("parent", len(data), "child exit", os.waitstatus_to_exitcode(st))
EOF
cat >sub.py <<'EOF'
import subprocess, sys
r = subprocess.run([sys.executable, "-c", "import json; print(json.dumps([i * i for i in range(10)]))"],
                   capture_output=True, text=True)
print(r.returncode, r.stdout.strip(), repr(r.stderr))
r = subprocess.run(["sh", "-c", "echo from-sh; exit 3"], capture_output=True, text=True)
print(r.returncode, r.stdout.strip())
EOF
cat >cmalloc.py <<'EOF'
import ctypes
ok = True
for lib in (ctypes.CDLL("libc.so.6"), ctypes.CDLL(None)):
    lib.malloc.restype = ctypes.c_void_p; lib.malloc.argtypes = [ctypes.c_size_t]
    lib.realloc.restype = ctypes.c_void_p; lib.realloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.free.argtypes = [ctypes.c_void_p]
    ps = []
    for n in (1, 16, 100, 511, 512, 513, 1024, 1025, 4096, 1 << 20):
        p = lib.malloc(n)
        ctypes.memset(p, 0x5a, n)
        ps.append((p, n))
    ok = ok and all(ctypes.string_at(p, n) == b"\x5a" * n for p, n in ps)
    for i, (p, n) in enumerate(ps):
        q = lib.realloc(p, n * 2 + 1)
        ok = ok and ctypes.string_at(q, n) == b"\x5a" * n
        ps[i] = (q, n)
    for p, n in ps:
        lib.free(p)
print("ctypes malloc/realloc/free ok:", ok)
EOF
cat >tm.py <<'EOF'
import tracemalloc
def make():
    return [("x%d" % i) * 3 for i in range(20000)]
was = tracemalloc.is_tracing()
if not was:
    tracemalloc.start(5)
snap1 = tracemalloc.take_snapshot()
data = make()
stats = tracemalloc.take_snapshot().compare_to(snap1, "lineno")
top = stats[0]
print("tracing from start:", was)
print("top:", top.traceback[0].filename.rsplit("/", 1)[-1], top.traceback[0].lineno,
      top.size_diff >= 1_000_000, top.count_diff >= 20000)
cur, peak = tracemalloc.get_traced_memory()
print("traced:", cur >= 1_000_000, peak >= cur)
tracemalloc.stop()
print("stopped:", not tracemalloc.is_tracing(), len(make()))
EOF
cat >overflow.py <<'EOF'
import ctypes
b = ctypes.create_string_buffer(64)          # PyMem_Calloc(64)
ctypes.memset(ctypes.addressof(b), 0x41, 72) # 8 bytes past the end
del b
print("overflow not caught")
EOF

# pyrun NAME [ENV...] -- ARGS: python3 without and with the shim (report
# rep.NAME.<pid>.json); sets prc, src
pyrun() {
    local name=$1; shift
    local envs=()
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    # (in a subshell whose stderr is dropped: bash's own "Aborted" lines)
    (timeout 120 env "${envs[@]}" "$PY" "$@" >"$name.p.out" 2>"$name.p.err"; exit $?) 2>/dev/null; prc=$?
    (timeout 120 env "${envs[@]}" HEAPSHIM_REPORT="$TMPD/rep.$name.%p.json" LD_PRELOAD="$SHIM" \
        "$PY" "$@" >"$name.s.out" 2>"$name.s.err"; exit $?) 2>/dev/null; src=$?
}
# hex addresses and thread ids differ between any two runs
normalize() { sed -E 's/0x[0-9a-fA-F]+/0x?/g' "$1"; }
# same NAME [normalize]: identical stdout, stderr and status
same() {
    local name=$1 how=${2:-}
    if [ "$prc" != "$src" ]; then
        fail "same-$name" "exit status $src under the shim, $prc without; stderr: $(head -c 300 "$name.s.err")"
    elif ! cmp -s "$name.p.out" "$name.s.out"; then
        fail "same-$name" "stdout differs: $(diff "$name.p.out" "$name.s.out" | head -c 400)"
    elif [ -z "$how" ] && ! cmp -s "$name.p.err" "$name.s.err"; then
        fail "same-$name" "stderr differs: $(diff "$name.p.err" "$name.s.err" | head -c 400)"
    elif [ -n "$how" ] && ! cmp -s <(normalize "$name.p.err") <(normalize "$name.s.err"); then
        fail "same-$name" "stderr differs (addresses aside): $(diff <(normalize "$name.p.err") <(normalize "$name.s.err") | head -c 400)"
    else
        pass "same-$name (exit $prc)"
    fi
}
# domains NAME all|left|off: the main process's report (the one whose parent
# wrote none): all = raw, mem and obj counted; left = CPython left alone
# (obj 0; raw only the few blocks CPython makes before pre-initialisation);
# off = today's shim (raw 0, obj 0)
domains() {
    local msg
    if msg=$("$PY" - "$TMPD" "$1" "$2" "$ROOT/tests" <<'EOF'
import glob, sys
sys.path.insert(0, sys.argv[4])
from reports import main_report
d, name, want = sys.argv[1:4]
pattern = "%s/rep.%s.*.json" % (d, name)
main = main_report(pattern)
if main is None:
    print("no single main report among %d" % len(glob.glob(pattern))); sys.exit(1)
a = {k: main["domains"][k]["allocs"] for k in ("raw", "mem", "obj")}
msg = "allocs raw %(raw)d, mem %(mem)d, obj %(obj)d" % a
if want == "all": ok = all(a.values())
elif want == "left": ok = a["obj"] == 0 and a["raw"] <= 50 and a["mem"] > 0
else: ok = a["obj"] == 0 and a["raw"] == 0 and a["mem"] > 0
print(msg + ("" if ok else " (expected %s)" % want)); sys.exit(0 if ok else 1)
EOF
    ); then pass "domains-$1: $msg"; else fail "domains-$1" "$msg"; fi
}

pyrun default -- work.py;                               same default;            domains default all
pyrun xdev -- -X dev work.py;                           same xdev;               domains xdev all
pyrun debug PYTHONMALLOC=debug -- work.py;              same debug;              domains debug all
pyrun pymalloc PYTHONMALLOC=pymalloc -- work.py;        same pymalloc;           domains pymalloc all
pyrun malloc PYTHONMALLOC=malloc -- work.py;            same malloc;             domains malloc left
pyrun malloc-debug PYTHONMALLOC=malloc_debug -- work.py; same malloc-debug;      domains malloc-debug left
pyrun tracemalloc-x -- -X tracemalloc tm.py;            same tracemalloc-x;      domains tracemalloc-x all
pyrun tracemalloc-start -- tm.py;                       same tracemalloc-start;  domains tracemalloc-start all
pyrun threads -- thr.py;                                same threads;            domains threads all
pyrun fork -- fork.py;                                  same fork;               domains fork all
pyrun subprocess -- sub.py;                             same subprocess;         domains subprocess all
pyrun ctypes-malloc -- cmalloc.py;                      same ctypes-malloc;      domains ctypes-malloc all
pyrun shim-debug HEAPSHIM_ALLOCATOR=debug -- work.py;   same shim-debug;         domains shim-debug all
pyrun shim-malloc HEAPSHIM_ALLOCATOR=malloc -- work.py; same shim-malloc;        domains shim-malloc off
pyrun shim-malloc-on HEAPSHIM_ALLOCATOR=malloc HEAPSHIM_PYTHON=1 -- work.py; same shim-malloc-on; domains shim-malloc-on all
pyrun off HEAPSHIM_PYTHON=0 -- work.py;                 same off;                domains off off
# PYTHONMALLOCSTATS: pymalloc stays, so its statistics are printed at exit
# (their figures differ between any two runs: compared by shape)
pyrun mallocstats PYTHONMALLOCSTATS=1 -- work.py
if [ "$prc" = "$src" ] && cmp -s mallocstats.p.out mallocstats.s.out &&
   grep -q "^Small block threshold = 512" mallocstats.s.err &&
   [ "$(wc -l <mallocstats.p.err)" = "$(wc -l <mallocstats.s.err)" ]; then
    pass "same-mallocstats: pymalloc's statistics printed ($(wc -l <mallocstats.s.err) lines)"
else
    fail same-mallocstats "exit $src/$prc, stderr $(wc -l <mallocstats.s.err) lines (plain $(wc -l <mallocstats.p.err)): $(head -c 200 mallocstats.s.err)"
fi
domains mallocstats off

# CPython's debug hooks still catch a buffer overflow, beneath them heapshim
for how in "debug PYTHONMALLOC=debug --" "xdev -- -X dev"; do
    # shellcheck disable=SC2086
    pyrun overflow-${how%% *} ${how#* } overflow.py
    same overflow-${how%% *} normalize
    if [ "$src" = 134 ] && grep -q "bad trailing pad byte" "overflow-${how%% *}.s.err"; then
        pass "overflow-${how%% *}-caught: $(grep -m1 'Fatal Python error' "overflow-${how%% *}.s.err")"
    else
        fail "overflow-${how%% *}-caught" "exit $src: $(head -c 300 "overflow-${how%% *}.s.err")"
    fi
done
# ... and the shim's own debug mode catches it in the blocks it gives CPython:
# every free of CPython's goes through heapshim's debug hooks there (the
# plain functions, installed without a debug mode, would take the block as
# a small one and see nothing)
pyrun overflow-shim-debug HEAPSHIM_ALLOCATOR=debug -- overflow.py
if [ "$src" = 134 ] && grep -q "heapshim: debug: buffer overrun on .*mem domain.*tail guard" overflow-shim-debug.s.err &&
   ! grep -q "not caught" overflow-shim-debug.s.out; then
    pass "overflow-shim-debug-caught: $(grep -m1 -o 'heapshim: debug: buffer overrun' overflow-shim-debug.s.err)"
else
    fail overflow-shim-debug-caught "exit $src: $(head -c 300 overflow-shim-debug.s.err)"
fi

# a bad HEAPSHIM_PYTHON: one warning line, then as HEAPSHIM_PYTHON=0
pyrun badvalue HEAPSHIM_PYTHON=sometimes -- work.py
want="heapshim: warning: HEAPSHIM_PYTHON='sometimes': not a boolean (accepted: 1/0, yes/no, true/false, on/off); off: CPython's allocators left alone"
if [ "$prc" = "$src" ] && cmp -s badvalue.p.out badvalue.s.out &&
   cmp -s <(echo "$want"; cat badvalue.p.err) badvalue.s.err; then
    pass "same-badvalue: one warning line"
else
    fail "same-badvalue" "exit $src/$prc, stderr: $(head -c 400 badvalue.s.err)"
fi
domains badvalue off

# ---- exact counts: bpftrace at the functions the shim installs -------------------------
count_exact() {
    if [ "$(id -u)" != 0 ]; then skip count-exact "not root (bpftrace's uprobes need root)"; return; fi
    if ! command -v bpftrace >/dev/null; then skip count-exact "no bpftrace (apt-get install bpftrace)"; return; fi
    local L="$TMPD/libheapshim.so" X
    X=$(readlink -f "$PY")
    cp "$SHIM" "$L"       # an inode of our own: other users of the shim do not hit the probes
    {
        for d in raw mem obj; do
            echo "uprobe:$L:hs_py_${d}_malloc, uprobe:$L:hs_py_${d}_calloc /pid == cpid/ { @$d = count(); }"
            echo "uprobe:$L:hs_py_${d}_realloc /pid == cpid && arg1 == 0/ { @$d = count(); }"
        done
        echo "uprobe:$L:malloc, uprobe:$L:calloc, uprobe:$L:memalign, uprobe:$L:aligned_alloc,"
        echo "uprobe:$L:posix_memalign, uprobe:$L:valloc, uprobe:$L:pvalloc /pid == cpid/ { @plain = count(); }"
        echo "uprobe:$L:realloc, uprobe:$L:reallocarray /pid == cpid && arg0 == 0/ { @plain = count(); }"
        # CPython's public entry points, for comparison only
        echo "uprobe:$X:PyMem_RawMalloc, uprobe:$X:PyMem_RawCalloc /pid == cpid/ { @api_raw = count(); }"
        echo "uprobe:$X:PyMem_RawRealloc /pid == cpid && arg0 == 0/ { @api_raw = count(); }"
        echo "uprobe:$X:PyMem_Malloc, uprobe:$X:PyMem_Calloc /pid == cpid/ { @api_mem = count(); }"
        echo "uprobe:$X:PyMem_Realloc /pid == cpid && arg0 == 0/ { @api_mem = count(); }"
        echo "uprobe:$X:PyObject_Malloc, uprobe:$X:PyObject_Calloc /pid == cpid/ { @api_obj = count(); }"
        echo "uprobe:$X:PyObject_Realloc /pid == cpid && arg0 == 0/ { @api_obj = count(); }"
    } >count.bt
    timeout 300 bpftrace count.bt -c "/usr/bin/env LD_PRELOAD=$L HEAPSHIM_REPORT=$TMPD/rep.count.%p.json $PY $TMPD/work.py" \
        >count.out 2>&1
    local rc=$?
    if ! grep -q '^@obj: ' count.out; then
        skip count-exact "bpftrace could not count (exit $rc): $(grep -v -e '^$' count.out | head -c 300)"
        return
    fi
    local msg
    if msg=$("$PY" - "$TMPD" <<'EOF'
import glob, json, re, sys
d = sys.argv[1]
bpf = {m.group(1): int(m.group(2)) for m in re.finditer(r"^@(\w+): (\d+)$", open(d + "/count.out").read(), re.M)}
reps = [json.load(open(f)) for f in glob.glob(d + "/rep.count.*.json")]
if len(reps) != 1:
    print("%d reports" % len(reps)); sys.exit(1)
shim = {k: reps[0]["domains"][k]["allocs"] for k in ("raw", "mem", "obj")}
want = {"raw": bpf.get("raw", 0), "mem": bpf.get("mem", 0) + bpf.get("plain", 0), "obj": bpf.get("obj", 0)}
bad = [k for k in want if not want[k] or abs(shim[k] - want[k]) > 0.01 * want[k]]
print("; ".join("%s shim %d, bpftrace %d%s" % (k, shim[k], want[k],
                " (%d + %d plain malloc)" % (bpf.get("mem", 0), bpf.get("plain", 0)) if k == "mem" else "")
                for k in want) +
      "; CPython's public entry points alone see raw %d, mem %d, obj %d"
      % (bpf.get("api_raw", 0), bpf.get("api_mem", 0), bpf.get("api_obj", 0)))
sys.exit(1 if bad else 0)
EOF
    ); then pass "count-exact: $msg"; else fail count-exact "$msg"; fi
}
count_exact

# ---- embedded interpreters ---------------------------------------------------------------
CONF="$PY-config"
if [ -x "$CONF" ] && "$CONF" --cflags --embed >/dev/null 2>&1; then
    cat >emb.c <<'EOF'
#include <Python.h>
int main(void)
{
    Py_Initialize();
    PyRun_SimpleString("import json\nx = [str(i) * 3 for i in range(20000)]\nprint('embedded', len(json.dumps(x)))\n");
    return Py_FinalizeEx() < 0 ? 1 : 0;
}
EOF
    # shellcheck disable=SC2046
    if cc $("$CONF" --cflags --embed) -o emb emb.c $("$CONF" --ldflags --embed) 2>emb.cc; then
        ./emb >embedded.p.out 2>embedded.p.err; prc=$?
        HEAPSHIM_REPORT="$TMPD/rep.embedded.%p.json" LD_PRELOAD="$SHIM" ./emb >embedded.s.out 2>embedded.s.err; src=$?
        same embedded; domains embedded all
    else
        fail embedded-build "$(head -c 400 emb.cc)"
    fi
else
    skip embedded "no $CONF (python3-dev): cannot build a program that embeds libpython"
fi
# An interpreter loaded at run time (editors, plugin hosts): libpython
# dlopen()ed after the shim started, with RTLD_GLOBAL and RTLD_LOCAL. The old
# shim left it alone (raw 0, obj 0: pymalloc served the interpreter).
LIBPY=$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("INSTSONAME") or "")' 2>/dev/null)
if [ -n "$LIBPY" ] && "$PY" -c 'import ctypes, sys; ctypes.CDLL(sys.argv[1])' "$LIBPY" 2>/dev/null; then
    cat >embdl.c <<'EOF'
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    if (argc != 3) return 2;
    int local = argv[2][0] == 'l';
    void *h = dlopen(argv[1], RTLD_NOW | (local ? RTLD_LOCAL : RTLD_GLOBAL));
    if (!h) { fprintf(stderr, "embdl: %s\n", dlerror()); return 2; }
    void (*init)(void) = (void (*)(void))dlsym(h, "Py_Initialize");
    int (*run)(const char *) = (int (*)(const char *))dlsym(h, "PyRun_SimpleString");
    int (*fin)(void) = (int (*)(void))dlsym(h, "Py_FinalizeEx");
    if (!init || !run || !fin) { fprintf(stderr, "embdl: no Python API in %s\n", argv[1]); return 2; }
    init();
    /* RTLD_LOCAL: C extension modules cannot see libpython, so no json */
    run(local ? "x = [str(i) * 3 for i in range(20000)]\nprint('dlopened', len(''.join(x)))\n"
              : "import json\nx = [str(i) * 3 for i in range(20000)]\nprint('dlopened', len(json.dumps(x)))\n");
    return fin() < 0 ? 1 : 0;
}
EOF
    if cc -o embdl embdl.c -ldl 2>embdl.cc; then
        for scope in global local; do
            ./embdl "$LIBPY" $scope >"dlopen-$scope.p.out" 2>"dlopen-$scope.p.err"; prc=$?
            HEAPSHIM_REPORT="$TMPD/rep.dlopen-$scope.%p.json" LD_PRELOAD="$SHIM" ./embdl "$LIBPY" $scope \
                >"dlopen-$scope.s.out" 2>"dlopen-$scope.s.err"; src=$?
            same "dlopen-$scope"; domains "dlopen-$scope" all
        done
        HEAPSHIM_PYTHON=0 HEAPSHIM_REPORT="$TMPD/rep.dlopen-off.%p.json" LD_PRELOAD="$SHIM" ./embdl "$LIBPY" global \
            >/dev/null 2>&1
        domains dlopen-off off
    else
        fail embdl-build "$(head -c 400 embdl.cc)"
    fi
else
    skip embedded-dlopen "no shared libpython to dlopen (libpython3-dev)"
fi
if command -v gdb >/dev/null && ldd "$(command -v gdb)" 2>/dev/null | grep -q libpython; then
    GDBPY='python import json; print(len(json.dumps([str(i) * 2 for i in range(20000)])))'
    timeout 60 gdb -batch -nx -ex "$GDBPY" >gdb.p.out 2>gdb.p.err; prc=$?
    timeout 60 env HEAPSHIM_REPORT="$TMPD/rep.gdb.%p.json" LD_PRELOAD="$SHIM" gdb -batch -nx -ex "$GDBPY" \
        >gdb.s.out 2>gdb.s.err; src=$?
    same gdb; domains gdb all
else
    skip gdb "no gdb linked with libpython"
fi
finish
