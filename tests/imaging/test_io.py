"""Reading every accepted image format into (pages, Y, X, C), mapping channels, and refusing bad inputs."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from cellkiosk.core.errors import BadInputError
from cellkiosk.imaging.channels import LUMA, select_channels, to_single_channel
from cellkiosk.imaging.io import LoadedImage, canonical_axes, read_image_bytes, read_image_file

RNG = np.random.default_rng(0)


# -- helpers ---------------------------------------------------------------------------------------
def read(data: bytes, name: str = "upload.bin", **kwargs: object) -> LoadedImage:
    """Read bytes the way the consumer does: from a binary stream."""
    return read_image_bytes(io.BytesIO(data), name, **kwargs)  # type: ignore[arg-type]


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def tiff_bytes(arr: np.ndarray, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr, **kwargs)  # type: ignore[arg-type]
    return buf.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png_claiming_size(width: int, height: int) -> bytes:
    """A well-formed PNG header for an 8-bit grey image of any claimed size, with one tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # depth 8, grey, deflate, no filter, no interlace
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def grey(shape: tuple[int, int] = (20, 30), dtype: type = np.uint8) -> np.ndarray:
    info = np.iinfo(dtype)
    return RNG.integers(0, int(info.max) + 1, shape, dtype=dtype)


def assert_bad_input(exc: pytest.ExceptionInfo[BadInputError], *needles: str) -> None:
    message = str(exc.value)
    assert "Traceback" not in message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


# -- PNG and JPEG -------------------------------------------------------------------------------------
def test_grey_png_from_bytes_and_from_file(tmp_path: Path) -> None:
    arr = grey()
    data = png_bytes(arr)
    loaded = read(data, "cells.png")
    assert loaded.data.shape == (1, 20, 30, 1) and loaded.data.dtype == np.uint8
    np.testing.assert_array_equal(loaded.data[0, ..., 0], arr)
    (tmp_path / "cells.png").write_bytes(data)
    np.testing.assert_array_equal(read_image_file(tmp_path / "cells.png"), loaded.data)
    np.testing.assert_array_equal(read_image_file(str(tmp_path / "cells.png")), loaded.data)


def test_rgb_png_with_equal_channels_becomes_its_red_channel() -> None:
    red = grey()
    loaded = read(png_bytes(np.stack([red, red, red], axis=-1)), "grey_as_rgb.png")
    assert loaded.data.shape == (1, 20, 30, 3)
    single = to_single_channel(loaded.data)
    assert single.shape == (1, 20, 30, 1) and single.dtype == np.uint8
    np.testing.assert_array_equal(single[0, ..., 0], red)
    picked = select_channels(loaded.data, 1, None, "nuclear", loaded.source_axes)
    np.testing.assert_array_equal(picked, single)


def test_rgba_png_alpha_is_dropped_by_select_channels() -> None:
    rgb = RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    alpha = np.full((20, 30, 1), 255, np.uint8)
    loaded = read(png_bytes(np.concatenate([rgb, alpha], axis=-1)), "rgba.png")
    assert loaded.data.shape == (1, 20, 30, 4)
    three = select_channels(loaded.data, 3, None, "colour", loaded.source_axes)
    np.testing.assert_array_equal(three[0], rgb)
    one = select_channels(loaded.data, 1, None, "nuclear", loaded.source_axes)
    np.testing.assert_allclose(one[0, ..., 0], rgb.astype(np.float32) @ LUMA, rtol=1e-6)


def test_grey_alpha_png_keeps_the_grey_channel() -> None:
    value = grey()
    la = Image.fromarray(np.stack([value, np.full_like(value, 200)], axis=-1))
    assert la.mode == "LA"
    buf = io.BytesIO()
    la.save(buf, format="PNG")
    loaded = read(buf.getvalue(), "la.png")
    picked = select_channels(loaded.data, 1, None, "nuclear", loaded.source_axes)
    np.testing.assert_array_equal(picked[0, ..., 0], value)


