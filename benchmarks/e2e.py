"""End-to-end efficiency: the embedded platform's megapixels/s against the same work in one warm process.

Both sides get the same N images (the first N of a split of a dataset folder with ``index.csv``; by default
coelho2009, 1.4 MP each) and the same job parameters:

- **in process**: one warm Python process reads each file, and does what a segmentation job computes
  (decode, object size, tiled predict, deep watershed, labels mapped back, measurements), timed per stage;
- **platform**: ``cellkiosk up`` (private Valkey, local storage, in-process TensorFlow, one consumer), warmed
  by one job; each image is uploaded through the REST API and its job created at once, and the wall time runs
  from the first upload to the last job's end (server clock). Each job's stage timings give the breakdown.

The machine is shared, so the two alternate: in process, platform, in process, ... (``--rounds`` platform
passes, each between two in-process passes, on one warm platform). ``efficiency`` = platform MP/s over
all its passes / in-process MP/s over all of its passes; each round's own ratio is recorded too.
Usage: ``.venv/bin/python -m benchmarks.e2e --images N [--diameter auto|PX] [--out FILE]``; the last line is
``efficiency=R platform_mpx_s=X inprocess_mpx_s=Y``. Writes ``benchmarks/results/e2e_<data>_<diameter>.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from benchmarks.platform_throughput import (
    Job,
    Platform,
    Sample,
    create_job,
    free_port,
    machine,
    pick_images,
    upload,
    wait_all,
)
from benchmarks.report import commit, emit

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks/results"
INPROCESS_STAGES = ("decode", "size", "predict", "postprocess", "measure")


def job_params(diameter: str) -> dict[str, Any]:
    """The jobs' params: none for ``auto`` (the default job), else the diameter given."""
    return {} if diameter == "auto" else {"diameter": float(diameter)}


def in_process(params: dict[str, Any], model: str | None) -> Callable[[list[Sample]], dict[str, Any]]:
    """A runner of the job's computation in this process (model loaded once): seconds per stage and MP/s."""
    from cellkiosk.core.params import SegmentationParams, validate_params
    from cellkiosk.core.settings import ConsumerSettings
    from cellkiosk.imaging.channels import drop_alpha, select_channels
    from cellkiosk.imaging.io import read_image_bytes
    from cellkiosk.inference.predictor import LocalPredictor
    from cellkiosk.inference.segment import labels_at_size, watershed_params
    from cellkiosk.inference.size import choose_size, predict_at_size
    from cellkiosk.inference.store import ModelStore
    from cellkiosk.measure.cells import measure_cells

    settings = ConsumerSettings()
    store = ModelStore(REPO / "models")
    card = store.get(model, "segmentation") if model else store.default_for("segmentation")
    assert card is not None, "no segmentation model in models/"
    predictor = LocalPredictor()
    parsed = validate_params("segmentation", params)
    assert isinstance(parsed, SegmentationParams)
    ws = watershed_params(card, parsed.watershed_overrides())

    def one(sample: Sample, stages: dict[str, float]) -> None:
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            stages[stage] = stages.get(stage, 0.0) + now - clock
            clock = now

        with sample.path.open("rb") as fh:
            loaded = read_image_bytes(fh, sample.path.name, None, settings.max_image_pixels)
        data = select_channels(loaded.data, card.n_channels, None, card.name, loaded.source_axes)
        raw = drop_alpha(loaded.data, loaded.source_axes)
        lap("decode")
        size = choose_size([data[0]], card, predictor, parsed.diameter, loaded.pixel_size_um,
                           settings.predict_batch_size, settings.max_image_pixels)  # fmt: skip
        lap("size")
        for i in range(data.shape[0]):
            heads = predict_at_size(
                data[i], size, card, predictor, card.inputs.tile_px, settings.predict_batch_size, first=i == 0
            )
            lap("predict")
            labels = labels_at_size(heads, card, ws, data.shape[1:3])
            lap("postprocess")
            measure_cells(labels, raw[i], sample.path.name, frame=i)
            lap("measure")

    def run(samples: list[Sample]) -> dict[str, Any]:
        stages: dict[str, float] = {}
        start = time.perf_counter()
        for sample in samples:
            one(sample, stages)
        wall = time.perf_counter() - start
        return {
            "wall_s": round(wall, 3),
            "megapixels_per_s": round(sum(s.megapixels for s in samples) / wall, 4),
            "stage_mean_s": {k: round(stages.get(k, 0.0) / len(samples), 4) for k in INPROCESS_STAGES},
        }

    return run


def submit_all(client: httpx.Client, samples: list[Sample], params: dict[str, Any]) -> tuple[float, list[str]]:
    """Upload each image and create its job at once (the consumer starts on the first while the rest upload)."""
    started = time.time()
    ids = []
    for s in samples:
        key = upload(client, s.path.name, s.path.read_bytes(), "image/png")
        r = client.post("/api/jobs", json={"type": "segmentation", "input": key, "params": params})
        r.raise_for_status()
        ids.append(str(r.json()["id"]))
    return started, ids


def stage_means(jobs: list[Job]) -> dict[str, float]:
    """Mean seconds per job of every stage the jobs report, plus queue wait and time outside any stage."""
    keys = sorted({k for j in jobs for k in (j.get("timings") or {})})
    out = {k: round(sum((j.get("timings") or {}).get(k, 0.0) for j in jobs) / len(jobs), 4) for k in keys}
    runs = [j["finished_at"] - j["started_at"] for j in jobs]
    out["outside_stages"] = round(statistics.mean(r - sum((j.get("timings") or {}).values())
                                                  for r, j in zip(runs, jobs, strict=True)), 4)  # fmt: skip
    out["queue_wait"] = round(statistics.mean(j["started_at"] - j["created_at"] for j in jobs), 4)
    return out


