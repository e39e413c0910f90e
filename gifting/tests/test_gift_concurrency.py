"""Gifts under real concurrency: PostgreSQL, real threads, one connection each."""

import pytest

from coinsite.accounts.tests.factories import make_user
from gifting.models import GiftEvent
from gifting.services import GiftNotAllowed, NotEnoughCoins, gift_send, stream_start
from gifting.tests.support import ensure_countries, fund, make_gift, outcomes, run_in_threads
from wallet.audit import ledger_audit_run
from wallet.ledger import account_for_user, ledger_rollup, system_account, user_balance
from wallet.models import Asset, LedgerTransaction, SystemAccount
from wallet.spending import spending_limits_set

pytestmark = pytest.mark.django_db(transaction=True)

COIN, DIAMOND = Asset.COIN, Asset.DIAMOND
GIFT_COST = 10


@pytest.fixture
def live():
    """A live creator and a 10-coin gift; transactional tests start from empty tables, so set it all up."""
    ensure_countries()
    for code in (SystemAccount.COINS_CONSUMED, SystemAccount.DIAMONDS_ISSUED):
        system_account(code)
    creator = make_user(email="star@example.com", password=None, is_creator=True, country="GB")
    account_for_user(creator, DIAMOND)
    stream = stream_start(creator=creator, title="Everyone gifts at once")
    gift = make_gift(slug="test-spark", coin_cost=GIFT_COST)
    return creator, stream, gift


def sender_job(sender, stream, gift, key):
    return lambda: gift_send(sender=sender, stream_id=stream.pk, gift_id=gift.pk, quantity=1, idempotency_key=key)


def test_many_viewers_gifting_one_creator_at_once(live):
    # Given 30 viewers holding 25..54 coins, each trying four 10-coin gifts, all at the same moment
    creator, stream, gift = live
    viewers = [make_user(email=f"fan{n}@example.com", password=None) for n in range(30)]
    funded = {viewer.pk: 25 + n for n, viewer in enumerate(viewers)}
    for viewer in viewers:
        fund(viewer, funded[viewer.pk])
    jobs = [sender_job(viewer, stream, gift, f"gift-{attempt}") for attempt in range(4) for viewer in viewers]

    # When they all send
    results = run_in_threads(jobs, threads=30)

    # Then each viewer got exactly as many gifts through as their coins cover, and no more
    accepted = {viewer.pk: min(4, funded[viewer.pk] // GIFT_COST) for viewer in viewers}
    assert outcomes(results) == {"GiftEvent": sum(accepted.values()), "NotEnoughCoins": 120 - sum(accepted.values())}
    for viewer in viewers:
        assert user_balance(viewer, COIN) == funded[viewer.pk] - GIFT_COST * accepted[viewer.pk]
        assert GiftEvent.objects.filter(sender=viewer).count() == accepted[viewer.pk]
    # And the creator earned one diamond per coin of every accepted gift, with no lost update
    total_coins = GIFT_COST * sum(accepted.values())
    assert sum(GiftEvent.objects.values_list("coins", flat=True)) == total_coins
    assert user_balance(creator, DIAMOND) == total_coins
    assert ledger_rollup(account=account_for_user(creator, DIAMOND)) == total_coins
    assert ledger_audit_run().ok


def test_one_viewer_gifting_from_many_threads_never_goes_below_zero(live):
    # Given a viewer with 95 coins
    creator, stream, gift = live
    viewer = make_user(email="eager@example.com", password=None)
    fund(viewer, 95)

    # When 40 threads each try a different 10-coin gift
    results = run_in_threads([sender_job(viewer, stream, gift, f"tap-{n}") for n in range(40)])

    # Then exactly 9 go through, the rest are short by exactly 5 coins, and 5 coins remain
    assert outcomes(results) == {"GiftEvent": 9, "NotEnoughCoins": 31}
    assert {result.shortfall for result in results if isinstance(result, NotEnoughCoins)} == {5}
    assert user_balance(viewer, COIN) == 5
    assert user_balance(creator, DIAMOND) == 90
    assert ledger_audit_run().ok


def test_a_budget_holds_under_concurrent_gifts(live):
    # Given a viewer with plenty of coins but a daily budget of 95
    creator, stream, gift = live
    viewer = make_user(email="careful@example.com", password=None)
    fund(viewer, 10_000)
    spending_limits_set(user=viewer, daily_limit=95, monthly_limit=None)

    # When 30 threads each try a 10-coin gift
    results = run_in_threads([sender_job(viewer, stream, gift, f"tap-{n}") for n in range(30)])

    # Then the budget lets exactly 9 through
    assert outcomes(results) == {"GiftEvent": 9, "GiftNotAllowed": 21}
    assert {result.code for result in results if isinstance(result, GiftNotAllowed)} == {"spending_daily"}
    assert user_balance(viewer, COIN) == 10_000 - 90
    assert user_balance(creator, DIAMOND) == 90
    assert ledger_audit_run().ok


@pytest.mark.parametrize("with_budget", [False, True])
def test_same_key_from_many_threads_charges_once(live, with_budget):
    # Given a viewer (with or without a budget exactly the price of one gift)
    creator, stream, gift = live
    viewer = make_user(email="double-click@example.com", password=None)
    fund(viewer, 1_000)
    if with_budget:
        spending_limits_set(user=viewer, daily_limit=GIFT_COST, monthly_limit=None)

    # When 20 threads send the same request at once
    results = run_in_threads([sender_job(viewer, stream, gift, "one-tap") for _ in range(20)])

    # Then every one of them gets the same gift back, and it was charged once
    assert outcomes(results) == {"GiftEvent": 20}
    assert len({event.pk for event in results}) == 1
    assert GiftEvent.objects.count() == 1
    assert LedgerTransaction.objects.filter(kind="gift").count() == 1
    assert user_balance(viewer, COIN) == 1_000 - GIFT_COST
    assert user_balance(creator, DIAMOND) == GIFT_COST
    assert ledger_audit_run().ok
