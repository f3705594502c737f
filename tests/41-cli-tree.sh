#!/bin/bash
# tests/41-cli-tree.sh - the gate sees the whole process tree (issue 15):
# a wrapper script whose child regresses fails the gate; a workload killed
# by SIGKILL, and Ctrl-C (SIGINT) sent to `heapshim run`, still leave a run
# report that the gate counts; options are checked before the workload runs;
# distinct exit codes; `diff --json` parses; JUnit XML is well-formed; size
# suffixes and absolute limits; `--` is never taken as a value; processes
# that die between two readings of `run` are found by their headers' ppid.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tools/test-fixtures.bash"
[ -x "$HS" ] || { fail tree-built "no $HS (run make)"; finish; }
[ -e "$SHIM" ] || { fail tree-shim "no $SHIM (run make)"; finish; }
W="$TMPD/tree"; mkdir -p "$W"
CI="$ROOT/scripts/heapshim-ci"
# the preloaded shim is always the plain build (with SAN=1 the command is
# built with the sanitizers, the library it preloads must not be)
export HEAPSHIM=$HS HEAPSHIM_CI_OUT="$W/ci-new.json" HEAPSHIM_LIB="$SHIM"
unset GITHUB_ACTIONS
KIDS=()
cleanup() { for k in "${KIDS[@]}"; do kill -9 "$k" 2>/dev/null; done; rm -rf "$TMPD"; }
trap cleanup EXIT

# 1. a three-line wrapper around sort: the child grows by a third
seq 150000 > "$W/small.txt"; seq 200000 > "$W/big.txt"
printf '#!/bin/sh\nsort -n "$1" > /dev/null\necho sorted > /dev/null\n' > "$W/wrap.sh"; chmod +x "$W/wrap.sh"
out=$("$CI" record "$W/base.json" -- "$W/wrap.sh" "$W/small.txt" 2>&1) && [ -s "$W/base.json" ] \
    && pass tree-record || fail tree-record "$out"
"$PY" -c '
import json, sys; r = json.load(open(sys.argv[1])); t = r["tree"]
ids = sorted(p["id"] for p in t["processes"])
assert ids == ["sh wrap.sh", "sort"], ids
assert all(p["ended"] == "exit" for p in t["processes"])
assert t["totals"]["executables"]["sort"]["peak_bytes"] > 1 << 20, t["totals"]
assert t["totals"]["concurrent_peak_bytes"] >= t["totals"]["executables"]["sort"]["peak_bytes"]
assert r["pid"] > 0 and r["ended"] == "exit"' "$W/base.json" 2>&1 \
    && pass tree-report || fail tree-report "$(head -c 600 "$W/base.json")"
