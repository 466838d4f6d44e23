"""Object size for a job: estimate the nuclei's diameter with the model itself, and the scale that follows.

The network only segments well near the nuclear size it was trained at (the card's ``diameter_px``).
:func:`estimate_diameter` tries the model on one window of the image at a ladder of candidate
diameters and keeps the largest candidate whose nuclei the model finds at about that size: at a
candidate far too small, nuclei look huge and come out in pieces (or their texture passes for small
nuclei); far too large, they shrink below what the model can see. The median diameter of what it
finds there, mapped back to the image, is the estimate (nuclei the window cut through are left out: they
measure small); a last pass over the whole image at the scale it gives checks it, and is the very
prediction a job at that scale needs (:func:`reusable_heads`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cellkiosk.core.errors import BadInputError
from cellkiosk.imaging.normalize import normalize_percentile
from cellkiosk.imaging.object_size import median_diameter
from cellkiosk.imaging.resize import resize_frame
from cellkiosk.imaging.tiling import pad_to_multiple
from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.predictor import Predictor
from cellkiosk.inference.segment import labels_from_heads, predict_heads
from cellkiosk.postprocess.deep_watershed import WatershedParams

# Candidate nuclear diameters (px of the image), a geometric ladder over what microscopes give; 2.83x apart, so
# any diameter is within 1.68x of one, inside the 0.5-2x scale jitter the model was trained with. (Until
# 2026-12-02 the ladder was 2x apart: more windows, and no better on DSB2018 val, docs/object-size.md.)
LADDER_STEP = 2 * 2**0.5
CANDIDATES_PX: tuple[float, ...] = tuple(round(6.0 * LADDER_STEP**i, 1) for i in range(5))  # 6, 17, 48, 135.8, 384
WINDOW_PX = 160  # side of the window the model sees at each candidate (in network pixels)
REFINE_TOLERANCE = 1.15  # the winner's measurement stands unless the whole image's differs by more than this
CONSISTENT_RATIO = LADDER_STEP**0.5  # within half a ladder step (in log) of the candidate: the model sees them
MIN_OBJECTS = 3
# A scale this close to 1 is not worth resampling for: the model was trained with scale jitter.
SCALE_TOLERANCE = 1.2
MIN_SCALE, MAX_SCALE = 0.05, 4.0  # a 20x smaller image, or 4x larger (16x the pixels) at most
# The estimator's own post-processing, fixed. The size a job picks depends on the image and the model only,
# not on the thresholds tuned into a card or given by a job: those are tuned on predictions made at the
# chosen size, so letting them choose the size goes round in a circle, and a card measured with one size
# rule would not describe jobs run with another. The values are the untuned defaults a nuclear card is
# exported with (training/finalize.py), so a card's figures are measured with the very sizes jobs pick.
SIZE_PARAMS = WatershedParams(
    foreground_threshold=0.45, seed_threshold=0.4, split_threshold=0.65, min_seed_px=4, min_cell_px=15, fill_holes=True
)


@dataclass
class SizeEstimate:
    """A diameter estimate and how it was reached (written to job.json)."""

    diameter_px: float | None  # None: no candidate found enough objects
    candidates: list[dict[str, float]] = field(default_factory=list)  # candidate, objects, measured diameter
    # the last pass: the network over the whole image resized by ``heads_scale`` (a job at that scale reuses it)
    heads: np.ndarray | None = field(default=None, repr=False)
    heads_scale: float | None = None


def best_window(image: np.ndarray, side: int) -> tuple[slice, slice]:
    """The ``side`` x ``side`` window (clipped to the image) with the brightest mean among a 3x3 grid of places."""
    height, width = image.shape[:2]
    h, w = min(side, height), min(side, width)
    best, best_mean = (slice(0, h), slice(0, w)), -math.inf
    for y in np.linspace(0, height - h, 3).astype(int):
        for x in np.linspace(0, width - w, 3).astype(int):
            window = (slice(int(y), int(y) + h), slice(int(x), int(x) + w))
            mean = float(image[window].mean())
            if mean > best_mean:
                best, best_mean = window, mean
    return best


def windows_at(
    x: np.ndarray, candidate: float, target: float, multiple: int
) -> tuple[np.ndarray, tuple[int, int], tuple[bool, bool, bool, bool]]:
    """The brightest window of the normalized image resized so nuclei of ``candidate`` px would be ``target``
    px across: at most :data:`WINDOW_PX` square, padded (reflect, as tiles are) only up to ``multiple``; its
    size before padding; and which of its sides (top, bottom, left, right) cut into the image rather than
    lie on the image's edge. A window is no larger than its content: the network's cost grows with its area."""
    scale = target / candidate
    rows, cols = best_window(x[..., 0], int(math.ceil(WINDOW_PX / scale)))
    cut = (rows.start > 0, rows.stop < x.shape[0], cols.start > 0, cols.stop < x.shape[1])
    window = resize_frame(x[rows, cols], scale)
    window = window[:WINDOW_PX, :WINDOW_PX]  # rounding may add a pixel
    return pad_to_multiple(window, multiple), (window.shape[0], window.shape[1]), cut


def without_cut_objects(labels: np.ndarray, cut: tuple[bool, bool, bool, bool]) -> np.ndarray:
    """``labels`` without the objects touching the sides marked in ``cut`` (top, bottom, left, right): a nucleus
    the window cut through measures small. Objects on the image's own edge stay, as in the whole image."""
    edges = (labels[0], labels[-1], labels[:, 0], labels[:, -1])
    sides = [edge for edge, is_cut in zip(edges, cut, strict=True) if is_cut]
    touching = np.unique(np.concatenate(sides)) if sides else np.zeros(0, labels.dtype)
    return np.where(np.isin(labels, touching[touching > 0]), 0, labels)


