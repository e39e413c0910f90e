"""One consistent snapshot for reads that span rows which move together.

Under READ COMMITTED (Django's default on PostgreSQL) every statement sees the database as of its own
start. A page that reads a roll-up's mark, then the roll-up rows, then the rows after the mark, in three
statements, counts a row twice when the roll-up commits between them; a check that compares two tables
sees a posting half-way. REPEATABLE READ gives every statement of the transaction the snapshot of its
first one, and READ ONLY lets it run on a streaming replica too.
"""

import contextlib
from collections.abc import Iterator

from django.db import DEFAULT_DB_ALIAS, connections, transaction


@contextlib.contextmanager
def one_snapshot(*, using: str = DEFAULT_DB_ALIAS, read_only: bool = True) -> Iterator[None]:
    """Every query on `using` inside the block reads one snapshot (REPEATABLE READ, READ ONLY unless
    `read_only` is False).

    Inside a caller's transaction the isolation can no longer change: the block reads whatever that
    transaction sees, which is the caller's to choose.
    """
    connection = connections[using]
    if connection.in_atomic_block:
        yield
        return
    level = "REPEATABLE READ READ ONLY" if read_only else "REPEATABLE READ"
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute(f"SET TRANSACTION ISOLATION LEVEL {level}")
        yield
