"""Real service processes for fault tests: consumers as `python -m cellkiosk.consumer`, a gateway in a thread."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from cellkiosk.core.queue import JobQueue, connect_redis
from cellkiosk.core.settings import GatewaySettings
from cellkiosk.core.storage import open_storage
from cellkiosk.gateway.app import create_app
from cellkiosk.inference.store import ModelStore
from tests.fixtures.platform import MODELS_DIR, start_gateway

TERMINAL = ("done", "failed", "cancelled")


def consumer_env(redis_url: str, storage_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment of a test consumer process: short reads, fast takeover, quick heartbeats."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELLKIOSK_")}
    env.update(
        CELLKIOSK_REDIS_URL=redis_url,
        CELLKIOSK_STORAGE_URL=storage_url,
        CELLKIOSK_MODELS_DIR=str(MODELS_DIR),
        CELLKIOSK_DATA_DIR=str(data_dir),
        CELLKIOSK_BLOCK_MS="300",
        CELLKIOSK_VISIBILITY_TIMEOUT_S="4",
        CELLKIOSK_HEARTBEAT_S="1",
        CELLKIOSK_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def start_consumer(env: dict[str, str], name: str, log: Path) -> subprocess.Popen[bytes]:
    """A consumer process; its output goes to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cellkiosk.consumer", "--name", name], env=env, stdout=out, stderr=subprocess.STDOUT
        )


@contextmanager
def gateway(redis_url: str, storage_url: str, data_dir: Path, **settings: Any) -> Iterator[httpx.Client]:
    """The gateway on real HTTP in this process; yields a client for it."""
    storage = open_storage(storage_url, **settings.pop("storage_kwargs", {}))
    queue = JobQueue(connect_redis(redis_url))
    gw = GatewaySettings(
        redis_url=redis_url, storage_url=storage_url, models_dir=MODELS_DIR, data_dir=data_dir, log_json=False,
        **settings,
    )  # fmt: skip
    server, thread, port = start_gateway(create_app(gw, queue, storage, ModelStore(MODELS_DIR), redis_url))
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``predicate`` until it holds."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"not reached in {timeout_s} s: {what}"
        time.sleep(0.2)


def stop(procs: list[subprocess.Popen[bytes]], timeout_s: float = 60) -> list[int | None]:
    """SIGTERM each process and wait; returns the exit codes (SIGKILL for any that hang)."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout_s))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append(None)
    return codes
