"""Accessibility of the key pages, in Chromium: axe-core finds no violation at 1280 and 390 px (every rule
axe runs by default, best practices included; none is disabled), each page has one h1 and a meta
description, and no page is wider than a 320 px viewport.

axe-core is vendored under coinsite/tests/vendor/axe-core (npm `axe-core`, MPL-2.0; see its README) and
loaded as an init script: that runs in every page before the page's own scripts and, unlike a `<script>`
tag, is not blocked by the site's nonce-based Content-Security-Policy, which stays on while the pages are
checked. A CSP violation reported by the browser also fails the page.

Seeding the demo data and crawling every page costs a few seconds per role, so it happens once per module
(`crawl`): the demo data is committed for the live server, the pages are visited as each role, and every
page's problems are kept; each parametrised test then asserts that its page had none. The tables are
emptied again right after the crawl, exactly as after any test with real transactions.
"""

import io
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import override_settings
from playwright.sync_api import Browser, Page, expect

from coinsite.celery import app as celery_app
from coinsite.tests.support import (
    ANONYMOUS,
    CREATOR,
    DEMO_PASSWORD,
    EMAILS,
    KEY_PAGES,
    VIEWER,
    KeyPage,
    demo_ids,
    log_in,
    seed_catalogue,
)

pytestmark = pytest.mark.browser

AXE_CORE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
AXE_WIDTHS = (1280, 390)
NARROWEST = 320
VIEWPORT_HEIGHT = 800
CREATOR_BACKUP_CODE = "creatordemo01"


# Reached only in the middle of a journey, so they are checked there (see `log_in_as`, `crawl_as`).
TWO_FACTOR_LOGIN = KeyPage("two-factor login", "/accounts/2fa/login/", (CREATOR,))
SANDBOX_CHECKOUT = KeyPage("sandbox checkout", "/sandbox-pay/checkout/<session>/", (VIEWER,))


def page_params() -> list:
    params = []
    for key_page in [*KEY_PAGES, TWO_FACTOR_LOGIN, SANDBOX_CHECKOUT]:
        params.append(pytest.param(key_page, id=key_page.name.replace(" ", "-")))
    return params


@pytest.mark.parametrize("key_page", page_params())
def test_no_axe_violation_and_no_sideways_scrolling(crawl, key_page):
    problems = [f"{role}: {problem}" for role in key_page.roles for problem in crawl[(key_page.name, role)]]
    assert not problems, "\n".join(["", *problems])


def audit(page: Page, url: str, *, console: list[str]) -> list[str]:
    """Everything wrong with one page as the person logged in to `page` sees it."""
    problems = []
    for width in AXE_WIDTHS:
        page.set_viewport_size({"width": width, "height": VIEWPORT_HEIGHT})
        problems += loaded_problems(page, url, console=console)
        violations = page.evaluate("axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)")
        problems += [f"{width}px axe {describe(violation)}" for violation in violations]
    problems += outline_problems(page)
    page.set_viewport_size({"width": NARROWEST, "height": VIEWPORT_HEIGHT})
    problems += loaded_problems(page, url, console=console)
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if widths[0] > widths[1]:
        problems.append(f"{NARROWEST}px: the page is {widths[0]}px wide and scrolls sideways ({widest(page)})")
    return problems


def loaded_problems(page: Page, url: str, *, console: list[str]) -> list[str]:
    console.clear()
    response = page.goto(url)
    page.wait_for_load_state("load")
    problems = [] if response and response.status == 200 else [f"{url} answered {response and response.status}"]
    if urlsplit(page.url).path != urlsplit(url).path:
        problems.append(f"{url} ended on {page.url}")
    return problems + [f"console: {message}" for message in console if "Content Security Policy" in message]


def outline_problems(page: Page) -> list[str]:
    """What axe leaves to best practice: exactly one h1, and a meta description."""
    h1_count, description = page.evaluate(
        "[document.querySelectorAll('h1').length, document.querySelector('meta[name=description]')?.content]"
    )
    problems = [] if h1_count == 1 else [f"{h1_count} h1 headings"]
    return problems + ([] if description and description.strip() else ["no meta description"])


def describe(violation: dict) -> str:
    targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]][:5]
    return f"{violation['id']} ({violation['impact']}): {violation['help']} — {targets}"


def widest(page: Page) -> str:
    """The outermost elements that stick out past the right edge (not those clipped by a scrolling box)."""
    return page.evaluate(
        """() => {
            const clipped = el => {
                for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
                    if (getComputedStyle(up).overflowX !== 'visible') return true;
                }
                return false;
            };
            const sticksOut = el => el.getBoundingClientRect().right > window.innerWidth + 0.5 && !clipped(el);
            return [...document.querySelectorAll('body *')]
                .filter(el => sticksOut(el) && !(el.parentElement && sticksOut(el.parentElement)))
                .slice(0, 5)
                .map(el => el.outerHTML.slice(0, 80) + ' ' + Math.round(el.getBoundingClientRect().right) + 'px')
                .join(', ');
        }"""
    )


def log_in_as(page: Page, base_url: str, role: str, results: dict, console: list[str]) -> None:
    log_in(page, base_url, EMAILS[role], DEMO_PASSWORD)
    if role == CREATOR:  # the demo creator has 2FA: the code page is audited as it is met
        expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
        results[(TWO_FACTOR_LOGIN.name, role)] = audit(page, page.url, console=console)
        page.get_by_label("Authentication code").fill(CREATOR_BACKUP_CODE)
        page.get_by_role("button", name="Verify and log in").click()
    expect(page.locator(".nav-name")).to_be_attached()


def start_checkout(page: Page, base_url: str) -> str:
    """The test provider's hosted checkout, as a viewer reaches it from Buy coins."""
    page.goto(f"{base_url}/wallet/recharge/")
    page.get_by_role("radio").first.check()
    page.get_by_role("button", name="Continue to payment").click()
    expect(page.get_by_text("TEST PAYMENT PAGE")).to_be_visible()
    return page.url


def crawl_as(browser: Browser, base_url: str, role: str, ids: dict[str, object]) -> dict:
    context = browser.new_context(base_url=base_url)
    context.add_init_script(path=AXE_CORE)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    results: dict = {}
    try:
        if role != ANONYMOUS:
            log_in_as(page, base_url, role, results, console)
        if role in SANDBOX_CHECKOUT.roles:
            results[(SANDBOX_CHECKOUT.name, role)] = audit(page, start_checkout(page, base_url), console=console)
        for key_page in KEY_PAGES:
            if role in key_page.roles:
                url = base_url + key_page.path.format(**ids)
                results[(key_page.name, role)] = audit(page, url, console=console)
    finally:
        context.close()
    return results


@pytest.fixture(scope="module")
def crawl(browser, live_server, django_db_setup, django_db_blocker) -> dict:
    """Every key page's problems, by (page name, role), from one crawl over the demo data."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True  # as the function-scoped `_eager_celery` does for a test
    fast_hashes = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    results: dict = {}
    with django_db_blocker.unblock(), fast_hashes:
        try:
            seed_catalogue()
            call_command("seed_demo", stdout=io.StringIO())
            ids = demo_ids()
            for role in (ANONYMOUS, VIEWER, CREATOR):
                results |= crawl_as(browser, live_server.url, role, ids)
        finally:
            call_command("flush", interactive=False, verbosity=0)
            celery_app.conf.task_always_eager = eager
    return results
