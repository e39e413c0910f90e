"""Under ASGI a request crosses into a worker thread once, never back to the event loop mid-chain
(coinsite.lib.one_hop; issue #13: no thread hand-offs per request where one does)."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import AsyncToSync, SyncToAsync
from django.core import signals
from django.core.handlers.asgi import ASGIHandler
from django.http import StreamingHttpResponse

from coinsite.lib.one_hop import OneHopASGIHandler, RequestThread


def _get(handler: ASGIHandler, path: str) -> tuple[dict, bytes, dict[str, int]]:
    """GET `path` through `handler` as an ASGI server would; the response start, body, and the thread hops."""
    hops = {"into a thread": 0, "back to the loop": 0}
    into, back = SyncToAsync.__call__, AsyncToSync.__call__

    def counted_into(self, *args, **kwargs):
        hops["into a thread"] += 1
        return into(self, *args, **kwargs)

    def counted_back(self, *args, **kwargs):
        hops["back to the loop"] += 1
        return back(self, *args, **kwargs)

    messages: list[dict] = []
    requested = False

    async def receive() -> dict:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays connected until the handler is done
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    # On a thread of its own: the browser tests leave an event loop running on the main thread.
    with (
        mock.patch.object(SyncToAsync, "__call__", counted_into),
        mock.patch.object(AsyncToSync, "__call__", counted_back),
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        pool.submit(asyncio.run, handler(scope, receive, send)).result()
    start = next(message for message in messages if message["type"] == "http.response.start")
    body = b"".join(message.get("body", b"") for message in messages if message["type"] == "http.response.body")
    return start, body, hops


def test_a_request_runs_its_middleware_and_view_in_one_hop():
    start, body, hops = _get(OneHopASGIHandler(), "/jsi18n/")

    assert start["status"] == 200 and b"gettext" in body
    assert hops == {"into a thread": 1, "back to the loop": 0}  # the signals and the close went in it too
    headers = {name.lower(): value for name, value in start["headers"]}
    assert headers[b"x-request-id"]  # the whole chain ran: the outermost middleware stamped it


def test_django_stock_handler_hops_back_to_the_loop_with_this_middleware():
    """What the handler is for: with the site's sync-only middleware, Django's own crosses back mid-chain."""
    start, _body, hops = _get(ASGIHandler(), "/jsi18n/")

    assert start["status"] == 200
    assert hops["back to the loop"] >= 1
    assert hops["into a thread"] >= 3  # request_started's receivers, the chain, and the response's close


def test_request_finished_is_sent_in_the_request_hop_before_the_bytes_go_out():
    """The database connection goes back to the pool (a `request_finished` receiver) on the request's thread."""
    seen: list[tuple[str, str]] = []

    def finished(**kwargs: Any) -> None:
        seen.append(("finished", threading.current_thread().name))

    signals.request_finished.connect(finished)
    try:
        start, _body, _hops = _get(OneHopASGIHandler(), "/jsi18n/")
    finally:
        signals.request_finished.disconnect(finished)

    assert start["status"] == 200
    assert seen == [("finished", mock.ANY)] and seen[0][1].startswith("django-request")


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")  # Django's own
def test_a_streamed_response_is_sent_whole_and_closed_after_its_last_chunk():
    handler = OneHopASGIHandler()
    order: list[str] = []

    def chunks():
        for part in (b"date,coins\n", b"2026-12-03,70\n"):
            order.append("chunk")
            yield part

    def finished(**kwargs: Any) -> None:
        order.append("finished")

    streamed = StreamingHttpResponse(chunks(), content_type="text/csv")
    signals.request_finished.connect(finished)
    try:
        with mock.patch.object(handler, "get_response", return_value=streamed):
            start, body, _hops = _get(handler, "/wallet/history.csv")
    finally:
        signals.request_finished.disconnect(finished)

    assert start["status"] == 200
    assert body == b"date,coins\n2026-12-03,70\n"
    assert order == ["chunk", "chunk", "finished"]


@pytest.mark.parametrize("module", ["coinsite.asgi"])
def test_the_site_serves_django_through_the_one_hop_handler(module):
    site = __import__(module, fromlist=["django_application"])

    assert isinstance(site.django_application, OneHopASGIHandler)


def test_the_next_request_runs_on_the_thread_the_last_one_left_idle():
    handler = OneHopASGIHandler()
    _get(handler, "/jsi18n/")
    [thread] = handler.idle_threads
    worker = next(iter(thread._threads))

    start, _body, _hops = _get(handler, "/jsi18n/")

    assert start["status"] == 200
    assert handler.idle_threads == [thread]
    assert next(iter(thread._threads)) is worker  # no thread started for the second request


def test_a_thread_still_busy_when_its_request_ends_is_never_given_to_another():
    handler = OneHopASGIHandler()
    busy = RequestThread()
    handler.idle_threads = [busy]
    release = threading.Event()
    handle = handler.handle

    async def handle_then_leave_work_behind(scope, receive, send):
        await handle(scope, receive, send)
        busy.submit(release.wait, 30)  # as a view still running after its client went away

    handler.handle = handle_then_leave_work_behind
    try:
        start, _body, _hops = _get(handler, "/jsi18n/")
    finally:
        release.set()

    assert start["status"] == 200
    assert handler.idle_threads == []
