"""How long ``make test-fast`` takes: the suite without the tests marked slow, timed, with its outcome.

Usage: ``python -m benchmarks.suite_time [--marker "not slow"]``; writes ``benchmarks/results/test_fast.json``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.records import record_head
from benchmarks.report import emit

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    """Run the selection once; print and save wall time and the summary line."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--marker", default="not slow")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks/results/test_fast.json")
    args = p.parse_args()
    cmd = [str(REPO / ".venv/bin/pytest"), "-m", args.marker, "-q", "-p", "no:cacheprovider"]
    load = round(os.getloadavg()[0], 2)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    lines = done.stdout.strip().splitlines()
    summary = lines[-1] if lines else ""
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|deselected|errors?)", summary)}
    record = {
        **record_head("test_fast", f'.venv/bin/pytest -m "{args.marker}" (make test-fast)', load),
        "wall_s": round(wall, 1),
        "exit_code": done.returncode,
        "summary": summary,
        "counts": counts,
    }
    emit(record, args.out)
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
