#!/bin/bash
# tests/46-serve-collect.sh - exits kept for the collector
# (include/heapshim/live.h "Where it lives"): while `heapshim serve` runs it
# owns the live directory's collector file, and a process that exits
# renames its file for it instead of removing it, so that a worker gone
# before the exporter could open its file is still folded, once, with its
# final figures. Before stop 34 a burst of workers that live a millisecond
# or two lost some of them (50 in a row: 45 folded here; in bursts 25-31
# of 50), and fork children that exited before they had a file were never
# counted. Then: no file left behind, the collector file gone with serve, a
# collector killed by SIGKILL keeps nothing (workers remove their files)
# and `heapshim gc` removes what it left, nor does a stopped one after
# HS_LIVE_COLLECTOR_STALE seconds; hostile collector and exit files
# are refused and left alone (an exit file whose name says another pid than
# its header is not folded).
source "$(dirname "$0")/lib.sh"
HS="$ROOT/$B/heapshim"
# SAN=1: an ASan-built shim cannot be preloaded into uninstrumented programs
if [ "${SAN:-0}" = 1 ] || [ "$B" = build/san ]; then export HEAPSHIM_LIB="$SHIM"; fi
PH="$ROOT/$B/tests/prog_phases"
[ -x "$HS" ] && [ -x "$PH" ] || { skip serve-collect "build/heapshim or build/tests/prog_phases not built"; exit 0; }
cleanup() { reap_pids; rm -rf "$TMPD"; }
trap cleanup EXIT
D=$HEAPSHIM_DIR
WORK=(n100x64 f)        # one worker: 100 blocks and their frees, ~1-2 ms
# the directory's entries but the sampler's unwind-rule store (unwind-*)
entries() { ls -A "$D" | grep -v '^unwind-'; }

# one worker's own counters, as `heapshim run` reports them
"$HS" run -q -o "$TMPD/one.json" -- "$PH" "${WORK[@]}" 2> /dev/null
A1=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"]["allocs"])' "$TMPD/one.json" 2>/dev/null)
[ "${A1:-0}" -gt 0 ] || { fail serve-collect-setup "no figures for one worker: $(head -c 300 "$TMPD/one.json")"; finish; }

# ---- quick workers, in bursts of 5, all folded exactly
"$HS" serve --listen 127.0.0.1:0 --window 60 --window-step 1 2> "$TMPD/s.log" & S=$!; pids+=($S)
port=$(port_of "$TMPD/s.log")
[ -n "$port" ] || { fail serve-start "$(cat "$TMPD/s.log")"; finish; }
curl -s -m 10 -o /dev/null "http://127.0.0.1:$port/metrics"      # a first reading: the collector file
wait_files "$D/.collector"
own=$(cut -d' ' -f1 "$D/.collector" 2>/dev/null)
N=40
for _ in $(seq $((N / 5))); do
    w=()
    for _ in 1 2 3 4 5; do HEAPSHIM_LABELS=service=quick LD_PRELOAD="$SHIM" "$PH" "${WORK[@]}" & w+=($!); done
    wait "${w[@]}"
done
ex=$(await_metric "$port" "$TMPD/m1" 'heapshim_service_exited_processes_total\{service="quick"\}' $N)
al=$(metric 'heapshim_service_allocs_total\{service="quick",domain="total"\}' "$TMPD/m1")
left=$(ls -A "$D" | grep -c '^\.exited\.')
[ "$own" = "$S" ] && [ "${ex:-0}" = $N ] && [ "${al:-0}" = $((N * A1)) ] && [ "$left" = 0 ] && pass serve-collect-quick-workers \
  || fail serve-collect-quick-workers "collector file '$own' (want $S); exited '$ex' (want $N), allocs '$al' (want $((N * A1))); exit files left $left: $(entries | tr '\n' ' '); serve: $(tail -3 "$TMPD/s.log" | tr '\n' ' ')"
