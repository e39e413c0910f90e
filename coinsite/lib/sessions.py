"""The session engine (settings.SESSION_ENGINE): Django's database sessions, read with a prepared statement.

Every signed-in request reads its session. Django's store builds that query with the ORM each time,
about 0.45 ms of Python per request on these machines (docs/scaling.md); a prepared statement skips
both the query building and PostgreSQL's parsing and planning. Everything else (the table, the signed
encoding, writes, expiry, clearsessions) is Django's, so sessions made before this engine still load.

Decoding the row (checking its signature, then base64 and JSON) cost another 0.05 ms a request, for the
same text request after request: the process remembers what each stored text decoded to. The row is still
read every time, so a logout, an expiry or a changed session is seen at once; only a text already verified
skips the signature check, and a text that fails it is never remembered.
"""

import json
from typing import Any

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.core.signing import JSONSerializer
from django.db import router
from django.utils import timezone

from coinsite.lib.prepared import prepared_cursor

_SQL = (
    f"SELECT session_data FROM {Session._meta.db_table} "  # noqa: S608 (the table name is the model's)
    "WHERE session_key = %s::text AND expire_date > %s::timestamptz"
)


# A session row's text -> its data as JSON, once the text's signature checked out. Emptied when full.
DECODED_LIMIT = 4096
_decoded: dict[bytes | str, str] = {}


class SessionStore(db.SessionStore):
    def decode(self, session_data: bytes | str) -> dict[str, Any]:
        """Django's decoding, remembered per process by the stored text; each call returns its own dict."""
        if self.serializer is not JSONSerializer:
            return super().decode(session_data)
        known = _decoded.get(session_data)
        if known is not None:
            return json.loads(known)
        data = super().decode(session_data)
        if data:  # a bad signature or broken text decodes to {}: never remembered
            if len(_decoded) >= DECODED_LIMIT:
                _decoded.clear()
            _decoded[session_data] = json.dumps(data)
        return data

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
