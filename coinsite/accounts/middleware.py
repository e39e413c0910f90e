from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from coinsite.lib.access import has_two_factor


class StaffTwoFactorMiddleware:
    """Staff must have 2FA: until they enroll, every page sends them to the enrollment page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.allowed_prefixes: tuple[str, ...] | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if self._must_enroll(request, user):
            messages.warning(request, "Staff accounts need two-factor authentication. Set it up first.")
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
