"""The API's one write: sending a gift, through the same services and rules as the site's gift bar.

Nothing here moves money itself: `gifting.services.gift_send` does (one durable transaction, exactly
once per Idempotency-Key); this module adds what the API promises around it — the confirmation
threshold as `confirm: true`, the per-viewer gift rate limit, gift errors as catalogue codes, and the
record of which token made the write.
"""

from dataclasses import dataclass

from django.db import IntegrityError

from api.models import AccessToken, ApiWrite
from coinsite.accounts.models import User
from coinsite.lib.errors import CATALOGUE, CoinsiteError
from gifting import services as gifting
from gifting.models import Gift, GiftEvent

GIFT_SEND = "gift.send"
MAX_KEY_LENGTH = gifting.MAX_KEY_LENGTH


@dataclass(frozen=True)
class SentGift:
    event: GiftEvent
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
    if existing is None:
        _check_confirmed(user=user, gift_id=gift_id, quantity=quantity, confirmed=confirmed)
    try:
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
    recorded = _record_write(user=user, token=token, event=event, key=key)
    return SentGift(event=event, replayed=existing is not None or not recorded)


def _check_confirmed(*, user: User, gift_id: int, quantity: int, confirmed: bool) -> None:
    """Large gifts need `confirm: true`, at the same threshold the site asks at (the viewer's own if lower)."""
    if confirmed:
        return
    coin_cost = Gift.objects.filter(pk=gift_id).values_list("coin_cost", flat=True).first()
    if coin_cost is None:
        return  # gift_send refuses it with its own reason
    threshold = gifting.gift_confirmation_threshold(user=user)
    if coin_cost * quantity > threshold:
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
    """Record which token sent the gift; False when this request was already recorded (a retry)."""
    try:
        _write, created = ApiWrite.objects.get_or_create(
            user=user,
            operation=GIFT_SEND,
            idempotency_key=key,
            defaults={"token": token, "object_id": str(event.pk)},
        )
    except IntegrityError:  # a concurrent retry recorded it between our read and our insert
        return False
    return created
