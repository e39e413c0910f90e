"""The Stripe provider, fully offline: an injected HTTP client stands in for api.stripe.com and
webhooks are signed with the SDK's own test helper."""

import datetime
import json
import time

import pytest
import stripe
from django.core.exceptions import ImproperlyConfigured
from djmoney.money import Money

from wallet.providers import (
    ProviderError,
    UnsupportedPaymentMethod,
    WebhookRejected,
    get_provider,
)
from wallet.providers.stripe import StripeProvider
from wallet.tests.support import (
    STRIPE_WEBHOOK_SECRET,
    FakeStripeHTTP,
    checkout_session_json,
    make_request,
    provider_with,
    signed,
    stripe_event,
)

# --- checkout_start ---------------------------------------------------------------------------


def test_checkout_start_creates_a_hosted_session_with_our_idempotency_key(settings):
    settings.PAYMENT_CHECKOUT_MINUTES = 60
    provider, http = provider_with((200, checkout_session_json()))
    before = int(time.time())

    session = provider.checkout_start(make_request())

    assert session.provider_session_id == "cs_test_a1b2c3"
    assert session.redirect_url == "https://checkout.stripe.com/c/pay/cs_test_a1b2c3"
    assert session.expires_at == datetime.datetime.fromtimestamp(1_900_000_000, tz=datetime.UTC)
    [request] = http.requests
    assert request["method"] == "post"
    assert request["url"] == "https://api.stripe.com/v1/checkout/sessions"
    assert request["headers"]["Idempotency-Key"] == "topup-42-checkout"
    assert request["headers"]["Authorization"] == "Bearer sk_test_123"
    form = http.form()
    assert form["mode"] == "payment"
    assert form["client_reference_id"] == "tu_abc123"
    assert form["metadata[reference]"] == "tu_abc123"
    assert form["payment_intent_data[metadata][reference]"] == "tu_abc123"
    assert form["customer_email"] == "alice@example.com"
    assert form["line_items[0][quantity]"] == "1"
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert form["line_items[0][price_data][unit_amount]"] == "999"
    assert form["line_items[0][price_data][product_data][name]"] == "700 coins"
    assert form["allowed_payment_method_types[0]"] == "card"
    assert form["success_url"] == "https://coinsite.example/wallet/topups/tu_abc123/return/"
    assert form["cancel_url"] == "https://coinsite.example/wallet/topups/tu_abc123/cancelled/"
    assert before + 3600 <= int(form["expires_at"]) <= int(time.time()) + 3600
    assert "payment_method_types[0]" not in form  # removed in API 2026-09-30.endive


def test_checkout_start_sends_zero_decimal_currencies_as_whole_units():
    provider, http = provider_with((200, checkout_session_json(amount_total=1600, currency="jpy")))

    provider.checkout_start(make_request(amount=Money("1600", "JPY")))

    form = http.form()
    assert form["line_items[0][price_data][currency]"] == "jpy"
    assert form["line_items[0][price_data][unit_amount]"] == "1600"


def test_checkout_start_refuses_an_unrounded_amount_without_calling_stripe():
    provider, http = provider_with()

    with pytest.raises(ValueError, match="quantize"):
        provider.checkout_start(make_request(amount=Money("9.995", "USD")))
    assert http.requests == []


@pytest.mark.parametrize(
    ("method", "stripe_types"),
    [
        ("card", "card"),
        ("google_pay", "card"),
        ("apple_pay", "card"),
        ("paypal", "paypal"),
    ],
)
def test_checkout_start_maps_payment_methods(method, stripe_types):
    provider, http = provider_with((200, checkout_session_json()))

    provider.checkout_start(make_request(payment_method=method))

    assert http.form()["allowed_payment_method_types[0]"] == stripe_types


def test_carrier_billing_is_not_offered_through_stripe():
    provider, http = provider_with()

    assert "carrier_billing" not in provider.payment_methods
    with pytest.raises(UnsupportedPaymentMethod):
        provider.checkout_start(make_request(payment_method="carrier_billing"))
    assert http.requests == []


def test_a_retried_checkout_reuses_the_same_idempotency_key():
    provider, http = provider_with((200, checkout_session_json()), (200, checkout_session_json()))

    first = provider.checkout_start(make_request())
    second = provider.checkout_start(make_request())

    assert first == second
    assert [r["headers"]["Idempotency-Key"] for r in http.requests] == ["topup-42-checkout"] * 2


