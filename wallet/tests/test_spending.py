"""Spending controls: budgets, delayed raises, self-exclusion, and the budget check under concurrency."""

import datetime
import threading
import uuid
from contextlib import contextmanager
from unittest import mock

import pytest
from django.db import connection, transaction
from django.forms.models import model_to_dict

from coinsite.accounts.tests.factories import make_user
from wallet.ledger import InsufficientFunds, account_for_user, ledger_credit, ledger_debit
from wallet.ledger_kinds import spending_kinds
from wallet.models import Asset, LedgerEntry, SpendingControls
from wallet.selectors import PendingRaise, coins_spent, effective_limits, spending_summary
from wallet.spending import (
    MAX_LIMIT,
    InvalidSpendingRequest,
    SpendingBlocked,
    self_exclusion_start,
    spending_check,
    spending_controls_for,
    spending_limits_set,
    spending_raises_cancel,
)

COIN = Asset.COIN
UTC = datetime.UTC
NOW = datetime.datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)


# --- Helpers ------------------------------------------------------------------------------------


@contextmanager
def clock(moment: datetime.datetime):
    """Every `timezone.now()` returns `moment`: ledger postings get that timestamp."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def fund(user, coins: int, *, at: datetime.datetime = NOW - 30 * DAY) -> None:
    with clock(at):
        ledger_credit(
            account=account_for_user(user, COIN),
            asset=COIN,
            amount=coins,
            idempotency_key=f"test-topup:{uuid.uuid4()}",
            kind="topup",
        )


def gift(user, coins: int, *, at: datetime.datetime = NOW, kind: str = "gift", durable: bool = True) -> None:
    """A stand-in for the gift service's debit (the gift service itself is not built yet)."""
    with clock(at):
        ledger_debit(
            account=account_for_user(user, COIN),
            asset=COIN,
            amount=coins,
            idempotency_key=f"test-{kind}:{uuid.uuid4()}",
            kind=kind,
            durable=durable,
        )


def check(user, coins: int, *, now: datetime.datetime = NOW) -> None:
    with transaction.atomic():
        spending_check(user=user, coins=coins, kinds=spending_kinds(), now=now)


def controls_row(user) -> dict:
    return model_to_dict(SpendingControls.objects.get(user=user), exclude=["updated_at"])


@pytest.fixture
def funded_alice(alice):
    fund(alice, 100_000)
    return alice


# --- Budgets block spending beyond them ---------------------------------------------------------


@pytest.mark.django_db
def test_without_controls_nothing_is_limited_and_no_row_is_created(funded_alice):
    gift(funded_alice, 50_000)

    check(funded_alice, 50_000)

    assert not SpendingControls.objects.filter(user=funded_alice).exists()
    assert spending_summary(funded_alice, kinds=spending_kinds(), now=NOW).remaining is None


@pytest.mark.django_db
def test_daily_budget_blocks_spending_beyond_it(funded_alice):
    spending_limits_set(user=funded_alice, daily_limit=100, monthly_limit=None, now=NOW - 2 * HOUR)
    gift(funded_alice, 60, at=NOW - HOUR)

    check(funded_alice, 40)
    with pytest.raises(SpendingBlocked) as blocked:
        check(funded_alice, 41)

    assert blocked.value.reason == "daily"
    assert str(blocked.value) == (
        "This would take you past your daily budget of 100 coins. You have 40 coins left until "
        "Nov 16, 2026, 12:00\u202fAM (UTC)."
    )


@pytest.mark.django_db
def test_daily_budget_counts_the_utc_day_only(funded_alice):
    spending_limits_set(user=funded_alice, daily_limit=100, monthly_limit=None, now=NOW - 2 * DAY)
    gift(funded_alice, 100, at=datetime.datetime(2026, 11, 14, 23, 59, 59, tzinfo=UTC))

    with pytest.raises(SpendingBlocked):
        check(funded_alice, 1, now=datetime.datetime(2026, 11, 14, 23, 59, 59, 500_000, tzinfo=UTC))
    check(funded_alice, 100, now=datetime.datetime(2026, 11, 15, 0, 0, tzinfo=UTC))


@pytest.mark.django_db
def test_monthly_budget_counts_the_calendar_month(funded_alice):
    spending_limits_set(user=funded_alice, daily_limit=None, monthly_limit=500, now=NOW - 30 * DAY)
    gift(funded_alice, 1_000, at=datetime.datetime(2026, 10, 31, 23, 59, tzinfo=UTC))  # last month
    gift(funded_alice, 300, at=datetime.datetime(2026, 11, 1, 0, 0, tzinfo=UTC))
    gift(funded_alice, 150, at=NOW - 5 * DAY)

    check(funded_alice, 50)
    with pytest.raises(SpendingBlocked) as blocked:
        check(funded_alice, 51)
    check(funded_alice, 500, now=datetime.datetime(2026, 12, 1, 0, 0, tzinfo=UTC))

    assert blocked.value.reason == "monthly"
    assert "50 coins left until Dec 1, 2026, 12:00\u202fAM (UTC)" in str(blocked.value)


