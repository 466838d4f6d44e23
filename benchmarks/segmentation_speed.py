"""Segmentation speed on this CPU: predict and deep watershed per megapixel, and what automatic object size costs.

In one process and one run:
- network prediction (tiled, in-process TensorFlow) of every nuclear model version in the store on a
  2048 x 2048 mosaic of a real DSB2018 val image, in seconds per megapixel (models alternate between
  repeats, so a noisy neighbour hits them alike), and deep watershed on that prediction;
- automatic object size: a segmentation (size choice, resize, predict, watershed, labels mapped back,
  measurements) of real images with ``params.diameter`` auto, against the same images with the diameter
  auto found given as a number: the ratio is what the estimate adds to the work of a job (an upper
  bound of its share of a whole job, which also downloads, decodes and writes results).
Usage: ``python benchmarks/segmentation_speed.py [--repeats 3] [--images 12]`` (``make bench``); writes a
record to ``benchmarks/results/segmentation_speed.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from report import commit, emit, machine  # benchmarks/report.py: the scripts run with this folder on sys.path

from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.predictor import LocalPredictor
from cellkiosk.inference.segment import (
    labels_at_size,
    labels_from_heads,
    predict_heads,
    watershed_params,
)
from cellkiosk.inference.size import choose_size, predict_at_size
from cellkiosk.measure.cells import measure_cells
from cellkiosk.training.dataset import Sample, load_folder

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared/data"
IMAGE = DATA / "dsb2018/images/193ffaa5272d5c421ae02130a64d98ad120ec70e4ed97a72cdcd4801ce93b066.png"
RESULTS = REPO / "benchmarks/results"


def mosaic(side: int) -> np.ndarray:
    """A side x side grey image tiled from a real fluorescence val image (mirrored, so no seams)."""
    grey = np.asarray(Image.open(IMAGE))[..., 0]
    tile = np.block([[grey, grey[:, ::-1]], [grey[::-1], grey[::-1, ::-1]]])
    reps = (side // tile.shape[0] + 1, side // tile.shape[1] + 1)
    return np.tile(tile, reps)[:side, :side, None]


def nuclear_models() -> list[ModelCard]:
    """Every version of the shipped ``nuclear`` model, oldest first."""
    dirs = sorted((REPO / "models/nuclear").glob("*/model.yaml"), key=lambda p: int(p.parent.name))
    return [ModelCard.read(p.parent) for p in dirs]


def segment(sample: Sample, card: ModelCard, predictor: LocalPredictor, diameter: float | str) -> dict[str, Any]:
    """What a segmentation job computes for one image, timed: size, predict, watershed, mapping back, measuring."""
    ws = watershed_params(card, {})
    start = time.perf_counter()
    size = choose_size([sample.image], card, predictor, diameter)
    heads = predict_at_size(sample.image, size, card, predictor, card.inputs.tile_px, 4)  # as a job: reused or not
    labels = labels_at_size(heads, card, ws, sample.labels.shape)
    measure_cells(labels, sample.image, sample.name, 0)
    return {"s": time.perf_counter() - start, "diameter_px": size.diameter_px, "scale": size.scale}


def size_overhead(samples: list[Sample], card: ModelCard, predictor: LocalPredictor) -> dict[str, Any]:
    """Seconds for the images with diameter auto and with the diameter auto chose given; their ratio."""
    auto, given = 0.0, 0.0
    for sample in samples:
        found = segment(sample, card, predictor, "auto")
        fixed = segment(sample, card, predictor, found["diameter_px"] or "auto")
        auto, given = auto + found["s"], given + fixed["s"]
    mp = sum(s.image.shape[0] * s.image.shape[1] for s in samples) / 1e6
    return {
        "images": len(samples),
        "megapixels": round(mp, 2),
        "auto_s": round(auto, 2),
        "diameter_given_s": round(given, 2),
        "auto_over_given": round(auto / given, 3),
    }


def wall_time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    """Time predict per model, post-processing, and the automatic object size; print and save JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--side", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=12, help="images per set for the object-size overhead")
    parser.add_argument("--out", type=Path, default=RESULTS / "segmentation_speed.json")
    args = parser.parse_args()
    cards, predictor = nuclear_models(), LocalPredictor()
    image, mp = mosaic(args.side), args.side * args.side / 1e6
    for card in cards:  # load + warm up
        predict_heads(image[:512, :512], card, predictor, 512, 64, 4)
    times: dict[str, list[float]] = {f"{c.name}:{c.version}": [] for c in cards}
    heads = None
    for _ in range(args.repeats):
        for card in cards:
            start = time.perf_counter()
            heads = predict_heads(image, card, predictor, 512, 64, 4)
            times[f"{card.name}:{card.version}"].append(time.perf_counter() - start)
    newest = cards[-1]
    ws = watershed_params(newest, {})
    post = statistics.median(wall_time(lambda: labels_from_heads(heads, newest, ws)) for _ in range(args.repeats))
    sets = {
        "dsb2018 val fluorescence": load_folder(DATA / "dsb2018", split="val", modalities={"fluorescence"}),
        "coelho2009": load_folder(DATA / "coelho2009"),
    }
    picked = {name: s[:: max(1, len(s) // args.images)][: args.images] for name, s in sets.items()}
    report = {
        "benchmark": "segmentation_speed",
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit(),
        "image_px": [args.side, args.side],
        "predict_s_per_mp": {name: round(statistics.median(t) / mp, 3) for name, t in times.items()},
        "postprocess_s_per_mp": round(post / mp, 3),
        "postprocess_model": f"{newest.name}:{newest.version}",
        "size_auto_overhead": {
            name: size_overhead(s, newest, predictor) | {"model": f"{newest.name}:{newest.version}"}
            for name, s in picked.items()
        },
        "repeats": args.repeats,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    emit(report, args.out)


if __name__ == "__main__":
    main()
