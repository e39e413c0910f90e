"""`ledger_spend`: the one-statement posting of the gift hot path keeps every ledger guarantee."""

import pytest
from django.db import transaction

from wallet.audit import ledger_audit_run
from wallet.ledger import (
    IdempotencyConflict,
    InsufficientFunds,
    account_for_user,
    ledger_balance,
    ledger_spend,
    system_account,
)
from wallet.models import Asset, LedgerEntry, SystemAccount
from wallet.tests.test_ledger import fund, ledger_state

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
