"""The mail sweep: a receipt, a reversal notice or an account-freeze notice whose task was lost goes out later,
once; nothing else is sent.

A task is lost when a worker dies between taking it from Redis and recording it (kombu's Redis transport),
or it gives up after its retries when the mail server is down: the viewer's email would never come.
"""

import datetime

import pytest
from django.db import connection, transaction
from django.utils import timezone
from djmoney.money import Money
from kombu.exceptions import OperationalError as KombuOperationalError

from wallet.models import TopUp, TopUpStatus, WalletFreeze
from wallet.services import UnsentEmails, wallet_emails_unsent
from wallet.staff import account_freeze, account_unfreeze, topup_reverse_coins, wallet_freeze
from wallet.tasks import account_frozen_email, wallet_emails_sweep
from wallet.tests.support import paid_topup, topup_row

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _resend_window(settings):
    settings.EMAILS_RESEND_AFTER_SECONDS = 600
    settings.EMAILS_RESEND_WITHIN_DAYS = 3


def finished_ago(topup: TopUp, field: str, **delta: float) -> None:
    TopUp.objects.filter(pk=topup.pk).update(**{field: timezone.now() - datetime.timedelta(**delta)})


def emails_state() -> list[tuple]:
    return list(TopUp.objects.order_by("pk").values_list("pk", "status", "receipt_sent_at", "reversal_email_sent_at"))


def test_a_receipt_whose_task_was_lost_is_sent_once_after_the_configured_time(alice, mailoutbox):
    topup = paid_topup(alice, 700)  # credited as the webhook credits it; its receipt task never ran
    finished_ago(topup, "completed_at", minutes=9)

    assert wallet_emails_sweep.delay().get() == 0  # not yet: the task may still be on its way
    assert mailoutbox == []

    finished_ago(topup, "completed_at", minutes=11)
    assert wallet_emails_sweep.delay().get() == 1

    [receipt] = mailoutbox
    assert receipt.to == ["alice@example.com"]
    assert receipt.subject == "Your Coinsite receipt: 700 coins"
    assert f"Receipt number: {topup.public_id}" in receipt.body
    assert TopUp.objects.get(pk=topup.pk).receipt_sent_at is not None
    assert wallet_emails_sweep.delay().get() == 0
    assert len(mailoutbox) == 1


def test_a_reversal_notice_whose_task_was_lost_is_sent_once(alice, charlie, mailoutbox):
    topup = paid_topup(alice, 700)
    TopUp.objects.filter(pk=topup.pk).update(receipt_sent_at=timezone.now())
    with transaction.atomic():  # the refund without the notice task backoffice.services queues after it
        topup_reverse_coins(topup_id=topup.pk, staff=charlie, kind="refund", reason="Customer asked within 14 days")
    finished_ago(topup, "reversed_at", minutes=11)

    assert wallet_emails_unsent() == UnsentEmails(receipts=[], reversal_notices=[topup.pk], freeze_notices=[])
    assert wallet_emails_sweep.delay().get() == 1

    [notice] = mailoutbox
    assert notice.to == ["alice@example.com"]
    assert notice.subject == "Your Coinsite recharge was refunded"
    assert wallet_emails_sweep.delay().get() == 0
    assert len(mailoutbox) == 1


def test_an_account_freeze_whose_notice_the_broker_refused_is_sent_by_the_sweep(
    alice, charlie, mailoutbox, django_capture_on_commit_callbacks
):
    def broker_down(user_id):
        raise KombuOperationalError("Error 111 connecting to redis:6379. Connection refused.")

    with pytest.MonkeyPatch.context() as patch, django_capture_on_commit_callbacks(execute=True):
        patch.setattr("wallet.tasks.account_frozen_email.delay", broker_down)
        account_freeze(user=alice, staff=charlie, reason="Chargeback fraud under review.")
    assert mailoutbox == []
    WalletFreeze.objects.filter(pk=alice.pk).update(frozen_at=timezone.now() - datetime.timedelta(minutes=11))

    assert wallet_emails_unsent() == UnsentEmails(receipts=[], reversal_notices=[], freeze_notices=[alice.pk])
    assert wallet_emails_sweep.delay().get() == 1

    [notice] = mailoutbox
    assert (notice.subject, notice.to) == ("Your Coinsite account is frozen", ["alice@example.com"])
    assert "Chargeback fraud under review." in notice.body
    assert account_frozen_email(alice.pk) is False  # a re-delivered task sends nothing more
    assert wallet_emails_sweep.delay().get() == 0
    assert len(mailoutbox) == 1


