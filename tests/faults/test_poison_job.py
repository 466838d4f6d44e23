"""A poison job (its consumer dies every time it runs it) is retried N times, then dead-lettered; others flow on."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from cellkiosk.core.jobs import CONSUMER_GROUP, dead_letter_key, job_key, queue_key
from tests.faults.procs import consumer_env, start_consumer, stop
from tests.fixtures.platform import Platform
from tests.integration.conftest import VAL_SMALL, val_png
from tests.integration.test_lifecycle import SLOW, big_stack
from tests.records import record

pytestmark = pytest.mark.slow  # real processes killed and restarted: `make test` runs it, test-fast skips it

MAX_ATTEMPTS = 2


def test_a_job_that_kills_every_consumer_is_dead_lettered_and_blocks_nothing(make_platform, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p: Platform = make_platform(workers=0)
    env = consumer_env(p.redis_url, str(p.storage.url), tmp_path, CELLKIOSK_MAX_ATTEMPTS=str(MAX_ATTEMPTS))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    serial = iter(range(100))

    def spawn() -> None:
        name = f"poison-{next(serial)}"
        procs[name] = start_consumer(env, name, tmp_path / f"{name}.log")

    spawn()
    spawn()
    try:
        poison = p.submit(p.upload(big_stack(tmp_path, pages=4)), params=SLOW)
        others = [p.submit(p.upload(val_png(VAL_SMALL)), params={"diameter": 16}) for _ in range(3)]
        kills = 0
        while p.http.get(f"/api/jobs/{poison}").json()["status"] not in ("failed", "done"):
            holder = holder_of(p, poison)
            # Kill only a consumer that counted its own attempt and may run it: the delivery after the last
            # attempt is given up at once, and until the new holder counts it the job still reads "running".
            attempts = int(p.queue.redis.hget(job_key(poison), "attempts") or 0)
            if holder in procs and procs[holder].poll() is None and kills < attempts <= MAX_ATTEMPTS:
                procs[holder].send_signal(signal.SIGKILL)  # the "crash" the job causes, every time it runs
                procs[holder].wait()
                kills += 1
                spawn()
            assert kills <= MAX_ATTEMPTS + 1, "the poison job was retried more often than MAX_ATTEMPTS"
            time.sleep(0.3)
        job = p.http.get(f"/api/jobs/{poison}").json()
        assert job["status"] == "failed" and f"gave up after {MAX_ATTEMPTS} attempts" in job["error"], job
        assert kills == MAX_ATTEMPTS
        dead = p.queue.redis.xrange(dead_letter_key("segmentation"))
        assert [d[1]["job"] for d in dead] == [poison] and "gave up" in dead[0][1]["reason"]
        for job_id in others:
            assert p.wait(job_id, timeout_s=240)["status"] == "done"
        assert p.queue.depth("segmentation") == 0
        record(
            "fault_poison_job",
            {"killed": f"the consumer holding the poison job, each time ({kills} SIGKILLs)",
             "max_attempts": MAX_ATTEMPTS, "dead_lettered": 1, "other_jobs_done": len(others), "lost": 0},
        )  # fmt: skip
    finally:
        stop(list(procs.values()))


def holder_of(p: Platform, job_id: str) -> str | None:
    """The consumer whose pending entry holds the job's message."""
    pending = p.queue.redis.xpending_range(queue_key("segmentation"), CONSUMER_GROUP, "-", "+", 100)
    for entry in pending:
        fields = p.queue.redis.xrange(queue_key("segmentation"), entry["message_id"], entry["message_id"])
        if fields and fields[0][1]["job"] == job_id:
            return str(entry["consumer"])
    return None
