"""What operators and load balancers ask a web process: /healthz, /readyz, /metrics, and the 503 page.

`OperationsMiddleware` is the first middleware: it gives every request its id (see
`coinsite.lib.observability`) and answers the three operations addresses itself, before sessions,
users, host checks or the https redirect, so a probe costs no session lookup and works over plain
http from the proxy. None of them renders a template or touches a table of users.

- /healthz: the process is up and serving (liveness). No database, no Redis: a database outage
  must not make an orchestrator restart every healthy web process.
- /readyz: the database answers, migrations are applied, Redis (cache and live bus) and the Celery
  broker answer; the replica is reported but never makes a process unready (pages fall back to the
  primary). 200 when ready, 503 with the same JSON when not.
- /metrics: Prometheus text format, only with `Authorization: Bearer $METRICS_TOKEN` (404 when no
  token is configured, so an unconfigured site does not publish its figures).
"""

import functools
import hmac
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from coinsite.accounts.email_claims import stale_after
from coinsite.accounts.models import EmailInFlight
from coinsite.lib import metrics as site_metrics
from coinsite.lib import observability, replica
from payouts.models import Payout
from wallet.models import LedgerAuditRun, TopUp

logger = logging.getLogger(__name__)

HEALTH_PATH, READY_PATH, METRICS_PATH = "/healthz", "/readyz", "/metrics"
CHECK_TIMEOUT_SECONDS = 2
MIGRATIONS_RECHECK_SECONDS = 60
CELERY_QUEUE = "celery"
TASK_FAILURES_KEY = "coinsite:ops:task-failures"


class OperationsMiddleware:
    """Request id for every request; /healthz, /readyz and /metrics answered here."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.endpoints: dict[str, Callable[[HttpRequest], HttpResponse]] = {
            HEALTH_PATH: healthz,
            READY_PATH: readyz,
            METRICS_PATH: metrics,
        }

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = observability.request_id_from(request.headers.get(observability.REQUEST_ID_HEADER))
        token = observability.request_id_set(request_id)
        try:
            endpoint = self.endpoints.get(request.path_info.rstrip("/") or "/")
            response = endpoint(request) if endpoint else self.get_response(request)
        finally:
            observability.request_id_reset(token)
        response[observability.REQUEST_ID_HEADER] = request_id
        return response


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def healthz(request: HttpRequest) -> HttpResponse:
    return _no_store(JsonResponse({"status": "ok"}))


# --- Readiness ------------------------------------------------------------------------------------

_migrations_applied_at: float | None = None


def readyz(request: HttpRequest) -> HttpResponse:
    checks = {"database": _check(_database_ready), "migrations": _check(_migrations_ready)}
    for name, url in _redis_urls().items():
        checks[name] = _check(functools.partial(_redis_ready, url))
    ready = all(check["ok"] for check in checks.values())
    body = {"status": "ready" if ready else "unavailable", "checks": checks, "replica": replica.replica_status()}
    return _no_store(JsonResponse(body, status=200 if ready else 503))


def _check(probe: Callable[[], Any]) -> dict[str, Any]:
    began = time.perf_counter()
    try:
        probe()
    except Exception as error:  # a probe's failure is the answer, whatever it was
        return {"ok": False, "error": type(error).__name__, "ms": _elapsed_ms(began)}
    return {"ok": True, "ms": _elapsed_ms(began)}


def _elapsed_ms(began: float) -> float:
    return round((time.perf_counter() - began) * 1000, 1)


def _database_ready() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")


def _migrations_ready() -> None:
    """No unapplied migration. Loading the migration graph costs tens of ms, so a positive answer is
    kept for a minute; a negative one is asked again at every probe (a deploy is migrating)."""
    global _migrations_applied_at
    now = time.monotonic()
    if _migrations_applied_at is not None and now - _migrations_applied_at < MIGRATIONS_RECHECK_SECONDS:
        return
    executor = MigrationExecutor(connections["default"])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        _migrations_applied_at = None
        raise RuntimeError(f"{len(plan)} migrations not applied")
    _migrations_applied_at = now


def _redis_urls() -> dict[str, str]:
    """Redis servers this site depends on: the cache/live bus and the Celery broker (when Redis)."""
    urls = {}
    if settings.REDIS_URL:
        urls["redis"] = settings.REDIS_URL
    if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        urls["broker"] = settings.CELERY_BROKER_URL
    return urls


def _redis_ready(url: str) -> None:
    client = redis.Redis.from_url(
        url, socket_timeout=CHECK_TIMEOUT_SECONDS, socket_connect_timeout=CHECK_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    finally:
        client.close()


# --- Metrics --------------------------------------------------------------------------------------


def metrics(request: HttpRequest) -> HttpResponse:
    expected = settings.METRICS_TOKEN
    if not expected:
        return HttpResponse(status=404)
    supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(supplied.encode(), expected.encode()):
        response = HttpResponse(_("A metrics token is required."), status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = _registry()
    return _no_store(HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST))


def _registry() -> CollectorRegistry:
    """Every web process's own figures (added up over processes in multiprocess mode) plus the site's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_ProcessCollector())
    registry.register(SiteCollector())
    return registry


