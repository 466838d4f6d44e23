"""Backlog of each job type, read from Redis: the consumer group's lag plus its pending entries.

Lag counts messages not yet delivered to any consumer; pending counts delivered ones not yet
acked (jobs in hand, or held by a consumer that died until another takes them over). A stream
that does not exist yet has no backlog; an unreachable Redis is an error, never a zero.
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from cellkiosk.core.jobs import CONSUMER_GROUP, queue_key

log = logging.getLogger("cellkiosk.autoscaler")


class BacklogReader:
    """Reads lag + pending of our consumer group for job types, on one Redis client."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis: Any = client

    def backlog(self, job_type: str) -> int:
        """Lag + pending of the consumer group on ``job_type``'s stream (0 when the stream is missing).

        Raises ``redis.RedisError`` when Redis cannot be asked: the caller keeps its replicas.
        """
        stream = queue_key(job_type)
        try:
            groups = self.redis.xinfo_groups(stream)
        except redis.ResponseError as exc:
            if "no such key" in str(exc).lower():
                return 0  # nobody has queued a job of this type yet
            raise
        for group in groups:
            if group["name"] != CONSUMER_GROUP:
                continue
            pending = int(group.get("pending") or 0)
            lag = group.get("lag")
            if lag is None:  # Redis cannot tell (entries deleted from the stream): count what is left
                lag = max(0, int(self.redis.xlen(stream)) - pending)
                log.info("stream lag unknown: using its length", extra={"queue": job_type, "lag": lag})
            return int(lag) + pending
        return int(self.redis.xlen(stream))  # no consumer has started yet: every entry is waiting

    def backlogs(self, job_types: list[str]) -> dict[str, int]:
        """Backlog of each job type; raises ``redis.RedisError`` if any cannot be read."""
        return {job_type: self.backlog(job_type) for job_type in job_types}
