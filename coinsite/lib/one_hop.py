"""Django's ASGI handler with the middleware chain and the view in one thread hop per request.

Under ASGI Django builds its middleware chain for async. Every view here is sync, and several middlewares
are sync-only (WhiteNoise, the request-id and locale middlewares), so a request used to cross threads
three times: into a worker thread for the sync-only middlewares, back to the event loop below the
last of them (Django's async response path), and into a thread again for the sync view. Built-in
middlewares run their sync methods in a thread in async mode too, so making ours async would not help.
This handler builds the chain for sync, as under WSGI, and runs it in one `sync_to_async` call inside the
request's thread-sensitive context (as Django runs a sync view): one hop, and the event loop stays
free for the live streams (`gifting.live.asgi`), which never reach Django.

The request's signals go in that same hop. Django's handler sends `request_started` with `asend` (its
sync receivers, which hand the database connection back, run in a thread hop of their own) and closes
the response in another, which sends `request_finished`: three hops per request, where a page or a gift
tap needs one. Here everything sync in a request (`request_started`, the request object, the chain, and,
for a response that is not streamed, `close()` and so `request_finished`) runs in the one hop; the event
loop only reads the body and writes the bytes. A streamed response is sent and closed as Django does it.

The thread is reused: Django gives each request a new one-thread executor (a thread started and joined
per request, about a tenth of a tap's CPU here); this handler keeps the idle ones and hands each request
one of them, so a request's sync code still runs on one thread that no other request uses meanwhile
(Django's database connections are per thread and go back to the pool when the request finishes).
"""

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from typing import IO, Any

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse, HttpResponseBase
from django.urls import set_script_prefix

# Idle request threads kept for the next requests; a burst beyond this many starts threads that end after it.
IDLE_THREADS_KEPT = 64


class RequestThread(ThreadPoolExecutor):
    """One thread for one request at a time, knowing whether it still runs anything."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="django-request")
        self.running: set[Future] = set()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future = super().submit(fn, *args, **kwargs)
        self.running.add(future)
        future.add_done_callback(self.running.discard)
        return future


class OneHopASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self.idle_threads: list[RequestThread] = []  # touched on the event loop's thread only

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)  # the sync chain, called by `respond` in the request's hop

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        thread = self.idle_threads.pop() if self.idle_threads else RequestThread()
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            # A request abandoned mid-view (its client went away) may leave its thread busy: never share that.
            if thread.running or len(self.idle_threads) >= IDLE_THREADS_KEPT:
                thread.shutdown(wait=False)
            else:
                self.idle_threads.append(thread)

    async def handle(self, scope: dict, receive: Callable, send: Callable) -> None:
        """Django's `ASGIHandler.handle` with everything sync in one hop (see the module docstring)."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        with closing(body_file):
            response = await sync_to_async(self.respond, thread_sensitive=True)(scope, body_file)
            if not response.streaming:
                return await self.send_response(response, send)
            try:
                async with asyncio.TaskGroup() as group:
                    listener = group.create_task(self.listen_for_disconnect(receive))
                    await self.send_response(response, send)
                    listener.cancel()
            except* RequestAborted:
                pass
            finally:
                await sync_to_async(response.close, thread_sensitive=True)()

    def respond(self, scope: dict, body_file: IO[bytes]) -> HttpResponseBase:
        """The response, closed already unless it is streamed: `request_started` to `request_finished`."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, refusal = self.create_request(scope, body_file)
        response: Any = self.get_response(request) if request is not None else refusal
        response._handler_class = self.__class__
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size  # as Django's handler: the server chunks
        if not response.streaming:
            response.close()
        return response


def get_one_hop_asgi_application() -> Any:
    """`django.core.asgi.get_asgi_application` with `OneHopASGIHandler`."""
    django.setup(set_prefix=False)
    return OneHopASGIHandler()
