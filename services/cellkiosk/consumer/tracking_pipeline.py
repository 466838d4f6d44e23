"""The tracking job: a movie in (frames segmented one at a time); tracked labels, lineage, CTC, cells, GIF out."""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import tifffile
from PIL import Image, ImageDraw

import cellkiosk
from cellkiosk.consumer.archive import file_sha256, label_dtype, safe_stem
from cellkiosk.consumer.batch import check_zip
from cellkiosk.consumer.context import JobContext
from cellkiosk.core.errors import BadInputError
from cellkiosk.core.jobs import Stage, result_prefix
from cellkiosk.core.params import TrackingJobParams, validate_params
from cellkiosk.core.settings import ConsumerSettings
from cellkiosk.core.storage import KeyNotFoundError
from cellkiosk.imaging.channels import drop_alpha, select_channels
from cellkiosk.imaging.io import LoadedImage, is_image_name, read_image_bytes
from cellkiosk.imaging.overlay import render_overlay
from cellkiosk.imaging.resize import resize_frame, resize_labels
from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.segment import labels_from_heads, predict_frames, watershed_params
from cellkiosk.measure.cells import cell_columns, measure_cells
from cellkiosk.tracking.lineage import Lineage, relabel_frame
from cellkiosk.tracking.movie import track_movie, write_ctc_result
from cellkiosk.tracking.params import TrackingParams

if TYPE_CHECKING:  # pipelines.py imports this module to register it
    from cellkiosk.consumer.pipelines import Services

PREVIEW_MAX_PX = 512
PREVIEW_MAX_FRAMES = 100


def natural_key(name: str) -> list[Any]:
    """Sort key that puts ``frame2`` before ``frame10`` (digit runs compare as numbers)."""
    return [int(part) if part.isdecimal() else part.lower() for part in re.split(r"(\d+)", name)]


def read_frame_zip(local: Path, name: str, settings: ConsumerSettings) -> LoadedImage:
    """A zip of 2-D frames as one movie (T, Y, X, C) in natural name order; axes 'TYXS' for colour frames."""
    frames: list[LoadedImage] = []
    try:
        with zipfile.ZipFile(local) as zf:
            infos = check_zip(zf, name, settings.max_zip_members, settings.max_zip_bytes, settings.max_zip_ratio)
            for info in sorted((i for i in infos if is_image_name(i.filename)), key=lambda i: natural_key(i.filename)):
                with zf.open(info) as fh:
                    data = fh.read(info.file_size + 1)
                if len(data) > info.file_size:
                    raise BadInputError(f"{name}: zip member '{info.filename}' is larger than its header says")
                frame = read_image_bytes(io.BytesIO(data), info.filename, None, settings.max_image_pixels)
                if frame.data.shape[0] != 1 or (frames and frame.data.shape != frames[0].data.shape):
                    raise BadInputError(f"{name}: every frame in a movie zip must be one 2-D image of the same "
                                        f"size; '{info.filename}' is {frame.data.shape[:3]} (pages, Y, X)")  # fmt: skip
                frames.append(frame)
                if len(frames) * frame.data.size > settings.max_image_pixels:
                    raise BadInputError(f"{name}: the movie has over {settings.max_image_pixels:,} values, this "
                                        "server's limit")  # fmt: skip
    except (zipfile.BadZipFile, EOFError, NotImplementedError) as exc:  # corrupt, truncated, odd compression
        raise BadInputError(f"{name}: not a readable zip ({exc})") from exc
    if not frames:
        raise BadInputError(f"{name}: the zip holds no image files (TIFF, PNG or JPEG)")
    notes = [f"{len(frames)} frames from the zip in natural name order, {len(infos) - len(frames)} other files ignored"]
    return LoadedImage(np.concatenate([f.data for f in frames]), "T" + frames[0].source_axes, notes)


def read_movie(local: Path, name: str, axes: str | None, settings: ConsumerSettings) -> LoadedImage:
    """Read a movie (multi-page TIFF, or a zip of frames) as (T, Y, X, C); BadInputError unless 2-D + time."""
    if zipfile.is_zipfile(local):
        movie = read_frame_zip(local, name, settings)
    else:
        with local.open("rb") as fh:
            movie = read_image_bytes(fh, name, axes, settings.max_image_pixels)
    if "Z" in movie.source_axes.upper():
        raise BadInputError(f"{name}: axes '{movie.source_axes}' include Z; tracking works on 2-D time-lapse movies "
                            "(T×Y×X); if the pages are time points, pass params.axes (e.g. 'TYX')")  # fmt: skip
    if movie.data.shape[0] < 2:
        raise BadInputError(f"{name}: a tracking job needs a movie of at least 2 frames, this is one 2-D image "
                            f"{movie.data.shape[1:3]}; send a multi-page TIFF (T×Y×X) or a zip of frames "
                            "(a stack read as colour needs params.axes, e.g. 'TYX')")  # fmt: skip
    return movie


