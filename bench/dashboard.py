"""The creator-dashboard benchmark's data: a bench creator with `count` gifts made in SQL (a ledger
transaction, two entries and a gift event each, spread over 120 days), and timing helpers."""

import datetime
import statistics
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from coinsite.accounts.models import User
from gifting.models import Gift, LiveStream
from wallet.ledger import account_for_user, ledger_rollup, system_account
from wallet.models import Asset, SystemAccount

BENCH_PREFIX = "bench-dashboard"


def far_future() -> datetime.datetime:
    """A moment after every bench gift: rolling up "as of" it folds them all."""
    return timezone.now() + datetime.timedelta(days=1)


def median_ms(call: Callable[[], object], repeat: int) -> float:
    """The median wall time of `repeat` calls, after one warm-up call."""
    call()  # warm caches and connections
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 2)


def dashboard_get(client: Client) -> None:
    response = client.get("/creator/", HTTP_HOST=settings.ALLOWED_HOSTS[0])
    if response.status_code != 200:
        raise RuntimeError(f"The dashboard answered {response.status_code}.")


def bench_creator(email: str) -> User:
    user, _ = User.objects.get_or_create(
        email=email,
        defaults={"display_name": email.split("@")[0], "is_creator": True, "birth_date": datetime.date(1990, 1, 1)},
    )
    account_for_user(user, Asset.DIAMOND)
    return user


def gifts_make(creator: User, count: int) -> None:
    """`count` gifts from a bench sender over the last 120 days: ledger transaction, 2 entries and the event each.

    Entries move diamonds from diamonds issued to the creator (the coin side of a real gift is left
    out: the dashboard reads only diamonds, gift events and roll-ups), so the ledger stays balanced.
    """
    sender = bench_creator(f"{BENCH_PREFIX}-sender@bench.local")
    gift = Gift.objects.order_by("coin_cost")[0]  # the catalogue migration always seeds gifts
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
    # What the periodic roll-up does within a minute: the creator's balance is then its cached column.
    ledger_rollup(account=creator_account)
    ledger_rollup(account=issued)


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
)
INSERT INTO gifting_giftevent (stream_id, sender_id, creator_id, gift_id, quantity, coins, diamonds, is_anonymous,
                               idempotency_key, ledger_transaction_id, created_at)
SELECT %(stream)s, %(sender)s, %(creator)s, %(gift)s, 1, coins, coins, false,
       'bench-' || tx_id, tx_id, created_at FROM numbered
"""
