# tools/test-fixtures.bash - fixtures for the tests/40-cli*.sh suites (sourced
# after tests/lib.sh): synthetic reports, live files and PNG checks.
HS="$ROOT/$B/heapshim"
LIVEGEN="$ROOT/$B/tools/hs-livegen"

# mkreport OUT [path=value ...]: a valid heapshim-report/1 with figures that
# satisfy the schema's invariants; path is dotted (domains.obj.peak_bytes,
# total.live_bytes, arenas.arenas_peak, rss_peak_bytes, schema, ...).
mkreport() {
    "$PY" - "$@" <<'PYEOF'
import json, sys
def dom(live, peak, allocs, frees):
    return {"live_bytes": live, "live_blocks": allocs - frees, "peak_bytes": peak,
            "allocs": allocs, "reallocs": 3, "frees": frees, "failed": 0}
r = {"schema": "heapshim-report/1", "pid": 4242, "ppid": 1, "command": "python3 job.py",
     "allocator": "pymalloc", "started_unix_ns": 1795400000000000000,
     "ended_unix_ns": 1795400001500000000, "exit_kind": "exit",
     "domains": {"raw": dom(100, 4096, 10, 9), "mem": dom(2000, 900000, 5000, 4990),
                 "obj": dom(64000, 2500000, 90000, 89000)},
     "total": dom(66100, 3300000, 95010, 93999),
     "arenas": {"arena_size": 262144, "pool_size": 16384, "arenas_mapped": 3, "arenas_peak": 11,
                "bytes_mapped": 786432, "pools_used": 20, "pools_free": 5,
                "size_classes": [{"size": 16 * (i + 1), "blocks_in_use": i, "pools": 1}
                                 for i in range(32)]},
     "rss_peak_bytes": 12582912}
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    try: v = json.loads(v)
    except ValueError: pass
    *path, last = k.split(".")
    o = r
    for p in path: o = o[p]
    if v == "DELETE": del o[last]
    else: o[last] = v
json.dump(r, open(sys.argv[1], "w"), indent=2)
PYEOF
}

# png_check FILE W H: prints "ok ..." or a reason; checks size, that the
# picture is not blank and that the three domain colours of the plot appear.
png_check() {
    "$PY" - "$@" <<'PYEOF'
import sys, struct, zlib
f, W, H = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
d = open(f, "rb").read()
if d[:8] != b"\x89PNG\r\n\x1a\n": print("not a PNG"); sys.exit(0)
pos, idat, hdr = 8, b"", None
while pos < len(d):
    n, t = struct.unpack(">I4s", d[pos:pos + 8]); body = d[pos + 8:pos + 8 + n]; pos += 12 + n
    if t == b"IHDR": hdr = struct.unpack(">IIBBBBB", body)
    elif t == b"IDAT": idat += body
w, h, depth, ctype = hdr[:4]
if (w, h) != (W, H): print("size %dx%d, expected %dx%d" % (w, h, W, H)); sys.exit(0)
if depth != 8 or ctype not in (2, 6): print("unexpected PNG format %d/%d" % (depth, ctype)); sys.exit(0)
bpp = 4 if ctype == 6 else 3
raw = zlib.decompress(idat); stride = w * bpp; prev = bytearray(stride); px = []
for y in range(h):
    ft = raw[y * (stride + 1)]; line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0; b = prev[i]; c = prev[i - bpp] if i >= bpp else 0
        if ft == 1: line[i] = (line[i] + a) & 255
        elif ft == 2: line[i] = (line[i] + b) & 255
        elif ft == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif ft == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    px.extend(tuple(line[i:i + 3]) for i in range(0, stride, bpp)); prev = line
nonwhite = sum(1 for p in px if p != (255, 255, 255)) / len(px)
colours = len(set(px))
want = {"raw": (0x8e, 0x6c, 0xc9), "mem": (0x2a, 0x9d, 0x8f), "obj": (0xf4, 0xa2, 0x59)}
def near(p, q): return all(abs(x - y) < 40 for x, y in zip(p, q))
sample = px[::7]
missing = [k for k, c in want.items() if not any(near(p, c) for p in sample)]
if nonwhite < 0.08: print("almost blank: %.1f%% non-white" % (100 * nonwhite))
elif colours < 8: print("only %d colours" % colours)
elif missing: print("domain colour(s) missing: %s" % ",".join(missing))
else: print("ok %dx%d, %.0f%% non-white, %d colours" % (w, h, 100 * nonwhite, colours))
PYEOF
}

# expect_bad NAME PATTERN CMD...: CMD must exit 2 with exactly one line on
# stderr, matching PATTERN (grep -E), and must not crash.
expect_bad() {
    local name=$1 pat=$2; shift 2
    local err rc
    err=$("$@" 2>&1 >/dev/null); rc=$?
    local lines; lines=$(printf '%s\n' "$err" | grep -c .)
    if [ $rc -ne 2 ]; then fail "$name" "exit $rc (want 2): $err"
    elif [ "$lines" != 1 ]; then fail "$name" "$lines lines on stderr (want 1): $err"
    elif ! printf '%s\n' "$err" | grep -Eq -- "$pat"; then fail "$name" "message '$err' does not match /$pat/"
    else pass "$name"; fi
}
