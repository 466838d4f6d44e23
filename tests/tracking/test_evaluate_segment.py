"""`cellkiosk evaluate-tracking --segment`: raw frames of a CTC clip → shipped nuclear model → tracker → scores.

Four frames of Fluo-N2DH-SIM+ 01, read in place from ../shared/data/ctc (symlinks in tmp, never copied).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cellkiosk import cli
from cellkiosk.tracking.ctc_io import read_track_file
from tests.fixtures.platform import MODELS_DIR, SHARED_DATA

SEQUENCE = SHARED_DATA / "ctc" / "Fluo-N2DH-SIM+" / "01"
FRAMES = 4


def short_clip(tmp_path: Path) -> Path:
    """``tmp/01`` (raw frames) and ``tmp/01_GT/TRA`` (markers, track file cut to FRAMES frames)."""
    seq, tra = tmp_path / "01", tmp_path / "01_GT" / "TRA"
    seq.mkdir()
    tra.mkdir(parents=True)
    for t in range(FRAMES):
        (seq / f"t{t:03d}.tif").symlink_to(SEQUENCE / f"t{t:03d}.tif")
        (tra / f"man_track{t:03d}.tif").symlink_to(SEQUENCE.parent / "01_GT" / "TRA" / f"man_track{t:03d}.tif")
    rows = read_track_file(SEQUENCE.parent / "01_GT" / "TRA" / "man_track.txt")
    rows = rows[rows[:, 1] < FRAMES]
    rows[:, 2] = np.minimum(rows[:, 2], FRAMES - 1)
    (tra / "man_track.txt").write_text("".join(" ".join(map(str, r)) + "\n" for r in rows.tolist()))
    return seq


@pytest.mark.skipif(not SEQUENCE.is_dir(), reason=f"CTC data not found at {SEQUENCE}")
def test_segment_track_and_score_a_short_clip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seq, out = short_clip(tmp_path), tmp_path / "res"
    argv = ["evaluate-tracking", "--segment", str(seq), "--model", str(MODELS_DIR / "nuclear" / "1")]
    assert cli.main([*argv, "--scale", "0.4", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == [] and report["frames"] == FRAMES and report["model"].startswith("nuclear:")
    assert report["scale"] == 0.4 and report["objects"] > 0
    assert 0.5 <= report["scores"]["tra"] <= 1.0  # a sanity floor; the accuracy floor is in test_tracking_flow
    assert (out / "res_track.txt").is_file() and len(list(out.glob("mask*.tif"))) == FRAMES


@pytest.mark.parametrize(
    "argv",
    [
        ["--segment", "x"],  # no --out
        ["--segment", "x", "--link-gt", "y", "--out", "z"],  # two modes
        ["--segment", "x", "--out", "z", "--params", '{"max_dist": 3}'],  # unknown tracker parameter
        ["--segment", "x", "--out", "z", "--seg-params", '{"seed_treshold": 0.3}'],  # unknown post-processing
    ],
)
def test_bad_segment_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["evaluate-tracking", *argv]) == 2
    assert "evaluate-tracking" in capsys.readouterr().err
