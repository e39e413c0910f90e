"""Payout tasks: thin, take primary keys, idempotent, `acks_late` with `reject_on_worker_lost`."""

import logging

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from payouts.providers import PayoutProviderError

logger = logging.getLogger(__name__)

RELIABLE = {"acks_late": True, "reject_on_worker_lost": True}
RETRY_OPTIONS = {
    **RELIABLE,
    "autoretry_for": (OperationalError, OSError, PayoutProviderError),
    "max_retries": 5,
    "retry_backoff": True,
}


@shared_task(bind=True, **RETRY_OPTIONS)
def payout_process(self, payout_id: int) -> str:
    """Convert the payout at the stored rate and hand it to the provider (exactly once).

    "locked": another delivery holds the payout, or a killed worker's connection is still being
    torn down; try again shortly (the work is idempotent, so a retry that finds it done is harmless).
    """
    from payouts.services import payout_process as process

    status = process(payout_id=payout_id)
    if status == "locked":
        raise self.retry(countdown=5)
    return status


@shared_task(**RETRY_OPTIONS)
def payouts_sweep() -> int:
    """Pick up payouts whose task was lost and ask the provider about long-submitted ones."""
    from payouts.services import payouts_sweep as sweep

    return sweep()


@shared_task(**RETRY_OPTIONS)
def sandbox_payout_settle(transfer_id: int, succeed: bool) -> str:
    """The sandbox provider finishing a transfer and notifying us, as a real one would by webhook."""
    from payouts.models import SandboxPayoutTransfer
    from payouts.services import payout_settle_by_provider_key

    transfer = SandboxPayoutTransfer.objects.get(pk=transfer_id)
    status = "paid" if succeed else "failed"
    SandboxPayoutTransfer.objects.filter(pk=transfer_id, status="pending").update(
        status=status, settled_at=timezone.now()
    )
    payout_settle_by_provider_key(
        provider="sandbox",
        provider_key=str(transfer.idempotency_key),
        reference=transfer.reference,
        paid=succeed,
        reason="" if succeed else "The receiving account refused the transfer.",
    )
    return status


@shared_task(**RETRY_OPTIONS)
def earnings_rollup() -> int:
    """Fold settled gift events into the creators' earnings roll-ups."""
    from payouts.earnings import earnings_rollup_all

    return earnings_rollup_all()


@shared_task(**RETRY_OPTIONS)
def payout_email_failed(payout_id: int) -> bool:
    from payouts.emails import payout_failed_deliver

    return payout_failed_deliver(payout_id=payout_id)


@shared_task(**RETRY_OPTIONS)
def payout_email_method_changed(method_id: int) -> bool:
    from payouts.emails import method_changed_deliver

    return method_changed_deliver(method_id=method_id)


# --- Monthly statements -------------------------------------------------------------------------

# Batches one task works through before handing on to a fresh task: each task stays short (well
# inside the broker's visibility timeout), and a lost task costs at most this many batches of redo.
STATEMENT_BATCHES_PER_TASK = 20


@shared_task(**RETRY_OPTIONS)
def statements_send_monthly() -> str:
    """Celery beat, on the 1st: start sending the statements for the month that just ended."""
    from payouts.statements import current_month, previous_month

    month = previous_month(current_month()).isoformat()
    statements_send_month.delay(month)
    return month


@shared_task(**RETRY_OPTIONS)
def statements_send_month(month_iso: str) -> str:
    """Send a month's statements (e.g. "2026-11-01"), a few batches per task, then hand on to the next task."""
    import datetime

    from payouts.statements import statements_send_month as send

    state = send(month=datetime.date.fromisoformat(month_iso), max_batches=STATEMENT_BATCHES_PER_TASK)
    if state == "more":
        statements_send_month.delay(month_iso)
    return state


@shared_task(**RETRY_OPTIONS)
def statements_sweep() -> int:
    """Pick up statement runs whose task was lost; the run's lock makes a second worker step aside."""
    from payouts.statements import statements_unfinished

    months = statements_unfinished()
    for month in months:
        statements_send_month.delay(month)
    return len(months)
