"""Job records in Redis hashes: create, read, forward-only updates, finishing, events.

The Lua scripts here guard every write of a status: it only moves forward
(ranks from :data:`cellkiosk.core.jobs.STATUS_RANK`), and a finished job never
changes again. Finishing sets the status, the fields, the expiry and the
counters in one script, so a crash can never leave a finished job without its
TTL.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from cellkiosk.core.jobs import (
    STATS_JOBS,
    STATS_STAGES,
    STATUS_RANK,
    Action,
    Job,
    JobStatus,
    active_jobs_key,
    children_key,
    events_channel,
    finished_children_key,
    job_key,
    queue_key,
)


def lua_rank_table() -> str:
    """``{queued=0, running=1, …}``: the status ranks as a Lua table literal, from STATUS_RANK."""
    return "{" + ", ".join(f"{status.value}={rank}" for status, rank in STATUS_RANK.items()) + "}"


FINAL_RANK = max(STATUS_RANK.values())

# Set fields only if the status moves forward; a finished job never changes again.
UPDATE_SCRIPT = f"""
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return -1 end
local rank = {lua_rank_table()}
if rank[cur] == {FINAL_RANK} then return 0 end
local new = ARGV[1]
if new ~= '' and rank[new] < rank[cur] then return 0 end
if #ARGV > 1 then redis.call('HSET', KEYS[1], unpack(ARGV, 2)) end
if new ~= '' then redis.call('HSET', KEYS[1], 'status', new) end
return 1
"""

# KEYS: job, children list, finished-children set, stats:jobs, stats:stages
# ARGV: final status, ttl_s, timings JSON, field, value, ...
FINISH_SCRIPT = f"""
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return -1 end
local rank = {lua_rank_table()}
if rank[cur] == {FINAL_RANK} then return 0 end
local status, ttl = ARGV[1], tonumber(ARGV[2])
if #ARGV > 3 then redis.call('HSET', KEYS[1], unpack(ARGV, 4)) end
redis.call('HSET', KEYS[1], 'status', status)
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('EXPIRE', KEYS[3], ttl)
local f = redis.call('HMGET', KEYS[1], 'type', 'owner', 'parent')
local jtype = f[1] or 'unknown'
redis.call('HINCRBY', KEYS[4], jtype .. '|' .. status, 1)
for stage, seconds in pairs(cjson.decode(ARGV[3])) do
  redis.call('HINCRBYFLOAT', KEYS[5], jtype .. '|' .. stage .. '|sum', tostring(seconds))
  redis.call('HINCRBY', KEYS[5], jtype .. '|' .. stage .. '|count', 1)
end
if f[2] and not f[3] then redis.call('ZREM', '{active_jobs_key("")}' .. f[2], KEYS[1]) end
return 1
"""


def _flat_fields(fields: dict[str, Any]) -> list[str]:
    flat = Job.model_construct(**fields).to_redis() if fields else {}
    argv: list[str] = []
    for key, value in flat.items():
        if key in fields:
            argv += [key, value]
    return argv


class JobStore:
    """Job hashes on one Redis client: the single writer of statuses."""

    def __init__(self, client: redis.Redis) -> None:
        # decode_responses=True clients return str; redis-py's stubs cannot express that, hence Any.
        self.redis: Any = client
        self._update = client.register_script(UPDATE_SCRIPT)
        self._finish = client.register_script(FINISH_SCRIPT)

    def create(self, job: Job, enqueue: bool = True) -> Job:
        """Store a new job and (unless it is a parent waiting for children) queue it."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(job_key(job.id), mapping=job.to_redis())
        if enqueue:
            pipe.xadd(queue_key(job.type), {"job": job.id, "action": Action.RUN.value})
        if job.owner and not job.parent:  # a batch counts once, as its parent
            pipe.zadd(active_jobs_key(job.owner), {job_key(job.id): job.created_at})
        pipe.hincrby(STATS_JOBS, f"{job.type}|created", 1)
        pipe.execute()
        self.publish(job)
        return job

    def get(self, job_id: str) -> Job | None:
        """The job, or None when unknown or expired."""
        fields = self.redis.hgetall(job_key(job_id))
        return Job.from_redis(fields) if fields else None

    def update(self, job_id: str, status: JobStatus | None = None, **fields: Any) -> bool:
        """Set fields (and maybe a later status); False when the job is finished or unknown."""
        argv = [status.value if status else "", *_flat_fields(fields)]
        changed = self._update(keys=[job_key(job_id)], args=argv) == 1
        if changed:
            self._publish_current(job_id)
        return changed

    def count_attempt(self, job_id: str) -> int:
        """Count one more delivery of a job to a consumer; returns the count."""
        return int(self.redis.hincrby(job_key(job_id), "attempts", 1))

    def cancel_requested(self, job_id: str) -> bool:
        """Whether someone asked to cancel the job."""
        return bool(self.redis.hget(job_key(job_id), "cancel_requested") == "1")

    def publish(self, job: Job) -> None:
        """Announce a job's new state on its events channel."""
        self.redis.publish(events_channel(job.id), job.model_dump_json())

    def _publish_current(self, job_id: str) -> None:
        job = self.get(job_id)
        if job:
            self.publish(job)

    def finish(self, job_id: str, status: JobStatus, ttl_s: int, **fields: Any) -> bool:
        """Move a job to a final status, count it and start its expiry clock, in one atomic script."""
        fields = {"finished_at": time.time(), **fields}
        timings = json.dumps({k: float(v) for k, v in (fields.get("timings") or {}).items()})
        keys = [job_key(job_id), children_key(job_id), finished_children_key(job_id), STATS_JOBS, STATS_STAGES]
        argv = [status.value, str(int(ttl_s)), timings, *_flat_fields(fields)]
        changed = self._finish(keys=keys, args=argv) == 1
        if changed:
            self._publish_current(job_id)
        return changed

    def active_jobs(self, owner: str) -> int:
        """How many of an owner's jobs (batches count once) are queued or running."""
        return int(self.redis.zcard(active_jobs_key(owner)))
