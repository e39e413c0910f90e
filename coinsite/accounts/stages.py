# allauth.account.stages imports in a cycle unless another allauth module is loaded first.
import allauth.account.views  # noqa: F401
from allauth.account.stages import LoginStage
from django.http import HttpResponse
from django.shortcuts import redirect

from coinsite.lib.access import has_two_factor


class TwoFactorStage(LoginStage):
    """The last login stage: a user with a confirmed device must enter a code to finish."""

    key = "coinsite_two_factor"
    urlname = "accounts:two-factor-login"

    def handle(self) -> tuple[HttpResponse | None, bool]:
        if not has_two_factor(self.login.user):
            return None, True
        return redirect(self.urlname), True
