"""The web processes' connection pool checks a connection only when it has sat idle (settings.DB_POOL_MAX).

Django's pool, with CONN_HEALTH_CHECKS, checks every connection it hands out with a round trip (an empty
query): one more statement for PostgreSQL and one more wait on every request, for a connection that
another request handed back a few milliseconds earlier in working order. This check skips connections
handed back less than CHECK_IDLE_SECONDS ago and checks the others as before, so what a check is for
still holds: after a database restart or a network cut every pooled connection has been idle for at
least as long as the outage (and the requests that failed during it handed theirs back broken, which
the pool discards), so the first request after it gets a checked one.

It goes by when the connection was last handed out, which is never later than when it was last handed
back, so "handed out less than a second ago" is the stricter test. It does not use the pool's `reset`
callback to note the hand-back: with any `reset` set, psycopg_pool hands every returned connection to
its worker thread (a queue put, a wake-up and a GIL hand-off per request: 17 % of the web process's
CPU per gift tap, measured with py-spy), where without one the returning thread puts it back itself.
"""

import time
from weakref import WeakKeyDictionary

import psycopg
from psycopg_pool import ConnectionPool

CHECK_IDLE_SECONDS = 1.0

_handed_out_at: WeakKeyDictionary[psycopg.Connection, float] = WeakKeyDictionary()


def connection_check(connection: psycopg.Connection) -> None:
    """The pool's `check` callback: psycopg's round trip, unless the connection was handed out moments ago.

    The pool calls it on every hand-out; a connection it finds broken raises, and the pool replaces it.
    """
    now = time.monotonic()
    handed_out = _handed_out_at.get(connection)
    if handed_out is None or now - handed_out >= CHECK_IDLE_SECONDS:
        ConnectionPool.check_connection(connection)
    _handed_out_at[connection] = now


# The pool options that install it (Django passes OPTIONS["pool"] to psycopg_pool.ConnectionPool).
POOL_CALLBACKS = {"check": connection_check}
