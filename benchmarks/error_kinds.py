"""Where the default model's AP@0.5 is lost: every false positive and false negative of a default job, by kind.

Runs a job's own path (``training.evaluate.predict_samples``: object size auto, resize, tiled predict, the
card's tuned thresholds, labels mapped back) on DSB2018 val fluorescence (where the thresholds were tuned)
and on coelho2009 (never tuned on), and sorts each unmatched object with
:func:`cellkiosk.evaluation.errors.error_kinds`: predictions over no true nucleus, pieces, merges, missed
nuclei, and how many of each touch the image's edge. A diagnosis, not a score: the cards hold the scores.

Usage: ``python -m benchmarks.error_kinds [--model models/nuclear/3]``; writes
``benchmarks/results/error_kinds.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.records import record_head
from cellkiosk.evaluation import errors
from cellkiosk.evaluation.errors import error_kinds
from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.segment import labels_at_size, watershed_params
from cellkiosk.inference.store import ModelStore
from cellkiosk.training.dataset import load_folder
from cellkiosk.training.evaluate import predict_samples

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks/results"
DATA = REPO.parent / "shared/data"


def measure(card: ModelCard, samples: list, group_by: str | None) -> dict[str, Any]:
    """Error kinds of a default job over ``samples``, overall and per group (e.g. cell line)."""
    params = watershed_params(card, {})
    groups: dict[str, Counter[str]] = {}
    totals = {"tp": 0, "n_true": 0}
    for predicted in predict_samples(samples, card):
        truth = predicted.sample.labels
        labels = labels_at_size(predicted.heads, card, params, truth.shape)
        kinds = error_kinds(truth, labels)
        fn = sum(v for k, v in kinds.items() if k.startswith("fn_") and not k.endswith("_at_edge"))
        totals["n_true"] += int(truth.max())
        totals["tp"] += int(truth.max()) - fn
        for group in ("all", getattr(predicted.sample, group_by) if group_by else None):
            if group:
                groups.setdefault(group, Counter()).update(kinds)
    out: dict[str, Any] = {**totals}
    for group, kinds in groups.items():
        fp = sum(v for k, v in kinds.items() if k.startswith("fp_") and not k.endswith("_at_edge"))
        fn = sum(v for k, v in kinds.items() if k.startswith("fn_") and not k.endswith("_at_edge"))
        out[group] = {"fp": fp, "fn": fn, **dict(sorted(kinds.items()))}
    everything = groups["all"]
    fp, fn, tp = out["all"]["fp"], out["all"]["fn"], totals["tp"]
    out["ap50_pooled"] = round(tp / (tp + fp + fn), 4)
    # what the two kinds that depend most on what the annotators chose to draw cost (a diagnosis, not a score)
    out["ap50_pooled_not_counting_fp_no_truth"] = round(tp / (tp + fp - everything["fp_no_truth"] + fn), 4)
    out["ap50_pooled_not_counting_fp_no_truth_nor_fn_missed_at_edge"] = round(
        tp / (tp + fp - everything["fp_no_truth"] + fn - everything["fn_missed_at_edge"]), 4
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model directory (default: the store's default segmentation)")
    args = parser.parse_args()
    load = round(os.getloadavg()[0], 2)
    card = ModelCard.read(Path(args.model)) if args.model else ModelStore(REPO / "models").default_for("segmentation")
    assert card is not None
    val = load_folder(DATA / "dsb2018", split="val", modalities={"fluorescence"})
    record = record_head("error_kinds", "python -m benchmarks.error_kinds", load) | {
        "model": f"{card.name}:{card.version}",
        "thresholds": {
            "no_truth_below": errors.NO_TRUTH,
            "piece_of_one_nucleus_from": errors.ONE_NUCLEUS,
            "missed_below": errors.MISSED,
            "merged_from": errors.MERGED,
        },  # fmt: skip
        "sets": {
            "dsb2018 val fluorescence": measure(card, val, None),
            "coelho2009": measure(card, load_folder(DATA / "coelho2009"), "cell_line"),
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "error_kinds.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record["sets"], indent=1))


if __name__ == "__main__":
    main()
