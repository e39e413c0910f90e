"""Reads that feed the wallet pages: what a viewer may buy and at what price, what they spent against
their budgets, their coin history, and the staff-set economics.

What coins and diamonds are worth in money is `wallet.valuation`'s job, not this module's.
"""

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from djmoney.money import Money

from coinsite.accounts.models import ADULT_AGE, User
from coinsite.lib.dates import day_bounds, month_bounds, next_month
from coinsite.lib.l10n import format_count, format_datetime_local, gift_name_local
from wallet.ledger import CurrentBalance, account_balance_at, accounts_with_balance, user_moves_in_periods
from wallet.ledger_kinds import history_label
from wallet.models import (
    Asset,
    CoinPackage,
    CoinPackagePrice,
    CoinRate,
    CoinReceivable,
    Country,
    EconomySettings,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    SpendingControls,
    TopUp,
    TopUpStatus,
    WalletFreeze,
)
from wallet.money import format_money, price_for_coins

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


@dataclass(frozen=True)
class PackageOffer:
    package: CoinPackage
    price: Money
    per_coin: Money  # effective price of one coin in this package, bonus included (not rounded)


@dataclass(frozen=True)
class RechargeOffer:
    country: Country | None
    currency: str
    packages: list[PackageOffer] = field(default_factory=list)
    rate: CoinRate | None = None
    payment_methods: list[str] = field(default_factory=list)
    unavailable_reason: str = ""


def recharge_offer(user: User) -> RechargeOffer:
    """What ``user`` may buy now, in their country's currency, or why they cannot recharge."""
    country = Country.objects.filter(code=user.country).first()
    currency = country.currency if country else user.preferred_currency
    reason = recharge_unavailable_reason(user, country)
    if reason or country is None:
        no_country = _("Buying coins is not available in your country yet.")
        return RechargeOffer(country=country, currency=currency, unavailable_reason=reason or no_country)
    prices = (
        CoinPackagePrice.objects.filter(package__is_active=True, price_currency=currency)
        .select_related("package")
        .order_by("package__sort_order", "package__coins")
    )
    packages = [
        PackageOffer(package=p.package, price=p.price, per_coin=Money(p.price.amount / p.package.total_coins, currency))
        for p in prices
    ]
    return RechargeOffer(
        country=country,
        currency=currency,
        packages=packages,
        rate=coin_rate(currency),
        payment_methods=list(country.payment_methods),
    )


def wallet_freeze_reason(user: User) -> str:
    """Why the user's wallet is frozen, or "" if it is not."""
    return WalletFreeze.objects.filter(user=user).values_list("reason", flat=True).first() or ""


def recharge_unavailable_reason(user: User, country: Country | None) -> str:
    frozen = wallet_freeze_reason(user)
    if frozen:
        return _("Your wallet is frozen by our team: %(reason)s Contact support to have it lifted.") % {
            "reason": frozen
        }
    if user.birth_date is None:
        return _("Add your birth date to your profile before buying coins: coins are sold only to adults.")
    if not user.is_at_least(_minimum_age(country)):
        return _too_young_reason(country)
    if country is None:
        return _("Buying coins is not available in your country yet.")
    if not country.recharge_enabled:
        return country.recharge_unavailable_reason or _("Buying coins is not available in %(country)s.") % {
            "country": country.name
        }
    excluded_until = exclusion_until(user)
    if excluded_until:
        return _("You paused recharging and gifting until %(until)s. The pause cannot be lifted early.") % {
            "until": format_datetime_local(excluded_until)
        }
    return ""


def _minimum_age(country: Country | None) -> int:
    """How old people must be to buy coins and send gifts in `country` (the site-wide adult age elsewhere)."""
    return country.minimum_age if country is not None else ADULT_AGE


def _too_young_reason(country: Country | None) -> str:
    """Why someone under the country's age may not buy coins, naming the country where its age differs."""
    age = _minimum_age(country)
    if country is not None and age != ADULT_AGE:
        return _(
            "In %(country)s, coins can only be bought by people aged %(age)s or over. You can still watch live streams."
        ) % {"country": country.name, "age": age}
    return _("Coins can only be bought by people aged %(age)s or over. You can still watch live streams.") % {
        "age": age
    }


def exclusion_until(user: User) -> datetime.datetime | None:
    """When the user's self-exclusion ends, or None if they are not excluded now."""
    controls = SpendingControls.objects.filter(user=user, excluded_until__gt=timezone.now()).first()
    return controls.excluded_until if controls else None


