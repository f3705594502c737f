#!/bin/bash
# tests/46-serve-exits.sh - `heapshim serve` folds every short-lived worker
# into its service, also while its main thread is busy reading (issue 14:
# a scrape or a step reads every file, and under load that took longer than
# a worker lives, so 1-4 workers of 5 were folded). A slow reader is made on
# demand (HEAPSHIM_SERVE_FAULT=slow-read: 50 ms before every file read, so
# with 8 processes a scrape and a step each take > 0.4 s) while a client
# scrapes without pause; each worker lives ~40 ms, a tenth of a read. Every
# one must be folded, with its final counters. The count is scraped until
# all ten show, for at most 15 s: the fold happens at a step after the exit,
# and a fixed 2.5 s wait read 9 of 10 now and then under load (the last
# worker's step still running).
source "$(dirname "$0")/lib.sh"
HS="$ROOT/$B/heapshim"
PH="$ROOT/$B/tests/prog_phases"
[ -x "$HS" ] && [ -x "$PH" ] || { skip serve-exits "build/heapshim or build/tests/prog_phases not built"; exit 0; }
cleanup() { reap_pids; rm -rf "$TMPD"; }
trap cleanup EXIT

# the fault's own argument check: one line, exit 2
out=$(HEAPSHIM_SERVE_FAULT=slow "$HS" serve --listen 127.0.0.1:0 2>&1); rc=$?
[ $rc = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q "accepted: slow-read, slow-ident" \
  && pass serve-fault-bad || fail serve-fault-bad "rc $rc: $out"

for i in 1 2 3 4 5 6 7 8; do LD_PRELOAD="$SHIM" "$PH" n100x64 s60000 & pids+=($!); done
sleep 0.3
HEAPSHIM_SERVE_FAULT=slow-read "$HS" serve --listen 127.0.0.1:0 --window 5 --window-step 1 2> "$TMPD/s.log" & S=$!; pids+=($S)
port=$(port_of "$TMPD/s.log")
[ -n "$port" ] || { fail serve-start "$(cat "$TMPD/s.log")"; finish; }
# how long one scrape takes now
t0=$(date +%s%N); curl -s -m 20 "http://127.0.0.1:$port/metrics" > /dev/null; t1=$(date +%s%N)
scrape_ms=$(( (t1 - t0) / 1000000 ))
# a client that keeps the main thread reading
( while :; do curl -s -m 20 "http://127.0.0.1:$port/metrics" > /dev/null; done ) & CL=$!; pids+=($CL)
N=10
life=()
for i in $(seq $N); do
    a=$(date +%s%N)
    HEAPSHIM_LABELS=service=shortw LD_PRELOAD="$SHIM" "$PH" n3000x100 s10 f
    b=$(date +%s%N); life+=($(( (b - a) / 1000000 )))
    sleep 0.1
done
kill $CL; wait $CL 2>/dev/null
# folded at a step after its exit: a step reads every kept file (50 ms
# each here), so under load the last exit may take a few steps to show;
# scraped until all are folded, for at most 15 s
ex=$(await_metric "$port" "$TMPD/m" 'heapshim_service_exited_processes_total\{service="shortw"\}' $N)
al=$(metric 'heapshim_service_allocs_total\{service="shortw",domain="total"\}' "$TMPD/m")
echo "# one scrape ${scrape_ms} ms; worker lifetimes (ms, as run): ${life[*]}; folded ${ex:-0} of $N"
# each worker made 3000 allocations of its own (plus the shim's and libc's start)
[ "$scrape_ms" -ge 400 ] && [ "${ex:-0}" = $N ] && [ "${al:-0}" -ge $((N * 3000)) ] && pass serve-short-workers-folded \
  || fail serve-short-workers-folded "scrape ${scrape_ms} ms (want >= 400), exited '${ex}' (want $N), allocs '${al}' (want >= $((N * 3000)))"
kill $S; wait $S 2>/dev/null

# ---- workers gone before the watcher asks who they are: named by their file.
# A loaded machine on demand (HEAPSHIM_SERVE_FAULT=slow-ident: the watcher
# waits 300 ms between opening a newcomer and reading /proc); each worker
# lives ~40 ms, so its /proc/PID/environ is gone (or empty, a zombie) when
# asked. Before stop 32 they were folded as service "prog_phases" (their
# comm): the labels now come from the live file, which keeps them.
HEAPSHIM_SERVE_FAULT=slow-ident "$HS" serve --listen 127.0.0.1:0 --window 5 --window-step 1 2> "$TMPD/s2.log" & S=$!; pids+=($S)
port=$(port_of "$TMPD/s2.log")
[ -n "$port" ] || { fail serve-start-slow-ident "$(cat "$TMPD/s2.log")"; finish; }
curl -s -m 20 "http://127.0.0.1:$port/metrics" > /dev/null
# a client scraping without pause: each scrape lists the directory, so the
# main thread holds, reads and folds a worker before the watcher (300 ms
# late) hands over its own descriptor of the same file; that one must not
# be folded a second time (before stop 32 it was: 12 exits for 6 workers)
( while :; do curl -s -m 20 "http://127.0.0.1:$port/metrics" > /dev/null; done ) & CL=$!; pids+=($CL)
N2=6
for i in $(seq $N2); do HEAPSHIM_LABELS=service=gonew,team=t$((i % 2)) LD_PRELOAD="$SHIM" "$PH" n3000x100 s10 f; sleep 0.4; done
kill $CL; wait $CL 2>/dev/null
ex=$(await_metric "$port" "$TMPD/m2" 'heapshim_service_exited_processes_total\{service="gonew",team="t[01]"\}' $N2)
other=$(metric 'heapshim_service_exited_processes_total\{service="prog_phases"\}' "$TMPD/m2")
[ "${ex:-0}" = $N2 ] && [ "${other:-0}" = 0 ] && pass serve-gone-workers-labelled \
  || fail serve-gone-workers-labelled "exited as gonew '${ex}' (want $N2); as prog_phases: $(grep '^heapshim_service_exited_processes_total' "$TMPD/m2" | tr '\n' ' ')"

# ---- fork children: a service counts the calls each process made itself.
# A child's counters start as its parent's (live.h "Fork"); summed as they
# are, a parent's history came once more per child (before stop 32: 1000 +
# 3 x 1300 = 4900 served for 1900 made). The parent makes 1000 allocations, then 3
# children one after the other make 300 of 4 KiB each (1.2 MiB: each gets a
# live file) and live 200 ms. Exactly 1900 (prog_phases alone makes none).
kill $S; wait $S 2>/dev/null
"$HS" serve --listen 127.0.0.1:0 --window 5 --window-step 1 2> "$TMPD/s3.log" & S=$!; pids+=($S)
port=$(port_of "$TMPD/s3.log")
[ -n "$port" ] || { fail serve-start-fork "$(cat "$TMPD/s3.log")"; finish; }
curl -s -m 20 "http://127.0.0.1:$port/metrics" > /dev/null
for _ in 1 2; do
    HEAPSHIM_LABELS=service=forky LD_PRELOAD="$SHIM" "$PH" n1000x64 f c3 n300x4096 f s200
done
ex=$(await_metric "$port" "$TMPD/m3" 'heapshim_service_exited_processes_total\{service="forky"\}' 8)
al=$(metric 'heapshim_service_allocs_total\{service="forky",domain="total"\}' "$TMPD/m3")
[ "${ex:-0}" = 8 ] && [ "${al:-0}" = 3800 ] && pass serve-fork-children-own-calls \
  || fail serve-fork-children-own-calls "exited '$ex' (want 8), allocs '$al' (want 2 x 1900 = 3800)"
kill $S; wait $S 2>/dev/null
finish
