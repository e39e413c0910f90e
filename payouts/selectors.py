"""Reads that feed the creator dashboard: balances with money values, the earnings chart, streams,
supporters and payouts — from the roll-ups, so they stay fast for creators with millions of gifts."""

import datetime
from dataclasses import dataclass

from django.db import router
from django.db.models import BigIntegerField, Count, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Cast, Coalesce, TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from coinsite.accounts.models import User
from coinsite.lib.snapshot import one_snapshot
from gifting.models import LiveStream
from gifting.services import DIAMONDS_PER_COIN
from payouts.earnings import (
    Clawback,
    DiamondBalances,
    clawbacks_since,
    clawed_back_from_held,
    diamond_balances,
    first_held_day,
    rolled_up_to,
    unrolled_events,
)
from payouts.models import OPEN_PAYOUT_STATUSES, EarningsRollup, Payout, PayoutMethod, PayoutSettings, SupporterRollup
from wallet.valuation import DiamondAmount, Valuation


@dataclass(frozen=True)
class StreamEarnings:
    stream: LiveStream
    gifts: int
    diamonds: DiamondAmount


@dataclass(frozen=True)
class Supporter:
    name: str
    is_anonymous: bool
    gifts: int
    coins: int
    earned: DiamondAmount  # the diamonds those coins earned the creator


@dataclass(frozen=True)
class EarningsPeriod:
    days: int
    total: DiamondAmount
    best_day: datetime.date | None  # None when nothing was earned in the period
    best: DiamondAmount


@dataclass(frozen=True)
class ChartText:
    """The earnings chart in words and numbers, for people who cannot see the canvas."""

    periods: list[EarningsPeriod]
    days: list[tuple[datetime.date, DiamondAmount]]  # newest first


@dataclass(frozen=True)
class ClawbackLine:
    clawback: Clawback
    amount: DiamondAmount


@dataclass(frozen=True)
class Dashboard:
    balances: DiamondBalances
    total: DiamondAmount
    available: DiamondAmount
    on_hold: DiamondAmount
    in_payout: DiamondAmount
    daily: list[tuple[datetime.date, int]]  # the last 90 days, oldest first
    streams: list[StreamEarnings]
    supporters: list[Supporter]
    payouts: list[Payout]
    clawbacks: list[ClawbackLine]  # the period's, newest first


def payouts_held_until(creator: User) -> datetime.datetime | None:
    """Until when payouts wait after the latest payout method change, or None if not held (or staff lifted it)."""
    return method_hold_end(PayoutMethod.objects.filter(creator=creator).order_by("-created_at", "-id").first())


def method_hold_end(latest: PayoutMethod | None) -> datetime.datetime | None:
    """When the hold started by the creator's latest method change ends; None if over, lifted, or never started."""
    if latest is None or latest.hold_lifted_at is not None:
        return None
    return payout_hold_end(latest.created_at)


def payout_hold_end(latest_change: datetime.datetime | None) -> datetime.datetime | None:
    """When the payout hold after a method change at `latest_change` ends, or None if it has (or none was made)."""
    if latest_change is None:
        return None
    until = latest_change + datetime.timedelta(hours=PayoutSettings.load().payout_method_hold_hours)
    return until if until > timezone.now() else None


def creator_dashboard(
    creator: User, *, valuation: Valuation | None = None, days: int = 90, today: datetime.date | None = None
) -> Dashboard:
    """Everything the earnings page shows, every diamond amount valued at one read of the diamond value.

    Read in one snapshot: the roll-ups and their mark move together when the roll-up commits, so reading the
    mark, the roll-ups and the events after the mark in separate statements could count fresh gifts twice
    (or not at all), and the wallet's balance could disagree with the diamonds on hold.
    """
    valuation = valuation or Valuation()
    today = today or timezone.now().date()
    database = router.db_for_read(EarningsRollup)  # the ORM's reads below go there too, by the same router
    with one_snapshot(using=database):
        return _dashboard(creator, valuation=valuation, days=days, today=today, database=database)


