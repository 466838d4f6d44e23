"""Division outcomes by kind, on small CTC folders built here and on a real result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from cellkiosk.evaluation.divisions import division_outcomes, divisions_of
from cellkiosk.evaluation.tracking import link_ground_truth
from cellkiosk.tracking.ctc_io import write_ctc
from tests.fixtures.platform import SHARED_DATA

SHAPE = (40, 60)
MOTHER = (slice(15, 25), slice(25, 35))
LEFT, RIGHT = (slice(15, 25), slice(10, 20)), (slice(15, 25), slice(40, 50))  # her daughters' places
FAR, CORNER = (slice(0, 6), slice(0, 6)), (slice(34, 40), slice(54, 60))


def frames(*content: dict[int, tuple[slice, slice] | list[tuple[slice, slice]]]) -> list[np.ndarray]:
    """One label image per frame: label -> its box (or boxes)."""
    out = []
    for objects in content:
        image = np.zeros(SHAPE, np.uint16)
        for label, boxes in objects.items():
            for box in boxes if isinstance(boxes, list) else [boxes]:
                image[box] = label
        out.append(image)
    return out


def truth(root: Path) -> Path:
    """A mother (1) in frames 0-1 dividing into 2 (left) and 3 (right) in frames 2-3."""
    tra = root / "01_GT" / "TRA"
    tra.mkdir(parents=True)
    (tra / "man_track.txt").write_text("1 0 1 0\n2 2 3 1\n3 2 3 1\n")
    for t, image in enumerate(frames({1: MOTHER}, {1: MOTHER}, {2: LEFT, 3: RIGHT}, {2: LEFT, 3: RIGHT})):
        tifffile.imwrite(tra / f"man_track{t:03d}.tif", image)
    return tra.parent


def result(root: Path, name: str, rows: list[list[int]], images: list[np.ndarray]) -> Path:
    return write_ctc(root / name, np.array(rows), images, len(images))


def test_each_true_division_and_each_found_one_gets_its_kind(tmp_path: Path) -> None:
    gt = truth(tmp_path)
    exact = result(tmp_path, "exact", [[1, 0, 1, 0], [2, 2, 3, 1], [3, 2, 3, 1]],
                   frames({1: MOTHER}, {1: MOTHER}, {2: LEFT, 3: RIGHT}, {2: LEFT, 3: RIGHT}))  # fmt: skip
    late = result(tmp_path, "late", [[1, 0, 2, 0], [2, 3, 3, 1], [3, 3, 3, 1]],
                  frames({1: MOTHER}, {1: MOTHER}, {1: [LEFT, RIGHT]}, {2: LEFT, 3: RIGHT}))  # fmt: skip
    merged = result(tmp_path, "merged", [[1, 0, 3, 0]],
                    frames({1: MOTHER}, {1: MOTHER}, {1: [LEFT, RIGHT]}, {1: [LEFT, RIGHT]}))  # fmt: skip
    missed = result(tmp_path, "missed", [[1, 0, 3, 0]], frames({1: MOTHER}, {1: MOTHER}, {1: LEFT}, {1: LEFT}))
    undivided = result(tmp_path, "undivided", [[1, 0, 3, 0], [2, 2, 3, 0], [4, 0, 0, 0], [5, 1, 3, 4], [6, 1, 3, 4]],
                       frames({1: MOTHER, 4: FAR}, {1: MOTHER, 5: FAR, 6: CORNER},
                              {1: LEFT, 2: RIGHT, 5: FAR, 6: CORNER},
                              {1: LEFT, 2: RIGHT, 5: FAR, 6: CORNER}))  # fmt: skip
    expect = {
        exact: ("found", {"true": 1}),
        late: ("found 1-2 frames off", {"off by 1-2 frames": 1}),
        merged: ("daughters merged", {}),
        missed: ("a daughter missed", {}),
        undivided: ("not divided", {"no division in truth": 1}),  # 4 -> 5, 6 in a corner: nothing there in truth
    }
    for res, (kind, found) in expect.items():
        outcome = division_outcomes(res, gt)
        assert outcome["true_divisions"] == {k: int(k == kind) for k in outcome["true_divisions"]}, res.name
        assert outcome["divisions_found"] == {k: found.get(k, 0) for k in outcome["divisions_found"]}, res.name
    # two frames off is still near; three is not
    assert division_outcomes(late, gt, max_offset=0)["true_divisions"]["found 1-2 frames off"] == 0


def test_a_division_is_a_parent_with_two_children() -> None:
    rows = np.array([[1, 0, 4, 0], [2, 5, 9, 1], [3, 5, 9, 1], [4, 10, 12, 2], [7, 0, 9, 0]])
    (division,) = divisions_of(rows)  # 2 -> 4 alone continues a track: no division
    assert (division.mother, division.frame, division.daughters) == (1, 5, (2, 3))


def test_on_a_real_movie_the_exact_frame_count_agrees_with_the_challenges_division_score(tmp_path: Path) -> None:
    seq = SHARED_DATA / "ctc" / "Fluo-N2DH-SIM+" / "01"
    linked = link_ground_truth(seq, tmp_path / "res")  # the tracker alone, on the true markers
    scores = linked["scores"]
    outcome = division_outcomes(tmp_path / "res", seq.parent / "01_GT")
    assert outcome["true_divisions"]["found"] == scores["division_tp"]  # py-ctcmetrics' BC(0)
    assert sum(outcome["true_divisions"].values()) == scores["divisions_gt"]
    assert outcome["divisions_found"]["true"] == scores["division_tp"]
    assert sum(outcome["divisions_found"].values()) == scores["division_tp"] + scores["division_fp"]
