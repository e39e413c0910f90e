"""Gifting operations: going live, ending a stream, setting its goal, and sending gifts.

`gift_send` is the hot path (docs/design.md §4): thousands of viewers may gift one creator at the same
moment. It reads everything it needs in one query, takes no lock on the creator (the ledger
appends creator credits as balance deltas), and its debit contends only with the same viewer's
other spends: the viewer's spending-controls row lock (`wallet.spending.spending_check`), then
the ledger's conditional UPDATE of the viewer's coin wallet — always in that order.
"""

import datetime
import json
import logging
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from coinsite.accounts.models import ADULT_AGE, User
from coinsite.lib.l10n import format_count, format_datetime_local, gift_name_local
from coinsite.lib.prepared import prepared_cursor
from coinsite.lib.rate_limit import RateLimit, RateLimited, rate_limit_hit, rate_limit_return
from gifting.chat import ChatInvalid, chat_text_clean
from gifting.live.events import GOAL, STREAM, gift_payload
from gifting.live.publish import live_gift_sent, live_publish
from gifting.models import (
    AVATAR_CHOICES,
    GIFT_MESSAGE_MAX_LENGTH,
    CreatorProfile,
    Gift,
    GiftDisplay,
    GiftEvent,
    GiftingPreferences,
    GiftingSettings,
    LiveStream,
    new_overlay_token,
)
from gifting.selectors import LiveCard
from gifting.stream_links import stream_link_error
from wallet.ledger import IdempotencyConflict, InsufficientFunds, account_for_user, ledger_spend, system_account
from wallet.ledger_kinds import spending_kinds
from wallet.models import (
    Asset,
    CoinReceivable,
    Country,
    LedgerAccount,
    SpendingControls,
    SystemAccount,
    WalletFreeze,
)
from wallet.selectors import spending_summary
from wallet.spending import SpendingBlocked, spending_check

logger = logging.getLogger(__name__)

MAX_QUANTITY = 99
MAX_KEY_LENGTH = 100
DIAMONDS_PER_COIN = 1
BIO_MAX_LENGTH = 500
# Gift sends allowed per viewer (docs/design.md §6: rate limits on money endpoints), counted in the cache by
# `gift_send_rate_check`; a person tapping a gift quickly stays well under them, a script does not.
GIFT_SENDS_PER_SECOND = 5
GIFT_SENDS_PER_MINUTE = 120
# A stream's row takes its viewer count (gifting.presence) at most this often, however often the live list loads.
VIEWER_COUNT_SAVE_SECONDS = 15
BIGINT_MAX = 2**63 - 1
# SQLSTATE that `gifting_gift_send` (migration 0010) raises when it lost a race after claiming the key.
FAST_PATH_LOST_RACE = "CSG01"
GIFT_LEDGER_KIND = "gift"  # registered with wallet.ledger_kinds as spending coins (gifting.apps)


class GiftError(Exception):
    """The gift was not sent and nothing was written; ``str(error)`` is written for the viewer."""

    code = "gift_error"


class InvalidGiftRequest(GiftError):
    """The request itself is malformed (quantity, idempotency key)."""

    code = "invalid_request"


class GiftNotAllowed(GiftError):
    """A rule forbids this gift now; `code` names the rule, `reason` explains it to the viewer."""

    def __init__(self, reason: str, *, code: str) -> None:
        self.reason = reason
        self.code = code
        super().__init__(reason)


class NotEnoughCoins(GiftError):
    """The viewer's coins do not cover the gift; `shortfall` is exactly how many are missing."""

    code = "not_enough_coins"

    def __init__(self, shortfall: int, *, balance: int, cost: int) -> None:
        self.shortfall = shortfall
        self.balance = balance
        self.cost = cost
        super().__init__(
            ngettext(
                "This gift costs %(cost)s coins and you have %(balance)s: top up %(shortfall)s more coin to send it.",
                "This gift costs %(cost)s coins and you have %(balance)s: top up %(shortfall)s more coins to send it.",
                shortfall,
            )
            % {"cost": format_count(cost), "balance": format_count(balance), "shortfall": format_count(shortfall)}
        )


class GiftNeedsConfirmation(GiftError):
    """The gift costs more than the sender's confirmation threshold and was not confirmed: ask, then send it
    again with `confirmed`. `coins` is its cost, `threshold` the sender's (the staff's, or their own if lower)."""

    code = "confirmation_required"

    def __init__(self, *, coins: int, threshold: int, quantity: int, gift_name: str) -> None:
        self.coins = coins
        self.threshold = threshold
        self.quantity = quantity
        self.gift_name = gift_name
        super().__init__(
            _("Gifts of more than %(threshold)s coins need your confirmation: this one costs %(coins)s.")
            % {"threshold": format_count(threshold), "coins": format_count(coins)}
        )


class IdempotencyKeyReused(GiftError):
    """The idempotency key was already used by this viewer for a different gift."""

    code = "idempotency_key_reused"


class GiftRateLimited(GiftError):
    """The viewer sent too many gifts just now; `retry_after` is how many seconds until they may again."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class PreferencesError(Exception):
    """The viewer's gifting preferences were not saved; ``str(error)`` says why. Nothing was written."""


