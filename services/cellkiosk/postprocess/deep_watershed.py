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
    split_threshold : float or None
        A seed region that a higher threshold of the inner distance divides into two or more
        parts (each at least ``min_seed_px``) is replaced by those parts: two touching nuclei
        whose distance maps meet above ``seed_threshold`` still get one seed each. None: off.
    min_cell_px : int
        Cells smaller than this after the watershed are removed.
    fill_holes : bool
        Fill holes inside each cell.
    """

    foreground_threshold: float = 0.5
    seed_threshold: float = 0.5
    min_seed_px: int = 4
    split_threshold: float | None = None
    min_cell_px: int = 15
    fill_holes: bool = True


def find_seeds(inner: np.ndarray, mask: np.ndarray, params: WatershedParams) -> np.ndarray:
    """Label connected regions of high inner distance inside the mask as seeds.

    With ``params.split_threshold`` a seed is split where a higher threshold separates it.
    """
    seeds, _ = ndi.label((inner > params.seed_threshold) & mask)
    seeds = remove_small(seeds, params.min_seed_px)
    if params.split_threshold is None or seeds.max() == 0:
        return seeds
    cores, n = ndi.label((inner > params.split_threshold) & mask)
    cores = remove_small(cores, params.min_seed_px)
    inside = (cores > 0) & (seeds > 0)
    if not inside.any():
        return seeds
    # a seed holds two or more cores when the smallest and largest core id inside it differ
    low = np.full(int(seeds.max()) + 1, n + 1, dtype=np.int64)
    high = np.zeros(int(seeds.max()) + 1, dtype=np.int64)
    np.minimum.at(low, seeds[inside], cores[inside])
    np.maximum.at(high, seeds[inside], cores[inside])
    split = high > low
    replace = split[seeds]
    offset = int(seeds.max())
    seeds[replace] = np.where(cores[replace] > 0, cores[replace] + offset, 0)
    return relabel_sequential(seeds)[0]


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

    Vectorized: every background region that does not touch the image border
    and borders exactly one label becomes that label. A hole that also borders
    another cell (a cell nested in a ring-shaped one) is left alone, so the
    ring stays one region and the inner cell keeps its own hole filled.
    """
    holes, n = ndi.label(labels == 0)
    if n == 0:
        return labels
    inner = np.ones(n + 1, dtype=bool)
    inner[np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]])] = False
    inner[0] = False
    if not inner.any():
        return labels
    low = np.full(n + 1, np.iinfo(np.int64).max, dtype=np.int64)
    high = np.zeros(n + 1, dtype=np.int64)
    for a, b in (
        (holes[1:], labels[:-1]),
        (holes[:-1], labels[1:]),
        (holes[:, 1:], labels[:, :-1]),
        (holes[:, :-1], labels[:, 1:]),
    ):
        touch = inner[a] & (b > 0)  # pixels of enclosed background next to a cell
        np.minimum.at(low, a[touch], b[touch])
        np.maximum.at(high, a[touch], b[touch])
    fill_with = np.where(inner & (low == high), high, 0).astype(labels.dtype)
    target = fill_with[holes]
    labels[target > 0] = target[target > 0]
    return labels


def flood_from_seeds(inner: np.ndarray, mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Watershed of ``-inner`` from ``seeds`` within ``mask``, run only where it matters.

    A connected piece of the mask with one seed is that seed's cell outright;
    only pieces holding two or more seeds (touching nuclei) are flooded, each
    in its own bounding box. Pieces without a seed stay background, exactly as
    a watershed over the whole mask would leave them.
    """
    pieces, n = ndi.label(mask)
    labels = np.zeros(mask.shape, dtype=np.int32)
    if n == 0:
        return labels
    seed_piece = np.zeros(int(seeds.max()) + 1, dtype=np.int64)
    seed_piece[seeds[seeds > 0]] = pieces[seeds > 0]
    seed_ids = np.flatnonzero(seed_piece)
    per_piece = np.bincount(seed_piece[seed_ids], minlength=n + 1)
    owner = np.zeros(n + 1, dtype=np.int32)
    single = per_piece[seed_piece[seed_ids]] == 1
    owner[seed_piece[seed_ids[single]]] = seed_ids[single]
    labels[:] = owner[pieces]
    crowded = per_piece >= 2
    for index, piece_sl in enumerate(ndi.find_objects(np.where(crowded[pieces], pieces, 0)), start=1):
        if piece_sl is None:
            continue
        piece_mask = pieces[piece_sl] == index
        flooded = watershed(-inner[piece_sl], markers=np.where(piece_mask, seeds[piece_sl], 0), mask=piece_mask)
        labels[piece_sl][piece_mask] = flooded[piece_mask]
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
    # Flood from the seeds downhill on the distance map, staying in the mask: each cell grows from
    # one connected seed through connected pixels, so every label is one connected region.
    labels = flood_from_seeds(inner.astype(np.float32, copy=False), mask, seeds)
    if params.fill_holes:
        labels = fill_label_holes(labels)
    labels = remove_small(labels, params.min_cell_px)
    return relabel_sequential(labels)[0].astype(np.int32)
