"""Resizing frames for the network and labels back to the frame's grid."""

from __future__ import annotations

import numpy as np

from cellkiosk.imaging.resize import resize_frame, resize_labels
from tests.tracking.movies import paint


def test_resize_frame_and_back_keeps_every_cell() -> None:
    labels = paint((120, 100), [(1, 30, 30, 12), (2, 80, 60, 15), (3, 30, 75, 10)])
    frame = labels[..., None]
    assert resize_frame(frame, 1.0) is frame
    small = resize_frame(labels[..., None].astype(np.float32), 0.4)
    assert small.shape == (48, 40, 1)
    back = resize_labels(np.rint(small[..., 0]).astype(np.uint16), labels.shape)
    assert back.shape == labels.shape and set(np.unique(back)) == {0, 1, 2, 3}
    for label in (1, 2, 3):  # nearest-neighbour mapping keeps each cell where it was
        overlap = np.logical_and(back == label, labels == label).sum()
        assert overlap / (labels == label).sum() > 0.8


def test_resize_labels_maps_blocks_by_pixel_centres() -> None:
    labels = np.array([[1, 2], [3, 4]], np.uint16)
    assert resize_labels(labels, (4, 4)).tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    assert resize_labels(labels, (2, 2)) is labels
