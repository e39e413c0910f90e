"""Creator webhooks: endpoints, the collector that turns what happened into deliveries, and sending them.

Nothing here runs inside a money transaction. Gifts, chat messages, goals, streams and payouts are written
by their own services; `webhooks_collect` (a Celery beat task every two seconds) reads what is new since its
last run and records one `WebhookDelivery` per subscribed endpoint — unique per (endpoint, event id),
so reading an event twice never sends it twice. `delivery_send` posts one delivery, signed with the
endpoint's secret(s); a failure is retried with exponential backoff for more than 24 hours
(RETRY_SCHEDULE), after which the delivery fails, the endpoint is disabled and its creator emailed.

Signature header: `Coinsite-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, with one
`v1` per secret in use (the previous one too during a rotation's overlap window).
"""

import datetime
import ipaddress
import json
import logging
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from api.models import DeliveryStatus, WebhookCursor, WebhookDelivery, WebhookEndpoint, WebhookEvent, new_webhook_secret
from coinsite.accounts.models import User
from coinsite.lib.email import resend_due
from coinsite.lib.tasks import task_enqueue_on_commit
from gifting.models import ChatMessage, GiftEvent, LiveStream
from gifting.selectors import ANONYMOUS, UNNAMED
from payouts.models import Payout, PayoutStatus
from wallet.money import amount_string
from wallet.sandbox.webhooks import sign
from wallet.valuation import Valuation

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Coinsite-Signature"
ENDPOINTS_PER_CREATOR = 10
URL_MAX_LENGTH = 500
# Seconds to wait after each failed attempt: 13 attempts spread over about 32 hours.
RETRY_SCHEDULE = (30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 28800, 28800)
SECRET_OVERLAP = datetime.timedelta(hours=24)
# A claimed delivery is due again after this long if its worker died before recording the attempt.
CLAIM_LEASE = datetime.timedelta(minutes=5)
CLAIM_BATCH = 200
GIFT_BATCH = 5_000
# Gifts are read by id; ids are handed out before commit, so the cursor only passes gifts this old
# (far longer than any gift transaction) and younger ones are read again (deduplicated) next run.
GIFT_SETTLE = datetime.timedelta(seconds=10)
# Chat messages are read the same way (by id, settling for GIFT_SETTLE), in batches of this many.
CHAT_BATCH = 5_000
# Streams and payouts are read by time, over a window that overlaps the previous run's.
TIME_OVERLAP = datetime.timedelta(minutes=2)

# (url, body, headers, timeout seconds) -> HTTP status; raises OSError when it cannot connect.
Transport = Callable[[str, bytes, Mapping[str, str], float], int]


class WebhookError(ValueError):
    """The endpoint change was refused; ``str(error)`` tells the creator why. Nothing was written."""


# --- Endpoints ------------------------------------------------------------------------------------


def endpoint_url_error(url: str) -> str:
    """Why `url` cannot receive webhooks, or "": https, a host name, no credentials, not a private address."""
    parts = urlsplit(url)
    allow_local = settings.API_WEBHOOKS_ALLOW_LOCAL
    if len(url) > URL_MAX_LENGTH or parts.scheme not in ({"https", "http"} if allow_local else {"https"}):
        return _("Use an https:// address of at most %(max)s characters.") % {"max": URL_MAX_LENGTH}
    if not parts.hostname or parts.username or parts.password:
        return _("Give a host name, without a user name or password.")
    if not allow_local and _is_private(parts.hostname):
        return _("This address points into a private network; use a public https address.")
    return ""


def _is_private(host: str) -> bool:
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return True  # a host we cannot resolve is refused rather than trusted
    return any(not ipaddress.ip_address(str(address).split("%")[0]).is_global for address in addresses)


