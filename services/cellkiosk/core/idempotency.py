"""Idempotency keys: a repeated job-creating request gets the job the first one created."""

from __future__ import annotations

from typing import Any

import redis

from cellkiosk.core.jobs import request_key


class IdempotencyStore:
    """``Idempotency-Key`` → (job id, request fingerprint), remembered as long as jobs are kept."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis: Any = client

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
