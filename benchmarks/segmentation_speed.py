"""Segmentation speed on this CPU: predict and deep watershed, in seconds per megapixel.

Runs the shipped nuclear model on real DSB2018 val images tiled up to 2048 x 2048 (the size the
issue's post-processing target names) and times, in one process and one run:
- network prediction (tiled, in-process TensorFlow), per megapixel;
- deep watershed on that 2048 x 2048 prediction (target: under 1 s).
Usage: ``python benchmarks/segmentation_speed.py [--repeats 3] [--out result.json]`` (``make bench``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.predictor import LocalPredictor
from cellkiosk.inference.segment import labels_from_heads, predict_heads, watershed_params

REPO = Path(__file__).resolve().parents[1]
IMAGE = REPO.parent / "shared/data/dsb2018/images/193ffaa5272d5c421ae02130a64d98ad120ec70e4ed97a72cdcd4801ce93b066.png"


def mosaic(side: int) -> np.ndarray:
    """A side x side grey image tiled from a real fluorescence val image (mirrored, so no seams)."""
    grey = np.asarray(Image.open(IMAGE))[..., 0]
    tile = np.block([[grey, grey[:, ::-1]], [grey[::-1], grey[::-1, ::-1]]])
    reps = (side // tile.shape[0] + 1, side // tile.shape[1] + 1)
    return np.tile(tile, reps)[:side, :side, None]


def timed(fn, repeats: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    """Median wall time of ``repeats`` calls and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    """Time predict and post-process; print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=str(REPO / "models/nuclear/1"))
    parser.add_argument("--side", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out")
    args = parser.parse_args()
    card = ModelCard.read(Path(args.model))
    predictor = LocalPredictor()
    image = mosaic(args.side)
    mp = args.side * args.side / 1e6
    predict_heads(image[:512, :512], card, predictor, 512, 64, 4)  # load + warm up
    t_predict, heads = timed(lambda: predict_heads(image, card, predictor, 512, 64, 4), args.repeats)
    params = watershed_params(card, {})
    t_post, labels = timed(lambda: labels_from_heads(heads, card, params), args.repeats)  # type: ignore[arg-type]
    report = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor()},
        "image_px": [args.side, args.side],
        "cells": int(np.asarray(labels).max()),
        "predict_s": round(t_predict, 3),
        "predict_s_per_mp": round(t_predict / mp, 3),
        "postprocess_s": round(t_post, 3),
        "postprocess_s_per_mp": round(t_post / mp, 3),
        "repeats": args.repeats,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
