"""ASGI as the site's own ASGI code uses it (the live hub and endpoints, the GC freeze): messages are plain dicts."""

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApplication = Callable[[Scope, Receive, Send], Coroutine[Any, Any, None]]
