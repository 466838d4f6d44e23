"""Linking speed: synthetic movies of 100, 1,000 and 5,000 cells x 100 frames.

Cells sit on a jittered grid at constant density (40 px apart, so the field grows with the cell
count), have areas of 200-400 px, do Gaussian random walks (3 px per axis per frame), divide
(0.2 % of cells per frame, daughters 8 px either side of the mother) and die (0.1 % per frame).
Linking (frame-to-frame LAP, gap closing, division detection) and lineage building are timed on
the object tables alone, without images, with default
:class:`~cellkiosk.tracking.params.TrackingParams`. Near-linear scaling means the time per object
stays flat (or falls) as cells grow. Also prints the fraction of links that follow the true cell
(or go from a mother to her daughter) as a sanity check.

Usage: ``python benchmarks/tracking_speed.py [--cells 100 1000 5000] [--frames 100] [--out result.json]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from report import emit, machine  # benchmarks/report.py: the scripts run with this folder on sys.path

from cellkiosk.tracking.features import FrameObjects
from cellkiosk.tracking.lineage import build_lineage
from cellkiosk.tracking.linking import link


def synthetic_movie(
    n_cells: int, n_frames: int, seed: int = 0
) -> tuple[list[FrameObjects], np.ndarray, dict[int, int]]:
    """Frames, the true cell id of every object (frame by frame), and ``{daughter: mother}``."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_cells)))
    pos = np.stack(np.divmod(np.arange(n_cells), side), axis=1) * 40.0 + rng.uniform(-5, 5, (n_cells, 2))
    area, ids, next_id = rng.uniform(200, 400, n_cells), np.arange(n_cells), n_cells
    frames, truth, parents = [], [], {}
    for t in range(n_frames):
        divide = np.flatnonzero(rng.random(ids.size) < 0.002)
        offset = rng.normal(0, 1, (divide.size, 2))
        offset *= 8.0 / np.linalg.norm(offset, axis=1, keepdims=True)
        new_ids = next_id + np.arange(2 * divide.size).reshape(-1, 2)
        parents.update({int(d): int(m) for pair, m in zip(new_ids, ids[divide], strict=True) for d in pair})
        pos = np.vstack([pos, pos[divide] - offset])
        pos[divide] += offset
        area[divide] /= 2
        area = np.concatenate([area, area[divide]])
        ids = np.concatenate([ids, new_ids[:, 1]])
        ids[divide] = new_ids[:, 0]
        next_id += 2 * divide.size
        alive = rng.random(ids.size) >= 0.001
        pos, area, ids = pos[alive], area[alive], ids[alive]
        n = ids.size
        frames.append(
            FrameObjects(
                t, np.arange(1, n + 1), pos.copy(), area.copy(), np.full(n, np.nan), np.zeros((n, 4), np.int64)
            )
        )
        truth.append(ids.copy())
        pos = pos + rng.normal(0, 3.0, pos.shape)
        area = area * 1.005
    return frames, np.concatenate(truth), parents


def run(n_cells: int, n_frames: int) -> dict[str, float]:
    """Time linking and lineage building of one synthetic movie."""
    frames, truth, parents = synthetic_movie(n_cells, n_frames)
    start = time.perf_counter()
    links = link(frames)
    link_s = time.perf_counter() - start
    start = time.perf_counter()
    lineage = build_lineage(links)
    lineage_s = time.perf_counter() - start
    pred = links.predecessor
    child = np.flatnonzero(pred >= 0)
    right = (truth[child] == truth[pred[child]]) | np.array(
        [parents.get(int(c)) == int(m) for c, m in zip(truth[child], truth[pred[child]], strict=True)]
    )
    objects = int(truth.size)
    return {
        "cells_start": n_cells,
        "frames": n_frames,
        "objects": objects,
        "link_s": round(link_s, 3),
        "lineage_s": round(lineage_s, 3),
        "ms_per_frame": round(1000 * (link_s + lineage_s) / n_frames, 2),
        "us_per_object": round(1e6 * (link_s + lineage_s) / objects, 2),
        "true_divisions": len(parents) // 2,
        "found_divisions": sum(1 for t in lineage.tracks if t.division_frame is not None),
        "correct_links": round(float(right.mean()), 5),
    }


def main() -> None:
    """Run the sizes given; print JSON (and write it with ``--out``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    run(50, 5)  # warm up imports and caches
    report = {
        "machine": machine(),
        "runs": [run(n, args.frames) for n in args.cells],
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
