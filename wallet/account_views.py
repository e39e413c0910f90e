"""The viewer's wallet pages: overview with the coin history (and its CSV export), and spending controls.

The history selector lives here for now because `wallet/selectors.py` had another owner when
this was written; it is read-only and has no view dependencies, so it can move there as is.
"""

import datetime
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe
from djmoney.money import Money

from coinsite.lib.dates import format_utc, month_bounds
from coinsite.lib.spreadsheets import csv_lines, csv_text
from wallet import selectors, spending
from wallet.ledger import user_balance
from wallet.models import Asset, LedgerAccount, LedgerBalanceDelta, LedgerEntry, TopUp, TopUpStatus
from wallet.money import amount_string, quantize
from wallet.staff import receivables_outstanding, wallet_freeze_reason

HISTORY_PAGE_SIZE = 25
RECENT_TOPUPS = 5
# What a viewer reads for each kind of ledger transaction that touches their coin wallet.
HISTORY_TYPES: dict[str, tuple[str, frozenset[str]]] = {
    "recharge": ("Recharge", frozenset({"topup"})),
    "gift": ("Gift", frozenset({"gift"})),
    "correction": ("Correction", frozenset({"adjustment"})),
    "refund": ("Refund", frozenset({"refund", "chargeback"})),
}
KIND_LABELS = {kind: label for label, kinds in HISTORY_TYPES.values() for kind in kinds}
EARLIEST_DATE = datetime.date(2000, 1, 1)
LATEST_DATE = datetime.date(9999, 12, 30)


# --- Forms --------------------------------------------------------------------------------------


class HistoryFilterForm(forms.Form):
    type = forms.ChoiceField(
        required=False,
        label="Type",
        choices=[("", "All types")] + [(key, label) for key, (label, _) in HISTORY_TYPES.items()],
        error_messages={"invalid_choice": "Choose one of the listed types."},
    )
    date_from = forms.DateField(
        required=False,
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter the start date as YYYY-MM-DD."},
    )
    date_to = forms.DateField(
        required=False,
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter the end date as YYYY-MM-DD."},
    )

    def clean(self):
        cleaned = super().clean()
        for name in ("date_from", "date_to"):
            day = cleaned.get(name)
            if day is not None and not EARLIEST_DATE <= day <= LATEST_DATE:
                self.add_error(name, f"Enter a date between {EARLIEST_DATE:%Y} and {LATEST_DATE:%Y}.")
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", "The end date must be on or after the start date.")
        return cleaned

    @property
    def kinds(self) -> frozenset[str] | None:
        key = self.cleaned_data.get("type")
        return HISTORY_TYPES[key][1] if key else None

    @property
    def starts_at(self) -> datetime.datetime | None:
        day = self.cleaned_data.get("date_from")
        return datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC) if day else None

    @property
    def ends_before(self) -> datetime.datetime | None:
        day = self.cleaned_data.get("date_to")
        if not day:
            return None
        return datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min, tzinfo=datetime.UTC)


class LimitsForm(forms.Form):
    daily_limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=spending.MAX_LIMIT,
        label="Daily budget (coins)",
        help_text="Leave blank for no daily limit.",
        error_messages={
            "invalid": "Enter a whole number of coins, or leave it blank for no limit.",
            "min_value": "Enter at least 1 coin, or leave it blank for no limit.",
        },
    )
    monthly_limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=spending.MAX_LIMIT,
        label="Monthly budget (coins)",
        help_text="Leave blank for no monthly limit.",
        error_messages={
            "invalid": "Enter a whole number of coins, or leave it blank for no limit.",
            "min_value": "Enter at least 1 coin, or leave it blank for no limit.",
        },
    )


