"""Scale: platform throughput with 1, 2 and 4 consumers, and tracking end to end through the platform.

For each consumer count K (``--consumers 1 2 4``), ``cellkiosk up --consumers K`` is started afresh (embedded
Valkey, local storage, in-process TensorFlow; K segmentation consumers, and K tracking consumers that stay
idle), warmed by K jobs, then the first N DSB2018 val fluorescence images are uploaded, their N jobs created
back to back and waited for (``benchmarks.platform_throughput``'s individual phase: wall time from the first
creation to the last finish on the server's clock). On a 2-core machine the megapixels/s should rise from 1 to
2 consumers and stay flat (or drop) at 4: more processes than cores only share them.

Tracking: the first ``--frames`` frames of Cell Tracking Challenge Fluo-N2DH-SIM+ 01 (690 x 628, uint16) stacked
into one multi-page TIFF, uploaded through the REST API as a tracking job with no params (the tracking card's
defaults: segmentation by the nuclear model, then linking) on the 1-consumer platform, after a 3-frame
warm-up job. Frames/s = frames / (finished - started) of the job (the consumer's time) and frames / (finished -
created) (including the queue); the job's own stage timings are recorded.

Usage: ``python -m benchmarks.scale [--images 24] [--consumers 1 2 4] [--frames 25]``; writes
``benchmarks/results/scale.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import tifffile

from benchmarks.platform_throughput import Platform, free_port, individual_phase, pick_images, upload, wait_all, warm_up
from benchmarks.records import record_head

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks/results"
SEQUENCE = REPO.parent / "shared/data/ctc/Fluo-N2DH-SIM+/01"


def movie_tiff(frames: int) -> bytes:
    """The first ``frames`` frames of the sequence as one multi-page TIFF (T x Y x X)."""
    paths = sorted(SEQUENCE.glob("t*.tif"))[:frames]
    stack = np.stack([np.asarray(tifffile.imread(p)) for p in paths])
    buf = io.BytesIO()
    tifffile.imwrite(buf, stack, photometric="minisblack", metadata={"axes": "TYX"})
    return buf.getvalue()


def tracking_job(client: httpx.Client, frames: int) -> dict[str, Any]:
    """A tracking job of ``frames`` frames through the REST API; the finished job."""
    key = upload(client, f"sim-01-{frames}.tif", movie_tiff(frames), "image/tiff")
    r = client.post("/api/jobs", json={"type": "tracking", "input": key})
    r.raise_for_status()
    job_id = str(r.json()["id"])
    job = wait_all(client, [job_id], timeout_s=600)[job_id]
    if job["status"] != "done":
        raise SystemExit(f"tracking job of {frames} frames failed: {job.get('error')}")
    return job


def tracking_part(client: httpx.Client, frames: int) -> dict[str, Any]:
    """Warm the tracking consumer with 3 frames, then time ``frames``; frames/s and the job's stage timings."""
    warm = tracking_job(client, 3)
    job = tracking_job(client, frames)
    run_s = job["finished_at"] - job["started_at"]
    total_s = job["finished_at"] - job["created_at"]
    return {
        "sequence": "Fluo-N2DH-SIM+/01",
        "frames": frames,
        "warmup_s": round(warm["finished_at"] - warm["created_at"], 2),
        "run_s": round(run_s, 2),
        "created_to_done_s": round(total_s, 2),
        "frames_per_s": round(frames / run_s, 2),
        "frames_per_s_with_queue": round(frames / total_s, 2),
        "timings_s": job.get("timings") or {},
    }


def stage_means(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Mean seconds per job of every stage the consumers booked (all of them, ``size`` and ``encode`` too)."""
    stages = sorted({stage for row in rows for stage in row["timings_s"]})
    return {s: round(sum(row["timings_s"].get(s, 0.0) for row in rows) / len(rows), 4) for s in stages}


def consumers_part(args: argparse.Namespace, consumers: int) -> dict[str, Any]:
    """One fresh platform with ``consumers`` consumers: the N-image throughput (and tracking when K is 1)."""
    samples = pick_images(args.data, "val", "fluorescence", args.images)
    with Platform(free_port(), consumers) as plat, httpx.Client(base_url=plat.base_url, timeout=120.0) as client:
        startup_s = plat.wait_ready(client)
        warmup_s = warm_up(client, samples[0], consumers)
        load = round(os.getloadavg()[0], 2)
        phase = individual_phase(client, samples)
        tracking = tracking_part(client, args.frames) if consumers == 1 and args.frames else None
    out = {
        "consumers": consumers,
        "startup_s": round(startup_s, 1),
        "warmup_s": warmup_s,
        "loadavg_1m_before_phase": load,
        "megapixels": round(sum(s.megapixels for s in samples), 3),
        "wall_s": phase["wall_s"],
        "megapixels_per_s": phase["megapixels_per_s"],
        "jobs_per_min": phase["jobs_per_min"],
        "latency_s": phase["latency_s"],
        "stage_mean_s": stage_means(phase["per_job"]),
        "per_job_median_s": phase["per_job_median_s"],
        "failed": phase["failed"],
    }
    return out | ({"tracking": tracking} if tracking else {})


def main() -> None:
    """Run each consumer count on its own platform; print and save the record."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=24)
    p.add_argument("--consumers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--frames", type=int, default=25, help="tracking movie length (0: no tracking job)")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared/data/dsb2018")
    p.add_argument("--out", type=Path, default=RESULTS / "scale.json")
    args = p.parse_args()
    load_at_start = round(os.getloadavg()[0], 2)
    runs = []
    for k in args.consumers:
        runs.append(consumers_part(args, k))
        row = runs[-1]
        print(f"consumers={k} megapixels_per_s={row['megapixels_per_s']} wall_s={row['wall_s']} "
              f"load={row['loadavg_1m_before_phase']}", flush=True)  # fmt: skip
        if "tracking" in row:
            print(f"tracking {row['tracking']}", flush=True)
    base = runs[0]["megapixels_per_s"]
    for row in runs:
        row["speedup_vs_first"] = round(row["megapixels_per_s"] / base, 2) if base else None
    command = (f"python -m benchmarks.scale --images {args.images} --consumers "
               f"{' '.join(map(str, args.consumers))} --frames {args.frames}")  # fmt: skip
    record = record_head("scale", command, load_at_start) | {
        "data": "dsb2018 val fluorescence",
        "images": args.images,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
