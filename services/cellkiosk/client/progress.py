"""Progress of a batch run: rich bars on a terminal, nothing in quiet mode."""

from __future__ import annotations

import sys
import threading
from typing import Protocol

from cellkiosk.core.jobs import JobStatus


class Reporter(Protocol):
    """What a batch run tells the person watching it."""

    def start(self, files: int) -> None:
        """The run found ``files`` files and starts hashing them."""

    def planned(self, jobs: int) -> None:
        """Hashing found ``jobs`` distinct contents: one job each."""

    def hashed(self) -> None:
        """One more file hashed."""

    def uploaded(self) -> None:
        """One more content uploaded (or skipped: already uploaded or done)."""

    def finished(self, status: str, skipped: bool = False) -> None:
        """One more content finished with a job status."""

    def message(self, text: str) -> None:
        """A line for the person (a warning, a retry)."""

    def close(self) -> None:
        """The run is over."""


class QuietReporter:
    """Reports nothing (``--quiet``); warnings still go to stderr."""

    def start(self, files: int) -> None:
        """Nothing."""

    def planned(self, jobs: int) -> None:
        """Nothing."""

    def hashed(self) -> None:
        """Nothing."""

    def uploaded(self) -> None:
        """Nothing."""

    def finished(self, status: str, skipped: bool = False) -> None:
        """Nothing."""

    def message(self, text: str) -> None:
        """Print to stderr."""
        print(text, file=sys.stderr)

    def close(self) -> None:
        """Nothing."""


class RichReporter:
    """Three bars on stderr: files hashed, uploads, jobs finished (with done/failed/skipped counts and ETA)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.counts = {"done": 0, "failed": 0, "skipped": 0}
        self._lock = threading.Lock()

    def start(self, files: int) -> None:
        """Show the hashing bar."""
        self.progress.start()
        self.hashing = self.progress.add_task("hashed", total=files, counts="")

    def planned(self, jobs: int) -> None:
        """Show the upload and job bars."""
        self.uploads = self.progress.add_task("uploaded", total=jobs, counts="")
        self.jobs = self.progress.add_task("finished", total=jobs, counts="")

    def hashed(self) -> None:
        """Advance the hashing bar."""
        self.progress.advance(self.hashing)

    def uploaded(self) -> None:
        """Advance the upload bar."""
        self.progress.advance(self.uploads)

    def finished(self, status: str, skipped: bool = False) -> None:
        """Advance the jobs bar and its counts."""
        with self._lock:
            ok = status == JobStatus.DONE.value
            self.counts["skipped" if skipped else "done" if ok else "failed"] += 1
            text = " ".join(f"{k} {v}" for k, v in self.counts.items() if v)
        self.progress.update(self.jobs, advance=1, counts=text)

    def message(self, text: str) -> None:
        """Print above the bars."""
        self.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        """Stop the live display."""
        self.progress.stop()


def make_reporter(quiet: bool) -> Reporter:
    """Rich bars, or nothing when ``quiet``."""
    return QuietReporter() if quiet else RichReporter()
