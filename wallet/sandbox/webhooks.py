"""How the sandbox provider tells Coinsite about a finished checkout: one signed JSON event per
session, POSTed to settings.SANDBOX_WEBHOOK_URL, retried like a real provider would.

Signature header: `Coinsite-Sandbox-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`
with settings.SANDBOX_WEBHOOK_SECRET. `t` is the time of each delivery attempt (so a retry is
never stale); the event's own `created` time stays the time the payment finished.
"""

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from wallet.money import amount_string
from wallet.sandbox.models import SandboxSession

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Coinsite-Sandbox-Signature"

# (url, body, headers, timeout seconds) -> HTTP status; raises OSError when it cannot connect.
Transport = Callable[[str, bytes, Mapping[str, str], float], int]


class DeliveryRetryable(Exception):
    """The receiver could not be reached or answered 5xx: try again later."""


def sign(body: bytes, *, secret: str, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event_payload(session: SandboxSession) -> dict:
    return {
        "id": session.event_id,
        "type": SandboxSession.EVENT_TYPES[SandboxSession.State(session.state)],
        "created": int((session.finished_at or session.created).timestamp()),  # finished: an event exists
        "data": {
            "session": session.public_id,
            "reference": session.reference,
            "amount": amount_string(session.amount),
            "currency": session.amount.currency.code,
            "payment_country": session.billing_country,
            "payment_method": session.paid_with or None,  # how the payer paid on this page, if they did
        },
    }


def urllib_transport(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    if urlsplit(url).scheme not in {"http", "https"}:
        raise ValueError(f"SANDBOX_WEBHOOK_URL must be an http(s) URL, got {url!r}.")
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked)
            return response.status
    except urllib.error.HTTPError as error:  # a non-2xx answer, not a connection failure
        return error.code


def webhook_send(*, session_id: int, transport: Transport | None = None) -> str:
    """Deliver the session's outcome event if it is still waiting to go out; returns the
    webhook state afterwards. Safe to repeat: a delivered event is not sent again, and the
    receiver deduplicates on the event id anyway. Raises DeliveryRetryable."""
    session = SandboxSession.objects.get(pk=session_id)
    if session.webhook_state != SandboxSession.WebhookState.PENDING:
        return session.webhook_state
    body = json.dumps(event_payload(session), separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Coinsite-Sandbox-Webhooks/1",
        SIGNATURE_HEADER: sign(body, secret=settings.SANDBOX_WEBHOOK_SECRET, timestamp=int(time.time())),
    }
    transport = transport or import_string(settings.SANDBOX_WEBHOOK_TRANSPORT)
    pending = SandboxSession.objects.filter(pk=session_id, webhook_state=SandboxSession.WebhookState.PENDING)
    pending.update(webhook_attempts=F("webhook_attempts") + 1, webhook_attempted_at=timezone.now())
    try:
        status = transport(settings.SANDBOX_WEBHOOK_URL, body, headers, settings.SANDBOX_WEBHOOK_TIMEOUT)
    except OSError as error:  # URLError, refused connections and timeouts are all OSErrors
        _record_error(pending, f"Could not connect: {error}")
        raise DeliveryRetryable(str(error)) from error
    if 200 <= status < 300:
        pending.update(
            webhook_state=SandboxSession.WebhookState.DELIVERED,
            webhook_delivered_at=timezone.now(),
            webhook_last_error="",
        )
        return SandboxSession.WebhookState.DELIVERED
    _record_error(pending, f"Receiver answered HTTP {status}")
    if status >= 500 or status in {408, 429}:
        raise DeliveryRetryable(f"HTTP {status}")
    # A 4xx means the receiver refused this event (bad signature, unknown reference): sending
    # the same bytes again cannot help, so stop and leave it visible in the admin.
    pending.update(webhook_state=SandboxSession.WebhookState.FAILED)
    return SandboxSession.WebhookState.FAILED


def webhook_give_up(*, session_id: int) -> None:
    SandboxSession.objects.filter(pk=session_id, webhook_state=SandboxSession.WebhookState.PENDING).update(
        webhook_state=SandboxSession.WebhookState.FAILED
    )
    logger.error("Sandbox webhook for session %s was not delivered; gave up after retries", session_id)


def _record_error(pending: QuerySet[SandboxSession], message: str) -> None:
    logger.warning("Sandbox webhook delivery failed: %s", message)
    pending.update(webhook_last_error=message[:300])
