"""``cellkiosk evaluate``: segment an annotated folder with a model and score it."""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cellkiosk.evaluation.segmentation import ImageScores, aggregate, score_image
from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.predictor import LocalPredictor, Predictor
from cellkiosk.inference.segment import labels_from_heads, predict_heads, watershed_params
from cellkiosk.postprocess.deep_watershed import WatershedParams
from cellkiosk.training.dataset import Sample

log = logging.getLogger(__name__)


@dataclass
class Predicted:
    """Network output for one annotated image, kept to re-run post-processing cheaply."""

    sample: Sample
    heads: np.ndarray
    predict_s: float


def predict_samples(
    samples: list[Sample], card: ModelCard, predictor: Predictor | None = None, flip_tta: bool = False
) -> list[Predicted]:
    """Run the network on every sample (tiled like the platform does)."""
    predictor = predictor or LocalPredictor()
    out = []
    for sample in samples:
        start = time.perf_counter()
        heads = predict_heads(
            sample.image, card, predictor, card.inputs.tile_px, card.inputs.tile_overlap_px, 4, flip_tta
        )
        out.append(Predicted(sample, heads, time.perf_counter() - start))
    return out


def score_predictions(
    predicted: list[Predicted], card: ModelCard, params: WatershedParams
) -> tuple[dict[str, Any], list[ImageScores], float]:
    """Post-process and score; returns the aggregate, per-image scores and post-processing seconds."""
    scores, post_s = [], 0.0
    for p in predicted:
        start = time.perf_counter()
        labels = labels_from_heads(p.heads, card, params)
        post_s += time.perf_counter() - start
        scores.append(score_image(p.sample.labels, labels))
    summary = aggregate(scores, [p.sample.modality for p in predicted])
    return summary, scores, post_s


def tune_watershed(
    predicted: list[Predicted], card: ModelCard, grid: dict[str, list[Any]] | None = None
) -> tuple[WatershedParams, float]:
    """Grid-search the thresholds that maximise mean AP@0.5 (model selection on the val split)."""
    grid = grid or {
        "foreground_threshold": [0.4, 0.5],
        "seed_threshold": [0.35, 0.4, 0.5],
        "split_threshold": [None, 0.6, 0.65, 0.7, 0.75],
    }
    best, best_ap = watershed_params(card, {}), -1.0
    for values in itertools.product(*grid.values()):
        overrides = dict(zip(grid, values, strict=True))
        params = watershed_params(card, overrides)
        summary, _, _ = score_predictions(predicted, card, params)
        ap = summary["overall"]["ap50_image_mean"]
        log.info("grid", extra={**overrides, "ap50": ap})
        if ap > best_ap:
            best, best_ap = params, ap
    return best, best_ap


def megapixels(predicted: list[Predicted]) -> float:
    """Total image area in megapixels."""
    return sum(p.sample.image.shape[0] * p.sample.image.shape[1] for p in predicted) / 1e6


def evaluate_folder(
    model_dir: Path, samples: list[Sample], overrides: dict[str, Any] | None = None, flip_tta: bool = False
) -> dict[str, Any]:
    """Full report for a model on annotated samples: metrics per modality and speed."""
    card = ModelCard.read(model_dir)
    predicted = predict_samples(samples, card, flip_tta=flip_tta)
    summary, _, post_s = score_predictions(predicted, card, watershed_params(card, overrides or {}))
    mp = megapixels(predicted)
    summary["speed"] = {
        "megapixels": round(mp, 3),
        "predict_s_per_mp": round(sum(p.predict_s for p in predicted) / mp, 3),
        "postprocess_s_per_mp": round(post_s / mp, 3),
    }
    return summary
