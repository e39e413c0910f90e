"""An email whose task dies mid-send is sent later, once: the claim it left behind is taken over by the task the
in-flight sweep queues again, once no task could still be running it.

A task dies mid-send when its worker is killed or its machine lost after the claim committed: with `acks_late`
the broker delivers it again, but that delivery finds the email claimed and sends nothing. Simulated here by an
exception that is not an `Exception` (as a kill is not), so nothing gives the claim back.
"""

import datetime
from unittest import mock

import pytest
from django.utils import timezone

from coinsite.accounts.email_claims import stale_after
from coinsite.accounts.models import EmailInFlight
from coinsite.accounts.tasks import emails_in_flight_sweep
from payouts.models import PayoutMethod
from payouts.tasks import payout_email_method_changed
from payouts.tests.support import add_method
from wallet.models import TopUp
from wallet.tasks import topup_send_receipt
from wallet.tests.support import paid_topup

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-0123456789abcdef"


class WorkerKilled(BaseException):
    """What the task sees of a SIGKILL: nothing after this line runs, no `except Exception` catches it."""


@pytest.fixture(autouse=True)
def _resend_window(settings):
    settings.EMAILS_RESEND_AFTER_SECONDS = 600
    settings.EMAILS_RESEND_WITHIN_DAYS = 3


def claimed_ago(key: str, **delta: float) -> None:
    EmailInFlight.objects.filter(key=key).update(claimed_at=timezone.now() - datetime.timedelta(**delta))


def killed_mid_send(task, *args) -> None:
    with pytest.raises(WorkerKilled), mock.patch("django.core.mail.EmailMessage.send", side_effect=WorkerKilled):
        task(*args)


def test_a_receipt_whose_task_died_mid_send_is_sent_once_by_the_sweep(alice, mailoutbox):
    topup = paid_topup(alice, 700)
    killed_mid_send(topup_send_receipt, topup.pk)
    key = f"topup.receipt:{topup.pk}"

    assert mailoutbox == []
    assert TopUp.objects.get(pk=topup.pk).receipt_sent_at is not None  # the dead task's claim
    assert list(EmailInFlight.objects.values_list("key", "task", "args")) == [
        (key, "wallet.tasks.topup_send_receipt", [topup.pk])
    ]
    assert topup_send_receipt(topup.pk) is False  # the broker's second delivery: claimed, so nothing
    assert emails_in_flight_sweep() == 0  # not yet: the task could still be sending
    assert mailoutbox == []

    claimed_ago(key, seconds=stale_after().total_seconds() + 1)
    assert emails_in_flight_sweep() == 1

    [receipt] = mailoutbox
    assert receipt.to == ["alice@example.com"]
    assert receipt.subject == "Your Coinsite receipt: 700 coins"
    assert not EmailInFlight.objects.exists()
    assert emails_in_flight_sweep() == 0
    assert topup_send_receipt(topup.pk) is False
    assert len(mailoutbox) == 1


def test_a_sent_or_failed_email_leaves_no_claim_in_flight(bob, mailoutbox):
    method = add_method(bob)
    PayoutMethod.objects.filter(pk=method.pk).update(notice_sent_at=None)
    mailoutbox.clear()

    with pytest.raises(OSError), mock.patch("django.core.mail.EmailMessage.send", side_effect=OSError("refused")):
        payout_email_method_changed(method.pk)
    assert PayoutMethod.objects.get(pk=method.pk).notice_sent_at is None  # given back for a retry
    assert not EmailInFlight.objects.exists()

    assert payout_email_method_changed(method.pk) is True
    assert len(mailoutbox) == 1
    assert not EmailInFlight.objects.exists()
    assert payout_email_method_changed(method.pk) is False


def test_two_deliveries_taking_over_one_dead_claim_send_one_email(alice, mailoutbox):
    topup = paid_topup(alice, 700)
    killed_mid_send(topup_send_receipt, topup.pk)
    claimed_ago(f"topup.receipt:{topup.pk}", hours=1)

    assert [topup_send_receipt(topup.pk), topup_send_receipt(topup.pk)] == [True, False]
    assert len(mailoutbox) == 1


def test_the_sweep_drops_claims_too_old_to_matter_or_of_a_task_gone(alice, mailoutbox):
    old, gone = paid_topup(alice, 700), paid_topup(alice, 350)
    killed_mid_send(topup_send_receipt, old.pk)
    killed_mid_send(topup_send_receipt, gone.pk)
    claimed_ago(f"topup.receipt:{old.pk}", days=4)
    EmailInFlight.objects.filter(key=f"topup.receipt:{gone.pk}").update(
        task="wallet.tasks.renamed_long_ago", claimed_at=timezone.now() - datetime.timedelta(hours=1)
    )

    assert emails_in_flight_sweep() == 0
    assert not EmailInFlight.objects.exists()
    assert mailoutbox == []


def test_metrics_count_the_emails_abandoned_mid_send_until_one_is_taken_over(alice, client, settings):
    settings.METRICS_TOKEN = TOKEN
    topup = paid_topup(alice, 700)
    killed_mid_send(topup_send_receipt, topup.pk)
    assert abandoned(client) == 0.0  # its task could still be sending

    claimed_ago(f"topup.receipt:{topup.pk}", minutes=11)
    assert abandoned(client) == 1.0
    emails_in_flight_sweep()
    assert abandoned(client) == 0.0


def abandoned(client) -> float:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    [value] = [
        line.split()[-1]
        for line in response.content.decode().splitlines()
        if line.startswith("coinsite_emails_abandoned ")
    ]
    return float(value)
