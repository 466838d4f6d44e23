"""The consumer loop's outcomes: dead letters, redelivered finished jobs, stage timings."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest

from cellkiosk.consumer.worker import Worker
from cellkiosk.core.jobs import CONSUMER_GROUP, Job, JobStatus, dead_letter_key, job_key, queue_key
from tests.fixtures.platform import Platform, start_worker
from tests.integration.conftest import VAL_SMALL, val_png


def idle_worker(make_platform: Any, **settings: Any) -> tuple[Platform, Worker]:
    p: Platform = make_platform(workers=0)
    return p, direct_worker(p, **settings)


def direct_worker(p: Platform, **settings: Any) -> Worker:
    """A worker of ``p`` whose loop has stopped: the test drives ``handle()`` itself."""
    cs = p.consumer_settings.model_copy(update={"consumer_name": "direct", **settings})
    worker, thread = start_worker(cs, p.storage, p.queue, "direct")
    worker.stop.set()  # we drive handle() ourselves
    thread.join(timeout=30)  # its loop must be gone before a job exists, or it may claim the job first
    assert not thread.is_alive()
    return worker


@pytest.fixture(scope="module")
def bare(make_platform: Any) -> Platform:
    """One platform without consumers for this module (a session has 15 Valkey databases to give out);
    each test leaves its queue empty."""
    return make_platform(workers=0)  # type: ignore[no-any-return]


def test_job_that_keeps_killing_consumers_goes_to_dead_letter(bare: Platform) -> None:
    p, worker = bare, direct_worker(bare, max_attempts=2)
    job = p.queue.create(Job(type="segmentation", model="nuclear", input=p.upload(val_png(VAL_SMALL))))
    p.queue.redis.hset(job_key(job.id), "attempts", 2)  # two consumers already died on it
    delivery = p.queue.claim("segmentation", "direct", 100, 60)
    assert delivery is not None
    worker.handle(delivery)
    failed = p.queue.get(job.id)
    assert (
        failed is not None and failed.status == JobStatus.FAILED and "gave up after 2 attempts" in (failed.error or "")
    )
    dead = p.queue.redis.xrange(dead_letter_key("segmentation"))
    assert [fields["job"] for _, fields in dead] == [job.id]
    assert p.queue.depth("segmentation") == 0


@pytest.mark.slow
def test_redelivered_finished_job_is_acked_not_rerun(bare: Platform) -> None:
    p, worker = bare, direct_worker(bare)
    job = p.queue.create(Job(type="segmentation", model="nuclear", input=p.upload(val_png(VAL_SMALL))))
    delivery = p.queue.claim("segmentation", "direct", 100, 60)
    assert delivery is not None
    worker.handle(delivery)
    worker.finisher.wait()  # the upload runs on the finisher thread
    done = p.queue.get(job.id)
    assert done is not None and done.status == JobStatus.DONE and done.attempts == 1
    assert set(done.timings) >= {"download", "preprocess", "predict", "postprocess", "measure", "upload"}
    p.queue.enqueue("segmentation", job.id)  # a duplicate delivery, e.g. after a crash before the ack
    again = p.queue.claim("segmentation", "direct", 100, 60)
    assert again is not None
    worker.handle(again)
    after = p.queue.get(job.id)
    assert after is not None and after.attempts == 1 and after.finished_at == done.finished_at
    assert p.queue.depth("segmentation") == 0


def run_one(p: Platform, worker: Worker, key: str) -> tuple[Job, dict[str, bytes]]:
    """Create, claim and handle one segmentation job; the finished job and its archive's members."""
    job = p.queue.create(Job(type="segmentation", model="nuclear", input=key))
    delivery = p.queue.claim("segmentation", "direct", 100, 60)
    assert delivery is not None and delivery.job_id == job.id
    worker.handle(delivery)
    worker.finisher.wait()
    done = p.queue.get(job.id)
    assert done is not None and done.status == JobStatus.DONE and done.output, done
    with zipfile.ZipFile(io.BytesIO(p.storage.get_bytes(done.output))) as zf:
        return done, {name: zf.read(name) for name in zf.namelist()}


@pytest.mark.slow
def test_finishing_in_background_changes_no_result_and_acks_after_the_upload(bare: Platform) -> None:
    key_name = f"{VAL_SMALL}_labels.tif"  # identical bytes: the same labels
    results = {}
    p = bare
    for background in (False, True):
        done, members = run_one(p, direct_worker(p, finish_in_background=background), p.upload(val_png(VAL_SMALL)))
        assert p.queue.redis.xpending(queue_key("segmentation"), CONSUMER_GROUP)["pending"] == 0  # acked
        assert {"decode", "encode", "upload"} <= set(done.timings)
        results[background] = members
    assert results[True][key_name] == results[False][key_name]
    assert results[True]["cells.csv"] == results[False]["cells.csv"]
    assert results[True][f"{VAL_SMALL}_overlay.png"] == results[False][f"{VAL_SMALL}_overlay.png"]
