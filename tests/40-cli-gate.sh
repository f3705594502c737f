#!/bin/bash
# tests/40-cli-gate.sh - `heapshim diff` as a CI gate on synthetic reports:
# within limits -> 0, growth beyond --max-growth -> 1 with the metric named,
# shrinking passes, --metric adds metrics, --min-bytes ignores noise;
# and scripts/heapshim-ci's record/gate cycle.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tools/test-fixtures.bash"
[ -x "$HS" ] || { fail cli-built "no $HS (run make)"; finish; }
D="$TMPD/gate"; mkdir -p "$D"
mkreport "$D/base.json"
# +5 % obj peak (and total peak), under the default 10 %
mkreport "$D/small.json" domains.obj.peak_bytes=2625000 total.peak_bytes=3465000
# +30 % obj peak
mkreport "$D/big.json" domains.obj.peak_bytes=3250000 total.peak_bytes=4000000
# everything smaller
mkreport "$D/less.json" domains.obj.peak_bytes=1000000 total.peak_bytes=1500000 domains.obj.live_bytes=100 \
    total.live_bytes=2200 arenas.arenas_peak=40

gate() {   # name want-rc args...
    local name=$1 want=$2; shift 2
    local out rc; out=$("$HS" diff "$@" 2>&1); rc=$?
    if [ $rc = "$want" ]; then pass "$name"; else fail "$name" "exit $rc, want $want: $out"; fi
    LAST="$out"
}
gate same 0 "$D/base.json" "$D/base.json"
gate within-default 0 "$D/base.json" "$D/small.json"
echo "$LAST" | grep -Eq 'obj.peak_bytes .*\+5.0%.* ok$' && pass within-table || fail within-table "$LAST"
gate beyond-default 1 "$D/base.json" "$D/big.json"
echo "$LAST" | grep -Eq 'obj.peak_bytes .*\+30.0%.*REGRESSION' && echo "$LAST" | grep -q 'total.peak_bytes.*REGRESSION' \
    && ! echo "$LAST" | grep -q 'mem.peak_bytes.*REGRESSION' && pass beyond-table || fail beyond-table "$LAST"
gate tighter 1 "$D/base.json" "$D/small.json" --max-growth 2
gate looser 0 "$D/base.json" "$D/big.json" --max-growth 35%
gate shrink 0 "$D/base.json" "$D/less.json"
echo "$LAST" | grep -q 'ok (smaller)' && pass shrink-table || fail shrink-table "$LAST"
gate reverse 1 "$D/less.json" "$D/base.json"
# arenas are not compared by default, only when asked for
mkreport "$D/arenas.json" arenas.arenas_peak=30
gate arenas-default 0 "$D/base.json" "$D/arenas.json"
gate arenas-metric 1 "$D/base.json" "$D/arenas.json" --metric arenas.arenas_peak
echo "$LAST" | grep -Eq 'arenas.arenas_peak +11 +30 +\+19' && pass arenas-table || fail arenas-table "$LAST"
mkreport "$D/rss.json" rss_peak_bytes=20000000
gate rss-metric 1 "$D/base.json" "$D/rss.json" --metric rss_peak_bytes
# from zero: any growth fails, unless under --min-bytes
mkreport "$D/raw0.json" domains.raw.live_bytes=0 domains.raw.peak_bytes=0
mkreport "$D/raw1.json" domains.raw.live_bytes=0 domains.raw.peak_bytes=512
gate from-zero 1 "$D/raw0.json" "$D/raw1.json"
gate from-zero-slack 0 "$D/raw0.json" "$D/raw1.json" --min-bytes 4096
# change% is printed whole, however large (it was cut at 15 characters:
# "+999999999900." for +999999999900.0%)
mkreport "$D/pct-base.json" domains.obj.peak_bytes=64000
mkreport "$D/pct-new.json" domains.obj.peak_bytes=640000000000000 total.peak_bytes=640000000000000
gate pct-whole 1 "$D/pct-base.json" "$D/pct-new.json" --github
echo "$LAST" | grep -Eq '^  obj\.peak_bytes +62\.5 KiB +582 TiB +\+582 TiB +\+999999999900\.0%  REGRESSION$' \
    && echo "$LAST" | grep -q 'obj.peak_bytes 62.5 KiB -> 582 TiB (+999999999900.0%25, allowed' \
    && pass pct-whole-table || fail pct-whole-table "$LAST"

