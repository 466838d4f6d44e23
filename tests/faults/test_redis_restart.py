"""Redis (AOF on) is SIGKILLed and restarted while jobs are queued and running: none is lost."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from cellkiosk.core.embedded import EmbeddedValkey
from cellkiosk.core.jobs import STATS_JOBS, result_prefix
from cellkiosk.core.queue import JobQueue, connect_redis
from cellkiosk.core.storage import open_storage
from tests.faults.procs import TERMINAL, consumer_env, gateway, start_consumer, stop, wait_until
from tests.integration.conftest import VAL_SMALL, val_png
from tests.records import record

pytestmark = pytest.mark.slow  # real processes killed and restarted: `make test` runs it, test-fast skips it

JOBS = 8


def test_queued_and_running_jobs_survive_a_redis_restart(tmp_path: Path) -> None:
    server = EmbeddedValkey(tmp_path / "valkey", durable=True).start()
    storage_url = str(tmp_path / "storage")
    env = consumer_env(server.url, storage_url, tmp_path)
    consumers = [start_consumer(env, f"redis-restart-{i}", tmp_path / f"c{i}.log") for i in range(2)]
    try:
        with gateway(server.url, storage_url, tmp_path) as client:
            png = val_png(VAL_SMALL).read_bytes()
            ids = []
            for _ in range(JOBS):
                key = client.post("/api/uploads", files={"file": ("n.png", png)}).json()["key"]
                body = {"type": "segmentation", "input": key, "params": {"diameter": 16}}
                ids.append(client.post("/api/jobs", json=body).json()["id"])
            wait_until(lambda: any(client.get(f"/api/jobs/{i}").json()["status"] != "queued" for i in ids), 120,
                       "a consumer started a job")  # fmt: skip
            time.sleep(1.2)  # the AOF is fsynced every second
            server.process.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
            server.process.wait()  # type: ignore[union-attr]

            down = [client.get(f"/api/jobs/{ids[0]}"), client.post("/api/uploads", files={"file": ("n.png", png)})]
            down.append(client.get("/readyz"))
            for resp in down:
                assert resp.status_code == 503, (resp.request.url, resp.status_code, resp.text)
            assert all(r.headers.get("Retry-After") for r in down[:2])
            time.sleep(3)

            server.start()  # same port, same data dir: it loads the AOF
            wait_until(lambda: all(client.get(f"/api/jobs/{i}").json()["status"] in TERMINAL for i in ids), 300,
                       "every job finished after the restart")  # fmt: skip
            jobs = [client.get(f"/api/jobs/{i}").json() for i in ids]
        assert [j["status"] for j in jobs] == ["done"] * JOBS, [(j["status"], j["error"]) for j in jobs]
        assert [p.poll() for p in consumers] == [None, None], "a consumer died instead of reconnecting"
        storage = open_storage(storage_url)
        assert all(len(storage.list(result_prefix(i))) == 1 for i in ids)  # one archive each
        queue = JobQueue(connect_redis(server.url))
        assert int(queue.redis.hget(STATS_JOBS, "segmentation|done")) <= JOBS
        assert queue.depth("segmentation") == 0
    finally:
        codes = stop(consumers)
        server.stop()
    assert codes == [0, 0], codes
    record(
        "fault_redis_restart",
        {"killed": "valkey (SIGKILL, AOF on), down 3 s", "jobs": JOBS, "consumers": 2, "done": JOBS, "lost": 0,
         "done_twice": 0, "gateway_while_down": sorted({r.status_code for r in down}), "consumer_exits": codes},
    )  # fmt: skip
