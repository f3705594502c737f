#!/bin/bash
# run-suites: alone (window steps and scrapes against the clock; the probe)
# tests/46-serve-monotonic.sh - a service's counters never go back, in
# `heapshim serve` and in `heapshim-probe --serve`. Workers of one service
# (HEAPSHIM_LABELS=service=...) start and exit one after the other while a
# client scrapes without pause, with a window step (--window-step) long
# enough that most scrapes land between a worker's exit and the next step.
# Every scrape's heapshim_service_allocs_total, _frees_total,
# _exited_processes_total and _window_peak_bytes (the window is longer than
# the run, so nothing expires) must be at least the previous scrape's: an
# exit is folded by whichever reading (step or scrape) learns of it first,
# exactly once. Before that, a scrape after an exit and before the next
# step no longer saw the worker and had not folded it yet: the counters
# dropped (a counter reset for Prometheus), and the probe's scrape dropped
# the exit for good. At the end every worker must be folded once: exited =
# the number of workers, allocs and frees = that many times one worker's
# (measured with `heapshim run`).
# The probe part SKIPs unless root on a kernel with BTF and uprobes.
source "$(dirname "$0")/lib.sh"
HS="$ROOT/$B/heapshim"
# SAN=1: the command is built with ASan, but an ASan-built shim cannot be
# preloaded into uninstrumented programs (`run` found build/san's): the plain one
if [ "${SAN:-0}" = 1 ] || [ "$B" = build/san ]; then export HEAPSHIM_LIB="$SHIM"; fi
PH="$ROOT/$B/tests/prog_phases"
PROBE="$ROOT/$B/heapshim-probe"
[ -x "$HS" ] && [ -x "$PH" ] || { skip serve-monotonic "build/heapshim or build/tests/prog_phases not built"; exit 0; }
cleanup() { reap_pids; rm -rf "$TMPD"; }
trap cleanup EXIT

STEP=3                 # --window-step: seconds between folds at a step
WINDOW=60              # --window: longer than a run, so no window peak expires
RUN_S=6                # seconds of workers per exporter
WORK=(n3000x100 s10 f) # one worker: 3000 blocks kept 10 ms, then freed

# one worker's own counters, as `heapshim run` reports them
"$HS" run -q -o "$TMPD/one.json" -- "$PH" "${WORK[@]}" 2> /dev/null
read -r A1 F1 < <("$PY" -c 'import json,sys; t=json.load(open(sys.argv[1]))["total"]; print(t["allocs"], t["frees"])' "$TMPD/one.json")
[ "${A1:-0}" -gt 0 ] && [ "${F1:-0}" -gt 0 ] || { fail serve-monotonic-setup "no figures for one worker: $(head -c 300 "$TMPD/one.json")"; finish; }


# one scrape's figures of service $2 from exposition $1:
# allocs frees exited window_peak ("-" for a series not served)
figures() {
    awk -v s="$2" '
        $1 == "heapshim_service_allocs_total{service=\"" s "\",domain=\"total\"}" { a = $2 }
        $1 == "heapshim_service_frees_total{service=\"" s "\",domain=\"total\"}" { f = $2 }
        $1 == "heapshim_service_exited_processes_total{service=\"" s "\"}" { x = $2 }
        $1 == "heapshim_service_window_peak_bytes{service=\"" s "\",domain=\"total\"}" { w = $2 }
        END { print (a == "" ? "-" : a), (f == "" ? "-" : f), (x == "" ? "-" : x), (w == "" ? "-" : w) }' "$1"
}

# scrape port $1 without pause into $2 (one line per scrape) until $3 exists
scraper() {
    local port=$1 rec=$2 stopf=$3 svc=$4 m="$2.m"
    while [ ! -e "$stopf" ]; do
        curl -s -f -m 10 "http://127.0.0.1:$port/metrics" > "$m" && grep -q '^heapshim_window_step_seconds ' "$m" \
            && figures "$m" "$svc" >> "$rec"
    done
}

