#!/bin/bash
# tests/40-cli-e2e.sh - the heapshim command against real shimmed processes:
# run a Python workload under `heapshim run`, watch it with top --once --json,
# scrape it (export + promtool, serve), let it finish, then gate it with diff
# against a baseline that passes and one that fails; children followed,
# exit statuses passed on, the timeline plotted, stale files collected.
# SKIPs while build/libheapshim.so does not exist.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tools/test-fixtures.bash"
[ -x "$HS" ] || { fail cli-built "no $HS (run make)"; finish; }
# SAN=1: the command is built with ASan, but an ASan-built shim cannot be
# preloaded into uninstrumented programs; use the plain shim if there is one
if [ "${SAN:-0}" = 1 ] || [ "$B" = build/san ]; then
    SHIM="$ROOT/build/libheapshim.so"; export HEAPSHIM_LIB="$SHIM"
fi
[ -f "$SHIM" ] || { skip cli-e2e "no $SHIM yet (the shim is built by make); end-to-end tests not run"; finish; }
PYW=/usr/bin/python3; [ -x "$PYW" ] || PYW=$PY
W="$TMPD/e2e"; mkdir -p "$W"
KIDS=()
trap 'kill "${KIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMPD"' EXIT
cat > "$W/work.py" <<'PYEOF'
# hold MB megabytes in 1 MiB buffers plus small objects, announce our pid,
# wait for the go file, free half, exit with status 3
import os, sys, time
mb, ready, go = int(sys.argv[1]), sys.argv[2], sys.argv[3]
hold = [bytearray(1 << 20) for _ in range(mb)]
small = [str(i) * 3 for i in range(20000)]
open(ready + ".tmp", "w").write(str(os.getpid())); os.rename(ready + ".tmp", ready)
t = time.time()
while not os.path.exists(go) and time.time() - t < 60: time.sleep(0.02)
del hold[: mb // 2]
sys.exit(3)
PYEOF

# 1. the baseline run, watched while it runs
"$HS" run -o "$W/base.json" --timeline "$W/tl.csv" --interval 20 -- "$PYW" "$W/work.py" 24 "$W/ready" "$W/go" 2> "$W/run.err" &
RUN=$!; KIDS+=($RUN)
if ! wait_files "$W/ready"; then
    fail e2e-start "workload did not start: $(cat "$W/run.err")"; finish
fi
WP=$(cat "$W/ready")
j=$("$HS" top --once --json 2>&1)
echo "$j" | "$PY" -c '
import json, sys
d = json.load(sys.stdin); p = [x for x in d["processes"] if x["pid"] == '"$WP"']
assert p, "pid '"$WP"' not in top: %s" % d
p = p[0]
assert p["total"]["live_bytes"] >= 24 << 20, p["total"]
assert p["total"]["peak_bytes"] >= p["total"]["live_bytes"], p["total"]
assert p["rss_bytes"] >= 24 << 20 and p["rss_explained"] > 0.3, p
assert "python" in p["comm"], p["comm"]
' 2>&1 && pass e2e-top-json || fail e2e-top-json "$(echo "$j" | head -c 800)"
"$HS" top --once | grep -q "^ *$WP python" && pass e2e-top-table || fail e2e-top-table "$("$HS" top --once 2>&1)"
"$HS" export > "$W/m.prom" 2>&1
if command -v promtool >/dev/null; then
    out=$(promtool check metrics < "$W/m.prom" 2>&1) && pass e2e-promtool || fail e2e-promtool "$out"
fi
v=$(grep "^heapshim_total_live_bytes{pid=\"$WP\"" "$W/m.prom" | awk '{print $NF}')
[ -n "$v" ] && [ "$v" -ge $((24 << 20)) ] && pass e2e-export || fail e2e-export "total live '$v': $(head -c 400 "$W/m.prom")"
"$HS" serve --listen 127.0.0.1:0 2> "$W/serve.log" & SV=$!; KIDS+=($SV)
port=; for _ in $(seq 50); do port=$(sed -n 's|.*127.0.0.1:\([0-9]*\)/metrics|\1|p' "$W/serve.log"); [ -n "$port" ] && break; sleep 0.1; done
curl -s -m 5 "http://127.0.0.1:$port/metrics" | grep -q "^heapshim_live_bytes{pid=\"$WP\",comm=\"python[^\"]*\",service=\"[^\"]*\",domain=\"mem\"} [1-9]" \
    && pass e2e-serve || fail e2e-serve "port '$port': $(cat "$W/serve.log")"
kill $SV; wait $SV 2>/dev/null
touch "$W/go"; wait $RUN; rc=$?
[ $rc = 3 ] && pass e2e-exit-status || fail e2e-exit-status "heapshim run exited $rc, the workload 3: $(tail -5 "$W/run.err")"
grep -q 'total .*MiB' "$W/run.err" && grep -q '1 process seen' "$W/run.err" && pass e2e-run-table || fail e2e-run-table "$(cat "$W/run.err")"
"$HS" report "$W/base.json" > /dev/null && "$PY" -c '
import json, sys; r = json.load(open(sys.argv[1]))
assert r["pid"] == int(sys.argv[2]) and r["total"]["peak_bytes"] >= 24 << 20, r["total"]' "$W/base.json" "$WP" \
    && pass e2e-report || fail e2e-report "$(head -c 600 "$W/base.json")"
[ "$(wc -l < "$W/tl.csv")" -gt 5 ] && awk -F, 'NR>1 && $5 >= 24*1048576 {f=1} END {exit !f}' "$W/tl.csv" \
    && pass e2e-timeline || fail e2e-timeline "$(head -5 "$W/tl.csv")"
if "$HS" plot "$W/tl.csv" -o "$W/tl.svg" && command -v rsvg-convert >/dev/null && rsvg-convert -o "$W/tl.png" "$W/tl.svg"; then
    r=$(png_check "$W/tl.png" 960 540); case $r in ok*|*"colour(s) missing"*) pass "e2e-plot ($r)";; *) fail e2e-plot "$r";; esac
