"""The analysis form in a real Chromium: model cards' nested metrics, object parameters as JSON, parameter errors.

The tracking job runs on its own labels (``params.labels``), so no model runs (~10 s).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import choose_disk_movie, screenshot
from tests.fixtures.platform import Platform

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a real browser per module: seconds each
expect = pytest.importorskip("playwright.sync_api").expect
JOB_TIMEOUT_MS = 60_000

# a card of a model that may come (nuclear/2, tracking/2): deeper nesting, lists, nulls, booleans, notes
ODD_METRICS: dict[str, Any] = {
    "val": {"fluorescence": {"ap50_image_mean": 0.91234, "f1_pooled": 0.87, "n_images": 57}},
    "movies": [{"name": "first", "tra": 0.99952, "det": 1.0, "errors": {"FN": 3, "FP": None}}],
    "thresholds": [0.5, 0.75],
    "tuned": True,
    "convention": "AP at IoU 0.5",
}


def leaves(metrics: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every (path, value) under nested dicts."""
    for key, value in metrics.items():
        if isinstance(value, dict):
            yield from leaves(value, (*path, key))
        else:
            yield (*path, key), value


def model_card(page: Any) -> Any:
    return page.locator("#model-card")


def test_model_cards_show_nested_metrics_readably(platform: Platform, open_portal: Any) -> None:
    cards = {c["name"]: c for c in platform.http.get("/api/models").json()}
    page = open_portal(platform.url)
    page.locator("#model option").first.wait_for(state="attached")
    for job_type in [t["name"] for t in platform.http.get("/api/job-types").json()]:
        page.select_option("#job-type", job_type)
        name = page.locator("#model").input_value()
        card = model_card(page)
        text = card.inner_text()
        assert "[object Object]" not in text and "undefined" not in text, text
        metrics = cards[name]["metrics"]
        if not metrics:
            assert "not measured yet" in text
            continue
        headline = card.locator(".metrics-headline dd")
        assert 1 <= headline.count() <= 8
        for dd in headline.all():  # each headline number is a leaf of the card, shown rounded
            path = dd.get_attribute("data-metric").split(".")
            value = dict(leaves(metrics))[tuple(path)]
            assert math.isclose(float(dd.inner_text()), value, abs_tol=6e-4), (path, value)
        notes = {p[-1]: v for p, v in leaves(metrics) if isinstance(v, str)}
        for key, note in notes.items():
            assert f"{key.replace('_', ' ')}: {note}" in card.locator(".metrics-notes").inner_text()
        card.locator(".metrics-all summary").click()  # every measurement, behind a disclosure
        rows = card.locator(".metrics-all tbody tr")
        expect(rows.first).to_be_visible()
        numbers = [v for _, v in leaves(metrics) if not isinstance(v, str)]
        assert rows.count() == len(numbers)
    page.select_option("#job-type", "segmentation")
    fluorescence = model_card(page).locator('.metrics-headline dd[data-metric="val.fluorescence.ap50_image_mean"]')
    if fluorescence.count():  # the shipped nuclear card: "val › fluorescence › AP@0.5 (image mean)"
        label = fluorescence.evaluate("dd => dd.previousElementSibling.textContent")
        assert label == "val › fluorescence › AP@0.5 (image mean)"
    screenshot(page, "12-model-card-metrics")


def test_a_new_cards_metrics_of_another_shape(platform: Platform, open_portal: Any) -> None:
    def with_odd_metrics(route: Any) -> None:
        cards = route.fetch().json()
        for card in cards:
            card["metrics"] = ODD_METRICS if card["job_type"] == "segmentation" else {}
        route.fulfill(json=cards)

    page = open_portal(platform.url)
    page.route("**/api/models", with_odd_metrics)
    page.reload()
    page.locator("#model option").first.wait_for(state="attached")
    page.select_option("#job-type", "segmentation")
    card = model_card(page)
    headline = dict(
        zip(
            card.locator(".metrics-headline dt").all_inner_texts(),
            card.locator(".metrics-headline dd").all_inner_texts(),
            strict=True,
        )
    )
    assert headline == {
        "val › fluorescence › AP@0.5 (image mean)": "0.912",
        "val › fluorescence › F1 (pooled)": "0.870",
        "movies › 1 › TRA": "0.9995",
        "movies › 1 › DET": "1",
    }
    assert "convention: AP at IoU 0.5" in card.locator(".metrics-notes").inner_text()
    assert "movies › 1 › name: first" in card.locator(".metrics-notes").inner_text()
    card.locator(".metrics-all summary").click()
    all_rows = card.locator(".metrics-all tbody").inner_text()
    for shown in ("movies › 1 › errors › FP\t—", "thresholds\t0.500, 0.750", "tuned\tyes", "images\t57"):
        assert shown in all_rows, all_rows
    assert "[object Object]" not in card.inner_text()
    page.select_option("#job-type", "tracking")
    assert "not measured yet" in model_card(page).inner_text()


def test_object_params_are_json_with_inline_errors(tracking: Platform, open_portal: Any) -> None:
    card = next(c for c in tracking.http.get("/api/models").json() if c["job_type"] == "tracking")
    posted: list[str] = []
    page = open_portal(tracking.url)
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" and r.url.endswith("/api/jobs") else None)
    label_key = choose_disk_movie(page, tracking)

    # the object parameter is a JSON textarea; its keys and the card's defaults are the placeholder
    field = page.get_by_label("tracking", exact=True)
    assert field.evaluate("e => e.tagName") == "TEXTAREA"
    placeholder = json.loads(field.get_attribute("placeholder") or "")
    assert placeholder["max_distance_px"] == card["tracking"]["max_distance_px"]
    assert set(placeholder) >= set(card["tracking"])

    # JSON that does not parse: an error next to the field, nothing sent
    field.fill('{"max_distance_px": 40,')
    page.click("#analyse")
    error = page.locator("#param-tracking-error")
    expect(error).to_contain_text("params.tracking: not valid JSON")
    assert error.get_attribute("role") == "alert" and field.get_attribute("aria-invalid") == "true"
    expect(page.locator("#form-message")).to_contain_text("correct the advanced parameters")
    assert page.evaluate("document.activeElement.id") == "param-tracking"
    field.fill("[1, 2]")
    page.click("#analyse")
    expect(error).to_contain_text("must be a JSON object")
    page.wait_for_timeout(300)
    assert posted == [] and page.locator("#job-list > li").count() == 0
    screenshot(page, "13-json-param-error")

    # an unknown key: the server's 400, next to the field and under the button; the file stays ready
    field.fill('{"max_dist": 5}')
    expect(error).to_be_empty()  # typing clears the old problem
    page.click("#analyse")
    expect(error).to_contain_text("params.tracking.max_dist: Extra inputs are not permitted")
    expect(page.locator("#form-message")).to_contain_text("params.tracking.max_dist: Extra inputs are not permitted")
    assert len(posted) == 1 and page.locator("#job-list > li").count() == 0
    assert page.locator('#file-list li[data-state="ready"]').count() == 1
    screenshot(page, "14-server-param-error")

    # a good override is sent as an object and the job runs
    field.fill('{"max_distance_px": 40}')
    page.click("#analyse")
    row = page.locator("#job-list > li").first
    expect(row).to_have_attribute("data-status", "done", timeout=JOB_TIMEOUT_MS)
    expect(error).to_be_empty()
    job = tracking.http.get(f"/api/jobs/{row.get_attribute('data-job')}").json()
    assert job["params"] == {"labels": label_key, "tracking": {"max_distance_px": 40}}
