#!/bin/bash
# run-suites: alone (times top --once at 500 processes)
# tests/43-cli-top.sh - `heapshim top` with 500 shimmed processes: the
# interactive view in an 80x24 tmux pane (no line wider than 80, header
# visible, the largest consumer on screen, keys change the order), `top
# --once` at 500 processes (every row, 80 columns, how long it takes), the
# filters, the tree, full command lines and the size-class histogram
# against a live file with known class counts.
. "$(dirname "$0")/lib.sh"
HS=${HS:-"$ROOT/$B/heapshim"}
LIVEGEN="$ROOT/$B/tools/hs-livegen"
[ -x "$HS" ] || { fail top-built "no $HS (run make)"; finish; }
N=${HS_TOP_PROCS:-500}
PIDS=()
# background processes never hold the suite's stdout (a runner reading it
# through a pipe would wait for them); the wrapper's child is killed too
cleanup() {
    [ -n "${KID:-}" ] && kill "$KID" 2>/dev/null
    [ ${#PIDS[@]} -gt 0 ] && kill "${PIDS[@]}" 2>/dev/null
    wait 2>/dev/null
    [ -n "${TM:-}" ] && "${TM[@]}" kill-server 2>/dev/null
    rm -rf "$TMPD"
}
trap cleanup EXIT

# --- the size-class histogram: figures written into a synthetic live file ---
L="$TMPD/hist"; mkdir -p "$L"; chmod 700 "$L"
sleep 120 >/dev/null 2>&1 & SP=$!; PIDS+=($SP)
"$LIVEGEN" "$L/$SP" pid=$SP comm=histjob class.0=7 class.3=1000 class.31=3
out=$("$HS" top --once --dir "$L" --hist $SP 2>&1)
# 7 x 16 B + 1000 x 64 B + 3 x 512 B = 65648 B in 1010 blocks
echo "$out" | grep -q "size classes of pid $SP (histjob): 1010 small blocks live, 64.1 KiB in them" \
    && echo "$out" | grep -Eq '^ +16B +7 +112B #' && echo "$out" | grep -Eq ' 64B +1000 +62.5K #{10,}' \
    && echo "$out" | grep -Eq ' 512B +3 +1.50K #' && ! echo "$out" | grep -Eq ' (32|48|80)B ' \
    && pass top-hist || fail top-hist "$out"
expect_hist=$("$HS" top --once --dir "$L" --hist 1 2>&1); rc=$?
[ $rc = 2 ] && [ "$(echo "$expect_hist" | grep -c 'heapshim top: --hist 1: no live file')" = 1 ] \
    && pass top-hist-absent || fail top-hist-absent "rc $rc: $expect_hist"

# --- files whose publication never ends (seq odd: a writer stopped in the
# middle, or a hostile file): a scan waits 200 ms for all of them together,
# not 2 x 25 ms each (before: each one cost 0.5-0.9 s, 30 of them > 20 s) ---
L="$TMPD/busy"; mkdir -p "$L"; chmod 700 "$L"
for i in $(seq 30); do
    sleep 120 >/dev/null 2>&1 & PIDS+=($!)
    "$LIVEGEN" "$L/$!" pid=$! mem=100 seq=1
done
t0=$(date +%s%N)
for c in "top --json --once" "export --no-reset"; do
    timeout 20 "$HS" $c --dir "$L" > /dev/null 2>&1
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 1500 ] && pass top-busy-files-bounded && echo "    top --json and export over 30 never-quiet files: $ms ms" \
    || fail top-busy-files-bounded "top --json and export over 30 never-quiet files took $ms ms (want < 1500)"
# run samples its own tree only: someone else's never-quiet file in the same
# directory does not space out its timeline (before: 300 ms between rows)
HEAPSHIM_DIR=$L HEAPSHIM_LIB="$SHIM" timeout 20 "$HS" run --timeline "$TMPD/busy.csv" --interval 10 -o "$TMPD/busy.json" \
    -- sleep 1 > /dev/null 2>&1
rows=$(($(wc -l < "$TMPD/busy.csv") - 1))
[ "$rows" -ge 30 ] && pass run-busy-others-ignored && echo "    run --interval 10 beside 30 never-quiet files: $rows rows in 1 s" \
    || fail run-busy-others-ignored "run --interval 10 -- sleep 1 beside 30 never-quiet files: $rows timeline rows (want >= 30)"

# --- 500 shimmed sleeping processes and one large consumer ------------------
for i in $(seq "$N"); do
    LD_PRELOAD="$SHIM" sleep 300 >/dev/null 2>&1 & PIDS+=($!)
done
# a wrapper and its child, for --tree
LD_PRELOAD="$SHIM" bash -c 'sleep 300; true' >/dev/null 2>&1 & WRAP=$!; PIDS+=($WRAP)
# the largest consumer starts last: sorting by pid moves it off the screen
LD_PRELOAD="$SHIM" "$PY" -c 'import time; x = bytearray(48 << 20); time.sleep(300)' >/dev/null 2>&1 & BIG=$!; PIDS+=($BIG)
want=$((N + 3))
for _ in $(seq 300); do
    have=$(ls "$HEAPSHIM_DIR" | grep -vc '^unwind-')
    [ "$have" -ge "$want" ] && "$HS" top --once --json "$BIG" 2>/dev/null | grep -q '"live_bytes": 5' && break
    sleep 0.2
done
have=$(ls "$HEAPSHIM_DIR" | grep -vc '^unwind-')
[ "$have" -ge "$want" ] && pass "top-procs-started ($have live files)" || fail top-procs-started "$have of $want live files"

# --once: every process, every line within 80 columns, and the time it takes
t0=$(date +%s%N)
COLUMNS=80 "$HS" top --once > "$TMPD/once.txt" 2> "$TMPD/once.err"; rc=$?
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
rows=$(grep -Ec '^ *[0-9]+ ' "$TMPD/once.txt")
wide=$(awk 'length($0) > 80' "$TMPD/once.txt" | wc -l)
[ $rc = 0 ] && [ "$rows" -ge "$want" ] && [ "$wide" = 0 ] \
    && pass "top-once-$N ($rows rows, widest $(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$TMPD/once.txt") columns, ${ms} ms)" \
    || fail "top-once-$N" "rc $rc, $rows rows, $wide lines wider than 80: $(head -c 400 "$TMPD/once.err")"
