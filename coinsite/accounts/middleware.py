from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from coinsite.lib.access import has_two_factor
from coinsite.lib.l10n import time_zone


class UserLocaleMiddleware:
    """A signed-in person's saved language and time zone for this request (after AuthenticationMiddleware).

    `LocaleMiddleware` has already chosen the language: the chooser's cookie, else the browser's
    Accept-Language, else English; a saved choice wins over it. Times are shown in the person's
    zone, and in UTC to everyone else; the zone is dropped when the response is made, so it never
    leaks into the next request on the same thread.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if user.language in dict(settings.LANGUAGES):
                translation.activate(user.language)
                request.LANGUAGE_CODE = user.language
            timezone.activate(time_zone(user.time_zone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class StaffTwoFactorMiddleware:
    """Staff must have 2FA: until they enroll, every page sends them to the enrollment page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.allowed_prefixes: tuple[str, ...] | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if self._must_enroll(request, user):
            messages.warning(request, _("Staff accounts need two-factor authentication. Set it up first."))
            query = urlencode({"next": request.get_full_path()})
            return redirect(f"{reverse('accounts:enroll')}?{query}")
        return self.get_response(request)

    def _must_enroll(self, request: HttpRequest, user: Any) -> bool:
        if user is None or not user.is_authenticated or not user.is_staff:
            return False
        return not self._is_allowed(request.path) and not has_two_factor(user)

    def _is_allowed(self, path: str) -> bool:
        if self.allowed_prefixes is None:  # resolved on the first request, once the URLconf is loaded
            self.allowed_prefixes = (
                reverse("accounts:enroll"),
                reverse("accounts:confirm"),
                reverse("account_logout"),
                "/static/",
            )
        return path.startswith(self.allowed_prefixes)
