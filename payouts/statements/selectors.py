"""Monthly statements: what a creator earned and was paid, what a viewer bought and gave, per month.

A statement is computed from the records themselves (gift events, top-ups, payouts) and the
ledger (balances at the month's boundaries, from entries dated before them), never from cached
balances, so a statement for any past month is the same whenever it is asked for. Months are in
UTC, as everywhere on the site. The waterfall always adds up: whatever moved a balance that is
not a gift, a recharge or a payout (clawbacks, staff adjustments, refunds) is its own line.

Money values come from one `wallet.valuation.Valuation` per statement: coins at the user's
currency's base price, diamonds at today's diamond value.
"""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Count, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from coinsite.accounts.models import User
from coinsite.lib.dates import current_month, month_start, next_month, previous_month
from coinsite.lib.l10n import gift_name_local
from gifting.models import GiftEvent, LiveStream
from payouts.earnings import Clawback, clawbacks_since, gifts_by_day_and_stream, gifts_by_supporter, rolled_up_floor
from payouts.models import Payout, PayoutStatus
from wallet.ledger import user_balance_and_moves
from wallet.models import Asset, LedgerEntry, TopUp, TopUpStatus
from wallet.selectors import user_currency
from wallet.valuation import Valuation, creator_currency


def first_month(user: User) -> datetime.date:
    """The user's first month on Coinsite: when they joined, or their first ledger entry if earlier
    (imported or backdated history)."""
    # Each account's first entry from its (account, created_at) index: a busy creator has millions to sort.
    firsts = LedgerEntry.objects.filter(account=OuterRef("pk")).order_by("created_at").values("created_at")[:1]
    first_entry = min(
        (first for first in user.ledger_accounts.values_list(Subquery(firsts), flat=True) if first), default=None
    )
    joined = user.date_joined
    return current_month(min(joined, first_entry) if first_entry else joined)


def statement_months(user: User, *, now: datetime.datetime | None = None) -> list[datetime.date]:
    """The months a user can see a statement for, newest first: from their first month to the current one."""
    month, first = current_month(now), first_month(user)
    months = []
    while month >= first:
        months.append(month)
        month = previous_month(month)
    return months


def is_available(user: User, month: datetime.date, *, now: datetime.datetime | None = None) -> bool:
    return first_month(user) <= month <= current_month(now)


# --- Statement data -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GiftDayLine:
    day: datetime.date
    stream_title: str
    gifts: int
    coins: int
    diamonds: int
    value: Money


@dataclass(frozen=True)
class SupporterLine:
    name: str
    is_anonymous: bool
    gifts: int
    coins: int
    diamonds: int
    value: Money


@dataclass(frozen=True)
class ClawbackLine:
    """Diamonds taken back this month, and the reversed top-up they came from."""

    clawback: Clawback
    value: Money


@dataclass(frozen=True)
class PayoutLine:
    payout: Payout
    is_paid_this_month: bool
    value: Money  # the payout's diamonds in the creator's currency (the payout itself keeps its own record)


@dataclass(frozen=True)
class CreatorStatement:
    """The creator's waterfall: coins received → diamonds → their value → payouts (fees, FX) → paid out."""

    user: User
    month: datetime.date
    currency: str  # the creator's own (payout) currency: every coin and diamond value is in it
    is_complete: bool
    diamonds_start: int
    diamonds_end: int
    gift_days: list[GiftDayLine]
    supporters: list[SupporterLine]
    gifts: int
    coins_received: int
    diamonds_earned: int
    diamonds_requested: int  # moved to payout clearing this month
    diamonds_returned: int  # back from failed or rejected payouts
    clawbacks: list[ClawbackLine]  # taken back after a viewer's top-up was refunded or charged back
    payouts: list[PayoutLine]
    paid_diamonds: int
    paid_value: list[Money]
    paid_gross: list[Money]
    paid_fees: list[Money]
    paid_net: list[Money]
    valuation: Valuation = field(compare=False, repr=False)
    kind: str = field(default="creator", init=False)

    @property
    def diamonds_clawed_back(self) -> int:
        return sum(line.clawback.diamonds for line in self.clawbacks)

    @property
    def diamonds_clawed_back_value(self) -> Money:
        return self.valuation.diamonds(self.diamonds_clawed_back)

    @property
    def diamonds_other(self) -> int:
        """Staff adjustments and anything else that moved the balance (the waterfall's remainder)."""
        return (
            self.diamonds_end
            - self.diamonds_start
            - self.diamonds_earned
            + self.diamonds_requested
            - self.diamonds_returned
            + self.diamonds_clawed_back
        )

    @property
    def coins_received_value(self) -> Money | None:
        return self.valuation.coins(self.coins_received, self.currency)

    @property
    def diamonds_earned_value(self) -> Money:
        return self.valuation.diamonds(self.diamonds_earned)

    @property
    def diamonds_start_value(self) -> Money:
        return self.valuation.diamonds(self.diamonds_start)

    @property
    def diamonds_end_value(self) -> Money:
        return self.valuation.diamonds(self.diamonds_end)

    @property
    def diamonds_requested_value(self) -> Money:
        return self.valuation.diamonds(self.diamonds_requested)

    @property
    def diamonds_returned_value(self) -> Money:
        return self.valuation.diamonds(self.diamonds_returned)

    @property
    def diamonds_other_value(self) -> Money:
        return self.valuation.diamonds(self.diamonds_other)

    @property
    def is_empty(self) -> bool:
        return not (
            self.diamonds_start
            or self.diamonds_end
            or self.gifts
            or self.payouts
            or self.clawbacks
            or self.diamonds_other
        )