def test_the_sdk_retries_a_5xx_with_the_same_idempotency_key(monkeypatch):
    monkeypatch.setattr(stripe.HTTPClient, "_sleep_time_seconds", lambda self, retries: 0)
    error = {"error": {"type": "api_error", "message": "Something went wrong on Stripe's end."}}
    provider, http = provider_with((500, error), (200, checkout_session_json()))

    session = provider.checkout_start(make_request())

    assert session.provider_session_id == "cs_test_a1b2c3"
    assert [r["headers"]["Idempotency-Key"] for r in http.requests] == ["topup-42-checkout"] * 2


def test_an_outage_is_a_retryable_provider_error(monkeypatch):
    monkeypatch.setattr(stripe.HTTPClient, "_sleep_time_seconds", lambda self, retries: 0)
    error = {"error": {"type": "api_error", "message": "Stripe is down."}}
    provider, _ = provider_with((503, error), (503, error), (503, error))

    with pytest.raises(ProviderError) as raised:
        provider.checkout_start(make_request())
    assert raised.value.retryable is True


def test_an_invalid_request_is_a_final_provider_error():
    error = {"error": {"type": "invalid_request_error", "message": "Invalid currency: xyz", "param": "currency"}}
    provider, http = provider_with((400, error))

    with pytest.raises(ProviderError, match="Invalid currency") as raised:
        provider.checkout_start(make_request())
    assert raised.value.retryable is False
    assert len(http.requests) == 1


def test_get_provider_builds_stripe_from_settings(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_from_settings"
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_WEBHOOK_SECRET

    provider = get_provider("stripe")

    assert isinstance(provider, StripeProvider)
    assert provider.name == "stripe"


def test_stripe_without_a_secret_key_fails_clearly(settings):
    settings.STRIPE_SECRET_KEY = ""
    with pytest.raises(ImproperlyConfigured, match="STRIPE_SECRET_KEY"):
        StripeProvider()


# --- webhook_parse ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "payment_status", "expected"),
    [
        ("checkout.session.completed", "paid", "succeeded"),
        ("checkout.session.completed", "no_payment_required", "succeeded"),
        ("checkout.session.completed", "unpaid", "pending"),
        ("checkout.session.async_payment_succeeded", "paid", "succeeded"),
        ("checkout.session.async_payment_failed", "unpaid", "failed"),
        ("checkout.session.expired", "unpaid", "expired"),
    ],
)
def test_webhook_maps_checkout_events(event_type, payment_status, expected):
    provider, _ = provider_with()
    status = "expired" if expected == "expired" else "complete"
    body, headers = signed(stripe_event(event_type, status=status, payment_status=payment_status))

    [event] = provider.webhook_parse(body=body, headers=headers)

    assert event.event_id == "evt_1"
    assert event.type == expected
    assert event.reference == "tu_abc123"
    assert event.provider_session_id == "cs_test_a1b2c3"
    assert event.amount == Money("9.99", "USD")
    assert event.occurred_at == datetime.datetime.fromtimestamp(1_800_000_000, tz=datetime.UTC)


def test_webhook_amount_in_a_zero_decimal_currency():
    provider, _ = provider_with()
    body, headers = signed(
        stripe_event(
            "checkout.session.completed", status="complete", payment_status="paid", amount_total=1600, currency="jpy"
        )
    )

    [event] = provider.webhook_parse(body=body, headers=headers)

    assert event.amount == Money("1600", "JPY")


def test_webhook_reference_falls_back_to_metadata():
    provider, _ = provider_with()
    body, headers = signed(
        stripe_event("checkout.session.completed", status="complete", payment_status="paid", client_reference_id=None)
    )

    [event] = provider.webhook_parse(body=body, headers=headers)

    assert event.reference == "tu_abc123"


def test_webhook_headers_are_read_case_insensitively():
    provider, _ = provider_with()
    body, headers = signed(stripe_event("checkout.session.expired", status="expired"))

    [event] = provider.webhook_parse(body=body, headers={"stripe-signature": headers["Stripe-Signature"]})

    assert event.type == "expired"


