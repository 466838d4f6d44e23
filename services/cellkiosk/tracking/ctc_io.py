"""Cell Tracking Challenge folders: read, write and check them.

A CTC folder holds a track file (``res_track.txt`` for a result, ``man_track.txt`` for ground
truth) with one ``L B E P`` row per track (label, first frame, last frame, parent label or 0),
and one 16-bit label image per frame (``maskTTT.tif`` / ``man_trackTTT.tif``; 3 digits, 4 for
movies of more than 1,000 frames). The label of a track must appear in every frame from B to E
and in no other, and a parent must end before its children begin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

TRACK_FILES = ("res_track.txt", "man_track.txt")
MASK_PATTERN = re.compile(r"^(?:mask|man_track)(\d+)\.tif$")
MAX_PROBLEMS = 50


@dataclass(frozen=True)
class CtcFolder:
    """A CTC result or ground-truth folder: its ``L B E P`` rows and its frame files in time order."""

    folder: Path
    rows: np.ndarray
    mask_paths: tuple[Path, ...]

    def masks(self) -> Iterator[np.ndarray]:
        """The label image of every frame, read one at a time."""
        for path in self.mask_paths:
            yield tifffile.imread(path)


def read_track_file(path: str | Path) -> np.ndarray:
    """Rows ``L B E P`` of a CTC track file as an (n, 4) int64 array.

    Raises
    ------
    ValueError
        When a line does not hold exactly four integers.
    """
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 4 or not all(re.fullmatch(r"-?\d+", f) for f in fields):
            raise ValueError(f"{path}:{number}: expected 4 integers 'L B E P', got {line!r}")
        rows.append([int(f) for f in fields])
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def find_masks(folder: str | Path) -> tuple[Path, ...]:
    """Frame files (``maskTTT.tif`` or ``man_trackTTT.tif``) of a folder, sorted by frame number."""
    found = [(int(m.group(1)), p) for p in Path(folder).iterdir() if (m := MASK_PATTERN.match(p.name))]
    return tuple(p for _, p in sorted(found))


def read_ctc(folder: str | Path) -> CtcFolder:
    """Read a CTC folder's track file and list its frame files (images are read lazily)."""
    folder = Path(folder)
    track_file = next((folder / name for name in TRACK_FILES if (folder / name).is_file()), None)
    if track_file is None:
        raise FileNotFoundError(f"{folder}: no {' or '.join(TRACK_FILES)}")
    return CtcFolder(folder, read_track_file(track_file), find_masks(folder))


def write_ctc(
    folder: str | Path, rows: np.ndarray, masks: Iterable[np.ndarray], n_frames: int, digits: int | None = None
) -> Path:
    """Write ``res_track.txt`` and one ``maskTTT.tif`` (uint16, zlib) per frame, replacing earlier ones.

    Parameters
    ----------
    folder : path
        Created if missing.
    rows : ndarray of int, shape (n, 4)
        ``L B E P`` rows.
    masks : iterable of ndarray
        Label image of each frame (CTC labels), in time order; consumed one at a time.
    n_frames : int
        Number of frames ``masks`` yields (fixes the zero padding).
    digits : int, optional
        Zero padding of the frame number; 3 (4 above 1,000 frames) when omitted, as in the CTC data.

    Returns
    -------
    Path
        The folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("mask*.tif"):  # a rerun must not leave frames of an earlier, longer result
        if MASK_PATTERN.match(stale.name):
            stale.unlink()
    digits = digits or (3 if n_frames <= 1000 else 4)
    lines = [" ".join(str(int(v)) for v in row) for row in np.asarray(rows).reshape(-1, 4)]
    (folder / "res_track.txt").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    written = 0
    for t, mask in enumerate(masks):
        if mask.size and int(mask.max()) > np.iinfo(np.uint16).max:
            raise ValueError(f"frame {t}: label {int(mask.max())} does not fit the 16-bit CTC format")
        tifffile.imwrite(folder / f"mask{t:0{digits}d}.tif", mask.astype(np.uint16), compression="zlib")
        written += 1
    if written != n_frames:
        raise ValueError(f"expected {n_frames} frames, got {written}")
    return folder


def _row_problems(rows: np.ndarray) -> list[str]:
    """Problems of the ``L B E P`` table alone."""
    problems: list[str] = []
    labels, counts = np.unique(rows[:, 0], return_counts=True)
    problems += [f"label {int(v)} has {int(c)} rows" for v, c in zip(labels, counts, strict=True) if c > 1]
    end_of = {int(r[0]): int(r[2]) for r in rows}
    for label, begin, end, parent in (map(int, r) for r in rows):
        if not 0 < label <= np.iinfo(np.uint16).max:
            problems.append(f"label {label} is outside 1..65535")
        if begin < 0 or end < begin:
            problems.append(f"track {label}: bad frame range {begin}..{end}")
        if parent == 0:
            continue
        if parent not in end_of or parent == label:
            problems.append(f"track {label}: parent {parent} is not another track")
        elif end_of[parent] >= begin:
            problems.append(f"track {label} begins at {begin} but its parent {parent} ends at {end_of[parent]}")
    return problems


def _mask_problems(ctc: CtcFolder) -> list[str]:
    """Problems of the frame files against the rows: names, types, and labels present in B..E only."""
    numbers = [int(MASK_PATTERN.match(p.name).group(1)) for p in ctc.mask_paths]  # type: ignore[union-attr]
    if numbers != list(range(len(numbers))):
        return [f"frame files are not numbered 0..{len(numbers) - 1} without holes"]
    problems: list[str] = []
    rows = ctc.rows
    if rows.size and rows[:, 2].max() >= len(numbers):
        problems.append(f"tracks end at frame {int(rows[:, 2].max())} but there are {len(numbers)} frames")
    shape = None
    for t, mask in enumerate(ctc.masks()):
        if mask.dtype not in (np.uint8, np.uint16):
            problems.append(f"frame {t}: dtype {mask.dtype}, expected uint16 (or uint8)")
        shape = shape or mask.shape
        if mask.shape != shape:
            problems.append(f"frame {t}: shape {mask.shape} differs from {shape}")
        present = set(np.unique(mask).tolist()) - {0}
        expected = set(rows[(rows[:, 1] <= t) & (rows[:, 2] >= t), 0].tolist())
        problems += [f"frame {t}: track {v} (B..E covers it) is missing" for v in sorted(expected - present)]
        problems += [f"frame {t}: label {v} is outside its track's B..E" for v in sorted(present - expected)]
        if len(problems) > MAX_PROBLEMS:
            break
    return problems


def validate_ctc(folder: str | Path) -> list[str]:
    """Check a CTC folder against the format rules; an empty list means it is valid.

    Checks: a track file of ``L B E P`` integer rows; unique labels in 1..65535; ``B <= E``;
    every parent is another track that ends before its child begins; frame files numbered
    0..T-1, 8- or 16-bit, one shape; every track's label present in each frame from B to E and
    in no other frame (so tracks are contiguous in time); no label without a row.
    """
    try:
        ctc = read_ctc(folder)
    except (OSError, ValueError) as error:
        return [str(error)]
    if not ctc.mask_paths:
        return [f"{folder}: no maskTTT.tif / man_trackTTT.tif frames"]
    problems = _row_problems(ctc.rows) + _mask_problems(ctc)
    return problems[:MAX_PROBLEMS]
