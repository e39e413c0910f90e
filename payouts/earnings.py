"""Creator earnings: the roll-up of gift events, diamond balances (available, on hold, in payout).

The roll-up folds gift events into per-day-and-stream and per-supporter rows in id order, so a
dashboard reads a few hundred rows however many gifts a creator has (docs/design.md §4). Events are
folded only once they are a little old: ids are handed out before commit, so a fresh event can
still be invisible while a later id is visible; waiting `SETTLE_SECONDS` (far longer than any
gift transaction) means the prefix we fold has no gaps left to fill.
"""

import datetime
import json
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from coinsite.accounts.models import User
from coinsite.lib.dates import month_start, next_month
from coinsite.lib.l10n import format_date_local
from gifting.models import GiftEvent
from payouts.models import (
    OPEN_PAYOUT_STATUSES,
    EarningsRollup,
    EarningsRollupState,
    Payout,
    PayoutSettings,
    SupporterMonthRollup,
    SupporterRollup,
)
from wallet.ledger import user_balance
from wallet.models import Asset

SETTLE_SECONDS = 60
BATCH_SIZE = 20_000
# The ledger kind of diamonds taken back from a creator when a top-up that paid for gifts is refunded or
# charged back (posted by backoffice.services.topup_reverse; its metadata names the top-up and the gift days).
CLAWBACK_KIND = "diamonds.clawback"


@dataclass(frozen=True)
class Clawback:
    """Diamonds taken back because the viewer's top-up that paid for the gifts was reversed."""

    at: datetime.datetime
    diamonds: int
    reversal: str  # "refund" or "chargeback" ("" for clawbacks recorded before the kind was kept)
    topup: str  # the reversed top-up's public id
    days: dict[datetime.date, int]  # the days of the gifts clawed back, with their diamonds

    @property
    def reference(self) -> str:
        """The top-up's short reference, as receipts show it."""
        return self.topup[:8].upper()

    @property
    def source(self) -> str:
        """Where it came from, in words: "Chargeback of top-up 1A2B3C4D (gifts of 2 Dec 2026)"."""
        days = ", ".join(format_date_local(day) for day in sorted(self.days))
        if self.reversal == "refund":
            text = _("Refund of top-up %(reference)s (gifts of %(days)s)")
        elif self.reversal == "chargeback":
            text = _("Chargeback of top-up %(reference)s (gifts of %(days)s)")
        else:
            text = _("Refund or chargeback of top-up %(reference)s (gifts of %(days)s)")
        return text % {"reference": self.reference, "days": days}

    def diamonds_from(self, day: datetime.date) -> int:
        """Of these diamonds, those from gifts received on `day` or later."""
        return sum(diamonds for gift_day, diamonds in self.days.items() if gift_day >= day)


@dataclass(frozen=True)
class DiamondBalances:
    total: int  # in the creator's diamond wallet (available + on hold)
    on_hold: int  # from recent gifts, less what was clawed back of them
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
        months_through = max(state.supporter_months_through, settled[-1])
        if state.supporter_months_through < settled[-1]:
            _fold_supporter_months(after=state.supporter_months_through, up_to=settled[-1])
        EarningsRollupState.objects.filter(pk=1).update(
            last_event_id=settled[-1], supporter_months_through=months_through, updated_at=timezone.now()
        )
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


_FOLD_SUPPORTER_MONTHS = f"""
    INSERT INTO {SupporterMonthRollup._meta.db_table}
           (creator_id, month, sender_id, is_anonymous, gifts, coins, diamonds)
    SELECT creator_id, date_trunc('month', created_at AT TIME ZONE 'UTC')::date, sender_id, is_anonymous,
           COUNT(*), SUM(coins), SUM(diamonds)
      FROM {GiftEvent._meta.db_table} WHERE id > %s AND id <= %s
     GROUP BY 1, 2, 3, 4
    ON CONFLICT (creator_id, month, sender_id, is_anonymous) DO UPDATE
       SET gifts = {SupporterMonthRollup._meta.db_table}.gifts + EXCLUDED.gifts,
           coins = {SupporterMonthRollup._meta.db_table}.coins + EXCLUDED.coins,
           diamonds = {SupporterMonthRollup._meta.db_table}.diamonds + EXCLUDED.diamonds
"""  # noqa: S608


def _fold(*, after: int, up_to: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_FOLD_DAYS, [after, up_to])
        cursor.execute(_FOLD_SUPPORTERS, [after, up_to])


