"""A form sent while the sudo or 2FA re-check had lapsed: kept, then continued once the person confirms.

The interrupted POST is kept in the session (signed, for this user, for `MAX_AGE_SECONDS`) together
with the `next` page of the re-check it waits for. After the re-check, `accounts:resume` takes it out
(once) and shows what will happen with a Continue button that sends the same fields to the same
address: the action runs from a new POST with a new CSRF token, never from a redirect or a GET, and
only when the person asks. Secrets (passwords, one-time codes) are never kept; they are typed again.
"""

from dataclasses import dataclass

from django.core import signing
from django.http import HttpRequest

from coinsite.lib.urls import safe_next

SESSION_KEY = "coinsite_pending_post"
SALT = "coinsite.lib.resume"
MAX_AGE_SECONDS = 15 * 60
MAX_KEPT_CHARACTERS = 8_000  # a form someone typed; anything bigger is not kept (the session stays small)
NOT_KEPT = frozenset({"csrfmiddlewaretoken", "password", "oldpassword", "password1", "password2", "code"})


@dataclass(frozen=True)
class PendingPost:
    path: str  # where the form was sent (path and query string)
    fields: list[tuple[str, str]]
    action: str  # what it does, in words (shown on the Continue page)
    next: str  # the page the re-check returns to


def pending_post_keep(request: HttpRequest, *, action: str, next_url: str) -> bool:
    """Keep the request's form to continue after the re-check; False (nothing kept) if it is too big."""
    fields = [(name, value) for name, values in request.POST.lists() if name not in NOT_KEPT for value in values]
    if sum(len(name) + len(value) for name, value in fields) > MAX_KEPT_CHARACTERS:
        request.session.pop(SESSION_KEY, None)
        return False
    payload = {
        "user": request.user.pk,
        "path": request.get_full_path(),
        "fields": fields,
        "action": str(action),
        "next": next_url,
    }
    request.session[SESSION_KEY] = signing.dumps(payload, salt=SALT, compress=True)
    return True


def pending_post_waiting(request: HttpRequest, next_url: str) -> bool:
    """Whether a kept form of this user waits for the re-check that returns to `next_url`."""
    pending = _read(request, request.session.get(SESSION_KEY))
    return pending is not None and pending.next == next_url


def pending_post_take(request: HttpRequest) -> PendingPost | None:
    """The kept form, removed from the session (so it is offered once), or None if there is none valid."""
    return _read(request, request.session.pop(SESSION_KEY, None))


def _read(request: HttpRequest, token: object) -> PendingPost | None:
    if not isinstance(token, str):
        return None
    try:
        payload = signing.loads(token, salt=SALT, max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:  # tampered with, or expired (SignatureExpired is a BadSignature)
        return None
    if not request.user.is_authenticated or payload.get("user") != request.user.pk:
        return None
    path = payload.get("path")
    if not isinstance(path, str) or safe_next(request, path, "") != path:
        return None
    return PendingPost(
        path=path,
        fields=[(str(name), str(value)) for name, value in payload.get("fields", [])],
        action=str(payload.get("action", "")),
        next=str(payload.get("next", "")),
    )
