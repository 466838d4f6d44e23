"""A default tracking job and ``evaluate-tracking --segment`` run one path: identical labels on a real clip.

The job is created through the gateway with no model and no params (what a user gets by default) and
run by a real consumer on real valkey; the evaluation reads the same frames from a CTC folder.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from cellkiosk import cli
from cellkiosk.core.jobs import JobStatus
from cellkiosk.tracking.ctc_io import find_masks, read_track_file
from tests.consumer.test_worker import idle_worker
from tests.fixtures.platform import MODELS_DIR
from tests.tracking.clips import SIM_SEQUENCE, ctc_clip

CLIP = range(40, 46)  # six frames of SIM+ 01's second half


def run_default_job(make_platform: Any, movie: Path, out: Path) -> dict[str, Any]:
    """Submit ``movie`` as a tracking job with nothing but its type, run it, unpack ``ctc/`` into ``out``."""
    p, worker = idle_worker(make_platform, queues=["tracking"])
    resp = p.http.post("/api/jobs", json={"type": "tracking", "input": p.upload(movie)})
    assert resp.status_code == 202, resp.text
    delivery = p.queue.claim("tracking", "direct", 100, 60)
    assert delivery is not None
    worker.handle(delivery)
    job = p.queue.get(resp.json()["id"])
    assert job is not None and job.status == JobStatus.DONE and job.output is not None, job and job.error
    with zipfile.ZipFile(io.BytesIO(p.storage.get_bytes(job.output))) as zf:
        zf.extractall(out, [n for n in zf.namelist() if n.startswith("ctc/")])
        return dict(json.loads(zf.read("job.json")))


@pytest.mark.skipif(not SIM_SEQUENCE.is_dir(), reason=f"CTC data not found at {SIM_SEQUENCE}")
@pytest.mark.slow
def test_default_job_and_evaluation_give_identical_labels(
    make_platform: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "seq").mkdir()
    seq = ctc_clip(tmp_path / "seq", CLIP)
    movie = tmp_path / "clip.tif"
    tifffile.imwrite(movie, np.stack([tifffile.imread(SIM_SEQUENCE / f"t{t:03d}.tif") for t in CLIP]))
    info = run_default_job(make_platform, movie, tmp_path / "job")

    out = tmp_path / "evaluation"
    argv = ["evaluate-tracking", "--segment", str(seq), "--models-dir", str(MODELS_DIR), "--out", str(out)]
    assert cli.main(argv) == 0  # no --model, no overrides: the job's defaults
    report = json.loads(capsys.readouterr().out)

    assert report["model"] == f"{info['model']['name']}:{info['model']['version']}"
    for key in ("segmented_by", "size", "scale", "postprocess"):
        assert report[key] == info[key], key
    assert report["params"] == info["tracking"]
    job_masks, evaluation_masks = find_masks(tmp_path / "job" / "ctc"), find_masks(out)
    assert [p.name for p in job_masks] == [p.name for p in evaluation_masks] and len(job_masks) == len(CLIP)
    for ours, theirs in zip(job_masks, evaluation_masks, strict=True):
        assert np.array_equal(tifffile.imread(ours), tifffile.imread(theirs)), ours.name
    job_tracks = read_track_file(tmp_path / "job" / "ctc" / "res_track.txt")
    assert np.array_equal(job_tracks, read_track_file(out / "res_track.txt")) and len(job_tracks) > 10
