"""Inputs for integration tests, cut at test time from the real data in ../shared/data."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from tests.fixtures.platform import DSB

# Fluorescence images of the DSB2018 val split (never used in training).
VAL_IMAGE = "193ffaa5272d5c421ae02130a64d98ad120ec70e4ed97a72cdcd4801ce93b066"  # 520x696, 157 nuclei
VAL_SMALL = "05040e2e959c3f5632558fc9683fec88f0010026c555b499066346f67fdd0e13"  # 256x256, 24 nuclei
VAL_OTHER = "1609b1b8480ee52652a644403b3f7d5511410a016750aa3b9a4c8ddb3e893e8e"  # 360x360, 20 nuclei


def val_png(name: str = VAL_IMAGE) -> Path:
    """Path of a val image."""
    return DSB / "images" / f"{name}.png"


def val_labels(name: str = VAL_IMAGE) -> np.ndarray:
    """Ground-truth labels of a val image."""
    return np.asarray(tifffile.imread(DSB / "labels" / f"{name}.tif"))


def grey(name: str) -> np.ndarray:
    """A val image as one grey uint8 channel."""
    return np.asarray(Image.open(val_png(name)))[..., 0]


@pytest.fixture
def zip_with_corrupt_member() -> bytes:
    """Three real images in folders, one corrupt "image", one text file."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(val_png(VAL_SMALL), f"plate1/{VAL_SMALL}.png")
        zf.write(val_png(VAL_OTHER), f"plate2/{VAL_OTHER}.png")
        zf.writestr("plate2/broken.tif", b"II*\x00 this is not really a tiff")
        zf.writestr("notes.txt", b"imaged on tuesday")
    return buf.getvalue()
