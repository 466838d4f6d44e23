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
from cellkiosk.inference.size import SIZE_PARAMS
from cellkiosk.training.augment import AugmentConfig
from cellkiosk.training.card import nuclear_card
from cellkiosk.training.dataset import load_folder
from cellkiosk.training.evaluate import predict_samples, score_predictions, size_errors, speed, tune_watershed
from cellkiosk.training.export import export_saved_model

log = logging.getLogger(__name__)
DEFAULT_POSTPROCESS = asdict(SIZE_PARAMS)  # a new card starts from the size estimator's thresholds, then is tuned


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
    names = ", ".join("/".join(Path(seq).parts[-2:]) for seq in config.get("ctc_sequences", []))
    if config.get("ctc_sequences") and config.get("ctc_seg"):
        data += (
            f" + the Cell Tracking Challenge frames with a SEG mask among the first {config['ctc_frames']:.0%} of "
            f"{names} (labelled by the mask; cells a sparse mask leaves out are masked from the loss), "
            f"{config['ctc_share']:.0%} of each batch; the later frames stay unseen"
        )
    elif config.get("ctc_sequences"):
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
        **_recipe(config),
        "optimizer": f"Adam, cosine {config['learning_rate']} -> {config['min_learning_rate']}",
        "final_loss": round(float(rows[-1]["loss"]), 5) if rows else None,
        "hardware": "2 CPU cores (no GPU)",
        "seed": config["seed"],
    }


def measure_card(card: ModelCard, data_dir: Path, unseen_dir: Path | None) -> dict[str, Any]:
    """Tune post-processing on val fluorescence, then measure the card on val and on the unseen set.

    Every figure comes from :func:`predict_samples`, the job's own path (object size, resize, tiled
    predict, labels mapped back). Sets ``card.postprocess.params`` to the tuned thresholds and returns
    the metrics: val per modality (auto size, tuned), val fluorescence at native size and with the
    untuned defaults, the unseen set (never tuned on) per cell line with auto size and without and
    with the untuned defaults, the size estimate's error on both, and speed.
    """
    untuned = SIZE_PARAMS  # what an export starts from (DEFAULT_POSTPROCESS), not the card's last tuning
    val = load_folder(data_dir, split="val")
    start = time.perf_counter()
    auto = predict_samples(val, card)
    log.info("predicted val", extra={"images": len(val), "s": round(time.perf_counter() - start, 1)})
    fluo = [p for p in auto if p.sample.modality == "fluorescence"]
    params, _ = tune_watershed(fluo, card)
    summary, _, post_s = score_predictions(auto, card, params)
    native = predict_samples([p.sample for p in fluo], card, diameter="native")
    metrics: dict[str, Any] = {"headline": {}}
    metrics["val"] = {group: _rounded(values) for group, values in summary["groups"].items()}
    metrics["val_overall"] = _rounded(summary["overall"])
    metrics["val_fluorescence_native_size"] = _rounded(score_predictions(native, card, params)[0]["overall"])
    metrics["val_fluorescence_untuned_defaults"] = _rounded(score_predictions(fluo, card, untuned)[0]["overall"])
    metrics["size_estimate"] = {"val_fluorescence": size_errors(fluo)}
    metrics["headline"]["val_fluorescence"] = _headline(metrics["val"]["fluorescence"])
    if unseen_dir is not None:
        unseen = load_folder(unseen_dir)
        unseen_auto = predict_samples(unseen, card)
        unseen_native = predict_samples(unseen, card, diameter="native")
        scored = {
            "default_params": score_predictions(unseen_auto, card, params, "cell_line")[0],
            "untuned_defaults": score_predictions(unseen_auto, card, untuned, "cell_line")[0],
            "native_size": score_predictions(unseen_native, card, params, "cell_line")[0],
        }
        name = unseen_dir.name
        metrics[name] = {
            how: {"all": _rounded(r["overall"]), **{g: _rounded(v) for g, v in r["groups"].items()}}
            for how, r in scored.items()
        }
        metrics["size_estimate"][name] = size_errors(unseen_auto)
        metrics["headline"][f"{name}_default_params"] = _headline(metrics[name]["default_params"]["all"])
    card.postprocess.params = dict(asdict(params))
    metrics["convention"] = (
        "AP = TP/(TP+FP+FN) at IoU 0.5, one-to-one matching; ap50_image_mean = mean over images (DSB convention); "
        "ap50_pooled sums TP, FP, FN over images first; map = AP averaged over IoU 0.5:0.05:0.95. Every figure is "
        "a job with default params (object size auto) unless its key says otherwise"
    )
    metrics["postprocess_tuned_on"] = "val fluorescence (model selection, as the data README allows)"
    if unseen_dir is not None:
        metrics["never_tuned_on"] = f"{unseen_dir.name}: no training, no threshold, no checkpoint chosen on it"
    metrics["speed_cpu_2cores"] = speed(auto, post_s)
    return metrics