def test_other_event_types_are_acknowledged_and_ignored():
    provider, _ = provider_with()
    body, headers = signed(
        {
            "id": "evt_2",
            "object": "event",
            "type": "payment_intent.created",
            "created": 1_800_000_000,
            "data": {"object": {"id": "pi_1", "object": "payment_intent"}},
        }
    )

    assert provider.webhook_parse(body=body, headers=headers) == []


def test_sessions_without_our_reference_are_ignored():
    provider, _ = provider_with()
    body, headers = signed(
        stripe_event(
            "checkout.session.completed",
            status="complete",
            payment_status="paid",
            client_reference_id=None,
            metadata={},
        )
    )

    assert provider.webhook_parse(body=body, headers=headers) == []


def test_forged_signature_is_rejected():
    provider, _ = provider_with()
    body, headers = signed(
        stripe_event("checkout.session.completed", payment_status="paid"), secret="whsec_somebody_else"
    )

    with pytest.raises(WebhookRejected, match="signature"):
        provider.webhook_parse(body=body, headers=headers)


def test_tampered_body_is_rejected():
    provider, _ = provider_with()
    body, headers = signed(stripe_event("checkout.session.completed", payment_status="paid"))
    tampered = body.replace(b'"amount_total": 999', b'"amount_total": 99900')

    with pytest.raises(WebhookRejected):
        provider.webhook_parse(body=tampered, headers=headers)


def test_stale_signature_is_rejected():
    provider, _ = provider_with()
    body, headers = signed(
        stripe_event("checkout.session.completed", payment_status="paid"), timestamp=int(time.time()) - 301
    )

    with pytest.raises(WebhookRejected, match="tolerance"):
        provider.webhook_parse(body=body, headers=headers)


def test_signature_just_inside_the_tolerance_is_accepted():
    provider, _ = provider_with()
    body, headers = signed(
        stripe_event("checkout.session.completed", status="complete", payment_status="paid"),
        timestamp=int(time.time()) - 290,
    )

    assert len(provider.webhook_parse(body=body, headers=headers)) == 1


@pytest.mark.parametrize(
    "headers", [{}, {"Stripe-Signature": ""}, {"Stripe-Signature": "garbage"}, {"Stripe-Signature": "t=abc,v1=00"}]
)
def test_missing_or_malformed_signature_header_is_rejected(headers):
    provider, _ = provider_with()
    body, _ = signed(stripe_event("checkout.session.completed", payment_status="paid"))

    with pytest.raises(WebhookRejected):
        provider.webhook_parse(body=body, headers=headers)


def test_signed_but_unreadable_payloads_are_rejected():
    provider, _ = provider_with()
    timestamp = int(time.time())
    for body in (
        "not json",
        json.dumps({"id": "evt_3", "object": "event", "type": "checkout.session.completed", "created": 1, "data": {}}),
    ):
        header = stripe.WebhookSignature.generate_signature_header(body, STRIPE_WEBHOOK_SECRET, timestamp=timestamp)
        with pytest.raises(WebhookRejected):
            provider.webhook_parse(body=body.encode(), headers={"Stripe-Signature": header})


def test_webhooks_are_rejected_when_no_secret_is_configured(settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    provider = StripeProvider(api_key="sk_test_123", http_client=FakeStripeHTTP())
    body, headers = signed(stripe_event("checkout.session.completed", payment_status="paid"))

    with pytest.raises(WebhookRejected, match="not configured"):
        provider.webhook_parse(body=body, headers=headers)


# --- session_status -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "payment_status", "expected"),
    [
        ("open", "unpaid", None),
        ("complete", "paid", "succeeded"),
        ("complete", "unpaid", "pending"),
        ("expired", "unpaid", "expired"),
    ],
)
def test_session_status(status, payment_status, expected):
    provider, http = provider_with((200, checkout_session_json(status=status, payment_status=payment_status)))

    event = provider.session_status("cs_test_a1b2c3")

    assert http.requests[0]["method"] == "get"
    assert http.requests[0]["url"] == (
        "https://api.stripe.com/v1/checkout/sessions/cs_test_a1b2c3?expand[0]=payment_intent.payment_method"
    )
    if expected is None:
        assert event is None
    else:
        assert event.type == expected
        assert event.event_id == f"status:cs_test_a1b2c3:{expected}"
        assert event.reference == "tu_abc123"
        assert event.amount == Money("9.99", "USD")
