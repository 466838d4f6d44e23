"""Readers for annotated image folders (cellkiosk/DSB layout and CTC SEG layout)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from cellkiosk.imaging.channels import to_single_channel
from cellkiosk.imaging.io import read_image_file


@dataclass
class Sample:
    """One annotated image: the raw image (Y, X, C), its labels (Y, X), metadata."""

    name: str
    image: np.ndarray
    labels: np.ndarray
    modality: str = "unknown"


def read_index(root: Path) -> list[dict[str, str]]:
    """Rows of ``index.csv`` in ``root`` or one row per file in ``labels/``."""
    index = root / "index.csv"
    if index.exists():
        with index.open() as fh:
            return list(csv.DictReader(fh))
    return [{"id": p.stem, "modality": "unknown", "split": "all"} for p in sorted((root / "labels").glob("*.tif"))]


def find_image(root: Path, name: str) -> Path:
    """The image file of ``name`` in ``root/images``, whatever its extension."""
    matches = sorted((root / "images").glob(f"{name}.*"))
    if not matches:
        raise FileNotFoundError(f"no image for {name} in {root / 'images'}")
    return matches[0]


def load_folder(
    root: Path | str,
    split: str | None = None,
    modalities: set[str] | None = None,
    limit: int | None = None,
) -> list[Sample]:
    """Load ``images/<id>.*`` + ``labels/<id>.tif`` pairs, as one-channel images.

    ``split`` and ``modalities`` filter on the columns of ``index.csv``.
    """
    root = Path(root)
    samples = []
    for row in read_index(root):
        if split and row.get("split") != split:
            continue
        if modalities and row.get("modality") not in modalities:
            continue
        image = to_single_channel(read_image_file(find_image(root, row["id"]))[0])
        labels = tifffile.imread(root / "labels" / f"{row['id']}.tif").astype(np.int32)
        samples.append(Sample(row["id"], image, labels, row.get("modality", "unknown")))
        if limit and len(samples) >= limit:
            break
    return samples


def load_ctc_seg(sequence_dir: Path | str) -> list[Sample]:
    """Load the annotated frames of a Cell Tracking Challenge sequence.

    ``sequence_dir`` is e.g. ``Fluo-N2DH-GOWT1/01``; masks come from
    ``01_GT/SEG/man_segNNN.tif`` and frames from ``01/tNNN.tif``.
    """
    seq = Path(sequence_dir)
    gt = seq.parent / f"{seq.name}_GT" / "SEG"
    samples = []
    for mask_path in sorted(gt.glob("man_seg*.tif")):
        frame = mask_path.stem.replace("man_seg", "")
        image = tifffile.imread(seq / f"t{frame}.tif")
        labels = tifffile.imread(mask_path).astype(np.int32)
        if labels.ndim != 2:
            continue
        samples.append(Sample(f"{seq.parent.name}_{seq.name}_t{frame}", image[..., None], labels, "fluorescence"))
    return samples
