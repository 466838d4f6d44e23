"""A lazy movie: every frame equals the full read, only one frame is decoded, the limit applies per frame."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tifffile

from cellkiosk.core.errors import BadInputError
from cellkiosk.imaging.channels import drop_alpha
from cellkiosk.imaging.io import read_image_bytes
from cellkiosk.imaging.movie import open_movie
from tests.imaging.test_pages import LAYOUTS, noise, tiff_bytes
from tests.integration.conftest import val_png


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_frame_equals_the_full_read(layout: str) -> None:
    data, hint, _ = LAYOUTS[layout]
    full = read_image_bytes(io.BytesIO(data), "movie.tif", hint)
    with open_movie(io.BytesIO(data), "movie.tif", hint) as movie:
        assert movie.shape == full.data.shape and movie.dtype == full.data.dtype
        assert (movie.source_axes, movie.notes) == (full.source_axes, full.notes)
        frames = list(movie.frames())
        assert np.array_equal(np.stack(frames), full.data)
        assert all(np.array_equal(movie[t], full.data[t]) for t in range(len(movie)))
        with pytest.raises(IndexError):
            movie.frame(len(movie))


def test_a_corrupt_frame_fails_only_when_read() -> None:
    """Frame 1's compressed data is overwritten: the movie opens, frame 0 reads, frame 1 is a readable error."""
    stack = noise((3, 20, 24))
    data = bytearray(tiff_bytes(stack, photometric="minisblack", metadata={"axes": "TYX"}, compression="zlib"))
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        page = tif.series[0].pages[1]
        assert page is not None
        for offset, count in zip(page.dataoffsets, page.databytecounts, strict=True):
            data[offset : offset + count] = b"\xff" * count
    with open_movie(io.BytesIO(bytes(data)), "m.tif") as movie:
        assert np.array_equal(movie.frame(0)[..., 0], stack[0])
        with pytest.raises(BadInputError, match="m.tif: the TIFF's image data is corrupt"):
            movie.frame(1)


def test_the_pixel_limit_is_per_frame_when_frames_are_read_lazily() -> None:
    data = tiff_bytes(noise((10, 20, 24)), photometric="minisblack", metadata={"axes": "TYX"})
    with open_movie(io.BytesIO(data), "m.tif", None, max_pixels=20 * 24) as movie:  # the movie has 10x that
        assert movie.shape == (10, 20, 24, 1)
    with pytest.raises(BadInputError, match="limit of 479 per frame"), open_movie(io.BytesIO(data), "m.tif", None, 479):
        pass


def test_layouts_read_whole_keep_the_whole_image_limit() -> None:
    data, hint, page_level = LAYOUTS["pages written one by one"]
    assert not page_level
    with pytest.raises(BadInputError, match="above this server's limit of 1,000"):
        with open_movie(io.BytesIO(data), "m.tif", hint, max_pixels=1000):
            pass
    png = val_png().read_bytes()
    with open_movie(io.BytesIO(png), "a.png") as movie:
        assert np.array_equal(movie.frame(0), read_image_bytes(io.BytesIO(png), "a.png").data[0])


def test_mapped_applies_to_each_frame_and_updates_the_shape() -> None:
    rgba = noise((3, 6, 7, 4), "uint8")
    with open_movie(io.BytesIO(tiff_bytes(rgba, photometric="rgb", extrasamples=[2])), "m.tif") as movie:
        assert movie.shape == (3, 6, 7, 4)
        rgb = movie.mapped(lambda f: drop_alpha(f, "YXS"))
        assert rgb.shape == (3, 6, 7, 3) and np.array_equal(rgb.frame(2), rgba[2, ..., :3])
