"""Early divisions: daughters that still touch are one nucleus the segmentation cut; the division waits for them.

Painted movies through the real tracker (``track_movie``): a nucleus cut into two touching halves for two
frames before its daughters part, a division whose daughters part at once, and a cell that never divides.
Then a real SIM+ clip through a tracking job's own path, where the segmentation cuts nuclei into pieces
that the tracker took for daughters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cellkiosk.evaluation.divisions import division_outcomes
from cellkiosk.tracking.lineage import Lineage
from cellkiosk.tracking.movie import measure_movie, track_movie
from cellkiosk.tracking.params import TrackingParams
from cellkiosk.tracking.settle import next_frame_divisions, settle_divisions, touching_pairs
from cellkiosk.training.tracking_eval import segment_and_track
from tests.fixtures.platform import MODELS_DIR
from tests.tracking.clips import ctc_clip
from tests.tracking.movies import paint

SHAPE = (120, 160)
FRAMES = 8
CUT = (3, 4)  # frames where the first nucleus is two touching halves; its daughters part at frame 5


def movie() -> np.ndarray:
    """Nucleus A (left) is cut early, B (right) divides cleanly at frame 4, C (bottom) never divides."""
    frames = []
    for t in range(FRAMES):
        frame = paint(SHAPE, [(9, 95, 80, 9)])  # C
        if t < CUT[0]:
            frame |= paint(SHAPE, [(1, 40, 40, 10)])
        elif t in CUT:  # one nucleus, a little stretched, cut down the middle: two touching halves
            whole = paint(SHAPE, [(1, 40, 40, 10)]).astype(bool)
            frame[whole & (np.arange(SHAPE[1]) < 40)] = 1
            frame[whole & (np.arange(SHAPE[1]) >= 40)] = 2
        else:  # parted
            frame |= paint(SHAPE, [(1, 40, 31, 7), (2, 40, 49, 7)])
        if t < 4:
            frame |= paint(SHAPE, [(5, 40, 120, 10)])
        else:  # B's daughters, apart from their first frame
            frame |= paint(SHAPE, [(5, 40, 111, 7), (6, 40, 129, 7)])
        frames.append(frame)
    return np.stack(frames).astype(np.uint32)


def settle(labels: np.ndarray, frames: int) -> tuple[Lineage, int]:
    """:func:`settle_divisions` as a job calls it, on painted labels without intensities."""
    params = TrackingParams(division_settle_frames=frames)
    return settle_divisions(labels, measure_movie(iter(labels)), lambda t: None, params)


def division_frames(lineage: Lineage) -> list[int]:
    return sorted(t.division_frame for t in lineage.tracks if t.division_frame is not None)


def test_the_unsettled_tracker_sees_the_cut_nucleus_divide_early() -> None:
    labels = movie()
    lineage = track_movie(iter(labels), None, TrackingParams())
    assert division_frames(lineage) == [3, 4]  # A at its cut, B at its division
    divisions = next_frame_divisions(lineage.links)
    assert sorted(map(tuple, divisions.tolist())) == [(3, 1, 2), (4, 5, 6)]
    assert touching_pairs(labels[3], divisions[:1, 1:]) == [(1, 2)]
    assert touching_pairs(labels[4], divisions[1:, 1:]) == []


@pytest.mark.parametrize(
    ("frames", "expected", "merged"), [(0, [3, 4], 0), (1, [4, 4], 1), (2, [4, 5], 2), (5, [4, 5], 2)]
)
def test_a_division_waits_until_the_daughters_part(frames: int, expected: list[int], merged: int) -> None:
    labels = movie()
    before = labels.copy()
    lineage, count = settle(labels, frames)
    assert division_frames(lineage) == expected and count == merged
    for t in range(FRAMES):  # only the cut frames it settled changed, and only there the halves became one
        if t in CUT[:merged]:
            assert set(np.unique(labels[t])) == set(np.unique(before[t])) - {2}
            assert ((labels[t] == 1) == np.isin(before[t], [1, 2])).all()
        else:
            np.testing.assert_array_equal(labels[t], before[t])
    assert lineage.links.labels.size == sum(len(np.unique(f)) - 1 for f in labels)  # the lineage is of labels
    assert division_frames(lineage) == division_frames(track_movie(iter(labels), None, TrackingParams()))


def test_a_movie_without_touching_daughters_is_left_as_it_is() -> None:
    labels = movie()
    labels[3:5][labels[3:5] == 2] = 0  # A is never cut: no early division to settle
    labels[3:5][labels[3:5] == 1] = 0
    labels[3:5] |= paint(SHAPE, [(1, 40, 40, 10)]).astype(np.uint32)
    before = labels.copy()
    lineage, count = settle(labels, 2)
    assert count == 0 and division_frames(lineage) == [4, 5]
    np.testing.assert_array_equal(labels, before)


SIM_SCALE = 0.3712  # what a default job estimates for the whole SIM+ 01 movie (its tracking card)


@pytest.mark.slow
def test_on_a_real_clip_pieces_of_one_nucleus_stop_counting_as_divisions(tmp_path: Path) -> None:
    (tmp_path / "clip").mkdir()
    seq = ctc_clip(tmp_path / "clip", range(4, 14))  # three true divisions, and nuclei the segmentation cuts early
    runs = {}
    for name, tracking in [("early", {"division_settle_frames": 0}), ("settled", {})]:
        params = {"scale": SIM_SCALE, "tracking": tracking}  # the whole movie's scale: its segmentation
        report = segment_and_track(seq, tmp_path / name, "tracking:3", params, MODELS_DIR)
        assert report["problems"] == [] and report["scores"]["divisions_gt"] == 3
        runs[name] = report["scores"] | division_outcomes(tmp_path / name, seq.parent / "01_GT")
    early, settled = runs["early"], runs["settled"]
    assert early["divisions_found"]["no division in truth"] >= 1  # pieces of one nucleus, taken for daughters
    assert settled["divisions_found"]["no division in truth"] == 0
    assert settled["division_fp"] < early["division_fp"]
