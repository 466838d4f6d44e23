"""``cellkiosk export``: checkpoint -> SavedModel + model card with measured val metrics."""

from __future__ import annotations

import csv
import json
import logging
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.segment import watershed_params
from cellkiosk.training.card import nuclear_card
from cellkiosk.training.dataset import load_folder
from cellkiosk.training.evaluate import megapixels, predict_samples, score_predictions, tune_watershed
from cellkiosk.training.export import export_saved_model

log = logging.getLogger(__name__)
DEFAULT_POSTPROCESS = {
    "foreground_threshold": 0.45,
    "seed_threshold": 0.4,
    "split_threshold": 0.65,
    "min_seed_px": 4,
    "min_cell_px": 15,
    "fill_holes": True,
}


def load_checkpoint(path: Path) -> Any:
    """A trained Keras model from a ``.keras`` checkpoint."""
    import keras

    from cellkiosk.training.model import heads_loss

    return keras.models.load_model(path, custom_objects={"heads_loss": heads_loss}, compile=False)


def training_summary(run_dir: Path) -> dict[str, Any]:
    """What the run was: its config and how far it got."""
    config = json.loads((run_dir / "config.json").read_text())
    with (run_dir / "training_log.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    data = "dsb2018 train split (" + ", ".join(config["modalities"]) + ")"
    extra: dict[str, Any] = {}
    if config.get("ctc_sequences"):
        names = ", ".join("/".join(Path(seq).parts[-2:]) for seq in config["ctc_sequences"])
        data += (
            f" + Cell Tracking Challenge frames with their tracking markers (SEG masks where annotated): the first "
            f"{config['ctc_frames']:.0%} of the frames of {names}, resized by {config['ctc_scale']}, "
            f"{config['ctc_share']:.0%} of each batch; the later frames stay unseen"
        )
    if config.get("init_from"):
        extra["fine_tuned_from"] = config["init_from"]
    return {
        "data": data,
        **extra,
        "epochs": len(rows),
        "steps": len(rows) * config["steps_per_epoch"],
        "batch": f"{config['batch_size']} x {config['crop_px']}x{config['crop_px']} crops",
        "augmentation": "scale jitter 0.7-1.4, flips, 90 degree rotations, gamma, intensity, gaussian noise",
        "targets": "foreground (BCE) + per-cell inner distance scaled to 1 at the centre (5 x MSE)",
        "optimizer": f"Adam, cosine {config['learning_rate']} -> {config['min_learning_rate']}",
        "final_loss": round(float(rows[-1]["loss"]), 5) if rows else None,
        "hardware": "2 CPU cores (no GPU)",
        "seed": config["seed"],
    }


def export_and_measure(
    checkpoint: Path, run_dir: Path, out: Path, data_dir: Path, version: str, name: str = "nuclear"
) -> ModelCard:
    """Export the checkpoint, tune post-processing on val fluorescence, measure every modality, write the card."""
    model = load_checkpoint(checkpoint)
    final, out = out, out.with_name(f".{out.name}.partial")  # consumers never see a half-written model
    if out.exists():
        shutil.rmtree(out)
    card = nuclear_card(version, DEFAULT_POSTPROCESS, training_summary(run_dir), {}, name)
    export_saved_model(model, card, out)
    card = ModelCard.read(out)
    val = load_folder(data_dir, split="val")
    start = time.perf_counter()
    predicted = predict_samples(val, card)
    log.info("predicted val", extra={"images": len(val), "s": round(time.perf_counter() - start, 1)})
    fluo = [p for p in predicted if p.sample.modality == "fluorescence"]
    params, best = tune_watershed(fluo, card)
    summary, _, post_s = score_predictions(predicted, card, params)
    mp = megapixels(predicted)
    card.postprocess.params = {k: v for k, v in asdict(params).items()}
    card.metrics = {
        "val": {group: _rounded(values) for group, values in summary["groups"].items()},
        "val_overall": _rounded(summary["overall"]),
        "convention": "AP = TP/(TP+FP+FN) at IoU 0.5, one-to-one matching; ap50_image_mean = mean over images "
        "(DSB convention); map = AP averaged over IoU 0.5:0.05:0.95",
        "postprocess_tuned_on": "val fluorescence (model selection, as the data README allows)",
        "speed_cpu_2cores": {
            "predict_s_per_mp": round(sum(p.predict_s for p in predicted) / mp, 3),
            "postprocess_s_per_mp": round(post_s / mp, 3),
        },
    }
    card.write(out)
    for name in ("training_log.csv", "loss.png"):
        shutil.copy(run_dir / name, out / name)
    if final.exists():
        shutil.rmtree(final)
    out.rename(final)
    card.path = final
    return card


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()}


def record_checkpoint(checkpoint: Path, run_dir: Path, data_dir: Path, history: Path) -> dict[str, Any]:
    """Score a checkpoint on val fluorescence (default and tuned post-processing); append a row to ``history``."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        model = load_checkpoint(checkpoint)
        card = nuclear_card("checkpoint", DEFAULT_POSTPROCESS, {}, {})
        export_saved_model(model, card, Path(tmp))
        card = ModelCard.read(Path(tmp))
        predicted = predict_samples(load_folder(data_dir, split="val", modalities={"fluorescence"}), card)
        default, _, _ = score_predictions(predicted, card, watershed_params(card, {}))
        tuned_params, tuned = tune_watershed(predicted, card)
    state = json.loads((run_dir / "state.json").read_text())
    row = {
        "epoch": state["epoch"],
        "steps": state["epoch"] * json.loads((run_dir / "config.json").read_text())["steps_per_epoch"],
        "ap50_default": round(default["overall"]["ap50_image_mean"], 4),
        "map_default": round(default["overall"]["map_image_mean"], 4),
        "ap50_tuned": round(tuned, 4),
        "tuned": f"fg={tuned_params.foreground_threshold} seed={tuned_params.seed_threshold}",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    new = not history.exists()
    with history.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
    return row
