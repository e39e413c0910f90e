"""Payout requests end to end with eager tasks: conversion and rounding, fees, minimum, holds,
approval, failure, idempotency, exactly-once processing, and the ledger staying clean."""

import datetime
import time
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection, connections
from django.utils import timezone
from djmoney.contrib.exchange.models import ExchangeBackend
from djmoney.money import Money
from kombu.exceptions import OperationalError as KombuOperationalError

from coinsite.accounts.tests.factories import make_user
from coinsite.lib.locks import LockClass
from gifting.services import gift_send
from gifting.tests.support import ensure_countries, fund, run_in_threads
from payouts import providers, services, tasks
from payouts.earnings import diamond_balances, earnings_rollup
from payouts.exchange import BACKEND_NAME, rates_load
from payouts.models import Payout, PayoutMethod, PayoutSettings, PayoutStatus, SandboxPayoutTransfer
from payouts.services import PayoutError, _convert, payouts_held_until
from payouts.tests.support import add_method, committing, give_diamonds, money_state
from wallet.audit import ledger_audit_run
from wallet.ledger import ledger_balance, system_account, user_balance
from wallet.models import Asset, SystemAccount

pytestmark = pytest.mark.django_db
DIAMOND = Asset.DIAMOND
payout_request = committing(services.payout_request)
payout_approve = committing(services.payout_approve)
payout_reject = committing(services.payout_reject)
payout_process = committing(services.payout_process)
payout_settle = committing(services.payout_settle)
payouts_sweep = committing(services.payouts_sweep)


@pytest.fixture(autouse=True)
def _fresh_rates(db):
    rates_load()


def request(creator, method, diamonds, key="po-1"):
    return payout_request(creator=creator, method_id=method.pk, diamonds=diamonds, idempotency_key=key)


def clearing() -> int:
    return ledger_balance(system_account(SystemAccount.DIAMONDS_CLEARING))


# --- Conversion, fees and rounding ---------------------------------------------------------------


def test_usd_paypal_payout_is_converted_charged_its_fee_and_paid_once(bob):
    give_diamonds(bob, 20_000)
    method = add_method(bob, kind="paypal", currency="USD")

    payout = request(bob, method, 10_000)

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    assert payout.value == Money("50.00", "USD")
    assert (payout.gross, payout.fee, payout.net) == (
        Money("50.00", "USD"),
        Money("1.00", "USD"),
        Money("49.00", "USD"),
    )
    assert payout.exchange_rate == 1
    assert user_balance(bob, DIAMOND) == 10_000
    assert clearing() == 0
    transfers = SandboxPayoutTransfer.objects.all()
    assert [(t.idempotency_key, t.amount, t.status) for t in transfers] == [
        (payout.provider_key, Money("49.00", "USD"), "paid")
    ]
    assert ledger_audit_run().ok


def test_eur_bank_payout_rounds_once_in_euros(bob):
    give_diamonds(bob, 20_000)
    method = add_method(bob, kind="bank", currency="EUR")

    payout = request(bob, method, 12_345)

    payout.refresh_from_db()
    # 12,345 x 0.005 = 61.725 -> 61.73 USD; x 0.9215 = 56.883195 -> 56.88 EUR
    assert payout.value == Money("61.73", "USD")
    assert payout.exchange_rate == Decimal("0.9215")
    assert payout.gross == Money("56.88", "EUR")
    # bank fee 0.25 % (0.1422) + 0.25 fixed = 0.3922 -> 0.39
    assert payout.fee == Money("0.39", "EUR")
    assert payout.net == Money("56.49", "EUR")
    assert payout.status == PayoutStatus.PAID


@pytest.mark.parametrize(("kind", "fee", "net"), [("paypal", "151", "7418"), ("bank", "59", "7510")])
def test_jpy_payout_has_no_decimals(bob, kind, fee, net):
    give_diamonds(bob, 10_000)
    method = add_method(bob, kind=kind, currency="JPY")

    payout = request(bob, method, 10_000)

    payout.refresh_from_db()
    # 50.00 USD x 151.37 = 7,568.5 -> 7,569 yen (half away from zero), fee rounded to whole yen
    assert payout.gross == Money("7569", "JPY")
    assert payout.fee == Money(fee, "JPY")
    assert payout.net == Money(net, "JPY")
    assert payout.net.amount == payout.net.amount.to_integral_value()


