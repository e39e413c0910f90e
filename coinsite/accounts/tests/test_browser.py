"""A person signs up, verifies, enables 2FA, logs out and logs back in with a code — in Chromium."""

import re

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from coinsite.accounts.tests.factories import next_totp_code, totp_code

PASSWORD = "a-long-unusual-passphrase"


@pytest.mark.browser
def test_sign_up_verify_enable_two_factor_and_log_in_with_a_code(live_server, page, mailoutbox):
    page.goto(f"{live_server.url}/accounts/signup/")
    page.get_by_label("Email").fill("erin@example.com")
    page.get_by_label("Display name").fill("Erin")
    page.get_by_label("Country").select_option("FR")
    page.get_by_label("Birth date").fill("1996-08-21")
    page.get_by_label("Preferred currency").select_option("EUR")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()

    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mailoutbox[-1].body).group(0)
    page.goto(link)
    page.get_by_role("button", name="Confirm").click()

    _log_in_with_password(page, live_server)
    expect(page.locator(".nav-name")).to_have_text("Erin")

    page.goto(f"{live_server.url}/accounts/2fa/setup/")
    expect(page.get_by_alt_text("QR code for your authenticator app")).to_be_visible()
    device = TOTPDevice.objects.get(user__email="erin@example.com", confirmed=False)
    page.get_by_label("Code from your app").fill(totp_code(device))
    page.get_by_role("button", name="Turn on two-factor").click()
    expect(page.get_by_role("heading", name="Your backup codes")).to_be_visible()
    expect(page.get_by_test_id("backup-codes").locator("li")).to_have_count(10)

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()

    _log_in_with_password(page, live_server)
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    page.get_by_label("Authentication code").fill(next_totp_code(device))
    page.get_by_role("button", name="Verify and log in").click()
    expect(page.locator(".nav-name")).to_have_text("Erin")
    page.goto(f"{live_server.url}/accounts/2fa/")
    expect(page.get_by_text("Logging in asks for a code")).to_be_visible()


def _log_in_with_password(page, live_server):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill("erin@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