def measure_at(
    x: np.ndarray, candidates: list[float], card: ModelCard, predictor: Predictor, params: WatershedParams
) -> list[dict[str, float]]:
    """Segment one window of the normalized image per candidate, as if its nuclei were that many px across.

    Each window (:func:`windows_at`) is one predictor call of its own size. Returns, per candidate,
    the objects found whole (none the window cut through) and their median diameter in image pixels.
    """
    target = card.inputs.diameter_px
    assert target is not None
    results = []
    for candidate in candidates:
        window, (height, width), cut = windows_at(x, candidate, target, card.inputs.multiple_of)
        heads = predictor.predict(card, window[None].astype(np.float32, copy=False))[0]
        labels = without_cut_objects(labels_from_heads(heads[:height, :width], card, params), cut)
        objects = int(len(np.unique(labels))) - 1
        measured = median_diameter(labels) * candidate / target if objects else float("nan")
        results.append({"candidate_px": round(candidate, 1), "objects": objects, "measured_px": round(measured, 1)})
    return results


def _gap(result: dict[str, float]) -> float:
    """How far (log ratio) a candidate's measured diameter is from the candidate (nan-safe: inf)."""
    measured = result["measured_px"]
    return abs(math.log(measured / result["candidate_px"])) if measured > 0 else math.inf


def _consistent(result: dict[str, float]) -> bool:
    """Enough objects, measured within :data:`CONSISTENT_RATIO` of the candidate: the model sees such nuclei."""
    return result["objects"] >= MIN_OBJECTS and _gap(result) <= math.log(CONSISTENT_RATIO)


