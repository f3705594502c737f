#!/bin/bash
# tests/41-cli-run-edges.sh - `heapshim run` as an outside tester found it
# (stop 32): a write error on an output ends run non-zero with one line
# naming the output; a signal sent to the whole process group reaches CMD
# once; an RSS run never read is shown as unknown, not as 0 B; a nested run
# keeps the inner tree's processes; the note about a process the shim could
# not enter says what is known.
. "$(dirname "$0")/lib.sh"
HS="$ROOT/$B/heapshim"
[ -x "$HS" ] || { fail edges-built "no $HS (run make)"; finish; }
[ -e "$SHIM" ] || { fail edges-shim "no $SHIM (run make)"; finish; }
export HEAPSHIM_LIB="$SHIM"
W="$TMPD/edges"; mkdir -p "$W"
PYW=/usr/bin/python3; [ -x $PYW ] || PYW=$PY

# 1. a write error on an output: one line on stderr naming it, and run's
# status is not 0 (2, as for an output refused before CMD ran) when CMD
# succeeded; a failing CMD's own status is kept. Before: exit 0 every time.
# (CMD sleeps: the reader of the pipe is gone before run writes)
out=$("$HS" run -q -o - -- sh -c 'sleep 0.1' 2>&1 >/dev/full); rc=$?
[ $rc = 2 ] && [ "$(wc -l <<< "$out")" = 1 ] && grep -q '^heapshim run: -o -: .*No space left on device$' <<< "$out" \
    && pass edges-o-stdout-full || fail edges-o-stdout-full "exit $rc: $out"
{ "$HS" run -q -o - -- sh -c 'sleep 0.1' 2>"$W/pipe.err" | true; } ; rc=${PIPESTATUS[0]}
[ $rc = 2 ] && [ "$(wc -l < "$W/pipe.err")" = 1 ] && grep -q '^heapshim run: -o -: .*Broken pipe$' "$W/pipe.err" \
    && pass edges-o-stdout-closed || fail edges-o-stdout-closed "exit $rc: $(cat "$W/pipe.err")"
out=$("$HS" run -q -o /dev/full -- true 2>&1); rc=$?
[ $rc = 2 ] && [ "$(wc -l <<< "$out")" = 1 ] && grep -q '^heapshim run: -o /dev/full: ' <<< "$out" \
    && pass edges-o-file-full || fail edges-o-file-full "exit $rc: $out"
out=$("$HS" run -q -o /dev/full -- sh -c 'exit 3' 2>&1); rc=$?
[ $rc = 3 ] && grep -q '^heapshim run: -o /dev/full: ' <<< "$out" \
    && pass edges-o-full-cmd-status-kept || fail edges-o-full-cmd-status-kept "exit $rc (want CMD's 3): $out"
out=$("$HS" run -q --timeline /dev/full -- true 2>&1); rc=$?
[ $rc = 2 ] && [ "$(wc -l <<< "$out")" = 1 ] && grep -q '^heapshim run: --timeline /dev/full: ' <<< "$out" \
    && pass edges-timeline-full || fail edges-timeline-full "exit $rc: $out"
{ "$HS" run -q --timeline - -- sh -c 'sleep 0.1' 2>"$W/tpipe.err" | true; } ; rc=${PIPESTATUS[0]}
[ $rc = 2 ] && [ "$(wc -l < "$W/tpipe.err")" = 1 ] && grep -q '^heapshim run: --timeline -: .*Broken pipe$' "$W/tpipe.err" \
    && pass edges-timeline-stdout-closed || fail edges-timeline-stdout-closed "exit $rc: $(cat "$W/tpipe.err")"
out=$("$HS" run -q -o /dev/null -- true 2>&1); rc=$?
[ $rc = 0 ] && [ -z "$out" ] && pass edges-o-devnull-ok || fail edges-o-devnull-ok "exit $rc: $out"

