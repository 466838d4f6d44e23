"""`cellkiosk evaluate-tracking --segment`: raw frames of a CTC clip, a tracking model segments and tracks, scores.

Four frames of Fluo-N2DH-SIM+ 01, read in place from ../shared/data/ctc (symlinks in tmp, never copied).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cellkiosk import cli
from tests.fixtures.platform import MODELS_DIR, SHARED_DATA
from tests.tracking.clips import ctc_clip

SEQUENCE = SHARED_DATA / "ctc" / "Fluo-N2DH-SIM+" / "01"
FRAMES = 4


def short_clip(tmp_path: Path) -> Path:
    """The first FRAMES frames of the sequence and its truth."""
    return ctc_clip(tmp_path, FRAMES, SEQUENCE)


@pytest.mark.skipif(not SEQUENCE.is_dir(), reason=f"CTC data not found at {SEQUENCE}")
@pytest.mark.slow
def test_segment_track_and_score_a_short_clip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seq, out = short_clip(tmp_path), tmp_path / "res"
    argv = ["evaluate-tracking", "--segment", str(seq), "--models-dir", str(MODELS_DIR), "--model", "tracking:1"]
    assert cli.main([*argv, "--scale", "0.4", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == [] and report["frames"] == FRAMES and report["model"] == "tracking:1"
    assert report["segmented_by"] == "nuclear:1"  # the model tracking:1 segments with, and its post-processing:
    assert report["postprocess"]["split_threshold"] is not None and report["job_params"] == {"scale": 0.4}
    assert report["scale"] == 0.4 and report["size"]["basis"] == "params.scale" and report["objects"] > 0
    assert 0.5 <= report["scores"]["tra"] <= 1.0  # a sanity floor; the accuracy floor is in test_tracking_flow
    assert (out / "res_track.txt").is_file() and len(list(out.glob("mask*.tif"))) == FRAMES


@pytest.mark.skipif(not SEQUENCE.is_dir(), reason=f"CTC data not found at {SEQUENCE}")
@pytest.mark.slow
def test_frames_scores_only_a_stretch_against_the_cut_truth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seq, out = ctc_clip(tmp_path, 6, SEQUENCE), tmp_path / "res"
    argv = ["evaluate-tracking", "--segment", str(seq), "--models-dir", str(MODELS_DIR), "--model", "tracking:1"]
    argv += ["--scale", "0.4"]
    assert cli.main([*argv, "--frames", "3:", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == 3 and report["frame_range"] == [3, 6] and report["problems"] == []
    assert 0.5 <= report["scores"]["tra"] <= 1.0 and len(list(out.glob("mask*.tif"))) == 3


@pytest.mark.parametrize("frames", ["7", "5:5", "-1:3", "a:b"])
def test_bad_frame_ranges_are_refused(frames: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["evaluate-tracking", "--segment", "x", "--out", "y", "--frames", frames])
    assert exit_info.value.code == 2 and "--frames" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--segment", "x"],  # no --out
        ["--segment", "x", "--link-gt", "y", "--out", "z"],  # two modes
        ["--segment", "x", "--out", "z", "--params", '{"max_dist": 3}'],  # unknown tracker parameter
        ["--segment", "x", "--out", "z", "--seg-params", '{"seed_treshold": 0.3}'],  # unknown post-processing
        ["--segment", "x", "--out", "z", "--seg-params", '{"seed_threshold": 3}'],  # out of a job's bounds
        ["--segment", "x", "--out", "z", "--scale", "9"],  # params.scale is at most 4
        ["--segment", "x", "--out", "z", "--models-dir", str(MODELS_DIR), "--model", "models/nuclear/1"],  # not a name
    ],
)
def test_bad_segment_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["evaluate-tracking", *argv]) == 2
    assert "evaluate-tracking" in capsys.readouterr().err
