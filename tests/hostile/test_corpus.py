"""Every case of the hostile corpus through the real platform: a 4xx or a readable failure, never a crash.

The figures (cases, outcomes) are recorded (tests/records.py) for the README's reliability table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cellkiosk.core.jobs import result_prefix
from tests.fixtures.platform import Platform, start_worker
from tests.hostile.make_corpus import SERVER_LIMITS, build_corpus, write_corpus
from tests.integration.conftest import VAL_SMALL, val_png
from tests.records import record

TERMINAL = ("done", "failed", "cancelled")


@pytest.fixture(scope="module")
def hostile(make_platform: Any) -> Iterator[Platform]:
    """A platform with small limits (so bombs and huge stacks hit them fast) and two consumers, stopped after."""
    p: Platform = make_platform(workers=0)
    settings = p.consumer_settings.model_copy(update={**SERVER_LIMITS, "queues": ["segmentation", "tracking"]})
    started = [start_worker(settings, p.storage, p.queue, f"hostile-{i}") for i in range(2)]
    p.workers = [worker for worker, _ in started]
    yield p
    for worker in p.workers:
        worker.stop.set()
    for _, thread in started:
        thread.join(30)


def readable(reason: str) -> bool:
    """A reason a biologist can read: short, no traceback, not an internal error."""
    return bool(reason) and len(reason) < 500 and "Traceback" not in reason and "internal error" not in reason


def test_the_generator_script_writes_at_least_40_cases(tmp_path: Path) -> None:
    manifest = json.loads(write_corpus(tmp_path).read_text())
    assert len(manifest["cases"]) >= 40
    assert all((tmp_path / c["file"]).stat().st_size == c["bytes"] for c in manifest["cases"])


def test_every_hostile_input_gets_a_4xx_or_a_readable_outcome(hostile: Platform) -> None:
    cases = build_corpus()
    submitted: list[tuple[Any, str | None, str]] = []
    for case in cases:
        resp = hostile.http.post("/api/uploads", files={"file": (case.upload_name, case.data)})
        if resp.status_code == 201:
            body = {"type": case.job_type, "input": resp.json()["key"], "params": case.params}
            resp = hostile.http.post("/api/jobs", json=body)
        assert resp.status_code < 500, (case.name, resp.status_code, resp.text)
        if resp.status_code == 202:
            submitted.append((case, resp.json()["id"], ""))
        else:
            submitted.append((case, None, str(resp.json()["detail"])))
    outcomes = []
    for case, job_id, detail in submitted:
        if job_id is None:
            outcomes.append({"case": case.name, "outcome": "refused", "reason": detail})
            continue
        job = hostile.wait(job_id, timeout_s=300)
        outcomes.append({"case": case.name, "outcome": job["status"], "reason": job["error"] or ""})
    problems = []
    for case, got in zip(cases, outcomes, strict=True):
        if got["outcome"] != case.outcome or (case.reason and case.reason not in got["reason"]):
            problems.append((case.name, case.outcome, case.reason, got["outcome"], got["reason"]))
        elif got["outcome"] != "done" and not readable(got["reason"]):
            problems.append((case.name, "a readable reason", got["reason"]))
    assert not problems, "\n".join(map(str, problems))
    # the services kept running: every consumer is alive and a normal job still succeeds
    assert all(not w.stop.is_set() for w in hostile.workers)
    after = hostile.wait(hostile.submit(hostile.upload(val_png(VAL_SMALL))))
    assert after["status"] == "done" and hostile.storage.list(result_prefix(after["id"]))
    assert hostile.http.get("/readyz").json()["consumers"] >= 2
    record(
        "hostile_inputs",
        {
            "cases": len(cases),
            "outcomes": {k: sum(o["outcome"] == k for o in outcomes) for k in ("refused", "failed", "done")},
            "consumers_crashed": 0,
            "later_job": after["status"],
            "server_limits": SERVER_LIMITS,
            "results": outcomes,
        },
    )
