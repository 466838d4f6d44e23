"""The viewer's image.png of a movie: one frame decoded (``imaging.pages``), the same pixels as the full read.

The page-level read itself is tested layout by layout in ``tests/imaging/test_pages.py``.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from cellkiosk.gateway.routes.views import display_channels
from cellkiosk.imaging.io import read_image_bytes
from cellkiosk.imaging.overlay import display_image
from tests.fixtures.platform import Platform
from tests.gateway.test_views import tiff_bytes
from tests.gateway.tracking_movie import disk_movie, tracking_consumer
from tests.gateway.tracking_movie import tiff_bytes as movie_bytes


def test_image_png_of_a_movie_is_unchanged(platform: Platform) -> None:
    """The viewer's image PNG of a T×Y×X and a T×C×Y×X movie: frame by frame, what the full read gave."""
    raw, labels = disk_movie()
    uploads = {  # stem: (the uploaded movie, params.channels)
        "plain": (movie_bytes(raw), None),
        "tc": (
            tiff_bytes(np.stack([255 - raw, raw], axis=1), photometric="minisblack", metadata={"axes": "TCYX"}),
            [1],
        ),
    }
    jobs = {}
    with tracking_consumer(platform):
        label_key = platform.upload_bytes(movie_bytes(labels), "disks_labels.tif")
        for stem, (data, channels) in uploads.items():
            params = {"labels": label_key} | ({"channels": channels} if channels else {})
            jobs[stem] = platform.submit(platform.upload_bytes(data, f"{stem}.tif"), type="tracking", params=params)
        for job_id in jobs.values():
            assert platform.wait(job_id, timeout_s=120)["status"] == "done"
    for stem, (data, channels) in uploads.items():
        before = read_image_bytes(io.BytesIO(data), f"{stem}.tif")  # what image.png read for every frame
        assert before.data.shape == (len(raw), *raw.shape[1:], 2 if channels else 1)
        for frame in (0, 5, len(raw) - 1):
            resp = platform.http.get(f"/api/jobs/{jobs[stem]}/view/{stem}/image.png", params={"page": frame})
            assert resp.status_code == 200, resp.text
            expected = display_image(display_channels(before.data[frame], before.source_axes, channels))
            assert np.array_equal(np.asarray(Image.open(io.BytesIO(resp.content)).convert("RGB")), expected), frame
        resp = platform.http.get(f"/api/jobs/{jobs[stem]}/view/{stem}/image.png", params={"page": len(raw)})
        assert resp.status_code == 404 and f"{len(raw)} page(s)" in resp.json()["detail"]
