"""Resizing frames for the network and mapping labels back (shared by tracking jobs, evaluation and training)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def resize_frame(image: np.ndarray, scale: float) -> np.ndarray:
    """A (Y, X, C) frame resized by ``scale`` (bilinear, float32); unchanged when scale is 1."""
    if scale == 1.0:
        return image
    return ndi.zoom(image.astype(np.float32, copy=False), (scale, scale, 1), order=1, mode="nearest", grid_mode=True)


def resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Labels mapped onto a (Y, X) grid of ``shape`` by nearest neighbour (pixel centres)."""
    if labels.shape == shape:
        return labels
    axes = zip(shape, labels.shape, strict=True)
    return labels[np.ix_(*(np.minimum(((np.arange(n) + 0.5) * m / n).astype(np.intp), m - 1) for n, m in axes))]