class ProfileError(Exception):
    """The creator's profile was not saved; ``str(error)`` says why. Nothing was written."""


class StreamError(Exception):
    """A stream operation cannot go ahead; ``str(error)`` tells the creator why. Nothing was written."""


# --- Streams ------------------------------------------------------------------------------------


def stream_start(
    *, creator: User, title: str, stream_url: str = "", goal_coins: int | None = None, goal_label: str = ""
) -> LiveStream:
    """Put the creator live with a new stream; a creator is never live twice (a unique index holds it)."""
    if not creator.is_creator:
        raise StreamError(_("Only creators can go live."))
    title = _clean_title(title)
    _check_stream_url(stream_url)
    _check_goal(goal_coins)
    try:
        with transaction.atomic(durable=True):
            return LiveStream.objects.create(
                creator=creator,
                title=title,
                stream_url=stream_url,
                goal_coins=goal_coins,
                goal_label=goal_label.strip()[:80],
            )
    except IntegrityError:
        raise StreamError(_("You are already live: end that stream before starting another.")) from None


def stream_end(*, stream: LiveStream, creator: User) -> LiveStream:
    """End the creator's own stream; ending an ended stream changes nothing. Gifts stop at once, and every
    open page switches to "ended" (a `stream` live event)."""
    _check_owner(stream, creator)
    ended_at = timezone.now()
    ended = LiveStream.objects.filter(pk=stream.pk, ended_at__isnull=True).update(ended_at=ended_at)
    stream.refresh_from_db(fields=["ended_at"])
    if ended:
        live_publish(stream_id=stream.pk, event=STREAM, data={"state": "ended", "ended_at": ended_at.isoformat()})
    return stream


def stream_goal_set(*, stream: LiveStream, creator: User, goal_coins: int | None, goal_label: str = "") -> LiveStream:
    """Set (or with None clear) the coin goal of the creator's own live stream."""
    _check_owner(stream, creator)
    _check_goal(goal_coins)
    updated = LiveStream.objects.filter(pk=stream.pk, ended_at__isnull=True).update(
        goal_coins=goal_coins, goal_label=goal_label.strip()[:80]
    )
    if not updated:
        raise StreamError(_("This stream has ended; its goal can no longer change."))
    stream.refresh_from_db(fields=["goal_coins", "goal_label"])
    live_publish(stream_id=stream.pk, event=GOAL, data={"goal_coins": stream.goal_coins, "label": stream.goal_label})
    return stream


def gifting_preferences_set(
    *, user: User, hide_from_leaderboards: bool, confirm_above_coins: int | None = None
) -> GiftingPreferences:
    """Replace the viewer's gifting preferences: leaderboard visibility and their own confirmation threshold.

    `confirm_above_coins` None means the staff-set threshold; otherwise it must be a whole number of
    coins from 1 to the staff-set threshold (a viewer may only ask for more confirmations, never
    fewer), or PreferencesError is raised and nothing changes.
    """
    _check_personal_threshold(confirm_above_coins)
    preferences, _created = GiftingPreferences.objects.update_or_create(
        user=user,
        defaults={"hide_from_leaderboards": bool(hide_from_leaderboards), "confirm_above_coins": confirm_above_coins},
    )
    return preferences


def _check_personal_threshold(coins: int | None) -> None:
    if coins is None:
        return
    staff_threshold = GiftingSettings.load().gift_confirm_above_coins
    if isinstance(coins, bool) or not isinstance(coins, int) or coins < 1:
        raise PreferencesError(_("Your confirmation threshold must be a whole number of coins, at least 1."))
    if coins > staff_threshold:
        raise PreferencesError(
            ngettext(
                "Your confirmation threshold can be at most %(coins)s coin, the site's own; "
                "leave it empty to use that.",
                "Your confirmation threshold can be at most %(coins)s coins, the site's own; "
                "leave it empty to use that.",
                staff_threshold,
            )
            % {"coins": format_count(staff_threshold)}
        )


def creator_profile_update(*, creator: User, bio: str, avatar: str) -> CreatorProfile:
    """Set the creator's public bio and avatar (one of the site's avatars, or "" to show their initials)."""
    if not creator.is_creator:
        raise ProfileError(_("Only creators have a public profile."))
    bio = (bio or "").replace("\r\n", "\n").strip()
    if len(bio) > BIO_MAX_LENGTH:
        raise ProfileError(_("Keep your bio to %(max)d characters.") % {"max": BIO_MAX_LENGTH})
    if avatar and avatar not in dict(AVATAR_CHOICES):
        raise ProfileError(_("Choose one of the avatars shown, or none."))
    profile, _created = CreatorProfile.objects.update_or_create(user=creator, defaults={"bio": bio, "avatar": avatar})
    return profile


def _check_owner(stream: LiveStream, creator: User) -> None:
    if stream.creator_id != creator.pk:
        raise StreamError(_("This is not your stream."))


