"""``cellkiosk export-tracking``: a tracking card's metrics measured by running its own jobs' path, not typed.

For every CTC sequence given, a tracking job with no params (:func:`segment_and_track`): the whole movie,
and the part of it the segmentation model never saw (frames from ``unseen_from`` of the movie on). Then
across datasets: the card's only fitted quantity, ``tracking_diameter_px`` (the nuclear size its
distances are given for), is taken from one movie's estimated diameter and the other movie is scored
with it, both ways; and the tracker alone on the ground-truth markers. The whole movies' divisions are
also counted by kind (:func:`cellkiosk.evaluation.divisions.division_outcomes`).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from cellkiosk.evaluation.divisions import division_outcomes
from cellkiosk.evaluation.tracking import link_ground_truth
from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.store import ModelStore
from cellkiosk.inference.timelapse import DISTANCE_PARAMS
from cellkiosk.tracking.params import TrackingParams
from cellkiosk.training.tracking_eval import segment_and_track


def _scores(report: dict[str, Any]) -> dict[str, Any]:
    """The figures of one run worth a card: TRA, DET, divisions, errors, frames, size."""
    scores = report["scores"] or {}
    keep = ("tra", "det", "division_f1", "division_tp", "divisions_gt", "divisions_found")
    out: dict[str, Any] = {k: _round(scores[k]) for k in keep if k in scores}
    out["frames"] = report["frames"]
    if report.get("size"):
        out["diameter_px"] = report["size"].get("diameter_px")
        out["scale"] = round(float(report["scale"]), 4)
    if report["problems"]:
        out["problems"] = report["problems"]
    return out


def _round(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def _name(seq: Path) -> str:
    return f"{seq.parent.name}/{seq.name}"


def adapted_distances(card: ModelCard, adapt_diameter: float, score_diameter: float) -> dict[str, float]:
    """The tracker distances (image px) for a movie of ``score_diameter`` nuclei when the card's reference
    diameter is taken from another movie's ``adapt_diameter``."""
    base = TrackingParams.model_validate(card.tracking)
    return {key: getattr(base, key) * score_diameter / adapt_diameter for key in DISTANCE_PARAMS}


def measure_tracking_card(
    card: ModelCard, sequences: list[Path], models_dir: Path, unseen_from: float = 0.5
) -> dict[str, Any]:
    """Every figure of a tracking card, from runs of the job's own path (see the module docstring)."""
    model = f"{card.name}:{card.version}"
    metrics: dict[str, Any] = {"end_to_end": {}, "unseen_frames": {}, "across_datasets": {}, "linking_gt_markers": {}}
    diameters: dict[Path, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, seq in enumerate(sequences):
            whole = segment_and_track(seq, Path(tmp) / f"whole{i}", model, {}, models_dir)
            outcomes = division_outcomes(Path(tmp) / f"whole{i}", seq.parent / f"{seq.name}_GT")
            metrics["end_to_end"][_name(seq)] = _scores(whole) | {"division_outcomes": outcomes}
            diameters[seq] = float(whole["size"]["diameter_px"] or 0) or float("nan")
            start = int(round(whole["frames"] * unseen_from))
            half = segment_and_track(seq, Path(tmp) / f"half{i}", model, {}, models_dir, range(start, whole["frames"]))
            metrics["unseen_frames"][f"{_name(seq)} frames {start}-{whole['frames'] - 1}"] = _scores(half)
            sized = TrackingParams.model_validate(whole["params"])
            linked = link_ground_truth(seq, Path(tmp) / f"gt{i}", sized)
            metrics["linking_gt_markers"][_name(seq)] = _scores({**linked, "frames": whole["frames"]})
        for adapt in sequences:
            for score in sequences:
                if adapt == score:
                    continue
                distances = adapted_distances(card, diameters[adapt], diameters[score])
                run = segment_and_track(score, Path(tmp) / "cross", model, {"tracking": distances}, models_dir)
                key = f"adapted on {_name(adapt)}, scored on {_name(score)}"
                metrics["across_datasets"][key] = _scores(run) | {"tracking_diameter_px": diameters[adapt]}
    metrics["convention"] = (
        "TRA, DET (AOGM-based) and division F1 (BC(0)) from py-ctcmetrics; every run is a tracking job with no "
        f"params through {model}'s own path; unseen_frames: the frames from {unseen_from:.0%} of each movie on, "
        "which the segmentation model was not trained on; division_outcomes: every true division and every "
        "division found by kind (evaluation/divisions.py, a diagnosis: found means a division in the same frame "
        "near the true mother, so it can count one that BC(0) does not where the truth's daughters begin in "
        "different frames)"
    )
    metrics["measured"] = time.strftime("%Y-%m-%d, 2 CPU cores, no GPU")
    return metrics


def export_tracking_card(card_dir: Path, sequences: list[Path], unseen_from: float = 0.5) -> ModelCard:
    """Measure the tracking card in ``card_dir`` (a folder of the model store) and write its metrics into it."""
    card = ModelCard.read(card_dir)
    card.metrics = measure_tracking_card(card, sequences, ModelStore(card_dir.parents[1]).root, unseen_from)
    card.write(card_dir)
    return card
