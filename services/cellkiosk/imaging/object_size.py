"""Object size: the median nuclear diameter of a label image, and an estimate of it from the raw image."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

# Work on at most this many pixels: the estimate needs objects of a few pixels' radius, not full detail.
ESTIMATE_MAX_PIXELS = 1 << 20
# Equivalent diameter / twice the largest inscribed radius, the median over DSB2018 train nuclei
# (ellipses are wider than their inscribed circle); chosen on the train split, see docs/object-size.md.
INSCRIBED_TO_EQUIVALENT = 1.18


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


def estimate_diameter(image: np.ndarray, min_objects: int = 3) -> float | None:
    """Estimate the median nuclear diameter (px) of a normalized one-channel image, without a model.

    Parameters
    ----------
    image : ndarray of float, shape (Y, X)
        The nuclear channel (bright nuclei on dark), normalized (e.g. percentiles to 0..1).
    min_objects : int
        Fewer foreground objects than this give no estimate.

    Returns
    -------
    float or None
        Twice the median largest inscribed radius of the Otsu foreground's objects, times
        :data:`INSCRIBED_TO_EQUIVALENT`, in pixels of ``image``; None when the image has too few
        objects to tell (empty, flat, or one blob). The inscribed radius of a clump of touching
        nuclei is about one nucleus's radius, so clumps do not inflate the estimate the way their
        area would. Images above :data:`ESTIMATE_MAX_PIXELS` are measured on a subsampled grid.
    """
    step = max(1, int(np.ceil(np.sqrt(image.size / ESTIMATE_MAX_PIXELS))))
    small = np.asarray(image[::step, ::step], dtype=np.float32)
    if small.size < 64 or float(small.max()) <= float(small.min()):
        return None
    smooth = ndi.gaussian_filter(small, 1.0)
    mask = ndi.binary_opening(smooth > threshold_otsu(smooth))
    objects, count = ndi.label(mask)
    if count < min_objects:
        return None
    radii = np.asarray(ndi.maximum(ndi.distance_transform_edt(mask), objects, np.arange(1, count + 1)))
    radii = radii[radii >= 1.5]  # speckles of a pixel or two are noise, not nuclei
    if radii.size < min_objects:
        return None
    return float(2.0 * np.median(radii) * INSCRIBED_TO_EQUIVALENT * step)
