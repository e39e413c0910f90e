"""Viewers watch a live stream in Chromium: gifts arrive without reloading, by polling under WSGI and over the
event stream under uvicorn."""

# ruff: noqa: RUF001  (the pages write quantities with a real multiplication sign, U+00D7)

import importlib
import re

import pytest
from django.apps import apps
from playwright.sync_api import expect

from coinsite.accounts.tests.factories import PASSWORD, make_user
from gifting.live.publish import publisher
from gifting.models import Gift, GiftEvent
from gifting.services import stream_end, stream_start
from gifting.tests.live_support import UvicornServer, send_gifts
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

    def make(**options):
        contexts.append(browser.new_context(**options))
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
    page.get_by_role("button", name="Log in").click()
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
    expect(walt_page.get_by_test_id("feed")).to_contain_text("No messages or gifts yet")
    walt_page.evaluate("window.loadedOnce = true")  # gone if Walt's page reloads

    vera_page.get_by_role("button", name=re.compile(r"^Rose 1 coin")).click()

    expect(vera_page.get_by_test_id("gift-sent")).to_have_text("You sent 1 × Rose.")
    expect(walt_page.get_by_test_id("feed")).to_contain_text("Vera sent 1 × Rose", timeout=5_000)
    expect(walt_page.get_by_test_id("leaderboard")).to_contain_text("Vera", timeout=5_000)
    assert walt_page.evaluate("window.loadedOnce") is True
    assert GiftEvent.objects.get().sender == vera
    assert user_balance(vera, Asset.COIN) == 99


def test_a_gift_arriving_live_reads_in_the_viewers_language(live_server, new_context, live_stream):
    """The event carries the stored name ("Coffee"); the page shows it as its own gift bar does."""
    page = new_context(locale="de-DE").new_page()
    page.goto(f"{live_server.url}/live/{live_stream.pk}/")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    sender = make_user(email="vera@example.com", display_name="Vera")
    fund(sender, 100)

    send_gifts(sender, live_stream, Gift.objects.get(slug="coffee"), 1)

    expect(page.get_by_test_id("feed")).to_contain_text("Vera", timeout=5_000)
    expect(page.get_by_test_id("feed")).to_contain_text("1 × Kaffee")
    expect(page.get_by_test_id("feed")).not_to_contain_text("Coffee")


def test_gifts_the_goal_and_the_end_arrive_over_the_event_stream_without_reloading(transactional_db, new_context, bob):
    """The page as deployed (uvicorn, plain-ASGI event stream): each event is drawn from its payload, no polling."""
    if not Country.objects.exists():
        importlib.import_module("wallet.migrations.0004_seed_catalogue").seed(apps, None)
    if not Gift.objects.exists():
        importlib.import_module("gifting.migrations.0003_seed_gifts").seed(apps, None)
    ensure_countries()
    stream = stream_start(creator=bob, title="Evening stream", goal_coins=2, goal_label="Two roses")
    alice = make_user(email="alice@example.com", display_name="Alice")
    fund(alice, 10)
    rose = Gift.objects.get(slug="rose")
    server = UvicornServer({"REDIS_URL": ""})
    try:
        server.wait_until_up(f"/live/{stream.pk}/poll/")
        page = new_context().new_page()
        polls = []
        page.on("request", lambda request: polls.append(request.url) if "/poll/" in request.url else None)
        page.goto(f"http://127.0.0.1:{server.port}/live/{stream.pk}/")
        page.evaluate("window.loadedOnce = true")
        expect(page.get_by_test_id("viewer-count")).to_contain_text("1 watching now")  # its event stream is open

        send_gifts(alice, stream, rose, 1)
        expect(page.get_by_test_id("feed")).to_contain_text("Alice sent 1 × Rose")
        expect(page.get_by_test_id("feed")).to_contain_text(re.compile(r"1 coin \(\$0\.0\d\)"))
        expect(page.locator(".goal-numbers")).to_contain_text("1 / 2 coins")
        expect(page.locator(".goal-label")).to_contain_text("Goal: Two roses")  # redrawn from the event
        send_gifts(alice, stream, rose, 1, anonymous=True)
        expect(page.get_by_test_id("feed")).to_contain_text("Anonymous sent 1 × Rose")
        expect(page.locator(".goal")).to_contain_text("Goal reached!")
        expect(page.get_by_test_id("leaderboard")).to_contain_text("Alice", timeout=10_000)

        stream_end(stream=stream, creator=bob)
        publisher().flush()
        expect(page.get_by_test_id("stream-ended")).to_be_visible()
        expect(page.locator(".stage-top .badge")).to_have_text("Ended")
        assert page.evaluate("window.loadedOnce") is True
        assert polls == []
    finally:
        server.stop()
