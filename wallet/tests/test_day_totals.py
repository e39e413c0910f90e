"""Day totals: a user account's entries summed per UTC day and transaction kind by the roll-up, so a statement reads a
balance at a month's start and a month's moves without summing every entry a busy creator ever had."""

import datetime
import itertools
import threading

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone

from coinsite.lib.dates import current_month, month_start, next_month, previous_month
from wallet.audit import ledger_audit_run
from wallet.ledger import (
    account_balance_at,
    account_for_user,
    ledger_post,
    ledger_rollup_pending,
    system_account,
    user_balance_on,
    user_moves_by_kind,
)
from wallet.ledger_kinds import spending_kinds
from wallet.models import Asset, LedgerAccount, LedgerDayTotal, LedgerEntry, LedgerRollupMark, SystemAccount
from wallet.selectors import coins_spent
from wallet.tests.support import analyze, gift_lines, rows_read

COIN, DIAMOND = Asset.COIN, Asset.DIAMOND
THIS_MONTH = current_month()
LAST_MONTH = previous_month(THIS_MONTH)
KINDS = spending_kinds()


def at(month: datetime.date, day: int, hour: int = 12) -> datetime.datetime:
    return datetime.datetime(month.year, month.month, day, hour, tzinfo=datetime.UTC)


def topup(user, coins: int, key: str, posted_at: datetime.datetime) -> None:
    ledger_post(
        idempotency_key=key,
        kind="topup",
        posted_at=posted_at,
        lines=[(system_account(SystemAccount.COINS_ISSUED), COIN, -coins), (account_for_user(user, COIN), COIN, coins)],
    )


def gift(viewer, creator, coins: int, key: str, posted_at: datetime.datetime) -> None:
    lines = gift_lines(
        viewer_coins=account_for_user(viewer, COIN), creator_diamonds=account_for_user(creator, DIAMOND), amount=coins
    )
    ledger_post(idempotency_key=key, kind="gift", posted_at=posted_at, lines=lines)


def payout(creator, diamonds: int, key: str, posted_at: datetime.datetime) -> None:
    clearing = system_account(SystemAccount.DIAMONDS_CLEARING)
    lines = [(account_for_user(creator, DIAMOND), DIAMOND, -diamonds), (clearing, DIAMOND, diamonds)]
    ledger_post(idempotency_key=key, kind="payout.request", posted_at=posted_at, lines=lines)


def naive_moves(user, asset: str, first_day: datetime.date, end_day: datetime.date) -> dict[str, int]:
    """Every entry summed, as statements read them before day totals."""
    moves: dict[str, int] = {}
    start, end = (datetime.datetime.combine(day, datetime.time.min, datetime.UTC) for day in (first_day, end_day))
    entries = LedgerEntry.objects.filter(
        account__user=user, account__asset=asset, created_at__gte=start, created_at__lt=end
    ).values_list("transaction__kind", "amount")
    for kind, amount in entries:
        moves[kind] = moves.get(kind, 0) + amount
    return {kind: total for kind, total in moves.items() if total}


def naive_balance(user, asset: str, day: datetime.date) -> int:
    return sum(naive_moves(user, asset, datetime.date.min, day).values())


BOUNDARIES = [LAST_MONTH, LAST_MONTH + datetime.timedelta(days=9), LAST_MONTH + datetime.timedelta(days=10)]
BOUNDARIES += [THIS_MONTH, next_month(THIS_MONTH)]


def reads(alice, bob) -> list:
    """What statements read, at every boundary the postings straddle."""
    return [
        (user_balance_on(user, asset, day), user_moves_by_kind(user, asset, first_day=day, end_day=end))
        for user, asset in ((alice, COIN), (bob, DIAMOND))
        for day, end in itertools.pairwise(BOUNDARIES)
    ]


def naive_reads(alice, bob) -> list:
    return [
        (naive_balance(user, asset, day), naive_moves(user, asset, day, end))
        for user, asset in ((alice, COIN), (bob, DIAMOND))
        for day, end in itertools.pairwise(BOUNDARIES)
    ]


