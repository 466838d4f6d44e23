"""Object size: the median nuclear diameter of a label image."""

from __future__ import annotations

import numpy as np


def median_diameter(labels: np.ndarray) -> float:
    """Median equivalent diameter (px) of the objects of an instance label image.

    Parameters
    ----------
    labels : ndarray of int, shape (Y, X)
        Instance labels, 0 = background.

    Returns
    -------
    float
        The median over objects of ``2 * sqrt(area / pi)``, the diameter of the circle of the same
        area (Cellpose's convention); NaN when there is no object.
    """
    areas = np.bincount(labels.ravel().astype(np.int64, copy=False))[1:]
    areas = areas[areas > 0]
    if not areas.size:
        return float("nan")
    return float(np.median(2.0 * np.sqrt(areas / np.pi)))
