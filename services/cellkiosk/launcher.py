"""``cellkiosk up``: the whole platform on one machine, no configuration needed.

Starts a private valkey-server (unless CELLKIOSK_REDIS_URL points elsewhere),
one consumer process per job type, and the gateway in this process, and
supervises what it started (:mod:`cellkiosk.supervisor`): a dead Valkey is
restarted from its append-only file, a dead consumer with backoff. Ctrl-C
stops the gateway, lets each consumer finish its job in hand, then stops
valkey (which writes its append-only file, so queued jobs survive).
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import sys
from pathlib import Path

import uvicorn

from cellkiosk.core.embedded import EmbeddedValkey, _die_with_parent
from cellkiosk.core.jobs import JobType
from cellkiosk.core.logs import setup_logging
from cellkiosk.core.queue import JobQueue, connect_redis
from cellkiosk.core.settings import GatewaySettings
from cellkiosk.core.storage import storage_from_settings
from cellkiosk.gateway.app import create_app
from cellkiosk.inference.store import ModelStore
from cellkiosk.supervisor import Supervised, Supervisor

log = logging.getLogger("cellkiosk.up")


def start_consumer(job_type: str, index: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A consumer process with a stable name, so a restart resumes its unfinished messages."""
    cmd = [sys.executable, "-m", "cellkiosk.consumer", "--queue", job_type, "--name", f"embedded-{job_type}-{index}"]
    return subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent)  # noqa: PLW1509


def supervised_consumers(per_type: int, env: dict[str, str]) -> list[Supervised]:
    """One consumer process per job type (x ``per_type``), each with a way to start it again."""
    out = []
    for job_type in JobType:
        for index in range(per_type):
            start = functools.partial(start_consumer, job_type.value, index, env)
            out.append(Supervised(f"embedded-{job_type.value}-{index}", start, start()))
    return out


def stop_all(consumers: list[subprocess.Popen[bytes]], valkey: EmbeddedValkey | None, grace_s: float) -> None:
    """SIGTERM consumers (they finish their job), then stop valkey."""
    for proc in consumers:
        if proc.poll() is None:
            proc.terminate()
    for proc in consumers:
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    if valkey:
        valkey.stop()


def run(consumers_per_type: int = 1, grace_s: float = 60.0) -> int:
    """Start everything and serve until interrupted."""
    settings = GatewaySettings()
    setup_logging(settings.log_level, settings.log_json)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    valkey = None
    redis_url = settings.redis_url
    if not redis_url:
        valkey = EmbeddedValkey(settings.data_dir / "valkey").start()
        redis_url = valkey.url
    env = dict(
        os.environ,
        CELLKIOSK_REDIS_URL=redis_url,
        CELLKIOSK_DATA_DIR=str(settings.data_dir.resolve()),
        CELLKIOSK_MODELS_DIR=str(Path(settings.models_dir).resolve()),
    )
    supervisor: Supervisor | None = None
    try:
        storage = storage_from_settings(settings)
        queue = JobQueue(connect_redis(redis_url))
        models = ModelStore(settings.models_dir)
        if not models.cards():
            log.warning("no models found", extra={"models_dir": str(settings.models_dir)})
        supervisor = Supervisor(valkey, supervised_consumers(consumers_per_type, env)).start()
        app = create_app(settings, queue, storage, models, redis_url)
        base = f"http://{settings.host}:{settings.port}"
        print(
            f"\ncellkiosk is up:\n  portal   {base}/\n  API docs {base}/docs\n  data     {settings.data_dir}\n"
            f"Press Ctrl-C to stop.\n",
            flush=True,
        )
        uvicorn.run(app, host=settings.host, port=settings.port, log_config=None)
    finally:
        consumers = []
        if supervisor is not None:
            supervisor.stop()
            consumers = supervisor.processes()
        stop_all(consumers, valkey, grace_s)
        log.info("stopped")
    return 0
