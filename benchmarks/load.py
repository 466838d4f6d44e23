"""A load driver for the gateway (plain asyncio + httpx): many clients submit jobs and batches, all must end.

Each of ``clients`` concurrent clients uploads small synthetic images and creates segmentation jobs (with
an Idempotency-Key, retrying 429/503 as they ask), some of them zip batches; then every client follows its
jobs until they end. It records the latency of every API call under this load, and counts jobs that
ended, failed, were lost (not ended by the deadline) or finished twice (the server's done counter against
the distinct jobs that are done). Loopback only; bounded by ``deadline_s``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import random
import statistics
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
from PIL import Image

TERMINAL = ("done", "failed", "cancelled")


def synthetic_png(seed: int, size: int = 64) -> bytes:
    """A small fluorescence-like image: a few bright discs on a dark, noisy background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    img = np.zeros((size, size), np.float32)
    for cy, cx in rng.integers(8, size - 8, (5, 2)):
        img += 200 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 16.0)
    img = np.clip(img + rng.normal(10, 3, img.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def zip_of_pngs(seed: int, count: int) -> bytes:
    """A zip batch of ``count`` synthetic images."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(count):
            zf.writestr(f"well{i:02d}.png", synthetic_png(seed * 1000 + i))
    return buf.getvalue()


@dataclass
class Tally:
    """What the clients saw."""

    latencies_s: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    jobs: dict[str, bool] = field(default_factory=dict)  # job id -> is a batch
    final: dict[str, str] = field(default_factory=dict)
    retries: int = 0

    def record(self, kind: str, seconds: float, status: int) -> None:
        self.latencies_s.setdefault(kind, []).append(seconds)
        self.statuses[status] = self.statuses.get(status, 0) + 1


async def call(client: httpx.AsyncClient, tally: Tally, kind: str, method: str, url: str, **kw: Any) -> httpx.Response:
    """One API call, timed; 429/503 are waited out as Retry-After says."""
    for _ in range(50):
        started = time.perf_counter()
        resp = await client.request(method, url, **kw)
        tally.record(kind, time.perf_counter() - started, resp.status_code)
        if resp.status_code not in (429, 503):
            return resp
        tally.retries += 1
        await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))
    raise RuntimeError(f"{method} {url}: still {resp.status_code} after 50 tries")


async def submit(client: httpx.AsyncClient, tally: Tally, data: bytes, name: str, batch: bool) -> str:
    up = await call(client, tally, "upload", "POST", "/api/uploads", files={"file": (name, data)})
    assert up.status_code == 201, up.text
    body = {"type": "segmentation", "input": up.json()["key"], "params": {"diameter": 8}}
    created = await call(
        client, tally, "create", "POST", "/api/jobs", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert created.status_code == 202, created.text
    job_id = str(created.json()["id"])
    tally.jobs[job_id] = batch
    return job_id


async def follow(client: httpx.AsyncClient, tally: Tally, ids: list[str], deadline: float) -> None:
    pending = list(ids)
    while pending and time.monotonic() < deadline:
        job_id = pending.pop(0)
        resp = await call(client, tally, "status", "GET", f"/api/jobs/{job_id}")
        status = resp.json()["status"]
        if status in TERMINAL:
            tally.final[job_id] = status
        else:
            pending.append(job_id)
            await asyncio.sleep(0.2)


async def one_client(index: int, base_url: str, tally: Tally, work: list[tuple[bytes, str, bool]], deadline: float,
                     api_key: str | None) -> None:  # fmt: skip
    headers = {"X-API-Key": api_key} if api_key else {}
    async with httpx.AsyncClient(base_url=base_url, timeout=60, headers=headers) as client:
        mine = [await submit(client, tally, data, name, batch) for data, name, batch in work]
        await follow(client, tally, mine, deadline)


async def run_load_async(base_url: str, jobs: int, clients: int, batches: int, batch_size: int, deadline_s: float,
                         api_keys: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Drive the load; returns the figures (see the module docstring)."""
    work: list[list[tuple[bytes, str, bool]]] = [[] for _ in range(clients)]
    for i in range(jobs):
        work[i % clients].append((synthetic_png(i), f"img{i:05d}.png", False))
    for b in range(batches):
        work[b % clients].append((zip_of_pngs(b, batch_size), f"batch{b:03d}.zip", True))
    for items in work:
        random.Random(len(items)).shuffle(items)
    tally = Tally()
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as probe:
        done_before = done_count((await probe.get("/metrics")).text)
    started = time.monotonic()
    deadline = started + deadline_s
    keys = api_keys or [None]  # type: ignore[list-item]
    await asyncio.gather(
        *(one_client(i, base_url, tally, work[i], deadline, keys[i % len(keys)]) for i in range(clients))
    )
    wall_s = time.monotonic() - started
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as probe:
        done_after = done_count((await probe.get("/metrics")).text)
    return summarise(tally, jobs, batches, batch_size, clients, wall_s, done_after - done_before)


def done_count(metrics_text: str) -> int:
    """Sum of the server's ``cellkiosk_jobs_total{status="done"}`` counters."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("cellkiosk_jobs_total{") and 'status="done"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summarise(tally: Tally, jobs: int, batches: int, batch_size: int, clients: int, wall_s: float,
              done_counted: int) -> dict[str, Any]:  # fmt: skip
    """The figures of one run."""
    done = [j for j, s in tally.final.items() if s == "done"]
    done_batches = sum(1 for j in done if tally.jobs[j])
    distinct_done = len(done) + done_batches * batch_size  # a batch's children are done jobs too
    all_calls = [s for v in tally.latencies_s.values() for s in v]
    return {
        "clients": clients,
        "jobs": jobs,
        "batches": batches,
        "batch_size": batch_size,
        "images": jobs + batches * batch_size,
        "ended": len(tally.final),
        "done": len(done),
        "failed": sum(1 for s in tally.final.values() if s == "failed"),
        "lost": len(tally.jobs) - len(tally.final) + (jobs + batches - len(tally.jobs)),
        "done_twice": max(0, done_counted - distinct_done),
        "wall_s": round(wall_s, 1),
        "jobs_per_s": round((jobs + batches * batch_size) / wall_s, 2),
        "api_calls": len(all_calls),
        "api_p50_ms": round(1000 * statistics.median(all_calls), 1),
        "api_p99_ms": round(1000 * percentile(all_calls, 0.99), 1),
        "by_call": {
            k: {
                "n": len(v),
                "p50_ms": round(1000 * statistics.median(v), 1),
                "p99_ms": round(1000 * percentile(v, 0.99), 1),
            }
            for k, v in sorted(tally.latencies_s.items())
        },  # fmt: skip
        "http_statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "waited_out_429_503": tally.retries,
    }


def run_load(base_url: str, jobs: int, clients: int, batches: int, batch_size: int, deadline_s: float,
             api_keys: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Synchronous entry point of :func:`run_load_async`, on a thread of its own (the caller may run a loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        coro = run_load_async(base_url, jobs, clients, batches, batch_size, deadline_s, api_keys)
        return pool.submit(asyncio.run, coro).result()
