"""One measurement for cells.csv and the tracker (measure.regions): exact on a real frame, and both agree."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from cellkiosk.measure.cells import measure_cells
from cellkiosk.measure.regions import measure_regions
from cellkiosk.tracking.features import measure_objects
from tests.fixtures.platform import SHARED_DATA

SIM = SHARED_DATA / "ctc" / "Fluo-N2DH-SIM+" / "01"


def real_frame(t: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """GT markers and raw uint16 frame ``t`` of CTC Fluo-N2DH-SIM+ 01."""
    labels = np.asarray(tifffile.imread(SIM.parent / "01_GT" / "TRA" / f"man_track{t:03d}.tif"))
    return labels, np.asarray(tifffile.imread(SIM / f"t{t:03d}.tif"))


@pytest.mark.skipif(not SIM.is_dir(), reason=f"CTC data not found at {SIM}")
def test_every_object_equals_a_plain_numpy_measurement() -> None:
    labels, raw = real_frame()
    image = np.stack([raw, raw // 3 + 1], axis=-1)
    found = measure_regions(labels, image)
    ids = np.unique(labels)
    assert found.labels.tolist() == ids[ids > 0].tolist() and len(found) > 10
    for i, label in enumerate(found.labels):
        mask = labels == label
        where = np.argwhere(mask)
        assert found.areas[i] == mask.sum()
        assert found.centroids[i].tolist() == (where.sum(axis=0) / mask.sum()).tolist()  # exact: integer sums
        assert found.bboxes[i].tolist() == [*where.min(axis=0), *(where.max(axis=0) + 1)]
        assert found.intensity_sums[i].tolist() == image[mask].sum(axis=0, dtype=np.int64).tolist()


@pytest.mark.skipif(not SIM.is_dir(), reason=f"CTC data not found at {SIM}")
def test_cells_csv_rows_and_tracker_features_are_one_measurement() -> None:
    labels, raw = real_frame()
    rows = measure_cells(labels, raw[..., None], "t007.tif", frame=7)
    objects = measure_objects(labels, raw, frame=7)
    assert [r["label"] for r in rows] == objects.labels.tolist()
    for row, centroid, area, mean, box in zip(
        rows, objects.centroids, objects.areas, objects.mean_intensity, objects.bboxes, strict=True
    ):
        assert (row["centroid_y"], row["centroid_x"]) == tuple(np.round(centroid, 3).tolist())
        assert row["area_px"] == area and row["mean_intensity_c0"] == round(float(mean), 3)
        assert [row[k] for k in ("bbox_min_y", "bbox_min_x", "bbox_max_y", "bbox_max_x")] == box.tolist()
        assert row["integrated_intensity_c0"] == round(float(mean) * area, 3)


def test_an_image_is_one_channel_or_channels_last() -> None:
    labels = np.zeros((4, 5), np.uint8)
    labels[1:3, 1:4] = 2
    image = np.arange(20, dtype=np.uint16).reshape(4, 5)
    assert measure_regions(labels, image).intensity_sums.tolist() == [[6 + 7 + 8 + 11 + 12 + 13]]
    assert measure_regions(labels, np.stack([image, image], -1)).intensity_sums.shape == (1, 2)
    assert measure_regions(labels).intensity_sums.shape == (1, 0)
    with pytest.raises(ValueError, match="differ in shape"):
        measure_regions(labels, image.T)
