"""Batches: a parent job's children, counted once each as they finish; cancelling down the tree."""

from __future__ import annotations

import redis

from cellkiosk.core.job_store import JobStore
from cellkiosk.core.jobs import Action, Job, JobStatus, children_key, finished_children_key, job_key, queue_key

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


class BatchStore(JobStore):
    """Job records plus the parent/child bookkeeping of batches."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client)
        self._count_child = client.register_script(COUNT_CHILD_SCRIPT)

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

    def request_cancel(self, job_id: str, ttl_s: int) -> Job | None:
        """Cancel a queued job now; flag a running one so it stops at its next stage (children too)."""
        job = self.get(job_id)
        if job is None or job.status.terminal:
            return job
        self.update(job_id, cancel_requested=True)
        if job.status == JobStatus.QUEUED:
            self.finish(job_id, JobStatus.CANCELLED, ttl_s, error="cancelled by user")
        for child in self.children(job_id):
            self.request_cancel(child, ttl_s)
        return self.get(job_id)
