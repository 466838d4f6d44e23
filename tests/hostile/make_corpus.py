"""The hostile-input corpus: broken, malicious and odd files a user (or an attacker) may upload.

``python tests/hostile/make_corpus.py OUT_DIR`` writes every case to OUT_DIR plus
``manifest.json`` (name, file, upload name, job type, params, what a correct
server does). ``tests/hostile/test_corpus.py`` builds the corpus with
:func:`build_corpus` and sends each case through the real platform.

Outcomes: ``refused`` (a 4xx at upload or job creation), ``failed`` (a failed job
whose reason names the problem, given as a substring), ``done`` (a valid input in
disguise, e.g. a PNG named .tif: types go by content, not by name).
"""

from __future__ import annotations

import io
import json
import stat
import struct
import sys
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from PIL import Image

RNG = np.random.default_rng(13)


@dataclass
class Case:
    """One hostile input and what the server must make of it."""

    name: str
    upload_name: str
    data: bytes
    outcome: str  # refused | failed | done
    reason: str = ""  # substring of the 4xx detail or of the job's error
    job_type: str = "segmentation"
    params: dict[str, Any] = field(default_factory=dict)


def nuclei(size: int = 64) -> np.ndarray:
    """A small synthetic fluorescence image: bright discs on a dark background."""
    yy, xx = np.mgrid[:size, :size]
    img = np.zeros((size, size), np.float32)
    for cy, cx in RNG.integers(8, size - 8, (6, 2)):
        img += 200 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 18.0)
    return np.clip(img + RNG.normal(10, 2, img.shape), 0, 255).astype(np.uint8)


def tiff(array: np.ndarray, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, array, **kwargs)
    return buf.getvalue()


