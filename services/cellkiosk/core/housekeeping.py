"""Housekeeping in Redis: storage prefixes due for deletion, consumer heartbeats, cluster counters."""

from __future__ import annotations

import json
from typing import Any

import redis

from cellkiosk.core.jobs import EXPIRY_ZSET, HEARTBEAT_PREFIX, STATS_JOBS, STATS_STAGES


class Housekeeping:
    """Cleanup schedule, heartbeats and stats."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis: Any = client

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

    def stats(self) -> tuple[dict[str, str], dict[str, str]]:
        """Cluster-wide counters: jobs by type|status, stage seconds by type|stage|sum/count."""
        return self.redis.hgetall(STATS_JOBS), self.redis.hgetall(STATS_STAGES)