@dataclass(frozen=True)
class RechargeLine:
    topup: TopUp


@dataclass(frozen=True)
class ReversalLine:
    """A recharge refunded or charged back this month: coins taken from the wallet, and those owed."""

    topup: TopUp

    @property
    def taken_back(self) -> int:
        metadata = self.topup.reversal_transaction.metadata if self.topup.reversal_transaction else {}
        return int(metadata.get("clawed_back", self.topup.total_coins))

    @property
    def owed(self) -> int:
        metadata = self.topup.reversal_transaction.metadata if self.topup.reversal_transaction else {}
        return int(metadata.get("shortfall", 0))


@dataclass(frozen=True)
class GiftSentLine:
    event: GiftEvent
    value: Money | None


@dataclass(frozen=True)
class GiftSentGroup:
    """The viewer's gifts of one kind to one stream on one UTC day, sent anonymously or not, added up: what the page
    lists, so a month of thousands of one-coin gifts is a few lines (the CSV keeps every gift)."""

    day: datetime.date
    gift_name: str
    creator_name: str
    stream_title: str
    is_anonymous: bool
    gifts: int
    quantity: int
    coins: int
    value: Money | None


@dataclass(frozen=True)
class ViewerStatement:
    """The viewer's month: recharges, gifts sent (anonymous ones too: they are the viewer's), coins left."""

    user: User
    month: datetime.date
    currency: str
    is_complete: bool
    coins_start: int
    coins_end: int
    recharges: list[RechargeLine]
    recharged_coins: int
    recharged_money: list[Money]
    gifts: list[GiftSentLine]  # every gift, for the CSV; empty when the statement was built without them
    gift_groups: list[GiftSentGroup]
    gift_count: int
    gifts_coins: int
    valuation: Valuation = field(compare=False, repr=False)
    reversals: list[ReversalLine] = field(default_factory=list)
    debt_paid_back: int = 0  # coins of this month's recharges that paid what was owed after a reversal
    kind: str = field(default="viewer", init=False)

    @property
    def reversed_coins(self) -> int:
        """Coins taken back from the wallet by this month's refunds and chargebacks."""
        return sum(line.taken_back for line in self.reversals)

    @property
    def coins_other(self) -> int:
        """Corrections and anything else that moved the balance (the waterfall's remainder)."""
        return (
            self.coins_end
            - self.coins_start
            - self.recharged_coins
            + self.gifts_coins
            + self.reversed_coins
            + self.debt_paid_back
        )

    @property
    def reversed_coins_value(self) -> Money | None:
        return self.valuation.coins(self.reversed_coins, self.currency)

    @property
    def coins_start_value(self) -> Money | None:
        return self.valuation.coins(self.coins_start, self.currency)

    @property
    def coins_end_value(self) -> Money | None:
        return self.valuation.coins(self.coins_end, self.currency)

    @property
    def recharged_coins_value(self) -> Money | None:
        return self.valuation.coins(self.recharged_coins, self.currency)

    @property
    def gifts_value(self) -> Money | None:
        return self.valuation.coins(self.gifts_coins, self.currency)

    @property
    def coins_other_value(self) -> Money | None:
        return self.valuation.coins(self.coins_other, self.currency)

    @property
    def is_empty(self) -> bool:
        moved = self.recharges or self.gift_count or self.coins_other or self.reversals
        return not (self.coins_start or self.coins_end or moved)


