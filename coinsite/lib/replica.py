"""Lag-tolerant pages read from the streaming replica; everything else stays on the primary.

With DATABASE_REPLICA_URL set, settings add a `replica` database and this router. A read goes to the
replica only when all of these hold, else to the primary:

- the view asked for it with `@replica_reads` (dashboards, statements, reports, public profiles);
  a page that moves money never does, and nothing is ever written to the replica;
- no transaction is open on the primary: every read inside a money operation stays with its writes;
- the request has not written anything yet (after a write, its own reads follow it to the primary);
- the replica answered its last health check (at most REPLICA_CHECK_SECONDS old) with a lag under
  REPLICA_MAX_LAG_SECONDS;
- read-your-writes: after a browser's POST (or other unsafe request) the primary's WAL position is
  kept in a cookie for REPLICA_PIN_SECONDS; until the replica has replayed that far, that browser's
  replica pages read the primary, so a creator never sees a dashboard from before their own change.

A replica that fails during a page marks itself down and the page is run again on the primary
(`@replica_reads` only wraps safe methods, so a second run changes nothing).
"""

import contextlib
import functools
import logging
import re
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

REPLICA = "replica"
PRIMARY = "default"
PIN_COOKIE = "coinsite_primary_lsn"
_LSN_SHAPE = re.compile(r"[0-9A-F]{1,8}/[0-9A-F]{1,8}")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class _Request:
    """What this request allows: replica reads at all, and the WAL position it must see (or None)."""

    replica_allowed: bool = False
    pinned_lsn: str | None = None
    pin_checked: bool | None = None  # the replica has replayed pinned_lsn (None: not asked yet)
    wrote: bool = False
    used_replica: bool = False


_current: ContextVar[_Request | None] = ContextVar("coinsite_replica_request", default=None)


@dataclass
class _Health:
    checked_at: float = float("-inf")
    usable: bool = False
    lag_seconds: float | None = None
    error: str = ""


_health = _Health()
_health_lock = threading.Lock()


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


class ReplicaRouter:
    """Django's database router for the rules in this module's docstring."""

    def db_for_read(self, model: type, **hints: Any) -> str:
        state = _current.get()
        if state is None or not state.replica_allowed or state.wrote:
            return PRIMARY
        if connections[PRIMARY].in_atomic_block or not replica_healthy() or not _pin_satisfied(state):
            return PRIMARY
        state.used_replica = True
        return REPLICA

    def db_for_write(self, model: type, **hints: Any) -> str:
        state = _current.get()
        if state is not None:
            state.wrote = True
        return PRIMARY

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # one database, two copies: any two rows may relate

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == PRIMARY  # the replica follows the primary's WAL, schema included


def replica_healthy(*, now: float | None = None) -> bool:
    """Whether the replica answered and was lagging less than REPLICA_MAX_LAG_SECONDS, checked at most
    once per REPLICA_CHECK_SECONDS per process (one small query), so a dead replica costs little."""
    if not replica_configured():
        return False
    now = time.monotonic() if now is None else now
    if now - _health.checked_at < settings.REPLICA_CHECK_SECONDS:
        return _health.usable
    with _health_lock:
        if now - _health.checked_at >= settings.REPLICA_CHECK_SECONDS:
            _health_update(now)
        return _health.usable


def replica_status() -> dict[str, Any]:
    """For /readyz: configured, usable, the lag seen at the last check, and why it is not usable."""
    if not replica_configured():
        return {"configured": False}
    usable = replica_healthy()
    return {"configured": True, "usable": usable, "lag_seconds": _health.lag_seconds, "error": _health.error}


def replica_mark_down(error: BaseException) -> None:
    """The replica failed mid-page: stop using it until the next health check says otherwise."""
    with _health_lock:
        _health.checked_at, _health.usable, _health.error = time.monotonic(), False, type(error).__name__
    _close_replica()
    logger.warning("Read replica failed (%s); reading from the primary.", type(error).__name__)


def _health_update(now: float) -> None:
    lag, error = None, ""
    try:
        with connections[REPLICA].cursor() as cursor:
            # Caught up with everything received means no lag, however long ago the primary last wrote.
            cursor.execute(
                "SELECT CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()"
                " THEN 0 ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END"
            )
            lag = float(cursor.fetchone()[0])
    except DatabaseError as failure:
        error = type(failure).__name__
        _close_replica()
    usable = lag is not None and lag <= settings.REPLICA_MAX_LAG_SECONDS
    if lag is not None and not usable:
        error = "lagging"
    if usable != _health.usable:
        logger.warning("Read replica %s (lag %s s, %s).", "usable" if usable else "not used", lag, error or "ok")
    _health.checked_at, _health.usable, _health.lag_seconds, _health.error = now, usable, lag, error


def health_reset() -> None:
    """Forget the last health check (tests, and a process that wants a fresh look)."""
    with _health_lock:
        _health.checked_at, _health.usable, _health.lag_seconds, _health.error = float("-inf"), False, None, ""


def _close_replica() -> None:
    with contextlib.suppress(DatabaseError):  # already broken: nothing left to close
        connections[REPLICA].close()


def _pin_satisfied(state: _Request) -> bool:
    """Read-your-writes: has the replica replayed the WAL position this browser last wrote at?"""
    if state.pinned_lsn is None:
        return True
    if state.pin_checked is None:
        try:
            with connections[REPLICA].cursor() as cursor:
                cursor.execute(
                    "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()"
                    " ELSE pg_current_wal_lsn() END >= %s::pg_lsn",
                    [state.pinned_lsn],
                )
                state.pin_checked = bool(cursor.fetchone()[0])
        except DatabaseError as failure:
            replica_mark_down(failure)
            state.pin_checked = False
    return state.pin_checked


# --- Views and the middleware -----------------------------------------------------------------


def replica_reads[V: Callable[..., HttpResponse]](view: V) -> V:
    """Let this page's reads go to the replica (safe methods only). If the replica fails during the
    page, the page runs again on the primary: reading twice is harmless, an error page is not."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        state = _current.get()
        if state is None or request.method not in _SAFE_METHODS or not replica_configured():
            return view(request, *args, **kwargs)
        state.replica_allowed = True
        try:
            return view(request, *args, **kwargs)
        except (OperationalError, InterfaceError) as failure:
            if not state.used_replica:
                raise
            replica_mark_down(failure)
            state.replica_allowed = False
            return view(request, *args, **kwargs)
        finally:
            state.replica_allowed = False

    return wrapped  # type: ignore[return-value]  # same signature as `view`


class ReplicaMiddleware:
    """Per request: the routing state, and the read-your-writes cookie after an unsafe request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not replica_configured():
            return self.get_response(request)
        pinned = request.COOKIES.get(PIN_COOKIE, "")
        token = _current.set(_Request(pinned_lsn=pinned if _LSN_SHAPE.fullmatch(pinned) else None))
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        if request.method not in _SAFE_METHODS and response.status_code < 500:
            _pin_to_primary(response)
        return response


def _pin_to_primary(response: HttpResponse) -> None:
    try:
        with connections[PRIMARY].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()::text")
            lsn = cursor.fetchone()[0]
    except DatabaseError:
        return  # no position, no pin: the page that failed wrote nothing to read back
    response.set_cookie(
        PIN_COOKIE,
        lsn,
        max_age=settings.REPLICA_PIN_SECONDS,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
