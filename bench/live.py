"""Live delivery benchmark (`make bench-live`): N viewers on one stream of one uvicorn web process.

For each viewer count: one process of raw-socket SSE clients (`bench.sse_client`) opens N event streams;
another process sends gifts through the real `gift_send` at a fixed rate for a fixed time; meanwhile the
web process's CPU, memory and database connections (pg_stat_activity, by its application_name) are
sampled. Every delivery is checked against the gifts committed and timed from commit to receipt. It
prints a table and writes var/bench/live.json; it never asserts on time (DESIGN §8).
"""

import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, connections
from django.urls import reverse

from bench.gifts import BenchData, Server, bench_data_setup, bench_streams_end
from gifting import presence
from gifting.live.publish import publisher
from gifting.services import GiftError, gift_send

TARGET = {"viewers": 5_000, "gifts_per_s": 10, "delivered_fraction": 1.0, "latency_p99_ms": 1_000}
SENDERS = 4
SAMPLE_SECONDS = 0.5
DRAIN_SECONDS = 3.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """One viewer count: what was sent, what arrived, and what the web process used meanwhile."""

    viewers: int
    connected: int = 0
    gifts_sent: int = 0
    seconds: float = 0.0
    outcomes: dict[str, int] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    window_seconds: float = 0.0  # sending plus the drain: what the CPU figure is spread over
    rss_mb: list[float] = field(default_factory=list)
    db_connections: list[int] = field(default_factory=list)
    db_connections_before: int = 0
    db_connections_idle: int = 0
    event_ids: list[int] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        receipts = {int(event_id): count for event_id, count in self.report.get("receipts", {}).items()}
        expected = len(self.event_ids) * self.viewers
        delivered = sum(min(receipts.get(event_id, 0), self.viewers) for event_id in self.event_ids)
        histogram = {int(ms): count for ms, count in self.report.get("latency_histogram_ms", {}).items()}
        return {
            "viewers": self.viewers,
            "viewers_connected": self.connected,
            "gifts_per_s": round(self.gifts_sent / self.seconds, 2) if self.seconds else None,
            "gifts_sent": self.gifts_sent,
            "delivered_fraction": round(delivered / expected, 6) if expected else None,
            "deliveries": delivered,
            "repeated_or_late": self.report.get("out_of_order"),
            "latency_p50_ms": histogram_percentile(histogram, 0.50),
            "latency_p99_ms": histogram_percentile(histogram, 0.99),
            "latency_max_ms": max(histogram, default=None),
            "server_cpu_percent": round(100 * self.cpu_seconds / self.window_seconds, 1)
            if self.window_seconds
            else None,
            "server_rss_mb": max(self.rss_mb, default=None),
            "db_connections_during": max(self.db_connections, default=None),
            "db_connections_idle": self.db_connections_idle,  # the process with no viewer yet
            "db_connections_before": self.db_connections_before,  # with every viewer connected, before the gifts
            "viewer_count_shown": self.report.get("viewer_count_seen"),
            "streams_dropped": self.report.get("lost"),
            "client_cpu_seconds": self.report.get("cpu_seconds"),
            "send_outcomes": self.outcomes,
        }


