"""`ledger_spend`: the one-statement posting of the gift hot path keeps every ledger guarantee."""

import datetime
import uuid
from unittest import mock

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coinsite.accounts.tests.factories import make_user
from wallet.audit import ledger_audit_run
from wallet.ledger import (
    IdempotencyConflict,
    InsufficientFunds,
    account_for_user,
    ledger_balance,
    ledger_credit,
    ledger_post,
    ledger_spend,
    system_account,
)
from wallet.models import Asset, LedgerAccount, LedgerEntry, LedgerTransaction, SystemAccount
from wallet.tests.support import fund, ledger_state

pytestmark = pytest.mark.django_db
COIN, DIAMOND = Asset.COIN, Asset.DIAMOND


def gift_lines(viewer, creator, coins):
    return [
        (account_for_user(viewer, COIN), COIN, -coins),
        (system_account(SystemAccount.COINS_CONSUMED), COIN, coins),
        (system_account(SystemAccount.DIAMONDS_ISSUED), DIAMOND, -coins),
        (account_for_user(creator, DIAMOND), DIAMOND, coins),
    ]


def spend(viewer, creator, coins, key="k1"):
    with transaction.atomic():
        return ledger_spend(
            idempotency_key=key,
            kind="gift",
            payer=account_for_user(viewer, COIN),
            lines=gift_lines(viewer, creator, coins),
            memo="test",
        )


def test_spending_posts_the_same_rows_as_a_posting(alice, bob):
    fund(account_for_user(alice, COIN), 100, "t1")

    posted = spend(alice, bob, 30)

    assert ledger_balance(account_for_user(alice, COIN)) == 70
    assert ledger_balance(account_for_user(bob, DIAMOND)) == 30
    assert sorted(LedgerEntry.objects.filter(transaction_id=posted.pk).values_list("amount", flat=True)) == [
        -30,
        -30,
        30,
        30,
    ]
    assert ledger_audit_run().ok


def test_not_enough_funds_reports_the_exact_shortfall_and_the_rollback_leaves_nothing(alice, bob):
    fund(account_for_user(alice, COIN), 20, "t1")
    before = ledger_state()

    with pytest.raises(InsufficientFunds) as refused:
        spend(alice, bob, 30)

    assert (refused.value.available, refused.value.requested, refused.value.shortfall) == (20, 30, 10)
    assert ledger_state() == before


def test_the_same_key_twice_posts_once_and_other_content_is_a_conflict(alice, bob):
    fund(account_for_user(alice, COIN), 100, "t1")
    first = spend(alice, bob, 30, key="same")
    second = spend(alice, bob, 30, key="same")

    assert first.pk == second.pk
    assert ledger_balance(account_for_user(alice, COIN)) == 70
    with pytest.raises(IdempotencyConflict):
        spend(alice, bob, 31, key="same")
    assert ledger_balance(account_for_user(alice, COIN)) == 70


# --- ledger_spend and ledger_post write the same rows (property test) ------------------------------


class _RolledBack(Exception):
    """Leaves the atomic block of one try, undoing what it wrote."""


FROZEN_NOW = datetime.datetime(2026, 11, 20, 12, 0, tzinfo=datetime.UTC)


def _written(post, *, key: str, payer) -> tuple:
    """Run `post()` in a block that is rolled back; return what it wrote, or the error it raised."""
    try:
        with transaction.atomic(), mock.patch("wallet.ledger.timezone.now", return_value=FROZEN_NOW):
            outcome: tuple
            try:
                post()
            except InsufficientFunds as refused:
                outcome = ("refused", refused.available, refused.requested)
            else:
                outcome = (
                    "posted",
                    list(LedgerTransaction.objects.filter(idempotency_key=key).values("kind", "memo", "metadata")),
                    sorted(
                        LedgerEntry.objects.filter(transaction__idempotency_key=key).values_list(
                            "account_id", "asset", "amount", "created_at"
                        )
                    ),
                    list(LedgerAccount.objects.order_by("id").values_list("id", "balance", "rolled_up_through")),
                    ledger_state()["balances"],
                )
            raise _RolledBack
    except _RolledBack:
        return outcome


postings = st.fixed_dictionaries(
    {
        "coin_parts": st.lists(st.integers(1, 500), min_size=1, max_size=3),  # the payer's debit lines
        "consumed_parts": st.integers(1, 3),  # how many lines the coins consumed are split into
        "diamonds": st.lists(st.tuples(st.integers(0, 2), st.integers(1, 500)), min_size=1, max_size=4),
        "funds": st.integers(0, 2_000),
        # What PostgreSQL text can hold: UTF-8 (no lone surrogates, which st.characters() draws now and then)
        # and no NUL. Requests never bring either (coinsite.lib.request_checks refuses them).
        "memo": st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20),
        "metadata": st.dictionaries(st.sampled_from(["stream", "gift", "note"]), st.integers(0, 99), max_size=3),
    }
)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(posting=postings)
def test_ledger_spend_writes_exactly_the_rows_ledger_post_writes(alice, creators, posting):
    payer = account_for_user(alice, COIN)
    with transaction.atomic():
        if posting["funds"]:
            ledger_credit(
                account=payer,
                asset=COIN,
                amount=posting["funds"],
                idempotency_key=f"fund-{uuid.uuid4()}",
                kind="topup",
                durable=False,
            )
        coins = sum(posting["coin_parts"])
        consumed = _split(coins, posting["consumed_parts"])
        lines = [(payer, COIN, -part) for part in posting["coin_parts"]]
        lines += [(system_account(SystemAccount.COINS_CONSUMED), COIN, part) for part in consumed]
        lines += [(system_account(SystemAccount.DIAMONDS_ISSUED), DIAMOND, -sum(d for _, d in posting["diamonds"]))]
        lines += [(creators[index], DIAMOND, diamonds) for index, diamonds in posting["diamonds"]]
        header = {"idempotency_key": "same-posting", "kind": "gift", "memo": posting["memo"]}
        header["metadata"] = posting["metadata"]

        with CaptureQueriesContext(connection) as spend_queries:
            spent = _written(lambda: ledger_spend(payer=payer, lines=lines, **header), key="same-posting", payer=payer)
        posted = _written(lambda: ledger_post(lines=lines, savepoint=False, **header), key="same-posting", payer=payer)

        assert spent == posted
        fast_path = [query for query in spend_queries.captured_queries if "wallet_ledger_spend(" in query["sql"]]
        assert len(fast_path) == 1  # the one-round-trip path ran
        raise_rollback()


def _split(total: int, parts: int) -> list[int]:
    parts = min(parts, total)
    share, rest = divmod(total, parts)
    return [share + (1 if index < rest else 0) for index in range(parts)]


def raise_rollback() -> None:
    """Undo the example's funding, so every example starts from the same ledger."""
    transaction.set_rollback(True)


@pytest.fixture
def creators(db):
    people = [make_user(email=f"creator{n}@example.com", is_creator=True) for n in range(3)]
    return [account_for_user(person, DIAMOND) for person in people]
