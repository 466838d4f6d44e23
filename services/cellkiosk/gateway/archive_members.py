"""Reading single members of a stored result archive without fetching the whole object.

The zip's central directory sits at its end and each member's bytes at a known offset, so with
``Storage.open_seekable`` (a file locally, ranged GETs on S3) one member costs its own bytes. Label
TIFFs are stored uncompressed in the zip (their pages are zlib-compressed already), so tifffile reads
them in place and decodes one page: one frame of a 100-frame movie costs one frame.
"""

from __future__ import annotations

import io
import struct
import zipfile
from typing import BinaryIO

import tifffile

LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., file name length, extra field length (30 bytes)


def member_offset(fh: BinaryIO, info: zipfile.ZipInfo) -> int:
    """Where the bytes of a stored (uncompressed) member begin in the archive."""
    fh.seek(info.header_offset)
    signature, name_len, extra_len = LOCAL_HEADER.unpack(fh.read(LOCAL_HEADER.size))
    if signature != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"no local header for {info.filename}")
    return info.header_offset + LOCAL_HEADER.size + name_len + extra_len


def open_tiff_member(zf: zipfile.ZipFile, fh: BinaryIO, name: str) -> tifffile.TiffFile:
    """The TIFF member ``name``: read in place when stored, from memory when deflated (older archives)."""
    info = zf.getinfo(name)
    if info.compress_type == zipfile.ZIP_STORED:
        return tifffile.TiffFile(fh, offset=member_offset(fh, info), size=info.file_size)
    return tifffile.TiffFile(io.BytesIO(zf.read(name)))