def _clean_title(title: str) -> str:
    title = (title or "").strip()
    if not title:
        raise StreamError(_("Give your stream a title."))
    if len(title) > 120:
        raise StreamError(_("Keep the title to %(max)d characters.") % {"max": 120})
    return title


def _check_stream_url(stream_url: str) -> None:
    if stream_url and (error := stream_link_error(stream_url)):
        raise StreamError(error)


def _check_goal(goal_coins: int | None) -> None:
    if goal_coins is None:
        return
    if isinstance(goal_coins, bool) or not isinstance(goal_coins, int) or not 1 <= goal_coins <= 2_000_000_000:
        raise StreamError(_("A goal is a whole number of coins, at least 1."))


# --- Sending gifts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _GiftContext:
    """What one gift needs to know, read in one query (see `_gift_context`)."""

    creator_id: int | None
    stream_is_live: bool
    creator_is_creator: bool
    gift_id: int | None
    gift_name: str
    gift_artwork: str
    gift_tier: str
    coin_cost: int
    gift_is_active: bool
    gift_countries: list[str]
    country_gifting_enabled: bool | None
    country_minimum_age: int | None
    existing_event_id: int | None
    frozen_reason: str | None
    personal_threshold: int | None
    owes_coins: bool
    has_spending_controls: bool
    sender_coins: LedgerAccount | None
    creator_diamonds: LedgerAccount | None
    coins_consumed: LedgerAccount | None
    diamonds_issued: LedgerAccount | None


def gift_send(
    *,
    sender: User,
    stream_id: int,
    gift_id: int,
    quantity: int,
    idempotency_key: str,
    anonymous: bool = False,
    message: str = "",
    confirmed: bool = True,
) -> GiftEvent:
    """Send `quantity` x gift on a live stream: all of it exactly once, or nothing.

    In one durable transaction: check the rules (quantity, live stream, gift offered in the
    sender's country, adult sender, gifting allowed in their country, not their own stream,
    spending budgets and self-exclusion), then post one balanced ledger transaction — the
    sender's coins to coins consumed, as many diamonds from diamonds issued to the creator — and
    record the GiftEvent. The sender's coins never go below zero. The same (sender,
    idempotency key) returns the first GiftEvent and charges nothing, also when requests race.
    Raises a GiftError subclass, having written nothing, when the gift cannot be sent. A new gift is
    published to the stream's viewers once it commits (`gifting.live`), never from inside the transaction.
    `message` is a short text sent with the gift (up to GIFT_MESSAGE_MAX_LENGTH characters, cleaned as chat is).
    Unless `confirmed`, a gift of more coins than the sender's confirmation threshold (`gift_confirmation_threshold`)
    raises GiftNeedsConfirmation, having written nothing; a retry of a gift already sent is returned as always.
    """
    _check_request(stream_id=stream_id, gift_id=gift_id, quantity=quantity, idempotency_key=idempotency_key)
    message = _gift_message_clean(message)
    request = GiftRequest(
        sender=sender,
        stream_id=stream_id,
        gift_id=gift_id,
        quantity=quantity,
        idempotency_key=idempotency_key,
        anonymous=bool(anonymous),
        message=message,
        confirm_above=None if confirmed else GiftingSettings.value("gift_confirm_above_coins"),
    )
    event = _gift_send_fast(request) if settings.GIFT_SEND_FAST_PATH else None
    if event is None:
        event = _gift_send_general(request)
    logger.debug(  # the event row and the ledger are the record; a line per gift only at DEBUG
        "Gift %s: %s x gift %s (%s coins) from user %s on stream %s",
        event.pk,
        quantity,
        gift_id,
        event.coins,
        sender.pk,
        stream_id,
    )
    return event


@dataclass(frozen=True, slots=True)
class GiftRequest:
    """One gift as `gift_send` was asked for it, its message cleaned."""

    sender: User
    stream_id: int
    gift_id: int
    quantity: int
    idempotency_key: str
    anonymous: bool
    message: str
    confirm_above: int | None  # the staff's confirmation threshold, or None when the sender confirmed

    @property
    def ledger_key(self) -> str:
        return f"gift:{self.sender.pk}:{self.idempotency_key}"


def _gift_send_fast(request: GiftRequest) -> GiftEvent | None:
    """The common case in one round trip: `gifting_gift_send` (migration 0010) checks the rules and, when
    every one plainly holds, posts the gift and records its event in one autocommit statement.

    None when it wrote nothing (a rule to explain, a replay, spending controls, too few coins, a race
    lost to the same key or a concurrent spend): the general path then decides, with its own messages.
    """
    if not all(0 < value <= BIGINT_MAX for value in (request.stream_id, request.gift_id)):
        return None  # no such row; the general path says which (its parameters are not cast to bigint)
    sender = request.sender
    now = timezone.now()
    sql, params = gift_send_statement(request, now=now)
    try:
        # Outside any transaction the statement is its own transaction. Inside one (only a test's: the
        # durable block refuses any other), a savepoint keeps a lost race from aborting it.
        block = transaction.atomic(durable=True) if connection.in_atomic_block else nullcontext()
        with block, prepared_cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    except DatabaseError as error:
        if getattr(error.__cause__, "sqlstate", None) == FAST_PATH_LOST_RACE:
            return None
        raise
    event_id, transaction_id, creator_id, coins, diamonds, balance, gift_name, artwork, tier = row
    if event_id is None:
        return None
    # The row as stored, positionally in GIFT_EVENT_ROW order: half the cost of building it by keyword.
    row_values = (
        event_id,
        request.stream_id,
        sender.pk,
        creator_id,
        request.gift_id,
        request.quantity,
        coins,
        diamonds,
        request.anonymous,
        request.message,
        request.idempotency_key,
        transaction_id,
        now,
    )
    event = GiftEvent.from_db(connection.alias, GIFT_EVENT_ROW, row_values)
    event.sender_coins_after = balance
    event.gift_display = GiftDisplay(name=gift_name, artwork=artwork, tier=tier)
    _publish_gift(event, sender=sender)
    return event


