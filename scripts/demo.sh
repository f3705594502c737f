#!/bin/bash
# scripts/demo.sh - `make demo`: a real program (Debian's python3, not ours)
# under the shim, with the per-domain table at the end.
#
# No PYTHONMALLOC and no routing rules: the shim makes itself CPython's
# allocator (interpose/python.c), so PyMem_RawMalloc lands in "raw",
# PyMem_Malloc in "mem" and PyObject_Malloc in "obj", as CPython's own
# memory manager splits them; the interpreter's small blocks come from the
# shim's arenas.
set -eu
cd "$(dirname "$0")/.."
B=${B:-build}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || command -v perl)
SCRIPT='
import json, collections
words = collections.Counter()
for i in range(200000):
    words["w%d" % (i % 5000)] += 1
doc = json.dumps({"words": words, "list": [str(i) * 4 for i in range(50000)]})
print("demo: counted", len(words), "words; json document of", len(doc), "bytes")
'
unset PYTHONMALLOC
if [ -x "$B/heapshim" ]; then
    echo "\$ $B/heapshim run -- $PY -c ..."
    exec "$B/heapshim" run -- "$PY" -c "$SCRIPT"
fi
echo "\$ HEAPSHIM_STATS=1 LD_PRELOAD=$B/libheapshim.so $PY -c ..."
HEAPSHIM_STATS=1 LD_PRELOAD="$PWD/$B/libheapshim.so" "$PY" -c "$SCRIPT"
