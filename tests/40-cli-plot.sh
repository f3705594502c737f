#!/bin/bash
# tests/40-cli-plot.sh - `heapshim plot`: a synthetic timeline drawn to SVG,
# checked as XML, rendered to PNG with rsvg-convert and checked not blank,
# with the three domain colours, axis units and legend present.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tools/test-fixtures.bash"
[ -x "$HS" ] || { fail cli-built "no $HS (run make)"; finish; }
P="$TMPD/plot"; mkdir -p "$P"
"$PY" - "$P/t.csv" <<'PYEOF'
import math, sys
with open(sys.argv[1], "w") as f:
    f.write("time_s,raw_bytes,mem_bytes,obj_bytes,total_bytes,arenas_mapped,rss_bytes\n")
    for i in range(120):
        t = i * 0.05
        raw = 200000 + 50000 * math.sin(t)
        mem = 3e6 * min(1, t / 2) + 400000 * math.sin(3 * t) ** 2
        obj = 6e6 * (t / 6) ** 1.5 + (2.5e6 if 3 < t < 4 else 0)
        rss = (raw + mem + obj) * 1.3 + 4e6
        f.write("%.3f,%d,%d,%d,%d,%d,%d\n" % (t, raw, mem, obj, raw + mem + obj, int((mem + obj) / 262144) + 1, rss))
PYEOF
out=$("$HS" plot "$P/t.csv" -o "$P/t.svg" --title 'synthetic <workload> & co' 2>&1) && [ -s "$P/t.svg" ] \
    && pass plot-runs || fail plot-runs "$out"
"$PY" -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$P/t.svg" 2>/dev/null \
    && pass plot-xml || fail plot-xml "not well-formed XML"
grep -q 'MiB</text>' "$P/t.svg" && grep -q '> s</text>\|[0-9] s</text>' "$P/t.svg" && grep -q '>obj</text>' "$P/t.svg" \
    && grep -q '>RSS</text>' "$P/t.svg" && grep -q 'synthetic &lt;workload&gt; &amp; co' "$P/t.svg" \
    && pass plot-labels || fail plot-labels "axis units, legend or escaped title missing"
# the subtitle's numbers are true: a peak past 2^64 bytes (cells go up to
# 1e300) was "peak heap 0 B"; one sample was "1 samples over 1.00 s"
h=time_s,raw_bytes,mem_bytes,obj_bytes,total_bytes,arenas_mapped,rss_bytes
printf "$h\n0,1,2,3,6,1,100\n1,18446744073709551615,18446744073709551615,2,3,1,100\n" > "$P/huge.csv"
printf "$h\n0.5,1,2,3,6,1,100\n" > "$P/single.csv"
"$HS" plot "$P/huge.csv" -o "$P/huge.svg" && "$HS" plot "$P/single.csv" -o "$P/single.svg"
sub() { grep -o 'peak heap[^<]*' "$1"; }
[ "$(sub "$P/huge.svg")" = "peak heap 32.0 EiB at 1.00 s, 2 samples over 1.00 s" ] && pass plot-subtitle-huge-peak \
    || fail plot-subtitle-huge-peak "$(sub "$P/huge.svg")"
[ "$(sub "$P/single.svg")" = "peak heap 6 B at 0.50 s, 1 sample over 0.00 s" ] && pass plot-subtitle-one-sample \
    || fail plot-subtitle-one-sample "$(sub "$P/single.svg")"
if command -v rsvg-convert >/dev/null; then
    rsvg-convert -f png -o "$P/t.png" "$P/t.svg" 2>"$P/rsvg.err" && [ "$(stat -c %s "$P/t.png")" -gt 20000 ] \
        && pass plot-png-render || fail plot-png-render "$(cat "$P/rsvg.err"); size $(stat -c %s "$P/t.png" 2>/dev/null)"
    r=$(png_check "$P/t.png" 960 540)
    case $r in ok*) pass "plot-png-content ($r)";; *) fail plot-png-content "$r";; esac
    # a flat, tiny, single-sample timeline still renders (no division by zero)
    printf 'time_s,raw_bytes,mem_bytes,obj_bytes\n0,0,0,0\n' > "$P/one.csv"
    "$HS" plot "$P/one.csv" -o "$P/one.svg" && rsvg-convert -f png -o "$P/one.png" "$P/one.svg" \
        && ! grep -qi 'nan\|inf' "$P/one.svg" && pass plot-degenerate || fail plot-degenerate "$(grep -i -m1 'nan\|inf' "$P/one.svg")"
    [ -n "${HEAPSHIM_KEEP_PLOT:-}" ] && cp "$P/t.png" "$P/t.svg" "$HEAPSHIM_KEEP_PLOT"/
else
    fail plot-png-render "rsvg-convert missing (Debian package librsvg2-bin)"
fi
finish
