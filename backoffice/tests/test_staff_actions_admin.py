"""The money operations as staff meet them in admin: actions that ask for a reason, groups that may use them."""

import datetime

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from djmoney.contrib.exchange.models import ExchangeBackend, Rate
from djmoney.money import Money

from backoffice.tests.support import admin_login, make_staff, make_topup
from coinsite.accounts.models import StaffAction
from gifting import chat
from gifting.services import stream_start
from payouts.exchange import BACKEND_NAME, rates_load
from payouts.models import Payout, PayoutMethod, PayoutStatus
from payouts.services import payout_method_add, payout_request
from payouts.tests.support import add_method, committing, give_diamonds
from wallet.ledger import user_balance
from wallet.models import Adjustment, AdjustmentStatus, Asset, WalletFreeze

pytestmark = pytest.mark.django_db


def run_action(client, url: str, action: str, objects, reason: str | None = "Checked by the team"):
    """Choose the action for `objects`, then (if asked) confirm it with `reason` on the intermediate page."""
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(obj.pk) for obj in objects]}
    first = client.post(url, data)
    if reason is None or first.status_code != 200 or b'name="confirm"' not in first.content:
        return first
    return client.post(url, {**data, "confirm": "yes", "reason": reason}, follow=True)


@pytest.fixture
def finance(client):
    return admin_login(client, make_staff(email="fin@example.com", group="finance"))


def test_finance_refunds_a_top_up_with_a_reason(finance, alice):
    topup = make_topup(alice, coins=700, amount=Money("9.99", "USD"))
    url = reverse("admin:wallet_topup_changelist")

    page = finance.post(url, {"action": "refund", ACTION_CHECKBOX_NAME: [str(topup.pk)]})
    assert b"Reason" in page.content and user_balance(alice, Asset.COIN) == 700  # asks first, changes nothing

    response = run_action(finance, url, "refund", [topup], reason="Asked within 14 days")
    assert b"1 top-up refunded." in response.content
    topup.refresh_from_db()
    assert (topup.reversal, topup.reversal_reason) == ("refund", "Asked within 14 days")
    assert user_balance(alice, Asset.COIN) == 0


def test_an_empty_reason_is_asked_again_and_nothing_happens(finance, alice):
    topup = make_topup(alice, coins=700, amount=Money("9.99", "USD"))
    response = run_action(finance, reverse("admin:wallet_topup_changelist"), "refund", [topup], reason="")
    assert b"Give a reason." in response.content
    topup.refresh_from_db()
    assert topup.reversal == ""
    assert user_balance(alice, Asset.COIN) == 700


def test_support_cannot_refund_but_can_freeze_a_wallet(client, alice):
    support = admin_login(client, make_staff(email="sup@example.com", group="support"))
    topup = make_topup(alice, coins=700, amount=Money("9.99", "USD"))

    run_action(support, reverse("admin:wallet_topup_changelist"), "refund", [topup])
    topup.refresh_from_db()
    assert topup.reversal == ""

    response = run_action(
        support, reverse("admin:accounts_user_changelist"), "freeze_wallet", [alice], reason="Card testing pattern"
    )
    assert b"1 wallet frozen." in response.content
    assert WalletFreeze.objects.get(user=alice).reason == "Card testing pattern"
    assert StaffAction.objects.filter(action="wallet.freeze", actor__email="sup@example.com").exists()


def test_a_large_correction_needs_a_second_finance_member(client, alice):
    first = admin_login(client, make_staff(email="fin1@example.com", group="finance"))
    response = first.post(
        reverse("admin:wallet_adjustment_add"),
        {"user": alice.pk, "asset": Asset.COIN, "amount": 25_000, "reason": "Lost recharge"},
    )
    assert response.status_code == 302
    adjustment = Adjustment.objects.get()
    assert adjustment.status == AdjustmentStatus.PENDING

    response = first.post(
        reverse("admin:wallet_adjustment_changelist"),
        {"action": "approve", ACTION_CHECKBOX_NAME: [str(adjustment.pk)]},
        follow=True,
    )
    assert b"A second staff member must approve" in response.content
    assert user_balance(alice, Asset.COIN) == 0

    second = admin_login(Client(), make_staff(email="fin2@example.com", group="finance"))
    second.post(
        reverse("admin:wallet_adjustment_changelist"), {"action": "approve", ACTION_CHECKBOX_NAME: [str(adjustment.pk)]}
    )
    adjustment.refresh_from_db()
    assert (adjustment.status, adjustment.reviewed_by.email) == (AdjustmentStatus.POSTED, "fin2@example.com")
    assert user_balance(alice, Asset.COIN) == 25_000


def test_a_bad_correction_is_explained_and_nothing_is_saved(finance, alice):
    response = finance.post(
        reverse("admin:wallet_adjustment_add"), {"user": alice.pk, "asset": Asset.DIAMOND, "amount": 5, "reason": "x"}
    )
    assert response.status_code == 400
    assert b"Only creators hold diamonds." in response.content
    assert not Adjustment.objects.exists()


