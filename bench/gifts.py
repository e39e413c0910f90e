"""Gift throughput benchmark (docs/design.md §4): the app's gift path against pgbench on the same machine.

Used by `python manage.py bench_gifts` (`make bench`). It prints figures and writes JSON; it never
asserts on time. Bench users live under BENCH_DOMAIN so demo data is untouched, and every run uses
fresh idempotency keys, so it can be re-run against the same database.
"""

import datetime
import http.client
import json
import math
import multiprocessing
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.db import connection
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from psycopg import sql

from coinsite.accounts.models import ADULT_AGE, User
from gifting.models import Gift, GiftEvent, LiveStream
from gifting.services import (
    DIAMONDS_PER_COIN,
    GiftError,
    GiftRequest,
    gift_send,
    gift_send_statement,
    stream_end,
    stream_start,
)
from wallet.ledger import account_for_user, ledger_credit, system_account, user_balance
from wallet.models import Asset, SystemAccount

BENCH_DOMAIN = "bench.coinsite.local"
BENCH_GIFT_SLUG = "rose"
FUNDING_FLOOR = 200_000  # coins a sender must hold before a run; topped up to this plus FUNDING_TOPUP
FUNDING_TOPUP = 1_000_000

# A timed worker: runs until the deadline (a perf_counter value), returns its latencies and outcomes.
Worker = Callable[[float], tuple[list[float], Counter]]


# --- Results ------------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    """One timed phase: calls made, gifts that really landed (counted in the database), latencies."""

    gifts: int = 0
    elapsed: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    outcomes: Counter = field(default_factory=Counter)

    @property
    def gifts_per_s(self) -> float | None:
        return round(self.gifts / self.elapsed, 1) if self.elapsed > 0 else None

    def percentile_ms(self, fraction: float) -> float | None:
        return percentile(self.latencies_ms, fraction)


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return round(ordered[rank], 2)


# --- pgbench ------------------------------------------------------------------------------------


