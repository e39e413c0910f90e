"""In Chromium: a French viewer's Buy coins page prices a custom amount the French way in JavaScript (the
catalogue script loads under the CSP), and the footer's chooser switches the site to German, at phone width."""

import re

import pytest
from playwright.sync_api import expect

from coinsite.accounts.models import User
from coinsite.accounts.tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.browser


@pytest.fixture
def camille(live_server, settings, catalogue):
    settings.SITE_URL = live_server.url
    return make_user(
        email="camille@example.com", display_name="Camille", country="FR", preferred_currency="EUR", language="fr"
    )


def log_in(page, live_server):
    page.goto(f"{live_server.url}/accounts/login/")  # signed out: the browser's English
    page.get_by_label("Email").fill("camille@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".nav-name")).to_have_text("Camille")


def test_a_french_viewer_sees_french_prices_and_switches_to_german_at_phone_width(live_server, page, camille):
    console = []
    page.on("console", lambda message: console.append(message.text))
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server)

    page.goto(f"{live_server.url}/wallet/recharge/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator(".package-price").first).to_have_text(re.compile(r"^1,09\s€$"))
    page.get_by_label("Nombre de pièces").fill("1000")
    expect(page.locator("#custom-price")).to_have_text(re.compile(r"^1\s000 pièces coûtent 15,57\s€\.$"))

    chooser = page.locator("#footer-language")
    expect(chooser).to_have_value("fr")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing overflows at phone width
    chooser.select_option("de")
    page.locator(".language-chooser button").click()

    expect(page.locator("html")).to_have_attribute("lang", "de")
    assert page.url == f"{live_server.url}/wallet/recharge/"
    expect(page.locator(".package-price").first).to_have_text(re.compile(r"^1,09\s€$"))
    assert User.objects.get(pk=camille.pk).language == "de"
    assert [text for text in console if "Content Security Policy" in text] == []
