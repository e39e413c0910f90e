"""Money rules follow the account's effective country: a profile country change reaches them only after
the cooling-off, and a top-up paid from another country is held for staff review, not credited; staff
release it (credited exactly once) or mark it refunded (never credited)."""

import datetime
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from coinsite.accounts import country as country_changes
from coinsite.accounts.models import CountryChange, CountryChangeStatus, StaffAction
from coinsite.accounts.tests.factories import make_user, sudo_fresh
from wallet.held_topups import topup_refund_held, topup_release
from wallet.ledger import user_balance
from wallet.models import Asset, LedgerTransaction, TopUp, TopUpStatus
from wallet.sandbox.models import SandboxSession
from wallet.sandbox.webhooks import webhook_send
from wallet.selectors import recharge_offer
from wallet.staff import StaffOperationError
from wallet.tests.support import (
    SUCCESS_CARD,
    checkout_session_json,
    deliver_sent,
    make_request,
    package,
    pay,
    pay_from_abroad,
    post_stripe,
    provider_with,
    start,
    stripe_body,
    written,
)

pytestmark = pytest.mark.usefixtures("ledger_stays_consistent")
Status = CountryChangeStatus


@pytest.fixture
def alice_topup(client, alice, outbox, catalogue):
    """Alice (US) has started a 700-coin top-up; the sandbox's hosted page is open."""
    client.force_login(alice)
    start(client, choice=str(package(700).pk))
    return TopUp.objects.get()


def pay_from(client, topup, capture, billing_country: str | None):
    data = dict(SUCCESS_CARD)
    if billing_country is not None:
        data["billing_country"] = billing_country
    return pay(client, topup, capture, **data)


def test_the_hosted_page_offers_the_account_country_as_billing_country(client, alice_topup):
    page = client.get(reverse("paysandbox:checkout", args=[alice_topup.provider_session_id]))

    assert '<option value="US" selected>' in page.content.decode()
    assert SandboxSession.objects.get().billing_country == "US"


def test_paid_from_the_account_country_is_credited(
    client, alice, alice_topup, outbox, django_capture_on_commit_callbacks, mailoutbox
):
    pay_from(client, alice_topup, django_capture_on_commit_callbacks, None)

    response = deliver_sent(client, outbox.sent[0], django_capture_on_commit_callbacks)

    assert response.json()["outcomes"] == ["credited"]
    alice_topup.refresh_from_db()
    assert (alice_topup.status, alice_topup.payment_country) == (TopUpStatus.SUCCEEDED, "US")
    assert user_balance(alice, Asset.COIN) == 700


def test_paid_from_another_country_is_held_and_credits_nothing(
    client, alice, alice_topup, outbox, django_capture_on_commit_callbacks, mailoutbox
):
    pay_from(client, alice_topup, django_capture_on_commit_callbacks, "GB")
    ledger_before = LedgerTransaction.objects.count()

    response = deliver_sent(client, outbox.sent[0], django_capture_on_commit_callbacks)
    replay = deliver_sent(client, outbox.sent[0], django_capture_on_commit_callbacks)

    assert json.loads(outbox.sent[0]["body"])["data"]["payment_country"] == "GB"
    assert response.json()["outcomes"] == ["held: paid from another country"]
    assert replay.json()["outcomes"] == ["duplicate event"]
    alice_topup.refresh_from_db()
    assert (alice_topup.status, alice_topup.payment_country, alice_topup.ledger_transaction) == (
        TopUpStatus.HELD,
        "GB",
        None,
    )
    assert user_balance(alice, Asset.COIN) == 0
    assert LedgerTransaction.objects.count() == ledger_before
    assert mailoutbox == []
    receipt = client.get(reverse("wallet:topup-detail", args=[alice_topup.public_id])).content.decode()
    assert "Payment under review" in receipt
    assert "from another country (GB) than your account's (US)" in receipt


def test_the_return_page_check_holds_it_too(client, alice, alice_topup, django_capture_on_commit_callbacks):
    pay_from(client, alice_topup, django_capture_on_commit_callbacks, "JP")

    client.get(reverse("wallet:topup-return", args=[alice_topup.public_id]))

    alice_topup.refresh_from_db()
    assert alice_topup.status == TopUpStatus.HELD
    assert user_balance(alice, Asset.COIN) == 0


