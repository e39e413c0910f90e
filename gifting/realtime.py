"""Live gift notifications: Postgres NOTIFY after a gift commits, streamed to browsers as Server-Sent Events.

The payload is only the gift event id; pages fetch their feed fragment when told, so a NOTIFY stays
one cheap statement after commit (DESIGN §4: no task per gift, nothing inside the transaction).
"""

import asyncio
import logging
from collections import defaultdict
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


# One channel for every stream: each web process LISTENs once and fans gifts out to its own open
# event streams, instead of one database connection per watching browser.
CHANNEL = "coinsite_gifts"


def notify_stream(stream_id: int, event_id: int) -> None:
    """Tell the listeners that gift event `event_id` on `stream_id` committed (run from `transaction.on_commit`)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, f"{int(stream_id)}:{int(event_id)}"])


def listen_conninfo() -> str:
    """A libpq connection string for the default database (also its unix-socket HOST when embedded)."""
    database = settings.DATABASES["default"]
    params = {
        "dbname": database.get("NAME"),
        "user": database.get("USER"),
        "password": database.get("PASSWORD"),
        "host": database.get("HOST"),
        "port": database.get("PORT"),
    }
    options = {key: value for key, value in database.get("OPTIONS", {}).items() if isinstance(value, str | int)}
    return make_conninfo(**{key: value for key, value in {**params, **options}.items() if value not in (None, "")})


class _Hub:
    """One LISTEN connection per process (per event loop), fanned out to every open event stream.

    Each subscriber gets a bounded queue; a slow browser that lets it fill up misses events (its
    page polls anyway) rather than holding memory. When the connection fails, every subscriber gets
    `None` and ends, and the browsers' EventSource reconnects after RETRY_MS to a new connection.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.subscribers: dict[int, set[asyncio.Queue]] = defaultdict(set)
        self.connection: psycopg.AsyncConnection | None = None
        self.reader: asyncio.Task | None = None
        self.lock = asyncio.Lock()

    async def subscribe(self, stream_id: int) -> asyncio.Queue:
        async with self.lock:
            if self.connection is None or self.connection.closed:
                self.connection = await psycopg.AsyncConnection.connect(listen_conninfo(), autocommit=True)
                await self.connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                self.reader = asyncio.create_task(self._read(self.connection))
            queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_SIZE)
            self.subscribers[stream_id].add(queue)
            return queue

    def unsubscribe(self, stream_id: int, queue: asyncio.Queue) -> None:
        streams = self.subscribers.get(stream_id)
        if streams is not None:
            streams.discard(queue)
            if not streams:
                del self.subscribers[stream_id]

    async def _read(self, conn: psycopg.AsyncConnection) -> None:
        try:
            async for notify in conn.notifies():
                stream, _, event = notify.payload.partition(":")
                for queue in list(self.subscribers.get(int(stream), ())):
                    if not queue.full():
                        queue.put_nowait(event)
        except (psycopg.Error, OSError, ValueError) as error:
            logger.warning("Live gift listener lost its connection: %s", error)
        finally:
            self.connection = None
            for queues in list(self.subscribers.values()):
                for queue in list(queues):
                    if not queue.full():
                        queue.put_nowait(None)
            await conn.close()


_hubs: dict[asyncio.AbstractEventLoop, _Hub] = {}
QUEUE_SIZE = 100


def _hub() -> _Hub:
    loop = asyncio.get_running_loop()
    for stale in [other for other in _hubs if other.is_closed()]:
        del _hubs[stale]
    if loop not in _hubs:
        _hubs[loop] = _Hub(loop)
    return _hubs[loop]


async def stream_events(
    stream_id: int, *, lifetime: float = MAX_LIFETIME_SECONDS, keepalive: float = KEEPALIVE_SECONDS
) -> AsyncIterator[str]:
    """SSE lines for one browser: `event: gift` per committed gift, a keepalive comment every `keepalive` s.

    Subscribes to the process's shared listener for at most `lifetime` seconds and unsubscribes
    when the client goes away (the ASGI handler cancels the response task, or the iterator is closed).
    """
    hub = _hub()
    queue = await hub.subscribe(int(stream_id))
    try:
        yield f"retry: {RETRY_MS}\n\n"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + lifetime
        while (remaining := deadline - loop.time()) > 0:
            try:
                event_id = await asyncio.wait_for(queue.get(), timeout=min(keepalive, remaining))
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            if event_id is None:  # the shared listener lost its connection; the browser reconnects
                return
            yield f"event: gift\ndata: {event_id}\n\n"
    finally:
        hub.unsubscribe(int(stream_id), queue)