def remeasure(model_dir: Path, data_dir: Path, unseen_dir: Path | None) -> ModelCard:
    """Measure a shipped model again (post-processing re-tuned on val, the unseen set) and rewrite its card."""
    card = ModelCard.read(model_dir)
    card.metrics = measure_card(card, data_dir, unseen_dir)
    card.write(model_dir)
    return card


def _headline(values: dict[str, Any]) -> dict[str, Any]:
    return {k: values[k] for k in ("ap50_pooled", "ap50_image_mean", "f1_pooled", "n_images")}


def _recipe(config: dict[str, Any]) -> dict[str, Any]:
    """Size normalization, augmentation and targets of a run, from its config (older runs had fewer keys)."""
    if not config.get("diameter_px"):
        return {
            "augmentation": "scale jitter 0.7-1.4, flips, 90 degree rotations, gamma, intensity, gaussian noise",
            "targets": "foreground (BCE) + per-cell inner distance scaled to 1 at the centre (5 x MSE)",
        }
    return {
        "diameter_px": config["diameter_px"],
        "size_normalization": f"every image resized so its median nucleus is {config['diameter_px']} px across",
        "augmentation": f"scale jitter {config['scale_min']}-{config['scale_max']} (log-uniform), crowded crops "
        "(most touching of 3 candidates, half the time), flips, 90 degree rotations, blur, illumination gradient, "
        "gamma, contrast/offset, gaussian noise" + _object_gain(config),
        "targets": "foreground (BCE, masked where a sparse SEG frame is unannotated) + per-cell inner distance "
        "scaled to 1 at the centre (5 x MSE, x4 on borders between touching nuclei)",
    }


def _object_gain(config: dict[str, Any]) -> str:
    """The per-nucleus brightness augmentation, when the run used it."""
    share = config.get("object_gain_p") or 0.0
    low, high = AugmentConfig().object_gain_range  # train.batches sets only the share
    return f", each nucleus's own brightness {low}-{high}x (log-uniform) on {share:.0%} of crops" if share else ""


def export_and_measure(
    checkpoint: Path,
    run_dir: Path,
    out: Path,
    data_dir: Path,
    version: str,
    name: str = "nuclear",
    unseen_dir: Path | None = None,
    diameter_px: float | None = None,
) -> ModelCard:
    """Export the checkpoint; tune post-processing on val fluorescence; measure val and the unseen set into the card."""
    model = load_checkpoint(checkpoint)
    final, out = out, out.with_name(f".{out.name}.partial")  # consumers never see a half-written model
    if out.exists():
        shutil.rmtree(out)
    summary = training_summary(run_dir)
    card = nuclear_card(version, DEFAULT_POSTPROCESS, summary, {}, name, diameter_px or summary.get("diameter_px"))
    export_saved_model(model, card, out)
    card = ModelCard.read(out)
    card.metrics = measure_card(card, data_dir, unseen_dir)
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
    """Score a checkpoint on val fluorescence (default and tuned post-processing); append a row to ``history``.

    The checkpoint and its state are copied first, so a training run may go on writing them meanwhile.
    """
    import tempfile

    config = json.loads((run_dir / "config.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        state = json.loads((run_dir / "state.json").read_text())
        shutil.copy(checkpoint, Path(tmp) / "checkpoint.keras")
        model = load_checkpoint(Path(tmp) / "checkpoint.keras")
        card = nuclear_card("checkpoint", DEFAULT_POSTPROCESS, {}, {}, diameter_px=config.get("diameter_px"))
        export_saved_model(model, card, Path(tmp))
        card = ModelCard.read(Path(tmp))
        predicted = predict_samples(load_folder(data_dir, split="val", modalities={"fluorescence"}), card)
        default, _, _ = score_predictions(predicted, card, watershed_params(card, {}))
        tuned_params, tuned = tune_watershed(predicted, card)
    row = {
        "epoch": state["epoch"],
        "steps": state["epoch"] * config["steps_per_epoch"],
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
