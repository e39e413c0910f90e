"""Spending controls: a viewer's own daily and monthly coin budgets and self-exclusion pause.

Rules (the issue "Spending controls", `SpendingControls` docstring):
- A budget of None means no limit. Lowering a budget, or setting one where there was none, applies
  at once and cancels a pending raise. Raising or removing one is stored as a pending raise and
  applies 24 hours later, so a moment of impulse cannot undo a decision made calmly.
- A self-exclusion pause only ever moves later: it cannot be shortened or lifted early.
- "Spent" means coins debited from the viewer's coin wallet by a transaction of a kind the caller
  says spends coins (wallet knows no such kind itself: apps register theirs in
  `wallet.ledger_kinds`); days and months are UTC calendar days and months, shown to the viewer
  in their own time zone. The reads (what was spent, the budgets in force) are in `wallet.selectors`.

Concurrency. `spending_check` runs inside the gift service's own transaction, before its debit,
and takes `SELECT ... FOR NO KEY UPDATE` on the viewer's `SpendingControls` row. A second gift by
the same viewer waits on that row lock until the first commits; under READ COMMITTED (Django's
default on PostgreSQL) its next statement, the spent-coins sum, then sees the first gift's
entries, so two concurrent gifts can never both fit into the same remaining budget. Lock order:
the controls row first, then the ledger's wallet rows. Viewers without a controls row have no
budget to protect and take no lock.
"""

import datetime
import math
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from coinsite.accounts.models import User
from coinsite.lib.dates import day_bounds, month_bounds
from coinsite.lib.l10n import format_count, format_datetime_local
from wallet.ledger import MAX_AMOUNT
from wallet.models import SpendingControls
from wallet.selectors import coins_spent, effective_limit, effective_limits, pending_raise

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

RAISE_DELAY = datetime.timedelta(hours=24)
EXCLUSION_PERIODS: dict[str, datetime.timedelta] = {
    "24h": datetime.timedelta(hours=24),
    "7d": datetime.timedelta(days=7),
    "30d": datetime.timedelta(days=30),
}
EXCLUSION_LABELS: dict[str, "StrOrPromise"] = {
    "24h": gettext_lazy("24 hours"),
    "7d": gettext_lazy("7 days"),
    "30d": gettext_lazy("30 days"),
}
MAX_LIMIT = MAX_AMOUNT
PERIODS = ("daily", "monthly")
PERIOD_LABELS = {"daily": gettext_lazy("Daily budget"), "monthly": gettext_lazy("Monthly budget")}


class SpendingError(Exception):
    """Base class of the errors raised here; the message is written for the viewer."""


class InvalidSpendingRequest(SpendingError, ValueError):
    """Bad input (a limit that is not a positive whole number, an unknown pause); nothing was changed."""


class SpendingBlocked(SpendingError):
    """The viewer may not spend these coins now; `reason` is "excluded", "daily" or "monthly"."""

    def __init__(self, message: str, *, reason: str) -> None:
        self.reason = reason
        self.message = message
        super().__init__(message)


# --- Services -----------------------------------------------------------------------------------


def spending_controls_for(user: User) -> SpendingControls:
    """The user's controls row, created (with no limits) on first use; safe to race with itself."""
    controls, _created = SpendingControls.objects.get_or_create(user=user)
    return controls


def spending_limits_set(
    *, user: User, daily_limit: int | None, monthly_limit: int | None, now: datetime.datetime | None = None
) -> SpendingControls:
    """Set the daily and monthly budgets (None: no limit); a looser budget only applies 24 hours later.

    Per budget: a stricter value (lower, or a limit where there was none) applies at once and
    cancels a pending raise; the current value changes nothing; a looser one (higher, or none)
    becomes a pending raise due 24 hours from now, or keeps the due time of a pending raise it
    does not exceed, so re-submitting never restarts or shortens the wait. Atomic under the row
    lock; raises InvalidSpendingRequest, having changed nothing, on bad input.
    """
    _check_limit(daily_limit, "daily")
    _check_limit(monthly_limit, "monthly")
    if daily_limit is not None and monthly_limit is not None and daily_limit > monthly_limit:
        raise InvalidSpendingRequest(_("Your daily budget cannot be higher than your monthly budget."))
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        controls = _locked_controls(user)
        _set_limit(controls, "daily", daily_limit, now)
        _set_limit(controls, "monthly", monthly_limit, now)
        controls.save()
    return controls