out=$("$CI" gate "$W/base.json" -- "$W/wrap.sh" "$W/small.txt" 2>&1); rc=$?
[ $rc = 0 ] && pass tree-gate-same || fail tree-gate-same "exit $rc: $out"
out=$("$CI" gate "$W/base.json" -- "$W/wrap.sh" "$W/big.txt" 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q '^  process sort' && echo "$out" | grep -q 'total.peak_bytes.*REGRESSION' \
    && pass tree-gate-child-regression || fail tree-gate-child-regression "exit $rc: $out"
out=$("$HS" diff "$W/base.json" "$HEAPSHIM_CI_OUT" --process 'sh wrap.sh' 2>&1); rc=$?
[ $rc = 0 ] && ! echo "$out" | grep -q 'process sort' && pass tree-process-select || fail tree-process-select "exit $rc: $out"
out=$("$HS" diff "$W/base.json" "$HEAPSHIM_CI_OUT" --process nosuch 2>&1); rc=$?
[ $rc = 4 ] && echo "$out" | grep -q 'no data' && pass tree-no-data || fail tree-no-data "exit $rc: $out"

# 2. diff --json, JUnit XML, GitHub annotations, absolute limits with suffixes
"$HS" diff "$W/base.json" "$HEAPSHIM_CI_OUT" --json --junit "$W/j.xml" > "$W/d.json"; rc=$?
[ $rc = 1 ] && "$PY" -c '
import json, sys; d = json.load(open(sys.argv[1]))
assert d["verdict"] == "regression" and d["exit"] == 1, d
p = [x for x in d["processes"] if x["id"] == "sort"][0]
assert p["verdict"] == "regression" and any(m["metric"] == "total.peak_bytes" and m["verdict"] == "regression" for m in p["metrics"]), p' \
    "$W/d.json" 2>&1 && pass tree-diff-json || fail tree-diff-json "exit $rc: $(head -c 500 "$W/d.json")"
"$PY" -c '
import sys, xml.etree.ElementTree as E; s = E.parse(sys.argv[1]).getroot()
assert s.tag == "testsuite" and int(s.get("failures")) >= 1, s.attrib
c = [t for t in s.iter("testcase") if t.get("name") == "sort"][0]
assert c.find("failure") is not None' "$W/j.xml" 2>&1 && pass tree-junit || fail tree-junit "$(cat "$W/j.xml")"
out=$("$HS" diff "$W/base.json" "$HEAPSHIM_CI_OUT" --github); echo "$out" | grep -q '^::error file=.*base.json,title=.*::process sort: ' \
    && pass tree-github || fail tree-github "$out"
out=$("$HS" diff "$HEAPSHIM_CI_OUT" --max-peak 1KiB 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q 'OVER LIMIT' && pass tree-max-peak-over || fail tree-max-peak-over "exit $rc: $out"
out=$("$HS" diff "$HEAPSHIM_CI_OUT" --max-peak 1GiB --max-peak mem=2000MB 2>&1); rc=$?
[ $rc = 0 ] && pass tree-max-peak-ok || fail tree-max-peak-ok "exit $rc: $out"
mkreport "$W/r0.json" domains.raw.live_bytes=0 domains.raw.peak_bytes=0
mkreport "$W/r1.json" domains.raw.live_bytes=0 domains.raw.peak_bytes=512
out=$("$HS" diff "$W/r0.json" "$W/r1.json" --min-bytes 4KiB 2>&1) && pass tree-min-bytes-suffix || fail tree-min-bytes-suffix "$out"

# 3. values checked before the workload runs (the workload would create a file)
for bad in "--max-growth abc" "--min-bytes 12XB" "--max-peak 24MiBs" "--max-peak foo=1MiB" "--metric nope"; do
    rm -f "$W/ran"
    out=$("$CI" gate "$W/base.json" $bad -- touch "$W/ran" 2>&1); rc=$?
    [ $rc = 2 ] && [ ! -e "$W/ran" ] && [ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q "${bad#* }" \
        && pass "tree-early-${bad%% *}" || fail "tree-early-${bad%% *}" "exit $rc, ran: $([ -e "$W/ran" ] && echo yes || echo no): $out"
done
rm -f "$W/ran"
out=$("$HS" run -o /nonexistent/x.json -- touch "$W/ran" 2>&1); rc=$?
[ $rc = 2 ] && [ ! -e "$W/ran" ] && pass tree-run-o-early || fail tree-run-o-early "exit $rc: $out"
(cd "$W" && "$HS" run --timeline -- true >/dev/null 2>&1); rc=$?
[ $rc = 2 ] && [ ! -e "$W/--" ] && pass tree-dashdash-not-value || fail tree-dashdash-not-value "exit $rc"
out=$("$HS" run --route garbage -- touch "$W/ran" 2>&1); rc=$?
[ $rc = 2 ] && [ ! -e "$W/ran" ] && echo "$out" | grep -q garbage && pass tree-route-checked || fail tree-route-checked "exit $rc: $out"
"$HS" --version extra >/dev/null 2>&1; rc=$?
[ $rc = 2 ] && pass tree-version-extra || fail tree-version-extra "exit $rc"

# 4. exit codes: pass 0, regression 1, bad input 2, workload failed 3, no data 4
codes=""
"$CI" gate "$W/base.json" -- "$W/wrap.sh" "$W/small.txt" >/dev/null 2>&1; codes+="$? "
"$CI" gate "$W/base.json" -- "$W/wrap.sh" "$W/big.txt" >/dev/null 2>&1; codes+="$? "
"$CI" gate "$W/base.json" --max-growth abc -- true >/dev/null 2>&1; codes+="$? "
"$CI" gate "$W/base.json" -- sh -c 'sort -n "$1" >/dev/null; exit 1' sh "$W/small.txt" >/dev/null 2>&1; codes+="$? "
"$CI" gate "$W/base.json" -- "$ROOT/$B/tests/no-such-program" >/dev/null 2>&1; codes+="$? "
[ "$codes" = "0 1 2 3 4 " ] && pass tree-exit-codes || fail tree-exit-codes "got $codes, want 0 1 2 3 4"

# 5. a workload killed by SIGKILL: reported from its last live reading, gated
PYW=/usr/bin/python3; [ -x $PYW ] || PYW=$PY
cat > "$W/hold.py" <<'PYEOF'
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_DFL)
hold = [bytes(1000) for _ in range(int(sys.argv[1]) * 1000)]
open(sys.argv[2], "w").write(str(os.getpid()))
time.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 60)
PYEOF
wait_file() { for _ in $(seq 300); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }
"$HS" run -q -o "$W/small-py.json" -- "$PYW" "$W/hold.py" 4 "$W/pid0" 0
"$HS" run -q -o "$W/kill.json" -- "$PYW" "$W/hold.py" 20 "$W/pid1" 2>"$W/kill.err" & RUN=$!; KIDS+=($RUN)
if wait_file "$W/pid1"; then
    sleep 0.5; kill -KILL "$(cat "$W/pid1")"; wait $RUN; rc=$?
    [ $rc = 137 ] && "$PY" -c '
import json, sys; r = json.load(open(sys.argv[1]))
assert r["ended"] == "signal" and r["signal"] == 9, r.get("ended")
assert r["total"]["peak_bytes"] >= 20 << 20, r["total"]
assert r["tree"]["processes"][0]["ended"] == "signal"' "$W/kill.json" 2>&1 \
        && pass tree-sigkill-report || fail tree-sigkill-report "exit $rc: $(cat "$W/kill.err") $(head -c 300 "$W/kill.json" 2>&1)"
    out=$("$HS" diff "$W/small-py.json" "$W/kill.json" 2>&1); rc=$?
    [ $rc = 1 ] && echo "$out" | grep -q 'ended: signal' && echo "$out" | grep -q 'total.peak_bytes.*REGRESSION' \
        && pass tree-sigkill-gated || fail tree-sigkill-gated "exit $rc: $out"
else
    fail tree-sigkill-report "the workload did not start: $(cat "$W/kill.err")"
fi

# 6. Ctrl-C sent to `heapshim run` itself (as kill -INT does; a background
# job of a script starts with SIGINT ignored, so it is restored first)
"$PY" -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])' \
    "$HS" run -q -o "$W/int.json" -- "$PYW" "$W/hold.py" 20 "$W/pid2" 2>"$W/int.err" & RUN=$!; KIDS+=($RUN)
