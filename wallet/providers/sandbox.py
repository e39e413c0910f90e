"""Client for the built-in sandbox provider (the `wallet.sandbox` app, label `paysandbox`).

The sandbox keeps its sessions in this database, so "calling its API" means creating and
reading its rows; its webhooks arrive over HTTP like any provider's and are verified here,
independently of the code in `wallet.sandbox.webhooks` that signs them.
"""

import datetime
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping

from django.conf import settings
from django.urls import reverse

from wallet.money import UnsupportedCurrency, parse_amount
from wallet.providers.base import (
    PAYMENT_METHODS,
    SIGNATURE_TOLERANCE_SECONDS,
    CheckoutRequest,
    CheckoutSession,
    PaymentEvent,
    WebhookRejected,
    checkout_expires_at,
    header,
)
from wallet.sandbox.models import SandboxSession
from wallet.sandbox.services import sandbox_session_create

SIGNATURE_HEADER = "Coinsite-Sandbox-Signature"
# `t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=…]`, ASCII only: int() would take "²" or 5,000
# digits (and then fail), and compare_digest refuses non-ASCII text with a TypeError.
SIGNATURE_PART = re.compile(r"(t)=([0-9]{1,12})|(v1)=([0-9a-f]{64})")
MAX_SIGNATURE_HEADER_LENGTH = 1000
# Event times outside this range are not from a payment (datetime cannot even hold 10**30).
LATEST_EVENT_TIMESTAMP = 10**11

WEBHOOK_EVENT_TYPES = {
    "payment.succeeded": "succeeded",
    "payment.failed": "failed",
    "payment.cancelled": "cancelled",
    "payment.expired": "expired",
}
SESSION_STATE_EVENTS = {"paid": "succeeded", "declined": "failed", "cancelled": "cancelled", "expired": "expired"}


class SandboxProvider:
    name = "sandbox"
    payment_methods = frozenset(PAYMENT_METHODS)

    def __init__(self, *, webhook_secret: str | None = None) -> None:
        self.webhook_secret = webhook_secret or settings.SANDBOX_WEBHOOK_SECRET

    def checkout_start(self, request: CheckoutRequest) -> CheckoutSession:
        session = sandbox_session_create(request=request, expires_at=checkout_expires_at())
        return CheckoutSession(
            provider_session_id=session.public_id,
            # A site path rather than an absolute URL: the hosted page is served by this site,
            # whatever host and port the payer reached it on.
            redirect_url=reverse("paysandbox:checkout", args=[session.public_id]),
            expires_at=session.expires_at,
        )

    def webhook_parse(self, *, body: bytes, headers: Mapping[str, str]) -> list[PaymentEvent]:
        verify_signature(body, header(headers, SIGNATURE_HEADER), secret=self.webhook_secret)
        try:
            payload = json.loads(body)
            return [_event_from(payload)]
        except (ValueError, KeyError, TypeError, OverflowError, OSError) as error:
            raise WebhookRejected(f"Unreadable sandbox event: {error!r}") from None

    def session_status(self, provider_session_id: str) -> PaymentEvent | None:
        session = SandboxSession.objects.filter(public_id=provider_session_id).first()
        if session is None:
            return None
        occurred_at: datetime.datetime
        if session.state in SandboxSession.OPEN_STATES:
            # Past its time the payer can no longer pay, even before the sweep records it.
            if not session.is_past_expiry:
                return None
            event_type, occurred_at = "expired", session.expires_at
        else:  # a finished session always has finished_at
            event_type, occurred_at = SESSION_STATE_EVENTS[session.state], session.finished_at or session.expires_at
        return PaymentEvent(
            event_id=session.event_id or f"status:{session.public_id}:{event_type}",
            type=event_type,
            reference=session.reference,
            provider_session_id=session.public_id,
            amount=session.price,
            occurred_at=occurred_at,
            payment_country=session.billing_country,
            payment_method=session.paid_with or None,
        )


def verify_signature(body: bytes, signature_header: str | None, *, secret: str, now: float | None = None) -> None:
    """Raise WebhookRejected unless `signature_header` is a fresh HMAC of `body` by `secret`."""
    if not secret:
        raise WebhookRejected("SANDBOX_WEBHOOK_SECRET is not configured.")
    if not signature_header:
        raise WebhookRejected(f"Missing {SIGNATURE_HEADER} header.")
    timestamp, signatures = _parse_signature_header(signature_header)
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    # compare_digest on every candidate, so timing does not reveal how much of one matched.
    matched = [hmac.compare_digest(expected, candidate) for candidate in signatures]
    if not any(matched):
        raise WebhookRejected("Signature does not match.")
    now = time.time() if now is None else now
    if abs(now - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        raise WebhookRejected("Signature timestamp is outside the tolerance.")


def _parse_signature_header(value: str) -> tuple[int, list[str]]:
    """The timestamp and v1 signatures; anything but one `t` and some `v1` parts is malformed."""
    timestamps, signatures = [], []
    parts = value.split(",") if isinstance(value, str) and len(value) <= MAX_SIGNATURE_HEADER_LENGTH else [""]
    for part in parts:
        match = SIGNATURE_PART.fullmatch(part.strip())
        if match is None:
            raise WebhookRejected(f"Malformed {SIGNATURE_HEADER} header.")
        if match[1]:
            timestamps.append(int(match[2]))
        else:
            signatures.append(match[4])
    if len(timestamps) != 1 or not signatures:
        raise WebhookRejected(f"Malformed {SIGNATURE_HEADER} header.")
    return timestamps[0], signatures


def _event_from(payload: dict) -> PaymentEvent:
    data = payload["data"]
    for key in ("id", "type"):
        if not isinstance(payload[key], str):
            raise TypeError(f"{key} must be a string")
    created = payload["created"]
    if not isinstance(created, int) or isinstance(created, bool) or not 0 < created < LATEST_EVENT_TIMESTAMP:
        raise TypeError("created must be an integer timestamp")
    if not all(isinstance(data[key], str) and data[key] for key in ("session", "reference", "amount", "currency")):
        raise TypeError("data.session, reference, amount and currency must be non-empty strings")
    try:
        amount = parse_amount(data["amount"], data["currency"])
    except UnsupportedCurrency as error:
        raise ValueError(str(error)) from None
    payment_country = data.get("payment_country")
    if payment_country is not None and not isinstance(payment_country, str):
        raise TypeError("data.payment_country must be a string")
    payment_method = data.get("payment_method")
    if payment_method is not None and not isinstance(payment_method, str):
        raise TypeError("data.payment_method must be a string")
    return PaymentEvent(
        event_id=payload["id"],
        type=WEBHOOK_EVENT_TYPES[payload["type"]],
        reference=data["reference"],
        provider_session_id=data["session"],
        amount=amount,
        occurred_at=datetime.datetime.fromtimestamp(created, tz=datetime.UTC),
        payment_country=payment_country,
        payment_method=payment_method or None,
    )
