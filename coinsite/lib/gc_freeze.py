"""A served web process keeps its long-lived objects out of the garbage collector's full collections.

Once it has served its first requests a web process holds about 165,000 objects the cycle collector
tracks: modules, URL patterns, compiled templates, translation catalogues, Babel's locale data, the
connection pools. CPython's full collections traverse every one of them, holding the GIL. Measured in
`make bench`'s uvicorn workers (a timed `gc.callbacks` probe), full collections paused a worker for
120-640 ms while every request it was serving waited: one such pause in a paced phase is enough to put
its p99 over the 25 ms goal (issue #13).

`gc.freeze()` moves every object alive at that moment into a permanent generation that collections
skip ("to speed up collection", in Python's documentation). A process served by an ASGI server freezes
twice: at the lifespan startup (the application has loaded), and once it has served
`FREEZE_AFTER_REQUESTS` requests, by which time those requests have loaded what the site loads lazily.
It collects first each time, so only live objects are frozen. The price: an object frozen while alive
that later becomes cyclic garbage is never reclaimed. What is alive at those two moments is the
application itself, which lives as long as the process, and the requests in flight at the second one:
a few of them, once.

Only a server that sends the lifespan startup (uvicorn does) arms it: tests calling the application, and
Django's development server, never freeze.
"""

import gc
import logging

from coinsite.lib.asgi_types import ASGIApplication, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

FREEZE_AFTER_REQUESTS = 100


def freeze_long_lived(moment: str) -> None:
    """Collect, then move every object still alive into the permanent generation."""
    gc.collect()
    gc.freeze()
    logger.info("Froze %s long-lived objects (%s)", gc.get_freeze_count(), moment)


def freezing_after_warm_up(application: ASGIApplication) -> ASGIApplication:
    """`application`, freezing at the lifespan startup and after `FREEZE_AFTER_REQUESTS` HTTP requests."""
    served: int | None = None  # None until the server has started the application

    async def freezing(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal served
        if scope["type"] == "lifespan":
            return await application(scope, _freezing_at_startup(receive), send)
        await application(scope, receive, send)
        if served is not None and scope["type"] == "http":
            served += 1
            if served == FREEZE_AFTER_REQUESTS:
                freeze_long_lived(f"after {served} requests")

    def _freezing_at_startup(receive: Receive) -> Receive:
        async def receiving() -> Message:
            nonlocal served
            message = await receive()
            if message["type"] == "lifespan.startup" and served is None:
                freeze_long_lived("at startup")
                served = 0
            return message

        return receiving

    return freezing