def read_label_movie(ctx: JobContext, key: str, tmp: Path, shape: tuple[int, ...]) -> list[np.ndarray]:
    """The user's label movie (``params.labels``) as one integer frame per time point, checked against ``shape``."""
    local = tmp / "labels"
    try:
        ctx.storage.download_file(key, local)
    except KeyNotFoundError:
        raise BadInputError(f"params.labels: no upload with key '{key}' (it may have expired)") from None
    labels = read_movie(local, "params.labels", None, ctx.settings).data
    if labels.shape[:3] != tuple(shape) or labels.shape[3] != 1:
        raise BadInputError(f"params.labels: the label movie is {labels.shape} (T, Y, X, C) but the movie is "
                            f"{tuple(shape)} (T, Y, X); they must match, with one channel of labels")  # fmt: skip
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise BadInputError(f"params.labels: labels must be non-negative integers, got {labels.dtype}")
    return [frame[..., 0].astype(label_dtype(frame), copy=False) for frame in labels]


def segment_movie(
    ctx: JobContext, services: Services, card: ModelCard, data: np.ndarray, params: TrackingJobParams, scale: float
) -> list[np.ndarray]:
    """Labels of every frame, frames batched through the predictor (``predict_batch_size`` frames' float
    heads at a time); progress and a cancel point per frame (5 % to 75 %)."""
    ws = watershed_params(card, params.watershed_overrides())
    tile_px = params.tile_px or card.inputs.tile_px
    n = data.shape[0]

    def scaled() -> Iterator[np.ndarray]:
        for t in range(n):
            ctx.stage(Stage.PREDICT, 5 + 70 * t / n)
            yield resize_frame(data[t], scale)

    frames = []
    heads_of_frames = predict_frames(
        scaled(), card, services.predictor, tile_px, card.inputs.tile_overlap_px,
        ctx.settings.predict_batch_size, params.flip_tta,
    )  # fmt: skip
    for t, heads in enumerate(heads_of_frames):
        ctx.stage(Stage.POSTPROCESS, 5 + 70 * (t + 0.8) / n)
        labels = resize_labels(labels_from_heads(heads, card, ws), data.shape[1:3])
        frames.append(labels.astype(label_dtype(labels)))
    return frames


def preview_frame(image: np.ndarray, page: np.ndarray, rows: list[dict[str, Any]], stride: int) -> Image.Image:
    """One GIF frame: track outlines in per-track colours with their ids, subsampled by ``stride``."""
    picture = Image.fromarray(render_overlay(image[::stride, ::stride], page[::stride, ::stride]))
    draw = ImageDraw.Draw(picture)
    for row in rows:
        xy = (float(row["centroid_x"]) / stride - 6, float(row["centroid_y"]) / stride - 5)
        draw.text(xy, str(row["track_id"]), fill=(255, 255, 255))
    return picture.convert("P", palette=Image.Palette.ADAPTIVE)


