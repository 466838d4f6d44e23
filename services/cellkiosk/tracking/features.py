"""Per-frame object features for linking: label, centroid, area, mean intensity, bounding box."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cellkiosk.measure.regions import measure_regions


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


def measure_objects(labels: np.ndarray, image: np.ndarray | None = None, frame: int = 0) -> FrameObjects:
    """Measure every labelled object of one frame (``measure.regions``, the measurement cells.csv uses).

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
    if image is not None and np.shape(image) != labels.shape:
        raise ValueError(f"image {np.shape(image)} and labels {labels.shape} differ in shape")
    found = measure_regions(labels, image)
    if len(found) == 0:
        return FrameObjects.empty(frame, labels.ndim)
    mean = np.full(len(found), np.nan) if image is None else found.intensity_means[:, 0]
    return FrameObjects(int(frame), found.labels, found.centroids, found.areas.astype(np.float64), mean, found.bboxes)
