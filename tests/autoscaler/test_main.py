"""``python -m cellkiosk.autoscaler`` as a process: settings from the environment, a real valkey, the real
kubernetes client against the scale-subresource server of ``test_kube.py``, metrics over HTTP, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import redis

from cellkiosk.core.embedded import free_port
from cellkiosk.core.jobs import Job
from cellkiosk.core.queue import JobQueue
from tests.autoscaler.conftest import ScaleServer, kubeconfig

TARGETS = [
    {"deployment": "cellkiosk-tfserving", "queues": ["segmentation"], "items_per_replica": 10, "max_replicas": 3},
]


def wait_for(predicate: object, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_the_process_scales_serves_metrics_and_stops_on_sigterm(
    autoscaler_redis_url: str,
    client: redis.Redis,
    server: ScaleServer,
    tmp_path: Path,  # noqa: F811
) -> None:
    redis_url = autoscaler_redis_url
    queue = JobQueue(client)
    for _ in range(25):
        queue.create(Job(type="segmentation", model="nuclear", input="uploads/x/a.tif"))
    port = free_port()
    env = {
        **os.environ,
        "CELLKIOSK_REDIS_URL": redis_url,
        "CELLKIOSK_TARGETS": json.dumps(TARGETS),
        "CELLKIOSK_PERIOD_S": "0.5",
        "CELLKIOSK_METRICS_PORT": str(port),
        "CELLKIOSK_KUBECONFIG": str(kubeconfig(tmp_path, server.server_address[1])),
    }
    proc = subprocess.Popen([sys.executable, "-m", "cellkiosk.autoscaler"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: server.replicas["cellkiosk-tfserving"] == 3)  # ceil(25 / 10)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert 'cellkiosk_autoscaler_desired_replicas{deployment="cellkiosk-tfserving"} 3.0' in metrics
        assert 'cellkiosk_autoscaler_backlog{queue="segmentation"} 25.0' in metrics
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.stderr is not None
    lines = [json.loads(line) for line in proc.stderr.read().splitlines() if line.startswith("{")]
    scaled = [r for r in lines if r.get("kind") == "up"]
    assert scaled and scaled[0]["msg"] == "scale up: backlog 25 needs 3 (had 0)" and scaled[0]["replicas"] == 3


def test_a_missing_setting_is_named(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELLKIOSK_")}
    done = subprocess.run(
        [sys.executable, "-m", "cellkiosk.autoscaler"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 1 and "bad or missing CELLKIOSK_TARGETS" in done.stderr