def pgbench_path() -> str | None:
    """pgbench from `pg_config --bindir`, Debian's versioned folders, or PATH."""
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            bindir = subprocess.run(  # noqa: S603
                [pg_config, "--bindir"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout
            candidates.append(Path(bindir.strip()) / "pgbench")
        except (OSError, subprocess.SubprocessError):
            pass
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("pgbench")


def _connection_options() -> dict[str, Any]:
    db = settings.DATABASES["default"]
    return {
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "autocommit": True,
    }


def _admin_connection() -> psycopg.Connection:
    """An autocommit connection to the Django database's server, for CREATE/DROP DATABASE."""
    try:
        return psycopg.connect(dbname=settings.DATABASES["default"]["NAME"], **_connection_options())
    except psycopg.OperationalError:
        return psycopg.connect(dbname="postgres", **_connection_options())


def _pgbench_env_args() -> tuple[dict[str, str], list[str]]:
    db: dict[str, Any] = dict(settings.DATABASES["default"])
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    args = []
    for flag, key in (("-h", "HOST"), ("-p", "PORT"), ("-U", "USER")):
        if db.get(key):
            args += [flag, str(db[key])]
    return env, args


@contextmanager
def scratch_database() -> Iterator[str]:
    """A new database for pgbench with a name no one else uses, dropped when the block ends.

    Only a database this call created is ever dropped: if the name were taken, CREATE DATABASE fails
    and nothing is dropped (several checkouts may share one PostgreSQL server).
    """
    name = f"coinsite_pgbench_{os.getpid()}_{secrets.token_hex(4)}"
    with _admin_connection() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with _admin_connection() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _pgbench_call(
    pgbench: str, arguments: list[str], *, timeout: float, label: str, log: Callable[[str], None]
) -> str | None:
    """Run pgbench with the Django database's connection arguments; its output, or None (logged) on failure."""
    env, connect_args = _pgbench_env_args()
    try:
        result = subprocess.run(  # noqa: S603
            [pgbench, *connect_args, *arguments], env=env, capture_output=True, text=True, timeout=timeout, check=True
        )
    except subprocess.CalledProcessError as error:
        log(f"{label} failed (exit {error.returncode}): {(error.stderr or '').strip()[-500:]}")
        return None
    except subprocess.TimeoutExpired:
        log(f"{label} did not finish in time.")
        return None
    return result.stdout


def pgbench_init(*, pgbench: str, database: str, scale: int, log: Callable[[str], None]) -> bool:
    """Fill `database` (a scratch database) with pgbench's tables at `scale`; False (logged) on failure."""
    arguments = ["-i", "-q", "-s", str(scale), database]
    return _pgbench_call(pgbench, arguments, timeout=300, label="pgbench -i", log=log) is not None


def pgbench_run(*, pgbench: str, database: str, clients: int, seconds: int, log: Callable[[str], None]) -> float | None:
    """Run pgbench's TPC-B-like script on an initialised `database` for `seconds`; its tps, or None on failure."""
    arguments = ["-T", str(seconds), "-c", str(clients), "-j", str(min(2, clients)), database]
    output = _pgbench_call(pgbench, arguments, timeout=seconds + 120, label="pgbench", log=log)
    if output is None:
        return None
    match = re.search(r"tps = ([\d.]+) \(without initial", output) or re.search(r"tps = ([\d.]+)", output)
    return round(float(match.group(1)), 1) if match else None


def pgbench_tps(*, pgbench: str, scale: int, clients: int, seconds: int, log: Callable[[str], None]) -> float | None:
    """Initialise a scratch database at `scale`, run TPC-B-like for `seconds`, return tps (None on failure)."""
    with scratch_database() as database:
        if not pgbench_init(pgbench=pgbench, database=database, scale=scale, log=log):
            return None
        return pgbench_run(pgbench=pgbench, database=database, clients=clients, seconds=seconds, log=log)


def pgbench_gift_function_run(
    *, pgbench: str, data: "BenchData", targets: list[LiveStream], seconds: int, prefix: str, log: Callable[[str], None]
) -> float | None:
    """pgbench's C client calling `gifting_gift_send` (the gift's one statement) on the site's database: the
    gift's database work with no Python at all, so the ceiling the service could reach on this machine.

    One client per sender, each gifting its target stream, prepared like the service's statement. Returns
    the gifts that really landed (counted by their key prefix) per second, or None on failure.
    """
    sender_ids = ",".join(str(sender.pk) for sender in data.senders)
    stream_ids = ",".join(str(stream.pk) for stream in targets)
    ages = {sender.age_on(timezone.localdate()) for sender in data.senders}
    countries = {str(sender.country) for sender in data.senders}
    if len(ages) != 1 or len(countries) != 1:
        log("bench senders differ in age or country; the gift-function phase was skipped")
        return None
    sender = f"(ARRAY[{sender_ids}]::bigint[])[:client_id + 1]"
    key = ":prefix || :client_id || ':' || :n"  # the prefix is a variable: pgbench would read its colons as names
    script = (
        "\\set n random(1, 1000000000000)\n"
        f"SELECT sent_event_id FROM gifting_gift_send({sender}, {ages.pop()}, '{countries.pop()}', "
        f"(ARRAY[{stream_ids}]::bigint[])[:client_id + 1], {data.gift.pk}, 1, {key}, "
        f"'gift:' || {sender} || ':' || {key}, false, '', now(), {ADULT_AGE}, {DIAMONDS_PER_COIN}, NULL);\n"
    )
    return _pgbench_gifts_run(
        pgbench=pgbench,
        script=script,
        clients=len(data.senders),
        seconds=seconds,
        prefix=prefix,
        label="gift function",
        log=log,
    )


def pgbench_gift_writes_run(
    *, pgbench: str, data: "BenchData", targets: list[LiveStream], seconds: int, prefix: str, log: Callable[[str], None]
) -> float | None:
    """pgbench's C client writing what the gift function writes, as plain statements in one transaction: the
    ledger transaction, the sender's debit (only while the coins are there), the four entries and the gift
    event, with none of the function's reads (the rules, the replay check) and no function call.

    The comparison with the gift path that issue #13's checks make: the gift's writes alone, at the speed
    of the database. Same clients, targets and key prefix as `pgbench_gift_function_run`. A sender out of
    coins fails its transaction, so nothing of it is written, and the run: None, as on any failure;
    otherwise the gifts that really landed per second.
    """
    coins = data.gift.coin_cost

    def per_client(values: list[int]) -> str:  # an array literal; client i (sender i) takes element i + 1
        return "{" + ",".join(map(str, values)) + "}"

    variables = {
        "senders": per_client([sender.pk for sender in data.senders]),
        "streams": per_client([stream.pk for stream in targets]),
        "creators": per_client([stream.creator_id for stream in targets]),
        "payers": per_client([account_for_user(sender, Asset.COIN).pk for sender in data.senders]),
        "earners": per_client([account_for_user(stream.creator, Asset.DIAMOND).pk for stream in targets]),
        "consumed": str(system_account(SystemAccount.COINS_CONSUMED).pk),
        "issued": str(system_account(SystemAccount.DIAMONDS_ISSUED).pk),
        "gift": str(data.gift.pk),
        "coins": str(coins),
        "diamonds": str(coins * DIAMONDS_PER_COIN),
        "memo": f"1 x {data.gift.name}",
    }
    return _pgbench_gifts_run(
        pgbench=pgbench,
        script=GIFT_WRITES_SCRIPT,
        variables=variables,
        clients=len(data.senders),
        seconds=seconds,
        prefix=prefix,
        label="gift writes",
        log=log,
    )


# One gift's rows as `gifting_gift_send` writes them (migration 0010), as plain statements. Every value is a
# pgbench variable (`-D`, so a parameter of the prepared statements); a per-client one is an array.
GIFT_WRITES_SCRIPT = """\\set n random(1, 1000000000000)
BEGIN;
INSERT INTO wallet_ledgertransaction (idempotency_key, kind, memo, metadata, created_at)
VALUES ('gift:' || (:senders::bigint[])[:client_id + 1] || ':' || :prefix || :client_id || ':' || :n, 'gift', :memo,
        jsonb_build_object('stream', (:streams::bigint[])[:client_id + 1], 'gift', :gift::bigint, 'quantity', 1),
        now())
RETURNING id AS tx \\gset
UPDATE wallet_ledgeraccount SET balance = balance - :coins::bigint
 WHERE id = (:payers::bigint[])[:client_id + 1] AND balance >= :coins::bigint
RETURNING balance AS after \\gset
INSERT INTO wallet_ledgerentry (transaction_id, account_id, asset, amount, created_at)
VALUES (:tx, (:payers::bigint[])[:client_id + 1], 'COIN', -:coins::bigint, now()),
       (:tx, :consumed, 'COIN', :coins, now()),
       (:tx, :issued, 'DIAMOND', -:diamonds::bigint, now()),
       (:tx, (:earners::bigint[])[:client_id + 1], 'DIAMOND', :diamonds, now());
INSERT INTO gifting_giftevent (stream_id, sender_id, creator_id, gift_id, quantity, coins, diamonds, is_anonymous,
                               message, idempotency_key, ledger_transaction_id, created_at)
VALUES ((:streams::bigint[])[:client_id + 1], (:senders::bigint[])[:client_id + 1],
        (:creators::bigint[])[:client_id + 1], :gift, 1, :coins, :diamonds, false, '',
        :prefix || :client_id || ':' || :n, :tx, now());
END;
"""


def _pgbench_gifts_run(
    *,
    pgbench: str,
    script: str,
    clients: int,
    seconds: int,
    prefix: str,
    label: str,
    log: Callable[[str], None],
    variables: dict[str, str] | None = None,
) -> float | None:
    """`script` on `clients` prepared pgbench clients against the site's database, with pgbench's variable
    `prefix` and `variables`; the gift events it landed (by their key prefix) per second, or None when
    pgbench failed."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", prefix="coinsite-gift-") as script_file:
        script_file.write(script)
        script_file.flush()
        arguments = ["-n", "-M", "prepared", "-T", str(seconds), "-c", str(clients), "-j", str(min(2, clients))]
        for name, value in {"prefix": prefix, **(variables or {})}.items():
            arguments += ["-D", f"{name}={value}"]
        arguments += ["-f", script_file.name, settings.DATABASES["default"]["NAME"]]
        began = time.perf_counter()
        output = _pgbench_call(pgbench, arguments, timeout=seconds + 120, label=f"pgbench ({label})", log=log)
        elapsed = time.perf_counter() - began
    if output is None:
        return None
    return round(gifts_with_prefix(prefix) / min(elapsed, seconds), 1)


# --- Bench data ---------------------------------------------------------------------------------


@dataclass
class BenchData:
    senders: list[User]
    creators: list[User]
    streams: list[LiveStream]
    gift: Gift


def _bench_user(email: str, *, is_creator: bool) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(
            email=email,
            password=None,
            display_name=email.split("@")[0],
            birth_date=datetime.date(1990, 1, 1),
            country="US",
            is_creator=is_creator,
        )
    return user


def bench_data_setup(*, senders: int) -> BenchData:
    """Bench senders (funded) and creators (each live), created on first use and reused afterwards."""
    gift = Gift.objects.filter(slug=BENCH_GIFT_SLUG).first()
    if gift is None:
        raise LookupError(f"The benchmark sends the '{BENCH_GIFT_SLUG}' gift, which is missing: run migrate.")
    sender_users = [_bench_user(f"bench-sender-{n}@{BENCH_DOMAIN}", is_creator=False) for n in range(senders)]
    creator_users = [_bench_user(f"bench-creator-{n}@{BENCH_DOMAIN}", is_creator=True) for n in range(senders)]
    for sender in sender_users:
        if user_balance(sender, Asset.COIN) < FUNDING_FLOOR:
            ledger_credit(
                account=account_for_user(sender, Asset.COIN),
                asset=Asset.COIN,
                amount=FUNDING_TOPUP,
                idempotency_key=f"bench-topup:{uuid.uuid4()}",
                kind="topup",
            )
    streams = []
    for creator in creator_users:
        account_for_user(creator, Asset.DIAMOND)  # so no first gift pays for creating it
        live = LiveStream.objects.filter(creator=creator, ended_at__isnull=True).first()
        streams.append(live or stream_start(creator=creator, title="Benchmark stream"))
    return BenchData(senders=sender_users, creators=creator_users, streams=streams, gift=gift)


def bench_streams_end(data: BenchData) -> None:
    """End the bench streams so they do not show up as live on the site after the run."""
    for stream, creator in zip(data.streams, data.creators, strict=True):
        stream_end(stream=stream, creator=creator)


def gifts_with_prefix(prefix: str) -> int:
    return GiftEvent.objects.filter(idempotency_key__startswith=prefix).count()


# --- Running timed phases on threads --------------------------------------------------------------


def run_phase(workers: list, *, seconds: float) -> tuple[float, list[float], Counter]:
    """Run each worker(deadline) -> (latencies, outcomes) on its own thread, released together.

    Returns the wall time from release to the last thread finishing, all latencies and outcomes.
    """
    barrier = threading.Barrier(len(workers) + 1)
    results: list = [None] * len(workers)

    def run(index: int, worker: Worker) -> None:
        try:
            barrier.wait(timeout=60)
            results[index] = worker(time.perf_counter() + seconds)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, worker), daemon=True) for index, worker in enumerate(workers)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=60)
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    elapsed = time.perf_counter() - started
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    for result in results:
        if result is not None:
            latencies += result[0]
            outcomes += result[1]
    return elapsed, latencies, outcomes


def _send_until(deadline: float, send: Callable[[int], str]) -> tuple[list[float], Counter]:
    """One sender's loop: `send(n)` (the n-th gift, answering its outcome) until the deadline, each timed."""
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    sent = 0
    while time.perf_counter() < deadline:
        began = time.perf_counter()
        outcomes[send(sent)] += 1
        latencies.append((time.perf_counter() - began) * 1000)
        sent += 1
    return latencies, outcomes


def service_phase(
    data: BenchData, *, targets: list[LiveStream], seconds: float, prefix: str, processes: int = 1
) -> PhaseResult:
    """Each sender gifts roses to its target stream through `gift_send` until the deadline."""

    def worker_for(index: int, sender: User, stream: LiveStream) -> Worker:
        def send(sent: int) -> str:
            try:
                gift_send(
                    sender=sender,
                    stream_id=stream.pk,
                    gift_id=data.gift.pk,
                    quantity=1,
                    idempotency_key=f"{prefix}{index}:{sent}",
                )
            except GiftError as error:
                return type(error).__name__
            return "ok"

        return lambda deadline: _send_until(deadline, send)

    workers = [worker_for(n, sender, targets[n]) for n, sender in enumerate(data.senders)]
    if processes > 1:
        elapsed, latencies, outcomes = run_phase_in_processes(workers, seconds=seconds, processes=processes)
    else:
        elapsed, latencies, outcomes = run_phase(workers, seconds=seconds)
    return PhaseResult(gifts=gifts_with_prefix(prefix), elapsed=elapsed, latencies_ms=latencies, outcomes=outcomes)


def driver_floor_phase(data: BenchData, *, targets: list[LiveStream], seconds: float, prefix: str) -> PhaseResult:
    """The service's floor: each sender sends `gift_send`'s own statement (`gift_send_statement`, the common
    case) through psycopg alone, on a connection of its own, prepared, in autocommit — no Django, no model,
    no live event. What a Python client of this statement costs on this machine, so no `gift_send` in
    Python can beat it; `ratio_service_floor_vs_pgbench_uncontended` sets it against the service's goal."""

    def worker_for(index: int, sender: User, stream: LiveStream) -> Worker:
        def worker(deadline: float) -> tuple[list[float], Counter]:
            database = settings.DATABASES["default"]["NAME"]
            with psycopg.connect(dbname=database, prepare_threshold=0, **_connection_options()) as client:

                def send(sent: int) -> str:
                    request = GiftRequest(
                        sender=sender,
                        stream_id=stream.pk,
                        gift_id=data.gift.pk,
                        quantity=1,
                        idempotency_key=f"{prefix}{index}:{sent}",
                        anonymous=False,
                        message="",
                        confirm_above=None,
                    )
                    statement, params = gift_send_statement(request, now=timezone.now())
                    row = client.execute(statement, params).fetchone()
                    return "ok" if row is not None and row[0] is not None else "not sent"

                return _send_until(deadline, send)

        return worker

    workers = [worker_for(n, sender, targets[n]) for n, sender in enumerate(data.senders)]
    elapsed, latencies, outcomes = run_phase(workers, seconds=seconds)
    return PhaseResult(gifts=gifts_with_prefix(prefix), elapsed=elapsed, latencies_ms=latencies, outcomes=outcomes)


def run_phase_in_processes(workers: list, *, seconds: float, processes: int) -> tuple[float, list[float], Counter]:
    """Like `run_phase`, with the workers dealt over forked processes, so one interpreter's GIL is not the limit."""
    context = multiprocessing.get_context("fork")
    shares = [workers[index::processes] for index in range(processes) if workers[index::processes]]
    ready = context.Barrier(len(shares) + 1)
    queue = context.Queue()

    def child(share: list[Worker]) -> None:
        ready.wait(timeout=60)
        _elapsed, latencies, outcomes = run_phase(share, seconds=seconds)
        queue.put((latencies, dict(outcomes)))

    connection.close()  # never share the parent's socket with the children
    children = [context.Process(target=child, args=(share,), daemon=True) for share in shares]
    for process in children:
        process.start()
    ready.wait(timeout=60)
    started = time.perf_counter()
    results = [queue.get(timeout=seconds + 120) for _ in children]
    elapsed = time.perf_counter() - started
    for process in children:
        process.join(timeout=30)
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    for child_latencies, child_outcomes in results:
        latencies += child_latencies
        outcomes += Counter(child_outcomes)
    return elapsed, latencies, outcomes


# --- Where a phase's CPU went ----------------------------------------------------------------------

# "machine" is every process's CPU on this machine; "steal" is the time its hypervisor gave the CPUs to other
# machines (a virtual machine on a busy host): a phase with steal ran on less CPU than it seemed to have.
CPU_PARTS = ("bench", "web", "database", "machine", "steal")


def _cpu_seconds(process: psutil.Process, *, descendants: bool) -> float:
    """CPU seconds of `process` and the children it has reaped, plus its live descendants if asked."""
    total = 0.0
    for member in (process, *(process.children(recursive=True) if descendants else ())):
        try:
            times = member.cpu_times()
        except psutil.Error:  # a child that ended meanwhile: its parent's children_* count it once reaped
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def database_server_process() -> psutil.Process | None:
    """The PostgreSQL server (postmaster) behind the default database, when it runs on this machine."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend_pid = cursor.fetchone()[0]
    try:
        backend = psutil.Process(backend_pid)
        server = backend.parent()
        return server if server is not None and backend.name() == server.name() else None
    except psutil.Error:  # a database on another host (or not ours to inspect): no figure
        return None


class CpuMeter:
    """CPU seconds spent during a phase by the bench process (the clients), the web server, the database
    server and the whole machine (busy, every process), so a phase's figure says where its CPU went; and
    the CPU time the hypervisor took away meanwhile (steal), which says how far to trust the phase."""

    def __init__(self, *, web: Sequence[psutil.Process] | None, database: psutil.Process | None) -> None:
        # The bench process alone: the web servers are its children too, and counted apart (every web
        # process with its descendants). Its own children (the multi-process phase's) are reaped within the
        # phase, so their CPU is in its children_* times.
        self.processes: dict[str, tuple[Sequence[psutil.Process], bool] | None] = {
            "bench": ([psutil.Process()], False),
            "web": (web, True) if web else None,
            "database": ([database], True) if database is not None else None,
        }
        self.started: dict[str, float | None] = {}

    def _now(self) -> dict[str, float | None]:
        now: dict[str, float | None] = {}
        for part, measured in self.processes.items():
            if measured is None:
                now[part] = None
                continue
            processes, descendants = measured
            try:
                now[part] = sum(_cpu_seconds(process, descendants=descendants) for process in processes)
            except psutil.Error:
                now[part] = None
        machine = psutil.cpu_times()
        # What processes ran (guest time is counted in user time already); idle, waits and steal are not that.
        now["machine"] = sum(getattr(machine, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq"))
        now["steal"] = getattr(machine, "steal", 0.0)
        return now

    def start(self) -> None:
        self.started = self._now()

    def ms_per_gift(self, gifts: int) -> dict[str, float | None]:
        """Milliseconds of CPU per gift landed since `start()`, by part (None where unknown)."""
        ended = self._now()
        spent: dict[str, float | None] = {}
        for part in CPU_PARTS:
            before, after = self.started.get(part), ended[part]
            spent[part] = (
                None if not gifts or before is None or after is None else round((after - before) * 1000 / gifts, 3)
            )
        return spent


# --- HTTP ---------------------------------------------------------------------------------------


# The HTTP floor (bench/floor.py): a plain ASGI gift with nothing but the gift, on its own uvicorn.
FLOOR_APP = "bench.floor:application"
FLOOR_PATH_TEMPLATE = "/floor/{stream}/"


def gift_endpoint_path(stream: LiveStream, template: str | None = None) -> str | None:
    """The URL path gifts are POSTed to: `template` with `{stream}` replaced, else the live room's one-tap
    endpoint (JSON, no redirect: what a viewer's tap costs)."""
    if template:
        return template.format(stream=stream.pk)
    try:
        return reverse("gifting:gift-tap", args=[stream.pk])
    except NoReverseMatch:
        return None


def session_cookie_for(user: User) -> str:
    """A logged-in session for `user`, stored where the server reads sessions, as its cookie value."""
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """uvicorn serving `app` (the site, coinsite.asgi) on 127.0.0.1:<free port>, started and stopped by us."""

    def __init__(self, *, workers: int, log_path: Path, app: str = "coinsite.asgi:application") -> None:
        self.port = free_port()
        self.log_path = log_path
        self.workers = workers
        self.app = app
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        self.start()
        self.wait_until_up(timeout=60)
        return self

    def start(self) -> None:
        """Starts uvicorn without waiting for it (`WebProcesses` starts its processes side by side)."""
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            self.app,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        # Django keeps a persistent connection per thread; under ASGI every request may run on a new
        # thread, so CONN_MAX_AGE > 0 leaks connections until PostgreSQL refuses more ("too many
        # clients"). Django's advice for ASGI is CONN_MAX_AGE=0 (or a pool); honour an explicit choice.
        env.setdefault("DB_CONN_MAX_AGE", "0")
        env["DJANGO_SETTINGS_MODULE"] = "bench.settings"  # the site's, without the per-viewer rate limit
        self.conn_max_age = env["DB_CONN_MAX_AGE"]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(  # noqa: S603
                command,
                cwd=settings.BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_until_up(self, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        assert self.process is not None  # started by __enter__
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.process.returncode}; see {self.log_path}")
            try:
                probe = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                probe.request("GET", "/")
                probe.getresponse().read()
                probe.close()
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"uvicorn did not answer within {timeout:.0f} s; see {self.log_path}")

    def __exit__(self, *exc_info: Any) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


class WebProcesses:
    """`count` web processes serving `app`, each a one-worker uvicorn on its own port, as the cluster runs them
    behind nginx (deploy/cluster.py). `http_phase` spreads the senders over them evenly (sender i on process
    i mod count), as nginx spreads requests over its upstreams. One uvicorn with `--workers` shares one
    listening socket, and which worker accepts a keep-alive connection is a race: with 8 connections and 2
    workers the bench saw 8/0, 7/1 and 6/2, and a phase measured that instead of the endpoint (docs/scaling.md)."""

    def __init__(self, *, count: int, log_path: Path, app: str = "coinsite.asgi:application") -> None:
        self.servers = [
            Server(workers=1, log_path=log_path.with_name(f"{log_path.stem}-{number}{log_path.suffix}"), app=app)
            for number in range(max(1, count))
        ]

    @property
    def ports(self) -> list[int]:
        return [server.port for server in self.servers]

    def processes(self) -> list[psutil.Process]:
        return [psutil.Process(server.process.pid) for server in self.servers if server.process is not None]

    def __enter__(self) -> "WebProcesses":
        try:
            for server in self.servers:
                server.start()
            for server in self.servers:
                server.wait_until_up(timeout=60)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for server in self.servers:
            server.__exit__()


def http_phase(
    data: BenchData,
    *,
    ports: Sequence[int],
    targets: list[LiveStream],
    seconds: float,
    prefix: str,
    path_template: str | None = None,
    json_body: bool = False,
    rate: float | None = None,
    sender_header: bool = False,
) -> PhaseResult:
    """Each sender POSTs roses to its target stream's gift endpoint on a keep-alive connection, sender i to
    the web process on `ports[i % len(ports)]`.

    The endpoint is the live room's one-tap endpoint unless `path_template` names another (`{stream}` is the
    stream's id); `json_body` sends the fields as a JSON object instead of a form; `sender_header` names the
    sender in a header too (the HTTP floor's, `bench.floor`, which reads no session). With `rate` (gifts/s in
    all), each sender sends on a fixed schedule instead of as fast as it can, and a gift's latency counts
    from the moment it was due, so a server that falls behind shows it (no coordinated omission).
    """
    sessions = [session_cookie_for(sender) for sender in data.senders]
    connection.close()  # the sessions are committed; threads open their own connections

    def worker_for(index: int, stream: LiveStream) -> Worker:
        port = ports[index % len(ports)]
        origin = f"http://127.0.0.1:{port}"
        # Django accepts an unmasked 32-character secret as both the CSRF cookie and the form token.
        csrf = secrets.token_hex(16)
        headers = {
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={sessions[index]}; {settings.CSRF_COOKIE_NAME}={csrf}",
            "Content-Type": "application/json" if json_body else "application/x-www-form-urlencoded",
            "Origin": origin,
            "Referer": f"{origin}/",
            "X-CSRFToken": csrf,
        }
        if sender_header:
            headers["X-Bench-Sender"] = str(data.senders[index].pk)
        path = gift_endpoint_path(stream, path_template) or ""  # the command checked the endpoint exists

        def worker(deadline: float) -> tuple[list[float], Counter]:
            latencies: list[float] = []
            outcomes: Counter[str] = Counter()
            client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            sent = 0
            interval = len(targets) / rate if rate else 0.0
            first_due = time.perf_counter() + interval * index / len(targets)  # the senders take turns
            while time.perf_counter() < deadline:
                due = first_due + sent * interval
                if interval and due >= deadline:
                    break
                if interval and due > time.perf_counter():
                    time.sleep(due - time.perf_counter())
                fields = {
                    "gift": data.gift.pk,
                    "quantity": 1,
                    "anonymous": "",
                    "confirmed": "",
                    "idempotency_key": f"{prefix}{index}:{sent}",
                    "csrfmiddlewaretoken": csrf,
                }
                body = json.dumps(fields) if json_body else urllib.parse.urlencode(fields)
                began = due if interval else time.perf_counter()
                try:
                    client.request("POST", path, body=body, headers=headers)
                    response = client.getresponse()
                    response.read()
                    outcomes[f"HTTP {response.status}"] += 1
                except (OSError, http.client.HTTPException) as error:
                    outcomes[type(error).__name__] += 1
                    client.close()
                    client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                latencies.append((time.perf_counter() - began) * 1000)
                sent += 1
            client.close()
            return latencies, outcomes

        return worker

    workers = [worker_for(n, targets[n]) for n in range(len(data.senders))]
    try:
        elapsed, latencies, outcomes = run_phase(workers, seconds=seconds)
    finally:
        sessions_delete(sessions)
    return PhaseResult(gifts=gifts_with_prefix(prefix), elapsed=elapsed, latencies_ms=latencies, outcomes=outcomes)


def sessions_delete(session_keys: list[str]) -> None:
    store_class = import_string(f"{settings.SESSION_ENGINE}.SessionStore")
    for session_key in session_keys:
        store_class(session_key).delete()


# --- Report -------------------------------------------------------------------------------------

# Ratio key: (numerator, denominator, goal, or None for a reference). Issue #13's targets; each ratio is
# taken within one round (figures measured minutes apart on a busy machine are not comparable), then the
# median over rounds.
GOALS: dict[str, tuple[str, str, float | None]] = {
    "ratio_service_spread_vs_pgbench_uncontended": ("service_spread_gifts_per_s", "pgbench_uncontended_tps", 0.7),
    "ratio_service_hot_vs_pgbench_hot": ("service_hot_gifts_per_s", "pgbench_hot_tps", 2.0),
    "ratio_service_hot_vs_spread": ("service_hot_gifts_per_s", "service_spread_gifts_per_s", 0.9),
    "ratio_http_vs_service": ("http_spread_gifts_per_s", "service_spread_gifts_per_s", 0.5),
    "ratio_http_hot_vs_spread": ("http_hot_gifts_per_s", "http_spread_gifts_per_s", 0.9),
    # The floor (bench/floor.py): an HTTP gift with no middleware, session, user, CSRF or rendering, against
    # the same goal: how much of it the server, the event loop and the thread hop leave for the rest.
    "ratio_http_floor_vs_service": ("http_floor_spread_gifts_per_s", "service_spread_gifts_per_s", 0.5),
    # The service's floor: gift_send's own statement from psycopg alone (no Django), against the same goal.
    "ratio_service_floor_vs_pgbench_uncontended": (
        "service_floor_spread_gifts_per_s",
        "pgbench_uncontended_tps",
        0.7,
    ),
    # The ceiling: the gift's own statement driven by pgbench (no Python), against the same pgbench TPC-B-like.
    "ratio_gift_function_spread_vs_pgbench_uncontended": (
        "pgbench_gift_function_spread_gifts_per_s",
        "pgbench_uncontended_tps",
        0.7,
    ),
    "ratio_gift_function_hot_vs_pgbench_hot": ("pgbench_gift_function_hot_gifts_per_s", "pgbench_hot_tps", 2.0),
    # The gift's writes alone, as plain statements from pgbench (no reads, no function), against the same
    # goals; then the gift function and the service against those writes: a reference, with no goal of its own.
    "ratio_gift_writes_spread_vs_pgbench_uncontended": (
        "pgbench_gift_writes_spread_gifts_per_s",
        "pgbench_uncontended_tps",
        0.7,
    ),
    "ratio_gift_writes_hot_vs_pgbench_hot": ("pgbench_gift_writes_hot_gifts_per_s", "pgbench_hot_tps", 2.0),
    "ratio_gift_function_spread_vs_gift_writes": (
        "pgbench_gift_function_spread_gifts_per_s",
        "pgbench_gift_writes_spread_gifts_per_s",
        None,
    ),
    "ratio_service_spread_vs_gift_writes": (
        "service_spread_gifts_per_s",
        "pgbench_gift_writes_spread_gifts_per_s",
        None,
    ),
    "ratio_service_hot_vs_gift_writes": ("service_hot_gifts_per_s", "pgbench_gift_writes_hot_gifts_per_s", None),
    "ratio_multiprocess_spread_vs_pgbench_uncontended": (
        "service_multiprocess_spread_gifts_per_s",
        "pgbench_uncontended_tps",
        0.7,
    ),
    "ratio_multiprocess_hot_vs_pgbench_hot": ("service_multiprocess_hot_gifts_per_s", "pgbench_hot_tps", 2.0),
    "ratio_multiprocess_hot_vs_spread": (
        "service_multiprocess_hot_gifts_per_s",
        "service_multiprocess_spread_gifts_per_s",
        0.9,
    ),
}
# The per-round figures that get a median and a spread over the rounds.
ROUND_FIGURES = (
    "pgbench_uncontended_tps",
    "pgbench_hot_tps",
    "pgbench_gift_function_spread_gifts_per_s",
    "pgbench_gift_function_hot_gifts_per_s",
    "pgbench_gift_writes_spread_gifts_per_s",
    "pgbench_gift_writes_hot_gifts_per_s",
    "service_spread_gifts_per_s",
    "service_hot_gifts_per_s",
    "service_p50_ms",
    "service_p99_ms",
    "service_floor_spread_gifts_per_s",
    "service_multiprocess_spread_gifts_per_s",
    "service_multiprocess_hot_gifts_per_s",
    "service_multiprocess_p99_ms",
    "http_spread_gifts_per_s",
    "http_hot_gifts_per_s",
    "http_p50_ms",
    "http_p99_ms",
    "http_paced_gifts_per_s",
    "http_paced_p99_ms",
    "http_floor_spread_gifts_per_s",
    # CPU ms per gift (or pgbench transaction), by whom: the clients (this process and pgbench), the web
    # server, PostgreSQL, the whole machine.
    *(f"pgbench_{name}_cpu_ms_{part}" for name in ("uncontended", "hot") for part in CPU_PARTS if part != "web"),
    *(
        f"pgbench_gift_{kind}_{shape}_cpu_ms_{part}"
        for kind in ("function", "writes")
        for shape in ("spread", "hot")
        for part in CPU_PARTS
        if part != "web"
    ),
    *(
        f"service_{shape}_cpu_ms_{part}"
        for shape in ("spread", "hot", "floor_spread")
        for part in CPU_PARTS
        if part != "web"
    ),
    *(f"http_{shape}_cpu_ms_{part}" for shape in ("spread", "paced", "hot", "floor_spread") for part in CPU_PARTS),
)
# Latency goals (figure, at most), checked on the median over the rounds: HTTP p99 at 80 % of its own maximum.
LATENCY_GOALS = {"http_paced_p99_ms": 25.0}


def ratios(figures: dict) -> dict:
    found = {}
    for key, (numerator, denominator, _goal) in GOALS.items():
        top, bottom = figures.get(numerator), figures.get(denominator)
        found[key] = round(top / bottom, 3) if top is not None and bottom else None
    return found


def rounds_summary(rounds: list[dict]) -> dict:
    """The median of each figure and of each within-round ratio over `rounds`, with `<key>_spread` [min, max]."""
    summary: dict[str, Any] = {}
    per_round = [{**figures, **ratios(figures)} for figures in rounds]
    for key in (*ROUND_FIGURES, *GOALS):
        values = [figures[key] for figures in per_round if figures.get(key) is not None]
        summary[key] = round(statistics.median(values), 3) if values else None
        summary[f"{key}_spread"] = [min(values), max(values)] if values else None
    return summary


def table_lines(figures: dict) -> list[str]:
    """The metric | value | ratio vs goal table."""
    rows = [(key, _shown(figures.get(key)), _spread(figures.get(f"{key}_spread"))) for key in ROUND_FIGURES]
    rows.append(("ledger_audit_ok", _shown(figures.get("ledger_audit_ok")), ""))
    for key, (_numerator, _denominator, goal) in GOALS.items():
        value = figures.get(key)
        if goal is None:
            rows.append((key, _shown(value), f"{_spread(figures.get(f'{key}_spread'))}  (reference, no goal)"))
            continue
        verdict = "n/a" if value is None else ("meets" if value >= goal else "below")
        rows.append((key, _shown(value), f"{_spread(figures.get(f'{key}_spread'))}  goal >= {goal} ({verdict})"))
    for key, ceiling in LATENCY_GOALS.items():
        value = figures.get(key)
        verdict = "n/a" if value is None else ("meets" if value <= ceiling else "above")
        rows.append((f"{key} (goal)", _shown(value), f"goal <= {ceiling} ({verdict})"))
    width = max(len(row[0]) for row in rows)
    lines = [f"{'metric (median of rounds)':<{width}}  {'value':>10}  spread, goal", "-" * (width + 50)]
    lines += [f"{name:<{width}}  {value:>10}  {goal}" for name, value, goal in rows]
    return lines


def _spread(values: list | None) -> str:
    return "" if not values else f"[{values[0]} .. {values[1]}]"


def _shown(value: object) -> str:
    return "null" if value is None else str(value)
