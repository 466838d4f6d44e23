"""The view endpoints on a tracking job: the tracked movie page by page, and its lineage."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tifffile

from tests.fixtures.platform import Platform
from tests.gateway.test_views import decode_labels_png
from tests.gateway.tracking_movie import DIVISION_FRAME, FRAMES, submit_disk_movie, tracking_consumer
from tests.integration.conftest import VAL_SMALL, val_png


@pytest.fixture(scope="module")
def tracked(platform: Platform) -> Iterator[tuple[Platform, dict[str, Any]]]:
    """A finished tracking job on the disk movie (user labels: no model run)."""
    with tracking_consumer(platform):
        job = platform.wait(submit_disk_movie(platform), timeout_s=120)
    assert job["status"] == "done", job
    yield platform, job


def test_view_info_of_a_tracking_job(tracked: tuple[Platform, dict[str, Any]]) -> None:
    platform, job = tracked
    [info] = platform.http.get(f"/api/jobs/{job['id']}/view").json()
    assert info | {"stem": "disks", "pages": FRAMES, "height": 160, "width": 160, "kind": "tracks"} == info
    assert (info["labels_file"], info["lineage_file"], info["cells_file"]) == (
        "disks_tracked.tif",
        "lineage.json",
        "cells.csv",
    )


def test_frames_are_track_ids(tracked: tuple[Platform, dict[str, Any]]) -> None:
    platform, job = tracked
    http = platform.http
    archive = zipfile.ZipFile(io.BytesIO(http.get(f"/api/jobs/{job['id']}/result").content))
    movie = tifffile.imread(io.BytesIO(archive.read("disks_tracked.tif")))
    for frame in (0, DIVISION_FRAME, FRAMES - 1):
        resp = http.get(f"/api/jobs/{job['id']}/view/disks/labels.png", params={"page": frame})
        assert np.array_equal(decode_labels_png(resp.content), movie[frame])
        assert http.get(f"/api/jobs/{job['id']}/view/disks/image.png", params={"page": frame}).status_code == 200
    assert http.get(f"/api/jobs/{job['id']}/view/disks/labels.png?page={FRAMES}").status_code == 404


def test_lineage_endpoint_returns_lineage_json(tracked: tuple[Platform, dict[str, Any]]) -> None:
    platform, job = tracked
    http = platform.http
    resp = http.get(f"/api/jobs/{job['id']}/view/disks/lineage")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    archive = zipfile.ZipFile(io.BytesIO(http.get(f"/api/jobs/{job['id']}/result").content))
    assert body == json.loads(archive.read("lineage.json"))
    assert body["frames"] == FRAMES
    [mother] = [t for t in body["tracks"] if t["daughters"]]
    assert mother["division_frame"] == DIVISION_FRAME and mother["last_frame"] == DIVISION_FRAME - 1
    daughters = [t for t in body["tracks"] if t["parent"] == mother["track_id"]]
    assert sorted(t["track_id"] for t in daughters) == sorted(mother["daughters"])
    assert all(t["first_frame"] == DIVISION_FRAME and t["last_frame"] == FRAMES - 1 for t in daughters)
    assert len(body["tracks"]) == 4
    assert http.get(f"/api/jobs/{job['id']}/view/other/lineage").status_code == 404


@pytest.mark.slow
def test_lineage_is_404_for_a_segmentation_job(platform: Platform) -> None:
    job = platform.wait(platform.submit(platform.upload(val_png(VAL_SMALL))))
    assert job["status"] == "done", job
    resp = platform.http.get(f"/api/jobs/{job['id']}/view/{VAL_SMALL}/lineage")
    assert resp.status_code == 404
    assert "only tracking jobs" in resp.json()["detail"] and "segmentation" in resp.json()["detail"]
    [info] = platform.http.get(f"/api/jobs/{job['id']}/view").json()
    assert (info["kind"], info["lineage_file"]) == ("labels", None)


def test_lineage_is_documented_in_openapi(platform: Platform) -> None:
    spec = platform.http.get("/openapi.json").json()
    op = spec["paths"]["/api/jobs/{job_id}/view/{stem}/lineage"]["get"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/LineageView")
    assert "daughters" in spec["components"]["schemas"]["TrackView"]["properties"]
