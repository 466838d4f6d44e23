"""Segmentation jobs through the real platform: gateway over HTTP, valkey, storage, TF consumer."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import numpy as np
import pytest
import tifffile

from cellkiosk.evaluation.segmentation import match
from cellkiosk.imaging.object_size import median_diameter
from tests.fixtures.platform import DSB, Platform
from tests.integration.conftest import VAL_IMAGE, VAL_OTHER, VAL_SMALL, grey, val_labels, val_png


def fetch_archive(platform: Platform, job_id: str) -> zipfile.ZipFile:
    """The result archive of a finished job."""
    resp = platform.http.get(f"/api/jobs/{job_id}/result", follow_redirects=True)
    assert resp.status_code == 200, resp.text
    return zipfile.ZipFile(io.BytesIO(resp.content))


def test_real_image_matches_ground_truth(platform: Platform) -> None:
    job_id = platform.submit(platform.upload(val_png()))
    job = platform.wait(job_id)
    assert job["status"] == "done", job
    assert set(job["timings"]) >= {"download", "preprocess", "predict", "postprocess", "upload"}
    with fetch_archive(platform, job_id) as zf:
        labels = tifffile.imread(io.BytesIO(zf.read(f"{VAL_IMAGE}_labels.tif")))
        rows = list(csv.DictReader(io.StringIO(zf.read("cells.csv").decode())))
        info = json.loads(zf.read("job.json"))
        assert zf.read(f"{VAL_IMAGE}_overlay.png").startswith(b"\x89PNG")
    gt = val_labels()
    assert labels.shape == gt.shape and labels.dtype == np.uint16
    # nuclear:3, the default, scores 0.793 on this image (0.855 over val); nuclear:2 0.785, nuclear:1 above 0.8
    assert match(gt, labels, 0.5).ap >= 0.75
    assert len(rows) == int(labels.max())
    assert {"image", "label", "centroid_y", "area_px", "mean_intensity_c0", "integrated_intensity_c0"} <= set(rows[0])
    assert info["model"]["name"] == "nuclear" and len(info["input_sha256"]) == 64


def test_multipage_tiff_gives_one_label_page_per_page(platform: Platform, tmp_path) -> None:
    stack = np.stack([grey(VAL_SMALL), grey(VAL_SMALL)[::-1], np.zeros((256, 256), np.uint8)]).astype(np.uint16)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack * 200, photometric="minisblack")
    job = platform.wait(platform.submit(platform.upload(path)))
    assert job["status"] == "done", job
    with fetch_archive(platform, job["id"]) as zf:
        labels = tifffile.imread(io.BytesIO(zf.read("stack_labels.tif")))
        rows = list(csv.DictReader(io.StringIO(zf.read("cells.csv").decode())))
    assert labels.shape == (3, 256, 256)
    assert labels[0].max() > 10 and labels[2].max() == 0
    assert {r["frame"] for r in rows} == {"0", "1"}
    # page 1 is page 0 flipped: the same nuclei, found again
    assert abs(int(labels[0].max()) - int(labels[1].max())) <= 2


def test_zip_fans_out_and_a_corrupt_member_fails_alone(platform: Platform, zip_with_corrupt_member: bytes) -> None:
    parent_id = platform.submit(platform.upload_bytes(zip_with_corrupt_member, "plates.zip"))
    job = platform.wait(parent_id)
    assert job["status"] == "done", job
    assert job["children"] == {"total": 3, "done": 2, "failed": 1}
    children = platform.http.get(f"/api/jobs/{parent_id}/children").json()
    assert [c["status"] for c in children].count("done") == 2
    broken = next(c for c in children if c["input_name"] == "plate2/broken.tif")
    assert broken["status"] == "failed" and "TIFF" in broken["error"]
    with fetch_archive(platform, parent_id) as zf:
        names = zf.namelist()
        failures = list(csv.DictReader(io.StringIO(zf.read("failures.csv").decode())))
        cells = list(csv.DictReader(io.StringIO(zf.read("cells.csv").decode())))
    assert f"plate1/{VAL_SMALL}/{VAL_SMALL}_labels.tif" in names
    assert f"plate2/{VAL_OTHER}/{VAL_OTHER}_labels.tif" in names
    assert {f["image"] for f in failures} == {"plate2/broken.tif", "notes.txt"}
    assert {c["image"] for c in cells} == {f"plate1/{VAL_SMALL}.png", f"plate2/{VAL_OTHER}.png"}


def test_several_files_in_one_request_make_a_batch(platform: Platform) -> None:
    keys = [platform.upload(val_png(VAL_SMALL)), platform.upload(val_png(VAL_OTHER))]
    job = platform.wait(platform.submit(keys))
    assert job["status"] == "done" and job["children"] == {"total": 2, "done": 2, "failed": 0}


def test_events_stream_until_done(platform: Platform) -> None:
    job_id = platform.submit(platform.upload(val_png(VAL_SMALL)))
    events = []
    with platform.http.stream("GET", f"/api/jobs/{job_id}/events", timeout=120) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert events[-1]["status"] == "done"
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress)


def test_single_files_from_the_archive(platform: Platform) -> None:
    job = platform.wait(platform.submit(platform.upload(val_png(VAL_SMALL))))
    names = platform.http.get(f"/api/jobs/{job['id']}/files").json()
    assert "cells.csv" in names
    resp = platform.http.get(f"/api/jobs/{job['id']}/files/cells.csv")
    assert resp.status_code == 200 and resp.text.startswith("image,frame,label")
    assert platform.http.get(f"/api/jobs/{job['id']}/files/nope.txt").status_code == 404


def test_presigned_upload_on_local_storage(platform: Platform) -> None:
    data = val_png(VAL_SMALL).read_bytes()
    grant = platform.http.post("/api/uploads/presign", json={"name": "direct.png", "size": len(data)}).json()
    assert platform.http.put(grant["url"] + "0", content=data).status_code == 403  # tampered signature
    resp = platform.http.put(grant["url"], content=data)
    assert resp.status_code == 201, resp.text
    job = platform.wait(platform.submit(grant["key"]))
    assert job["status"] == "done", job


def test_metrics_count_jobs_and_uploads(platform: Platform) -> None:
    platform.wait(platform.submit(platform.upload(val_png(VAL_SMALL))))
    text = platform.http.get("/metrics").text
    assert 'cellkiosk_jobs_total{status="done",type="segmentation"}' in text
    assert "cellkiosk_upload_bytes_total" in text and "cellkiosk_queue_depth" in text
    assert 'cellkiosk_stage_seconds_count{stage="predict",type="segmentation"}' in text


def test_health_models_and_job_types(platform: Platform) -> None:
    assert platform.http.get("/healthz").json() == {"status": "ok"}
    assert platform.http.get("/readyz").json()["status"] == "ready"
    models = platform.http.get("/api/models").json()
    assert models[0]["name"] == "nuclear" and models[0]["metrics"]
    types = platform.http.get("/api/job-types").json()
    assert types[0]["name"] == "segmentation" and types[0]["default_model"] == "nuclear"
    assert "channels" in types[0]["params_schema"]["properties"]


# coelho2009: Hoechst nuclei from another lab, ~85-115 px across (DSB2018's are ~17): never trained or tuned on.
COELHO = DSB.parent / "coelho2009"
COELHO_IMAGES = ("gnf-dna-14", "ic100-dna-31")  # U2OS and NIH3T3, 1349x1030 and 1344x1024
# Pooled AP@0.5 of a job with no params on these two images (training.evaluate.predict_samples, 2026-12-01):
# nuclear:1 scored 0.08 at its native size (what every job did before params.diameter) and 0.70 with its size
# estimated; nuclear:2 0.75 (0.008 at native size); nuclear:3, the default, 0.75 (2026-12-02). The whole set's
# figures are in the cards.
COELHO_FLOOR = 0.72


@pytest.mark.slow
def test_large_nuclei_from_another_lab_are_sized_and_found_with_no_params(platform: Platform) -> None:
    tp = fp = fn = 0
    for name in COELHO_IMAGES:
        job = platform.wait(platform.submit(platform.upload(COELHO / "images" / f"{name}.png")), timeout_s=300)
        assert job["status"] == "done", job
        with fetch_archive(platform, job["id"]) as zf:
            labels = tifffile.imread(io.BytesIO(zf.read(f"{name}_labels.tif")))
            info = json.loads(zf.read("job.json"))
        gt = np.asarray(tifffile.imread(COELHO / "labels" / f"{name}.tif"))
        assert labels.shape == gt.shape  # mapped back to full resolution
        size = info["size"]
        assert size["basis"] == "estimated" and size["scale"] < 0.3, size
        assert abs(size["diameter_px"] / median_diameter(gt) - 1) <= 0.25, size
        assert size["estimate_candidates"][-1]["whole_image"] and size["first_page_from_estimate"], size
        assert "size" in job["timings"]
        scored = match(gt, labels, 0.5)
        tp, fp, fn = tp + scored.tp, fp + scored.fp, fn + scored.fn
    assert tp / (tp + fp + fn) >= COELHO_FLOOR, (tp, fp, fn)
