"""Profile country changes: regional rules cannot be bypassed by editing a profile.

`User.country` is the effective country every money rule reads (prices and currency, payment
methods, whether recharging or gifting is allowed). A change the user asks for (behind the sudo
re-check, see the profile view) is stored as a pending `CountryChange` and applies only after a
30-day cooling-off (the periodic task) or when staff approve it in admin. Every request,
withdrawal, approval, rejection and application stays recorded on its `CountryChange` row, and
staff decisions also in the staff audit log.
"""

import datetime
import logging

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_countries import countries

from coinsite.accounts.models import CountryChange, CountryChangeStatus, User
from coinsite.accounts.staff_audit import model_snapshot, staff_action_record

logger = logging.getLogger(__name__)

COOLING_OFF = datetime.timedelta(days=30)
Status = CountryChangeStatus


class CountryChangeError(Exception):
    """The change was not made and nothing was written; ``str(error)`` says why."""


def country_change_pending(user: User) -> CountryChange | None:
    return CountryChange.objects.filter(user=user, status=Status.PENDING).first()


def country_change_request(
    *, user: User, country: str, request_address: str | None = None, now: datetime.datetime | None = None
) -> CountryChange | None:
    """Ask for `country` to become the user's country after the cooling-off; None if nothing is pending after.

    A new request replaces a pending one (its cooling-off starts again); asking for the effective
    country withdraws a pending change. The effective country never changes here. The user's row
    is locked first, so two requests at once leave at most one pending change.
    """
    if country not in dict(countries):
        raise CountryChangeError(_("Choose one of the countries in the list."))
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        effective = User.objects.select_for_update().values_list("country", flat=True).get(pk=user.pk)
        pending = CountryChange.objects.select_for_update().filter(user=user, status=Status.PENDING).first()
        if pending is not None and pending.to_country == country:
            return pending
        if pending is not None:
            _decide(pending, Status.CANCELLED, now=now)
        if country == effective:
            return None
        return CountryChange.objects.create(
            user=user,
            from_country=effective,
            to_country=country,
            requested_at=now,
            effective_at=now + COOLING_OFF,
            request_address=request_address or None,
        )


def country_changes_apply_due(*, now: datetime.datetime | None = None, limit: int = 500) -> int:
    """Apply every pending change whose cooling-off is over; returns how many. Safe to run concurrently."""
    now = now or timezone.now()
    due = CountryChange.objects.filter(status=Status.PENDING, effective_at__lte=now)
    applied = 0
    for change_id in due.order_by("effective_at").values_list("pk", flat=True)[:limit]:
        with transaction.atomic(durable=True):
            change = due.select_for_update(skip_locked=True).filter(pk=change_id).first()
            if change is not None:
                _apply(change, Status.APPLIED, now=now)
                applied += 1
    return applied


def country_change_approve(*, change_id: int, staff: User, reason: str = "") -> CountryChange:
    """Staff apply a pending change now, before the cooling-off ends (audited)."""
    return _staff_decision(change_id=change_id, staff=staff, status=Status.APPROVED, reason=reason)


def country_change_reject(*, change_id: int, staff: User, reason: str) -> CountryChange:
    """Staff refuse a pending change; the effective country stays (audited)."""
    return _staff_decision(change_id=change_id, staff=staff, status=Status.REJECTED, reason=reason)


def _staff_decision(*, change_id: int, staff: User, status: str, reason: str) -> CountryChange:
    if staff is None or not staff.is_staff:
        raise CountryChangeError(_("Only staff can do this."))
    now = timezone.now()
    with transaction.atomic(durable=True):
        change = CountryChange.objects.select_for_update().select_related("user").get(pk=change_id)
        if change.status != Status.PENDING:
            raise CountryChangeError(
                _("This change is no longer waiting: %(status)s.") % {"status": change.get_status_display()}
            )
        before = model_snapshot(change)
        if status == Status.APPROVED:
            _apply(change, status, now=now, staff=staff)
        else:
            _decide(change, status, now=now, staff=staff)
        staff_action_record(
            actor=staff,
            action=f"country_change.{status}",
            target=change,
            before=before,
            after=model_snapshot(change),
            reason=reason,
        )
    return change


def _apply(change: CountryChange, status: str, *, now: datetime.datetime, staff: User | None = None) -> None:
    User.objects.filter(pk=change.user_id).update(country=change.to_country)
    _decide(change, status, now=now, staff=staff)
    logger.info("Country of user %s is now %s (%s)", change.user_id, change.to_country, status)


def _decide(change: CountryChange, status: str, *, now: datetime.datetime, staff: User | None = None) -> None:
    change.status, change.decided_at, change.decided_by = status, now, staff
    change.save(update_fields=["status", "decided_at", "decided_by"])
