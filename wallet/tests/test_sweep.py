"""The top-up sweep: expire abandoned checkouts, credit payments whose webhook was lost, run it again harmlessly."""

import datetime

import pytest
from django.utils import timezone

from wallet import services
from wallet.audit import ledger_audit_run
from wallet.ledger import user_balance
from wallet.models import Asset, LedgerTransaction, PaymentWebhookEvent, TopUp, TopUpStatus
from wallet.providers.base import PaymentEvent
from wallet.sandbox.models import SandboxSession
from wallet.sandbox.services import sandbox_session_finish
from wallet.tasks import topup_sweep_pending
from wallet.tests.support import package, start

State = SandboxSession.State


@pytest.fixture(autouse=True)
def _ledger_stays_consistent(db):
    yield
    report = ledger_audit_run()
    assert report.ok, "\n".join(report.lines())


@pytest.fixture
def new_topup(client, alice, outbox):
    """Start one of Alice's top-ups through the Buy coins form; returns a function that does it."""
    client.force_login(alice)

    def new_topup(coins: int = 700, *, started_ago: datetime.timedelta = datetime.timedelta(0)) -> TopUp:
        start(client, choice=str(package(coins).pk))
        topup = TopUp.objects.order_by("-id")[0]
        backdate(topup, started_ago)
        return topup

    return new_topup


def backdate(topup: TopUp, delta: datetime.timedelta) -> None:
    """Move a top-up and its sandbox checkout into the past, as if started ``delta`` ago."""
    TopUp.objects.filter(pk=topup.pk).update(created_at=topup.created_at - delta, expires_at=topup.expires_at - delta)
    SandboxSession.objects.filter(public_id=topup.provider_session_id).update(
        created=topup.created_at - delta, expires_at=topup.expires_at - delta
    )
    topup.refresh_from_db()


def sweep(capture):
    with capture(execute=True):
        return services.topup_sweep()


def test_abandoned_top_ups_past_their_expiry_are_expired_and_credit_nothing(
    new_topup, alice, mailoutbox, django_capture_on_commit_callbacks
):
    abandoned = new_topup(started_ago=datetime.timedelta(hours=2))  # the checkout ended an hour ago
    no_session = new_topup(started_ago=datetime.timedelta(hours=3))
    TopUp.objects.filter(pk=no_session.pk).update(provider_session_id="")  # the checkout never opened

    counts = sweep(django_capture_on_commit_callbacks)

    assert counts == {"checked": 2, "credited": 0, "expired": 2}
    abandoned.refresh_from_db()
    no_session.refresh_from_db()
    assert (abandoned.status, abandoned.status_reason) == (
        TopUpStatus.EXPIRED,
        "Provider reported the payment expired.",
    )
    assert (no_session.status, no_session.status_reason) == (
        TopUpStatus.EXPIRED,
        "The checkout was not completed in time.",
    )
    assert abandoned.completed_at is not None and no_session.completed_at is not None
    assert abandoned.ledger_transaction is None and no_session.ledger_transaction is None
    assert user_balance(alice, Asset.COIN) == 0
    assert LedgerTransaction.objects.count() == 0
    assert mailoutbox == []


def test_pending_top_ups_that_may_still_be_paid_are_left_alone(
    new_topup, mailoutbox, django_capture_on_commit_callbacks
):
    just_started = new_topup()
    paying_slowly = new_topup(started_ago=datetime.timedelta(minutes=20))  # checkout open for 40 more minutes

    counts = sweep(django_capture_on_commit_callbacks)

    assert counts == {"checked": 1, "credited": 0, "expired": 0}
    for topup in (just_started, paying_slowly):
        topup.refresh_from_db()
        assert topup.status == TopUpStatus.PENDING
    assert PaymentWebhookEvent.objects.count() == 0
    assert mailoutbox == []


