"""Becoming a creator: a viewer applies, staff approve or reject in admin, the applicant is emailed.

A creator is a user with `is_creator` (the studio, diamonds and payouts all check it), so approving an
application sets it, and the creator name the applicant chose becomes their display name. One open
application per user (a database constraint); the user's row is locked first, so two submissions at
once leave one. Staff decisions are audited, and the email goes out after the commit, by a task.
"""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from coinsite.accounts.models import CreatorApplication, CreatorApplicationStatus, User
from coinsite.accounts.staff_audit import model_snapshot, staff_action_record
from coinsite.accounts.tasks import creator_application_email
from coinsite.lib.tasks import task_enqueue_on_commit

logger = logging.getLogger(__name__)

Status = CreatorApplicationStatus
MINIMUM_CREATOR_AGE = 18  # creators are paid out: an adult in every country Coinsite pays in


class ApplicationError(Exception):
    """Nothing was submitted or decided; ``str(error)`` says why, for the applicant or staff."""


def creator_application_open(user: User) -> CreatorApplication | None:
    return CreatorApplication.objects.filter(user=user, status=Status.PENDING).first()


def creator_application_latest(user: User) -> CreatorApplication | None:
    return CreatorApplication.objects.filter(user=user).order_by("-submitted_at", "-id").first()


def creator_application_submit(
    *, user: User, display_name: str, category: str, description: str, link: str = ""
) -> CreatorApplication:
    """File the user's application, unless they are a creator already, have one open, or are under 18."""
    display_name, description = " ".join(display_name.split()), description.strip()
    if not display_name or not description:
        raise ApplicationError(_("Tell us your creator name and what you stream."))
    with transaction.atomic(durable=True):
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.is_creator:
            raise ApplicationError(_("Your account is a creator account already."))
        if not locked.is_at_least(MINIMUM_CREATOR_AGE):
            raise ApplicationError(
                _("Creators must be %(age)d or older. Check the birth date on your profile.")
                % {"age": MINIMUM_CREATOR_AGE}
            )
        if CreatorApplication.objects.filter(user=locked, status=Status.PENDING).exists():
            raise ApplicationError(_("You have an application waiting for review already."))
        try:
            with transaction.atomic():
                application = CreatorApplication.objects.create(
                    user=locked, display_name=display_name, category=category, description=description, link=link
                )
        except IntegrityError:  # the one-open-application constraint, should the lock ever be bypassed
            raise ApplicationError(_("You have an application waiting for review already.")) from None
    logger.info("Creator application %s from user %s", application.pk, user.pk)
    return application


def creator_application_approve(*, application_id: int, staff: User, reason: str = "") -> CreatorApplication:
    """Make the applicant a creator (their chosen name becomes their display name); audited and emailed."""
    return _decide(application_id=application_id, staff=staff, status=Status.APPROVED, reason=reason)


def creator_application_reject(*, application_id: int, staff: User, reason: str) -> CreatorApplication:
    """Refuse the application with a reason the applicant is told; they may apply again."""
    if not " ".join((reason or "").split()):
        raise ApplicationError(_("Give the applicant a reason."))
    return _decide(application_id=application_id, staff=staff, status=Status.REJECTED, reason=reason)


def _decide(*, application_id: int, staff: User, status: str, reason: str) -> CreatorApplication:
    if staff is None or not staff.is_staff:
        raise ApplicationError(_("Only staff can do this."))
    with transaction.atomic(durable=True):
        application = CreatorApplication.objects.select_for_update().select_related("user").get(pk=application_id)
        if application.status != Status.PENDING:
            raise ApplicationError(
                _("This application was decided already: %(status)s.") % {"status": application.get_status_display()}
            )
        before = model_snapshot(application)
        if status == Status.APPROVED:
            User.objects.filter(pk=application.user_id).update(is_creator=True, display_name=application.display_name)
        application.status, application.decided_at, application.decided_by = status, timezone.now(), staff
        application.decision_reason = " ".join(reason.split())[:1000]
        application.save(update_fields=["status", "decided_at", "decided_by", "decision_reason"])
        staff_action_record(
            actor=staff,
            action=f"creator_application.{status}",
            target=application,
            before=before,
            after=model_snapshot(application),
            reason=reason,
        )
        task_enqueue_on_commit(creator_application_email, application.pk)
    logger.info("Creator application %s %s by staff %s", application.pk, status, staff.pk)
    return application
