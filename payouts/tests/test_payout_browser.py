"""A creator with demo earnings logs in with 2FA, requests a payout and sees it paid — in Chromium."""

import importlib

import pytest
from django.apps import apps
from playwright.sync_api import expect

from coinsite.accounts.tests.factories import PASSWORD, enroll_totp
from gifting.models import Gift
from payouts.demo import _earnings_history, _ensure_method
from payouts.earnings import earnings_rollup_all
from payouts.exchange import rates_load
from payouts.models import Payout, PayoutStatus
from wallet.ledger import user_balance
from wallet.models import Asset

pytestmark = pytest.mark.browser


@pytest.fixture
def creator_with_demo_earnings(live_server, bob):
    if not Gift.objects.exists():  # flushed by real-transaction tests; put the catalogue back
        importlib.import_module("gifting.migrations.0003_seed_gifts").seed(apps, None)
    rates_load()
    _earnings_history(bob)
    earnings_rollup_all()
    _ensure_method(bob)
    _device, codes = enroll_totp(bob)
    return bob, codes


def test_a_creator_requests_a_payout_and_sees_it_paid(live_server, page, creator_with_demo_earnings):
    bob, codes = creator_with_demo_earnings
    diamonds_before = user_balance(bob, Asset.DIAMOND)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(bob.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Authentication code").fill(codes[0])
    page.get_by_role("button", name="Verify and log in").click()
    expect(page.locator(".nav-name")).to_have_text("Bob")

    page.get_by_role("link", name="Creator", exact=True).click()
    expect(page.get_by_role("heading", name="Earnings", exact=True)).to_be_visible()
    expect(page.get_by_test_id("available")).to_contain_text("diamonds (£")  # Bob is paid in pounds
    # The code typed at login a moment ago is the fresh 2FA check a payout needs.
    page.get_by_label("Diamonds to pay out").fill("12000")
    page.get_by_role("button", name="Request payout").click()

    expect(page.get_by_role("heading", name="Payout of 12,000 diamonds")).to_be_visible()
    expect(page.get_by_test_id("payout-status")).to_have_text("Paid", timeout=15_000)
    expect(page.get_by_test_id("payout-net")).to_contain_text("£")
    payout = Payout.objects.get()
    assert payout.status == PayoutStatus.PAID
    assert user_balance(bob, Asset.DIAMOND) == diamonds_before - 12_000
