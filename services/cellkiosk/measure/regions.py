"""Per-object geometry and intensity sums of a label image: the one measurement cells.csv and the tracker share.

Geometry (label, area, centroid, bounding box) comes from :func:`skimage.measure.regionprops_table`;
intensity sums are one ``bincount`` per channel in float64 (exact for integer images, whatever the
image's dtype, and a single pass over the pixels instead of one per object).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.measure import regionprops_table


@dataclass(frozen=True)
class Regions:
    """The objects of one label image, one row per label, sorted by label.

    Attributes
    ----------
    labels : ndarray of int64, shape (n,)
        Object ids in the label image (> 0, increasing; the ids given, not renumbered).
    areas : ndarray of int64, shape (n,)
        Pixel count (voxels in 3-D).
    centroids : ndarray of float64, shape (n, ndim)
        Centroid in pixels, axis order of the image (row, column[, ...]).
    bboxes : ndarray of int64, shape (n, 2 * ndim)
        Half-open box ``(min_0, ..., min_k, max_0, ..., max_k)`` as in scikit-image.
    intensity_sums : ndarray of float64, shape (n, C)
        Sum of each channel of the intensity image over the object; C is 0 without an image.
    """

    labels: np.ndarray
    areas: np.ndarray
    centroids: np.ndarray
    bboxes: np.ndarray
    intensity_sums: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.size)

    @property
    def intensity_means(self) -> np.ndarray:
        """Mean of each channel over the object, shape (n, C)."""
        return self.intensity_sums / np.maximum(self.areas, 1)[:, None]


def compact_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The present ids (sorted, > 0) and the image relabelled 1..n (0 stays background).

    scikit-image and ``ndimage.find_objects`` allocate per id up to the largest one, so sparse ids
    (e.g. 2**40) are compacted first.
    """
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


def _channels_last(labels: np.ndarray, image: np.ndarray | None) -> np.ndarray | None:
    """``image`` as (*labels.shape, C): an image of the labels' own shape is one channel."""
    if image is None:
        return None
    image = np.asarray(image)
    if image.shape == labels.shape:
        return image[..., np.newaxis]
    if image.ndim == labels.ndim + 1 and image.shape[:-1] == labels.shape:
        return image
    raise ValueError(f"image {image.shape} and labels {labels.shape} differ in shape")


def measure_regions(labels: np.ndarray, image: np.ndarray | None = None) -> Regions:
    """Measure every labelled object of a 2-D or 3-D label image.

    Parameters
    ----------
    labels : ndarray of int, shape (Y, X) or (Z, Y, X)
        Instance labels, 0 is background; ids need not be sequential and are kept.
    image : ndarray, optional
        Intensities, the labels' shape (one channel) or that shape plus a trailing channel axis.

    Returns
    -------
    Regions
        Sorted by label; ``intensity_sums`` has one column per channel (none without an image).

    Raises
    ------
    ValueError
        When labels are not non-negative integers or the image's shape does not fit them.
    """
    labels = np.asarray(labels)
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError("labels must be >= 0")
    channels = _channels_last(labels, image)
    ids, compact = compact_labels(labels.astype(np.int64, copy=False))
    n, ndim = ids.size, labels.ndim
    sums = np.zeros((n, 0 if channels is None else channels.shape[-1]), np.float64)
    if n == 0:
        return Regions(ids, np.zeros(0, np.int64), np.zeros((0, ndim)), np.zeros((0, 2 * ndim), np.int64), sums)
    # rows come in label order, and the compact labels are 1..n: row i is object ids[i]
    table = regionprops_table(compact, properties=("area", "centroid", "bbox"))
    if channels is not None:
        index = compact.ravel()
        for c in range(channels.shape[-1]):
            sums[:, c] = np.bincount(index, weights=np.ravel(channels[..., c]), minlength=n + 1)[1:]
    return Regions(
        labels=ids,
        areas=table["area"].astype(np.int64),
        centroids=np.stack([table[f"centroid-{i}"] for i in range(ndim)], axis=1).astype(np.float64),
        bboxes=np.stack([table[f"bbox-{i}"] for i in range(2 * ndim)], axis=1).astype(np.int64),
        intensity_sums=sums,
    )
