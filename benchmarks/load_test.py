"""The load test of issue 13: 1,000 small segmentation jobs from 20 concurrent clients plus 20 zip batches.

Starts ``cellkiosk up --consumers 2`` (private Valkey, local storage in a temporary directory, in-process
TensorFlow, two segmentation consumers), drives it with :mod:`benchmarks.load` over loopback and writes
the figures (every job ended? none lost, none done twice, API latency p50/p99 under load, jobs/s) to
``benchmarks/results/load_test.json``, which the README quotes. A smaller run is part of ``make test``
(``tests/load/test_load.py``).

Usage: ``python benchmarks/load_test.py [--jobs 1000] [--clients 20] [--batches 20] [--batch-size 5]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.load import run_load  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "load_test.json"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_platform(data_dir: Path, port: int, consumers: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELLKIOSK_")}
    env.update(
        CELLKIOSK_DATA_DIR=str(data_dir), CELLKIOSK_PORT=str(port), CELLKIOSK_MODELS_DIR=str(REPO / "models"),
        CELLKIOSK_LOG_LEVEL="WARNING", CELLKIOSK_JOBS_PER_MINUTE="0", CELLKIOSK_UPLOADS_PER_MINUTE="0",
        CELLKIOSK_MAX_ACTIVE_JOBS="0",
    )  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "cellkiosk.cli", "up", "--consumers", str(consumers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            if ready.status_code == 200 and ready.json()["consumers"] >= 2 * consumers:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit("cellkiosk up did not become ready")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=5)
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--deadline-s", type=float, default=1800)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cellkiosk-load-") as tmp:
        port = free_port()
        proc = start_platform(Path(tmp) / "data", port, args.consumers)
        try:
            figures = run_load(
                f"http://127.0.0.1:{port}", args.jobs, args.clients, args.batches, args.batch_size, args.deadline_s
            )
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    figures.update(
        consumers=args.consumers, machine=f"{platform.machine()}, {os.cpu_count()} CPUs",
        date=time.strftime("%Y-%m-%d"), harness="benchmarks/load_test.py (cellkiosk up, loopback)",
    )  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps({k: v for k, v in figures.items() if k != "by_call"}, indent=1))
    return 0 if figures["lost"] == 0 and figures["done_twice"] == 0 and figures["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
