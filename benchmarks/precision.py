"""Reduced precision: what in-process bfloat16 (``CELLKIOSK_PRECISION=bfloat16``) costs in AP and gains in speed.

TensorFlow's oneDNN auto-mixed-precision rewrite (``LocalPredictor(precision="bfloat16")``) against float32,
each in a process of its own (the rewrite is a process-wide optimizer setting), on the default nuclear model:

- raw network speed on a batch of four 512 x 512 tiles of the DSB2018 val mosaic (median of ``--repeats``
  after a warm-up call) and the largest absolute difference of the heads from float32's;
- AP@0.5 of a job with no params (object size auto, the card's tuned thresholds) on DSB2018 val fluorescence,
  where the thresholds were tuned, and on coelho2009, never tuned on, through ``evaluate_folder``: the
  job's own path.

The issue's bar for offering the mode: AP@0.5 within 0.005 of float32 on both sets (``within_bar``).
Usage: ``python -m benchmarks.precision [--repeats 5] [--limit N]``; writes
``benchmarks/results/precision.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks/results"
PRECISIONS = ("float32", "bfloat16")
BAR = 0.005  # largest AP@0.5 loss (pooled and image mean, either set) the issue accepts
DATA = REPO.parent / "shared/data"
SETS = {  # name: (folder, split, modalities, group_by, the group reported)
    "dsb2018 val fluorescence": (DATA / "dsb2018", "val", {"fluorescence"}, "modality", "fluorescence"),
    "coelho2009": (DATA / "coelho2009", None, None, "cell_line", None),
}


def child(precision: str, repeats: int, limit: int | None, out: Path) -> None:
    """In this process only: time the raw network, save its heads, score both sets at ``precision``."""
    from benchmarks.backends import tiles
    from cellkiosk.inference.predictor import LocalPredictor
    from cellkiosk.inference.store import ModelStore
    from cellkiosk.training.dataset import load_folder
    from cellkiosk.training.evaluate import evaluate_folder

    card = ModelStore(REPO / "models").default_for("segmentation")
    assert card is not None
    predictor = LocalPredictor(precision)  # type: ignore[arg-type]
    batch = tiles(4)
    heads = predictor.predict(card, batch)  # warm-up, and the output compared across precisions
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predictor.predict(card, batch)
        times.append(time.perf_counter() - start)
    np.save(out.with_suffix(".npy"), heads)
    result: dict[str, Any] = {"predict_s_per_mp": round(statistics.median(times) / (batch[..., 0].size / 1e6), 4)}
    for name, (root, split, modalities, group_by, group) in SETS.items():
        samples = load_folder(root, split=split, modalities=modalities, limit=limit)
        report = evaluate_folder(card.path, samples, group_by=group_by, precision=precision)  # type: ignore[arg-type]
        summary = report["groups"][group] if group else report["overall"]
        result[name] = {key: summary[key] for key in ("n_images", "ap50_pooled", "ap50_image_mean", "f1_pooled")}
    result["model"] = f"{card.name}:{card.version}"
    out.write_text(json.dumps(result))


def main() -> None:
    """Run each precision in its own process, compare, print and save the record."""
    from benchmarks.records import record_head
    from benchmarks.report import emit
    from cellkiosk.inference.predictor import cpu_has_bf16

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--limit", type=int, help="images per set (default: all)")
    parser.add_argument("--child", nargs=2, metavar=("PRECISION", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULTS / "precision.json")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.repeats, args.limit, Path(args.child[1]))
        return
    load_start = os.getloadavg()[0]
    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for precision in PRECISIONS:
            out = Path(tmp) / f"{precision}.json"
            limit = ["--limit", str(args.limit)] if args.limit else []
            command = [sys.executable, "-m", "benchmarks.precision", "--child", precision, str(out),
                       "--repeats", str(args.repeats), *limit]  # fmt: skip
            subprocess.run(command, cwd=REPO, check=True)
            runs[precision] = json.loads(out.read_text())
            print(precision, runs[precision], flush=True)
        base, low = (np.load(Path(tmp) / f"{p}.npy") for p in PRECISIONS)
    loss = {
        name: {key: round(runs["float32"][name][key] - runs["bfloat16"][name][key], 4)
               for key in ("ap50_pooled", "ap50_image_mean")}
        for name in SETS
    }  # fmt: skip
    command = "python -m benchmarks.precision" + (f" --limit {args.limit}" if args.limit else "")
    report = {
        **record_head("precision", command, round(load_start, 2)),
        "cpu_has_bf16": cpu_has_bf16(),
        "model": runs["float32"]["model"],
        "runs": runs,
        "max_abs_difference": round(float(np.abs(base - low).max()), 4),
        "speedup": round(runs["float32"]["predict_s_per_mp"] / runs["bfloat16"]["predict_s_per_mp"], 2),
        "ap50_loss": loss,
        "bar": BAR,
        "within_bar": all(v <= BAR for row in loss.values() for v in row.values()),
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
