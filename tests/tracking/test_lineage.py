"""Tracks, CTC tracks and relabelling from hand-made links."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cellkiosk.tracking.lineage import build_lineage, ctc_table, relabel_frame
from cellkiosk.tracking.linking import Links


def hand_made() -> Links:
    """Frames 0..4. Cell a (label 5) divides after frame 1 into labels 8 and 9; label 9 is missed in
    frame 3 (gap closed); cell b (label 2) lives through frames 0..4."""
    labels = [[2, 5], [2, 5], [2, 8, 9], [2, 8], [2, 8, 9]]
    offsets = np.cumsum([0] + [len(f) for f in labels])
    pred = [-1, -1, 0, 1, 2, 3, 3, 4, 5, 7, 8, 6]
    #       f0     f1    f2       f3    f4
    return Links(frame_offsets=offsets, labels=np.concatenate(labels), predecessor=np.array(pred))


def test_tracks_parents_daughters_and_gaps() -> None:
    lineage = build_lineage(hand_made())
    rows = [
        (t.track_id, t.first_frame, t.last_frame, t.parent, t.daughters, t.division_frame, t.missing_frames)
        for t in lineage.tracks
    ]
    assert rows == [
        (1, 0, 4, 0, (), None, ()),
        (2, 0, 1, 0, (3, 4), 2, ()),
        (3, 2, 4, 2, (), None, ()),
        (4, 2, 4, 2, (), None, (3,)),
    ]
    assert lineage.node_track.tolist() == [1, 2, 1, 2, 1, 3, 4, 1, 3, 1, 3, 4]
    assert json.loads(json.dumps(lineage.to_json()))["tracks"][1]["daughters"] == [3, 4]


def test_ctc_cuts_the_gap_into_a_one_child_parent_link() -> None:
    table = ctc_table(build_lineage(hand_made()))
    assert table.rows.tolist() == [[1, 0, 4, 0], [2, 0, 1, 0], [3, 2, 4, 2], [4, 2, 2, 2], [5, 4, 4, 4]]
    assert table.node_label.tolist() == [1, 2, 1, 2, 1, 3, 4, 1, 3, 1, 3, 5]


def test_relabel_frame_maps_labels_to_track_ids() -> None:
    links = hand_made()
    lineage = build_lineage(links)
    image = np.array([[0, 2, 8], [9, 9, 0]], dtype=np.uint16)
    out = relabel_frame(image, links, 4, lineage.node_track)
    assert out.dtype == np.uint16 and out.tolist() == [[0, 1, 3], [4, 4, 0]]
    ctc = relabel_frame(image, links, 4, ctc_table(lineage).node_label)
    assert ctc.tolist() == [[0, 1, 3], [5, 5, 0]]


def test_too_many_tracks_for_ctc_are_refused() -> None:
    n = 70_000
    links = Links(frame_offsets=np.array([0, n]), labels=np.arange(1, n + 1), predecessor=np.full(n, -1))
    with pytest.raises(ValueError, match="16-bit"):
        ctc_table(build_lineage(links))
