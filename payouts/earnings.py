"""Creator earnings: the roll-up of gift events, diamond balances (available, on hold, in payout).

The roll-up folds gift events into per-day-and-stream and per-supporter rows in id order, so a
dashboard reads a few hundred rows however many gifts a creator has (docs/design.md §4). Events are
folded only once they are a little old: ids are handed out before commit, so a fresh event can
still be invisible while a later id is visible; waiting `SETTLE_SECONDS` (far longer than any
gift transaction) means the prefix we fold has no gaps left to fill.
"""

import datetime
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import QuerySet, Sum
from django.utils import timezone

from coinsite.accounts.models import User
from gifting.models import GiftEvent
from payouts.models import (
    OPEN_PAYOUT_STATUSES,
    EarningsRollup,
    EarningsRollupState,
    Payout,
    PayoutSettings,
    SupporterRollup,
)
from wallet.ledger import user_balance
from wallet.models import Asset

SETTLE_SECONDS = 60
BATCH_SIZE = 20_000


@dataclass(frozen=True)
class DiamondBalances:
    total: int  # in the creator's diamond wallet (available + on hold)
    on_hold: int
    in_payout: int  # requested, in the clearing account until paid or returned

    @property
    def available(self) -> int:
        return self.total - self.on_hold


def earnings_rollup(*, batch_size: int = BATCH_SIZE, now: datetime.datetime | None = None) -> int:
    """Fold settled gift events into the roll-ups exactly once; returns how many events were folded.

    Runs under the state row's lock, so concurrent roll-ups take turns and never fold an event twice.
    """
    cutoff = (now or timezone.now()) - datetime.timedelta(seconds=SETTLE_SECONDS)
    with transaction.atomic():
        state = _locked_state()
        rows = list(
            GiftEvent.objects.filter(pk__gt=state.last_event_id)
            .order_by("pk")
            .values_list("pk", "created_at")[:batch_size]
        )
        settled = [pk for pk, created_at in _settled_prefix(rows, cutoff)]
        if not settled:
            return 0
        _fold(after=state.last_event_id, up_to=settled[-1])
        EarningsRollupState.objects.filter(pk=1).update(last_event_id=settled[-1], updated_at=timezone.now())
    return len(settled)


def earnings_rollup_all(*, now: datetime.datetime | None = None) -> int:
    """Fold every settled event, a batch at a time (the periodic task)."""
    total = 0
    while folded := earnings_rollup(now=now):
        total += folded
    return total


def _settled_prefix(
    rows: list[tuple[int, datetime.datetime]], cutoff: datetime.datetime
) -> Iterator[tuple[int, datetime.datetime]]:
    for pk, created_at in rows:
        if created_at >= cutoff:
            return
        yield pk, created_at


def _locked_state() -> EarningsRollupState:
    EarningsRollupState.objects.get_or_create(pk=1)
    return EarningsRollupState.objects.select_for_update().get(pk=1)


def rolled_up_to() -> int:
    return EarningsRollupState.objects.filter(pk=1).values_list("last_event_id", flat=True).first() or 0


_FOLD_DAYS = f"""
    INSERT INTO {EarningsRollup._meta.db_table} (creator_id, day, stream_id, gifts, coins, diamonds)
    SELECT creator_id, (created_at AT TIME ZONE 'UTC')::date, stream_id, COUNT(*), SUM(coins), SUM(diamonds)
      FROM {GiftEvent._meta.db_table} WHERE id > %s AND id <= %s
     GROUP BY 1, 2, 3
    ON CONFLICT (creator_id, day, stream_id) DO UPDATE
       SET gifts = {EarningsRollup._meta.db_table}.gifts + EXCLUDED.gifts,
           coins = {EarningsRollup._meta.db_table}.coins + EXCLUDED.coins,
           diamonds = {EarningsRollup._meta.db_table}.diamonds + EXCLUDED.diamonds
"""  # noqa: S608 (table names from model metadata)

_FOLD_SUPPORTERS = f"""
    INSERT INTO {SupporterRollup._meta.db_table} (creator_id, sender_id, is_anonymous, gifts, coins)
    SELECT creator_id, sender_id, is_anonymous, COUNT(*), SUM(coins)
      FROM {GiftEvent._meta.db_table} WHERE id > %s AND id <= %s
     GROUP BY 1, 2, 3
    ON CONFLICT (creator_id, sender_id, is_anonymous) DO UPDATE
       SET gifts = {SupporterRollup._meta.db_table}.gifts + EXCLUDED.gifts,
           coins = {SupporterRollup._meta.db_table}.coins + EXCLUDED.coins
"""  # noqa: S608


def _fold(*, after: int, up_to: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_FOLD_DAYS, [after, up_to])
        cursor.execute(_FOLD_SUPPORTERS, [after, up_to])


def unrolled_events(creator: User, *, rolled_up: int | None = None) -> QuerySet[GiftEvent]:
    """The creator's gift events not yet in the roll-ups (at most a few minutes' worth).

    `rolled_up` is the roll-up's position (`rolled_up_to()`) when the caller already read it, so a
    page that reads the tail several times reads the position once.
    """
    return GiftEvent.objects.filter(creator=creator, pk__gt=rolled_up_to() if rolled_up is None else rolled_up)


def diamonds_earned_since(creator: User, day: datetime.date) -> int:
    """Diamonds from gifts received on `day` or later (roll-ups plus the unrolled tail)."""
    rolled = EarningsRollup.objects.filter(creator=creator, day__gte=day).aggregate(total=Sum("diamonds"))["total"] or 0
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)
    tail = unrolled_events(creator).filter(created_at__gte=start).aggregate(total=Sum("diamonds"))["total"] or 0
    return rolled + tail


def first_held_day(today: datetime.date | None = None) -> datetime.date:
    """Diamonds earned on this day or later are still on hold today: a gift's diamonds become
    withdrawable on the day `earnings_hold_days` after the day it arrived (UTC days)."""
    today = today or timezone.now().date()
    return today - datetime.timedelta(days=PayoutSettings.load().earnings_hold_days - 1)


def diamond_balances(
    creator: User, *, today: datetime.date | None = None, earned_since_hold: int | None = None
) -> DiamondBalances:
    """The creator's diamonds now: in the wallet, on hold (recent gifts), and in open payouts.

    `earned_since_hold` is what they earned from `first_held_day(today)` on, when the caller has it
    already (the dashboard sums its daily series); otherwise it is read.
    """
    total = user_balance(creator, Asset.DIAMOND)
    recent = diamonds_earned_since(creator, first_held_day(today)) if earned_since_hold is None else earned_since_hold
    in_payout = (
        Payout.objects.filter(creator=creator, status__in=OPEN_PAYOUT_STATUSES).aggregate(total=Sum("diamonds"))[
            "total"
        ]
        or 0
    )
    return DiamondBalances(total=total, on_hold=max(0, min(total, recent)), in_payout=in_payout)
