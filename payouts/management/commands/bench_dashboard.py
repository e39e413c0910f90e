"""`python manage.py bench_dashboard` (part of `make bench`): the creator dashboard with a million gifts
next to an empty one, in the same run; prints a table and writes var/bench/dashboard.json.

A benchmark, not a test: it prints what it measured and never fails on a slow figure. The gifts are
made in SQL (a bench creator, a bench sender, one ledger transaction per gift, spread over 120
days), rolled up as the periodic task would, then the dashboard is timed through the selector and
over HTTP (Django's test client, full page render) for both creators.
"""

import json
import statistics
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.test import Client

from coinsite.accounts.models import User
from gifting.models import Gift, GiftEvent, LiveStream
from payouts.earnings import earnings_rollup_all
from payouts.selectors import creator_dashboard
from wallet.audit import ledger_audit_run
from wallet.ledger import account_for_user, system_account
from wallet.models import Asset, SystemAccount

BENCH_PREFIX = "bench-dashboard"


class Command(BaseCommand):
    help = "Time the creator dashboard for a creator with many gifts against an empty dashboard."

    def add_arguments(self, parser):
        parser.add_argument("--gifts", type=int, default=1_000_000, help="Gifts for the busy creator (default 1M).")
        parser.add_argument("--repeat", type=int, default=20, help="Timed requests per dashboard (default 20).")
        parser.add_argument("--output", type=Path, default=Path(settings.VAR_DIR) / "bench" / "dashboard.json")

    def handle(self, *args, gifts: int, repeat: int, output: Path, **options):
        empty = _bench_creator(f"{BENCH_PREFIX}-empty@bench.local")
        busy = _bench_creator(f"{BENCH_PREFIX}-busy@bench.local")
        existing = GiftEvent.objects.filter(creator=busy).count()
        if existing < gifts:
            started = time.perf_counter()
            _make_gifts(busy, gifts - existing)
            self.stdout.write(f"Made {gifts - existing:,} gifts in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        folded = earnings_rollup_all(now=_far_future())
        self.stdout.write(f"Rolled up {folded:,} gift events in {time.perf_counter() - started:.1f} s")
        figures = {"gifts": GiftEvent.objects.filter(creator=busy).count(), "repeat": repeat}
        for name, creator in (("empty", empty), ("busy", busy)):
            figures[f"selector_{name}_ms"] = _median_ms(lambda creator=creator: creator_dashboard(creator), repeat)
            client = Client()
            client.force_login(creator)
            figures[f"http_{name}_ms"] = _median_ms(lambda client=client: _get_dashboard(client), repeat)
        figures["selector_ratio"] = round(figures["selector_busy_ms"] / figures["selector_empty_ms"], 2)
        figures["http_ratio"] = round(figures["http_busy_ms"] / figures["http_empty_ms"], 2)
        figures["ledger_audit_ok"] = ledger_audit_run().ok
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(figures, indent=2))
        self.stdout.write(f"\nCreator dashboard, median of {repeat} (busy creator: {figures['gifts']:,} gifts)")
        self.stdout.write(f"{'':<22}{'empty':>12}{'busy':>12}{'busy / empty':>15}")
        for kind in ("selector", "http"):
            empty_ms, busy_ms, ratio = (figures[f"{kind}_{key}"] for key in ("empty_ms", "busy_ms", "ratio"))
            self.stdout.write(f"{kind + ' ms':<22}{empty_ms:>12.2f}{busy_ms:>12.2f}{ratio:>15.2f}")
        self.stdout.write(f"ledger_audit_ok: {figures['ledger_audit_ok']}   written to {output}")


def _far_future():
    import datetime

    from django.utils import timezone

    return timezone.now() + datetime.timedelta(days=1)


def _median_ms(call, repeat: int) -> float:
    call()  # warm caches and connections
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 2)


def _get_dashboard(client: Client) -> None:
    response = client.get("/creator/", HTTP_HOST=settings.ALLOWED_HOSTS[0])
    if response.status_code != 200:
        raise RuntimeError(f"The dashboard answered {response.status_code}.")


def _bench_creator(email: str) -> User:
    import datetime

    user, _ = User.objects.get_or_create(
        email=email,
        defaults={"display_name": email.split("@")[0], "is_creator": True, "birth_date": datetime.date(1990, 1, 1)},
    )
    account_for_user(user, Asset.DIAMOND)
    return user


def _make_gifts(creator: User, count: int) -> None:
    """`count` gifts from a bench sender over the last 120 days: ledger transaction, 2 entries and the event each.

    Entries move diamonds from diamonds issued to the creator (the coin side of a real gift is left
    out: the dashboard reads only diamonds, gift events and roll-ups), so the ledger stays balanced.
    """
    import datetime

    from django.utils import timezone

    sender = _bench_creator(f"{BENCH_PREFIX}-sender@bench.local")
    gift = Gift.objects.order_by("coin_cost").first()
    stream = LiveStream.objects.create(
        creator=creator,
        title="Bench marathon",
        started_at=timezone.now() - datetime.timedelta(days=121),
        ended_at=timezone.now() - datetime.timedelta(minutes=5),
    )
    creator_account = account_for_user(creator, Asset.DIAMOND)
    issued = system_account(SystemAccount.DIAMONDS_ISSUED)
    batch = 200_000
    for start in range(0, count, batch):
        size = min(batch, count - start)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                _GIFTS_SQL,
                {
                    "n": size,
                    "stream": stream.pk,
                    "sender": sender.pk,
                    "creator": creator.pk,
                    "gift": gift.pk,
                    "creator_account": creator_account.pk,
                    "issued": issued.pk,
                    "prefix": f"{BENCH_PREFIX}:{stream.pk}:{start}:",
                },
            )


_GIFTS_SQL = """
WITH series AS (
    SELECT n, now() - interval '120 days' * random() - interval '2 minutes' AS at, 1 + (n %% 50) AS coins
      FROM generate_series(1, %(n)s) AS n
), tx AS (
    INSERT INTO wallet_ledgertransaction (idempotency_key, kind, memo, metadata, created_at)
    SELECT %(prefix)s || n, 'gift', 'bench gift', '{}'::jsonb, at FROM series
    RETURNING id, idempotency_key, created_at
), numbered AS (
    SELECT tx.id AS tx_id, tx.created_at, series.coins
      FROM tx JOIN series ON tx.idempotency_key = %(prefix)s || series.n
), entries AS (
    INSERT INTO wallet_ledgerentry (transaction_id, account_id, asset, amount, created_at)
    SELECT tx_id, %(creator_account)s, 'DIAMOND', coins, created_at FROM numbered
    UNION ALL
    SELECT tx_id, %(issued)s, 'DIAMOND', -coins, created_at FROM numbered
), deltas AS (
    INSERT INTO wallet_ledgerbalancedelta (account_id, amount)
    SELECT %(creator_account)s, SUM(coins) FROM numbered
    UNION ALL
    SELECT %(issued)s, -SUM(coins) FROM numbered
)
INSERT INTO gifting_giftevent (stream_id, sender_id, creator_id, gift_id, quantity, coins, diamonds, is_anonymous,
                               idempotency_key, ledger_transaction_id, created_at)
SELECT %(stream)s, %(sender)s, %(creator)s, %(gift)s, 1, coins, coins, false,
       'bench-' || tx_id, tx_id, created_at FROM numbered
"""
