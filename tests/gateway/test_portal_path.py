"""Where the gateway finds the web portal: a configured folder, the checkout's frontend/, or none, said loudly."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cellkiosk.gateway.app import CHECKOUT_FRONTEND, find_portal, portal_missing_router


def test_a_configured_folder_is_used(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<h1>portal</h1>")
    assert find_portal(tmp_path, checkout=tmp_path / "nowhere") == tmp_path


def test_a_configured_folder_without_the_portal_stops_the_gateway(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=f"CELLKIOSK_FRONTEND_DIR={tmp_path} has no index.html"):
        find_portal(tmp_path)


def test_in_a_checkout_the_repositorys_frontend_is_found() -> None:
    assert find_portal(None) == CHECKOUT_FRONTEND
    assert (CHECKOUT_FRONTEND / "index.html").is_file()


def test_no_portal_is_logged_and_answered_not_served_silently(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="cellkiosk.gateway.app"):
        assert find_portal(None, checkout=tmp_path / "installed-from-a-wheel") is None
    assert any("web portal not found" in r.getMessage() for r in caplog.records)
    app = FastAPI()
    app.include_router(portal_missing_router())
    resp = TestClient(app).get("/")
    assert resp.status_code == 503
    assert "CELLKIOSK_FRONTEND_DIR" in resp.json()["detail"]