class PauseForm(forms.Form):
    period = forms.ChoiceField(
        choices=list(spending.EXCLUSION_LABELS.items()),
        error_messages={
            "invalid_choice": "Choose a pause of 24 hours, 7 days or 30 days.",
            "required": "Choose how long to pause for.",
        },
    )
    confirm = forms.BooleanField(
        label="I understand this cannot be undone.",
        error_messages={"required": "Tick the box to confirm: the pause cannot be undone."},
    )


# --- Coin amounts with their money value --------------------------------------------------------


@dataclass(frozen=True)
class CoinAmount:
    coins: int
    value: Money | None


class CoinValuer:
    """Values coins in one currency at its base per-coin price, loading the rate once per page.

    Same rule as `selectors.coin_value`, so a page with a hundred amounts makes one rate query.
    """

    def __init__(self, currency: str):
        self.currency = currency
        self.rate = selectors.coin_rate(currency)

    def value(self, coins: int) -> Money | None:
        if self.rate is None:
            return None
        return quantize(Money(self.rate.per_coin.amount * coins, self.currency))

    def amount(self, coins: int | None) -> CoinAmount | None:
        return None if coins is None else CoinAmount(coins=coins, value=self.value(coins))


# --- History selector ---------------------------------------------------------------------------


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


def coin_account(user) -> LedgerAccount | None:
    return LedgerAccount.objects.filter(user=user, asset=Asset.COIN).first()


def history_entries(account: LedgerAccount | None, filters: HistoryFilterForm) -> QuerySet:
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


def history_rows(account: LedgerAccount, entries: list[LedgerEntry]) -> list[HistoryRow]:
    """Rows for one page of entries (newest first), each with the wallet balance right after it.

    The balance after the newest row is the balance now minus every later entry (one statement,
    so a gift committing meanwhile counts on both sides or on neither); the rest follow by walking
    back over every entry between the page's newest and oldest rows, filtered out ones included.
    """
    if not entries:
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


