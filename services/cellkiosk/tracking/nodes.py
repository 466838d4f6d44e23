"""The objects of a whole movie stacked into one table, and the geometry the linkers share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from cellkiosk.tracking.features import FrameObjects


@dataclass(frozen=True)
class Nodes:
    """Features of every object of a movie; node ``offsets[t] + i`` is object ``i`` of frame ``t``."""

    offsets: np.ndarray
    frame: np.ndarray
    centroid: np.ndarray
    area: np.ndarray
    intensity: np.ndarray

    def in_frame(self, t: int) -> np.ndarray:
        """Node indices of frame ``t``."""
        return np.arange(self.offsets[t], self.offsets[t + 1])

    def by_frame(self, nodes: np.ndarray) -> list[np.ndarray]:
        """Split sorted node indices into one array per frame."""
        n_frames = self.offsets.size - 1
        return np.split(nodes, np.searchsorted(self.frame[nodes], np.arange(1, n_frames)))


def stack_nodes(frames: Sequence[FrameObjects]) -> Nodes:
    """Stack per-frame features into one :class:`Nodes` table."""
    ndim = max((f.centroids.shape[1] for f in frames if len(f)), default=2)
    sizes = [len(f) for f in frames]
    return Nodes(
        offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp),
        frame=np.repeat(np.arange(len(frames)), sizes),
        centroid=np.concatenate([f.centroids.reshape(-1, ndim) for f in frames]) if frames else np.zeros((0, ndim)),
        area=np.concatenate([f.areas for f in frames]) if frames else np.zeros(0),
        intensity=np.concatenate([f.mean_intensity for f in frames]) if frames else np.zeros(0),
    )


def relative_change(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``|a - b| / (a + b)`` in [0, 1] for non-negative values; 0 where undefined (NaN, both 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.abs(a - b) / (np.abs(a) + np.abs(b))
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def pairs_within(a: np.ndarray, b: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs ``(i, j)`` of points ``a[i]``, ``b[j]`` no farther apart than ``radius``, with distances."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0)
    found = cKDTree(a).sparse_distance_matrix(cKDTree(b), radius, output_type="ndarray")
    return found["i"].astype(np.intp), found["j"].astype(np.intp), found["v"]


def concat_candidates(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate ``(rows, cols, costs)`` candidate lists (empty arrays for none)."""
    if not parts:
        return np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0)
    rows, cols, costs = zip(*parts, strict=True)
    return np.concatenate(rows).astype(np.intp), np.concatenate(cols).astype(np.intp), np.concatenate(costs)
