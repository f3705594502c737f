# tests/reports.py - room: tests/. Reading the exit reports that a process
# tree under the shim leaves (HEAPSHIM_REPORT=DIR/rep.NAME.%p.json), for the
# suites' Python checks: imported, not run.
import glob
import json


def main_report(pattern):
    """The main process's report among those matching the glob pattern: the
    one whose parent wrote none (the suite's python under `env`, children
    of it otherwise). None unless exactly one qualifies."""
    reps = [json.load(open(f)) for f in glob.glob(pattern)]
    pids = {r["pid"] for r in reps}
    main = [r for r in reps if r["ppid"] not in pids]
    return main[0] if len(main) == 1 else None
