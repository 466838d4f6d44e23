"""`kill -9` of the whole `cellkiosk up` tree mid-batch, and SIGTERM of a consumer mid-job."""

from __future__ import annotations

import io
import os
import signal
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from cellkiosk.core.embedded import free_port
from cellkiosk.core.jobs import result_prefix
from cellkiosk.core.storage import open_storage
from tests.faults.procs import consumer_env, start_consumer, wait_until
from tests.fixtures.platform import Platform
from tests.integration.conftest import VAL_OTHER, VAL_SMALL, val_png
from tests.integration.test_embedded_up import start_up, wait_done
from tests.integration.test_lifecycle import SLOW, big_stack
from tests.records import record

pytestmark = pytest.mark.slow  # real processes killed and restarted: `make test` runs it, test-fast skips it

BATCH = 6


def batch_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(BATCH):
            zf.write(val_png(VAL_SMALL if i % 2 else VAL_OTHER), f"well{i}.png")
    return buf.getvalue()


def test_kill_9_of_the_whole_tree_mid_batch_then_a_restart_finishes_every_job_once(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    proc = start_up(data_dir, port)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        key = client.post("/api/uploads", files={"file": ("plate.zip", batch_zip())}).json()["key"]
        parent = client.post("/api/jobs", json={"type": "segmentation", "input": key, "params": {"diameter": 16}})
        parent_id = parent.json()["id"]

        def some_children_done() -> bool:
            children = client.get(f"/api/jobs/{parent_id}").json()["children"]
            return bool(children) and 1 <= children["done"] < BATCH

        wait_until(some_children_done, 240, "part of the batch done")
        done_before = client.get(f"/api/jobs/{parent_id}").json()["children"]["done"]
    time.sleep(1.2)  # the AOF is fsynced every second
    os.killpg(proc.pid, signal.SIGKILL)  # power cut: the whole process tree at once
    proc.wait()
    proc = start_up(data_dir, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            job = wait_done(client, parent_id, timeout_s=300)
            children = client.get(f"/api/jobs/{parent_id}/children").json()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=90)
    assert job["status"] == "done" and job["children"] == {"total": BATCH, "done": BATCH, "failed": 0}, job
    assert [c["status"] for c in children] == ["done"] * BATCH
    storage = open_storage(str(data_dir / "storage"))
    assert all(len(storage.list(result_prefix(c["id"]))) == 1 for c in children)  # one archive each
    assert len([k for k in storage.list(result_prefix(parent_id)) if k.endswith(".zip")]) == 1
    record(
        "fault_kill_tree",
        {"killed": "the whole cellkiosk up tree (kill -9) mid-batch", "batch": BATCH, "done_before_kill": done_before,
         "done_after_restart": BATCH, "archives_per_child": 1, "lost": 0, "done_twice": 0},
    )  # fmt: skip


def test_sigterm_mid_job_finishes_it_and_exits_0(make_platform: Any, tmp_path: Path) -> None:
    p: Platform = make_platform(workers=0)
    consumer = start_consumer(consumer_env(p.redis_url, str(p.storage.url), tmp_path), "sigterm", tmp_path / "c.log")
    try:
        job_id = p.submit(p.upload(big_stack(tmp_path, pages=3)), params=SLOW)
        wait_until(lambda: p.http.get(f"/api/jobs/{job_id}").json()["stage"] == "predict", 120, "job predicting")
        consumer.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert consumer.wait(120) == 0
        grace_s = time.monotonic() - started
    finally:
        if consumer.poll() is None:
            consumer.kill()
    job = p.http.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "done", job  # finished before exiting, nothing left for a visibility timeout
    assert p.queue.depth("segmentation") == 0
    record("fault_sigterm", {"signal": "SIGTERM mid-predict", "exit_code": 0, "job": job["status"],
                             "exit_after_s": round(grace_s, 1)})  # fmt: skip