if wait_file "$W/pid2"; then
    sleep 0.5; kill -INT $RUN
    for _ in $(seq 100); do kill -0 $RUN 2>/dev/null || break; sleep 0.05; done
    if kill -0 $RUN 2>/dev/null; then
        fail tree-sigint-report "heapshim run still running 5 s after SIGINT"
        kill "$(cat "$W/pid2")"
    else
        wait $RUN; rc=$?
        [ $rc = 130 ] && "$PY" -c '
import json, sys; r = json.load(open(sys.argv[1]))
assert r["ended"] == "signal" and r["signal"] == 2, r.get("ended")
assert r["total"]["peak_bytes"] >= 20 << 20, r["total"]' "$W/int.json" 2>&1 \
            && pass tree-sigint-report || fail tree-sigint-report "exit $rc: $(cat "$W/int.err")"
        out=$("$HS" diff "$W/small-py.json" "$W/int.json" 2>&1); rc=$?
        [ $rc = 1 ] && pass tree-sigint-gated || fail tree-sigint-gated "exit $rc: $out"
    fi
else
    fail tree-sigint-report "the workload did not start: $(cat "$W/int.err")"
fi

# 6b. processes that start and die between two readings of `run`: a python3
# that builds 8 MB and SIGKILLs itself, a fork child that does the same, and
# `sort` killed by SIGPIPE (head -2 stops reading). Their live files stay
# (stale); their headers name the parent (ppid), so run places them in the
# tree after they died, and their last counters stand in. --interval 5000:
# run reads only when CMD starts and once after it ended (SIGCHLD ends its
# wait), so every one of them died between two readings; --interval 20:
# read while they run too (a tracked process whose file turns stale gets
# its final counters). Before: 4 processes of 7 (sh, the fork's parent,
# seq, head: those that wrote a report), the killed ones' megabytes missing.
cat > "$W/die.sh" <<'SHEOF'
$1 -c 'import os; x = [0] * 10**6; os.kill(os.getpid(), 9)'
$1 -c '
import os
pid = os.fork()
if pid == 0:
    x = [0] * 10**6
    os.kill(os.getpid(), 9)
