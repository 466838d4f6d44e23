"""The tracking view of the portal in a real Chromium: frame slider, Play, track ids and the lineage panel.

A 12-frame synthetic movie of disks (one divides at frame 6) is tracked on its own labels
(``params.labels``, typed into the advanced parameters), so no model runs.
"""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest

from tests.browser.conftest import choose_disk_movie, screenshot
from tests.fixtures.platform import Platform
from tests.gateway.tracking_movie import DIVISION_FRAME, FRAMES, disks

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a real browser per module: seconds each
expect = pytest.importorskip("playwright.sync_api").expect
JOB_TIMEOUT_MS = 60_000

CANVAS_SUM = """() => {
  const c = document.getElementById("canvas");
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let sum = 0;
  for (let o = 0; o < d.length; o += 4) sum += (d[o] * 3 + d[o + 1] * 5 + d[o + 2] * 7) * ((o >> 2) % 251 + 1);
  return sum;
}"""


def click_cell(page: Any, y: float, x: float, size: int = 160) -> None:
    """Click the canvas where the fitted image shows pixel (y, x)."""
    box = page.locator("#canvas").bounding_box()
    scale = min(box["width"] / size, box["height"] / size)
    page.locator("#canvas").click(
        position={
            "x": (box["width"] - size * scale) / 2 + (x + 0.5) * scale,
            "y": (box["height"] - size * scale) / 2 + (y + 0.5) * scale,
        }
    )


def wait_frame(page: Any, job_id: str, frame: int) -> None:
    page.wait_for_selector(f'#canvas[data-ready="{job_id}:{frame}"]')


def test_frames_play_and_lineage(tracking: Platform, open_portal: Any) -> None:
    page = open_portal(tracking.url)
    choose_disk_movie(page, tracking)
    page.click("#analyse")
    row = page.locator("#job-list > li").first
    expect(row).to_have_attribute("data-status", "done", timeout=JOB_TIMEOUT_MS)
    job_id = row.get_attribute("data-job")
    lineage = tracking.http.get(f"/api/jobs/{job_id}/view/disks/lineage").json()
    cells = list(csv.DictReader(io.StringIO(tracking.http.get(f"/api/jobs/{job_id}/files/cells.csv").text)))
    [mother] = [t for t in lineage["tracks"] if t["daughters"]]

    row.get_by_role("button", name="View result").click()
    wait_frame(page, job_id, 0)
    assert page.locator("#page-label").inner_text() == "Frame"
    assert page.locator("#play").is_visible() and page.locator("#show-ids").is_checked()
    assert page.locator("#page-out").inner_text() == f"0 (0–{FRAMES - 1})"
    first = page.evaluate(CANVAS_SUM)

    # the slider moves the frame; the cells table follows it
    page.locator("#page").fill(str(DIVISION_FRAME))
    wait_frame(page, job_id, DIVISION_FRAME)
    assert page.evaluate(CANVAS_SUM) != first
    in_frame = [r for r in cells if r["frame"] == str(DIVISION_FRAME)]
    assert page.locator("#cell-count").get_attribute("data-count") == str(len(in_frame)) == "3"
    assert page.locator("#cell-table tbody tr").count() == 3

    # track ids on the cells can be switched off
    with_ids = page.evaluate(CANVAS_SUM)
    page.locator("#show-ids").uncheck()
    assert page.evaluate(CANVAS_SUM) != with_ids
    page.locator("#show-ids").check()

    # Play runs to the last frame at about 5 frames/s and stops there
    page.locator("#page").fill("0")
    wait_frame(page, job_id, 0)
    started = time.monotonic()
    page.locator("#play").click()
    expect(page.locator("#play")).to_have_text("Pause")
    wait_frame(page, job_id, FRAMES - 1)
    expect(page.locator("#play")).to_have_text("Play")
    elapsed = time.monotonic() - started
    assert 0.15 * (FRAMES - 1) < elapsed < 10, elapsed
    screenshot(page, "08-tracking-last-frame")

    # from the keyboard: Space on the button plays from the start again, Space pauses
    page.locator("#play").focus()
    page.keyboard.press("Space")
    expect(page.locator("#play")).to_have_attribute("data-playing", "true")
    page.keyboard.press("Space")
    expect(page.locator("#play")).to_have_attribute("data-playing", "false")
    paused_at = page.locator("#page").input_value()
    page.wait_for_timeout(500)
    assert page.locator("#page").input_value() == paused_at

    # a daughter, clicked in the last frame, shows its parent; the parent shows both daughters
    page.locator("#page").fill(str(FRAMES - 1))
    wait_frame(page, job_id, FRAMES - 1)
    _, y, x, _ = disks(FRAMES - 1)[1]  # the upper daughter
    click_cell(page, y, x)
    daughter = int(page.locator("#lineage").get_attribute("data-track") or 0)
    assert daughter in mother["daughters"]
    assert page.locator("#cell-table tr.selected").get_attribute("data-label") == str(daughter)
    parent_button = page.locator('#lineage dd[data-fact="parent"] button')
    assert parent_button.get_attribute("data-track") == str(mother["track_id"])
    screenshot(page, "09-tracking-lineage")
    parent_button.focus()
    page.keyboard.press("Enter")  # jumps to the mother at her first frame
    wait_frame(page, job_id, mother["first_frame"])
    assert page.locator("#lineage").get_attribute("data-track") == str(mother["track_id"])
    fate = page.locator('#lineage dd[data-fact="fate"]')
    assert f"divides at frame {DIVISION_FRAME}" in fate.inner_text()
    assert sorted(int(b.get_attribute("data-track")) for b in fate.locator("button").all()) == sorted(
        mother["daughters"]
    )
    assert page.locator("#cell-table tr.selected").get_attribute("data-label") == str(mother["track_id"])
    assert (
        page.locator('#lineage .lineage-tree button[aria-current="true"]')
        .inner_text()
        .startswith(f"Track {mother['track_id']}")
    )
    # the selected track stays selected while the frames change
    page.locator("#page").fill("2")
    wait_frame(page, job_id, 2)
    assert page.locator("#cell-table tr.selected").get_attribute("data-label") == str(mother["track_id"])
    screenshot(page, "10-tracking-mother")
