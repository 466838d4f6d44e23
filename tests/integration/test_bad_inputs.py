"""Bad input never crashes anything: a 4xx naming the problem, or a failed job with a readable reason."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures.platform import Platform
from tests.hostile.make_corpus import png_claiming, zip_of
from tests.hostile.make_corpus import tiff as tiff_bytes
from tests.integration.conftest import VAL_SMALL, val_png

FIVE_CHANNELS = tiff_bytes(
    np.random.default_rng(0).integers(0, 255, (5, 64, 64), dtype=np.uint8), metadata={"axes": "CYX"}, ome=True
)

FAILED_JOBS = {
    "text renamed to png": (b"hello, I am not an image\n" * 10, "cells.png", {}, "not an image"),
    "empty file": (b"", "empty.tif", {}, "empty"),
    "truncated png": (val_png(VAL_SMALL).read_bytes()[:300], "cut.png", {}, "not a readable image"),
    "corrupt tiff": (b"II*\x00" + b"\x00" * 50, "bad.tif", {}, "not a readable TIFF"),
    "five channels": (FIVE_CHANNELS, "five.ome.tif", {}, "5 channels, model 'nuclear' takes 1"),
    "channel out of range": (FIVE_CHANNELS, "five.ome.tif", {"channels": [7]}, "out of range"),
    "axes of wrong length": (
        tiff_bytes(np.zeros((3, 32, 32), np.uint8), photometric="minisblack"),
        "s.tif",
        {"axes": "YX"},
        "params.axes",
    ),
    "png header claiming 10 gigapixels": (png_claiming(100_000, 100_000), "bomb.png", {}, "limit"),
    "zip bomb": (zip_of({"a.tif": b"\x00" * (50 << 20)}), "bomb.zip", {}, "zip bomb"),
    "zip path trick": (zip_of({"../../etc/evil.png": val_png(VAL_SMALL).read_bytes()}), "trick.zip", {}, "unsafe path"),
    "zip without images": (zip_of({"readme.txt": b"hi", "data.csv": b"1,2"}), "docs.zip", {}, "no image files"),
    "not a zip after all": (b"PK\x03\x04" + b"\x00" * 40, "broken.zip", {}, "truncated zip"),
}


@pytest.mark.parametrize("case", sorted(FAILED_JOBS))
def test_bad_file_fails_the_job_with_a_reason(platform: Platform, case: str) -> None:
    data, name, params, expected = FAILED_JOBS[case]
    job = platform.wait(platform.submit(platform.upload_bytes(data, name), params=params))
    assert job["status"] == "failed", job
    assert expected in job["error"], job["error"]
    assert "Traceback" not in job["error"] and len(job["error"]) < 500


REJECTED_REQUESTS = {
    "unknown job type": ({"type": "counting", "input": "uploads/x/y.png"}, 400, "unknown job type"),
    "unknown model": ({"type": "segmentation", "input": "KEY", "model": "cytoplasm"}, 400, "unknown model"),
    "unknown input key": ({"type": "segmentation", "input": "uploads/nope/x.png"}, 400, "no upload"),
    "path trick in key": ({"type": "segmentation", "input": "uploads/../secret.key"}, 400, "bad input key"),
    "not an upload key": ({"type": "segmentation", "input": "results/abc/x.zip"}, 400, "not an upload key"),
    "unknown param": ({"type": "segmentation", "input": "KEY", "params": {"colour": "red"}}, 400, "params.colour"),
    "param out of range": (
        {"type": "segmentation", "input": "KEY", "params": {"seed_threshold": 3}},
        400,
        "params.seed_threshold",
    ),
    "neither input nor inputs": ({"type": "segmentation"}, 422, "either 'input'"),
}


@pytest.mark.parametrize("case", sorted(REJECTED_REQUESTS))
def test_bad_request_gets_a_4xx_naming_the_problem(platform: Platform, case: str) -> None:
    body, status, expected = REJECTED_REQUESTS[case]
    if body.get("input") == "KEY":
        body = {**body, "input": platform.upload(val_png(VAL_SMALL))}
    resp = platform.http.post("/api/jobs", json=body)
    assert resp.status_code == status, resp.text
    assert expected in resp.text


def test_unknown_job_is_404(platform: Platform) -> None:
    for path in ("/api/jobs/nope", "/api/jobs/nope/result", "/api/jobs/nope/events"):
        resp = platform.http.get(path)
        assert resp.status_code == 404 and "no job" in resp.json()["detail"]


def test_result_of_unfinished_or_failed_job_is_409(platform: Platform) -> None:
    job = platform.wait(platform.submit(platform.upload_bytes(b"nope", "x.png")))
    resp = platform.http.get(f"/api/jobs/{job['id']}/result")
    assert resp.status_code == 409 and "failed" in resp.json()["detail"]


def test_upload_over_the_limit_is_413(make_platform) -> None:  # type: ignore[no-untyped-def]
    small = make_platform(workers=0, max_upload_bytes=10_000)
    resp = small.http.post("/api/uploads", files={"file": ("big.tif", b"\x00" * 20_000)})
    assert resp.status_code == 413 and "10,000 bytes" in resp.json()["detail"]
    resp = small.http.post("/api/uploads", files={"file": ("big.tif", b"\x00" * 10_500)})  # under the header slack
    assert resp.status_code == 413
    resp = small.http.post("/api/uploads/presign", json={"name": "big.tif", "size": 20_000})
    assert resp.status_code == 413
    assert small.storage.list("uploads/") == []


def test_upload_name_with_path_tricks_is_sanitised(platform: Platform) -> None:
    resp = platform.http.post("/api/uploads", files={"file": ("../../etc/passwd", b"x")})
    assert resp.status_code == 201
    assert resp.json()["key"].endswith("/passwd") and ".." not in resp.json()["key"]


def test_consumer_survives_bad_inputs(platform: Platform) -> None:
    for data, name in ((b"", "a.png"), (b"garbage", "b.tif")):
        assert platform.wait(platform.submit(platform.upload_bytes(data, name)))["status"] == "failed"
    assert platform.wait(platform.submit(platform.upload(val_png(VAL_SMALL))))["status"] == "done"
