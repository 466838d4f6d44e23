"""Global LAP tracking of per-frame objects (Jaqaman et al. 2008, as in u-track and TrackMate).

Three steps over the movie:

1. **Frame to frame.** Objects of frame t are linked to objects of frame t+1 within
   ``max_distance_px`` by one sparse LAP per pair of frames (:mod:`.lap`). The cost of a link is
   the squared distance over the squared radius plus an appearance term (relative change of
   area and mean intensity). The result is a set of contiguous track segments.
2. **Segments.** One more LAP links segment ends to later segment starts across up to
   ``max_gap_frames`` missing frames (gap closing), and mid-segment objects to segment starts of
   the next frame (splitting: the mother continues into one daughter, the start is the other).
   Each start takes at most one source, so gaps and divisions compete for it on cost.
3. **Orphan divisions.** A segment end whose two daughters both moved beyond the frame radius
   is paired with them (:mod:`.divisions`).

The output is a forest over all objects: every object has at most one predecessor, and an
object with two successors is a mother whose daughters begin in the next frame (CTC semantics;
:mod:`.lineage` turns this into tracks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cellkiosk.tracking.divisions import orphan_divisions, split_candidates
from cellkiosk.tracking.features import FrameObjects
from cellkiosk.tracking.lap import solve_sparse_lap
from cellkiosk.tracking.nodes import Nodes, concat_candidates, pairs_within, relative_change, stack_nodes
from cellkiosk.tracking.params import TrackingParams


@dataclass(frozen=True)
class Links:
    """Objects of a movie as graph nodes, numbered frame by frame in label order.

    Attributes
    ----------
    frame_offsets : ndarray of int, shape (T + 1,)
        Node ``frame_offsets[t] + i`` is object ``i`` of frame ``t``.
    labels : ndarray of int, shape (N,)
        Label of each node in its frame's label image.
    predecessor : ndarray of int, shape (N,)
        The node each node continues from (previous frame, or earlier across a gap); -1 for none.
    """

    frame_offsets: np.ndarray
    labels: np.ndarray
    predecessor: np.ndarray

    @property
    def frames(self) -> np.ndarray:
        """Frame index of every node."""
        return np.repeat(np.arange(self.frame_offsets.size - 1), np.diff(self.frame_offsets))

    @property
    def n_frames(self) -> int:
        """Number of frames in the movie."""
        return int(self.frame_offsets.size - 1)


def _appearance(nodes: Nodes, i: np.ndarray, j: np.ndarray, params: TrackingParams) -> np.ndarray:
    area = relative_change(nodes.area[i], nodes.area[j])
    return params.area_weight * area + params.intensity_weight * relative_change(nodes.intensity[i], nodes.intensity[j])


def _frame_to_frame(nodes: Nodes, params: TrackingParams) -> np.ndarray:
    """Successor of every node in the next frame (-1: none), one sparse LAP per frame pair."""
    successor = np.full(nodes.frame.size, -1, dtype=np.intp)
    death = np.full(nodes.frame.size, params.death_cost)
    birth = np.full(nodes.frame.size, params.birth_cost)
    for t in range(nodes.offsets.size - 2):
        a, b = nodes.in_frame(t), nodes.in_frame(t + 1)
        i, j, dist = pairs_within(nodes.centroid[a], nodes.centroid[b], params.max_distance_px)
        cost = (dist / params.max_distance_px) ** 2 + _appearance(nodes, a[i], b[j], params)
        rows, cols = solve_sparse_lap(i, j, cost, death[a], birth[b])
        successor[a[rows]] = b[cols]
    return successor


def _gap_candidates(
    nodes: Nodes, ends: np.ndarray, starts: np.ndarray, params: TrackingParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segment ends linked to starts ``2 .. max_gap_frames + 1`` frames later (radius grows with the gap)."""
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    n_frames = nodes.offsets.size - 1
    starts_by_frame = nodes.by_frame(starts)
    for t, e in enumerate(nodes.by_frame(ends)):
        for dt in range(2, min(params.max_gap_frames + 2, n_frames - t)):
            s = starts_by_frame[t + dt]
            radius = params.max_distance_px * dt
            i, j, dist = pairs_within(nodes.centroid[e], nodes.centroid[s], radius)
            cost = (dist / radius) ** 2 + _appearance(nodes, e[i], s[j], params)
            found.append((e[i], s[j], cost + params.gap_cost_per_frame * (dt - 1)))
    return concat_candidates(found)


def _link_segments(nodes: Nodes, successor: np.ndarray, params: TrackingParams) -> np.ndarray:
    """Predecessor of every node after gap closing and division detection."""
    n, last = nodes.frame.size, nodes.offsets.size - 2
    predecessor = np.full(n, -1, dtype=np.intp)
    linked = successor >= 0
    predecessor[successor[linked]] = np.flatnonzero(linked)
    starts = np.flatnonzero((predecessor < 0) & (nodes.frame > 0))
    ends = np.flatnonzero(~linked & (nodes.frame < last))
    gap_rows, gap_cols, gap_costs = _gap_candidates(nodes, ends, starts, params)
    if params.divisions:
        div_rows, div_cols, div_costs = split_candidates(nodes, successor, starts, params)
    else:
        div_rows, div_cols, div_costs = concat_candidates([])
    # Rows 0..n-1 are gap-closing sources (a track end), rows n..2n-1 split points (a mother).
    rows = np.concatenate([gap_rows, n + div_rows])
    row_nolink = np.concatenate([np.full(n, params.death_cost), np.zeros(n)])
    col_nolink = np.full(n, params.birth_cost)
    chosen_rows, chosen_cols = solve_sparse_lap(
        rows, np.concatenate([gap_cols, div_cols]), np.concatenate([gap_costs, div_costs]), row_nolink, col_nolink
    )
    predecessor[chosen_cols] = np.where(chosen_rows < n, chosen_rows, chosen_rows - n)
    return orphan_divisions(nodes, predecessor, params) if params.divisions else predecessor


def link(frames: Sequence[FrameObjects], params: TrackingParams | None = None) -> Links:
    """Track objects through a movie.

    Parameters
    ----------
    frames : sequence of FrameObjects
        The objects of every frame, in time order (frame ``t`` at position ``t``).
    params : TrackingParams, optional
        Radii, costs and division cues; defaults when omitted.

    Returns
    -------
    Links
        Every object with its predecessor. No link spans more than ``max_distance_px`` per
        elapsed frame (``division_max_distance_px`` for a new daughter); an object has at most
        two successors, and two only when both are in the next frame (a division).
    """
    params = params or TrackingParams()
    nodes = stack_nodes(frames)
    successor = _frame_to_frame(nodes, params)
    predecessor = _link_segments(nodes, successor, params)
    labels = np.concatenate([f.labels for f in frames]) if frames else np.zeros(0, np.int64)
    return Links(frame_offsets=nodes.offsets, labels=labels, predecessor=predecessor)
