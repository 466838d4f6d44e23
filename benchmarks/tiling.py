"""Tiled predict against the raw network on the same pixels: what the job's tiling costs.

A job predicts a large image in 512 px tiles with 64 px overlap, four tiles a call
(``inference.segment.predict_heads``); the raw network could take the whole 2048 x 2048 normalized
mosaic (``segmentation_speed.mosaic``) in one call. Both run in one process with the default model
and TensorFlow, alternating, ``--repeats`` times; the record holds the median seconds of each, their
ratio, and the largest difference between the two outputs (tile seams).
Usage: ``python -m benchmarks.tiling [--repeats 3]``; writes ``benchmarks/results/tiling.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks/results"
SIDE = 2048


def main() -> None:
    """Time both ways on the same pixels; print and save the record."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "tiling.json")
    args = parser.parse_args()
    load = round(os.getloadavg()[0], 2)
    sys.path.insert(0, str(REPO / "benchmarks"))
    from segmentation_speed import mosaic

    from benchmarks.records import record_head
    from benchmarks.report import emit
    from cellkiosk.imaging.normalize import normalize_percentile
    from cellkiosk.inference.predictor import LocalPredictor
    from cellkiosk.inference.segment import predict_heads
    from cellkiosk.inference.store import ModelStore

    card = ModelStore(REPO / "models").default_for("segmentation")
    assert card is not None
    image, predictor = mosaic(SIDE), LocalPredictor()
    norm = card.inputs.normalization
    whole = normalize_percentile(image, norm.low, norm.high)[None].astype(np.float32)

    def tiled() -> np.ndarray:
        return predict_heads(image, card, predictor, card.inputs.tile_px, card.inputs.tile_overlap_px, 4)

    def raw() -> np.ndarray:
        return np.asarray(predictor.predict(card, whole))[0]

    outputs = {"tiled": tiled(), "raw": raw()}  # warm-up: load, trace both shapes
    times: dict[str, list[float]] = {"tiled": [], "raw": []}
    for _ in range(args.repeats):
        for name, fn in (("tiled", tiled), ("raw", raw)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    megapixels = SIDE * SIDE / 1e6
    median = {name: statistics.median(t) for name, t in times.items()}
    report = record_head("tiling", "python -m benchmarks.tiling", load) | {
        "model": f"{card.name}:{card.version}",
        "image_px": [SIDE, SIDE],
        "tile_px": card.inputs.tile_px,
        "tile_overlap_px": card.inputs.tile_overlap_px,
        "tiles_per_call": 4,
        "repeats": args.repeats,
        "tiled_s_per_mp": round(median["tiled"] / megapixels, 3),
        "raw_s_per_mp": round(median["raw"] / megapixels, 3),
        "tiled_over_raw": round(median["tiled"] / median["raw"], 3),
        "max_abs_diff": round(float(np.abs(outputs["tiled"] - outputs["raw"]).max()), 4),
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
