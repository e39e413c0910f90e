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
