"""Prometheus metrics kept in the processes that see the events (prometheus_client).

Counters and histograms here are per process; with several web processes on one host set
PROMETHEUS_MULTIPROC_DIR (an empty folder, emptied at each start) and /metrics adds every process's
figures up (`coinsite.operations.metrics`). Figures that live in the database or in Redis (top-ups,
payouts, queue depth, task failures, the ledger audit) are read when /metrics is scraped, so any
web process reports the whole site's.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram

GIFTS = Counter("coinsite_gifts", "Gift sends answered by the web, by outcome.", ["outcome"])
GIFT_SECONDS = Histogram(
    "coinsite_gift_seconds",
    "Time to send one gift (the service call, rules and ledger posting), seconds.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
LIVE_CONNECTIONS = Gauge(
    "coinsite_live_connections",
    "Open live event streams (Server-Sent Events) held by the web processes.",
    multiprocess_mode="livesum",
)
REQUESTS_UNAVAILABLE = Counter(
    "coinsite_requests_unavailable",
    "Requests answered 503 because the database or Redis could not be reached.",
    ["cause"],
)

TASKS_NOT_QUEUED = Counter(
    "coinsite_tasks_not_queued",
    "Tasks a request could not queue because the broker was out (their sweep queues them again).",
    ["task"],
)


@contextmanager
def gift_timer() -> Iterator[dict[str, str]]:
    """Time a gift send; the caller sets `["outcome"]` (default: the exception's name, or "sent")."""
    outcome: dict[str, str] = {}
    began = time.perf_counter()
    try:
        yield outcome
    except Exception as error:
        outcome.setdefault("outcome", type(error).__name__)
        raise
    finally:
        GIFT_SECONDS.observe(time.perf_counter() - began)
        GIFTS.labels(outcome.get("outcome", "sent")).inc()
