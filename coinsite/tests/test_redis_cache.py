"""Under ASGI every request gets its own cache backend; they share the process's Redis connections. A Redis that
hangs fails a call within a setting, and then fails the process's calls at once for a while."""

import threading
import time

import pytest
import redis

from coinsite.lib.redis_cache import RedisCache, RedisMarkedDown, redis_check_up, redis_mark_down
from coinsite.operations import unavailable_cause
from coinsite.tests.support import hung_redis

REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture
def redis_stats():
    """How many connections the Redis server has accepted so far (read over one connection kept open)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    yield lambda: client.info("stats")["total_connections_received"]
    client.close()


def a_request_reads_the_cache() -> None:
    """What a request does: Django builds the backend anew in the request's context, then reads through it."""
    cache = RedisCache(REDIS_URL, {})
    assert cache.get("coinsite-test:nothing-here") is None


def test_requests_reuse_the_process_connections_instead_of_opening_one_each(redis_stats):
    a_request_reads_the_cache()  # the process's pool has its connection
    before = redis_stats()

    for _ in range(20):
        a_request_reads_the_cache()
    requests = [threading.Thread(target=a_request_reads_the_cache) for _ in range(5)]
    for request in requests:
        request.start()
    for request in requests:
        request.join()

    assert redis_stats() - before <= 5  # at most one more per request running at the same time


def test_the_shared_backend_reads_and_writes_like_djangos(redis_stats):
    cache = RedisCache(REDIS_URL, {"KEY_PREFIX": "coinsite-test"})
    cache.set("answer", {"coins": 42}, 30)

    assert RedisCache(REDIS_URL, {"KEY_PREFIX": "coinsite-test"}).get("answer") == {"coins": 42}
    cache.delete("answer")


def test_every_backend_of_the_process_shares_one_client_per_server(redis_stats):
    """Django built a client object for every cache call; one per server is enough (redis-py's are thread-safe)."""
    first, second = RedisCache(REDIS_URL, {})._cache, RedisCache(REDIS_URL, {"KEY_PREFIX": "x"})._cache

    assert first.get_client() is second.get_client("any-key", write=True)
    assert first.get_client().connection_pool is second._get_connection_pool(write=False)


# --- A Redis that hangs -------------------------------------------------------------------------------


@pytest.fixture
def hung(settings):
    settings.REDIS_TIMEOUT_SECONDS = 0.2
    settings.REDIS_DOWN_SECONDS = 30
    with hung_redis() as server:
        yield server


def test_a_cache_call_to_a_hung_redis_times_out_after_the_setting(hung):
    """redis-py's own default is 5 s a command: a request would hold its thread that long on every call."""
    cache = RedisCache(hung.url, {})

    with pytest.raises(redis.TimeoutError):
        cache.add("coinsite-test:key", 0, timeout=5)

    pool = cache._cache._get_connection_pool(write=True)
    assert (pool.connection_kwargs["socket_timeout"], pool.connection_kwargs["socket_connect_timeout"]) == (0.2, 0.2)
    assert hung.connections == 1


def test_after_a_failure_the_process_stops_asking_redis_for_a_while(hung, monkeypatch):
    cache = RedisCache(hung.url, {})
    with pytest.raises(redis.TimeoutError):
        cache.get("coinsite-test:key")

    for _ in range(3):  # fail at once, without a connection, as an outage (a 503)
        with pytest.raises(RedisMarkedDown):
            RedisCache(hung.url, {}).incr("coinsite-test:key")
    assert hung.connections == 1

    later = time.monotonic() + 30
    monkeypatch.setattr("coinsite.lib.redis_cache.time.monotonic", lambda: later)
    with pytest.raises(redis.TimeoutError):  # asked again once the time is up
        cache.get("coinsite-test:key")
    assert hung.connections == 2


def test_the_mark_belongs_to_the_server_not_to_one_of_its_databases(settings):
    settings.REDIS_DOWN_SECONDS = 30
    redis_mark_down("redis://:secret@10.9.8.7:6390/3", redis.TimeoutError("hung"))

    with pytest.raises(RedisMarkedDown, match=r"10\.9\.8\.7:6390/1 failed"):
        redis_check_up("redis://10.9.8.7:6390/1")
    redis_check_up("redis://10.9.8.7:6391/3")  # another server: asked as usual
    redis_check_up("redis://10.9.8.6:6390/3")


def test_a_marked_down_redis_is_an_outage_not_a_bug():
    try:
        raise RedisMarkedDown("down")
    except RedisMarkedDown:
        assert unavailable_cause() == "redis"
