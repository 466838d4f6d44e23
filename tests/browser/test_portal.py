"""The web portal in a real Chromium against the real platform (gateway, valkey, TF consumer, shipped model)."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from tests.browser.conftest import screenshot
from tests.fixtures.platform import Platform, start_gateway
from tests.integration.conftest import VAL_OTHER, VAL_SMALL, grey, val_png

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a real browser per module: seconds each
expect = pytest.importorskip("playwright.sync_api").expect
VAL_THIRD = "2bf594e9d06f78b4b79d7ffb395497a0a91126b6b0d710d7a9cee21f5c3bd177"  # 256x256, 22 nuclei
JOB_TIMEOUT_MS = 120_000

CANVAS_STATS = """() => {
  const c = document.getElementById("canvas");
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let coloured = 0, sum = 0;
  for (let o = 0; o < d.length; o += 4) {
    if (Math.abs(d[o] - d[o + 1]) > 24 || Math.abs(d[o + 1] - d[o + 2]) > 24) coloured++;
    sum += d[o] + d[o + 1] + d[o + 2];
  }
  return {coloured, sum};
}"""


def add_files(page: Any, files: list[Path] | list[dict[str, Any]]) -> None:
    """Pick files as a person would with the file chooser."""
    page.set_input_files("#file-input", files)


def wait_job(page: Any, status: str = "done", nth: int = 0) -> Any:
    """The nth job row (newest first), once it has the status."""
    row = page.locator("#job-list > li").nth(nth)
    expect(row).to_have_attribute("data-status", status, timeout=JOB_TIMEOUT_MS)
    return row


def test_one_image_upload_progress_view_and_download(platform: Platform, open_portal: Any, tmp_path: Path) -> None:
    page = open_portal(platform.url)
    page.locator("#model option").first.wait_for(state="attached")
    add_files(page, [val_png()])
    page.locator('#file-list li[data-state="ready"]').wait_for()
    assert "696 × 520 px" in page.locator("#file-list").inner_text()
    page.get_by_text("Advanced parameters").click()
    page.get_by_label("min cell px").fill("15")  # the model card's default, sent explicitly
    screenshot(page, "01-file-ready")
    page.click("#analyse")
    row = wait_job(page, "done")
    assert page.locator("#job-list > li progress").first.get_attribute("value") == "100"
    screenshot(page, "02-job-done")

    row.get_by_role("button", name="View result").click()
    page.wait_for_selector("#canvas[data-ready]")
    with_overlay = page.evaluate(CANVAS_STATS)
    page.locator("#opacity").fill("0")
    raw = page.evaluate(CANVAS_STATS)
    assert with_overlay["coloured"] > 2000 and raw["coloured"] < with_overlay["coloured"] / 20
    assert with_overlay["sum"] != raw["sum"]
    page.locator("#opacity").fill("0.8")

    job_id = row.get_attribute("data-job")
    assert platform.http.get(f"/api/jobs/{job_id}").json()["params"] == {"min_cell_px": 15}
    cells_csv = platform.http.get(f"/api/jobs/{job_id}/files/cells.csv").text
    rows = list(csv.DictReader(io.StringIO(cells_csv)))
    assert page.locator("#cell-count").get_attribute("data-count") == str(len(rows))
    assert page.locator("#cell-count").inner_text().startswith(f"{len(rows)} cells")
    assert page.locator("#cell-table tbody tr").count() == len(rows)

    page.get_by_role("button", name="area px").click()  # sort by area, ascending
    assert page.locator('th[data-column="area_px"]').get_attribute("aria-sort") == "ascending"
    smallest = min(rows, key=lambda r: float(r["area_px"]))
    page.locator("#cell-table tbody tr").first.get_by_role("button").click()
    assert page.locator("#cell-details h3").inner_text() == f"Cell {smallest['label']}"
    assert page.locator("#cell-table tr.selected").get_attribute("data-label") == smallest["label"]
    page.locator("#canvas").focus()
    page.keyboard.press("0")  # fit the image again, from the keyboard
    page.keyboard.press("Escape")
    assert page.locator("#cell-table tr.selected").count() == 0
    # a nucleus near the middle, clicked on the canvas where the fitted image shows its centroid
    big = min(
        (r for r in rows if float(r["area_px"]) > 200),
        key=lambda r: (float(r["centroid_y"]) - 260) ** 2 + (float(r["centroid_x"]) - 348) ** 2,
    )
    box = page.locator("#canvas").bounding_box()
    scale = min(box["width"] / 696, box["height"] / 520)
    x = (box["width"] - 696 * scale) / 2 + (float(big["centroid_x"]) + 0.5) * scale
    y = (box["height"] - 520 * scale) / 2 + (float(big["centroid_y"]) + 0.5) * scale
    page.locator("#canvas").click(position={"x": x, "y": y})
    assert page.locator("#cell-details h3").inner_text() == f"Cell {big['label']}"
    assert page.locator("#cell-table tr.selected").get_attribute("data-label") == big["label"]
    screenshot(page, "03-viewer")

    with page.expect_download() as download_info:
        page.click("#download-archive")
    archive = tmp_path / "result.zip"
    download_info.value.save_as(archive)
    with zipfile.ZipFile(archive) as zf:
        assert "cells.csv" in zf.namelist() and any(n.endswith("_labels.tif") for n in zf.namelist())


def test_bad_files_show_their_errors(platform: Platform, open_portal: Any) -> None:
    buf = io.BytesIO()
    five = np.random.default_rng(0).integers(0, 255, (5, 64, 64), dtype=np.uint8)
    tifffile.imwrite(buf, five, metadata={"axes": "CYX"}, ome=True)
    page = open_portal(platform.url)
    page.locator("#model option").first.wait_for(state="attached")
    add_files(
        page,
        [
            {"name": "notes.png", "mimeType": "image/png", "buffer": b"these are my notes, not an image\n"},
            {"name": "five.ome.tif", "mimeType": "image/tiff", "buffer": buf.getvalue()},
        ],
    )
    bad = page.locator('#file-list li[data-state="error"]')
    bad.wait_for()
    assert "notes.png" in bad.inner_text() and "not an image" in bad.inner_text()
    five_row = page.locator('#file-list li[data-state="ready"]')
    five_row.wait_for()
    assert "5 channels" in five_row.inner_text() and "pick the one" in five_row.inner_text()
    page.click("#analyse")  # only the TIFF is sent; its channel stays "automatic"
    failed = wait_job(page, "failed")
    assert "5 channels" in failed.locator(".error").inner_text()
    assert page.locator("#job-list > li").count() == 1
    screenshot(page, "04-errors")


def test_zip_of_three_images_gives_three_results_and_reload_keeps_jobs(
    platform: Platform, open_portal: Any, tmp_path: Path
) -> None:
    archive = tmp_path / "plate.zip"
    stack = io.BytesIO()  # the third image is a two-page stack: the viewer gets a page slider
    tifffile.imwrite(stack, np.stack([grey(VAL_THIRD), grey(VAL_THIRD)[:, ::-1]]), photometric="minisblack")
    with zipfile.ZipFile(archive, "w") as zf:
        for name in (VAL_SMALL, VAL_OTHER):
            zf.write(val_png(name), f"plate/{name[:8]}.png")
        zf.writestr("plate/stack.tif", stack.getvalue())
    page = open_portal(platform.url)
    page.locator("#model option").first.wait_for(state="attached")
    add_files(page, [archive])
    page.locator('#file-list li[data-state="ready"]').wait_for()
    assert "zip with 3 images" in page.locator("#file-list").inner_text()
    page.click("#analyse")
    row = page.locator("#job-list > li").first
    row.locator('.children li[data-status="done"]').first.wait_for(timeout=JOB_TIMEOUT_MS)
    screenshot(page, "05-batch-running")  # usually one image done, the others on their way
    row = wait_job(page, "done")
    assert "3 of 3 images done" in row.inner_text()
    row.locator('.children li[data-status="done"]').nth(2).wait_for()
    screenshot(page, "06-batch-done")

    row.get_by_role("button", name="View images").click()
    page.wait_for_selector("#canvas[data-ready]")
    options = page.locator("#image-select option:not([disabled])")
    assert options.count() == 3
    assert page.locator("#page-control").is_hidden()
    stack_job = options.nth(2).get_attribute("value")
    page.select_option("#image-select", index=2)
    page.wait_for_selector(f'#canvas[data-ready="{stack_job}:0"]')
    assert page.locator("#page-control").is_visible()
    page.locator("#page").fill("1")
    page.wait_for_selector(f'#canvas[data-ready="{stack_job}:1"]')
    assert page.locator("#page-out").inner_text() == "2 of 2"
    assert int(page.locator("#cell-count").get_attribute("data-count") or 0) > 0

    page.reload()
    page.locator('#job-list > li[data-status="done"]').wait_for()
    assert page.locator("#job-list > li").count() == 1
    assert "3 of 3 images done" in page.locator("#job-list > li").inner_text()


def test_api_key_is_asked_for_once(platform: Platform, open_portal: Any) -> None:
    from cellkiosk.core.settings import GatewaySettings
    from cellkiosk.gateway.app import create_app
    from cellkiosk.inference.store import ModelStore
    from tests.fixtures.platform import MODELS_DIR

    settings = GatewaySettings(
        redis_url=platform.redis_url,
        storage_url=platform.storage.url,
        models_dir=MODELS_DIR,
        data_dir=platform.consumer_settings.data_dir,
        api_keys=["sesame"],
        log_json=False,
    )
    app = create_app(settings, platform.queue, platform.storage, ModelStore(MODELS_DIR), platform.redis_url)
    server, _, port = start_gateway(app)
    try:
        page = open_portal(f"http://127.0.0.1:{port}/")
        page.locator("#key-dialog[open]").wait_for()
        screenshot(page, "07-api-key")
        page.fill("#api-key", "wrong")
        page.get_by_role("button", name="Use this key").click()
        page.locator("#key-dialog[open]").wait_for()
        assert "not accepted" in page.locator("#key-message").inner_text()
        page.fill("#api-key", "sesame")
        page.get_by_role("button", name="Use this key").click()
        page.locator("#model option").first.wait_for(state="attached")
        add_files(page, [val_png(VAL_SMALL)])
        page.locator('#file-list li[data-state="ready"]').wait_for()
        page.reload()  # the key is kept for the session: no second dialog
        page.locator("#model option").first.wait_for(state="attached")
        assert page.locator("#key-dialog[open]").count() == 0
    finally:
        server.should_exit = True


def test_the_viewer_says_the_nuclear_size_and_runs_again_with_another(platform: Platform, open_portal: Any) -> None:
    page = open_portal(platform.url)
    page.locator("#model option").first.wait_for(state="attached")
    page.get_by_text("Advanced parameters").click()
    diameter = page.get_by_label("diameter", exact=True)
    assert diameter.get_attribute("type") == "number" and diameter.get_attribute("placeholder") == "auto"
    add_files(page, [val_png()])
    page.locator('#file-list li[data-state="ready"]').wait_for()
    page.click("#analyse")
    row = wait_job(page, "done")
    row.get_by_role("button", name="View result").click()
    page.wait_for_selector("#canvas[data-ready]")
    first = platform.http.get(f"/api/jobs/{row.get_attribute('data-job')}/view").json()[0]["size"]
    assert first["basis"] == "estimated" and first["diameter_px"] > 5
    expect(page.locator("#size-info")).to_contain_text(f"about {first['diameter_px']:g} px across (estimated")
    assert float(page.locator("#rerun-diameter").input_value()) == first["diameter_px"]

    page.locator("#rerun-diameter").fill("40")
    page.get_by_role("button", name="Run again with this diameter").click()
    expect(page.locator("#rerun-status")).to_contain_text("submitted as a new job")
    again = wait_job(page, "done", nth=0)
    assert "diameter 40 px" in again.inner_text()
    job = platform.http.get(f"/api/jobs/{again.get_attribute('data-job')}").json()
    assert job["params"] == {"diameter": 40}
    size = platform.http.get(f"/api/jobs/{job['id']}/view").json()[0]["size"]
    assert size["basis"] == "params.diameter" and size["scale"] < 1  # 40 px nuclei, shrunk to the model's size
