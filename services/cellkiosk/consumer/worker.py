"""The consumer loop: claim a job, run its pipeline, record the outcome, ack.

One broad ``except`` sits here, at the loop boundary: a bad input fails the
job with its readable reason, a transient error leaves the message for a
retry, anything else fails the job with a short reason (the traceback goes
to the log with the job id).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

import redis

from cellkiosk.consumer.batch import collect
from cellkiosk.consumer.context import JobContext
from cellkiosk.consumer.finisher import Finisher
from cellkiosk.consumer.pipelines import PIPELINES, Services
from cellkiosk.core.errors import BadInputError, CancelledError, TransientError, UnavailableError
from cellkiosk.core.jobs import Action, JobStatus, Stage
from cellkiosk.core.logs import job_logger
from cellkiosk.core.queue import Delivery, JobQueue
from cellkiosk.core.settings import ConsumerSettings
from cellkiosk.core.storage import Storage, StorageError, StorageFullError

log = logging.getLogger(__name__)
REDIS_RETRY_S = 2.0  # wait between tries while Redis is unreachable
Pipeline = Callable[[JobContext, Services], None]


class Worker:
    """Consumes the configured queues until ``stop`` is set."""

    def __init__(self, settings: ConsumerSettings, queue: JobQueue, storage: Storage, services: Services) -> None:
        self.settings, self.queue, self.storage, self.services = settings, queue, storage, services
        self.name = settings.consumer_name or f"{socket.gethostname()}-{os.getpid()}"
        self.stop = threading.Event()
        self.current: Delivery | None = None
        self.finisher = Finisher()  # the previous job's upload, while the next one runs
        self.jobs_handled = 0

    # -- loop ----------------------------------------------------------------
    def run(self) -> None:
        """Claim and run jobs until stopped; Redis errors are waited out, never the end of the loop."""
        keepalive = threading.Thread(target=self._keepalive, name="keepalive", daemon=True)
        keepalive.start()
        log.info("consumer started", extra={"consumer": self.name, "queues": self.settings.queues})
        resumed = False
        next_cleanup = 0.0
        while not self.stop.is_set():
            try:
                if not resumed:  # what this name claimed before a restart, then the queues
                    self._resume_own()
                    resumed = True
                if time.monotonic() >= next_cleanup:
                    self.cleanup_expired()
                    next_cleanup = time.monotonic() + self.settings.cleanup_interval_s
                delivery = self._claim_any()
                if delivery is not None:
                    self.handle(delivery)
            except redis.ResponseError as exc:
                if "NOGROUP" in str(exc):  # the stream was deleted (e.g. FLUSHDB): recreate
                    resumed = False
                    continue
                log.error("redis refused a command, retrying", extra={"error": str(exc)})
                self.stop.wait(REDIS_RETRY_S)
            except redis.RedisError as exc:  # down, restarting, loading its AOF: the message stays pending
                log.warning("redis unavailable, retrying", extra={"error": str(exc)})
                self.stop.wait(REDIS_RETRY_S)
        self.finisher.wait()
        log.info("consumer stopped", extra={"consumer": self.name, "jobs": self.jobs_handled})

    def _resume_own(self) -> None:
        for job_type in self.settings.queues:
            self.queue.ensure_group(job_type)
        for job_type in self.settings.queues:
            for pending in self.queue.own_pending(job_type, self.name):
                if not self.stop.is_set():
                    self.handle(pending)

    def _claim_any(self) -> Delivery | None:
        block = max(self.settings.block_ms // max(len(self.settings.queues), 1), 100)
        for job_type in self.settings.queues:
            if self.stop.is_set():
                return None
            claimed = self.queue.claim(job_type, self.name, block, self.settings.visibility_timeout_s)
            if claimed:
                return claimed
        return None

    def _keepalive(self) -> None:
        while True:
            try:
                self.queue.heartbeat(
                    self.name,
                    int(self.settings.heartbeat_s * 3),
                    {"queues": self.settings.queues, "jobs": self.jobs_handled, "ts": time.time()},
                )
                for delivery in (self.current, self.finisher.in_flight):
                    if delivery is not None:
                        self.queue.touch(delivery, self.name)
            except redis.RedisError as exc:
                log.warning("heartbeat failed", extra={"error": str(exc)})
            if self.stop.wait(self.settings.heartbeat_s / 2):
                return

    # -- one message -----------------------------------------------------------
    def handle(self, delivery: Delivery) -> None:
        """Run one delivered job to an outcome and ack it (unless it should be retried)."""
        job = self.queue.get(delivery.job_id)
        if job is None or job.status.terminal:
            self.queue.ack(delivery)  # expired, cancelled while queued, or finished before a crash
            return
        jlog = job_logger(log, job.id)
        if delivery.action == Action.RUN:
            attempts = self.queue.count_attempt(job.id)
            if attempts > self.settings.max_attempts:
                reason = f"gave up after {attempts - 1} attempts (the consumer kept failing or dying on this input)"
                self.queue.finish(job.id, JobStatus.FAILED, self.settings.job_ttl_s, error=reason)
                self.queue.dead_letter(delivery, reason)
                self.queue.ack(delivery)
                self._count_for_parent(job.parent, job.id, ok=False)
                return
            if job.status == JobStatus.QUEUED:
                self.queue.update(job.id, JobStatus.RUNNING, started_at=time.time())
            if job.parent:
                parent = self.queue.get(job.parent)
                if parent and parent.status == JobStatus.QUEUED:
                    self.queue.update(job.parent, JobStatus.RUNNING, started_at=time.time(), stage=Stage.CHILDREN)
        ctx = JobContext(job, self.queue, self.storage, self.settings, jlog)
        self.current = delivery
        try:
            if delivery.action == Action.COLLECT:
                retry = self._guarded(ctx, lambda: collect(ctx))
            else:
                pipeline: Pipeline = PIPELINES[job.type]
                retry = self._guarded(ctx, lambda: pipeline(ctx, self.services))
        finally:
            self.current = None
            self.jobs_handled += 1
        finish = ctx.deferred
        if finish is not None and not retry:  # set as a pipeline's last step: it returned, finish the job
            ctx.deferred = None
            if self.settings.finish_in_background:
                self.finisher.submit(delivery, lambda: self._settle(ctx, delivery, self._guarded(ctx, finish)))
                return
            retry = self._guarded(ctx, finish)
        self._settle(ctx, delivery, retry)

    def _guarded(self, ctx: JobContext, step: Callable[[], None]) -> bool:
        """Run a job's step; a failure becomes the job's outcome. True: transient, leave it for a retry."""
        job, jlog = ctx.job, ctx.log
        try:
            step()
        except BadInputError as exc:
            jlog.info("job failed: bad input", extra={"reason": str(exc)})
            self._fail(ctx, str(exc))
        except UnavailableError as exc:
            jlog.error("job failed: a dependency stayed unreachable", extra={"reason": str(exc)})
            self._fail(ctx, str(exc))
        except StorageFullError as exc:  # nothing was stored; a retry would only fill the disk again
            jlog.error("job failed: storage full", extra={"reason": str(exc)})
            self._fail(ctx, f"{exc}; the results could not be saved: ask the operator to free space, then run it again")
        except CancelledError:
            jlog.info("job cancelled")
            self.queue.finish(
                job.id,
                JobStatus.CANCELLED,
                self.settings.job_ttl_s,
                error="cancelled by user",
                timings=ctx.finish_timings(),
            )
        except (TransientError, StorageError, redis.ConnectionError, redis.TimeoutError) as exc:
            jlog.warning("transient failure, will retry", extra={"error": str(exc)}, exc_info=True)
            return True
        except Exception as exc:  # noqa: BLE001 - the loop boundary: never crash the consumer
            jlog.exception("job failed: internal error")
            stage = ctx._stage.value if ctx._stage else "start"
            self._fail(
                ctx,
                f"internal error during {stage} ({type(exc).__name__}); "
                f"the server log has the details under job id {job.id}",
            )
        return False

    def _settle(self, ctx: JobContext, delivery: Delivery, retry: bool) -> None:
        """Ack the message (unless it is to be retried) and count a child's outcome for its batch."""
        if retry:
            return  # un-acked: redelivered after the visibility timeout
        self.queue.ack(delivery)
        parent = ctx.job.parent
        final = self.queue.get(ctx.job.id)
        if final is not None and final.status.terminal and parent:
            self._count_for_parent(parent, ctx.job.id, ok=final.status == JobStatus.DONE)

    def _fail(self, ctx: JobContext, reason: str) -> None:
        self.queue.finish(
            ctx.job.id, JobStatus.FAILED, self.settings.job_ttl_s, error=reason, timings=ctx.finish_timings()
        )

    def _count_for_parent(self, parent_id: str | None, child_id: str, ok: bool) -> None:
        if not parent_id:
            return
        if self.queue.count_child_finished(parent_id, child_id, ok):
            parent = self.queue.get(parent_id)
            if parent is not None and not parent.status.terminal:
                self.queue.enqueue(parent.type, parent_id, Action.COLLECT)
        else:
            parent = self.queue.get(parent_id)
            if parent is not None and parent.children_total:
                finished = parent.children_done + parent.children_failed
                self.queue.update(parent_id, progress=round(10 + 85 * finished / parent.children_total, 1))

    # -- housekeeping ------------------------------------------------------------
    def cleanup_expired(self) -> None:
        """Delete storage prefixes whose jobs or uploads have expired."""
        try:
            for prefix in self.queue.due_cleanups(time.time()):
                deleted = self.storage.delete_prefix(prefix)
                self.queue.cleanup_done(prefix)
                log.info("expired files deleted", extra={"prefix": prefix, "objects": deleted})
        except (redis.RedisError, StorageError) as exc:
            log.warning("cleanup failed", extra={"error": str(exc)})
