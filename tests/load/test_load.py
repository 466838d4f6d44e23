"""The small load test (the full one is `make bench`): concurrent clients, jobs and zip batches, two consumers.

Every job ends, none is lost, none is done twice; the figures are recorded for the README (tests/records.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from benchmarks.load import run_load

from tests.records import record

pytestmark = pytest.mark.slow  # a few minutes of load: `make test` runs it, test-fast skips it

JOBS, CLIENTS, BATCHES, BATCH_SIZE = 80, 8, 4, 5


def test_small_load_every_job_ends_once(make_platform: Any) -> None:
    p = make_platform(workers=2, api_keys=["lab-a", "lab-b"], jobs_per_minute=0, uploads_per_minute=0)
    figures = run_load(p.url, JOBS, CLIENTS, BATCHES, BATCH_SIZE, deadline_s=600, api_keys=["lab-a", "lab-b"])
    assert figures["lost"] == 0 and figures["done_twice"] == 0, figures
    assert figures["done"] == JOBS + BATCHES and figures["failed"] == 0, figures
    assert "500" not in figures["http_statuses"], figures
    assert p.queue.depth("segmentation") == 0
    figures.update(consumers=2, harness="tests/load/test_load.py (in-process gateway + 2 consumer threads)")
    record("load_small", figures)
