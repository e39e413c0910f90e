"""The web processes' connection pool checks a connection only when it has sat idle (settings.DB_POOL_MAX).

Django's pool, with CONN_HEALTH_CHECKS, checks every connection it hands out with a round trip (an empty
query): one more statement for PostgreSQL and one more wait on every request, for a connection that
another request handed back a few milliseconds earlier in working order. This check skips connections
handed back less than CHECK_IDLE_SECONDS ago and checks the others as before, so what a check is for
still holds: after a database restart or a network cut every pooled connection has been idle for at
least as long as the outage (and the requests that failed during it handed theirs back broken, which
the pool discards), so the first request after it gets a checked one.
"""

import time
from weakref import WeakKeyDictionary

import psycopg
from psycopg_pool import ConnectionPool

CHECK_IDLE_SECONDS = 1.0

_returned_at: WeakKeyDictionary[psycopg.Connection, float] = WeakKeyDictionary()


def connection_returned(connection: psycopg.Connection) -> None:
    """The pool's `reset` callback: note when the connection came back (working: the pool has reset it)."""
    _returned_at[connection] = time.monotonic()


def connection_check(connection: psycopg.Connection) -> None:
    """The pool's `check` callback: psycopg's round trip, unless the connection came back moments ago."""
    returned = _returned_at.get(connection)
    if returned is not None and time.monotonic() - returned < CHECK_IDLE_SECONDS:
        return
    ConnectionPool.check_connection(connection)


# The pool options that install both (Django passes OPTIONS["pool"] to psycopg_pool.ConnectionPool).
POOL_CALLBACKS = {"check": connection_check, "reset": connection_returned}
