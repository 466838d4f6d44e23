"""A small synthetic movie for the tracking view: moving disks, one of which divides, and a tracking consumer."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import tifffile

from tests.fixtures.platform import Platform, start_worker
from tests.tracking.movies import Disk, paint

FRAMES = 12
DIVISION_FRAME = 6  # the lower disk is two disks from this frame on
SHAPE = (160, 160)


def disks(t: int) -> list[Disk]:
    """The disks of frame ``t``: one drifting right, one below it that divides at DIVISION_FRAME."""
    out: list[Disk] = [(1, 40.0, 30.0 + 3 * t, 11.0)]
    if t < DIVISION_FRAME:
        out.append((2, 110.0, 50.0 + 2 * t, 13.0))
    else:
        out += [(2, 97.0, 50.0 + 2 * t, 10.0), (3, 123.0, 50.0 + 2 * t, 10.0)]
    return out


def disk_movie() -> tuple[np.ndarray, np.ndarray]:
    """(raw, labels), both (T, Y, X): bright disks on a dim, slightly noisy background, and their labels."""
    labels = np.stack([paint(SHAPE, disks(t)) for t in range(FRAMES)])
    noise = np.random.default_rng(0).integers(0, 12, labels.shape)
    raw = (20 + noise + 160 * (labels > 0)).astype(np.uint8)
    return raw, labels


def tiff_bytes(array: np.ndarray) -> bytes:
    """A multi-page grey TIFF (T×Y×X)."""
    buf = io.BytesIO()
    tifffile.imwrite(buf, array, photometric="minisblack", metadata={"axes": "TYX"})
    return buf.getvalue()


@contextmanager
def tracking_consumer(platform: Platform) -> Iterator[Platform]:
    """The platform plus a consumer of the tracking queue, stopped on exit."""
    settings = platform.consumer_settings.model_copy(update={"queues": ["tracking"]})
    worker, thread = start_worker(settings, platform.storage, platform.queue, f"test-tracking-view-{id(settings)}")
    try:
        yield platform
    finally:
        worker.stop.set()
        thread.join(30)


def submit_disk_movie(platform: Platform) -> str:
    """Upload the disk movie and its labels and submit a tracking job on them; returns the job id."""
    raw, labels = disk_movie()
    movie = platform.upload_bytes(tiff_bytes(raw), "disks.tif")
    label_key = platform.upload_bytes(tiff_bytes(labels), "disks_labels.tif")
    return platform.submit(movie, type="tracking", params={"labels": label_key})