# GiftEvent's fields in the model's order (a test pins it): `Model.from_db` takes a whole row positionally.
GIFT_EVENT_ROW = (
    "id",
    "stream_id",
    "sender_id",
    "creator_id",
    "gift_id",
    "quantity",
    "coins",
    "diamonds",
    "is_anonymous",
    "message",
    "idempotency_key",
    "ledger_transaction_id",
    "created_at",
)

_FAST_SQL = (
    "SELECT sent_event_id, sent_transaction_id, sent_creator_id, sent_coins, sent_diamonds, sent_balance,"
    " sent_gift_name, sent_gift_artwork, sent_gift_tier"
    " FROM gifting_gift_send(%s::bigint, %s::integer, %s::text, %s::bigint, %s::bigint, %s::integer, %s::text,"
    " %s::text, %s::boolean, %s::text, %s::timestamptz, %s::integer, %s::integer, %s::bigint)"
)


def gift_send_statement(request: GiftRequest, *, now: datetime.datetime) -> tuple[str, list]:
    """The common case's one statement and its parameters, as `gift_send` sends them (prepared, autocommit).

    `bench.gifts.driver_floor_phase` sends the very same through psycopg alone, to measure what a Python
    client costs without Django (docs/scaling.md).
    """
    sender = request.sender
    params = [
        sender.pk,
        sender.age_on(timezone.localdate()),
        sender.country_code,
        request.stream_id,
        request.gift_id,
        request.quantity,
        request.idempotency_key,
        request.ledger_key,
        request.anonymous,
        request.message,
        now,
        ADULT_AGE,
        DIAMONDS_PER_COIN,
        request.confirm_above,
    ]
    return _FAST_SQL, params


def _gift_send_general(request: GiftRequest) -> GiftEvent:
    """Every case in one durable transaction: the rules with their messages, replays, spending controls."""
    sender, stream_id, gift_id, quantity = request.sender, request.stream_id, request.gift_id, request.quantity
    idempotency_key, anonymous, message = request.idempotency_key, request.anonymous, request.message
    with transaction.atomic(durable=True):
        context = _gift_context(sender=sender, stream_id=stream_id, gift_id=gift_id, idempotency_key=idempotency_key)
        if context.existing_event_id is not None:
            return _replayed_event(
                GiftEvent.objects.get(pk=context.existing_event_id),
                stream_id=stream_id,
                gift_id=gift_id,
                quantity=quantity,
                anonymous=anonymous,
            )
        _check_rules(sender, context)
        coins = context.coin_cost * quantity
        _check_confirmed(request, context, coins=coins)
        try:
            if context.has_spending_controls:  # no row: no budget, no pause, nothing to lock
                spending_check(user=sender, coins=coins, kinds=spending_kinds())
        except SpendingBlocked as blocked:
            # A racing request with this key may have committed while we waited on the controls lock.
            existing = GiftEvent.objects.filter(sender=sender, idempotency_key=idempotency_key).first()
            if existing is not None:
                return _replayed_event(
                    existing, stream_id=stream_id, gift_id=gift_id, quantity=quantity, anonymous=anonymous
                )
            raise GiftNotAllowed(blocked.message, code=f"spending_{blocked.reason}") from None
        event = _post_gift(
            sender=sender,
            context=context,
            stream_id=stream_id,
            quantity=quantity,
            coins=coins,
            idempotency_key=idempotency_key,
            anonymous=anonymous,
            message=message,
        )
    return event


def _check_confirmed(request: GiftRequest, context: _GiftContext, *, coins: int) -> None:
    if request.confirm_above is None:
        return
    threshold = _confirmation_threshold(staff=request.confirm_above, personal=context.personal_threshold)
    if coins > threshold:
        raise GiftNeedsConfirmation(
            coins=coins, threshold=threshold, quantity=request.quantity, gift_name=context.gift_name
        )


def _gift_message_clean(message: object) -> str:
    if message is None or message == "":
        return ""
    try:
        return chat_text_clean(message, max_length=GIFT_MESSAGE_MAX_LENGTH)
    except ChatInvalid as invalid:
        raise InvalidGiftRequest(str(invalid)) from None


