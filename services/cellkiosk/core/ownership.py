"""Who owns what, and how fast they may go: upload owners, per-owner job lists, rate limits.

An owner is the fingerprint of an API key (:func:`key_fingerprint`), never the
key: keys are not stored in Redis, logged, or written into results.
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from typing import Any

import redis
from limits import RateLimitItemPerMinute
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from cellkiosk.core.jobs import ALL_JOBS, Job, owner_jobs_key, upload_owner_key

OPEN_OWNER = "open"  # the one owner of a server without API keys


def key_fingerprint(api_key: str) -> str:
    """A short, stable, one-way name for an API key (SHA-256, 16 hex digits)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


class OwnershipStore:
    """Upload owners, job lists by owner and per-minute request counters."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis: Any = client

    def record_upload(self, upload_id: str, owner: str, ttl_s: int) -> None:
        """Remember who made an upload, as long as the upload is kept."""
        self.redis.set(upload_owner_key(upload_id), owner, ex=ttl_s)

    def upload_owner(self, upload_id: str) -> str | None:
        """The owner of an upload, or None when unknown (expired, or made before owners were recorded)."""
        owner = self.redis.get(upload_owner_key(upload_id))
        return str(owner) if owner is not None else None

    def index_job(self, job: Job, ttl_s: int) -> None:
        """List a top-level job under its owner and in the admin's list of all jobs."""
        pipe = self.redis.pipeline(transaction=False)
        for key in (owner_jobs_key(job.owner or OPEN_OWNER), ALL_JOBS):
            pipe.zadd(key, {job.id: job.created_at})
            pipe.zremrangebyscore(key, "-inf", time.time() - 2 * ttl_s)  # long expired: forget
        pipe.execute()

    def listed_jobs(self, owner: str | None, limit: int) -> list[str]:
        """Newest first: the ids of an owner's jobs (``None``: everybody's)."""
        key = ALL_JOBS if owner is None else owner_jobs_key(owner)
        return list(self.redis.zrevrange(key, 0, limit - 1))

    def unlist_jobs(self, owner: str | None, job_ids: list[str]) -> None:
        """Drop expired jobs from a list."""
        if job_ids:
            self.redis.zrem(ALL_JOBS if owner is None else owner_jobs_key(owner), *job_ids)

    @functools.cached_property
    def rate_limiter(self) -> MovingWindowRateLimiter:
        """The moving-window limiter, on this client's connection pool (keys ``rate/...``)."""
        storage = RedisStorage("redis://", connection_pool=self.redis.connection_pool, key_prefix="rate")
        return MovingWindowRateLimiter(storage)

    def rate_hit(self, kind: str, owner: str, per_minute: int) -> float | None:
        """Count one request; None when within ``per_minute``, else the seconds until one is allowed again.

        A moving window (the ``limits`` library's, in this Redis): at most
        ``per_minute`` requests in any 60 s, so no burst of twice the limit
        across a minute boundary. A refused request is not counted.
        """
        item = RateLimitItemPerMinute(per_minute)
        if self.rate_limiter.hit(item, kind, owner):
            return None
        reset_at = self.rate_limiter.get_window_stats(item, kind, owner).reset_time
        return float(max(1, math.ceil(reset_at - time.time())))