def test_a_freeze_lifted_before_its_notice_went_is_not_announced(alice, charlie, mailoutbox):
    with pytest.MonkeyPatch.context() as patch:  # the notice's task never ran
        patch.setattr("wallet.tasks.account_frozen_email.delay", lambda user_id: None)
        account_freeze(user=alice, staff=charlie, reason="Checking a payment.")
    account_unfreeze(user=alice, staff=charlie, reason="Payment checked.")

    assert account_frozen_email(alice.pk) is False
    assert wallet_emails_unsent().freeze_notices == []
    assert mailoutbox == []


def test_during_an_upgrade_the_previous_release_still_freezes(alice, charlie, mailoutbox):
    """docs/operations.md: migrations keep the previous release working while they run and until its processes
    restart. It inserts freezes without the new column (and sent its own notice, claiming nothing)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO wallet_walletfreeze (user_id, reason, frozen_by_id, frozen_at) VALUES (%s, %s, %s, now())",
            [alice.pk, "Chargeback fraud under review.", charlie.pk],
        )
    assert WalletFreeze.objects.get(pk=alice.pk).notice_pending is False  # so the sweep does not send it again
    assert wallet_emails_sweep.delay().get() == 0
    assert mailoutbox == []


def test_the_sweep_leaves_sent_unpaid_and_stale_emails_alone(alice, bob, charlie, mailoutbox):
    sent = paid_topup(alice, 700)
    # Each finished 11 minutes ago, when an unsent email of theirs would be due
    TopUp.objects.filter(pk=sent.pk).update(receipt_sent_at=timezone.now() - datetime.timedelta(minutes=10))
    finished_ago(sent, "completed_at", minutes=11)
    stale = paid_topup(alice, 350)
    finished_ago(stale, "completed_at", days=4)  # past EMAILS_RESEND_WITHIN_DAYS: news too old to send
    declined = {"status": TopUpStatus.FAILED, "completed_at": timezone.now() - datetime.timedelta(minutes=11)}
    topup_row(alice, 70, amount=Money("0.99", "USD"), **declined)  # no coins, so no receipt
    wallet_freeze(user=bob, staff=charlie, reason="Wallet checks.")  # a wallet-only freeze emails nobody
    WalletFreeze.objects.filter(pk=bob.pk).update(frozen_at=timezone.now() - datetime.timedelta(minutes=11))
    before = emails_state()

    assert wallet_emails_unsent() == UnsentEmails(receipts=[], reversal_notices=[], freeze_notices=[])
    assert wallet_emails_sweep.delay().get() == 0

    assert mailoutbox == []
    assert emails_state() == before


def test_a_receipt_that_stays_unsent_is_queued_again_at_doubling_ages_not_every_sweep(alice, settings):
    """A mail server down for a day, or an address that refuses mail: the sweep (every 5 minutes) queues the
    receipt 10, 20, 40 minutes … after the top-up, nine times in three days, not at each of its 864 sweeps."""
    settings.TOPUPS_SWEEP_SECONDS = 300
    topup = paid_topup(alice, 700)
    TopUp.objects.filter(pk=topup.pk).update(receipt_sent_at=None)  # every send failed and gave its claim back
    completed_at = TopUp.objects.get(pk=topup.pk).completed_at
    offset = 7  # the sweeps' clock is not the top-up's

    queued_at_ages = [
        age
        for age in range(offset, 3 * 24 * 60 * 60 + 1, settings.TOPUPS_SWEEP_SECONDS)
        if wallet_emails_unsent(now=completed_at + datetime.timedelta(seconds=age)).receipts == [topup.pk]
    ]

    assert queued_at_ages == [600 * 2**doubling + offset for doubling in range(9)]  # the last at 42 h 40 min


def test_no_resend_window_means_the_sweep_queues_nothing(alice, settings, mailoutbox):
    settings.EMAILS_RESEND_WITHIN_DAYS = 0  # an operator who wants no second tries
    topup = paid_topup(alice, 700)
    finished_ago(topup, "completed_at", minutes=11)

    assert wallet_emails_unsent() == UnsentEmails(receipts=[], reversal_notices=[], freeze_notices=[])
    assert wallet_emails_sweep.delay().get() == 0
    assert mailoutbox == []
