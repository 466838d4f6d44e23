"""Job lifecycle: cancel, expiry and cleanup, a consumer killed mid-job, restart of the embedded valkey."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from cellkiosk.core.embedded import EmbeddedValkey
from cellkiosk.core.jobs import JobStatus, result_prefix
from cellkiosk.core.queue import JobQueue, connect_redis
from tests.fixtures.platform import MODELS_DIR, Platform, start_worker
from tests.integration.conftest import VAL_SMALL, grey, val_png
from tests.records import record


def big_stack(tmp_path: Path, pages: int = 6) -> Path:
    """A slow input: several 1024x1024 pages tiled from a real image."""
    tile = np.tile(grey(VAL_SMALL), (4, 4))
    path = tmp_path / "slow.tif"
    tifffile.imwrite(path, np.stack([tile] * pages), photometric="minisblack")
    return path


# The diameter is given, so the input stays slow whatever the size estimate finds (until 2026-12-02 it took the
# 4x4 tiling for 183 px nuclei and shrank the image; docs/object-size.md).
SLOW = {"diameter": 16}


def wait_for(predicate, timeout_s: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


@pytest.mark.slow
def test_cancel_queued_job_is_immediate(make_platform) -> None:  # type: ignore[no-untyped-def]
    idle: Platform = make_platform(workers=0)
    job_id = idle.submit(idle.upload(val_png(VAL_SMALL)))
    resp = idle.http.delete(f"/api/jobs/{job_id}")
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    worker, _ = start_worker(idle.consumer_settings, idle.storage, idle.queue, "late-worker")
    try:
        time.sleep(1.5)
        job = idle.http.get(f"/api/jobs/{job_id}").json()
        assert job["status"] == "cancelled" and job["started_at"] is None
    finally:
        worker.stop.set()


@pytest.mark.slow
def test_cancel_running_job_stops_at_next_stage(platform: Platform, tmp_path: Path) -> None:
    job_id = platform.submit(platform.upload(big_stack(tmp_path)), params=SLOW)
    wait_for(lambda: platform.http.get(f"/api/jobs/{job_id}").json()["stage"] == "predict")
    assert platform.http.delete(f"/api/jobs/{job_id}").status_code == 200
    job = platform.wait(job_id)
    assert job["status"] == "cancelled" and job["error"] == "cancelled by user"
    assert platform.storage.list(result_prefix(job_id)) == []


@pytest.mark.slow
def test_finished_jobs_and_files_expire(make_platform) -> None:  # type: ignore[no-untyped-def]
    short: Platform = make_platform(workers=0, job_ttl_s=2, upload_ttl_s=2)
    settings = short.consumer_settings.model_copy(update={"job_ttl_s": 2, "upload_ttl_s": 2})
    worker, _ = start_worker(settings, short.storage, short.queue, "ttl-worker")
    try:
        key = short.upload(val_png(VAL_SMALL))
        job = short.wait(short.submit(key))
        assert job["status"] == "done"
        assert short.storage.list(result_prefix(job["id"]))
        time.sleep(2.5)
        assert short.http.get(f"/api/jobs/{job['id']}").status_code == 404
        worker.cleanup_expired()
        assert short.storage.list(result_prefix(job["id"])) == []
        assert not short.storage.exists(key)
    finally:
        worker.stop.set()


def consumer_process(platform: Platform, name: str, tmp: Path) -> subprocess.Popen[bytes]:
    """A real consumer process (python -m cellkiosk.consumer)."""
    env = dict(
        os.environ,
        CELLKIOSK_REDIS_URL=platform.redis_url,
        CELLKIOSK_STORAGE_URL=str(platform.storage.url),
        CELLKIOSK_MODELS_DIR=str(MODELS_DIR),
        CELLKIOSK_DATA_DIR=str(tmp),
        CELLKIOSK_BLOCK_MS="300",
        CELLKIOSK_VISIBILITY_TIMEOUT_S="4",
        CELLKIOSK_HEARTBEAT_S="1",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "cellkiosk.consumer", "--name", name],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_killed_consumer_job_is_finished_once_by_another(make_platform, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    idle: Platform = make_platform(workers=0)
    victim = consumer_process(idle, "victim", tmp_path)
    try:
        job_id = idle.submit(idle.upload(big_stack(tmp_path, pages=4)), params=SLOW)
        wait_for(lambda: idle.http.get(f"/api/jobs/{job_id}").json()["stage"] == "predict", 90)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    finally:
        if victim.poll() is None:
            victim.kill()
    rescuer = consumer_process(idle, "rescuer", tmp_path)
    try:
        job = idle.wait(job_id, timeout_s=240)
    finally:
        rescuer.send_signal(signal.SIGTERM)
        assert rescuer.wait(60) == 0  # graceful shutdown exits 0
    assert job["status"] == "done", job
    stored = idle.queue.get(job_id)
    assert stored is not None and stored.attempts == 2
    assert len(idle.storage.list(result_prefix(job_id))) == 1
    assert idle.queue.depth("segmentation") == 0
    done_counted = int(idle.queue.redis.hget("stats:jobs", "segmentation|done") or 0)
    assert done_counted == 1  # counters once
    record(
        "fault_consumer_killed",
        {"killed": "a consumer process mid-predict (SIGKILL)", "finished_by": "another consumer process",
         "attempts": stored.attempts, "archives": 1, "done_counted": done_counted, "sigterm_exit": 0},
    )  # fmt: skip


@pytest.mark.slow
def test_queued_jobs_survive_a_valkey_restart(tmp_path: Path) -> None:
    server = EmbeddedValkey(tmp_path / "valkey", durable=True).start()
    queue = JobQueue(connect_redis(server.url))
    from cellkiosk.core.jobs import Job

    job = queue.create(Job(type="segmentation", model="nuclear", input="uploads/x/y.png"))
    time.sleep(1.2)  # appendfsync everysec
    server.kill()  # a crash, not a clean shutdown
    server = EmbeddedValkey(tmp_path / "valkey", port=server.port, durable=True).start()
    try:
        queue = JobQueue(connect_redis(server.url))
        restored = queue.get(job.id)
        assert restored is not None and restored.status == JobStatus.QUEUED
        queue.ensure_group("segmentation")
        delivery = queue.claim("segmentation", "after-restart", 100, 60)
        assert delivery is not None and delivery.job_id == job.id
    finally:
        server.stop()
