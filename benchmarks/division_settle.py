"""How many frames may a division wait for its daughters to part? ``division_settle_frames`` swept on both movies.

Each CTC movie is segmented once by a default tracking job's path (``inference.timelapse.segment_and_link``
with ``tracking:3``'s size and post-processing), then linked with ``division_settle_frames`` 0, 1, 2, 3 and
5 (:func:`cellkiosk.tracking.settle.settle_divisions` on a copy of the labels, as a job calls it) and
scored like the card: TRA, DET, division F1 (BC(0), py-ctcmetrics) and the divisions by kind
(``evaluation/divisions.py``).
SIM+ 01 is the only movie here with enough divisions to choose on (28; GOWT1 01 has 2), so the value is
chosen there, and GOWT1 says only whether it does harm.

Usage: ``python benchmarks/division_settle.py``; writes ``benchmarks/results/division_settle.json``.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from report import commit, emit, machine  # benchmarks/report.py: the scripts run with this folder on sys.path

from cellkiosk.core.params import TrackingJobParams
from cellkiosk.evaluation.divisions import division_outcomes
from cellkiosk.evaluation.tracking import ctc_movie, score_ctc_result
from cellkiosk.inference.predictor import LocalPredictor
from cellkiosk.inference.store import ModelStore
from cellkiosk.inference.timelapse import intensity_cue, model_input, plan_tracking, segment_and_link
from cellkiosk.tracking.movie import measure_movie, write_ctc_result
from cellkiosk.tracking.settle import settle_divisions

REPO = Path(__file__).resolve().parents[1]
CTC = REPO.parent / "shared/data/ctc"
SEQUENCES = (CTC / "Fluo-N2DH-SIM+/01", CTC / "Fluo-N2DH-GOWT1/01")
SWEEP = (0, 1, 2, 3, 5)
MODEL = "tracking:3"


def sweep(seq: Path, tmp: Path) -> dict[str, Any]:
    """Segment ``seq`` once as a default job does, then link and score it at every value of :data:`SWEEP`."""
    params = TrackingJobParams.model_validate({})
    plan = plan_tracking(ModelStore(REPO / "models"), MODEL, params)
    movie, frames = ctc_movie(seq, None)
    data = model_input(plan, movie, None)
    segmented = np.zeros(movie.shape[:3], np.uint32)
    unsettled = replace(plan, tracking=plan.tracking.model_copy(update={"division_settle_frames": 0}))
    size, _, tracking = segment_and_link(unsettled, data, params, LocalPredictor(), segmented, 4, 10**9, seq.name)
    measured, runs = measure_movie(iter(segmented), map(intensity_cue, data.frames())), {}
    for frames_allowed in SWEEP:
        labels = segmented.copy()
        swept = tracking.model_copy(update={"division_settle_frames": frames_allowed})
        lineage, merged = settle_divisions(labels, list(measured), lambda t: intensity_cue(data.frame(t)), swept)
        out = tmp / f"{seq.parent.name}-{frames_allowed}"
        write_ctc_result(out, lineage, list(labels), np.asarray)
        problems, scores = score_ctc_result(out, seq, frames, 0, 1)
        assert scores is not None, problems
        s = scores.to_json()
        runs[str(frames_allowed)] = {
            "pairs_merged": merged,
            **{k: round(s[k], 4) for k in ("tra", "det", "division_f1")},
            **{k: s[k] for k in ("division_tp", "division_fp", "division_fn")},
            "division_outcomes": division_outcomes(out, seq.parent / f"{seq.name}_GT"),
        }
    return {"diameter_px": size.diameter_px, "scale": round(size.scale, 4), "division_settle_frames": runs}


def main() -> None:
    """Sweep both movies; print and save the record."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        movies = {f"{seq.parent.name}/{seq.name}": sweep(seq, Path(tmp)) for seq in SEQUENCES}
    report = {
        "benchmark": "division_settle",
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit(),
        "model": MODEL,
        "movies": movies,
        "seconds": round(time.perf_counter() - start, 1),
    }
    emit(report, REPO / "benchmarks/results/division_settle.json")


if __name__ == "__main__":
    main()