def coin_rate(currency: str) -> CoinRate | None:
    """The currency's coin rate (per-coin price and custom-amount limits), None if it has none; cached."""
    return next((rate for rate in CoinRate.cached_rows() if rate.per_coin.currency.code == currency), None)


def custom_price(rate: CoinRate, coins: int) -> Money:
    return price_for_coins(rate.per_coin, coins)


def user_currency(user: User) -> str:
    country = Country.objects.filter(code=user.country).first()
    return country.currency if country else user.preferred_currency


def economy() -> EconomySettings:
    """The staff-set economics (docs/design.md §2), cached; the defaults when staff never saved them. Writes nothing."""
    return EconomySettings.load()


# --- Spending against the viewer's own budgets (the rules are in wallet.spending) ------------------


@dataclass(frozen=True)
class PendingRaise:
    """A raised (or removed, when `limit` is None) budget that takes effect at `effective_at`."""

    limit: int | None
    effective_at: datetime.datetime


@dataclass(frozen=True)
class SpentCoins:
    today: int
    this_month: int


@dataclass(frozen=True)
class SpendingSummary:
    """Everything the controls page and the wallet overview show about a viewer's spending."""

    now: datetime.datetime
    spent_today: int
    spent_this_month: int
    daily_limit: int | None
    monthly_limit: int | None
    daily_pending: PendingRaise | None
    monthly_pending: PendingRaise | None
    excluded_until: datetime.datetime | None
    day_resets_at: datetime.datetime
    month_resets_at: datetime.datetime

    @property
    def is_excluded(self) -> bool:
        return self.excluded_until is not None

    @property
    def remaining_today(self) -> int | None:
        return None if self.daily_limit is None else max(self.daily_limit - self.spent_today, 0)

    @property
    def remaining_this_month(self) -> int | None:
        return None if self.monthly_limit is None else max(self.monthly_limit - self.spent_this_month, 0)

    @property
    def remaining(self) -> int | None:
        """Coins the viewer may still spend now; None when no budget applies."""
        if self.is_excluded:
            return 0
        limits = [value for value in (self.remaining_today, self.remaining_this_month) if value is not None]
        return min(limits) if limits else None

    @property
    def has_pending_raise(self) -> bool:
        return self.daily_pending is not None or self.monthly_pending is not None


def coins_spent(*, user: User, kinds: frozenset[str], now: datetime.datetime | None = None) -> SpentCoins:
    """Coins the user spent (debits of their coin wallet by a transaction of one of `kinds`) in the UTC
    day and calendar month containing `now`, in one query.

    Read from the ledger's day totals plus the entries after their mark (`user_moves_in_periods`), not from
    every entry of the month: a viewer with a budget runs this on every gift, and a heavy one gifts
    thousands of times a month. Totals are net per kind, which are the debits here: a spending kind
    (a gift) only ever takes coins from the sender's wallet.
    """
    today = (now or timezone.now()).astimezone(datetime.UTC).date()
    month_first = today.replace(day=1)
    spent_today, spent_this_month = user_moves_in_periods(
        user,
        Asset.COIN,
        kinds=kinds,
        periods=[(today, today + datetime.timedelta(days=1)), (month_first, next_month(month_first))],
    )
    return SpentCoins(today=-spent_today, this_month=-spent_this_month)


def effective_limits(controls: SpendingControls, now: datetime.datetime) -> tuple[int | None, int | None]:
    """The (daily, monthly) budgets in force at `now`: pending raises that are due count as applied."""
    return effective_limit(controls, "daily", now), effective_limit(controls, "monthly", now)


def pending_raise(controls: SpendingControls, period: str, now: datetime.datetime) -> PendingRaise | None:
    """The raise of the `period` ("daily"/"monthly") budget still waiting at `now`, if any."""
    effective_at = getattr(controls, f"{period}_limit_next_at")
    if effective_at is None or effective_at <= now:
        return None
    return PendingRaise(limit=getattr(controls, f"{period}_limit_next"), effective_at=effective_at)


def spending_summary(user: User, *, kinds: frozenset[str], now: datetime.datetime | None = None) -> SpendingSummary:
    """Spent today and this month (transactions of `kinds`), budgets in force, pending raises and the
    pause, as of `now`."""
    now = now or timezone.now()
    controls = SpendingControls.objects.filter(user=user).first() or SpendingControls(user=user)
    daily, monthly = effective_limits(controls, now)
    spent = coins_spent(user=user, kinds=kinds, now=now)
    excluded_until = controls.excluded_until if controls.excluded_until and controls.excluded_until > now else None
    return SpendingSummary(
        now=now,
        spent_today=spent.today,
        spent_this_month=spent.this_month,
        daily_limit=daily,
        monthly_limit=monthly,
        daily_pending=pending_raise(controls, "daily", now),
        monthly_pending=pending_raise(controls, "monthly", now),
        excluded_until=excluded_until,
        day_resets_at=day_bounds(now)[1],
        month_resets_at=month_bounds(now)[1],
    )


