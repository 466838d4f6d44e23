"""Short real clips cut (as symlinks, never copies) from the CTC data in ../shared for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cellkiosk.tracking.ctc_io import read_track_file
from tests.fixtures.platform import SHARED_DATA

SIM_SEQUENCE = SHARED_DATA / "ctc" / "Fluo-N2DH-SIM+" / "01"


def ctc_clip(tmp_path: Path, frames: int, sequence: Path = SIM_SEQUENCE) -> Path:
    """``tmp/01`` (raw frames) and ``tmp/01_GT/TRA`` (markers, track file cut to ``frames`` frames)."""
    seq, tra = tmp_path / "01", tmp_path / "01_GT" / "TRA"
    seq.mkdir()
    tra.mkdir(parents=True)
    for t in range(frames):
        (seq / f"t{t:03d}.tif").symlink_to(sequence / f"t{t:03d}.tif")
        (tra / f"man_track{t:03d}.tif").symlink_to(sequence.parent / "01_GT" / "TRA" / f"man_track{t:03d}.tif")
    rows = read_track_file(sequence.parent / "01_GT" / "TRA" / "man_track.txt")
    rows = rows[rows[:, 1] < frames]
    rows[:, 2] = np.minimum(rows[:, 2], frames - 1)
    (tra / "man_track.txt").write_text("".join(" ".join(map(str, r)) + "\n" for r in rows.tolist()))
    return seq
