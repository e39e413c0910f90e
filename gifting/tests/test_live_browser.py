"""Two viewers watch the same live stream in Chromium: one sends a Rose, the other sees it arrive by polling."""

# ruff: noqa: RUF001  (the pages write quantities with a real multiplication sign, U+00D7)

import importlib
import re

import pytest
from django.apps import apps
from playwright.sync_api import expect

from coinsite.accounts.tests.factories import PASSWORD, make_user
from gifting.models import Gift, GiftEvent
from gifting.services import stream_start
from gifting.tests.support import ensure_countries, fund
from wallet.ledger import user_balance
from wallet.models import Asset, Country

pytestmark = pytest.mark.browser


@pytest.fixture
def live_stream(live_server, bob):
    """Bob is live. Tests with real transactions start from flushed tables (and serialized_rollback
    cannot restore them once Playwright runs an event loop in the test thread), so the coin prices and
    the gift catalogue are put back with their migrations' own code."""
    if not Country.objects.exists():
        importlib.import_module("wallet.migrations.0004_seed_catalogue").seed(apps, None)
    if not Gift.objects.exists():
        importlib.import_module("gifting.migrations.0003_seed_gifts").seed(apps, None)
    ensure_countries()
    return stream_start(creator=bob, title="Sunday sketch stream")


@pytest.fixture
def new_context(browser):
    """Separate browser contexts (one per viewer), closed before the live server stops so no poll outlives it."""
    contexts = []

    def make():
        contexts.append(browser.new_context())
        return contexts[-1]

    yield make
    for context in contexts:
        context.close()


def viewer_page(new_context, live_server, *, email: str, name: str):
    viewer = make_user(email=email, display_name=name)
    fund(viewer, 100)
    page = new_context().new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.locator(".nav-name")).to_have_text(name)
    return viewer, page


def test_a_rose_sent_by_one_viewer_appears_for_another_without_reloading(live_server, new_context, live_stream):
    vera, vera_page = viewer_page(new_context, live_server, email="vera@example.com", name="Vera")
    _walt, walt_page = viewer_page(new_context, live_server, email="walt@example.com", name="Walt")
    stream_url = f"{live_server.url}/live/{live_stream.pk}/"
    for page in (vera_page, walt_page):
        page.get_by_role("link", name="Live", exact=True).click()
        page.get_by_role("link", name="Sunday sketch stream").click()
        expect(page).to_have_url(stream_url)
    expect(walt_page.get_by_test_id("feed")).to_contain_text("No gifts yet")
    walt_page.evaluate("window.loadedOnce = true")  # gone if Walt's page reloads

    vera_page.get_by_role("radio", name=re.compile(r"^Rose 1 coin")).check()
    vera_page.get_by_role("button", name="Send gift").click()

    expect(vera_page.get_by_text("You sent 1 × Rose to Bob.")).to_be_visible()
    expect(walt_page.get_by_test_id("feed")).to_contain_text("Vera sent 1 × Rose", timeout=5_000)
    expect(walt_page.get_by_test_id("leaderboard")).to_contain_text("Vera", timeout=5_000)
    assert walt_page.evaluate("window.loadedOnce") is True
    assert GiftEvent.objects.get().sender == vera
    assert user_balance(vera, Asset.COIN) == 99