def effective_limit(controls: SpendingControls, period: str, now: datetime.datetime) -> int | None:
    """The `period` budget in force at `now`: a pending raise that is due counts as applied."""
    due_at = getattr(controls, f"{period}_limit_next_at")
    if due_at is not None and due_at <= now:
        return getattr(controls, f"{period}_limit_next")
    return getattr(controls, f"{period}_limit")


# --- Coin history ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryFilter:
    """Which entries of the coin history to show: transaction kinds (None: all) and a date range."""

    kinds: frozenset[str] | None = None
    starts_at: datetime.datetime | None = None
    ends_before: datetime.datetime | None = None


@dataclass(frozen=True)
class HistoryRow:
    entry_id: int
    created_at: datetime.datetime
    kind: str
    type_label: str
    description: str
    coins: int
    balance_after: int

    @property
    def is_credit(self) -> bool:
        return self.coins > 0

    @property
    def magnitude(self) -> int:
        return abs(self.coins)


def coin_account(user: User) -> "WithAnnotations[LedgerAccount, CurrentBalance] | None":
    """The user's coin wallet with `current_balance` (cached column plus pending deltas), None before
    their first coin."""
    return accounts_with_balance().filter(user=user, asset=Asset.COIN).first()


@dataclass(frozen=True)
class WalletStanding:
    frozen_reason: str  # "" when the wallet is not frozen
    coins_owed: int  # from refunds and chargebacks of coins already spent


def wallet_standing(user: User) -> WalletStanding:
    """Why staff froze the wallet and what the user owes, in one query (the wallet page shows both)."""
    freeze = WalletFreeze.objects.filter(user=OuterRef("pk")).values("reason")[:1]
    owed = (
        CoinReceivable.objects.filter(user=OuterRef("pk"), settled_at__isnull=True)
        .order_by()
        .values("user")
        .annotate(total=Sum(F("coins") - F("settled_coins")))
        .values("total")
    )
    row = (
        User.objects.filter(pk=user.pk)
        .annotate(frozen_reason=Subquery(freeze), coins_owed=Coalesce(Subquery(owed), Value(0)))
        .values("frozen_reason", "coins_owed")
        .get()
    )
    return WalletStanding(frozen_reason=row["frozen_reason"] or "", coins_owed=row["coins_owed"])


def history_entries(account: LedgerAccount | None, filters: HistoryFilter) -> QuerySet[LedgerEntry]:
    """The coin wallet's entries matching valid `filters`, newest first, via the (account, created_at) index."""
    if account is None:
        return LedgerEntry.objects.none()
    entries = LedgerEntry.objects.filter(account=account).select_related("transaction").order_by("-created_at", "-id")
    if filters.kinds is not None:
        entries = entries.filter(transaction__kind__in=filters.kinds)
    if filters.starts_at is not None:
        entries = entries.filter(created_at__gte=filters.starts_at)
    if filters.ends_before is not None:
        entries = entries.filter(created_at__lt=filters.ends_before)
    return entries


def history_rows(account: LedgerAccount | None, entries: list[LedgerEntry]) -> list[HistoryRow]:
    """Rows for one page of entries (newest first), each with the wallet balance right after it.

    The balance after the newest row is the balance now minus every later entry (one statement,
    so a gift committing meanwhile counts on both sides or on neither); the rest follow by walking
    back over every entry between the page's newest and oldest rows, filtered out ones included.
    """
    if account is None or not entries:
        return []
    newest, oldest = entries[0], entries[-1]
    running = _balance_after(account, newest)
    between = (
        LedgerEntry.objects.filter(
            account=account, created_at__gte=oldest.created_at, created_at__lte=newest.created_at
        )
        .order_by("-created_at", "-id")
        .values_list("created_at", "id", "amount")
    )
    balances: dict[int, int] = {}
    for created_at, entry_id, amount in between:
        if (created_at, entry_id) > (newest.created_at, newest.pk):
            continue
        balances[entry_id] = running
        running -= amount
    return [_row(entry, balances[entry.pk]) for entry in entries]


