"""Deep watershed: instance labels from foreground and inner-distance maps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import relabel_sequential, watershed


@dataclass(frozen=True)
class WatershedParams:
    """Parameters of :func:`deep_watershed` (their defaults live in the model card).

    Attributes
    ----------
    foreground_threshold : float
        Pixels whose foreground probability exceeds this are inside a cell.
    seed_threshold : float
        Pixels whose inner distance exceeds this seed a cell; each connected
        seed region becomes one cell.
    min_seed_px : int
        Seed regions smaller than this are ignored (noise peaks).
    min_cell_px : int
        Cells smaller than this after the watershed are removed.
    fill_holes : bool
        Fill holes inside each cell.
    """

    foreground_threshold: float = 0.5
    seed_threshold: float = 0.5
    min_seed_px: int = 4
    min_cell_px: int = 15
    fill_holes: bool = True


def find_seeds(inner: np.ndarray, mask: np.ndarray, params: WatershedParams) -> np.ndarray:
    """Label connected regions of high inner distance inside the mask as seeds."""
    seeds, n = ndi.label((inner > params.seed_threshold) & mask)
    if n and params.min_seed_px > 1:
        sizes = np.bincount(seeds.ravel())
        small = sizes < params.min_seed_px
        small[0] = False
        seeds[small[seeds]] = 0
    return seeds


def remove_small(labels: np.ndarray, min_px: int) -> np.ndarray:
    """Set labels with fewer than ``min_px`` pixels to background (in place)."""
    if min_px > 1 and labels.max() > 0:
        sizes = np.bincount(labels.ravel())
        small = sizes < min_px
        small[0] = False
        labels[small[labels]] = 0
    return labels


def fill_label_holes(labels: np.ndarray) -> np.ndarray:
    """Fill background holes enclosed by a single label (in place).

    A hole that holds (part of) another cell is left alone, so a cell nested
    inside a ring-shaped one keeps its own hole and the ring stays one region.
    """
    for index, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None:
            continue
        mask = labels[sl] == index
        enclosed = ndi.binary_fill_holes(mask) & ~mask
        if not enclosed.any():
            continue
        pieces, n = ndi.label(enclosed)
        other = np.bincount(pieces[labels[sl] != 0].ravel(), minlength=n + 1) > 0
        fill = ~other
        fill[0] = False
        labels[sl][fill[pieces]] = index
    return labels


def keep_largest_piece(labels: np.ndarray) -> np.ndarray:
    """Keep only the largest connected piece of each label (in place)."""
    for index, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None:
            continue
        mask = labels[sl] == index
        pieces, n = ndi.label(mask)
        if n > 1:
            largest = np.argmax(np.bincount(pieces.ravel())[1:]) + 1
            labels[sl][mask & (pieces != largest)] = 0
    return labels


def deep_watershed(
    foreground: np.ndarray,
    inner: np.ndarray,
    params: WatershedParams | None = None,
) -> np.ndarray:
    """Turn per-pixel network outputs into instance labels.

    Parameters
    ----------
    foreground : ndarray of float, shape (Y, X)
        Probability that a pixel belongs to any cell.
    inner : ndarray of float, shape (Y, X)
        Predicted inner distance (1 at cell centres, falling to 0 at borders).
    params : WatershedParams, optional

    Returns
    -------
    ndarray of int32, shape (Y, X): 0 background, 1..N cells, sequential;
    every label is one connected region inside the foreground mask.
    """
    params = params or WatershedParams()
    if foreground.shape != inner.shape or foreground.ndim != 2:
        raise ValueError(f"maps must be 2-D and equal: {foreground.shape} vs {inner.shape}")
    mask = foreground > params.foreground_threshold
    seeds = find_seeds(inner, mask, params)
    if seeds.max() == 0:
        return np.zeros(foreground.shape, dtype=np.int32)
    # Flood from the seeds downhill on the distance map, staying in the mask.
    surface = (-inner).astype(np.float32)
    labels = watershed(surface, markers=seeds, mask=mask).astype(np.int32)
    labels = keep_largest_piece(labels)
    if params.fill_holes:
        labels = fill_label_holes(labels)
    labels = remove_small(labels, params.min_cell_px)
    return relabel_sequential(labels)[0].astype(np.int32)
