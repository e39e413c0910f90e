"""Reads that feed the creator dashboard: balances with money values, the earnings chart, streams,
supporters and payouts — from the roll-ups, so they stay fast for creators with millions of gifts."""

import datetime
from dataclasses import dataclass

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from coinsite.accounts.models import User
from gifting.models import LiveStream
from gifting.services import DIAMONDS_PER_COIN
from payouts.earnings import DiamondBalances, diamond_balances, unrolled_events
from payouts.models import EarningsRollup, Payout, PayoutMethod, PayoutSettings, SupporterRollup
from wallet.valuation import DiamondAmount, Valuation

ANONYMOUS = "Anonymous"


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


def payouts_held_until(creator: User) -> datetime.datetime | None:
    """Until when payouts wait after the latest payout method change, or None if not held."""
    latest = (
        PayoutMethod.objects.filter(creator=creator)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if latest is None:
        return None
    until = latest + datetime.timedelta(hours=PayoutSettings.load().payout_method_hold_hours)
    return until if until > timezone.now() else None


def creator_dashboard(
    creator: User, *, valuation: Valuation | None = None, days: int = 90, today: datetime.date | None = None
) -> Dashboard:
    """Everything the earnings page shows, every diamond amount valued at one read of the diamond value."""
    valuation = valuation or Valuation()
    today = today or timezone.now().date()
    balances = diamond_balances(creator, today=today)
    return Dashboard(
        balances=balances,
        total=valuation.diamond_amount(balances.total),
        available=valuation.diamond_amount(balances.available),
        on_hold=valuation.diamond_amount(balances.on_hold),
        in_payout=valuation.diamond_amount(balances.in_payout),
        daily=daily_earnings(creator, days=days, today=today),
        streams=stream_earnings(creator, valuation=valuation),
        supporters=top_supporters(creator, valuation=valuation),
        payouts=list(Payout.objects.filter(creator=creator).select_related("method")[:20]),
    )


def daily_earnings(creator: User, *, days: int, today: datetime.date) -> list[tuple[datetime.date, int]]:
    """Diamonds earned per day over the last `days` days, including days with none."""
    first = today - datetime.timedelta(days=days - 1)
    totals = dict(
        EarningsRollup.objects.filter(creator=creator, day__gte=first)
        .values("day")
        .annotate(total=Sum("diamonds"))
        .values_list("day", "total")
    )
    start = datetime.datetime.combine(first, datetime.time.min, tzinfo=datetime.UTC)
    tail = (
        unrolled_events(creator)
        .filter(created_at__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(total=Sum("diamonds"))
        .values_list("day", "total")
    )
    for day, total in tail:
        totals[day] = totals.get(day, 0) + total
    return [
        (first + datetime.timedelta(days=offset), totals.get(first + datetime.timedelta(days=offset), 0))
        for offset in range(days)
    ]


def stream_earnings(creator: User, *, valuation: Valuation, limit: int = 10) -> list[StreamEarnings]:
    """The creator's latest streams with the gifts and diamonds each brought in."""
    streams = list(LiveStream.objects.filter(creator=creator).order_by("-started_at")[:limit])
    ids = [stream.pk for stream in streams]
    rolled = {
        row["stream"]: row
        for row in EarningsRollup.objects.filter(creator=creator, stream__in=ids)
        .values("stream")
        .annotate(gifts=Sum("gifts"), diamonds=Sum("diamonds"))
    }
    tail = {
        row["stream"]: row
        for row in unrolled_events(creator)
        .filter(stream__in=ids)
        .values("stream")
        .annotate(gifts=Count("id"), diamonds=Sum("diamonds"))
    }
    result = []
    for stream in streams:
        gifts = rolled.get(stream.pk, {}).get("gifts", 0) + tail.get(stream.pk, {}).get("gifts", 0)
        diamonds = rolled.get(stream.pk, {}).get("diamonds", 0) + tail.get(stream.pk, {}).get("diamonds", 0)
        result.append(StreamEarnings(stream=stream, gifts=gifts, diamonds=valuation.diamond_amount(diamonds)))
    return result


def top_supporters(creator: User, *, valuation: Valuation, limit: int = 10) -> list[Supporter]:
    """Who gave the most (roll-ups plus the unrolled tail); anonymous gifts stay anonymous, in one row."""
    totals: dict[tuple[int, bool], list[int]] = {}
    named = (
        SupporterRollup.objects.filter(creator=creator, is_anonymous=False)
        .order_by("-coins", "sender_id")
        .values_list("sender_id", "is_anonymous", "gifts", "coins")[:limit]
    )
    anonymous = SupporterRollup.objects.filter(creator=creator, is_anonymous=True).values_list(
        "sender_id", "is_anonymous", "gifts", "coins"
    )
    rolled = [*named, *anonymous]
    tail = (
        unrolled_events(creator)
        .values("sender_id", "is_anonymous")
        .annotate(gifts=Count("id"), coins=Sum("coins"))
        .values_list("sender_id", "is_anonymous", "gifts", "coins")
    )
    for sender_id, is_anonymous, gifts, coins in [*rolled, *tail]:
        # All anonymous gifts share one row, so not even the number of anonymous supporters shows.
        entry = totals.setdefault((None, True) if is_anonymous else (sender_id, False), [0, 0])
        entry[0] += gifts
        entry[1] += coins
    rows = sorted(totals.items(), key=lambda item: (-item[1][1], item[0][0] or 0))[:limit]
    names = dict(
        User.objects.filter(pk__in=[sender for (sender, anonymous), _ in rows if not anonymous]).values_list(
            "pk", "display_name"
        )
    )
    return [
        Supporter(
            name=ANONYMOUS if anonymous else names.get(sender) or "A viewer",
            is_anonymous=anonymous,
            gifts=gifts,
            coins=coins,
            earned=valuation.diamond_amount(coins * DIAMONDS_PER_COIN),
        )
        for (sender, anonymous), (gifts, coins) in rows
    ]