os.waitpid(pid, 0)'
seq 1 100000 | sort -n | head -2 > /dev/null
true
SHEOF
for iv in 5000 20; do
    rm -f "$W/die-$iv.json"
    out=$("$HS" run --interval $iv -o "$W/die-$iv.json" -- sh "$W/die.sh" "$PYW" 2>&1); rc=$?
    [ $rc = 0 ] && "$PY" - "$W/die-$iv.json" <<'PYEOF' 2>&1 && grep -q '^heapshim: 7 processes seen' <<< "$out" \
        && pass tree-run-died-between-readings-$iv || fail tree-run-died-between-readings-$iv "exit $rc: $out"
import json, sys
r = json.load(open(sys.argv[1])); t = r["tree"]; tot = t["totals"]
procs = [(p["exe"], p["ended"], p["pid"], p["ppid"], p["report"]["total"]["peak_bytes"]) for p in t["processes"]]
assert tot["processes"] == 7, procs
ex = tot["executables"]
assert sorted(ex) == ["head", "python3", "seq", "sh", "sort"], sorted(ex)
assert ex["python3"]["processes"] == 3 and ex["sort"]["processes"] == 1, ex
# the two killed pythons: each held its 8 MB list when it died
killed = [p for p in procs if p[0] == "python3" and p[1] == "lost"]
assert len(killed) == 2 and all(p[4] >= 8_000_000 for p in killed), procs
assert ex["python3"]["peak_sum_bytes"] >= 16_000_000, ex["python3"]
# sort sorted 100000 lines, then SIGPIPE: no report, its last reading
so = [p for p in procs if p[0] == "sort"][0]
assert so[1] == "lost" and so[4] >= 1 << 20, so
assert tot["peak_sum_bytes"] >= 16_000_000 + (1 << 20), tot
# every one placed under its parent: the killed child of the fork under the
# python3 that forked it, the rest under sh (CMD)
pids = {p[2] for p in procs}
assert all(p[3] in pids for p in procs if p[2] != r["pid"]), procs
PYEOF
done

# 6c. a header's ppid is the process's own claim: files that name CMD (or
# each other) as parent but started before CMD, or were made before the run
# began, are not taken, nor does a cycle of ppids hang run; a file that
# looks in every way like a child of CMD is (the control)
LIVEGEN="$ROOT/$B/tools/hs-livegen"
cat > "$W/forge.sh" <<'SHEOF'
# (the generator without the shim: a SAN build's tool must have ASan's
# runtime first, which a preloaded library is not)
G="env -u LD_PRELOAD $1"; L=$HEAPSHIM_DIR; st=$(sed 's/.*) //' /proc/$$/stat | cut -d' ' -f20); now=$(date +%s%N)
$G "$L/2000000001" pid=2000000001 ppid=$$ start=$((st - 1)) created=$now mem=9000000
$G "$L/2000000002" pid=2000000002 ppid=$$ start=$st created=1000 mem=9000000
$G "$L/2000000003" pid=2000000003 ppid=2000000004 start=$st created=$now mem=9000000
$G "$L/2000000004" pid=2000000004 ppid=2000000003 start=$st created=$now mem=9000000
$G "$L/2000000005" pid=2000000005 ppid=2000000005 start=$st created=$now mem=9000000
$G "$L/2000000006" pid=2000000006 ppid=$$ start=$st created=$now mem=3000000
$G "$L/2000000007" pid=2000000007 ppid=2000000006 start=$((st + 1)) created=$now mem=2000000
SHEOF
if [ -x "$LIVEGEN" ]; then
    out=$(timeout 20 "$HS" run --interval 5000 -o "$W/forge.json" -- sh "$W/forge.sh" "$LIVEGEN" 2>&1); rc=$?
    [ $rc = 0 ] && "$PY" - "$W/forge.json" <<'PYEOF' 2>&1 && pass tree-run-forged-ppid || fail tree-run-forged-ppid "exit $rc: $out"