# check NAME PORT SVC ENV...: workers of service SVC (started with env ENV...)
# while scraping the exporter on PORT; asserts and prints the figures
check() {
    local name=$1 port=$2 svc=$3; shift 3
    local rec="$TMPD/$name.rec" stopf="$TMPD/$name.stop" n=0 t_end
    : > "$rec"
    scraper "$port" "$rec" "$stopf" "$svc" & local SC=$!; pids+=($SC)
    t_end=$(( $(date +%s%N) + RUN_S * 1000000000 ))
    while [ "$(date +%s%N)" -lt "$t_end" ]; do
        env "$@" HEAPSHIM_LABELS="service=$svc" LD_PRELOAD="$SHIM" "$PH" "${WORK[@]}" && n=$((n + 1))
        sleep 0.1
    done
    # until every worker is folded (a step after the last exit), still scraping
    for _ in $(seq $((STEP * 4 + 10))); do
        sleep 0.5
        [ "$(tail -n 1 "$rec" | awk '{print $3}')" = "$n" ] && break
    done
    sleep 0.3
    touch "$stopf"; wait $SC 2>/dev/null
    "$PY" - "$rec" "$n" "$A1" "$F1" "$name" <<'PY'
import sys
rec, n, a1, f1, name = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
cols = ("allocs_total", "frees_total", "exited_processes_total", "window_peak_bytes")
rows = [l.split() for l in open(rec) if len(l.split()) == 4]
drops = {c: 0 for c in cols}          # scrapes below the one before
below = {c: 0 for c in cols}          # scrapes below the highest one before
to_zero = {c: 0 for c in cols}
prev = [None] * 4
high = [0] * 4
seen = 0
for r in rows:
    if r[0] == "-" and prev[0] is None:
        continue                       # before the service's first worker
    seen += 1
    for i, c in enumerate(cols):
        v = 0 if r[i] == "-" else int(r[i])
        if prev[i] is not None and v < prev[i]:
            drops[c] += 1
            to_zero[c] += v == 0
        below[c] += v < high[i]
        prev[i] = v
        high[i] = max(high[i], v)
last = [0 if x is None else x for x in prev]
print("# %s: %d workers, %d scrapes; went back (below the last scrape / below an earlier one): %s; final allocs %d (want %d), frees %d (want %d), exited %d (want %d)" % (
    name, n, seen, ", ".join("%s %d (%d to 0) / %d" % (c, drops[c], to_zero[c], below[c]) for c in cols),
    last[0], n * a1, last[1], n * f1, last[2], n))
ok = n >= 3 and seen >= n and not any(drops.values()) and not any(below.values()) and \
     last[0] == n * a1 and last[1] == n * f1 and last[2] == n
sys.exit(0 if ok else 1)
PY
}

# ---- heapshim serve
# and a process killed by SIGKILL while it serves: its file stays in the
# directory; it is folded once (it was folded again at every step, into a
# service named after its comm, once its labels could no longer be read)
HEAPSHIM_LABELS=service=monokill LD_PRELOAD="$SHIM" "$PH" n1000x100 s60000 & K=$!; pids+=($K)
for _ in $(seq 100); do [ -e "$HEAPSHIM_DIR/$K" ] && break; sleep 0.05; done
"$HS" serve --listen 127.0.0.1:0 --by service --window $WINDOW --window-step $STEP 2> "$TMPD/s.log" & S=$!; pids+=($S)
port=$(port_of "$TMPD/s.log")
if [ -z "$port" ]; then
    fail serve-start "$(cat "$TMPD/s.log")"
else
    curl -s -m 10 "http://127.0.0.1:$port/metrics" > /dev/null   # seen running
    kill -9 $K; wait $K 2>/dev/null
    check serve "$port" monoserve && pass serve-counters-monotonic \
        || fail serve-counters-monotonic "a service's counter went back, or workers not folded exactly once (figures above)"
    # the run lasted several steps after the kill
    curl -s -m 10 "http://127.0.0.1:$port/metrics" > "$TMPD/sk"
    kx=$(metric 'heapshim_service_exited_processes_total\{service="monokill"\}' "$TMPD/sk")
    all=$(awk '/^heapshim_service_exited_processes_total\{/ {t += $NF} END {print t + 0}' "$TMPD/sk")
    [ -e "$HEAPSHIM_DIR/$K" ] && [ "$kx" = 1 ] && [ "$all" = $(( $(tail -n 1 "$TMPD/serve.rec" | awk '{print $3}') + 1 )) ] \
        && pass serve-killed-folded-once \
        || fail serve-killed-folded-once "file left: $([ -e "$HEAPSHIM_DIR/$K" ] && echo yes || echo no); exited: monokill '$kx' (want 1), all services $all (want the workers + 1): $(grep '^heapshim_service_exited_processes_total{' "$TMPD/sk" | tr '\n' ' ')"
fi
kill $S; wait $S 2>/dev/null

# ---- heapshim-probe --serve (root, BTF, uprobes)
why=
if [ ! -x "$PROBE" ]; then why="$PROBE not built"
elif [ "$(id -u)" != 0 ]; then why="not root (the probe loads BPF programs)"
elif [ ! -r /sys/kernel/btf/vmlinux ]; then why="kernel without BTF (/sys/kernel/btf/vmlinux)"
elif [ ! -e /sys/bus/event_source/devices/uprobe/type ]; then why="kernel without uprobes"
fi
if [ -n "$why" ]; then
    skip probe-serve-counters-monotonic "$why"
    finish
fi
"$PROBE" --serve 127.0.0.1:0 --lib "$SHIM" --by service --window $WINDOW --window-step $STEP 2> "$TMPD/p.log" & P=$!; pids+=($P)
port=$(port_of "$TMPD/p.log")
if [ -z "$port" ]; then
    fail probe-serve-start "$(cat "$TMPD/p.log")"
else
    sleep 0.5
    # the probe sees the workers by their USDT points: no live directory needed
    check probe "$port" monoprobe -u HEAPSHIM_DIR && pass probe-serve-counters-monotonic \
        || fail probe-serve-counters-monotonic "a service's counter went back, or workers not folded exactly once (figures above)"
fi
kill $P; wait $P 2>/dev/null
finish
