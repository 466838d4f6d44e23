"""Scale: platform throughput with 1, 2 and 4 consumers, and tracking end to end through the platform.

For each consumer count K (``--consumers 1 2 4``) one ``cellkiosk up --consumers K`` runs (embedded Valkey, local
storage, in-process TensorFlow; K segmentation consumers, and K tracking consumers that stay idle), all of them
started at once and each warmed by K jobs. Then ``--rounds`` rounds alternate over them (K = 1, 2, 4, 1, 2, 4, ...,
the idle platforms' consumers blocked on Valkey), so every count sees the same shared machine: a round uploads the
first N DSB2018 val fluorescence images, creates their N jobs back to back and waits for them
(``benchmarks.platform_throughput``'s individual phase: wall time from the first creation to the last finish on
the server's clock). Per round also the mean number of jobs running at once (summed run time / wall), the cores
the whole machine was busy (/proc/stat) and the cores this platform's processes used (their CPU time / wall):
the difference is other work on the machine (and this harness's client). On a
2-core machine the megapixels/s should rise from 1 to 2 consumers and stay flat at 4: more processes than cores
only share them.

Tracking: the first ``--frames`` frames of Cell Tracking Challenge Fluo-N2DH-SIM+ 01 (690 x 628, uint16) stacked
into one multi-page TIFF, uploaded through the REST API as a tracking job with no params (the tracking card's
defaults: segmentation by the nuclear model, then linking) on the first (1-consumer) platform after the
rounds, after a 3-frame warm-up job. Frames/s = frames / (finished - started) of the job (the consumer's
time) and frames / (finished - created) (including the queue); the job's own stage timings are recorded.

Usage: ``python -m benchmarks.scale [--images 24] [--consumers 1 2 4] [--rounds 3] [--frames 25]``; writes
``benchmarks/results/scale.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import tifffile

from benchmarks.platform_throughput import (
    Platform,
    Sample,
    free_port,
    individual_phase,
    pick_images,
    upload,
    wait_all,
    warm_up,
)
from benchmarks.records import record_head
from benchmarks.report import emit

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks/results"
SEQUENCE = REPO.parent / "shared/data/ctc/Fluo-N2DH-SIM+/01"
TICKS = os.sysconf("SC_CLK_TCK")


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


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat (all cores)."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / TICKS, sum(fields) / TICKS


def tree_cpu_s(root: int) -> float:
    """CPU seconds (user + system) used so far by the living processes under ``root`` (itself included)."""
    stats: dict[int, list[str]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                text = (proc / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            stats[int(proc.name)] = text.rsplit(")", 1)[1].split()
    tree, grown = {root}, True
    while grown:
        more = {pid for pid, f in stats.items() if int(f[1]) in tree} - tree
        tree |= more
        grown = bool(more)
    return sum(float(stats[pid][11]) + float(stats[pid][12]) for pid in tree if pid in stats) / TICKS


def busy(jobs: list[float], wall_s: float) -> float:
    """Mean number of jobs running at once: their summed run time over the wall time."""
    return round(sum(jobs) / wall_s, 2) if wall_s > 0 else 0.0


def one_round(client: httpx.Client, plat: Platform, samples: list[Sample]) -> dict[str, Any]:
    """The N images as N jobs on one warm platform: wall, MP/s, latency, stage means, jobs running at once, and
    the cores the whole machine and this platform's processes used meanwhile."""
    load = round(os.getloadavg()[0], 2)
    assert plat.proc is not None
    start, (busy0, total0), tree0 = time.monotonic(), machine_cpu_s(), tree_cpu_s(plat.proc.pid)
    phase = individual_phase(client, samples)
    elapsed, (busy1, total1), tree1 = time.monotonic() - start, machine_cpu_s(), tree_cpu_s(plat.proc.pid)
    runs = [row["latency_s"] - (row["queue_wait_s"] or 0.0) for row in phase["per_job"]]
    return {
        "loadavg_1m_before": load,
        "wall_s": phase["wall_s"],
        "megapixels_per_s": phase["megapixels_per_s"],
        "latency_s": phase["latency_s"],
        "mean_jobs_running": busy(runs, phase["wall_s"]),
        "machine_cores_busy": round((busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1), 2),
        "platform_cores": round((tree1 - tree0) / elapsed, 2),
        "stage_mean_s": stage_means(phase["per_job"]),
        "per_job_median_s": phase["per_job_median_s"],
        "failed": phase["failed"],
    }


