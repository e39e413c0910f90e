"""The ledger under real concurrency: PostgreSQL, real threads, one connection each."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import OperationalError, connection, transaction

from coinsite.accounts.tests.factories import make_user
from wallet.audit import ledger_audit_run
from wallet.ledger import (
    InsufficientFunds,
    account_for_user,
    ledger_balance,
    ledger_credit,
    ledger_debit,
    ledger_move,
    ledger_post,
    ledger_rollup,
    system_account,
)
from wallet.models import Asset, LedgerAccount, LedgerEntry, LedgerTransaction, SystemAccount
from wallet.tests.support import entries_sum, fund, gift_lines

pytestmark = pytest.mark.django_db(transaction=True)

COIN, DIAMOND = Asset.COIN, Asset.DIAMOND
THREADS = 20


def run_in_threads(jobs: list, *, threads: int = THREADS) -> list:
    """Run each zero-argument job on a pool of real threads, all released at once; returns results in order.

    A job's exception is returned as its result rather than raised, so a test can count outcomes.
    """
    start = threading.Barrier(min(threads, len(jobs)))

    def run(job):
        try:
            return job()
        except Exception as error:
            return error
        finally:
            connection.close()

    def first_run_waits(job):
        def wrapped():
            if not getattr(local, "started", False):
                local.started = True
                start.wait(timeout=30)
            return job()

        return wrapped

    local = threading.local()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(run, [first_run_waits(job) for job in jobs]))


def outcomes(results: list) -> Counter:
    return Counter(type(result).__name__ for result in results)


def viewer_wallet(number: int) -> LedgerAccount:
    return account_for_user(make_user(email=f"viewer{number}@example.com", password=None), COIN)


def test_parallel_one_coin_debits_never_overdraw():
    # Given a wallet holding 50 coins
    wallet = viewer_wallet(1)
    fund(wallet, 50, "topup:1")
    consumed = system_account(SystemAccount.COINS_CONSUMED)

    # When 20 threads try 100 one-coin debits between them
    jobs = [
        (lambda n=n: ledger_debit(account=wallet, asset=COIN, amount=1, idempotency_key=f"spend:{n}", kind="gift"))
        for n in range(100)
    ]
    results = run_in_threads(jobs)

    # Then exactly 50 succeed, the wallet is empty, and nothing was minted or lost
    assert outcomes(results) == {"LedgerTransaction": 50, "InsufficientFunds": 50}
    assert all(error.shortfall == 1 for error in results if isinstance(error, InsufficientFunds))
    assert ledger_balance(wallet) == 0
    assert entries_sum(wallet) == 0
    assert ledger_balance(consumed) == 50
    assert LedgerTransaction.objects.filter(kind="gift").count() == 50
    assert ledger_audit_run().ok


def test_concurrent_credits_and_debits_conserve_the_total():
    wallet = viewer_wallet(1)
    fund(wallet, 100, "topup:0")
    credit_jobs = [
        (
            lambda n=n: ledger_credit(
                account=wallet, asset=COIN, amount=3, idempotency_key=f"topup:{n + 1}", kind="topup"
            )
        )
        for n in range(60)
    ]
    debit_jobs = [
        (lambda n=n: ledger_debit(account=wallet, asset=COIN, amount=5, idempotency_key=f"spend:{n}", kind="gift"))
        for n in range(60)
    ]
    interleaved = [job for pair in zip(credit_jobs, debit_jobs, strict=True) for job in pair]

    results = run_in_threads(interleaved)

    counted = outcomes(results)
    successful_debits = sum(1 for result in results[1::2] if not isinstance(result, Exception))
    assert set(counted) <= {"LedgerTransaction", "InsufficientFunds"}
    assert all(not isinstance(result, Exception) for result in results[0::2])
    assert ledger_balance(wallet) == 100 + 60 * 3 - successful_debits * 5
    assert ledger_balance(wallet) == entries_sum(wallet)
    assert ledger_balance(system_account(SystemAccount.COINS_ISSUED)) == -(100 + 60 * 3)
    assert ledger_balance(system_account(SystemAccount.COINS_CONSUMED)) == successful_debits * 5
    assert sum(LedgerEntry.objects.filter(asset=COIN).values_list("amount", flat=True)) == 0
    assert ledger_audit_run().ok


def test_the_same_key_from_many_threads_posts_once():
    wallet = viewer_wallet(1)

    results = run_in_threads(
        [
            lambda: ledger_credit(
                account=wallet, asset=COIN, amount=70, idempotency_key="topup:webhook-1", kind="topup"
            )
            for _ in range(THREADS)
        ]
    )

    assert {result.pk for result in results} == {LedgerTransaction.objects.get().pk}
    assert LedgerEntry.objects.count() == 2
    assert ledger_balance(wallet) == 70
    assert ledger_audit_run().ok


def test_opposite_moves_between_two_wallets_do_not_deadlock():
    # Every posting locks accounts in primary-key order, so A->B and B->A never wait on each other in a cycle.
    first, second = viewer_wallet(1), viewer_wallet(2)
    fund(first, 500, "topup:1")
    fund(second, 500, "topup:2")

    def move(n, source, destination):
        return ledger_move(
            source=source, destination=destination, asset=COIN, amount=7, idempotency_key=f"move:{n}", kind="correction"
        )

    results = run_in_threads(
        [(lambda n=n: move(n, first, second) if n % 2 else move(n, second, first)) for n in range(100)]
    )

    assert outcomes(results) == {"LedgerTransaction": 100}
    assert ledger_balance(first) + ledger_balance(second) == 1000
    assert ledger_balance(first) == 500
    assert ledger_audit_run().ok


def test_many_viewers_gifting_one_creator_while_rolling_up():
    creator = make_user(email="star@example.com", password=None, is_creator=True)
    creator_diamonds = account_for_user(creator, DIAMOND)
    viewers = [viewer_wallet(number) for number in range(10)]
    for number, wallet in enumerate(viewers):
        fund(wallet, 100, f"topup:{number}")
    rolling = threading.Event()

    def gift(n):
        wallet = viewers[n % len(viewers)]
        with transaction.atomic(durable=True):
            return ledger_post(
                idempotency_key=f"gift:{n}",
                kind="gift",
                lines=gift_lines(viewer_coins=wallet, creator_diamonds=creator_diamonds, amount=3),
            )

    def keep_rolling_up():
        rounds = 0
        while not rolling.is_set() or rounds < 3:
            ledger_rollup(account=creator_diamonds)
            ledger_rollup(account=system_account(SystemAccount.COINS_CONSUMED))
            rounds += 1
        return rounds

    def gifts_then_stop(ns):
        def job():
            try:
                return [gift(n) for n in ns]
            finally:
                if ns[-1] == 199:
                    rolling.set()

        return job

    jobs = [gifts_then_stop(range(start, start + 20)) for start in range(0, 200, 20)] + [keep_rolling_up]
    results = run_in_threads(jobs, threads=len(jobs))

    assert all(not isinstance(result, Exception) for result in results), results
    assert ledger_balance(creator_diamonds) == 200 * 3
    assert entries_sum(creator_diamonds) == 600
    assert sum(ledger_balance(wallet) for wallet in viewers) == 1000 - 600
    assert ledger_balance(system_account(SystemAccount.COINS_CONSUMED)) == 600
    assert ledger_audit_run().ok
    ledger_rollup(account=creator_diamonds)
    creator_diamonds.refresh_from_db()
    assert creator_diamonds.balance == 600


def test_crediting_a_creator_does_not_wait_for_a_lock_on_the_creator_row():
    creator = make_user(email="star@example.com", password=None, is_creator=True)
    creator_diamonds = account_for_user(creator, DIAMOND)
    system_account(SystemAccount.DIAMONDS_ISSUED)
    row_locked, finished = threading.Event(), threading.Event()

    def hold_row_lock():
        # What a payout (a debit) holds on the creator row while it runs.
        with transaction.atomic():
            LedgerAccount.objects.select_for_update(no_key=True).get(pk=creator_diamonds.pk)
            row_locked.set()
            finished.wait(timeout=60)
        return "released"

    def credit_then_try_debit():
        assert row_locked.wait(timeout=60)
        try:
            with connection.cursor() as cursor:
                # Fail rather than wait if the credit needed the creator row.
                cursor.execute("SET lock_timeout = '5s'")
            credited = ledger_credit(
                account=creator_diamonds, asset=DIAMOND, amount=10, idempotency_key="gift:1", kind="gift"
            )
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '100ms'")
            try:
                # Control: a debit does need the row, so it cannot get past the held lock.
                ledger_debit(
                    account=creator_diamonds, asset=DIAMOND, amount=1, idempotency_key="payout:1", kind="payout"
                )
            except OperationalError as error:
                return credited, error
            return credited, None
        finally:
            finished.set()

    lock_result, (credited, debit_error) = run_in_threads([hold_row_lock, credit_then_try_debit], threads=2)

    assert lock_result == "released"
    assert isinstance(credited, LedgerTransaction)
    assert isinstance(debit_error, OperationalError)
    assert "lock timeout" in str(debit_error)
    assert ledger_balance(creator_diamonds) == 10
    assert LedgerEntry.objects.filter(account=creator_diamonds).count() == 1
    creator_diamonds.refresh_from_db()
    assert creator_diamonds.balance == 0  # the credit is its entry; the row was never written
    assert ledger_audit_run().ok


# --- The roll-up's fence: entries commit out of order -----------------------------------------------


def two_viewers_and_a_creator() -> tuple[LedgerAccount, LedgerAccount, LedgerAccount]:
    """Funded wallets, and the system accounts a gift uses created up front (the tables start empty here)."""
    system_account(SystemAccount.COINS_CONSUMED)
    system_account(SystemAccount.DIAMONDS_ISSUED)
    creator_diamonds = account_for_user(make_user(email="star@example.com", is_creator=True), DIAMOND)
    early_viewer, late_viewer = viewer_wallet(1), viewer_wallet(2)
    fund(early_viewer, 100, "topup:1")
    fund(late_viewer, 100, "topup:2")
    return early_viewer, late_viewer, creator_diamonds


def gift_held_open(wallet, creator_diamonds, *, amount, posted, release):
    """A gift whose transaction stays open (its entries drawn, not committed) until `release` is set."""

    def job():
        with transaction.atomic(durable=True):
            posted_transaction = ledger_post(
                idempotency_key="gift:early",
                kind="gift",
                lines=gift_lines(viewer_coins=wallet, creator_diamonds=creator_diamonds, amount=amount),
            )
            posted.set()
            assert release.wait(timeout=60)
        return posted_transaction

    return job


def test_a_roll_up_never_folds_past_an_entry_still_being_written(monkeypatch):
    """Gift A draws the lower entry ids, gift B commits first with higher ones, and a roll-up that cannot wait
    for A runs in between: it must not fold B (its mark would pass A's entries, which would then be
    counted nowhere). After A commits, every balance still matches the entries."""
    monkeypatch.setattr("wallet.ledger.FENCE_WAIT_SECONDS", 0.05)
    early_viewer, late_viewer, creator_diamonds = two_viewers_and_a_creator()
    posted, release = threading.Event(), threading.Event()

    def later_gift_then_roll_up():
        assert posted.wait(timeout=60)
        try:
            later = ledger_post(
                idempotency_key="gift:later",
                kind="gift",
                lines=gift_lines(viewer_coins=late_viewer, creator_diamonds=creator_diamonds, amount=7),
                durable=True,
            )
            folded = ledger_rollup(account=creator_diamonds)
            return later, folded, ledger_balance(creator_diamonds)
        finally:
            release.set()

    early_job = gift_held_open(early_viewer, creator_diamonds, amount=5, posted=posted, release=release)
    early, (later, folded_meanwhile, seen_meanwhile) = run_in_threads([early_job, later_gift_then_roll_up], threads=2)

    assert min(early.entries.values_list("id", flat=True)) < min(later.entries.values_list("id", flat=True))
    assert folded_meanwhile == 0  # nothing folded past the open gift
    assert seen_meanwhile == 7
    assert ledger_balance(creator_diamonds) == 12
    assert ledger_audit_run().ok
    assert ledger_rollup(account=creator_diamonds) == 12
    assert ledger_audit_run().ok


def test_a_roll_up_waits_for_the_entries_in_flight_then_folds_them_all():
    early_viewer, late_viewer, creator_diamonds = two_viewers_and_a_creator()
    posted, release = threading.Event(), threading.Event()

    def later_gift_then_roll_up():
        assert posted.wait(timeout=60)
        ledger_post(
            idempotency_key="gift:later",
            kind="gift",
            lines=gift_lines(viewer_coins=late_viewer, creator_diamonds=creator_diamonds, amount=7),
            durable=True,
        )
        threading.Timer(0.3, release.set).start()  # A commits while the roll-up waits for it
        return ledger_rollup(account=creator_diamonds)

    early_job = gift_held_open(early_viewer, creator_diamonds, amount=5, posted=posted, release=release)
    early, folded = run_in_threads([early_job, later_gift_then_roll_up], threads=2)

    assert isinstance(early, LedgerTransaction), early
    assert folded == 12
    creator_diamonds.refresh_from_db()
    assert creator_diamonds.balance == 12
    assert creator_diamonds.rolled_up_through == LedgerEntry.objects.latest("id").pk
    assert ledger_audit_run().ok