class _ProcessCollector(Collector):
    """The default registry's metrics (this process's counters and the process/platform ones)."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


class SiteCollector(Collector):
    """Figures read at scrape time from the database and Redis: the same on every web process."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from _guarded("database", self._database_figures)
        yield from _guarded("broker", self._broker_figures)

    def _database_figures(self) -> Iterator[GaugeMetricFamily]:
        topups = GaugeMetricFamily("coinsite_topups", "Top-ups by outcome (status).", labels=["status"])
        for row in TopUp.objects.values("status").annotate(count=Count("id")).order_by("status"):
            topups.add_metric([row["status"]], row["count"])
        yield topups
        payouts = GaugeMetricFamily("coinsite_payouts", "Payouts by state.", labels=["status"])
        for row in Payout.objects.values("status").annotate(count=Count("id")).order_by("status"):
            payouts.add_metric([row["status"]], row["count"])
        yield payouts
        abandoned = GaugeMetricFamily(
            "coinsite_emails_abandoned",
            "Emails whose task died mid-send and that no task has taken over yet (coinsite.accounts.email_claims).",
        )
        abandoned.add_metric([], EmailInFlight.objects.filter(claimed_at__lt=timezone.now() - stale_after()).count())
        yield abandoned
        yield from _audit_figures()

    def _broker_figures(self) -> Iterator[GaugeMetricFamily]:
        if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
            return
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=CHECK_TIMEOUT_SECONDS)
        try:
            depth = GaugeMetricFamily("coinsite_celery_queue_depth", "Tasks waiting in the broker.", labels=["queue"])
            depth.add_metric([CELERY_QUEUE], client.llen(CELERY_QUEUE))
            yield depth
            failures = GaugeMetricFamily(
                "coinsite_celery_task_failures",
                "Celery tasks that failed for good, by task (since Redis started).",
                labels=["task"],
            )
            counts: dict[bytes, bytes] = client.hgetall(TASK_FAILURES_KEY)  # type: ignore[assignment]  # sync client
            for task, count in sorted(counts.items()):
                failures.add_metric([task.decode()], int(count))
            yield failures
        finally:
            client.close()


def _audit_figures() -> Iterator[GaugeMetricFamily]:
    last = LedgerAuditRun.objects.filter(finished_at__isnull=False).order_by("-finished_at").first()
    clean = GaugeMetricFamily("coinsite_ledger_audit_clean", "1 if the last ledger audit was clean, 0 if it failed.")
    age = GaugeMetricFamily("coinsite_ledger_audit_age_seconds", "Seconds since the last ledger audit finished.")
    if last is not None and last.finished_at is not None:
        clean.add_metric([], 1 if last.is_clean else 0)
        age.add_metric([], (timezone.now() - last.finished_at).total_seconds())
    yield clean
    yield age


def _guarded(source: str, figures: Callable[[], Iterator[GaugeMetricFamily]]) -> Iterator[GaugeMetricFamily]:
    """A source that is down yields `coinsite_scrape_ok{source} 0` instead of failing the whole scrape."""
    ok = GaugeMetricFamily("coinsite_scrape_ok", "1 if this source answered the scrape.", labels=["source"])
    try:
        collected = list(figures())
    except (DatabaseError, redis.RedisError) as error:
        logger.warning("Metrics: %s unavailable (%s)", source, type(error).__name__)
        ok.add_metric([source], 0)
        yield ok
        return
    ok.add_metric([source], 1)
    yield from collected
    yield ok


def task_failure_count(*, task_name: str) -> None:
    """Count a task that failed for good (Celery's task_failure signal, in the worker), in the broker's Redis."""
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        return
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=CHECK_TIMEOUT_SECONDS)
    try:
        client.hincrby(TASK_FAILURES_KEY, task_name, 1)
    except redis.RedisError as error:
        logger.warning("Could not count the failure of %s: %s", task_name, error)
    finally:
        client.close()


# --- 503 when the database (or Redis) is out ---------------------------------------------------------

RETRY_AFTER_SECONDS = 5


def unavailable_cause() -> str | None:
    """Inside the 500 handler: "database"/"redis" when the error being handled is an outage, else None.

    Django's OperationalError and InterfaceError (refused or dropped connections, a full pool,
    a server shutting down) are DatabaseErrors; so are constraint errors, which are bugs, not outages.
    """
    error = sys.exc_info()[1]
    if isinstance(error, (redis.ConnectionError, redis.TimeoutError)):
        return "redis"
    if isinstance(error, (OperationalError, InterfaceError)):
        return "database"
    return None


def unavailable_response(request: HttpRequest, cause: str) -> HttpResponse:
    """The 503 page: a plain template (no user, no session, no database) that says nothing was lost."""
    site_metrics.REQUESTS_UNAVAILABLE.labels(cause).inc()
    logger.error("Answered 503: %s unavailable for %s %s", cause, request.method, request.path)
    wants_json = "application/json" in request.headers.get("Accept", "")
    if wants_json:
        response: HttpResponse = JsonResponse(
            {
                "error": "unavailable",
                "detail": _(
                    "The service is briefly unavailable. Anything you sent went through once or not at all: "
                    "sending it again with the same request id is safe."
                ),
            },
            status=503,
        )
    else:
        html = render_to_string(
            "errors/503.html", {"retry_after": RETRY_AFTER_SECONDS, "request_id": observability.request_id()}
        )
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response
