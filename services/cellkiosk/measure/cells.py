"""Per-cell measurements (position, size, intensities) of a label image, and their CSV."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TextIO

import numpy as np
from scipy import ndimage as ndi

CELL_COLUMNS_BASE: tuple[str, ...] = (
    "image",
    "frame",
    "label",
    "centroid_y",
    "centroid_x",
    "area_px",
    "bbox_min_y",
    "bbox_min_x",
    "bbox_max_y",
    "bbox_max_x",
)
DECIMALS = 3


def cell_columns(channels: int) -> list[str]:
    """CSV columns of :func:`measure_cells` rows for an image with ``channels`` channels."""
    per_channel = [name for c in range(channels) for name in (f"mean_intensity_c{c}", f"integrated_intensity_c{c}")]
    return [*CELL_COLUMNS_BASE, *per_channel]


def _compact_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Relabel to 1..n (0 stays background); return the original ids and the relabelled image."""
    flat = labels.ravel()
    if flat.size and flat.max() <= max(flat.size, 65_535):
        # Dense enough for a lookup table: O(pixels), no sort.
        present = np.flatnonzero(np.bincount(flat))
        ids = present[present > 0]
        lut = np.zeros(int(flat.max()) + 1, dtype=np.intp)
        lut[ids] = np.arange(1, ids.size + 1)
        return ids, lut[labels]
    ids, inverse = np.unique(flat, return_inverse=True)
    if ids.size and ids[0] == 0:
        return ids[1:], inverse.reshape(labels.shape)
    return ids, (inverse + 1).reshape(labels.shape)


def _checked(labels: np.ndarray, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes and dtypes; return int64 labels and a (Y, X, C) image."""
    if image.ndim == 2:
        image = image[..., np.newaxis]
    if labels.ndim != 2 or image.ndim != 3 or image.shape[:2] != labels.shape:
        raise ValueError(f"labels {labels.shape} and image {image.shape} must be (Y, X) and (Y, X, C)")
    if not np.issubdtype(labels.dtype, np.integer) and labels.dtype != bool:
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    labels = labels.astype(np.int64, copy=False)
    if labels.size and labels.min() < 0:
        raise ValueError("labels must be >= 0")
    return labels, image


def measure_cells(labels: np.ndarray, image: np.ndarray, image_name: str, frame: int = 0) -> list[dict[str, object]]:
    """Measure every labelled cell of one frame.

    Parameters
    ----------
    labels : ndarray of int, shape (Y, X)
        Cell labels; 0 is background. Ids need not be sequential and are kept.
    image : ndarray, shape (Y, X, C) or (Y, X)
        Raw intensities, any numeric dtype.
    image_name : str
        Written to the ``image`` column.
    frame : int
        Written to the ``frame`` column (time point of a movie).

    Returns
    -------
    list of dict
        One row per label, sorted by label, keys in the order of :func:`cell_columns`.
        Centroids and intensities are rounded to 3 decimals; the bounding box is half-open
        (``bbox_max_*`` is one past the last row/column, as in scikit-image).
    """
    labels, image = _checked(labels, image)
    ids, compact = _compact_labels(labels)
    n = ids.size
    index = compact.ravel()
    area = np.bincount(index, minlength=n + 1)[1:]
    safe_area = np.maximum(area, 1).astype(np.float64)
    size_y, size_x = labels.shape
    row_of = np.repeat(np.arange(size_y, dtype=np.float64), size_x)
    col_of = np.tile(np.arange(size_x, dtype=np.float64), size_y)
    columns: dict[str, list[object]] = {
        "image": [image_name] * n,
        "frame": [int(frame)] * n,
        "label": ids.tolist(),
        "centroid_y": _rounded(np.bincount(index, weights=row_of, minlength=n + 1)[1:] / safe_area),
        "centroid_x": _rounded(np.bincount(index, weights=col_of, minlength=n + 1)[1:] / safe_area),
        "area_px": area.tolist(),
    }
    boxes = np.array([[b.start for b in box] + [b.stop for b in box] for box in ndi.find_objects(compact, n)])
    for j, name in enumerate(("bbox_min_y", "bbox_min_x", "bbox_max_y", "bbox_max_x")):
        columns[name] = boxes[:, j].tolist() if n else []
    for c in range(image.shape[2]):
        total = np.bincount(index, weights=np.ravel(image[..., c]), minlength=n + 1)[1:]
        columns[f"mean_intensity_c{c}"] = _rounded(total / safe_area)
        columns[f"integrated_intensity_c{c}"] = _rounded(total)
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _rounded(values: np.ndarray) -> list[object]:
    return np.round(values.astype(np.float64), DECIMALS).tolist()


def write_cells_csv(
    rows: Iterable[Mapping[str, object]], fh_or_path: TextIO | str | os.PathLike[str], channels: int
) -> None:
    """Write measurement rows as CSV; the header is written even when there are no rows.

    Parameters
    ----------
    rows : iterable of mapping
        Rows of :func:`measure_cells`.
    fh_or_path : text file or path
        An open text file (opened with ``newline=""``) or a path to create.
    channels : int
        Channels of the measured image; fixes the columns.
    """
    if isinstance(fh_or_path, str | os.PathLike):
        with Path(fh_or_path).open("w", newline="", encoding="utf-8") as fh:
            write_cells_csv(rows, fh, channels)
        return
    writer = csv.DictWriter(fh_or_path, fieldnames=cell_columns(channels))
    writer.writeheader()
    writer.writerows(rows)
