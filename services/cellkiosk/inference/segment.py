"""Segmentation of one image array: normalize, predict (tiled), deep watershed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from cellkiosk.imaging.normalize import normalize_percentile
from cellkiosk.imaging.tiling import predict_tiled
from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.predictor import Predictor
from cellkiosk.postprocess.deep_watershed import WatershedParams, deep_watershed


def watershed_params(card: ModelCard, overrides: dict[str, Any]) -> WatershedParams:
    """The model card's post-processing defaults with a job's overrides applied."""
    known = set(WatershedParams.__dataclass_fields__)
    base = WatershedParams(**{k: v for k, v in card.postprocess.params.items() if k in known})
    return replace(base, **overrides)


def predict_heads(
    image: np.ndarray,
    card: ModelCard,
    predictor: Predictor,
    tile_px: int,
    overlap_px: int,
    batch_size: int,
    flip_tta: bool = False,
    on_progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """Network output (Y, X, K) for one (Y, X, C) raw image, tiled as needed."""
    norm = card.inputs.normalization
    x = normalize_percentile(image, norm.low, norm.high)

    def run(batch: np.ndarray) -> np.ndarray:
        if not flip_tta:
            return predictor.predict(card, batch)
        out = predictor.predict(card, batch)
        out += predictor.predict(card, batch[:, ::-1].copy())[:, ::-1]
        out += predictor.predict(card, batch[:, :, ::-1].copy())[:, :, ::-1]
        return out / 3.0

    return predict_tiled(
        x,
        run,
        out_channels=len(card.outputs.heads),
        tile_px=tile_px,
        overlap_px=overlap_px,
        batch_size=batch_size,
        multiple=card.inputs.multiple_of,
        on_progress=on_progress,
    )


def labels_from_heads(heads: np.ndarray, card: ModelCard, params: WatershedParams) -> np.ndarray:
    """Instance labels from the stacked heads, by the card's post-processing method."""
    if card.postprocess.method != "deep_watershed":
        raise ValueError(f"unknown post-processing '{card.postprocess.method}' in model card {card.name}")
    names = card.outputs.heads
    return deep_watershed(heads[..., names.index("foreground")], heads[..., names.index("inner_distance")], params)
