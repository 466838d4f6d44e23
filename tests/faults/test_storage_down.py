"""The object store (SeaweedFS S3) is down for 10 s: uploads get 503, a running job waits and completes."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from cellkiosk.core.jobs import result_prefix
from cellkiosk.core.queue import JobQueue, connect_redis
from cellkiosk.core.storage import open_storage
from cellkiosk.core.storage_s3 import S3Storage
from tests.faults.procs import TERMINAL, consumer_env, gateway, start_consumer, stop, wait_until
from tests.fixtures.platform import fresh_redis_url
from tests.fixtures.seaweed import start_seaweed, stop_seaweed
from tests.integration.conftest import VAL_SMALL, val_png
from tests.integration.test_lifecycle import SLOW, big_stack
from tests.records import record

pytestmark = pytest.mark.slow  # real processes killed and restarted: `make test` runs it, test-fast skips it

DOWN_S = 10.0


def test_storage_outage_gives_503_and_running_jobs_complete_when_it_returns(valkey, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    weed_dir = tmp_path / "weed"
    server, weed = start_seaweed(weed_dir)
    creds = {"endpoint_url": server.endpoint_url, "access_key": server.access_key, "secret_key": server.secret_key}
    url = f"s3://ck-{uuid.uuid4().hex[:12]}/data"
    storage = open_storage(url, create_bucket=True, **creds)  # type: ignore[arg-type]
    assert isinstance(storage, S3Storage)
    redis_url = fresh_redis_url(valkey)
    env = consumer_env(
        redis_url, url, tmp_path, CELLKIOSK_S3_ENDPOINT_URL=server.endpoint_url, AWS_ACCESS_KEY_ID=server.access_key,
        AWS_SECRET_ACCESS_KEY=server.secret_key, AWS_DEFAULT_REGION="us-east-1", CELLKIOSK_VISIBILITY_TIMEOUT_S="60",
    )  # fmt: skip
    consumer = start_consumer(env, "storage-outage", tmp_path / "consumer.log")
    try:
        with gateway(redis_url, url, tmp_path, storage_kwargs=creds) as client:
            with big_stack(tmp_path, pages=4).open("rb") as fh:
                key = client.post("/api/uploads", files={"file": ("slow.tif", fh)}).json()["key"]
            job_id = client.post("/api/jobs", json={"type": "segmentation", "input": key, "params": SLOW}).json()["id"]
            wait_until(lambda: client.get(f"/api/jobs/{job_id}").json()["stage"] == "predict", 120, "job predicting")
            stop_seaweed(weed)  # down while the job predicts: its upload comes during the outage
            went_down = time.monotonic()
            refused = client.post("/api/uploads", files={"file": ("n.png", val_png(VAL_SMALL).read_bytes())})
            assert refused.status_code == 503 and refused.headers["Retry-After"], refused.text
            assert "storage unavailable" in refused.json()["detail"]
            assert client.get("/readyz").status_code == 503
            # down for 10 s at least, and until the job has reached its upload (so it meets the outage)
            wait_until(lambda: client.get(f"/api/jobs/{job_id}").json()["stage"] == "upload", 240, "job uploading")
            time.sleep(max(1.0, DOWN_S - (time.monotonic() - went_down)))
            outage_status = client.get(f"/api/jobs/{job_id}").json()["status"]
            server, weed = start_seaweed(weed_dir, again=server)
            wait_until(lambda: client.get(f"/api/jobs/{job_id}").json()["status"] in TERMINAL, 240, "job finished")
            job = client.get(f"/api/jobs/{job_id}").json()
            assert job["status"] == "done", job
            assert (
                client.post("/api/uploads", files={"file": ("n.png", val_png(VAL_SMALL).read_bytes())}).status_code
                == 201
            )
        assert outage_status == "running"  # it waited, it did not fail
        stored = JobQueue(connect_redis(redis_url)).get(job_id)
        assert stored is not None and stored.attempts == 1  # its storage calls were retried, not the job
        assert len(storage.list(result_prefix(job_id))) == 1
        assert "Retrying" in (tmp_path / "consumer.log").read_text()
        record(
            "fault_storage_down",
            {"killed": f"SeaweedFS S3 (SIGTERM), down {DOWN_S:.0f} s while a job ran", "upload_while_down": 503,
             "job": "done", "job_attempts": 1, "lost": 0},
        )  # fmt: skip
        assert consumer.poll() is None
    finally:
        stop([consumer])
        stop_seaweed(weed)