def endpoint_create(*, creator: User, url: str, event_types: list[str]) -> WebhookEndpoint:
    """Register a webhook endpoint for `creator`; its secret (`endpoint.secret`) is shown to them once."""
    if not creator.is_creator:
        raise WebhookError(_("Only creators can register webhooks."))
    url = (url or "").strip()
    if error := endpoint_url_error(url):
        raise WebhookError(error)
    if not event_types or not set(event_types) <= set(WebhookEvent.values):
        raise WebhookError(_("Choose at least one event."))
    if WebhookEndpoint.objects.filter(creator=creator).count() >= ENDPOINTS_PER_CREATOR:
        raise WebhookError(_("You have %(max)s endpoints; delete one first.") % {"max": ENDPOINTS_PER_CREATOR})
    return WebhookEndpoint.objects.create(creator=creator, url=url, event_types=sorted(set(event_types)))


def endpoint_secret_rotate(*, creator: User, endpoint_id: int) -> WebhookEndpoint | None:
    """A new secret for the creator's own endpoint; the old one still signs deliveries for SECRET_OVERLAP."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id, creator=creator).first()
        if endpoint is None:
            return None
        endpoint.previous_secret, endpoint.secret = endpoint.secret, new_webhook_secret()
        endpoint.previous_secret_expires_at = timezone.now() + SECRET_OVERLAP
        endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    return endpoint


def endpoint_delete(*, creator: User, endpoint_id: int) -> bool:
    deleted, _rows = WebhookEndpoint.objects.filter(pk=endpoint_id, creator=creator).delete()
    return bool(deleted)


def endpoint_enable(*, creator: User, endpoint_id: int) -> bool:
    """Turn a disabled endpoint back on; deliveries resume from events after this moment."""
    return bool(
        WebhookEndpoint.objects.filter(pk=endpoint_id, creator=creator, is_active=False).update(
            is_active=True, disabled_reason=""
        )
    )


def delivery_replay(*, creator: User, delivery_id: int) -> WebhookDelivery | None:
    """Send one of the creator's deliveries again now (whatever happened to it before); the receiver
    deduplicates on the event id, so a replay of a delivered event is harmless."""
    updated = WebhookDelivery.objects.filter(pk=delivery_id, endpoint__creator=creator).update(
        status=DeliveryStatus.PENDING, next_attempt_at=timezone.now(), attempts=0
    )
    return WebhookDelivery.objects.get(pk=delivery_id) if updated else None


# --- Collecting events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    creator_id: int
    occurred_at: datetime.datetime
    data: dict[str, Any]

    def payload(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "created": self.occurred_at.isoformat(), "data": self.data}


def _money(money: Any) -> dict[str, str] | None:
    return None if money is None else {"amount": amount_string(money), "currency": money.currency.code}


def _subscriptions() -> dict[int, list[WebhookEndpoint]]:
    by_creator: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in WebhookEndpoint.objects.filter(is_active=True):
        by_creator.setdefault(endpoint.creator_id, []).append(endpoint)
    return by_creator


def webhooks_collect(*, now: datetime.datetime | None = None) -> int:
    """Record deliveries for every event since the last run; returns how many new deliveries were recorded."""
    now = now or timezone.now()
    subscriptions = _subscriptions()
    if not subscriptions:
        return 0
    valuation = Valuation()
    with transaction.atomic():
        gift_cursor = _locked_cursor("gifts")
        time_cursor = _locked_cursor("times")
        events = _gift_events(gift_cursor, subscriptions, valuation, now)
        events += _chat_events(_locked_cursor("chat"), subscriptions, now)
        since = (time_cursor.last_time or now) - TIME_OVERLAP
        events += _stream_events(subscriptions, since) + _payout_events(subscriptions, since)
        time_cursor.last_time = now
        time_cursor.save(update_fields=["last_time"])
        return _record(events, subscriptions)


def _locked_cursor(source: str) -> WebhookCursor:
    WebhookCursor.objects.get_or_create(source=source)
    return WebhookCursor.objects.select_for_update().get(source=source)


def _gift_events(
    cursor: WebhookCursor, subscriptions: dict[int, list[WebhookEndpoint]], valuation: Valuation, now: datetime.datetime
) -> list[Event]:
    gifts = list(
        GiftEvent.objects.filter(creator_id__in=list(subscriptions), pk__gt=cursor.last_id)
        .select_related("gift", "sender", "stream")
        .order_by("pk")[:GIFT_BATCH]
    )
    settled_to = _settled_prefix_end(gifts, now)
    if settled_to > cursor.last_id:
        cursor.last_id = settled_to
        cursor.save(update_fields=["last_id"])
    return [_gift_event(gift, valuation) for gift in gifts] + _goal_events(gifts)


def _settled_prefix_end(rows: list[GiftEvent] | list[ChatMessage], now: datetime.datetime) -> int:
    last = 0
    for row in rows:
        if row.created_at >= now - GIFT_SETTLE:
            break
        last = row.pk
    return last


def _gift_event(gift: GiftEvent, valuation: Valuation) -> Event:
    sender = None if gift.is_anonymous else {"display_name": gift.sender.display_name or str(ANONYMOUS)}
    return Event(
        id=f"evt_gift_{gift.pk}",
        type=WebhookEvent.GIFT_SENT,
        creator_id=gift.creator_id,
        occurred_at=gift.created_at,
        data={
            "gift_event_id": gift.pk,
            "stream_id": gift.stream_id,
            "gift": {"id": gift.gift_id, "name": gift.gift.name, "coin_cost": gift.gift.coin_cost},
            "quantity": gift.quantity,
            "coins": gift.coins,
            "diamonds": gift.diamonds,
            "value": _money(valuation.diamonds(gift.diamonds)),
            "anonymous": gift.is_anonymous,
            "sender": sender,
        },
    )


def _chat_events(
    cursor: WebhookCursor, subscriptions: dict[int, list[WebhookEndpoint]], now: datetime.datetime
) -> list[Event]:
    """A chat.message event for each new message on the streams of creators with an endpoint that wants them.

    Read by id like gifts. A message deleted by then is skipped (and, being read again only while it
    settles, never sent later); one deleted after it was collected is not recalled.
    """
    creators = [
        creator_id
        for creator_id, endpoints in subscriptions.items()
        if any(WebhookEvent.CHAT_MESSAGE in endpoint.event_types for endpoint in endpoints)
    ]
    if not creators:
        return []
    messages = list(
        ChatMessage.objects.filter(stream__creator_id__in=creators, pk__gt=cursor.last_id)
        .select_related("author", "stream")
        .order_by("pk")[:CHAT_BATCH]
    )
    settled_to = _settled_prefix_end(messages, now)
    if settled_to > cursor.last_id:
        cursor.last_id = settled_to
        cursor.save(update_fields=["last_id"])
    return [_chat_event(message) for message in messages if message.deleted_at is None]


def _chat_event(message: ChatMessage) -> Event:
    return Event(
        id=f"evt_chat_{message.pk}",
        type=WebhookEvent.CHAT_MESSAGE,
        creator_id=message.stream.creator_id,
        occurred_at=message.created_at,
        data={
            "message_id": message.pk,
            "stream_id": message.stream_id,
            "author": {"display_name": message.author.display_name or UNNAMED},
            "text": message.text,
            "created_at": message.created_at.isoformat(),
        },
    )


def _goal_events(gifts: list[GiftEvent]) -> list[Event]:
    """A goal-reached event for each stream with a goal whose gifts now reach it (once per stream and goal)."""
    streams = {gift.stream_id: gift.stream for gift in gifts if gift.stream.goal_coins}
    if not streams:
        return []
    totals = dict(
        GiftEvent.objects.filter(stream_id__in=list(streams))
        .values("stream")
        .annotate(coins=Sum("coins"))
        .values_list("stream", "coins")
    )
    events = []
    for stream_id, stream in streams.items():
        goal = stream.goal_coins or 0
        if totals.get(stream_id, 0) >= goal:
            last = max((gift for gift in gifts if gift.stream_id == stream_id), key=lambda gift: gift.pk)
            events.append(
                Event(
                    id=f"evt_goal_{stream_id}_{goal}",
                    type=WebhookEvent.GOAL_REACHED,
                    creator_id=stream.creator_id,
                    occurred_at=last.created_at,
                    data={
                        "stream_id": stream_id,
                        "goal_coins": goal,
                        "label": stream.goal_label,
                        "coins": totals[stream_id],
                    },
                )
            )
    return events


def _stream_events(subscriptions: dict[int, list[WebhookEndpoint]], since: datetime.datetime) -> list[Event]:
    streams = LiveStream.objects.filter(creator_id__in=list(subscriptions)).filter(
        Q(started_at__gte=since) | Q(ended_at__gte=since)
    )
    events = []
    for stream in streams:
        data = {"stream_id": stream.pk, "title": stream.title, "started_at": stream.started_at.isoformat()}
        if stream.started_at >= since:
            events.append(
                Event(
                    f"evt_stream_started_{stream.pk}",
                    WebhookEvent.STREAM_STARTED,
                    stream.creator_id,
                    stream.started_at,
                    data,
                )
            )
        if stream.ended_at is not None and stream.ended_at >= since:
            ended = {**data, "ended_at": stream.ended_at.isoformat()}
            events.append(
                Event(
                    f"evt_stream_ended_{stream.pk}",
                    WebhookEvent.STREAM_ENDED,
                    stream.creator_id,
                    stream.ended_at,
                    ended,
                )
            )
    return events


def _payout_events(subscriptions: dict[int, list[WebhookEndpoint]], since: datetime.datetime) -> list[Event]:
    payouts = Payout.objects.filter(
        creator_id__in=list(subscriptions), status=PayoutStatus.PAID, finished_at__gte=since
    )
    return [
        Event(
            id=f"evt_payout_paid_{payout.public_id}",
            type=WebhookEvent.PAYOUT_PAID,
            creator_id=payout.creator_id,
            occurred_at=payout.finished_at or payout.updated_at,
            data={
                "payout_id": str(payout.public_id),
                "diamonds": payout.diamonds,
                "value": _money(payout.value),
                "gross": _money(payout.gross),
                "fee": _money(payout.fee),
                "net": _money(payout.net),
            },
        )
        for payout in payouts
    ]


def _record(events: Iterable[Event], subscriptions: dict[int, list[WebhookEndpoint]]) -> int:
    deliveries = [
        WebhookDelivery(endpoint=endpoint, event_id=event.id, event_type=event.type, payload=event.payload())
        for event in events
        for endpoint in subscriptions.get(event.creator_id, [])
        if event.type in endpoint.event_types and event.occurred_at >= endpoint.created_at
    ]
    created = WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    return sum(1 for delivery in created if delivery.pk)  # ignore_conflicts leaves pk unset


# --- Sending --------------------------------------------------------------------------------------------


def deliveries_claim_due(*, now: datetime.datetime | None = None, limit: int = CLAIM_BATCH) -> list[int]:
    """Claim due deliveries (no other dispatcher gets them until CLAIM_LEASE passes); returns their ids."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.filter(
                status=DeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint__is_active=True
            )
            .order_by("next_attempt_at", "id")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        WebhookDelivery.objects.filter(pk__in=ids).update(next_attempt_at=now + CLAIM_LEASE)
    return ids


def signature_header(body: bytes, *, secrets: list[str], timestamp: int) -> str:
    """`t=<timestamp>,v1=<signature>` with one v1 per secret (receivers accept any that matches theirs)."""
    signatures = [sign(body, secret=secret, timestamp=timestamp).split(",v1=")[1] for secret in secrets]
    return f"t={timestamp}," + ",".join(f"v1={signature}" for signature in signatures)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an answer (3xx: not delivered), never followed to another host


_OPENER = urllib.request.build_opener(_NoRedirects)


def urllib_transport(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    if endpoint_url_error(url):  # checked again at send time: DNS may have changed since registration
        raise ValueError(endpoint_url_error(url))
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def delivery_send(*, delivery_id: int, transport: Transport | None = None) -> str:
    """Post one delivery if it is still pending and its endpoint active; record the attempt and, on failure,
    when to try again. Returns the delivery's status afterwards."""
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if delivery.status != DeliveryStatus.PENDING or not endpoint.is_active:
        return delivery.status
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    attempt = delivery.attempts + 1
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Coinsite-Webhooks/1",
        SIGNATURE_HEADER: signature_header(body, secrets=endpoint.secrets_in_use(), timestamp=int(time.time())),
        "Coinsite-Event-Id": delivery.event_id,
        "Coinsite-Event-Type": delivery.event_type,
        "Coinsite-Delivery-Attempt": str(attempt),
    }
    send = transport or import_string(settings.API_WEBHOOKS_TRANSPORT)
    status_code, error = None, ""
    try:
        status_code = send(endpoint.url, body, headers, settings.API_WEBHOOKS_TIMEOUT)
    except (OSError, ValueError) as failure:
        error = str(failure)[:300] or type(failure).__name__
    if status_code is not None and 200 <= status_code < 300:
        return _delivered(delivery, attempt, status_code)
    return _failed_attempt(
        delivery, attempt, status_code, error or _("The endpoint answered %(status)s.") % {"status": status_code}
    )


