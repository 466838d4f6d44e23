"""The job queue against a real valkey: records, forward-only statuses, at-least-once delivery, batches."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from cellkiosk.core.embedded import EmbeddedValkey
from cellkiosk.core.jobs import (
    CONSUMER_GROUP,
    STATUS_RANK,
    Action,
    Job,
    JobStatus,
    Stage,
    children_key,
    dead_letter_key,
    events_channel,
    finished_children_key,
    job_key,
    queue_key,
)
from cellkiosk.core.queue import JobQueue, connect_redis
from tests.fixtures.platform import fresh_redis_url

TYPE = "segmentation"
BLOCK_MS = 50
VISIBILITY_S = 0.5


@pytest.fixture(scope="module")
def redis_url(valkey: EmbeddedValkey) -> str:
    """One logical database for this module (there are only 15 to share with the whole session)."""
    return fresh_redis_url(valkey)


@pytest.fixture
def queue(redis_url: str) -> Iterator[JobQueue]:
    """A queue on an emptied database."""
    client = connect_redis(redis_url, socket_timeout_s=5)
    client.flushdb()
    yield JobQueue(client)
    client.close()


def make_job(**fields: object) -> Job:
    values: dict[str, object] = {"type": TYPE, "model": "nuclear"}
    values.update(fields)
    return Job(**values)  # type: ignore[arg-type]


def ready(queue: JobQueue, **fields: object) -> Job:
    """A created job on a stream whose consumer group exists."""
    queue.ensure_group(TYPE)
    return queue.create(make_job(**fields))


# -- records -------------------------------------------------------------------------------------------
def test_create_get_round_trip(queue: JobQueue) -> None:
    job = make_job(
        params={"channels": [1], "mpp": 0.65, "nested": {"a": None, "b": "x"}},
        timings={"download": 0.25, "predict": 1.5},
        input="uploads/abc/cells.tif",
        input_name="cells.tif",
        stage=Stage.DOWNLOAD,
        cancel_requested=True,
    )
    queue.create(job)
    got = queue.get(job.id)
    assert got == job
    assert got is not None and got.params["nested"] == {"a": None, "b": "x"} and got.timings["predict"] == 1.5
    assert queue.get("no-such-job") is None


def test_create_queues_a_message_unless_told_not_to(queue: JobQueue) -> None:
    queued = queue.create(make_job())
    parent = queue.create(make_job(), enqueue=False)
    messages = queue.redis.xrange(queue_key(TYPE))
    assert [m[1] for m in messages] == [{"job": queued.id, "action": Action.RUN.value}]
    assert queue.get(parent.id) is not None
    assert queue.stats()[0][f"{TYPE}|created"] == "2"


def test_update_sets_fields_and_publishes(queue: JobQueue) -> None:
    job = queue.create(make_job())
    pubsub = queue.redis.pubsub()
    pubsub.subscribe(events_channel(job.id))
    assert pubsub.get_message(timeout=1)["type"] == "subscribe"
    assert queue.update(job.id, JobStatus.RUNNING, stage=Stage.PREDICT, progress=0.5, timings={"download": 2.0})
    got = queue.get(job.id)
    assert got is not None
    assert (got.status, got.stage, got.progress, got.timings) == (
        JobStatus.RUNNING,
        Stage.PREDICT,
        0.5,
        {"download": 2.0},
    )
    assert got.params == job.params and got.model == job.model  # untouched fields survive a partial update
    message = pubsub.get_message(timeout=1)
    assert message is not None and json.loads(message["data"])["status"] == "running"
    pubsub.close()


def test_statuses_only_move_forward(queue: JobQueue) -> None:
    job = queue.create(make_job())
    assert queue.update(job.id, JobStatus.QUEUED)  # staying put is allowed
    assert queue.update(job.id, JobStatus.RUNNING)
    assert not queue.update(job.id, JobStatus.QUEUED, progress=0.9)
    got = queue.get(job.id)
    assert got is not None and got.status == JobStatus.RUNNING and got.progress == 0.0
    assert queue.finish(job.id, JobStatus.DONE, ttl_s=60, output="results/x/")
    before = queue.redis.hgetall(job_key(job.id))
    for status in JobStatus:
        assert not queue.update(job.id, status)
    assert not queue.update(job.id, progress=0.1, error="late")
    assert not queue.finish(job.id, JobStatus.FAILED, ttl_s=60, error="late")
    assert queue.redis.hgetall(job_key(job.id)) == before


def test_update_of_unknown_job_creates_nothing(queue: JobQueue) -> None:
    assert not queue.update("ghost", JobStatus.RUNNING, progress=0.5)
    assert not queue.redis.exists(job_key("ghost"))


@pytest.mark.parametrize("status", [JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED])
def test_finish_sets_ttl_and_counts(queue: JobQueue, status: JobStatus) -> None:
    job = queue.create(make_job())
    queue.update(job.id, JobStatus.RUNNING)
    assert queue.finish(job.id, status, ttl_s=120, timings={"predict": 1.5, "upload": 0.5})
    assert 0 < queue.redis.ttl(job_key(job.id)) <= 120
    got = queue.get(job.id)
    assert got is not None and got.status == status and got.finished_at is not None
    jobs, stages = queue.stats()
    assert jobs[f"{TYPE}|{status.value}"] == "1"
    assert float(stages[f"{TYPE}|predict|sum"]) == 1.5 and stages[f"{TYPE}|predict|count"] == "1"
    assert not queue.finish(job.id, status, ttl_s=120, timings={"predict": 1.0})  # a second finish counts nothing
    assert queue.stats()[0][f"{TYPE}|{status.value}"] == "1"
    assert float(queue.stats()[1][f"{TYPE}|predict|sum"]) == 1.5


# -- delivery ---------------------------------------------------------------------------------------------
def test_claim_returns_a_new_message(queue: JobQueue) -> None:
    job = ready(queue)
    delivery = queue.claim(TYPE, "c1", BLOCK_MS, VISIBILITY_S)
    assert delivery is not None
    assert (delivery.job_type, delivery.job_id, delivery.action, delivery.redelivered) == (
        TYPE,
        job.id,
        Action.RUN,
        False,
    )
    assert queue.claim(TYPE, "c1", BLOCK_MS, VISIBILITY_S) is None


def test_messages_queued_before_the_group_exist_are_delivered(queue: JobQueue) -> None:
    job = queue.create(make_job())
    queue.ensure_group(TYPE)
    queue.ensure_group(TYPE)  # idempotent
    delivery = queue.claim(TYPE, "c1", BLOCK_MS, VISIBILITY_S)
    assert delivery is not None and delivery.job_id == job.id


def test_unacked_message_is_taken_over_after_the_visibility_timeout(queue: JobQueue) -> None:
    job = ready(queue)
    first = queue.claim(TYPE, "c1", BLOCK_MS, VISIBILITY_S)
    assert first is not None
    assert queue.claim(TYPE, "c2", BLOCK_MS, VISIBILITY_S) is None  # still fresh
    time.sleep(VISIBILITY_S + 0.15)
    second = queue.claim(TYPE, "c2", BLOCK_MS, VISIBILITY_S)
    assert second is not None
    assert (second.message_id, second.job_id, second.redelivered) == (first.message_id, job.id, True)
    pending = queue.redis.xpending_range(queue_key(TYPE), CONSUMER_GROUP, "-", "+", 10)
    assert [(p["message_id"], p["consumer"]) for p in pending] == [(first.message_id, "c2")]
    queue.ack(second)
    assert queue.redis.xpending(queue_key(TYPE), CONSUMER_GROUP)["pending"] == 0


def test_acked_message_is_never_redelivered(queue: JobQueue) -> None:
    ready(queue)
    delivery = queue.claim(TYPE, "c1", BLOCK_MS, VISIBILITY_S)
    assert delivery is not None
    queue.ack(delivery)
    time.sleep(VISIBILITY_S + 0.15)
    assert queue.claim(TYPE, "c2", BLOCK_MS, VISIBILITY_S) is None


@pytest.mark.slow
def test_touch_keeps_a_live_claim(queue: JobQueue) -> None:
    visibility_s = 0.8
    ready(queue)
    delivery = queue.claim(TYPE, "c1", BLOCK_MS, visibility_s)
    assert delivery is not None
    time.sleep(0.5)
    queue.touch(delivery, "c1")
    time.sleep(0.45)  # 0.95 s since the claim, 0.45 s since the touch
    assert queue.claim(TYPE, "c2", BLOCK_MS, visibility_s) is None
    time.sleep(visibility_s)
    taken = queue.claim(TYPE, "c2", BLOCK_MS, visibility_s)
    assert taken is not None and taken.message_id == delivery.message_id


def test_abandoned_message_is_taken_over_behind_many_live_jobs(queue: JobQueue) -> None:
    live = []
    for i in range(10):
        ready(queue)
        delivery = queue.claim(TYPE, f"live-{i}", BLOCK_MS, VISIBILITY_S)
        assert delivery is not None
        live.append((delivery, f"live-{i}"))
    ready(queue)
    abandoned = queue.claim(TYPE, "dead", BLOCK_MS, VISIBILITY_S)
    assert abandoned is not None
    time.sleep(VISIBILITY_S + 0.15)
    for delivery, consumer in live:
        queue.touch(delivery, consumer)  # ten long jobs, still being worked on
    taken = queue.claim(TYPE, "new", BLOCK_MS, VISIBILITY_S)
    assert taken is not None and taken.message_id == abandoned.message_id


def test_own_pending_after_a_restart(queue: JobQueue, redis_url: str) -> None:
    jobs = [ready(queue) for _ in range(3)]
    claimed = [queue.claim(TYPE, "c1", BLOCK_MS, 60.0) for _ in range(2)]
    assert all(claimed)
    other = queue.claim(TYPE, "c2", BLOCK_MS, 60.0)
    assert other is not None and other.job_id == jobs[2].id
    restarted = JobQueue(connect_redis(redis_url, socket_timeout_s=5))  # a new process, same consumer name
    resumed = restarted.own_pending(TYPE, "c1")
    assert [d.job_id for d in resumed] == [jobs[0].id, jobs[1].id]
    assert [d.message_id for d in resumed] == [d.message_id for d in claimed if d]
    assert all(d.redelivered and d.action == Action.RUN for d in resumed)
    restarted.ack(resumed[0])
    assert [d.job_id for d in restarted.own_pending(TYPE, "c1")] == [jobs[1].id]
    assert restarted.own_pending(TYPE, "never-seen") == []
    restarted.redis.close()


def test_own_pending_skips_deleted_messages(queue: JobQueue) -> None:
    ready(queue)
    delivery = queue.claim(TYPE, "c1", BLOCK_MS, 60.0)
    assert delivery is not None
    queue.redis.xdel(queue_key(TYPE), delivery.message_id)
    assert queue.own_pending(TYPE, "c1") == []


def test_hand_back_requeues_at_once(queue: JobQueue) -> None:
    job = ready(queue)
    queue.enqueue(TYPE, job.id, Action.COLLECT)
    queue.claim(TYPE, "c1", BLOCK_MS, 60.0)  # the RUN message, abandoned below
    delivery = queue.claim(TYPE, "c1", BLOCK_MS, 60.0)
    assert delivery is not None and delivery.action == Action.COLLECT
    queue.hand_back(delivery)
    assert [d.action for d in queue.own_pending(TYPE, "c1")] == [Action.RUN]
    again = queue.claim(TYPE, "c2", BLOCK_MS, 60.0)  # no visibility timeout to wait for
    assert again is not None
    assert (again.job_id, again.action, again.redelivered) == (job.id, Action.COLLECT, False)
    assert again.message_id != delivery.message_id


def test_dead_letter(queue: JobQueue) -> None:
    job = ready(queue)
    delivery = queue.claim(TYPE, "c1", BLOCK_MS, 60.0)
    assert delivery is not None
    queue.dead_letter(delivery, "boom " * 1000)
    entries = queue.redis.xrange(dead_letter_key(TYPE))
    assert len(entries) == 1
    fields = entries[0][1]
    assert fields["job"] == job.id and fields["reason"].startswith("boom") and len(fields["reason"]) == 2000
    assert dead_letter_key(TYPE) == f"dead:{TYPE}"


def test_depth_counts_waiting_and_pending(queue: JobQueue) -> None:
    assert queue.depth(TYPE) == 0  # no stream at all
    for _ in range(3):
        queue.create(make_job())
    assert queue.depth(TYPE) == 3  # stream without a group
    queue.ensure_group(TYPE)
    assert queue.depth(TYPE) == 3
    delivery = queue.claim(TYPE, "c1", BLOCK_MS, 60.0)
    assert delivery is not None
    assert queue.depth(TYPE) == 3  # 2 waiting + 1 in progress
    queue.ack(delivery)
    assert queue.depth(TYPE) == 2
    queue.hand_back(queue.claim(TYPE, "c1", BLOCK_MS, 60.0))  # type: ignore[arg-type]
    assert queue.depth(TYPE) == 2
    assert queue.depth("other-type") == 0


# -- batches and cancellation ---------------------------------------------------------------------------
def batch(queue: JobQueue, n: int) -> tuple[Job, list[Job]]:
    parent = queue.create(make_job(), enqueue=False)
    children = [make_job(parent=parent.id, input=f"uploads/u/{i}.tif") for i in range(n)]
    queue.add_children(parent.id, children)
    return parent, children


def test_add_children(queue: JobQueue) -> None:
    parent, children = batch(queue, 3)
    assert queue.children(parent.id) == [c.id for c in children]
    got = queue.get(parent.id)
    assert got is not None and got.children_total == 3
    assert [m[1]["job"] for m in queue.redis.xrange(queue_key(TYPE))] == [c.id for c in children]


def test_count_child_finished_counts_each_child_once(queue: JobQueue) -> None:
    parent, children = batch(queue, 3)
    assert not queue.count_child_finished(parent.id, children[0].id, ok=True)
    assert not queue.count_child_finished(parent.id, children[0].id, ok=True)
    assert not queue.count_child_finished(parent.id, children[0].id, ok=False)
    got = queue.get(parent.id)
    assert got is not None and (got.children_done, got.children_failed) == (1, 0)
    assert not queue.count_child_finished(parent.id, children[1].id, ok=False)
    assert queue.count_child_finished(parent.id, children[2].id, ok=True)  # the last one
    assert not queue.count_child_finished(parent.id, children[2].id, ok=True)  # redelivered: not last again
    got = queue.get(parent.id)
    assert got is not None and (got.children_done, got.children_failed) == (2, 1)
    assert queue.redis.scard(finished_children_key(parent.id)) == 3


def test_finish_expires_a_batch_with_its_children_lists(queue: JobQueue) -> None:
    parent, children = batch(queue, 2)
    for child in children:
        queue.count_child_finished(parent.id, child.id, ok=True)
    assert queue.finish(parent.id, JobStatus.DONE, ttl_s=30)
    for key in (job_key(parent.id), children_key(parent.id), finished_children_key(parent.id)):
        assert 0 < queue.redis.ttl(key) <= 30, key


def test_request_cancel_on_a_queued_job_cancels_at_once(queue: JobQueue) -> None:
    job = queue.create(make_job())
    got = queue.request_cancel(job.id, ttl_s=60)
    assert got is not None
    assert got.status == JobStatus.CANCELLED and got.cancel_requested and got.finished_at is not None
    assert got.error and "cancel" in got.error
    assert 0 < queue.redis.ttl(job_key(job.id)) <= 60
    assert queue.stats()[0][f"{TYPE}|cancelled"] == "1"


def test_request_cancel_on_a_running_job_only_flags_it(queue: JobQueue) -> None:
    job = queue.create(make_job())
    queue.update(job.id, JobStatus.RUNNING)
    got = queue.request_cancel(job.id, ttl_s=60)
    assert got is not None
    assert got.status == JobStatus.RUNNING and got.cancel_requested and got.error is None
    assert queue.redis.ttl(job_key(job.id)) == -1  # no expiry until it really finishes


def test_request_cancel_on_finished_and_unknown_jobs(queue: JobQueue) -> None:
    job = queue.create(make_job())
    queue.finish(job.id, JobStatus.DONE, ttl_s=60)
    got = queue.request_cancel(job.id, ttl_s=60)
    assert got is not None and got.status == JobStatus.DONE and not got.cancel_requested
    assert queue.request_cancel("ghost", ttl_s=60) is None


def test_request_cancel_reaches_a_batchs_children(queue: JobQueue) -> None:
    parent, children = batch(queue, 2)
    queue.update(parent.id, JobStatus.RUNNING)
    queue.update(children[1].id, JobStatus.RUNNING)
    queue.request_cancel(parent.id, ttl_s=60)
    statuses = [queue.get(c.id).status for c in children]  # type: ignore[union-attr]
    assert statuses == [JobStatus.CANCELLED, JobStatus.RUNNING]
    assert all(queue.get(c.id).cancel_requested for c in children)  # type: ignore[union-attr]


# -- housekeeping -------------------------------------------------------------------------------------
def test_cleanup_schedule(queue: JobQueue) -> None:
    queue.schedule_cleanup("uploads/a/", 100.0)
    queue.schedule_cleanup("results/b/", 200.0)
    assert queue.due_cleanups(50.0) == []
    assert queue.due_cleanups(150.0) == ["uploads/a/"]
    queue.schedule_cleanup("uploads/a/", 300.0)  # postponed
    assert queue.due_cleanups(150.0) == []
    assert queue.due_cleanups(1000.0) == ["results/b/", "uploads/a/"]
    assert queue.due_cleanups(1000.0, limit=1) == ["results/b/"]
    queue.cleanup_done("results/b/")
    queue.cleanup_done("never-scheduled/")
    assert queue.due_cleanups(1000.0) == ["uploads/a/"]


def test_heartbeat_and_consumers_alive(queue: JobQueue) -> None:
    assert queue.consumers_alive() == []
    queue.heartbeat("c1", ttl_s=30, info={"job_type": TYPE, "busy": False})
    queue.heartbeat("c2", ttl_s=30, info={})
    assert sorted(queue.consumers_alive()) == ["c1", "c2"]
    key = "heartbeat:c1"
    assert json.loads(queue.redis.get(key)) == {"job_type": TYPE, "busy": False}
    assert 0 < queue.redis.ttl(key) <= 30
    queue.redis.pexpire(key, 20)  # let c1's heartbeat lapse without waiting seconds
    time.sleep(0.1)
    assert queue.consumers_alive() == ["c2"]


@pytest.mark.parametrize("start", list(JobStatus))
def test_every_transition_follows_status_rank(queue: JobQueue, start: JobStatus) -> None:
    """The Lua scripts' ranks are STATUS_RANK's: each pair of statuses moves as the ranks say."""
    for target in JobStatus:
        job = queue.create(make_job().model_copy(update={"status": start}))
        allowed = STATUS_RANK[start] < max(STATUS_RANK.values()) and STATUS_RANK[target] >= STATUS_RANK[start]
        assert queue.update(job.id, target) is allowed, (start, target)
        if target.terminal:
            job = queue.create(make_job().model_copy(update={"status": start}))
            assert queue.finish(job.id, target, ttl_s=60) is (not start.terminal), (start, target)


def test_finish_sets_status_ttl_and_counters_in_one_script(queue: JobQueue) -> None:
    """No window between the final status and its TTL: one EVALSHA does both (and the counters)."""
    job = queue.create(make_job())
    monitor = queue.redis.connection_pool.get_connection()
    try:
        monitor.send_command("MONITOR")
        monitor.read_response()
        queue.finish(job.id, JobStatus.DONE, ttl_s=60, timings={"predict": 1.5})
        seen = []
        while True:
            line = str(monitor.read_response())
            seen.append(line)
            if '"HGETALL"' in line:  # the read-back for the event comes after the write
                break
    finally:
        monitor.disconnect()
    ours = [line for line in seen if job.id in line]
    assert any("lua]" in line and '"EXPIRE"' in line for line in ours), ours  # the TTL is set by the script
    writes = [line for line in ours if "lua]" not in line and any(w in line for w in ('"HSET"', '"EXPIRE"'))]
    assert writes == [], writes  # and no write to the job ran outside it
    assert queue.redis.ttl(job_key(job.id)) > 0
    assert queue.redis.hget("stats:stages", "segmentation|predict|sum") == "1.5"


def test_rate_limit_is_a_moving_window(queue: JobQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    """At most N requests in any 60 s: no fresh budget at a minute boundary; refusals do not count."""
    clock = [6_000_000 * 60 + 59.5]  # half a second before a minute boundary
    monkeypatch.setattr(time, "time", lambda: clock[0])
    assert [queue.rate_hit("jobs", "alice", 2) for _ in range(2)] == [None, None]
    clock[0] += 1.0  # a new minute on the wall clock
    wait_s = queue.rate_hit("jobs", "alice", 2)
    assert wait_s is not None and 58 <= wait_s <= 60  # the first two are still inside the last 60 s
    assert queue.rate_hit("jobs", "bob", 2) is None and queue.rate_hit("uploads", "alice", 2) is None
    clock[0] += 59.5  # 61 s after the first two
    assert queue.rate_hit("jobs", "alice", 2) is None  # the refusal above took no place
    assert queue.rate_hit("jobs", "alice", 2) is None
    assert queue.rate_hit("jobs", "alice", 2) is not None
