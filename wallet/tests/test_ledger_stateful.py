"""A Hypothesis state machine drives the ledger service and checks every invariant after each step.

The model is a dict of expected balances. Each run starts from empty ledger and user tables: the test
commits for real, and each run truncates them first, so the audit after every step reads that run's
rows only and 2,000 runs cost 2,000 times one run. (Inside one test transaction, even runs rolled back to
a savepoint leave their rows in the tables until the transaction ends, and the audit of run n read the
rows of every run before it: `make test-deep` never finished.) The model tracks how far each system
account moved from where the run started.
"""

import itertools
import os
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule, run_state_machine_as_test

from coinsite.accounts.tests.factories import make_user
from wallet.audit import ledger_audit_run
from wallet.ledger import (
    MAX_AMOUNT,
    AssetMismatch,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
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
from wallet.tests.support import gift_lines, ledger_state

COIN, DIAMOND = Asset.COIN, Asset.DIAMOND
VIEWERS = 3
STARTING_COINS = 250
RUN_NUMBERS = itertools.count()

top_up_amounts = st.integers(min_value=1, max_value=1000)
amounts = st.integers(min_value=1, max_value=120)
viewer_indexes = st.integers(min_value=0, max_value=VIEWERS - 1)
bad_amounts = st.one_of(
    st.just(0),
    st.integers(max_value=-1),
    st.integers(min_value=MAX_AMOUNT + 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False).filter(lambda value: value == value.to_integral_value()),
    st.booleans(),
    st.just(Decimal("1.5")),
    st.just("10"),
    st.none(),
)


def balances_and_entry_sums(account_ids: list[int]) -> dict[int, tuple[int, int]]:
    """For each account: (balance as the ledger reports it, sum of its entries), in one query."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.id, a.balance + CASE WHEN a.append_only_balance THEN COALESCE((SELECT SUM(p.amount) "
            "FROM wallet_ledgerentry p WHERE p.account_id = a.id AND p.id > a.rolled_up_through), 0) ELSE 0 END, "
            "COALESCE((SELECT SUM(e.amount) FROM wallet_ledgerentry e "
            "WHERE e.account_id = a.id), 0) FROM wallet_ledgeraccount a WHERE a.id = ANY(%s)",
            [account_ids],
        )
        return {pk: (balance, entries) for pk, balance, entries in cursor.fetchall()}


class LedgerMachine(RuleBasedStateMachine):
    postings = Bundle("postings")

    def __init__(self):
        super().__init__()
        run = next(RUN_NUMBERS)
        tables = [model._meta.db_table for model in (LedgerEntry, LedgerTransaction, LedgerAccount, get_user_model())]
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
        self.keys = (f"run{run}:{n}" for n in itertools.count())
        self.viewers = [
            account_for_user(make_user(email=f"viewer{run}-{n}@example.com", password=None), COIN)
            for n in range(VIEWERS)
        ]
        creator = make_user(email=f"creator{run}@example.com", password=None, is_creator=True)
        self.creator = account_for_user(creator, DIAMOND)
        self.systems = {code: system_account(code) for code in SystemAccount}
        self.start = {code: ledger_balance(account) for code, account in self.systems.items()}
        self.expected = {account.pk: 0 for account in [*self.viewers, self.creator]}
        self.expected.update({account.pk: self.start[code] for code, account in self.systems.items()})
        self.replays = {}
        for wallet in self.viewers:
            self._post(
                ledger_credit,
                key=next(self.keys),
                account=wallet,
                asset=COIN,
                amount=STARTING_COINS,
                kind="topup",
                changes={wallet: STARTING_COINS, self.systems["coins_issued"]: -STARTING_COINS},
            )

    # --- helpers ---

    def _post(self, post, *, key: str, changes: dict[LedgerAccount, int], **kwargs):
        """Post and update the model, or check that a refusal changed nothing; returns bundle values."""
        short = [
            account
            for account, change in changes.items()
            if account.kind == "user" and self.expected[account.pk] + change < 0
        ]
        before = ledger_state()
        event(f"{post.__name__}: {'refused' if short else 'posted'}")
        if short:
            with pytest.raises(InsufficientFunds) as raised:
                post(idempotency_key=key, **kwargs)
            account = short[0]
            assert raised.value.shortfall == -(self.expected[account.pk] + changes[account])
            assert ledger_state() == before
            return multiple()
        posted = post(idempotency_key=key, **kwargs)
        for account, change in changes.items():
            self.expected[account.pk] += change
        self.replays[key] = (post, kwargs, posted.pk)
        return key

    def _refused(self, error, call):
        event(f"refused with {error.__name__}")
        before = ledger_state()
        with pytest.raises(error):
            call()
        assert ledger_state() == before

    # --- rules ---

    @rule(target=postings, viewer=viewer_indexes, amount=top_up_amounts)
    def top_up(self, viewer, amount):
        wallet = self.viewers[viewer]
        return self._post(
            ledger_credit,
            key=next(self.keys),
            account=wallet,
            asset=COIN,
            amount=amount,
            kind="topup",
            changes={wallet: amount, self.systems["coins_issued"]: -amount},
        )

    @rule(target=postings, viewer=viewer_indexes, amount=amounts)
    def spend(self, viewer, amount):
        wallet = self.viewers[viewer]
        return self._post(
            ledger_debit,
            key=next(self.keys),
            account=wallet,
            asset=COIN,
            amount=amount,
            kind="spend",
            changes={wallet: -amount, self.systems["coins_consumed"]: amount},
        )

    @rule(target=postings, viewer=viewer_indexes, excess=st.integers(min_value=0, max_value=1))
    def spend_everything(self, viewer, excess):
        """The boundary: exactly the whole balance succeeds, one coin more is refused."""
        wallet = self.viewers[viewer]
        amount = self.expected[wallet.pk] + excess
        if amount == 0:
            return multiple()
        return self._post(
            ledger_debit,
            key=next(self.keys),
            account=wallet,
            asset=COIN,
            amount=amount,
            kind="spend",
            changes={wallet: -amount, self.systems["coins_consumed"]: amount},
        )

    @rule(target=postings, source=viewer_indexes, destination=viewer_indexes, amount=amounts)
    def move_between_viewers(self, source, destination, amount):
        if source == destination:
            return multiple()
        source_wallet, destination_wallet = self.viewers[source], self.viewers[destination]
        return self._post(
            ledger_move,
            key=next(self.keys),
            source=source_wallet,
            destination=destination_wallet,
            asset=COIN,
            amount=amount,
            kind="correction",
            changes={source_wallet: -amount, destination_wallet: amount},
        )

    @rule(target=postings, viewer=viewer_indexes, amount=amounts)
    def gift(self, viewer, amount):
        wallet = self.viewers[viewer]
        lines = gift_lines(viewer_coins=wallet, creator_diamonds=self.creator, amount=amount)
        changes = {
            wallet: -amount,
            self.systems["coins_consumed"]: amount,
            self.systems["diamonds_issued"]: -amount,
            self.creator: amount,
        }
        return self._post(ledger_post, key=next(self.keys), kind="gift", lines=lines, durable=True, changes=changes)

    @rule(target=postings, amount=amounts)
    def payout(self, amount):
        clearing = self.systems["diamonds_clearing"]
        return self._post(
            ledger_move,
            key=next(self.keys),
            source=self.creator,
            destination=clearing,
            asset=DIAMOND,
            amount=amount,
            kind="payout",
            changes={self.creator: -amount, clearing: amount},
        )

    @rule()
    def roll_up(self):
        for account in [self.creator, *self.systems.values()]:
            ledger_rollup(account=account)

    @rule(key=postings)
    def replay(self, key):
        post, kwargs, transaction_pk = self.replays[key]
        event("replayed")
        before = ledger_state()

        assert post(idempotency_key=key, **kwargs).pk == transaction_pk
        assert ledger_state() == before

    @rule(key=postings, extra=amounts)
    def replay_with_different_content(self, key, extra):
        post, kwargs, _transaction_pk = self.replays[key]
        different = {"kind": "refund"} if "lines" in kwargs else {"amount": kwargs["amount"] + extra}
        self._refused(IdempotencyConflict, lambda: post(idempotency_key=key, **{**kwargs, **different}))

    @rule(viewer=viewer_indexes, amount=bad_amounts, operation=st.sampled_from(["credit", "debit", "move"]))
    def bad_amount(self, viewer, amount, operation):
        wallet = self.viewers[viewer]
        common = {"asset": COIN, "amount": amount, "idempotency_key": next(self.keys), "kind": "bad"}
        calls = {
            "credit": lambda: ledger_credit(account=wallet, **common),
            "debit": lambda: ledger_debit(account=wallet, **common),
            "move": lambda: ledger_move(source=wallet, destination=self.systems["coins_clearing"], **common),
        }
        self._refused(InvalidAmount, calls[operation])

    @rule(viewer=viewer_indexes, amount=amounts)
    def wrong_asset(self, viewer, amount):
        wallet = self.viewers[viewer]
        self._refused(
            AssetMismatch,
            lambda: ledger_credit(
                account=wallet, asset=DIAMOND, amount=amount, idempotency_key=next(self.keys), kind="bad"
            ),
        )
        self._refused(
            AssetMismatch,
            lambda: ledger_move(
                source=wallet,
                destination=self.creator,
                asset=COIN,
                amount=amount,
                idempotency_key=next(self.keys),
                kind="bad",
            ),
        )

    # --- invariants ---

    @invariant()
    def balances_match_model_and_entries(self):
        tracked = [account.pk for account in [*self.viewers, self.creator, *self.systems.values()]]
        assert balances_and_entry_sums(tracked) == {pk: (self.expected[pk], self.expected[pk]) for pk in tracked}

    @invariant()
    def audit_is_clean(self):
        report = ledger_audit_run()
        assert report.ok, report.lines()


# Every run explores new programs: 200 by default, `make test-deep` runs 2,000 before a change to the
# posting path is submitted. The seed is random; on a failure Hypothesis prints the falsifying steps
# and a `@reproduce_failure` blob (and pytest's `--hypothesis-seed` replays the run).
STATEFUL_EXAMPLES = int(os.environ.get("LEDGER_STATEFUL_EXAMPLES", "200"))


@pytest.mark.django_db(transaction=True)
def test_ledger_state_machine():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=20,
            derandomize=False,
            print_blob=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
