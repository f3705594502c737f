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

finish
