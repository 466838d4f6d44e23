"""Figures that tests measure, kept as JSON records the README's reliability table is rendered from.

Every run writes ``test-artifacts/reliability/<name>.json``; with ``CELLKIOSK_RECORD_RESULTS=1`` the
record also replaces the committed one in ``benchmarks/results/reliability/`` (what the README quotes,
via ``python benchmarks/reliability_table.py``).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "reliability"
COMMITTED = REPO / "benchmarks" / "results" / "reliability"


def record(name: str, figures: dict[str, Any]) -> None:
    """Write one test's figures (plus when and where they were measured)."""
    body = {**figures, "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs"}
    text = json.dumps(body, indent=1, sort_keys=True) + "\n"
    targets = [ARTIFACTS] + ([COMMITTED] if os.environ.get("CELLKIOSK_RECORD_RESULTS") == "1" else [])
    for folder in targets:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.json").write_text(text)
