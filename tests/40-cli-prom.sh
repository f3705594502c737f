#!/bin/bash
# tests/40-cli-prom.sh - top/export/serve/gc on synthetic live files (made by
# build/tools/hs-livegen for a process of ours, so they are "live"):
# the figures, stale-file handling, the per-scrape high-water mark reset,
# `promtool check metrics`, the HTTP endpoint, and a real Prometheus server
# scraping it on loopback (bounded to 40 s; SKIP if prometheus is missing).
. "$(dirname "$0")/lib.sh"
. "$ROOT/tools/test-fixtures.bash"
[ -x "$HS" ] || { fail cli-built "no $HS (run make)"; finish; }
L="$TMPD/plive"; mkdir -p "$L"; chmod 700 "$L"
sleep 120 & SP=$!
sleep 120 & SP2=$!
pids=("$SP" "$SP2")
SERVE=; PROM=
cleanup() { kill "${pids[@]}" $SERVE $PROM 2>/dev/null; wait 2>/dev/null; rm -rf "$TMPD"; }
trap cleanup EXIT
"$LIVEGEN" "$L/$SP" pid=$SP comm='job "a"\b' mem=300000 obj=50000 small_obj=1000 raw=4096 \
    peak.total=900000 window.mem=700000 arenas=3 threads=2
"$LIVEGEN" "$L/$SP2" pid=$SP2 comm=worker obj=123456
"$LIVEGEN" "$L/999999" pid=999999 mem=5                    # dead pid: stale
"$LIVEGEN" "$L/$SP2.tmp" pid=$SP2                           # not a live file name: ignored

# top --once --json
j=$("$HS" top --once --json --dir "$L" 2>"$TMPD/top.err"); rc=$?
echo "$j" | "$PY" -c '
import json, sys
d = json.load(sys.stdin); p = {x["pid"]: x for x in d["processes"]}
a, b = p['"$SP"'], p['"$SP2"']
assert len(p) == 2 and d["stale"] == 1, d
assert a["domains"]["mem"]["live_bytes"] == 300000, a
assert a["domains"]["obj"]["live_bytes"] == 50000 + 1000 * 64, a
assert a["domains"]["obj"]["live_blocks"] == 1001, a
assert a["total"]["live_bytes"] == 300000 + 114000 + 4096, a
assert a["total"]["peak_bytes"] == 900000, a
assert a["arenas"]["arenas_mapped"] == 3 and a["threads"] == 2, a
assert a["comm"] == "job \"a\"\\b", a["comm"]
assert b["domains"]["obj"]["live_bytes"] == 123456 and b["comm"] == "worker", b
assert a["rss_bytes"] > 0 and 0 < a["rss_explained"], a
' && [ $rc = 0 ] && pass top-json || fail top-json "rc $rc: $j $(cat "$TMPD/top.err")"
t=$("$HS" top --once --dir "$L" 2>&1)
echo "$t" | grep -q "^ *$SP2 worker " && echo "$t" | grep -q '1 stale file' && pass top-table || fail top-table "$t"
t=$("$HS" top --once --json --dir "$L" "$SP2") && echo "$t" | grep -q '"pid": '"$SP2" && ! echo "$t" | grep -q '"pid": '"$SP"',' \
    && pass top-pid-filter || fail top-pid-filter "$t"

# export: promtool, the figures, and the window peak reset by each read
if command -v promtool >/dev/null; then
    "$HS" export --dir "$L" > "$TMPD/m1.prom" && out=$(promtool check metrics < "$TMPD/m1.prom" 2>&1) \
        && pass promtool-check || fail promtool-check "$out"
else
    fail promtool-check "promtool missing (Debian package prometheus)"
fi
grep -q "^heapshim_live_bytes{pid=\"$SP\",comm=\"job \\\\\"a\\\\\"\\\\\\\\b\",domain=\"mem\"} 300000$" "$TMPD/m1.prom" \
    && pass export-escaping || fail export-escaping "$(grep 'heapshim_live_bytes.*mem' "$TMPD/m1.prom")"
grep -q "^heapshim_allocs_total{pid=\"$SP2\",comm=\"worker\",domain=\"obj\"} 1$" "$TMPD/m1.prom" \
    && grep -q '^# TYPE heapshim_allocs_total counter' "$TMPD/m1.prom" && grep -q '^heapshim_stale_files 1$' "$TMPD/m1.prom" \
    && grep -q '^heapshim_processes 2$' "$TMPD/m1.prom" && pass export-figures || fail export-figures "$(head -c 600 "$TMPD/m1.prom")"
w1=$(grep "^heapshim_window_peak_bytes{pid=\"$SP\",.*domain=\"mem\"}" "$TMPD/m1.prom" | awk '{print $NF}')
"$HS" export --dir "$L" > "$TMPD/m2.prom"
w2=$(grep "^heapshim_window_peak_bytes{pid=\"$SP\",.*domain=\"mem\"}" "$TMPD/m2.prom" | awk '{print $NF}')
[ "$w1" = 700000 ] && [ "$w2" = 300000 ] && pass window-reset || fail window-reset "first $w1 (want 700000), second $w2 (want the live 300000)"
"$LIVEGEN" "$L/$SP2" pid=$SP2 comm=worker obj=123456 window.obj=999999
"$HS" export --no-reset --dir "$L" > /dev/null
"$HS" export -o "$TMPD/node.prom" --dir "$L" $SP2 && grep -q "heapshim_window_peak_bytes{pid=\"$SP2\",comm=\"worker\",domain=\"obj\"} 999999" "$TMPD/node.prom" \
    && ! ls "$TMPD"/node.prom.tmp.* >/dev/null 2>&1 && pass export-no-reset-and-file || fail export-no-reset-and-file "$(grep window "$TMPD/node.prom")"