import json, sys
r = json.load(open(sys.argv[1])); t = r["tree"]
# (sed, cut, date and hs-livegen are in the tree too, with their reports)
got = sorted((p["pid"], p["ppid"], p["ended"], p["report"]["total"]["peak_bytes"]) for p in t["processes"]
             if p["pid"] >= 2000000000)
assert got == [(2000000006, r["pid"], "lost", 3000000), (2000000007, 2000000006, "lost", 2000000)], got
PYEOF
    rm -f "$HEAPSHIM_DIR"/200000000?
else
    skip tree-run-forged-ppid "no $LIVEGEN (run make)"
fi

# 6b. run as a wrapper nobody notices (outside test, stop 31): CMD killed
# by a signal ends run by the same signal (it exited 128+N, and a shell loop
# went on after a Ctrl-C); a closed stderr does not kill run (SIGPIPE:
# 141 instead of CMD's status, its temporary directory left); SIGUSR1 sent
# to run reaches CMD (it killed run and left CMD running)
st=$(/usr/bin/python3 -c 'import subprocess, sys; print(subprocess.run([sys.argv[1], "run", "-q", "--", "sh", "-c", "kill -INT $$"], stderr=subprocess.DEVNULL).returncode)' "$HS")
[ "$st" = -2 ] && pass tree-run-dies-like-cmd || fail tree-run-dies-like-cmd "status seen by the caller $st (want -2: killed by SIGINT)"
ntmp0=$(ls -d "${TMPDIR:-/tmp}"/heapshim-run.* 2>/dev/null | wc -l)
"$HS" run -- sh -c 'sleep 0.2; exit 5' 2>&1 | true; st=${PIPESTATUS[0]}
ntmp1=$(ls -d "${TMPDIR:-/tmp}"/heapshim-run.* 2>/dev/null | wc -l)
[ "$st" = 5 ] && [ "$ntmp1" -le "$ntmp0" ] && pass tree-run-stderr-closed || fail tree-run-stderr-closed "status $st (want 5), temporary directories $ntmp0 -> $ntmp1"
"$HS" run -q -- sh -c 'trap "exit 7" USR1; while :; do sleep 0.05; done' & rp=$!
sleep 0.5; kill -USR1 $rp; wait $rp; st=$?
[ "$st" = 7 ] && pass tree-run-forwards-usr1 || fail tree-run-forwards-usr1 "status $st (want 7: CMD's trap ran)"

# a background process that outlives CMD finds run's report directory gone
# at its exit: it said so in the program's stderr (8 runs in 8); a
# directory that never existed is still reported (20-shim-env)
out=$("$HS" run -q -- sh -c '(sleep 0.4; /usr/bin/python3 -c pass; echo bye >&2) &' 2>&1)
[ "$out" = bye ] && pass tree-run-outlived-quiet || fail tree-run-outlived-quiet "stderr: $out"
out=$(HEAPSHIM_REPORT=/nonexistent-dir/r.json LD_PRELOAD="$SHIM" /usr/bin/python3 -c pass 2>&1)
[[ $out == *"HEAPSHIM_REPORT: report not written: /nonexistent-dir: cannot open the report directory: ENOENT"* ]] \
    && pass report-missing-dir-warned || fail report-missing-dir-warned "stderr: $out"

