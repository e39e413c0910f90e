"""The HTTP floor: the least an HTTP gift can cost on this machine, for `make bench` only. Never deployed.

A plain ASGI application under the same uvicorn as the site: it reads the POST body, parses the form, and in
one thread hop calls `gifting.services.gift_send` (the one-tap endpoint's call, its one statement included)
and answers a small JSON document. Nothing else: no middleware, no session, no user read (the sender is
named by a header and kept for the process's life), no CSRF check, no language, no rendered balance. So
no endpoint that does what a real one must can beat it, and `ratio_http_floor_vs_service` says how much
of issue #13's HTTP goal (0.5 of the service) the server, the event loop and the thread hop leave for
everything else (docs/scaling.md).

It refuses to load outside the benchmark's own settings (`bench.settings`): a header naming the sender
is no authentication.
"""

import asyncio
import json
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import django
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if settings.SETTINGS_MODULE != "bench.settings":
    raise ImproperlyConfigured("bench.floor trusts a header for the sender: it runs under bench.settings only.")
django.setup()  # uvicorn imports this module before anything has set Django up

from django.db import close_old_connections  # noqa: E402

from coinsite.accounts.models import User  # noqa: E402
from coinsite.lib.asgi_types import Receive, Scope, Send  # noqa: E402
from gifting import services  # noqa: E402

SENDER_HEADER = b"x-bench-sender"
PATH_PREFIX = "/floor/"  # bench.gifts.FLOOR_PATH_TEMPLATE
THREADS = 8  # as many as the bench has senders, so no request waits for a thread

_executor = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="floor")
_senders: dict[int, User] = {}


def _gift(sender_id: int, stream_id: int, body: bytes) -> tuple[int, dict]:
    """The gift, on a worker thread: (HTTP status, JSON answer)."""
    try:
        fields = {name: values[0] for name, values in urllib.parse.parse_qs(body.decode()).items()}
        sender = _senders.get(sender_id)
        if sender is None:
            sender = _senders[sender_id] = User.objects.get(pk=sender_id)
        event = services.gift_send(
            sender=sender,
            stream_id=stream_id,
            gift_id=int(fields["gift"]),
            quantity=int(fields["quantity"]),
            idempotency_key=fields["idempotency_key"],
            confirmed=False,
        )
    except (KeyError, ValueError, User.DoesNotExist) as error:
        return 400, {"ok": False, "error": type(error).__name__}
    except services.GiftError as error:
        return 409, {"ok": False, "error": type(error).__name__}
    finally:
        close_old_connections()  # back to the pool, as Django does when a request finishes
    return 200, {"ok": True, "event": event.pk, "coins": event.coins, "balance": event.sender_coins_after}


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    status, answer = 404, {"ok": False, "error": "not found"}
    path = scope["path"]
    if scope["method"] == "GET" and path == "/":
        status, answer = 200, {"ok": True}  # the bench's "is it up" probe
    elif scope["method"] == "POST" and path.startswith(PATH_PREFIX):
        sender = dict(scope["headers"]).get(SENDER_HEADER, b"")
        stream = path.removeprefix(PATH_PREFIX).strip("/")
        if sender.isdigit() and stream.isdigit():
            loop = asyncio.get_running_loop()
            status, answer = await loop.run_in_executor(_executor, _gift, int(sender), int(stream), body)
        else:
            status, answer = 400, {"ok": False, "error": "sender or stream missing"}
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(answer).encode()})
