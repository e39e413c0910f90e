"""Recharge: the Buy coins page, starting a top-up, and the whole sandbox journey with the test client."""

import datetime
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from coinsite.accounts.tests.factories import make_user
from wallet.ledger import user_balance
from wallet.models import (
    Asset,
    CoinPackage,
    CoinPackagePrice,
    LedgerTransaction,
    PaymentWebhookEvent,
    SpendingControls,
    TopUp,
    TopUpStatus,
)
from wallet.providers.base import ProviderError
from wallet.providers.sandbox import SandboxProvider
from wallet.sandbox.models import SandboxSession
from wallet.tests.support import CARD, START_URL, SUCCESS_CARD, deliver_sent, package, pay, start, written

pytestmark = pytest.mark.usefixtures("ledger_stays_consistent")

RECHARGE_URL = reverse("wallet:recharge")
DECLINE_CARD = {**CARD, "card_number": "4000 0000 0000 0002"}


# --- helpers (the ones other modules share are in support.py) --------------------------------------


def site_path(url: str) -> str:
    """The path (and query) of an absolute URL, for the test client."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


NOTHING_WRITTEN = {
    "topups": 0,
    "sandbox sessions": 0,
    "webhook events": 0,
    "ledger transactions": 0,
    "ledger entries": 0,
}


def years_ago(years: int, *, days: int = 0) -> datetime.date:
    today = timezone.localdate()
    try:
        day = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        day = today.replace(year=today.year - years, day=28)
    return day - datetime.timedelta(days=days)


@pytest.fixture
def alice_client(client, alice, outbox):
    client.force_login(alice)
    return client


@pytest.fixture
def japan_client(client, db, outbox):
    client.force_login(
        make_user(email="kenji@example.com", display_name="Kenji", country="JP", preferred_currency="JPY")
    )
    return client


# --- the Buy coins page ---------------------------------------------------------------------------


def test_recharge_page_shows_packages_per_coin_prices_custom_amount_methods_and_notice(alice_client):
    response = alice_client.get(RECHARGE_URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Prices in USD for United States of America." in html  # the name django-countries gives
    for coins, price, per_coin in [
        ("70", "$0.99", "$0.0141"),
        ("700", "$9.99", "$0.0143"),
        ("1,400", "$19.99", "$0.0143"),
        ("17,500", "$249.99", "$0.0130"),
    ]:
        assert f'<span class="coin" aria-hidden="true"></span>{coins}</span>' in html
        assert f'<span class="package-price">{price}</span>' in html
        assert f"{per_coin} per coin" in html
    assert html.count('name="choice"') == 7 + 1  # seven packages and the custom amount
    assert "+350 bonus" in html and "+1,750 bonus" in html
    assert "Buy exactly the coins you need at $0.0141 per coin." in html
    assert "Number of coins (30\u2013250,000)" in html
    assert 'min="30" max="250000"' in html
    for label in ["Credit or debit card", "PayPal", "Google Pay", "Apple Pay"]:
        assert f"> {label}</label>" in html
    assert "Mobile carrier billing" not in html
    assert "coins are non-refundable and cannot be transferred to other users" in html


def test_recharge_page_in_japan_shows_yen_and_the_countrys_methods(japan_client):
    html = japan_client.get(RECHARGE_URL).content.decode()

    assert "Prices in JPY for Japan." in html
    assert '<span class="package-price">¥1,600</span>' in html
    assert '<span class="package-price">¥40,000</span>' in html
    assert "$" not in html.split('class="packages"')[1].split("</fieldset>")[0]
    assert "> Mobile carrier billing</label>" in html
    assert "> Credit or debit card</label>" in html
    assert "PayPal" not in html


def _teen(_):
    return make_user(email="teen@example.com", birth_date=years_ago(18, days=-1))


def _no_birth_date(_):
    return make_user(email="nobirth@example.com", birth_date=None)


def _china(_):
    return make_user(email="li@example.com", country="CN")


def _new_zealand(_):
    return make_user(email="claire@example.com", country="NZ")  # not sold in (no wallet.Country row)


def _self_excluded(_):
    user = make_user(email="paused@example.com")
    until = datetime.datetime(2099, 1, 31, 18, 30, tzinfo=datetime.UTC)
    SpendingControls.objects.create(user=user, excluded_until=until)
    return user


@pytest.mark.parametrize(
    ("make_viewer", "reason"),
    [
        (_teen, "Coins can only be bought by people aged 18 or over. You can still watch live streams."),
        (_no_birth_date, "Add your birth date to your profile before buying coins: coins are sold only to adults."),
        (_china, "Buying coins and sending gifts are not available in China."),
        (_new_zealand, "Buying coins is not available in your country yet."),
        (
            _self_excluded,
            "You paused recharging and gifting until Jan 31, 2099, 6:30\u202fPM (UTC). The pause cannot be lifted "
            "early.",
        ),
    ],
)
def test_viewers_who_may_not_recharge_are_told_why_and_their_posts_are_refused(
    client,
    db,
    outbox,
    mailoutbox,
    make_viewer,
    reason,
):
    viewer = make_viewer(None)
    client.force_login(viewer)

    page = client.get(RECHARGE_URL)
    refused = start(client, choice=str(package(700).pk))
    refused_custom = start(client, choice="custom", custom_coins="500")

    assert page.status_code == 200
    assert f'<p data-testid="recharge-unavailable">{reason}</p>' in page.content.decode()
    assert 'name="choice"' not in page.content.decode()
    for response in (refused, refused_custom):
        assert response.status_code == 403
        assert reason in response.content.decode()
    assert written() == NOTHING_WRITTEN
    assert user_balance(viewer, Asset.COIN) == 0
    assert mailoutbox == []
    assert outbox.sent == []


def test_a_viewer_who_turned_18_today_may_recharge(client, db, outbox):
    client.force_login(make_user(email="birthday@example.com", birth_date=years_ago(18)))

    response = start(client, choice=str(package(70).pk))

    assert response.status_code == 302
    assert TopUp.objects.get().amount == Money("0.99", "USD")


def test_anonymous_visitors_are_sent_to_log_in(client, db):
    for response in (client.get(RECHARGE_URL), start(client, choice="custom", custom_coins="100")):
        assert response.status_code == 302
        assert response.url.startswith("/accounts/login/")
    assert written() == NOTHING_WRITTEN


# --- starting a top-up ----------------------------------------------------------------------------


def test_starting_a_package_top_up_opens_the_hosted_checkout_at_the_catalogue_price(alice_client, alice, mailoutbox):
    # Extra fields a tampered form might carry are ignored: the price comes from the catalogue.
    response = start(
        alice_client, choice=str(package(700).pk), amount="0.01", price="0.01", coins="1000000", currency="JPY"
    )

    topup = TopUp.objects.get()
    session = SandboxSession.objects.get()
    assert response.status_code == 302
    assert response.url == f"/sandbox-pay/checkout/{session.public_id}/"
    assert (topup.user, topup.package, topup.coins, topup.bonus_coins) == (alice, package(700), 700, 0)
    assert topup.amount == Money("9.99", "USD")
    assert (topup.country, topup.payment_method, topup.provider) == ("US", "card", "sandbox")
    assert topup.status == TopUpStatus.PENDING
    assert topup.provider_session_id == session.public_id
    assert topup.expires_at == session.expires_at
    assert topup.ledger_transaction is None
    assert session.reference == str(topup.public_id)
    assert session.amount == Money("9.99", "USD")
    assert session.description == "700 Coinsite coins"
    assert session.customer_email == "alice@example.com"
    assert session.success_url == f"http://127.0.0.1:8000/wallet/topups/{topup.public_id}/return/"
    assert session.cancel_url == f"http://127.0.0.1:8000/wallet/topups/{topup.public_id}/return/?cancelled=1"
    assert written() == {**NOTHING_WRITTEN, "topups": 1, "sandbox sessions": 1}
    assert user_balance(alice, Asset.COIN) == 0
    assert mailoutbox == []


def test_a_package_with_bonus_coins_charges_the_package_price(alice_client):
    start(alice_client, choice=str(package(7000).pk), payment_method="paypal")

    topup = TopUp.objects.get()
    assert (topup.coins, topup.bonus_coins, topup.total_coins) == (7000, 350, 7350)
    assert topup.amount == Money("99.99", "USD")
    assert topup.payment_method == "paypal"
    assert SandboxSession.objects.get().description == "7,350 Coinsite coins"


@pytest.mark.parametrize(
    ("coins", "price"),
    [
        (30, Money("0.42", "USD")),  # 30 x 0.014143 = 0.42429, rounded once at the end
        (1_000, Money("14.14", "USD")),  # 14.143
        (250_000, Money("3535.75", "USD")),
    ],
)
def test_custom_amounts_within_the_limits_are_priced_from_the_per_coin_rate(alice_client, coins, price):
    response = start(alice_client, choice="custom", custom_coins=str(coins), amount="0.01")

    assert response.status_code == 302
    topup = TopUp.objects.get()
    assert (topup.package, topup.coins, topup.bonus_coins, topup.amount) == (None, coins, 0, price)
    assert SandboxSession.objects.get().amount == price


@pytest.mark.parametrize(
    ("custom_coins", "message"),
    [
        ("29", "Choose between 30 and 250,000 coins."),
        ("250001", "Choose between 30 and 250,000 coins."),
        ("0", "Choose between 30 and 250,000 coins."),
        ("-700", "Choose between 30 and 250,000 coins."),
        ("12.5", "Enter a whole number of coins."),
        ("1e3", "Enter a whole number of coins."),
        ("seven hundred", "Enter a whole number of coins."),
        ("", "Enter how many coins you want to buy."),
    ],
)
def test_custom_amounts_outside_the_limits_are_refused_and_nothing_is_created(
    alice_client,
    alice,
    mailoutbox,
    outbox,
    custom_coins,
    message,
):
    response = start(alice_client, choice="custom", custom_coins=custom_coins)

    assert response.status_code == 400
    html = response.content.decode()
    assert f"<li>{message}</li>" in html
    assert 'value="custom" checked' in html  # the viewer's choice is kept for the correction
    assert written() == NOTHING_WRITTEN
    assert user_balance(alice, Asset.COIN) == 0
    assert mailoutbox == []


@pytest.mark.parametrize("leftover", ["5", "abc", "999999999"])
def test_a_package_is_bought_even_with_a_leftover_custom_amount_in_the_form(alice_client, leftover):
    # The browser submits the number field whichever radio is picked.
    response = start(alice_client, choice=str(package(700).pk), custom_coins=leftover)

    assert response.status_code == 302
    topup = TopUp.objects.get()
    assert (topup.coins, topup.amount) == (700, Money("9.99", "USD"))


def test_a_custom_amount_in_yen_is_charged_in_whole_yen(japan_client):
    response = start(japan_client, choice="custom", custom_coins="1000", payment_method="carrier_billing")

    assert response.status_code == 302
    topup = TopUp.objects.get()
    session = SandboxSession.objects.get()
    # 1,000 x 2.285714 = 2,285.714 yen, rounded to a whole yen.
    assert topup.amount == Money("2286", "JPY")
    assert str(topup.amount.amount) in {"2286", "2286.00"}
    assert (topup.country, topup.payment_method) == ("JP", "carrier_billing")
    assert session.price == Money("2286", "JPY")
    assert str(session.price.amount) == "2286"
    page = japan_client.get(response.url).content.decode()
    assert "¥2,286" in page
    assert "1,000 Coinsite coins" in page


def test_a_yen_package_keeps_its_set_price(japan_client):
    start(japan_client, choice=str(package(700).pk))

    assert TopUp.objects.get().amount == Money("1600", "JPY")
    assert SandboxSession.objects.get().price == Money("1600", "JPY")


@pytest.mark.parametrize(
    ("data", "field_message"),
    [
        ({"choice": "999999"}, "That coin package is not available in your currency."),
        ({"choice": "abc"}, "That coin package is not available in your currency."),
        ({"choice": ""}, "Choose a coin package or a custom amount."),
        (
            {"choice": "700", "payment_method": "carrier_billing"},
            "Choose one of the payment methods offered in your country.",
        ),
        ({"choice": "700", "payment_method": "bitcoin"}, "Choose one of the payment methods offered in your country."),
        ({"choice": "700", "payment_method": ""}, "Choose how you want to pay."),
    ],
)
def test_tampered_packages_and_methods_get_a_clear_error_and_create_nothing(
    alice_client, alice, mailoutbox, data, field_message
):
    if data["choice"] == "700":
        data = {**data, "choice": str(package(700).pk)}

    response = start(alice_client, **data)

    assert response.status_code == 400
    assert f"<li>{field_message}</li>" in response.content.decode()
    assert written() == NOTHING_WRITTEN
    assert user_balance(alice, Asset.COIN) == 0
    assert mailoutbox == []


def test_an_inactive_package_cannot_be_bought(alice_client):
    retired = package(350)
    CoinPackage.objects.filter(pk=retired.pk).update(is_active=False)

    page = alice_client.get(RECHARGE_URL).content.decode()
    response = start(alice_client, choice=str(retired.pk))

    assert f'value="{retired.pk}"' not in page
    assert response.status_code == 400
    assert "That coin package is not available in your currency." in response.content.decode()
    assert written() == NOTHING_WRITTEN


def test_a_package_priced_only_in_another_currency_cannot_be_bought(japan_client):
    usd_only = CoinPackage.objects.create(coins=42, sort_order=99)
    CoinPackagePrice.objects.create(package=usd_only, price=Money("0.50", "USD"))

    response = start(japan_client, choice=str(usd_only.pk))

    assert response.status_code == 400
    assert "That coin package is not available in your currency." in response.content.decode()
    assert written() == NOTHING_WRITTEN


def test_starting_top_ups_is_rate_limited(alice_client, monkeypatch):
    monkeypatch.setattr("coinsite.lib.rate_limit.time.time", lambda: 1_200_000.0)  # all in one minute window
    responses = [start(alice_client, choice=str(package(70).pk)) for _ in range(11)]

    assert [response.status_code for response in responses] == [302] * 10 + [429]
    assert "Too many payment attempts. Wait a minute and try again." in responses[-1].content.decode()
    assert TopUp.objects.count() == 10
    assert SandboxSession.objects.count() == 10


def test_the_rate_limit_is_per_viewer(alice_client, bob, client):
    for _ in range(10):
        start(alice_client, choice=str(package(70).pk))
    client.force_login(bob)

    response = start(client, choice=str(package(70).pk))

    assert response.status_code == 302
    assert TopUp.objects.filter(user=bob).get().amount == Money("0.89", "GBP")


def test_start_only_accepts_post(alice_client):
    assert alice_client.get(START_URL).status_code == 405
    assert written() == NOTHING_WRITTEN


# --- the whole journey with the sandbox provider ----------------------------------------------------


def test_full_journey_pay_webhook_credits_once_and_sends_one_receipt(
    alice_client,
    alice,
    outbox,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks

    checkout = alice_client.get(start(alice_client, choice=str(package(700).pk)).url)
    topup = TopUp.objects.get()
    paid = pay(alice_client, topup, capture, **SUCCESS_CARD)

    assert checkout.status_code == 200
    assert "TEST PAYMENT PAGE" in checkout.content.decode()
    assert "$9.99" in checkout.content.decode()
    assert paid.status_code == 302
    assert paid.url == f"http://127.0.0.1:8000/wallet/topups/{topup.public_id}/return/"
    [sent] = outbox.sent
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.PENDING  # nothing is credited until the provider confirms
    assert user_balance(alice, Asset.COIN) == 0

    webhook = deliver_sent(alice_client, sent, capture)

    assert webhook.status_code == 200
    assert webhook.json() == {"received": True, "outcomes": ["credited"]}
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.SUCCEEDED
    assert topup.completed_at is not None and topup.receipt_sent_at is not None
    assert user_balance(alice, Asset.COIN) == 700
    posting = LedgerTransaction.objects.get()
    assert posting == topup.ledger_transaction
    assert (posting.kind, posting.idempotency_key) == ("topup", f"topup:{topup.public_id}")
    assert posting.memo == "Recharge: 700 coins for $9.99"
    assert sorted(posting.entries.values_list("amount", flat=True)) == [-700, 700]
    event = PaymentWebhookEvent.objects.get()
    assert (event.provider, event.event_type, event.topup, event.outcome) == ("sandbox", "succeeded", topup, "credited")

    [receipt] = mailoutbox
    assert receipt.to == ["alice@example.com"]
    assert receipt.subject == "Your Coinsite receipt: 700 coins"
    assert "Thank you for your purchase. 700 coins were added to your Coinsite wallet." in receipt.body
    assert f"Receipt number: {topup.public_id}" in receipt.body
    assert "Coins:          700\n" in receipt.body
    assert "Price paid:     $9.99" in receipt.body
    assert "Payment method: Credit or debit card" in receipt.body
    assert f"http://127.0.0.1:8000/wallet/topups/{topup.public_id}/" in receipt.body
    assert "Coins are non-refundable and cannot be transferred to other users." in receipt.body
    [(html, mimetype)] = receipt.alternatives
    assert mimetype == "text/html"
    assert str(topup.public_id) in html and "<strong>$9.99</strong>" in html and "non-refundable" in html

    # The payer's browser comes back; the page shows the receipt and credits nothing more.
    with capture(execute=True):
        returned = alice_client.get(site_path(paid.url))
    receipt_page = alice_client.get(returned.url)

    assert returned.status_code == 302
    assert returned.url == f"/wallet/topups/{topup.public_id}/"
    html = receipt_page.content.decode()
    assert "<h1>Receipt</h1>" in html
    assert 'data-status="succeeded"' in html
    assert "Thank you! 700 coins were added to your wallet." in html
    assert f"<code>{topup.public_id}</code>" in html
    assert "<dd>$9.99</dd>" in html
    assert "<dd>Credit or debit card</dd>" in html
    assert "(worth $9.90)" in html  # 700 coins at the base per-coin price
    assert "Coins are non-refundable" in html
    assert 'http-equiv="refresh"' not in html

    # The provider sends the same event again: acknowledged, nothing more happens.
    replay = deliver_sent(alice_client, sent, capture)

    assert replay.status_code == 200
    assert replay.json()["outcomes"] == ["duplicate event"]
    assert user_balance(alice, Asset.COIN) == 700
    assert LedgerTransaction.objects.count() == 1
    assert len(mailoutbox) == 1


def test_declined_card_fails_the_top_up_and_credits_nothing(
    alice_client,
    alice,
    outbox,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks
    start(alice_client, choice=str(package(700).pk))
    topup = TopUp.objects.get()

    declined = pay(alice_client, topup, capture, **DECLINE_CARD)
    [sent] = outbox.sent
    webhook = deliver_sent(alice_client, sent, capture)

    assert declined.url == f"/sandbox-pay/checkout/{topup.provider_session_id}/"  # explained there first
    assert webhook.status_code == 200
    assert webhook.json()["outcomes"] == ["failed"]
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.FAILED
    assert topup.status_reason == "Provider reported the payment failed."
    assert topup.ledger_transaction is None
    assert user_balance(alice, Asset.COIN) == 0
    assert LedgerTransaction.objects.count() == 0
    assert mailoutbox == []
    html = alice_client.get(reverse("wallet:topup-detail", args=[topup.public_id])).content.decode()
    assert "<h1>Payment not completed</h1>" in html
    assert "Payment failed. No coins were added and nothing was charged." in html


def test_cancelling_on_the_payment_page_cancels_the_top_up(
    alice_client,
    alice,
    outbox,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks
    start(alice_client, choice="custom", custom_coins="500")
    topup = TopUp.objects.get()

    cancelled = pay(alice_client, topup, capture, action="cancel")
    with capture(execute=True):
        returned = alice_client.get(site_path(cancelled.url), follow=True)

    assert cancelled.url == f"http://127.0.0.1:8000/wallet/topups/{topup.public_id}/return/?cancelled=1"
    assert returned.redirect_chain == [(f"/wallet/topups/{topup.public_id}/", 302)]
    html = returned.content.decode()
    assert "The payment was cancelled. Nothing was charged." in html
    assert 'data-status="cancelled"' in html
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.CANCELLED

    # The provider's own cancellation webhook arrives afterwards and changes nothing.
    [sent] = outbox.sent
    assert deliver_sent(alice_client, sent, capture).json()["outcomes"] == ["ignored: already cancelled"]
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.CANCELLED
    assert user_balance(alice, Asset.COIN) == 0
    assert LedgerTransaction.objects.count() == 0
    assert mailoutbox == []


def test_the_return_page_credits_the_payment_even_if_the_webhook_never_arrives(
    alice_client,
    alice,
    outbox,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks
    start(alice_client, choice=str(package(1400).pk), payment_method="google_pay")
    topup = TopUp.objects.get()
    paid = pay(alice_client, topup, capture, method="google_pay", action="approve")

    with capture(execute=True):  # the webhook is lost: it stays in the outbox
        returned = alice_client.get(site_path(paid.url), follow=True)

    topup.refresh_from_db()
    assert topup.status == TopUpStatus.SUCCEEDED
    assert user_balance(alice, Asset.COIN) == 1400
    assert "Thank you! 1,400 coins were added to your wallet." in returned.content.decode()
    assert PaymentWebhookEvent.objects.get().event_id == f"status:{topup.provider_session_id}:succeeded"
    [receipt] = mailoutbox
    assert receipt.subject == "Your Coinsite receipt: 1,400 coins"
    assert "Price paid:     $19.99" in receipt.body

    # When the webhook does turn up, it is acknowledged and credits nothing more.
    [sent] = outbox.sent
    late = deliver_sent(alice_client, sent, capture)
    with capture(execute=True):
        alice_client.get(site_path(paid.url))

    assert late.json()["outcomes"] == ["ignored: already credited"]
    assert user_balance(alice, Asset.COIN) == 1400
    assert LedgerTransaction.objects.count() == 1
    assert len(mailoutbox) == 1


def test_the_return_page_of_a_checkout_still_open_shows_it_pending(alice_client, alice):
    start(alice_client, choice=str(package(70).pk))
    topup = TopUp.objects.get()

    response = alice_client.get(reverse("wallet:topup-return", args=[topup.public_id]), follow=True)

    html = response.content.decode()
    assert "<h1>Waiting for your payment</h1>" in html
    assert '<meta http-equiv="refresh" content="3">' in html
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.PENDING
    assert user_balance(alice, Asset.COIN) == 0


def test_the_return_page_shows_the_top_up_pending_when_the_provider_cannot_be_asked(alice_client, alice, monkeypatch):
    def outage(self, provider_session_id):
        raise ProviderError("The provider timed out.", retryable=True)

    start(alice_client, choice=str(package(70).pk))
    topup = TopUp.objects.get()
    monkeypatch.setattr(SandboxProvider, "session_status", outage)

    response = alice_client.get(reverse("wallet:topup-return", args=[topup.public_id]), follow=True)

    assert response.status_code == 200
    assert response.redirect_chain == [(f"/wallet/topups/{topup.public_id}/", 302)]
    assert "<h1>Waiting for your payment</h1>" in response.content.decode()
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.PENDING
    assert PaymentWebhookEvent.objects.count() == 0


def test_jpy_journey_credits_and_receipts_in_whole_yen(
    japan_client,
    outbox,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks
    start(japan_client, choice="custom", custom_coins="1000", payment_method="carrier_billing")
    topup = TopUp.objects.get()

    pay(japan_client, topup, capture, method="carrier_billing", phone="+81 90 1234 5678", code="000000")
    [sent] = outbox.sent
    webhook = deliver_sent(japan_client, sent, capture)

    assert b'"amount":"2286","currency":"JPY"' in sent["body"]
    assert webhook.json()["outcomes"] == ["credited"]
    assert user_balance(topup.user, Asset.COIN) == 1000
    [receipt] = mailoutbox
    assert "Price paid:     ¥2,286" in receipt.body
    assert "Payment method: Mobile carrier billing" in receipt.body
    html = japan_client.get(reverse("wallet:topup-detail", args=[topup.public_id])).content.decode()
    assert "<dd>¥2,286</dd>" in html


# --- object-level access ------------------------------------------------------------------------------


def test_another_viewers_receipt_and_return_page_are_not_found(
    alice_client,
    client,
    bob,
    outbox,
    django_capture_on_commit_callbacks,
):
    start(alice_client, choice=str(package(700).pk))
    topup = TopUp.objects.get()
    pay(alice_client, topup, django_capture_on_commit_callbacks, **SUCCESS_CARD)
    client.force_login(bob)

    with django_capture_on_commit_callbacks(execute=True):
        detail = client.get(reverse("wallet:topup-detail", args=[topup.public_id]))
        returned = client.get(reverse("wallet:topup-return", args=[topup.public_id]))

    assert detail.status_code == 404
    assert returned.status_code == 404
    # Nothing of the receipt: the id is only in the footer's language chooser, which returns to the address asked for.
    assert str(topup.public_id) not in detail.content.decode().split('<form class="language-chooser"')[0]
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.PENDING  # bob's visit did not even ask the provider
    assert PaymentWebhookEvent.objects.count() == 0


def test_unknown_receipts_are_not_found_and_anonymous_visitors_log_in(alice_client, client, alice):
    start(alice_client, choice=str(package(700).pk))
    topup = TopUp.objects.get()
    anonymous = type(client)()

    assert alice_client.get("/wallet/topups/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert alice_client.get("/wallet/topups/not-a-uuid/").status_code == 404
    for url in (
        reverse("wallet:topup-detail", args=[topup.public_id]),
        reverse("wallet:topup-return", args=[topup.public_id]),
    ):
        response = anonymous.get(url)
        assert response.status_code == 302
        assert response.url.startswith("/accounts/login/")


# --- the hosted checkout of another origin -----------------------------------------------------------------


def _csp_directive(response, name: str) -> list[str]:
    directives = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    return directives[name].split()


def test_with_stripe_the_buy_coins_form_may_land_on_stripe_checkout(alice_client, settings):
    # Chromium applies form-action to the redirect that answers a form POST, so "form-action 'self'"
    # alone would stop the payer at our own page instead of taking them to Stripe Checkout.
    settings.PAYMENT_PROVIDER = "stripe"

    page = alice_client.get(RECHARGE_URL)
    refused = start(alice_client, choice="custom", custom_coins="1")

    for response in (page, refused):
        assert _csp_directive(response, "form-action") == ["'self'", "https://checkout.stripe.com"]
        assert _csp_directive(response, "script-src")[0] == "'self'"
    assert _csp_directive(alice_client.get(reverse("wallet:index")), "form-action") == ["'self'"]


def test_with_the_sandbox_the_buy_coins_form_stays_on_this_site(alice_client):
    assert _csp_directive(alice_client.get(RECHARGE_URL), "form-action") == ["'self'"]


def test_an_unexpected_provider_failure_is_a_plain_message_and_charges_nothing(alice_client, alice, monkeypatch):
    def broken(self, request):
        raise RuntimeError("API key missing")

    monkeypatch.setattr(SandboxProvider, "checkout_start", broken)

    response = start(alice_client, choice=str(package(70).pk))

    assert response.status_code in (200, 400)
    assert "The payment could not be started. Nothing was charged; please try again." in response.content.decode()
    assert TopUp.objects.get().status == TopUpStatus.FAILED
    assert user_balance(alice, Asset.COIN) == 0
