"""Writing result archives: labels TIFF, overlay PNG, cells.csv, job.json."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import tifffile

from cellkiosk.measure.cells import write_cells_csv


def label_dtype(labels: np.ndarray) -> type[np.unsignedinteger[Any]]:
    """uint16 when the labels fit, else uint32."""
    return np.uint16 if int(labels.max(initial=0)) < 2**16 else np.uint32


def labels_tiff(pages: list[np.ndarray]) -> bytes:
    """Labels as a TIFF: one page per input page, uint16 or uint32."""
    stack = np.stack(pages)
    stack = stack.astype(label_dtype(stack))
    buf = io.BytesIO()
    tifffile.imwrite(buf, stack if len(pages) > 1 else stack[0], compression="zlib", photometric="minisblack")
    return buf.getvalue()


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def safe_stem(name: str) -> str:
    """A file-name stem safe inside an archive (no directories, no odd characters)."""
    stem = PurePosixPath(name.replace("\\", "/")).name
    for suffix in (".ome.tiff", ".ome.tif", ".tiff", ".tif", ".png", ".jpeg", ".jpg"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    cleaned = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in stem).strip("._")
    return cleaned or "image"


def write_segmentation_archive(
    target: Path,
    stem: str,
    labels_pages: list[np.ndarray],
    overlay_png: bytes,
    cell_rows: list[dict[str, object]],
    n_channels: int,
    job_info: dict[str, Any],
) -> None:
    """Write the result zip of one segmented image.

    The labels TIFF and the PNG are compressed already: they are stored as they are (deflating them again
    costs time and saves nothing), which also lets a reader take one labels page by a byte range.
    """
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{stem}_labels.tif", labels_tiff(labels_pages), compress_type=zipfile.ZIP_STORED)
        zf.writestr(f"{stem}_overlay.png", overlay_png, compress_type=zipfile.ZIP_STORED)
        text = io.StringIO()
        write_cells_csv(cell_rows, text, n_channels)
        zf.writestr("cells.csv", text.getvalue())
        zf.writestr("job.json", json.dumps(job_info, indent=2, default=str))
