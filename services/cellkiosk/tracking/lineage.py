"""Tracks and lineages from linked objects; relabelled movies; the Cell Tracking Challenge table.

Two views of the same links:

- **Tracks** (``lineage.json``, ``<stem>_tracked.tif``): one id per cell from its birth (or its
  mother's division) to its death or division, kept across closed gaps. ``missing_frames`` lists
  the frames a gap bridged.
- **CTC tracks** (``res_track.txt``): the challenge requires every track to be present in every
  frame from B to E. A track with a gap is therefore cut at each gap; the piece after the gap is a
  new CTC track whose parent is the piece before it (one parent, one child: not a division, as in
  the challenge's own ground truth). A mother ends in the frame before her daughters begin.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cellkiosk.tracking.linking import Links

CTC_MAX_LABEL = 65_535  # CTC masks and labels are 16-bit


@dataclass(frozen=True)
class Track:
    """One cell from its first to its last frame.

    Attributes
    ----------
    track_id : int
        Label of the cell in the tracked movie (1, 2, ... in order of first appearance).
    first_frame, last_frame : int
        Inclusive range of frames the track spans.
    parent : int
        Track id of the mother; 0 when the cell was not born from a detected division.
    daughters : tuple of int
        Track ids of the daughters (two when the cell divides, else none).
    division_frame : int or None
        First frame of the daughters (``last_frame + 1``); None when the cell does not divide.
    missing_frames : tuple of int
        Frames within the span where the cell was not detected (bridged by gap closing).
    """

    track_id: int
    first_frame: int
    last_frame: int
    parent: int
    daughters: tuple[int, ...]
    division_frame: int | None
    missing_frames: tuple[int, ...]


@dataclass(frozen=True)
class Lineage:
    """Tracks of a movie and the track id of every linked object."""

    links: Links
    node_track: np.ndarray
    tracks: tuple[Track, ...]

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict: ``{"tracks": [...], "frames": T}`` with one entry per track."""
        return {"frames": self.links.n_frames, "tracks": [asdict(t) for t in self.tracks]}


@dataclass(frozen=True)
class CtcTable:
    """The CTC view: ``rows`` of ``L B E P`` and the CTC label of every linked object."""

    rows: np.ndarray
    node_label: np.ndarray


def _chain_heads(predecessor: np.ndarray, is_head: np.ndarray) -> np.ndarray:
    """For every node the head of its chain (follow predecessors until a head), by pointer jumping."""
    up = np.where(is_head, np.arange(predecessor.size), predecessor)
    while True:
        jumped = up[up]
        if np.array_equal(jumped, up):
            return up
        up = jumped


