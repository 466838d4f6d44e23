"""Inputs for client tests: real DSB2018 val images copied into nested folders at test time."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.fixtures.platform import DSB

# Small fluorescence images of the DSB2018 val split (never used in training), 256x256 each.
SMALL = (
    "05040e2e959c3f5632558fc9683fec88f0010026c555b499066346f67fdd0e13",  # 24 nuclei
    "1c2f9e121fc207efff79d46390df1a740566b683ff56a96d8cabe830a398dd2e",  # 12 nuclei
    "2b50b1e3fa5c5aa39bc84ebfaea9961b7199c4d2488ae0b48d0b3459807d59d2",  # 11 nuclei
)
LARGE = "193ffaa5272d5c421ae02130a64d98ad120ec70e4ed97a72cdcd4801ce93b066"  # 520x696, 157 nuclei


def val_png(name: str) -> Path:
    """Path of a val image in the shared data."""
    return DSB / "images" / f"{name}.png"


def copy_image(name: str, dest: Path) -> Path:
    """Copy a val image to ``dest`` (parents created)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(val_png(name), dest)
    return dest


@pytest.fixture
def plate(tmp_path: Path) -> Path:
    """A screen folder: images two levels deep, plus files the client must skip."""
    root = tmp_path / "screen"
    copy_image(SMALL[0], root / "plate1" / "A01.png")
    copy_image(SMALL[1], root / "plate1" / "A02.png")
    copy_image(SMALL[2], root / "plate2" / "day3" / "B01.png")
    (root / "plate1" / "notes.txt").write_text("imaged on tuesday")
    (root / ".hidden").mkdir()
    copy_image(SMALL[0], root / ".hidden" / "thumb.png")
    return root
