"""The interactive API docs in Chromium under the site's CSP: Swagger UI from our own static files, its
scripts allowed by the page's nonce, no CSP violation, no request to another origin, and a call that works."""

import pytest
from playwright.sync_api import expect

from coinsite.accounts.tests.factories import PASSWORD, make_user
from coinsite.tests.support import log_in

pytestmark = pytest.mark.browser

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def test_the_docs_render_under_the_csp_and_try_a_call(live_server, page):
    make_user(email="dev@example.com", display_name="Devi")
    requests, errors = [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script(RECORD_VIOLATIONS)
    log_in(page, live_server.url, "dev@example.com", PASSWORD)

    response = page.goto(f"{live_server.url}/api/v1/docs")

    assert response is not None and response.status == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self' 'nonce-" in policy and "unsafe-inline" not in policy
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Coinsite API")
    expect(page.locator(".opblock")).to_have_count(12)
    # Try GET /me with the session (the docs page is on the same site)
    operation = page.locator(".opblock-get", has=page.locator("[data-path='/api/v1/me']"))
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    expect(operation.locator(".live-responses-table tr.response .response-col_status")).to_contain_text("200")
    expect(operation.locator(".live-responses-table")).to_contain_text("Devi")
    assert page.evaluate("window.__cspViolations") == []
    assert errors == []
    assert all(url.startswith(live_server.url) or url.startswith("data:") for url in requests), requests
