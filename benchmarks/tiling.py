"""Tiled predict against the raw network on the same pixels: what the job's tiling costs.

A job predicts a large image in 512 px tiles with 64 px overlap, four tiles a call
(``inference.segment.predict_heads``); the raw network could take the whole 2048 x 2048 normalized
mosaic (``segmentation_speed.mosaic``) in one call. Both run in one process with the default model
and TensorFlow, alternating, ``--repeats`` times; the record holds the median seconds of each, their
ratio, and the largest difference between the two outputs (tile seams). In the same rounds the tiled
predict also runs with :data:`TILES_PER_CALL` tiles a call (``CELLKIOSK_PREDICT_BATCH_SIZE``): the
record's ``by_tiles_per_call`` holds each one's median s/MP and its largest difference from the default (a job's).
Usage: ``python -m benchmarks.tiling [--repeats 3]``; writes ``benchmarks/results/tiling.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks/results"
SIDE = 2048
TILES_PER_CALL = (1, 2, 4)  # CELLKIOSK_PREDICT_BATCH_SIZE values timed; the consumer's default among them


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
    from cellkiosk.core.settings import ConsumerSettings
    from cellkiosk.imaging.normalize import normalize_percentile
    from cellkiosk.inference.predictor import LocalPredictor
    from cellkiosk.inference.segment import predict_heads
    from cellkiosk.inference.store import ModelStore

    card = ModelStore(REPO / "models").default_for("segmentation")
    assert card is not None
    image, predictor = mosaic(SIDE), LocalPredictor()
    norm = card.inputs.normalization
    whole = normalize_percentile(image, norm.low, norm.high)[None].astype(np.float32)

    default = ConsumerSettings.model_fields["predict_batch_size"].default  # what a job uses

    def tiled(per_call: int = default) -> np.ndarray:
        return predict_heads(image, card, predictor, card.inputs.tile_px, card.inputs.tile_overlap_px, per_call)

    def tiled_name(per_call: int) -> str:
        return "tiled" if per_call == default else f"tiled_{per_call}"

    def raw() -> np.ndarray:
        return np.asarray(predictor.predict(card, whole))[0]

    runs: dict[str, Callable[[], np.ndarray]] = {"tiled": tiled, "raw": raw}
    runs |= {tiled_name(n): partial(tiled, n) for n in TILES_PER_CALL if n != default}
    outputs = {name: fn() for name, fn in runs.items()}  # warm-up: load, trace every shape
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    megapixels = SIDE * SIDE / 1e6
    median = {name: statistics.median(t) for name, t in times.items()}
    by_call = {
        str(n): {
            "s_per_mp": round(median[tiled_name(n)] / megapixels, 3),
            "max_abs_diff_from_default": float(np.abs(outputs[tiled_name(n)] - outputs["tiled"]).max()),
        }
        for n in TILES_PER_CALL
    }
    report = record_head("tiling", "python -m benchmarks.tiling", load) | {
        "model": f"{card.name}:{card.version}",
        "image_px": [SIDE, SIDE],
        "tile_px": card.inputs.tile_px,
        "tile_overlap_px": card.inputs.tile_overlap_px,
        "tiles_per_call": default,
        "repeats": args.repeats,
        "tiled_s_per_mp": round(median["tiled"] / megapixels, 3),
        "raw_s_per_mp": round(median["raw"] / megapixels, 3),
        "tiled_over_raw": round(median["tiled"] / median["raw"], 3),
        "max_abs_diff": round(float(np.abs(outputs["tiled"] - outputs["raw"]).max()), 4),
        "by_tiles_per_call": by_call,
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
