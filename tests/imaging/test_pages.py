"""One page (frame) of an image: only that page decoded, the same pixels as the full read."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tifffile

from cellkiosk.core.errors import BadInputError
from cellkiosk.imaging.io import read_image_bytes
from cellkiosk.imaging.pages import PageOutOfRangeError, plan_pages, read_input_page, read_tiff_page
from tests.integration.conftest import val_png

RNG = np.random.default_rng(0)


def tiff_bytes(array: np.ndarray, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, array, **kwargs)  # type: ignore[arg-type]
    return buf.getvalue()


def noise(shape: tuple[int, ...], dtype: str = "uint16") -> np.ndarray:
    return RNG.integers(0, 4000 if dtype == "uint16" else 255, shape).astype(dtype)


# name: (TIFF bytes, params.axes, whether the page-level read applies)
LAYOUTS: dict[str, tuple[bytes, str | None, bool]] = {
    "TYX movie": (tiff_bytes(noise((6, 20, 24)), photometric="minisblack", metadata={"axes": "TYX"}), None, True),
    "TCYX shaped": (tiff_bytes(noise((5, 2, 20, 24)), photometric="minisblack", metadata={"axes": "TCYX"}), None, True),
    "TCYX ImageJ": (tiff_bytes(noise((5, 3, 20, 24)), imagej=True, metadata={"axes": "TCYX"}), None, True),
    "TCYX OME": (tiff_bytes(noise((4, 2, 20, 24)), ome=True, metadata={"axes": "TCYX"}), None, True),
    "CTYX OME (channels outermost)": (
        tiff_bytes(noise((2, 4, 20, 24)), ome=True, metadata={"axes": "CTYX"}),
        None,
        True,
    ),
    "TZCYX OME": (tiff_bytes(noise((2, 3, 2, 20, 24)), ome=True, metadata={"axes": "TZCYX"}), None, True),
    "RGB movie": (tiff_bytes(noise((4, 20, 24, 3), "uint8"), photometric="rgb"), None, True),
    "RGB movie, planar": (
        tiff_bytes(noise((4, 3, 20, 24), "uint8"), photometric="rgb", planarconfig="separate"),
        None,
        True,
    ),
    "TCYXS": (tiff_bytes(noise((3, 2, 20, 24, 3), "uint8"), photometric="rgb", metadata={"axes": "TCYXS"}), None, True),
    "one page": (tiff_bytes(noise((20, 24))), None, True),
    "CYX hinted as TYX": (
        tiff_bytes(noise((3, 20, 24)), photometric="minisblack", metadata={"axes": "CYX"}),
        "TYX",
        True,
    ),
    "ImageJ hyperstack hinted": (
        tiff_bytes(noise((3, 2, 20, 24)), imagej=True, metadata={"axes": "TCYX"}),
        "ZCYX",
        True,
    ),
    "pages written one by one": (b"", None, False),  # filled in below: one series per page
    "hint with Y outside a page": (tiff_bytes(noise((4, 20, 24)), photometric="minisblack"), "YTX", False),
}


def one_by_one() -> bytes:
    buf = io.BytesIO()
    with tifffile.TiffWriter(buf) as tw:
        for _ in range(3):
            tw.write(noise((20, 24)), photometric="minisblack")  # shaped metadata: one series per page
    return buf.getvalue()


LAYOUTS["pages written one by one"] = (one_by_one(), None, False)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_page_equals_the_full_read(layout: str) -> None:
    data, hint, page_level = LAYOUTS[layout]
    full = read_image_bytes(io.BytesIO(data), "movie.tif", hint)
    assert (read_tiff_page(io.BytesIO(data), hint, 0) is not None) == page_level
    for page in range(full.data.shape[0]):
        shown = read_input_page(io.BytesIO(data), "movie.tif", hint, page)
        assert shown.data.dtype == full.data.dtype
        assert np.array_equal(shown.data, full.data[page]), page
        assert (shown.source_axes, shown.pages) == (full.source_axes, full.data.shape[0])
    with pytest.raises(PageOutOfRangeError) as exc:
        read_input_page(io.BytesIO(data), "movie.tif", hint, full.data.shape[0])
    assert exc.value.pages == full.data.shape[0]


def test_only_the_pages_of_one_frame_are_decoded() -> None:
    """Every other frame's compressed data is overwritten: the full read fails, frame 4 still reads."""
    movie = noise((6, 3, 20, 24))
    data = bytearray(tiff_bytes(movie, ome=True, metadata={"axes": "TCYX"}, compression="zlib"))
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        strips = [(p.dataoffsets, p.databytecounts) for p in tif.series[0].pages]
    for index, (offsets, counts) in enumerate(strips):
        if index // 3 != 4:
            for offset, count in zip(offsets, counts, strict=True):
                data[offset : offset + count] = b"\xff" * count
    with pytest.raises((BadInputError, RuntimeError)):  # imagecodecs' DeflateError is a RuntimeError
        read_image_bytes(io.BytesIO(bytes(data)), "movie.ome.tif")
    shown = read_input_page(io.BytesIO(bytes(data)), "movie.ome.tif", None, 4)
    assert np.array_equal(shown.data, np.moveaxis(movie[4], 0, -1))


def test_png_and_errors_go_through_the_reader() -> None:
    png = val_png().read_bytes()
    assert np.array_equal(
        read_input_page(io.BytesIO(png), "a.png", None, 0).data, read_image_bytes(io.BytesIO(png), "a.png").data[0]
    )
    with pytest.raises(PageOutOfRangeError):
        read_input_page(io.BytesIO(png), "a.png", None, 1)
    with pytest.raises(BadInputError, match="not a readable TIFF"):
        read_input_page(io.BytesIO(b"II*\x00broken"), "b.tif", None, 0)
    with pytest.raises(BadInputError, match="params.axes 'TYX' has 3 letters"):
        read_input_page(
            io.BytesIO(tiff_bytes(noise((2, 3, 20, 24)), photometric="minisblack", metadata={"axes": "TCYX"})),
            "c.tif",
            "TYX",
            0,
        )


@pytest.mark.parametrize(
    ("shape", "axes", "page_shape", "stored", "frames"),
    [
        ((5, 2, 8, 9), "TCYX", (8, 9), 10, [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]),
        ((2, 3, 8, 9), "CTYX", (8, 9), 6, [[0, 3], [1, 4], [2, 5]]),
    ],
)
def test_plan_pages_maps_frames_to_stored_pages(
    shape: tuple[int, ...], axes: str, page_shape: tuple[int, ...], stored: int, frames: list[list[int]]
) -> None:
    plan = plan_pages(shape, axes, page_shape, stored)
    assert plan is not None and plan.ifds.tolist() == frames and plan.channel_axes == "C"


def test_plan_pages_refuses_layouts_it_cannot_map() -> None:
    assert plan_pages((5, 8, 9), "TYX", (8, 9), 1) is None  # one IFD for five frames (truncated ImageJ)
    assert plan_pages((8, 9), "YX", (8, 9), 1) is not None  # one page: nothing to map
    assert plan_pages((4, 8, 9), "YTX", (8, 9), 4) is None
    assert plan_pages((4, 3, 8, 9), "TZYX", (3, 8, 9), 4) is None  # a page axis inside a stored page
    assert plan_pages((4, 8, 9), "TYX", (8, 10), 4) is None
