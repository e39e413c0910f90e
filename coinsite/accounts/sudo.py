"""Sudo mode: sensitive pages need a password or code re-check from the last few minutes."""

import datetime
import math
import time
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from coinsite.accounts.models import SudoThrottle

SESSION_KEY = "coinsite_sudo_until"
# Wrong passwords allowed before each further one doubles the wait (1 s, 2 s, 4 s, … up to an hour).
FREE_PASSWORD_FAILURES = 3
MAX_PASSWORD_WAIT_SECONDS = 60 * 60


def mark_fresh(request) -> None:
    request.session[SESSION_KEY] = int(time.time()) + settings.SUDO_MODE_SECONDS


def is_fresh(request) -> bool:
    return request.session.get(SESSION_KEY, 0) > time.time()


def sudo_required(view):
    """Send the user to the re-check page unless they confirmed it was them very recently."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect(f"{reverse('account_login')}?{urlencode({'next': request.get_full_path()})}")
        if not is_fresh(request):
            return redirect(f"{reverse('accounts:confirm')}?{urlencode({'next': request.get_full_path()})}")
        return view(request, *args, **kwargs)

    return wrapper


class RecheckRefused(Exception):
    """The re-check failed; ``str(error)`` is safe to show the user."""


def password_recheck(*, user, password: str, now: datetime.datetime | None = None) -> None:
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
