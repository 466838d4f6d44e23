"""The portal under its Content-Security-Policy in a real Chromium: a whole job without one violation."""

from __future__ import annotations

from typing import Any

import pytest

from cellkiosk.gateway.security import PORTAL_CSP
from tests.browser.conftest import VIEWPORT
from tests.browser.test_portal import add_files, wait_job
from tests.fixtures.platform import Platform
from tests.integration.conftest import VAL_SMALL, val_png

pytestmark = pytest.mark.browser

COLLECT_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push({directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample});
});
"""


def test_portal_runs_a_job_under_its_csp_and_the_csp_bites(platform: Platform, browser: Any) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    try:
        context.add_init_script(COLLECT_VIOLATIONS)
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        response = page.goto(platform.url)
        assert response is not None and response.headers["content-security-policy"] == PORTAL_CSP
        page.locator("#model option").first.wait_for(state="attached")
        add_files(page, [val_png(VAL_SMALL)])
        page.locator('#file-list li[data-state="ready"]').wait_for()
        page.click("#analyse")
        row = wait_job(page, "done")
        row.get_by_role("button", name="View result").click()
        page.wait_for_selector("#canvas[data-ready]")
        page.locator("#canvas").hover()  # the tooltip moves by style properties, which the CSP allows
        assert page.evaluate("window.__csp") == [] and errors == []
        # the control: an injected inline script is refused and reported, so the listener above can see
        page.evaluate("""() => { const s = document.createElement("script");
                        s.textContent = "window.__injected = 1"; document.head.appendChild(s); }""")
        page.wait_for_function("window.__csp.length > 0")
        assert page.evaluate("window.__injected") is None
        assert page.evaluate("window.__csp")[0]["directive"].startswith("script-src")
    finally:
        context.close()