def _fold_supporter_months(*, after: int, up_to: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_FOLD_SUPPORTER_MONTHS, [after, up_to])


def unrolled_events(creator: User, *, rolled_up: int | None = None) -> QuerySet[GiftEvent]:
    """The creator's gift events not yet in the roll-ups (at most a few minutes' worth).

    `rolled_up` is the roll-up's position (`rolled_up_to()`) when the caller already read it, so a
    page that reads the tail several times reads the position once.
    """
    return GiftEvent.objects.filter(creator=creator, pk__gt=rolled_up_to() if rolled_up is None else rolled_up)


@dataclass(frozen=True)
class GiftTotals:
    """Gifts a creator received, summed: per day and stream, or per supporter."""

    key: tuple
    gifts: int
    coins: int
    diamonds: int


# Roll-up rows plus the events after the roll-up's mark, in one statement (one snapshot): the rows and their mark
# move together, so each event is counted once. `known` is the mark read just before: marks only grow, so it changes
# no result, but the planner sees that few events follow it (without it, a busy creator's tail was planned as a
# third of their month: 12 ms of parallel scan, for none). The {fragments} are fixed below.
_ROLLED_AND_TAIL = """
    SELECT {key}, SUM(gifts)::bigint, SUM(coins)::bigint, SUM(diamonds)::bigint FROM (
        SELECT {key}, gifts, coins, diamonds FROM {rolled} WHERE creator_id = %(creator)s AND {rolled_range}
        UNION ALL
        SELECT {tail_key}, 1, coins, diamonds FROM gifting_giftevent
         WHERE creator_id = %(creator)s AND id > %(known)s
           AND id > (SELECT COALESCE(MAX({mark}), 0) FROM payouts_earningsrollupstate)
           AND created_at >= %(start)s AND created_at < %(end)s
    ) gifts GROUP BY {key} ORDER BY {key}
"""
_BY_DAY_AND_STREAM_SQL = _ROLLED_AND_TAIL.format(
    key="day, stream_id",
    rolled=EarningsRollup._meta.db_table,
    rolled_range="day >= %(first_day)s AND day < %(end_day)s",
    tail_key="(created_at AT TIME ZONE 'UTC')::date, stream_id",
    mark="last_event_id",
)
_BY_SUPPORTER_SQL = _ROLLED_AND_TAIL.format(
    key="sender_id, is_anonymous",
    rolled=SupporterMonthRollup._meta.db_table,
    rolled_range="month = %(first_day)s",
    tail_key="sender_id, is_anonymous",
    mark="supporter_months_through",
)


def rolled_up_floor() -> int:
    """The lower of the earnings roll-ups' two marks: every gift after it may still be unfolded by one of them, none
    before it is. The `known` bound of the statements' reads, read once for both."""
    marks = EarningsRollupState.objects.filter(pk=1).values_list("last_event_id", "supporter_months_through").first()
    return min(marks) if marks else 0


def gifts_by_day_and_stream(creator: User, month: datetime.date, *, known: int | None = None) -> list[GiftTotals]:
    """The creator's gifts in `month` (its first day; UTC) per day and stream, keyed (day, stream id), in that order.
    `known` is `rolled_up_floor()` when the caller has read it."""
    return _rolled_and_tail(_BY_DAY_AND_STREAM_SQL, creator, month, known=known)


def gifts_by_supporter(creator: User, month: datetime.date, *, known: int | None = None) -> list[GiftTotals]:
    """The creator's gifts in `month` (its first day; UTC) per sender, named and anonymous apart: keyed
    (sender id, is anonymous). `known` is `rolled_up_floor()` when the caller has read it."""
    return _rolled_and_tail(_BY_SUPPORTER_SQL, creator, month, known=known)


def _rolled_and_tail(sql: str, creator: User, month: datetime.date, *, known: int | None) -> list[GiftTotals]:
    end_day = next_month(month)
    known = rolled_up_floor() if known is None else known
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "creator": creator.pk,
                "known": known,
                "first_day": month,
                "end_day": end_day,
                "start": month_start(month),
                "end": month_start(end_day),
            },
        )
        return [GiftTotals(key=tuple(row[:2]), gifts=row[2], coins=row[3], diamonds=row[4]) for row in cursor]


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


