"""Division detection: one mother in frame t-1, two daughters in frame t (CTC semantics).

Two situations are recognised. Usually the frame-to-frame LAP has linked the mother to one
daughter (her nearer one) and the other daughter starts a segment: :func:`split_candidates`
offers the mother as a split point to that start, and the segment LAP weighs it against the
start being a birth or closing a gap. When both daughters moved beyond ``max_distance_px``, the
mother's segment ends and both daughters start: :func:`orphan_divisions` pairs them afterwards.
"""

from __future__ import annotations

import itertools

import numpy as np

from cellkiosk.tracking.nodes import Nodes, concat_candidates, pairs_within, relative_change
from cellkiosk.tracking.params import TrackingParams


def division_cost(
    nodes: Nodes, mother: np.ndarray, first: np.ndarray, second: np.ndarray, params: TrackingParams
) -> np.ndarray:
    """Cost of ``mother`` dividing into daughters ``first`` and ``second``; inf where a cue rules it out.

    The mother sits near the midpoint of her daughters; the daughters are no larger than
    ``division_max_area_ratio`` times the mother, about half her area, and alike in size and
    intensity. A division is accepted when its cost is below ``birth_cost``.
    """
    midpoint = (nodes.centroid[first] + nodes.centroid[second]) / 2
    offset = np.linalg.norm(midpoint - nodes.centroid[mother], axis=1) / params.division_max_distance_px
    mother_area = np.maximum(nodes.area[mother], 1e-9)
    ratio = np.maximum(nodes.area[first], nodes.area[second]) / mother_area
    asymmetry = relative_change(nodes.area[first], nodes.area[second])
    # Daughters share the mother's volume: each about half her area; growing beyond that is penalised.
    growth = np.maximum(0.0, (nodes.area[first] + nodes.area[second]) / 2 / mother_area - 0.5)
    brightness = relative_change(nodes.intensity[first], nodes.intensity[second])
    cost = (
        offset**2 + params.division_size_weight * (asymmetry + growth) + params.division_intensity_weight * brightness
    )
    gated = (ratio > params.division_max_area_ratio) | (asymmetry > params.division_max_asymmetry)
    return np.where(gated, np.inf, cost)


def split_candidates(
    nodes: Nodes, successor: np.ndarray, starts: np.ndarray, params: TrackingParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mothers (objects linked into the next frame) for each segment start, with division costs.

    Returns ``(mothers, starts, costs)``; the mother's successor is the start's sibling.
    """
    found = []
    for t, d in enumerate(nodes.by_frame(starts)):
        if t == 0 or d.size == 0:
            continue
        m = nodes.in_frame(t - 1)
        m = m[successor[m] >= 0]
        i, j, _ = pairs_within(nodes.centroid[m], nodes.centroid[d], params.division_max_distance_px)
        cost = division_cost(nodes, m[i], successor[m[i]], d[j], params)
        keep = np.isfinite(cost)
        found.append((m[i][keep], d[j][keep], cost[keep]))
    return concat_candidates(found)


def orphan_divisions(nodes: Nodes, predecessor: np.ndarray, params: TrackingParams) -> np.ndarray:
    """Link track ends to two new starts in the next frame where that reads as a division.

    Each end with two or more starts within ``division_max_distance_px`` is scored for every pair
    of them; the cheapest divisions below ``birth_cost`` are taken first, each object once.
    Returns an updated copy of ``predecessor``.
    """
    predecessor = predecessor.copy()
    has_successor = np.zeros(predecessor.size, dtype=bool)
    has_successor[predecessor[predecessor >= 0]] = True
    ends = nodes.by_frame(np.flatnonzero(~has_successor))
    starts = nodes.by_frame(np.flatnonzero(predecessor < 0))
    for t in range(1, len(starts)):
        i, j, _ = pairs_within(nodes.centroid[ends[t - 1]], nodes.centroid[starts[t]], params.division_max_distance_px)
        triples = [
            (ends[t - 1][mother], starts[t][a], starts[t][b])
            for mother, group in itertools.groupby(sorted(zip(i.tolist(), j.tolist(), strict=True)), key=lambda p: p[0])
            for (_, a), (_, b) in itertools.combinations(list(group), 2)
        ]
        if not triples:
            continue
        m, a, b = (np.array(x) for x in zip(*triples, strict=True))
        cost = division_cost(nodes, m, a, b, params)
        used: set[int] = set()
        for k in np.argsort(cost, kind="stable"):
            if cost[k] >= params.birth_cost:
                break
            trio = {int(m[k]), int(a[k]), int(b[k])}
            if not trio & used:
                predecessor[[a[k], b[k]]] = m[k]
                used |= trio
    return predecessor
