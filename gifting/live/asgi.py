"""The live endpoints as plain ASGI, in front of Django (`coinsite/asgi.py`): event streams and poll documents.

`GET /live/<id>/events/` is a Server-Sent Events stream fed by this process's hub. It takes no
database connection and no thread while it streams: the viewer comes from the signed token in its
address (no session lookup), the stream's state from the hub, and only a resume (`Last-Event-ID`, or
`after=` from the page) reads the database, on a worker thread that hands the connection back before
the first byte is written.

`GET /live/<id>/poll/` is the stream's poll document for pages without an event stream: the same
JSON for every viewer, kept by the hub and rebuilt at most once a second.

Under WSGI (runserver, Django's test server) Django's own views answer these addresses instead
(`gifting.views.events`, `gifting.views.poll`).
"""

import re
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.urls import reverse
from django.utils.translation import gettext as _

from coinsite.lib import metrics
from coinsite.lib.asgi_types import ASGIApplication, Receive, Scope, Send
from gifting import presence
from gifting.live import hub as live_hub
from gifting.live import replay
from gifting.live.events import cursor_parse

Endpoint = Callable[[Scope, Receive, Send, int], Coroutine[Any, Any, None]]

_ROUTE_PROBE = 918_273_645
_STREAM_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once
    (b"x-content-type-options", b"nosniff"),
]


def live_application(django_application: ASGIApplication) -> ASGIApplication:
    """An ASGI application serving the live endpoints itself and everything else through `django_application`."""
    routes: list[tuple[re.Pattern[str], Endpoint]] = []

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if not routes:
                routes.extend(_routes())
            for pattern, handler in routes:
                match = pattern.fullmatch(scope["path"])
                if match:
                    return await handler(scope, receive, send, int(match[1]))
        elif scope["type"] == "lifespan":
            return await _lifespan(receive, send)
        return await django_application(scope, receive, send)

    return application


def _routes() -> list[tuple[re.Pattern[str], Endpoint]]:
    """The endpoints' paths as Django's URLconf spells them (so a changed prefix moves both)."""
    found: list[tuple[re.Pattern[str], Endpoint]] = []
    for name, handler in (("gifting:events", events), ("gifting:poll", poll)):
        path = reverse(name, args=[_ROUTE_PROBE])
        found.append((re.compile(re.escape(path).replace(str(_ROUTE_PROBE), r"(\d{1,18})")), handler))
    return found


async def events(scope: Scope, receive: Receive, send: Send, stream_id: int) -> None:
    """The stream's events; see the module docstring and docs/live.md."""
    refused = _refusal(scope)
    if refused:
        return await _plain(send, *refused)
    hub = live_hub.hub()
    channel = await hub.channel(stream_id)
    if channel is None:
        return await _plain(send, 404, _("No such stream."))
    headers = dict(scope["headers"])
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    positions = cursor_parse(headers.get(b"last-event-id", b"").decode("latin-1") or _first(query, "after"))
    address = (scope.get("client") or ("",))[0]
    viewer = presence.viewer_from_token(_first(query, "v"), stream_id=stream_id, address=address)
    connection = live_hub.Connection(send, viewer=viewer, deadline=live_hub.stream_lifetime())
    channel.join_started(connection)
    metrics.LIVE_CONNECTIONS.inc()
    try:
        replayed = [] if positions is None else await live_hub.with_database(replay.replay, stream_id, positions)
        if not channel.meta.is_live and not replayed:
            return await _plain(send, 204, "")  # ended, and nothing to catch up on: EventSource stops
        await send({"type": "http.response.start", "status": 200, "headers": _STREAM_HEADERS})
        if replayed is None:
            channel.join_finished(connection, channel.reset_opening(), set())
        else:
            keys = {(event.source, event.event_id) for event in replayed}
            channel.join_finished(connection, channel.opening(positions or {}, replayed), keys)
        if not channel.meta.is_live:
            connection.end()
        while (await receive())["type"] != "http.disconnect":
            pass
    finally:
        channel.leave(connection)
        connection.closed = True
        metrics.LIVE_CONNECTIONS.dec()


async def poll(scope: Scope, receive: Receive, send: Send, stream_id: int) -> None:
    """The stream's poll document (JSON), the same for every viewer."""
    refused = _refusal(scope)
    if refused:
        return await _plain(send, *refused)
    document = await live_hub.hub().poll_document(stream_id)
    if document is None:
        return await _plain(send, 404, _("No such stream."))
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(document)).encode()),
        (b"cache-control", b"max-age=1"),
        (b"x-content-type-options", b"nosniff"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": document})


def _refusal(scope: Scope) -> tuple[int, str] | None:
    if scope["method"] != "GET":
        return 405, _("Only GET is allowed here.")
    host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
    domain, _port = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS or ([".localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    if not domain or not validate_host(domain, allowed):
        return 400, _("Bad request.")
    return None


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    if status == 405:
        headers.append((b"allow", b"GET"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await live_hub.hub_close()
            await send({"type": "lifespan.shutdown.complete"})
            return