def summary(consumers: int, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Median MP/s over the rounds of one consumer count, and every round."""
    rates = [r["megapixels_per_s"] for r in rounds]
    return {
        "consumers": consumers,
        "megapixels_per_s_median": round(statistics.median(rates), 3),
        "megapixels_per_s_rounds": rates,
        "mean_jobs_running_median": round(statistics.median(r["mean_jobs_running"] for r in rounds), 2),
        "machine_cores_busy_median": round(statistics.median(r["machine_cores_busy"] for r in rounds), 2),
        "platform_cores_median": round(statistics.median(r["platform_cores"] for r in rounds), 2),
        "rounds": rounds,
    }


def main() -> None:
    """Start one platform per consumer count, alternate rounds over them; print and save the record."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=24)
    p.add_argument("--consumers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--rounds", type=int, default=3, help="rounds over the consumer counts, alternated")
    p.add_argument("--frames", type=int, default=25, help="tracking movie length (0: no tracking job)")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared/data/dsb2018")
    p.add_argument("--out", type=Path, default=RESULTS / "scale.json")
    args = p.parse_args()
    load_at_start = round(os.getloadavg()[0], 2)
    samples = pick_images(args.data, "val", "fluorescence", args.images)
    with ExitStack() as stack:
        platforms = {k: stack.enter_context(Platform(free_port(), k)) for k in args.consumers}
        clients = {k: stack.enter_context(httpx.Client(base_url=plat.base_url, timeout=120.0))
                   for k, plat in platforms.items()}  # fmt: skip
        startup = {k: round(plat.wait_ready(clients[k]), 1) for k, plat in platforms.items()}
        warmup = {k: warm_up(clients[k], samples[0], k) for k in args.consumers}
        rounds: dict[int, list[dict[str, Any]]] = {k: [] for k in args.consumers}
        for i in range(args.rounds):
            for k in args.consumers:
                rounds[k].append(one_round(clients[k], platforms[k], samples))
                row = rounds[k][-1]
                print(f"round {i + 1} consumers={k} megapixels_per_s={row['megapixels_per_s']} "
                      f"wall_s={row['wall_s']} jobs_running={row['mean_jobs_running']} cores machine/platform "
                      f"{row['machine_cores_busy']}/{row['platform_cores']} "
                      f"load={row['loadavg_1m_before']}", flush=True)  # fmt: skip
        first = args.consumers[0]
        tracking = tracking_part(clients[first], args.frames) if args.frames else None
        if tracking:
            print(f"tracking ({first} consumer) {tracking}", flush=True)
    runs = [summary(k, rounds[k]) | {"startup_s": startup[k], "warmup_s": warmup[k]} for k in args.consumers]
    base = runs[0]["megapixels_per_s_median"]
    for row in runs:
        row["speedup_vs_first"] = round(row["megapixels_per_s_median"] / base, 2) if base else None
    command = (f"python -m benchmarks.scale --images {args.images} --consumers "
               f"{' '.join(map(str, args.consumers))} --rounds {args.rounds} --frames {args.frames}")  # fmt: skip
    record = record_head("scale", command, load_at_start) | {
        "data": "dsb2018 val fluorescence",
        "images": args.images,
        "megapixels": round(sum(s.megapixels for s in samples), 3),
        "runs": runs,
        "tracking": tracking,
    }
    emit(record, args.out)


if __name__ == "__main__":
    main()