# 7. not on a terminal: no progress line
out=$("$HS" run -- sleep 1.3 2>&1)
echo "$out" | grep -q $'\r' && fail tree-no-progress-off-tty "progress written to a pipe" || pass tree-no-progress-off-tty
if command -v script >/dev/null; then
    out=$(script -qec "'$HS' run --progress -- sleep 1.4" /dev/null 2>&1)
    echo "$out" | grep -q $'\r\e\\[Kheapshim: 1\\.[0-9]s  live' && pass tree-progress-on-tty || fail tree-progress-on-tty "$(echo "$out" | od -c | head -5)"
    # without --progress, nothing is drawn over what CMD writes on the
    # terminal (a prompt was erased, later lines glued to the progress)
    out=$(script -qec "'$HS' run -- sh -c 'printf \"Name: \"; sleep 1.4; echo done'" /dev/null 2>&1)
    echo "$out" | grep -q $'\e\\[K' && fail tree-no-progress-by-default "$(echo "$out" | od -c | head -5)" \
        || { echo "$out" | grep -q '^Name: done' && pass tree-no-progress-by-default || fail tree-no-progress-by-default "$(echo "$out" | head -3)"; }
else
    skip tree-progress-on-tty "no script(1)"
fi
out=$("$HS" report "$W/base.json"); echo "$out" | grep -q '^  sort .*total peak' && pass tree-report-lists \
    || fail tree-report-lists "$out"

# 8. a process identity is argv[0]'s file name: terminal escapes and a
# newline in it never reach the terminal or a CI log (a line starting with
# ::error:: is a GitHub Actions workflow command), in the table nor in the
# --github annotation; they are shown as '?'
evil=$'ev\e[31mil\n::error::'
mkreport "$W/evil-a.json" command="${evil}a"; mkreport "$W/evil-b.json" command="${evil}b"
mkreport "$W/evil-big.json" command="${evil}a" domains.obj.peak_bytes=3250000 total.peak_bytes=4000000
out=$("$HS" diff "$W/evil-a.json" "$W/evil-b.json" 2>&1); rc=$?
[ $rc = 4 ] && ! grep -q $'\e' <<< "$out" && ! grep -q '^::' <<< "$out" \
    && grep -qxF '  process ev?[31mil?::error::b (pid 4242, not in the baseline)' <<< "$out" \
    && grep -qxF '  process ev?[31mil?::error::a: in the baseline only (not run this time)' <<< "$out" \
    && pass tree-diff-id-escapes || fail tree-diff-id-escapes "exit $rc: $(cat -A <<< "$out")"
out=$("$HS" diff "$W/evil-a.json" "$W/evil-big.json" --github 2>&1); rc=$?
[ $rc = 1 ] && ! grep -q $'\e' <<< "$out" && [ "$(grep -c '^::' <<< "$out")" = 1 ] \
    && grep -q '^::error file=.*title=heapshim memory regression::process ev?\[31mil?::error::a: obj.peak_bytes' <<< "$out" \
    && pass tree-diff-id-escapes-github || fail tree-diff-id-escapes-github "exit $rc: $(cat -A <<< "$out")"
# report: the allocator field and the command line (bytes >= 0x7f too), and
# a run report's process list
mkreport "$W/evil-r.json" allocator=$'py\e]0;PWNED\a\e[2Jmalloc' command=$'x\u00e9\x7f y'
out=$("$HS" report "$W/evil-r.json" 2>&1); rc=$?
[ $rc = 0 ] && [ "$(head -1 <<< "$out")" = "heapshim: pid 4242  allocator py?]0;PWNED??[2Jmalloc  x??? y" ] \
    && pass tree-report-escapes || fail tree-report-escapes "exit $rc: $(head -1 <<< "$out" | cat -A)"
"$PY" - "$W/base.json" "$W/evil-tree.json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
r["tree"]["processes"][-1]["report"]["command"] = "so\x1b[2Jrt\n::error::x"
json.dump(r, open(sys.argv[2], "w"))
PYEOF
out=$("$HS" report "$W/evil-tree.json" 2>&1); rc=$?
[ $rc = 0 ] && ! grep -q $'\e' <<< "$out" && ! grep -q '^::' <<< "$out" && grep -q '^  so?\[2Jrt?::error::x .*total peak' <<< "$out" \
    && pass tree-report-list-escapes || fail tree-report-list-escapes "exit $rc: $(cat -A <<< "$out")"
finish
