from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.translation import gettext_lazy
from django_otp.admin import OTPAdminSite

from backoffice.reports import can_see_reports, reports_view
from coinsite.lib.urls import safe_next


class CoinsiteAdminSite(OTPAdminSite):
    """Django admin that only opens for active staff whose session passed a 2FA check.

    Logging in happens on the site's own login page (with its 2FA stage), so admin's login view
    forwards there, or to the code check for a signed-in staff member whose session is unverified.
    """

    site_header = gettext_lazy("Coinsite staff")
    site_title = gettext_lazy("Coinsite staff")
    index_title = gettext_lazy("Operations")
    index_template = "admin/coinsite_index.html"

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        next_url = safe_next(request, request.GET.get("next"), reverse("admin:index"))
        query = urlencode({"next": next_url})
        if request.user.is_authenticated:
            return redirect(f"{reverse('accounts:confirm')}?{query}")
        return redirect(f"{reverse('account_login')}?{query}")

    def get_urls(self) -> list[URLPattern | URLResolver]:
        view = self.admin_view(lambda request: reports_view(request, admin_site=self))
        return [path("reports/", view, name="reports"), *super().get_urls()]

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_see_reports": can_see_reports(request.user)}
        return super().index(request, extra_context)