def test_stale_rates_refuse_the_request_and_change_nothing(bob):
    give_diamonds(bob, 20_000)
    method = add_method(bob)
    ExchangeBackend.objects.filter(name=BACKEND_NAME).update(last_update=timezone.now() - datetime.timedelta(hours=49))
    before = money_state()

    with pytest.raises(PayoutError, match="exchange rates are 49 hours old"):
        request(bob, method, 10_000)

    assert money_state() == before


def test_rates_going_stale_after_the_request_make_the_payout_wait_then_the_sweep_pays_it(bob, monkeypatch):
    give_diamonds(bob, 20_000)
    method = add_method(bob)
    with monkeypatch.context() as patch:
        patch.setattr("payouts.services._enqueue", lambda payout_id: None)  # the task is not run at once
        payout = request(bob, method, 10_000)
    ExchangeBackend.objects.filter(name=BACKEND_NAME).update(last_update=timezone.now() - datetime.timedelta(days=3))

    assert payout_process(payout_id=payout.pk) == PayoutStatus.QUEUED
    payout.refresh_from_db()
    assert "exchange rates are 72 hours old" in payout.failure_reason
    assert SandboxPayoutTransfer.objects.count() == 0

    rates_load()
    Payout.objects.filter(pk=payout.pk).update(updated_at=timezone.now() - datetime.timedelta(hours=1))
    assert payouts_sweep() == 1
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    assert payout.failure_reason == ""


def test_the_sweep_pays_a_payout_whose_task_was_lost_once_untouched_for_the_configured_time(bob, settings):
    """A worker killed between taking the task from Redis and recording it loses the task (kombu's Redis
    transport): the payout stays queued until the sweep queues it again (`make cluster-test` saw it)."""
    settings.PAYOUTS_STUCK_AFTER_SECONDS = 90
    give_diamonds(bob, 20_000)
    method = add_method(bob)
    lost: list[int] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("payouts.services._enqueue", lost.append)  # the task never reaches a worker
        payout = request(bob, method, 10_000)
    assert lost == [payout.pk]
    Payout.objects.filter(pk=payout.pk).update(updated_at=timezone.now() - datetime.timedelta(seconds=80))

    assert payouts_sweep() == 0  # not yet: a task may still be on its way
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.QUEUED

    Payout.objects.filter(pk=payout.pk).update(updated_at=timezone.now() - datetime.timedelta(seconds=100))
    assert payouts_sweep() == 1
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    assert SandboxPayoutTransfer.objects.filter(idempotency_key=str(payout.provider_key)).count() == 1
    assert ledger_audit_run().ok


def test_the_sweep_sends_a_failure_notice_whose_task_was_lost_once_the_configured_time_has_passed(bob, settings):
    """The creator must hear that the payout failed and the diamonds came back, even when the task carrying the
    notice never reached a worker (or every retry of the send failed)."""
    settings.EMAILS_RESEND_AFTER_SECONDS = 600
    give_diamonds(bob, 20_000)
    method = add_method(bob, paypal_email="decline@example.com")
    mail.outbox.clear()
    lost: list[int] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("payouts.tasks.payout_email_failed.delay", lost.append)  # the task never reaches a worker
        payout = request(bob, method, 10_000)
    assert lost == [payout.pk]
    assert Payout.objects.get(pk=payout.pk).status == PayoutStatus.FAILED

    def finished_ago(seconds: int) -> None:
        Payout.objects.filter(pk=payout.pk).update(finished_at=timezone.now() - datetime.timedelta(seconds=seconds))

    finished_ago(500)
    assert payouts_sweep() == 0  # not yet: the task may still be on its way
    assert mail.outbox == []

    finished_ago(700)
    assert payouts_sweep() == 1
    assert [message.subject for message in mail.outbox] == ["Your payout of 10,000 diamonds did not go through"]
    assert mail.outbox[0].to == ["bob@example.com"]
    assert Payout.objects.get(pk=payout.pk).failure_email_sent_at is not None
    assert payouts_sweep() == 0
    assert len(mail.outbox) == 1


