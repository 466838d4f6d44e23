"""What automatic object size adds to a whole segmentation job on the embedded platform.

`benchmarks/segmentation_speed.py` times the estimate against the model's work in one process (an
upper bound). A job also downloads, decodes, measures, encodes and uploads; this harness starts
``cellkiosk up`` (one consumer, :class:`platform_throughput.Platform`), runs a warm-up job, then the
same picks of DSB2018 val fluorescence and coelho2009 images as default jobs (no params: diameter
auto), and reads each job's own stage timings: the ``size`` stage against the rest of its run
(started -> finished). Writes ``benchmarks/results/size_job_share.json``.
Usage: ``python benchmarks/size_job_share.py [--images 12]``.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: the sibling harnesses import
from platform_throughput import REPO, Platform, Sample, create_job, free_port, upload, wait_all, warm_up  # noqa: E402
from report import commit, emit, machine  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
SETS = {  # name: (folder, split, modality)
    "dsb2018 val fluorescence": (REPO / "../shared/data/dsb2018", "val", "fluorescence"),
    "coelho2009": (REPO / "../shared/data/coelho2009", "test", None),
}


def picks(folder: Path, split: str, modality: str | None, n: int) -> list[Sample]:
    """Every k-th image of the split (and modality) in index order, ``n`` of them (as segmentation_speed picks)."""
    with (folder / "index.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == split and modality in (None, r["modality"])]
    rows = rows[:: max(1, len(rows) // n)][:n]
    return [
        Sample(r["id"], folder.resolve() / "images" / f"{r['id']}.png", int(r["height"]) * int(r["width"]) / 1e6)
        for r in rows
    ]


def share(client: httpx.Client, samples: list[Sample]) -> dict[str, Any]:
    """Default jobs on the samples, one after another; the size stage's seconds against the rest of each run."""
    keys = [upload(client, s.path.name, s.path.read_bytes(), "image/png") for s in samples]
    ids = [create_job(client, key) for key in keys]
    jobs = [job for job in wait_all(client, ids).values()]
    bad = [j for j in jobs if j["status"] != "done"]
    if bad:
        raise SystemExit(f"{len(bad)} jobs did not finish: {[j.get('error') for j in bad]}")
    size_s = sum(j["timings"].get("size", 0.0) for j in jobs)
    run_s = sum(j["finished_at"] - j["started_at"] for j in jobs)
    return {
        "jobs": len(jobs),
        "megapixels": round(sum(s.megapixels for s in samples), 3),
        "size_s": round(size_s, 3),
        "run_s": round(run_s, 3),
        "auto_adds": round(size_s / (run_s - size_s), 3),  # to what the same job costs with the diameter given
    }


def main() -> None:
    """Run both sets through one platform; print and save the record."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=12, help="images per set")
    parser.add_argument("--out", type=Path, default=RESULTS / "size_job_share.json")
    args = parser.parse_args()
    sets = {name: picks(folder, split, modality, args.images) for name, (folder, split, modality) in SETS.items()}
    with Platform(free_port(), 1) as plat, httpx.Client(base_url=plat.base_url, timeout=60.0) as client:
        plat.wait_ready(client)
        warm_up(client, sets["dsb2018 val fluorescence"][0], 1)
        results = {name: share(client, samples) for name, samples in sets.items()}
    report = {
        "benchmark": "size_job_share",
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit(),
        "consumers": 1,
        "sets": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    emit(report, args.out)


if __name__ == "__main__":
    main()
