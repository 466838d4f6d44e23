"""Per-key rate limits (429 + Retry-After), open mode, security headers, CORS closed by default."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cellkiosk.gateway.security import PORTAL_CSP
from tests.integration.conftest import VAL_SMALL, val_png


def test_uploads_and_jobs_over_the_rate_get_429_with_retry_after(make_platform: Any) -> None:
    p = make_platform(workers=0, api_keys=["k1", "k2"], uploads_per_minute=3, jobs_per_minute=2)
    png = val_png(VAL_SMALL).read_bytes()
    with httpx.Client(base_url=p.url, headers={"X-API-Key": "k1"}) as k1:
        answers = [k1.post("/api/uploads", files={"file": ("a.png", png)}) for _ in range(4)]
        assert [a.status_code for a in answers] == [201, 201, 201, 429]
        refused = answers[3]
        assert 1 <= int(refused.headers["Retry-After"]) <= 60 and "limit is 3 a minute" in refused.json()["detail"]
        assert k1.post("/api/uploads/presign", json={"name": "a.tif", "size": 9}).status_code == 429
        key = answers[0].json()["key"]
        jobs = [k1.post("/api/jobs", json={"type": "segmentation", "input": key}).status_code for _ in range(3)]
        assert jobs == [202, 202, 429]
    with httpx.Client(base_url=p.url, headers={"X-API-Key": "k2"}) as k2:  # the other key has its own budget
        assert k2.post("/api/uploads", files={"file": ("b.png", png)}).status_code == 201


def test_job_creations_and_active_jobs_are_limited(make_platform: Any) -> None:
    p = make_platform(workers=0, api_keys=["k1"], jobs_per_minute=100, max_active_jobs=2)
    with httpx.Client(base_url=p.url, headers={"X-API-Key": "k1"}) as k1:
        key = k1.post("/api/uploads", files={"file": ("a.png", val_png(VAL_SMALL).read_bytes())}).json()["key"]
        body = {"type": "segmentation", "input": key}
        ids = [k1.post("/api/jobs", json=body).json()["id"] for _ in range(2)]
        third = k1.post("/api/jobs", json=body)
        assert third.status_code == 429 and third.headers["Retry-After"] == "30"
        assert "2 jobs queued or running" in third.json()["detail"]
        assert k1.delete(f"/api/jobs/{ids[0]}").json()["status"] == "cancelled"  # a finished job frees its place
        assert k1.post("/api/jobs", json=body).status_code == 202
    p2 = make_platform(workers=0, api_keys=["k1"], jobs_per_minute=1)
    with httpx.Client(base_url=p2.url, headers={"X-API-Key": "k1"}) as k1:
        key = k1.post("/api/uploads", files={"file": ("a.png", val_png(VAL_SMALL).read_bytes())}).json()["key"]
        assert k1.post("/api/jobs", json={"type": "segmentation", "input": key}).status_code == 202
        refused = k1.post("/api/jobs", json={"type": "segmentation", "input": key})
        assert refused.status_code == 429 and "Retry-After" in refused.headers


def test_portal_and_api_carry_security_headers(make_platform: Any) -> None:
    p = make_platform(workers=0)
    for path in ("/", "/app.js", "/api/models", "/healthz", "/api/jobs/nope"):
        headers = p.http.get(path).headers
        assert headers["Content-Security-Policy"] == PORTAL_CSP, path
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
    assert "unsafe-inline" not in PORTAL_CSP and "frame-ancestors 'none'" in PORTAL_CSP


def test_cors_is_closed_by_default_and_opens_for_configured_origins(make_platform: Any) -> None:
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    closed = make_platform(workers=0)
    resp = closed.http.options("/api/jobs", headers=preflight)
    assert "access-control-allow-origin" not in resp.headers
    assert "access-control-allow-origin" not in closed.http.get("/api/models", headers=preflight).headers
    opened = make_platform(workers=0, cors_origins=["https://lab.example"])
    ok = opened.http.options("/api/jobs", headers={**preflight, "Origin": "https://lab.example"})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://lab.example"
    other = opened.http.options("/api/jobs", headers=preflight)
    assert other.headers.get("access-control-allow-origin") != "https://evil.example"


def test_open_mode_serves_one_user_and_presigned_urls_expire_soon(make_platform: Any) -> None:
    p = make_platform(workers=0)
    grant = p.http.post("/api/uploads/presign", json={"name": "a.tif", "size": 10}).json()
    assert grant["expires_in_s"] == 900  # the default: 15 minutes
    key = p.upload(val_png(VAL_SMALL))
    assert p.http.post("/api/jobs", json={"type": "segmentation", "input": key}).status_code == 202
    assert len(p.http.get("/api/jobs").json()) == 1


def test_empty_keys_never_open_the_door(make_platform: Any) -> None:
    with pytest.raises(SystemExit, match="empty key"):
        make_platform(workers=0, api_keys=["good", " "])
    p = make_platform(workers=0, api_keys=["good"], admin_api_key="")  # compose's default for no admin
    assert httpx.get(f"{p.url}/api/jobs", headers={"X-API-Key": ""}).status_code == 401
    assert httpx.get(f"{p.url}/api/jobs", headers={"X-API-Key": "good"}).status_code == 200


def test_oversized_request_bodies_and_batches_are_refused(make_platform: Any) -> None:
    p = make_platform(workers=0)
    huge = {"type": "segmentation", "input": "uploads/x/y.png", "params": {"pad": "x" * (5 << 20)}}
    resp = p.http.post("/api/jobs", json=huge)
    assert resp.status_code == 413 and "larger than" in resp.json()["detail"]
    too_many = {"type": "segmentation", "inputs": [f"uploads/{i}/a.png" for i in range(10_001)]}
    assert p.http.post("/api/jobs", json=too_many).status_code == 422
    assert p.http.post("/api/jobs", json={"type": "segmentation", "input": "uploads/" + "a" * 2000}).status_code == 422
