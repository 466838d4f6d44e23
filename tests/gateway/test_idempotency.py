"""POST /api/jobs with an Idempotency-Key: a repeated request returns the first job instead of a second one."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from cellkiosk.core.jobs import request_key
from tests.fixtures.platform import Platform
from tests.integration.conftest import VAL_SMALL, val_png


def post(platform: Platform, body: dict[str, object], key: str | None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return platform.http.post("/api/jobs", json=body, headers=headers)


def created_jobs(platform: Platform) -> int:
    return int(platform.queue.redis.hget("stats:jobs", "segmentation|created") or 0)


def test_a_repeated_request_returns_the_first_job(platform: Platform) -> None:
    body = {"type": "segmentation", "input": platform.upload(val_png(VAL_SMALL))}
    key = uuid.uuid4().hex
    before = created_jobs(platform)
    first = post(platform, body, key)
    again = post(platform, body, key)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert created_jobs(platform) == before + 1
    other = post(platform, body, uuid.uuid4().hex)  # a new key is a new job
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
    assert post(platform, body, None).json()["id"] not in {first.json()["id"], other.json()["id"]}


def test_concurrent_retries_create_one_job(platform: Platform) -> None:
    body = {"type": "segmentation", "inputs": [platform.upload(val_png(VAL_SMALL), f"{i}.png") for i in range(2)]}
    key = uuid.uuid4().hex
    with ThreadPoolExecutor(8) as pool:
        ids = {r.json()["id"] for r in pool.map(lambda _: post(platform, body, key), range(8))}
    assert len(ids) == 1
    assert len(platform.http.get(f"/api/jobs/{ids.pop()}/children").json()) == 2


def test_the_same_key_with_another_body_is_refused(platform: Platform) -> None:
    key = uuid.uuid4().hex
    first = {"type": "segmentation", "input": platform.upload(val_png(VAL_SMALL))}
    assert post(platform, first, key).status_code == 202
    resp = post(platform, {**first, "params": {"seed_threshold": 0.3}}, key)
    assert resp.status_code == 422 and "already used for a different request" in resp.json()["detail"]


def test_a_refused_request_does_not_use_up_its_key(platform: Platform) -> None:
    key = uuid.uuid4().hex
    missing = {"type": "segmentation", "input": "uploads/nothing-here/a.png"}
    assert post(platform, missing, key).status_code == 400
    assert platform.queue.redis.get(request_key(key)) is None
    body = {"type": "segmentation", "input": platform.upload(val_png(VAL_SMALL))}
    assert post(platform, body, key).status_code == 202


def test_malformed_keys_are_a_422(platform: Platform) -> None:
    body = {"type": "segmentation", "input": platform.upload(val_png(VAL_SMALL))}
    for bad in ("short", "has space in it", "x" * 200):
        resp = post(platform, body, bad)
        assert resp.status_code == 422 and "Idempotency-Key" in resp.text
