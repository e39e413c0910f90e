"""A staff account's first authenticator needs a one-time code mailed to its verified address.

A staff session without a device is sent straight to 2FA enrollment. Without this step a stolen
staff password would be enough to enroll the thief's own authenticator and then pass every 2FA
check, admin included. The code lives in the session (hashed), is good for a few attempts and
minutes, and a new one can be mailed once a minute.
"""

import secrets
import time

from allauth.account.models import EmailAddress
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from coinsite.accounts.emails import staff_enrollment_code_send
from coinsite.accounts.http import AuthenticatedRequest
from coinsite.accounts.models import User
from coinsite.accounts.two_factor import CodeRefused
from coinsite.lib.access import has_two_factor

SESSION_KEY = "coinsite_staff_enroll_email"
CODE_DIGITS = 8
CODE_SECONDS = 15 * 60
MAX_ATTEMPTS = 5
RESEND_AFTER_SECONDS = 60


class NoVerifiedEmail(Exception):
    """The account has no verified address to send the code to; ``str(error)`` tells the user what to do."""


def email_check_needed(request: AuthenticatedRequest) -> bool:
    """True while a staff member without an authenticator has not yet entered a mailed code in this session."""
    user = request.user
    if not user.is_staff or has_two_factor(user):
        return False
    state = request.session.get(SESSION_KEY) or {}
    return not (state.get("user") == user.pk and state.get("verified"))


def enrollment_code_send(*, request: AuthenticatedRequest) -> str:
    """Mail a fresh code to the user's verified address and return that address.

    Raises CodeRefused when the last code went out less than a minute ago, NoVerifiedEmail when
    there is no verified address.
    """
    user = request.user
    address = _verified_address(user)
    state = request.session.get(SESSION_KEY) or {}
    if state.get("user") == user.pk and time.time() - state.get("sent_at", 0) < RESEND_AFTER_SECONDS:
        raise CodeRefused(_("A code was sent less than a minute ago. Check your inbox, or wait a minute."))
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    request.session[SESSION_KEY] = {
        "user": user.pk,
        "digest": _digest(user.pk, code),
        "sent_at": int(time.time()),
        "attempts": 0,
        "verified": False,
    }
    staff_enrollment_code_send(to=address, code=code, minutes=CODE_SECONDS // 60)
    return address


def enrollment_code_verify(*, request: AuthenticatedRequest, code: str) -> None:
    """Mark this session as having passed the mailed-code check, or raise CodeRefused (counting the attempt)."""
    user = request.user
    state = request.session.get(SESSION_KEY) or {}
    if state.get("user") != user.pk or "digest" not in state:
        raise CodeRefused(_("Send yourself a code first."))
    if time.time() - state["sent_at"] > CODE_SECONDS or state["attempts"] >= MAX_ATTEMPTS:
        raise CodeRefused(_("This code has expired or was tried too often. Send yourself a new one."))
    state["attempts"] += 1
    code = "".join((code or "").split())
    if not (code.isascii() and constant_time_compare(_digest(user.pk, code), state["digest"])):
        request.session[SESSION_KEY] = state
        raise CodeRefused(_("That code is not the one we sent."))
    request.session[SESSION_KEY] = {"user": user.pk, "verified": True}


def masked_address(address: str) -> str:
    """ "charlie@example.com" as "c•••••e@example.com", so a shoulder-surfer learns little."""
    name, _at, domain = address.partition("@")
    return f"{name[:1]}•••••{name[-1:]}@{domain}" if len(name) > 2 else f"•••@{domain}"


def verified_address_or_none(user: User) -> str | None:
    try:
        return _verified_address(user)
    except NoVerifiedEmail:
        return None


def _verified_address(user: User) -> str:
    address = (
        EmailAddress.objects.filter(user=user, verified=True).order_by("-primary", "id").values_list("email", flat=True)
    ).first()
    if address is None:
        raise NoVerifiedEmail(
            _("Your account has no verified email address, so we cannot send you a code. Ask an administrator.")
        )
    return address


def _digest(user_id: int, code: str) -> str:
    return salted_hmac("coinsite.staff-enrollment-code", f"{user_id}:{code}", algorithm="sha256").hexdigest()