@pytest.mark.django_db
def test_only_gifts_from_the_users_own_wallet_count_as_spending(funded_alice, bob):
    fund(bob, 1_000)
    gift(bob, 900)  # someone else's spending
    gift(funded_alice, 70, kind="adjustment")  # a staff correction is not spending
    gift(funded_alice, 30)
    ledger_credit(
        account=account_for_user(funded_alice, COIN), asset=COIN, amount=10, idempotency_key="refund-1", kind="refund"
    )  # a refund does not give budget back

    assert frozenset({"gift"}) == spending_kinds()  # registered by the gifting app
    spent = coins_spent(user=funded_alice, kinds=spending_kinds(), now=NOW)
    assert (spent.today, spent.this_month) == (30, 30)


@pytest.mark.django_db
def test_a_gift_the_budget_allows_still_cannot_overdraw_the_wallet(alice):
    fund(alice, 20)
    spending_limits_set(user=alice, daily_limit=100, monthly_limit=None, now=NOW - HOUR)

    check(alice, 50)
    with pytest.raises(InsufficientFunds):
        gift(alice, 50)


# --- Changing budgets ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_setting_a_budget_where_there_was_none_applies_at_once(alice):
    controls = spending_limits_set(user=alice, daily_limit=200, monthly_limit=3_000, now=NOW)

    assert effective_limits(controls, NOW) == (200, 3_000)
    assert controls_row(alice) == {
        "user": alice.pk,
        "daily_limit": 200,
        "monthly_limit": 3_000,
        "daily_limit_next": None,
        "daily_limit_next_at": None,
        "monthly_limit_next": None,
        "monthly_limit_next_at": None,
        "excluded_until": None,
    }


@pytest.mark.django_db
def test_lowering_applies_at_once_and_cancels_a_pending_raise(alice):
    spending_limits_set(user=alice, daily_limit=100, monthly_limit=1_000, now=NOW - 2 * HOUR)
    spending_limits_set(user=alice, daily_limit=500, monthly_limit=1_000, now=NOW - HOUR)

    controls = spending_limits_set(user=alice, daily_limit=50, monthly_limit=800, now=NOW)

    assert effective_limits(controls, NOW) == (50, 800)
    assert effective_limits(controls, NOW + 2 * DAY) == (50, 800)
    row = controls_row(alice)
    assert (row["daily_limit"], row["daily_limit_next"], row["daily_limit_next_at"]) == (50, None, None)


@pytest.mark.django_db
def test_raising_applies_only_after_24_hours(funded_alice):
    spending_limits_set(user=funded_alice, daily_limit=100, monthly_limit=None, now=NOW - HOUR)

    controls = spending_limits_set(user=funded_alice, daily_limit=500, monthly_limit=None, now=NOW)

    assert effective_limits(controls, NOW + 24 * HOUR - datetime.timedelta(seconds=1)) == (100, None)
    assert effective_limits(controls, NOW + 24 * HOUR) == (500, None)
    assert controls.daily_limit_next_at == NOW + 24 * HOUR
    with pytest.raises(SpendingBlocked):
        check(funded_alice, 101, now=NOW + 23 * HOUR)
    check(funded_alice, 500, now=NOW + 24 * HOUR)
    summary = spending_summary(funded_alice, kinds=spending_kinds(), now=NOW + HOUR)
    assert summary.daily_limit == 100
    assert summary.daily_pending == PendingRaise(limit=500, effective_at=NOW + 24 * HOUR)


@pytest.mark.django_db
def test_removing_a_budget_waits_24_hours(funded_alice):
    spending_limits_set(user=funded_alice, daily_limit=100, monthly_limit=1_000, now=NOW - HOUR)

    controls = spending_limits_set(user=funded_alice, daily_limit=None, monthly_limit=None, now=NOW)

    assert effective_limits(controls, NOW + 23 * HOUR) == (100, 1_000)
    assert effective_limits(controls, NOW + 24 * HOUR) == (None, None)
    with pytest.raises(SpendingBlocked):
        check(funded_alice, 101, now=NOW + 23 * HOUR)
    check(funded_alice, 90_000, now=NOW + 24 * HOUR)
    assert spending_summary(funded_alice, kinds=spending_kinds(), now=NOW).monthly_pending == PendingRaise(
        limit=None, effective_at=NOW + 24 * HOUR
    )


