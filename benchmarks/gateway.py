"""The gateway on its own: upload throughput against ``dd``, API latency under concurrent clients, queue round trip.

Three parts, each on ``cellkiosk up`` (embedded Valkey, local storage in a fresh temporary directory):

1. **upload**: a file of ``--upload-mb`` random bytes is POSTed to ``/api/uploads`` (multipart, streamed by
   httpx from the file) and, in the same run, copied by ``dd bs=1M`` from the same source file into the
   platform's data directory (the disk the local object store writes to). The store does not fsync, so the
   ratio is against ``dd`` without ``conv=fsync``; ``dd conv=fsync`` is recorded too. Each copy starts after a
   ``sync``, so no copy pays for the writeback of the one before. The upload path writes
   the bytes twice (Starlette spools the multipart part to a temporary file, then the store copies it).
2. **latency**: ``--clients`` concurrent clients (asyncio, one connection each, in this process on the same
   loopback and cores as the gateway) each create ``--creates`` segmentation jobs, then each ask
   ``--statuses`` times for the status of one of them (GET /api/jobs/{id}); p50/p99 of each request.
   No consumer runs in this part (``--consumers 0``), so the jobs stay queued and only the gateway and Valkey
   are measured; rate limits are off (``CELLKIOSK_JOBS_PER_MINUTE=0``, ``..._MAX_ACTIVE_JOBS=0``).
3. **round trip**: the platform has no empty job type, so the cheapest real job stands in: a segmentation of
   a 64 x 64 PNG, ``--round-trips`` jobs one after the other on one warm consumer; from the server's own
   clock, created -> started (queue: claimed by the consumer) and created -> finished (the whole job).

Usage: ``python -m benchmarks.gateway [--upload-mb 500] [--clients 50]``; writes
``benchmarks/results/gateway.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from benchmarks.platform_throughput import NO_LIMITS, Platform, create_job, free_port, upload, wait_all
from benchmarks.records import record_head
from benchmarks.report import emit

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks/results"
MB = 1024 * 1024


def tiny_png(side: int = 64) -> bytes:
    """A small grey PNG with a few bright disks: the cheapest input a segmentation job accepts."""
    yy, xx = np.mgrid[:side, :side]
    img = np.full((side, side), 20, dtype=np.uint8)
    for cy, cx in ((16, 16), (40, 44), (20, 48)):
        img[(yy - cy) ** 2 + (xx - cx) ** 2 <= 36] = 200
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    """p50, p99 and max in milliseconds, and the count."""
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {"n": len(seconds), "p50_ms": round(1000 * statistics.median(seconds), 2),
            "p99_ms": round(1000 * cuts[98], 2), "max_ms": round(1000 * max(seconds), 2)}  # fmt: skip


def dd_mb_s(source: Path, target: Path, fsync: bool) -> float:
    """MB/s of ``dd`` copying ``source`` to ``target`` (removed after)."""
    cmd = ["dd", f"if={source}", f"of={target}", "bs=1M"] + (["conv=fsync"] if fsync else [])
    os.sync()  # start with no dirty pages: earlier writes' writeback would throttle this one
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    elapsed = time.perf_counter() - start
    size = target.stat().st_size
    target.unlink()
    return size / MB / elapsed


def upload_part(client: httpx.Client, plat: Platform, size_mb: int) -> dict[str, Any]:
    """Upload of a ``size_mb`` file through the API, and dd of the same file to the same disk, alternated."""
    with tempfile.TemporaryDirectory(dir=plat.data_dir, prefix="upload-src-") as tmp:
        source = Path(tmp) / "big.bin"
        with source.open("wb") as fh:
            rng = np.random.default_rng(0)
            for _ in range(size_mb):
                fh.write(rng.bytes(MB))
        dd_before = dd_mb_s(source, Path(tmp) / "dd.bin", fsync=False)
        os.sync()
        start = time.perf_counter()
        with source.open("rb") as fh:
            r = client.post("/api/uploads", files={"file": ("big.bin", fh, "application/octet-stream")}, timeout=600)
        upload_s = time.perf_counter() - start
        r.raise_for_status()
        stored = int(r.json()["size"])
        dd_after = dd_mb_s(source, Path(tmp) / "dd.bin", fsync=False)
        dd_fsync = dd_mb_s(source, Path(tmp) / "dd.bin", fsync=True)
    api_mb_s = stored / MB / upload_s
    dd_mean = (dd_before + dd_after) / 2
    return {
        "size_mb": size_mb,
        "stored_bytes": stored,
        "api_s": round(upload_s, 2),
        "api_mb_s": round(api_mb_s, 1),
        "dd_mb_s_before_after": [round(dd_before, 1), round(dd_after, 1)],
        "dd_mb_s": round(dd_mean, 1),
        "dd_fsync_mb_s": round(dd_fsync, 1),
        "api_over_dd": round(api_mb_s / dd_mean, 3),
    }


async def _client_run(base_url: str, key: str, creates: int) -> tuple[list[float], list[str]]:
    """One client: ``creates`` job creations back to back; their latencies and job ids."""
    times, ids = [], []
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0) as client:
        for _ in range(creates):
            start = time.perf_counter()
            r = await client.post("/api/jobs", json={"type": "segmentation", "input": key})
            times.append(time.perf_counter() - start)
            r.raise_for_status()
            ids.append(str(r.json()["id"]))
    return times, ids


async def _client_status(base_url: str, ids: list[str]) -> list[float]:
    """One client: GET /api/jobs/{id} for each id, back to back; their latencies."""
    times = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0) as client:
        for job_id in ids:
            start = time.perf_counter()
            r = await client.get(f"/api/jobs/{job_id}")
            times.append(time.perf_counter() - start)
            r.raise_for_status()
    return times


async def latency_part(base_url: str, key: str, clients: int, creates: int, statuses: int) -> dict[str, Any]:
    """``clients`` concurrent clients creating jobs, then asking for their status; p50/p99 and rates."""
    start = time.perf_counter()
    runs = await asyncio.gather(*(_client_run(base_url, key, creates) for _ in range(clients)))
    create_wall = time.perf_counter() - start
    create_times = [t for times, _ in runs for t in times]
    ids = [i for _, job_ids in runs for i in job_ids]
    rng = np.random.default_rng(1)
    picks = [[ids[int(j)] for j in rng.integers(0, len(ids), statuses)] for _ in range(clients)]
    start = time.perf_counter()
    status_runs = await asyncio.gather(*(_client_status(base_url, p) for p in picks))
    status_wall = time.perf_counter() - start
    status_times = [t for times in status_runs for t in times]
    return {
        "clients": clients,
        "create": percentiles_ms(create_times) | {"per_s": round(len(create_times) / create_wall, 1)},
        "status": percentiles_ms(status_times) | {"per_s": round(len(status_times) / status_wall, 1)},
    }


def round_trip_part(client: httpx.Client, png: bytes, jobs: int) -> dict[str, Any]:
    """``jobs`` 64 x 64 segmentation jobs, one after the other, on a warm consumer; server-clock seconds."""
    key = upload(client, "tiny.png", png, "image/png")
    warm = wait_all(client, [create_job(client, key)], timeout_s=300)
    if any(j["status"] != "done" for j in warm.values()):
        raise SystemExit(f"warm-up job failed: {warm}")
    claimed, done = [], []
    for _ in range(jobs):
        job_id = create_job(client, key)
        job = wait_all(client, [job_id], timeout_s=120)[job_id]
        if job["status"] != "done":
            raise SystemExit(f"round-trip job failed: {job.get('error')}")
        claimed.append(job["started_at"] - job["created_at"])
        done.append(job["finished_at"] - job["created_at"])
    return {"job": "segmentation of a 64 x 64 PNG (no empty job type exists)", "jobs": jobs,
            "created_to_claimed": percentiles_ms(claimed), "created_to_done": percentiles_ms(done)}  # fmt: skip


def main() -> None:
    """Run the three parts; print and save the record."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upload-mb", type=int, default=500)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--creates", type=int, default=10, help="job creations per client")
    p.add_argument("--statuses", type=int, default=20, help="status requests per client")
    p.add_argument("--round-trips", type=int, default=20)
    p.add_argument("--out", type=Path, default=RESULTS / "gateway.json")
    args = p.parse_args()
    load_at_start = round(os.getloadavg()[0], 2)
    png = tiny_png()
    with Platform(free_port(), 0, NO_LIMITS) as plat, httpx.Client(base_url=plat.base_url, timeout=60.0) as client:
        plat.wait_ready(client)
        uploaded = upload_part(client, plat, args.upload_mb)
        print(f"upload {uploaded}", flush=True)
        key = upload(client, "tiny.png", png, "image/png")
        latency = asyncio.run(latency_part(plat.base_url, key, args.clients, args.creates, args.statuses))
        print(f"latency {latency}", flush=True)
    with Platform(free_port(), 1, NO_LIMITS) as plat, httpx.Client(base_url=plat.base_url, timeout=60.0) as client:
        plat.wait_ready(client)
        trip = round_trip_part(client, png, args.round_trips)
        print(f"round trip {trip}", flush=True)
    command = (f"python -m benchmarks.gateway --upload-mb {args.upload_mb} --clients {args.clients} "
               f"--creates {args.creates} --statuses {args.statuses} --round-trips {args.round_trips}")  # fmt: skip
    record = record_head("gateway", command, load_at_start) | {
        "upload": uploaded,
        "latency": latency,
        "round_trip": trip,
    }
    emit(record, args.out)


if __name__ == "__main__":
    main()