def estimate_diameter(
    image: np.ndarray, card: ModelCard, predictor: Predictor, batch_size: int = 4, max_pixels: int | None = None
) -> SizeEstimate:
    """Estimate the median nuclear diameter (px) of a raw (Y, X, C) image with the model of ``card``.

    Every candidate of :data:`CANDIDATES_PX` that leaves the image a few nuclei wide is tried on a
    window of at most :data:`WINDOW_PX` square. A candidate is *consistent* when the median diameter of
    what the model finds there is within :data:`CONSISTENT_RATIO` of the candidate itself; the largest
    consistent candidate wins (at smaller ones the model may take texture inside a large nucleus for
    small nuclei; nuclei never hide inside smaller ones), else the candidate closest to consistent. The
    candidates are tried from the largest down, one window each, and the first consistent one ends
    the search (the same winner as trying them all).

    The last pass is the job's own prediction: the whole image resized by the scale the winner's
    measurement gives (:func:`scale_for`), predicted tiled as a job predicts it (the card's tiling,
    ``batch_size`` tiles a call), its objects measured again. The winner's measurement stands unless
    the whole image disagrees by more than :data:`REFINE_TOLERANCE`; then the whole image's does.
    A job whose scale is the pass's uses its heads (:func:`reusable_heads`) instead of predicting again,
    so the estimate costs only its windows. The pass is skipped where the resized image would exceed
    ``max_pixels`` (such a job is refused, :func:`check_scaled_size`).
    """
    target = card.inputs.diameter_px
    if target is None:
        raise ValueError(f"model card {card.name} has no diameter_px: it cannot estimate object size")
    norm = card.inputs.normalization
    x = normalize_percentile(image, norm.low, norm.high)
    usable = [c for c in CANDIDATES_PX if min(image.shape[:2]) * target / c >= 4 * target]
    tried: list[dict[str, float]] = []
    for candidate in sorted(usable, reverse=True):  # the largest consistent one wins: stop at the first
        (result,) = measure_at(x, [candidate], card, predictor, SIZE_PARAMS)
        tried.append(result)
        if _consistent(result):
            break
    found = [t for t in tried if t["objects"] >= MIN_OBJECTS]
    if not found:
        return SizeEstimate(None, tried)
    # texture inside a large nucleus can look like small nuclei at a small candidate, never the reverse
    best = tried[-1] if _consistent(tried[-1]) else min(found, key=_gap)
    diameter = best["measured_px"]
    scale = scale_for(diameter, card)
    if max_pixels is not None and math.ceil(image.shape[0] * scale) * math.ceil(image.shape[1] * scale) > max_pixels:
        return SizeEstimate(round(float(diameter), 1), tried)
    heads = predict_heads(
        image, card, predictor, card.inputs.tile_px, card.inputs.tile_overlap_px, batch_size, scale=scale
    )
    labels = labels_from_heads(heads, card, SIZE_PARAMS)
    objects = int(len(np.unique(labels))) - 1
    whole = {
        "candidate_px": round(diameter, 1), "objects": objects, "whole_image": True,
        "measured_px": round(median_diameter(labels) / scale, 1) if objects else float("nan"),
    }  # fmt: skip
    tried.append(whole)
    if objects >= MIN_OBJECTS and _gap(whole) > math.log(REFINE_TOLERANCE):
        diameter = whole["measured_px"]
    return SizeEstimate(round(float(diameter), 1), tried, heads, scale)


def scale_for(diameter_px: float | None, card: ModelCard) -> float:
    """Resize factor bringing nuclei of ``diameter_px`` to the card's trained size.

    1 when the diameter is unknown or within :data:`SCALE_TOLERANCE` of the trained size; otherwise
    clipped to [:data:`MIN_SCALE`, :data:`MAX_SCALE`].
    """
    target = card.inputs.diameter_px
    if diameter_px is None or target is None or diameter_px <= 0:
        return 1.0
    scale = target / diameter_px
    if 1 / SCALE_TOLERANCE <= scale <= SCALE_TOLERANCE:
        return 1.0
    return float(min(max(scale, MIN_SCALE), MAX_SCALE))


@dataclass
class SizeChoice:
    """The object size a job segments at and why (``job.json``'s ``size``)."""

    scale: float  # images are resized by this for the network, labels mapped back
    diameter_px: float | None  # the nuclei's median diameter in image pixels, as given, derived or estimated
    basis: str  # "params.diameter", "params.scale", "pixel size", "estimated", or why none applies
    model_diameter_px: float | None = None  # what the model was trained at (its card)
    estimate: SizeEstimate | None = None  # of the first image

    def to_json(self) -> dict[str, object]:
        """A plain dict for job.json."""
        out: dict[str, object] = {
            "scale": round(self.scale, 4), "diameter_px": self.diameter_px, "basis": self.basis,
            "model_diameter_px": self.model_diameter_px,
        }  # fmt: skip
        if self.estimate is not None:
            out["estimate_candidates"] = self.estimate.candidates
        return out