def histogram_percentile(histogram: dict[int, int], fraction: float) -> int | None:
    """Nearest-rank percentile of a {whole ms: count} histogram, in ms."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = max(1, round(fraction * total)), 0
    for ms in sorted(histogram):
        seen += histogram[ms]
        if seen >= rank:
            return ms
    return max(histogram)


# --- The web process ------------------------------------------------------------------------------------


class WebProcess:
    """One uvicorn process serving the site as `make bench` runs it (`bench.gifts.Server`: pooled connections,
    uvloop and httptools), with an application_name of its own so pg_stat_activity shows what it holds."""

    def __init__(self, *, log_path: Path) -> None:
        self.application_name = f"bench-live-{uuid.uuid4().hex[:8]}"
        self.server = Server(workers=1, log_path=log_path)

    def __enter__(self) -> "WebProcess":
        previous = os.environ.get("PGAPPNAME")
        os.environ["PGAPPNAME"] = self.application_name  # for the child only: ours is connected already
        try:
            self.server.__enter__()
        finally:
            if previous is None:
                os.environ.pop("PGAPPNAME")
            else:
                os.environ["PGAPPNAME"] = previous
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.__exit__(*exc_info)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def process(self) -> subprocess.Popen:
        assert self.server.process is not None  # started by __enter__
        return self.server.process

    def warm_up(self, stream_id: int) -> int:
        """Start the process's hub (a poll does) and return the database connections it then holds idle."""
        urllib.request.urlopen(
            f"http://127.0.0.1:{self.port}{reverse('gifting:poll', args=[stream_id])}", timeout=30
        ).read()
        time.sleep(2)
        return self.database_connections()

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
        return 0.0

    def database_connections(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = %s", [self.application_name])
            return cursor.fetchone()[0]


# --- Viewers and gifts ---------------------------------------------------------------------------------------


class Viewers:
    """The SSE client process (bench.sse_client) holding `count` event streams open."""

    def __init__(self, *, port: int, path: str, count: int, tokens_file: Path) -> None:
        command = [
            sys.executable,
            "-m",
            "bench.sse_client",
            "--port",
            str(port),
            "--path",
            path,
            "--viewers",
            str(count),
            "--tokens",
            str(tokens_file),
        ]
        self.process = subprocess.Popen(  # noqa: S603
            command, cwd=settings.BASE_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdin is not None and self.process.stdout is not None  # both piped
        self.commands, self.answers = self.process.stdin, self.process.stdout

    def connected(self) -> dict[str, Any]:
        return json.loads(self.answers.readline())

    def report(self) -> dict[str, Any]:
        self.commands.write("report\n")
        self.commands.flush()
        line = self.answers.readline()
        self.process.wait(timeout=60)
        return json.loads(line)["report"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def viewer_tokens(data: BenchData, count: int, path: Path) -> None:
    """A signed viewer token per client, as each logged-in viewer's page would carry (so each counts once)."""
    stream = data.streams[0]
    path.write_text(
        "\n".join(
            presence.viewer_token(stream_id=stream.pk, user_id=10_000_000 + number, creator_id=stream.creator_id)
            for number in range(count)
        )
    )


# What the sending process hands back: the gift event ids, outcomes by name, and the seconds it took.
SendResults = tuple[list[int], dict[str, int], float]


def send_gifts(data: BenchData, *, rate: float, seconds: float, prefix: str, results: Queue[SendResults]) -> None:
    """In a forked process: gift_send at `rate` per second for `seconds`, on a fixed schedule; event ids out."""
    stream = data.streams[0]
    outcomes: dict[str, int] = {}
    ids: list[int] = []
    started = time.perf_counter()
    for number in range(int(rate * seconds)):
        delay = started + number / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        try:
            event = gift_send(
                sender=data.senders[number % len(data.senders)],
                stream_id=stream.pk,
                gift_id=data.gift.pk,
                quantity=1,
                idempotency_key=f"{prefix}{number}",
            )
            ids.append(event.pk)
            outcomes["ok"] = outcomes.get("ok", 0) + 1
        except GiftError as error:
            outcomes[type(error).__name__] = outcomes.get(type(error).__name__, 0) + 1
    elapsed = time.perf_counter() - started
    publisher().flush(timeout=30)  # a forked child skips atexit: hand the last events to the bus now
    connections.close_all()
    results.put((ids, outcomes, elapsed))


def measure(
    web: WebProcess,
    data: BenchData,
    *,
    viewers: int,
    rate: float,
    seconds: float,
    idle: int,
    log: Callable[[str], object],
) -> Run:
    """One viewer count: connect, send gifts while sampling the web process, collect the viewers' report."""
    run = Run(viewers=viewers, db_connections_idle=idle)
    path = reverse("gifting:events", args=[data.streams[0].pk])
    with tempfile.TemporaryDirectory() as folder:
        tokens = Path(folder) / "tokens"
        viewer_tokens(data, viewers, tokens)
        clients = Viewers(port=web.port, path=path, count=viewers, tokens_file=tokens)
        try:
            ready = clients.connected()
            run.connected = ready["connected"]
            log(f"  {run.connected:,} of {viewers:,} viewers connected; sending {rate:g} gifts/s for {seconds:g} s ...")
            time.sleep(2)  # connection bursts settled, viewer counts shared
            run.db_connections_before = web.database_connections()
            _send_and_sample(run, web, data, rate=rate, seconds=seconds)
            run.report = clients.report()
        finally:
            clients.stop()
    return run


def _send_and_sample(run: Run, web: WebProcess, data: BenchData, *, rate: float, seconds: float) -> None:
    context = multiprocessing.get_context("fork")
    results: Queue[SendResults] = context.Queue()
    connections.close_all()  # never share this process's socket with the child
    sender = context.Process(
        target=send_gifts,
        args=(data,),
        kwargs={"rate": rate, "seconds": seconds, "prefix": f"bench-live:{uuid.uuid4().hex[:12]}:", "results": results},
        daemon=True,
    )
    cpu_before = web.cpu_seconds()
    began = time.monotonic()
    sender.start()
    while sender.is_alive() and time.monotonic() - began < seconds + 120:
        run.rss_mb.append(web.rss_mb())
        run.db_connections.append(web.database_connections())
        time.sleep(SAMPLE_SECONDS)
        if not results.empty():
            break
    run.event_ids, run.outcomes, run.seconds = results.get(timeout=120)
    run.gifts_sent = len(run.event_ids)
    deadline = time.monotonic() + DRAIN_SECONDS  # the last gifts reach the viewers
    while time.monotonic() < deadline:
        run.db_connections.append(web.database_connections())
        time.sleep(SAMPLE_SECONDS)
    run.cpu_seconds = web.cpu_seconds() - cpu_before
    run.window_seconds = time.monotonic() - began
    sender.join(timeout=10)


def raise_open_files_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def bench_setup() -> BenchData:
    """Funded senders and a live stream (the first of the bench's creators'; only that one is watched)."""
    return bench_data_setup(senders=SENDERS)


def bench_teardown(data: BenchData) -> None:
    bench_streams_end(data)


# --- Report ------------------------------------------------------------------------------------------------

COLUMNS = [
    ("viewers", "viewers"),
    ("gifts_per_s", "gifts/s"),
    ("delivered_fraction", "delivered"),
    ("latency_p50_ms", "p50 ms"),
    ("latency_p99_ms", "p99 ms"),
    ("latency_max_ms", "max ms"),
    ("server_cpu_percent", "cpu %"),
    ("server_rss_mb", "rss MB"),
    ("db_connections_idle", "db idle"),
    ("db_connections_during", "db during"),
    ("viewer_count_shown", "count shown"),
]


def table_lines(runs: list[dict[str, Any]]) -> list[str]:
    widths = [max(len(title), *(len(_shown(run.get(key))) for run in runs)) for key, title in COLUMNS]
    lines = ["  ".join(title.rjust(width) for (_key, title), width in zip(COLUMNS, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    for run in runs:
        lines.append(
            "  ".join(_shown(run.get(key)).rjust(width) for (key, _), width in zip(COLUMNS, widths, strict=True))
        )
    return lines


def verdict(run: dict[str, Any]) -> str:
    """The issue's target, for the run at its viewer count: met or not, and what falls short."""
    misses = []
    if (run.get("gifts_per_s") or 0) < TARGET["gifts_per_s"] * 0.95:
        misses.append(f"sent {run.get('gifts_per_s')} gifts/s")
    if run.get("delivered_fraction") != TARGET["delivered_fraction"]:
        misses.append(f"delivered {run.get('delivered_fraction')}")
    if (run.get("latency_p99_ms") or 0) > TARGET["latency_p99_ms"]:
        misses.append(f"p99 {run.get('latency_p99_ms')} ms")
    if (run.get("db_connections_during") or 0) > (run.get("db_connections_idle") or 0):
        misses.append("database connections grew with viewers")
    return "target met" if not misses else "target missed: " + ", ".join(misses)


def _shown(value: object) -> str:
    if value is None:
        return "null"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
