"""Monthly statements: what a creator earned and was paid, what a viewer bought and gave, per month.

A statement is computed from the records themselves (gift events, top-ups, payouts) and the
ledger (balances at the month's boundaries, from entries dated before them), never from cached
balances, so a statement for any past month is the same whenever it is asked for. Months are in
UTC, as everywhere on the site. The waterfall always adds up: whatever moved a balance that is
not a gift, a recharge or a payout (staff adjustments, refunds, clawbacks) is its own line.

Sending (DESIGN §5): a run per month walks users in id order a batch at a time, saving its place
after every batch, so a run of 100,000 users keeps one batch in memory and resumes where a dead
worker stopped. Each email is claimed first by inserting its (user, month) `StatementDelivery`
row, unique in the database: a re-run, a re-delivered task or a second worker skips it. A claim
is released if the send fails, and a claim left behind by a killed worker is taken over after
`STALE_CLAIM_AFTER`.
"""

import csv
import datetime
import io
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from smtplib import SMTPRecipientsRefused

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.db.models.functions import TruncDate
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from coinsite.accounts.models import User
from gifting.models import GiftEvent
from payouts.earnings import diamonds_value
from payouts.models import Payout, PayoutStatus, StatementDelivery, StatementRun
from wallet.models import Asset, LedgerAccount, LedgerEntry, TopUp, TopUpStatus
from wallet.money import amount_string
from wallet.selectors import coin_value, user_currency

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
STALE_CLAIM_AFTER = datetime.timedelta(minutes=30)
ADVISORY_LOCK_CLASS = 7302  # pg_advisory_lock(class, month ordinal): one worker per run at a time
MONTH_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")
# Cells a spreadsheet would run as a formula (CSV injection); text cells starting so get a quote.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_HEADER = ["section", "date", "description", "count", "coins", "diamonds", "amount", "currency"]


# --- Months ---------------------------------------------------------------------------------------


def month_start(month: datetime.date) -> datetime.datetime:
    return datetime.datetime(month.year, month.month, 1, tzinfo=datetime.UTC)


def next_month(month: datetime.date) -> datetime.date:
    return datetime.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous_month(month: datetime.date) -> datetime.date:
    return datetime.date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def current_month(now: datetime.datetime | None = None) -> datetime.date:
    today = (now or timezone.now()).astimezone(datetime.UTC).date()
    return today.replace(day=1)


def parse_month(text: str) -> datetime.date | None:
    """The first day of the month written "2026-11" (or "2026-11-01"), or None if it is not one."""
    match = MONTH_PATTERN.match((text or "")[:7]) if len(text or "") in (7, 10) else None
    if match is None or (len(text) == 10 and text[7:] != "-01"):
        return None
    year, month = int(match[1]), int(match[2])
    if not (2000 <= year <= 9998 and 1 <= month <= 12):
        return None
    return datetime.date(year, month, 1)


