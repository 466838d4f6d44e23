"""The platform's Redis: one client, and :class:`JobQueue`, the parts that share it.

Each part lives in its own module and can be used alone: job records
(:mod:`~cellkiosk.core.job_store`), batches (:mod:`~cellkiosk.core.batches`),
the work streams (:mod:`~cellkiosk.core.streams`), idempotency keys
(:mod:`~cellkiosk.core.idempotency`), ownership and rate limits
(:mod:`~cellkiosk.core.ownership`) and housekeeping
(:mod:`~cellkiosk.core.housekeeping`). Services take a ``JobQueue``, which is all of them on one
connection pool.
"""

from __future__ import annotations

import redis

from cellkiosk.core.batches import BatchStore
from cellkiosk.core.housekeeping import Housekeeping
from cellkiosk.core.idempotency import IdempotencyStore
from cellkiosk.core.ownership import OwnershipStore
from cellkiosk.core.streams import Delivery, StreamQueue

__all__ = ["Delivery", "JobQueue", "connect_redis"]


def connect_redis(url: str, socket_timeout_s: float = 30.0) -> redis.Redis:
    """A client for ``url`` returning str; its socket timeout outlasts every blocking read we do."""
    return redis.Redis.from_url(
        url, decode_responses=True, socket_timeout=socket_timeout_s, socket_connect_timeout=5, health_check_interval=30
    )


class JobQueue(BatchStore, StreamQueue, IdempotencyStore, OwnershipStore, Housekeeping):
    """Every Redis part of the platform on one connection pool."""

    def __init__(self, client: redis.Redis) -> None:
        BatchStore.__init__(self, client)  # the others only keep the client, which this sets
