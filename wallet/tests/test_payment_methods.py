"""The payment method: the checkout offers only what the payer's country allows, and the top-up records
how the payer actually paid as the provider reports it (they may switch methods on its page)."""

import pytest
from django.urls import reverse

from wallet.forms import PAYMENT_METHOD_LABELS
from wallet.models import Country, TopUp, TopUpStatus
from wallet.sandbox.models import SandboxSession
from wallet.tests.support import (
    SANDBOX_SECRET,
    deliver_sent,
    package,
    pay,
    post_sandbox,
    post_stripe,
    sandbox_body,
    start,
    stripe_body,
    written,
)

pytestmark = pytest.mark.usefixtures("ledger_stays_consistent")


def method_links(html: str) -> list[str]:
    return [line.split("?method=")[1].split('"')[0] for line in html.split("<li>") if "?method=" in line]


@pytest.fixture
def japan(settings):
    """Japan allows card, Apple Pay, Google Pay and carrier billing: no PayPal."""
    assert Country.objects.get(code="JP").payment_methods == ["card", "apple_pay", "google_pay", "carrier_billing"]


def start_in(client, user, country: str, method: str = "card") -> TopUp:
    user.country = country
    user.preferred_currency = Country.objects.get(code=country).currency
    user.save(update_fields=["country", "preferred_currency"])
    client.force_login(user)
    response = start(client, choice=str(package(700).pk), payment_method=method)
    assert response.status_code == 302, response.content
    return TopUp.objects.get(user=user)


def test_the_sandbox_offers_only_the_methods_the_country_allows(client, alice, outbox, catalogue, japan):
    topup = start_in(client, alice, "JP")
    session = SandboxSession.objects.get(public_id=topup.provider_session_id)

    html = client.get(reverse("paysandbox:checkout", args=[session.public_id])).content.decode()

    assert session.allowed_methods == ["card", "apple_pay", "google_pay", "carrier_billing"]
    assert method_links(html) == ["card", "google_pay", "apple_pay", "carrier_billing"]
    assert "PayPal" not in html


def test_a_method_the_country_does_not_allow_cannot_be_picked_or_paid_with(
    client, alice, outbox, catalogue, japan, django_capture_on_commit_callbacks
):
    topup = start_in(client, alice, "JP")
    url = reverse("paysandbox:checkout", args=[topup.provider_session_id])

    page = client.get(url, {"method": "paypal"}).content.decode()
    response = pay(client, topup, django_capture_on_commit_callbacks, method="paypal", action="approve")

    assert '<a href="?method=card" aria-current="true">' in page  # back to the method asked for
    assert response.status_code == 400
    assert "This payment method is not available for your country." in response.content.decode()
    session = SandboxSession.objects.get(public_id=topup.provider_session_id)
    assert (session.state, session.paid_with) == (SandboxSession.State.OPEN, "")
    assert outbox.sent == []


def test_the_top_up_records_the_method_used_at_the_provider_not_the_one_picked(
    client, alice, outbox, catalogue, japan, django_capture_on_commit_callbacks, mailoutbox
):
    topup = start_in(client, alice, "JP", method="card")

    paid = pay(
        client, topup, django_capture_on_commit_callbacks, method="carrier_billing", phone="+81 90 1234", code="000000"
    )
    assert paid.status_code == 302
    deliver_sent(client, outbox.sent[0], django_capture_on_commit_callbacks)

    topup.refresh_from_db()
    assert (topup.status, topup.payment_method) == (TopUpStatus.SUCCEEDED, "carrier_billing")
    client.force_login(alice)
    receipt = client.get(reverse("wallet:topup-detail", args=[topup.public_id])).content.decode()
    assert f"<dt>Payment method</dt><dd>{PAYMENT_METHOD_LABELS['carrier_billing']}</dd>" in receipt
    [email] = mailoutbox
    assert "Payment method: Mobile carrier billing" in email.body


def test_a_declined_payment_records_the_method_that_was_tried(
    client, alice, outbox, catalogue, django_capture_on_commit_callbacks
):
    topup = start_in(client, alice, "US", method="card")

    pay(client, topup, django_capture_on_commit_callbacks, method="paypal", action="decline")
    deliver_sent(client, outbox.sent[0], django_capture_on_commit_callbacks)

    topup.refresh_from_db()
    assert (topup.status, topup.payment_method) == (TopUpStatus.FAILED, "paypal")


def test_an_event_without_a_method_keeps_the_one_picked(client, topup, settings):
    settings.SANDBOX_WEBHOOK_SECRET = SANDBOX_SECRET

    response = post_sandbox(client, sandbox_body(topup))

    assert response.status_code == 200
    topup.refresh_from_db()
    assert (topup.status, topup.payment_method) == (TopUpStatus.SUCCEEDED, "card")


@pytest.mark.parametrize("method", ["bitcoin", "", 7, ["card"]])
def test_a_signed_event_with_an_unknown_method_is_refused_and_writes_nothing(client, topup, settings, method):
    settings.SANDBOX_WEBHOOK_SECRET = SANDBOX_SECRET
    before = written()

    response = post_sandbox(client, sandbox_body(topup, payment_method=method))

    if method == "":  # "" is "did not say", as for any provider
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert written() == before
    topup.refresh_from_db()
    assert (topup.status, topup.payment_method) == (TopUpStatus.PENDING, "card")


def test_checkout_requests_carry_the_countrys_methods_the_provider_takes(client, alice, outbox, catalogue):
    Country.objects.filter(code="US").update(payment_methods=["card", "carrier_billing"])

    topup = start_in(client, alice, "US")

    assert SandboxSession.objects.get(public_id=topup.provider_session_id).allowed_methods == [
        "card",
        "carrier_billing",
    ]


# --- Stripe: the payment intent's payment method --------------------------------------------------


def intent(method: dict) -> tuple[int, dict]:
    return (200, {"id": "pi_1", "object": "payment_intent", "payment_method": {"id": "pm_1", **method}})


@pytest.mark.parametrize(
    ("method", "recorded"),
    [
        ({"type": "card", "card": {"country": "US", "wallet": {"type": "google_pay"}}}, "google_pay"),
        ({"type": "card", "card": {"country": "US", "wallet": {"type": "apple_pay"}}}, "apple_pay"),
        ({"type": "card", "card": {"country": "US", "wallet": None}}, "card"),
        ({"type": "paypal", "card": None}, "paypal"),
        ({"type": "link"}, "card"),  # not one of ours: the method picked stays
        ({"card": {"country": "US"}}, "card"),  # no type: the method picked stays
    ],
)
def test_stripe_records_the_method_type_from_the_payment(
    client, alice, stripe_topups, stripe_http, django_capture_on_commit_callbacks, method, recorded
):
    topup, _ = stripe_topups
    stripe_http.responses.append(intent(method))
    body = stripe_body(
        topup,
        "checkout.session.completed",
        event_id="evt_paid",
        payment_status="paid",
        payment_intent="pi_1",
        customer_details={"address": {"country": "US"}},
    )

    response = post_stripe(client, django_capture_on_commit_callbacks, *body)

    assert response.status_code == 200, response.content
    topup.refresh_from_db()
    assert (topup.status, topup.payment_method) == (TopUpStatus.SUCCEEDED, recorded)
