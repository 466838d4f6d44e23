"""Deep-watershed training targets computed from instance labels."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

# Extra weight of the inner-distance error where two nuclei touch: the dip between them is what
# separates their seeds, and it is a thin line the plain mean squared error barely sees.
TOUCHING_WEIGHT = 3.0
TARGET_CHANNELS = ("foreground", "inner_distance", "valid", "distance_weight")


def inner_distance(labels: np.ndarray) -> np.ndarray:
    """Per-cell distance to the cell's border, scaled to 1 at each cell's centre.

    Parameters
    ----------
    labels : ndarray of int, shape (Y, X)
        Instance labels, 0 = background.

    Returns
    -------
    ndarray of float32 in [0, 1], 0 outside cells. Touching cells are
    separated: each cell's transform is computed on its own mask, so the
    value falls towards 0 at every shared border, which is what makes a
    thresholded map seed one marker per nucleus, elongated ones included.
    """
    out = np.zeros(labels.shape, dtype=np.float32)
    for index, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None:
            continue
        padded = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in sl)
        mask = labels[padded] == index
        dist = ndi.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
        peak = dist.max()
        if peak > 0:
            region = out[padded]
            region[mask] = (dist[mask] / peak).astype(np.float32)
    return out


def touching_border(labels: np.ndarray) -> np.ndarray:
    """Nucleus pixels with a 3x3 neighbour in another nucleus (a neighbour in the background does not count)."""
    lab = labels.astype(np.int64, copy=False)
    out = np.zeros(lab.shape, dtype=bool)
    padded = np.pad(lab, 1)
    h, w = lab.shape
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                nb = padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
                out |= (nb > 0) & (nb != lab)
    return out & (lab > 0)


def make_targets(labels: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Stack the training targets (:data:`TARGET_CHANNELS`).

    Returns
    -------
    ndarray of float32, shape (Y, X, 4): foreground (0/1), the inner distance of
    :func:`inner_distance`, where the labels are valid (0/1; unannotated regions of a sparse
    frame are 0) and the weight of the inner-distance error (valid x (1 + TOUCHING_WEIGHT on
    borders between touching nuclei)).
    """
    fg = (labels > 0).astype(np.float32)
    ok = np.ones(labels.shape, np.float32) if valid is None else valid.astype(np.float32)
    touching = ndi.binary_dilation(touching_border(labels))
    weight = ok * (1.0 + TOUCHING_WEIGHT * touching)
    return np.stack([fg, inner_distance(labels), ok, weight.astype(np.float32)], axis=-1)
