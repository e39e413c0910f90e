"""The session engine (settings.SESSION_ENGINE): Django's database sessions, read with a prepared statement.

Every signed-in request reads its session. Django's store builds that query with the ORM each time,
about 0.45 ms of Python per request on these machines (docs/scaling.md); a prepared statement skips
both the query building and PostgreSQL's parsing and planning. Everything else (the table, the signed
encoding, writes, expiry, clearsessions) is Django's, so sessions made before this engine still load.
"""

from typing import Any

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.db import router
from django.utils import timezone

from coinsite.lib.prepared import prepared_cursor

_SQL = (
    f"SELECT session_data FROM {Session._meta.db_table} "  # noqa: S608 (the table name is the model's)
    "WHERE session_key = %s::text AND expire_date > %s::timestamptz"
)


class SessionStore(db.SessionStore):
    def _get_session_from_db(self) -> Any:
        if not self.session_key:  # Django's key setter leaves None for a malformed cookie: no query
            return None
        with prepared_cursor(router.db_for_read(Session)) as cursor:
            cursor.execute(_SQL, [self.session_key, timezone.now()])
            row = cursor.fetchone()
        if row is None:
            self._session_key = None  # as Django's: an unknown or expired key starts a new session
            return None
        return Session(session_key=self.session_key, session_data=row[0])