def spending_raises_cancel(*, user: User, now: datetime.datetime | None = None) -> SpendingControls:
    """Drop the pending raises that are not due yet, keeping the budgets in force now. Atomic."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        controls = _locked_controls(user)
        for period in PERIODS:
            _apply_due_raise(controls, period, now)
            _clear_pending(controls, period)
        controls.save()
    return controls


def self_exclusion_start(*, user: User, period: str, now: datetime.datetime | None = None) -> SpendingControls:
    """Pause gifting and recharging for `period` ("24h", "7d", "30d") from `now`.

    The pause only ever moves later: it ends at the later of its current end and now + period,
    so it can never be shortened or lifted early. An unknown period raises
    InvalidSpendingRequest and changes nothing. Atomic under the row lock.
    """
    if not isinstance(period, str) or period not in EXCLUSION_PERIODS:
        choices = ", ".join(str(label) for label in EXCLUSION_LABELS.values())
        raise InvalidSpendingRequest(_("Choose how long to pause for: %(choices)s.") % {"choices": choices})
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        controls = _locked_controls(user)
        requested_until = now + EXCLUSION_PERIODS[period]
        if controls.excluded_until is None or requested_until > controls.excluded_until:
            controls.excluded_until = requested_until
            controls.save(update_fields=["excluded_until", "updated_at"])
    return controls


def spending_check(*, user: User, coins: int, kinds: frozenset[str], now: datetime.datetime | None = None) -> None:
    """Raise SpendingBlocked unless the user may spend `coins` now (pause, daily and monthly budget),
    counting as spent what transactions of `kinds` took from their coin wallet.

    Call it inside the spending service's transaction, before the debit: it locks the user's
    controls row until that transaction ends, so concurrent spends by one user are checked one
    after the other, each seeing the coins the previous one spent (see the module docstring).
    Writes nothing.
    """
    _check_coins(coins)
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(
            "spending_check must run inside the spending transaction, so its lock lasts until the debit commits."
        )
    now = now or timezone.now()
    controls = SpendingControls.objects.select_for_update(no_key=True).filter(user=user).first()
    if controls is None:
        return
    if controls.excluded_until is not None and controls.excluded_until > now:
        raise SpendingBlocked(
            _("You paused gifting and recharging until %(until)s. The pause cannot be lifted early.")
            % {"until": format_datetime_local(controls.excluded_until)},
            reason="excluded",
        )
    daily, monthly = effective_limits(controls, now)
    if daily is None and monthly is None:
        return
    spent = coins_spent(user=user, kinds=kinds, now=now)
    _check_budget(coins=coins, limit=daily, spent=spent.today, period="daily", resets_at=day_bounds(now)[1])
    _check_budget(coins=coins, limit=monthly, spent=spent.this_month, period="monthly", resets_at=month_bounds(now)[1])


# --- Helpers ------------------------------------------------------------------------------------


def _locked_controls(user: User) -> SpendingControls:
    if user is None or user.pk is None:
        raise InvalidSpendingRequest(_("Spending controls need a saved user."))
    spending_controls_for(user)
    return SpendingControls.objects.select_for_update(no_key=True).get(pk=user.pk)


def _check_limit(value: object, period: str) -> None:
    if value is None:
        return
    budget = {"budget": PERIOD_LABELS[period]}
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpendingRequest(_("%(budget)s must be a whole number of coins, or blank for no limit.") % budget)
    if value < 1:
        raise InvalidSpendingRequest(_("%(budget)s must be at least 1 coin; leave it blank for no limit.") % budget)
    if value > MAX_LIMIT:
        raise InvalidSpendingRequest(
            _("%(budget)s can be at most %(most)s coins.") % {**budget, "most": format_count(MAX_LIMIT)}
        )


def _check_coins(coins: object) -> None:
    if isinstance(coins, bool) or not isinstance(coins, int) or not 1 <= coins <= MAX_AMOUNT:
        raise InvalidSpendingRequest(
            _("A spend must be a positive whole number of coins, not %(coins)s.") % {"coins": repr(coins)}
        )


def _check_budget(*, coins: int, limit: int | None, spent: int, period: str, resets_at: datetime.datetime) -> None:
    if limit is None or spent + coins <= limit:
        return
    left = max(limit - spent, 0)
    raise SpendingBlocked(f"{_budget_passed(period, limit)} {_coins_left(left, resets_at)}", reason=period)


def _budget_passed(period: str, limit: int) -> str:
    if period == "daily":
        text = ngettext(
            "This would take you past your daily budget of %(limit)s coin.",
            "This would take you past your daily budget of %(limit)s coins.",
            limit,
        )
    else:
        text = ngettext(
            "This would take you past your monthly budget of %(limit)s coin.",
            "This would take you past your monthly budget of %(limit)s coins.",
            limit,
        )
    return text % {"limit": format_count(limit)}


def _coins_left(left: int, resets_at: datetime.datetime) -> str:
    """When the budget starts again, in the viewer's time zone: the UTC midnight that resets it."""
    text = ngettext(
        "You have %(left)s coin left until %(reset)s.", "You have %(left)s coins left until %(reset)s.", left
    )
    return text % {"left": format_count(left), "reset": format_datetime_local(resets_at)}


def _limit_order(value: int | None) -> float:
    return math.inf if value is None else value


def _apply_due_raise(controls: SpendingControls, period: str, now: datetime.datetime) -> None:
    setattr(controls, f"{period}_limit", effective_limit(controls, period, now))
    if pending_raise(controls, period, now) is None:
        _clear_pending(controls, period)


def _clear_pending(controls: SpendingControls, period: str) -> None:
    setattr(controls, f"{period}_limit_next", None)
    setattr(controls, f"{period}_limit_next_at", None)


def _set_limit(controls: SpendingControls, period: str, requested: int | None, now: datetime.datetime) -> None:
    _apply_due_raise(controls, period, now)
    current = getattr(controls, f"{period}_limit")
    if requested == current:
        return
    if _limit_order(requested) < _limit_order(current):
        setattr(controls, f"{period}_limit", requested)
        _clear_pending(controls, period)
        return
    pending = pending_raise(controls, period, now)
    keeps_due_time = pending is not None and _limit_order(requested) <= _limit_order(pending.limit)
    setattr(controls, f"{period}_limit_next", requested)
    due_at = pending.effective_at if pending is not None and keeps_due_time else now + RAISE_DELAY
    setattr(controls, f"{period}_limit_next_at", due_at)