def test_the_sweep_leaves_failure_notices_that_were_sent_or_are_stale(bob, settings):
    settings.EMAILS_RESEND_WITHIN_DAYS = 3
    give_diamonds(bob, 40_000)
    method = add_method(bob, paypal_email="decline@example.com")
    sent = request(bob, method, 10_000, key="sent")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("payouts.tasks.payout_email_failed.delay", lambda payout_id: None)
        stale = request(bob, method, 10_000, key="stale")
    Payout.objects.filter(pk=sent.pk).update(finished_at=timezone.now() - datetime.timedelta(seconds=700))  # due
    Payout.objects.filter(pk=stale.pk).update(finished_at=timezone.now() - datetime.timedelta(days=4))
    mail.outbox.clear()
    before = list(Payout.objects.order_by("pk").values_list("pk", "status", "failure_email_sent_at"))

    assert services.payout_failure_emails_unsent() == []
    assert payouts_sweep() == 0

    assert mail.outbox == []
    assert list(Payout.objects.order_by("pk").values_list("pk", "status", "failure_email_sent_at")) == before


# --- Minimum, balance, holds ---------------------------------------------------------------------


def test_minimum_is_checked_on_the_exact_value(bob):
    give_diamonds(bob, 20_000)
    method = add_method(bob)
    before = money_state()

    with pytest.raises(PayoutError, match="minimum payout is"):
        request(bob, method, 9_999, key="just-below")  # 49.995 USD, which would round up to 50.00
    assert money_state() == before

    assert request(bob, method, 10_000, key="exactly").value == Money("50.00", "USD")


def test_cannot_pay_out_more_than_available(bob):
    give_diamonds(bob, 15_000)
    method = add_method(bob)
    before = money_state()

    with pytest.raises(PayoutError, match="You have 15,000 diamonds available; you asked for 15,001"):
        request(bob, method, 15_001)
    assert money_state() == before


def test_diamonds_from_recent_gifts_are_on_hold_until_the_hold_period_passes(alice, bob, countries, stream, big_gift):
    fund(alice, 30_000)
    gift_send(sender=alice, stream_id=stream.pk, gift_id=big_gift.pk, quantity=2, idempotency_key="g1")
    give_diamonds(bob, 500)
    method = add_method(bob)

    balances = diamond_balances(bob)
    assert (balances.total, balances.on_hold, balances.available) == (20_500, 20_000, 500)
    with pytest.raises(PayoutError, match="500 diamonds available \\(20,000 more are on hold"):
        request(bob, method, 10_000)

    today = timezone.now().date()
    assert diamond_balances(bob, today=today + datetime.timedelta(days=6)).on_hold == 20_000
    assert diamond_balances(bob, today=today + datetime.timedelta(days=7)).on_hold == 0

    # Staff shorten the hold: the same diamonds become withdrawable at once.
    settings_row = PayoutSettings.load()
    settings_row.earnings_hold_days = 0
    settings_row.save()
    payout = request(bob, method, 10_000)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID


def test_the_rollup_folds_each_gift_once_and_the_hold_reads_the_same_before_and_after(
    alice, bob, countries, stream, big_gift
):
    fund(alice, 30_000)
    gift_send(sender=alice, stream_id=stream.pk, gift_id=big_gift.pk, quantity=1, idempotency_key="g1")
    assert earnings_rollup() == 0  # too fresh: an earlier id could still be committing
    assert diamond_balances(bob).on_hold == 10_000

    later = timezone.now() + datetime.timedelta(minutes=2)
    assert earnings_rollup(now=later) == 1
    assert earnings_rollup(now=later) == 0
    assert diamond_balances(bob).on_hold == 10_000


def test_a_new_payout_method_holds_payouts_and_is_announced_by_email(bob):
    give_diamonds(bob, 20_000)
    method = add_method(bob, aged=False)
    assert [message.subject for message in mail.outbox] == ["Your Coinsite payout method was changed"]
    assert "payouts are on hold until" in mail.outbox[0].body
    before = money_state()

    with pytest.raises(PayoutError, match=r"on hold until .* because a payout method was added or changed"):
        request(bob, method, 10_000)
    assert money_state() == before


def test_a_method_change_is_announced_once_even_when_its_task_runs_twice(bob):
    method = add_method(bob, aged=False)

    assert tasks.payout_email_method_changed(method.pk) is False  # a re-delivered task: already sent

    assert [message.subject for message in mail.outbox] == ["Your Coinsite payout method was changed"]
    assert PayoutMethod.objects.get(pk=method.pk).notice_sent_at is not None


