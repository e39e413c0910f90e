"""Who is calling the API: a personal access token (Authorization: Bearer) or the site's own session (with
CSRF on writes), as one `Principal`; the per-credential rate limit; and the scope check every operation makes.
"""

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer
from ninja.security import SessionAuth as NinjaSessionAuth
from ninja.throttling import BaseThrottle

from api import tokens
from api.models import AccessToken, Scope
from coinsite.accounts.models import User
from coinsite.lib.errors import CoinsiteError
from coinsite.lib.rate_limit import RateLimit, RateLimited, rate_limit_hit

# The site's own pages act for the person logged in: every scope a token can have.
SESSION_SCOPES = frozenset(Scope.values)


@dataclass(frozen=True)
class Principal:
    user: User
    token: AccessToken | None  # None: the site's session
    scopes: frozenset[str]


class TokenAuth(HttpBearer):
    """`Authorization: Bearer cst_...`; a bad, expired or revoked token is a 401 problem (not a fallback)."""

    def authenticate(self, request: HttpRequest, token: str) -> Principal:
        access_token = tokens.token_authenticate(token.strip())
        return Principal(user=access_token.user, token=access_token, scopes=frozenset(access_token.scopes))


class SessionAuth(NinjaSessionAuth):
    """The site's login cookie; django-ninja checks the CSRF token on writes."""

    def authenticate(self, request: HttpRequest, key: str | None) -> Principal | None:
        user = request.user
        if isinstance(user, User) and user.is_authenticated and user.is_active:
            return Principal(user=user, token=None, scopes=SESSION_SCOPES)
        return None


def principal(request: HttpRequest, scope: str | None = None) -> Principal:
    """The caller; raises a 403 `scope_missing` problem unless their credential has `scope`."""
    caller: Principal = request.auth  # type: ignore[attr-defined]  # set by django-ninja's auth
    if scope is not None and scope not in caller.scopes:
        raise CoinsiteError("scope_missing", required_scope=scope)
    return caller


class CredentialThrottle(BaseThrottle):
    """Per token (or per session user): API_RATE_LIMIT_PER_SECOND and _PER_MINUTE, counted in the cache by
    `coinsite.lib.rate_limit`; refused requests get a 429 problem with Retry-After."""

    def __init__(self) -> None:
        self._retry_after: int | None = None

    def allow_request(self, request: HttpRequest) -> bool:
        caller: Principal | None = getattr(request, "auth", None)
        if caller is None:
            return True
        key = f"api:token:{caller.token.pk}" if caller.token else f"api:user:{caller.user.pk}"
        limits = (
            RateLimit(settings.API_RATE_LIMIT_PER_SECOND, 1),
            RateLimit(settings.API_RATE_LIMIT_PER_MINUTE, 60),
        )
        try:
            rate_limit_hit(key, *limits)
        except RateLimited as refused:
            self._retry_after = refused.retry_after
            return False
        return True

    def wait(self) -> float | None:
        return self._retry_after