def test_colour_rgb_png_becomes_luminance() -> None:
    rgb = RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    loaded = read(png_bytes(rgb), "colour.png")
    picked = select_channels(loaded.data, 1, None, "nuclear", loaded.source_axes)
    assert picked.shape == (1, 20, 30, 1) and picked.dtype == np.float32
    expected = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    np.testing.assert_allclose(picked[0, ..., 0], expected, rtol=1e-5)


def test_16_bit_png_keeps_its_values() -> None:
    arr = grey(dtype=np.uint16)
    loaded = read(png_bytes(arr), "deep.png")
    assert loaded.data.shape == (1, 20, 30, 1) and loaded.data.dtype == np.uint16
    np.testing.assert_array_equal(loaded.data[0, ..., 0], arr)


def test_jpeg_from_bytes_and_file(tmp_path: Path) -> None:
    arr = np.tile(np.linspace(0, 255, 30, dtype=np.uint8), (20, 1))
    data = jpeg_bytes(arr)
    loaded = read(data, "photo.jpg")
    assert loaded.data.shape == (1, 20, 30, 1) and loaded.data.dtype == np.uint8
    assert np.abs(loaded.data[0, ..., 0].astype(int) - arr).max() <= 8  # lossy, but close
    (tmp_path / "photo.jpeg").write_bytes(data)
    np.testing.assert_array_equal(read_image_file(tmp_path / "photo.jpeg"), loaded.data)


# -- TIFF ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_single_page_tiff(dtype: type, tmp_path: Path) -> None:
    arr = (RNG.random((20, 30)) * 1000).astype(dtype)
    data = tiff_bytes(arr)
    loaded = read(data, "one.tif")
    assert loaded.data.shape == (1, 20, 30, 1) and loaded.data.dtype == dtype
    np.testing.assert_array_equal(loaded.data[0, ..., 0], arr)
    (tmp_path / "one.tiff").write_bytes(data)
    np.testing.assert_array_equal(read_image_file(tmp_path / "one.tiff"), loaded.data)


def test_multi_page_tiff_from_a_stack() -> None:
    stack = np.stack([np.full((20, 30), i, np.uint16) for i in range(3)])
    loaded = read(tiff_bytes(stack, photometric="minisblack"), "stack.tif")
    assert loaded.data.shape == (3, 20, 30, 1)
    for i in range(3):
        assert (loaded.data[i] == i).all()


def test_multi_page_tiff_written_by_pillow(tmp_path: Path) -> None:
    pages = [Image.fromarray(np.full((20, 30), 10 * i, np.uint8)) for i in range(3)]
    path = tmp_path / "pil_pages.tif"
    pages[0].save(path, format="TIFF", save_all=True, append_images=pages[1:])
    data = read_image_file(path)
    assert data.shape[0] == 3
    assert [int(data[i].max()) for i in range(3)] == [0, 10, 20]


def test_multi_page_tiff_written_page_by_page_keeps_every_page() -> None:
    buf = io.BytesIO()
    with tifffile.TiffWriter(buf) as writer:
        for i in range(3):
            writer.write(np.full((20, 30), i, np.uint8))
    loaded = read(buf.getvalue(), "pages.tif")
    assert loaded.data.shape[0] == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ome": True, "metadata": {"axes": "CYX"}},
        {"imagej": True, "metadata": {"axes": "CYX"}},
    ],
    ids=["ome", "imagej"],
)
def test_cyx_tiff_is_one_page_with_three_channels(kwargs: dict[str, object]) -> None:
    arr = RNG.integers(0, 4000, (3, 20, 30), dtype=np.uint16)
    loaded = read(tiff_bytes(arr, **kwargs), "cyx.ome.tif")
    assert loaded.data.shape == (1, 20, 30, 3)
    assert "C" in loaded.source_axes
    for c in range(3):
        np.testing.assert_array_equal(loaded.data[0, ..., c], arr[c])