def gift_block(*, sender: User, stream_id: int, now: datetime.datetime | None = None) -> GiftNotAllowed | None:
    """The rule that stops `sender` sending any gift on the stream now, or None if they may gift.

    The live page asks before it shows the gift bar, so a viewer who cannot gift is told why instead
    of filling in a form that would be refused. The same rules as `gift_send` (one context query),
    whichever gift is picked, plus the pause and budgets of `spending_check` (a budget used up to the
    last coin); `gift_send` still checks everything itself. Writes nothing.
    """
    context = _gift_context(sender=sender, stream_id=stream_id, gift_id=0, idempotency_key="")
    try:
        _check_stream_rules(sender, context)
        _check_sender_rules(sender, context)
    except GiftNotAllowed as refusal:
        return refusal
    return _spending_block(sender, now=now) if context.has_spending_controls else None


def _spending_block(sender: User, *, now: datetime.datetime | None) -> GiftNotAllowed | None:
    summary = spending_summary(sender, kinds=spending_kinds(), now=now)
    if summary.excluded_until is not None:
        return GiftNotAllowed(
            _("You paused gifting and recharging until %(until)s. The pause cannot be lifted early.")
            % {"until": format_datetime_local(summary.excluded_until)},
            code="spending_excluded",
        )
    if summary.remaining_today == 0:
        return GiftNotAllowed(
            _("You have used your daily budget. Gifting starts again on %(reset)s.")
            % {"reset": format_datetime_local(summary.day_resets_at)},
            code="spending_daily",
        )
    if summary.remaining_this_month == 0:
        return GiftNotAllowed(
            _("You have used your monthly budget. Gifting starts again on %(reset)s.")
            % {"reset": format_datetime_local(summary.month_resets_at)},
            code="spending_monthly",
        )
    return None


def _check_request(*, stream_id: int, gift_id: int, quantity: int, idempotency_key: str) -> None:
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in (stream_id, gift_id)):
        raise InvalidGiftRequest(_("Pick a gift to send on a live stream."))
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidGiftRequest(_("Choose a quantity from 1 to %(max)d.") % {"max": MAX_QUANTITY})
    if not isinstance(idempotency_key, str) or not idempotency_key.strip() or len(idempotency_key) > MAX_KEY_LENGTH:
        raise InvalidGiftRequest(_("The gift request is missing its request id; reload the page and try again."))


def _check_rules(sender: User, context: _GiftContext) -> None:
    """Raise GiftNotAllowed for the first rule the gift breaks, in the order a viewer would fix them."""
    _check_stream_rules(sender, context)
    if context.gift_id is None or not context.gift_is_active:
        raise GiftNotAllowed(_("This gift is no longer available."), code="gift_unavailable")
    if context.gift_countries and sender.country not in context.gift_countries:
        raise GiftNotAllowed(
            _("The %(gift)s gift is not offered in your country.") % {"gift": gift_name_local(context.gift_name)},
            code="gift_not_offered",
        )
    _check_sender_rules(sender, context)


def _check_stream_rules(sender: User, context: _GiftContext) -> None:
    if context.creator_id is None or not context.stream_is_live:
        raise GiftNotAllowed(_("This stream has ended, so gifts can no longer be sent to it."), code="stream_ended")
    if context.creator_id == sender.pk:
        raise GiftNotAllowed(_("You cannot send gifts on your own stream."), code="self_gift")
    if not context.creator_is_creator:
        raise GiftNotAllowed(_("This creator cannot receive gifts at the moment."), code="creator_unavailable")


def _check_sender_rules(sender: User, context: _GiftContext) -> None:
    """The rules about the sender themselves: age, a frozen wallet, coins owed, their country."""
    if sender.birth_date is None:
        raise GiftNotAllowed(
            _("Add your birth date to your profile before sending gifts: gifting is for adults."), code="age_unknown"
        )
    minimum_age = context.country_minimum_age or ADULT_AGE  # the country's age limit (19 in South Korea)
    if not sender.is_at_least(minimum_age):
        raise GiftNotAllowed(
            _("Gifts can only be sent by people aged %(age)s or over.") % {"age": minimum_age}, code="age"
        )
    if context.frozen_reason:
        raise GiftNotAllowed(
            # Translators: the reason is staff's own words, in the language they wrote it in.
            _("Your wallet is frozen by our team: %(reason)s Contact support to have it lifted.")
            % {"reason": context.frozen_reason},
            code="frozen",
        )
    if context.owes_coins:
        raise GiftNotAllowed(
            _(
                "Coins from a refunded or charged-back recharge were already spent; the next "
                "recharge settles them first. Until then you cannot send gifts."
            ),
            code="receivable",
        )
    if not context.country_gifting_enabled:
        raise GiftNotAllowed(_("Sending gifts is not available in your country."), code="country")


