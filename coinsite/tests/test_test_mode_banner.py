"""A site running a sandbox provider (staging with ALLOW_SANDBOX_PROVIDERS, or a provider's test keys)
says so on every page, site and admin alike; a live site shows nothing."""

import re

import pytest
from django.urls import reverse

from coinsite.accounts.tests.factories import PASSWORD, enroll_totp, totp_code

pytestmark = pytest.mark.django_db

PAGES = ["/", "/live/", "/accounts/login/", "/accounts/signup/"]
ADMIN_PAGES = ["/admin/", "/admin/accounts/user/"]
BOTH = "Test mode — no real money. Coin purchases take test cards only and creators receive no real payouts."
PAYMENTS = "Test mode — no real money. Coin purchases take test cards only; nothing is charged."
PAYOUTS = "Test mode — payouts are simulated. Creators receive no real money from payouts on this site."


@pytest.fixture
def staff_client(client, charlie):
    """Charlie (here a superuser, so every admin page opens) in admin, after the password and a 2FA code."""
    charlie.is_superuser = True
    charlie.save(update_fields=["is_superuser"])
    device, _ = enroll_totp(charlie)
    client.post(reverse("account_login"), {"login": charlie.email, "password": PASSWORD})
    client.post(reverse("accounts:two-factor-login"), {"code": totp_code(device)})
    return client


def banner_text(body: str) -> str | None:
    match = re.search(r'<aside class="test-mode-banner"[^>]*>(.*?)</aside>', body, re.S)
    return " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split()) if match else None


@pytest.mark.parametrize("url", PAGES)
def test_every_page_says_test_mode_when_both_sides_are_sandboxes(client, settings, url):
    settings.TEST_MODE_PAYMENTS = settings.TEST_MODE_PAYOUTS = True

    body = client.get(url).content.decode()

    assert banner_text(body) == BOTH
    assert '<aside class="test-mode-banner" aria-labelledby="test-mode-title"' in body
    assert '<strong id="test-mode-title">' in body
    assert 'href="/static/css/test-mode.css"' in body


@pytest.mark.parametrize(("payments", "payouts", "text"), [(True, False, PAYMENTS), (False, True, PAYOUTS)])
def test_the_banner_names_the_side_that_is_simulated(client, settings, payments, payouts, text):
    settings.TEST_MODE_PAYMENTS, settings.TEST_MODE_PAYOUTS = payments, payouts

    assert banner_text(client.get("/").content.decode()) == text


@pytest.mark.parametrize("url", PAGES)
def test_a_live_site_shows_no_banner(client, settings, url):
    settings.TEST_MODE_PAYMENTS = settings.TEST_MODE_PAYOUTS = False

    body = client.get(url).content.decode()

    assert "test-mode-banner" not in body
    assert "test-mode.css" not in body


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_admin_pages_say_test_mode_too(staff_client, settings, url):
    settings.TEST_MODE_PAYMENTS = settings.TEST_MODE_PAYOUTS = True

    response = staff_client.get(url)

    assert response.status_code == 200
    body = response.content.decode()
    assert banner_text(body) == BOTH
    assert 'href="/static/css/test-mode.css"' in body


def test_a_live_admin_shows_no_banner(staff_client, settings):
    settings.TEST_MODE_PAYMENTS = settings.TEST_MODE_PAYOUTS = False

    body = staff_client.get("/admin/").content.decode()

    assert "Coinsite staff" in body
    assert "test-mode-banner" not in body
