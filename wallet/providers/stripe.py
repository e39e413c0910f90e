"""Stripe Checkout through the official SDK (stripe 16, API version 2026-10-28.endive).

Hosted checkout keeps card numbers off our servers (PCI SAQ A). Every session is created with
the idempotency key derived from our top-up row, so a retried request (ours or the SDK's own
network retries) returns the same session instead of opening a second one.
"""

import datetime
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from djmoney.money import Money

from wallet.money import UnsupportedCurrency, from_minor_units, to_minor_units
from wallet.providers.base import (
    SIGNATURE_TOLERANCE_SECONDS,
    CheckoutRequest,
    CheckoutSession,
    PaymentEvent,
    ProviderError,
    UnsupportedPaymentMethod,
    WebhookRejected,
    checkout_expires_at,
    header,
)

logger = logging.getLogger(__name__)

# Google Pay and Apple Pay are wallets Stripe Checkout offers on top of the "card" method;
# Stripe has no direct carrier billing, so this provider does not offer it.
STRIPE_METHOD_TYPES = {
    "card": ["card"],
    "google_pay": ["card"],
    "apple_pay": ["card"],
    "paypal": ["paypal"],
}

# Stripe payment method types (other than cards, see _method_of) that are one of Coinsite's methods.
STRIPE_PAID_WITH = {"paypal": "paypal"}

# The SDK's network retries reuse our idempotency key, so they can never double-charge.
MAX_NETWORK_RETRIES = 2
# `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v0=<hex>]`. The SDK checks only that `t` is not
# too old; a signature dated in the future is refused here too, with the same tolerance.
SIGNATURE_PART = re.compile(r"(t)=([0-9]{1,12})|(v[01])=([0-9a-f]{64})")
MAX_SIGNATURE_HEADER_LENGTH = 2000
# Event and session times outside this range are not real (datetime cannot even hold 10**30).
LATEST_TIMESTAMP = 10**11


class StripeProvider:
    name = "stripe"
    payment_methods = frozenset(STRIPE_METHOD_TYPES)

    def __init__(
        self,
        *,
        api_key: str | None = None,
        webhook_secret: str | None = None,
        http_client: stripe.HTTPClient | None = None,
    ) -> None:
        api_key = api_key or settings.STRIPE_SECRET_KEY
        if not api_key:
            raise ImproperlyConfigured("STRIPE_SECRET_KEY is not set; the Stripe provider cannot start.")
        self.webhook_secret = webhook_secret or settings.STRIPE_WEBHOOK_SECRET
        self.client = stripe.StripeClient(api_key, http_client=http_client, max_network_retries=MAX_NETWORK_RETRIES)

    def checkout_start(self, request: CheckoutRequest) -> CheckoutSession:
        if request.payment_method not in STRIPE_METHOD_TYPES:
            raise UnsupportedPaymentMethod(f"Stripe does not take {request.payment_method!r} payments.")
        expires_at = checkout_expires_at()
        try:
            session = self.client.v1.checkout.sessions.create(
                params=_session_params(request, expires_at),
                options={"idempotency_key": request.idempotency_key},
            )
        except stripe.StripeError as error:
            raise _provider_error(error) from error
        return CheckoutSession(
            provider_session_id=session.id,
            redirect_url=session.url,
            expires_at=_from_timestamp(session.expires_at),
        )

    def webhook_parse(self, *, body: bytes, headers: Mapping[str, str]) -> list[PaymentEvent]:
        if not self.webhook_secret:
            raise WebhookRejected("STRIPE_WEBHOOK_SECRET is not configured.")
        signature = header(headers, "Stripe-Signature")
        _check_signature_header(signature)
        try:
            stripe.WebhookSignature.verify_header(body, signature, self.webhook_secret, SIGNATURE_TOLERANCE_SECONDS)
            event = json.loads(body)
        except stripe.SignatureVerificationError as error:
            raise WebhookRejected(f"Bad Stripe signature: {error.user_message}") from None
        except ValueError as error:  # not UTF-8 or not JSON, though correctly signed
            raise WebhookRejected(f"Unreadable Stripe event: {error}") from None
        try:
            return _events_from(event, payment_details=self._payment_details)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as error:
            raise WebhookRejected(f"Unexpected Stripe event shape: {error!r}"[:300]) from None

    def _payment_details(self, payment_intent_id: str) -> dict:
        """The payment intent with its payment method: the card's country, and how the payer paid.

        A webhook carries the session only; if Stripe cannot be asked now, the webhook is refused
        and Stripe delivers it again later, rather than crediting without the country check.
        """
        try:
            intent = self.client.v1.payment_intents.retrieve(payment_intent_id, params={"expand": ["payment_method"]})
        except stripe.StripeError as error:
            raise WebhookRejected(f"Could not read the payment's card country from Stripe: {error}") from None
        return intent.to_dict()

    def session_status(self, provider_session_id: str) -> PaymentEvent | None:
        try:
            session = self.client.v1.checkout.sessions.retrieve(
                provider_session_id, params={"expand": ["payment_intent.payment_method"]}
            )
        except stripe.StripeError as error:
            raise _provider_error(error) from error
        data = session.to_dict()
        event_type = _status_event_type(data)
        if event_type is None:
            return None
        intent = data.get("payment_intent")
        return _payment_event(
            event_id=f"status:{data['id']}:{event_type}",
            event_type=event_type,
            session=data,
            occurred_at=timezone.now(),
            payment_country=_payment_country(data) if event_type == "succeeded" else None,
            payment_method=_method_of(intent) if isinstance(intent, dict) else None,
        )


