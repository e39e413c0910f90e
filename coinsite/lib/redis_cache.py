"""Django's Redis cache backend with one connection pool per process instead of one per request.

Django keeps a cache backend per async context, and under ASGI every request runs in a new context:
each request built a new backend with its own connection pool and opened a new connection to Redis
(measured: one connection per gift tap; the pools were closed later by the garbage collector). Here the
pools belong to the process, one per server address, and every backend instance shares them. redis-py's
pools are thread-safe and start afresh in a forked child. The cache's options come from settings, so
they are the same for every instance of a process. The client object around a pool is shared too (redis-py's
clients are thread-safe: a connection is taken from the pool per command): Django built a new one for every
cache call (about 2 % of a gift's Python, in the live publisher's cache invalidation alone).

A Redis that stops answering (a network partition, a paused VM) must not stall the site. Every command waits at
most `REDIS_TIMEOUT_SECONDS` (settings pass it as the pool's socket timeouts; redis-py's default is 5 s). After a
command fails for want of Redis, the process stops asking it for `REDIS_DOWN_SECONDS`: cache calls then raise at
once, and the pages that need the cache (gift taps, logins: their rate limits live there) answer 503 without
holding one of the process's few request threads for a timeout each. The next call after that asks Redis again.
The mark belongs to the server (host and port), not to one URL: the cache, the viewer counts and the Celery broker
(`coinsite.lib.tasks`) share it when they share a Redis, so the first of them to find it hung spares the others.
"""

import functools
import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

logger = logging.getLogger(__name__)

_pools: dict[str, Any] = {}
_clients: dict[str, Any] = {}
_pools_lock = threading.Lock()
_down_until: dict[str, float] = {}  # per host:port: until this time.monotonic(), calls fail without asking Redis


class RedisMarkedDown(redis.ConnectionError):
    """Redis failed a command a moment ago; this process does not ask it again yet (a 503, as an outage)."""


def redis_check_up(server: str) -> None:
    """Raise RedisMarkedDown while `server` is marked down in this process (any client of it may ask)."""
    if time.monotonic() < _down_until.get(_host(server), float("-inf")):
        raise RedisMarkedDown(
            f"Redis at {redis_address(server)} failed within the last {settings.REDIS_DOWN_SECONDS} s"
        )


def redis_mark_down(server: str, error: Exception) -> None:
    """`server` failed a command for want of Redis: this process stops asking it for REDIS_DOWN_SECONDS."""
    host = _host(server)
    if time.monotonic() >= _down_until.get(host, float("-inf")):
        logger.warning(
            "Redis at %s failed (%s): not asked for %s s",
            redis_address(server),
            type(error).__name__,
            settings.REDIS_DOWN_SECONDS,
        )
    _down_until[host] = time.monotonic() + settings.REDIS_DOWN_SECONDS


@functools.cache  # asked on every cache call (a gift tap makes several); a process knows a handful of URLs
def _host(server: str) -> str:
    """Where `server` (a redis:// or unix:// URL) listens: the databases of one Redis go down together."""
    parts = urlsplit(server)
    return f"{parts.hostname}:{parts.port or 6379}" if parts.hostname else parts.path


def redis_address(server: str) -> str:
    """The server's URL without its password, for logs."""
    return server.rpartition("@")[2]


class _MarkingRedis(redis.Redis):
    """redis-py's client, marking its server down when a command fails for want of it."""

    coinsite_server = ""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute_command(*args, **options)
        except (redis.ConnectionError, redis.TimeoutError) as error:
            redis_mark_down(self.coinsite_server, error)
            raise


class SharedPoolRedisCacheClient(RedisCacheClient):
    def _get_connection_pool(self, write: bool) -> Any:
        django_client: Any = self  # the attributes below are Django's own, private, so not in its type stubs
        server = django_client._servers[django_client._get_connection_pool_index(write)]
        pool = _pools.get(server)
        if pool is None:
            with _pools_lock:
                pool = _pools.get(server)
                if pool is None:
                    pool = _pools[server] = django_client._pool_class.from_url(server, **django_client._pool_options)
        return pool

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        django_client: Any = self
        server = django_client._servers[django_client._get_connection_pool_index(write)]
        redis_check_up(server)
        client = _clients.get(server)
        if client is None:
            client = _MarkingRedis(connection_pool=self._get_connection_pool(write))
            client.coinsite_server = server
            client = _clients.setdefault(server, client)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        timeout = settings.REDIS_TIMEOUT_SECONDS
        options = {"socket_timeout": timeout, "socket_connect_timeout": timeout} | params.get("OPTIONS", {})
        super().__init__(server, params | {"OPTIONS": options})
        self._class = SharedPoolRedisCacheClient
