"""A tracking job's memory is bounded by a few frames, not the movie's length (issue #3: no frame cap)."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from typing import Any

import numpy as np
import pytest
import tifffile

from cellkiosk.core.jobs import Job, JobStatus
from tests.consumer.test_worker import idle_worker
from tests.tracking.movies import paint

FRAMES, SIDE = 80, 256


def disk_movie() -> tuple[np.ndarray, np.ndarray]:
    """(raw uint16, labels) of FRAMES frames: six disks drifting right."""
    labels = np.stack(
        [paint((SIDE, SIDE), [(i + 1, 30.0 + 38 * i, 20.0 + t, 12.0) for i in range(6)]) for t in range(FRAMES)]
    )
    raw = (100 + 1000 * (labels > 0)).astype(np.uint16)
    return raw, labels.astype(np.uint16)


def tiff_bytes(stack: np.ndarray) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, stack, photometric="minisblack", metadata={"axes": "TYX"}, compression="zlib")
    return buf.getvalue()


@pytest.mark.slow
def test_long_movie_runs_in_a_few_frames_of_memory(make_platform: Any) -> None:
    """The movie has 40x the values of max_image_pixels (refused before frames were streamed); the job
    succeeds, and the Python heap's peak during it stays far below the movie and its labels in RAM."""
    raw, labels = disk_movie()
    frame_values = SIDE * SIDE
    p, worker = idle_worker(make_platform, queues=["tracking"], max_image_pixels=frame_values * 2)
    assert raw.size >= 40 * worker.settings.max_image_pixels
    movie_key, labels_key = p.upload_bytes(tiff_bytes(raw), "long.tif"), p.upload_bytes(tiff_bytes(labels), "l.tif")
    job = p.queue.create(
        Job(type="tracking", model="tracking", input=movie_key, input_name="long.tif", params={"labels": labels_key})
    )
    delivery = p.queue.claim("tracking", "direct", 100, 60)
    assert delivery is not None
    tracemalloc.start()
    try:
        worker.handle(delivery)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    done = p.queue.get(job.id)
    assert done is not None and done.status == JobStatus.DONE, done and done.error
    in_ram = raw.nbytes + labels.nbytes  # what the movie and its labels took on the heap before
    assert peak < in_ram / 3, f"peak {peak:,} bytes vs {in_ram:,} for the movie and labels in RAM"
    assert done.output is not None
    with zipfile.ZipFile(io.BytesIO(p.storage.get_bytes(done.output))) as zf:
        tracked = tifffile.imread(io.BytesIO(zf.read("long_tracked.tif")))
    assert tracked.shape == (FRAMES, SIDE, SIDE) and len(np.unique(tracked)) == 7  # six tracks and background
