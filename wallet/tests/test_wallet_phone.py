"""The wallet's tables on a phone: each row becomes a short list, every value under its column's name, so the
amounts need no sideways swipe (`.table-stack` in static/css/site.css). The names come from the cells'
`data-label`, which must say what the column header says, in the reader's language."""

import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from coinsite.accounts.tests.factories import PASSWORD, make_user
from wallet.models import TopUpStatus
from wallet.tests.test_topup_pages import make_topup
from wallet.tests.test_wallet_page import credit, debit

INDEX = reverse("wallet:index")


class StackedTables(HTMLParser):
    """Each `.table-stack` table of a page: its headers' text and, per body row, its cells' data-label (None
    for a cell without one)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict] = {}
        self.table: dict | None = None
        self.header: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "table" and "table-stack" in (attributes.get("class") or "").split():
            self.table = self.tables[attributes["data-testid"]] = {"headers": [], "rows": []}
        elif self.table is None:
            return
        elif tag == "th":
            self.header = []
        elif tag == "tr" and self.header is None and self.table["headers"]:
            self.table["rows"].append([])
        elif tag == "td":
            self.table["rows"][-1].append(attributes.get("data-label"))

    def handle_data(self, data: str) -> None:
        if self.header is not None:
            self.header.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "th" and self.table is not None and self.header is not None:
            self.table["headers"].append(" ".join("".join(self.header).split()))
            self.header = None
        elif tag == "table":
            self.table = None


@pytest.mark.django_db
def test_every_wallet_value_is_named_by_its_column_in_the_readers_language(client):
    erika = make_user(email="erika@example.com", display_name="Erika", country="DE", language="de")
    credit(erika, 700, memo="Top-up")
    debit(erika, 50, memo="2 x Coffee")
    make_topup(erika, status=TopUpStatus.CANCELLED)
    client.force_login(erika)

    parser = StackedTables()
    parser.feed(client.get(INDEX).content.decode())

    history, topups = parser.tables["history"], parser.tables["topups"]
    assert history["headers"] == ["Datum", "Art", "Beschreibung", "Münzen", "Guthaben danach"]
    assert len(history["rows"]) == 2
    assert all(row == history["headers"] for row in history["rows"])
    # The receipt link's column has a header for screen readers only; its cell stands alone on a phone.
    assert topups["headers"] == ["Datum", "Münzen", "Preis", "Status", "Quittung"]
    assert topups["rows"] == [["Datum", "Münzen", "Preis", "Status", None]]


@pytest.mark.browser
def test_at_phone_width_the_history_shows_its_amounts_without_a_sideways_swipe(live_server, page, settings):
    settings.SITE_URL = live_server.url
    erika = make_user(email="erika@example.com", display_name="Erika", country="DE", language="de")
    credit(erika, 7_350, memo="Top-up: 7,350 coins for $99.99")
    debit(erika, 199, memo="1 x Guitar")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/accounts/login/")
    page.locator("input[name=login]").fill("erika@example.com")
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".nav-name")).to_have_text("Erika")

    page.goto(f"{live_server.url}{INDEX}")
    balance = page.locator("[data-testid=history] tbody tr").first.locator("td").last
    expect(balance).to_contain_text(re.compile(r"7\.151\sMünzen"))
    box = balance.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    label = balance.evaluate("cell => getComputedStyle(cell, '::before').content")
    assert label == '"Guthaben danach"'
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator(".table-scroll").first.evaluate("region => region.scrollWidth <= region.clientWidth")

    page.set_viewport_size({"width": 1280, "height": 844})  # a table again, its header row shown
    expect(page.locator("[data-testid=history] thead th").last).to_be_visible()
    assert balance.evaluate("cell => getComputedStyle(cell, '::before').content") == "none"
