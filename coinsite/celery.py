"""The Celery application: `celery -A coinsite worker` / `celery -A coinsite beat`.

Reliability settings live in settings.py under CELERY_* (JSON only, acks_late with
task_reject_on_worker_lost, prefetch 1, hard and soft time limits).

The request id of the web request that enqueued a task travels with it as a message header, so the
task's log lines carry the same id as the request's (coinsite.lib.observability).
"""

import os
from typing import Any

from celery import Celery, Task
from celery.signals import before_task_publish, task_failure, task_postrun, task_prerun

from coinsite.lib import observability

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coinsite.settings")

app = Celery("coinsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

REQUEST_ID_HEADER = "coinsite_request_id"
_tokens: dict[str, tuple[object, object]] = {}  # task id -> context tokens, reset when the task ends


@before_task_publish.connect
def _request_id_to_message(headers: dict[str, Any] | None = None, **_kwargs: Any) -> None:
    current = observability.request_id()
    if headers is not None and current and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = current


@task_prerun.connect
def _request_id_from_message(task_id: str = "", task: Task | None = None, **_kwargs: Any) -> None:
    incoming = getattr(task.request, REQUEST_ID_HEADER, None) if task is not None else None
    _tokens[task_id] = (
        observability.request_id_set(incoming if isinstance(incoming, str) else None),
        observability.task_id_set(task_id),
    )


@task_postrun.connect
def _request_id_forget(task_id: str = "", **_kwargs: Any) -> None:
    tokens = _tokens.pop(task_id, None)
    if tokens is not None:
        observability.request_id_reset(tokens[0])
        observability.task_id_reset(tokens[1])


@task_failure.connect
def _task_failure_count(sender: Task | None = None, **_kwargs: Any) -> None:
    # Deferred import: coinsite.operations loads models, which need the app registry this module precedes.
    from coinsite.operations import task_failure_count  # noqa: PLC0415

    task_failure_count(task_name=getattr(sender, "name", "unknown"))
