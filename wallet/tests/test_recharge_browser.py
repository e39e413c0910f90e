"""A viewer buys coins in Chromium: Buy coins → hosted checkout → webhook over HTTP → receipt."""

import re

import pytest
from playwright.sync_api import expect

from coinsite.accounts.tests.factories import PASSWORD, make_user
from wallet.audit import ledger_audit_run
from wallet.ledger import user_balance
from wallet.models import Asset, PaymentWebhookEvent, TopUp, TopUpStatus
from wallet.sandbox.models import SandboxSession

pytestmark = pytest.mark.browser


@pytest.fixture
def vera(live_server, settings, catalogue):
    """A viewer, and a site that sends payers and webhooks to the live server."""
    settings.SITE_URL = live_server.url
    settings.SANDBOX_WEBHOOK_URL = f"{live_server.url}/wallet/webhooks/sandbox/"
    return make_user(email="vera@example.com", display_name="Vera")


def log_in(page, live_server):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill("vera@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".nav-name")).to_have_text("Vera")


def choose_700_coins_by_card(page):
    page.get_by_role("link", name="Wallet", exact=True).click()
    page.get_by_role("navigation", name="Wallet").get_by_role("link", name="Buy coins").click()
    expect(page.get_by_role("heading", name="Buy coins")).to_be_visible()
    page.get_by_role("radio", name=re.compile(r"^700 \$9\.99")).check()
    page.get_by_role("radio", name="Credit or debit card").check()
    page.get_by_role("button", name="Continue to payment").click()


def test_a_viewer_buys_700_coins_with_a_card_and_sees_the_receipt(live_server, page, vera, mailoutbox):
    log_in(page, live_server)
    page.goto(f"{live_server.url}/wallet/recharge/")
    # The custom amount's price is previewed as the viewer types; they then settle on a package,
    # leaving a number in the field that the form must ignore.
    page.get_by_label("Number of coins").fill("1000")
    expect(page.get_by_text("1,000 coins cost $14.14.")).to_be_visible()
    expect(page.get_by_role("radio", name="Custom amount")).to_be_checked()
    page.get_by_label("Number of coins").fill("0")
    expect(page.get_by_text("Enter a whole number from 30 to 250,000.")).to_be_visible()
    choose_700_coins_by_card(page)

    expect(page.get_by_text("TEST PAYMENT PAGE")).to_be_visible()
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry date").fill("12 / 34")
    page.get_by_label("Security code").fill("123")
    page.get_by_role("button", name="Pay $9.99").click()

    expect(page.get_by_role("heading", name="Receipt")).to_be_visible()
    expect(page.get_by_text("Thank you! 700 coins were added to your wallet.")).to_be_visible()
    topup = TopUp.objects.get(user=vera)
    expect(page.get_by_text(str(topup.public_id))).to_be_visible()
    expect(page.locator(".facts")).to_contain_text("$9.99")
    assert topup.status == TopUpStatus.SUCCEEDED
    # The sandbox's webhook crossed HTTP to the live server before the payer came back.
    event = PaymentWebhookEvent.objects.get()
    assert (event.event_id, event.outcome) == (SandboxSession.objects.get().event_id, "credited")
    assert SandboxSession.objects.get().webhook_state == SandboxSession.WebhookState.DELIVERED
    [receipt] = mailoutbox
    assert receipt.to == ["vera@example.com"]
    assert f"Receipt number: {topup.public_id}" in receipt.body

    page.get_by_role("link", name="Go to your wallet").click()
    expect(page.get_by_role("heading", name="Wallet", exact=True)).to_be_visible()
    expect(page.get_by_test_id("balance")).to_have_text("700 coins")
    assert user_balance(vera, Asset.COIN) == 700
    assert ledger_audit_run().ok


def test_with_stripe_the_payer_reaches_stripe_checkout(live_server, page, vera, stripe_http):
    page.route(
        "https://checkout.stripe.com/**",
        lambda route: route.fulfill(
            status=200, content_type="text/html", body="<h1>Stripe Checkout (test double)</h1>"
        ),
    )
    log_in(page, live_server)

    choose_700_coins_by_card(page)

    expect(page).to_have_url("https://checkout.stripe.com/c/pay/cs_test_first")
    expect(page.get_by_role("heading", name="Stripe Checkout (test double)")).to_be_visible()
    topup = TopUp.objects.get(user=vera)
    assert (topup.provider, topup.provider_session_id, topup.status) == ("stripe", "cs_test_first", TopUpStatus.PENDING)