def test_tzcyx_ome_tiff_flattens_time_and_depth_into_pages() -> None:
    arr = RNG.integers(0, 4000, (2, 3, 4, 16, 18), dtype=np.uint16)
    loaded = read(tiff_bytes(arr, ome=True, metadata={"axes": "TZCYX"}), "movie.ome.tif")
    assert loaded.source_axes == "TZCYX"
    assert loaded.data.shape == (2 * 3, 16, 18, 4)
    for t in range(2):
        for z in range(3):
            for c in range(4):
                np.testing.assert_array_equal(loaded.data[t * 3 + z, ..., c], arr[t, z, c])


def test_axes_hint_overrides_the_tiff_axes() -> None:
    arr = RNG.integers(0, 255, (3, 20, 30), dtype=np.uint8)
    data = tiff_bytes(arr, photometric="rgb", planarconfig="separate")  # read as 3 samples by default
    assert read(data, "x.tif").data.shape == (1, 20, 30, 3)
    as_pages = read(data, "x.tif", axes_hint="zyx")
    assert as_pages.data.shape == (3, 20, 30, 1)
    assert as_pages.source_axes == "ZYX" and any("ZYX" in note for note in as_pages.notes)
    for z in range(3):
        np.testing.assert_array_equal(as_pages.data[z, ..., 0], arr[z])


def test_axes_hint_of_the_wrong_length_is_refused() -> None:
    data = tiff_bytes(RNG.integers(0, 255, (3, 20, 30), dtype=np.uint8), photometric="minisblack")
    with pytest.raises(BadInputError) as exc:
        read(data, "x.tif", axes_hint="YX")
    assert_bad_input(exc, "x.tif", "'YX'", "3 dimensions", "(3, 20, 30)")


@pytest.mark.parametrize(
    ("shape", "axes", "needle"),
    [
        ((20, 30), "ZYX", "2 dimensions"),
        ((3, 20, 30), "CYZ", "must contain Y and X"),
        ((3, 20, 30), "WYX", "unknown axis"),
    ],
)
def test_canonical_axes_errors(shape: tuple[int, ...], axes: str, needle: str) -> None:
    with pytest.raises(BadInputError) as exc:
        canonical_axes(np.zeros(shape), axes)
    assert_bad_input(exc, needle)


@pytest.mark.parametrize(
    ("shape", "axes", "expected"),
    [
        ((20, 30), "YX", (1, 20, 30, 1)),
        ((20, 30, 3), "yxs", (1, 20, 30, 3)),
        ((30, 20), "XY", (1, 20, 30, 1)),
        ((2, 3, 20, 30), "CZYX", (3, 20, 30, 2)),
        ((5, 20, 30, 2, 3), "TYXCS", (5, 20, 30, 6)),
    ],
)
def test_canonical_axes_layout(shape: tuple[int, ...], axes: str, expected: tuple[int, ...]) -> None:
    data = np.arange(np.prod(shape)).reshape(shape)
    out = canonical_axes(data, axes)
    assert out.shape == expected
    assert sorted(out.ravel().tolist()) == sorted(data.ravel().tolist())  # a permutation, nothing lost


# -- channel selection ---------------------------------------------------------------------------------
def test_explicit_channel_is_picked() -> None:
    image = RNG.random((2, 10, 12, 3)).astype(np.float32)
    out = select_channels(image, 1, [1], "nuclear")
    assert out.shape == (2, 10, 12, 1)
    np.testing.assert_array_equal(out[..., 0], image[..., 1])
    two = select_channels(image, 2, [2, 0], "two-channel")
    np.testing.assert_array_equal(two, image[..., [2, 0]])


def test_out_of_range_channel_is_refused() -> None:
    image = np.zeros((1, 10, 12, 3), np.uint8)
    with pytest.raises(BadInputError) as exc:
        select_channels(image, 1, [3], "nuclear")
    assert_bad_input(exc, "[3]", "3 channel(s)", "0..2")
    with pytest.raises(BadInputError) as exc:
        select_channels(image, 1, [-1], "nuclear")
    assert_bad_input(exc, "0..2")


