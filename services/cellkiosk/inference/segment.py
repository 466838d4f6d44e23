"""Segmentation of one image array: normalize, predict (tiled), deep watershed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from cellkiosk.imaging.normalize import normalize_percentile
from cellkiosk.imaging.resize import resize_frame, resize_labels
from cellkiosk.imaging.tiling import pad_to_multiple, predict_tiled, reflected_window
from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.predictor import Predictor
from cellkiosk.postprocess.deep_watershed import WatershedParams, deep_watershed


def watershed_params(card: ModelCard, overrides: dict[str, Any]) -> WatershedParams:
    """The model card's post-processing defaults with a job's overrides applied."""
    known = set(WatershedParams.__dataclass_fields__)
    base = WatershedParams(**{k: v for k, v in card.postprocess.params.items() if k in known})
    return replace(base, **overrides)


def predict_batch(batch: np.ndarray, card: ModelCard, predictor: Predictor, flip_tta: bool = False) -> np.ndarray:
    """One predictor call on a normalized (N, Y, X, C) batch (three with flip test-time augmentation)."""
    if not flip_tta:
        return predictor.predict(card, batch)
    out = predictor.predict(card, batch)
    out += predictor.predict(card, batch[:, ::-1].copy())[:, ::-1]
    out += predictor.predict(card, batch[:, :, ::-1].copy())[:, :, ::-1]
    return out / 3.0


def predict_heads(
    image: np.ndarray,
    card: ModelCard,
    predictor: Predictor,
    tile_px: int,
    overlap_px: int,
    batch_size: int,
    flip_tta: bool = False,
    on_progress: Callable[[float], None] | None = None,
    scale: float = 1.0,
) -> np.ndarray:
    """Network output (Y, X, K) for one (Y, X, C) raw image resized by ``scale`` (the job's object size; the
    output is at that scale), tiled as needed."""
    norm = card.inputs.normalization
    x = normalize_percentile(resize_frame(image, scale), norm.low, norm.high)
    return predict_tiled(
        x,
        lambda batch: predict_batch(batch, card, predictor, flip_tta),
        out_channels=len(card.outputs.heads),
        tile_px=tile_px,
        overlap_px=overlap_px,
        batch_size=batch_size,
        multiple=card.inputs.multiple_of,
        on_progress=on_progress,
        edge_px=card.inputs.edge_pad_px,
    )


def predict_frames(
    frames: Iterable[np.ndarray],
    card: ModelCard,
    predictor: Predictor,
    tile_px: int,
    overlap_px: int,
    batch_size: int,
    flip_tta: bool = False,
) -> Iterator[np.ndarray]:
    """Network output (Y, X, K) of each (Y, X, C) frame of a movie, in order, frames batched.

    Consecutive frames of one shape that fit in one tile go through the predictor ``batch_size`` at a
    time (one call, i.e. one TF Serving request, per batch instead of per frame); the result equals
    :func:`predict_heads` frame by frame. Larger frames are tiled one by one. At most ``batch_size``
    frames' heads exist at a time.
    """
    norm, edge = card.inputs.normalization, card.inputs.edge_pad_px
    pending: list[np.ndarray] = []

    def flush() -> Iterator[np.ndarray]:
        if not pending:
            return
        size_y, size_x = pending[0].shape[:2]
        whole = (0, size_y + 2 * edge), (0, size_x + 2 * edge)
        reflected = [reflected_window(normalize_percentile(f, norm.low, norm.high), *whole, edge) for f in pending]
        batch = np.stack([pad_to_multiple(f, card.inputs.multiple_of) for f in reflected])
        out = np.asarray(predict_batch(batch.astype(np.float32, copy=False), card, predictor, flip_tta), np.float32)
        pending.clear()
        for heads in out:
            yield np.ascontiguousarray(heads[edge : edge + size_y, edge : edge + size_x])

    for frame in frames:
        if frame.shape[0] + 2 * edge > tile_px or frame.shape[1] + 2 * edge > tile_px:
            yield from flush()
            yield predict_heads(frame, card, predictor, tile_px, overlap_px, batch_size, flip_tta)
            continue
        if pending and pending[0].shape != frame.shape:
            yield from flush()
        pending.append(frame)
        if len(pending) >= batch_size:
            yield from flush()
    yield from flush()


def labels_from_heads(heads: np.ndarray, card: ModelCard, params: WatershedParams) -> np.ndarray:
    """Instance labels from the stacked heads, by the card's post-processing method."""
    if card.postprocess.method != "deep_watershed":
        raise ValueError(f"unknown post-processing '{card.postprocess.method}' in model card {card.name}")
    names = card.outputs.heads
    return deep_watershed(heads[..., names.index("foreground")], heads[..., names.index("inner_distance")], params)


def labels_at_size(heads: np.ndarray, card: ModelCard, params: WatershedParams, shape: tuple[int, int]) -> np.ndarray:
    """Instance labels from heads predicted at any scale, mapped back onto the image's (Y, X) ``shape``."""
    return resize_labels(labels_from_heads(heads, card, params), shape)