def choose_size(
    images: list[np.ndarray],
    card: ModelCard,
    predictor: Predictor,
    diameter: float | str | None,
    pixel_size_um: float | None = None,
    batch_size: int = 4,
    max_pixels: int | None = None,
) -> SizeChoice:
    """Decide the scale of a job from ``params.diameter`` (a number, or ``"auto"``).

    ``"auto"`` uses the image's pixel size when both it and the card's are known (nuclei then come
    out at the trained size if the sample is like the training data), else estimates the diameter
    on ``images`` (one frame, or a few of a movie: the median of their estimates sets one scale), always
    with :data:`SIZE_PARAMS`: a job's post-processing parameters do not move its size. ``batch_size``
    and ``max_pixels`` are the job's (:func:`estimate_diameter`); only a single image's estimate keeps
    its last pass's heads for the job to reuse, and where the scale its diameter gives is within
    :data:`SCALE_TOLERANCE` of the pass's, the job keeps the pass's scale (the rule that keeps scale 1 near
    the trained size) instead of predicting the image again.
    """
    target = card.inputs.diameter_px
    if target is None:
        return SizeChoice(1.0, None, f"model {card.name} has no trained diameter: images are not resized")
    if isinstance(diameter, int | float):
        return SizeChoice(scale_for(float(diameter), card), float(diameter), "params.diameter", target)
    if pixel_size_um and card.inputs.pixel_size_um:
        derived = round(target * card.inputs.pixel_size_um / pixel_size_um, 1)
        return SizeChoice(scale_for(derived, card), derived, "pixel size", target)
    estimates = [estimate_diameter(image, card, predictor, batch_size, max_pixels) for image in images]
    if len(images) > 1:
        for estimate in estimates:  # one scale for several frames: no frame's pass is the job's
            estimate.heads = estimate.heads_scale = None
    found = [e.diameter_px for e in estimates if e.diameter_px is not None]
    if not found:
        return SizeChoice(1.0, None, "estimate failed (too few nuclei found): not resized", target, estimates[0])
    estimated = round(float(np.median(found)), 1)
    scale, passed = scale_for(estimated, card), estimates[0].heads_scale
    if passed is not None and 1 / SCALE_TOLERANCE <= scale / passed <= SCALE_TOLERANCE:
        scale = passed  # as near as scale 1 is kept near the trained size: not worth predicting again
    return SizeChoice(scale, estimated, "estimated", target, estimates[0])


def reusable_heads(size: SizeChoice, card: ModelCard, tile_px: int, flip_tta: bool) -> np.ndarray | None:
    """The heads of the estimate's last pass when a job's predict of its first image would compute the very
    same ones: at the job's scale, with the card's tiling, without flip TTA. None otherwise."""
    estimate = size.estimate
    if estimate is None or estimate.heads is None or estimate.heads_scale != size.scale:
        return None
    return None if flip_tta or tile_px != card.inputs.tile_px else estimate.heads


def predict_at_size(
    image: np.ndarray,
    size: SizeChoice,
    card: ModelCard,
    predictor: Predictor,
    tile_px: int,
    batch_size: int,
    flip_tta: bool = False,
    on_progress: Callable[[float], None] | None = None,
    first: bool = True,
) -> np.ndarray:
    """The heads of one page of a job at its scale: the size estimate's last pass for the ``first`` page when it
    is that very prediction (:func:`reusable_heads`), else predicted (:func:`predict_heads`)."""
    heads = reusable_heads(size, card, tile_px, flip_tta) if first else None
    if heads is not None:
        return heads
    overlap = card.inputs.tile_overlap_px
    return predict_heads(image, card, predictor, tile_px, overlap, batch_size, flip_tta, on_progress, scale=size.scale)


def check_scaled_size(shape: tuple[int, ...], scale: float, max_pixels: int, name: str) -> None:
    """Refuse a job whose resized image would exceed the server's pixel limit (BadInputError, in words)."""
    pages, height, width = shape[0], shape[1], shape[2]
    scaled = pages * math.ceil(height * scale) * math.ceil(width * scale) * (shape[3] if len(shape) > 3 else 1)
    if scale > 1 and scaled > max_pixels:
        raise BadInputError(
            f"{name}: resizing by {scale:.2f} so the nuclei reach the model's size would make {scaled:,} values, "
            f"above this server's limit of {max_pixels:,}; give params.diameter larger, or crop the image"
        )
