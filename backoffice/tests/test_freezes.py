"""A wallet freeze reaches every app: no gifts (gifting), no recharges (wallet), and the viewer is told why."""

import pytest

from coinsite.accounts.models import StaffAction
from gifting.services import GiftNotAllowed, gift_send
from gifting.tests.support import fund, make_gift, snapshot
from wallet.ledger import user_balance
from wallet.models import Asset
from wallet.selectors import recharge_offer
from wallet.services import RechargeError, topup_start
from wallet.staff import wallet_freeze, wallet_unfreeze

pytestmark = pytest.mark.django_db
COIN = Asset.COIN


@pytest.fixture
def rose(db):
    return make_gift(slug="test-rose", coin_cost=1)


def test_a_frozen_wallet_cannot_gift_recharge_and_is_told_why(alice, charlie, stream, rose):
    fund(alice, 100)
    wallet_freeze(user=alice, staff=charlie, reason="Unusual card activity.")
    before = snapshot()

    with pytest.raises(GiftNotAllowed, match=r"Your wallet is frozen by our team: Unusual card activity\.") as refused:
        gift_send(sender=alice, stream_id=stream.pk, gift_id=rose.pk, quantity=1, idempotency_key="f1")
    assert refused.value.code == "frozen"
    assert snapshot() == before
    assert "Unusual card activity." in recharge_offer(alice).unavailable_reason
    with pytest.raises(RechargeError, match="frozen"):
        topup_start(user=alice, payment_method="card", custom_coins=100)

    assert StaffAction.objects.get(action="wallet.freeze").reason == "Unusual card activity."
    assert wallet_unfreeze(user=alice, staff=charlie, reason="Checked with the bank.")
    gift_send(sender=alice, stream_id=stream.pk, gift_id=rose.pk, quantity=1, idempotency_key="f2")
    assert user_balance(alice, COIN) == 99
