"""The portal in Debian's Firefox ESR, driven through Marionette (Mozilla's own automation protocol).

Playwright cannot drive it here: its patched Firefox is a CDN download (unreachable), and its WebDriver
BiDi path for a stock Firefox (``channel="moz-firefox"``) sends ``emulation.setMediaFeaturesOverride``
when it makes a context, which Firefox 153 ESR does not implement. No geckodriver is packaged in
Debian 12, PyPI or npm without a download from GitHub, so this uses ``marionette_driver``, the client
that geckodriver itself wraps. Skipped without ``firefox-esr`` or ``marionette-driver``.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser.conftest import SCREENSHOTS
from tests.fixtures.platform import Platform
from tests.gateway.tracking_movie import FRAMES, submit_disk_movie, tracking_consumer

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a real browser per module: seconds each
marionette = pytest.importorskip("marionette_driver.marionette", reason="pip install marionette-driver")
FIREFOX = shutil.which("firefox-esr") or shutil.which("firefox")


@pytest.fixture(scope="module")
def firefox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Firefox with a Marionette session (its log in a temporary folder, not the repo)."""
    if FIREFOX is None:
        pytest.skip("Firefox is not installed (apt-get install -y firefox-esr)")
    log = tmp_path_factory.mktemp("firefox") / "gecko.log"
    client = marionette.Marionette(host="127.0.0.1", port=0, bin=FIREFOX, headless=True, gecko_log=str(log))
    client.start_session()
    client.set_window_rect(width=1366, height=900)
    yield client
    client.cleanup()


def wait_for(check: Callable[[], Any], timeout_s: float = 20) -> Any:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {check}")


def test_portal_and_tracking_view_in_firefox(platform: Platform, firefox: Any) -> None:
    with tracking_consumer(platform):
        job = platform.wait(submit_disk_movie(platform), timeout_s=60)
    assert job["status"] == "done", job
    firefox.navigate(platform.url)
    run = firefox.execute_script
    # every ES module of the portal loaded and ran: the choices came from the API
    types = wait_for(lambda: run("return [...document.querySelectorAll('#job-type option')].map(o => o.value)"))
    assert {"segmentation", "tracking"} <= set(types)
    assert wait_for(lambda: run("return document.querySelectorAll('#model option').length")) >= 1

    stored = [{"id": job["id"], "name": "disks.tif", "type": "tracking", "created": time.time()}]
    run("localStorage.setItem('cellkiosk.jobs', arguments[0]); location.reload()", script_args=[json.dumps(stored)])
    view = "return [...document.querySelectorAll('#job-list button')].find(b => b.textContent === 'View result')"
    wait_for(lambda: run(view))
    run(view.replace("return ", "") + ".click()")
    wait_for(lambda: run("return document.getElementById('canvas').dataset.ready") == f"{job['id']}:0")
    assert run("return document.getElementById('page-label').textContent") == "Frame"
    coloured = """const c = document.getElementById('canvas');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0; for (let o = 0; o < d.length; o += 4) if (Math.abs(d[o] - d[o + 2]) > 40) n++; return n;"""
    assert run(coloured) > 200  # the track outlines are drawn
    run("document.getElementById('play').click()")
    wait_for(lambda: run("return document.getElementById('canvas').dataset.ready") == f"{job['id']}:{FRAMES - 1}")
    wait_for(lambda: run("return document.getElementById('play').textContent") == "Play")  # stopped at the end
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "11-firefox-tracking.png").write_bytes(firefox.screenshot(format="binary"))