def _post_gift(
    *,
    sender: User,
    context: _GiftContext,
    stream_id: int,
    quantity: int,
    coins: int,
    idempotency_key: str,
    anonymous: bool,
    message: str = "",
) -> GiftEvent:
    # _check_rules refused the gift unless the stream and the gift were found.
    assert context.creator_id is not None and context.gift_id is not None
    wallet = context.sender_coins
    if wallet is None:
        raise NotEnoughCoins(coins, balance=0, cost=coins)
    if not wallet.append_only_balance and wallet.balance < coins:
        # An early answer from the snapshot; the ledger's conditional UPDATE below is what guarantees it.
        raise NotEnoughCoins(coins - wallet.balance, balance=wallet.balance, cost=coins)
    diamonds = coins * DIAMONDS_PER_COIN
    try:
        # One statement, no savepoint: any ledger error fails the whole gift, so its rollback is ours too.
        ledger_transaction = ledger_spend(
            idempotency_key=f"gift:{sender.pk}:{idempotency_key}",
            kind=GIFT_LEDGER_KIND,
            payer=wallet,
            lines=_gift_lines(context, creator_id=context.creator_id, coins=coins, diamonds=diamonds),
            memo=f"{quantity} x {context.gift_name}",
            metadata={"stream": stream_id, "gift": context.gift_id, "quantity": quantity},
        )
    except InsufficientFunds as error:
        raise NotEnoughCoins(error.shortfall, balance=error.available, cost=coins) from None
    except IdempotencyConflict:
        raise IdempotencyKeyReused(_("This gift request was already used for a different gift.")) from None
    event = GiftEvent(
        stream_id=stream_id,
        sender_id=sender.pk,
        creator_id=context.creator_id,
        gift_id=context.gift_id,
        quantity=quantity,
        coins=coins,
        diamonds=diamonds,
        is_anonymous=bool(anonymous),
        message=message,
        idempotency_key=idempotency_key,
        ledger_transaction=ledger_transaction,
        created_at=ledger_transaction.created_at,
    )
    if _insert_event(event):
        event.gift_display = GiftDisplay(name=context.gift_name, artwork=context.gift_artwork, tier=context.gift_tier)
        _publish_gift(event, sender=sender)
        return event
    # The ledger found this key already posted: a racing request with the same key committed first.
    existing = GiftEvent.objects.get(sender=sender, idempotency_key=idempotency_key)
    return _replayed_event(
        existing, stream_id=stream_id, gift_id=context.gift_id, quantity=quantity, anonymous=anonymous
    )


def _gift_lines(context: _GiftContext, *, creator_id: int, coins: int, diamonds: int) -> list:
    creator_diamonds = context.creator_diamonds
    if creator_diamonds is None:  # the creator's first gift ever
        creator_diamonds = account_for_user(User.objects.get(pk=creator_id), Asset.DIAMOND)
    return [
        (context.sender_coins, Asset.COIN, -coins),
        (context.coins_consumed or system_account(SystemAccount.COINS_CONSUMED), Asset.COIN, coins),
        (context.diamonds_issued or system_account(SystemAccount.DIAMONDS_ISSUED), Asset.DIAMOND, -diamonds),
        (creator_diamonds, Asset.DIAMOND, diamonds),
    ]


def _replayed_event(event: GiftEvent, *, stream_id: int, gift_id: int, quantity: int, anonymous: bool) -> GiftEvent:
    """The earlier event for a retried request, if the retry asks for the same gift."""
    if (event.stream_id, event.gift_id, event.quantity, event.is_anonymous) != (
        stream_id,
        gift_id,
        quantity,
        bool(anonymous),
    ):
        raise IdempotencyKeyReused(_("This gift request was already used for a different gift."))
    return event


# --- Hot-path SQL -------------------------------------------------------------------------------
# One round trip for the stream, its creator, the gift, the sender's country, an earlier event
# with the same key, and the four ledger accounts of the posting. Table names come from the models.

_ACCOUNT_FIELDS = [field.attname for field in LedgerAccount._meta.concrete_fields]
_ACCOUNT_ROLES = ["sender_coins", "creator_diamonds", "coins_consumed", "diamonds_issued"]