def busy_s(jobs: list[Job]) -> float:
    """Seconds in which at least one job ran (a job's upload may overlap the next job's compute)."""
    busy, end = 0.0, float("-inf")
    for start, finish in sorted((j["started_at"], j["finished_at"]) for j in jobs):
        busy += max(0.0, finish - max(start, end))
        end = max(end, finish)
    return busy


def platform_pass(client: httpx.Client, samples: list[Sample], params: dict[str, Any]) -> dict[str, Any]:
    """The N jobs on the warm platform: wall time (first upload to last job's end), MP/s, the finished jobs."""
    started, ids = submit_all(client, samples, params)
    finished = wait_all(client, ids)
    jobs = [finished[i] for i in ids]
    bad = [(j.get("input_name"), j.get("error")) for j in jobs if j["status"] != "done"]
    if bad:
        raise SystemExit(f"jobs failed: {bad}")
    wall = max(j["finished_at"] for j in jobs) - started
    return {"wall_s": round(wall, 3), "megapixels_per_s": round(sum(s.megapixels for s in samples) / wall, 4),
            "consumer_idle_s": round(wall - busy_s(jobs), 3), "jobs": jobs}  # fmt: skip


def rounds(args: argparse.Namespace, samples: list[Sample], params: dict[str, Any]) -> dict[str, Any]:
    """In process, then platform, then in process, ``args.rounds`` times (both sides share the machine's
    noisy moments); totals, per-round efficiencies and the stage means of every platform job."""
    local = in_process(params, args.model)
    local(samples[:1])  # warm-up: model load, kernels
    mp = sum(s.megapixels for s in samples)
    with Platform(args.port, 1) as plat, httpx.Client(base_url=plat.base_url, timeout=60.0) as client:
        startup = plat.wait_ready(client)
        key = upload(client, samples[0].path.name, samples[0].path.read_bytes(), "image/png")
        warm = wait_all(client, [create_job(client, key)])
        if any(j["status"] != "done" for j in warm.values()):
            raise SystemExit(f"warm-up job failed: {list(warm.values())}")
        inproc, passes = [local(samples)], []
        for _ in range(args.rounds):
            passes.append(platform_pass(client, samples, params))
            inproc.append(local(samples))
    ratios = [p["megapixels_per_s"] * 2 / (a["megapixels_per_s"] + b["megapixels_per_s"])
              for p, a, b in zip(passes, inproc, inproc[1:], strict=False)]  # fmt: skip
    jobs = [j for p in passes for j in p.pop("jobs")]
    platform_wall, inproc_wall = sum(p["wall_s"] for p in passes), sum(a["wall_s"] for a in inproc)
    return {
        "startup_s": round(startup, 2),
        "inprocess_passes": inproc,
        "platform_passes": passes,
        "round_efficiencies": [round(r, 3) for r in ratios],
        "inprocess_mpx_s": round(mp * len(inproc) / inproc_wall, 4),
        "platform": {
            "megapixels_per_s": round(mp * len(passes) / platform_wall, 4),
            "wall_s": round(platform_wall / len(passes), 3),
            "stage_mean_s": stage_means(jobs),
        },  # fmt: skip
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=12, help="number of images (N)")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared/data/coelho2009")
    p.add_argument("--split", default="test")
    p.add_argument("--modality", default="fluorescence")
    p.add_argument("--diameter", default="auto", help="params.diameter of every job: auto (no params) or px")
    p.add_argument("--model", default=None, help="name:version; default: the store's default segmentation model")
    p.add_argument("--rounds", type=int, default=3, help="platform passes, each between two in-process passes")
    p.add_argument("--code-commit", help="the commit of the cellkiosk code on PYTHONPATH, when not this checkout's")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    args.port = free_port()
    return args


def main(argv: list[str] | None = None) -> None:
    """Alternate in process and platform; print the record and the efficiency line."""
    args = parse_args(argv)
    samples = pick_images(args.data.resolve(), args.split, args.modality, args.images)
    params = job_params(args.diameter)
    measured = rounds(args, samples, params)
    record = {
        "benchmark": "e2e",
        "machine": machine() | {"loadavg_1m_at_end": round(os.getloadavg()[0], 2)},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit(),
        "code_commit": args.code_commit or commit(),
        "command": f".venv/bin/python -m benchmarks.e2e --images {args.images} --diameter {args.diameter}"
        + (f" --data {args.data}" if args.data != REPO.parent / "shared/data/coelho2009" else ""),
        "data": args.data.name,
        "images": len(samples),
        "megapixels": round(sum(s.megapixels for s in samples), 3),
        "params": params,
        "rounds": args.rounds,
        **measured,
        "efficiency": round(measured["platform"]["megapixels_per_s"] / measured["inprocess_mpx_s"], 3),
    }
    out = args.out or RESULTS / f"e2e_{args.data.name}_{args.diameter}.json"
    emit(record, out)
    print(
        f"efficiency={record['efficiency']} platform_mpx_s={record['platform']['megapixels_per_s']} "
        f"inprocess_mpx_s={record['inprocess_mpx_s']}"
    )


if __name__ == "__main__":
    main()
