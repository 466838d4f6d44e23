"""What the benchmarks share: the machine and commit they ran on, and printing (and saving) their JSON report."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any


def machine() -> str:
    """CPU (its model and widest vector unit where Linux says), core count and Python version, for the
    report's ``machine`` line: TensorFlow on an AVX2-only CPU runs ~1.5-2x slower than on an AVX-512 one."""
    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    text = info.read_text() if info.exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "")
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else ""
    cpu = ", ".join(part for part in (cpu, model, vector) if part)
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def commit() -> str:
    """The short commit the benchmark ran at, with ``-dirty`` when the tree had uncommitted changes (other than
    the records in ``benchmarks/results/``, which a run of the benchmarks rewrites)."""
    repo = Path(__file__).resolve().parents[1]
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results"],
                           cwd=repo, capture_output=True, text=True)  # fmt: skip
    return (head.stdout.strip() or "unknown") + ("-dirty" if dirty.stdout.strip() else "")


def emit(report: dict[str, Any], out: Path | None) -> None:
    """Print ``report`` as indented JSON, and write it to ``out`` when given (creating its folder)."""
    text = json.dumps(report, indent=2)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    print(text)
