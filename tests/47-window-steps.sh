#!/bin/bash
# run-suites: alone (a spike held 30 ms, judged in 1 s window steps; the probe)
# tests/47-window-steps.sh - window peaks from the window steps every
# process keeps in its live file (live.h "Window steps", version 4), read
# by `heapshim serve` and by `heapshim-probe --serve`, which writes nothing
# into processes (issue 14: the probe's step mark was the all-time peak when
# it rose during the step, else the live bytes, so a spike below an earlier
# peak was lost).
#
# A spike known by construction: the process reaches 32 MiB once, frees it,
# waits until that high is out of the window (2 s window, 1 s steps), then
# holds one 8 MiB block for 30 ms and frees it. A step later the served
# window peak must be the live bytes + the 8 MiB block (its usable size, as
# malloc_usable_size told the process),
# within the peak bound of live.h (max(64 KiB, 1% of the peak): 400 KiB
# here), for the process and for its service; and a scraper that reads
# twice in a row reads the same value. A second spike, of 24 MiB, checks
# the value again once the first has left the window.
source "$(dirname "$0")/lib.sh"
HS="$ROOT/$B/heapshim"
PH="$ROOT/$B/tests/prog_phases"
PROBE="$ROOT/$B/heapshim-probe"
[ -x "$HS" ] && [ -x "$PH" ] || { skip window-steps "build/heapshim or build/tests/prog_phases not built"; exit 0; }
cleanup() { reap_pids; rm -rf "$TMPD"; }
trap cleanup EXIT
BOUND=$((400 << 10))


scenario() {   # scenario NAME PORT EXTRA-ENV...
    local name=$1 port=$2; shift 2
    local go1="$TMPD/$name.go1" done1="$TMPD/$name.done1" go2="$TMPD/$name.go2" done2="$TMPD/$name.done2"
    env "$@" HEAPSHIM_LABELS=service=spike$name LD_PRELOAD="$SHIM" "$PH" a33554432 s50 f \
        "w$go1" a8388608 "u$TMPD/$name.u1" s30 f "t$done1" "w$go2" a25165824 "u$TMPD/$name.u2" s30 f "t$done2" s60000 & local P=$!; pids+=($P)
    sleep 5.5                       # the 32 MiB high leaves the 2 s window (+ a step, + one 1.07 s step)
    local k
    for k in 1 2; do
        local go=$go1 dn=$done1
        [ $k = 2 ] && { go=$go2; dn=$done2; }
        touch "$go"; for _ in $(seq 200); do [ -e "$dn" ] && break; sleep 0.02; done
        sleep 1.3                   # a step closed after the spike
        curl -s -m 10 "http://127.0.0.1:$port/metrics" > "$TMPD/$name.m$k"
        curl -s -m 10 "http://127.0.0.1:$port/metrics" > "$TMPD/$name.n$k"
        local wp live swp wp2 want blk
        wp=$(metric "heapshim_total_window_peak_bytes\\{pid=\"$P\"" "$TMPD/$name.m$k")
        wp2=$(metric "heapshim_total_window_peak_bytes\\{pid=\"$P\"" "$TMPD/$name.n$k")
        live=$(metric "heapshim_total_live_bytes\\{pid=\"$P\"" "$TMPD/$name.m$k")
        swp=$(metric "heapshim_service_window_peak_bytes\\{service=\"spike$name\",domain=\"total\"\\}" "$TMPD/$name.m$k")
        blk=$(cat "$TMPD/$name.u$k" 2>/dev/null)      # its usable size, as the process saw it
        want=$(( ${live:-0} + ${blk:-0} ))
        echo "# $name spike $k: window peak ${wp:-?} (second scrape ${wp2:-?}), service ${swp:-?}, live ${live:-?}: over live + block by $(( ${wp:-0} - want )) bytes"
        [ -n "$wp" ] && [ -n "$live" ] && [ "$wp" -ge "$want" ] && [ "$wp" -le $((want + BOUND)) ] \
          && [ "$swp" -ge "$want" ] && [ "$swp" -le $((want + BOUND)) ] && [ "$wp2" = "$wp" ] \
          && pass "$name-spike-$k-exact" \
          || fail "$name-spike-$k-exact" "window peak '$wp' (second scrape '$wp2'), service '$swp': want $want..$((want + BOUND)) (live $live + block $blk)"
    done
    kill $P 2>/dev/null
}

"$HS" serve --listen 127.0.0.1:0 --window 2 --window-step 1 2> "$TMPD/s.log" & S=$!; pids+=($S)
port=$(port_of "$TMPD/s.log")
[ -n "$port" ] && scenario serve "$port" || fail serve-start "$(cat "$TMPD/s.log")"
kill $S; wait $S 2>/dev/null

if [ "$(id -u)" != 0 ] || [ ! -x "$PROBE" ] || [ ! -r /sys/kernel/btf/vmlinux ]; then
    skip probe-window-steps "needs root, build/heapshim-probe and a kernel with BTF"
else
    "$PROBE" --serve 127.0.0.1:0 --lib "$SHIM" --window 2 --window-step 1 2> "$TMPD/p.log" & PRB=$!; pids+=($PRB)
    pp=$(port_of "$TMPD/p.log")
    if [ -z "$pp" ]; then fail probe-start "$(cat "$TMPD/p.log")"
    elif grep -q "usdt only\|cannot run the pull iterator" "$TMPD/p.log"; then
        skip probe-window-steps "the pull iterator is not available here (kernel 6.7+): usdt rows lag (docs/probe.md)"
    else
        scenario probe "$pp" -u HEAPSHIM_DIR
    fi
    kill $PRB; wait $PRB 2>/dev/null
fi
finish