def tracked_pages(
    lineage: Lineage, labels: list[np.ndarray], raw: np.ndarray, name: str, rows: list[dict[str, Any]],
    preview: list[Image.Image],
) -> Iterator[np.ndarray]:  # fmt: skip
    """Yield each frame relabelled to track ids; its cells.csv rows and preview frame are collected on the way."""
    parent: dict[object, int] = {t.track_id: t.parent for t in lineage.tracks}
    stride = max(1, -(-max(raw.shape[1:3]) // PREVIEW_MAX_PX))
    shown = set(np.linspace(0, len(labels) - 1, min(len(labels), PREVIEW_MAX_FRAMES)).round().astype(int).tolist())
    for t, frame in enumerate(labels):
        page = relabel_frame(frame, lineage.links, t, lineage.node_track)
        measured = measure_cells(page, raw[t], name, t)
        frame_rows = [{**r, "track_id": r["label"], "parent": parent[r["label"]]} for r in measured]
        rows += frame_rows
        if t in shown:
            preview.append(preview_frame(raw[t], page, frame_rows, stride))
        yield page


def write_tracking_archive(
    target: Path, stem: str, lineage: Lineage, labels: list[np.ndarray], raw: np.ndarray, name: str,
    info: dict[str, Any],
) -> None:  # fmt: skip
    """Write the result zip: tracked TIFF, lineage.json, ctc/, cells.csv (a row per cell per frame), GIF, job.json."""
    rows: list[dict[str, Any]] = []
    preview: list[Image.Image] = []
    dtype = label_dtype(lineage.node_track)
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        tracked = Path(tmp) / "tracked.tif"
        pages = tracked_pages(lineage, labels, raw, name, rows, preview)
        tifffile.imwrite(
            tracked,
            pages,
            shape=(len(labels), *raw.shape[1:3]),
            dtype=dtype,
            compression="zlib",
            photometric="minisblack",
        )
        zf.write(tracked, f"{stem}_tracked.tif")
        zf.writestr("lineage.json", json.dumps(lineage.to_json(), indent=1))
        try:
            ctc = write_ctc_result(Path(tmp) / "ctc", lineage, labels, np.asarray)
            for path in sorted(ctc.iterdir()):
                zf.write(path, f"ctc/{path.name}")
        except ValueError as exc:  # more than 65,535 CTC tracks: the format is 16-bit
            info["notes"].append(f"no CTC result: {exc}")
        columns = cell_columns(raw.shape[3])
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=[*columns[:3], "track_id", "parent", *columns[3:]])
        writer.writeheader()
        writer.writerows(rows)
        zf.writestr("cells.csv", text.getvalue())
        gif = io.BytesIO()
        preview[0].save(gif, format="GIF", save_all=True, append_images=preview[1:], duration=200, loop=0)
        zf.writestr(f"{stem}_preview.gif", gif.getvalue())
        zf.writestr("job.json", json.dumps({**info, "cells": len(rows)}, indent=2, default=str))


def run_tracking(ctx: JobContext, services: Services) -> None:
    """Segment every frame of a movie (or take the user's label movie), link, write and upload the archive."""
    job = ctx.job
    params = validate_params(job.type, job.params)
    assert isinstance(params, TrackingJobParams) and job.input is not None
    card = services.models.get(job.model, job.type)
    seg_card = services.models.get(card.segmentation_model or "nuclear", "segmentation")
    tparams = TrackingParams.model_validate({**card.tracking, **params.tracking.model_dump(exclude_none=True)})
    scale = float(params.scale or card.segmentation.get("scale", 1.0))
    name = job.input_name or Path(job.input).name
    with tempfile.TemporaryDirectory(prefix=f"cellkiosk-{job.id}-") as tmp:
        ctx.stage(Stage.DOWNLOAD, 2)
        local = Path(tmp) / "input"
        ctx.storage.download_file(job.input, local)
        ctx.stage(Stage.PREPROCESS, 4)
        movie = read_movie(local, name, params.axes, ctx.settings)
        data = select_channels(movie.data, seg_card.n_channels, params.channels, seg_card.name, movie.source_axes)
        raw = drop_alpha(movie.data, movie.source_axes)
        if params.labels:
            labels = read_label_movie(ctx, params.labels, Path(tmp), data.shape[:3])
        else:
            labels = segment_movie(ctx, services, seg_card, data, params, scale)
        ctx.stage(Stage.TRACK, 76)
        lineage = track_movie(iter(labels), (data[t, ..., 0] for t in range(len(labels))), tparams)
        ctx.stage(Stage.MEASURE, 85)
        info = {
            "job_id": job.id, "type": job.type, "input": name, "input_sha256": file_sha256(local),
            "movie_shape_tyxc": list(movie.data.shape), "source_axes": movie.source_axes, "notes": movie.notes,
            "model": {"name": card.name, "version": card.version}, "predictor": services.predictor_name,
            "segmented_by": "params.labels" if params.labels else f"{seg_card.name}:{seg_card.version}", "scale": scale,
            "params": job.params, "tracking": tparams.model_dump(), "frames": len(labels),
            "tracks": len(lineage.tracks), "divisions": sum(t.division_frame is not None for t in lineage.tracks),
            "cellkiosk_version": cellkiosk.__version__, "created_at": job.created_at,
            "timings_s": ctx.snapshot_timings(),
        }  # fmt: skip
        stem = safe_stem(name[:-4] if name.lower().endswith(".zip") else name)
        archive = Path(tmp) / "result.zip"
        write_tracking_archive(archive, stem, lineage, labels, raw, name, info)
        ctx.stage(Stage.UPLOAD, 95)
        key = f"{result_prefix(job.id)}{stem}_results.zip"
        ctx.storage.put_file(key, archive, content_type="application/zip")
    ctx.complete(key)
