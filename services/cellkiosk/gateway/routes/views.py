"""What the web portal needs to show results without downloading them, and to look inside uploads.

Label images travel to the browser as lossless RGB PNGs (id = R + 256·G + 65536·B), the input image
as an 8-bit PNG of what the overlay is drawn on; neither needs a TIFF decoder in the browser.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import numpy as np
import tifffile
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, Field

from cellkiosk.core.errors import BadInputError
from cellkiosk.core.jobs import Job
from cellkiosk.core.storage import KeyNotFoundError, Storage
from cellkiosk.gateway.archive_members import open_tiff_member
from cellkiosk.gateway.auth import Caller
from cellkiosk.gateway.deps import CallerDep, QueueDep, StoreDep, require_api_key
from cellkiosk.gateway.routes.jobs import done_or_409, owned_upload_or_404
from cellkiosk.imaging.channels import drop_alpha
from cellkiosk.imaging.io import CHANNEL_AXES, PAGE_AXES, is_image_name, read_image_bytes
from cellkiosk.imaging.overlay import display_image
from cellkiosk.imaging.pages import PageOutOfRangeError, read_input_page

router = APIRouter(prefix="/api", tags=["views"], dependencies=[Depends(require_api_key)])
MAX_VIEW_SIDE_PX = 4096  # larger images are shown subsampled by a whole stride (canvas size limits)
MAX_INSPECT_BYTES = 512 << 20  # uploads larger than this are not looked into before the analysis
MAX_PNG_LABEL = (1 << 24) - 1  # what three 8-bit channels hold
IMMUTABLE = {"Cache-Control": "private, max-age=86400"}  # a finished job's results never change
LABELS_SUFFIX = "_labels.tif"  # a segmentation job's labels
TRACKED_SUFFIX = "_tracked.tif"  # a tracking job's movie of track ids
LINEAGE_FILE = "lineage.json"  # a tracking job's tracks, parents and daughters
PageQuery = Annotated[int, Query(ge=0, description="Page (frame) of a multi-page image, 0-based")]


class ViewInfo(BaseModel):
    """One labelled image of a finished job, as the portal's viewer needs it."""

    stem: str
    input_name: str | None
    pages: int
    height: int
    width: int
    stride: int
    labels_file: str
    overlay_file: str | None
    cells_file: str | None
    kind: Literal["labels", "tracks"] = "labels"
    lineage_file: str | None = None
    size: dict[str, Any] | None = Field(
        None, description="The object size the job segmented at (job.json's size: diameter_px, scale, basis)"
    )


class UploadInfo(BaseModel):
    """What an upload holds, read from its header before any analysis."""

    key: str
    name: str
    size: int
    kind: Literal["image", "zip", "unknown"]
    pages: int | None = None
    height: int | None = None
    width: int | None = None
    channels: int | None = None
    dtype: str | None = None
    axes: str | None = None
    images: int | None = None
    note: str | None = None
    error: str | None = None


