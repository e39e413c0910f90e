"""Server-side binding and prepared statements for the hot paths (docs/scaling.md, NOTES.md).

Django sends literal SQL through psycopg's client-side binding, and PostgreSQL parses and plans every
statement again: for a gift that was about 0.9 ms of the 1.4-1.8 ms of backend CPU. A statement run
through `prepared_cursor()` is bound on the server and prepared once per connection (psycopg keeps the
prepared statements of each connection), so later executions skip parsing and planning. Worth it
only on persistent or pooled connections, which every deployment of the site uses.

Django turns psycopg's preparation off (`prepare_threshold=None`, which psycopg also applies to an
explicit `prepare=True`) so that transaction-mode poolers such as PgBouncer < 1.21 keep working. The
first `prepared_cursor()` on a connection sets a threshold no statement reaches, which turns preparation
on for explicit requests only: Django's own cursors bind on the client and never prepare, and this
cursor prepares every statement, so only the few hot statements that use it are prepared.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

# psycopg prepares a statement once it has run this many times, or at once when asked to: no statement
# runs this often, so only the statements this module asks for are prepared.
EXPLICIT_ONLY_THRESHOLD = 2**62


class _PreparingCursor(psycopg.Cursor[Any]):
    """psycopg's server-side binding cursor that prepares every statement it executes."""

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> Any:
        # `prepare` is ignored on purpose: this cursor exists to prepare.
        return super().execute(query, params, prepare=True, binary=binary)


@contextmanager
def prepared_cursor(using: str = DEFAULT_DB_ALIAS) -> Iterator[CursorWrapper]:
    """A Django cursor (queries logged and errors wrapped as usual) whose statements are prepared.

    Write the SQL with `%s` / `%(name)s` placeholders as usual; cast parameters in the SQL where
    PostgreSQL must know their type (`%(ids)s::bigint[]`), as a prepared statement's types are fixed.
    """
    connection = connections[using]
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        if connection.connection.prepare_threshold is None:
            connection.connection.prepare_threshold = EXPLICIT_ONLY_THRESHOLD
        raw_cursor = _PreparingCursor(connection.connection)
    # Django's own wrapping of a new cursor: query logging (tests count these) and error translation.
    connection.validate_thread_sharing()
    wrapper = CursorDebugWrapper if connection.queries_logged else CursorWrapper
    cursor = wrapper(raw_cursor, connection)
    try:
        yield cursor
    finally:
        cursor.close()