echo "  top --once with $rows processes: $ms ms"
# every column, MAPPED included (issue 13: top shows mapped memory), in 80
head=$(grep -m1 'PID COMMAND' "$TMPD/once.txt")
for col in LIVE PEAK GROWTH RAW MEM OBJ MAPPED RSS EXPL; do
    echo "$head" | grep -qw "$col" || { fail top-once-80-all-columns "no $col in '$head'"; col=; break; }
done
[ -n "$col" ] && pass top-once-80-all-columns
first=$(sed -n 3p "$TMPD/once.txt" | awk '{ print $1 }')
[ "$first" = "$BIG" ] && pass top-once-largest-first || fail top-once-largest-first "first row pid $first, want $BIG"
# 40 columns: still one line per process, columns dropped, none wider
COLUMNS=40 "$HS" top --once > "$TMPD/narrow.txt" 2>&1
[ "$(awk 'length($0) > 40' "$TMPD/narrow.txt" | wc -l)" = 0 ] && grep -q "^ *$BIG python" "$TMPD/narrow.txt" \
    && pass top-once-40-columns || fail top-once-40-columns "$(head -5 "$TMPD/narrow.txt")"

# filters, tree, full command lines
out=$(COLUMNS=80 "$HS" top --once --filter PYTHON 2>&1)
[ "$(echo "$out" | grep -Ec '^ *[0-9]+ ')" = 1 ] && echo "$out" | grep -q "^ *$BIG " \
    && pass top-filter || fail top-filter "$(echo "$out" | head -5)"
