"""A CTC sequence through a tracking job's own path, scored: ``evaluate-tracking --segment`` and the card export."""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from cellkiosk.core.jobs import Stage
from cellkiosk.core.params import TrackingJobParams
from cellkiosk.core.settings import ConsumerSettings
from cellkiosk.evaluation.tracking import ctc_movie, score_ctc_result
from cellkiosk.inference.predictor import LocalPredictor
from cellkiosk.inference.store import ModelStore
from cellkiosk.inference.timelapse import model_input, plan_tracking, segment_and_link
from cellkiosk.tracking.movie import write_ctc_result


def segment_and_track(
    seq_dir: Path,
    out_dir: Path,
    model: str | None = None,
    job_params: dict[str, Any] | None = None,
    models_dir: Path | None = None,
    frames: range | None = None,
    tolerance: int = 0,
    threads: int = 1,
) -> dict[str, Any]:
    """Run a CTC sequence (or the stretch ``frames`` of it) through a tracking job's own segmentation and
    linking, write the CTC result, validate and score it.

    ``model`` (a tracking model, ``name`` or ``name:version`` in the model store; None: what a job naming
    none runs) and ``job_params`` (a tracking job's params) are resolved as for a job
    (``inference.timelapse.plan_tracking``), and the frames go through ``segment_and_link`` with the
    consumer's settings (``CELLKIOSK_PREDICT_BATCH_SIZE``, ``CELLKIOSK_MAX_IMAGE_PIXELS``, the model store
    ``CELLKIOSK_MODELS_DIR`` unless ``models_dir``). The ground truth is ``<seq_dir>_GT``, cut to ``frames``.
    """
    settings = ConsumerSettings()
    params = TrackingJobParams.model_validate(job_params or {})
    plan = plan_tracking(ModelStore(models_dir or settings.models_dir), model, params)
    movie, frames = ctc_movie(seq_dir, frames)
    entered: dict[Stage, float] = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:  # the labels on disk, as in a job
        labels = np.lib.format.open_memmap(Path(tmp) / "labels.npy", "w+", np.uint32, movie.shape[:3])
        size, lineage, tracking = segment_and_link(
            plan, model_input(plan, movie, params.channels), params, LocalPredictor(), labels,
            settings.predict_batch_size, settings.max_image_pixels, seq_dir.name,
            lambda stage, _: entered.setdefault(stage, time.perf_counter()),
        )  # fmt: skip
        done = time.perf_counter()
        write_ctc_result(out_dir, lineage, list(labels), np.asarray)  # views of the memmap
    problems, scores = score_ctc_result(out_dir, seq_dir, frames, tolerance, threads)
    return {
        "sequence": str(seq_dir), "model": f"{plan.card.name}:{plan.card.version}", "segmented_by": plan.segmented_by,
        "scale": size.scale, "size": size.to_json(), "frames": len(frames), "frame_range": [frames.start, frames.stop],
        "objects": int(lineage.links.labels.size), "tracks": len(lineage.tracks),
        "divisions": sum(1 for t in lineage.tracks if t.division_frame is not None),
        "segment_s": round(entered[Stage.TRACK] - start, 2), "track_s": round(done - entered[Stage.TRACK], 3),
        "problems": problems, "scores": scores.to_json() if scores else None, "params": tracking.model_dump(),
        "postprocess": asdict(plan.postprocess), "job_params": params.model_dump(exclude_defaults=True),
    }  # fmt: skip
