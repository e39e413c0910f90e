"""A request queueing a task after its commit: a broker that is out, or hangs, is logged, not raised or waited on."""

import logging

import pytest
from kombu.exceptions import OperationalError as KombuOperationalError

from coinsite.lib import metrics
from coinsite.lib.redis_cache import redis_mark_down
from coinsite.lib.tasks import task_enqueue, task_enqueue_on_commit
from coinsite.tests.support import within
from wallet.tasks import ledger_rollup_balances

TASK = ledger_rollup_balances.name


def not_queued() -> float:
    return metrics.TASKS_NOT_QUEUED.labels(TASK)._value.get()


def test_a_hung_broker_is_given_up_on_logged_and_counted(hung_broker, caplog):
    caplog.set_level(logging.WARNING, logger="coinsite.lib.tasks")
    before = not_queued()

    assert within(60, lambda: task_enqueue(ledger_rollup_balances)) is False

    assert hung_broker.connections >= 1
    assert not_queued() == before + 1
    assert f"Task {TASK}[] not queued, the broker at {hung_broker.url} is out (OperationalError: Timeout" in caplog.text


def test_after_one_failure_the_next_publishes_do_not_wait_for_the_hung_broker(hung_broker, settings):
    settings.REDIS_DOWN_SECONDS = 60
    assert within(60, lambda: task_enqueue(ledger_rollup_balances)) is False
    connections = hung_broker.connections

    for _ in range(3):
        assert task_enqueue(ledger_rollup_balances) is False

    assert hung_broker.connections == connections


def test_a_redis_the_cache_found_hung_is_not_asked_by_the_broker_either(hung_broker, settings):
    """The cache, the viewer counts and the broker share a Redis in production: one mark spares them all."""
    settings.REDIS_DOWN_SECONDS = 60
    redis_mark_down(hung_broker.url.replace("/0", "/7"), TimeoutError("the cache's call timed out"))

    assert task_enqueue(ledger_rollup_balances) is False

    assert hung_broker.connections == 0


def test_a_publish_the_broker_refuses_after_commit_is_logged_not_raised(
    db, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def broker_down(*args):
        raise KombuOperationalError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(ledger_rollup_balances, "delay", broker_down)
    caplog.set_level(logging.WARNING, logger="coinsite.lib.tasks")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        task_enqueue_on_commit(ledger_rollup_balances)

    assert len(callbacks) == 1
    assert f"Task {TASK}[] not queued, the broker at eager is out (OperationalError: Error 111" in caplog.text


def test_without_a_broker_the_task_runs_here_and_its_own_errors_propagate(db, monkeypatch):
    def task_fails():
        raise OSError("the mail server refused the message")

    monkeypatch.setattr(ledger_rollup_balances, "run", task_fails)

    with pytest.raises(OSError, match="mail server refused"):
        task_enqueue(ledger_rollup_balances)