def pil(array: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


def png_chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_claiming(width: int, height: int, bad_crc: bool = False) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (a decompression bomb's first bytes)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr, 0 if bad_crc else None)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A JPEG whose SOF0 header claims a huge frame."""
    sof = struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + b"\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof + b"\xff\xd9"


def tiff_claiming(width: int, height: int) -> bytes:
    """A little-endian TIFF whose one IFD claims ``width`` x ``height`` uint8 pixels, with 8 bytes of data."""
    entries = [
        (256, 4, 1, width),  # ImageWidth, LONG
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # no compression
        (262, 3, 1, 1),  # BlackIsZero
        (273, 4, 1, 8 + 2 + 12 * 9 + 4),  # StripOffsets: right after the IFD
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, width * height % 2**32),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack("<HHII", tag, kind, count, value)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x00" * 8


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def zip_with(infos: list[tuple[zipfile.ZipInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for info, data in infos:
            zf.writestr(info, data)
    return buf.getvalue()


def symlink_zip() -> bytes:
    link = zipfile.ZipInfo("escape.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    return zip_with([(link, b"/etc/passwd"), (zipfile.ZipInfo("ok.png"), pil(nuclei(), "PNG"))])


def set_zip_flags(data: bytes, flags: int, clear: int = 0) -> bytes:
    """Set (and clear) general-purpose flag bits in the first local and central headers of a zip."""
    raw = bytearray(data)
    for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = raw.find(sig)
        value = (struct.unpack_from("<H", raw, at + offset)[0] | flags) & ~clear
        struct.pack_into("<H", raw, at + offset, value)
    return bytes(raw)


def encrypted_zip() -> bytes:
    """A zip whose one member claims to be encrypted."""
    return set_zip_flags(zip_of({"secret.png": pil(nuclei(), "PNG")}), 0x1)


def legacy_name_zip() -> bytes:
    """A zip whose member name is UTF-8 bytes without the UTF-8 flag: read as cp437, as old tools wrote them."""
    return set_zip_flags(zip_of({"na\u00efve-\u00e9.png": pil(nuclei(), "PNG")}), 0, clear=0x800)


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: max(1, int(len(data) * keep))]


def corrupt_compressed_tiff() -> bytes:
    data = bytearray(tiff(nuclei(128), compression="zlib"))
    middle = len(data) // 2
    data[middle : middle + 64] = b"\xff" * 64
    return bytes(data)


def build_corpus() -> list[Case]:
    """Every case, built in memory (under a second)."""
    img = nuclei()
    good_png, good_tif, good_jpg = pil(img, "PNG"), tiff(img), pil(img, "JPEG")
    floats = img.astype(np.float32)
    nan_some = floats.copy()
    nan_some[::7, ::5] = np.nan
    cases = [
        Case("zero bytes", "empty.tif", b"", "failed", "empty"),
        Case("text named tif", "notes.tif", b"lab notes, not an image\n" * 20, "failed", "not an image"),
        Case("text named png", "cells.png", b"hello\n" * 50, "failed", "not an image"),
        Case("html named png", "x.png", b"<html><script>alert(1)</script></html>", "failed", "not an image"),
        Case("svg named png", "x.png", b'<svg xmlns="http://www.w3.org/2000/svg"/>', "failed", "not an image"),
        Case("gif image", "cells.gif", pil(img, "GIF"), "failed", "not an image"),
        Case("bmp image", "cells.bmp", pil(img, "BMP"), "failed", "not an image"),
        Case("png named tif (type by content)", "really-png.tif", good_png, "done"),
        Case("tiff named png (type by content)", "really-tiff.png", good_tif, "done"),
        Case("jpeg named tiff (type by content)", "really-jpeg.tiff", good_jpg, "done"),
        Case("truncated tiff", "cut.tif", truncated(tiff(nuclei(256))), "failed", "TIFF"),
        Case("truncated png", "cut.png", truncated(pil(nuclei(256), "PNG")), "failed", "not a readable image"),
        Case("truncated jpeg", "cut.jpg", truncated(pil(nuclei(256), "JPEG"), 0.3), "failed", "image"),
        Case(
            "tiff magic then garbage",
            "bad.tif",
            b"II*\x00" + bytes(RNG.integers(0, 256, 200, np.uint8)),
            "failed",
            "TIFF",
        ),  # fmt: skip
        Case("big-endian tiff magic only", "bad.tif", b"MM\x00*" + b"\x00" * 4, "failed", "TIFF"),
        Case("bigtiff magic only", "bad.tif", b"II+\x00" + b"\x00" * 12, "failed", "TIFF"),
        Case("png with bad header crc", "crc.png", png_claiming(64, 64, bad_crc=True), "failed", "damaged"),
        Case("corrupt zlib data in tiff", "zlib.tif", corrupt_compressed_tiff(), "failed", "TIFF"),
        Case("1x1 image", "dot.png", pil(np.array([[200]], np.uint8), "PNG"), "failed", "too small"),
        Case("100000x1 image", "line.tif", tiff(np.full((1, 100_000), 50, np.uint8)), "failed", "too small"),
        Case("1x100000 image", "column.tif", tiff(np.full((100_000, 1), 50, np.uint8)), "failed", "too small"),
        Case(
            "5 channels",
            "five.ome.tif",
            tiff(np.stack([img] * 5), metadata={"axes": "CYX"}, ome=True),
            "failed",
            "5 channels",
        ),  # fmt: skip
        Case(
            "5-D data",
            "tzcyx.ome.tif",
            tiff(np.stack([[np.stack([img] * 3)] * 2] * 2), metadata={"axes": "TZCYX"}, ome=True),
            "failed",
            "channels",
        ),  # fmt: skip
        Case("all NaN float", "nan.tif", tiff(np.full((64, 64), np.nan, np.float32)), "failed", "finite"),
        Case("all inf float", "inf.tif", tiff(np.full((64, 64), np.inf, np.float32)), "failed", "finite"),
        Case("some NaN float", "some-nan.tif", tiff(nan_some), "done"),
        Case("float64 with -inf", "neg-inf.tif", tiff(np.where(img > 100, -np.inf, img).astype(np.float64)), "done"),
        Case("int64 image", "int64.tif", tiff(img.astype(np.int64) * 10**12), "done"),
        Case("bool image", "mask.tif", tiff(img > 100), "done"),
        Case("complex image", "complex.tif", tiff(img.astype(np.complex64)), "failed", "complex"),
        Case("float16 image", "half.tif", tiff(img.astype(np.float16)), "done"),
        Case("all zero image", "black.tif", tiff(np.zeros((64, 64), np.uint16)), "done"),
        Case("tiff declaring 100000x100000", "huge.tif", tiff_claiming(100_000, 100_000), "failed", "limit"),
        Case("png declaring 10 gigapixels", "bomb.png", png_claiming(100_000, 100_000), "failed", "limit"),
        Case("jpeg declaring 65000x65000", "bomb.jpg", jpeg_claiming(65_000, 65_000), "failed", "limit"),
        Case(
            "huge multi-page tiff",
            "stack.tif",
            tiff(np.zeros((400, 128, 128), np.uint8), photometric="minisblack"),
            "failed",
            "limit",
        ),  # fmt: skip
        Case("path traversal upload name", "../../etc/passwd.png", good_png, "done"),
        Case("control characters in upload name", "a\x00b\r\n.png", good_png, "done"),
        Case("right-to-left override in name", "cells\u202egnp.tif", good_png, "done"),
        Case("zip bomb (ratio)", "bomb.zip", zip_of({"a.tif": b"\x00" * (40 << 20)}), "failed", "zip bomb"),
        Case("zip slip", "slip.zip", zip_of({"../../evil.png": good_png}), "failed", "unsafe path"),
        Case("zip with absolute path", "abs.zip", zip_of({"/etc/cron.d/x.png": good_png}), "failed", "unsafe path"),
        Case("zip with drive letter", "drive.zip", zip_of({"C:/windows/x.png": good_png}), "failed", "unsafe path"),
        Case("zip with symlink", "link.zip", symlink_zip(), "failed", "symbolic link"),
        Case("zip with encrypted member", "enc.zip", encrypted_zip(), "failed", "encrypted"),
        Case("zip with non-UTF-8 names", "legacy.zip", legacy_name_zip(), "done"),
        Case("empty zip", "empty.zip", zip_of({}), "failed", "no image files"),
        Case(
            "zip of non-images",
            "docs.zip",
            zip_of({"a.txt": b"hi", "b.csv": b"1,2", "c.pdf": b"%PDF-1.4"}),
            "failed",
            "no image files",
        ),  # fmt: skip
        Case(
            "zip in a zip", "nested.zip", zip_of({"inner.zip": zip_of({"a.png": good_png})}), "failed", "no image files"
        ),  # fmt: skip
        Case(
            "zip with too many members",
            "many.zip",
            zip_of({f"f{i}.png": b"x" for i in range(60)}),
            "failed",
            "above the limit",
        ),  # fmt: skip
        Case("zip with only a broken image", "broken.zip", zip_of({"a.tif": b"II*\x00junk"}), "done"),
        Case(
            "truncated zip",
            "cut.zip",
            truncated(zip_of({"a.png": good_png, "b.png": good_png})),
            "failed",
            "truncated zip",
        ),  # fmt: skip
        Case("tracking: one frame", "one.tif", good_tif, "failed", "frame", "tracking"),
        Case("tracking: text", "movie.tif", b"not a movie", "failed", "not an image", "tracking"),
    ]
    return cases


SERVER_LIMITS = {"max_zip_members": 50, "max_image_pixels": 4_000_000}  # the test server's (small) limits


def write_corpus(out: Path, cases: list[Case] | None = None) -> Path:
    """Write every case's file and ``manifest.json`` into ``out``; returns the manifest's path."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for index, case in enumerate(cases or build_corpus()):
        path = out / f"{index:03d}.bin"
        path.write_bytes(case.data)
        entry = {k: v for k, v in asdict(case).items() if k != "data"}
        manifest.append({**entry, "file": path.name, "bytes": len(case.data)})
    target = out / "manifest.json"
    target.write_text(json.dumps({"server_limits": SERVER_LIMITS, "cases": manifest}, indent=1))
    return target


def main(argv: list[str]) -> int:
    """Write the corpus to the directory named on the command line."""
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    print(write_corpus(Path(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
