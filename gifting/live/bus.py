"""The hub's end of the bus: one subscription per web process, to Redis pub/sub or to PostgreSQL LISTEN.

`subscribe()` opens the one this process's settings call for and yields its messages, with
`SUBSCRIBED` each time the subscription is (re)established: events published while it was down are
lost on the bus, so the hub catches up from the database at each one after the first.
"""

import contextlib
import enum
from collections.abc import AsyncIterator
from typing import Final

import psycopg
import redis.asyncio
from django.conf import settings
from psycopg import sql
from redis.asyncio.client import PubSub

from gifting.live.publish import NOTIFY_CHANNEL, database_conninfo, redis_channel


class Signal(enum.Enum):
    """What a subscription yields besides messages: SUBSCRIBED each time it is (re)established."""

    SUBSCRIBED = "subscribed"


SUBSCRIBED: Final = Signal.SUBSCRIBED
HEALTH_CHECK_SECONDS = 10

# What a subscription yields: a message's raw wire text, or SUBSCRIBED.
Messages = AsyncIterator[str | bytes | Signal]


@contextlib.asynccontextmanager
async def subscribe() -> AsyncIterator[Messages]:
    """The live channel's messages (raw wire text) on the configured bus; closes the subscription on exit."""
    if settings.REDIS_URL:
        async with _redis_messages(settings.REDIS_URL, redis_channel()) as messages:
            yield messages
    else:
        async with _notify_messages(database_conninfo(), NOTIFY_CHANNEL) as messages:
            yield messages


@contextlib.asynccontextmanager
async def _redis_messages(url: str, channel: str) -> AsyncIterator[Messages]:
    client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=2, health_check_interval=HEALTH_CHECK_SECONDS)
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(channel)
        yield _redis_iterate(pubsub)
    finally:
        with contextlib.suppress(Exception):  # the server may be gone; nothing to hand back
            await pubsub.aclose()
        with contextlib.suppress(Exception):
            await client.aclose()


async def _redis_iterate(pubsub: PubSub) -> Messages:
    # redis-py may reconnect and resubscribe by itself after an error; each confirmation it gets is
    # then a SUBSCRIBED here, so the hub still catches up on what it missed meanwhile.
    async for message in pubsub.listen():
        if message["type"] == "message":
            yield message["data"]
        elif message["type"] == "subscribe":
            yield SUBSCRIBED


@contextlib.asynccontextmanager
async def _notify_messages(conninfo: str, channel: str) -> AsyncIterator[Messages]:
    connection = await psycopg.AsyncConnection.connect(conninfo, autocommit=True, connect_timeout=5)
    try:
        await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        yield _notify_iterate(connection)
    finally:
        with contextlib.suppress(Exception):
            await connection.close()


async def _notify_iterate(connection: psycopg.AsyncConnection) -> Messages:
    yield SUBSCRIBED
    async for notify in connection.notifies():
        yield notify.payload
