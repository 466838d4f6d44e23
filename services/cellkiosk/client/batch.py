"""Analyse a folder of images: hash, upload, submit, follow, download, summarise, resume."""

from __future__ import annotations

import csv
import threading
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellkiosk.client.api import TERMINAL, Client, count_rows
from cellkiosk.client.discover import InputFile
from cellkiosk.client.http import ApiError, ServerUnreachable
from cellkiosk.client.progress import Reporter
from cellkiosk.client.state import Entry, RunState, sha256_file, spec_fingerprint
from cellkiosk.core.jobs import JobStatus, JobType

SUMMARY_NAME = "summary.csv"
SUMMARY_COLUMNS = ("file", "job_id", "status", "cells", "seconds", "error")
PENDING = "pending"  # never submitted (the run was interrupted first)
SUBMITTING = "submitting"
FAILED_STATUSES = {JobStatus.FAILED.value, JobStatus.CANCELLED.value}


@dataclass
class BatchOptions:
    """What to run on every file."""

    job_type: str = JobType.SEGMENTATION.value
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    concurrency: int = 8

    @property
    def spec(self) -> str:
        """Fingerprint of the analysis (see :func:`spec_fingerprint`)."""
        return spec_fingerprint(self.job_type, self.model, self.params)


@dataclass
class BatchResult:
    """One summary row per input file, and whether the run was cut short."""

    rows: list[dict[str, Any]]
    interrupted: bool = False
    unreachable: str | None = None

    @property
    def failures(self) -> list[dict[str, Any]]:
        """Rows of files whose job failed or was cancelled."""
        return [r for r in self.rows if r["status"] in FAILED_STATUSES]


