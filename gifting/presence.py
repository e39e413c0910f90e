"""Who is watching a stream: the viewers with an open event stream, never page loads or polls.

Each web process's live hub (`gifting.live.hub`) knows the event streams it holds open and who opened
them. A viewer is named by the signed token the stream page puts in its event-stream address (`u<id>`
for a logged-in viewer, nothing for the creator, who is not a viewer), else by their network address
alone: a script opening 200 streams with 200 made-up User-Agents from one address is one viewer. (So
are several logged-out people behind one address; logging in makes each count.)

With `REDIS_URL` set, every hub adds its viewers to one sorted set per stream in Redis every
VIEWER_SYNC_SECONDS, scored by when the entry expires; the count is the entries not yet expired, so a
viewer who closed the page (or whose process died) drops out within VIEWER_TTL_SECONDS. Without Redis
the count is the process's own.
"""

import hashlib
import logging
import threading
import time

import redis
from django.conf import settings
from django.core import signing

from coinsite.lib.redis_cache import RedisMarkedDown, redis_check_up, redis_mark_down

logger = logging.getLogger(__name__)

VIEWER_SYNC_SECONDS = 5
VIEWER_TTL_SECONDS = 20
TOKEN_MAX_AGE_SECONDS = 24 * 60 * 60
_TOKEN_SALT = "gifting.presence.viewer"

# Stream id -> distinct viewers with an open event stream in this process; replaced whole by the hub.
_local_counts: dict[int, int] = {}


_CREATOR = "-"


def viewer_token(*, stream_id: int, user_id: int | None, creator_id: int) -> str:
    """The signed name a stream page gives its event stream: the logged-in viewer, or the creator (not counted)."""
    viewer = _CREATOR if user_id == creator_id else (f"u{user_id}" if user_id is not None else "")
    return signing.TimestampSigner(salt=_TOKEN_SALT).sign(f"{int(stream_id)}:{viewer}")


def viewer_from_token(token: str | None, *, stream_id: int, address: str) -> str | None:
    """Who holds an event stream: the token's logged-in viewer, else the network address; None for the creator.

    A token for another stream, a forged or an expired one counts as no token.
    """
    if token:
        try:
            token_stream, viewer = (
                signing.TimestampSigner(salt=_TOKEN_SALT).unsign(token, max_age=TOKEN_MAX_AGE_SECONDS).split(":")
            )
            if int(token_stream) == int(stream_id) and viewer:
                return None if viewer == _CREATOR else viewer
        except (signing.BadSignature, ValueError):
            pass
    return "a" + hashlib.sha256(f"{settings.SECRET_KEY}:{address}".encode()).hexdigest()[:16]


def redis_key(stream_id: int) -> str:
    return f"{settings.LIVE_REDIS_PREFIX}viewers:{int(stream_id)}"


def local_counts_set(counts: dict[int, int]) -> None:
    """The hub's count of its own viewers per stream (read by the pages when there is no Redis)."""
    global _local_counts
    _local_counts = dict(counts)


_client: redis.Redis | None = None
_client_url: str | None = None
_client_lock = threading.Lock()


def _redis(url: str) -> redis.Redis:
    global _client, _client_url
    with _client_lock:
        if _client is None or _client_url != url:
            timeout = settings.REDIS_TIMEOUT_SECONDS
            _client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
            _client_url = url
        return _client


def viewer_counts(stream_ids: list[int]) -> dict[int, int]:
    """Viewers watching each stream now (with Redis: across every web process), in one round trip."""
    if not stream_ids:
        return {}
    if settings.REDIS_URL:
        try:
            return _shared_counts(settings.REDIS_URL, stream_ids)
        except RedisMarkedDown:
            pass  # Redis failed a moment ago (the cache's mark, logged once): not asked again yet
        except redis.RedisError as error:
            if isinstance(error, redis.ConnectionError | redis.TimeoutError):
                redis_mark_down(settings.REDIS_URL, error)
            logger.warning("Viewer counts unavailable from Redis (%s); showing this process's own", error)
    counts = _local_counts
    return {stream_id: counts.get(stream_id, 0) for stream_id in stream_ids}


def _shared_counts(url: str, stream_ids: list[int]) -> dict[int, int]:
    redis_check_up(url)  # a hung Redis costs one request REDIS_TIMEOUT_SECONDS, not every page of the process
    pipeline = _redis(url).pipeline(transaction=False)
    now = time.time()
    for stream_id in stream_ids:
        pipeline.zcount(redis_key(stream_id), now, "+inf")
    return dict(zip(stream_ids, (int(count) for count in pipeline.execute()), strict=True))


def viewer_count(stream_id: int) -> int:
    return viewer_counts([stream_id])[stream_id]
