"""The failure drills of `make cluster-test` (deploy/cluster.py runs them against a running cluster).

Each drill runs a gift storm through nginx (senders POST to the gift endpoint with an idempotency key
each and retry that same key after any error, as the live page does) while it breaks one part of the
cluster, then counts in the database what really happened:

    gifts_sent      distinct gifts (idempotency keys) the clients tried to send
    gifts_accepted  of those, answered with success (maybe after retries)
    gifts_recorded  gift rows in the database for the drill's keys
    duplicates      gift rows or ledger postings beyond one per key (plus payouts paid or top-ups credited twice)
    lost            accepted gifts with no row (plus payouts not paid, top-ups not credited, events viewers missed)
    ledger_audit_ok `wallet.audit.ledger_audit_run()` after the drill
    recovered_seconds from the fault until the broken part served again

and writes every drill's object to var/cluster/drills.json. Exit status 1 if anything was lost or
duplicated, an audit failed, or a page answered 500.
"""

import contextlib
import functools
import http.client
import json
import os
import secrets
import signal
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import cluster

SENDERS = 24
SENDER_RATE = 1.5  # gifts a second per sender: under the per-viewer limit of 120 a minute
RETRY_FOR_SECONDS = 90  # a client keeps retrying one gift this long after the storm ends
VIEWERS = 12


def log(message: str) -> None:
    cluster.log(f"drill: {message}")


def django_setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "coinsite.settings"
    os.environ["LOG_LEVEL"] = "WARNING"  # the drill's own set-up (payouts, top-ups) would fill the screen
    sys.path.insert(0, str(cluster.ROOT))
    import django  # noqa: PLC0415  (after the cluster's environment is in place)

    django.setup()


# --- The storm ---------------------------------------------------------------------------------------


def https() -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection("127.0.0.1", cluster.NGINX_PORT, timeout=15, context=cluster.tls_context())


@dataclass
class Outcome:
    accepted: bool = False
    refused: str = ""
    attempts: int = 0


@dataclass
class Storm:
    """Senders gifting one stream through nginx; each gift is retried with its own key until answered."""

    senders: list[tuple[Any, str]]  # (user, session key)
    stream_id: int
    gift_id: int
    prefix: str
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    responses: Counter = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> "Storm":
        for index, (_user, session) in enumerate(self.senders):
            thread = threading.Thread(target=self._sender, args=(index, session), daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=RETRY_FOR_SECONDS + 30)

    def _sender(self, index: int, session: str) -> None:
        from django.conf import settings  # noqa: PLC0415

        csrf = secrets.token_hex(16)  # Django takes an unmasked 32-character secret as cookie and token
        origin = settings.SITE_URL
        headers = {
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={session}; {settings.CSRF_COOKIE_NAME}={csrf}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": origin,
            "Referer": f"{origin}/live/{self.stream_id}/",
            "X-CSRFToken": csrf,
        }
        client, number = https(), 0
        while not self.stop.is_set():
            began = time.monotonic()
            key = f"{self.prefix}{index}-{number}"
            number += 1
            client = self._send_until_answered(client, key, headers, csrf)
            time.sleep(max(0.0, 1 / SENDER_RATE - (time.monotonic() - began)))
        client.close()

    def _send_until_answered(self, client: http.client.HTTPSConnection, key: str, headers: dict, csrf: str) -> Any:
        body = urllib.parse.urlencode(
            {"gift": self.gift_id, "quantity": 1, "idempotency_key": key, "csrfmiddlewaretoken": csrf}
        )
        outcome = Outcome()
        with self.lock:
            self.outcomes[key] = outcome
        give_up = None
        while True:
            outcome.attempts += 1
            try:
                client.request("POST", f"/live/{self.stream_id}/gifts/", body=body, headers=headers)
                response = client.getresponse()
                response.read()
                status = str(response.status)
                retry_after = float(response.headers.get("Retry-After") or 0.5)
            except (OSError, http.client.HTTPException) as error:
                status, retry_after = type(error).__name__, 0.5
                client.close()
                client = https()
            with self.lock:
                self.responses[status] += 1
            if status == "302":
                outcome.accepted = True
                return client
            if status in {"400", "402", "403", "409"}:
                outcome.refused = status
                return client
            # 429, 5xx, a dropped connection: the same key again shortly (the gift posts at most once).
            if self.stop.is_set():
                give_up = give_up or time.monotonic() + RETRY_FOR_SECONDS
                if time.monotonic() > give_up:
                    return client
            time.sleep(min(retry_after, 2.0))

    def figures(self) -> dict[str, Any]:
        from django.db.models import Count  # noqa: PLC0415

        from gifting.models import GiftEvent  # noqa: PLC0415
        from wallet.models import LedgerTransaction  # noqa: PLC0415

        rows = Counter(
            dict(
                GiftEvent.objects.filter(idempotency_key__startswith=self.prefix)
                .values_list("idempotency_key")
                .annotate(n=Count("id"))
            )
        )
        postings = LedgerTransaction.objects.filter(idempotency_key__contains=f":{self.prefix}").count()
        accepted = {key for key, outcome in self.outcomes.items() if outcome.accepted}
        return {
            "gifts_sent": len(self.outcomes),
            "gifts_accepted": len(accepted),
            "gifts_recorded": sum(rows.values()),
            "duplicates": sum(count - 1 for count in rows.values()) + max(0, postings - len(rows)),
            "lost": len(accepted - set(rows)),
            "recorded_not_acknowledged": len(set(rows) - accepted),
            "gifts_refused": dict(Counter(outcome.refused for outcome in self.outcomes.values() if outcome.refused)),
            "responses": dict(sorted(self.responses.items())),
        }


