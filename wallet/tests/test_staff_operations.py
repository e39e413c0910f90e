"""Staff operations on wallets: freezes, corrections with four-eyes approval, receivables settling."""

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import transaction

from coinsite.accounts.models import StaffAction
from coinsite.accounts.tests.factories import make_user
from wallet.audit import ledger_audit_run
from wallet.ledger import account_for_user, user_balance
from wallet.models import (
    Adjustment,
    AdjustmentStatus,
    Asset,
    CoinReceivable,
    Country,
    TopUp,
    WalletFreeze,
)
from wallet.staff import (
    StaffOperationError,
    account_freeze,
    adjustment_approve,
    adjustment_reject,
    adjustment_request,
    receivables_settle,
    wallet_freeze,
)
from wallet.tests.support import fund, ledger_state

pytestmark = pytest.mark.django_db
COIN = Asset.COIN


def written() -> dict:
    """Everything a correction could change: ledger rows, pending balance deltas, every balance."""
    return ledger_state()


@pytest.fixture
def dana(db):
    """A second staff member."""
    return make_user(email="dana@example.com", display_name="Dana", is_staff=True)


def test_freezing_needs_staff_and_a_reason(alice, bob):
    with pytest.raises(StaffOperationError, match="Only staff"):
        wallet_freeze(user=alice, staff=bob, reason="x")
    with pytest.raises(StaffOperationError, match="Give a reason"):
        wallet_freeze(user=alice, staff=make_user(email="s@example.com", is_staff=True), reason="  ")
    assert not WalletFreeze.objects.exists()
    assert not StaffAction.objects.exists()


def test_an_account_freeze_blocks_login_and_emails_the_reason(
    alice, charlie, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        account_freeze(user=alice, staff=charlie, reason="Chargeback fraud under review.")

    alice.refresh_from_db()
    assert alice.is_active is False
    assert WalletFreeze.objects.filter(user=alice).exists()
    assert "Chargeback fraud under review." in mail.outbox[-1].body
    response = client.post("/accounts/login/", {"login": alice.email, "password": "correct-horse-battery"})
    assert "_auth_user_id" not in client.session
    assert response.status_code in (200, 302)


def test_a_small_correction_posts_at_once_with_its_reason(alice, charlie):
    adjustment = adjustment_request(staff=charlie, user=alice, asset=COIN, amount=500, reason="Goodwill: stream outage")

    assert adjustment.status == AdjustmentStatus.POSTED
    assert user_balance(alice, COIN) == 500
    assert adjustment.ledger_transaction.kind == "adjustment"
    assert adjustment.ledger_transaction.memo == "Goodwill: stream outage"
    assert ledger_audit_run().ok


def test_a_large_correction_needs_a_second_staff_member_never_the_requester(alice, charlie, dana):
    adjustment = adjustment_request(staff=charlie, user=alice, asset=COIN, amount=50_000, reason="Missing recharge")
    assert adjustment.status == AdjustmentStatus.PENDING
    assert user_balance(alice, COIN) == 0

    with pytest.raises(StaffOperationError, match="second staff member"):
        adjustment_approve(adjustment_id=adjustment.pk, staff=charlie)
    assert user_balance(alice, COIN) == 0

    adjustment_approve(adjustment_id=adjustment.pk, staff=dana)
    adjustment.refresh_from_db()
    assert (adjustment.status, adjustment.reviewed_by) == (AdjustmentStatus.POSTED, dana)
    assert user_balance(alice, COIN) == 50_000
    with pytest.raises(StaffOperationError, match="posted already"):
        adjustment_approve(adjustment_id=adjustment.pk, staff=dana)
    assert user_balance(alice, COIN) == 50_000
    assert list(StaffAction.objects.order_by("id").values_list("action", flat=True)) == [
        "adjustment.request",
        "adjustment.approve",
    ]


def test_a_rejected_correction_posts_nothing(alice, charlie, dana):
    adjustment = adjustment_request(staff=charlie, user=alice, asset=COIN, amount=-50_000, reason="Duplicate credit")
    adjustment_reject(adjustment_id=adjustment.pk, staff=dana, reason="The credit was genuine.")
    adjustment.refresh_from_db()
    assert adjustment.status == AdjustmentStatus.REJECTED
    assert adjustment.ledger_transaction is None


def test_a_negative_correction_never_takes_a_balance_below_zero(alice, charlie):
    fund(account_for_user(alice, COIN), 100, "topup-1")
    before = written()
    with pytest.raises(StaffOperationError, match="only 100 to take from"):
        adjustment_request(staff=charlie, user=alice, asset=COIN, amount=-101, reason="Clawback")
    assert written() == before
    assert not Adjustment.objects.exists()


def test_corrections_refuse_bad_input(alice, charlie):
    for amount, asset, message in [
        (0, COIN, "non-zero"),
        (1.5, COIN, "non-zero"),
        (10, "GOLD", "coins or diamonds"),
        (10, Asset.DIAMOND, "Only creators"),
    ]:
        with pytest.raises(StaffOperationError, match=message):
            adjustment_request(staff=charlie, user=alice, asset=asset, amount=amount, reason="test")
    assert not Adjustment.objects.exists()


def test_receivables_are_settled_from_the_next_coins_oldest_first(alice, charlie):
    fund(account_for_user(alice, COIN), 30, "topup-1")
    topups = [
        TopUp.objects.create(
            user=alice,
            coins=10,
            amount="1.00",
            amount_currency="USD",
            country="US",
            payment_method="card",
            provider="sandbox",
            expires_at="2030-01-01T00:00Z",
        )
        for _ in range(2)
    ]
    first = CoinReceivable.objects.create(user=alice, topup=topups[0], coins=20)
    second = CoinReceivable.objects.create(user=alice, topup=topups[1], coins=20)

    with transaction.atomic():
        assert receivables_settle(user=alice) == 30
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.settled_coins, first.settled_at is not None) == (20, True)
    assert (second.settled_coins, second.settled_at) == (10, None)
    assert user_balance(alice, COIN) == 0


@pytest.mark.django_db
@pytest.mark.parametrize("methods", [10**30, "card", {"card": 1}, [1], ["card", None]])
def test_country_payment_methods_of_the_wrong_shape_are_a_validation_error(methods):
    with pytest.raises(ValidationError):
        Country(code="US", currency="USD", payment_methods=methods).clean()
