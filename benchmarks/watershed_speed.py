"""Post-processing speed: cellkiosk's deep watershed against the predecessor's h-maxima watershed, same inputs.

The input is the default nuclear model's prediction of a 2048 x 2048 mosaic of a real DSB2018 val image
(``segmentation_speed.mosaic``); 512 x 512 is its top-left corner and 8192 x 8192 the 2048 prediction
mirrored 4 x 4 (predicting 67 MP would take minutes and time nothing extra). Both methods get the very same
arrays:

- ``deep_watershed``: :func:`cellkiosk.postprocess.deep_watershed.deep_watershed` with the card's parameters;
- ``h_maxima_watershed``: what the DeepCell Kiosk's ``deepcell_toolbox.deep_watershed`` did with
  scikit-image: seeds = ``h_maxima(inner, h=0.1, footprint=disk(10))``, labelled, then
  ``watershed(-foreground, seeds, mask=foreground > threshold)`` (foreground smoothed, sigma 1), then
  ``remove_small_objects``; the foreground threshold and minimum size are the card's.

With ``--before COMMIT`` the deep watershed of that commit (its ``postprocess/deep_watershed.py``, read
with ``git show``) runs too, on the same inputs in the same run, and must give the same labels.
Seconds are the median of ``--repeats`` runs (at 8192, and the predecessor from 2048 on, once).
Usage: ``python benchmarks/watershed_speed.py [--repeats 5] [--before COMMIT]``; writes
``benchmarks/results/watershed_speed.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from report import commit, emit, machine  # benchmarks/report.py: the scripts run with this folder on sys.path
from scipy import ndimage as ndi
from segmentation_speed import mosaic
from skimage.measure import label
from skimage.morphology import disk, h_maxima, remove_small_objects
from skimage.segmentation import watershed

from cellkiosk.inference.predictor import LocalPredictor
from cellkiosk.inference.segment import predict_heads, watershed_params
from cellkiosk.inference.store import ModelStore
from cellkiosk.postprocess.deep_watershed import WatershedParams, deep_watershed

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks/results"
SIDES = (512, 2048, 8192)


def h_maxima_watershed(foreground: np.ndarray, inner: np.ndarray, params: WatershedParams) -> np.ndarray:
    """The predecessor's post-processing (deepcell_toolbox ``deep_watershed``, h-maxima seeds)."""
    smooth = ndi.gaussian_filter(foreground, 1)
    markers = label(h_maxima(inner, 0.1, footprint=disk(10)))
    labels = watershed(-smooth, markers, mask=smooth > params.foreground_threshold)
    return np.asarray(remove_small_objects(labels, max_size=params.min_cell_px - 1))


def module_at(commit: str) -> types.ModuleType:
    """``cellkiosk.postprocess.deep_watershed`` as it was at ``commit`` (it imports only numpy, scipy, skimage)."""
    path = "services/cellkiosk/postprocess/deep_watershed.py"
    source = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=REPO, capture_output=True, text=True, check=True)
    module = types.ModuleType(f"deep_watershed_{commit}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source.stdout, f"{commit}:{path}", "exec"), module.__dict__)  # noqa: S102 - our own history
    return module


def timed(fn: Callable[[], np.ndarray], repeats: int) -> tuple[float, int]:
    """Median seconds of ``repeats`` calls and the number of cells the last one found."""
    times, cells = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        cells = int(fn().max())
        times.append(time.perf_counter() - start)
    return statistics.median(times), cells


def heads_at(side: int, heads: np.ndarray) -> np.ndarray:
    """The 2048 prediction cropped (smaller sides) or mirrored into a side x side mosaic (larger)."""
    if side <= heads.shape[0]:
        return np.ascontiguousarray(heads[:side, :side])
    top = np.concatenate([heads, heads[:, ::-1]], axis=1)
    tile = np.concatenate([top, top[::-1]], axis=0)
    reps = -(-side // tile.shape[0])
    return np.ascontiguousarray(np.tile(tile, (reps, reps, 1))[:side, :side])


def main() -> None:
    """Predict once, then time both post-processings on each size; print and save JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--predecessor-max-side",
        type=int,
        default=2048,
        help="run h_maxima + watershed up to this side (8192: ~16x the 2048 time, minutes)",
    )
    parser.add_argument("--before", help="also time the deep watershed of this commit (same inputs, same run)")
    parser.add_argument("--out", type=Path, default=RESULTS / "watershed_speed.json")
    args = parser.parse_args()
    before = module_at(args.before) if args.before else None
    card = ModelStore(REPO / "models").default_for("segmentation")
    assert card is not None
    heads = predict_heads(mosaic(2048), card, LocalPredictor(), 512, 64, 4)
    names = card.outputs.heads
    params = watershed_params(card, {})
    load_start = os.getloadavg()[0]
    sizes: dict[str, Any] = {}
    for side in SIDES:
        h = heads_at(side, heads)
        fg = np.ascontiguousarray(h[..., names.index("foreground")])
        inner = np.ascontiguousarray(h[..., names.index("inner_distance")])
        runs = args.repeats if side <= 2048 else 1
        ours = lambda fg=fg, inner=inner: deep_watershed(fg, inner, params)  # noqa: E731
        row: dict[str, Any] = {}
        if before is not None:  # interleaved with ours, so a noisy neighbour hits both alike
            old_params = before.WatershedParams(**vars(params))
            old = lambda fg=fg, inner=inner, p=old_params: before.deep_watershed(fg, inner, p)  # noqa: E731
            row["before_same_labels"] = bool(np.array_equal(old(), ours()))
            pairs = [(timed(old, 1)[0], timed(ours, 1)[0]) for _ in range(runs)]
            row["before_s"] = round(statistics.median(p[0] for p in pairs), 4)
            ours_s, ours_cells = statistics.median(p[1] for p in pairs), int(ours().max())
        else:
            ours_s, ours_cells = timed(ours, runs)
        row |= {"deep_watershed_s": round(ours_s, 4), "deep_watershed_cells": ours_cells,
                "deep_watershed_s_per_mp": round(ours_s / (side * side / 1e6), 4)}  # fmt: skip
        if side <= args.predecessor_max_side:
            slow = lambda fg=fg, inner=inner: h_maxima_watershed(fg, inner, params)  # noqa: E731
            theirs, theirs_cells = timed(slow, runs if side <= 512 else 1)
            row |= {"h_maxima_watershed_s": round(theirs, 4), "h_maxima_watershed_cells": theirs_cells,
                    "speedup_over_h_maxima": round(theirs / ours_s, 1)}  # fmt: skip
        sizes[f"{side}x{side}"] = row
        print(side, sizes[f"{side}x{side}"], flush=True)
    report = {
        "benchmark": "watershed_speed",
        "machine": machine(),
        "loadavg_1m": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit(),
        "command": "python benchmarks/watershed_speed.py" + (f" --before {args.before}" if args.before else ""),
        "before_commit": args.before,
        "model": f"{card.name}:{card.version}",
        "params": {
            "foreground_threshold": params.foreground_threshold,
            "seed_threshold": params.seed_threshold,
            "split_threshold": params.split_threshold,
            "min_cell_px": params.min_cell_px,
        },  # fmt: skip
        "repeats": args.repeats,
        "sizes": sizes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    emit(report, args.out)


if __name__ == "__main__":
    main()
