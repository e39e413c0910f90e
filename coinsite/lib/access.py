"""Who may open a page: the view decorators and the session checks behind them, in one module.

- `sudo_required`: sensitive pages (email, password, 2FA) need a password or code re-check from the
  last `SUDO_MODE_SECONDS` ("sudo mode"); `sudo_mark_fresh` records one.
- `creator_required`: creator pages; anyone else gets a 403.
- `two_factor_fresh_required(return_to=...)`: money-out pages (payouts, payout methods) need 2FA
  turned on and a code re-checked recently.

A form sent while the re-check had lapsed is kept (`coinsite.lib.resume`) and offered again after it.
"""

import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp import user_has_device

from coinsite.lib.resume import pending_post_keep

SUDO_SESSION_KEY = "coinsite_sudo_until"

View = Callable[..., HttpResponse]


def has_two_factor(user: Any) -> bool:
    """Whether the user has a confirmed 2FA device (an authenticator app or backup codes).

    A session verified with a device has one (django-otp's middleware keeps only a confirmed device of the
    user's own), so no query is needed; otherwise the user's devices are read.
    """
    if getattr(user, "otp_device", None) is not None:
        return True
    return bool(user.is_authenticated and user_has_device(user, confirmed=True))


def sudo_mark_fresh(request: HttpRequest) -> None:
    """The user just proved it was them: open sudo pages for the next `SUDO_MODE_SECONDS`."""
    request.session[SUDO_SESSION_KEY] = int(time.time()) + settings.SUDO_MODE_SECONDS


def sudo_is_fresh(request: HttpRequest) -> bool:
    return request.session.get(SUDO_SESSION_KEY, 0) > time.time()


def _with_next(url_name: str, request: HttpRequest, next_url: str | None = None) -> HttpResponse:
    return redirect(f"{reverse(url_name)}?{urlencode({'next': next_url or request.get_full_path()})}")


def recheck_redirect(request: HttpRequest, *, next_url: str, action: object = None) -> HttpResponse:
    """To the re-check page, back to `next_url` after it; a form sent meanwhile is kept to be continued.

    `action` says what the form does: a text, or a function of the request (to name the amount sent).
    """
    if request.method == "POST":
        words = action(request) if callable(action) else action
        pending_post_keep(request, action=str(words or gettext_lazy("Continue what you were doing")), next_url=next_url)
    return _with_next("accounts:confirm", request, next_url)


def sudo_required(view: View) -> View:
    """Send the user to the re-check page unless they confirmed it was them very recently."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return _with_next("account_login", request)
        if not sudo_is_fresh(request):
            return recheck_redirect(request, next_url=request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper


def creator_required(view: View) -> View:
    """Log in first; then only creators get through (everyone else: 403)."""

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_creator:  # type: ignore[union-attr]
            raise PermissionDenied(_("Only creators can open this page."))
        return view(request, *args, **kwargs)

    return wrapper


def two_factor_fresh_required(*, return_to: str, action: object = None) -> Callable[[View], View]:
    """Money-out pages need 2FA, re-checked with a code in the last few minutes (sudo mode).

    A POST whose re-check expired is kept and offered again after it, described as `action` (it is
    never replayed unasked); without it the person lands on the page named `return_to`. A GET comes
    back to itself.
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not has_two_factor(request.user):
                messages.warning(
                    request, _("Turn on two-factor authentication before you add payout methods or request payouts.")
                )
                return redirect("accounts:security")
            if not sudo_is_fresh(request):
                target = request.get_full_path() if request.method == "GET" else reverse(return_to)
                return recheck_redirect(request, next_url=target, action=action)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