def test_a_method_change_whose_notice_the_broker_refused_is_announced_by_the_sweep(bob, settings):
    """A hijacked account must not redirect payouts unannounced: the method is saved even when the broker
    refuses the notice's task at commit, and the sweep sends the notice once it is overdue."""
    settings.EMAILS_RESEND_AFTER_SECONDS = 600

    def broker_down(method_id):
        raise KombuOperationalError("Error 111 connecting to redis:6379. Connection refused.")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("payouts.tasks.payout_email_method_changed.delay", broker_down)
        method = add_method(bob, aged=False)
    assert mail.outbox == []
    assert payouts_held_until(bob) is not None

    def added_ago(seconds: int) -> None:
        PayoutMethod.objects.filter(pk=method.pk).update(
            created_at=timezone.now() - datetime.timedelta(seconds=seconds)
        )

    added_ago(500)
    assert payouts_sweep() == 0  # not yet: the task may still be on its way
    added_ago(700)
    assert payouts_sweep() == 1

    [notice] = mail.outbox
    assert (notice.subject, notice.to) == ("Your Coinsite payout method was changed", ["bob@example.com"])
    assert payouts_sweep() == 0
    assert len(mail.outbox) == 1


def test_replacing_a_method_retires_the_old_one_and_starts_a_new_hold(bob):
    old = add_method(bob)
    assert payouts_held_until(bob) is None
    new = committing(services.payout_method_add)(
        creator=bob,
        kind="bank",
        holder_name="Bob",
        currency="EUR",
        iban="DE89 3704 0044 0532 0130 00",
        bic="cobadeffxxx",
        replaces=old,
    )
    old.refresh_from_db()
    assert old.retired_at is not None
    assert (new.iban, new.bic, new.masked) == ("DE89370400440532013000", "COBADEFFXXX", "DE•• •••• 3000")
    assert payouts_held_until(bob) > timezone.now() + datetime.timedelta(hours=71)


# --- Approval, failure, idempotency --------------------------------------------------------------


def test_large_payout_waits_for_staff_approval_then_pays(bob, charlie):
    give_diamonds(bob, 300_000)
    method = add_method(bob)

    payout = request(bob, method, 250_000)  # 1,250 USD > 1,000 USD threshold

    assert payout.status == PayoutStatus.AWAITING_APPROVAL
    assert user_balance(bob, DIAMOND) == 50_000
    assert clearing() == 250_000
    assert SandboxPayoutTransfer.objects.count() == 0
    with pytest.raises(PayoutError, match="Only staff"):
        payout_approve(payout_id=payout.pk, staff=bob)

    payout_approve(payout_id=payout.pk, staff=charlie)

    payout.refresh_from_db()
    assert (payout.status, payout.reviewed_by) == (PayoutStatus.PAID, charlie)
    assert clearing() == 0
    assert ledger_audit_run().ok


def test_staff_cannot_approve_their_own_payout(db):
    staff_creator = make_user(email="sam@example.com", is_staff=True, is_creator=True)
    give_diamonds(staff_creator, 300_000)
    payout = request(staff_creator, add_method(staff_creator), 250_000)

    with pytest.raises(PayoutError, match="cannot review their own"):
        payout_approve(payout_id=payout.pk, staff=staff_creator)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.AWAITING_APPROVAL


def test_rejection_returns_the_diamonds_with_the_reason_by_email(bob, charlie):
    give_diamonds(bob, 300_000)
    payout = request(bob, add_method(bob), 250_000)
    mail.outbox.clear()

    with pytest.raises(PayoutError, match="reason"):
        payout_reject(payout_id=payout.pk, staff=charlie, reason="  ")
    payout_reject(payout_id=payout.pk, staff=charlie, reason="Please verify your identity first.")

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.REJECTED
    assert user_balance(bob, DIAMOND) == 300_000
    assert clearing() == 0
    assert len(mail.outbox) == 1
    assert "Please verify your identity first." in mail.outbox[0].body
    with pytest.raises(PayoutError, match="not waiting for approval"):
        payout_approve(payout_id=payout.pk, staff=charlie)
    assert ledger_audit_run().ok


