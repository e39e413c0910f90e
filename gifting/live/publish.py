"""Publishing live events after the commit, off the caller's thread, never failing the caller.

`live_publish` only appends to an in-process queue once the caller's transaction commits (microseconds;
it cannot raise). One background thread per process drains the queue in batches to the bus:

- Redis pub/sub when `REDIS_URL` is set, so every web process on every machine hears every event;
- otherwise (the embedded default) a PostgreSQL NOTIFY issued in its own statement, on the thread's
  own connection, after the money transaction committed: never inside it (DESIGN §4), so gift
  commits never queue on the lock PostgreSQL takes to commit a notifying transaction.

Each batch also drops its streams' poll documents from the cache (`poll_cache_key`). With the cache on the
bus's own Redis, that DEL rides in the batch's PUBLISH pipeline: one round trip a batch, not two.

A bus that is down or slow delays only this thread. Batches are retried with back-off; past
PUBLISH_QUEUE_LIMIT the oldest events are dropped with a warning. Viewers lose nothing that is a row
(gifts, and later chat): hubs catch up from the database when their bus connection comes back, and
browsers resume with Last-Event-ID.
"""

import atexit
import logging
import os
import threading
import time
from collections import deque
from functools import partial
from typing import Any, Protocol

import psycopg
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from psycopg.conninfo import make_conninfo

from gifting.live.events import GIFT, GIFT_SOURCE, LiveEvent, dumps

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "coinsite_live"
NOTIFY_PAYLOAD_LIMIT = 7_900  # PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more
PUBLISH_QUEUE_LIMIT = 10_000
PUBLISH_BATCH = 200
# Once woken, the thread waits this long for more events before it sends: under a gift storm one round trip
# (and one thread wake-up) carries many events instead of one each (docs/scaling.md). A viewer sees an
# event at most this much later.
PUBLISH_LINGER_SECONDS = 0.005
RETRY_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.0)


def live_publish(*, stream_id: int, event: str, data: dict[str, Any], source: str = "", event_id: int = 0) -> None:
    """Send `event` with `data` to everyone watching stream `stream_id`, once the current transaction commits.

    Outside a transaction it goes at once; after a rollback it never goes. For an event backed by a
    database row, pass the row's `source` letter and id: the event then moves viewers' Last-Event-ID
    and is replayed from that source on resume (see `gifting.live.replay.register_source`). `data`
    must be JSON-serializable and safe for every viewer to see; `committed_at` (ms) is added to it.
    """
    transaction.on_commit(partial(_enqueue, int(stream_id), event, data, source, int(event_id)), robust=True)


def live_gift_sent(*, stream_id: int, event_id: int, payload: dict[str, Any]) -> None:
    """Publish a gift event (built by `gifting.live.events.gift_payload`) once its transaction commits."""
    live_publish(stream_id=stream_id, event=GIFT, data=payload, source=GIFT_SOURCE, event_id=event_id)


def _enqueue(stream_id: int, event: str, data: dict[str, Any], source: str, event_id: int) -> None:
    stamped = {**data, "committed_at": round(time.time() * 1000, 1)}
    publisher().put((stream_id, event, stamped, source, event_id))


def poll_cache_key(stream_id: int) -> str:
    """Where the Django view keeps a stream's poll document (`gifting.views.poll`); deleted on each publish."""
    return f"gifting:live:poll:{int(stream_id)}"


def redis_prefix() -> str:
    """Prefix of the live channel and keys in Redis (tests set their own: pub/sub channels are server-wide)."""
    return settings.LIVE_REDIS_PREFIX


def redis_channel() -> str:
    return f"{redis_prefix()}events"


def database_conninfo() -> str:
    """A libpq connection string for the default database (its unix-socket HOST too, when embedded)."""
    database = settings.DATABASES["default"]
    params = {
        "dbname": database.get("NAME"),
        "user": database.get("USER"),
        "password": database.get("PASSWORD"),
        "host": database.get("HOST"),
        "port": database.get("PORT"),
    }
    options = {key: value for key, value in database.get("OPTIONS", {}).items() if isinstance(value, str | int)}
    return make_conninfo("", **{key: value for key, value in {**params, **options}.items() if value not in (None, "")})


# --- Transports ---------------------------------------------------------------------------------


class Transport(Protocol):
    """Hands a batch of wire messages to the bus and drops the poll documents of the batch's streams (a
    cache outage there is only logged); raises when the bus did not take the batch."""

    def send(self, messages: list[str], stream_ids: set[int]) -> None: ...

    def close(self) -> None: ...


class RedisTransport:
    """PUBLISH to the live channel, a batch per pipeline round trip.

    With `cache_shared` (the cache lives on this same Redis database), the batch's poll documents are
    deleted in that same pipeline. A second round trip a batch took about 9 % of the gift process's
    Python (py-spy) at 1,100-1,300 gifts/s on a 2-core machine, where a batch carries a few events (docs/scaling.md).
    """

    def __init__(self, url: str, channel: str, *, cache_shared: bool = False) -> None:
        self.channel = channel
        self.cache_shared = cache_shared
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def send(self, messages: list[str], stream_ids: set[int]) -> None:
        pipeline = self.client.pipeline(transaction=False)
        if self.cache_shared and stream_ids:
            pipeline.delete(*[cache.make_and_validate_key(poll_cache_key(stream_id)) for stream_id in stream_ids])
        for message in messages:
            pipeline.publish(self.channel, message)
        pipeline.execute()
        if not self.cache_shared:
            _forget_poll_documents(stream_ids)

    def close(self) -> None:
        self.client.close()