def test_finance_rejects_a_payout_with_the_reason_the_creator_sees(finance, bob):
    rates_load()
    give_diamonds(bob, 300_000)
    payout = payout_request(creator=bob, method_id=add_method(bob).pk, diamonds=250_000, idempotency_key="big")

    run_action(
        finance, reverse("admin:payouts_payout_changelist"), "reject", [payout], reason="Identity documents missing"
    )

    payout.refresh_from_db()
    assert (payout.status, payout.failure_reason) == (PayoutStatus.REJECTED, "Identity documents missing")
    assert user_balance(bob, Asset.DIAMOND) == 300_000
    assert Payout.objects.count() == 1


def test_a_rate_edited_by_finance_counts_as_fresh(finance):
    rates_load()
    ExchangeBackend.objects.filter(name=BACKEND_NAME).update(last_update=timezone.now() - datetime.timedelta(days=5))
    rate = Rate.objects.get(backend_id=BACKEND_NAME, currency="EUR")

    response = finance.post(
        reverse("admin:exchange_rate_change", args=[rate.pk]),
        {"currency": "EUR", "value": "0.9300", "backend": BACKEND_NAME},
    )

    assert response.status_code == 302
    rate.refresh_from_db()
    assert str(rate.value) == "0.930000"
    backend = ExchangeBackend.objects.get(name=BACKEND_NAME)
    assert timezone.now() - backend.last_update < datetime.timedelta(minutes=1)


def test_finance_retries_a_failed_payout_once(finance, bob):
    rates_load()
    give_diamonds(bob, 20_000)
    method = add_method(bob, paypal_email="decline@example.com")
    failed = committing(payout_request)(creator=bob, method_id=method.pk, diamonds=10_000, idempotency_key="f1")
    failed.refresh_from_db()
    assert failed.status == PayoutStatus.FAILED
    # The creator fixes the address (an aged method, so no new hold) and staff retry.
    fixed = committing(payout_method_add)(
        creator=bob, kind="paypal", holder_name="Bob", currency="USD", paypal_email="bob@example.com", replaces=method
    )
    PayoutMethod.objects.filter(pk=fixed.pk).update(created_at=fixed.created_at.replace(year=2020))
    url = reverse("admin:payouts_payout_changelist")

    response = finance.post(url, {"action": "retry", ACTION_CHECKBOX_NAME: [str(failed.pk)]}, follow=True)
    finance.post(url, {"action": "retry", ACTION_CHECKBOX_NAME: [str(failed.pk)]})

    assert b"1 payout retried." in response.content
    retry = Payout.objects.exclude(pk=failed.pk).get()
    assert (retry.diamonds, retry.idempotency_key, retry.method) == (10_000, f"retry:{failed.pk}", fixed)
    assert user_balance(bob, Asset.DIAMOND) == 10_000
    assert StaffAction.objects.filter(action="payout.retry").count() == 2


def test_support_lifts_a_ban_early_and_the_viewer_may_chat_again(client, alice, bob):
    stream = stream_start(creator=bob, title="Late show")
    rude = chat.chat_post(author=alice, stream_id=stream.pk, text="rude")
    ban = chat.chat_restrict(moderator=bob, message_id=rude.pk, kind="ban")
    cache.clear()  # the chat's per-second rate limit
    with pytest.raises(chat.ChatNotAllowed):
        chat.chat_post(author=alice, stream_id=stream.pk, text="sorry")
    support = admin_login(client, make_staff(email="help@example.com", group="support"))

    response = support.post(
        reverse("admin:gifting_chatrestriction_changelist"),
        {"action": "lift", ACTION_CHECKBOX_NAME: [str(ban.pk)]},
        follow=True,
    )

    assert b"1 mute or ban lifted." in response.content
    ban.refresh_from_db()
    assert ban.lifted_by.email == "help@example.com" and ban.lifted_at is not None
    assert chat.chat_post(author=alice, stream_id=stream.pk, text="sorry").text == "sorry"


def test_finance_may_not_lift_a_ban(client, alice, bob):
    stream = stream_start(creator=bob, title="Late show")
    rude = chat.chat_post(author=alice, stream_id=stream.pk, text="rude")
    ban = chat.chat_restrict(moderator=bob, message_id=rude.pk, kind="ban")
    finance = admin_login(client, make_staff(email="fin@example.com", group="finance"))

    response = finance.post(
        reverse("admin:gifting_chatrestriction_changelist"),
        {"action": "lift", ACTION_CHECKBOX_NAME: [str(ban.pk)]},
    )

    assert response.status_code == 403
    ban.refresh_from_db()
    assert (ban.lifted_at, ban.lifted_by) == (None, None)
