"""PostgreSQL session-level advisory locks: one worker at a time on a piece of background work.

A session lock (not a transaction lock) lasts across the several transactions a payout or a
statement run takes, and PostgreSQL drops it when the connection ends, so a killed worker never
leaves it behind. Every lock class the project uses is listed in `LockClass`, so two kinds of work
can never share a number by accident.
"""

import enum
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


class LockClass(enum.IntEnum):
    """The first key of `pg_try_advisory_lock(class, id)`, one per kind of work."""

    PAYOUT = 7301  # one worker per payout
    STATEMENT_RUN = 7302  # one worker per monthly statement run


@contextmanager
def advisory_lock(lock_class: LockClass, key: int) -> Iterator[bool]:
    """Try to take the advisory lock (`lock_class`, `key`) without waiting; yields whether it was taken.

    The lock is released when the block ends (if it was taken), or by PostgreSQL if the process dies.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [int(lock_class), key])
        locked = bool(cursor.fetchone()[0])
    try:
        yield locked
    finally:
        if locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [int(lock_class), key])