def view_stride(height: int, width: int, max_side: int = MAX_VIEW_SIDE_PX) -> int:
    """The whole-number subsampling that brings the longer side to at most ``max_side``."""
    return max(1, -(-max(height, width) // max_side))


def encode_labels_png(labels: np.ndarray) -> bytes:
    """Encode (Y, X) labels losslessly as an RGB PNG: id = R + 256·G + 65536·B."""
    ids = labels.astype(np.uint32, copy=False)
    rgb = np.stack([ids & 0xFF, (ids >> 8) & 0xFF, (ids >> 16) & 0xFF], axis=-1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def encode_rgb_png(rgb: np.ndarray) -> bytes:
    """Encode a (Y, X, 3) uint8 image as PNG."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def display_channels(image: np.ndarray, source_axes: str, channels: list[int] | None) -> np.ndarray:
    """The (Y, X, C) channels to show: the one picked for the model if just one, else all but alpha."""
    if channels and len(channels) == 1 and 0 <= channels[0] < image.shape[-1]:
        return image[..., channels[0] : channels[0] + 1]
    return drop_alpha(image, source_axes)


@contextmanager
def stored_file(storage: Storage, key: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="cellkiosk-view-") as tmp:
        local = Path(tmp) / "object"
        storage.download_file(key, local)
        yield local


def single_job(queue: QueueDep, storage: Storage, job_id: str, caller: Caller) -> tuple[Job, str]:
    job, key = done_or_409(queue, storage, job_id, caller)
    if job.children_total:
        raise HTTPException(
            400,
            f"job '{job_id}' is a batch of {job.children_total} images: view each through its own job "
            f"(GET /api/jobs/{job_id}/children)",
        )
    return job, key


def labels_member(names: list[str], stem: str) -> str:
    """The archive member with the labels of ``stem`` (segmentation or tracking); 404 when there is none."""
    for suffix in (LABELS_SUFFIX, TRACKED_SUFFIX):
        if f"{stem}{suffix}" in names:
            return f"{stem}{suffix}"
    raise HTTPException(404, f"no labels for '{stem}' in this result; see /view for the images it holds")


def _labels_page(storage: Storage, key: str, stem: str, page: int) -> np.ndarray:
    """One (Y, X) page of the labels; only that page is decoded (a movie's play asks for each frame)."""
    with storage.open_seekable(key) as fh, zipfile.ZipFile(fh) as zf:
        with open_tiff_member(zf, fh, labels_member(zf.namelist(), stem)) as tif:
            series = tif.series[0]
            count = int(np.prod(series.shape[:-2], dtype=np.int64)) if len(series.shape) > 2 else 1
            _page_or_404(count, page)
            return np.asarray(series.asarray(key=page) if count > 1 else series.asarray())


def job_size(zf: zipfile.ZipFile, names: list[str]) -> dict[str, Any] | None:
    """The ``size`` record of the archive's job.json (None for older results or a damaged record)."""
    if "job.json" not in names:
        return None
    try:
        size = json.loads(zf.read("job.json")).get("size")
    except (ValueError, AttributeError):
        return None
    return size if isinstance(size, dict) else None


def _page_or_404(count: int, page: int) -> None:
    if page >= count:
        raise HTTPException(404, f"page {page} does not exist: this image has {count} page(s), numbered from 0")


@router.get("/jobs/{job_id}/view", response_model=list[ViewInfo], summary="The labelled images of a finished job")
def view_info(job_id: str, queue: QueueDep, storage: StoreDep, caller: CallerDep) -> list[ViewInfo]:
    """Size, pages and file names of each labelled image (one for a segmentation job)."""
    job, key = single_job(queue, storage, job_id, caller)
    out = []
    with storage.open_seekable(key) as fh, zipfile.ZipFile(fh) as zf:
        names = zf.namelist()
        size = job_size(zf, names)
        for name in names:
            suffix = next((s for s in (LABELS_SUFFIX, TRACKED_SUFFIX) if name.endswith(s)), None)
            if "/" in name or suffix is None:
                continue
            stem = name[: -len(suffix)]
            tracks = suffix == TRACKED_SUFFIX
            with open_tiff_member(zf, fh, name) as tif:
                shape = tif.series[0].shape
            pages = int(np.prod(shape[:-2], dtype=np.int64)) if len(shape) > 2 else 1
            height, width = int(shape[-2]), int(shape[-1])
            overlay = f"{stem}_overlay.png"
            out.append(
                ViewInfo(
                    stem=stem,
                    input_name=job.input_name,
                    pages=pages,
                    height=height,
                    width=width,
                    stride=view_stride(height, width),
                    labels_file=name,
                    overlay_file=overlay if overlay in names else None,
                    cells_file="cells.csv" if "cells.csv" in names else None,
                    kind="tracks" if tracks else "labels",
                    lineage_file=LINEAGE_FILE if tracks and LINEAGE_FILE in names else None,
                    size=size,
                )
            )
    return out


@router.get(
    "/jobs/{job_id}/view/{stem}/labels.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
    summary="One page of the labels as an RGB PNG (id = R + 256·G + 65536·B)",
)
def labels_png(
    job_id: str, stem: str, queue: QueueDep, storage: StoreDep, caller: CallerDep, page: PageQuery = 0
) -> Response:
    """Lossless labels of one page, subsampled by the view's stride for very large images."""
    _, key = single_job(queue, storage, job_id, caller)
    labels = _labels_page(storage, key, stem, page)
    if int(labels.max(initial=0)) > MAX_PNG_LABEL:
        raise HTTPException(422, f"labels above {MAX_PNG_LABEL:,} cannot be shown; download the labels TIFF")
    stride = view_stride(*labels.shape)
    return Response(encode_labels_png(labels[::stride, ::stride]), media_type="image/png", headers=IMMUTABLE)


@router.get(
    "/jobs/{job_id}/view/{stem}/image.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
    summary="One page of the input image, normalized to 8 bits, as a PNG",
)
def image_png(
    job_id: str, stem: str, queue: QueueDep, storage: StoreDep, caller: CallerDep, page: PageQuery = 0
) -> Response:
    """The image the labels were made from (percentile-normalized; the model's channel if one was picked)."""
    job, key = single_job(queue, storage, job_id, caller)
    with storage.open_seekable(key) as fh, zipfile.ZipFile(fh) as zf:
        labels_member(zf.namelist(), stem)  # 404 for a stem this job does not have
    if not job.input or not storage.exists(job.input):
        raise HTTPException(410, "the input image has expired; the labels and cells.csv are still here")
    name = job.input_name or PurePosixPath(job.input).name
    axes = job.params.get("axes") if isinstance(job.params.get("axes"), str) else None
    try:
        with storage.open_seekable(job.input) as fh:
            shown = read_input_page(fh, name, axes, page)  # only this page's TIFF pages are read
    except BadInputError as exc:
        raise HTTPException(422, str(exc)) from None
    except PageOutOfRangeError as exc:
        _page_or_404(exc.pages, page)
        raise
    image = display_channels(shown.data, shown.source_axes, job.params.get("channels"))
    stride = view_stride(*image.shape[:2])
    return Response(encode_rgb_png(display_image(image[::stride, ::stride])), media_type="image/png", headers=IMMUTABLE)


def describe_image(fh: io.BufferedReader, name: str) -> UploadInfo:
    """Pages, size, channels and dtype from an image's header (pixels are not decoded)."""
    info = UploadInfo(key="", name=name, size=0, kind="image")
    head = fh.read(8)
    fh.seek(0)
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        try:
            with tifffile.TiffFile(fh) as tif:
                series = tif.series[0]
                axes, shape, info.dtype = series.axes, series.shape, str(series.dtype)
                same = sum(1 for s in tif.series if s.shape == shape)
        except (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError) as exc:
            raise BadInputError(f"{name}: not a readable TIFF ({exc})") from exc
        sizes = dict(zip(axes, shape, strict=True))
        info.axes = axes
        info.height, info.width = sizes.get("Y"), sizes.get("X")
        info.pages = same * int(np.prod([n for a, n in sizes.items() if a in PAGE_AXES], dtype=np.int64))
        info.channels = int(np.prod([n for a, n in sizes.items() if a in CHANNEL_AXES], dtype=np.int64))
        return info
    if head.startswith(b"\x89PNG") or head[:3] == b"\xff\xd8\xff":
        try:
            with Image.open(fh) as img:
                info.width, info.height, info.channels = img.width, img.height, len(img.getbands())
                info.pages, info.axes, info.dtype = 1, "YXS", "uint16" if img.mode.startswith("I") else "uint8"
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            raise BadInputError(f"{name}: not a readable image ({exc})") from exc
        return info
    read_image_bytes(fh, name)  # raises the reader's own words: empty, or not an image
    raise BadInputError(f"{name}: not an image")


def describe_zip(local: Path, name: str) -> UploadInfo:
    """How many image files a zip holds (hidden files and folders are not counted)."""
    with zipfile.ZipFile(local) as zf:
        members = [i.filename for i in zf.infolist() if not i.is_dir()]
    visible = [m for m in members if not any(p.startswith(".") or p == "__MACOSX" for p in PurePosixPath(m).parts)]
    images = sum(1 for m in visible if is_image_name(m))
    info = UploadInfo(key="", name=name, size=0, kind="zip", images=images)
    if not images:
        info.error = f"{name}: the zip holds no image files (TIFF, PNG or JPEG)"
    elif images < len(visible):
        info.note = f"{len(visible) - images} file(s) in the zip are not images and will be skipped"
    return info


@router.get("/uploads/info", response_model=UploadInfo, summary="Look inside an upload before analysing it")
def upload_info(
    key: Annotated[str, Query(description="Upload key from POST /api/uploads")],
    storage: StoreDep,
    queue: QueueDep,
    caller: CallerDep,
) -> UploadInfo:
    """Image size, pages and channels (for channel mapping), a zip's image count, or why it is not an image."""
    if not key.startswith("uploads/"):
        raise HTTPException(400, f"'{key}' is not an upload key (they start with 'uploads/')")
    owned_upload_or_404(queue, caller, key)
    name = PurePosixPath(key).name
    try:
        size = storage.size(key)
    except KeyNotFoundError:
        raise HTTPException(404, f"no upload with key '{key}' (it may have expired)") from None
    if size > MAX_INSPECT_BYTES:
        return UploadInfo(key=key, name=name, size=size, kind="unknown", note="too large to look inside in advance")
    with stored_file(storage, key) as local:
        try:
            if zipfile.is_zipfile(local):
                info = describe_zip(local, name)
            else:
                with local.open("rb") as fh:
                    info = describe_image(fh, name)
        except BadInputError as exc:
            info = UploadInfo(key=key, name=name, size=size, kind="unknown", error=str(exc))
        except zipfile.BadZipFile as exc:
            info = UploadInfo(key=key, name=name, size=size, kind="zip", error=f"{name}: not a readable zip ({exc})")
    return info.model_copy(update={"key": key, "size": size})