def _context_sql() -> str:
    """The context query; every column is named (accounts as `<role>__<field>`), so reading it never
    depends on column positions."""
    accounts = LedgerAccount._meta.db_table
    account_columns = ", ".join(
        f"{role}.{field} AS {role}__{field}" for role in _ACCOUNT_ROLES for field in _ACCOUNT_FIELDS
    )
    return f"""
        SELECT stream.creator_id AS creator_id,
               stream.ended_at IS NULL AS stream_is_live,
               creator.is_creator AS creator_is_creator,
               gift.id AS gift_id, gift.name AS gift_name, gift.artwork AS gift_artwork, gift.tier AS gift_tier,
               gift.coin_cost AS coin_cost,
               gift.is_active AS gift_is_active, gift.countries::text AS countries_json,
               country.gifting_enabled AS country_gifting_enabled,
               country.minimum_age AS country_minimum_age,
               existing.id AS existing_event_id,
               frozen.reason AS frozen_reason,
               own.confirm_above_coins AS personal_threshold,
               EXISTS (SELECT 1 FROM {CoinReceivable._meta.db_table} owed
                        WHERE owed.user_id = %(sender_id)s AND owed.settled_at IS NULL) AS owes_coins,
               EXISTS (SELECT 1 FROM {SpendingControls._meta.db_table} controls
                        WHERE controls.user_id = %(sender_id)s) AS has_spending_controls,
               {account_columns}
          FROM (SELECT 1) AS anchor
          LEFT JOIN {LiveStream._meta.db_table} stream ON stream.id = %(stream_id)s
          LEFT JOIN {User._meta.db_table} creator ON creator.id = stream.creator_id
          LEFT JOIN {Gift._meta.db_table} gift ON gift.id = %(gift_id)s
          LEFT JOIN {Country._meta.db_table} country ON country.code = %(country)s
          LEFT JOIN {GiftEvent._meta.db_table} existing
                 ON existing.sender_id = %(sender_id)s AND existing.idempotency_key = %(key)s
          LEFT JOIN {WalletFreeze._meta.db_table} frozen ON frozen.user_id = %(sender_id)s
          LEFT JOIN {GiftingPreferences._meta.db_table} own ON own.user_id = %(sender_id)s
          LEFT JOIN {accounts} sender_coins ON sender_coins.user_id = %(sender_id)s AND sender_coins.asset = %(coin)s
          LEFT JOIN {accounts} creator_diamonds
                 ON creator_diamonds.user_id = stream.creator_id AND creator_diamonds.asset = %(diamond)s
          LEFT JOIN {accounts} coins_consumed ON coins_consumed.code = %(coins_consumed)s
          LEFT JOIN {accounts} diamonds_issued ON diamonds_issued.code = %(diamonds_issued)s
    """  # noqa: S608 (table names from model metadata, values as parameters)


def _gift_context(*, sender: User, stream_id: int, gift_id: int, idempotency_key: str) -> _GiftContext:
    with prepared_cursor() as cursor:  # the hot path: planned once per connection
        cursor.execute(
            _context_sql(),
            {
                "stream_id": stream_id,
                "gift_id": gift_id,
                "country": sender.country_code,
                "sender_id": sender.pk,
                "key": idempotency_key,
                "coin": Asset.COIN.value,
                "diamond": Asset.DIAMOND.value,
                "coins_consumed": SystemAccount.COINS_CONSUMED.value,
                "diamonds_issued": SystemAccount.DIAMONDS_ISSUED.value,
            },
        )
        row = dict(zip([column.name for column in cursor.description], cursor.fetchone(), strict=True))
    return _GiftContext(
        creator_id=row["creator_id"],
        stream_is_live=bool(row["stream_is_live"]),
        creator_is_creator=bool(row["creator_is_creator"]),
        gift_id=row["gift_id"],
        gift_name=row["gift_name"] or "",
        gift_artwork=row["gift_artwork"] or "",
        gift_tier=row["gift_tier"] or "",
        coin_cost=row["coin_cost"] or 0,
        gift_is_active=bool(row["gift_is_active"]),
        gift_countries=json.loads(row["countries_json"]) if row["countries_json"] else [],
        country_gifting_enabled=row["country_gifting_enabled"],
        country_minimum_age=row["country_minimum_age"],
        existing_event_id=row["existing_event_id"],
        frozen_reason=row["frozen_reason"],
        personal_threshold=row["personal_threshold"],
        owes_coins=bool(row["owes_coins"]),
        has_spending_controls=bool(row["has_spending_controls"]),
        **{role: _account_from_row(row, role) for role in _ACCOUNT_ROLES},
    )


def _account_from_row(row: dict[str, Any], role: str) -> LedgerAccount | None:
    """The `role` account from its `<role>__<field>` columns, None when the LEFT JOIN found none."""
    values = [row[f"{role}__{field}"] for field in _ACCOUNT_FIELDS]
    if row[f"{role}__id"] is None:
        return None
    return LedgerAccount.from_db(connection.alias, _ACCOUNT_FIELDS, values)


def _insert_event(event: GiftEvent) -> bool:
    """Insert the event unless one with its (sender, key) exists; True if inserted (event.pk set)."""
    fields = GIFT_EVENT_ROW[1:]  # every field but the id, which the INSERT returns
    with prepared_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {GiftEvent._meta.db_table} ({', '.join(fields)}) "  # noqa: S608
            f"VALUES ({', '.join(['%s'] * len(fields))}) "
            "ON CONFLICT (sender_id, idempotency_key) DO NOTHING RETURNING id",
            [getattr(event, field) for field in fields],
        )
        row = cursor.fetchone()
    if row is None:
        return False
    event.pk = row[0]
    event._state.adding = False
    event._state.db = connection.alias
    return True


def _publish_gift(event: GiftEvent, *, sender: User) -> None:
    """Queue the gift for the stream's viewers, sent once the transaction commits (never inside it: DESIGN §4)."""
    assert event.gift_display is not None  # set by the path that sent it
    payload = gift_payload(
        event_id=event.pk,
        stream_id=event.stream_id,
        gift_id=event.gift_id,
        gift_name=event.gift_display.name,
        artwork=event.gift_display.artwork,
        tier=event.gift_display.tier,
        quantity=event.quantity,
        coins=event.coins,
        sender_name="" if event.is_anonymous else sender.display_name,
        anonymous=event.is_anonymous,
        created_at=event.created_at,
        message=event.message,
    )
    live_gift_sent(stream_id=event.stream_id, event_id=event.pk, payload=payload)