else
    fail e2e-plot "plot or rsvg-convert failed"
fi

# 2. gate: the same workload passes, a bigger one fails on the peak
rm -f "$W/ready" "$W/go"; touch "$W/go"
"$HS" run -q -o "$W/same.json" -- "$PYW" "$W/work.py" 24 "$W/ready" "$W/go"
# live bytes at exit move by some 100 KiB between identical python runs (hash
# seeds, gc timing): a gate on a small figure needs --min-bytes, as in CI use
out=$("$HS" diff "$W/base.json" "$W/same.json" --max-growth 20 --min-bytes 1048576); rc=$?
[ $rc = 0 ] && pass e2e-diff-pass || fail e2e-diff-pass "exit $rc: $out"
rm -f "$W/ready"
"$HS" run -q -o "$W/bigger.json" -- "$PYW" "$W/work.py" 40 "$W/ready" "$W/go"
out=$("$HS" diff "$W/base.json" "$W/bigger.json" --max-growth 20 --min-bytes 1048576); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q 'total.peak_bytes .*REGRESSION' && pass e2e-diff-fail || fail e2e-diff-fail "exit $rc: $out"
rm -f "$W/ready"
out=$(HEAPSHIM_CI_OUT="$W/ci.json" "$ROOT/scripts/heapshim-ci" gate "$W/base.json" --max-growth 20 -- "$PYW" "$W/work.py" 40 "$W/ready" "$W/go" 2>&1); rc=$?
[ $rc = 3 ] && pass e2e-ci-workload-status || fail e2e-ci-workload-status "exit $rc (the workload's 3 should win): $out"

# 3. children followed, signals turned into 128+N, missing commands 127
out=$("$HS" run --reports-dir "$W/kids" -- sh -c "'$PYW' -c 'x=[0]*100000'; '$PYW' -c 'x=[0]*200000'; exit 5" 2>&1); rc=$?
n=$(ls "$W/kids" 2>/dev/null | grep -c '^report\.[0-9]*\.json$')
[ $rc = 5 ] && [ "$n" -ge 3 ] && echo "$out" | grep -q "$n processes seen" && pass e2e-children || fail e2e-children "exit $rc, $n reports: $out"
"$HS" run -q -- sh -c 'kill -TERM $$' 2>/dev/null; rc=$?
[ $rc = 143 ] && pass e2e-signal-status || fail e2e-signal-status "exit $rc, want 143"
out=$("$HS" run -- "$W/no-such-program" 2>&1); rc=$?
[ $rc = 127 ] && echo "$out" | grep -q 'cannot run' && pass e2e-not-found || fail e2e-not-found "exit $rc: $out"
touch "$W/not-executable"; chmod 644 "$W/not-executable"
out=$("$HS" run -- "$W/not-executable" 2>&1); rc=$?
[ $rc = 126 ] && echo "$out" | grep -q 'Permission denied' && pass e2e-not-executable || fail e2e-not-executable "exit $rc (want 126, as a shell): $out"
"$HS" run -q --allocator malloc -o "$W/malloc.json" -- "$PYW" -c 'x=[str(i) for i in range(50000)]' \
    && grep -q '"allocator": "malloc"' "$W/malloc.json" && pass e2e-allocator || fail e2e-allocator "$(grep allocator "$W/malloc.json")"

# 4. a killed process leaves a stale file: top skips it, gc removes it
LD_PRELOAD="$SHIM" "$PYW" -c 'import time; x=[0]*100000; time.sleep(30)' & K=$!; KIDS+=($K)
for _ in $(seq 100); do [ -e "$HEAPSHIM_DIR/$K" ] && break; sleep 0.05; done
sleep 0.2; kill -9 $K; wait $K 2>/dev/null
if [ -e "$HEAPSHIM_DIR/$K" ]; then
    j=$("$HS" top --once --json)
    echo "$j" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); assert d["stale"]>=1 and all(p["pid"]!='"$K"' for p in d["processes"]), d' \
        && pass e2e-stale-skipped || fail e2e-stale-skipped "$j"
    "$HS" gc > /dev/null && [ ! -e "$HEAPSHIM_DIR/$K" ] && pass e2e-gc || fail e2e-gc "$HEAPSHIM_DIR/$K still there"
else
    fail e2e-stale-skipped "no live file $HEAPSHIM_DIR/$K for a shimmed python"
fi
finish
