"""TRA, DET and division scores (py-ctcmetrics) on hand-made ground truth with known answers; the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from cellkiosk import cli
from cellkiosk.evaluation.tracking import score_tracking
from cellkiosk.tracking.ctc_io import write_ctc

# Cell A (frames 0-2) divides into B and C (frames 3-5); D lives through frames 0-5.
WHERE = {"A": (8, 8), "B": (4, 4), "C": (14, 14), "D": (30, 30)}
PRESENT = {"A": range(0, 3), "B": range(3, 6), "C": range(3, 6), "D": range(0, 6)}


def masks(label_of: dict[tuple[str, int], int]) -> list[np.ndarray]:
    """Six frames; cell X in frame t painted with ``label_of[(X, t)]`` (a 4x4 square)."""
    out = []
    for t in range(6):
        mask = np.zeros((40, 40), np.uint16)
        for cell, frames in PRESENT.items():
            if t in frames:
                y, x = WHERE[cell]
                mask[y : y + 4, x : x + 4] = label_of[(cell, t)]
        out.append(mask)
    return out


def constant(labels: dict[str, int]) -> dict[tuple[str, int], int]:
    return {(cell, t): labels[cell] for cell in PRESENT for t in range(6)}


@pytest.fixture
def gt(tmp_path: Path) -> Path:
    root = tmp_path / "01_GT"
    tra = root / "TRA"
    tra.mkdir(parents=True)
    (tra / "man_track.txt").write_text("1 0 2 0\n2 3 5 1\n3 3 5 1\n4 0 5 0\n")
    for t, mask in enumerate(masks(constant({"A": 1, "B": 2, "C": 3, "D": 4}))):
        tifffile.imwrite(tra / f"man_track{t:03d}.tif", mask)
    return root


def write_result(folder: Path, rows: list[list[int]], label_of: dict[tuple[str, int], int]) -> Path:
    return write_ctc(folder, np.array(rows), masks(label_of), n_frames=6)


def test_a_perfect_result_scores_one(tmp_path: Path, gt: Path) -> None:
    res = write_result(
        tmp_path / "res",
        [[7, 0, 2, 0], [8, 3, 5, 7], [9, 3, 5, 7], [5, 0, 5, 0]],
        constant({"A": 7, "B": 8, "C": 9, "D": 5}),
    )
    scores = score_tracking(res, gt)
    assert scores.valid and scores.tra == 1.0 and scores.det == 1.0
    assert (scores.divisions_gt, scores.division_tp, scores.division_f1) == (1, 1, 1.0)


def test_a_missed_division_costs_one_semantic_error_and_one_missing_edge(tmp_path: Path, gt: Path) -> None:
    # The mother goes on as B; C is a new track without parent.
    label_of = constant({"A": 1, "B": 1, "C": 3, "D": 4})
    res = write_result(tmp_path / "res", [[1, 0, 5, 0], [3, 3, 5, 0], [4, 0, 5, 0]], label_of)
    scores = score_tracking(res, gt / "TRA")  # the TRA folder itself is accepted too
    assert scores.aogm_errors == {"NS": 0, "FN": 0, "FP": 0, "ED": 0, "EA": 1, "EC": 1}
    # AOGM = 1.5 EA + 1 EC; AOGM_0 = 10 x 15 vertices + 1.5 x 13 edges.
    assert scores.aogm == 2.5 and scores.aogm_0 == 169.5
    assert scores.tra == pytest.approx(1 - 2.5 / 169.5) and scores.det == 1.0
    assert (scores.division_tp, scores.division_fp, scores.division_fn) == (0, 0, 1)
    assert scores.division_precision is None and scores.division_recall == 0.0 and scores.division_f1 == 0.0


def test_a_division_one_frame_late_counts_only_with_tolerance(tmp_path: Path, gt: Path) -> None:
    label_of = constant({"A": 1, "B": 2, "C": 3, "D": 4}) | {("B", 3): 1, ("C", 3): 5}
    rows = [[1, 0, 3, 0], [2, 4, 5, 1], [3, 4, 5, 1], [4, 0, 5, 0], [5, 3, 3, 0]]
    res = write_result(tmp_path / "res", rows, label_of)
    assert score_tracking(res, gt).division_f1 == 0.0
    late = score_tracking(res, gt, division_tolerance_frames=1)
    assert late.division_f1 == 1.0 and late.division_tolerance_frames == 1


def test_an_invalid_result_is_reported_not_scored(tmp_path: Path, gt: Path) -> None:
    res = write_result(
        tmp_path / "res",
        [[1, 0, 2, 0], [2, 2, 5, 1], [3, 3, 5, 1], [4, 0, 5, 0]],
        constant({"A": 1, "B": 2, "C": 3, "D": 4}),
    )
    scores = score_tracking(res, gt)
    assert not scores.valid and scores.tra is None
    assert any("parent 1 ends at 2" in p for p in scores.problems)


def test_frame_counts_must_match(tmp_path: Path, gt: Path) -> None:
    res = write_ctc(tmp_path / "res", np.array([[1, 0, 0, 0]]), [np.ones((40, 40), np.uint16)], n_frames=1)
    with pytest.raises(ValueError, match="1 mask frames"):
        score_tracking(res, gt)


def test_cli_scores_a_result_and_refuses_mixed_modes(
    tmp_path: Path, gt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = write_result(
        tmp_path / "res",
        [[1, 0, 2, 0], [2, 3, 5, 1], [3, 3, 5, 1], [4, 0, 5, 0]],
        constant({"A": 1, "B": 2, "C": 3, "D": 4}),
    )
    report_path = tmp_path / "report.json"
    assert cli.main(["evaluate-tracking", "--res", str(res), "--gt", str(gt), "--report", str(report_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["tra"] == 1.0 and printed["division_f1"] == 1.0
    assert json.loads(report_path.read_text()) == printed
    assert cli.main(["evaluate-tracking", "--res", str(res), "--link-gt", str(tmp_path)]) == 2
    assert cli.main(["evaluate-tracking", "--link-gt", str(tmp_path)]) == 2  # no --out


def test_cli_refuses_unknown_tracker_parameters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["evaluate-tracking", "--link-gt", str(tmp_path), "--out", str(tmp_path / "o"), "--params", '{"radius": 3}']
    assert cli.main(argv) == 2
    assert "radius" in capsys.readouterr().err
