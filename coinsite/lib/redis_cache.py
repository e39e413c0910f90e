"""Django's Redis cache backend with one connection pool per process instead of one per request.

Django keeps a cache backend per async context, and under ASGI every request runs in a new context:
each request built a new backend with its own connection pool and opened a new connection to Redis
(measured: one connection per gift tap; the pools were closed later by the garbage collector). Here the
pools belong to the process, one per server address, and every backend instance shares them. redis-py's
pools are thread-safe and start afresh in a forked child. The cache's options come from settings, so
they are the same for every instance of a process. The client object around a pool is shared too (redis-py's
clients are thread-safe: a connection is taken from the pool per command): Django built a new one for every
cache call (about 2 % of a gift's Python, in the live publisher's cache invalidation alone).
"""

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

_pools: dict[str, Any] = {}
_clients: dict[str, Any] = {}
_pools_lock = threading.Lock()


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
        client = _clients.get(server)
        if client is None:
            pool = self._get_connection_pool(write)
            client = _clients.setdefault(server, django_client._client(connection_pool=pool))
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient
