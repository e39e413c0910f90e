"""The API's one write: sending a gift, through the same services and rules as the site's gift bar.

Nothing here moves money itself: `gifting.services.gift_send` does (one durable transaction, exactly
once per Idempotency-Key); this module adds what the API promises around it — the confirmation
threshold as `confirm: true`, the per-viewer gift rate limit, gift errors as catalogue codes, and the
record of which token made the write.
"""

import hashlib
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection

from api.models import AccessToken, ApiWrite
from coinsite.accounts.models import User
from coinsite.lib.errors import CATALOGUE, CoinsiteError
from gifting import services as gifting
from gifting.models import Gift, GiftEvent

GIFT_SEND = "gift.send"
MAX_KEY_LENGTH = gifting.MAX_KEY_LENGTH
RETRY_WINDOW_SECONDS = 60


@dataclass(frozen=True)
class SentGift:
    event: GiftEvent
    gift: Gift
    replayed: bool


def api_gift_send(
    *,
    user: User,
    token: AccessToken | None,
    stream_id: int,
    gift_id: int,
    quantity: int,
    anonymous: bool,
    confirmed: bool,
    idempotency_key: str | None,
) -> SentGift:
    """Send a gift for an API caller; raises CoinsiteError (nothing charged) when it cannot be sent.

    A retry with the same Idempotency-Key returns the first gift and charges nothing (`replayed`).
    """
    key = (idempotency_key or "").strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise CoinsiteError("idempotency_key_missing")
    existing = GiftEvent.objects.filter(sender=user, idempotency_key=key).first()
    gift = Gift.objects.filter(pk=gift_id).first()
    if existing is None and gift is not None and not confirmed:
        _check_confirmed(user=user, coins=gift.coin_cost * quantity)
    try:
        if existing is None and _first_attempt(user=user, key=key):
            gifting.gift_send_rate_check(user=user)  # before, never inside, gift_send's transaction
        event = gifting.gift_send(
            sender=user,
            stream_id=stream_id,
            gift_id=gift_id,
            quantity=quantity,
            idempotency_key=key,
            anonymous=anonymous,
        )
    except gifting.GiftError as error:
        raise _as_problem(error) from None
    assert gift is not None  # gift_send found it
    if existing is not None:
        return SentGift(event=event, gift=gift, replayed=True)
    # Concurrent first attempts all get the one gift; the one that records the write answers "not replayed".
    recorded = _record_write(user=user, token=token, event=event, key=key)
    return SentGift(event=event, gift=gift, replayed=not recorded)


def _first_attempt(*, user: User, key: str) -> bool:
    """Whether this is the first request with `key` lately: a client's retries of one gift count as one send
    against the gift rate limit (else its own retries would be refused while the first is in flight)."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    return bool(cache.add(f"api:gift-attempt:{user.pk}:{digest}", 1, timeout=RETRY_WINDOW_SECONDS))


def _check_confirmed(*, user: User, coins: int) -> None:
    """Large gifts need `confirm: true`, at the same threshold the site asks at (the viewer's own if lower)."""
    threshold = gifting.gift_confirmation_threshold(user=user)
    if coins > threshold:
        raise CoinsiteError("confirmation_required", threshold=threshold)


def _as_problem(error: gifting.GiftError) -> CoinsiteError:
    code = error.code if error.code in CATALOGUE else "gift_error"
    extra: dict[str, int] = {}
    if isinstance(error, gifting.NotEnoughCoins):
        extra["shortfall"] = error.shortfall
    if isinstance(error, gifting.GiftRateLimited):
        extra["retry_after"] = error.retry_after
    return CoinsiteError(code, str(error), **extra)


def _record_write(*, user: User, token: AccessToken | None, event: GiftEvent, key: str) -> bool:
    """Record which token sent the gift (one statement); False when this request was already recorded (a retry)."""
    table = ApiWrite._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (user_id, token_id, operation, object_id, idempotency_key, created_at) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, operation, idempotency_key) DO NOTHING RETURNING id",
            [user.pk, token.pk if token else None, GIFT_SEND, str(event.pk), key, event.created_at],
        )
        return cursor.fetchone() is not None
