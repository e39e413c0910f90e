"""The pool checks a connection it hands out only when the connection has sat idle, and still replaces a dead one."""

import threading

import psycopg
import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

from coinsite.embedded_db import database_url
from coinsite.lib import db_pool

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(db_pool.time, "monotonic", lambda: now[0])
    return now


@pytest.fixture
def checks(monkeypatch):
    """The connections psycopg's own check ran on (a round trip each)."""
    checked = []
    real_check = ConnectionPool.check_connection

    def counting_check(conn):
        checked.append(conn)
        real_check(conn)

    monkeypatch.setattr(db_pool.ConnectionPool, "check_connection", staticmethod(counting_check))
    return checked


@pytest.fixture
def pool():
    with ConnectionPool(
        database_url(connection.settings_dict), min_size=1, max_size=1, open=True, **db_pool.POOL_CALLBACKS
    ) as opened:
        yield opened


def _backend_pid(pool: ConnectionPool) -> int:
    with pool.connection() as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return row[0]


def test_a_connection_handed_out_moments_ago_is_handed_out_again_without_a_check(pool, clock, checks):
    first = _backend_pid(pool)  # a new connection: checked
    checked_before = len(checks)
    clock[0] += db_pool.CHECK_IDLE_SECONDS / 2

    again = _backend_pid(pool)

    assert again == first
    assert len(checks) == checked_before


def test_an_idle_connection_is_checked_and_a_dead_one_replaced(pool, clock, checks):
    first = _backend_pid(pool)
    with psycopg.connect(database_url(connection.settings_dict), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [first])
    clock[0] += db_pool.CHECK_IDLE_SECONDS + 0.1
    checked_before = len(checks)

    replacement = _backend_pid(pool)

    assert len(checks) > checked_before
    assert replacement != first  # the check found it dead, and the request got a working one


def test_a_returned_connection_goes_back_on_the_returning_thread(pool, monkeypatch):
    """No hand-off to the pool's worker thread per request (a `reset` callback would cause one)."""
    returned_on: list[threading.Thread] = []
    return_connection = pool._return_connection

    def noting_thread(conn, **kwargs):
        returned_on.append(threading.current_thread())
        return_connection(conn, **kwargs)

    monkeypatch.setattr(pool, "_return_connection", noting_thread)

    _backend_pid(pool)

    assert returned_on == [threading.current_thread()]