class BatchRun:
    """One ``cellkiosk submit`` run over a list of files into ``results_dir``.

    Every distinct content (SHA-256) is one job; files with the same content share it and get
    a copy of its results each. The state file records each content's job as soon as it exists
    and its outcome as soon as its results are unpacked, so a re-run skips what is done, follows
    jobs still running on the server, and resubmits what failed.
    """

    def __init__(
        self, client: Client, results_dir: Path, options: BatchOptions, reporter: Reporter, stop: threading.Event
    ) -> None:
        self.client = client
        self.results_dir = results_dir
        self.options = options
        self.reporter = reporter
        self.stop = stop
        self.state = RunState(results_dir)
        if self.state.warning:
            reporter.message(self.state.warning)

    def run(self, files: list[InputFile]) -> BatchResult:
        """Process every file with ``options.concurrency`` threads; Ctrl-C stops cleanly."""
        hashes: dict[InputFile, str] = {}
        unreadable: dict[InputFile, str] = {}
        pool = ThreadPoolExecutor(max_workers=max(1, self.options.concurrency), thread_name_prefix="cellkiosk")
        result = BatchResult([])
        try:
            self.reporter.start(len(files))
            wait_all([pool.submit(self._hash, f, hashes, unreadable) for f in files])
            groups: dict[str, list[InputFile]] = defaultdict(list)
            for f in files:
                if f in hashes:
                    groups[hashes[f]].append(f)
            self.reporter.planned(len(groups))
            wait_all([pool.submit(self._process, sha, group) for sha, group in groups.items()])
        except KeyboardInterrupt:
            result.interrupted = True
        except ServerUnreachable as exc:
            result.unreachable = str(exc)
        finally:
            self.stop.set()  # workers still polling or about to start return at once
            pool.shutdown(wait=True, cancel_futures=True)
            self.reporter.close()
        result.rows = [self._row(f, hashes.get(f), unreadable.get(f)) for f in files]
        write_summary(self.results_dir / SUMMARY_NAME, result.rows)
        return result

    def _hash(self, f: InputFile, hashes: dict[InputFile, str], unreadable: dict[InputFile, str]) -> None:
        try:
            hashes[f] = sha256_file(f.path)
        except OSError as exc:
            unreadable[f] = f"cannot read the file: {exc}"
        self.reporter.hashed()

    def _process(self, sha: str, files: list[InputFile]) -> None:
        """Run (or resume, or skip) the job of one content and unpack its results for every file."""
        if self.stop.is_set():
            return
        outputs = [f.out_rel.as_posix() for f in files]
        entry = self.state.get(sha)
        if entry and self._already_done(entry, outputs):
            self.reporter.uploaded()
            self.reporter.finished(entry.status, skipped=True)
            return
        try:
            job_id = self._reusable_job(entry) or self._submit(sha, files[0])
            self.reporter.uploaded()
            job = self.client.wait(job_id, should_stop=self.stop.is_set)
            if job["status"] not in TERMINAL:
                return  # interrupted: the state keeps the job id, a re-run follows it
            self._finish(sha, files[0].rel.as_posix(), job, outputs)
        except ServerUnreachable:
            raise
        except ApiError as exc:  # the server refused this file (too large, bad params, ...)
            self._fail(sha, files[0], exc.detail)
        except OSError as exc:  # the local file vanished, or the results folder is not writable
            self._fail(sha, files[0], f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # one file's surprise must not sink the others (STYLE 7)
            self._fail(sha, files[0], f"unexpected {type(exc).__name__}: {exc}")

    def _already_done(self, entry: Entry, outputs: list[str]) -> bool:
        """Done with the same settings, and unpacked in every folder these files need."""
        if entry.status != JobStatus.DONE.value or entry.spec != self.options.spec:
            return False
        return all(o in entry.outputs and (self.results_dir / o).is_dir() for o in outputs)

    def _fail(self, sha: str, first: InputFile, reason: str) -> None:
        self.state.put(sha, Entry(first.rel.as_posix(), self.options.spec, JobStatus.FAILED.value, error=reason))
        self.reporter.finished(JobStatus.FAILED.value)

    def _reusable_job(self, entry: Entry | None) -> str | None:
        """The job of a previous run if it used the same settings and can still succeed."""
        if entry is None or entry.job_id is None or entry.spec != self.options.spec:
            return None
        if entry.status in FAILED_STATUSES:
            return None
        try:
            job = self.client.status(entry.job_id)
        except ApiError as exc:
            if exc.status_code == 404:
                return None  # expired on the server
            raise
        return None if job["status"] in FAILED_STATUSES else entry.job_id

    def _submit(self, sha: str, first: InputFile) -> str:
        rel = first.rel.as_posix()
        self.state.put(sha, Entry(rel, self.options.spec, SUBMITTING))
        key = self.client.upload(first.path, first.path.name)
        job_id = self.client.create_job(key, self.options.job_type, self.options.model, self.options.params)
        self.state.put(sha, Entry(rel, self.options.spec, JobStatus.QUEUED.value, job_id=job_id))
        return job_id

    def _finish(self, sha: str, rel: str, job: dict[str, Any], outputs: list[str]) -> None:
        entry = Entry(rel, self.options.spec, job["status"], job_id=job["id"], error=job.get("error"))
        if job.get("finished_at") and job.get("created_at"):
            entry.seconds = round(float(job["finished_at"]) - float(job["created_at"]), 3)
        if job["status"] == JobStatus.DONE.value:
            try:
                for out in outputs:
                    self.client.download(job["id"], self.results_dir / out)
            except ApiError as exc:  # e.g. 410: the result expired between done and download
                entry.status, entry.error = JobStatus.FAILED.value, f"download failed: {exc.detail}"
            else:
                entry.outputs = outputs
                entry.cells = count_rows(self.results_dir / outputs[0] / "cells.csv")
        self.state.put(sha, entry)
        self.reporter.finished(entry.status)

    def _row(self, f: InputFile, sha: str | None, unreadable: str | None) -> dict[str, Any]:
        empty = {"file": f.rel.as_posix(), "job_id": "", "cells": "", "seconds": ""}
        if unreadable:
            return {**empty, "status": JobStatus.FAILED.value, "error": unreadable}
        entry = self.state.get(sha) if sha else None
        if entry is None or entry.spec != self.options.spec:
            return {**empty, "status": PENDING, "error": ""}
        status = PENDING if entry.status == SUBMITTING else entry.status
        if status == JobStatus.DONE.value and f.out_rel.as_posix() not in entry.outputs:
            status = PENDING  # the same content under another name, not unpacked there yet
        return {
            "file": f.rel.as_posix(),
            "job_id": entry.job_id or "",
            "status": status,
            "cells": "" if entry.cells is None else entry.cells,
            "seconds": "" if entry.seconds is None else entry.seconds,
            "error": entry.error or "",
        }


def wait_all(futures: list[Future[None]]) -> None:
    """Wait for every future, re-raising the first error (the caller then stops the rest)."""
    for fut in as_completed(futures):
        fut.result()


def write_summary(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write summary.csv (file, job_id, status, cells, seconds, error), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=SUMMARY_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
