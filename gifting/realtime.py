"""Live gift notifications: Postgres NOTIFY after a gift commits, streamed to browsers as Server-Sent Events.

The payload is only the gift event id; pages fetch their feed fragment when told, so a NOTIFY stays
one cheap statement after commit (DESIGN §4: no task per gift, nothing inside the transaction).
"""

import asyncio
import logging
from collections.abc import AsyncIterator

import psycopg
from django.conf import settings
from django.db import connection
from psycopg import sql
from psycopg.conninfo import make_conninfo

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15
MAX_LIFETIME_SECONDS = 300  # then the browser's EventSource reconnects (after RETRY_MS)
RETRY_MS = 3_000


def stream_channel(stream_id: int) -> str:
    return f"coinsite_stream_{int(stream_id)}"


def notify_stream(stream_id: int, event_id: int) -> None:
    """Tell the stream's listeners that gift event `event_id` committed (run from `transaction.on_commit`)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [stream_channel(stream_id), str(event_id)])


def listen_conninfo() -> str:
    """A libpq connection string for the default database (also its unix-socket HOST when embedded)."""
    database = settings.DATABASES["default"]
    params = {"dbname": database.get("NAME"), "user": database.get("USER"), "password": database.get("PASSWORD"),
              "host": database.get("HOST"), "port": database.get("PORT")}
    options = {key: value for key, value in database.get("OPTIONS", {}).items() if isinstance(value, str | int)}
    return make_conninfo(**{key: value for key, value in {**params, **options}.items() if value not in (None, "")})


async def stream_events(stream_id: int, *, lifetime: float = MAX_LIFETIME_SECONDS,
                        keepalive: float = KEEPALIVE_SECONDS) -> AsyncIterator[str]:
    """SSE lines for one browser: `event: gift` per committed gift, a keepalive comment every `keepalive` s.

    Holds its own LISTEN connection for at most `lifetime` seconds and closes it when the client goes
    away (the ASGI handler cancels the response task, or the iterator is closed).
    """
    conn = await psycopg.AsyncConnection.connect(listen_conninfo(), autocommit=True)
    try:
        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(stream_channel(stream_id))))
        yield f"retry: {RETRY_MS}\n\n"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + lifetime
        while (remaining := deadline - loop.time()) > 0:
            async for notify in conn.notifies(timeout=min(keepalive, remaining)):
                yield f"event: gift\ndata: {notify.payload}\n\n"
            yield ": keepalive\n\n"
    finally:
        await conn.close()
