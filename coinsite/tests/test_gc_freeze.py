"""A served process freezes its long-lived objects at startup and after its first requests, and only then
(coinsite.lib.gc_freeze)."""

import asyncio
import gc
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from coinsite import asgi as site
from coinsite.lib import gc_freeze


@pytest.fixture
def freezes(monkeypatch):
    """What each freeze moved into the permanent generation; everything is thawed again after the test."""
    frozen_counts: list[int] = []
    freeze = gc.freeze

    def counted_freeze() -> None:
        freeze()
        frozen_counts.append(gc.get_freeze_count())

    monkeypatch.setattr(gc_freeze.gc, "freeze", counted_freeze)
    yield frozen_counts
    gc.unfreeze()


async def _app(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _serve(application: Any, *, requests: int, lifespan: bool) -> list[int]:
    """Start `application` as a server would (or not), serve `requests` HTTP requests; their statuses."""

    async def serve() -> list[int]:
        startup: asyncio.Queue = asyncio.Queue()
        running = None
        if lifespan:
            await startup.put({"type": "lifespan.startup"})
            sent: list[dict] = []

            async def send_lifespan(message: dict) -> None:
                sent.append(message)

            running = asyncio.ensure_future(application({"type": "lifespan"}, startup.get, send_lifespan))
            while not sent:
                await asyncio.sleep(0)
        statuses = []
        for _ in range(requests):
            started: list[dict] = []

            async def receive() -> dict:
                return {"type": "http.request", "body": b"", "more_body": False}

            async def send(message: dict, started: list[dict] = started) -> None:
                if message["type"] == "http.response.start":
                    started.append(message)

            await application({"type": "http", "method": "GET", "path": "/"}, receive, send)
            statuses.append(started[0]["status"])
        if running is not None:
            await startup.put({"type": "lifespan.shutdown"})
            await running
        return statuses

    # On a thread of its own: the browser tests leave an event loop running on the main thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, serve()).result()


def test_a_started_server_freezes_at_startup_and_once_after_its_first_requests(freezes):
    application = gc_freeze.freezing_after_warm_up(_app)

    statuses = _serve(application, requests=gc_freeze.FREEZE_AFTER_REQUESTS * 2 + 1, lifespan=True)

    assert statuses == [204] * (gc_freeze.FREEZE_AFTER_REQUESTS * 2 + 1)
    assert len(freezes) == 2  # at startup, and after FREEZE_AFTER_REQUESTS; never again
    assert 0 < freezes[0] <= freezes[1]  # the second freeze moved what the first requests left alive


def test_an_application_no_server_started_never_freezes(freezes):
    """Tests and the development server call the application without a lifespan startup."""
    application = gc_freeze.freezing_after_warm_up(_app)

    statuses = _serve(application, requests=gc_freeze.FREEZE_AFTER_REQUESTS + 1, lifespan=False)

    assert statuses == [204] * (gc_freeze.FREEZE_AFTER_REQUESTS + 1)
    assert freezes == []
    assert gc.get_freeze_count() == 0


def test_a_freeze_collects_first_so_garbage_is_not_frozen(freezes):
    class Node:
        pass

    cycle = Node()
    cycle.itself = cycle  # garbage only a collection reclaims
    watched = weakref.ref(cycle)
    del cycle

    gc_freeze.freeze_long_lived("in a test")

    assert watched() is None


def test_the_site_application_freezes_under_a_server():
    assert site.application.__qualname__ == "freezing_after_warm_up.<locals>.freezing"