# scripts/heapshim-ci: record a baseline, then gate on it (workload faked by
# copying reports, so this runs without the shim)
CI="$ROOT/scripts/heapshim-ci"
export HEAPSHIM_CI_OUT="$D/ci-new.json"   # not heapshim-new.json in the cwd
if [ -x "$CI" ]; then
    cp "$D/base.json" "$D/fake-report.json"
    out=$(HEAPSHIM_CI_FAKE_REPORT="$D/fake-report.json" "$CI" record "$D/baseline.json" -- true 2>&1) \
        && [ -s "$D/baseline.json" ] && pass ci-record || fail ci-record "$out"
    cp "$D/small.json" "$D/fake-report.json"
    out=$(HEAPSHIM_CI_FAKE_REPORT="$D/fake-report.json" "$CI" gate "$D/baseline.json" -- true 2>&1); rc=$?
    [ $rc = 0 ] && pass ci-gate-pass || fail ci-gate-pass "exit $rc: $out"
    cp "$D/big.json" "$D/fake-report.json"
    out=$(HEAPSHIM_CI_FAKE_REPORT="$D/fake-report.json" "$CI" gate "$D/baseline.json" -- true 2>&1); rc=$?
    [ $rc = 1 ] && echo "$out" | grep -q REGRESSION && pass ci-gate-fail || fail ci-gate-fail "exit $rc: $out"
    # a re-record that fails keeps the old baseline (it was deleted before
    # the workload ran): no report, and (with the shim) a failing workload
    cp "$D/baseline.json" "$D/baseline.copy"
    out=$(HEAPSHIM_CI_FAKE_REPORT="$D/no-such-report.json" "$CI" record "$D/baseline.json" -- true 2>&1); rc=$?
    [ $rc = 4 ] && cmp -s "$D/baseline.json" "$D/baseline.copy" && [ -z "$(ls "$D" | grep 'baseline.json.new')" ] \
        && pass ci-rerecord-no-data-keeps-baseline || fail ci-rerecord-no-data-keeps-baseline "exit $rc: $out; $(ls -l "$D"/baseline*)"
    if [ -r "$SHIM" ]; then
        cp "$D/baseline.copy" "$D/baseline.json"
        out=$(HEAPSHIM_LIB="$SHIM" "$CI" record "$D/baseline.json" -- sh -c 'exit 1' 2>&1); rc=$?
        [ $rc = 3 ] && cmp -s "$D/baseline.json" "$D/baseline.copy" && [ -z "$(ls "$D" | grep 'baseline.json.new')" ] \
            && pass ci-rerecord-failing-keeps-baseline || fail ci-rerecord-failing-keeps-baseline "exit $rc: $out; $(ls -l "$D"/baseline*)"
    else
        skip ci-rerecord-failing-keeps-baseline "no $SHIM"
    fi
    # gate onto its own output: the baseline would be deleted, then the new
    # report compared with itself (exit 0 whatever the workload did)
    cp "$D/big.json" "$D/fake-report.json"; cp "$D/baseline.copy" "$D/baseline.json"
    out=$(cd "$D" && HEAPSHIM_CI_OUT="$D/baseline.json" HEAPSHIM_CI_FAKE_REPORT="$D/fake-report.json" "$CI" gate ./baseline.json -- true 2>&1); rc=$?
    [ $rc = 2 ] && [ "$out" = "heapshim-ci: ./baseline.json: the baseline is also where the new report goes ($D/baseline.json; accepted: a baseline other than HEAPSHIM_CI_OUT, default heapshim-new.json)" ] \
        && cmp -s "$D/baseline.json" "$D/baseline.copy" && pass ci-gate-baseline-is-output || fail ci-gate-baseline-is-output "exit $rc: $out"
    out=$(cd "$D" && unset HEAPSHIM_CI_OUT && cp baseline.copy heapshim-new.json && HEAPSHIM_CI_FAKE_REPORT="$D/fake-report.json" "$CI" gate heapshim-new.json -- true 2>&1); rc=$?
    [ $rc = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && [[ $out == *"heapshim-new.json: the baseline is also where the new report goes (heapshim-new.json;"* ]] \
        && cmp -s "$D/heapshim-new.json" "$D/baseline.copy" && pass ci-gate-baseline-is-default-output || fail ci-gate-baseline-is-default-output "exit $rc: $out"
    out=$("$CI" gate "$D/missing-baseline.json" -- true 2>&1); rc=$?
    [ $rc = 2 ] && echo "$out" | grep -q 'missing-baseline.json' && pass ci-no-baseline || fail ci-no-baseline "exit $rc: $out"
    # a report that cannot be written is bad input, said before the
    # workload runs (it ran, and then "no data", exit 4)
    out=$("$CI" record "$D/no-such-dir/base.json" -- sh -c 'echo ran >&2' 2>&1); rc=$?
    [ $rc = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && [[ $out == *"cannot write in '$D/no-such-dir'"* ]] \
        && pass ci-record-bad-dir || fail ci-record-bad-dir "exit $rc: $out"
    out=$(HEAPSHIM_CI_OUT="$D/no-such-dir/new.json" "$CI" gate "$D/baseline.json" -- sh -c 'echo ran >&2' 2>&1); rc=$?
    [ $rc = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && [[ $out == *"HEAPSHIM_CI_OUT $D/no-such-dir/new.json: cannot write in"* ]] \
        && pass ci-gate-bad-out-dir || fail ci-gate-bad-out-dir "exit $rc: $out"
    # --json on stdout holds the document alone: the workload's own stdout
    # goes to stderr (it came first in the file, which no parser read)
    (cd "$D" && HEAPSHIM_CI_OUT="$D/gate-new.json" "$CI" gate ./baseline.json --json -- sh -c 'echo workload output' > "$D/gate.json" 2> "$D/gate.err")
    /usr/bin/python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$D/gate.json" 2>/dev/null && grep -q '^workload output$' "$D/gate.err" \
        && pass ci-gate-json-alone || fail ci-gate-json-alone "stdout: $(head -c 200 "$D/gate.json")"
else
    fail ci-script "no $CI"
fi
finish
