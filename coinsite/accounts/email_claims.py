"""Emails sent once, and sent even when the task sending one dies mid-send.

A task claims its email with a conditional UPDATE on the row the email is about (a receipt's
`receipt_sent_at`, ...), so a re-delivered task sends nothing twice; sending fails, and the claim is given
back for a retry. A task that dies between the claim and the end of the send (the worker killed, the
machine lost) gave nothing back: the claim says "sent" to every later delivery, and the email was lost.

So each claim also writes an `EmailInFlight` row in the same transaction, deleted when the send ends
either way. A row older than any task may run (`EMAILS_RESEND_AFTER_SECONDS`, which settings keep above
`CELERY_TASK_TIME_LIMIT`) belongs to a task that died: `emails_in_flight_sweep` queues that task again,
and it takes the claim over (a conditional UPDATE of the row's time, so one taker wins) and sends. An
email the mail server accepted just before the task died is sent twice; that is the price of never
losing a receipt or a security notice.
"""

import datetime
import logging
from collections.abc import Callable, Sequence

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from coinsite.accounts.models import EmailInFlight
from coinsite.lib.email import email_send_claimed

logger = logging.getLogger(__name__)


def stale_after() -> datetime.timedelta:
    """How old an in-flight claim is when its task cannot still be running."""
    return datetime.timedelta(seconds=settings.EMAILS_RESEND_AFTER_SECONDS)


def email_send_once(
    *,
    key: str,
    task: str,
    args: Sequence[int | str],
    claim: Callable[[], bool],
    send: Callable[[], None],
    release: Callable[[], object],
) -> bool:
    """Send the email `key` at most once per claim, as `coinsite.lib.email.email_send_claimed`, and again by
    the Celery task `task` with `args` (the one calling this) if this call dies mid-send. Returns whether
    this call sent it."""

    def claim_in_flight() -> bool:
        now = timezone.now()
        with transaction.atomic():
            if claim():
                EmailInFlight.objects.create(key=key, task=task, args=list(args), claimed_at=now)
                return True
            # Claimed before by a task that died mid-send: take its claim over.
            abandoned = EmailInFlight.objects.filter(key=key, claimed_at__lt=now - stale_after())
            return abandoned.update(claimed_at=now) == 1

    def release_in_flight() -> None:
        with transaction.atomic():
            release()
            EmailInFlight.objects.filter(key=key).delete()

    sent = email_send_claimed(claim=claim_in_flight, send=send, release=release_in_flight)
    if sent:
        EmailInFlight.objects.filter(key=key).delete()
    return sent


def emails_in_flight_sweep(*, now: datetime.datetime | None = None) -> int:
    """Queue again the task of every email whose sender died mid-send; returns how many were queued.

    Claims older than EMAILS_RESEND_WITHIN_DAYS are dropped instead (the news is stale, as the mail sweeps
    treat unsent emails), and so are those of a task this release no longer has.
    """
    now = now or timezone.now()
    oldest = now - datetime.timedelta(days=settings.EMAILS_RESEND_WITHIN_DAYS)
    queued = 0
    for row in EmailInFlight.objects.filter(claimed_at__lt=now - stale_after()).order_by("claimed_at")[:500]:
        task = current_app.tasks.get(row.task)
        if row.claimed_at < oldest or task is None:
            logger.error("Dropped the claim of email %s, never sent (task %s).", row.key, row.task)
            EmailInFlight.objects.filter(pk=row.pk, claimed_at=row.claimed_at).delete()
            continue
        logger.warning("Email %s was claimed at %s and never sent: queued %s again.", row.key, row.claimed_at, row.task)
        task.delay(*row.args)
        queued += 1
    return queued
