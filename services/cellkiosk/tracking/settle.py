"""Divisions the segmentation announced early: a mitotic nucleus cut in two while it is still one.

As a nucleus divides it stretches, and the segmentation may cut it into two touching pieces a frame or two
before the nuclei part; the tracker then links a division there, early, and where the pieces merge again
a division that never happened. A division whose daughters touch each other in their first frame is
taken for that: :func:`settle_divisions` merges the two pieces back into one object (it continues the
mother's track), measures those frames again and links the movie again, so the division moves to the next
frame, at most ``division_settle_frames`` times. Daughters that part in time give the division in the frame
they part; a true division whose daughters still touch after that many frames is kept, that many frames late.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage as ndi

from cellkiosk.tracking.features import FrameObjects, measure_objects
from cellkiosk.tracking.lineage import Lineage, build_lineage
from cellkiosk.tracking.linking import Links, link
from cellkiosk.tracking.params import TrackingParams


def next_frame_divisions(links: Links) -> np.ndarray:
    """(frame, label a, label b) of every division: a node with exactly two successors in the next frame."""
    frames = links.frames
    child = np.flatnonzero(links.predecessor >= 0)
    child = child[frames[child] == frames[links.predecessor[child]] + 1]
    parents, counts = np.unique(links.predecessor[child], return_counts=True)
    twice = parents[counts == 2]
    pairs = child[np.isin(links.predecessor[child], twice)]
    pairs = pairs[np.argsort(links.predecessor[pairs], kind="stable")].reshape(-1, 2)
    return np.column_stack([frames[pairs[:, 0]], links.labels[pairs[:, 0]], links.labels[pairs[:, 1]]])


def touching_pairs(frame: np.ndarray, pairs: np.ndarray) -> list[tuple[int, int]]:
    """The (a, b) label pairs of ``pairs`` whose objects share a border (8-connected in 2-D) in the label ``frame``."""
    boxes, touch = ndi.find_objects(frame), ndi.generate_binary_structure(frame.ndim, frame.ndim)
    out = []
    for a, b in pairs.tolist():
        if a > len(boxes) or b > len(boxes) or boxes[a - 1] is None or boxes[b - 1] is None:
            continue
        ba, bb = boxes[a - 1], boxes[b - 1]
        box = tuple(
            slice(max(min(sa.start, sb.start) - 1, 0), max(sa.stop, sb.stop) + 1) for sa, sb in zip(ba, bb, strict=True)
        )
        crop = frame[box]
        if np.any(ndi.binary_dilation(crop == a, touch) & (crop == b)):
            out.append((a, b))
    return out


def settle_divisions(
    labels: np.ndarray,
    frames: list[FrameObjects],
    image_of: Callable[[int], np.ndarray | None],
    params: TrackingParams,
) -> tuple[Lineage, int]:
    """Link the (T, Y, X) label movie whose objects ``frames`` holds (``tracking.movie.measure_movie``); while
    divisions have daughters that touch in their first frame, merge each such pair in ``labels`` (in place:
    b becomes a), measure those frames again (intensities from ``image_of(t)``) and link again, at most
    ``params.division_settle_frames`` times. ``frames`` is updated with ``labels``.

    Returns the last lineage (that of ``labels`` as left) and how many pairs were merged.
    """
    lineage, merged = build_lineage(link(frames, params)), 0
    for _ in range(params.division_settle_frames):
        divisions = next_frame_divisions(lineage.links)
        changed = []
        for t in np.unique(divisions[:, 0]).tolist():
            frame = labels[t]
            pairs = touching_pairs(frame, divisions[divisions[:, 0] == t, 1:])
            for a, b in pairs:
                frame[frame == b] = a
            if pairs:
                changed.append(t)
                merged += len(pairs)
        if not changed:
            break
        for t in changed:
            frames[t] = measure_objects(labels[t], image_of(t), t)
        lineage = build_lineage(link(frames, params))
    return lineage, merged
