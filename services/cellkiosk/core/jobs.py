"""The job contract: statuses, stages, the Job record and every Redis key name.

Gateway, consumer and autoscaler import this module; nobody writes a status
string or a key by hand.
"""

from __future__ import annotations

import json
import secrets
import time
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

CONSUMER_GROUP = "consumers"
EXPIRY_ZSET = "cleanup"  # storage prefixes to delete, scored by due time
HEARTBEAT_PREFIX = "heartbeat:"
STATS_JOBS = "stats:jobs"  # hash: "<type>|<status or created>" -> count
STATS_STAGES = "stats:stages"  # hash: "<type>|<stage>|sum|count" -> seconds / count


class JobStatus(StrEnum):
    """Where a job is; statuses only move forward (see :data:`STATUS_RANK`)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """True for done, failed and cancelled."""
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})
STATUS_RANK = {
    JobStatus.QUEUED: 0,
    JobStatus.RUNNING: 1,
    JobStatus.DONE: 2,
    JobStatus.FAILED: 2,
    JobStatus.CANCELLED: 2,
}


class Stage(StrEnum):
    """What a running job is doing."""

    DOWNLOAD = "download"
    PREPROCESS = "preprocess"
    SIZE = "size"  # estimating the nuclei's diameter (params.diameter = "auto")
    PREDICT = "predict"
    POSTPROCESS = "postprocess"
    TRACK = "track"
    MEASURE = "measure"
    UPLOAD = "upload"
    FANOUT = "fanout"
    CHILDREN = "children"
    COLLECT = "collect"


class JobType(StrEnum):
    """The analyses cellkiosk runs; each has its own queue."""

    SEGMENTATION = "segmentation"
    TRACKING = "tracking"


JOB_TYPE_DESCRIPTIONS = {
    JobType.SEGMENTATION: (
        "Instance segmentation of every nucleus/cell in 2-D images (each page of a stack separately)."
    ),
    JobType.TRACKING: (
        "Cell tracking in 2-D time-lapse movies (multi-page TIFF or a zip of frames): every frame segmented "
        "(or your label movie), cells linked through time with divisions; tracked labels, lineage, CTC result."
    ),
}


class Action(StrEnum):
    """What a queue message asks a consumer to do with a job."""

    RUN = "run"
    COLLECT = "collect"


def job_key(job_id: str) -> str:
    """Redis hash holding a job."""
    return f"job:{job_id}"


def children_key(job_id: str) -> str:
    """Redis list of a batch parent's child job ids, in input order."""
    return f"job:{job_id}:children"


def finished_children_key(job_id: str) -> str:
    """Redis set of a parent's children already counted as finished (idempotent counting)."""
    return f"job:{job_id}:finished"


def queue_key(job_type: str) -> str:
    """Redis stream feeding one job type's consumers."""
    return f"queue:{job_type}"


def dead_letter_key(job_type: str) -> str:
    """Redis stream of jobs that failed too often to retry."""
    return f"dead:{job_type}"


def request_key(idempotency_key: str) -> str:
    """Redis string remembering which job a client's ``Idempotency-Key`` created (and the request's hash)."""
    return f"request:{idempotency_key}"


def active_jobs_key(owner: str) -> str:
    """Redis sorted set of an owner's queued or running jobs (``job:<id>`` by creation time; batches once)."""
    return f"active:{owner}"


def owner_jobs_key(owner: str) -> str:
    """Redis sorted set of every job an owner created (top-level ids by creation time), for listing."""
    return f"jobs-of:{owner}"


ALL_JOBS = "jobs-of-all"  # sorted set of every top-level job id by creation time (the admin's list)


def upload_owner_key(upload_id: str) -> str:
    """Redis string naming the owner of one upload (expires with the upload)."""
    return f"upload-owner:{upload_id}"


def events_channel(job_id: str) -> str:
    """Pub/sub channel with every change of a job."""
    return f"events:{job_id}"


def upload_prefix(upload_id: str) -> str:
    """Storage prefix of one upload."""
    return f"uploads/{upload_id}/"


def result_prefix(job_id: str) -> str:
    """Storage prefix of a job's results."""
    return f"results/{job_id}/"


def new_id() -> str:
    """A new unguessable id for jobs and uploads: 128 bits from the OS's CSPRNG, as hex."""
    return secrets.token_hex(16)


class Job(BaseModel):
    """A job as stored in its Redis hash."""

    id: str = Field(default_factory=new_id)
    type: str
    model: str
    status: JobStatus = JobStatus.QUEUED
    stage: Stage | None = None
    progress: float = 0.0
    input: str | None = None
    input_name: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    output: str | None = None
    error: str | None = None
    attempts: int = 0
    created_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    parent: str | None = None
    children_total: int = 0
    children_done: int = 0
    children_failed: int = 0
    cancel_requested: bool = False
    owner: str | None = None  # fingerprint of the API key that created the job (never the key itself)

    def to_redis(self) -> dict[str, str]:
        """Flatten to string fields (dicts as JSON, None omitted)."""
        out: dict[str, str] = {}
        for key, value in self.model_dump(mode="json").items():
            if value is None:
                continue
            if isinstance(value, dict | list):
                out[key] = json.dumps(value)
            elif isinstance(value, bool):
                out[key] = "1" if value else "0"
            else:
                out[key] = str(value)
        return out

    @classmethod
    def from_redis(cls, fields: dict[str, str]) -> Job:
        """Parse the Redis hash written by :meth:`to_redis` (and partial updates)."""
        data: dict[str, Any] = dict(fields)
        for key in ("params", "timings"):
            if key in data:
                data[key] = json.loads(data[key])
        if "cancel_requested" in data:
            data["cancel_requested"] = data["cancel_requested"] == "1"
        return cls.model_validate(data)
