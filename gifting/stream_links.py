"""Stream links: the HLS address a creator gives when going live, played on the stream page.

The link ends up in a <video> element and, as its origin, in the page's Content-Security-Policy
(media-src). So it is held to a strict shape: https, a host name (and an optional port), a path
ending in .m3u8, and nothing else: no user info, query, fragment, spaces, quotes, ";" or ",",
any of which could close a CSP directive and open another (https://x;sandbox;@example.com/…).
"""

import re

from django.utils.translation import gettext as _

MAX_LENGTH = 200
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
STREAM_LINK = re.compile(
    rf"https://(?P<host>{_LABEL}(?:\.{_LABEL})*)(?::(?P<port>[0-9]{{1,5}}))?"
    r"(?P<path>/(?:[A-Za-z0-9._~+/-]|%[0-9A-Fa-f]{2})*\.m3u8)",
    re.ASCII,
)


def stream_link_error(url: str) -> str | None:
    """Why `url` cannot be a stream link (a message for the creator), or None if it can."""
    if not isinstance(url, str) or len(url) > MAX_LENGTH:
        return _("The stream link must be at most %(max)d characters.") % {"max": MAX_LENGTH}
    match = STREAM_LINK.fullmatch(url)
    if match is None:
        return _(
            "The stream link must be an https:// address with only a host name and a path ending in .m3u8, "
            "for example https://video.example.com/live/stream.m3u8."
        )
    port = match["port"]
    if port is not None and not 1 <= int(port) <= 65535:
        return _("The port in the stream link must be between 1 and 65535.")
    return None


def stream_link_origin(url: str) -> str | None:
    """The link's origin (https://host[:port]) to allow as a CSP media source; None for any link that is not valid."""
    match = STREAM_LINK.fullmatch(url) if stream_link_error(url) is None else None
    if match is None:
        return None
    return f"https://{match['host'].lower()}" + (f":{match['port']}" if match["port"] else "")