# --- Set-up -------------------------------------------------------------------------------------------


@dataclass
class World:
    senders: list[tuple[Any, str]]
    creator: Any
    creator_session: str
    stream_id: int
    gift_id: int


def world_setup() -> World:
    from bench.gifts import bench_data_setup, session_cookie_for  # noqa: PLC0415

    data = bench_data_setup(senders=SENDERS)
    sessions = [(user, session_cookie_for(user)) for user in data.senders]
    creator = data.creators[0]
    return World(sessions, creator, session_cookie_for(creator), data.streams[0].pk, data.gift.pk)


def audit_ok() -> bool:
    from wallet.audit import ledger_audit_run  # noqa: PLC0415
    from wallet.ledger import ledger_rollup_pending  # noqa: PLC0415

    ledger_rollup_pending()
    report = ledger_audit_run()
    if not report.ok:
        log("ledger audit FAILED:\n" + "\n".join(report.lines()))
    return report.ok


def with_database_retries[T](read: Callable[[], T]) -> T:
    """Read after a drill that may have broken this process's pooled connections too."""
    from django.db import OperationalError, connections  # noqa: PLC0415

    for attempt in range(10):
        try:
            return read()
        except OperationalError:
            connections.close_all()
            time.sleep(1 + attempt)
    return read()


# --- Faults -----------------------------------------------------------------------------------------


def service_pid(name: str) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pid = cluster.state().get(name, {}).get("pid")
        if pid:
            return pid
        time.sleep(0.2)
    raise RuntimeError(f"{name} is not running")


def kill(name: str, sig: int = signal.SIGKILL) -> int:
    """Signal a service's whole process group (a Celery worker's pool children too); returns the old pid."""
    pid = service_pid(name)
    os.killpg(pid, sig)
    log(f"{signal.Signals(sig).name} to {name} (pid {pid})")
    return pid


@contextlib.contextmanager
def held_down(name: str, sig: int) -> Iterator[None]:
    """Stop a service and keep the supervisor from restarting it until the block ends."""
    (cluster.HOLD / name).touch()
    pid = kill(name, sig)
    with contextlib.suppress(ProcessLookupError):
        while True:
            os.kill(pid, 0)
            time.sleep(0.1)
    try:
        yield
    finally:
        (cluster.HOLD / name).unlink()
        log(f"{name} released: the supervisor starts it again")


