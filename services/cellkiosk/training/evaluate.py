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
from cellkiosk.imaging.object_size import median_diameter
from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.predictor import LocalPredictor, Precision, Predictor
from cellkiosk.inference.segment import labels_at_size, watershed_params
from cellkiosk.inference.size import SizeChoice, choose_size, predict_at_size
from cellkiosk.postprocess.deep_watershed import WatershedParams
from cellkiosk.training.dataset import Sample

log = logging.getLogger(__name__)


@dataclass
class Predicted:
    """Network output for one annotated image, kept to re-run post-processing cheaply."""

    sample: Sample
    heads: np.ndarray  # at the scale the job chose (``size.scale``)
    predict_s: float
    size: SizeChoice
    size_s: float = 0.0


def predict_samples(
    samples: list[Sample],
    card: ModelCard,
    predictor: Predictor | None = None,
    flip_tta: bool = False,
    diameter: float | str = "auto",
) -> list[Predicted]:
    """Run the network on every sample as a job does: choose the object size, resize, predict (tiled).

    ``diameter`` is the job parameter: ``"auto"`` (estimated per image), a number, or ``"native"`` to
    segment every image as it is (scale 1, the behaviour before object-size handling).
    """
    predictor = predictor or LocalPredictor()
    out = []
    for sample in samples:
        start = time.perf_counter()
        if diameter == "native":
            size = SizeChoice(1.0, None, "native", card.inputs.diameter_px)
        else:
            size = choose_size([sample.image], card, predictor, diameter)
        sized = time.perf_counter()
        heads = predict_at_size(sample.image, size, card, predictor, card.inputs.tile_px, 4, flip_tta)
        out.append(Predicted(sample, heads, time.perf_counter() - sized, size, sized - start))
    return out


def score_predictions(
    predicted: list[Predicted], card: ModelCard, params: WatershedParams, group_by: str = "modality"
) -> tuple[dict[str, Any], list[ImageScores], float]:
    """Post-process and score; returns the aggregate (groups by the samples' ``group_by`` attribute), per-image
    scores and post-processing seconds."""
    scores, post_s = [], 0.0
    for p in predicted:
        start = time.perf_counter()
        labels = labels_at_size(p.heads, card, params, p.sample.labels.shape)
        post_s += time.perf_counter() - start
        scores.append(score_image(p.sample.labels, labels))
    summary = aggregate(scores, [getattr(p.sample, group_by) or "unknown" for p in predicted])
    return summary, scores, post_s


def tune_watershed(
    predicted: list[Predicted], card: ModelCard, grid: dict[str, list[Any]] | None = None
) -> tuple[WatershedParams, float]:
    """Grid-search the thresholds that maximise mean AP@0.5 (model selection on the val split)."""
    grid = grid or {
        "foreground_threshold": [0.3, 0.4, 0.5],
        "seed_threshold": [0.35, 0.45, 0.55, 0.65],
        "split_threshold": [None, 0.7, 0.8],
        "min_mean_foreground": [None, 0.7, 0.75, 0.8],
        "min_seed_px": [4, 8, 12],
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


def size_errors(predicted: list[Predicted]) -> dict[str, Any]:
    """How far the chosen diameters are from the ground truth's median diameters (images with a choice)."""
    ratios = np.array(
        [p.size.diameter_px / median_diameter(p.sample.labels) for p in predicted if p.size.diameter_px is not None]
    )
    ratios = ratios[np.isfinite(ratios)]
    if not ratios.size:
        return {"images": 0}
    return {
        "images": int(ratios.size),
        "no_estimate": len(predicted) - int(ratios.size),
        "median_ratio": round(float(np.median(ratios)), 3),
        "median_abs_error": round(float(np.median(np.abs(ratios - 1))), 3),
        "within_25pct": round(float(np.mean(np.abs(ratios - 1) <= 0.25)), 3),
        "worst_ratio": [round(float(ratios.min()), 3), round(float(ratios.max()), 3)],
    }


def speed(predicted: list[Predicted], post_s: float) -> dict[str, float]:
    """Seconds per megapixel of the input images, per stage."""
    mp = megapixels(predicted)
    return {
        "megapixels": round(mp, 3),
        "size_s_per_mp": round(sum(p.size_s for p in predicted) / mp, 3),
        "predict_s_per_mp": round(sum(p.predict_s for p in predicted) / mp, 3),
        "postprocess_s_per_mp": round(post_s / mp, 3),
    }


def evaluate_folder(
    model_dir: Path,
    samples: list[Sample],
    overrides: dict[str, Any] | None = None,
    flip_tta: bool = False,
    diameter: float | str = "auto",
    group_by: str = "modality",
    precision: Precision = "float32",
) -> dict[str, Any]:
    """Full report for a model on annotated samples, segmented as a job with ``params`` would: metrics per
    group, the object-size error and speed (in-process TensorFlow at ``precision``, as a consumer runs it)."""
    card = ModelCard.read(model_dir)
    predicted = predict_samples(samples, card, LocalPredictor(precision), flip_tta=flip_tta, diameter=diameter)
    summary, _, post_s = score_predictions(predicted, card, watershed_params(card, overrides or {}), group_by)
    summary["size"] = size_errors(predicted)
    summary["speed"] = speed(predicted, post_s)
    return summary