@pytest.fixture
def history(alice, bob):
    """Alice recharges on the 1st of last month and gives Bob gifts on the 10th (two, one just before midnight) and
    this month; Bob asks for a payout on the 10th."""
    topup(alice, 1_000, "topup:1", at(LAST_MONTH, 1))
    gift(alice, bob, 100, "gift:1", at(LAST_MONTH, 10, 0))
    gift(alice, bob, 30, "gift:2", at(LAST_MONTH, 10, 23))
    payout(bob, 60, "payout:1", at(LAST_MONTH, 10, 18))
    gift(alice, bob, 5, "gift:3", timezone.now())


@pytest.mark.django_db
def test_statements_read_the_same_before_and_after_each_roll_up(alice, bob, history):
    expected = naive_reads(alice, bob)
    assert reads(alice, bob) == expected  # nothing rolled up: every entry is the tail
    assert expected[:2] == [(0, {"topup": 1_000}), (1_000, {"gift": -130})]  # Alice: last month's 1st-9th, 10th
    assert expected[5] == (0, {"gift": 130, "payout.request": -60})  # Bob on last month's 10th

    ledger_rollup_pending()
    assert LedgerDayTotal.objects.exists()
    assert reads(alice, bob) == expected

    # Posted after the roll-up: one dated today, one backdated into a day that already has a total
    gift(alice, bob, 7, "gift:4", timezone.now())
    gift(alice, bob, 11, "gift:5", at(LAST_MONTH, 10, 6))
    expected = naive_reads(alice, bob)
    assert reads(alice, bob) == expected  # the new entries are read as the tail, the rest from the totals
    assert expected[5][1] == {"gift": 141, "payout.request": -60}

    ledger_rollup_pending()
    assert reads(alice, bob) == expected
    assert ledger_audit_run().ok


@pytest.mark.django_db
def test_each_user_entry_is_in_one_day_total_once_however_often_the_roll_up_runs(alice, bob, history):
    for _ in range(3):
        ledger_rollup_pending()

    mark = LedgerRollupMark.objects.get()
    assert mark.day_totals_through == LedgerEntry.objects.latest("id").pk
    totals = {(total.account_id, total.day, total.kind): total.amount for total in LedgerDayTotal.objects.all()}
    bob_diamonds, alice_coins = account_for_user(bob, DIAMOND).pk, account_for_user(alice, COIN).pk
    today = timezone.now().date()
    assert totals == {
        (alice_coins, LAST_MONTH, "topup"): 1_000,
        (alice_coins, LAST_MONTH + datetime.timedelta(days=9), "gift"): -130,
        (alice_coins, today, "gift"): -5,
        (bob_diamonds, LAST_MONTH + datetime.timedelta(days=9), "gift"): 130,
        (bob_diamonds, LAST_MONTH + datetime.timedelta(days=9), "payout.request"): -60,
        (bob_diamonds, today, "gift"): 5,
    }  # system accounts have none: no statement reads them


@pytest.mark.django_db(transaction=True)
def test_roll_ups_running_at_once_add_each_entry_once(alice, bob, history):
    start = threading.Barrier(4)

    def roll_up() -> None:
        try:
            start.wait()
            ledger_rollup_pending()
        finally:
            connection.close()

    threads = [threading.Thread(target=roll_up) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(LedgerDayTotal.objects.values_list("amount", flat=True)) == 1_000 - 135 + 135 - 60
    assert reads(alice, bob) == naive_reads(alice, bob)
    assert ledger_audit_run().ok


# Gifts of 3 diamonds to one creator account, every minute of last month from its second day on.
_LAST_MONTH_GIFTS_SQL = """
WITH tx AS (
    INSERT INTO wallet_ledgertransaction (idempotency_key, kind, memo, metadata, created_at)
    SELECT 'bulk:' || n, 'gift', '', '{}'::jsonb, %(start)s + n * interval '1 minute'
      FROM generate_series(1, %(gifts)s) AS n
    RETURNING id, created_at
)
INSERT INTO wallet_ledgerentry (transaction_id, account_id, asset, amount, created_at)
SELECT id, %(creator)s, 'DIAMOND', 3, created_at FROM tx
UNION ALL
SELECT id, %(issued)s, 'DIAMOND', -3, created_at FROM tx
"""


def roll_up_everything() -> None:
    """The periodic roll-up, which must fold every entry so far, then the statistics autovacuum would keep after the
    bulk load (`analyze`). The roll-up's fence waits for other connections writing entries and gives up after a few
    seconds; then the tail stays long, the rows read would measure that instead of the day totals, and this names
    the writers that held it back."""
    ledger_rollup_pending()
    analyze("wallet_ledgerentry", "wallet_ledgertransaction")
    latest = LedgerEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    mark = LedgerRollupMark.objects.values_list("day_totals_through", flat=True).get(pk=1)
    if mark < latest:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT l.pid, a.state, a.xact_start, left(a.query, 200) FROM pg_locks l"
                " LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'relation'"
                " AND l.relation = 'wallet_ledgerentry'::regclass AND l.mode = 'RowExclusiveLock'"
                " AND l.pid IS DISTINCT FROM pg_backend_pid()"
            )
            writers = cursor.fetchall()
        pytest.fail(f"The roll-up stopped at entry {mark} of {latest}: other writers held it back: {writers}")


