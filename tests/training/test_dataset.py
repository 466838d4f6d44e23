"""Dataset readers: the DSB2018 folder layout and Cell Tracking Challenge sequences."""

from __future__ import annotations

import numpy as np
import tifffile

from cellkiosk.training.dataset import ctc_frame_labels, load_ctc_frames, load_folder
from cellkiosk.training.targets import make_targets
from tests.fixtures.platform import DSB, SHARED_DATA


def test_dsb_folder_filters_split_and_modality() -> None:
    samples = load_folder(DSB, split="val", modalities={"fluorescence"}, limit=3)
    assert len(samples) == 3 and {s.modality for s in samples} == {"fluorescence"}
    for s in samples:
        assert s.image.ndim == 3 and s.image.shape[-1] == 1 and s.image.shape[:2] == s.labels.shape
        assert s.labels.max() > 0
        targets = make_targets(s.labels)
        assert targets.shape == (*s.labels.shape, 4) and np.isclose(targets[..., 1].max(), 1.0)


def test_ctc_frame_labels_take_seg_masks_over_markers() -> None:
    markers = np.zeros((10, 10), np.uint16)
    markers[2:5, 2:5], markers[6:8, 6:8] = 7, 9
    seg = np.zeros_like(markers)
    seg[1:6, 1:6] = 1  # the full nucleus of marker 7
    seg[0, 9] = 2  # a cell without a marker
    labels = ctc_frame_labels(markers, seg)
    assert (labels[1:6, 1:6] == 7).all() and (labels == 7).sum() == 25
    assert (labels == 9).sum() == 4 and labels[0, 9] == 10
    assert (ctc_frame_labels(markers, None) == markers).all()


def test_ctc_frames_cover_every_cell_and_follow_the_frame_range_and_scale() -> None:
    seq = SHARED_DATA / "ctc" / "Fluo-N2DH-GOWT1" / "01"
    samples = load_ctc_frames(seq, frames=range(0, 3), scale=0.5)
    assert [s.name for s in samples] == [f"Fluo-N2DH-GOWT1_01_t{t:03d}" for t in range(3)]
    for t, s in enumerate(samples):
        assert s.image.shape == (512, 512, 1) and s.labels.shape == (512, 512)
        markers = tifffile.imread(seq.parent / "01_GT" / "TRA" / f"man_track{t:03d}.tif")
        assert set(np.unique(s.labels)) == set(np.unique(markers))  # every tracked cell, nothing else