def wait_until(check: Callable[[], bool], *, timeout: float = 120) -> float | None:
    """Seconds until `check()` holds, or None if it never did."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        with contextlib.suppress(Exception):
            if check():
                return round(time.monotonic() - began, 2)
        time.sleep(0.2)
    return None


def restarted(name: str, old_pid: int) -> Callable[[], bool]:
    def check() -> bool:
        pid = cluster.state().get(name, {}).get("pid")
        return bool(pid) and pid != old_pid

    return check


def site_ready() -> bool:
    return cluster.site_get("/readyz", timeout=3)[0] == 200


def replica_usable() -> bool:
    code, body = cluster.site_get("/readyz", timeout=3)
    return code == 200 and json.loads(body)["replica"].get("usable") is True


# --- The drills ----------------------------------------------------------------------------------------


def storm(world: World, name: str) -> Storm:
    return Storm(world.senders, world.stream_id, world.gift_id, prefix=f"drill-{name}-{uuid.uuid4().hex[:8]}-").start()


def storm_and_pages_ended(gifts: Storm, reader: "PageReader") -> dict[str, Any]:
    """Stop the page reader and the storm; the storm's figures with what the pages answered."""
    reader.close()
    gifts.finish()
    return {
        **with_database_retries(gifts.figures),
        "page_responses": dict(reader.responses),
        "page_slowest_ms": reader.slowest_ms,
    }


def drill_web_process_killed(world: World) -> dict[str, Any]:
    """SIGKILL one of the three web processes 15 s into a 60-second storm; the supervisor restarts it."""
    gifts = storm(world, "web")
    time.sleep(15)
    old = kill("web-2")
    recovered = wait_until(lambda: restarted("web-2", old)() and cluster._http_ok(cluster.WEB_PORTS[1], "/healthz"))
    time.sleep(max(0, 45 - (recovered or 0)))
    gifts.finish()
    return {**with_database_retries(gifts.figures), "recovered_seconds": recovered}


def drill_worker_killed_during_payouts(world: World) -> dict[str, Any]:
    """Payouts and top-ups queued, then a whole Celery worker (main process and pool) SIGKILLed at once."""
    gifts = storm(world, "worker")
    money = MoneyWork()
    creating = threading.Thread(target=money.create, kwargs={"payouts": 30, "topups": 20}, daemon=True)
    creating.start()
    # Mid-way, while workers hold tasks they have not acknowledged (running, or waiting for their ETA).
    wait_until(lambda: len(money.payout_ids) >= 10 and unacknowledged_tasks() > 0, timeout=60)
    held = unacknowledged_tasks()
    kill("worker-1")
    began = time.monotonic()
    creating.join()
    return {**storm_and_money_ended(gifts, money, since=began, timeout=240), "unacknowledged_tasks_at_kill": held}


def storm_and_money_ended(gifts: Storm, money: "MoneyWork", *, since: float, timeout: float) -> dict[str, Any]:
    """Wait for every payout to be paid and every top-up credited, then stop the storm: the storm's figures with
    the money's, a payout or top-up never finished counted lost, and the seconds from `since` until they were."""
    done = wait_until(money.finished, timeout=timeout)
    recovered = round(time.monotonic() - since, 2) if done is not None else None
    gifts.finish()
    figures = with_database_retries(gifts.figures)
    extra = with_database_retries(money.figures)
    return {
        **figures,
        "duplicates": figures["duplicates"] + extra["payout_duplicates"] + extra["topup_duplicates"],
        "lost": figures["lost"] + extra["payouts_not_paid"] + extra["topups_not_credited"],
        "recovered_seconds": recovered,
        **extra,
    }


def drill_redis_restarted(world: World) -> dict[str, Any]:
    """Viewers watch the stream's event stream while Redis (bus, cache, broker) restarts under a storm."""
    viewers = [Viewer(world.stream_id) for _ in range(VIEWERS)]
    for viewer in viewers:
        viewer.start()
    wait_until(lambda: all(viewer.connected for viewer in viewers), timeout=30)
    gifts = storm(world, "redis")
    time.sleep(10)
    with held_down("redis", signal.SIGTERM):
        time.sleep(3)
    recovered = wait_until(site_ready)
    time.sleep(15)
    gifts.finish()
    time.sleep(5)  # the last gifts' events reach the viewers
    for viewer in viewers:
        viewer.close()
    figures = with_database_retries(gifts.figures)
    recorded = set(
        with_database_retries(lambda: list(_gift_event_ids(gifts.prefix)))  # every gift of this storm
    )
    missed = sum(len(recorded - viewer.gift_ids) for viewer in viewers)
    return {
        **figures,
        "lost": figures["lost"] + missed,
        "recovered_seconds": recovered,
        "viewers": VIEWERS,
        "viewer_events_missed": missed,
        "viewer_reconnects": sum(viewer.reconnects for viewer in viewers),
    }


