"""Short real clips cut (as symlinks, never copies) from the CTC data in ../shared for tests."""

from __future__ import annotations

from pathlib import Path

from cellkiosk.evaluation.tracking import cut_ground_truth
from tests.fixtures.platform import SHARED_DATA

SIM_SEQUENCE = SHARED_DATA / "ctc" / "Fluo-N2DH-SIM+" / "01"


def ctc_clip(tmp_path: Path, frames: int | range, sequence: Path = SIM_SEQUENCE) -> Path:
    """``tmp/01`` (raw frames, renumbered from 0) and ``tmp/01_GT/TRA`` (markers and track file of those frames)."""
    frames = range(frames) if isinstance(frames, int) else frames
    seq = tmp_path / "01"
    seq.mkdir()
    for t in frames:
        (seq / f"t{t - frames.start:03d}.tif").symlink_to(sequence / f"t{t:03d}.tif")
    cut_ground_truth(sequence.parent / "01_GT", frames, tmp_path / "01_GT")
    return seq
