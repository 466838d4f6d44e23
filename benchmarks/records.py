"""The fields every record of the ``python -m benchmarks.…`` harnesses starts with."""

from __future__ import annotations

import os
import time
from typing import Any

from benchmarks.platform_throughput import machine
from benchmarks.report import commit


def record_head(benchmark: str, command: str, load_at_start: float) -> dict[str, Any]:
    """What ran (and how to run it again), where (machine, load average at start and now), when, at which commit."""
    return {
        "benchmark": benchmark,
        "machine": machine() | {"loadavg_1m_at_end": round(os.getloadavg()[0], 2)},
        "loadavg_1m_at_start": load_at_start,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit(),
        "command": command,
    }