def clawbacks_since(
    creator: User, start: datetime.datetime, end: datetime.datetime | None = None, *, using: str = DEFAULT_DB_ALIAS
) -> list[Clawback]:
    """The creator's clawbacks posted from `start` (up to `end`), oldest first, in one query on the database `using`
    (a page reading one snapshot of the replica passes its alias).

    Read from the clawback transactions (the partial index `payouts_clawback_transactions`, migration 0006) to
    their entries, never the other way: a creator with a million gifts has a million diamond entries, and the
    planner, guessing an account's entries from `n_distinct` (wallet migration 0016), would sometimes walk all
    of them (measured: 3.3 s for a busy creator's dashboard, against 0.07 ms this way). `OFFSET 0` keeps the
    entries' read inside the loop over clawbacks, so the order cannot flip with the statistics.
    """
    with connections[using].cursor() as cursor:
        cursor.execute(
            _CLAWBACKS_SQL,
            {
                "kind": CLAWBACK_KIND,
                "user": creator.pk,
                "asset": Asset.DIAMOND.value,
                "start": start,
                "end": end,
                # A clawback's entries carry its transaction's time (ledger_post); the day's margin is only a guard.
                "posted_from": start - datetime.timedelta(days=1),
                "posted_until": None if end is None else end + datetime.timedelta(days=1),
            },
        )
        rows = cursor.fetchall()
    return [_clawback(at, -amount, _metadata(metadata)) for at, amount, metadata in rows]


_CLAWBACKS_SQL = """
SELECT entry.created_at, entry.amount, clawback.metadata
  FROM wallet_ledgertransaction clawback
 CROSS JOIN LATERAL (
       SELECT e.id, e.created_at, e.amount
         FROM wallet_ledgerentry e
        WHERE e.transaction_id = clawback.id
          AND e.account_id = (SELECT id FROM wallet_ledgeraccount WHERE user_id = %(user)s AND asset = %(asset)s)
          AND e.created_at >= %(start)s
          AND (%(end)s::timestamptz IS NULL OR e.created_at < %(end)s::timestamptz)
       OFFSET 0
       ) entry
 WHERE clawback.kind = %(kind)s
   AND clawback.created_at >= %(posted_from)s
   AND (%(posted_until)s::timestamptz IS NULL OR clawback.created_at < %(posted_until)s::timestamptz)
 ORDER BY entry.created_at, entry.id
"""


def _metadata(value: object) -> dict:
    """A transaction's metadata as read by a plain cursor (Django leaves jsonb as text there)."""
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _clawback(at: datetime.datetime, diamonds: int, metadata: dict) -> Clawback:
    days = metadata.get("days")
    by_day = (
        {datetime.date.fromisoformat(day): int(count) for day, count in days.items()}
        if isinstance(days, dict)
        else {at.astimezone(datetime.UTC).date(): diamonds}  # recorded before the days were kept
    )
    return Clawback(
        at=at,
        diamonds=diamonds,
        reversal=str(metadata.get("reversal", "")),
        topup=str(metadata.get("topup", "")),
        days=by_day,
    )


def clawed_back_from_held(clawbacks: list[Clawback], held_from: datetime.date) -> int:
    """What `clawbacks` took of the gifts still on hold (received on `held_from` or later)."""
    return sum(clawback.diamonds_from(held_from) for clawback in clawbacks)


def diamond_balances(
    creator: User,
    *,
    today: datetime.date | None = None,
    earned_since_hold: int | None = None,
    clawed_back_since_hold: int | None = None,
    in_payout: int | None = None,
) -> DiamondBalances:
    """The creator's diamonds now: in the wallet, on hold (recent gifts less their clawbacks), and in open
    payouts. A clawback takes diamonds of recent gifts, so it comes out of "On hold", not "Available".

    `earned_since_hold` is what they earned from `first_held_day(today)` on and `clawed_back_since_hold`
    what was clawed back of that, and `in_payout` the diamonds in open payouts, when the caller has them already
    (the dashboard); otherwise they are read.
    """
    total = user_balance(creator, Asset.DIAMOND)
    held_from = first_held_day(today)
    recent = diamonds_earned_since(creator, held_from) if earned_since_hold is None else earned_since_hold
    if clawed_back_since_hold is None:
        start = datetime.datetime.combine(held_from, datetime.time.min, tzinfo=datetime.UTC)
        clawed_back_since_hold = clawed_back_from_held(clawbacks_since(creator, start), held_from)
    recent -= clawed_back_since_hold
    if in_payout is None:
        open_payouts = Payout.objects.filter(creator=creator, status__in=OPEN_PAYOUT_STATUSES)
        in_payout = open_payouts.aggregate(total=Sum("diamonds"))["total"] or 0
    return DiamondBalances(total=total, on_hold=max(0, min(total, recent)), in_payout=in_payout)
