"""GT-marker linking on a short real clip: frames 0-14 of CTC Fluo-N2DH-SIM+ 01 (five divisions).

The frames are read in place from ../shared/data/ctc (never copied into the repository); the clip's
ground truth is the sequence's, cut to 15 frames, and lives in a temporary folder of symlinks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cellkiosk import cli
from cellkiosk.tracking.ctc_io import read_track_file, validate_ctc
from tests.tracking.clips import ctc_clip

CTC = Path(__file__).resolve().parents[2].parent / "shared/data/ctc"
SEQUENCE = CTC / "Fluo-N2DH-SIM+" / "01"
FRAMES = 15


def clip(tmp_path: Path) -> Path:
    """The first FRAMES frames of the sequence and its truth."""
    return ctc_clip(tmp_path, FRAMES, SEQUENCE)


@pytest.mark.skipif(not SEQUENCE.is_dir(), reason=f"CTC data not found at {SEQUENCE}")
@pytest.mark.slow
def test_linking_ground_truth_markers_of_a_real_clip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seq = clip(tmp_path)
    out = tmp_path / "res"
    assert validate_ctc(seq.parent / "01_GT" / "TRA") == []  # the cut ground truth is itself valid
    assert cli.main(["evaluate-tracking", "--link-gt", str(seq), "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == [] and report["frames"] == FRAMES and report["intensity"]
    scores = report["scores"]
    assert scores["det"] == 1.0  # the markers themselves are the detections
    assert scores["tra"] >= 0.95
    assert scores["divisions_gt"] == 5 and scores["division_f1"] >= 0.8


@pytest.mark.skipif(not SEQUENCE.is_dir(), reason=f"CTC data not found at {SEQUENCE}")
@pytest.mark.slow
def test_a_clip_from_the_middle_of_the_movie_has_valid_renumbered_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seq = ctc_clip(tmp_path, range(30, 40), SEQUENCE)
    tra = seq.parent / "01_GT" / "TRA"
    assert validate_ctc(tra) == []
    rows = read_track_file(tra / "man_track.txt")
    full = read_track_file(SEQUENCE.parent / "01_GT" / "TRA" / "man_track.txt")
    alive = full[(full[:, 1] <= 39) & (full[:, 2] >= 30)]
    assert sorted(rows[:, 0]) == sorted(alive[:, 0]) and rows[:, 1].min() == 0 and rows[:, 2].max() == 9
    assert set(rows[:, 3]) - {0} <= set(rows[:, 0])  # parents that ended before frame 30 are dropped
    assert cli.main(["evaluate-tracking", "--link-gt", str(seq), "--out", str(tmp_path / "res")]) == 0
    assert json.loads(capsys.readouterr().out)["scores"]["tra"] >= 0.95
