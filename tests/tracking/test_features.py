"""Per-frame object features: exact on painted shapes, equal to scikit-image, 5,000 objects each measured."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import regionprops

from cellkiosk.tracking.features import measure_objects
from tests.tracking.movies import paint


def test_disks_have_exact_centroids_areas_boxes_and_intensity() -> None:
    labels = paint((64, 80), [(7, 20, 30, 5), (3, 45, 60, 8)])
    image = np.where(labels == 7, 10.0, 0.0) + np.where(labels == 3, 4.0, 0.0)
    found = measure_objects(labels, image, frame=5)
    assert found.frame == 5 and found.labels.tolist() == [3, 7]  # sorted, ids kept
    np.testing.assert_allclose(found.centroids, [[45, 60], [20, 30]])
    assert found.areas.tolist() == [float((labels == 3).sum()), float((labels == 7).sum())]
    assert found.bboxes.tolist() == [[37, 52, 54, 69], [15, 25, 26, 36]]
    np.testing.assert_allclose(found.mean_intensity, [4.0, 10.0])


def test_without_image_intensity_is_nan_and_empty_frame_is_empty() -> None:
    found = measure_objects(paint((20, 20), [(1, 10, 10, 3)]))
    assert np.isnan(found.mean_intensity).all()
    empty = measure_objects(np.zeros((10, 10), np.uint16), frame=2)
    assert len(empty) == 0 and empty.centroids.shape == (0, 2) and empty.frame == 2


def test_matches_scikit_image_regionprops() -> None:
    rng = np.random.default_rng(1)
    labels = np.zeros((120, 130), np.int32)
    for label in rng.choice(5000, 40, replace=False) + 1:
        y, x, h, w = rng.integers(0, 110), rng.integers(0, 120), rng.integers(2, 12), rng.integers(2, 12)
        labels[y : y + h, x : x + w] = label
    image = rng.random(labels.shape)
    found = measure_objects(labels, image)
    props = sorted(regionprops(labels, intensity_image=image), key=lambda p: p.label)
    assert found.labels.tolist() == [p.label for p in props]
    np.testing.assert_allclose(found.centroids, [p.centroid for p in props])
    np.testing.assert_allclose(found.areas, [p.area for p in props])
    np.testing.assert_allclose(found.mean_intensity, [p.intensity_mean for p in props])
    assert found.bboxes.tolist() == [list(p.bbox) for p in props]


def test_three_dimensional_labels() -> None:
    volume = np.zeros((5, 6, 7), np.uint8)
    volume[1:3, 2:4, 3:6] = 2
    found = measure_objects(volume)
    np.testing.assert_allclose(found.centroids, [[1.5, 2.5, 4.0]])
    assert found.areas.tolist() == [12.0] and found.bboxes.tolist() == [[1, 2, 3, 3, 4, 6]]


def test_five_thousand_objects_are_each_measured() -> None:  # speed: benchmarks, not a timed test
    labels = np.zeros((1000, 1000), np.uint16)
    ids = np.arange(1, 71 * 71 + 1).reshape(71, 71)
    labels[: 71 * 14, : 71 * 14] = np.kron(ids, np.pad(np.ones((10, 10), np.uint16), ((0, 4), (0, 4))))
    image = np.ones(labels.shape, np.float32)
    found = measure_objects(labels, image)
    assert len(found) == 71 * 71 and (found.areas == 100).all() and (found.mean_intensity == 1).all()
    row, col = np.divmod(found.labels - 1, 71)
    np.testing.assert_allclose(found.centroids, np.stack([row * 14 + 4.5, col * 14 + 4.5], axis=1))


@pytest.mark.parametrize(
    ("labels", "image", "message"),
    [
        (np.zeros((4, 4), np.float32), None, "integers"),
        (-np.ones((4, 4), np.int32), None, ">= 0"),
        (np.ones((4, 4), np.int32), np.ones((4, 5)), "shape"),
    ],
)
def test_bad_input_is_refused(labels: np.ndarray, image: np.ndarray | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        measure_objects(labels, image)
