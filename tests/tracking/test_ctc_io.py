"""The CTC writer's output passes the format rules and round-trips; the validator catches each violation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from cellkiosk.tracking.ctc_io import find_masks, read_ctc, read_track_file, validate_ctc, write_ctc
from cellkiosk.tracking.lineage import ctc_table, relabel_frame
from cellkiosk.tracking.movie import track_movie, write_ctc_result
from tests.tracking.movies import SHAPE, division_movie, paint


def write_small(folder: Path, rows: list[list[int]], frames: list[dict[int, tuple[int, int]]], **kw: int) -> Path:
    """A CTC folder whose frame t holds a 3x3 square of each ``{label: (y, x)}``."""
    masks = []
    for found in frames:
        mask = np.zeros((20, 20), np.uint16)
        for label, (y, x) in found.items():
            mask[y : y + 3, x : x + 3] = label
        masks.append(mask)
    return write_ctc(folder, np.array(rows).reshape(-1, 4), masks, n_frames=len(masks), **kw)


VALID_ROWS = [[1, 0, 1, 0], [2, 2, 3, 1], [3, 2, 3, 1]]
VALID_FRAMES = [{1: (5, 5)}, {1: (6, 5)}, {2: (2, 2), 3: (12, 12)}, {2: (2, 3), 3: (12, 13)}]


def test_the_tracker_output_is_valid_and_round_trips(tmp_path: Path) -> None:
    movie = [paint(SHAPE, disks) for disks in division_movie()]
    lineage = track_movie(movie)
    write_ctc_result(tmp_path, lineage, movie, np.asarray)
    assert validate_ctc(tmp_path) == []
    back = read_ctc(tmp_path)
    table = ctc_table(lineage)
    assert back.rows.tolist() == table.rows.tolist()
    assert [p.name for p in back.mask_paths] == [f"mask{t:03d}.tif" for t in range(10)]
    for t, mask in enumerate(back.masks()):
        assert mask.dtype == np.uint16
        np.testing.assert_array_equal(mask, relabel_frame(movie[t], lineage.links, t, table.node_label))


def test_a_hand_written_valid_folder_passes(tmp_path: Path) -> None:
    assert validate_ctc(write_small(tmp_path, VALID_ROWS, VALID_FRAMES)) == []


def test_four_digit_names_and_ground_truth_names_are_read(tmp_path: Path) -> None:
    write_small(tmp_path / "res", VALID_ROWS, VALID_FRAMES, digits=4)
    assert (tmp_path / "res" / "mask0003.tif").is_file() and validate_ctc(tmp_path / "res") == []
    gt = tmp_path / "gt"
    gt.mkdir()
    (gt / "man_track.txt").write_text("1 0 0 0\n")
    tifffile.imwrite(gt / "man_track000.tif", np.ones((4, 4), np.uint16))
    assert validate_ctc(gt) == [] and [p.name for p in find_masks(gt)] == ["man_track000.tif"]


@pytest.mark.parametrize(
    ("rows", "frames", "problem"),
    [
        ([[1, 0, 2, 0], [2, 2, 3, 1], [3, 2, 3, 1]], None, "parent 1 ends at 2"),
        ([[1, 0, 1, 0], [2, 2, 3, 9], [3, 2, 3, 1]], None, "parent 9 is not another track"),
        ([[1, 0, 1, 0], [1, 2, 3, 0], [3, 2, 3, 1]], None, "label 1 has 2 rows"),
        ([[1, 0, 1, 0], [2, 2, 3, 1], [3, 3, 2, 1]], None, "bad frame range"),
        ([[1, 0, 1, 0], [2, 2, 4, 1], [3, 2, 3, 1]], None, "there are 4 frames"),
        (VALID_ROWS, [{1: (5, 5)}, {}, {2: (2, 2), 3: (9, 9)}, {2: (2, 3), 3: (9, 9)}], "frame 1: track 1"),
        (VALID_ROWS, [{1: (5, 5)}, {1: (6, 5)}, {2: (2, 2), 3: (9, 9)}, {1: (7, 7), 2: (2, 3), 3: (9, 9)}], "label 1"),
        (VALID_ROWS, [{1: (5, 5)}, {1: (6, 5)}, {3: (9, 9)}, {2: (2, 3), 3: (9, 9)}], "frame 2: track 2"),
    ],
)
def test_each_rule_is_checked(
    tmp_path: Path, rows: list[list[int]], frames: list[dict[int, tuple[int, int]]] | None, problem: str
) -> None:
    problems = validate_ctc(write_small(tmp_path, rows, frames or VALID_FRAMES))
    assert any(problem in p for p in problems), problems


def test_holes_in_frame_numbers_bad_dtypes_and_bad_rows_are_reported(tmp_path: Path) -> None:
    folder = write_small(tmp_path / "holes", VALID_ROWS, VALID_FRAMES)
    (folder / "mask001.tif").unlink()
    assert any("without holes" in p for p in validate_ctc(folder))
    folder = write_small(tmp_path / "dtype", VALID_ROWS, VALID_FRAMES)
    tifffile.imwrite(folder / "mask000.tif", np.zeros((20, 20), np.float32))
    assert any("dtype float32" in p for p in validate_ctc(folder))
    (folder / "res_track.txt").write_text("1 0 1\n")
    assert "expected 4 integers" in validate_ctc(folder)[0]
    with pytest.raises(ValueError, match="expected 4 integers"):
        read_track_file(folder / "res_track.txt")
    assert "no res_track.txt" in validate_ctc(tmp_path / "nowhere")[0]


def test_the_writer_refuses_labels_beyond_16_bit_and_a_wrong_frame_count(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="16-bit"):
        write_ctc(tmp_path / "a", np.zeros((0, 4)), [np.full((2, 2), 70_000, np.uint32)], n_frames=1)
    with pytest.raises(ValueError, match="expected 2 frames"):
        write_ctc(tmp_path / "b", np.zeros((0, 4)), [np.zeros((2, 2), np.uint16)], n_frames=2)


def test_rewriting_a_folder_replaces_the_frames_of_a_longer_earlier_result(tmp_path: Path) -> None:
    write_small(tmp_path, VALID_ROWS, VALID_FRAMES)
    write_small(tmp_path, [[1, 0, 1, 0]], VALID_FRAMES[:2])
    assert [p.name for p in find_masks(tmp_path)] == ["mask000.tif", "mask001.tif"]
    assert validate_ctc(tmp_path) == []