def _delivered(delivery: WebhookDelivery, attempt: int, status_code: int) -> str:
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.DELIVERED,
        attempts=attempt,
        last_attempt_at=now,
        delivered_at=now,
        last_status_code=status_code,
        last_error="",
    )
    return DeliveryStatus.DELIVERED


def _failed_attempt(delivery: WebhookDelivery, attempt: int, status_code: int | None, error: str) -> str:
    now = timezone.now()
    gave_up = attempt > len(RETRY_SCHEDULE)
    status = DeliveryStatus.FAILED if gave_up else DeliveryStatus.PENDING
    next_attempt = now if gave_up else now + datetime.timedelta(seconds=RETRY_SCHEDULE[attempt - 1])
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=status,
        attempts=attempt,
        last_attempt_at=now,
        next_attempt_at=next_attempt,
        last_status_code=status_code,
        last_error=error[:300],
    )
    logger.info("Webhook delivery %s attempt %s failed: %s", delivery.pk, attempt, error)
    if gave_up:
        endpoint_disable(endpoint_id=delivery.endpoint_id, reason=error)
    return status


def endpoint_disable(*, endpoint_id: int, reason: str) -> bool:
    """Disable an endpoint after a delivery failed for good; True (and the creator is emailed, once) if it was on."""
    disabled = WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True).update(
        is_active=False, disabled_reason=reason[:300], disabled_at=timezone.now(), disabled_notice_sent_at=None
    )
    if disabled:
        from api import tasks  # noqa: PLC0415 (api.tasks imports this module: a real cycle)

        task_enqueue_on_commit(tasks.webhook_disabled_email, endpoint_id)
    return bool(disabled)


def endpoint_disabled_notices_unsent(*, now: datetime.datetime | None = None, limit: int = 500) -> list[int]:
    """Endpoints disabled (and still off) whose creator should have been emailed by now and was not
    (`resend_due`): the task was lost, or the broker refused it, or every retry failed. Oldest first."""
    unsent = WebhookEndpoint.objects.filter(
        is_active=False, disabled_at__isnull=False, disabled_notice_sent_at__isnull=True
    )
    every = settings.API_WEBHOOK_EMAILS_SWEEP_SECONDS  # the sweep's schedule (CELERY_BEAT_SCHEDULE)
    return resend_due(unsent, finished="disabled_at", every=every, now=now, limit=limit)
