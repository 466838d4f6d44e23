"""Median nuclear diameters of label images, and labels mapped back from any scale keep every nucleus."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cellkiosk.imaging.object_size import median_diameter
from cellkiosk.imaging.resize import resize_labels
from tests.tracking.movies import paint


def test_median_diameter_of_disks_is_their_diameter() -> None:
    labels = paint((200, 200), [(1, 40, 40, 10), (2, 120, 60, 10), (3, 60, 150, 30)])
    assert abs(median_diameter(labels) - 20) < 1.5  # two of radius 10, one of 30: the median is 20 px
    assert np.isnan(median_diameter(np.zeros((10, 10), np.uint16)))


def test_median_diameter_ignores_missing_label_numbers() -> None:
    labels = paint((100, 100), [(5, 30, 30, 8), (9, 70, 70, 8)])
    assert abs(median_diameter(labels) - 16) < 1.5


@settings(max_examples=40, deadline=None)
@given(scale=st.floats(0.05, 4.0), radii=st.lists(st.integers(2, 12), min_size=6, max_size=6))
def test_labels_found_at_any_job_scale_map_back_with_every_nucleus(scale: float, radii: list[int]) -> None:
    """Labels segmented on the network's grid, mapped back to the image's grid for any job scale
    (MIN_SCALE..MAX_SCALE): every nucleus comes back when the image is the larger grid, and, when the image
    is the smaller one, every nucleus whose radius spans one image pixel (nuclei at the model's 17 px do
    up to a scale of 8)."""
    centres = [(16 + 32 * (i // 2), 16 + 32 * (i % 2)) for i in range(6)]  # 32 px apart: disks never overlap
    labels = paint((96, 64), [(i + 1, y, x, r) for i, ((y, x), r) in enumerate(zip(centres, radii, strict=True))])
    image_shape = (max(1, round(96 / scale)), max(1, round(64 / scale)))
    kept = set(np.unique(resize_labels(labels, image_shape)).tolist()) - {0}
    for label, radius in enumerate(radii, start=1):
        if scale <= 1 or radius >= scale:
            assert label in kept, (label, radius, scale)
