"""Per-cell measurements (position, size, intensities) of a label image, and their CSV."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TextIO

import numpy as np

from cellkiosk.measure.regions import measure_regions

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


def _checked(labels: np.ndarray, image: np.ndarray) -> np.ndarray:
    """The image as (Y, X, C); ValueError unless labels are (Y, X) and the image fits them."""
    if image.ndim == 2:
        image = image[..., np.newaxis]
    if labels.ndim != 2 or image.ndim != 3 or image.shape[:2] != labels.shape:
        raise ValueError(f"labels {labels.shape} and image {image.shape} must be (Y, X) and (Y, X, C)")
    return image


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
    image = _checked(labels, image)
    found = measure_regions(labels, image)
    n = len(found)
    columns: dict[str, list[object]] = {
        "image": [image_name] * n,
        "frame": [int(frame)] * n,
        "label": found.labels.tolist(),
        "centroid_y": _rounded(found.centroids[:, 0]),
        "centroid_x": _rounded(found.centroids[:, 1]),
        "area_px": found.areas.tolist(),
    }
    for j, name in enumerate(("bbox_min_y", "bbox_min_x", "bbox_max_y", "bbox_max_x")):
        columns[name] = found.bboxes[:, j].tolist()
    means = found.intensity_means
    for c in range(image.shape[2]):
        columns[f"mean_intensity_c{c}"] = _rounded(means[:, c])
        columns[f"integrated_intensity_c{c}"] = _rounded(found.intensity_sums[:, c])
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