def _dashboard(creator: User, *, valuation: Valuation, days: int, today: datetime.date, database: str) -> Dashboard:
    rolled_up = rolled_up_to()  # read once: every tail below is "events after it"
    daily = daily_earnings(creator, days=days, today=today, rolled_up=rolled_up)
    held_from = first_held_day(today)
    # The on-hold diamonds are the daily series' last days (holds are at most `days` long; else read them).
    recent = sum(diamonds for day, diamonds in daily if day >= held_from) if held_from >= daily[0][0] else None
    since = datetime.datetime.combine(min(held_from, daily[0][0]), datetime.time.min, tzinfo=datetime.UTC)
    clawbacks = clawbacks_since(creator, since, using=database)
    payouts = latest_payouts(creator)
    balances = diamond_balances(
        creator,
        today=today,
        earned_since_hold=recent,
        clawed_back_since_hold=clawed_back_from_held(clawbacks, held_from),
        in_payout=payouts.in_payout,
    )
    return Dashboard(
        balances=balances,
        total=valuation.diamond_amount(balances.total),
        available=valuation.diamond_amount(balances.available),
        on_hold=valuation.diamond_amount(balances.on_hold),
        in_payout=valuation.diamond_amount(balances.in_payout),
        daily=daily,
        streams=stream_earnings(creator, valuation=valuation, rolled_up=rolled_up),
        supporters=top_supporters(creator, valuation=valuation, rolled_up=rolled_up),
        payouts=payouts.latest,
        clawbacks=[
            ClawbackLine(clawback=clawback, amount=valuation.diamond_amount(clawback.diamonds))
            for clawback in reversed(clawbacks)
        ],
    )


@dataclass(frozen=True)
class LatestPayouts:
    latest: list[Payout]
    in_payout: int  # diamonds in every open payout, listed or not


def latest_payouts(creator: User, *, limit: int = 20) -> LatestPayouts:
    """The creator's latest payouts with their methods, and the diamonds in all their open ones, in one query
    (the sum rides on every row; no payout at all means none open)."""
    open_diamonds = (
        Payout.objects.filter(creator=creator, status__in=OPEN_PAYOUT_STATUSES)
        .order_by()
        .values("creator")
        .annotate(total=Sum("diamonds"))
        .values("total")
    )
    latest = list(
        Payout.objects.filter(creator=creator)
        .select_related("method")
        .annotate(open_diamonds=Coalesce(Subquery(open_diamonds), 0))[:limit]
    )
    return LatestPayouts(latest=list[Payout](latest), in_payout=latest[0].open_diamonds if latest else 0)


def chart_text(
    daily: list[tuple[datetime.date, int]], *, valuation: Valuation, periods: tuple[int, ...] = (30, 90)
) -> ChartText:
    """The text alternative of the daily earnings chart: each period's total and best day (the earliest of
    equal days), and every day with its value, from the same series the chart draws."""
    return ChartText(
        periods=[_period(daily[-days:], days=days, valuation=valuation) for days in periods],
        days=[(day, valuation.diamond_amount(diamonds)) for day, diamonds in reversed(daily)],
    )


def _period(daily: list[tuple[datetime.date, int]], *, days: int, valuation: Valuation) -> EarningsPeriod:
    best_day, best = max(daily, key=lambda day_diamonds: day_diamonds[1], default=(None, 0))
    return EarningsPeriod(
        days=days,
        total=valuation.diamond_amount(sum(diamonds for _, diamonds in daily)),
        best_day=best_day if best else None,
        best=valuation.diamond_amount(best),
    )


