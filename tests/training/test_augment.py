"""Augmentation on a real DSB2018 training image: the per-nucleus brightness transform."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from cellkiosk.imaging.normalize import normalize_percentile
from cellkiosk.training.augment import AugmentConfig, object_gain
from cellkiosk.training.dataset import load_folder
from cellkiosk.training.targets import make_targets
from tests.fixtures.platform import DSB


def test_object_gain_scales_each_nucleus_on_its_own_and_leaves_the_background() -> None:
    sample = load_folder(DSB, split="train", modalities={"fluorescence"}, limit=1)[0]
    image, target = normalize_percentile(sample.image), make_targets(sample.labels, sample.valid)
    cfg = AugmentConfig(object_gain_range=(0.3, 1.5))
    out = object_gain(image, target, np.random.default_rng(1), cfg)
    ratios = []
    for label in np.unique(sample.labels)[1:]:
        core = sample.labels == label
        if core.sum() >= 50 and image[core].mean() > 0.05:
            ratios.append(float(out[core].mean() / image[core].mean()))
    assert len(ratios) >= 5
    assert 0.25 <= min(ratios) and max(ratios) <= 1.6  # within the range, allowing the smoothed rim
    assert max(ratios) / min(ratios) > 1.5  # nuclei differ from each other, not one global gain
    far = ~ndi.binary_dilation(sample.labels > 0, iterations=11)  # 2 px of growth + the smoothing's 8 px reach
    np.testing.assert_allclose(out[far], image[far], atol=1e-4)  # background away from nuclei is untouched