Statement = CreatorStatement | ViewerStatement


# --- Building statements --------------------------------------------------------------------------


def creator_statement(
    user: User, month: datetime.date, *, now: datetime.datetime | None = None, valuation: Valuation | None = None
) -> CreatorStatement:
    """The creator's statement for `month` (first day of a month, UTC), every value in their own currency."""
    currency = creator_currency(user)
    valuation = (valuation or Valuation()).in_currency(currency)
    start, end = month_start(month), month_start(next_month(month))
    known = rolled_up_floor()
    gift_days = _gift_days(user, month, valuation, known=known)
    diamonds_start, moves = user_balance_and_moves(user, Asset.DIAMOND, first_day=month, end_day=next_month(month))
    payouts = list(
        Payout.objects.filter(creator=user)
        .filter(Q(requested_at__gte=start, requested_at__lt=end) | Q(finished_at__gte=start, finished_at__lt=end))
        .select_related("method")
        .order_by("requested_at", "id")
    )
    lines = [
        PayoutLine(
            payout=payout,
            is_paid_this_month=_paid_within(payout, start, end),
            value=valuation.money(payout.value) or payout.value,
        )
        for payout in payouts
    ]
    paid = [line.payout for line in lines if line.is_paid_this_month]
    return CreatorStatement(
        user=user,
        month=month,
        currency=currency,
        is_complete=end <= (now or timezone.now()),
        diamonds_start=diamonds_start,
        diamonds_end=diamonds_start + sum(moves.values()),
        gift_days=gift_days,
        supporters=_supporters(user, month, valuation, known=known),
        gifts=sum(line.gifts for line in gift_days),
        coins_received=sum(line.coins for line in gift_days),
        diamonds_earned=sum(line.diamonds for line in gift_days),
        diamonds_requested=abs(moves.get("payout.request", 0)),
        diamonds_returned=abs(moves.get("payout.return", 0)),
        clawbacks=[
            ClawbackLine(clawback=clawback, value=valuation.diamonds(clawback.diamonds))
            for clawback in clawbacks_since(user, start, end)
        ],
        payouts=lines,
        paid_diamonds=sum(payout.diamonds for payout in paid),
        paid_value=money_totals(line.value for line in lines if line.is_paid_this_month),
        paid_gross=money_totals(payout.gross for payout in paid),
        paid_fees=money_totals(payout.fee for payout in paid),
        paid_net=money_totals(payout.net for payout in paid),
        valuation=valuation,
    )


def viewer_statement(
    user: User,
    month: datetime.date,
    *,
    now: datetime.datetime | None = None,
    valuation: Valuation | None = None,
    every_gift: bool = True,
) -> ViewerStatement:
    """The viewer's statement for `month` (first day of a month, UTC); with `every_gift` False (the page) the gifts
    are read added up per day, gift, stream and anonymity only, not one by one."""
    valuation = valuation or Valuation()
    start, end = month_start(month), month_start(next_month(month))
    currency = user_currency(user)
    topups = list(
        TopUp.objects.filter(
            user=user, status=TopUpStatus.SUCCEEDED, completed_at__gte=start, completed_at__lt=end
        ).order_by("completed_at", "id")
    )
    sent = GiftEvent.objects.filter(sender=user, created_at__gte=start, created_at__lt=end)
    events = list(sent.select_related("creator", "stream", "gift").order_by("created_at", "id")) if every_gift else []
    groups = _gift_groups(sent, valuation, currency)
    reversed_topups = (
        TopUp.objects.filter(user=user, reversed_at__gte=start, reversed_at__lt=end)
        .select_related("reversal_transaction")
        .order_by("reversed_at", "id")
    )
    coins_start, moves = user_balance_and_moves(user, Asset.COIN, first_day=month, end_day=next_month(month))
    return ViewerStatement(
        user=user,
        month=month,
        currency=currency,
        is_complete=end <= (now or timezone.now()),
        coins_start=coins_start,
        coins_end=coins_start + sum(moves.values()),
        recharges=[RechargeLine(topup=topup) for topup in topups],
        recharged_coins=sum(topup.total_coins for topup in topups),
        recharged_money=money_totals(topup.amount for topup in topups),
        gifts=[GiftSentLine(event=event, value=valuation.coins(event.coins, currency)) for event in events],
        gift_groups=groups,
        gift_count=sum(group.gifts for group in groups),
        gifts_coins=sum(group.coins for group in groups),
        valuation=valuation,
        reversals=[ReversalLine(topup=topup) for topup in reversed_topups],
        debt_paid_back=sum(topup.debt_settled_coins for topup in topups),
    )


