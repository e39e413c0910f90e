"""Django's ASGI handler with the middleware chain and the view in one thread hop per request.

Under ASGI Django builds its middleware chain for async. Every view here is sync, and several middlewares
are sync-only (WhiteNoise, the request-id and locale middlewares), so a request used to cross threads
three times: into a worker thread for the sync-only middlewares, back to the event loop below the
last of them (Django's async response path), and into a thread again for the sync view. Built-in
middlewares run their sync methods in a thread in async mode too, so making ours async would not help.
This handler builds the chain for sync, as under WSGI, and runs it in one `sync_to_async` call inside the
request's thread-sensitive context (as Django runs a sync view): one hop, and the event loop stays
free for the live streams (`gifting.live.asgi`), which never reach Django.
"""

from typing import Any

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class OneHopASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        chain: Any = self._middleware_chain  # type: ignore[has-type]
        self._middleware_chain = sync_to_async(chain, thread_sensitive=True)


def get_one_hop_asgi_application() -> Any:
    """`django.core.asgi.get_asgi_application` with `OneHopASGIHandler`."""
    django.setup(set_prefix=False)
    return OneHopASGIHandler()
