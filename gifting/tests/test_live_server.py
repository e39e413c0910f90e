"""A real uvicorn web process serving 50 open event streams: they hold no database connection (counted in
pg_stat_activity by the process's application_name), and every one of them gets each gift."""

import asyncio
import time
import uuid

import pytest
import redis
from django.urls import reverse

from gifting.live import publish
from gifting.tests.live_support import UvicornServer, gift_ids, in_thread, parse_frames, send_gifts
from gifting.tests.support import fund

pytestmark = pytest.mark.django_db(transaction=True)

STREAMS = 50


class RawStream:
    """A browser's event stream over a plain socket: HTTP/1.1, chunked, read as it comes."""

    def __init__(self, port: int, path: str):
        self.port, self.path = port, path
        self.body = bytearray()
        self.head = b""

    async def open(self) -> "RawStream":
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
        self.head = await self.reader.readuntil(b"\r\n\r\n")
        self.task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        while True:
            size = int((await self.reader.readline()).strip(), 16)
            if size == 0:
                return
            self.body += await self.reader.readexactly(size)
            await self.reader.readexactly(2)

    async def wait_for(self, condition, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not condition(parse_frames(bytes(self.body))):
            if time.monotonic() > deadline:
                raise TimeoutError(self.body[-300:])
            await asyncio.sleep(0.05)

    def close(self) -> None:
        self.task.cancel()
        self.writer.close()


def _watch_and_gift(server: UvicornServer, stream, alice, coffee) -> tuple:
    path = reverse("gifting:events", args=[stream.pk])

    async def scenario():
        streams = [await RawStream(server.port, path).open() for _ in range(STREAMS)]
        for one in streams:
            await one.wait_for(lambda frames: any(frame.event == "stream" for frame in frames))
        during = await asyncio.to_thread(server.database_connections)
        sent = await asyncio.to_thread(send_gifts, alice, stream, coffee, 1)
        for one in streams:
            await one.wait_for(lambda frames: gift_ids(frames))
        after = await asyncio.to_thread(server.database_connections)
        for one in streams:
            one.close()
        return streams, during, after, sent

    return in_thread(lambda: asyncio.run(scenario()))


def _run(extra_env: dict, stream, alice, coffee):
    fund(alice, 100)
    server = UvicornServer(extra_env)
    try:
        server.wait_until_up(reverse("gifting:poll", args=[stream.pk]))
        return _watch_and_gift(server, stream, alice, coffee)
    finally:
        server.stop()


def test_fifty_open_streams_hold_no_database_connection_and_all_get_the_gift(alice, stream, coffee):
    streams, during, after, sent = _run({"REDIS_URL": ""}, stream, alice, coffee)

    for one in streams:
        assert one.head.startswith(b"HTTP/1.1 200")
        assert gift_ids(parse_frames(bytes(one.body))) == sent
    # Without Redis the process's one LISTEN connection is all it keeps, however many streams are open.
    assert during == after == [f'LISTEN "{publish.NOTIFY_CHANNEL}"']


def test_with_redis_open_streams_hold_no_database_connection_at_all(settings, alice, stream, coffee):
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/4").ping()
    except redis.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    prefix = f"test-{uuid.uuid4().hex}:"
    settings.REDIS_URL, settings.LIVE_REDIS_PREFIX = "redis://127.0.0.1:6379/4", prefix
    publish.publisher_reset()

    streams, during, after, sent = _run(
        {"REDIS_URL": settings.REDIS_URL, "LIVE_REDIS_PREFIX": prefix}, stream, alice, coffee
    )

    assert all(gift_ids(parse_frames(bytes(one.body))) == sent for one in streams)
    assert during == after == []
