"""Queueing a Celery task from a request, where a broker that is out must not undo or stall what already happened.

A request that moved money (a payout requested, a top-up credited, a refund) queues its follow-up work after its
commit. If the broker is out at that moment, the money has moved and the page must say so: the publish error is
logged and counted (`coinsite_tasks_not_queued_total`), not raised, and the sweep that owns the work queues it
again (the payout sweep, the mail sweeps, the top-up sweep, the statement sweep). So only tasks a sweep re-queues
go through here.

A Redis broker that hangs (a partition, a paused VM) would hold the request's thread: kombu waits forever by
default, so settings give the broker's sockets `CELERY_BROKER_TIMEOUT_SECONDS`. Even so a publish retries, about
4 s in all, so a failure marks the Redis server down for the process (`coinsite.lib.redis_cache`): the next
requests skip the publish at once instead of waiting in turn, and so do they when the cache found it hung first.
"""

import logging
from functools import partial
from typing import Any

import kombu.exceptions
import redis
from celery import Task
from django.db import transaction

from coinsite.lib import metrics
from coinsite.lib.redis_cache import RedisMarkedDown, redis_address, redis_check_up, redis_mark_down

logger = logging.getLogger(__name__)

# What a publish raises when the broker is out: kombu wraps connection errors in OperationalError; a filesystem
# broker's folder fails with OSError.
BROKER_ERRORS = (kombu.exceptions.OperationalError, redis.RedisError, OSError)
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def task_enqueue(task: Task, *args: Any) -> bool:
    """Queue `task(*args)`; True if the broker took it, False (logged and counted) if the broker is out.

    Without a broker (Celery eager, as in development and most tests) the task runs here, and its own errors
    propagate as they do from `delay`: only kombu's OperationalError means the broker there.
    """
    app = task.app
    broker = "" if app.conf.task_always_eager else app.conf.broker_url or ""
    on_redis = broker.startswith(REDIS_SCHEMES)
    broker_errors = BROKER_ERRORS if broker else (kombu.exceptions.OperationalError,)
    try:
        if on_redis:
            redis_check_up(broker)
        task.delay(*args)
    except broker_errors as error:
        if on_redis and not isinstance(error, RedisMarkedDown):
            redis_mark_down(broker, error)
        metrics.TASKS_NOT_QUEUED.labels(task.name).inc()
        logger.warning(
            "Task %s%s not queued, the broker at %s is out (%s: %s): its sweep queues it again",
            task.name,
            list(args),
            redis_address(broker) if on_redis else broker.partition(":")[0] or "eager",
            type(error).__name__,
            error,
        )
        return False
    return True


def task_enqueue_on_commit(task: Task, *args: Any) -> None:
    """`task_enqueue(task, *args)` once the current transaction commits (at once outside one)."""
    transaction.on_commit(partial(task_enqueue, task, *args))


def tasks_queue_again(task: Task, ids: list[int], *, what: str) -> int:
    """A mail sweep's work: queue `task(id)` again for each of `ids` (their email never went: the task was lost,
    or the broker refused it); logs and returns how many. The task claims its email, so none is sent twice."""
    for pk in ids:
        task.delay(pk)
    if ids:
        logger.warning("Queued again %s %s that were never sent", len(ids), what)
    return len(ids)
