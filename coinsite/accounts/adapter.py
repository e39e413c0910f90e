from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context
from django.http import HttpRequest

from coinsite.lib.access import sudo_mark_fresh
from coinsite.lib.urls import safe_next


class AccountAdapter(DefaultAccountAdapter):
    def get_login_stages(self) -> list[str]:
        return [*super().get_login_stages(), "coinsite.accounts.stages.TwoFactorStage"]

    def login(self, request: HttpRequest, user: Any) -> None:
        super().login(request, user)
        # Having just typed the password (and code), the user need not re-check for sudo pages.
        sudo_mark_fresh(request)

    def is_safe_url(self, url: str) -> bool:
        # allauth's login, logout and email pages take `next` too: the same one check as ours.
        return bool(url) and safe_next(context.request, url, "") == url