def history_csv_rows(account: LedgerAccount | None, filters: HistoryFilter) -> Iterator[HistoryRow]:
    """Every entry matching `filters`, oldest first, with its balance after; streams from the database.

    The running balance starts from the balance before the date range (day totals, not every earlier entry)
    and adds every entry in the range (filtered-out types included), so it needs no snapshot of the cached
    balance.
    """
    if account is None:
        return
    entries = LedgerEntry.objects.filter(account=account)
    running = 0
    if filters.starts_at is not None:
        running = account_balance_at(account, filters.starts_at)
        entries = entries.filter(created_at__gte=filters.starts_at)
    if filters.ends_before is not None:
        entries = entries.filter(created_at__lt=filters.ends_before)
    kinds = filters.kinds
    for entry in entries.select_related("transaction").order_by("created_at", "id").iterator(chunk_size=1000):
        running += entry.amount
        if kinds is None or entry.transaction.kind in kinds:
            yield _row(entry, running)


def _balance_after(account: LedgerAccount, entry: LedgerEntry) -> int:
    later = (
        LedgerEntry.objects.filter(account=OuterRef("pk"))
        .filter(Q(created_at__gt=entry.created_at) | Q(created_at=entry.created_at, id__gt=entry.pk))
        .order_by()
        .values("account")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return (
        accounts_with_balance()
        .filter(pk=account.pk)
        .annotate(after=F("current_balance") - Coalesce(Subquery(later), Value(0)))
        .values_list("after", flat=True)
        .get()
    )


def _row(entry: LedgerEntry, balance_after: int) -> HistoryRow:
    kind = entry.transaction.kind
    label = history_label(kind)
    label, description = _reversal_text(entry) or (label, _description(entry.transaction, abs(entry.amount), label))
    return HistoryRow(
        entry_id=entry.pk,
        created_at=entry.created_at,
        kind=kind,
        type_label=label,
        description=description,
        coins=entry.amount,
        balance_after=balance_after,
    )


def _description(transaction: LedgerTransaction, coins: int, label: str) -> str:
    """What the history says a movement was: in the reader's language for the kinds the wallet posts with
    what it needs in their metadata; otherwise the memo written when it was posted (a gift's "2 x Rose", a
    staff member's reason)."""
    metadata = transaction.metadata or {}
    if transaction.kind == "topup" and "amount" in metadata and "currency" in metadata:
        price = format_money(Money(metadata["amount"], metadata["currency"]))
        text = ngettext("Recharge: %(coins)s coin for %(price)s", "Recharge: %(coins)s coins for %(price)s", coins)
        return text % {"coins": format_count(coins), "price": price}
    if transaction.kind == "receivable.settle":
        return _("Settles coins owed after a refund or chargeback")
    if transaction.kind == "gift" and "quantity" in metadata:  # memo "2 x Rose", as gifting posts it
        quantity, separator, name = (transaction.memo or "").partition(" x ")
        if separator and quantity == str(metadata["quantity"]):
            return f"{format_count(metadata['quantity'])} × {gift_name_local(name)}"  # noqa: RUF001
    return transaction.memo or label


def _reversal_text(entry: LedgerEntry) -> tuple[str, str] | None:
    """The type and description a viewer reads for a refund, a chargeback or a debt paid back, in their
    language (the ledger's memo is staff's English, with staff's reason). A reversal of coins already
    spent has two rows: the coins owed coming in, then the whole top-up going out."""
    kind, metadata = entry.transaction.kind, entry.transaction.metadata or {}
    if kind == "receivable.settle":
        return history_label(kind), _("Coins you owed after a refund or chargeback, paid back from your recharge.")
    if kind not in {"topup.refund", "topup.chargeback"}:
        return None
    if entry.amount > 0:
        return _("Coins owed"), _(
            "Already spent when the recharge was reversed: you owe them, and your next recharge pays them back first."
        )
    coins = format_count(-entry.amount)
    owed = metadata.get("shortfall") or 0
    if kind == "topup.refund":
        text = _("Your recharge of %(coins)s coins was refunded.") % {"coins": coins}
    else:
        text = _("Your recharge of %(coins)s coins was charged back by your bank.") % {"coins": coins}
    if owed:
        text = f"{text} " + _("%(owed)s of them were already spent and are owed.") % {"owed": format_count(owed)}
    return history_label(kind), text


def month_recharges(user: User, now: datetime.datetime) -> list[Money]:
    """What the user paid for succeeded top-ups this UTC month, one total per currency."""
    start, end = month_bounds(now)
    totals = (
        TopUp.objects.filter(user=user, status=TopUpStatus.SUCCEEDED, completed_at__gte=start, completed_at__lt=end)
        .order_by("amount_currency")
        .values("amount_currency")
        .annotate(total=Sum("amount"))
    )
    return [Money(row["total"], row["amount_currency"]) for row in totals]
