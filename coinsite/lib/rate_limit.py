"""Fixed-window rate limits counted in Django's cache (Redis in production, so shared by every process).

Time is cut into windows of `window` seconds, aligned to the clock; each window has one counter per
key. A hit adds the counter if it is missing and increments it. The counter can expire between the
add and the increment (a window turning over, or the cache evicting it): the increment then fails,
and the hit is counted as the first one of a fresh counter instead of failing the request.
"""

import math
import time
from contextlib import suppress
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` hits per `window` seconds."""

    limit: int
    window: int


class RateLimited(Exception):
    """A hit went over `limit`; the caller may try again after `retry_after` seconds."""

    def __init__(self, limit: RateLimit, *, retry_after: int) -> None:
        self.limit = limit
        self.retry_after = retry_after
        super().__init__(f"More than {limit.limit} hits in {limit.window} s; retry after {retry_after} s.")


def rate_limit_hit(key: str, *limits: RateLimit, now: float | None = None) -> list[int]:
    """Count one hit on `key` against each of `limits`; raise RateLimited for the first one exceeded.

    Returns the hits counted so far in each limit's current window. Refused hits count too, so a
    client that keeps hammering stays refused until the window turns over.
    """
    now = time.time() if now is None else now
    counts = []
    for limit in limits:
        count = _count_hit(_window_key(key, limit, now), timeout=limit.window + 1)
        if count > limit.limit:
            raise RateLimited(limit, retry_after=max(1, math.ceil(limit.window - now % limit.window)))
        counts.append(count)
    return counts


def rate_limit_return(key: str, *limits: RateLimit, now: float) -> None:
    """Take back one hit that `rate_limit_hit(key, *limits, now=now)` counted and allowed: the request turned
    out not to be what the limit counts (a gift that asked for confirmation instead of being sent)."""
    for limit in limits:
        with suppress(ValueError):  # the window's counter is gone already: nothing left to take back
            cache.decr(_window_key(key, limit, now))


def _window_key(key: str, limit: RateLimit, now: float) -> str:
    """The cache key counting `key`'s hits in `limit`'s window that holds `now`."""
    return f"ratelimit:{key}:{limit.window}:{int(now // limit.window)}"


def _count_hit(cache_key: str, *, timeout: int) -> int:
    cache.add(cache_key, 0, timeout=timeout)
    try:
        return cache.incr(cache_key)
    except ValueError:  # the counter expired between add and incr
        cache.set(cache_key, 1, timeout=timeout)
        return 1
