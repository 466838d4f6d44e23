"""Ownership per API key, over real HTTP: another key's uploads and jobs do not exist for you; the admin sees all."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fixtures.platform import Platform
from tests.integration.conftest import VAL_SMALL, val_png

ALICE, BOB, ADMIN = "alice-key-0123456789", "bob-key-9876543210", "admin-key-abcdef"


@pytest.fixture(scope="module")
def keyed(make_platform: Any) -> Platform:
    """A platform with two user keys (one given as a hash) and an admin key, one consumer."""
    import hashlib

    bob_hash = "sha256:" + hashlib.sha256(BOB.encode()).hexdigest()
    return make_platform(api_keys=[ALICE], api_key_hashes=[bob_hash], admin_api_key=ADMIN)  # type: ignore[no-any-return]


def client(p: Platform, key: str | None) -> httpx.Client:
    return httpx.Client(base_url=p.url, timeout=60, headers={"X-API-Key": key} if key else {})


def wait(c: httpx.Client, job_id: str) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = c.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed", "cancelled"):
            return dict(job)
        time.sleep(0.2)
    raise AssertionError(job)


@pytest.fixture(scope="module")
def alices_job(keyed: Platform) -> tuple[str, str]:
    """Alice's upload key and her finished job's id."""
    with client(keyed, ALICE) as alice:
        key = alice.post("/api/uploads", files={"file": ("a.png", val_png(VAL_SMALL).read_bytes())}).json()["key"]
        job_id = alice.post("/api/jobs", json={"type": "segmentation", "input": key}).json()["id"]
        assert wait(alice, job_id)["status"] == "done"
    return key, job_id


JOB_PATHS = [
    "/api/jobs/{id}",
    "/api/jobs/{id}/events",
    "/api/jobs/{id}/children",
    "/api/jobs/{id}/result",
    "/api/jobs/{id}/files",
    "/api/jobs/{id}/files/cells.csv",
    "/api/jobs/{id}/view",
    "/api/jobs/{id}/view/a/labels.png",
    "/api/jobs/{id}/view/a/image.png",
    "/api/jobs/{id}/view/a/lineage",
]


def test_owner_reaches_every_endpoint_of_their_job(keyed: Platform, alices_job: tuple[str, str]) -> None:
    _, job_id = alices_job
    with client(keyed, ALICE) as alice:
        for path in JOB_PATHS[:-1]:
            assert alice.get(path.format(id=job_id)).status_code == 200, path


def test_another_key_gets_404_for_every_endpoint_of_the_job(keyed: Platform, alices_job: tuple[str, str]) -> None:
    upload, job_id = alices_job
    with client(keyed, BOB) as bob:
        for path in JOB_PATHS:
            resp = bob.get(path.format(id=job_id))
            assert resp.status_code == 404, (path, resp.status_code, resp.text)
            assert "no job" in resp.json()["detail"]
        assert bob.delete(f"/api/jobs/{job_id}").status_code == 404
        resp = bob.post("/api/jobs", json={"type": "segmentation", "input": upload})
        assert resp.status_code == 404 and "no upload" in resp.json()["detail"]
        resp = bob.post("/api/jobs", json={"type": "segmentation", "inputs": [upload, upload]})
        assert resp.status_code == 404
        assert bob.get("/api/uploads/info", params={"key": upload}).status_code == 404
        assert job_id not in [j["id"] for j in bob.get("/api/jobs").json()]
    with client(keyed, ALICE) as alice:  # and nothing bob tried changed alice's job
        assert alice.get(f"/api/jobs/{job_id}").json()["status"] == "done"


def test_lists_show_own_jobs_and_the_admin_sees_all(keyed: Platform, alices_job: tuple[str, str]) -> None:
    _, job_id = alices_job
    with client(keyed, BOB) as bob:
        key = bob.post("/api/uploads", files={"file": ("b.png", val_png(VAL_SMALL).read_bytes())}).json()["key"]
        bobs = bob.post("/api/jobs", json={"type": "segmentation", "input": key, "params": {"diameter": 16}}).json()
        assert [j["id"] for j in bob.get("/api/jobs").json()] == [bobs["id"]]
    with client(keyed, ALICE) as alice:
        assert job_id in [j["id"] for j in alice.get("/api/jobs").json()]
        assert bobs["id"] not in [j["id"] for j in alice.get("/api/jobs").json()]
    with client(keyed, ADMIN) as admin:
        ids = [j["id"] for j in admin.get("/api/jobs").json()]
        assert {job_id, bobs["id"]} <= set(ids)
        assert admin.get(f"/api/jobs/{job_id}/files/cells.csv").status_code == 200
        assert admin.delete(f"/api/jobs/{bobs['id']}").status_code == 200  # the admin manages everyone's jobs


def test_unknown_or_missing_key_is_401_and_keys_are_not_stored(keyed: Platform, alices_job: tuple[str, str]) -> None:
    with client(keyed, None) as anon, client(keyed, "guess") as guess:
        assert anon.get("/api/jobs").status_code == 401
        assert guess.get(f"/api/jobs/{alices_job[1]}").status_code == 401
    dump = " ".join(str(v) for k in keyed.queue.redis.scan_iter("*") for v in _values(keyed, k))
    assert ALICE not in dump and BOB not in dump and ADMIN not in dump
    with client(keyed, ALICE) as alice:
        job_json = alice.get(f"/api/jobs/{alices_job[1]}/files/job.json").text
    assert ALICE not in job_json and "owner" not in job_json


def _values(p: Platform, key: str) -> list[Any]:
    kind = p.queue.redis.type(key)
    if kind == "hash":
        return list(p.queue.redis.hgetall(key).items())
    if kind == "string":
        return [p.queue.redis.get(key)]
    return [key]


def test_idempotency_keys_are_per_api_key(keyed: Platform, alices_job: tuple[str, str]) -> None:
    body = {"type": "segmentation", "input": alices_job[0], "params": {"diameter": 16}}
    headers = {"Idempotency-Key": "same-key-for-both-1"}
    with client(keyed, ALICE) as alice, client(keyed, BOB) as bob:
        first = alice.post("/api/jobs", json=body, headers=headers).json()["id"]
        # bob replaying alice's idempotency key must not learn her job id
        resp = bob.post("/api/jobs", json=body, headers=headers)
        assert resp.status_code == 404 and first not in resp.text
