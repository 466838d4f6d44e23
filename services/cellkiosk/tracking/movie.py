"""A label movie in, a lineage and its CTC result out: the tracking steps chained, frames streamed.

Only per-object features are kept for the whole movie; label images are read twice (once to
measure, once to relabel), so memory stays bounded by one frame however long the movie is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from cellkiosk.tracking.ctc_io import write_ctc
from cellkiosk.tracking.features import FrameObjects, measure_objects
from cellkiosk.tracking.lineage import Lineage, build_lineage, ctc_table, relabel_frame
from cellkiosk.tracking.linking import link
from cellkiosk.tracking.params import TrackingParams

Frame = TypeVar("Frame")


def measure_movie(
    label_frames: Iterable[np.ndarray], image_frames: Iterable[np.ndarray | None] | None = None
) -> list[FrameObjects]:
    """Features of every frame of a label movie (with intensities where images are given)."""
    if image_frames is None:
        return [measure_objects(labels, None, t) for t, labels in enumerate(label_frames)]
    pairs = enumerate(zip(label_frames, image_frames, strict=True))
    return [measure_objects(labels, image, t) for t, (labels, image) in pairs]


def track_movie(
    label_frames: Iterable[np.ndarray],
    image_frames: Iterable[np.ndarray | None] | None = None,
    params: TrackingParams | None = None,
) -> Lineage:
    """Measure, link and group a label movie into tracks.

    Parameters
    ----------
    label_frames : iterable of ndarray of int
        Instance labels of each frame in time order; consumed once.
    image_frames : iterable of ndarray, optional
        Intensity image of each frame, for the intensity cues.
    params : TrackingParams, optional
        Tracker parameters; defaults when omitted.

    Returns
    -------
    Lineage
        Tracks and the track id of every object.
    """
    return build_lineage(link(measure_movie(label_frames, image_frames), params))


def write_ctc_result(
    folder: str | Path, lineage: Lineage, label_frames: Sequence[Frame], read: Callable[[Frame], np.ndarray]
) -> Path:
    """Write the CTC result (``res_track.txt``, ``maskTTT.tif``) of a tracked label movie.

    Parameters
    ----------
    folder : path
        Output folder, created if missing.
    lineage : Lineage
        Result of :func:`track_movie` on the same frames.
    label_frames : sequence
        One item per frame (an array or a path, ...), turned into the frame's labels by ``read``.
    read : callable
        Reads one item of ``label_frames`` into a label image (``np.asarray`` for arrays).
    """
    table = ctc_table(lineage)
    masks = (relabel_frame(read(item), lineage.links, t, table.node_label) for t, item in enumerate(label_frames))
    return write_ctc(folder, table.rows, masks, n_frames=len(label_frames))
