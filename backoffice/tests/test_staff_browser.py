"""A staff member logs in with 2FA and approves a large payout in Django admin — in Chromium."""

import pytest
from playwright.sync_api import expect

from backoffice.tests.support import make_staff
from coinsite.accounts.tests.factories import PASSWORD, enroll_totp
from gifting.tests.support import ensure_countries
from payouts.exchange import rates_load
from payouts.models import Payout, PayoutStatus
from payouts.services import payout_request
from payouts.tests.support import add_method, give_diamonds

pytestmark = pytest.mark.browser


@pytest.fixture
def waiting_payout(live_server, bob):
    ensure_countries()
    rates_load()
    give_diamonds(bob, 300_000)
    return payout_request(creator=bob, method_id=add_method(bob).pk, diamonds=250_000, idempotency_key="big")


def test_staff_logs_in_with_a_code_and_approves_a_payout(live_server, page, waiting_payout):
    assert waiting_payout.status == PayoutStatus.AWAITING_APPROVAL
    staff = make_staff(email="fiona@example.com", group="finance")
    _device, codes = enroll_totp(staff)

    page.goto(f"{live_server.url}/admin/")
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Authentication code").fill(codes[0])
    page.get_by_role("button", name="Verify and log in").click()

    expect(page.get_by_role("heading", name="Operations")).to_be_visible()
    page.locator("#payouts-payout").get_by_role("link", name="Payouts").click()
    page.get_by_role("checkbox", name="Select this object for an action").first.check()
    page.get_by_label("Action:").select_option("approve")
    page.get_by_role("button", name="Run").click()

    expect(page.get_by_text("1 payout approved.")).to_be_visible()
    waiting_payout.refresh_from_db()
    assert waiting_payout.reviewed_by == staff
    assert waiting_payout.status in (PayoutStatus.PAID, PayoutStatus.SUBMITTED)
    assert Payout.objects.count() == 1
