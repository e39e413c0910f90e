"""The staff report: the last 30 UTC days of the economy, today's liabilities, the last ledger audit.

Fiat is grouped by currency and never summed across currencies. Gifts come from the earnings
roll-up plus the few unrolled events, so the page stays fast with millions of gift rows.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Sum
from django.db.models.functions import TruncDate
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from backoffice.staff_groups import FINANCE, SUPPORT
from coinsite.lib.replica import replica_reads
from gifting.models import GiftEvent
from payouts.earnings import rolled_up_to
from payouts.models import EarningsRollup, Payout, PayoutStatus
from wallet.ledger import accounts_with_balance
from wallet.models import (
    AccountKind,
    Asset,
    LedgerAccount,
    LedgerAuditRun,
    SystemAccount,
    TopUp,
    TopUpStatus,
)
from wallet.valuation import Valuation, request_valuation

REPORT_DAYS = 30


@dataclass
class DayRow:
    day: datetime.date
    topups: int = 0
    coins_sold: dict[str, int] = field(default_factory=dict)  # by currency paid in
    money_received: list[Money] = field(default_factory=list)
    gifts: int = 0
    gift_coins: int = 0
    diamonds_earned: int = 0
    payouts: int = 0
    payout_diamonds: int = 0
    paid_out: list[Money] = field(default_factory=list)


@dataclass(frozen=True)
class Liabilities:
    coins_outstanding: int
    creator_diamonds: int
    diamonds_in_payout: int
    diamonds_value: Money

    @property
    def diamonds_outstanding(self) -> int:
        return self.creator_diamonds + self.diamonds_in_payout


def can_see_reports(user: Any) -> bool:
    return (
        user.is_active
        and user.is_staff
        and (user.is_superuser or user.groups.filter(name__in=[FINANCE, SUPPORT]).exists())
    )


def report_days(*, today: datetime.date | None = None) -> list[DayRow]:
    """One row per UTC day, newest first, for the `REPORT_DAYS` days ending `today`."""
    today = today or timezone.now().astimezone(datetime.UTC).date()
    first = today - datetime.timedelta(days=REPORT_DAYS - 1)
    rows = {day: DayRow(day=day) for day in (first + datetime.timedelta(days=n) for n in range(REPORT_DAYS))}
    start = datetime.datetime.combine(first, datetime.time.min, tzinfo=datetime.UTC)
    end = start + datetime.timedelta(days=REPORT_DAYS)
    _add_topups(rows, start, end)
    _add_gifts(rows, first, start, end)
    _add_payouts(rows, start, end)
    return sorted(rows.values(), key=lambda row: row.day, reverse=True)


def _utc_day(field_name: str) -> TruncDate:
    return TruncDate(field_name, tzinfo=datetime.UTC)


def _add_topups(rows: dict[datetime.date, DayRow], start: datetime.datetime, end: datetime.datetime) -> None:
    sold = (
        TopUp.objects.filter(status=TopUpStatus.SUCCEEDED, completed_at__gte=start, completed_at__lt=end)
        .annotate(day=_utc_day("completed_at"))
        .order_by()
        .values("day", "amount_currency")
        .annotate(count=Count("id"), coins=Sum(F("coins") + F("bonus_coins")), received=Sum("amount"))
    )
    for line in sold.order_by("amount_currency"):
        row = rows[line["day"]]
        row.topups += line["count"]
        row.coins_sold[line["amount_currency"]] = line["coins"]
        row.money_received.append(Money(line["received"], line["amount_currency"]))


def _add_gifts(
    rows: dict[datetime.date, DayRow], first: datetime.date, start: datetime.datetime, end: datetime.datetime
) -> None:
    rolled = (
        EarningsRollup.objects.filter(day__gte=first, day__lte=first + datetime.timedelta(days=REPORT_DAYS - 1))
        .order_by()
        .values("day")
        .annotate(gifts=Sum("gifts"), coins=Sum("coins"), diamonds=Sum("diamonds"))
    )
    tail = (
        GiftEvent.objects.filter(pk__gt=rolled_up_to(), created_at__gte=start, created_at__lt=end)
        .annotate(day=_utc_day("created_at"))
        .order_by()
        .values("day")
        .annotate(gifts=Count("id"), coins=Sum("coins"), diamonds=Sum("diamonds"))
    )
    for line in [*rolled, *tail]:
        row = rows[line["day"]]
        row.gifts += line["gifts"]
        row.gift_coins += line["coins"]
        row.diamonds_earned += line["diamonds"]


def _add_payouts(rows: dict[datetime.date, DayRow], start: datetime.datetime, end: datetime.datetime) -> None:
    paid = (
        Payout.objects.filter(status=PayoutStatus.PAID, finished_at__gte=start, finished_at__lt=end)
        .annotate(day=_utc_day("finished_at"))
        .order_by()
        .values("day", "net_currency")
        .annotate(count=Count("id"), diamonds=Sum("diamonds"), net_total=Sum("net"))
    )
    for line in paid.order_by("net_currency"):
        row = rows[line["day"]]
        row.payouts += line["count"]
        row.payout_diamonds += line["diamonds"]
        row.paid_out.append(Money(line["net_total"], line["net_currency"]))


def liabilities(*, valuation: Valuation | None = None) -> Liabilities:
    """What the economy owes now: coins in viewer wallets, diamonds in creator wallets and in payout
    clearing — each the cached balances plus the entries not yet rolled up."""
    valuation = valuation or Valuation()
    coins = _balance_total(kind=AccountKind.USER, asset=Asset.COIN)
    creator_diamonds = _balance_total(kind=AccountKind.USER, asset=Asset.DIAMOND)
    in_payout = _balance_total(code=SystemAccount.DIAMONDS_CLEARING)
    return Liabilities(
        coins_outstanding=coins,
        creator_diamonds=creator_diamonds,
        diamonds_in_payout=in_payout,
        diamonds_value=valuation.diamonds(creator_diamonds + in_payout),
    )


def _balance_total(**account_filter: Any) -> int:
    accounts = accounts_with_balance(LedgerAccount.objects.filter(**account_filter))
    return accounts.aggregate(total=Sum("current_balance"))["total"] or 0


def _totals(days: list[DayRow]) -> dict[str, Any]:
    coins_sold: defaultdict[str, int] = defaultdict(int)
    received: defaultdict[str, Money | None] = defaultdict(lambda: None)
    paid_out: defaultdict[str, Money | None] = defaultdict(lambda: None)
    for row in days:
        for currency, coins in row.coins_sold.items():
            coins_sold[currency] += coins
        for amount in row.money_received:
            code = amount.currency.code
            received[code] = amount if received[code] is None else received[code] + amount
        for amount in row.paid_out:
            code = amount.currency.code
            paid_out[code] = amount if paid_out[code] is None else paid_out[code] + amount
    return {
        "coins_sold": dict(sorted(coins_sold.items())),
        "money_received": [received[code] for code in sorted(received)],
        "paid_out": [paid_out[code] for code in sorted(paid_out)],
        "gifts": sum(row.gifts for row in days),
        "gift_coins": sum(row.gift_coins for row in days),
        "diamonds_earned": sum(row.diamonds_earned for row in days),
        "payouts": sum(row.payouts for row in days),
    }


@replica_reads
def reports_view(request: HttpRequest, *, admin_site: AdminSite) -> TemplateResponse:
    """/admin/reports/: finance, support and superusers (the admin site has checked staff and 2FA)."""
    if not can_see_reports(request.user):
        raise PermissionDenied
    days = report_days()
    valuation = request_valuation(request)
    owed = liabilities(valuation=valuation)
    context = {
        **admin_site.each_context(request),
        "title": _("Reports"),
        "days": days,
        "totals": _totals(days),
        "liabilities": owed,
        # Coins are sold in many currencies; the report values them at the USD base price.
        "coins_outstanding_value": valuation.coins(owed.coins_outstanding, "USD"),
        "last_audit": LedgerAuditRun.objects.order_by("-run_date").first(),
    }
    return TemplateResponse(request, "admin/reports.html", context)
