"""The sudo re-check by password, throttled (the session side of sudo mode is `coinsite.lib.access`)."""

import datetime
import math

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from coinsite.accounts.models import SudoThrottle, User

# Wrong passwords allowed before each further one doubles the wait (1 s, 2 s, 4 s, … up to an hour).
FREE_PASSWORD_FAILURES = 3
MAX_PASSWORD_WAIT_SECONDS = 60 * 60


class RecheckRefused(Exception):
    """The re-check failed; ``str(error)`` is safe to show the user."""


def password_recheck(*, user: User, password: str, now: datetime.datetime | None = None) -> None:
    """Accept the user's own password for sudo mode, or raise RecheckRefused.

    Throttled like two_factor.code_verify: the wait check, the password check and the failure
    count run under a lock on the user's throttle row and commit before the error is raised, so
    concurrent guesses cannot skip the wait. While a wait runs even the right password is refused.
    """
    now = now or timezone.now()
    with transaction.atomic():
        throttle, _created = SudoThrottle.objects.select_for_update().get_or_create(user=user)
        wait = _seconds_to_wait(throttle, now)
        if wait:
            throttle.failure_count += 1  # a refused guess still counts; the wait runs from the last checked one
            throttle.save(update_fields=["failure_count"])
        elif user.check_password(password):
            if throttle.failure_count:
                throttle.failure_count, throttle.last_failure_at = 0, None
                throttle.save(update_fields=["failure_count", "last_failure_at"])
            return
        else:
            throttle.failure_count, throttle.last_failure_at = throttle.failure_count + 1, now
            throttle.save(update_fields=["failure_count", "last_failure_at"])
            wait = _seconds_to_wait(throttle, now)
    raise RecheckRefused(_wait_message(wait) if wait else _("That password is not right."))


def _seconds_to_wait(throttle: SudoThrottle, now: datetime.datetime) -> int:
    if throttle.failure_count < FREE_PASSWORD_FAILURES or throttle.last_failure_at is None:
        return 0
    delay = min(2 ** (throttle.failure_count - FREE_PASSWORD_FAILURES), MAX_PASSWORD_WAIT_SECONDS)
    elapsed = (now - throttle.last_failure_at).total_seconds()
    return max(0, math.ceil(delay - elapsed))


def _wait_message(seconds: int) -> str:
    if seconds < 120:
        return ngettext(
            "Too many wrong passwords. Wait %(count)d second and try again.",
            "Too many wrong passwords. Wait %(count)d seconds and try again.",
            seconds,
        ) % {"count": seconds}
    minutes = math.ceil(seconds / 60)
    return ngettext(
        "Too many wrong passwords. Wait %(count)d minute and try again.",
        "Too many wrong passwords. Wait %(count)d minutes and try again.",
        minutes,
    ) % {"count": minutes}
