"""Where a tracking result's divisions go wrong: every true division and every division found, by kind.

A diagnosis beside the challenge's division F1 (BC(0), exact frame): a true division is *found* when
the result has a division in the same frame whose mother lies within one nucleus of the true mother,
*found 1-2 frames off* when it has one that near in time, and otherwise it is read from the result's
objects under the true daughters' markers in the frame they begin: one object under both (*daughters
merged*), no object under one (*a daughter missed*), or two objects that the tracker did not make
sisters (*not divided*). A division found is *true*, *off by 1-2 frames* from a true one, or has *no
division in truth* near it. The exact-frame counts can differ a little from py-ctcmetrics', which
matches objects by overlap rather than by the mother's position.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage

from cellkiosk.imaging.object_size import median_diameter
from cellkiosk.tracking.ctc_io import find_masks, read_track_file

TRUE_KINDS = ("found", "found 1-2 frames off", "daughters merged", "a daughter missed", "not divided")
FOUND_KINDS = ("true", "off by 1-2 frames", "no division in truth")


@dataclass(frozen=True)
class Division:
    """A mother track and the daughter tracks that follow it; ``frame`` is the frame after her last."""

    mother: int
    frame: int
    daughters: tuple[int, ...]


def divisions_of(rows: np.ndarray) -> list[Division]:
    """The divisions of CTC ``L B E P`` rows: each parent with two or more children."""
    last = {int(label): int(end) for label, _, end, _ in rows}
    children: dict[int, list[int]] = {}
    for label, _, _, parent in rows:
        if parent:
            children.setdefault(int(parent), []).append(int(label))
    return [Division(p, last[p] + 1, tuple(k)) for p, k in sorted(children.items()) if len(k) >= 2 and p in last]


class _Frames:
    """A CTC folder's label images, read once each."""

    def __init__(self, folder: Path) -> None:
        self.paths = find_masks(folder)
        self.read = cache(self._read)

    def _read(self, t: int) -> np.ndarray:
        return np.asarray(tifffile.imread(self.paths[t])) if 0 <= t < len(self.paths) else np.zeros((0, 0), int)

    def centroid(self, t: int, label: int) -> np.ndarray | None:
        mask = self.read(t) == label
        return np.array(ndimage.center_of_mass(mask)) if mask.any() else None

    def diameter(self, t: int, label: int) -> float:
        return median_diameter(self.read(t) == label)  # the one object's equivalent diameter


def _under(result: np.ndarray, truth: np.ndarray, label: int) -> int:
    """The result's label covering most of the true object ``label`` (0: none)."""
    if result.shape != truth.shape:
        return 0
    hits = result[(truth == label) & (result > 0)]
    return int(np.bincount(hits).argmax()) if hits.size else 0


def division_outcomes(res_dir: str | Path, gt_dir: str | Path, max_offset: int = 2) -> dict[str, dict[str, int]]:
    """Count every true division of ``gt_dir`` (``NN_GT``, holding ``TRA/``) and every division of the CTC
    result ``res_dir`` by kind (module docstring); ``max_offset`` frames is "near in time"."""
    res, gt = Path(res_dir), Path(gt_dir) / "TRA"
    found = divisions_of(read_track_file(res / "res_track.txt"))
    true = divisions_of(read_track_file(gt / "man_track.txt"))
    res_frames, gt_frames = _Frames(res), _Frames(gt)

    def offset(g: Division, r: Division) -> int | None:
        """Frames between them when ``r``'s mother is within one true mother's diameter of ``g``'s; else None."""
        if abs(r.frame - g.frame) > max_offset:
            return None
        at_g = gt_frames.centroid(g.frame - 1, g.mother)
        at_r = res_frames.centroid(r.frame - 1, r.mother)
        if at_g is None or at_r is None:
            return None
        near = np.linalg.norm(at_g - at_r) <= gt_frames.diameter(g.frame - 1, g.mother)
        return abs(r.frame - g.frame) if near else None

    offsets = {(i, j): o for i, g in enumerate(true) for j, r in enumerate(found) if (o := offset(g, r)) is not None}
    true_kinds: Counter[str] = Counter()
    for i, g in enumerate(true):
        near = [o for (gi, _), o in offsets.items() if gi == i]
        if near:
            true_kinds["found" if min(near) == 0 else "found 1-2 frames off"] += 1
            continue
        labels = [_under(res_frames.read(g.frame), gt_frames.read(g.frame), d) for d in g.daughters[:2]]
        if 0 in labels:
            true_kinds["a daughter missed"] += 1
        elif labels[0] == labels[1]:
            true_kinds["daughters merged"] += 1
        else:
            true_kinds["not divided"] += 1
    found_kinds: Counter[str] = Counter()
    for j in range(len(found)):
        near = [o for (_, fj), o in offsets.items() if fj == j]
        found_kinds["no division in truth" if not near else "true" if min(near) == 0 else "off by 1-2 frames"] += 1
    return {
        "true_divisions": {kind: true_kinds[kind] for kind in TRUE_KINDS},
        "divisions_found": {kind: found_kinds[kind] for kind in FOUND_KINDS},
    }
