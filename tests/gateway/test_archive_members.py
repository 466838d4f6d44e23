"""One member, one page of a stored result archive, read in place (a file locally, ranged GETs on S3)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import tifffile

from cellkiosk.core.storage import Storage
from cellkiosk.gateway.archive_members import open_tiff_member

FRAMES = 40


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest) -> Storage:
    """Each test below runs once per backend."""
    result: Storage = request.getfixturevalue("local_storage" if request.param == "local" else "s3_storage")
    return result


def movie() -> np.ndarray:
    """A movie of noisy labels (so zlib cannot shrink a frame to nothing): ~200 KB a frame compressed."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 2000, size=(FRAMES, 256, 512), dtype=np.uint16)


def archive(stack: np.ndarray, compress_type: int) -> bytes:
    """A result-like zip: a labels movie TIFF (zlib pages) plus a few small members."""
    tiff = io.BytesIO()
    tifffile.imwrite(tiff, stack, compression="zlib", photometric="minisblack")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("cells.csv", "label,frame\n" * 100)
        zf.writestr("movie_tracked.tif", tiff.getvalue(), compress_type=compress_type)
        zf.writestr("job.json", "{}")
    return buffer.getvalue()


@pytest.mark.parametrize("compress_type", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
@pytest.mark.slow
def test_one_page_of_a_tiff_member_equals_the_movie_frame(storage: Storage, compress_type: int) -> None:
    stack = movie()
    storage.put_bytes("results/j/r.zip", archive(stack, compress_type))
    with storage.open_seekable("results/j/r.zip") as fh, zipfile.ZipFile(fh) as zf:
        with open_tiff_member(zf, fh, "movie_tracked.tif") as tif:
            series = tif.series[0]
            assert series.shape == stack.shape
            np.testing.assert_array_equal(series.asarray(key=27), stack[27])
        assert zf.read("job.json") == b"{}"


@pytest.mark.parametrize(("frame", "most"), [(0, 0.1), (FRAMES - 1, 0.75)])
@pytest.mark.slow
def test_ranged_reads_fetch_a_fraction_of_the_object(s3_storage: Storage, frame: int, most: float) -> None:
    """Frame 0 costs its own bytes; a later frame also walks the IFD chain of the frames before it."""
    stack = movie()
    data = archive(stack, zipfile.ZIP_STORED)
    s3_storage.put_bytes("results/j/r.zip", data)
    with s3_storage.open_seekable("results/j/r.zip") as fh, zipfile.ZipFile(fh) as zf:
        with open_tiff_member(zf, fh, "movie_tracked.tif") as tif:
            np.testing.assert_array_equal(tif.pages[frame].asarray(), stack[frame])
        fetched = fh.raw.fetched_bytes  # type: ignore[attr-defined]
    assert fetched < most * len(data), (fetched, len(data))