def drill_redis_paused(world: World) -> dict[str, Any]:
    """Redis stops answering without going away (SIGSTOP: a network partition, a paused VM) for 6 s under a storm,
    while the stream page, a public profile and the creator's dashboard are read: the pages keep answering 200 (the
    settings come from the database), taps answer 503 at once and are retried, and nothing is lost."""
    gifts = storm(world, "redis-paused")
    reader = PageReader(world, stream_page=True)
    reader.start()
    time.sleep(5)
    pid = kill("redis", signal.SIGSTOP)
    try:
        time.sleep(6)
    finally:
        os.killpg(pid, signal.SIGCONT)
        log(f"SIGCONT to redis (pid {pid})")
    recovered = wait_until(site_ready)
    time.sleep(5)
    return {**storm_and_pages_ended(gifts, reader), "recovered_seconds": recovered}


PAUSE_SECONDS = 10


def drill_payouts_during_redis_pause(world: World) -> dict[str, Any]:
    """Creators add a payout method and request a payout, one after another, while Redis (the broker too) stops
    answering for 10 s under a storm; then a viewer pays 5 top-ups. Each step commits and returns: a publish gives up
    after the broker's socket timeout, and the process then skips the broker while it is marked down (kombu alone
    waited as long as the pause). The sweeps queue what was never queued: every payout paid and every top-up
    credited, none twice."""
    gifts = storm(world, "payouts-paused")
    money = MoneyWork()
    time.sleep(3)
    pid = kill("redis", signal.SIGSTOP)
    paused = time.monotonic()
    creating = threading.Thread(target=money.create, kwargs={"payouts": 1000, "topups": 0}, daemon=True)
    money.stop_at = paused + PAUSE_SECONDS
    creating.start()
    try:
        time.sleep(PAUSE_SECONDS)
    finally:
        os.killpg(pid, signal.SIGCONT)
        log(f"SIGCONT to redis (pid {pid})")
    creating.join()
    money.create(payouts=0, topups=5)  # and top-ups once Redis is back
    return {
        **storm_and_money_ended(gifts, money, since=paused + PAUSE_SECONDS, timeout=300),
        "pause_seconds": PAUSE_SECONDS,
        "payouts_requested_during_pause": len(money.step_seconds),
        "payout_steps_slowest_seconds": round(max(money.step_seconds, default=0), 2),
    }


def _gift_event_ids(prefix: str) -> Iterator[int]:
    from gifting.models import GiftEvent  # noqa: PLC0415

    yield from GiftEvent.objects.filter(idempotency_key__startswith=prefix).values_list("id", flat=True)


def drill_replica_stopped(world: World) -> dict[str, Any]:
    """Replica-routed pages (public profile, creator dashboard) keep answering while the replica is down."""
    gifts = storm(world, "replica")
    reader = PageReader(world)
    reader.start()
    time.sleep(5)
    replica_reads = replica_transactions()
    time.sleep(3)
    replica_reads = replica_transactions() - replica_reads
    with held_down("replica", signal.SIGINT):
        time.sleep(12)
    recovered = wait_until(replica_usable)
    time.sleep(3)
    return {
        **storm_and_pages_ended(gifts, reader),
        "recovered_seconds": recovered,
        "replica_transactions_in_3s_before_stop": replica_reads,
    }


def replica_transactions() -> int:
    import psycopg  # noqa: PLC0415

    with psycopg.connect(os.environ["DATABASE_REPLICA_URL"], connect_timeout=3) as connection:
        row = connection.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        return int(row[0]) if row else 0


def drill_primary_restarted(world: World) -> dict[str, Any]:
    """The primary stops (fast shutdown) for 5 s under a storm: 503s, never 500s, then recovery by itself."""
    gifts = storm(world, "primary")
    reader = PageReader(world)
    reader.start()
    time.sleep(10)
    with held_down("primary", signal.SIGINT):
        time.sleep(5)
    recovered = wait_until(site_ready)
    time.sleep(15)
    return {**storm_and_pages_ended(gifts, reader), "recovered_seconds": recovered}


