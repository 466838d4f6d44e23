"""Smoke: one real image through the whole platform."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import tifffile

from tests.fixtures.platform import DSB, Platform

VAL_IMAGE = "193ffaa5272d5c421ae02130a64d98ad120ec70e4ed97a72cdcd4801ce93b066"


def test_single_image_end_to_end(platform: Platform) -> None:
    key = platform.upload(DSB / "images" / f"{VAL_IMAGE}.png")
    job_id = platform.submit(key)
    job = platform.wait(job_id)
    assert job["status"] == "done", job
    resp = platform.http.get(f"/api/jobs/{job_id}/result")
    assert resp.status_code == 200
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        names = set(zf.namelist())
        labels = tifffile.imread(io.BytesIO(zf.read(f"{VAL_IMAGE}_labels.tif")))
    assert {"cells.csv", "job.json", f"{VAL_IMAGE}_overlay.png"} <= names
    assert labels.dtype in (np.uint16, np.uint32)
