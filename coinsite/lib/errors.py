"""The error catalogue: every error a machine client can get, under a stable code, with its HTTP status
and a translatable title (pretix's `OrderError` pattern, STYLE.md).

Codes are part of the public API (docs/api.md lists them): a code is never renamed or given another
meaning; new ones may be added. The services raise their own exceptions (`gifting.services.GiftError`
and friends, each with a `code`); whoever answers a client looks the code up here. `problem()` turns
an error into an RFC 9457 problem document (`application/problem+json`).
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

PROBLEM_CONTENT_TYPE = "application/problem+json"
# RFC 9457 `type`: a URI naming the problem; ours are not fetched, docs/api.md explains each code.
PROBLEM_TYPE_PREFIX = "urn:coinsite:problem:"


@dataclass(frozen=True)
class ErrorCode:
    code: str
    status: int
    title: "StrOrPromise"


_CATALOGUE = [
    # Requests
    ErrorCode("invalid_request", 400, _("The request is not valid.")),
    ErrorCode("validation_failed", 422, _("Some fields of the request are missing or not valid.")),
    ErrorCode("malformed_body", 400, _("The request body is not valid JSON.")),
    ErrorCode("invalid_cursor", 400, _("The page cursor is not valid; start again from the first page.")),
    ErrorCode("idempotency_key_missing", 400, _("Send an Idempotency-Key header (1 to 100 characters).")),
    ErrorCode("not_found", 404, _("Nothing was found at this address, or it is not yours.")),
    ErrorCode("method_not_allowed", 405, _("This address does not accept that method.")),
    ErrorCode("rate_limited", 429, _("Too many requests; wait and try again.")),
    ErrorCode("server_error", 500, _("Something went wrong on our side; nothing was changed. Try again later.")),
    # Authentication and access
    ErrorCode("not_authenticated", 401, _("Send a personal access token (Authorization: Bearer) or log in.")),
    ErrorCode("token_invalid", 401, _("The access token is not valid.")),
    ErrorCode("token_expired", 401, _("The access token has expired; create a new one.")),
    ErrorCode("token_revoked", 401, _("The access token was revoked.")),
    ErrorCode("scope_missing", 403, _("The access token does not have the scope this needs.")),
    ErrorCode("forbidden", 403, _("You may not do this.")),
    ErrorCode("csrf_failed", 403, _("The CSRF check failed; reload the page and try again.")),
    ErrorCode("not_a_creator", 403, _("Only creators have earnings and payouts.")),
    # Gifts (codes raised by gifting.services)
    ErrorCode("confirmation_required", 409, _("This gift is above the confirmation threshold: send confirm: true.")),
    ErrorCode("not_enough_coins", 409, _("Not enough coins for this gift.")),
    ErrorCode("idempotency_key_reused", 409, _("This Idempotency-Key was already used for a different request.")),
    ErrorCode("stream_ended", 409, _("The stream has ended.")),
    ErrorCode("self_gift", 403, _("You cannot send gifts on your own stream.")),
    ErrorCode("creator_unavailable", 403, _("This creator cannot receive gifts at the moment.")),
    ErrorCode("gift_unavailable", 404, _("This gift is not available.")),
    ErrorCode("gift_not_offered", 403, _("This gift is not offered in your country.")),
    ErrorCode("age", 403, _("You are too young to send gifts.")),
    ErrorCode("frozen", 403, _("Your wallet is frozen.")),
    ErrorCode("receivable", 403, _("Coins are owed from a refunded recharge; recharge first.")),
    ErrorCode("country", 403, _("Gifts are not available in your country.")),
    ErrorCode("spending_excluded", 403, _("You paused gifting and recharging.")),
    ErrorCode("spending_daily", 403, _("This gift would pass your daily budget.")),
    ErrorCode("spending_monthly", 403, _("This gift would pass your monthly budget.")),
    ErrorCode("gift_error", 400, _("The gift could not be sent.")),
]
CATALOGUE: dict[str, ErrorCode] = {error.code: error for error in _CATALOGUE}
# The statuses any operation may answer with a problem document (documented on every operation).
PROBLEM_STATUSES = frozenset(error.status for error in _CATALOGUE if error.status != 500)


class CoinsiteError(Exception):
    """An error from the catalogue, raised where a client is answered; `detail` says what happened this time."""

    def __init__(self, code: str, detail: "StrOrPromise | None" = None, **extra: Any) -> None:
        self.error = error_code(code)
        self.detail = detail
        self.extra = extra
        super().__init__(f"{code}: {detail or self.error.title}")


def error_code(code: str) -> ErrorCode:
    """The catalogue entry for `code`; a code missing from the catalogue is a programming error."""
    try:
        return CATALOGUE[code]
    except KeyError:
        raise LookupError(f"Error code {code!r} is not in coinsite.lib.errors' catalogue.") from None


def problem(code: str, detail: "StrOrPromise | None" = None, *, instance: str = "", **extra: Any) -> dict[str, Any]:
    """The RFC 9457 problem document for `code`: type, title, status, detail, plus our `code` and any extras."""
    error = error_code(code)
    document: dict[str, Any] = {
        "type": f"{PROBLEM_TYPE_PREFIX}{error.code}",
        "title": str(error.title),
        "status": error.status,
        "detail": str(detail or error.title),
        "code": error.code,
    }
    if instance:
        document["instance"] = instance
    return document | extra


# Addresses whose clients are programs: refusals made before (or outside) the API's own handlers — the request
# checks, unknown addresses, server errors — answer them with problem documents instead of HTML pages.
API_PATH_PREFIX = "/api/"


def wants_problem(request: HttpRequest) -> bool:
    return request.path.startswith(API_PATH_PREFIX)


def problem_response(request: HttpRequest, code: str, detail: "StrOrPromise | None" = None) -> JsonResponse:
    document = problem(code, detail, instance=request.path)
    return JsonResponse(document, status=document["status"], content_type=PROBLEM_CONTENT_TYPE)
