"""The work queues: one Redis stream per job type, read by one consumer group.

Delivery is at least once: a message stays pending until the consumer acks
it; a consumer that dies leaves it idle, and after the visibility timeout
another consumer takes it over with XAUTOCLAIM. A consumer working on a long
job keeps its claim fresh with :meth:`StreamQueue.touch`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from cellkiosk.core.jobs import CONSUMER_GROUP, Action, dead_letter_key, queue_key


@dataclass(frozen=True)
class Delivery:
    """One queue message handed to a consumer."""

    job_type: str
    message_id: str
    job_id: str
    action: Action
    redelivered: bool


class StreamQueue:
    """Messages on the job types' streams."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis: Any = client

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
                return _delivery(job_type, claimed[0], redelivered=True)
            if cursor == "0-0":
                break
        reply = self.redis.xreadgroup(CONSUMER_GROUP, consumer, {stream: ">"}, count=1, block=block_ms)
        if not reply:
            return None
        return _delivery(job_type, reply[0][1][0], redelivered=False)

    def own_pending(self, job_type: str, consumer: str) -> list[Delivery]:
        """Messages this consumer name claimed before a restart (resumed at start-up)."""
        reply = self.redis.xreadgroup(CONSUMER_GROUP, consumer, {queue_key(job_type): "0"}, count=1000)
        messages = reply[0][1] if reply else []
        return [_delivery(job_type, m, redelivered=True) for m in messages if m[1]]

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


def _delivery(job_type: str, message: Any, redelivered: bool) -> Delivery:
    message_id, fields = message
    return Delivery(job_type, message_id, fields["job"], Action(fields.get("action", "run")), redelivered)
