"""What the tracking benchmarks share: the machine they ran on, and printing (and saving) their JSON report."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def machine() -> str:
    """CPU, core count and Python version, for the report's ``machine`` line."""
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def emit(report: dict[str, Any], out: Path | None) -> None:
    """Print ``report`` as indented JSON, and write it to ``out`` when given."""
    text = json.dumps(report, indent=2)
    if out:
        out.write_text(text)
    print(text)
