"""Who is watching a stream: presence heartbeats kept in Django's cache, never in the database.

Each stream page load, feed poll and open event stream says "this viewer is here". Time is cut into
windows of PRESENCE_WINDOW_SECONDS; per window the cache holds one marker per viewer (added once,
so a viewer polling every second costs one `add`) and a counter of distinct viewers, bumped only
when a marker is new. The count shown is the larger of the current and the previous window: a new
viewer shows at once, and one who left drops out within two windows (at most a minute).
"""

import contextlib
import hashlib
import time

from django.core.cache import cache

PRESENCE_WINDOW_SECONDS = 30
_KEEP_SECONDS = PRESENCE_WINDOW_SECONDS * 3


def viewer_key(*, user_id: int | None, session_key: str | None, address: str, user_agent: str) -> str:
    """A stable, non-identifying name for one viewer: their user id, else their session, else browser + address."""
    if user_id is not None:
        return f"u{user_id}"
    raw = f"s:{session_key}" if session_key else f"a:{address}|{user_agent}"
    return "h" + hashlib.sha256(raw.encode()).hexdigest()[:20]


def _window(now: float | None) -> int:
    return int((time.time() if now is None else now) // PRESENCE_WINDOW_SECONDS)


def _counter_key(stream_id: int, window: int) -> str:
    return f"gifting:viewers:{int(stream_id)}:{window}"


def viewer_seen(*, stream_id: int, viewer: str, now: float | None = None) -> None:
    """Record that `viewer` is watching stream `stream_id` now (idempotent within a window)."""
    window = _window(now)
    if cache.add(f"gifting:viewer:{int(stream_id)}:{window}:{viewer}", 1, timeout=_KEEP_SECONDS):
        counter = _counter_key(stream_id, window)
        cache.add(counter, 0, timeout=_KEEP_SECONDS)
        with contextlib.suppress(ValueError):  # evicted between add and incr: uncounted for one window
            cache.incr(counter)


def viewer_counts(stream_ids: list[int], *, now: float | None = None) -> dict[int, int]:
    """Distinct viewers seen on each stream in the last window or so, in one cache round trip."""
    window = _window(now)
    keys = {
        stream_id: (_counter_key(stream_id, window), _counter_key(stream_id, window - 1)) for stream_id in stream_ids
    }
    found = cache.get_many([key for pair in keys.values() for key in pair])
    return {
        stream_id: max(found.get(current, 0), found.get(previous, 0)) for stream_id, (current, previous) in keys.items()
    }


def viewer_count(stream_id: int, *, now: float | None = None) -> int:
    return viewer_counts([stream_id], now=now)[stream_id]
