"""Per-cell measurements and their CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from cellkiosk.measure.cells import CELL_COLUMNS_BASE, cell_columns, measure_cells, write_cells_csv


def two_squares() -> tuple[np.ndarray, np.ndarray]:
    """A 2x2 square (label 1) and a 3x3 square (label 2) over a 2-channel image."""
    labels = np.zeros((10, 12), dtype=np.int32)
    labels[1:3, 2:4] = 1
    labels[5:8, 6:9] = 2
    image = np.zeros((10, 12, 2), dtype=np.uint16)
    image[..., 0] = 100  # background must not leak into cells
    image[1:3, 2:4, 0] = [[1, 2], [3, 4]]
    image[1:3, 2:4, 1] = 10
    image[5:8, 6:9, 0] = 7
    image[5:8, 6:9, 1] = np.arange(9).reshape(3, 3)
    return labels, image


def test_two_squares() -> None:
    labels, image = two_squares()
    rows = measure_cells(labels, image, "a.tif", frame=3)
    assert [list(row) for row in rows] == [cell_columns(2)] * 2
    first, second = rows
    assert first == {
        "image": "a.tif",
        "frame": 3,
        "label": 1,
        "centroid_y": 1.5,
        "centroid_x": 2.5,
        "area_px": 4,
        "bbox_min_y": 1,
        "bbox_min_x": 2,
        "bbox_max_y": 3,
        "bbox_max_x": 4,
        "mean_intensity_c0": 2.5,
        "integrated_intensity_c0": 10.0,
        "mean_intensity_c1": 10.0,
        "integrated_intensity_c1": 40.0,
    }
    assert (second["label"], second["area_px"], second["centroid_y"], second["centroid_x"]) == (2, 9, 6.0, 7.0)
    assert (second["bbox_min_y"], second["bbox_min_x"], second["bbox_max_y"], second["bbox_max_x"]) == (5, 6, 8, 9)
    assert (second["mean_intensity_c0"], second["integrated_intensity_c0"]) == (7.0, 63.0)
    assert (second["mean_intensity_c1"], second["integrated_intensity_c1"]) == (4.0, 36.0)


def test_columns_and_rounding() -> None:
    assert cell_columns(1) == [*CELL_COLUMNS_BASE, "mean_intensity_c0", "integrated_intensity_c0"]
    labels = np.zeros((4, 4), dtype=np.uint8)
    labels[0, 0:3] = 5
    image = np.array([1.0, 1.0, 2.0, 0.0] * 4, dtype=np.float32).reshape(4, 4, 1)
    (row,) = measure_cells(labels, image, "x")
    assert row["mean_intensity_c0"] == 1.333 and row["centroid_x"] == 1.0


def test_empty_labels_give_no_rows_but_a_header(tmp_path: Path) -> None:
    rows = measure_cells(np.zeros((5, 5), dtype=np.int32), np.ones((5, 5, 3)), "empty.tif")
    assert rows == []
    path = tmp_path / "cells.csv"
    write_cells_csv(rows, path, channels=3)
    assert path.read_text().splitlines() == [",".join(cell_columns(3))]


def test_non_sequential_labels_keep_their_ids() -> None:
    labels = np.zeros((6, 6), dtype=np.int64)
    labels[0, 0] = 7
    labels[2:4, 2:4] = 3
    labels[5, 5] = 2**40  # sparse ids take the sort-based path
    rows = measure_cells(labels, np.ones((6, 6, 1), dtype=np.uint8), "x")
    assert [row["label"] for row in rows] == [3, 7, 2**40]
    assert [row["area_px"] for row in rows] == [4, 1, 1]


def test_csv_round_trip_through_file_handle() -> None:
    labels, image = two_squares()
    rows = measure_cells(labels, image, "a.tif")
    buffer = io.StringIO(newline="")
    write_cells_csv(rows, buffer, channels=2)
    read = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert [r["label"] for r in read] == ["1", "2"]
    assert read[1]["integrated_intensity_c1"] == "36.0"


@pytest.mark.slow
def test_ten_thousand_cells() -> None:
    # 100 x 100 blocks of 4 x 4 px, each its own label, in shuffled order.
    ids = np.random.default_rng(0).permutation(10_000).reshape(100, 100) + 1
    labels = np.kron(ids, np.ones((4, 4), dtype=np.int64))
    labels[::4] = 0  # one background row per block: 12 px a cell
    image = np.stack([labels.astype(np.float32), np.ones(labels.shape, dtype=np.float32)], axis=-1)
    rows = measure_cells(labels, image, "big")
    assert len(rows) == 10_000
    assert [row["label"] for row in rows] == list(range(1, 10_001))
    assert all(row["area_px"] == 12 for row in rows)
    assert all(row["mean_intensity_c0"] == row["label"] for row in rows)
    assert all(row["bbox_max_y"] - row["bbox_min_y"] == 3 for row in rows)  # type: ignore[operator]


def test_mismatched_shapes_raise() -> None:
    with pytest.raises(ValueError):
        measure_cells(np.zeros((4, 4), dtype=int), np.zeros((4, 5, 1)), "x")
    with pytest.raises(ValueError):
        measure_cells(np.zeros((4, 4), dtype=float), np.zeros((4, 4, 1)), "x")