def _session_params(request: CheckoutRequest, expires_at: datetime.datetime) -> dict[str, Any]:
    currency = request.amount.currency.code.lower()
    return {
        "mode": "payment",
        "client_reference_id": request.reference,
        "metadata": {"reference": request.reference},
        "payment_intent_data": {"metadata": {"reference": request.reference}},
        "customer_email": request.customer_email,
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": currency,
                    "unit_amount": to_minor_units(request.amount),
                    "product_data": {"name": request.description},
                },
            }
        ],
        # API 2026-09-30.endive removed `payment_method_types` from Checkout Session create;
        # `allowed_payment_method_types` is its replacement (a filter on dynamic methods).
        "allowed_payment_method_types": STRIPE_METHOD_TYPES[request.payment_method],
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
        "expires_at": int(expires_at.timestamp()),
        # The billing country is checked against the account's country before coins are credited.
        "billing_address_collection": "required",
    }


def _provider_error(error: stripe.StripeError) -> ProviderError:
    status = error.http_status
    retryable = (
        isinstance(error, stripe.APIConnectionError | stripe.RateLimitError)
        or (isinstance(error, stripe.APIError) and (status is None or status >= 500))
        or status == 409
    )
    logger.warning("Stripe request failed (status %s, retryable %s): %s", status, retryable, error)
    return ProviderError(f"Stripe: {error.user_message or error}", retryable=retryable)


def _completed_type(session: dict) -> str:
    # Delayed methods (bank debits, some wallets) complete the session before the money
    # arrives; async_payment_succeeded / _failed follow later.
    return "succeeded" if session["payment_status"] in {"paid", "no_payment_required"} else "pending"


_EVENT_TYPES = {
    "checkout.session.completed": _completed_type,
    "checkout.session.async_payment_succeeded": lambda session: "succeeded",
    "checkout.session.async_payment_failed": lambda session: "failed",
    "checkout.session.expired": lambda session: "expired",
}


def _check_signature_header(value: str | None) -> None:
    """Refuse a malformed header, or one dated in the future beyond the tolerance, before the SDK sees it."""
    if not value or len(value) > MAX_SIGNATURE_HEADER_LENGTH:
        raise WebhookRejected("Bad Stripe signature: missing or malformed Stripe-Signature header.")
    parts = value.split(",")
    matches = [match for part in parts if (match := SIGNATURE_PART.fullmatch(part.strip())) is not None]
    if len(matches) != len(parts):
        raise WebhookRejected("Bad Stripe signature: malformed Stripe-Signature header.")
    timestamps = [int(match[2]) for match in matches if match[1]]
    if len(timestamps) != 1:
        raise WebhookRejected("Bad Stripe signature: the header needs exactly one timestamp.")
    if timestamps[0] > time.time() + SIGNATURE_TOLERANCE_SECONDS:
        raise WebhookRejected("Bad Stripe signature: timestamp in the future, outside the tolerance zone.")


