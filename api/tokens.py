"""Personal access tokens: made (shown once), authenticated by their hash, revoked.

A token reads `cst_<43 url-safe characters>` (256 random bits). Only its SHA-256 is stored, so a
leaked database gives no usable token, and authenticating is one lookup on a unique index.
"""

import datetime
import hashlib
import secrets
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from api.models import AccessToken, Scope
from coinsite.accounts.models import User
from coinsite.lib.errors import CoinsiteError

TOKEN_PREFIX = "cst_"
PREFIX_SHOWN = 12  # "cst_" and 8 characters: enough to tell tokens apart, useless to guess with
NAME_MAX_LENGTH = 80
EXPIRY_DAYS = (7, 30, 90, 365)
TOKENS_PER_USER = 50
# last_used_at is written at most this often per token, so a busy token costs no write per request.
LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)


class TokenError(ValueError):
    """The token was not made; ``str(error)`` tells the person why. Nothing was written."""


@dataclass(frozen=True)
class NewToken:
    token: AccessToken
    plaintext: str  # shown once, never stored


def token_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def token_create(*, user: User, name: str, scopes: list[str], expires_in_days: int) -> NewToken:
    """Make a token for `user` with exactly `scopes` (at least one, all known) for `expires_in_days` days."""
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX_LENGTH:
        raise TokenError(_("Give the token a name of 1 to %(max)s characters.") % {"max": NAME_MAX_LENGTH})
    if not scopes or not set(scopes) <= set(Scope.values):
        raise TokenError(_("Choose at least one scope."))
    if expires_in_days not in EXPIRY_DAYS:
        raise TokenError(_("Choose one of the expiry periods offered."))
    if AccessToken.objects.filter(user=user, revoked_at__isnull=True).count() >= TOKENS_PER_USER:
        raise TokenError(_("You have %(max)s tokens; revoke one first.") % {"max": TOKENS_PER_USER})
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    token = AccessToken.objects.create(
        user=user,
        name=name,
        prefix=plaintext[:PREFIX_SHOWN],
        token_hash=token_hash(plaintext),
        scopes=sorted(set(scopes)),
        created_at=now,
        expires_at=now + datetime.timedelta(days=expires_in_days),
    )
    return NewToken(token=token, plaintext=plaintext)


def token_revoke(*, user: User, token_id: int) -> bool:
    """Revoke `user`'s own token at once; False when they have no such live token (another user's id included)."""
    return bool(
        AccessToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    )


def token_authenticate(plaintext: str, *, now: datetime.datetime | None = None) -> AccessToken:
    """The live token `plaintext` names, with its user loaded; raises CoinsiteError (401) otherwise.

    One query, plus one conditional UPDATE of `last_used_at` at most once per LAST_USED_RESOLUTION.
    """
    now = now or timezone.now()
    if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 100:
        raise CoinsiteError("token_invalid")
    token = AccessToken.objects.select_related("user").filter(token_hash=token_hash(plaintext)).first()
    if token is None or not token.user.is_active:
        raise CoinsiteError("token_invalid")
    if token.revoked_at is not None:
        raise CoinsiteError("token_revoked")
    if token.expires_at <= now:
        raise CoinsiteError("token_expired")
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        AccessToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token
