from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context

from coinsite.accounts import sudo
from coinsite.lib.urls import safe_next


class AccountAdapter(DefaultAccountAdapter):
    def get_login_stages(self) -> list[str]:
        return [*super().get_login_stages(), "coinsite.accounts.stages.TwoFactorStage"]

    def login(self, request, user):
        super().login(request, user)
        # Having just typed the password (and code), the user need not re-check for sudo pages.
        sudo.mark_fresh(request)

    def is_safe_url(self, url: str) -> bool:
        # allauth's login, logout and email pages take `next` too: the same one check as ours.
        return bool(url) and safe_next(context.request, url, "") == url