DRILLS = [
    ("web_process_killed", drill_web_process_killed),
    ("worker_killed_during_payouts", drill_worker_killed_during_payouts),
    ("redis_restarted", drill_redis_restarted),
    ("redis_paused", drill_redis_paused),
    ("payouts_during_redis_pause", drill_payouts_during_redis_pause),
    ("replica_stopped", drill_replica_stopped),
    ("primary_restarted", drill_primary_restarted),
]


# --- Money work for the worker drill --------------------------------------------------------------------


def unacknowledged_tasks() -> int:
    """Messages Celery workers have taken from Redis but not acknowledged (kombu's `unacked` hash)."""
    import redis  # noqa: PLC0415

    client = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"], socket_timeout=3)
    try:
        return int(client.hlen("unacked"))
    finally:
        client.close()


@dataclass
class MoneyWork:
    payout_ids: list[int] = field(default_factory=list)
    topup_ids: list[int] = field(default_factory=list)
    # Each creator's steps, one after another: a payout method added (the first time; its security notice is queued
    # after the commit), diamonds credited, a payout requested (its task queued after the commit).
    step_seconds: list[float] = field(default_factory=list)
    stop_at: float = float("inf")  # time.monotonic() after which no further payout is requested

    def create(self, *, payouts: int, topups: int) -> None:
        """Payouts requested and top-ups paid one after another (each enqueues its tasks as it commits)."""
        from django.db import connections  # noqa: PLC0415

        try:
            _payouts_requested(payouts, into=self.payout_ids, timed=self.step_seconds, stop_at=self.stop_at)
            _topups_paid(topups, into=self.topup_ids)
        finally:
            connections.close_all()

    def finished(self) -> bool:
        from payouts.models import Payout, PayoutStatus  # noqa: PLC0415
        from wallet.models import TopUp, TopUpStatus  # noqa: PLC0415

        paid = Payout.objects.filter(pk__in=self.payout_ids, status=PayoutStatus.PAID).count()
        credited = TopUp.objects.filter(pk__in=self.topup_ids, status=TopUpStatus.SUCCEEDED).count()
        return paid == len(self.payout_ids) and credited == len(self.topup_ids)

    def figures(self) -> dict[str, int]:
        from django.db.models import Count  # noqa: PLC0415

        from payouts.models import Payout, PayoutStatus, SandboxPayoutTransfer  # noqa: PLC0415
        from wallet.models import LedgerTransaction, TopUp, TopUpStatus  # noqa: PLC0415

        payouts = Payout.objects.filter(pk__in=self.payout_ids)
        keys = [str(key) for key in payouts.values_list("provider_key", flat=True)]
        transfers = SandboxPayoutTransfer.objects.filter(idempotency_key__in=keys).count()
        redeemed = LedgerTransaction.objects.filter(idempotency_key__in=[f"payout:{pk}:paid" for pk in self.payout_ids])
        topups = TopUp.objects.filter(pk__in=self.topup_ids)
        credits = Counter(
            dict(
                LedgerTransaction.objects.filter(
                    idempotency_key__in=[f"topup:{key}" for key in topups.values_list("public_id", flat=True)]
                )
                .values_list("idempotency_key")
                .annotate(n=Count("id"))
            )
        )
        return {
            "payouts_requested": len(self.payout_ids),
            "payouts_paid": payouts.filter(status=PayoutStatus.PAID).count(),
            "payouts_not_paid": payouts.exclude(status=PayoutStatus.PAID).count(),
            "payout_duplicates": max(0, transfers - len(keys)) + max(0, redeemed.count() - len(self.payout_ids)),
            "topups_started": len(self.topup_ids),
            "topups_credited": topups.filter(status=TopUpStatus.SUCCEEDED).count(),
            "topups_not_credited": topups.exclude(status=TopUpStatus.SUCCEEDED).count(),
            "topup_duplicates": sum(count - 1 for count in credits.values()),
        }


