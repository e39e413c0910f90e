"""Emails the accounts app sends, each built from templates/emails/ and sent by `coinsite.lib.email`."""

import datetime

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from coinsite.accounts.email_claims import email_send_once
from coinsite.accounts.models import CreatorApplication, CreatorApplicationStatus
from coinsite.lib.email import email_send, recipient_locale, resend_due, site_url


def staff_enrollment_code_send(*, to: str, code: str, minutes: int) -> None:
    """A staff member's one-time code for setting up their first authenticator, valid for `minutes`.

    Sent from the request itself, not through a task: the person is waiting for it, and the code must not
    sit in the broker's queue.
    """
    email_send(
        to=to,
        subject=_("Your Coinsite staff set-up code"),
        template="staff_enrollment_code",
        context={"code": code, "minutes": minutes},
    )


def creator_application_decided_send(*, application_id: int) -> None:
    """The decision on a creator application, in the applicant's language: approved (with the way to the
    studio) or not approved (with staff's reason)."""
    application = CreatorApplication.objects.select_related("user").get(pk=application_id)
    if application.status == CreatorApplicationStatus.PENDING:
        return
    approved = application.status == CreatorApplicationStatus.APPROVED
    unsent = CreatorApplication.objects.filter(pk=application.pk, emailed_at__isnull=True)

    def send() -> None:
        with recipient_locale(application.user):
            email_send(
                to=application.user.email,
                subject=_("You are a Coinsite creator") if approved else _("Your Coinsite creator application"),
                template="creator_application_approved" if approved else "creator_application_rejected",
                context={
                    "application": application,
                    "studio_url": site_url("gifting:studio"),
                    "apply_url": site_url("payouts:index"),
                },
            )

    # Once, even when the task is delivered twice (a claim released again if sending fails).
    email_send_once(
        key=f"creator.application:{application.pk}",
        task="coinsite.accounts.tasks.creator_application_email",  # its caller (tasks imports this module)
        args=[application.pk],
        claim=lambda: unsent.update(emailed_at=timezone.now()) == 1,
        send=send,
        release=lambda: CreatorApplication.objects.filter(pk=application.pk).update(emailed_at=None),
    )


def creator_application_emails_unsent(*, now: datetime.datetime | None = None, limit: int = 500) -> list[int]:
    """Decided applications whose email should have gone by now and has not (`resend_due`): its task was lost,
    or the broker refused it, or every retry failed. Oldest first, at most `limit`."""
    unsent = CreatorApplication.objects.exclude(status=CreatorApplicationStatus.PENDING).filter(emailed_at__isnull=True)
    every = settings.ACCOUNTS_EMAILS_SWEEP_SECONDS  # the sweep's schedule (CELERY_BEAT_SCHEDULE)
    return resend_due(unsent, finished="decided_at", every=every, now=now, limit=limit)
