"""Refuse requests no view can handle safely, once for the whole site, before any view runs.

PostgreSQL cannot store or even compare text containing NUL, and Python strings with lone
surrogates cannot be encoded for it: a NUL byte in a path, query string, cookie, header or form
field used to reach a query and answer 500. A request body declared in a charset that is unknown
or not ASCII-compatible (UTF-16, UTF-7, EBCDIC) cannot be parsed as a form at all; with DEBUG on,
Django's error page then failed again while describing the request, and the pooled database
connection was never handed back. Such requests get a plain 400 page here instead.

Works under WSGI and ASGI (sync and async capable); list it early in MIDDLEWARE, before
anything that reads the session, the user or the body.
"""

import codecs
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.translation import gettext_lazy

from coinsite.lib.errors import problem_response, wants_problem

logger = logging.getLogger(__name__)

# NUL, and the surrogate code points a JSON "\ud800" escape or a broken decoder can produce.
UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")
# Charsets whose bytes for ASCII text are that ASCII text, so form parsing and `&`/`=` splitting work.
ACCEPTED_CHARSETS = frozenset({"utf-8", "ascii", "iso8859-1", "cp1252"})
FORM_CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# Bodies Django (or a view) decodes as text with the declared charset.
TEXT_CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded", "application/json"})

NUL_REFUSAL = gettext_lazy("The request contained a character we cannot accept (a NUL byte or a broken character).")
CHARSET_REFUSAL = gettext_lazy("The request's character encoding is not supported. Send it as UTF-8.")
UNREADABLE_REFUSAL = gettext_lazy("The form data in the request could not be read.")


# Django's next handler: a response, or (under ASGI, async) an awaitable of one.
GetResponse = Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]


class RefuseMalformedRequests:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self.__acall__(request)
        return self._refusal(request) or cast(HttpResponseBase, self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        # The checks are CPU-only (an ASGI body is already spooled), so they run on the event loop.
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        return await cast(Awaitable[HttpResponseBase], self.get_response(request))

    def _refusal(self, request: HttpRequest) -> HttpResponse | None:
        reason = request_refusal_reason(request)
        if reason is None:
            return None
        logger.info("Refused a malformed request to %r: %s", request.path[:200], reason)
        if wants_problem(request):
            response: HttpResponse = problem_response(request, "invalid_request", reason)
        else:
            response = render(request, "errors/400.html", {"reason": reason}, status=400)
        response["Cache-Control"] = "no-store"
        return response


def request_refusal_reason(request: HttpRequest) -> str | None:
    """Why the request must be refused (a message for the person), or None if it may go on."""
    try:
        if not _charset_accepted(request):
            return str(CHARSET_REFUSAL)
        if _has_unstorable_text(request):
            return str(NUL_REFUSAL)
    except (BadRequest, SuspiciousOperation, MultiPartParserError, UnicodeError, ValueError):
        # Too large, too many fields, or a broken multipart body: Django would refuse it too, later.
        return str(UNREADABLE_REFUSAL)
    return None


def _charset_accepted(request: HttpRequest) -> bool:
    charset = request.content_params.get("charset") if request.content_params else None
    if charset is None:
        return True
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        return False
    if codec not in ACCEPTED_CHARSETS:
        return False
    if request.content_type == "application/x-www-form-urlencoded" and codec != "utf-8" and request.body:
        return False  # RFC 1866 forms are UTF-8; Django refuses others while parsing (too late, in a view)
    content_type = request.content_type or ""
    if content_type in TEXT_CONTENT_TYPES or content_type.startswith("text/"):
        try:
            request.body.decode(codec)
        except UnicodeDecodeError:
            return False
    return True


def _has_unstorable_text(request: HttpRequest) -> bool:
    if UNSTORABLE_TEXT.search(request.path) or UNSTORABLE_TEXT.search(request.path_info):
        return True
    if _any_unstorable(request.GET.lists()) or _any_unstorable((k, [v]) for k, v in request.COOKIES.items()):
        return True
    headers = ((key, [value]) for key, value in request.META.items() if key.startswith("HTTP_"))
    if _any_unstorable(headers):
        return True
    if request.method == "POST" and request.content_type in FORM_CONTENT_TYPES:
        # Reading the body first keeps it readable for the view (a webhook wants the raw bytes);
        # parsing a multipart form straight from the stream would consume it.
        request.body  # noqa: B018
        return _any_unstorable(request.POST.lists())
    return False


def _any_unstorable(items: Iterable[tuple[str, list[str]]]) -> bool:
    for key, values in items:
        if UNSTORABLE_TEXT.search(key) or any(isinstance(v, str) and UNSTORABLE_TEXT.search(v) for v in values):
            return True
    return False
