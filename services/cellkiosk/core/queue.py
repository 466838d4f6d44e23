"""Jobs in Redis: hashes, one stream per job type, consumer groups, events.

Delivery is at least once: a message stays pending until the consumer acks
it; a consumer that dies leaves it idle, and after the visibility timeout
another consumer takes it over with XAUTOCLAIM. A consumer working on a long
job keeps its claim fresh with :meth:`JobQueue.touch`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import redis

from cellkiosk.core.jobs import (
    CONSUMER_GROUP,
    EXPIRY_ZSET,
    HEARTBEAT_PREFIX,
    STATS_JOBS,
    STATS_STAGES,
    Action,
    Job,
    JobStatus,
    children_key,
    dead_letter_key,
    events_channel,
    finished_children_key,
    job_key,
    queue_key,
    request_key,
)

# Set fields only if the status moves forward; a finished job never changes again.
UPDATE_SCRIPT = """
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return -1 end
local rank = {queued=0, running=1, done=2, failed=2, cancelled=2}
if rank[cur] == 2 then return 0 end
local new = ARGV[1]
if new ~= '' and rank[new] < rank[cur] then return 0 end
if #ARGV > 1 then redis.call('HSET', KEYS[1], unpack(ARGV, 2)) end
if new ~= '' then redis.call('HSET', KEYS[1], 'status', new) end
return 1
"""


def connect_redis(url: str, socket_timeout_s: float = 30.0) -> redis.Redis:
    """A client for ``url`` returning str; its socket timeout outlasts every blocking read we do."""
    return redis.Redis.from_url(
        url, decode_responses=True, socket_timeout=socket_timeout_s, socket_connect_timeout=5, health_check_interval=30
    )


# Count a child once; return 1 only to the call that completes the batch.
COUNT_CHILD_SCRIPT = """
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
local f = redis.call('HMGET', KEYS[2], 'children_done', 'children_failed', 'children_total')
local finished = tonumber(f[1] or '0') + tonumber(f[2] or '0')
local total = tonumber(f[3] or '0')
if total > 0 and finished == total then return 1 end
return 0
"""


@dataclass(frozen=True)
class Delivery:
    """One queue message handed to a consumer."""

    job_type: str
    message_id: str
    job_id: str
    action: Action
    redelivered: bool


class JobQueue:
    """Job records and queues on one Redis connection pool."""

    def __init__(self, client: redis.Redis) -> None:
        # decode_responses=True clients return str; redis-py's stubs cannot express that, hence Any.
        self.redis: Any = client
        self._update = client.register_script(UPDATE_SCRIPT)
        self._count_child = client.register_script(COUNT_CHILD_SCRIPT)

    # -- records -----------------------------------------------------------
    def create(self, job: Job, enqueue: bool = True) -> Job:
        """Store a new job and (unless it is a parent waiting for children) queue it."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(job_key(job.id), mapping=job.to_redis())
        if enqueue:
            pipe.xadd(queue_key(job.type), {"job": job.id, "action": Action.RUN.value})
        pipe.hincrby(STATS_JOBS, f"{job.type}|created", 1)
        pipe.execute()
        self.publish(job)
        return job

    def claim_request(self, key: str, job_id: str, fingerprint: str, ttl_s: int) -> tuple[str, str] | None:
        """Record that the request with idempotency ``key`` creates ``job_id``, atomically (SET NX).

        Returns None when this call claimed the key (go on and create the job), else the ``(job_id,
        fingerprint)`` of the request that claimed it first (a retry: answer with that job).
        """
        value = f"{job_id} {fingerprint}"
        for _ in range(3):  # the first claim may expire between SET NX and GET
            if self.redis.set(request_key(key), value, nx=True, ex=ttl_s):
                return None
            stored = self.redis.get(request_key(key))
            if stored is not None:
                first_job, _, first_fingerprint = str(stored).partition(" ")
                return first_job, first_fingerprint
        raise RuntimeError(f"could not claim or read idempotency key {key!r}")

    def release_request(self, key: str) -> None:
        """Forget an idempotency key whose job could not be created, so a retry can create it."""
        self.redis.delete(request_key(key))

    def get(self, job_id: str) -> Job | None:
        """The job, or None when unknown or expired."""
        fields = self.redis.hgetall(job_key(job_id))
        return Job.from_redis(fields) if fields else None

    def update(self, job_id: str, status: JobStatus | None = None, **fields: Any) -> bool:
        """Set fields (and maybe a later status); False when the job is finished or unknown."""
        flat = Job.model_construct(**fields).to_redis() if fields else {}
        flat = {k: v for k, v in flat.items() if k in fields}
        argv: list[str] = [status.value if status else ""]
        for key, value in flat.items():
            argv += [key, value]
        changed = self._update(keys=[job_key(job_id)], args=argv) == 1
        if changed:
            job = self.get(job_id)
            if job:
                self.publish(job)
        return changed

    def publish(self, job: Job) -> None:
        """Announce a job's new state on its events channel."""
        self.redis.publish(events_channel(job.id), job.model_dump_json())

    def finish(self, job_id: str, status: JobStatus, ttl_s: int, **fields: Any) -> bool:
        """Move a job to a final status and start its expiry clock."""
        changed = self.update(job_id, status, finished_at=time.time(), **fields)
        if changed:
            job_type = self.redis.hget(job_key(job_id), "type") or "unknown"
            pipe = self.redis.pipeline(transaction=False)
            pipe.hincrby(STATS_JOBS, f"{job_type}|{status.value}", 1)
            for stage, seconds in (fields.get("timings") or {}).items():
                pipe.hincrbyfloat(STATS_STAGES, f"{job_type}|{stage}|sum", float(seconds))
                pipe.hincrby(STATS_STAGES, f"{job_type}|{stage}|count", 1)
            pipe.execute()
            self.redis.expire(job_key(job_id), ttl_s)
            self.redis.expire(children_key(job_id), ttl_s)
            self.redis.expire(finished_children_key(job_id), ttl_s)
        return changed

    def request_cancel(self, job_id: str, ttl_s: int) -> Job | None:
        """Cancel a queued job now; flag a running one so it stops at its next stage."""
        job = self.get(job_id)
        if job is None or job.status.terminal:
            return job
        self.update(job_id, cancel_requested=True)
        if job.status == JobStatus.QUEUED:
            self.finish(job_id, JobStatus.CANCELLED, ttl_s, error="cancelled by user")
        for child in self.children(job_id):
            self.request_cancel(child, ttl_s)
        return self.get(job_id)

    # -- batches -------------------------------------------------------------
    def add_children(self, parent_id: str, children: list[Job]) -> None:
        """Register and queue a batch parent's children."""
        pipe = self.redis.pipeline(transaction=True)
        for child in children:
            pipe.hset(job_key(child.id), mapping=child.to_redis())
            pipe.rpush(children_key(parent_id), child.id)
            pipe.xadd(queue_key(child.type), {"job": child.id, "action": Action.RUN.value})
        pipe.hset(job_key(parent_id), "children_total", str(len(children)))
        pipe.execute()

    def children(self, parent_id: str) -> list[str]:
        """Child job ids of a batch, in input order."""
        return list(self.redis.lrange(children_key(parent_id), 0, -1))

    def count_child_finished(self, parent_id: str, child_id: str, ok: bool) -> bool:
        """Count a finished child once (atomically); True for exactly one call: the batch's last child."""
        field = "children_done" if ok else "children_failed"
        last = self._count_child(keys=[finished_children_key(parent_id), job_key(parent_id)], args=[child_id, field])
        parent = self.get(parent_id)
        if parent is not None:
            self.publish(parent)
        return bool(last == 1)

    # -- delivery ------------------------------------------------------------
    def ensure_group(self, job_type: str) -> None:
        """Create the stream and its consumer group if missing."""
        try:
            self.redis.xgroup_create(queue_key(job_type), CONSUMER_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def enqueue(self, job_type: str, job_id: str, action: Action = Action.RUN) -> None:
        """Put a message for a job on its type's stream."""
        self.redis.xadd(queue_key(job_type), {"job": job_id, "action": action.value})

    def claim(self, job_type: str, consumer: str, block_ms: int, visibility_timeout_s: float) -> Delivery | None:
        """Next message: first one abandoned by a dead consumer, else a new one (blocking)."""
        stream = queue_key(job_type)
        cursor = "0-0"
        for _ in range(1000):  # each call scans at most 10 x count pending entries: follow the cursor
            cursor, claimed, *_ = self.redis.xautoclaim(
                stream,
                CONSUMER_GROUP,
                consumer,
                min_idle_time=int(visibility_timeout_s * 1000),
                start_id=cursor,
                count=1,
            )
            if claimed:
                return self._delivery(job_type, claimed[0], redelivered=True)
            if cursor == "0-0":
                break
        reply = self.redis.xreadgroup(CONSUMER_GROUP, consumer, {stream: ">"}, count=1, block=block_ms)
        if not reply:
            return None
        return self._delivery(job_type, reply[0][1][0], redelivered=False)

    def own_pending(self, job_type: str, consumer: str) -> list[Delivery]:
        """Messages this consumer name claimed before a restart (resumed at start-up)."""
        reply = self.redis.xreadgroup(CONSUMER_GROUP, consumer, {queue_key(job_type): "0"}, count=1000)
        messages = reply[0][1] if reply else []
        return [self._delivery(job_type, m, redelivered=True) for m in messages if m[1]]

    @staticmethod
    def _delivery(job_type: str, message: Any, redelivered: bool) -> Delivery:
        message_id, fields = message
        return Delivery(job_type, message_id, fields["job"], Action(fields.get("action", "run")), redelivered)

    def touch(self, delivery: Delivery, consumer: str) -> None:
        """Reset a message's idle time so no other consumer takes over a live job."""
        self.redis.xclaim(queue_key(delivery.job_type), CONSUMER_GROUP, consumer, 0, [delivery.message_id], justid=True)

    def ack(self, delivery: Delivery) -> None:
        """Done with a message (whatever became of the job)."""
        self.redis.xack(queue_key(delivery.job_type), CONSUMER_GROUP, delivery.message_id)

    def hand_back(self, delivery: Delivery) -> None:
        """Give a message back at once (graceful shutdown): re-queue it and ack the old one."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(queue_key(delivery.job_type), {"job": delivery.job_id, "action": delivery.action.value})
        pipe.xack(queue_key(delivery.job_type), CONSUMER_GROUP, delivery.message_id)
        pipe.execute()

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Record a job that will not be retried again."""
        self.redis.xadd(dead_letter_key(delivery.job_type), {"job": delivery.job_id, "reason": reason[:2000]})

    def stats(self) -> tuple[dict[str, str], dict[str, str]]:
        """Cluster-wide counters: jobs by type|status, stage seconds by type|stage|sum/count."""
        return self.redis.hgetall(STATS_JOBS), self.redis.hgetall(STATS_STAGES)

    def depth(self, job_type: str) -> int:
        """Messages waiting or in progress for a job type (what autoscaling looks at)."""
        try:
            groups = self.redis.xinfo_groups(queue_key(job_type))
        except redis.ResponseError:
            return 0
        for group in groups:
            if group["name"] == CONSUMER_GROUP:
                return int(group.get("lag") or 0) + int(group.get("pending") or 0)
        return int(self.redis.xlen(queue_key(job_type)))

    # -- housekeeping --------------------------------------------------------
    def schedule_cleanup(self, prefix: str, due: float) -> None:
        """Delete a storage prefix at ``due`` (epoch seconds); a later call postpones it."""
        self.redis.zadd(EXPIRY_ZSET, {prefix: due})

    def due_cleanups(self, now: float, limit: int = 100) -> list[str]:
        """Storage prefixes whose time has come."""
        return list(self.redis.zrangebyscore(EXPIRY_ZSET, "-inf", now, start=0, num=limit))

    def cleanup_done(self, prefix: str) -> None:
        """Forget a prefix once it has been deleted."""
        self.redis.zrem(EXPIRY_ZSET, prefix)

    def heartbeat(self, consumer: str, ttl_s: int, info: dict[str, Any]) -> None:
        """Tell the world this consumer is alive."""
        self.redis.set(HEARTBEAT_PREFIX + consumer, json.dumps(info), ex=ttl_s)

    def consumers_alive(self) -> list[str]:
        """Names of consumers whose heartbeat has not expired."""
        return [k.removeprefix(HEARTBEAT_PREFIX) for k in self.redis.scan_iter(HEARTBEAT_PREFIX + "*")]
