"""A real Chromium (Debian's, driven by Playwright) pointed at a running platform."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.platform import Platform
from tests.gateway.tracking_movie import disk_movie, tiff_bytes, tracking_consumer

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
VIEWPORT = {"width": 1366, "height": 900}  # a laptop screen


@pytest.fixture(scope="session")
def browser() -> Iterator[playwright_api.Browser]:
    """One headless Chromium for the whole session."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_portal(browser: playwright_api.Browser) -> Iterator[object]:
    """Factory: a fresh browser context (own localStorage) on a portal URL; fails the test on JS errors."""
    contexts = []
    errors: list[str] = []

    def open_page(url: str) -> playwright_api.Page:
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors in the portal: {errors}"


def screenshot(page: playwright_api.Page, name: str) -> Path:
    """Save a screenshot of the page as a test artifact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


@pytest.fixture(scope="module")
def tracking(platform: Platform) -> Iterator[Platform]:
    """The shared platform with a consumer of the tracking queue."""
    with tracking_consumer(platform):
        yield platform


def choose_disk_movie(page: playwright_api.Page, platform: Platform) -> str:
    """In the portal: pick the tracking analysis, drop the synthetic disk movie and give its own labels as
    ``params.labels`` (so no model runs); returns the labels' upload key."""
    raw, labels = disk_movie()
    label_key = platform.upload_bytes(tiff_bytes(labels), "disks_labels.tif")
    page.locator("#job-type option[value=tracking]").wait_for(state="attached")
    page.select_option("#job-type", "tracking")
    page.set_input_files("#file-input", [{"name": "disks.tif", "mimeType": "image/tiff", "buffer": tiff_bytes(raw)}])
    page.locator('#file-list li[data-state="ready"]').wait_for()
    page.get_by_text("Advanced parameters").click()
    page.locator("#param-labels").fill(label_key)
    return label_key
