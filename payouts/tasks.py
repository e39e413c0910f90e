"""Payout tasks: thin, take primary keys, idempotent, `acks_late` with `reject_on_worker_lost`.

Each loads what it needs by id and calls a service (or, for email, claims it through a service and
sends it through `payouts.emails`): services → tasks → emails, never the other way round.
"""

import datetime
import logging

from celery import Task, shared_task
from django.db import OperationalError
from django.utils.translation import gettext_noop

from coinsite.accounts.email_claims import email_send_once
from coinsite.lib.dates import current_month, previous_month
from payouts import earnings, emails, providers, services
from payouts.statements import services as statement_services

logger = logging.getLogger(__name__)

RELIABLE = {"acks_late": True, "reject_on_worker_lost": True}
RETRY_OPTIONS = {
    **RELIABLE,
    "autoretry_for": (OperationalError, OSError, providers.PayoutProviderError),
    "max_retries": 5,
    "retry_backoff": True,
}


@shared_task(bind=True, **RETRY_OPTIONS)
def payout_process(self: Task, payout_id: int) -> str:
    """Convert the payout at the stored rate and hand it to the provider (exactly once).

    "locked": another delivery holds the payout, or a killed worker's connection is still being
    torn down; try again shortly (the work is idempotent, so a retry that finds it done is harmless).
    """
    status = services.payout_process(payout_id=payout_id)
    if status == "locked":
        raise self.retry(countdown=5)
    return status


@shared_task(**RETRY_OPTIONS)
def payouts_sweep() -> int:
    """Pick up payouts whose task was lost and ask the provider about long-submitted ones."""
    return services.payouts_sweep()


@shared_task(**RETRY_OPTIONS)
def sandbox_payout_settle(transfer_id: int, succeed: bool) -> str:
    """The sandbox provider finishing a transfer and notifying us, as a real one would by webhook."""
    transfer = providers.sandbox_transfer_finish(transfer_id=transfer_id, succeed=succeed)
    services.payout_settle_by_provider_key(
        provider="sandbox",
        provider_key=str(transfer.idempotency_key),
        reference=transfer.reference,
        paid=succeed,
        reason="" if succeed else gettext_noop("The receiving account refused the transfer."),
    )
    return transfer.status


@shared_task(**RETRY_OPTIONS)
def earnings_rollup() -> int:
    """Fold settled gift events into the creators' earnings roll-ups."""
    return earnings.earnings_rollup_all()


@shared_task(**RETRY_OPTIONS)
def payout_email_failed(payout_id: int) -> bool:
    """Tell the creator once that a payout failed or was rejected; a re-delivered task sends nothing more."""
    return email_send_once(
        key=f"payout.failed:{payout_id}",
        task=payout_email_failed.name,
        args=[payout_id],
        claim=lambda: services.payout_failure_email_claim(payout_id=payout_id),
        send=lambda: emails.payout_failed_send(payout_id=payout_id),
        release=lambda: services.payout_failure_email_release(payout_id=payout_id),
    )


@shared_task(**RETRY_OPTIONS)
def payout_email_method_changed(method_id: int) -> bool:
    """The security notice after a payout method change, once; a re-delivered task sends nothing more."""
    return email_send_once(
        key=f"payout.method:{method_id}",
        task=payout_email_method_changed.name,
        args=[method_id],
        claim=lambda: services.payout_method_notice_claim(method_id=method_id),
        send=lambda: emails.method_changed_send(method_id=method_id),
        release=lambda: services.payout_method_notice_release(method_id=method_id),
    )


# --- Monthly statements -------------------------------------------------------------------------

# Batches one task works through before handing on to a fresh task: each task stays short (well
# inside the broker's visibility timeout), and a lost task costs at most this many batches of redo.
STATEMENT_BATCHES_PER_TASK = 20


@shared_task(**RETRY_OPTIONS)
def statements_send_monthly() -> str:
    """Celery beat, on the 1st: start sending the statements for the month that just ended."""
    month = previous_month(current_month()).isoformat()
    statements_send_month.delay(month)
    return month


@shared_task(**RETRY_OPTIONS)
def statements_send_month(month_iso: str) -> str:
    """Send a month's statements (e.g. "2026-11-01"), a few batches per task, then hand on to the next task."""
    month = datetime.date.fromisoformat(month_iso)
    state = statement_services.statements_send_month(month=month, max_batches=STATEMENT_BATCHES_PER_TASK)
    if state == "more":
        statements_send_month.delay(month_iso)
    return state


@shared_task(**RETRY_OPTIONS)
def statements_sweep() -> int:
    """Pick up statement runs whose task was lost; the run's lock makes a second worker step aside."""
    months = statement_services.statements_unfinished()
    for month in months:
        statements_send_month.delay(month)
    return len(months)