def history_csv_rows(account: LedgerAccount | None, filters: HistoryFilterForm) -> Iterator[HistoryRow]:
    """Every entry matching `filters`, oldest first, with its balance after; streams from the database.

    The running balance starts from the sum of the entries before the date range and adds every
    entry in the range (filtered-out types included), so it needs no snapshot of the cached balance.
    """
    if account is None:
        return
    entries = LedgerEntry.objects.filter(account=account)
    running = 0
    if filters.starts_at is not None:
        running = entries.filter(created_at__lt=filters.starts_at).aggregate(total=Sum("amount"))["total"] or 0
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
    pending = (
        LedgerBalanceDelta.objects.filter(account=OuterRef("pk"))
        .order_by()
        .values("account")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return (
        LedgerAccount.objects.filter(pk=account.pk)
        .annotate(after=F("balance") + Coalesce(Subquery(pending), Value(0)) - Coalesce(Subquery(later), Value(0)))
        .values_list("after", flat=True)
        .get()
    )


def _row(entry: LedgerEntry, balance_after: int) -> HistoryRow:
    kind = entry.transaction.kind
    label = KIND_LABELS.get(kind) or kind.replace("_", " ").capitalize()
    return HistoryRow(
        entry_id=entry.pk,
        created_at=entry.created_at,
        kind=kind,
        type_label=label,
        description=entry.transaction.memo or label,
        coins=entry.amount,
        balance_after=balance_after,
    )


def month_recharges(user, now: datetime.datetime) -> list[Money]:
    """What the user paid for succeeded top-ups this UTC month, one total per currency."""
    start, end = month_bounds(now)
    totals = (
        TopUp.objects.filter(user=user, status=TopUpStatus.SUCCEEDED, completed_at__gte=start, completed_at__lt=end)
        .order_by("amount_currency")
        .values("amount_currency")
        .annotate(total=Sum("amount"))
    )
    return [Money(row["total"], row["amount_currency"]) for row in totals]


# --- Views --------------------------------------------------------------------------------------


@require_safe
@login_required
def index(request):
    user = request.user
    now = timezone.now()
    currency = user.preferred_currency
    valuer = CoinValuer(currency)
    filters = HistoryFilterForm(request.GET)
    account = coin_account(user)
    page = rows = None
    if filters.is_valid():
        page = Paginator(history_entries(account, filters), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
        rows = [
            (row, valuer.amount(row.magnitude), valuer.amount(row.balance_after))
            for row in history_rows(account, list(page.object_list))
        ]
    balance = user_balance(user, Asset.COIN)
    summary = spending.spending_summary(user, now)
    return render(
        request,
        "wallet/index.html",
        {
            "balance": CoinAmount(coins=balance, value=selectors.coin_value(balance, currency)),
            "currency": currency,
            "summary": summary,
            "spent_this_month": valuer.amount(summary.spent_this_month),
            "remaining": valuer.amount(summary.remaining),
            "recharges": month_recharges(user, now),
            "topups": TopUp.objects.filter(user=user).order_by("-created_at")[:RECENT_TOPUPS],
            "filters": filters,
            "page": page,
            "rows": rows,
            "is_filtered": filters.is_valid() and any(filters.cleaned_data.values()),
            "frozen_reason": wallet_freeze_reason(user),
            "owed": valuer.amount(receivables_outstanding(user)),
        },
        status=200 if filters.is_valid() else 400,
    )


@require_safe
@login_required
def history_csv(request):
    filters = HistoryFilterForm(request.GET)
    if not filters.is_valid():
        messages.error(request, "The history could not be exported: fix the filters below.")
        return redirect(f"{reverse('wallet:index')}?{request.GET.urlencode()}")
    user = request.user
    valuer = CoinValuer(user.preferred_currency)
    rows = history_csv_rows(coin_account(user), filters)
    response = StreamingHttpResponse(_csv_lines(rows, valuer), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_csv_filename(filters)}"'
    return response


@require_http_methods(["GET", "POST"])
@login_required
def controls(request):
    if request.method == "POST":
        action = CONTROL_ACTIONS.get(request.POST.get("action", ""))
        if action is None:
            messages.error(request, "That action is not available. Nothing was changed.")
            return _controls_page(request, status=400)
        return action(request)
    period = request.GET.get("pause")
    if period is None:
        return _controls_page(request)
    if period not in spending.EXCLUSION_PERIODS:
        messages.error(request, "Choose a pause of 24 hours, 7 days or 30 days.")
        return _controls_page(request, status=400)
    return _pause_confirm_page(request, PauseForm(initial={"period": period}), period)


def _set_limits(request):
    form = LimitsForm(request.POST)
    if not form.is_valid():
        return _controls_page(request, limits_form=form, status=400)
    try:
        controls = spending.spending_limits_set(
            user=request.user,
            daily_limit=form.cleaned_data["daily_limit"],
            monthly_limit=form.cleaned_data["monthly_limit"],
        )
    except spending.InvalidSpendingRequest as error:
        form.add_error(None, str(error))
        return _controls_page(request, limits_form=form, status=400)
    messages.success(request, "Your budgets were saved.")
    now = timezone.now()
    for period in spending.PERIODS:
        pending = spending.pending_raise(controls, period, now)
        if pending is not None:
            target = "no limit" if pending.limit is None else f"{pending.limit:,} coins"
            messages.info(
                request,
                f"Your {spending.PERIOD_LABELS[period]} changes to {target} on "
                f"{format_utc(pending.effective_at)}: raising or removing a budget "
                "takes effect 24 hours later.",
            )
    return redirect("wallet:controls")


def _cancel_raises(request):
    spending.spending_raises_cancel(user=request.user)
    messages.success(request, "Pending budget raises were cancelled. Your current budgets stay.")
    return redirect("wallet:controls")


def _pause(request):
    form = PauseForm(request.POST)
    if not form.is_valid():
        period = request.POST.get("period", "")
        if period not in spending.EXCLUSION_PERIODS:
            messages.error(request, "Choose a pause of 24 hours, 7 days or 30 days. Nothing was changed.")
            return _controls_page(request, status=400)
        return _pause_confirm_page(request, form, period, status=400)
    controls = spending.self_exclusion_start(user=request.user, period=form.cleaned_data["period"])
    until = format_utc(controls.excluded_until)
    messages.success(request, f"Gifting and buying coins are paused until {until}. The pause cannot be lifted early.")
    return redirect("wallet:controls")


CONTROL_ACTIONS = {"limits": _set_limits, "cancel-raises": _cancel_raises, "pause": _pause}


def _controls_page(request, *, limits_form: LimitsForm | None = None, status: int = 200):
    summary = spending.spending_summary(request.user)
    valuer = CoinValuer(request.user.preferred_currency)
    if limits_form is None:
        limits_form = LimitsForm(initial={"daily_limit": summary.daily_limit, "monthly_limit": summary.monthly_limit})
    return render(
        request,
        "wallet/controls.html",
        {
            "summary": summary,
            "amounts": _summary_amounts(summary, valuer),
            "limits_form": limits_form,
            "pause_choices": spending.EXCLUSION_LABELS,
        },
        status=status,
    )


def _pause_confirm_page(request, form: PauseForm, period: str, *, status: int = 200):
    summary = spending.spending_summary(request.user)
    requested_until = summary.now + spending.EXCLUSION_PERIODS[period]
    return render(
        request,
        "wallet/controls_pause.html",
        {
            "form": form,
            "period": period,
            "period_label": spending.EXCLUSION_LABELS[period],
            "pause_until": max(requested_until, summary.excluded_until or requested_until),
            "already_longer": summary.excluded_until is not None and summary.excluded_until >= requested_until,
            "summary": summary,
        },
        status=status,
    )


def _summary_amounts(summary: spending.SpendingSummary, valuer: CoinValuer) -> dict[str, CoinAmount | None]:
    pending = {f"{period}_pending": getattr(summary, f"{period}_pending") for period in spending.PERIODS}
    return {
        "spent_today": valuer.amount(summary.spent_today),
        "spent_this_month": valuer.amount(summary.spent_this_month),
        "daily_limit": valuer.amount(summary.daily_limit),
        "monthly_limit": valuer.amount(summary.monthly_limit),
        "remaining_today": valuer.amount(summary.remaining_today),
        "remaining_this_month": valuer.amount(summary.remaining_this_month),
        **{name: valuer.amount(raise_.limit) if raise_ else None for name, raise_ in pending.items()},
    }


# --- CSV ----------------------------------------------------------------------------------------


def _csv_lines(rows: Iterator[HistoryRow], valuer: CoinValuer) -> Iterator[str]:
    header = ["Date (UTC)", "Type", "Description", "Coins", "Balance after", f"Value ({valuer.currency})"]
    return csv_lines(itertools.chain([header], (_csv_row(row, valuer) for row in rows)))  # streams, row by row


def _csv_row(row: HistoryRow, valuer: CoinValuer) -> list[object]:
    value = valuer.value(row.coins)
    return [
        f"{row.created_at.astimezone(datetime.UTC):%Y-%m-%d %H:%M:%S}",
        csv_text(row.type_label),
        csv_text(row.description),
        row.coins,
        row.balance_after,
        amount_string(value) if value is not None else "",
    ]


def _csv_filename(filters: HistoryFilterForm) -> str:
    parts = ["coinsite-wallet-history"]
    if filters.cleaned_data.get("type"):
        parts.append(filters.cleaned_data["type"])
    if filters.cleaned_data.get("date_from"):
        parts.append(f"from-{filters.cleaned_data['date_from']:%Y-%m-%d}")
    if filters.cleaned_data.get("date_to"):
        parts.append(f"to-{filters.cleaned_data['date_to']:%Y-%m-%d}")
    return "-".join(parts) + ".csv"
