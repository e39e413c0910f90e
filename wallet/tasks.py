"""Ledger housekeeping tasks: the daily audit and the roll-up of append-only balances.

Both take no model arguments (only an optional ISO date), are idempotent and use `acks_late`
with `reject_on_worker_lost`, so a worker dying mid-task means the task runs again, harmlessly.
"""

import datetime
import logging

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from coinsite.accounts.email_claims import email_send_once
from coinsite.lib.email import email_send_claimed
from wallet import emails, services, staff
from wallet.audit import AuditReport, ledger_audit_run
from wallet.ledger import ledger_rollup_pending
from wallet.models import LedgerAuditRun, TopUp

logger = logging.getLogger(__name__)

RETRY_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError, OSError),
    "max_retries": 3,
    "retry_backoff": True,
}


@shared_task(**RETRY_OPTIONS)
def ledger_audit_daily(run_date: str | None = None) -> int:
    """Audit the ledger once for `run_date` (default today), store the outcome, alert staff once on failure."""
    day = datetime.date.fromisoformat(run_date) if run_date else timezone.localdate()
    run, _created = LedgerAuditRun.objects.get_or_create(run_date=day)
    if run.finished_at is not None and (run.is_clean or run.alert_sent_at is not None):
        logger.info("Ledger audit for %s already done (run %s); nothing to do.", day, run.pk)
        return run.pk
    report = ledger_audit_run()
    LedgerAuditRun.objects.filter(pk=run.pk).update(
        finished_at=timezone.now(), is_clean=report.ok, problem_count=report.problem_count, report=report.as_dict()
    )
    if report.ok:
        logger.info("Ledger audit for %s passed.", day)
    else:
        logger.error(
            "Ledger audit for %s FAILED with %s problem(s):\n%s", day, report.problem_count, "\n".join(report.lines())
        )
        _alert_staff(run_pk=run.pk, day=day, report=report)
    return run.pk


@shared_task(**RETRY_OPTIONS)
def ledger_rollup_balances() -> int:
    """Fold pending balance deltas into cached balances (creator wallets, system accounts)."""
    return ledger_rollup_pending()


def _alert_staff(*, run_pk: int, day: datetime.date, report: AuditReport) -> None:
    # A conditional UPDATE claims the alert, so two deliveries of the task send one email.
    runs = LedgerAuditRun.objects.filter(pk=run_pk)
    email_send_claimed(
        claim=lambda: runs.filter(alert_sent_at__isnull=True).update(alert_sent_at=timezone.now()) == 1,
        send=lambda: emails.ledger_audit_failed_send(day=day.isoformat(), report=report),
        release=lambda: runs.update(alert_sent_at=None),
    )


# --- Top-ups ------------------------------------------------------------------------------------------


@shared_task(**RETRY_OPTIONS)
def topup_send_receipt(topup_id: int) -> bool:
    """Email the receipt of a succeeded top-up once; a re-delivered task sends nothing more."""
    return email_send_once(
        key=f"topup.receipt:{topup_id}",
        task=topup_send_receipt.name,
        args=[topup_id],
        claim=lambda: services.topup_receipt_claim(topup_id=topup_id),
        send=lambda: emails.topup_receipt_send(topup_id=topup_id),
        release=lambda: services.topup_receipt_release(topup_id=topup_id),
    )


@shared_task(**RETRY_OPTIONS)
def topup_send_reversal_notice(topup_id: int) -> bool:
    """Email the viewer once that their top-up was refunded or charged back (the reversal has committed)."""
    topups = TopUp.objects.filter(pk=topup_id)
    return email_send_once(
        key=f"topup.reversal:{topup_id}",
        task=topup_send_reversal_notice.name,
        args=[topup_id],
        claim=lambda: (
            topups.exclude(reversal="")
            .filter(reversal_email_sent_at__isnull=True)
            .update(reversal_email_sent_at=timezone.now())
            == 1
        ),
        send=lambda: emails.topup_reversal_send(topup_id=topup_id),
        release=lambda: topups.update(reversal_email_sent_at=None),
    )


@shared_task(**RETRY_OPTIONS)
def topup_sweep_pending() -> dict:
    """Re-check top-ups stuck in pending with their provider and expire abandoned ones."""
    return services.topup_sweep()


@shared_task(**RETRY_OPTIONS)
def wallet_emails_sweep() -> int:
    """Queue again the receipts, reversal notices and freeze notices whose task was lost; returns how many.

    Each task claims its email before sending, so one queued twice (or still running) sends it once."""
    unsent = services.wallet_emails_unsent()
    for topup_id in unsent.receipts:
        topup_send_receipt.delay(topup_id)
    for topup_id in unsent.reversal_notices:
        topup_send_reversal_notice.delay(topup_id)
    for user_id in unsent.freeze_notices:
        account_frozen_email.delay(user_id)
    queued = sum(map(len, unsent))
    if queued:
        logger.warning(
            "Queued again %s receipt(s), %s reversal notice(s) and %s freeze notice(s) that were never sent",
            *map(len, unsent),
        )
    return queued


@shared_task(**RETRY_OPTIONS)
def account_frozen_email(user_id: int) -> bool:
    """Tell a user once that staff froze their account, and why; nothing if the freeze was lifted meanwhile."""
    return email_send_once(
        key=f"account.frozen:{user_id}",
        task=account_frozen_email.name,
        args=[user_id],
        claim=lambda: staff.account_frozen_notice_claim(user_id=user_id),
        send=lambda: emails.account_frozen_send(user_id=user_id),
        release=lambda: staff.account_frozen_notice_release(user_id=user_id),
    )