def _payouts_requested(count: int, *, into: list[int], timed: list[float], stop_at: float) -> None:
    import datetime  # noqa: PLC0415

    from django.utils import timezone  # noqa: PLC0415

    from bench.gifts import _bench_user  # noqa: PLC0415
    from payouts.exchange import rates_load  # noqa: PLC0415
    from payouts.models import PayoutMethod  # noqa: PLC0415
    from payouts.services import payout_method_add, payout_request  # noqa: PLC0415
    from wallet.ledger import account_for_user, ledger_credit  # noqa: PLC0415
    from wallet.models import Asset  # noqa: PLC0415

    rates_load()
    run = uuid.uuid4().hex[:8]
    for number in range(count):
        began = time.monotonic()
        if began >= stop_at:
            break
        creator = _bench_user(f"drill-payee-{number}@drill.coinsite.local", is_creator=True)
        method = PayoutMethod.objects.filter(creator=creator, retired_at__isnull=True).first()
        if method is None:
            method = payout_method_add(
                creator=creator,
                kind="paypal",
                holder_name="Drill Payee",
                currency="USD",
                paypal_email=f"drill-payee-{number}@example.com",
            )
            # The hold after a new method protects real creators from account takeover; not a drill's.
            PayoutMethod.objects.filter(pk=method.pk).update(created_at=timezone.now() - datetime.timedelta(days=60))
        ledger_credit(
            account=account_for_user(creator, Asset.DIAMOND),
            asset=Asset.DIAMOND,
            amount=12_000,
            idempotency_key=f"drill-diamonds:{run}:{number}",
            kind="adjustment",
        )
        payout = payout_request(creator=creator, method_id=method.pk, diamonds=10_000, idempotency_key=f"drill-{run}")
        timed.append(time.monotonic() - began)
        into.append(payout.pk)


def _topups_paid(count: int, *, into: list[int]) -> None:
    from bench.gifts import _bench_user  # noqa: PLC0415
    from wallet.models import CoinPackage  # noqa: PLC0415
    from wallet.sandbox.models import SandboxSession  # noqa: PLC0415
    from wallet.sandbox.services import sandbox_session_finish  # noqa: PLC0415
    from wallet.services import topup_start  # noqa: PLC0415

    buyer = _bench_user("drill-buyer@drill.coinsite.local", is_creator=False)
    package = CoinPackage.objects.filter(prices__price_currency="USD", is_active=True).order_by("coins").first()
    for _ in range(count):
        topup, _url = topup_start(user=buyer, payment_method="card", package_id=package.pk if package else None)
        topup.refresh_from_db()  # topup_start stores the provider's session id with an UPDATE
        session = SandboxSession.objects.get(public_id=topup.provider_session_id)
        sandbox_session_finish(session_id=session.pk, outcome="paid", paid_with="card", payer_detail="4242")
        into.append(topup.pk)


# --- Clients that watch and read ---------------------------------------------------------------------------


class Viewer(threading.Thread):
    """An EventSource: reads the stream's events through nginx and resumes with Last-Event-ID after a drop."""

    def __init__(self, stream_id: int) -> None:
        super().__init__(daemon=True)
        self.stream_id = stream_id
        self.gift_ids: set[int] = set()
        self.last_event_id = ""
        self.reconnects = -1
        self.connected = False
        self.closing = threading.Event()
        self.client: http.client.HTTPSConnection | None = None

    def run(self) -> None:
        while not self.closing.is_set():
            self.reconnects += 1
            with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
                self._listen()
            self.connected = False
            if not self.closing.is_set():
                time.sleep(1)  # EventSource's retry delay

    def _listen(self) -> None:
        self.client = http.client.HTTPSConnection(
            "127.0.0.1", cluster.NGINX_PORT, timeout=60, context=cluster.tls_context()
        )
        headers = {"Accept": "text/event-stream"}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        self.client.request("GET", f"/live/{self.stream_id}/events/", headers=headers)
        response = self.client.getresponse()
        if response.status != 200:
            raise ValueError(f"events answered {response.status}")
        self.connected = True
        event, data = "", ""
        while not self.closing.is_set():
            line = response.readline().decode()
            if not line:
                return
            line = line.rstrip("\n")
            if line.startswith("id: "):
                self.last_event_id = line[4:]
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and event:
                if event == "gift":
                    self.gift_ids.add(int(json.loads(data)["id"]))
                event, data = "", ""

    def close(self) -> None:
        self.closing.set()
        if self.client is not None:
            with contextlib.suppress(OSError):
                self.client.sock.shutdown(2) if self.client.sock else None
        self.join(timeout=5)