class NotifyTransport:
    """NOTIFY on the thread's own autocommit connection: a batch is one statement and one commit."""

    def __init__(self, conninfo: str, channel: str) -> None:
        self.conninfo = conninfo
        self.channel = channel
        self.connection: psycopg.Connection | None = None

    def send(self, messages: list[str], stream_ids: set[int]) -> None:
        _forget_poll_documents(stream_ids)  # the process's own cache (no Redis): no round trip to save
        if self.connection is None or self.connection.closed:
            self.connection = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
        try:
            self.connection.execute(
                "SELECT pg_notify(%s, message) FROM unnest(%s::text[]) WITH ORDINALITY AS m(message, n) ORDER BY n",
                [self.channel, messages],
            )
        except psycopg.Error:
            self.close()
            raise

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def transport_for_settings() -> Transport:
    if settings.REDIS_URL:
        return RedisTransport(settings.REDIS_URL, redis_channel(), cache_shared=_cache_on(settings.REDIS_URL))
    return NotifyTransport(database_conninfo(), NOTIFY_CHANNEL)


def _cache_on(url: str) -> bool:
    """Whether the default cache keeps its keys in the Redis database at `url` (as settings make it with REDIS_URL)."""
    default = settings.CACHES["default"]
    return default["BACKEND"].endswith("RedisCache") and default.get("LOCATION") == url


# --- The publisher thread -------------------------------------------------------------------------

# (stream id, event type, data with committed_at, source, row id), as `live_publish` queues it.
QueuedEvent = tuple[int, str, dict[str, Any], str, int]


class Publisher:
    """A bounded queue and the one thread per process that hands its events to the bus, in order."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.queue: deque[QueuedEvent] = deque()
        self.condition = threading.Condition()
        self.in_flight = 0
        self.dropped = 0
        self.stopping = False
        self.waiting = False  # the thread sleeps on an empty queue: the next event must wake it
        self.thread = threading.Thread(target=self._run, name="live-publisher", daemon=True)
        self.thread.start()

    def put(self, item: QueuedEvent) -> None:
        with self.condition:
            if len(self.queue) >= PUBLISH_QUEUE_LIMIT:
                self.queue.popleft()
                self.dropped += 1
                if self.dropped % 1000 == 1:
                    logger.warning("Live publisher queue full: %s events dropped so far", self.dropped)
            self.queue.append(item)
            if self.waiting:  # else the thread is sending or lingering and takes this event on its own
                self.waiting = False
                self.condition.notify_all()  # all: flush() waits on the same condition

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far has been handed to the bus; False if that took too long."""
        deadline = time.monotonic() + timeout
        with self.condition:
            while self.queue or self.in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.condition.wait(remaining)
        return True

    def stop(self) -> None:
        with self.condition:
            self.stopping = True
            self.condition.notify_all()
        self.thread.join(timeout=5)
        self.transport.close()

    def _run(self) -> None:
        while True:
            with self.condition:
                while not self.queue and not self.stopping:
                    self.waiting = True
                    self.condition.wait()
                self.waiting = False
                if self.stopping:
                    return
                lingering = len(self.queue) < PUBLISH_BATCH
            if lingering:
                time.sleep(PUBLISH_LINGER_SECONDS)
            with self.condition:
                batch = [self.queue.popleft() for _ in range(min(PUBLISH_BATCH, len(self.queue)))]
                self.in_flight = len(batch)
            try:
                self._send(batch)
            finally:
                with self.condition:
                    self.in_flight = 0
                    self.condition.notify_all()

    def _send(self, batch: list[QueuedEvent]) -> None:
        messages = [message for message in map(_encode, batch) if message is not None]
        stream_ids = {item[0] for item in batch}
        for attempt, pause in enumerate((*RETRY_SECONDS, None)):
            try:
                self.transport.send(messages, stream_ids)
                return
            except Exception as error:  # any bus failure: retry, and never let it end the thread
                if pause is None or self.stopping:
                    logger.error("Live events not published after %s attempts: %s", attempt + 1, error)
                    return
                logger.warning("Live publish failed (%s); retrying in %s s", error, pause)
                time.sleep(pause)
                with self.condition:
                    if self.stopping:
                        return


def _encode(item: QueuedEvent) -> str | None:
    stream_id, event, data, source, event_id = item
    message = LiveEvent(stream_id=stream_id, type=event, data=dumps(data), source=source, event_id=event_id).wire()
    if len(message.encode()) > NOTIFY_PAYLOAD_LIMIT:
        logger.error("Live event %s on stream %s is too large to publish (%s bytes)", event, stream_id, len(message))
        return None
    return message


def _forget_poll_documents(stream_ids: set[int]) -> None:
    try:
        cache.delete_many([poll_cache_key(stream_id) for stream_id in stream_ids])
    except Exception as error:  # a cache outage only leaves the poll document stale for its timeout
        logger.warning("Could not invalidate live poll documents: %s", error)


_publisher: Publisher | None = None
_publisher_pid: int | None = None
_publisher_lock = threading.Lock()


def publisher() -> Publisher:
    """This process's publisher, started on first use (again in a forked child, which has no thread yet)."""
    global _publisher, _publisher_pid
    if _publisher is not None and _publisher_pid == os.getpid():
        return _publisher
    with _publisher_lock:
        if _publisher is None or _publisher_pid != os.getpid():
            _publisher = Publisher(transport_for_settings())
            _publisher_pid = os.getpid()
        return _publisher


def publisher_reset() -> None:
    """Stop this process's publisher (it restarts on next use with the settings then in force); for tests."""
    global _publisher
    with _publisher_lock:
        if _publisher is not None and _publisher_pid == os.getpid():
            _publisher.stop()
        _publisher = None


@atexit.register
def _flush_at_exit() -> None:
    if _publisher is not None and _publisher_pid == os.getpid():
        _publisher.flush(timeout=2)