# 5. a program the shim cannot enter: run names the file and why (measured
# before: "it exited without running exit handlers (_exit, or exec of a
# static binary?)" for a set-user-ID CMD; "after an exec of a program the
# shim cannot enter, setuid or static, or through _exit" for a CMD seen
# running a static one). A set-user-ID program needs an owner other than us:
# as root, a copy of sleep owned by nobody; else a system one.
printf '#include <unistd.h>\n#include <stdlib.h>\nint main(int c, char **v) { usleep(c > 1 ? atoi(v[1]) * 1000 : 0); return c > 2 ? atoi(v[2]) : 0; }\n' > "$W/ssleep.c"
if ${CC:-cc} -static -O1 -o "$W/ssleep" "$W/ssleep.c" 2>/dev/null; then
    out=$("$HS" run -q -- "$W/ssleep" 0 4 2>&1); rc=$?
    [ $rc = 4 ] && [ "$out" = "heapshim run: no report from pid ${out#*pid }" ] \
        && grep -q "^heapshim run: no report from pid [0-9]*: $W/ssleep is statically linked, no dynamic loader to preload the shim; nothing was counted (it exited with status 4)$" <<< "$out" \
        && pass edges-static-cmd || fail edges-static-cmd "exit $rc: $out"
    # CMD publishes, then execs the static program, which runs across readings
    out=$("$HS" run -q --interval 20 -- sh -c "sleep 0.1; exec '$W/ssleep' 400 5" 2>&1); rc=$?
    [ $rc = 5 ] && grep -q "^heapshim run: pid [0-9]* exec'd $W/ssleep, statically linked, no dynamic loader to preload the shim, and wrote no report (it exited with status 5): figures from its last live reading, before that exec$" <<< "$out" \
        && pass edges-static-exec || fail edges-static-exec "exit $rc: $out"
else
    skip edges-static-cmd "no static C library (${CC:-cc} -static failed)"
fi
sid=
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    cp "$(command -v sleep)" "$W/sidsleep" && chown nobody "$W/sidsleep" && chmod 4755 "$W/sidsleep" && sid="$W/sidsleep"
    # a file system mounted nosuid: the bit means nothing there
    findmnt -T "$W" -no OPTIONS 2>/dev/null | grep -qw nosuid && sid=
fi
if [ -n "$sid" ]; then
    owner=$(stat -c %u "$sid")
    out=$("$HS" run -q -- "$sid" 0 2>&1); rc=$?
    [ $rc = 0 ] && grep -q "^heapshim run: no report from pid [0-9]*: $sid is set-user-ID to uid $owner, the loader ignores LD_PRELOAD for it; nothing was counted (it exited with status 0)$" <<< "$out" \
        && pass edges-setuid-cmd || fail edges-setuid-cmd "exit $rc: $out"
    out=$("$HS" run -q --interval 20 -- sh -c "sleep 0.1; exec '$sid' 0.4" 2>&1); rc=$?
    [ $rc = 0 ] && grep -q "^heapshim run: pid [0-9]* exec'd $sid, set-user-ID to uid $owner, the loader ignores LD_PRELOAD for it, and wrote no report (it exited with status 0): figures from its last live reading, before that exec$" <<< "$out" \
        && pass edges-setuid-exec || fail edges-setuid-exec "exit $rc: $out"
else
    skip edges-setuid-cmd "not root, or $W is on a nosuid file system: no set-user-ID program of another owner to run"
fi
# neither: CMD execs a dynamic program with LD_PRELOAD removed (the file
# says nothing; run may or may not see the short-lived program running)
out=$("$HS" run -q -- env -u LD_PRELOAD sh -c 'exit 6' 2>&1); rc=$?
[ $rc = 6 ] && [ "$(wc -l <<< "$out")" = 1 ] && grep -Eq "^heapshim run: (.*exited with status 6 .*which of these is not known.*|pid [0-9]+ exec'd .*sh, a program the shim was not in, and wrote no report \(it exited with status 6\).*)$" <<< "$out" \
    && pass edges-unknown-why || fail edges-unknown-why "exit $rc: $out"

# 3. a process killed before run's first reading of it: its RSS was never
# measured, so it is unknown ("-" in the table, null in the JSON, left out
# of diff), never "0 B" (measured before: "peak RSS: 0 B",
# "rss_peak_bytes": 0). --interval 5000: run reads when CMD starts (before
# python3 publishes) and when it ended. The control reads it while it lives.
KILLME='import os, time, sys; x = [0] * 10**6; time.sleep(float(sys.argv[1])); os.kill(os.getpid(), 9)'
out=$("$HS" run --interval 5000 -o "$W/k0.json" -- "$PYW" -c "$KILLME" 0 2>&1); rc=$?
[ $rc = 137 ] && grep -qx '  peak RSS: -  wall [0-9.]* s' <<< "$out" && ! grep -q 'explained:' <<< "$out" \
    && "$PY" - "$W/k0.json" <<'PYEOF' 2>&1 && pass edges-rss-unknown || fail edges-rss-unknown "exit $rc: $out"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ended"] == "signal" and r["total"]["peak_bytes"] >= 8_000_000, r["total"]