def test_a_declined_transfer_fails_returns_the_diamonds_and_emails_once(bob):
    give_diamonds(bob, 20_000)
    method = add_method(bob, paypal_email="decline@example.com")
    mail.outbox.clear()

    payout = request(bob, method, 10_000)

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED
    assert payout.failure_reason == "The receiving account refused the transfer."
    assert user_balance(bob, DIAMOND) == 20_000
    assert clearing() == 0
    assert [message.subject for message in mail.outbox] == ["Your payout of 10,000 diamonds did not go through"]

    # A replayed failure notice or a re-run task changes nothing and sends nothing.
    payout_settle(payout_id=payout.pk, paid=False)
    assert payout_process(payout_id=payout.pk) == PayoutStatus.FAILED
    assert user_balance(bob, DIAMOND) == 20_000
    assert len(mail.outbox) == 1
    assert ledger_audit_run().ok


def test_the_same_request_key_twice_pays_once(bob):
    give_diamonds(bob, 30_000)
    method = add_method(bob)

    first = request(bob, method, 10_000, key="same")
    second = request(bob, method, 10_000, key="same")

    assert first.pk == second.pk
    assert Payout.objects.count() == 1
    assert user_balance(bob, DIAMOND) == 20_000
    assert SandboxPayoutTransfer.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_never_spend_the_same_diamonds_twice(bob):
    ensure_countries()
    rates_load()
    give_diamonds(bob, 25_000)
    method = add_method(bob)

    results = run_in_threads(
        [lambda key=key: request(bob, method, 10_000, key=key) for key in range(8) for key in [f"k{key}"]], threads=8
    )

    succeeded = [result for result in results if isinstance(result, Payout)]
    refused = [result for result in results if isinstance(result, PayoutError)]
    assert (len(succeeded), len(refused)) == (2, 6)
    assert user_balance(bob, DIAMOND) == 5_000
    assert ledger_audit_run().ok


def wait_for_advisory_locks_released(timeout: float = 10) -> None:
    """A closed connection's backend exits (and drops its locks) a moment after the client hangs up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()")
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.05)
    raise AssertionError("the other connection's advisory lock was never released")


# --- Exactly once --------------------------------------------------------------------------------


def test_a_task_delivered_again_after_the_provider_was_called_pays_nothing_more(bob, monkeypatch):
    """A worker that died after the provider accepted the transfer, before we recorded it."""
    give_diamonds(bob, 20_000)
    method = add_method(bob)
    with monkeypatch.context() as patch:
        patch.setattr("payouts.services._enqueue", lambda payout_id: None)
        payout = request(bob, method, 10_000)
    # The first delivery converts and submits, then "dies" before saving the reference.
    assert _convert(payout)
    with monkeypatch.context() as patch:
        patch.setattr("payouts.tasks.sandbox_payout_settle.apply_async", lambda *args, **kwargs: None)
        providers.SandboxPayoutProvider().submit(Payout.objects.get(pk=payout.pk))
    assert SandboxPayoutTransfer.objects.count() == 1

    # The redelivered task (and a duplicate one) run to the end.
    payout_process(payout_id=payout.pk)
    payout_process(payout_id=payout.pk)

    payout.refresh_from_db()
    transfers = list(SandboxPayoutTransfer.objects.all())
    assert len(transfers) == 1
    assert payout.provider_reference == transfers[0].reference
    assert payout.attempts == 1
    assert user_balance(bob, DIAMOND) == 10_000


def test_a_second_worker_cannot_take_a_payout_another_one_is_processing(bob, monkeypatch):
    give_diamonds(bob, 20_000)
    method = add_method(bob)
    with monkeypatch.context() as patch:
        patch.setattr("payouts.services._enqueue", lambda payout_id: None)
        payout = request(bob, method, 10_000)
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:  # another worker holds the payout
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [int(LockClass.PAYOUT), payout.pk])
        assert payout_process(payout_id=payout.pk) == "locked"
        assert SandboxPayoutTransfer.objects.count() == 0
    finally:
        other.close()  # a dead worker's connection: PostgreSQL releases its lock
    wait_for_advisory_locks_released()
    assert payout_process(payout_id=payout.pk) == PayoutStatus.SUBMITTED
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    assert SandboxPayoutTransfer.objects.count() == 1
