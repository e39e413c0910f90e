"""Helpers for the live delivery tests: event streams driven in-process through the ASGI app, gifts sent
from a worker thread (as another web process would), Server-Sent Events parsed back into frames."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, connections

from coinsite.embedded_db import database_url
from gifting.live.asgi import live_application
from gifting.live.hub import hub_close
from gifting.live.publish import publisher
from gifting.services import gift_send


@dataclass(frozen=True)
class Frame:
    event: str
    data: dict
    id: str


def parse_frames(raw: bytes) -> list[Frame]:
    """The complete SSE messages in `raw` (comments and the retry line left out)."""
    frames = []
    for block in raw.decode().split("\n\n")[:-1]:
        fields = dict(line.split(": ", 1) for line in block.split("\n") if line and not line.startswith((":", "retry")))
        if "event" in fields:
            frames.append(Frame(event=fields["event"], data=json.loads(fields["data"]), id=fields.get("id", "")))
    return frames


def gift_ids(frames: list[Frame]) -> list[int]:
    return [frame.data["id"] for frame in frames if frame.event == "gift"]


async def _not_found(scope, receive, send):
    raise AssertionError(f"{scope['path']} reached Django")


class StreamClient:
    """One browser's event stream, served by the live ASGI app in this event loop (no server in between)."""

    def __init__(
        self,
        path: str,
        *,
        last_event_id: str = "",
        address: str = "203.0.113.7",
        method: str = "GET",
        stalled: asyncio.Event | None = None,
    ):
        self.path, _, query = path.partition("?")
        self.query = query.encode()
        self.headers = [(b"host", b"127.0.0.1")]
        if last_event_id:
            self.headers.append((b"last-event-id", last_event_id.encode()))
        self.address = address
        self.method = method
        self.status: int | None = None
        self.response_headers: dict[bytes, bytes] = {}
        self.stalled = stalled  # a client that stops reading after its opening, until this is set
        self.body = bytearray()
        self.complete = False
        self.arrived = asyncio.Event()
        self.gone = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def open(self) -> "StreamClient":
        scope = {
            "type": "http",
            "method": self.method,
            "path": self.path,
            "query_string": self.query,
            "headers": self.headers,
            "client": (self.address, 40000),
        }
        self.task = asyncio.create_task(live_application(_not_found)(scope, self._receive, self._send))
        await self.wait_for(lambda client: client.status is not None)
        return self

    async def _receive(self):
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message):
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.response_headers = dict(message.get("headers", []))
        else:
            if self.stalled is not None and self.body:
                await self.stalled.wait()
            self.body += message.get("body", b"")
            if not message.get("more_body", False):
                self.complete = True
                self.gone.set()
        self.arrived.set()

    @property
    def frames(self) -> list[Frame]:
        return parse_frames(bytes(self.body))

    @property
    def last_id(self) -> str:
        return next((frame.id for frame in reversed(self.frames) if frame.id), "")

    async def wait_for(self, condition, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition(self):
                self.arrived.clear()
                if condition(self):
                    return
                await self.arrived.wait()

    async def wait_for_gifts(self, count: int, timeout: float = 10.0) -> None:
        await self.wait_for(lambda client: len(gift_ids(client.frames)) >= count, timeout)

    async def close(self) -> None:
        self.gone.set()
        if self.task is not None:
            await self.task


def send_gifts(sender, stream, gift, count: int, *, anonymous: bool = False) -> list[int]:
    """Send `count` gifts as another process would, each committed and handed to the bus; their event ids."""
    try:
        ids = [
            gift_send(
                sender=sender,
                stream_id=stream.pk,
                gift_id=gift.pk,
                quantity=1,
                idempotency_key=f"live-{uuid.uuid4()}",
                anonymous=anonymous,
            ).pk
            for _ in range(count)
        ]
        assert publisher().flush(timeout=10)
        return ids
    finally:
        connections.close_all()


class GatedTransport:
    """The real transport behind a gate the test opens: a bus that hangs until then."""

    def __init__(self, inner):
        self.inner = inner
        self.gate = threading.Event()
        self.calls = 0

    def send(self, messages, stream_ids):
        self.calls += 1
        self.gate.wait(timeout=30)
        self.inner.send(messages, stream_ids)

    def close(self):
        self.gate.set()
        self.inner.close()


class UvicornServer:
    """uvicorn running coinsite.asgi against the test database, as its own process with its own application_name."""

    def __init__(self, extra_env: dict, port: int | None = None):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port or 0))
            self.port = probe.getsockname()[1]
        self.application_name = f"live-test-{uuid.uuid4().hex[:8]}"
        database = connection.settings_dict
        env = {
            **os.environ,
            "DEBUG": "true",
            "DATABASE_URL": database_url(database),
            "PGAPPNAME": self.application_name,
            "REDIS_URL": settings.REDIS_URL,  # the test's bus (conftest: none unless the test sets one)
            **extra_env,
        }
        env.pop("DB_POOL_MAX", None)
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "coinsite.asgi:application",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]
        self.process = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env)

    def wait_until_up(self, path: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2).read()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("uvicorn did not start")

    def database_connections(self) -> list[str]:
        """What each of the server's database connections is doing (its last query); run on a worker thread."""
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT query FROM pg_stat_activity WHERE application_name = %s ORDER BY query",
                    [self.application_name],
                )
                return [row[0] for row in cursor.fetchall()]
        finally:
            connections.close_all()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def in_thread(function):
    """Run `function` on a fresh thread and return its result: the browser tests leave Playwright's event loop
    running in the test thread, where neither asyncio.run nor a sync client calling an async view can work."""

    def run():
        try:
            return function()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=120)


def run_scenario(scenario):
    """asyncio.run(scenario()) on a fresh thread, closing that loop's hub (and its bus connection) after."""

    async def wrapped():
        try:
            return await scenario()
        finally:
            await hub_close()

    return in_thread(lambda: asyncio.run(wrapped()))