def bulk_gifts_last_month(creator, gifts: int = 20_000) -> None:
    """`gifts` gifts of 3 diamonds to `creator`, one a minute from the second day of last month, in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            _LAST_MONTH_GIFTS_SQL,
            {
                "gifts": gifts,
                "start": month_start(LAST_MONTH) + datetime.timedelta(days=1),
                "creator": account_for_user(creator, DIAMOND).pk,
                "issued": system_account(SystemAccount.DIAMONDS_ISSUED).pk,
            },
        )
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the ledger's deferred checks run now on the bulk rows,
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # and at commit again for what follows (every one is deferred)


@pytest.mark.django_db
def test_a_busy_creators_month_is_read_from_day_totals_not_from_every_entry(alice, bob, history):
    """Measured with `make bench`'s dashboard data (a creator with a million gifts over 120 days), before day
    totals: the statement's balances and moves summed every entry, 2.6 s for this month and 5.4 s for the last."""
    bulk_gifts_last_month(bob)
    roll_up_everything()
    gift(alice, bob, 9, "gift:after", timezone.now())  # the tail after the roll-up

    before = rows_read("wallet_ledgerentry")
    balance = user_balance_on(bob, DIAMOND, THIS_MONTH)
    moves = user_moves_by_kind(bob, DIAMOND, first_day=LAST_MONTH, end_day=THIS_MONTH)
    this_month = user_moves_by_kind(bob, DIAMOND, first_day=THIS_MONTH, end_day=next_month(THIS_MONTH))
    read = rows_read("wallet_ledgerentry") - before

    assert balance == 60_000 + 130 - 60
    assert {type(amount) for amount in (balance, *moves.values())} == {int}  # never Decimal, as SQL sums come
    assert moves == {"gift": 60_130, "payout.request": -60}
    assert this_month == {"gift": 5 + 9}
    assert read <= 3  # the one entry after the roll-up, once per read, of 20,000 more


def naive_spent(user, now: datetime.datetime) -> tuple[int, int]:
    """Every gift debit of the UTC day and month of `now`, summed, as budgets read them before day totals."""
    today = now.astimezone(datetime.UTC).date()
    month = naive_moves(user, COIN, today.replace(day=1), next_month(today.replace(day=1))).get("gift", 0)
    return -naive_moves(user, COIN, today, today + datetime.timedelta(days=1)).get("gift", 0), -month


def test_budgets_read_the_same_spending_before_and_after_each_roll_up(alice, bob, history):
    moments = [at(LAST_MONTH, 10, 0), at(LAST_MONTH, 10, 23), at(LAST_MONTH, 11), timezone.now()]

    def spent() -> list[tuple[int, int]]:
        return [
            (spent.today, spent.this_month) for spent in (coins_spent(user=alice, kinds=KINDS, now=m) for m in moments)
        ]

    expected = [(130, 130), (130, 130), (0, 130), (5, 5)]
    assert [naive_spent(alice, moment) for moment in moments] == expected
    assert spent() == expected  # nothing rolled up: all of it is the tail
    ledger_rollup_pending()
    assert spent() == expected  # all of it in day totals
    gift(alice, bob, 7, "gift:after", timezone.now())
    gift(alice, bob, 11, "gift:backdated", at(LAST_MONTH, 10, 12))  # into a day that has a total already
    expected = [(141, 141), (141, 141), (0, 141), (12, 12)]
    assert spent() == expected  # day totals plus the tail
    ledger_rollup_pending()
    assert spent() == expected
    assert [naive_spent(alice, moment) for moment in moments] == expected


