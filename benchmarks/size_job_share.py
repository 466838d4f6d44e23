"""What automatic object size adds to a whole segmentation job on the embedded platform.

`benchmarks/segmentation_speed.py` times the estimate against the model's work in one process (an
upper bound). A job also downloads, decodes, measures, encodes and uploads; this harness starts
``cellkiosk up`` (one consumer, :class:`platform_throughput.Platform`), runs a warm-up job, then the
same picks of DSB2018 val fluorescence and coelho2009 images as default jobs (no params: diameter
auto), then again with ``params.diameter`` set to what each default job estimated (its ``job.json``),
and compares the runs (started -> finished) of the two, in turn ``--rounds`` times: what ``auto`` adds
is the difference. A job
whose scale is the estimate's last pass's takes its heads (``inference.size.reusable_heads``), so the
``size`` stage also holds that job's prediction; the stage timings alone no longer say what auto costs.
Writes ``benchmarks/results/size_job_share.json``.
Usage: ``python benchmarks/size_job_share.py [--images 12] [--rounds 6]``.
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
from platform_throughput import NO_LIMITS, REPO, Platform, Sample, free_port, upload, wait_all, warm_up  # noqa: E402
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


def run_jobs(client: httpx.Client, keys: list[str], params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One segmentation job per upload key with its params, all queued at once; the finished jobs, in order."""
    ids = []
    for key, job_params in zip(keys, params, strict=True):
        r = client.post("/api/jobs", json={"type": "segmentation", "input": key, "params": job_params})
        r.raise_for_status()
        ids.append(str(r.json()["id"]))
    done = wait_all(client, ids)
    jobs = [done[i] for i in ids]
    bad = [j for j in jobs if j["status"] != "done"]
    if bad:
        raise SystemExit(f"{len(bad)} jobs did not finish: {[j.get('error') for j in bad]}")
    return jobs


def stage_means(jobs: list[dict[str, Any]]) -> dict[str, float]:
    """Mean seconds of each stage the jobs timed (their own ``timings``)."""
    stages = sorted({k for j in jobs for k in j["timings"]})
    return {k: round(sum(j["timings"].get(k, 0.0) for j in jobs) / len(jobs), 4) for k in stages}


def share(client: httpx.Client, samples: list[Sample], rounds: int) -> dict[str, Any]:
    """Default jobs on the samples, then the same with the diameter each found given, ``rounds`` times in
    turn (this machine's load drifts: alternating keeps both sides under the same); what auto adds."""
    keys = [upload(client, s.path.name, s.path.read_bytes(), "image/png") for s in samples]
    auto, given, reused = [], [], 0
    for _ in range(rounds):
        batch = run_jobs(client, keys, [{} for _ in keys])
        sizes = [client.get(f"/api/jobs/{j['id']}/files/job.json").json()["size"] for j in batch]
        reused += sum(bool(s["first_page_from_estimate"]) for s in sizes)
        auto += batch
        given += run_jobs(client, keys, [{"diameter": s["diameter_px"]} if s["diameter_px"] else {} for s in sizes])
    auto_s = sum(j["finished_at"] - j["started_at"] for j in auto)
    given_s = sum(j["finished_at"] - j["started_at"] for j in given)
    return {
        "jobs": len(auto),
        "rounds": rounds,
        "megapixels": round(sum(s.megapixels for s in samples), 3),
        "auto_run_s": round(auto_s, 3),
        "diameter_given_run_s": round(given_s, 3),
        "auto_size_stage_s": round(sum(j["timings"].get("size", 0.0) for j in auto), 3),
        "first_page_reused": reused,  # job.json: the first page's prediction was the size estimate's last pass
        "stage_mean_s": {"auto": stage_means(auto), "diameter_given": stage_means(given)},
        "auto_adds": round(auto_s / given_s - 1, 3),  # to what the same job costs with the diameter given
    }


def main() -> None:
    """Run both sets through one platform; print and save the record."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=12, help="images per set")
    parser.add_argument("--rounds", type=int, default=6, help="turns of default then diameter-given jobs")
    parser.add_argument("--out", type=Path, default=RESULTS / "size_job_share.json")
    args = parser.parse_args()
    sets = {name: picks(folder, split, modality, args.images) for name, (folder, split, modality) in SETS.items()}
    with Platform(free_port(), 1, NO_LIMITS) as plat, httpx.Client(base_url=plat.base_url, timeout=60.0) as client:
        plat.wait_ready(client)
        warm_up(client, sets["dsb2018 val fluorescence"][0], 1)
        results = {name: share(client, samples, args.rounds) for name, samples in sets.items()}
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