def first_month(user: User) -> datetime.date:
    """The user's first month on Coinsite: when they joined, or their first ledger entry if earlier
    (imported or backdated history)."""
    first_entry = (
        LedgerEntry.objects.filter(account__user=user)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
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
class PayoutLine:
    payout: Payout
    is_paid_this_month: bool


@dataclass(frozen=True)
class CreatorStatement:
    """The creator's waterfall: coins received → diamonds → their value → payouts (fees, FX) → paid out."""

    user: User
    month: datetime.date
    currency: str  # the creator's own currency, for what the coins they received are worth
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
    payouts: list[PayoutLine]
    paid_diamonds: int
    paid_value: list[Money]
    paid_gross: list[Money]
    paid_fees: list[Money]
    paid_net: list[Money]
    kind: str = field(default="creator", init=False)

    @property
    def diamonds_other(self) -> int:
        """Adjustments, clawbacks and anything else that moved the balance (the waterfall's remainder)."""
        return (
            self.diamonds_end
            - self.diamonds_start
            - self.diamonds_earned
            + self.diamonds_requested
            - self.diamonds_returned
        )

    @property
    def coins_received_value(self) -> Money | None:
        return coin_value(self.coins_received, self.currency)

    @property
    def diamonds_earned_value(self) -> Money:
        return diamonds_value(self.diamonds_earned)

    @property
    def diamonds_start_value(self) -> Money:
        return diamonds_value(self.diamonds_start)

    @property
    def diamonds_end_value(self) -> Money:
        return diamonds_value(self.diamonds_end)

    @property
    def diamonds_requested_value(self) -> Money:
        return diamonds_value(self.diamonds_requested)

    @property
    def diamonds_returned_value(self) -> Money:
        return diamonds_value(self.diamonds_returned)

    @property
    def diamonds_other_value(self) -> Money:
        return diamonds_value(self.diamonds_other)

    @property
    def is_empty(self) -> bool:
        return not (self.diamonds_start or self.diamonds_end or self.gifts or self.payouts or self.diamonds_other)


@dataclass(frozen=True)
class RechargeLine:
    topup: TopUp


@dataclass(frozen=True)
class GiftSentLine:
    event: GiftEvent
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
    gifts: list[GiftSentLine]
    gifts_coins: int
    kind: str = field(default="viewer", init=False)

    @property
    def coins_other(self) -> int:
        """Refunds, corrections and anything else that moved the balance (the waterfall's remainder)."""
        return self.coins_end - self.coins_start - self.recharged_coins + self.gifts_coins

    @property
    def coins_start_value(self) -> Money | None:
        return coin_value(self.coins_start, self.currency)

    @property
    def coins_end_value(self) -> Money | None:
        return coin_value(self.coins_end, self.currency)

    @property
    def recharged_coins_value(self) -> Money | None:
        return coin_value(self.recharged_coins, self.currency)

    @property
    def gifts_value(self) -> Money | None:
        return coin_value(self.gifts_coins, self.currency)

    @property
    def coins_other_value(self) -> Money | None:
        return coin_value(self.coins_other, self.currency)

    @property
    def is_empty(self) -> bool:
        return not (self.coins_start or self.coins_end or self.recharges or self.gifts or self.coins_other)


Statement = CreatorStatement | ViewerStatement


# --- Building statements --------------------------------------------------------------------------


def creator_statement(user: User, month: datetime.date, *, now: datetime.datetime | None = None) -> CreatorStatement:
    """The creator's statement for `month` (first day of a month, UTC)."""
    start, end = month_start(month), month_start(next_month(month))
    events = GiftEvent.objects.filter(creator=user, created_at__gte=start, created_at__lt=end).order_by()
    gift_days = _gift_days(events)
    moves = _diamond_moves(user, start, end)
    payouts = list(
        Payout.objects.filter(creator=user)
        .filter(Q(requested_at__gte=start, requested_at__lt=end) | Q(finished_at__gte=start, finished_at__lt=end))
        .select_related("method")
        .order_by("requested_at", "id")
    )
    lines = [PayoutLine(payout=payout, is_paid_this_month=_paid_within(payout, start, end)) for payout in payouts]
    paid = [line.payout for line in lines if line.is_paid_this_month]
    return CreatorStatement(
        user=user,
        month=month,
        currency=user_currency(user),
        is_complete=end <= (now or timezone.now()),
        diamonds_start=_balance_before(user, Asset.DIAMOND, start),
        diamonds_end=_balance_before(user, Asset.DIAMOND, end),
        gift_days=gift_days,
        supporters=_supporters(events),
        gifts=sum(line.gifts for line in gift_days),
        coins_received=sum(line.coins for line in gift_days),
        diamonds_earned=sum(line.diamonds for line in gift_days),
        diamonds_requested=moves.get("payout.request", 0),
        diamonds_returned=moves.get("payout.return", 0),
        payouts=lines,
        paid_diamonds=sum(payout.diamonds for payout in paid),
        paid_value=money_totals(payout.value for payout in paid),
        paid_gross=money_totals(payout.gross for payout in paid),
        paid_fees=money_totals(payout.fee for payout in paid),
        paid_net=money_totals(payout.net for payout in paid),
    )


def viewer_statement(user: User, month: datetime.date, *, now: datetime.datetime | None = None) -> ViewerStatement:
    """The viewer's statement for `month` (first day of a month, UTC)."""
    start, end = month_start(month), month_start(next_month(month))
    currency = user_currency(user)
    topups = list(
        TopUp.objects.filter(
            user=user, status=TopUpStatus.SUCCEEDED, completed_at__gte=start, completed_at__lt=end
        ).order_by("completed_at", "id")
    )
    events = list(
        GiftEvent.objects.filter(sender=user, created_at__gte=start, created_at__lt=end)
        .select_related("creator", "stream", "gift")
        .order_by("created_at", "id")
    )
    return ViewerStatement(
        user=user,
        month=month,
        currency=currency,
        is_complete=end <= (now or timezone.now()),
        coins_start=_balance_before(user, Asset.COIN, start),
        coins_end=_balance_before(user, Asset.COIN, end),
        recharges=[RechargeLine(topup=topup) for topup in topups],
        recharged_coins=sum(topup.total_coins for topup in topups),
        recharged_money=money_totals(topup.amount for topup in topups),
        gifts=[GiftSentLine(event=event, value=coin_value(event.coins, currency)) for event in events],
        gifts_coins=sum(event.coins for event in events),
    )


def statement_for(user: User, month: datetime.date, *, now: datetime.datetime | None = None) -> Statement:
    """A creator's statement for creators, a viewer's for everyone else."""
    if user.is_creator:
        return creator_statement(user, month, now=now)
    return viewer_statement(user, month, now=now)


def money_totals(amounts: Iterable[Money | None]) -> list[Money]:
    """Sums per currency, in currency order (never one sum across currencies)."""
    totals: dict[str, Money] = {}
    for amount in amounts:
        if amount is None:
            continue
        code = amount.currency.code
        totals[code] = totals[code] + amount if code in totals else amount
    return [totals[code] for code in sorted(totals)]


def _balance_before(user: User, asset: str, moment: datetime.datetime) -> int:
    return (
        LedgerEntry.objects.filter(account__user=user, account__asset=asset, created_at__lt=moment).aggregate(
            total=Sum("amount")
        )["total"]
        or 0
    )


def _diamond_moves(user: User, start: datetime.datetime, end: datetime.datetime) -> dict[str, int]:
    """Diamonds that moved in the month per transaction kind, as positive numbers."""
    rows = (
        LedgerEntry.objects.filter(
            account__user=user, account__asset=Asset.DIAMOND, created_at__gte=start, created_at__lt=end
        )
        .values(kind=F("transaction__kind"))
        .annotate(total=Sum("amount"))
        .order_by()
    )
    return {row["kind"]: abs(row["total"]) for row in rows}


def _gift_days(events) -> list[GiftDayLine]:
    rows = (
        events.annotate(day=TruncDate("created_at", tzinfo=datetime.UTC))
        .values("day", "stream_id", "stream__title")
        .annotate(gifts=Count("id"), coins=Sum("coins"), diamonds=Sum("diamonds"))
        .order_by("day", "stream_id")
    )
    return [
        GiftDayLine(
            day=row["day"],
            stream_title=row["stream__title"],
            gifts=row["gifts"],
            coins=row["coins"],
            diamonds=row["diamonds"],
            value=diamonds_value(row["diamonds"]),
        )
        for row in rows
    ]


def _supporters(events) -> list[SupporterLine]:
    """Named supporters by coins given; every anonymous gift goes into one line, so none can be told apart."""
    named = (
        events.filter(is_anonymous=False)
        .values("sender_id", "sender__display_name")
        .annotate(gifts=Count("id"), coins=Sum("coins"), diamonds=Sum("diamonds"))
        .order_by("-coins", "sender_id")
    )
    lines = [
        SupporterLine(
            name=row["sender__display_name"],
            is_anonymous=False,
            gifts=row["gifts"],
            coins=row["coins"],
            diamonds=row["diamonds"],
            value=diamonds_value(row["diamonds"]),
        )
        for row in named
    ]
    anonymous = events.filter(is_anonymous=True).aggregate(
        gifts=Count("id"), coins=Sum("coins"), diamonds=Sum("diamonds")
    )
    if anonymous["gifts"]:
        lines.append(
            SupporterLine(
                name="Anonymous supporters",
                is_anonymous=True,
                gifts=anonymous["gifts"],
                coins=anonymous["coins"],
                diamonds=anonymous["diamonds"],
                value=diamonds_value(anonymous["diamonds"]),
            )
        )
    return lines


def _paid_within(payout: Payout, start: datetime.datetime, end: datetime.datetime) -> bool:
    return payout.status == PayoutStatus.PAID and payout.finished_at is not None and start <= payout.finished_at < end


# --- CSV ------------------------------------------------------------------------------------------


def statement_csv(statement: Statement) -> str:
    """The statement as CSV: one line per item (gift day, supporter, payout, recharge, gift) plus totals."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    rows = _creator_rows(statement) if isinstance(statement, CreatorStatement) else _viewer_rows(statement)
    for row in rows:
        writer.writerow([_csv_text(row[0]), row[1], _csv_text(row[2]), *row[3:]])
    return buffer.getvalue()


def statement_filename(statement: Statement) -> str:
    return f"coinsite-{statement.kind}-statement-{statement.month:%Y-%m}.csv"


def _money_cells(money: Money | None) -> list[str]:
    return ["", ""] if money is None else [amount_string(money), money.currency.code]


def _diamond_row(section: str, day: str, text: str, diamonds: int, count="", coins="") -> list:
    return [section, day, text, count, coins, diamonds, *_money_cells(diamonds_value(diamonds))]


def _creator_rows(statement: CreatorStatement) -> Iterable[list]:
    first, last = statement.month.isoformat(), (next_month(statement.month) - datetime.timedelta(days=1)).isoformat()
    yield _diamond_row("balance", first, "Diamonds at the start of the month", statement.diamonds_start)
    for line in statement.gift_days:
        yield [
            "gifts",
            line.day.isoformat(),
            line.stream_title,
            line.gifts,
            line.coins,
            line.diamonds,
            *_money_cells(line.value),
        ]
    for line in statement.supporters:
        yield ["supporter", "", line.name, line.gifts, line.coins, line.diamonds, *_money_cells(line.value)]
    for line in statement.payouts:
        yield from _payout_rows(line.payout)
    yield [
        "total",
        last,
        "Coins received",
        statement.gifts,
        statement.coins_received,
        "",
        *_money_cells(statement.coins_received_value),
    ]
    yield _diamond_row("total", last, "Diamonds earned", statement.diamonds_earned, count=statement.gifts)
    yield _diamond_row("total", last, "Diamonds requested for payout", statement.diamonds_requested)
    yield _diamond_row("total", last, "Diamonds returned from payouts", statement.diamonds_returned)
    if statement.diamonds_other:
        yield _diamond_row("total", last, "Other changes (adjustments)", statement.diamonds_other)
    for label, amounts in (
        ("Payouts paid: gross", statement.paid_gross),
        ("Payouts paid: fees", statement.paid_fees),
        ("Payouts paid: net paid out", statement.paid_net),
    ):
        for amount in amounts:
            yield ["total", last, label, "", "", statement.paid_diamonds, *_money_cells(amount)]
    yield _diamond_row("balance", last, "Diamonds at the end of the month", statement.diamonds_end)


def _payout_rows(payout: Payout) -> Iterable[list]:
    day = payout.requested_at.astimezone(datetime.UTC).date().isoformat()
    text = f"Payout {payout.public_id} ({payout.get_status_display()})"
    yield ["payout", day, text, 1, "", payout.diamonds, *_money_cells(payout.value)]
    if payout.gross is not None:
        rate = f" at {payout.exchange_rate.normalize():f} {payout.value.currency.code}→{payout.currency}"
        yield [
            "payout-gross",
            day,
            f"Payout {payout.public_id} converted{rate}",
            "",
            "",
            "",
            *_money_cells(payout.gross),
        ]
        yield ["payout-fee", day, f"Payout {payout.public_id} fee", "", "", "", *_money_cells(payout.fee)]
        yield ["payout-net", day, f"Payout {payout.public_id} net", "", "", "", *_money_cells(payout.net)]


def _viewer_rows(statement: ViewerStatement) -> Iterable[list]:
    first, last = statement.month.isoformat(), (next_month(statement.month) - datetime.timedelta(days=1)).isoformat()
    currency = statement.currency
    yield _coin_row("balance", first, "Coins at the start of the month", statement.coins_start, currency)
    for line in statement.recharges:
        topup = line.topup
        yield [
            "recharge",
            _day(topup.completed_at),
            f"Recharge {topup.public_id}",
            1,
            topup.total_coins,
            "",
            *_money_cells(topup.amount),
        ]
    for line in statement.gifts:
        event = line.event
        anonymous = " (sent anonymously)" if event.is_anonymous else ""
        text = f"{event.quantity} x {event.gift.name} to {event.creator.display_name}{anonymous}"
        yield ["gift", _day(event.created_at), text, event.quantity, event.coins, "", *_money_cells(line.value)]
    yield [
        "total",
        last,
        "Recharges",
        len(statement.recharges),
        statement.recharged_coins,
        "",
        *_money_cells(statement.recharged_coins_value),
    ]
    for amount in statement.recharged_money:
        yield ["total", last, "Recharges: paid", len(statement.recharges), "", "", *_money_cells(amount)]
    yield [
        "total",
        last,
        "Gifts sent",
        len(statement.gifts),
        statement.gifts_coins,
        "",
        *_money_cells(statement.gifts_value),
    ]
    if statement.coins_other:
        yield _coin_row("total", last, "Other changes (refunds, corrections)", statement.coins_other, currency)
    yield _coin_row("balance", last, "Coins at the end of the month", statement.coins_end, currency)


def _coin_row(section: str, day: str, text: str, coins: int, currency: str) -> list:
    return [section, day, text, "", coins, "", *_money_cells(coin_value(coins, currency))]


def _day(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).date().isoformat()


def _csv_text(text) -> str:
    text = str(text)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


# --- Emails ---------------------------------------------------------------------------------------


def statement_email_send(statement: Statement) -> None:
    """Email the statement: a text body, the HTML alternative and the CSV attached."""
    user = statement.user
    path = reverse("payouts:statement", args=[f"{statement.month:%Y-%m}"])
    context = {
        "statement": statement,
        "user": user,
        "statement_url": settings.SITE_URL + path,
        "statements_url": settings.SITE_URL + reverse("payouts:statements"),
    }
    template = f"emails/statement_{statement.kind}"
    message = EmailMultiAlternatives(
        subject=f"Your Coinsite statement for {statement.month:%B %Y}",
        body=render_to_string(f"{template}.txt", context),
        to=[user.email],
    )
    message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    message.attach(statement_filename(statement), statement_csv(statement), "text/csv")
    message.send()


# --- Monthly runs ---------------------------------------------------------------------------------


class StatementError(ValueError):
    """The run cannot start (the month has not ended yet); nothing was written."""


def statement_run_get(*, month: datetime.date, now: datetime.datetime | None = None) -> StatementRun:
    """The month's run, created on first use with the number of users it will look at."""
    if month != month.replace(day=1):
        raise StatementError(f"{month} is not the first day of a month.")
    if month_start(next_month(month)) > (now or timezone.now()):
        raise StatementError(f"{month:%B %Y} has not ended yet; statements are sent once it has.")
    run = StatementRun.objects.filter(month=month).first()
    if run is not None:
        return run
    run, _created = StatementRun.objects.get_or_create(
        month=month, defaults={"recipients_total": _candidates().count()}
    )
    return run


def statements_send_month(
    *,
    month: datetime.date,
    batch_size: int = BATCH_SIZE,
    max_batches: int | None = None,
    now: datetime.datetime | None = None,
) -> str:
    """Send the month's statements, a batch of users at a time, each email at most once.

    Returns "finished", "more" (stopped after `max_batches`; call again to go on) or "locked"
    (another worker is on this run: a session advisory lock, dropped by PostgreSQL if that worker
    dies). Progress is saved after every batch, so a restarted run resumes where it stopped, and
    the per-user delivery claim keeps even a run restarted from the beginning from sending twice.
    """
    run = statement_run_get(month=month, now=now)
    if run.finished_at is not None:
        return "finished"
    with _run_lock(run.pk) as locked:
        if not locked:
            return "locked"
        batches = 0
        while max_batches is None or batches < max_batches:
            if not _send_batch(run.pk, month=month, batch_size=batch_size, now=now):
                StatementRun.objects.filter(pk=run.pk, finished_at__isnull=True).update(finished_at=timezone.now())
                logger.info("Statements for %s finished", month)
                return "finished"
            batches += 1
    return "more"


def statements_unfinished() -> list[str]:
    """Months whose run has not finished (for the sweep)."""
    return [
        month.isoformat()
        for month in StatementRun.objects.filter(finished_at__isnull=True).values_list("month", flat=True)
    ]


def _candidates():
    """Users who could have anything on a statement: active, with a wallet (every coin, diamond,
    recharge and gift goes through one). Users with nothing in the month are skipped when built."""
    wallets = LedgerAccount.objects.filter(user=OuterRef("pk"))
    return User.objects.filter(Exists(wallets), is_active=True)


def _send_batch(run_id: int, *, month: datetime.date, batch_size: int, now: datetime.datetime | None) -> bool:
    """Process the next `batch_size` users after the run's place; False when none are left."""
    last_user_id = StatementRun.objects.filter(pk=run_id).values_list("last_user_id", flat=True).get()
    users = list(_candidates().filter(pk__gt=last_user_id).order_by("pk")[:batch_size])
    if not users:
        return False
    sent = sum(_deliver(user, month=month, now=now) for user in users)
    StatementRun.objects.filter(pk=run_id).update(
        last_user_id=users[-1].pk, processed=F("processed") + len(users), sent=F("sent") + sent
    )
    return True


def _deliver(user: User, *, month: datetime.date, now: datetime.datetime | None) -> int:
    """Send the user's statement unless it is empty or already sent/claimed; 1 if it was sent now."""
    statement = statement_for(user, month, now=now)
    if statement.is_empty or not _claim(user, month=month, kind=statement.kind):
        return 0
    try:
        statement_email_send(statement)
    except SMTPRecipientsRefused:
        # This address is refused; the others in the batch still get theirs, and a later run retries it.
        _release(user, month=month)
        logger.warning("Statement for %s to user %s refused by the mail server", month, user.pk)
        return 0
    except Exception:
        _release(user, month=month)
        raise
    StatementDelivery.objects.filter(user=user, month=month).update(sent_at=timezone.now())
    return 1


_CLAIM = f"""
    INSERT INTO {StatementDelivery._meta.db_table} (user_id, month, kind, claimed_at)
    VALUES (%s, %s, %s, %s) ON CONFLICT (user_id, month) DO NOTHING RETURNING id
"""  # noqa: S608 (table name from model metadata)


def _claim(user: User, *, month: datetime.date, kind: str) -> bool:
    """True for exactly one caller per (user, month): a new claim, or one a dead worker left unsent."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM, [user.pk, month, kind, now])
        if cursor.fetchone() is not None:
            return True
    return (
        StatementDelivery.objects.filter(
            user=user, month=month, sent_at__isnull=True, claimed_at__lt=now - STALE_CLAIM_AFTER
        ).update(claimed_at=now)
        == 1
    )


def _release(user: User, *, month: datetime.date) -> None:
    StatementDelivery.objects.filter(user=user, month=month, sent_at__isnull=True).delete()


class _run_lock:
    def __init__(self, run_id: int):
        self.run_id = run_id
        self.locked = False

    def __enter__(self) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [ADVISORY_LOCK_CLASS, self.run_id])
            self.locked = cursor.fetchone()[0]
        return self.locked

    def __exit__(self, *exc_info):
        if self.locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [ADVISORY_LOCK_CLASS, self.run_id])
