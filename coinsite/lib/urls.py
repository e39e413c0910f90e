"""The one check every redirect target from a request goes through (`next` and friends).

Django's `url_has_allowed_host_and_scheme` accepts values such as "wallet:index", "{}" or "0",
which `redirect()` then resolves as URL names or treats as relative paths. Only a same-site
absolute path is a safe place to send someone: "/wallet/?page=2" yes, "//evil.example",
"/\\evil.example", "https://…", "wallet:index" and anything with control characters no.
"""

import re
from urllib.parse import urlsplit

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

MAX_NEXT_LENGTH = 2000
# Printable ASCII without space, backslash, double quote, backtick and angle brackets: what a path
# and query from `reverse()` or `request.get_full_path()` consist of (the rest is percent-encoded).
_SAFE_PATH = re.compile(r"/(?![/\\])[!#$%&'()*+,\-./0-9:;=?@A-Z\[\]^_a-z{|}~]*")


def safe_next(request: HttpRequest, value: object, default: str) -> str:
    """`value` when it is a path on this site, else `default` (which the caller knows is safe)."""
    if not isinstance(value, str) or len(value) > MAX_NEXT_LENGTH or not _SAFE_PATH.fullmatch(value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    if not url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return default
    return value