def _number_chains(links: Links, is_head: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ids 1..K for chains in order of their head node; returns (node ids, head nodes)."""
    heads = np.flatnonzero(is_head)
    ids = np.zeros(is_head.size, dtype=np.int64)
    ids[heads] = np.arange(1, heads.size + 1)
    return ids[_chain_heads(links.predecessor, is_head)], heads


def build_lineage(links: Links) -> Lineage:
    """Group linked objects into tracks with parents, daughters and division frames.

    Parameters
    ----------
    links : Links
        Output of :func:`cellkiosk.tracking.linking.link`.

    Returns
    -------
    Lineage
        Tracks sorted by id; ``node_track[k]`` is the track of node ``k``.
    """
    pred, frames = links.predecessor, links.frames
    successors = np.bincount(pred[pred >= 0], minlength=pred.size)
    divided = np.zeros(pred.size, dtype=bool)
    divided[pred >= 0] = successors[pred[pred >= 0]] >= 2
    node_track, heads = _number_chains(links, (pred < 0) | divided)
    k = heads.size
    count = np.bincount(node_track, minlength=k + 1)[1:]
    first = frames[heads]
    last = np.zeros(k + 1, dtype=np.int64)
    np.maximum.at(last, node_track, frames)
    last = last[1:]
    parent = np.where(pred[heads] >= 0, node_track[np.maximum(pred[heads], 0)], 0)
    daughters: dict[int, list[int]] = {}
    for child, mother in zip(np.flatnonzero(parent) + 1, parent[parent > 0], strict=True):
        daughters.setdefault(int(mother), []).append(int(child))
    gappy = set(np.flatnonzero(last - first + 1 > count) + 1)
    tracks = []
    for tid in range(1, k + 1):
        kids = tuple(daughters.get(tid, ()))
        missing: tuple[int, ...] = ()
        if tid in gappy:
            seen = frames[node_track == tid]
            missing = tuple(int(f) for f in np.setdiff1d(np.arange(first[tid - 1], last[tid - 1] + 1), seen))
        division = int(last[tid - 1]) + 1 if kids else None
        tracks.append(
            Track(tid, int(first[tid - 1]), int(last[tid - 1]), int(parent[tid - 1]), kids, division, missing)
        )
    return Lineage(links=links, node_track=node_track, tracks=tuple(tracks))


def ctc_table(lineage: Lineage) -> CtcTable:
    """Cut tracks at their gaps into CTC tracks (``L B E P``) that are contiguous in time.

    A track without gaps keeps its id; the pieces after a gap get new ids above the largest
    track id and the piece before the gap as parent.

    Raises
    ------
    ValueError
        When more than 65,535 CTC tracks would be needed (the format is 16-bit).
    """
    links = lineage.links
    pred, frames = links.predecessor, links.frames
    has_pred = pred >= 0
    is_track_head = ~has_pred | (lineage.node_track != lineage.node_track[np.maximum(pred, 0)])
    after_gap = has_pred & (frames - frames[np.maximum(pred, 0)] > 1)
    piece, heads = _number_chains(links, is_track_head | after_gap)
    n_tracks = len(lineage.tracks)
    label_of_piece = np.zeros(heads.size + 1, dtype=np.int64)
    whole = is_track_head[heads]
    label_of_piece[1:][whole] = lineage.node_track[heads[whole]]
    label_of_piece[1:][~whole] = n_tracks + np.arange(1, int((~whole).sum()) + 1)
    node_label = label_of_piece[piece]
    if node_label.size and node_label.max() > CTC_MAX_LABEL:
        raise ValueError(f"{int(node_label.max())} CTC tracks exceed the format's 16-bit label range")
    end = np.zeros(heads.size + 1, dtype=np.int64)
    np.maximum.at(end, piece, frames)
    parent = np.where(pred[heads] >= 0, node_label[np.maximum(pred[heads], 0)], 0)
    rows = np.stack([node_label[heads], frames[heads], end[1:], parent], axis=1)
    return CtcTable(rows=rows[np.argsort(rows[:, 0], kind="stable")], node_label=node_label)


def relabel_frame(label_image: np.ndarray, links: Links, frame: int, node_ids: np.ndarray) -> np.ndarray:
    """Replace the object labels of one frame by per-node ids (track ids or CTC labels).

    Parameters
    ----------
    label_image : ndarray of int
        The frame's label image, as measured for linking.
    links : Links
        The links the ids belong to.
    frame : int
        Time index of ``label_image``.
    node_ids : ndarray of int, shape (N,)
        New id of every node, e.g. ``Lineage.node_track`` or ``CtcTable.node_label``.

    Returns
    -------
    ndarray
        Same shape; uint16 when the ids fit, else uint32. Labels unknown to ``links`` become 0.
    """
    start, stop = links.frame_offsets[frame], links.frame_offsets[frame + 1]
    labels, ids = links.labels[start:stop], node_ids[start:stop]
    top = int(max(label_image.max(initial=0), labels.max(initial=0)))
    dtype = np.uint16 if node_ids.max(initial=0) <= CTC_MAX_LABEL else np.uint32
    lut = np.zeros(top + 1, dtype=dtype)
    lut[labels] = ids
    return lut[label_image]
