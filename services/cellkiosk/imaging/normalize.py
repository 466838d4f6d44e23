"""Intensity normalization shared by training and inference."""

from __future__ import annotations

import numpy as np

DEFAULT_LOW_PERCENTILE = 1.0
DEFAULT_HIGH_PERCENTILE = 99.8


def normalize_percentile(
    image: np.ndarray,
    low: float = DEFAULT_LOW_PERCENTILE,
    high: float = DEFAULT_HIGH_PERCENTILE,
    max_samples: int = 1_000_000,
) -> np.ndarray:
    """Scale each channel so its ``low``/``high`` percentiles map to 0 and 1.

    Parameters
    ----------
    image : ndarray, shape (Y, X, C)
        Any numeric dtype.
    low, high : float
        Percentiles (0-100) mapped to 0 and 1.
    max_samples : int
        Percentiles of larger images are estimated from a regular subsample,
        so a 10k x 10k image does not sort 100 M values.

    Returns
    -------
    ndarray of float32, same shape; values are not clipped (the network has
    seen slightly out-of-range values in training).
    """
    if image.ndim != 3:
        raise ValueError(f"expected (Y, X, C), got shape {image.shape}")
    out = np.empty(image.shape, dtype=np.float32)
    step = max(1, int(np.sqrt(image.shape[0] * image.shape[1] / max_samples)))
    for c in range(image.shape[2]):
        channel = image[..., c].astype(np.float32, copy=False)
        lo, hi = np.percentile(channel[::step, ::step], [low, high])
        scale = 1.0 / max(float(hi - lo), 1e-6)
        out[..., c] = (channel - lo) * scale
    return out
