"""The tracking job: a movie in (frames read and segmented one at a time); tracked labels, lineage, CTC, cells, GIF out.

Memory holds a few frames whatever the movie's length: frames are decoded when needed
(``consumer.tracking_input``), the label movie lives in a memmap in the job's temp folder, and the
tracked TIFF, CTC masks and cells.csv are written frame by frame.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import tifffile
from PIL import Image, ImageDraw

import cellkiosk
from cellkiosk.consumer.archive import file_sha256, label_dtype, safe_stem
from cellkiosk.consumer.context import JobContext
from cellkiosk.consumer.tracking_input import copy_label_movie, open_movie_file
from cellkiosk.core.jobs import Stage, result_prefix
from cellkiosk.core.params import TrackingJobParams, validate_params
from cellkiosk.imaging.channels import drop_alpha
from cellkiosk.imaging.movie import Movie
from cellkiosk.imaging.object_size import median_diameter
from cellkiosk.imaging.overlay import render_overlay
from cellkiosk.inference.size import SizeChoice
from cellkiosk.inference.timelapse import link_movie, model_input, plan_tracking, segment_and_link, sized_tracking
from cellkiosk.measure.cells import cell_columns, measure_cells
from cellkiosk.tracking.lineage import Lineage, relabel_frame
from cellkiosk.tracking.movie import write_ctc_result

if TYPE_CHECKING:  # pipelines.py imports this module to register it
    from cellkiosk.consumer.pipelines import Services

PREVIEW_MAX_PX = 512
PREVIEW_MAX_FRAMES = 100


def preview_frame(image: np.ndarray, page: np.ndarray, rows: list[dict[str, Any]], stride: int) -> Image.Image:
    """One GIF frame: track outlines in per-track colours with their ids, subsampled by ``stride``."""
    picture = Image.fromarray(render_overlay(image[::stride, ::stride], page[::stride, ::stride]))
    draw = ImageDraw.Draw(picture)
    for row in rows:
        xy = (float(row["centroid_x"]) / stride - 6, float(row["centroid_y"]) / stride - 5)
        draw.text(xy, str(row["track_id"]), fill=(255, 255, 255))
    return picture.convert("P", palette=Image.Palette.ADAPTIVE)


class FrameStack(Protocol):
    """A (T, Y, X, ...) stack read frame by frame: an array, a memmap or an ``imaging.movie.Movie``."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __len__(self) -> int: ...

    def __getitem__(self, t: int, /) -> np.ndarray: ...


@dataclass
class CellRows:
    """cells.csv written row by row as frames are measured, so rows never pile up in memory."""

    writer: csv.DictWriter[str]
    count: int = 0

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Write one frame's rows."""
        self.writer.writerows(rows)
        self.count += len(rows)