def test_a_paid_checkout_whose_webhook_was_lost_is_credited_by_the_sweep(
    new_topup,
    alice,
    outbox,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    topup = new_topup(1400, started_ago=datetime.timedelta(minutes=15))
    session = SandboxSession.objects.get(public_id=topup.provider_session_id)
    outbox.answers = [ConnectionRefusedError("webhook endpoint unreachable")] * 20
    with django_capture_on_commit_callbacks(execute=True):
        assert sandbox_session_finish(
            session_id=session.pk, outcome=State.PAID, paid_with="card", payer_detail="Card ending 4242"
        )
    session.refresh_from_db()
    assert session.webhook_state == SandboxSession.WebhookState.FAILED  # every delivery attempt failed
    assert TopUp.objects.get(pk=topup.pk).status == TopUpStatus.PENDING

    counts = sweep(django_capture_on_commit_callbacks)

    assert counts == {"checked": 1, "credited": 1, "expired": 0}
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.SUCCEEDED
    assert user_balance(alice, Asset.COIN) == 1400
    assert LedgerTransaction.objects.get() == topup.ledger_transaction
    [receipt] = mailoutbox
    assert receipt.subject == "Your Coinsite receipt: 1,400 coins"


def test_the_recheck_waits_the_configured_time_then_credits_a_paid_checkout_whose_webhook_task_was_lost(
    new_topup, alice, settings, django_capture_on_commit_callbacks
):
    """A worker killed between taking a task from Redis and recording it loses the task (kombu's Redis
    transport): the paid top-up stays pending until the sweep asks the provider."""
    settings.TOPUPS_RECHECK_AFTER_SECONDS = 90
    topup = new_topup(1400, started_ago=datetime.timedelta(seconds=80))
    SandboxSession.objects.filter(public_id=topup.provider_session_id).update(
        state=State.PAID, event_id="evt_task_lost", finished_at=timezone.now(), paid_with="card"
    )

    assert sweep(django_capture_on_commit_callbacks) == {"checked": 0, "credited": 0, "expired": 0}
    assert TopUp.objects.get(pk=topup.pk).status == TopUpStatus.PENDING

    backdate(topup, datetime.timedelta(seconds=20))  # now started 100 s ago
    assert sweep(django_capture_on_commit_callbacks) == {"checked": 1, "credited": 1, "expired": 0}
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.SUCCEEDED
    assert user_balance(alice, Asset.COIN) == 1400


def test_running_the_sweep_again_changes_nothing_more(new_topup, alice, mailoutbox, django_capture_on_commit_callbacks):
    paid = new_topup(started_ago=datetime.timedelta(minutes=15))
    new_topup(started_ago=datetime.timedelta(hours=2))  # abandoned
    session = SandboxSession.objects.get(public_id=paid.provider_session_id)
    SandboxSession.objects.filter(pk=session.pk).update(
        state=State.PAID, event_id="evt_lost", finished_at=timezone.now(), paid_with="card"
    )

    first = sweep(django_capture_on_commit_callbacks)
    snapshot = list(
        TopUp.objects.order_by("id").values_list(
            "status", "status_reason", "completed_at", "ledger_transaction", "receipt_sent_at"
        )
    )
    second = sweep(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        third = topup_sweep_pending.delay().get()

    assert first == {"checked": 2, "credited": 1, "expired": 1}
    assert second == third == {"checked": 0, "credited": 0, "expired": 0}
    assert (
        list(
            TopUp.objects.order_by("id").values_list(
                "status", "status_reason", "completed_at", "ledger_transaction", "receipt_sent_at"
            )
        )
        == snapshot
    )
    assert [status for status, *_ in snapshot] == [TopUpStatus.SUCCEEDED, TopUpStatus.EXPIRED]
    assert user_balance(alice, Asset.COIN) == 700
    assert LedgerTransaction.objects.count() == 1
    assert PaymentWebhookEvent.objects.count() == 2
    assert len(mailoutbox) == 1


def test_a_payment_arriving_after_the_sweep_expired_the_top_up_is_still_credited(
    new_topup, alice, mailoutbox, django_capture_on_commit_callbacks
):
    topup = new_topup(started_ago=datetime.timedelta(hours=2))
    TopUp.objects.filter(pk=topup.pk).update(provider_session_id="")  # the sweep cannot ask the provider
    sweep(django_capture_on_commit_callbacks)
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.EXPIRED

    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.topup_apply_event(
            provider_name="sandbox",
            event=PaymentEvent(
                event_id="evt_late",
                type="succeeded",
                reference=str(topup.public_id),
                provider_session_id="sbx_late",
                amount=topup.amount,
                occurred_at=timezone.now(),
            ),
        )

    assert outcome == "credited late"
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.SUCCEEDED
    assert user_balance(alice, Asset.COIN) == 700
    assert len(mailoutbox) == 1
