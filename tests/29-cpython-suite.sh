#!/bin/bash
# tests/29-cpython-suite.sh - CPython's own test suite (regrtest, Debian's
# libpython3.11-testsuite) under the shim, against the same modules run
# without it: code nobody here wrote, that exercises the interpreter's
# allocator (tracemalloc, gc, weak references, threads, ctypes, buffers,
# pickling) with its own assertions.
#   cpython-suite-default  the shim as CPython's allocator (interpose/python.c)
#   cpython-suite-xdev     -X dev: CPython's debug hooks on top of the shim
# Each run must have run every test of the plain run, with the same outcome
# (passed, failed, errored, skipped) for each, except the differences the
# README documents (KNOWN below): sys.getallocatedblocks() and
# sys._debugmallocstats() describe CPython's pymalloc alone, which the shim
# replaces. The shim must also have been CPython's allocator (its exit
# report counts obj allocations).
. "$(dirname "$0")/lib.sh"
[ -f "$SHIM" ] || { skip cpython-suite "no $SHIM"; finish; }
unset PYTHONMALLOC PYTHONDEVMODE PYTHONTRACEMALLOC PYTHONMALLOCSTATS HEAPSHIM_PYTHON HEAPSHIM_ALLOCATOR \
      HEAPSHIM_ROUTE HEAPSHIM_STATS HEAPSHIM_REPORT
# allocator-heavy modules that run in about 20 s together on this project's
# 2-core machine (test_weakref, 10 s more, and test_asyncio, test_io,
# test_multiprocessing_fork, minutes, were run by hand: identical too)
MODS="test_tracemalloc test_gc test_sys test_threading test_dict test_list test_set test_deque
      test_array test_memoryview test_ctypes test_pickle test_json test_mmap"
KNOWN="test.test_sys.SysModuleTest.test_getallocatedblocks test.test_sys.SysModuleTest.test_debugmallocstats"
if ! "$PY" -c 'import test.libregrtest, test.test_tracemalloc' 2>/dev/null; then
    skip cpython-suite "CPython's test suite is not installed (Debian: libpython3.11-testsuite)"
    finish
fi
cd "$TMPD" || exit 1
# regrtest writes its scratch directories under the current directory;
# each run gets its own, and --junit-xml gives one <testcase> per test
regr() {
    local name=$1; shift
    mkdir -p "$TMPD/$name" && cd "$TMPD/$name" &&
        timeout 300 env "$@" "$PY" ${XDEV:+-X dev} -m test --junit-xml "$TMPD/$name.xml" $MODS \
            >"$TMPD/$name.log" 2>&1
    echo $? >"$TMPD/$name.rc"
}
# the three runs side by side (about 1.5x one run's time on two cores)
regr plain PYTHONHASHSEED=0 &
regr default PYTHONHASHSEED=0 LD_PRELOAD="$SHIM" HEAPSHIM_REPORT="$TMPD/rep.default.%p.json" &
XDEV=1 regr xdev PYTHONHASHSEED=0 LD_PRELOAD="$SHIM" HEAPSHIM_REPORT="$TMPD/rep.xdev.%p.json" &
wait

# compare NAME: every test of the plain run, same outcome
compare() {
    local name=$1 msg
    if msg=$("$PY" - "$TMPD" "$name" "$KNOWN" "$ROOT/tests" <<'EOF'
import sys
import xml.etree.ElementTree as ET
d, name, known = sys.argv[1], sys.argv[2], set(sys.argv[3].split())
def outcomes(run):
    try:
        root = ET.parse("%s/%s.xml" % (d, run)).getroot()
    except (OSError, ET.ParseError) as e:
        print("%s: no JUnit result (%s); rc %s; log tail: %s" % (run, e, open("%s/%s.rc" % (d, run)).read().strip(),
              open("%s/%s.log" % (d, run), errors="replace").read()[-300:].replace("\n", " | ")))
        sys.exit(1)
    res = {}
    for tc in root.iter("testcase"):
        kinds = [c.tag for c in tc if c.tag in ("failure", "error", "skipped")]
        res[tc.get("name")] = kinds[0] if kinds else "passed"
    return res
plain, shim = outcomes("plain"), outcomes(name)
if len(plain) < 1000:
    print("the plain run ran %d tests (expected over 1000)" % len(plain)); sys.exit(1)
diff = sorted(t for t in set(plain) | set(shim) if plain.get(t) != shim.get(t))
unknown = [t for t in diff if t not in known]
# the shim was CPython's allocator: the main process counted obj blocks
sys.path.insert(0, sys.argv[4])
from reports import main_report
main = main_report("%s/rep.%s.*.json" % (d, name))
obj = main["domains"]["obj"]["allocs"] if main else -1
summary = "%d tests, %d with the outcome of the plain run; obj allocs %d" % (len(plain), len(plain) - len(diff), obj)
if diff:
    summary += "; differing: " + ", ".join("%s %s -> %s" % (t.split(".", 2)[-1], plain.get(t, "absent"),
                                                        shim.get(t, "absent")) for t in diff[:8])
print(summary)
sys.exit(1 if unknown or obj <= 0 else 0)
EOF
    ); then pass "cpython-suite-$name: $msg"; else fail "cpython-suite-$name" "$msg"; fi
}
compare default
compare xdev
finish
