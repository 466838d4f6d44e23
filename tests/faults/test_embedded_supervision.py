"""`cellkiosk up` supervises what it started: Valkey and consumers are SIGKILLed for real and come back."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest

from cellkiosk.core.embedded import free_port
from tests.integration.conftest import VAL_SMALL, val_png
from tests.integration.test_embedded_up import descendants, start_up, wait_done
from tests.records import record

pytestmark = pytest.mark.slow  # real processes killed and restarted: `make test` runs it, test-fast skips it


def child(proc_pid: int, needle: str) -> psutil.Process:
    """The one descendant whose command line contains ``needle``."""
    found = [c for c in psutil.Process(proc_pid).children(recursive=True) if needle in " ".join(c.cmdline())]
    assert len(found) == 1, [c.cmdline() for c in found]
    return found[0]


def submit(client: httpx.Client) -> str:
    key = client.post("/api/uploads", files={"file": ("n.png", val_png(VAL_SMALL).read_bytes())}).json()["key"]
    return str(client.post("/api/jobs", json={"type": "segmentation", "input": key}).json()["id"])


def test_killed_valkey_and_consumer_are_restarted_and_no_request_gets_a_500(tmp_path: Path) -> None:
    port = free_port()
    proc = start_up(tmp_path / "data", port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            before = submit(client)
            assert wait_done(client, before)["status"] == "done"
            time.sleep(1.2)  # appendfsync everysec
            valkey = child(proc.pid, "valkey-server")
            valkey.send_signal(signal.SIGKILL)
            codes = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # hammer the gateway while valkey is down and coming back
                resp = client.post("/api/uploads", files={"file": ("n.png", b"\x89PNG....")})
                codes.append(resp.status_code)
                if resp.status_code == 503:
                    assert "Retry-After" in resp.headers and "unavailable" in resp.json()["detail"]
                if client.get("/readyz").status_code == 200 and resp.status_code == 201:
                    break
                time.sleep(0.05)
            assert set(codes) <= {201, 503}, codes
            assert codes[-1] == 201, "the gateway did not recover after valkey was restarted"
            assert child(proc.pid, "valkey-server").pid != valkey.pid
            assert client.get(f"/api/jobs/{before}").json()["status"] == "done"  # read back from the AOF

            consumer = child(proc.pid, "embedded-segmentation-0")
            consumer.send_signal(signal.SIGKILL)
            job_id = submit(client)  # queued while no consumer runs
            assert wait_done(client, job_id, timeout_s=240)["status"] == "done"
            assert child(proc.pid, "embedded-segmentation-0").pid != consumer.pid
    finally:
        children = descendants(proc)
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=90)[0].decode()
        for c in children:
            if c.is_running():
                c.kill()
    assert proc.returncode == 0, out[-3000:]
    assert "valkey restarted" in out and "consumer restarted" in out
    record(
        "fault_embedded_supervision",
        {"killed": "valkey, then a consumer, under cellkiosk up (SIGKILL)", "valkey_restarts": 1,
         "consumer_restarts": 1, "answers_while_down": sorted(set(codes)), "requests_while_down": len(codes),
         "jobs_after": 1, "lost": 0},
    )  # fmt: skip
