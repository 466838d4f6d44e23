"""Could a learnt size head let a job skip the trained-size window? A probe, fitted on DSB2018 train only.

On small images (a 256 px DSB image: a ~90 ms prediction) the estimate's two windows cost what keeps issue
10's +30 % out of reach: the 48 px candidate's (the whole image at 0.35x, ~96 px) and the trained size's
(17 px: a 160 px window at 1x). The 48 px window is inconsistent on every image with nuclei under ~28 px,
and the ladder then looks at 17 px. If a head read the diameter off the 48 px window alone, within the
1.2x a job keeps a last pass's scale for (``inference.size.choose_size``), the last pass could go straight
to that scale and the trained-size window would not be needed; a miss costs a second whole-image pass.

Two heads, each fitted on DSB2018 train fluorescence and scored on val (native size), on the images where
the 48 px window is usable and inconsistent-small (the ladder's next step is the trained-size window):

- ``window_measure``: log-linear in the 48 px window's own measured diameter (``inference.size.measure_at``,
  the job's code), fitted to the ground truth's median diameter;
- ``unet_style``: the model's own bottleneck features averaged over the 48 px window (Cellpose's size model
  reads its network's style vector so), ridge regression and gradient boosting, fitted on train images at
  their size and at two random rescales (0.4-3x) each.

It reports the share within 1.2x (the job would reuse the pass) and 1.1x of the truth. coelho2009 is not
read. Usage: ``python benchmarks/size_head_probe.py``; writes ``benchmarks/results/size_head_probe.json``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from report import commit, emit, machine  # benchmarks/report.py: the scripts run with this folder on sys.path

from cellkiosk.imaging.normalize import normalize_percentile
from cellkiosk.imaging.object_size import median_diameter
from cellkiosk.inference import size
from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.predictor import LocalPredictor
from cellkiosk.training.dataset import Sample, load_folder

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared/data"
RESULTS = REPO / "benchmarks/results"
CARD_DIR = REPO / "models/nuclear/3"
PROBED = 48.0  # the candidate above the trained size (inference.size.CANDIDATES_PX)
RESCALES = 2  # extra random rescales of each train image for the style head


def usable(sample: Sample, candidate: float, factor: float = 1.0) -> bool:
    """The ladder's rule: the candidate leaves the (rescaled) image at least 4 nuclei wide."""
    return min(sample.image.shape[:2]) * factor >= 4 * candidate


def window_measures(samples: list[Sample], card: ModelCard) -> dict[str, tuple[float, float]]:
    """Per image: (the 48 px window's measured diameter, the truth's), where that window is usable and
    inconsistent-small."""
    predictor, norm, out = LocalPredictor(), card.inputs.normalization, {}
    for sample in samples:
        if not usable(sample, PROBED):
            continue
        x = normalize_percentile(sample.image, norm.low, norm.high)
        (result,) = size.measure_at(x, [PROBED], card, predictor, size.SIZE_PARAMS)
        measured = result["measured_px"]
        if result["objects"] >= size.MIN_OBJECTS and measured < PROBED / size.CONSISTENT_RATIO:
            out[sample.name] = (measured, median_diameter(sample.labels))
    return out


def style_model(card: ModelCard) -> Any:
    """The shipped U-Net rebuilt from its SavedModel's weights, giving its bottleneck features' window mean."""
    import keras

    from cellkiosk.training.model import build_unet, load_saved_model_weights

    net = build_unet()
    load_saved_model_weights(net, str(card.saved_model_path))
    bottleneck = next(layer for layer in net.layers if isinstance(layer, keras.layers.UpSampling2D)).input
    return keras.Model(net.input, keras.layers.GlobalAveragePooling2D()(bottleneck))


def style_features(
    samples: list[Sample], card: ModelCard, net: Any, rescales: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per sample (at its size, then ``rescales`` random rescales): the style at the 48 px window,
    log(truth / 48), and the sample's name. A rescale by f is the window of candidate 48 / f."""
    norm, target = card.inputs.normalization, card.inputs.diameter_px
    assert target is not None
    features, logs, names = [], [], []
    for sample in samples:
        truth = median_diameter(sample.labels)
        x = normalize_percentile(sample.image, norm.low, norm.high)
        for factor in [1.0, *np.exp(rng.uniform(math.log(0.4), math.log(3.0), rescales))]:
            if not (truth > 0 and usable(sample, PROBED, factor)):
                continue
            window, _, _ = size.windows_at(x, PROBED / factor, target, card.inputs.multiple_of)
            features.append(np.asarray(net(window[None].astype(np.float32)))[0])
            logs.append(math.log(truth * factor / PROBED))
            names.append(sample.name)
    return np.array(features), np.array(logs), names


def scores(error_log: np.ndarray) -> dict[str, float]:
    """Share of estimates within 1.2x / 1.1x of the truth, and the median ratio error."""
    error = np.abs(error_log)
    return {
        "n": int(error.size),
        "within_1.2x": round(float(np.mean(error < math.log(1.2))), 3),
        "within_1.1x": round(float(np.mean(error < math.log(1.1))), 3),
        "median_abs_error": round(float(np.expm1(np.median(error))), 3),
    }


def main() -> None:
    """Fit both heads on train, score them on val; print and save the record."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    start = time.perf_counter()
    card = ModelCard.read(CARD_DIR)
    train = load_folder(DATA / "dsb2018", split="train", modalities={"fluorescence"})
    val = load_folder(DATA / "dsb2018", split="val", modalities={"fluorescence"})

    val_measures = window_measures(val, card)
    fit_pairs, val_pairs = np.log(list(window_measures(train, card).values())), np.log(list(val_measures.values()))
    slope, intercept = np.polyfit(fit_pairs[:, 0], fit_pairs[:, 1], 1)
    measure_head = {
        "fit_on": f"dsb2018 train fluorescence, {len(fit_pairs)} images",
        "log_truth": f"{intercept:.3f} + {slope:.3f} log(measured)",
        "train": scores(intercept + slope * fit_pairs[:, 0] - fit_pairs[:, 1]),
        "val": scores(intercept + slope * val_pairs[:, 0] - val_pairs[:, 1]),
    }

    net, rng = style_model(card), np.random.default_rng(0)
    x_train, y_train, _ = style_features(train, card, net, RESCALES, rng)
    x_val, y_val, val_names = style_features(val, card, net, 0, rng)
    subset = np.array([name in val_measures for name in val_names])  # where the window_measure head applies
    heads = {
        "ridge": make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 3, 12))),
        "gradient_boosting": HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, random_state=0),
    }
    style_head: dict[str, Any] = {"fit_on": f"dsb2018 train fluorescence, {len(y_train)} windows"}
    for name, model in heads.items():
        model.fit(x_train, y_train)
        error = model.predict(x_val) - y_val
        style_head[name] = {"val_usable": scores(error), "val_inconsistent_small": scores(error[subset])}

    report = {
        "benchmark": "size_head_probe",
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit(),
        "model": f"{card.name}:{card.version}",
        "probed_candidate_px": PROBED,
        "window_measure": measure_head,
        "unet_style": style_head,
        "seconds": round(time.perf_counter() - start, 1),
    }
    emit(report, RESULTS / "size_head_probe.json")


if __name__ == "__main__":
    main()