class PageReader(threading.Thread):
    """Reads the replica-routed pages (a public profile, the creator's dashboard), and the stream page if asked,
    four times a second."""

    def __init__(self, world: World, *, stream_page: bool = False) -> None:
        super().__init__(daemon=True)
        from django.conf import settings  # noqa: PLC0415

        self.paths = [
            ("profile", f"/live/creators/{world.creator.pk}/", {}),
            ("dashboard", "/creator/", {"Cookie": f"{settings.SESSION_COOKIE_NAME}={world.creator_session}"}),
        ]
        if stream_page:
            self.paths.append(("stream", f"/live/{world.stream_id}/", {}))
        self.responses: Counter = Counter()
        self.slowest_ms: dict[str, float] = {}
        self.closing = threading.Event()

    def run(self) -> None:
        while not self.closing.is_set():
            for label, path, headers in self.paths:
                began = time.monotonic()
                try:
                    status, body = cluster.site_get(path, headers=headers, timeout=10)
                    code = str(status)
                    if status == 503 and b"cannot reach its database" not in body:
                        code = "503 without the outage page"
                except OSError as error:
                    code = type(error).__name__
                self.responses[f"{label} {code}"] += 1
                took = round((time.monotonic() - began) * 1000, 1)
                self.slowest_ms[label] = max(took, self.slowest_ms.get(label, 0.0))
            time.sleep(0.25)

    def close(self) -> None:
        self.closing.set()
        self.join(timeout=15)


# --- Running them all ----------------------------------------------------------------------------------------


def run_all(env: dict[str, str]) -> int:
    django_setup(env)
    world = with_database_retries(world_setup)
    results = []
    only = set(filter(None, os.environ.get("DRILLS", "").split(",")))
    for name, drill in DRILLS:
        if only and name not in only:
            continue
        log(f"{name} ...")
        began = time.monotonic()
        figures = drill(world)
        wait_until(site_ready, timeout=120)
        result = {"name": name, **figures, "ledger_audit_ok": with_database_retries(audit_ok)}
        result["seconds"] = round(time.monotonic() - began, 1)
        results.append(result)
        log(json.dumps(result))
    (cluster.CLUSTER / "drills.json").write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    failed = [result["name"] for result in results if not passed(result)]
    if failed:
        log(f"FAILED: {', '.join(failed)}")
        return 1
    log(f"all {len(results)} drills passed (var/cluster/drills.json)")
    return 0


def passed(result: dict[str, Any]) -> bool:
    server_errors = sum(
        count
        for label, count in {**result.get("responses", {}), **result.get("page_responses", {})}.items()
        if label.endswith("500")
    )
    page_failures = 0
    if result["name"] in ("replica_stopped", "redis_paused"):
        page_failures = sum(count for label, count in result["page_responses"].items() if not label.endswith(" 200"))
    if result["name"] == "payouts_during_redis_pause":  # no request held for the whole pause
        page_failures += result["payout_steps_slowest_seconds"] >= result["pause_seconds"]
    return (
        result["lost"] == 0
        and result["duplicates"] == 0
        and result["ledger_audit_ok"]
        and result["recovered_seconds"] is not None
        and server_errors == 0
        and page_failures == 0
    )