# a scrape later: nothing folded twice
curl -s -m 10 "http://127.0.0.1:$port/metrics" > "$TMPD/m1b"; sleep 1.2
curl -s -m 10 "http://127.0.0.1:$port/metrics" > "$TMPD/m1b"
ex2=$(metric 'heapshim_service_exited_processes_total\{service="quick"\}' "$TMPD/m1b")
[ "$ex2" = $N ] && pass serve-collect-once || fail serve-collect-once "exited $ex2 after two more readings (want $N)"
# fork children that exit before they have a file (under 20 ms and 1 MiB:
# their counters stay private, live.h "Fork"): made at their exit for the
# collector, so the service counts their own calls. 2 x (1000 + 5 x 50)
# allocations, 2 parents and 10 children; before, 2,000 and 2 exits.
for _ in 1 2; do HEAPSHIM_LABELS=service=forky LD_PRELOAD="$SHIM" "$PH" n1000x64 f c5 n50x64 f; done
fx=$(await_metric "$port" "$TMPD/m2" 'heapshim_service_exited_processes_total\{service="forky"\}' 12)
fa=$(metric 'heapshim_service_allocs_total\{service="forky",domain="total"\}' "$TMPD/m2")
[ "${fx:-0}" = 12 ] && [ "${fa:-0}" = 2500 ] && pass serve-collect-quick-fork-children \
  || fail serve-collect-quick-fork-children "exited '$fx' (want 12), allocs '$fa' (want 2500); directory: $(entries | tr '\n' ' '); serve: $(tail -3 "$TMPD/s.log" | tr '\n' ' ')"
# `top` lists no exit file as a process
tp=$("$HS" top --once --json 2>&1)
[ "$("$PY" -c 'import json,sys; print(len(json.loads(sys.argv[1])["processes"]))' "$tp" 2>/dev/null)" = 0 ] \
  && pass serve-collect-top-silent || fail serve-collect-top-silent "$(echo "$tp" | head -c 300)"
kill $S; wait $S 2>/dev/null
[ ! -e "$D/.collector" ] && pass serve-collect-released || fail serve-collect-released "$(entries | tr '\n' ' ')"

# ---- a stopped collector (SIGSTOP, a frozen cgroup): exits are kept for it
# while its file beats (modified within HS_LIVE_COLLECTOR_STALE s), removed
# as without one after that, so that they never pile up; once it runs again
# it beats, folds what was kept and says that it missed the rest. 2 kept,
# 3 removed while stale, 2 after: 4 folded. (Before, a stopped collector
# kept every exit of the directory for as long as it was stopped.)
fresh() { [ $(( $(date +%s) - $(stat -c %Y "$D/.collector" 2>/dev/null || echo 0) )) -le 2 ]; }
"$HS" serve --listen 127.0.0.1:0 --window 60 --window-step 1 2> "$TMPD/s4.log" & S=$!; pids+=($S)
port=$(port_of "$TMPD/s4.log")
curl -s -m 10 -o /dev/null "http://127.0.0.1:$port/metrics"
wait_files "$D/.collector"
kill -STOP $S
for _ in 1 2; do HEAPSHIM_LABELS=service=held LD_PRELOAD="$SHIM" "$PH" "${WORK[@]}"; done
held=$(ls -A "$D" | grep -c '^\.exited\.')
touch -d '-1 min' "$D/.collector"        # as if it had been stopped for a minute
for _ in 1 2 3; do HEAPSHIM_LABELS=service=held LD_PRELOAD="$SHIM" "$PH" "${WORK[@]}"; done
held2=$(ls -A "$D" | grep -c '^\.exited\.')
kill -CONT $S
for _ in $(seq 50); do fresh && break; sleep 0.1; done
for _ in 1 2; do HEAPSHIM_LABELS=service=held LD_PRELOAD="$SHIM" "$PH" "${WORK[@]}"; done
hx=$(await_metric "$port" "$TMPD/m4" 'heapshim_service_exited_processes_total\{service="held"\}' 4)
ha=$(metric 'heapshim_service_allocs_total\{service="held",domain="total"\}' "$TMPD/m4")
warned=$(grep -c "collector file had not been updated for [0-9]* s" "$TMPD/s4.log")
kill $S; wait $S 2>/dev/null
[ "$held" = 2 ] && [ "$held2" = 2 ] && [ "${hx:-0}" = 4 ] && [ "${ha:-0}" = $((4 * A1)) ] && [ "$warned" = 1 ] \
  && [ -z "$(entries)" ] && pass serve-collect-stopped \
  || fail serve-collect-stopped "kept while beating $held (want 2), after the beat went stale $held2 (want 2); exited '$hx' (want 4), allocs '$ha' (want $((4 * A1))); said $warned (want 1); left: $(entries | tr '\n' ' '); serve: $(tail -3 "$TMPD/s4.log" | tr '\n' ' ')"

