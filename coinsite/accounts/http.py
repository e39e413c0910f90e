"""The request a login-required view receives, as type checkers should see it."""

from django.http import HttpRequest

from coinsite.accounts.models import User


class AuthenticatedRequest(HttpRequest):
    """`request.user` is a signed-in `User` (the view is behind login_required or a stricter check)."""

    user: User