def _events_from(event: dict, *, payment_details: Callable[[str], dict] | None = None) -> list[PaymentEvent]:
    """Events we model from a verified Stripe event; any other shape raises (KeyError, TypeError, ValueError).

    `payment_details(payment_intent_id)` looks up a paid session's payment intent (with its payment
    method): the paying card's country, and the method the payer used.
    """
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        raise TypeError("a Stripe event is a JSON object with a data object")
    if not isinstance(event["id"], str) or not isinstance(event["type"], str):
        raise TypeError("id and type must be strings")
    created = _from_timestamp(event["created"])
    classify = _EVENT_TYPES.get(event["type"])
    if classify is None:
        return []
    session = event["data"]["object"]
    _check_session_shape(session)
    if not _reference(session):
        logger.info("Ignoring Stripe event %s: session %s is not one of ours", event["id"], session.get("id"))
        return []
    event_type = classify(session)
    intent = session.get("payment_intent")
    if event_type == "succeeded" and isinstance(intent, str) and payment_details is not None:
        intent = payment_details(intent)
    country = _payment_country(session, intent) if event_type == "succeeded" else None
    return [
        _payment_event(
            event_id=event["id"],
            event_type=event_type,
            session=session,
            occurred_at=created,
            payment_country=country,
            payment_method=_method_of(intent) if isinstance(intent, dict) else None,
        )
    ]


def _payment_country(session: dict, intent: object = None) -> str:
    """The card's country when Stripe can tell (the stronger signal), else the billing address's, else "".

    `intent` is the session's payment intent as looked up (a webhook's session names it only); by
    default the session's own, when expanded as session_status asks for."""
    intent = intent if intent is not None else session.get("payment_intent")
    country = _card_country_of(intent) if isinstance(intent, dict) else None
    if not country:
        details = session.get("customer_details") or {}
        address = details.get("address") if isinstance(details, dict) else None
        country = address.get("country") if isinstance(address, dict) else None
    return country.upper() if isinstance(country, str) else ""


def _card_country_of(intent: dict) -> str | None:
    method = intent.get("payment_method")
    card = method.get("card") if isinstance(method, dict) else None
    country = card.get("country") if isinstance(card, dict) else None
    return country if isinstance(country, str) else None


def _method_of(intent: dict) -> str | None:
    """How the payer paid, as one of Coinsite's methods, from the intent's payment method: a card paid
    through Google Pay or Apple Pay is that wallet; None when Stripe does not say or it is another type."""
    method = intent.get("payment_method")
    if not isinstance(method, dict):
        return None
    kind = method.get("type")
    if kind == "card":
        card = method.get("card")
        wallet = card.get("wallet") if isinstance(card, dict) else None
        wallet_type = wallet.get("type") if isinstance(wallet, dict) else None
        return wallet_type if wallet_type in {"google_pay", "apple_pay"} else "card"
    return STRIPE_PAID_WITH.get(kind) if isinstance(kind, str) else None


def _check_session_shape(session: dict) -> None:
    if not isinstance(session, dict) or not isinstance(session.get("id"), str):
        raise TypeError("data.object must be a Checkout Session object")
    if not isinstance(session.get("metadata") or {}, dict):
        raise TypeError("metadata must be an object")
    if not isinstance(session.get("payment_status"), str):
        raise TypeError("payment_status must be a string")
    for key in ("client_reference_id", "currency"):
        if session.get(key) is not None and not isinstance(session[key], str):
            raise TypeError(f"{key} must be a string")
    total = session.get("amount_total")
    if total is not None and (isinstance(total, bool) or not isinstance(total, int)):
        raise TypeError("amount_total must be an integer")


def _status_event_type(session: dict) -> str | None:
    if session["status"] == "complete":
        return _completed_type(session)
    if session["status"] == "expired":
        return "expired"
    return None


def _payment_event(
    *,
    event_id: str,
    event_type: str,
    session: dict,
    occurred_at: datetime.datetime,
    payment_country: str | None = None,
    payment_method: str | None = None,
) -> PaymentEvent:
    return PaymentEvent(
        event_id=event_id,
        type=event_type,
        reference=_reference(session),
        provider_session_id=session["id"],
        amount=_amount(session),
        occurred_at=occurred_at,
        payment_country=payment_country,
        payment_method=payment_method,
    )


def _reference(session: dict) -> str:
    return session.get("client_reference_id") or (session.get("metadata") or {}).get("reference") or ""


def _amount(session: dict[str, Any]) -> Money | None:
    if session.get("amount_total") is None or not session.get("currency"):
        return None
    try:
        return from_minor_units(session["amount_total"], session["currency"].upper())
    except UnsupportedCurrency as error:
        raise ValueError(str(error)) from None


def _from_timestamp(value: int) -> datetime.datetime:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < LATEST_TIMESTAMP:
        raise ValueError(f"Not a Stripe timestamp: {str(value)[:40]}")
    return datetime.datetime.fromtimestamp(value, tz=datetime.UTC)