# ---- a collector killed by SIGKILL: nothing is kept for it; gc removes its file
"$HS" serve --listen 127.0.0.1:0 2> "$TMPD/s2.log" & S=$!; pids+=($S)
port=$(port_of "$TMPD/s2.log")
curl -s -m 10 -o /dev/null "http://127.0.0.1:$port/metrics"
wait_files "$D/.collector"
kill -9 $S; wait $S 2>/dev/null
for _ in 1 2 3; do LD_PRELOAD="$SHIM" "$PH" "${WORK[@]}"; done
kept=$(ls -A "$D" | grep -c '^\.exited\.')
gco=$("$HS" gc 2>&1)
[ "$kept" = 0 ] && [ ! -e "$D/.collector" ] && echo "$gco" | grep -q "removed 1 stale file" && pass serve-collect-killed \
  || fail serve-collect-killed "exit files kept for a dead collector: $kept (want 0); gc: $gco; left: $(entries | tr '\n' ' ')"

# ---- gc: exits kept for a collector that is gone are removed, with it
# (a collector file names "<pid> <start time>"; the start time tells a
# later process with the same pid from the collector)
starttime() { "$PY" -c 'import sys; print(open("/proc/%s/stat" % sys.argv[1]).read().rsplit(")", 1)[1].split()[19])' "$1"; }
sleep 300 & SL=$!; pids+=($SL)
printf '%s %s\n' $SL $(( $(starttime $SL) + 1 )) > "$D/.collector"; chmod 600 "$D/.collector"   # its pid, not its start
LD_PRELOAD="$SHIM" "$PH" "${WORK[@]}"
reused=$(ls -A "$D" | grep -c '^\.exited\.')
printf '%s %s\n' $SL "$(starttime $SL)" > "$D/.collector"             # a running "collector"
HEAPSHIM_LABELS=service=forged LD_PRELOAD="$SHIM" "$PH" "${WORK[@]}"
kept=$(ls -A "$D" | grep -c '^\.exited\.')
cp -p "$D"/.exited.* "$TMPD/exit-copy" 2>/dev/null     # a real exit, forged below
gco1=$("$HS" gc 2>&1)
kept1=$(ls -A "$D" | grep -c '^\.exited\.')
kill $SL; wait $SL 2>/dev/null
gco2=$("$HS" gc 2>&1)
[ "$reused" = 0 ] && [ "$kept" = 1 ] && [ "$kept1" = 1 ] && [ -z "$(entries)" ] && echo "$gco2" | grep -q "removed 2 stale files" \
  && pass gc-collector-gone || fail gc-collector-gone "kept for a reused pid $reused (want 0); kept $kept, after gc with the collector running $kept1 ($gco1); after it: $gco2; left: $(entries | tr '\n' ' ')"

# ---- hostile: a collector file that is not one, an exit file that is not one
ln -s /etc/passwd "$D/.collector"
"$HS" serve --listen 127.0.0.1:0 2> "$TMPD/s3.log" & S=$!; pids+=($S)
port=$(port_of "$TMPD/s3.log")
ln -s /etc/hostname "$D/.exited.1.2"
mkfifo "$D/.exited.3.4"
cp -p "$TMPD/exit-copy" "$D/.exited.1.5"      # a valid exit whose name says another pid
curl -s -m 10 -o /dev/null "http://127.0.0.1:$port/metrics"
LD_PRELOAD="$SHIM" "$PH" "${WORK[@]}"
curl -s -m 10 "http://127.0.0.1:$port/metrics" > "$TMPD/m3"
said=$(grep -c "collector: .*symlink.*exits are not kept" "$TMPD/s3.log")
forged=$([ -f "$D/.exited.1.5" ] && echo kept)
forged_ex=$(metric 'heapshim_service_exited_processes_total\{service="forged"\}' "$TMPD/m3")
alive=$(kill -0 $S 2>/dev/null && echo yes)
kill $S; wait $S 2>/dev/null
gco=$(timeout 10 "$HS" gc 2>&1); grc=$?
[ -L "$D/.collector" ] && [ -L "$D/.exited.1.2" ] && [ -p "$D/.exited.3.4" ] && [ "$said" = 1 ] && [ "$alive" = yes ] \
  && [ "$(entries | wc -l)" = 3 ] && [ $grc = 0 ] && grep -q "^heapshim_window_step_seconds " "$TMPD/m3" \
  && [ "$forged" = kept ] && [ -z "$forged_ex" ] && pass serve-collect-hostile \
  || fail serve-collect-hostile "said $said (want 1), serve alive '$alive', forged exit '$forged' (want kept), folded '$forged_ex' (want none); left: $(entries | tr '\n' ' '); gc rc $grc: $gco; $(head -3 "$TMPD/s3.log")"
finish
