"""Synthetic movies with known truth for the tracking tests: painted disks and bare object tables."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike

from cellkiosk.tracking.features import FrameObjects

Disk = tuple[int, float, float, float]  # label, centre row, centre column, radius
SHAPE = (160, 160)  # frame size of the painted movies


def paint(shape: tuple[int, int], disks: Iterable[Disk]) -> np.ndarray:
    """A uint16 label image with one filled disk per ``(label, y, x, r)``; later disks win overlaps."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    image = np.zeros(shape, dtype=np.uint16)
    for label, y, x, r in disks:
        image[(yy - y) ** 2 + (xx - x) ** 2 <= r * r] = label
    return image


def objects(frame: int, points: ArrayLike, areas: ArrayLike | None = None) -> FrameObjects:
    """A FrameObjects of points (labels 1..n) without painting; areas default to 100."""
    centroids = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    n = len(centroids)
    area = np.full(n, 100.0) if areas is None else np.asarray(areas, dtype=np.float64)
    boxes = np.zeros((n, 4), dtype=np.int64)
    return FrameObjects(frame, np.arange(1, n + 1), centroids, area, np.full(n, np.nan), boxes)


def random_walk(
    n_cells: int, n_frames: int, seed: int = 0, step_px: float = 2.0, spacing_px: float = 40.0, divisions: int = 0
) -> tuple[list[FrameObjects], dict[tuple[int, int], int], dict[int, int]]:
    """Cells on a jittered grid doing Gaussian random walks; ``divisions`` of them split mid-movie.

    Returns the frames, the truth ``(frame, label) -> cell id`` (daughters get new ids) and
    ``{daughter id: mother id}``.
    """
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_cells)))
    grid = np.stack(np.divmod(np.arange(n_cells), side), axis=1).astype(float) * spacing_px
    pos = grid + rng.uniform(-spacing_px / 8, spacing_px / 8, grid.shape)
    area = np.full(n_cells, 200.0)
    ids = np.arange(n_cells)
    chosen = rng.choice(n_cells, divisions, replace=False)
    split_at = dict(zip(chosen.tolist(), rng.integers(2, n_frames - 1, divisions).tolist(), strict=True))
    frames: list[FrameObjects] = []
    truth: dict[tuple[int, int], int] = {}
    parents: dict[int, int] = {}
    next_id = n_cells
    for t in range(n_frames):
        for k in [k for k, when in split_at.items() if when == t and k in set(ids)]:
            i = int(np.flatnonzero(ids == k)[0])
            offset = rng.normal(0, 1, 2)
            offset *= spacing_px / 5 / np.linalg.norm(offset)
            pos = np.vstack([pos, pos[i] - offset])
            pos[i] = pos[i] + offset
            area = np.append(area, area[i] / 2)
            area[i] /= 2
            ids = np.append(ids, next_id)
            ids[i] = next_id + 1
            parents.update({next_id: int(k), next_id + 1: int(k)})
            next_id += 2
        frames.append(objects(t, pos, area))
        truth.update({(t, label): int(ids[label - 1]) for label in range(1, len(ids) + 1)})
        pos = pos + rng.normal(0, step_px, pos.shape)
        area = area * 1.01
    return frames, truth, parents


def division_movie() -> list[list[Disk]]:
    """Cell 1 (r 8) divides after frame 4 into cells 2 and 3 (r 5.6); cell 4 stays apart."""
    movie = []
    for t in range(10):
        disks: list[Disk] = [(4, 130, 130, 7)]
        if t < 5:
            disks.append((1, 60 + t, 60, 8))
        else:
            spread = 12 + 2 * (t - 5)
            disks += [(2, 65, 60 - spread, 5.6), (3, 66, 60 + spread, 5.6)]
        movie.append(disks)
    return movie
