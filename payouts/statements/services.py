"""Sending the monthly statements (docs/design.md §5): once per user and month, in batches, resumable.

A run per month walks users in id order a batch at a time, saving its place after every batch, so
a run of 100,000 users keeps one batch in memory and resumes where a dead worker stopped. Each
email is claimed first by inserting its (user, month) `StatementDelivery` row, unique in the
database: a re-run, a re-delivered task or a second worker skips it. A claim is released if the
send fails, and a claim left behind by a killed worker is taken over after `STALE_CLAIM_AFTER`.
"""

import datetime
import logging
from smtplib import SMTPRecipientsRefused

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from coinsite.accounts.models import User
from coinsite.accounts.staff_audit import model_snapshot, staff_action_record
from coinsite.lib.dates import month_start, next_month
from coinsite.lib.locks import LockClass, advisory_lock
from payouts import emails
from payouts.models import StatementDelivery, StatementRun
from payouts.statements.selectors import statement_for
from wallet.models import LedgerAccount
from wallet.valuation import Valuation

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
STALE_CLAIM_AFTER = datetime.timedelta(minutes=30)


class StatementError(ValueError):
    """The run cannot start (the month has not ended yet); nothing was written."""


def statement_run_get(*, month: datetime.date, now: datetime.datetime | None = None) -> StatementRun:
    """The month's run, created on first use with the number of users it will look at."""
    if month != month.replace(day=1):
        raise StatementError(f"{month} is not the first day of a month.")
    if month_start(next_month(month)) > (now or timezone.now()):
        raise StatementError(f"{month:%B %Y} has not ended yet; statements are sent once it has.")
    run = StatementRun.objects.filter(month=month).first()
    if run is not None:
        return run
    run, _created = StatementRun.objects.get_or_create(
        month=month, defaults={"recipients_total": _candidates().count()}
    )
    return run


def statement_run_start(*, month: datetime.date, staff: User) -> StatementRun:
    """A staff member starts (or resumes) a month's run by hand; audited. The caller queues the sending task.

    The same checks as the monthly task (the month must have ended); starting a finished or running month
    again sends nothing twice (the per-user claims).
    """
    if staff is None or not staff.is_staff:
        raise StatementError("Only staff can do this.")
    with transaction.atomic(durable=True):
        run = statement_run_get(month=month)
        staff_action_record(actor=staff, action="statements.start", target=run, after=model_snapshot(run))
    logger.info("Statements for %s started by staff %s", month, staff.pk)
    return run


def statements_send_month(
    *,
    month: datetime.date,
    batch_size: int = BATCH_SIZE,
    max_batches: int | None = None,
    now: datetime.datetime | None = None,
) -> str:
    """Send the month's statements, a batch of users at a time, each email at most once.

    Returns "finished", "more" (stopped after `max_batches`; call again to go on) or "locked"
    (another worker is on this run: a session advisory lock, dropped by PostgreSQL if that worker
    dies). Progress is saved after every batch, so a restarted run resumes where it stopped, and
    the per-user delivery claim keeps even a run restarted from the beginning from sending twice.
    """
    run = statement_run_get(month=month, now=now)
    if run.finished_at is not None:
        return "finished"
    with advisory_lock(LockClass.STATEMENT_RUN, run.pk) as locked:
        if not locked:
            return "locked"
        batches = 0
        while max_batches is None or batches < max_batches:
            if not _send_batch(run.pk, month=month, batch_size=batch_size, now=now):
                StatementRun.objects.filter(pk=run.pk, finished_at__isnull=True).update(finished_at=timezone.now())
                logger.info("Statements for %s finished", month)
                return "finished"
            batches += 1
    return "more"


def statements_unfinished() -> list[str]:
    """Months whose run has not finished (for the sweep)."""
    return [
        month.isoformat()
        for month in StatementRun.objects.filter(finished_at__isnull=True).values_list("month", flat=True)
    ]


def _candidates() -> QuerySet[User]:
    """Users who could have anything on a statement: active, with a wallet (every coin, diamond,
    recharge and gift goes through one). Users with nothing in the month are skipped when built."""
    wallets = LedgerAccount.objects.filter(user=OuterRef("pk"))
    return User.objects.filter(Exists(wallets), is_active=True)


def _send_batch(run_id: int, *, month: datetime.date, batch_size: int, now: datetime.datetime | None) -> bool:
    """Process the next `batch_size` users after the run's place; False when none are left."""
    last_user_id = StatementRun.objects.filter(pk=run_id).values_list("last_user_id", flat=True).get()
    users = list(_candidates().filter(pk__gt=last_user_id).order_by("pk")[:batch_size])
    if not users:
        return False
    valuation = Valuation()  # one read of the settings and each currency's coin price per batch
    sent = sum(_deliver(user, month=month, now=now, valuation=valuation) for user in users)
    StatementRun.objects.filter(pk=run_id).update(
        last_user_id=users[-1].pk, processed=F("processed") + len(users), sent=F("sent") + sent
    )
    return True


def _deliver(user: User, *, month: datetime.date, now: datetime.datetime | None, valuation: Valuation) -> int:
    """Send the user's statement unless it is empty or already sent/claimed; 1 if it was sent now."""
    statement = statement_for(user, month, now=now, valuation=valuation)
    if statement.is_empty or not _claim(user, month=month, kind=statement.kind):
        return 0
    try:
        emails.statement_send(statement)
    except SMTPRecipientsRefused:
        # This address is refused; the others in the batch still get theirs, and a later run retries it.
        _release(user, month=month)
        logger.warning("Statement for %s to user %s refused by the mail server", month, user.pk)
        return 0
    except Exception:
        _release(user, month=month)
        raise
    StatementDelivery.objects.filter(user=user, month=month).update(sent_at=timezone.now())
    return 1


_CLAIM = f"""
    INSERT INTO {StatementDelivery._meta.db_table} (user_id, month, kind, claimed_at)
    VALUES (%s, %s, %s, %s) ON CONFLICT (user_id, month) DO NOTHING RETURNING id
"""  # noqa: S608 (table name from model metadata)


def _claim(user: User, *, month: datetime.date, kind: str) -> bool:
    """True for exactly one caller per (user, month): a new claim, or one a dead worker left unsent."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM, [user.pk, month, kind, now])
        if cursor.fetchone() is not None:
            return True
    return (
        StatementDelivery.objects.filter(
            user=user, month=month, sent_at__isnull=True, claimed_at__lt=now - STALE_CLAIM_AFTER
        ).update(claimed_at=now)
        == 1
    )


def _release(user: User, *, month: datetime.date) -> None:
    StatementDelivery.objects.filter(user=user, month=month, sent_at__isnull=True).delete()
