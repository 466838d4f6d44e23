"""Per-frame object features for linking: label, centroid, area, mean intensity, bounding box."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi


@dataclass(frozen=True)
class FrameObjects:
    """The objects of one frame, one row per label, sorted by label.

    Attributes
    ----------
    frame : int
        Time index of the frame (0-based).
    labels : ndarray of int64, shape (n,)
        Object ids in the label image (> 0, increasing).
    centroids : ndarray of float64, shape (n, ndim)
        Centroid in pixels, axis order of the image (row, column[, ...]).
    areas : ndarray of float64, shape (n,)
        Pixel count (voxels in 3-D).
    mean_intensity : ndarray of float64, shape (n,)
        Mean of the intensity image over the object; NaN when no image was given.
    bboxes : ndarray of int64, shape (n, 2 * ndim)
        Half-open box ``(min_0, ..., min_k, max_0, ..., max_k)`` as in scikit-image.
    """

    frame: int
    labels: np.ndarray
    centroids: np.ndarray
    areas: np.ndarray
    mean_intensity: np.ndarray
    bboxes: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.size)

    @classmethod
    def empty(cls, frame: int, ndim: int = 2) -> FrameObjects:
        """A frame without objects."""
        nan = np.zeros(0, dtype=np.float64)
        return cls(frame, np.zeros(0, np.int64), np.zeros((0, ndim)), nan, nan, np.zeros((0, 2 * ndim), np.int64))


def _compact(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Present ids (sorted, > 0) and the image relabelled 1..n (0 stays background)."""
    flat = labels.ravel()
    top = int(flat.max()) if flat.size else 0
    if top <= max(flat.size, 1 << 16):
        # A lookup table is O(pixels) and avoids sorting all pixels.
        ids = np.flatnonzero(np.bincount(flat, minlength=1))
        ids = ids[ids > 0]
        lut = np.zeros(top + 1, dtype=np.intp)
        lut[ids] = np.arange(1, ids.size + 1)
        return ids.astype(np.int64), lut[labels]
    ids, inverse = np.unique(flat, return_inverse=True)
    inverse = inverse.reshape(labels.shape)
    if ids[0] == 0:
        return ids[1:].astype(np.int64), inverse
    return ids.astype(np.int64), inverse + 1


def measure_objects(labels: np.ndarray, image: np.ndarray | None = None, frame: int = 0) -> FrameObjects:
    """Measure every labelled object of one frame, vectorized (one pass per feature).

    Parameters
    ----------
    labels : ndarray of int, shape (Y, X) or (Z, Y, X)
        Instance labels, 0 is background; ids need not be sequential.
    image : ndarray, same shape as ``labels``, optional
        Intensities for ``mean_intensity``; NaN when omitted.
    frame : int
        Time index stored in the result.

    Returns
    -------
    FrameObjects
        Features sorted by label.

    Raises
    ------
    ValueError
        When labels are not non-negative integers or the image shape differs.
    """
    labels = np.asarray(labels)
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError("labels must be >= 0")
    if image is not None and np.shape(image) != labels.shape:
        raise ValueError(f"image {np.shape(image)} and labels {labels.shape} differ in shape")
    ids, compact = _compact(labels.astype(np.int64, copy=False))
    n = ids.size
    if n == 0:
        return FrameObjects.empty(frame, labels.ndim)
    foreground = np.flatnonzero(compact)
    index = compact.ravel()[foreground]
    areas = np.bincount(index, minlength=n + 1)[1:].astype(np.float64)
    coords = np.unravel_index(foreground, labels.shape)
    centroids = np.stack([np.bincount(index, weights=c, minlength=n + 1)[1:] for c in coords], axis=1) / areas[:, None]
    if image is None:
        mean = np.full(n, np.nan)
    else:
        values = np.asarray(image, dtype=np.float64).ravel()[foreground]
        mean = np.bincount(index, weights=values, minlength=n + 1)[1:] / areas
    boxes = ndi.find_objects(compact, n)
    bboxes = np.array([[s.start for s in box] + [s.stop for s in box] for box in boxes], dtype=np.int64)
    return FrameObjects(int(frame), ids, centroids, areas, mean, bboxes)
