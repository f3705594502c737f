#!/bin/bash
# scripts/demo.sh - `make demo`: a real program (Debian's python3, not ours)
# under the shim, with the per-domain table at the end.
#
# PYTHONMALLOC=malloc makes CPython send its own object allocations to
# malloc, so they reach the shim; the routing rules then sort them by the
# code that asked: the python3 binary's calls into "obj", libc's own into
# "raw", everything else into "mem".
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
if [ -x "$B/heapshim" ]; then
    echo "\$ PYTHONMALLOC=malloc $B/heapshim run --route 'python3*=obj,libc.so*=raw,*=mem' -- $PY -c ..."
    PYTHONMALLOC=malloc exec "$B/heapshim" run --route 'python3*=obj,libc.so*=raw,*=mem' -- "$PY" -c "$SCRIPT"
fi
echo "\$ PYTHONMALLOC=malloc HEAPSHIM_STATS=1 HEAPSHIM_ROUTE='python3*=obj,libc.so*=raw,*=mem' LD_PRELOAD=$B/libheapshim.so $PY -c ..."
PYTHONMALLOC=malloc HEAPSHIM_STATS=1 HEAPSHIM_ROUTE='python3*=obj,libc.so*=raw,*=mem' \
    LD_PRELOAD="$PWD/$B/libheapshim.so" "$PY" -c "$SCRIPT"