for k in ("rss_peak_bytes", "rss_anon_bytes", "rss_anon_peak_bytes"):
    assert k in r and r[k] is None, (k, r.get(k))
    assert r["tree"]["processes"][0]["report"][k] is None, k
PYEOF
out=$("$HS" report "$W/k0.json" 2>&1); rc=$?
[ $rc = 0 ] && grep -qx '  peak RSS: -  wall [0-9.]* s' <<< "$out" && pass edges-rss-unknown-report || fail edges-rss-unknown-report "exit $rc: $out"
"$HS" report --json "$W/k0.json" > "$W/k0r.json" 2>&1; rc=$?
[ $rc = 0 ] && "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); assert r["rss_peak_bytes"] is None and r["rss_anon_peak_bytes"] is None, r' "$W/k0r.json" 2>&1 \
    && pass edges-rss-unknown-report-json || fail edges-rss-unknown-report-json "exit $rc: $(grep rss "$W/k0r.json")"
out=$("$HS" run -q --interval 20 -o "$W/k1.json" -- "$PYW" -c "$KILLME" 0.3 2>&1)
out=$("$HS" diff "$W/k1.json" "$W/k0.json" --metric rss_peak_bytes --metric total.peak_bytes 2>&1); rc=$?
[ $rc = 0 ] && ! grep -q rss <<< "$out" && grep -q '^  total.peak_bytes' <<< "$out" \
    && "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); assert r["rss_peak_bytes"] > 0 and r["rss_anon_peak_bytes"] > 0, r["rss_peak_bytes"]' "$W/k1.json" 2>&1 \
    && pass edges-rss-unknown-not-compared || fail edges-rss-unknown-not-compared "exit $rc: $out"

# 2. run inside run: the outer run lists every process of the inner tree
# (the inner run hands its reports to the outer's directory), each under
# its parent. Measured before: the outer's tree had 2 processes (its sh and
# the inner heapshim), the inner tree's sort, seq and sh were missing.
# --interval 5000: the outer never reads the short inner processes alive.
# The inner heapshim is a process of the outer tree, so the shim is
# preloaded into it: the plain build's (with SAN=1, $HS carries ASan,
# whose runtime must come first; `make check` builds the plain one first).
HSI="$ROOT/build/heapshim"
out=$("$HS" run --interval 5000 -o "$W/outer.json" -- sh -c \
    "'$HSI' run -q -o '$W/inner.json' -- sh -c 'seq 50000 | sort -n >/dev/null; sort -n /etc/passwd >/dev/null'; true" 2>&1); rc=$?
[ $rc = 0 ] && "$PY" - "$W/outer.json" "$W/inner.json" <<'PYEOF' 2>&1 && pass edges-nested-run || fail edges-nested-run "exit $rc: $out"
import json, sys
o = json.load(open(sys.argv[1]))["tree"]; i = json.load(open(sys.argv[2]))["tree"]
op = {p["pid"]: p for p in o["processes"]}
ip = {p["pid"]: p for p in i["processes"]}
assert set(ip) <= set(op), (sorted(ip), sorted(op))
assert o["totals"]["processes"] == len(ip) + 2, (o["totals"]["processes"], len(ip))   # + outer sh + inner heapshim
assert sorted(e for e in o["totals"]["executables"]) == ["heapshim", "seq", "sh", "sort"], o["totals"]["executables"]
root = json.load(open(sys.argv[1]))["pid"]
assert all(p["ppid"] in op for p in o["processes"] if p["pid"] != root), [(p["pid"], p["ppid"]) for p in o["processes"]]
for pid, p in ip.items():
    assert op[pid]["report"]["total"]["peak_bytes"] == p["report"]["total"]["peak_bytes"], pid
assert o["totals"]["peak_sum_bytes"] > i["totals"]["peak_sum_bytes"], (o["totals"], i["totals"])
PYEOF

finish