# --- a country change reaches the money rules only after the cooling-off ----------------------------


PROFILE = reverse("accounts:profile")


def profile_data(**changes):
    return {"display_name": "Alice", "country": "US", "preferred_currency": "USD", **changes}


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def test_a_country_change_waits_thirty_days_and_money_rules_keep_the_old_country(alice_client, alice):
    sudo_fresh(alice_client)
    before = timezone.now()

    response = alice_client.post(PROFILE, profile_data(country="JP"), follow=True)

    change = CountryChange.objects.get()
    assert (change.from_country, change.to_country, change.status) == ("US", "JP", Status.PENDING)
    assert before + country_changes.COOLING_OFF <= change.effective_at <= timezone.now() + country_changes.COOLING_OFF
    assert change.request_address == "127.0.0.1"
    alice.refresh_from_db()
    assert alice.country == "US"
    assert recharge_offer(alice).currency == "USD"
    body = response.content.decode()
    assert "Your country changes to Japan on" in body
    assert 'data-testid="pending-country"' in body
    assert '<option value="JP" selected>' in body


def test_the_change_applies_after_the_cooling_off(alice):
    change = country_changes.country_change_request(user=alice, country="JP")

    assert country_changes.country_changes_apply_due(now=change.effective_at - datetime.timedelta(seconds=1)) == 0
    alice.refresh_from_db()
    assert alice.country == "US"

    assert country_changes.country_changes_apply_due(now=change.effective_at) == 1
    assert country_changes.country_changes_apply_due(now=change.effective_at) == 0
    alice.refresh_from_db()
    change.refresh_from_db()
    assert alice.country == "JP"
    assert (change.status, change.decided_by) == (Status.APPLIED, None)
    assert recharge_offer(alice).currency == "JPY"


def test_a_pending_country_change_does_not_count_until_it_applies(
    client, alice, alice_topup, outbox, django_capture_on_commit_callbacks
):
    country_changes.country_change_request(user=alice, country="JP")
    pay_from(client, alice_topup, django_capture_on_commit_callbacks, "JP")

    response = deliver_sent(client, outbox.sent[0], django_capture_on_commit_callbacks)

    assert response.json()["outcomes"] == ["held: paid from another country"]
    assert user_balance(alice, Asset.COIN) == 0


@pytest.fixture
def held(client, alice, alice_topup, outbox, django_capture_on_commit_callbacks):
    return pay_from_abroad(client, alice_topup, outbox, django_capture_on_commit_callbacks)


@pytest.fixture
def finance(db):
    """A staff member reviewing held top-ups (their admin action: backoffice/tests/test_held_topups.py)."""
    return make_user(email="fiona.finance@example.com", display_name="Fiona", is_staff=True)


def test_a_webhook_after_release_or_refund_changes_nothing(
    client, alice, held, finance, outbox, django_capture_on_commit_callbacks
):
    topup_refund_held(topup_id=held.pk, staff=finance, reason="Card from abroad, refunded at the provider")
    session = SandboxSession.objects.get()
    session.event_id = "evt_other_delivery"
    session.save(update_fields=["event_id"])

    with django_capture_on_commit_callbacks(execute=True):
        SandboxSession.objects.filter(pk=session.pk).update(webhook_state=SandboxSession.WebhookState.PENDING)
        webhook_send(session_id=session.pk)
    response = deliver_sent(client, outbox.sent[-1], django_capture_on_commit_callbacks)

    assert response.json()["outcomes"] == ["ignored: refunded after review"]
    held.refresh_from_db()
    assert (held.status, held.ledger_transaction) == (TopUpStatus.REFUNDED, None)
    assert user_balance(alice, Asset.COIN) == 0


