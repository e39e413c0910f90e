from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse
from django_otp.admin import OTPAdminSite


class CoinsiteAdminSite(OTPAdminSite):
    """Django admin that only opens for active staff whose session passed a 2FA check.

    Logging in happens on the site's own login page (with its 2FA stage), so admin's login view
    forwards there, or to the code check for a signed-in staff member whose session is unverified.
    """

    site_header = "Coinsite staff"
    site_title = "Coinsite staff"
    index_title = "Operations"

    def login(self, request, extra_context=None):
        next_url = request.GET.get("next") or reverse("admin:index")
        query = urlencode({"next": next_url})
        if request.user.is_authenticated:
            return redirect(f"{reverse('accounts:confirm')}?{query}")
        return redirect(f"{reverse('account_login')}?{query}")