def tracked_pages(
    lineage: Lineage, labels: FrameStack, raw: FrameStack, name: str, cells: CellRows, preview: list[Image.Image]
) -> Iterator[np.ndarray]:
    """Yield each frame relabelled to track ids; its cells.csv rows are written and preview frame kept on the way."""
    parent: dict[object, int] = {t.track_id: t.parent for t in lineage.tracks}
    stride = max(1, -(-max(raw.shape[1:3]) // PREVIEW_MAX_PX))
    shown = set(np.linspace(0, len(labels) - 1, min(len(labels), PREVIEW_MAX_FRAMES)).round().astype(int).tolist())
    for t in range(len(labels)):
        page = relabel_frame(labels[t], lineage.links, t, lineage.node_track)
        image = raw[t]
        measured = measure_cells(page, image, name, t)
        frame_rows = [{**r, "track_id": r["label"], "parent": parent[r["label"]]} for r in measured]
        cells.add(frame_rows)
        if t in shown:
            preview.append(preview_frame(image, page, frame_rows, stride))
        yield page


def write_tracking_archive(
    target: Path, stem: str, lineage: Lineage, labels: FrameStack, raw: FrameStack, name: str, info: dict[str, Any]
) -> None:
    """Write the result zip: tracked TIFF, lineage.json, ctc/, cells.csv (a row per cell per frame), GIF, job.json.

    ``labels`` (T, Y, X) and ``raw`` (T, Y, X, C) are read one frame at a time (twice for the labels);
    the tracked TIFF, the CTC masks and cells.csv are written to disk as they go.
    """
    preview: list[Image.Image] = []
    dtype = label_dtype(lineage.node_track)
    columns = cell_columns(raw.shape[3])
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        tracked, cells_csv = Path(tmp) / "tracked.tif", Path(tmp) / "cells.csv"
        with cells_csv.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=[*columns[:3], "track_id", "parent", *columns[3:]])
            writer.writeheader()
            cells = CellRows(writer)
            pages = tracked_pages(lineage, labels, raw, name, cells, preview)
            shape = (len(labels), *raw.shape[1:3])
            tifffile.imwrite(tracked, pages, shape=shape, dtype=dtype, compression="zlib", photometric="minisblack")
        # its pages are zlib-compressed already: stored as is, the viewer reads one frame in place
        zf.write(tracked, f"{stem}_tracked.tif", compress_type=zipfile.ZIP_STORED)
        zf.writestr("lineage.json", json.dumps(lineage.to_json(), indent=1))
        try:
            ctc = write_ctc_result(Path(tmp) / "ctc", lineage, labels, np.asarray)  # type: ignore[arg-type]
            for path in sorted(ctc.iterdir()):
                zf.write(path, f"ctc/{path.name}")
        except ValueError as exc:  # more than 65,535 CTC tracks: the format is 16-bit
            info["notes"].append(f"no CTC result: {exc}")
        zf.write(cells_csv, "cells.csv")
        gif = io.BytesIO()
        preview[0].save(gif, format="GIF", save_all=True, append_images=preview[1:], duration=200, loop=0)
        zf.writestr(f"{stem}_preview.gif", gif.getvalue())
        zf.writestr("job.json", json.dumps({**info, "cells": cells.count}, indent=2, default=str))


def track_job_movie(ctx: JobContext, services: Services, movie: Movie, tmp: Path) -> str:
    """Segment (or copy ``params.labels``) into a label movie on disk, link it and write ``tmp/result.zip``;
    frames are streamed, so memory holds a few frames whatever the movie's length. Returns the file stem."""
    job = ctx.job
    params = validate_params(job.type, job.params)
    assert isinstance(params, TrackingJobParams) and job.input is not None
    plan = plan_tracking(services.models, job.model, params)
    name = job.input_name or Path(job.input).name
    data = model_input(plan, movie, params.channels)
    raw = movie.mapped(lambda f: drop_alpha(f, movie.source_axes))
    # uint32 whatever the frames hold: a later frame may need it, and the file is on disk, not in RAM
    labels = np.lib.format.open_memmap(tmp / "labels.npy", mode="w+", dtype=np.uint32, shape=movie.shape[:3])
    size: SizeChoice | None = None
    if params.labels:
        copy_label_movie(ctx, params.labels, tmp, labels)
        ctx.stage(Stage.TRACK, 76)
        tparams = sized_tracking(plan, median_diameter(labels[0]) if labels[0].any() else None)
        lineage = link_movie(plan, labels, data, tparams)
    else:
        size, lineage, tparams = segment_and_link(
            plan, data, params, services.predictor, labels, ctx.settings.predict_batch_size,
            ctx.settings.max_image_pixels, name, ctx.stage,
        )  # fmt: skip
    ctx.stage(Stage.MEASURE, 85)
    card = plan.card
    info = {
        "job_id": job.id, "type": job.type, "input": name, "input_sha256": file_sha256(tmp / "input"),
        "movie_shape_tyxc": list(movie.shape), "source_axes": movie.source_axes, "notes": movie.notes,
        "model": {"name": card.name, "version": card.version}, "predictor": services.predictor_name,
        "segmented_by": "params.labels" if params.labels else plan.segmented_by,
        "scale": 1.0 if size is None else size.scale, "size": None if size is None else size.to_json(),
        "params": job.params, "tracking": tparams.model_dump(), "frames": len(labels),
        "postprocess": None if params.labels else asdict(plan.postprocess),
        "tracks": len(lineage.tracks), "divisions": sum(t.division_frame is not None for t in lineage.tracks),
        "cellkiosk_version": cellkiosk.__version__, "created_at": job.created_at,
        "timings_s": ctx.snapshot_timings(),
    }  # fmt: skip
    stem = safe_stem(name[:-4] if name.lower().endswith(".zip") else name)
    write_tracking_archive(tmp / "result.zip", stem, lineage, labels, raw, name, info)
    return stem


def run_tracking(ctx: JobContext, services: Services) -> None:
    """Segment every frame of a movie (or take the user's label movie), link, write and upload the archive."""
    job = ctx.job
    params = validate_params(job.type, job.params)
    assert isinstance(params, TrackingJobParams) and job.input is not None
    with tempfile.TemporaryDirectory(prefix=f"cellkiosk-{job.id}-") as tmp:
        ctx.stage(Stage.DOWNLOAD, 2)
        local = Path(tmp) / "input"
        ctx.storage.download_file(job.input, local)
        ctx.stage(Stage.PREPROCESS, 4)
        with open_movie_file(local, job.input_name or Path(job.input).name, params.axes, ctx.settings) as movie:
            stem = track_job_movie(ctx, services, movie, Path(tmp))
        ctx.stage(Stage.UPLOAD, 95)
        key = f"{result_prefix(job.id)}{stem}_results.zip"
        ctx.storage.put_file(key, Path(tmp) / "result.zip", content_type="application/zip")
    ctx.complete(key)
