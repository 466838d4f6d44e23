"""Pipelines per job type: from a downloaded input to an uploaded result archive."""

from __future__ import annotations

import tempfile
import zipfile
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

import cellkiosk
from cellkiosk.consumer.archive import file_sha256, safe_stem, write_segmentation_archive
from cellkiosk.consumer.batch import fan_out_zip
from cellkiosk.consumer.context import JobContext
from cellkiosk.consumer.tracking_pipeline import run_tracking
from cellkiosk.core.jobs import Stage, result_prefix
from cellkiosk.core.params import SegmentationParams, validate_params
from cellkiosk.imaging.channels import drop_alpha, select_channels
from cellkiosk.imaging.io import check_pixels, read_image_bytes
from cellkiosk.imaging.overlay import preview_png
from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.predictor import Predictor
from cellkiosk.inference.segment import labels_at_size, watershed_params
from cellkiosk.inference.size import SizeChoice, check_scaled_size, choose_size, predict_at_size, reusable_heads
from cellkiosk.inference.store import ModelStore
from cellkiosk.measure.cells import measure_cells
from cellkiosk.postprocess.deep_watershed import WatershedParams


@dataclass
class Services:
    """The long-lived things a pipeline uses besides the job context."""

    models: ModelStore
    predictor: Predictor
    predictor_name: str


def run_segmentation(ctx: JobContext, services: Services) -> None:
    """Segment every page of one image (or fan a zip out into child jobs); the archive is written and
    uploaded by :func:`finish_segmentation`, deferred to the worker's finisher thread."""
    job = ctx.job
    params = validate_params(job.type, job.params)
    assert isinstance(params, SegmentationParams) and job.input is not None
    card = services.models.get(job.model, job.type)
    name = job.input_name or Path(job.input).name
    with tempfile.TemporaryDirectory(prefix=f"cellkiosk-{job.id}-") as tmp:
        ctx.stage(Stage.DOWNLOAD, 2)
        local = Path(tmp) / "input"
        ctx.storage.download_file(job.input, local)
        if zipfile.is_zipfile(local) and job.parent is None:
            ctx.stage(Stage.FANOUT, 5)
            fan_out_zip(ctx, local, name)
            return
        ctx.stage(Stage.PREPROCESS, 4)
        with local.open("rb") as fh:
            loaded = check_pixels(read_image_bytes(fh, name, params.axes, ctx.settings.max_image_pixels), name)
        ctx.lap("decode")
        input_sha256 = file_sha256(local)
    data = select_channels(loaded.data, card.n_channels, params.channels, card.name, loaded.source_axes)
    ws = watershed_params(card, params.watershed_overrides())
    tile_px = params.tile_px or card.inputs.tile_px
    raw = drop_alpha(loaded.data, loaded.source_axes)  # measured: every real channel, alpha excluded
    ctx.stage(Stage.SIZE, 5)  # one scale for every page, from the first
    size = choose_size(
        [data[0]], card, services.predictor, params.diameter, loaded.pixel_size_um,
        ctx.settings.predict_batch_size, ctx.settings.max_image_pixels,
    )  # fmt: skip
    check_scaled_size(data.shape, size.scale, ctx.settings.max_image_pixels, name)
    reused = reusable_heads(size, card, tile_px, params.flip_tta) is not None  # job.json says so
    pages, rows = segment_pages(ctx, services, card, data, raw, name, params, ws, tile_px, size)
    info = {
        "job_id": job.id, "type": job.type, "input": name, "input_sha256": input_sha256,
        "input_shape_pyxc": list(loaded.data.shape), "source_axes": loaded.source_axes, "notes": loaded.notes,
        "model": {"name": card.name, "version": card.version}, "params": job.params,
        "postprocess": asdict(ws), "size": size.to_json() | {"first_page_from_estimate": reused},
        "pixel_size_um": loaded.pixel_size_um,
        "tile_px": tile_px, "predictor": services.predictor_name,
        "cellkiosk_version": cellkiosk.__version__, "cells": len(rows), "created_at": job.created_at,
    }  # fmt: skip
    ctx.defer(partial(finish_segmentation, ctx, name, data[0], pages, rows, raw.shape[-1], info))


def finish_segmentation(
    ctx: JobContext,
    name: str,
    first_page: np.ndarray,
    pages: list[np.ndarray],
    rows: list[dict[str, object]],
    n_channels: int,
    info: dict[str, Any],
) -> None:
    """Write the result archive (labels, overlay of the first page, cells.csv, job.json), upload it, complete."""
    ctx.stage(Stage.UPLOAD, 92)
    stem = safe_stem(name)
    with tempfile.TemporaryDirectory(prefix=f"cellkiosk-{ctx.job.id}-") as tmp:
        archive = Path(tmp) / "result.zip"
        overlay = preview_png(first_page, pages[0])
        info = info | {"timings_s": ctx.snapshot_timings()}
        write_segmentation_archive(archive, stem, pages, overlay, rows, n_channels, info)
        ctx.lap("encode")
        key = f"{result_prefix(ctx.job.id)}{stem}_results.zip"
        ctx.storage.put_file(key, archive, content_type="application/zip")
    ctx.complete(key)


def segment_pages(
    ctx: JobContext,
    services: Services,
    card: ModelCard,
    data: np.ndarray,
    raw: np.ndarray,
    name: str,
    params: SegmentationParams,
    ws: WatershedParams,
    tile_px: int,
    size: SizeChoice,
) -> tuple[list[np.ndarray], list[dict[str, object]]]:
    """Labels and measurement rows of every page (resized by ``size.scale`` for the network, labels mapped back;
    the first page's prediction may be the size estimate's, :func:`predict_at_size`); each stage boundary is a
    cancel point."""
    pages, rows = [], []
    n = data.shape[0]
    for i in range(n):
        base = 5 + 85 * i / n
        ctx.stage(Stage.PREDICT, base)
        heads = predict_at_size(
            data[i], size, card, services.predictor, tile_px, ctx.settings.predict_batch_size, params.flip_tta,
            partial(_page_progress, ctx, base, n), first=i == 0,
        )  # fmt: skip
        ctx.stage(Stage.POSTPROCESS, base + 60 / n)
        labels = labels_at_size(heads, card, ws, data.shape[1:3])
        ctx.stage(Stage.MEASURE, base + 80 / n)
        rows += measure_cells(labels, raw[i], name, frame=i)  # raw: alpha already dropped
        pages.append(labels)
    return pages, rows


def _page_progress(ctx: JobContext, base: float, pages: int, fraction: float) -> None:
    ctx.progress(base + 60 * fraction / pages)


PIPELINES = {"segmentation": run_segmentation, "tracking": run_tracking}