def statement_for(
    user: User,
    month: datetime.date,
    *,
    now: datetime.datetime | None = None,
    valuation: Valuation | None = None,
    every_gift: bool = True,
) -> Statement:
    """A creator's statement for creators, a viewer's for everyone else (`every_gift`: see `viewer_statement`)."""
    if user.is_creator:
        return creator_statement(user, month, now=now, valuation=valuation)
    return viewer_statement(user, month, now=now, valuation=valuation, every_gift=every_gift)


def _gift_groups(sent: QuerySet[GiftEvent], valuation: Valuation, currency: str) -> list[GiftSentGroup]:
    # By ids (two streams may share a title), with the names to show.
    names = ("day", "gift", "stream", "is_anonymous", "gift__name", "creator__display_name", "stream__title")
    rows = (
        sent.annotate(day=TruncDate("created_at", tzinfo=datetime.UTC))
        .values(*names)
        .annotate(gifts=Count("id"), quantity=Sum("quantity"), coins=Sum("coins"), first_id=Min("id"))
        .order_by("day", "first_id")
    )
    return [
        GiftSentGroup(
            day=row["day"],
            gift_name=gift_name_local(row["gift__name"]),
            creator_name=row["creator__display_name"],
            stream_title=row["stream__title"],
            is_anonymous=row["is_anonymous"],
            gifts=row["gifts"],
            quantity=row["quantity"],
            coins=row["coins"],
            value=valuation.coins(row["coins"], currency),
        )
        for row in rows
    ]


def money_totals(amounts: Iterable[Money | None]) -> list[Money]:
    """Sums per currency, in currency order (never one sum across currencies)."""
    totals: dict[str, Money] = {}
    for amount in amounts:
        if amount is None:
            continue
        code = amount.currency.code
        totals[code] = totals[code] + amount if code in totals else amount
    return [totals[code] for code in sorted(totals)]


def _gift_days(user: User, month: datetime.date, valuation: Valuation, *, known: int) -> list[GiftDayLine]:
    totals = gifts_by_day_and_stream(user, month, known=known)
    titles = dict(LiveStream.objects.filter(pk__in={line.key[1] for line in totals}).values_list("pk", "title"))
    return [
        GiftDayLine(
            day=line.key[0],
            stream_title=titles[line.key[1]],
            gifts=line.gifts,
            coins=line.coins,
            diamonds=line.diamonds,
            value=valuation.diamonds(line.diamonds),
        )
        for line in totals
    ]


def _supporters(user: User, month: datetime.date, valuation: Valuation, *, known: int) -> list[SupporterLine]:
    """Named supporters by coins given; every anonymous gift goes into one line, so none can be told apart."""
    totals = gifts_by_supporter(user, month, known=known)
    named = sorted((line for line in totals if not line.key[1]), key=lambda line: (-line.coins, line.key[0]))
    names = dict(User.objects.filter(pk__in={line.key[0] for line in named}).values_list("pk", "display_name"))
    lines = [
        SupporterLine(
            name=names[line.key[0]],
            is_anonymous=False,
            gifts=line.gifts,
            coins=line.coins,
            diamonds=line.diamonds,
            value=valuation.diamonds(line.diamonds),
        )
        for line in named
    ]
    anonymous = [line for line in totals if line.key[1]]
    if anonymous:
        diamonds = sum(line.diamonds for line in anonymous)
        lines.append(
            SupporterLine(
                name=_("Anonymous supporters"),
                is_anonymous=True,
                gifts=sum(line.gifts for line in anonymous),
                coins=sum(line.coins for line in anonymous),
                diamonds=diamonds,
                value=valuation.diamonds(diamonds),
            )
        )
    return lines


def _paid_within(payout: Payout, start: datetime.datetime, end: datetime.datetime) -> bool:
    return payout.status == PayoutStatus.PAID and payout.finished_at is not None and start <= payout.finished_at < end