@pytest.mark.django_db
def test_resubmitting_or_trimming_a_raise_never_restarts_or_shortens_the_wait(alice):
    spending_limits_set(user=alice, daily_limit=100, monthly_limit=None, now=NOW - HOUR)
    spending_limits_set(user=alice, daily_limit=500, monthly_limit=None, now=NOW)

    same = spending_limits_set(user=alice, daily_limit=500, monthly_limit=None, now=NOW + 10 * HOUR)
    assert (same.daily_limit_next, same.daily_limit_next_at) == (500, NOW + 24 * HOUR)
    unchanged = spending_limits_set(user=alice, daily_limit=100, monthly_limit=None, now=NOW + 11 * HOUR)
    assert (unchanged.daily_limit_next, unchanged.daily_limit_next_at) == (500, NOW + 24 * HOUR)
    smaller = spending_limits_set(user=alice, daily_limit=300, monthly_limit=None, now=NOW + 12 * HOUR)
    assert (smaller.daily_limit_next, smaller.daily_limit_next_at) == (300, NOW + 24 * HOUR)
    bigger = spending_limits_set(user=alice, daily_limit=800, monthly_limit=None, now=NOW + 13 * HOUR)
    assert (bigger.daily_limit_next, bigger.daily_limit_next_at) == (800, NOW + 37 * HOUR)


@pytest.mark.django_db
def test_a_due_raise_is_applied_before_the_next_change(alice):
    spending_limits_set(user=alice, daily_limit=100, monthly_limit=None, now=NOW - HOUR)
    spending_limits_set(user=alice, daily_limit=500, monthly_limit=None, now=NOW)

    controls = spending_limits_set(user=alice, daily_limit=400, monthly_limit=None, now=NOW + 25 * HOUR)

    assert (controls.daily_limit, controls.daily_limit_next, controls.daily_limit_next_at) == (400, None, None)


@pytest.mark.django_db
def test_pending_raises_can_be_cancelled_keeping_the_current_budgets(alice):
    spending_limits_set(user=alice, daily_limit=100, monthly_limit=1_000, now=NOW - HOUR)
    spending_limits_set(user=alice, daily_limit=None, monthly_limit=2_000, now=NOW)

    controls = spending_raises_cancel(user=alice, now=NOW + HOUR)

    assert effective_limits(controls, NOW + 3 * DAY) == (100, 1_000)
    assert spending_summary(alice, kinds=spending_kinds(), now=NOW + HOUR).has_pending_raise is False


@pytest.mark.django_db
def test_summary_reports_spending_budgets_and_what_is_left(funded_alice):
    spending_limits_set(user=funded_alice, daily_limit=100, monthly_limit=1_000, now=NOW - 3 * DAY)
    gift(funded_alice, 400, at=NOW - 2 * DAY)
    gift(funded_alice, 30, at=NOW - HOUR)

    summary = spending_summary(funded_alice, kinds=spending_kinds(), now=NOW)

    assert (summary.spent_today, summary.spent_this_month) == (30, 430)
    assert (summary.remaining_today, summary.remaining_this_month, summary.remaining) == (70, 570, 70)
    assert summary.day_resets_at == datetime.datetime(2026, 11, 16, tzinfo=UTC)
    assert summary.month_resets_at == datetime.datetime(2026, 12, 1, tzinfo=UTC)
    assert (summary.excluded_until, summary.daily_pending, summary.monthly_pending) == (None, None, None)


# --- Self-exclusion -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("period", "length"), [("24h", 24 * HOUR), ("7d", 7 * DAY), ("30d", 30 * DAY)])
def test_self_exclusion_blocks_all_spending_for_the_period(funded_alice, period, length):
    controls = self_exclusion_start(user=funded_alice, period=period, now=NOW)

    assert controls.excluded_until == NOW + length
    with pytest.raises(SpendingBlocked) as blocked:
        check(funded_alice, 1, now=NOW + length - datetime.timedelta(seconds=1))
    check(funded_alice, 1, now=NOW + length)
    assert blocked.value.reason == "excluded"
    assert "cannot be lifted early" in str(blocked.value)
    assert spending_summary(funded_alice, kinds=spending_kinds(), now=NOW).remaining == 0


@pytest.mark.django_db
def test_self_exclusion_cannot_be_shortened_only_extended(alice):
    self_exclusion_start(user=alice, period="30d", now=NOW)

    shorter = self_exclusion_start(user=alice, period="24h", now=NOW + HOUR)
    assert shorter.excluded_until == NOW + 30 * DAY
    longer = self_exclusion_start(user=alice, period="7d", now=NOW + 25 * DAY)
    assert longer.excluded_until == NOW + 32 * DAY
    assert controls_row(alice)["excluded_until"] == NOW + 32 * DAY