out=$(COLUMNS=80 "$HS" top --once --user "$(id -un)" 2>&1)
[ "$(echo "$out" | grep -Ec '^ *[0-9]+ ')" -ge "$want" ] && pass top-user-self || fail top-user-self "$(echo "$out" | head -3)"
out=$(COLUMNS=80 "$HS" top --once --user 4000000000 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -Eq "^heapshim top - 0 of [0-9]+ processes" && [ "$(echo "$out" | grep -Ec '^ *[0-9]+ ')" = 0 ] && pass top-user-other || fail top-user-other "$(echo "$out" | head -3)"
for _ in $(seq 50); do KID=$(pgrep -P "$WRAP" sleep) && break; sleep 0.1; done
out=$(COLUMNS=80 "$HS" top --once --tree 2>&1)
echo "$out" | grep -A1 -E "^ *$WRAP bash" | grep -Eq "^ *$KID \`-sleep" \
    && pass top-tree || fail top-tree "wrapper $WRAP, child ${KID:-?}: $(echo "$out" | grep -E -A1 "^ *$WRAP ")"
out=$(COLUMNS=80 "$HS" top --once --full --filter 'x = bytearray' 2>&1)
echo "$out" | tr -d '\n' | tr -s ' ' | grep -q 'bytearray(48 << 20); time.sleep(300)' \
    && [ "$(echo "$out" | awk 'length($0) > 80' | wc -l)" = 0 ] \
    && pass top-full-cmdline || fail top-full-cmdline "$out"
out=$(COLUMNS=80 "$HS" top --once --sort name 2>&1 | grep -E '^ *[0-9]+ ' | awk '{ print $2 }')
[ "$(echo "$out" | head -1)" = bash ] && [ "$out" = "$(echo "$out" | LC_ALL=C sort -s)" ] \
    && pass top-sort-name || fail top-sort-name "$(echo "$out" | uniq -c | head)"

# --- the interactive view in an 80x24 tmux pane ----------------------------
if ! command -v tmux >/dev/null; then
    skip top-tmux "tmux is not installed (make check installs it)"
    finish
fi
TM=(tmux -S "$TMPD/tmux.sock" -f /dev/null)
"${TM[@]}" new-session -d -s top -x 80 -y 24 \
    "env HEAPSHIM_DIR='$HEAPSHIM_DIR' TERM=xterm '$HS' top --interval 300; sleep 30"
cap() { "${TM[@]}" capture-pane -p -J -t top; }
rows_of() { grep -E '^ *[0-9]+ ' | awk '{ print $1 }'; }
wait_screen() {   # PATTERN: wait until the pane shows it (up to 10 s)
    for _ in $(seq 50); do cap > "$TMPD/screen.txt"; grep -Eq -- "$1" "$TMPD/screen.txt" && return 0; sleep 0.2; done
    return 1
}
wait_screen "PID COMMAND" || true
s=$(cat "$TMPD/screen.txt")
wide=$(echo "$s" | awk 'length($0) > 80' | wc -l)
[ "$wide" = 0 ] && pass top-tmux-80-columns || fail top-tmux-80-columns "$wide lines wider than 80: $(echo "$s" | awk 'length($0) > 80' | head -2)"
echo "$s" | head -1 | grep -q "^heapshim top - $((have)) processes\|^heapshim top - [0-9]* processes" \
    && echo "$s" | sed -n 3p | grep -q 'PID COMMAND' && pass top-tmux-header || fail top-tmux-header "$(echo "$s" | head -3)"
[ "$(echo "$s" | wc -l)" -le 24 ] && echo "$s" | grep -q "more below" && pass top-tmux-fits-height \
    || fail top-tmux-fits-height "$(echo "$s" | wc -l) lines: $(echo "$s" | tail -2)"
[ "$(echo "$s" | rows_of | head -1)" = "$BIG" ] && pass top-tmux-largest-visible \
    || fail top-tmux-largest-visible "first row $(echo "$s" | rows_of | head -1), want $BIG"
# key s: by pid, ascending (the large consumer is not first)
"${TM[@]}" send-keys -t top s
wait_screen "sort pid" || true
p=$(rows_of < "$TMPD/screen.txt")
[ -n "$p" ] && [ "$p" = "$(echo "$p" | sort -n)" ] && [ "$(echo "$p" | head -1)" != "$BIG" ] \
    && pass top-tmux-key-pid || fail top-tmux-key-pid "$(head -6 "$TMPD/screen.txt")"
# key l: by live again, the large consumer first
"${TM[@]}" send-keys -t top l
wait_screen "sort live" || true
[ "$(rows_of < "$TMPD/screen.txt" | head -1)" = "$BIG" ] && pass top-tmux-key-live || fail top-tmux-key-live "$(head -5 "$TMPD/screen.txt")"
# key / : a filter typed in the view
"${TM[@]}" send-keys -t top / p y t h Enter
wait_screen "filter 'pyth'" || true
[ "$(rows_of < "$TMPD/screen.txt")" = "$BIG" ] && pass top-tmux-key-filter || fail top-tmux-key-filter "$(head -5 "$TMPD/screen.txt")"
# key h: the histogram of the selected (largest) process
"${TM[@]}" send-keys -t top h
wait_screen "size classes of pid $BIG" && [ "$(awk 'length($0) > 80' "$TMPD/screen.txt" | wc -l)" = 0 ] \
    && pass top-tmux-key-hist || fail top-tmux-key-hist "$(cat "$TMPD/screen.txt")"
"${TM[@]}" send-keys -t top q
for _ in $(seq 100); do pgrep -f "$HS top --interval 300" >/dev/null || break; sleep 0.1; done
pgrep -f "$HS top --interval 300" >/dev/null && fail top-tmux-quit "still running 10 s after q" || pass top-tmux-quit
"${TM[@]}" kill-server 2>/dev/null
finish