def print_table(results: list[dict[str, Any]]) -> None:
    columns = [
        "name",
        "gifts_sent",
        "gifts_accepted",
        "gifts_recorded",
        "duplicates",
        "lost",
        "ledger_audit_ok",
        "recovered_seconds",
    ]
    widths = [max(len(column), *(len(str(result.get(column))) for result in results)) for column in columns]
    print("  ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True)))
    for result in results:
        print("  ".join(str(result.get(column)).ljust(width) for column, width in zip(columns, widths, strict=True)))
        extras = {key: value for key, value in result.items() if key not in columns}
        print(f"    {json.dumps(extras)}")


# --- The gift benchmark through nginx (`make cluster-bench`) ----------------------------------------------

BENCH_SENDERS = 96  # enough that each stays under the per-viewer limit (5 a second, 120 a minute)
BENCH_SECONDS = 15


def bench(env: dict[str, str]) -> int:
    """Senders POST gifts through nginx to the three web processes as fast as they are answered (one
    creator for all, then one each), beside pgbench on the same primary; var/cluster/bench.json."""
    django_setup(env)
    from django.db import connections  # noqa: PLC0415

    from bench.gifts import bench_data_setup, percentile, pgbench_path, pgbench_tps, session_cookie_for  # noqa: PLC0415

    data = bench_data_setup(senders=BENCH_SENDERS)
    sessions = [session_cookie_for(user) for user in data.senders]
    connections.close_all()
    figures: dict[str, Any] = {
        "senders": BENCH_SENDERS,
        "seconds": BENCH_SECONDS,
        "web_processes": len(cluster.WEB_PORTS),
    }
    hot, spread = [data.streams[0].pk] * BENCH_SENDERS, [stream.pk for stream in data.streams]
    phases = (("hot", hot, https), ("spread", spread, https), ("one_process_hot", hot, _one_web_process))
    for phase, targets, connect in phases:
        latencies, responses, elapsed, prefix = _bench_phase(data.gift.pk, sessions, targets, connect)
        recorded = with_database_retries(functools.partial(_recorded, prefix))
        figures[f"{phase}_gifts_per_s"] = round(recorded / elapsed, 1)
        figures[f"{phase}_p50_ms"] = percentile(latencies, 0.5)
        figures[f"{phase}_p99_ms"] = percentile(latencies, 0.99)
        figures[f"{phase}_responses"] = dict(responses)
        log(f"bench {phase}: {figures[f'{phase}_gifts_per_s']} gifts/s, p50 {figures[f'{phase}_p50_ms']} ms")
    pgbench = pgbench_path()
    if pgbench:
        for scale in (10, 1):
            figures[f"pgbench_scale_{scale}_tps"] = pgbench_tps(
                pgbench=pgbench, scale=scale, clients=8, seconds=10, log=log
            )
    (cluster.CLUSTER / "bench.json").write_text(json.dumps(figures, indent=2) + "\n")
    for key, value in figures.items():
        print(f"{key:28} {value}")
    return 0


def _recorded(prefix: str) -> int:
    from gifting.models import GiftEvent  # noqa: PLC0415

    return GiftEvent.objects.filter(idempotency_key__startswith=prefix).count()


def _one_web_process() -> http.client.HTTPConnection:
    """web-1 alone, straight to uvicorn (as nginx would reach it): the single-process figure of the same run."""
    return http.client.HTTPConnection("127.0.0.1", cluster.WEB_PORTS[0], timeout=15)


def _bench_phase(
    gift_id: int, sessions: list[str], stream_ids: list[int], connect: Callable[[], http.client.HTTPConnection]
) -> tuple[list[float], Counter, float, str]:
    from django.conf import settings  # noqa: PLC0415

    prefix = f"bench-cluster-{uuid.uuid4().hex[:8]}-"
    latencies: list[float] = []
    responses: Counter = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + BENCH_SECONDS

    def sender(index: int) -> None:
        csrf = secrets.token_hex(16)
        headers = {
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={sessions[index]}; {settings.CSRF_COOKIE_NAME}={csrf}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": settings.SITE_URL,
            "Referer": f"{settings.SITE_URL}/",
            "X-CSRFToken": csrf,
            "X-Forwarded-Proto": "https",  # what nginx tells uvicorn; nginx itself overrides it
        }
        client, number = connect(), 0
        while time.monotonic() < deadline:
            body = urllib.parse.urlencode(
                {
                    "gift": gift_id,
                    "quantity": 1,
                    "idempotency_key": f"{prefix}{index}-{number}",
                    "csrfmiddlewaretoken": csrf,
                }
            )
            number += 1
            began = time.perf_counter()
            try:
                client.request("POST", f"/live/{stream_ids[index]}/gifts/", body=body, headers=headers)
                response = client.getresponse()
                response.read()
                status = str(response.status)
            except (OSError, http.client.HTTPException) as error:
                status = type(error).__name__
                client.close()
                client = connect()
            with lock:
                latencies.append((time.perf_counter() - began) * 1000)
                responses[status] += 1
        client.close()

    began = time.monotonic()
    threads = [threading.Thread(target=sender, args=(index,), daemon=True) for index in range(len(sessions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, responses, time.monotonic() - began, prefix
