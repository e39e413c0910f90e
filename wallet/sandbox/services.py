"""What the sandbox provider does: open checkout sessions, finish them once, expire them."""

import datetime
import secrets
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from coinsite.lib.tasks import task_enqueue_on_commit
from wallet.money import quantize, to_minor_units
from wallet.providers.base import CheckoutRequest, ProviderError
from wallet.sandbox.models import SandboxSession

State = SandboxSession.State

# A lost delivery task (worker killed, broker flushed) is re-sent after this long. Retries back
# off to at most 10 minutes apart, so a live retry chain is never this quiet.
STUCK_WEBHOOK_AFTER = datetime.timedelta(minutes=30)


def sandbox_session_create(*, request: CheckoutRequest, expires_at: datetime.datetime) -> SandboxSession:
    """Open a hosted checkout session. Idempotent on `request.idempotency_key`: repeating the
    call returns the same session, and reusing a key for a different payment is refused, as a
    real provider does."""
    to_minor_units(request.amount)  # the amount must already be exact to the minor unit
    for url in (request.success_url, request.cancel_url):
        if urlsplit(url).scheme not in {"http", "https"} and not url.startswith("/"):
            raise ProviderError(f"Return URLs must be http(s) or site paths, got {url!r}.", retryable=False)
    existing = SandboxSession.objects.filter(idempotency_key=request.idempotency_key).first()
    if existing is None:
        try:
            with transaction.atomic():
                return SandboxSession.objects.create(
                    idempotency_key=request.idempotency_key,
                    reference=request.reference,
                    amount=quantize(request.amount),
                    description=request.description[:200],
                    customer_email=request.customer_email,
                    payment_method=request.payment_method,
                    allowed_methods=list(request.allowed_methods),
                    billing_country=request.country,
                    success_url=request.success_url,
                    cancel_url=request.cancel_url,
                    expires_at=expires_at,
                )
        except IntegrityError:  # the same key, created concurrently by a retried request
            existing = SandboxSession.objects.get(idempotency_key=request.idempotency_key)
    if existing.reference != request.reference or existing.amount != quantize(request.amount):
        raise ProviderError("This idempotency key was already used for a different payment.", retryable=False)
    return existing


def sandbox_session_challenge(*, session_id: int, payer_detail: str, billing_country: str = "") -> bool:
    """Put an open session on the extra confirmation step (test card ...3220)."""
    country = {"billing_country": billing_country} if billing_country else {}
    return (
        SandboxSession.objects.filter(pk=session_id, state=State.OPEN, expires_at__gt=timezone.now()).update(
            state=State.CHALLENGE, paid_with="card", payer_detail=payer_detail, **country
        )
        == 1
    )


def sandbox_session_finish(
    *,
    session_id: int,
    outcome: str,
    from_states: Iterable[str] = SandboxSession.OPEN_STATES,
    paid_with: str = "",
    payer_detail: str = "",
    billing_country: str = "",
) -> bool:
    """Finish an unexpired session with `outcome` (paid, declined or cancelled) and queue its
    one webhook. The conditional UPDATE claims the session, so a double submit, two tabs or a
    race with the expiry sweep finish it at most once; returns whether this call did."""
    if outcome not in {State.PAID, State.DECLINED, State.CANCELLED}:
        raise ValueError(f"Not a payer outcome: {outcome!r}")
    details = {"paid_with": paid_with, "payer_detail": payer_detail} if paid_with else {}
    if billing_country:
        details["billing_country"] = billing_country
    now = timezone.now()
    return _finish(
        SandboxSession.objects.filter(pk=session_id, state__in=from_states, expires_at__gt=now),
        session_id=session_id,
        outcome=outcome,
        now=now,
        **details,
    )


def sandbox_sessions_expire(*, now: datetime.datetime | None = None, limit: int = 500) -> int:
    """Expire open sessions past their expiry time, each with its `payment.expired` webhook;
    returns how many this call expired."""
    now = now or timezone.now()
    due = SandboxSession.objects.filter(state__in=SandboxSession.OPEN_STATES, expires_at__lte=now)
    expired = 0
    for session_id in due.order_by("expires_at").values_list("pk", flat=True)[:limit]:
        expired += _finish(due.filter(pk=session_id), session_id=session_id, outcome=State.EXPIRED, now=now)
    return expired


def sandbox_webhooks_resend_stuck(*, now: datetime.datetime | None = None, limit: int = 500) -> int:
    """Queue delivery again for finished sessions whose delivery task went missing."""
    cutoff = (now or timezone.now()) - STUCK_WEBHOOK_AFTER
    stuck = SandboxSession.objects.filter(
        webhook_state=SandboxSession.WebhookState.PENDING, finished_at__lt=cutoff
    ).exclude(webhook_attempted_at__gte=cutoff)
    session_ids = list(stuck.order_by("finished_at").values_list("pk", flat=True)[:limit])
    for session_id in session_ids:
        _deliver_after_commit(session_id)
    return len(session_ids)


def sandbox_webhook_resend(*, session_id: int) -> bool:
    """Send a finished session's event again (the same event id), as a provider's dashboard
    allows; Coinsite must treat it as a replay."""
    with transaction.atomic():
        queued = (
            SandboxSession.objects.filter(pk=session_id)
            .exclude(state__in=SandboxSession.OPEN_STATES)
            .update(webhook_state=SandboxSession.WebhookState.PENDING)
        )
        if queued:
            _deliver_after_commit(session_id)
    return queued == 1


def _finish(
    claim: QuerySet[SandboxSession], *, session_id: int, outcome: str, now: datetime.datetime, **fields: Any
) -> bool:
    with transaction.atomic():
        claimed = claim.update(
            state=outcome,
            finished_at=now,
            event_id=_new_event_id(),
            webhook_state=SandboxSession.WebhookState.PENDING,
            **fields,
        )
        if claimed:
            _deliver_after_commit(session_id)
    return claimed == 1


def _deliver_after_commit(session_id: int) -> None:
    # Deferred import: wallet.sandbox.tasks imports this module (its task calls these services).
    from wallet.sandbox.tasks import sandbox_webhook_deliver  # noqa: PLC0415

    task_enqueue_on_commit(sandbox_webhook_deliver, session_id)


def _new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)