def test_wrong_number_of_channels_for_the_model_is_refused() -> None:
    with pytest.raises(BadInputError) as exc:
        select_channels(np.zeros((1, 10, 12, 3), np.uint8), 2, [0], "two-channel")
    assert_bad_input(exc, "two-channel", "takes 2")


def test_five_channel_image_into_one_channel_model_asks_for_params_channels() -> None:
    arr = RNG.integers(0, 4000, (5, 16, 18), dtype=np.uint16)
    loaded = read(tiff_bytes(arr, ome=True, metadata={"axes": "CYX"}), "five.ome.tif")
    assert loaded.data.shape == (1, 16, 18, 5)
    with pytest.raises(BadInputError) as exc:
        select_channels(loaded.data, 1, None, "nuclear", loaded.source_axes)
    assert_bad_input(exc, "5 channels", "params.channels", "nuclear")
    np.testing.assert_array_equal(select_channels(loaded.data, 1, [4], "nuclear")[0, ..., 0], arr[4])


# -- bad inputs ---------------------------------------------------------------------------------------
def test_empty_bytes_are_refused() -> None:
    with pytest.raises(BadInputError) as exc:
        read(b"", "nothing.png")
    assert_bad_input(exc, "nothing.png", "empty")


def test_empty_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "nothing.tif").write_bytes(b"")
    with pytest.raises(BadInputError) as exc:
        read_image_file(tmp_path / "nothing.tif")
    assert_bad_input(exc, "empty")


def test_text_is_not_an_image() -> None:
    with pytest.raises(BadInputError) as exc:
        read(b"cell_id,area\n1,42\n", "table.png")
    assert_bad_input(exc, "table.png", "not an image")


@pytest.mark.parametrize("kind", ["png", "jpeg", "tiff"])
def test_truncated_files_are_refused(kind: str) -> None:
    arr = grey((50, 60))
    data = {"png": png_bytes, "jpeg": jpeg_bytes, "tiff": tiff_bytes}[kind](arr)
    with pytest.raises(BadInputError) as exc:
        read(data[:100], f"cut.{kind}")
    assert_bad_input(exc, f"cut.{kind}")


def test_png_claiming_a_huge_size_is_refused_without_decoding() -> None:
    data = png_claiming_size(100_000, 100_000)
    assert len(data) < 200
    with pytest.raises(BadInputError) as exc:
        read(data, "bomb.png")
    assert_bad_input(exc, "bomb.png", "limit")


def test_crafted_png_header_is_valid() -> None:
    loaded = read(png_claiming_size(7, 5), "tiny.png")  # the same bytes, a sane size: decodes fine
    assert loaded.data.shape == (1, 5, 7, 1)


@pytest.mark.parametrize("kind", ["png", "tiff"])
def test_max_pixels_is_enforced(kind: str) -> None:
    arr = grey((20, 30))
    data = png_bytes(arr) if kind == "png" else tiff_bytes(arr)
    assert read(data, f"ok.{kind}", max_pixels=600).data.shape == (1, 20, 30, 1)
    with pytest.raises(BadInputError) as exc:
        read(data, f"big.{kind}", max_pixels=599)
    assert_bad_input(exc, f"big.{kind}", "limit", "599")


@pytest.mark.parametrize("compression", ["zlib", "lzw"])
def test_tiff_with_corrupt_compressed_data_is_a_bad_input(compression: str) -> None:
    buf = io.BytesIO()
    movie = np.random.default_rng(0).integers(0, 255, (3, 64, 64), dtype=np.uint8)
    tifffile.imwrite(buf, movie, compression=compression, photometric="minisblack")
    data = bytearray(buf.getvalue())
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        start, count = tif.pages[1].dataoffsets[0], tif.pages[1].databytecounts[0]
    data[start : start + count] = b"\xab" * count  # the IFDs stay intact: only the decoder can tell
    with pytest.raises(BadInputError, match="movie.tif: the TIFF's image data is corrupt"):
        read_image_bytes(io.BytesIO(bytes(data)), "movie.tif")
