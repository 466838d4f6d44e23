"""What ``cellkiosk up`` does while it serves: keep the processes it started alive.

A Valkey that dies is started again on its port from its append-only file; a
consumer that dies is started again with exponential backoff (reset once it
has run for a while). Each restart is logged. A process that exits 0 was asked
to stop (Ctrl-C reaches the whole process group, SIGTERM, ``valkey-cli
shutdown``) and is left stopped; nothing is restarted once shutdown has begun.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cellkiosk.core.embedded import EmbeddedValkey

log = logging.getLogger("cellkiosk.up")


@dataclass
class Backoff:
    """Exponential restart delays: ``first_s``, doubled per quick failure, at most ``max_s``."""

    first_s: float = 1.0
    max_s: float = 60.0
    healthy_after_s: float = 60.0  # a process that ran this long starts again from first_s
    failures: int = 0

    def next_delay_s(self, ran_for_s: float) -> float:
        """The wait before the next start, given how long the last run lasted."""
        if ran_for_s >= self.healthy_after_s:
            self.failures = 0
        delay = min(self.max_s, self.first_s * 2**self.failures)
        self.failures += 1
        return delay


@dataclass
class Supervised:
    """One consumer process and how to start it again."""

    name: str
    start: Callable[[], subprocess.Popen[bytes]]
    process: subprocess.Popen[bytes]
    started_at: float = field(default_factory=time.monotonic)
    backoff: Backoff = field(default_factory=Backoff)
    restart_at: float | None = None
    restarts: int = 0


class Supervisor:
    """A thread that restarts a dead Valkey and dead consumers until :meth:`stop`."""

    def __init__(self, valkey: EmbeddedValkey | None, consumers: list[Supervised], poll_s: float = 0.5) -> None:
        self.valkey = valkey
        self.consumers = consumers
        self.poll_s = poll_s
        self.valkey_backoff = Backoff(first_s=0.5, max_s=30.0)
        self.valkey_restarts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)

    def start(self) -> Supervisor:
        """Begin watching."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching (before shutting the processes down)."""
        self._stop.set()
        self._thread.join(timeout=30)

    def processes(self) -> list[subprocess.Popen[bytes]]:
        """The consumer processes as they are now."""
        return [c.process for c in self.consumers]

    def _run(self) -> None:
        valkey_started = time.monotonic()
        while not self._stop.wait(self.poll_s):
            if self.valkey is not None and not self.valkey.alive() and self.valkey.returncode() != 0:
                valkey_started = self._restart_valkey(valkey_started)
            for consumer in self.consumers:
                self._check_consumer(consumer)

    def _restart_valkey(self, started: float) -> float:
        assert self.valkey is not None
        code = self.valkey.returncode()
        delay = self.valkey_backoff.next_delay_s(time.monotonic() - started)
        log.error("valkey exited; restarting it from its append-only file", extra={"code": code, "in_s": delay})
        if self._stop.wait(delay):
            return started
        try:
            self.valkey.start()
        except RuntimeError as exc:  # the port taken, the AOF unreadable: say so, try again later
            log.error("valkey did not restart", extra={"error": str(exc)})
            return time.monotonic()
        self.valkey_restarts += 1
        log.warning("valkey restarted", extra={"restarts": self.valkey_restarts, "url": self.valkey.url})
        return time.monotonic()

    def _check_consumer(self, c: Supervised) -> None:
        now = time.monotonic()
        if c.restart_at is not None:
            if now >= c.restart_at:
                c.process, c.started_at, c.restart_at = c.start(), now, None
                c.restarts += 1
                log.warning("consumer restarted", extra={"consumer": c.name, "restarts": c.restarts})
            return
        code = c.process.poll()
        if code is None or code == 0:  # running, or stopped on purpose
            return
        delay = c.backoff.next_delay_s(now - c.started_at)
        log.error("consumer exited; restarting it", extra={"consumer": c.name, "code": code, "in_s": delay})
        c.restart_at = now + delay
