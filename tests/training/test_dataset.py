"""Dataset readers: the DSB2018 folder layout and the Cell Tracking Challenge SEG layout."""

from __future__ import annotations

import numpy as np

from cellkiosk.training.dataset import load_ctc_seg, load_folder
from cellkiosk.training.targets import make_targets
from tests.fixtures.platform import DSB, SHARED_DATA


def test_dsb_folder_filters_split_and_modality() -> None:
    samples = load_folder(DSB, split="val", modalities={"fluorescence"}, limit=3)
    assert len(samples) == 3 and {s.modality for s in samples} == {"fluorescence"}
    for s in samples:
        assert s.image.ndim == 3 and s.image.shape[-1] == 1 and s.image.shape[:2] == s.labels.shape
        assert s.labels.max() > 0
        targets = make_targets(s.labels)
        assert targets.shape == (*s.labels.shape, 2) and np.isclose(targets[..., 1].max(), 1.0)


def test_ctc_seg_layout_reads_annotated_frames_only() -> None:
    samples = load_ctc_seg(SHARED_DATA / "ctc" / "Fluo-N2DH-GOWT1" / "01")
    assert samples, "GOWT1 01_GT/SEG has annotated frames"
    for s in samples:
        assert s.image.shape[:2] == s.labels.shape and s.image.shape[-1] == 1
        assert s.name.startswith("Fluo-N2DH-GOWT1_01_t")