def daily_earnings(
    creator: User, *, days: int, today: datetime.date, rolled_up: int | None = None
) -> list[tuple[datetime.date, int]]:
    """Diamonds earned per day over the last `days` days, including days with none."""
    first = today - datetime.timedelta(days=days - 1)
    rolled = (
        EarningsRollup.objects.filter(creator=creator, day__gte=first)
        .values("day")
        .annotate(total=Sum("diamonds"))
        .values_list("day", "total")
    )
    start = datetime.datetime.combine(first, datetime.time.min, tzinfo=datetime.UTC)
    tail = (
        unrolled_events(creator, rolled_up=rolled_up)
        .filter(created_at__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(total=Sum("diamonds"))
        .values_list("day", "total")
    )
    totals: dict[datetime.date, int] = {}
    for day, total in rolled.union(tail, all=True):  # one query: a day can be in both
        totals[day] = totals.get(day, 0) + total
    return [
        (first + datetime.timedelta(days=offset), totals.get(first + datetime.timedelta(days=offset), 0))
        for offset in range(days)
    ]


def stream_earnings(
    creator: User,
    *,
    valuation: Valuation,
    limit: int = 10,
    rolled_up: int | None = None,
    before: tuple[datetime.datetime, int] | None = None,
) -> list[StreamEarnings]:
    """The creator's latest streams with the gifts and diamonds each brought in (the roll-ups summed
    per stream in the streams' own query, plus the unrolled tail); `before` (started_at, id) pages on."""
    rolled = EarningsRollup.objects.filter(creator=creator, stream=OuterRef("pk")).order_by().values("stream")
    streams_of_creator = LiveStream.objects.filter(creator=creator)
    if before is not None:
        started_at, stream_id = before
        streams_of_creator = streams_of_creator.filter(
            Q(started_at__lt=started_at) | Q(started_at=started_at, id__lt=stream_id)
        )
    streams = list(
        streams_of_creator.annotate(
            rolled_gifts=Coalesce(Subquery(rolled.annotate(total=Sum("gifts")).values("total")), 0),
            rolled_diamonds=Coalesce(Subquery(rolled.annotate(total=Sum("diamonds")).values("total")), 0),
        ).order_by("-started_at", "-id")[:limit]
    )
    tail = {
        row["stream"]: row
        for row in unrolled_events(creator, rolled_up=rolled_up)
        .filter(stream__in=[stream.pk for stream in streams])
        .values("stream")
        .annotate(gifts=Count("id"), diamonds=Sum("diamonds"))
    }
    result = []
    for stream in streams:
        unrolled = tail.get(stream.pk)
        gifts = stream.rolled_gifts + (unrolled["gifts"] if unrolled else 0)
        diamonds = stream.rolled_diamonds + (unrolled["diamonds"] if unrolled else 0)
        result.append(StreamEarnings(stream=stream, gifts=gifts, diamonds=valuation.diamond_amount(diamonds)))
    return result


def top_supporters(
    creator: User, *, valuation: Valuation, limit: int = 10, rolled_up: int | None = None
) -> list[Supporter]:
    """Who gave the most (roll-ups plus the unrolled tail); anonymous gifts stay anonymous, in one row.

    One query whatever the data: the top named roll-ups, every anonymous roll-up and the unrolled tail (one
    UNION), all carrying the supporters' names.
    """
    columns = ("sender_id", "is_anonymous", "gifts", "coins", "sender__display_name")
    named = (
        SupporterRollup.objects.filter(creator=creator, is_anonymous=False)
        .order_by("-coins", "sender_id")
        .values_list(*columns)[:limit]
    )
    anonymous = SupporterRollup.objects.filter(creator=creator, is_anonymous=True).values_list(*columns)
    tail = (
        unrolled_events(creator, rolled_up=rolled_up)
        .values("sender_id", "is_anonymous", "sender__display_name")
        # bigint like the roll-ups' column: a UNION takes its rows' types from its first part, and SUM gives numeric
        .annotate(gifts=Count("id"), coins=Cast(Sum("coins"), BigIntegerField()))
        .values_list(*columns)
    )
    totals: dict[tuple[int | None, bool], list[int]] = {}
    names: dict[int, str] = {}
    for sender_id, is_anonymous, gifts, coins, name in named.union(anonymous, tail, all=True):
        # All anonymous gifts share one row, so not even the number of anonymous supporters shows.
        entry = totals.setdefault((None, True) if is_anonymous else (sender_id, False), [0, 0])
        entry[0] += gifts
        entry[1] += coins
        if not is_anonymous:
            names[sender_id] = name
    rows = sorted(totals.items(), key=lambda item: (-item[1][1], item[0][0] or 0))[:limit]
    return [
        Supporter(
            name=_("Anonymous") if anonymous or sender is None else names.get(sender) or _("A viewer"),
            is_anonymous=anonymous,
            gifts=gifts,
            coins=coins,
            earned=valuation.diamond_amount(coins * DIAMONDS_PER_COIN),
        )
        for (sender, anonymous), (gifts, coins) in rows
    ]
