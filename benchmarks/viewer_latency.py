"""Frame latency of the result viewer on a 100-frame tracking result, through the real gateway.

Starts ``cellkiosk up`` (embedded: private Valkey, local storage), uploads a synthetic 100-frame movie
(512 x 512, a few hundred drifting disks, uint16) with its label movie as ``params.labels`` (a tracking
job that links the given labels: no segmentation, so the job is quick), waits for it, then plays it
the way the portal does: for every frame, ``GET /api/jobs/{id}/view/{stem}/labels.png?page=t`` and
``.../image.png?page=t``, one after the other. Also times ``GET /api/jobs/{id}/files/cells.csv``.
Run it with another checkout's code on PYTHONPATH (and ``--code-commit``) for the figure before.
Usage: ``python -m benchmarks.viewer_latency [--frames 100] [--code-commit C]``; writes
``benchmarks/results/viewer_latency.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import tifffile

from benchmarks.platform_throughput import Platform, free_port, machine, upload, wait_all
from benchmarks.report import commit, emit

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks/results"
SIDE = 512
DISKS = 300


def movie(frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(raw, labels), both (T, Y, X) uint16: disks of radius 9 drifting 1 px a frame, on a noisy background."""
    rng = np.random.default_rng(0)
    centres = rng.uniform(20, SIDE - 20, size=(DISKS, 2))
    drift = rng.uniform(-1, 1, size=(DISKS, 2))
    yy, xx = np.mgrid[:SIDE, :SIDE]
    labels = np.zeros((frames, SIDE, SIDE), dtype=np.uint16)
    for t in range(frames):
        for i, (y, x) in enumerate(np.clip(centres + t * drift, 10, SIDE - 10)):
            box = (slice(int(y) - 10, int(y) + 11), slice(int(x) - 10, int(x) + 11))
            inside = (yy[box] - y) ** 2 + (xx[box] - x) ** 2 <= 81
            labels[t][box][inside] = i + 1
    raw = (200 + rng.integers(0, 50, labels.shape) + 2000 * (labels > 0)).astype(np.uint16)
    return raw, labels


def tiff_bytes(array: np.ndarray) -> bytes:
    """A multi-page grey TIFF (T x Y x X)."""
    buf = io.BytesIO()
    tifffile.imwrite(buf, array, photometric="minisblack", metadata={"axes": "TYX"})
    return buf.getvalue()


def timed_get(client: httpx.Client, url: str) -> float:
    """Seconds for one GET (its body read), which must answer 200."""
    start = time.perf_counter()
    r = client.get(url)
    elapsed = time.perf_counter() - start
    r.raise_for_status()
    return elapsed


def summary(seconds: list[float]) -> dict[str, float]:
    """Median, p90 and total in milliseconds/seconds."""
    cuts = statistics.quantiles(seconds, n=10, method="inclusive")
    return {"median_ms": round(1000 * statistics.median(seconds), 1), "p90_ms": round(1000 * cuts[-1], 1),
            "total_s": round(sum(seconds), 2)}  # fmt: skip


def play(client: httpx.Client, job_id: str, frames: int) -> dict[str, Any]:
    """Every frame's labels and image, in order, as the portal's player asks for them."""
    views = client.get(f"/api/jobs/{job_id}/view")
    views.raise_for_status()
    stem = views.json()[0]["stem"]
    labels, images = [], []
    for t in range(frames):
        labels.append(timed_get(client, f"/api/jobs/{job_id}/view/{stem}/labels.png?page={t}"))
        images.append(timed_get(client, f"/api/jobs/{job_id}/view/{stem}/image.png?page={t}"))
    cells = [timed_get(client, f"/api/jobs/{job_id}/files/cells.csv") for _ in range(5)]
    both = [a + b for a, b in zip(labels, images, strict=True)]
    return {"labels_png": summary(labels), "image_png": summary(images), "frame": summary(both),
            "files_cells_csv_median_ms": round(1000 * statistics.median(cells), 1)}  # fmt: skip


def main() -> None:
    """Start the platform, run the tracking job, play the result; print and save the record."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--code-commit", help="the commit of the cellkiosk code on PYTHONPATH, when not this checkout's")
    p.add_argument("--out", type=Path, default=RESULTS / "viewer_latency.json")
    args = p.parse_args()
    raw, labels = movie(args.frames)
    with Platform(free_port(), 1) as plat, httpx.Client(base_url=plat.base_url, timeout=120.0) as client:
        plat.wait_ready(client)
        movie_key = upload(client, "movie.tif", tiff_bytes(raw), "image/tiff")
        label_key = upload(client, "movie_labels.tif", tiff_bytes(labels), "image/tiff")
        r = client.post("/api/jobs", json={"type": "tracking", "input": movie_key, "params": {"labels": label_key}})
        r.raise_for_status()
        job_id = str(r.json()["id"])
        job = wait_all(client, [job_id], timeout_s=1200)[job_id]
        if job["status"] != "done":
            raise SystemExit(f"tracking job failed: {job.get('error')}")
        archive_bytes = int(client.get(f"/api/jobs/{job_id}/result").headers["content-length"])
        load = round(os.getloadavg()[0], 2)
        played = play(client, job_id, args.frames)
    record = {
        "benchmark": "viewer_latency",
        "machine": machine() | {"loadavg_1m_at_play": load},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit(),
        "code_commit": args.code_commit or commit(),
        "command": f"python -m benchmarks.viewer_latency --frames {args.frames}",
        "frames": args.frames,
        "frame_px": [SIDE, SIDE],
        "archive_bytes": archive_bytes,
        "input_bytes": raw.nbytes,
        **played,
    }
    emit(record, args.out)


if __name__ == "__main__":
    main()