@pytest.mark.django_db
def test_lowering_budgets_is_allowed_during_a_pause_and_keeps_it(alice):
    self_exclusion_start(user=alice, period="7d", now=NOW)

    spending_limits_set(user=alice, daily_limit=10, monthly_limit=None, now=NOW + HOUR)

    assert controls_row(alice)["excluded_until"] == NOW + 7 * DAY


# --- Bad input changes nothing ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("daily", "monthly", "message"),
    [
        (0, None, "Daily budget must be at least 1 coin"),
        (-5, None, "Daily budget must be at least 1 coin"),
        (None, "100", "Monthly budget must be a whole number of coins"),
        (1.5, None, "Daily budget must be a whole number of coins"),
        (True, None, "Daily budget must be a whole number of coins"),
        (None, MAX_LIMIT + 1, "Monthly budget can be at most"),
        (500, 100, "Your daily budget cannot be higher than your monthly budget."),
    ],
)
def test_bad_budgets_are_rejected_and_change_nothing(alice, daily, monthly, message):
    spending_limits_set(user=alice, daily_limit=100, monthly_limit=1_000, now=NOW - HOUR)
    spending_limits_set(user=alice, daily_limit=200, monthly_limit=1_000, now=NOW - HOUR)
    before = controls_row(alice)

    with pytest.raises(InvalidSpendingRequest, match=message):
        spending_limits_set(user=alice, daily_limit=daily, monthly_limit=monthly, now=NOW)

    assert controls_row(alice) == before


@pytest.mark.django_db
@pytest.mark.parametrize("period", ["1y", "", "24H", None, 7])
def test_bad_pause_period_is_rejected_and_changes_nothing(alice, period):
    self_exclusion_start(user=alice, period="24h", now=NOW)
    before = controls_row(alice)

    with pytest.raises(InvalidSpendingRequest, match=r"Choose how long to pause for: 24 hours, 7 days, 30 days\."):
        self_exclusion_start(user=alice, period=period, now=NOW + HOUR)

    assert controls_row(alice) == before


@pytest.mark.django_db
def test_bad_pause_period_creates_no_controls_row(alice):
    with pytest.raises(InvalidSpendingRequest):
        self_exclusion_start(user=alice, period="forever", now=NOW)

    assert not SpendingControls.objects.filter(user=alice).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("coins", [0, -1, "5", 2.0, True, None])
def test_spending_check_rejects_amounts_that_are_not_positive_whole_coins(alice, coins):
    with pytest.raises(InvalidSpendingRequest):
        check(alice, coins)


@pytest.mark.django_db
def test_controls_row_is_created_once(alice):
    first = spending_controls_for(alice)
    second = spending_controls_for(alice)

    assert first.pk == second.pk == alice.pk
    assert SpendingControls.objects.filter(user=alice).count() == 1


# --- Concurrency --------------------------------------------------------------------------------


def run_together(jobs: list) -> list:
    """Run each job on its own thread and connection, released at once; exceptions are returned."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def run(index, job):
        try:
            barrier.wait(timeout=30)
            results[index] = job()
        except Exception as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, job)) for index, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_gifts_by_one_viewer_never_exceed_the_budget():
    viewer = make_user(email="whale@example.com", password=None)
    fund(viewer, 10_000)
    spending_limits_set(user=viewer, daily_limit=100, monthly_limit=None, now=NOW - DAY)
    wallet = account_for_user(viewer, COIN)

    def gift_job(coins):
        def job():
            with transaction.atomic(durable=True):
                spending_check(user=viewer, coins=coins, kinds=spending_kinds(), now=NOW)
                ledger_debit(
                    account=wallet,
                    asset=COIN,
                    amount=coins,
                    idempotency_key=f"gift:{uuid.uuid4()}",
                    kind="gift",
                    durable=False,
                )
            return "sent"

        return job

    with clock(NOW):
        results = run_together([gift_job(10) for _ in range(16)] + [gift_job(7) for _ in range(4)])

    sent = [result for result in results if result == "sent"]
    blocked = [result for result in results if isinstance(result, SpendingBlocked)]
    assert len(sent) + len(blocked) == 20, results
    spent = -sum(LedgerEntry.objects.filter(account=wallet, amount__lt=0).values_list("amount", flat=True))
    assert spent == coins_spent(user=viewer, kinds=spending_kinds(), now=NOW).today
    assert 90 < spent <= 100  # filled until no remaining gift fits, never past the budget
    wallet.refresh_from_db()
    assert wallet.balance == 10_000 - spent


@pytest.mark.django_db(transaction=True)
def test_spending_check_refuses_to_run_outside_a_transaction():
    viewer = make_user(email="viewer@example.com", password=None)

    with pytest.raises(RuntimeError, match="inside the spending transaction"):
        spending_check(user=viewer, coins=1, kinds=spending_kinds(), now=NOW)
