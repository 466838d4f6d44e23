"""The Python client against the real platform: segment an array, submit/wait/download, cancel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image

from cellkiosk.client import Client, JobFailed
from cellkiosk.evaluation.segmentation import match
from tests.client.conftest import LARGE, SMALL, copy_image, val_png
from tests.fixtures.platform import DSB, Platform

AP50_FLOOR = 0.7


@pytest.mark.slow
def test_segment_numpy_array_matches_ground_truth(platform: Platform) -> None:
    image = np.asarray(Image.open(val_png(LARGE)))[..., 0]  # one grey channel, (Y, X) uint8
    gt = np.asarray(tifffile.imread(DSB / "labels" / f"{LARGE}.tif"))
    with Client(platform.url) as client:
        labels, cells = client.segment(image)
    assert labels.shape == gt.shape and labels.dtype == np.uint16
    assert isinstance(cells, pd.DataFrame) and len(cells) == int(labels.max())
    ap = match(gt, labels, 0.5).ap
    assert ap >= AP50_FLOOR, f"AP@0.5 {ap:.3f} below the floor {AP50_FLOOR}"


def test_an_array_is_segmented_like_the_file_it_came_from(platform: Platform) -> None:
    grey = np.asarray(Image.open(val_png(SMALL[0])))[..., 0]
    with Client(platform.url) as client:
        from_array, cells = client.segment(grey)
        from_file, _ = client.segment(val_png(SMALL[0]))
    np.testing.assert_array_equal(from_array, from_file)
    assert from_array.max() > 0 and list(cells["label"]) == list(range(1, int(from_array.max()) + 1))


def test_segment_reports_a_failed_job(platform: Platform) -> None:
    stack = np.zeros((5, 64, 64), np.uint16)  # 5 channels? 5 pages? the server cannot know
    with pytest.raises(JobFailed) as info:
        Client(platform.url).segment(stack, axes="CYX")
    assert info.value.job["status"] == "failed" and "channels" in str(info.value)


def test_submit_many_wait_download(platform: Platform, tmp_path: Path) -> None:
    paths = [copy_image(SMALL[0], tmp_path / "a.png"), copy_image(SMALL[1], tmp_path / "b.png")]
    with Client(platform.url, presign_above_bytes=0) as client:  # every upload goes through presign
        sent: list[str] = []
        client.http.client.event_hooks["request"].append(lambda r: sent.append(f"{r.method} {r.url.path}"))
        ids = client.submit_many(paths)
        jobs = [client.wait(i, timeout_s=120) for i in ids]
        out = client.download(ids[1], tmp_path / "b")
    assert sent.count("POST /api/uploads/presign") == 2 and "POST /api/uploads" not in sent
    assert [j["status"] for j in jobs] == ["done", "done"] and [j["input_name"] for j in jobs] == ["a.png", "b.png"]
    assert {p.name for p in out.iterdir()} == {"b_labels.tif", "b_overlay.png", "cells.csv", "job.json"}


def test_cancel_a_queued_job(platform: Platform, tmp_path: Path) -> None:
    with Client(platform.url) as client:
        busy = client.submit(val_png(LARGE))  # keeps the one consumer busy
        waiting = client.submit(copy_image(SMALL[0], tmp_path / "late.png"))
        assert client.cancel(waiting)["status"] == "cancelled"
        assert client.wait(busy, timeout_s=120)["status"] == "done"
        assert client.status(waiting)["status"] == "cancelled"
