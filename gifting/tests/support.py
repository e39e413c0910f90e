"""Helpers for the gifting tests: gifts, coins, a snapshot of everything a gift could change, threads."""

import datetime
import importlib
import re
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from django.apps import apps
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from gifting.models import Gift, GiftEvent
from wallet.ledger import account_for_user, ledger_credit, ledger_post, system_account
from wallet.models import Asset, CoinRate, Country, SystemAccount
from wallet.tests.support import catalogue_ensure, ledger_state

COUNTRIES = [  # code, currency, gifting enabled
    ("US", "USD", True),
    ("GB", "GBP", True),
    ("JP", "JPY", True),
    ("CN", "USD", False),
]


def ensure_countries() -> None:
    """The countries the tests use (transactional tests flush the ones migrations seed)."""
    for code, currency, gifting_enabled in COUNTRIES:
        Country.objects.update_or_create(code=code, defaults={"currency": currency, "gifting_enabled": gifting_enabled})


def catalogue_reseed() -> None:
    """Coin prices (wallet migrations 0004 and 0011) and the gift catalogue (gifting migration 0003), re-seeded
    if a transactional test flushed them."""
    if not CoinRate.objects.exists():
        Country.objects.all().delete()  # the ones ensure_countries made lack the seeds' methods and reasons
        catalogue_ensure()
    if not Gift.objects.exists():
        importlib.import_module("gifting.migrations.0003_seed_gifts").seed(apps, None)


def make_gift(*, slug: str, coin_cost: int, **fields) -> Gift:
    fields.setdefault("name", slug.replace("-", " ").title())
    return Gift.objects.create(slug=slug, coin_cost=coin_cost, artwork=f"gifts/{slug}.svg", **fields)


def fund(user, coins: int) -> None:
    """Give `user` coins as a top-up would."""
    ledger_credit(
        account=account_for_user(user, Asset.COIN),
        asset=Asset.COIN,
        amount=coins,
        idempotency_key=f"topup:{uuid.uuid4()}",
        kind="topup",
    )


def snapshot() -> dict:
    """Everything a gift could change: ledger rows, gift events, and every account's balance."""
    return {
        **ledger_state(),
        "events": GiftEvent.objects.count(),
    }


def run_in_threads(jobs: list, *, threads: int = 20) -> list:
    """Run zero-argument jobs on real threads (one connection each), released together; results in order.

    A job's exception is returned as its result, so a test can count outcomes.
    """
    start = threading.Barrier(min(threads, len(jobs)))
    local = threading.local()

    def run(job):
        try:
            if not getattr(local, "started", False):
                local.started = True
                start.wait(timeout=30)
            return job()
        except Exception as error:
            return error
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(run, jobs))


def outcomes(results: list) -> Counter:
    return Counter(type(result).__name__ for result in results)


def key_in(html: str) -> str:
    """The idempotency key of the gift form on a page."""
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert key is not None, "no gift form on the page"
    return key.group(1)


def send_form(client, stream, gift, *, key, quantity=1, anonymous=False, confirmed=False):
    """Post the stream page's gift form."""
    data = {"gift": gift.pk, "quantity": quantity, "idempotency_key": key}
    if anonymous:
        data["anonymous"] = "on"
    if confirmed:
        data["confirmed"] = "True"
    return client.post(reverse("gifting:send", args=[stream.pk]), data)


# Measured 11 for a logged-in viewer with gifts, chat and a leaderboard (the chat is one read, and one read
# asks whether the viewer may gift at all, so the tray can say why not; which gifts are big comes with the
# feed, and the leaders' names with their totals); a tap, a chat message or a live event never renders the
# page again.
STREAM_PAGE_QUERY_BUDGET = 11
# The feed fragment (clients without event streams): the stream, its latest gifts, chat, leaderboard and
# goal; a logged-in viewer's session and user are two more.
FEED_FRAGMENT_QUERY_BUDGET = 5


def make_gift_event(
    *, sender, creator, stream, gift, quantity: int = 1, at: datetime.datetime | None = None, anonymous: bool = False
) -> GiftEvent:
    """A gift as the gift service records it (ledger transaction plus event), at `at`: the service dates gifts now."""
    at = at or timezone.now()
    coins = gift.coin_cost * quantity
    transaction = ledger_post(
        idempotency_key=f"test-gift:{uuid.uuid4()}",
        kind="gift",
        posted_at=at,
        lines=[
            (account_for_user(sender, Asset.COIN), Asset.COIN, -coins),
            (system_account(SystemAccount.COINS_CONSUMED), Asset.COIN, coins),
            (system_account(SystemAccount.DIAMONDS_ISSUED), Asset.DIAMOND, -coins),
            (account_for_user(creator, Asset.DIAMOND), Asset.DIAMOND, coins),
        ],
    )
    return GiftEvent.objects.create(
        stream=stream,
        sender=sender,
        creator=creator,
        gift=gift,
        quantity=quantity,
        coins=coins,
        diamonds=coins,
        is_anonymous=anonymous,
        idempotency_key=str(uuid.uuid4()),
        ledger_transaction=transaction,
        created_at=at,
    )