# serve: /metrics, 404, 405, HEAD
"$HS" serve --listen 127.0.0.1:0 --dir "$L" 2> "$TMPD/serve.log" & SERVE=$!
port=$(port_of "$TMPD/serve.log")
if [ -z "$port" ]; then
    fail serve-start "$(cat "$TMPD/serve.log")"
else
    pass serve-start
    body=$(curl -sS -m 5 -D "$TMPD/h" "http://127.0.0.1:$port/metrics")
    grep -q '^HTTP/1.0 200' "$TMPD/h" && grep -qi '^Content-Type: text/plain; version=0.0.4' "$TMPD/h" \
        && echo "$body" | grep -q "heapshim_live_bytes{pid=\"$SP2\",comm=\"worker\",service=\"[^\"]*\",domain=\"obj\"} 123456" \
        && pass serve-metrics || fail serve-metrics "$(cat "$TMPD/h") $(echo "$body" | head -5)"
    if command -v promtool >/dev/null; then
        out=$(echo "$body" | promtool check metrics 2>&1) && pass serve-promtool || fail serve-promtool "$out"
    fi
    code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")
    [ "$code" = 404 ] && pass serve-404 || fail serve-404 "got $code"
    code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/metrics")
    [ "$code" = 405 ] && pass serve-405 || fail serve-405 "got $code"
    code=$(curl -s -m 5 -I -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metrics")
    [ "$code" = 200 ] && pass serve-head || fail serve-head "got $code"
    # a client that connects and says nothing must not stop the next scrape
    exec 7<>/dev/tcp/127.0.0.1/$port
    code=$(curl -s -m 12 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metrics")
    exec 7>&-
    [ "$code" = 200 ] && pass serve-stalled-client || fail serve-stalled-client "got $code"
    # bound to loopback only: the port is not open on another local address
    other=$(hostname -I 2>/dev/null | awk '{print $1}')
    if [ -n "$other" ] && [ "$other" != 127.0.0.1 ]; then
        code=$(curl -s -m 3 -o /dev/null -w '%{http_code}' "http://$other:$port/metrics")
        [ "$code" = 000 ] && pass serve-loopback-only || fail serve-loopback-only "reachable on $other ($code)"
    else
        skip serve-loopback-only "no non-loopback address on this machine"
    fi

    # a real Prometheus server scraping it
    if command -v prometheus >/dev/null; then
        pport=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        cat > "$TMPD/prom.yml" <<YML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: heapshim
    static_configs: [{targets: ['127.0.0.1:$port']}]
YML
        prometheus --config.file="$TMPD/prom.yml" --storage.tsdb.path="$TMPD/tsdb" \
            --web.listen-address="127.0.0.1:$pport" --log.level=warn > "$TMPD/prom.log" 2>&1 & PROM=$!
        got=; q='heapshim_live_bytes{job="heapshim",domain="obj",comm="worker"}'
        for _ in $(seq 80); do
            got=$(curl -s -m 2 -G "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$q" \
                  | "$PY" -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null)
            [ -n "$got" ] && break; sleep 0.5
        done
        up=$(curl -s -m 2 -G "http://127.0.0.1:$pport/api/v1/query" --data-urlencode 'query=up{job="heapshim"}' \
             | "$PY" -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null)
        [ "$got" = 123456 ] && [ "$up" = 1 ] && pass prometheus-scrape \
            || fail prometheus-scrape "value '$got' up '$up' after 40 s: $(tail -3 "$TMPD/prom.log")"
        kill $PROM 2>/dev/null; wait $PROM 2>/dev/null; PROM=
    else
        skip prometheus-scrape "prometheus not installed (Debian package prometheus)"
    fi
    kill -TERM $SERVE; wait $SERVE; rc=$?
    [ $rc = 0 ] && pass serve-sigterm || fail serve-sigterm "exit $rc"
    SERVE=
fi

# gc: stale files go, live and foreign ones stay
head -c 100 /dev/urandom > "$L/424242"
out=$("$HS" gc --dir "$L" 2>&1)
[ ! -e "$L/999999" ] && [ -e "$L/$SP" ] && [ -e "$L/$SP2" ] && [ -e "$L/424242" ] && echo "$out" | grep -q 'removed 1 stale file' \
    && pass gc || fail gc "$out; $(ls "$L")"
kill "$SP"; wait "$SP" 2>/dev/null
j=$("$HS" top --once --json --dir "$L" 2>/dev/null)
echo "$j" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); assert [p["pid"] for p in d["processes"]]=='"[$SP2]"' and d["stale"]==1 and d["bad"]==1, d' \
    && pass top-skips-dead || fail top-skips-dead "$j"
finish
