"""Refunds and chargebacks of top-ups: coins clawed back never below zero, the rest a receivable that
blocks spending until the next recharge settles it, and creators' held diamonds clawed back."""

import pytest
from djmoney.money import Money

from backoffice.services import topup_reverse
from coinsite.accounts.models import StaffAction
from gifting.models import GiftEvent
from gifting.services import GiftNotAllowed, gift_send
from gifting.tests.support import fund, make_gift, snapshot
from payouts.models import PayoutSettings
from wallet.audit import ledger_audit_run
from wallet.ledger import user_balance
from wallet.models import Asset, CoinReceivable, TopUpStatus
from wallet.staff import StaffOperationError
from wallet.tests.support import paid_topup, topup_row

pytestmark = pytest.mark.django_db
COIN, DIAMOND = Asset.COIN, Asset.DIAMOND


@pytest.fixture
def rose(db):
    return make_gift(slug="test-rose-100", coin_cost=100)


def send(viewer, stream, gift, key, quantity=1):
    return gift_send(sender=viewer, stream_id=stream.pk, gift_id=gift.pk, quantity=quantity, idempotency_key=key)


def test_refunding_an_unspent_top_up_takes_all_its_coins_back(alice, charlie):
    topup = paid_topup(alice, 700)

    reversal = topup_reverse(topup_id=topup.pk, staff=charlie, kind="refund", reason="Customer asked within 14 days")

    assert (reversal.coins.clawed_back, reversal.coins.shortfall) == (700, 0)
    assert user_balance(alice, COIN) == 0
    topup.refresh_from_db()
    assert (topup.status, topup.reversal, topup.reversal_reason) == (
        TopUpStatus.SUCCEEDED,
        "refund",
        "Customer asked within 14 days",
    )
    assert not CoinReceivable.objects.exists()
    assert StaffAction.objects.get(action="topup.refund").actor == charlie
    assert ledger_audit_run().ok


def test_a_chargeback_of_spent_coins_records_a_receivable_and_claws_back_held_diamonds(
    alice, bob, charlie, stream, rose
):
    topup = paid_topup(alice, 700)
    send(alice, stream, rose, "g1", quantity=5)  # 500 coins -> 500 diamonds for Bob, on hold

    reversal = topup_reverse(topup_id=topup.pk, staff=charlie, kind="chargeback", reason="Card issuer chargeback")

    assert (reversal.coins.clawed_back, reversal.coins.shortfall) == (200, 500)
    assert user_balance(alice, COIN) == 0  # never negative
    assert CoinReceivable.objects.get(user=alice).outstanding == 500
    assert reversal.diamonds_clawed_back == {bob.pk: 500}
    assert user_balance(bob, DIAMOND) == 0
    assert ledger_audit_run().ok

    # Alice cannot spend until the debt is settled, even coins she is given.
    before = snapshot()
    with pytest.raises(GiftNotAllowed, match="refunded or charged-back") as refused:
        send(alice, stream, rose, "g2")
    assert refused.value.code == "receivable"
    assert snapshot() == before

    # Her next recharge settles the 500 first; the rest is hers to spend.
    paid_topup(alice, 700)
    assert user_balance(alice, COIN) == 200
    assert CoinReceivable.objects.get(user=alice).settled_at is not None
    send(alice, stream, rose, "g3")
    assert user_balance(alice, COIN) == 100
    assert ledger_audit_run().ok


def test_diamonds_past_their_hold_stay_with_the_creator(alice, bob, charlie, stream, rose):
    topup = paid_topup(alice, 700)
    send(alice, stream, rose, "g1", quantity=5)
    settings_row = PayoutSettings.load()
    settings_row.earnings_hold_days = 0  # the hold has passed
    settings_row.save()

    reversal = topup_reverse(topup_id=topup.pk, staff=charlie, kind="chargeback", reason="Chargeback")

    assert reversal.diamonds_clawed_back == {}
    assert user_balance(bob, DIAMOND) == 500
    assert CoinReceivable.objects.get(user=alice).outstanding == 500
    assert GiftEvent.objects.count() == 1
    assert ledger_audit_run().ok


def test_a_top_up_is_reversed_at_most_once_and_bad_requests_change_nothing(alice, bob, charlie):
    topup = paid_topup(alice, 700)
    topup_reverse(topup_id=topup.pk, staff=charlie, kind="refund", reason="Refund")
    fund(alice, 50)
    before = snapshot()

    with pytest.raises(StaffOperationError, match="refunded already"):
        topup_reverse(topup_id=topup.pk, staff=charlie, kind="chargeback", reason="Chargeback")
    with pytest.raises(StaffOperationError, match="Only staff"):
        topup_reverse(topup_id=topup.pk, staff=bob, kind="refund", reason="x")
    pending = topup_row(alice, 70, amount=Money("0.99", "USD"))
    with pytest.raises(StaffOperationError, match="Only a paid top-up"):
        topup_reverse(topup_id=pending.pk, staff=charlie, kind="refund", reason="x")
    with pytest.raises(StaffOperationError, match="refund or chargeback"):
        topup_reverse(topup_id=topup.pk, staff=charlie, kind="gift", reason="x")

    assert snapshot() == before
    assert user_balance(alice, COIN) == 50
