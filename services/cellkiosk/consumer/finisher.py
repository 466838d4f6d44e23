"""The finisher: one thread that runs the last part of a job (encode, upload, ack) while the next job starts.

A segmentation job's archive encoding and upload run mostly in C code that releases the GIL (zlib, PNG,
file and socket writes), and the compute stages before it leave a core idle much of the time (the
watershed, measurements and decoding are single-threaded), so on 2 cores the upload of job N overlaps
the compute of job N+1. At most one job is being finished at a time: handing over the next waits for
the previous one, so a slow store slows claiming instead of piling up results in memory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from cellkiosk.core.queue import Delivery

log = logging.getLogger(__name__)


class Finisher:
    """Runs one hand-over at a time on a thread of its own; ``in_flight`` is the delivery being finished."""

    def __init__(self) -> None:
        self.in_flight: Delivery | None = None
        self._thread: threading.Thread | None = None

    def submit(self, delivery: Delivery, finish: Callable[[], None]) -> None:
        """Wait for the previous hand-over, then run ``finish`` in the background."""
        self.wait()
        self.in_flight = delivery
        self._thread = threading.Thread(target=self._run, args=(finish,), name="finisher", daemon=True)
        self._thread.start()

    def _run(self, finish: Callable[[], None]) -> None:
        job_id = self.in_flight.job_id if self.in_flight else None
        try:
            finish()
        except Exception:  # noqa: BLE001 - a thread boundary: the message stays pending and is redelivered
            log.exception("finishing a job failed; its message stays pending", extra={"job_id": job_id})
        finally:
            self.in_flight = None

    def wait(self) -> None:
        """Block until the hand-over in flight (if any) is done."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