def gift_confirmation_threshold(*, user: User) -> int:
    """Coins above which a gift asks `user` to confirm: the staff-set threshold, or the viewer's own if lower."""
    staff_threshold = GiftingSettings.load().gift_confirm_above_coins
    personal = GiftingPreferences.objects.filter(user=user).values_list("confirm_above_coins", flat=True).first()
    return _confirmation_threshold(staff=staff_threshold, personal=personal)


def _confirmation_threshold(*, staff: int, personal: int | None) -> int:
    """The lower of the two; an empty (or 0) personal threshold is no threshold (as `gifting_gift_send` reads it)."""
    return min(staff, personal) if personal else staff


def gift_confirmation_needed(*, user: User, coins: int) -> bool:
    """Whether a gift of `coins` must be confirmed by `user` before it is sent."""
    return coins > gift_confirmation_threshold(user=user)


def gift_send_rate_check(*, user: User, now: float | None = None) -> list[int]:
    """Count one gift send by `user`; raise GiftRateLimited above GIFT_SENDS_PER_SECOND or _PER_MINUTE.

    Fixed one-second and one-minute windows counted in the cache (`coinsite.lib.rate_limit`). Call
    it before `gift_send`, never inside its transaction: a refused send then costs no database work
    and charges nothing. Refused attempts count too, so a script that keeps hammering stays refused
    until the window turns over. Returns the sends counted in the current second and minute.
    """
    if not getattr(settings, "GIFT_SEND_RATE_LIMITED", True):  # only the benchmark's server turns it off
        return []
    try:
        return rate_limit_hit(_sends_key(user), *_send_limits(), now=now)
    except RateLimited as refused:
        allowed, window, retry_after = refused.limit.limit, refused.limit.window, refused.retry_after
        too_quick = (
            ngettext(
                "You are sending gifts too quickly (at most %(allowed)s per second). Nothing was charged: "
                "wait %(retry_after)s second and try again.",
                "You are sending gifts too quickly (at most %(allowed)s per second). Nothing was charged: "
                "wait %(retry_after)s seconds and try again.",
                retry_after,
            )
            if window == 1
            else ngettext(
                "You are sending gifts too quickly (at most %(allowed)s per minute). Nothing was charged: "
                "wait %(retry_after)s second and try again.",
                "You are sending gifts too quickly (at most %(allowed)s per minute). Nothing was charged: "
                "wait %(retry_after)s seconds and try again.",
                retry_after,
            )
        )
        raise GiftRateLimited(
            too_quick % {"allowed": format_count(allowed), "retry_after": retry_after}, retry_after=retry_after
        ) from None


def gift_send_rate_return(*, user: User, now: float) -> None:
    """Take back the send that `gift_send_rate_check(user=user, now=now)` counted: the gift asked for
    confirmation instead of being sent, and asking is not a send (the confirmed gift counts once)."""
    if getattr(settings, "GIFT_SEND_RATE_LIMITED", True):
        rate_limit_return(_sends_key(user), *_send_limits(), now=now)


def _sends_key(user: User) -> str:
    return f"gifting:sends:{user.pk}"


def _send_limits() -> tuple[RateLimit, ...]:
    return (RateLimit(GIFT_SENDS_PER_SECOND, 1), RateLimit(GIFT_SENDS_PER_MINUTE, 60))


# --- Viewers ------------------------------------------------------------------------------------


def stream_viewer_counts_save(*, streams: list[LiveStream], counts: dict[int, int]) -> None:
    """Store the counts on the live streams whose row differs, each at most once per VIEWER_COUNT_SAVE_SECONDS."""
    for stream in streams:
        count = counts.get(stream.pk, 0)
        if not stream.is_live or stream.viewer_count == count:
            continue
        if cache.add(f"gifting:viewer-count-saved:{stream.pk}", 1, timeout=VIEWER_COUNT_SAVE_SECONDS):
            LiveStream.objects.filter(pk=stream.pk, ended_at__isnull=True).update(viewer_count=count)
            stream.viewer_count = count


def live_cards_counts_save(*, cards: list[LiveCard]) -> None:
    """After showing the live list: bring each stream row's cached viewer count in step with presence."""
    stream_viewer_counts_save(
        streams=[card.stream for card in cards], counts={card.stream.pk: card.viewers for card in cards}
    )


def overlay_token_regenerate(*, creator: User) -> CreatorProfile:
    """Give the creator a new secret overlay token; the old overlay URL stops working at once."""
    if not creator.is_creator:
        raise StreamError(_("Only creators have a stream overlay."))
    profile, _created = CreatorProfile.objects.get_or_create(user=creator)
    profile.overlay_token = new_overlay_token()
    profile.save(update_fields=["overlay_token"])
    logger.info("Overlay token regenerated for creator %s", creator.pk)
    return profile
