"""/healthz, /readyz, /metrics, request ids, JSON logs, Sentry and the 503 page (coinsite/operations.py)."""

import contextlib
import json
import logging
import socket
import sys
import time

import pytest
from django.db import connections
from django.urls import reverse

from coinsite.celery import app
from coinsite.lib import observability

TOKEN = "metrics-token-0123456789abcdef"
SEEN_REQUEST_IDS: list[str | None] = []


@app.task(name="coinsite.tests.request_id_seen")
def request_id_seen() -> None:
    SEEN_REQUEST_IDS.append(observability.request_id())


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def database_down():
    """The default database unreachable for real: its connection closed and its port pointed nowhere."""
    connection = connections["default"]
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = closed_port()
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port


# --- /healthz and /readyz ------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_answers_without_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_readyz_checks_database_migrations_redis_and_broker(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/10"
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/10"

    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "migrations": True,
        "redis": True,
        "broker": True,
    }
    assert body["replica"] == {"configured": False}


@pytest.mark.django_db
def test_readyz_is_503_when_redis_is_unreachable(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["ok"] is False
    assert response.json()["checks"]["redis"]["error"] == "ConnectionError"
    assert response.json()["checks"]["database"]["ok"] is True


def test_readyz_is_503_when_the_database_is_unreachable(client, django_db_blocker):
    with django_db_blocker.unblock(), database_down():
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["database"] == {
        "ok": False,
        "error": "OperationalError",
        "ms": pytest.approx(0, abs=5000),
    }


# --- 503 on a database outage ----------------------------------------------------------------------


def test_a_page_answers_503_with_a_clear_page_when_the_database_is_out(client, django_db_blocker):
    client.raise_request_exception = False  # answer as production does, not re-raise into the test
    with django_db_blocker.unblock(), database_down():
        response = client.get(reverse("gifting:index"), HTTP_X_REQUEST_ID="outage-test-0001")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    page = response.content.decode()
    assert "cannot reach its database" in page
    assert "went through once or not at all" in page
    assert "outage-test-0001" in page


def test_a_json_client_gets_a_json_503(client, django_db_blocker):
    client.raise_request_exception = False
    with django_db_blocker.unblock(), database_down():
        response = client.get(reverse("gifting:index"), HTTP_ACCEPT="application/json")
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"


def test_a_bug_is_still_a_500_not_a_503(rf):
    from coinsite.views import error_500  # noqa: PLC0415  (the handler, called as Django calls it)

    try:
        raise ValueError("a bug")
    except ValueError:
        response = error_500(rf.get("/"))
    assert response.status_code == 500


# --- /metrics --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_are_off_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404


@pytest.mark.django_db
def test_metrics_refuse_a_wrong_token(client, settings):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token-000000000").status_code == 401


# --- Request ids and JSON logs -----------------------------------------------------------------------


def test_a_request_keeps_a_well_formed_request_id_and_replaces_a_hostile_one(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abc123def4567890")["X-Request-ID"] == "abc123def4567890"
    replaced = client.get("/healthz", HTTP_X_REQUEST_ID='x" level="ERROR')["X-Request-ID"]
    assert replaced != 'x" level="ERROR'
    assert len(replaced) == 32


def test_json_log_lines_carry_the_request_id_and_the_exception():
    formatter = observability.JsonFormatter()
    token = observability.request_id_set("req-0123456789")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.getLogger("coinsite.test").makeRecord(
            "coinsite.test",
            logging.ERROR,
            __file__,
            1,
            "gift %s failed",
            ("g1",),
            exc_info=sys.exc_info(),
            extra={"stream": 7},
        )
        observability.RequestIdFilter().filter(record)  # as the handler does, while the request runs
    finally:
        observability.request_id_reset(token)

    line = json.loads(formatter.format(record))

    assert line["level"] == "ERROR"
    assert line["logger"] == "coinsite.test"
    assert line["message"] == "gift g1 failed"
    assert line["request_id"] == "req-0123456789"
    assert line["stream"] == 7
    assert "RuntimeError: boom" in line["exception"]


def test_production_logs_are_json_lines(settings):
    config = observability.logging_config(log_format="json", level="INFO")
    assert config["handlers"]["console"]["formatter"] == "json"
    assert config["handlers"]["console"]["filters"] == ["request_id"]


@pytest.mark.worker
def test_the_request_id_follows_a_request_into_the_tasks_it_enqueues(real_celery_worker):
    SEEN_REQUEST_IDS.clear()
    token = observability.request_id_set("req-into-task-42")
    try:
        request_id_seen.delay()
    finally:
        observability.request_id_reset(token)
    deadline = time.monotonic() + 20
    while not SEEN_REQUEST_IDS and time.monotonic() < deadline:
        time.sleep(0.05)
    assert SEEN_REQUEST_IDS == ["req-into-task-42"]


# --- Sentry ---------------------------------------------------------------------------------------------


def test_sentry_reports_when_a_dsn_is_set():
    import sentry_sdk  # noqa: PLC0415

    events: list[dict] = []

    def keep(event: dict, hint: dict) -> None:
        events.append(event)  # and drop it: nothing leaves the machine

    try:
        assert observability.sentry_init(
            dsn="https://public@127.0.0.1:9/1", environment="test", release="r1", traces_sample_rate=0.0
        )
        sentry_sdk.get_client().options["before_send"] = keep
        sentry_sdk.capture_message("drill")
    finally:
        sentry_sdk.init()  # no DSN: off again
    assert [(event["message"], event["environment"], event["release"]) for event in events] == [("drill", "test", "r1")]