def test_a_refunded_held_top_up_can_never_be_released(alice, held, finance, mailoutbox):
    topup_refund_held(topup_id=held.pk, staff=finance, reason="Refunded at the provider")
    before = written()

    with pytest.raises(StaffOperationError, match="Only a held top-up"):
        topup_release(topup_id=held.pk, staff=finance, reason="oops")

    assert written() == before
    assert user_balance(alice, Asset.COIN) == 0
    assert mailoutbox == []
    assert StaffAction.objects.filter(action="topup.refund_held").count() == 1


def test_only_staff_with_a_reason_review_held_top_ups(alice, bob, held, finance):
    with pytest.raises(StaffOperationError):
        topup_release(topup_id=held.pk, staff=bob, reason="I am not staff")
    with pytest.raises(StaffOperationError):
        topup_release(topup_id=held.pk, staff=finance, reason="   ")

    held.refresh_from_db()
    assert held.status == TopUpStatus.HELD
    assert user_balance(alice, Asset.COIN) == 0


def test_a_pending_or_paid_top_up_cannot_be_released(client, alice, alice_topup, finance):
    with pytest.raises(StaffOperationError, match="Only a held top-up"):
        topup_release(topup_id=alice_topup.pk, staff=finance, reason="not held")

    alice_topup.refresh_from_db()
    assert alice_topup.status == TopUpStatus.PENDING


# --- Stripe: the billing or card country --------------------------------------------------------


def completed(topup, **session):
    return stripe_body(topup, "checkout.session.completed", event_id="evt_paid", payment_status="paid", **session)


def test_stripe_billing_country_of_another_country_is_held(
    client, alice, stripe_topups, django_capture_on_commit_callbacks
):
    topup, _ = stripe_topups

    response = post_stripe(
        client,
        django_capture_on_commit_callbacks,
        *completed(topup, customer_details={"address": {"country": "DE"}}),
    )

    assert response.json()["outcomes"] == ["held: paid from another country"]
    topup.refresh_from_db()
    assert (topup.status, topup.payment_country) == (TopUpStatus.HELD, "DE")
    assert user_balance(alice, Asset.COIN) == 0


def test_stripe_session_without_any_country_is_held(client, alice, stripe_topups, django_capture_on_commit_callbacks):
    topup, _ = stripe_topups

    response = post_stripe(client, django_capture_on_commit_callbacks, *completed(topup, customer_details=None))

    assert response.json()["outcomes"] == ["held: paid from another country"]
    assert user_balance(alice, Asset.COIN) == 0


@pytest.mark.parametrize(("card", "billing", "outcome"), [("JP", "US", "held"), ("US", "DE", "credited")])
def test_stripe_card_country_decides_over_the_billing_address(
    client, alice, stripe_topups, stripe_http, django_capture_on_commit_callbacks, card, billing, outcome
):
    topup, _ = stripe_topups
    stripe_http.responses.append(
        (200, {"id": "pi_1", "object": "payment_intent", "payment_method": {"id": "pm_1", "card": {"country": card}}})
    )

    response = post_stripe(
        client,
        django_capture_on_commit_callbacks,
        *completed(topup, payment_intent="pi_1", customer_details={"address": {"country": billing}}),
    )

    assert response.json()["outcomes"][0].startswith(outcome)
    assert stripe_http.requests[-1]["url"] == "https://api.stripe.com/v1/payment_intents/pi_1?expand[0]=payment_method"
    assert user_balance(alice, Asset.COIN) == (700 if outcome == "credited" else 0)


def test_when_stripe_cannot_tell_the_card_country_the_webhook_is_refused_for_a_retry(
    client, alice, stripe_topups, stripe_http, django_capture_on_commit_callbacks
):
    topup, _ = stripe_topups
    stripe_http.responses.append((400, {"error": {"type": "invalid_request_error", "message": "No such intent"}}))
    before = written()

    response = post_stripe(client, django_capture_on_commit_callbacks, *completed(topup, payment_intent="pi_gone"))

    assert response.status_code == 400
    assert written() == before
    assert user_balance(alice, Asset.COIN) == 0


def test_stripe_checkout_asks_for_the_billing_address():
    provider, http = provider_with((200, checkout_session_json()))

    provider.checkout_start(make_request())

    assert http.form()["billing_address_collection"] == "required"