# A viewer's gifts of 3 coins, spread over this month up to now.
_THIS_MONTH_DEBITS_SQL = """
WITH tx AS (
    INSERT INTO wallet_ledgertransaction (idempotency_key, kind, memo, metadata, created_at)
    SELECT 'bulk:' || n, 'gift', '', '{}'::jsonb, %(start)s + (%(now)s - %(start)s) * n / (%(gifts)s + 1)
      FROM generate_series(1, %(gifts)s) AS n
    RETURNING id, created_at
)
INSERT INTO wallet_ledgerentry (transaction_id, account_id, asset, amount, created_at)
SELECT id, %(viewer)s, 'COIN', -3, created_at FROM tx
UNION ALL
SELECT id, %(consumed)s, 'COIN', 3, created_at FROM tx
"""


def test_a_heavy_viewers_budget_reads_day_totals_not_every_gift_of_the_month(alice, bob):
    """A viewer with a budget has it checked on every gift; before day totals that summed every gift of the month."""
    now = timezone.now()
    topup(alice, 100_000, "topup:big", month_start(THIS_MONTH))
    viewer_coins = account_for_user(alice, COIN)
    with connection.cursor() as cursor:
        cursor.execute(
            _THIS_MONTH_DEBITS_SQL,
            {
                "gifts": 5_000,
                "start": month_start(THIS_MONTH),
                "now": now - datetime.timedelta(seconds=1),
                "viewer": viewer_coins.pk,
                "consumed": system_account(SystemAccount.COINS_CONSUMED).pk,
            },
        )
    LedgerAccount.objects.filter(pk=viewer_coins.pk).update(balance=F("balance") - 15_000)  # as the gifts would
    roll_up_everything()
    gift(alice, bob, 9, "gift:after", now)  # the tail after the roll-up

    before = rows_read("wallet_ledgerentry")
    spent = coins_spent(user=alice, kinds=KINDS, now=now)
    read = rows_read("wallet_ledgerentry") - before

    assert (spent.today, spent.this_month) == naive_spent(alice, now)
    assert spent.this_month == 15_000 + 9
    assert read <= 2  # the one entry after the roll-up, of 5,000 more
    assert ledger_audit_run().ok


def naive_balance_at(account, moment: datetime.datetime) -> int:
    return sum(LedgerEntry.objects.filter(account=account, created_at__lt=moment).values_list("amount", flat=True))


def test_a_balance_at_any_moment_is_the_same_before_and_after_each_roll_up(alice, bob, history):
    """The wallet history's CSV starts its running balance at the viewer's local midnight, rarely a UTC one."""
    accounts = [account_for_user(alice, COIN), account_for_user(bob, DIAMOND)]
    moments = [at(LAST_MONTH, 1, 9), at(LAST_MONTH, 10, 0), at(LAST_MONTH, 10, 15), at(LAST_MONTH, 10, 23)]
    moments += [at(LAST_MONTH, 11, 0), timezone.now() + datetime.timedelta(seconds=1)]

    def balances() -> list[int]:
        return [account_balance_at(account, moment) for account in accounts for moment in moments]

    expected = [naive_balance_at(account, moment) for account in accounts for moment in moments]
    assert expected == [0, 1_000, 900, 900, 870, 865, 0, 0, 100, 40, 70, 75]
    assert balances() == expected
    ledger_rollup_pending()
    assert balances() == expected
    with pytest.raises(ValueError, match="Only user accounts"):
        account_balance_at(system_account(SystemAccount.COINS_ISSUED), timezone.now())


def test_a_busy_creators_balance_at_a_moment_reads_that_days_entries_only(alice, bob, history):
    bulk_gifts_last_month(bob)
    roll_up_everything()
    moment = at(LAST_MONTH, 14, 1)  # 13 days (18,780 gifts) after the first bulk gift, an hour into the day

    before = rows_read("wallet_ledgerentry")
    balance = account_balance_at(account_for_user(bob, DIAMOND), moment)
    read = rows_read("wallet_ledgerentry") - before

    assert balance == naive_balance_at(account_for_user(bob, DIAMOND), moment)
    assert read <= 61  # the day's first hour of gifts, not the 18,780 before them
