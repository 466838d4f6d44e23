"""Readers for annotated image folders (cellkiosk/DSB layout) and Cell Tracking Challenge sequences."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from cellkiosk.imaging.channels import to_single_channel
from cellkiosk.imaging.io import read_image_file
from cellkiosk.imaging.object_size import median_diameter
from cellkiosk.imaging.resize import resize_frame, resize_labels


@dataclass
class Sample:
    """One annotated image: the raw image (Y, X, C), its labels (Y, X), metadata."""

    name: str
    image: np.ndarray
    labels: np.ndarray
    modality: str = "unknown"
    valid: np.ndarray | None = None  # (Y, X) bool: where the labels are complete; None = everywhere
    cell_line: str = ""  # index.csv's cell_line, where the set has one (coelho2009)


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
        samples.append(Sample(row["id"], image, labels, row.get("modality", "unknown"), None, row.get("cell_line", "")))
        if limit and len(samples) >= limit:
            break
    return samples


def ctc_frame_labels(markers: np.ndarray, seg: np.ndarray | None) -> np.ndarray:
    """Training labels of one CTC frame: the tracking markers, replaced by the SEG mask where one exists.

    The TRA markers mark every cell (on GOWT1 a little inside the nucleus); the SEG masks are the full
    nucleus but only for some cells of some frames. A SEG object takes the label of the marker it covers
    most (a new label if none), and that marker's pixels outside it are dropped.
    """
    labels = markers.astype(np.int32, copy=True)
    if seg is None:
        return labels
    next_label = int(labels.max()) + 1
    for region in np.unique(seg[seg > 0]):
        inside = seg == region
        covered = labels[inside]
        covered = covered[covered > 0]
        if covered.size:
            label = int(np.bincount(covered).argmax())
            labels[labels == label] = 0
        else:
            label, next_label = next_label, next_label + 1
        labels[inside] = label
    return labels


def load_ctc_frames(sequence_dir: Path | str, frames: range | None = None, scale: float = 1.0) -> list[Sample]:
    """Frames of a CTC sequence with labels from its complete tracking markers (see :func:`ctc_frame_labels`).

    ``frames`` picks time points (e.g. ``range(0, 32)`` to keep the rest of the movie unseen);
    ``scale`` resizes image and labels so the nuclei come out at the size the model was trained on.
    """
    seq = Path(sequence_dir)
    gt = seq.parent / f"{seq.name}_GT"
    samples = []
    for marker_path in sorted((gt / "TRA").glob("man_track*.tif")):
        digits = marker_path.stem.replace("man_track", "")
        if frames is not None and int(digits) not in frames:
            continue
        seg_path = gt / "SEG" / f"man_seg{digits}.tif"
        seg = tifffile.imread(seg_path) if seg_path.exists() else None
        labels = ctc_frame_labels(tifffile.imread(marker_path), seg if seg is not None and seg.ndim == 2 else None)
        image = resize_frame(np.asarray(tifffile.imread(seq / f"t{digits}.tif"))[..., None], scale)
        labels = resize_labels(labels, image.shape[:2])
        samples.append(Sample(f"{seq.parent.name}_{seq.name}_t{digits}", image, labels, "fluorescence"))
    return samples


def ctc_frame_range(sequence_dir: Path | str, fraction: float) -> range:
    """The first ``fraction`` of a sequence's frames (``t*.tif``), e.g. the half used for training."""
    count = len(list(Path(sequence_dir).glob("t*.tif")))
    return range(0, int(round(count * fraction)))


def normalize_size(sample: Sample, diameter_px: float) -> Sample:
    """The sample resized so its median nucleus is ``diameter_px`` across (labels by nearest neighbour)."""
    measured = median_diameter(sample.labels)
    if not np.isfinite(measured):
        return sample
    image = resize_frame(sample.image, diameter_px / measured)
    shape = image.shape[:2]
    valid = None if sample.valid is None else resize_labels(sample.valid, shape)
    labels = resize_labels(sample.labels, shape)
    return Sample(sample.name, image, labels, sample.modality, valid, sample.cell_line)


def unannotated_mask(markers: np.ndarray, seg: np.ndarray, radius_px: int) -> np.ndarray:
    """Where a sparse SEG frame says nothing: around each tracking marker that no SEG object covers.

    Returns a (Y, X) bool array, True where the labels can be trusted (annotated nuclei and background
    away from unannotated cells). GOWT1's SEG masks cover only some nuclei of a frame; a fully annotated
    frame (SIM+) has every marker covered and is valid everywhere.
    """
    from scipy import ndimage as ndi

    covered = np.unique(markers[(seg > 0) & (markers > 0)])
    missing = (markers > 0) & ~np.isin(markers, covered)
    if not missing.any():
        return np.ones(markers.shape, dtype=bool)
    return ~ndi.binary_dilation(missing, iterations=radius_px) | (seg > 0)


def load_ctc_seg_frames(sequence_dir: Path | str) -> list[Sample]:
    """The frames of a CTC sequence that have a 2-D SEG mask, labelled by it; unannotated cells masked out."""
    seq = Path(sequence_dir)
    gt = seq.parent / f"{seq.name}_GT"
    samples = []
    for seg_path in sorted((gt / "SEG").glob("man_seg*.tif")):
        digits = seg_path.stem.replace("man_seg", "")
        seg = np.asarray(tifffile.imread(seg_path)).astype(np.int32)
        if seg.ndim != 2:
            continue
        markers = np.asarray(tifffile.imread(gt / "TRA" / f"man_track{digits}.tif"))
        radius = max(2, int(round(median_diameter(seg) * 0.75))) if seg.any() else 10
        image = np.asarray(tifffile.imread(seq / f"t{digits}.tif"))[..., None]
        name = f"{seq.parent.name}_{seq.name}_seg{digits}"
        samples.append(Sample(name, image, seg, "fluorescence", unannotated_mask(markers, seg, radius)))
    return samples
