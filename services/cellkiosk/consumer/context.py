"""What a pipeline sees of the platform while it runs one job."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cellkiosk.core.errors import CancelledError
from cellkiosk.core.jobs import Job, JobStatus, Stage, result_prefix
from cellkiosk.core.queue import JobQueue
from cellkiosk.core.settings import ConsumerSettings
from cellkiosk.core.storage import Storage


@dataclass
class JobContext:
    """A running job: its record, the clients, stage bookkeeping and timings."""

    job: Job
    queue: JobQueue
    storage: Storage
    settings: ConsumerSettings
    log: logging.LoggerAdapter[logging.Logger]
    timings: dict[str, float] = field(default_factory=dict)
    _stage: Stage | None = None
    _stage_started: float = 0.0
    _last_progress_write: float = 0.0
    deferred: Callable[[], None] | None = None  # the job's last part, for the worker's finisher thread

    def defer(self, finish: Callable[[], None]) -> None:
        """Let the worker run ``finish`` (encode, upload, complete) on its finisher thread while it starts
        the next job; the message is acked only when ``finish`` has run (or at once, when that is off)."""
        self.deferred = finish

    def stage(self, stage: Stage, progress: float) -> None:
        """Enter a stage (a cancel point): record the last one's time, publish progress."""
        self._close_stage()
        if self.queue.cancel_requested(self.job.id):
            raise CancelledError("cancelled by user")
        self._stage, self._stage_started = stage, time.perf_counter()
        self.queue.update(self.job.id, stage=stage, progress=round(progress, 1))
        self.log.info("stage", extra={"stage": stage.value, "progress": progress})

    def progress(self, progress: float) -> None:
        """Publish progress within a stage (at most ~4 writes a second)."""
        now = time.monotonic()
        if now - self._last_progress_write > 0.25:
            self._last_progress_write = now
            self.queue.update(self.job.id, progress=round(progress, 1))

    def lap(self, key: str) -> None:
        """Book the time since the stage (or its last lap) began under ``key``, e.g. ``decode`` within
        ``preprocess``; the stage's own figure keeps only what follows."""
        now = time.perf_counter()
        self.timings[key] = round(self.timings.get(key, 0.0) + now - self._stage_started, 4)
        self._stage_started = now

    def _close_stage(self) -> None:
        if self._stage is not None:
            key = self._stage.value
            self.timings[key] = round(self.timings.get(key, 0.0) + time.perf_counter() - self._stage_started, 4)
            self._stage = None

    def snapshot_timings(self) -> dict[str, float]:
        """Stage timings so far, the current stage included up to now (for job.json)."""
        out = dict(self.timings)
        if self._stage is not None:
            key = self._stage.value
            out[key] = round(out.get(key, 0.0) + time.perf_counter() - self._stage_started, 4)
        return out

    def finish_timings(self) -> dict[str, float]:
        """Close the current stage and return all stage timings (seconds)."""
        self._close_stage()
        return dict(self.timings)

    def complete(self, output: str) -> None:
        """Mark the job done with its result archive at ``output`` and start its expiry clock."""
        ttl_s = self.settings.job_ttl_s
        self.queue.finish(
            self.job.id, JobStatus.DONE, ttl_s, output=output, progress=100.0, timings=self.finish_timings()
        )
        self.queue.schedule_cleanup(result_prefix(self.job.id), time.time() + ttl_s)

    def extra(self) -> dict[str, Any]:
        """Fields for log records about this job."""
        return {"job_id": self.job.id, "type": self.job.type}
