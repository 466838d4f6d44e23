"""Reading images of every format we accept into one layout: (pages, Y, X, C)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from cellkiosk.core.errors import BadInputError
from cellkiosk.imaging.pixel_size import tiff_pixel_size_um

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")
PAGE_AXES = set("TZQIRHEV")  # time, depth and the axes tifffile cannot name
CHANNEL_AXES = set("CS")
DEFAULT_MAX_PIXELS = 2**31  # pages x Y x X; ~2 G values guards against bombs
MIN_SIDE_PX = 8  # below this on either side there is no nucleus to find, only a degenerate tiling


@dataclass
class LoadedImage:
    """Pixels as (pages, Y, X, C) plus where each axis came from."""

    data: np.ndarray
    source_axes: str
    notes: list[str] = field(default_factory=list)
    pixel_size_um: float | None = None  # what the file declares (TIFF: OME or resolution tags), else None


def limit_decoders(max_pixels: int) -> None:
    """Make Pillow refuse images above ``max_pixels`` before decoding (its decompression-bomb guard)."""
    Image.MAX_IMAGE_PIXELS = max_pixels // 2  # Pillow raises at twice this; we want it to raise at max_pixels


def is_image_name(name: str) -> bool:
    """Whether a file name has one of the image suffixes we read."""
    return name.lower().endswith(IMAGE_SUFFIXES)


def canonical_axes(data: np.ndarray, axes: str) -> np.ndarray:
    """Reorder an array with tifffile-style ``axes`` to (pages, Y, X, C).

    Every page-like axis (T, Z, unnamed) is flattened into pages, every
    channel-like axis (C, S) into channels.
    """
    axes = axes.upper()
    if len(axes) != data.ndim:
        raise BadInputError(f"axes '{axes}' do not fit an image with {data.ndim} dimensions {data.shape}")
    if "Y" not in axes or "X" not in axes:
        raise BadInputError(f"axes '{axes}' must contain Y and X")
    unknown = set(axes) - PAGE_AXES - CHANNEL_AXES - {"Y", "X"}
    if unknown:
        raise BadInputError(f"unknown axis letters {sorted(unknown)} in '{axes}' (use T, Z, C, Y, X)")
    pages = [i for i, a in enumerate(axes) if a in PAGE_AXES]
    chans = [i for i, a in enumerate(axes) if a in CHANNEL_AXES]
    order = pages + [axes.index("Y"), axes.index("X")] + chans
    out = np.transpose(data, order)
    n_pages = int(np.prod([data.shape[i] for i in pages])) if pages else 1
    n_chans = int(np.prod([data.shape[i] for i in chans])) if chans else 1
    return out.reshape(n_pages, out.shape[len(pages)], out.shape[len(pages) + 1], n_chans)


def _check_size(shape: tuple[int, ...], max_pixels: int, name: str) -> None:
    total = int(np.prod(shape, dtype=np.int64))
    if total > max_pixels:
        raise BadInputError(
            f"{name}: image of shape {tuple(shape)} has {total:,} values, above this server's limit of {max_pixels:,}"
        )


def read_tiff(fh: IO[bytes], name: str, axes_hint: str | None, max_pixels: int) -> LoadedImage:
    """Read a (multi-page, multi-channel, OME) TIFF."""
    try:
        with tifffile.TiffFile(fh) as tif:
            if not tif.series:
                raise BadInputError(f"{name}: not a readable TIFF (it holds no image data)")
            series = tif.series[0]
            same = [s for s in tif.series if s.shape == series.shape and s.dtype == series.dtype]
            _check_size((len(same), *series.shape), max_pixels, name)
            axes = series.axes
            pixel_size_um = tiff_pixel_size_um(tif)
            if len(same) > 1:  # pages written one by one: one series each
                data = np.stack([s.asarray() for s in same])
                axes = "Q" + axes
            else:
                data = series.asarray()
            if len(same) < len(tif.series):
                dropped = len(tif.series) - len(same)
                skipped_note = f"{dropped} image(s) of another size in this TIFF were not analysed"
            else:
                skipped_note = ""
    except BadInputError:
        raise
    except (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError, MemoryError) as exc:
        raise BadInputError(f"{name}: not a readable TIFF ({exc})") from exc
    except RuntimeError as exc:  # imagecodecs' decoder errors (DeflateError, LzwError, ...) are RuntimeErrors
        raise BadInputError(f"{name}: the TIFF's image data is corrupt ({type(exc).__name__}: {exc})") from exc
    notes = [skipped_note] if skipped_note else []
    if axes_hint:
        hint = axes_hint.upper()
        if len(hint) != data.ndim:
            raise BadInputError(
                f"{name}: params.axes '{axes_hint}' has {len(hint)} letters but the image has "
                f"{data.ndim} dimensions {data.shape} (TIFF says '{axes}')"
            )
        axes = hint
        notes.append(f"axes from params: {hint}")
    return LoadedImage(canonical_axes(data, axes), axes, notes, pixel_size_um)


def read_pil(fh: IO[bytes], name: str, max_pixels: int) -> LoadedImage:
    """Read a PNG or JPEG (8/16-bit, grey, RGB or RGBA)."""
    try:
        with Image.open(fh) as img:
            _check_size((img.height, img.width, len(img.getbands())), max_pixels, name)
            frames = []
            for _ in range(getattr(img, "n_frames", 1)):
                frames.append(np.asarray(img if img.mode != "P" else img.convert("RGBA")))
                break  # animated PNGs: first frame only
    except BadInputError:
        raise
    except Image.DecompressionBombError as exc:
        raise BadInputError(f"{name}: image is above this server's pixel limit ({exc})") from exc
    except UnidentifiedImageError:
        raise BadInputError(f"{name}: not a readable image (its PNG or JPEG data is damaged)") from None
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{name}: not a readable image ({exc})") from exc
    data = frames[0]
    if data.ndim == 2:
        data = data[..., None]
    return LoadedImage(data[None], "YXS", [])


def check_pixels(loaded: LoadedImage, name: str) -> LoadedImage:
    """Refuse pixel data no analysis can use: tiny images, complex numbers, no finite value at all (jobs call it)."""
    _, height, width, _ = loaded.data.shape
    if min(height, width) < MIN_SIDE_PX:
        raise BadInputError(
            f"{name}: image is {height} x {width} px, too small to analyse (each side needs {MIN_SIDE_PX} px or more)"
        )
    if np.iscomplexobj(loaded.data):
        raise BadInputError(f"{name}: the pixels are complex numbers; save the magnitude (or real part) as the image")
    if loaded.data.dtype.kind == "f":
        finite = np.isfinite(loaded.data)
        if not finite.any():
            raise BadInputError(f"{name}: no pixel has a finite value (all NaN or infinite)")
        if not finite.all():
            values = loaded.data[finite]
            low, high = values.min(), values.max()
            loaded.data = np.nan_to_num(loaded.data, nan=low, posinf=high, neginf=low)
            replaced = int(finite.size - finite.sum())
            loaded.notes.append(f"{replaced} NaN/infinite pixels set to the image's finite min/max")
    return loaded


def read_image_bytes(
    fh: IO[bytes], name: str, axes_hint: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> LoadedImage:
    """Read an image from a binary stream; its first bytes (not its name) pick the reader."""
    head = fh.read(8)
    fh.seek(0)
    if not head:
        raise BadInputError(f"{name}: file is empty")
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return read_tiff(fh, name, axes_hint, max_pixels)
    if head.startswith(b"\x89PNG") or head[:3] == b"\xff\xd8\xff":
        return read_pil(fh, name, max_pixels)
    if head[:4] == b"PK\x03\x04":
        raise BadInputError(f"{name}: a damaged or truncated zip (it cannot be opened)")
    raise BadInputError(f"{name}: not an image (expected TIFF, PNG or JPEG; the file starts with {head[:8]!r})")


def read_image_file(path: Path | str, axes_hint: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file to (pages, Y, X, C)."""
    path = Path(path)
    with path.open("rb") as fh:
        return read_image_bytes(fh, path.name, axes_hint, max_pixels).data


def encode_tiff(data: np.ndarray) -> bytes:
    """Encode an array as a zlib-compressed TIFF (for results and the client)."""
    buf = io.BytesIO()
    tifffile.imwrite(
        buf, data, compression="zlib", photometric="minisblack" if data.ndim == 3 and data.shape[0] in (3, 4) else None
    )
    return buf.getvalue()
