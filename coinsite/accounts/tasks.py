import datetime

from celery import shared_task
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from coinsite.accounts import country, email_claims, emails
from coinsite.lib.tasks import tasks_queue_again

ABANDONED_SETUP_AGE = datetime.timedelta(days=1)


@shared_task(acks_late=True)
def purge_abandoned_two_factor_setups() -> int:
    """Delete authenticator setups that were started but never confirmed; safe to run twice."""
    cutoff = timezone.now() - ABANDONED_SETUP_AGE
    deleted, _ = TOTPDevice.objects.filter(confirmed=False, created_at__lt=cutoff).delete()
    return deleted


@shared_task(acks_late=True)
def country_changes_apply_due() -> int:
    """Apply profile country changes whose 30-day cooling-off is over; idempotent."""
    return country.country_changes_apply_due()


@shared_task(acks_late=True, reject_on_worker_lost=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def creator_application_email(application_id: int) -> None:
    """Tell the applicant what staff decided (approved, or not and why)."""
    emails.creator_application_decided_send(application_id=application_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def emails_in_flight_sweep() -> int:
    """Queue again the emails whose task died mid-send (`coinsite.accounts.email_claims`); safe to run twice."""
    return email_claims.emails_in_flight_sweep()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def creator_application_emails_sweep() -> int:
    """Queue again the decisions whose email was never sent (its task lost, or refused by the broker); returns how
    many. The task claims its email before sending, so one queued twice sends it once."""
    unsent = emails.creator_application_emails_unsent()
    return tasks_queue_again(creator_application_email, unsent, what="creator application email(s)")
