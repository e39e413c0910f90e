"""Helpers the wallet's test modules share (and the other apps' tests, for the ledger helpers).

Fixtures live in conftest.py next to this module; this one holds plain functions and fakes.
"""

import datetime
import importlib
import json
import time
import uuid
from urllib.parse import parse_qs

import stripe
from django.apps import apps
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from wallet.ledger import accounts_with_balance, ledger_credit, system_account, user_balance
from wallet.models import (
    Asset,
    CoinPackage,
    Country,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    PaymentWebhookEvent,
    SystemAccount,
    TopUp,
    TopUpStatus,
)
from wallet.providers import CheckoutRequest
from wallet.providers.base import PaymentEvent
from wallet.providers.sandbox import SandboxProvider
from wallet.providers.stripe import StripeProvider
from wallet.sandbox.models import SandboxSession
from wallet.sandbox.webhooks import sign
from wallet.services import topup_apply_event

COIN, DIAMOND = Asset.COIN, Asset.DIAMOND
# The migrations that seed the catalogue (countries, packages, prices, per-coin rates), in order.
CATALOGUE_MIGRATIONS = ("0004_seed_catalogue", "0011_regional_currencies")


# --- The ledger ----------------------------------------------------------------------------------


def ledger_state() -> dict:
    """Everything a posting could change: row counts and every account's balance (column plus pending entries)."""
    balances = dict(accounts_with_balance().values_list("id", "current_balance"))
    return {
        "transactions": LedgerTransaction.objects.count(),
        "entries": LedgerEntry.objects.count(),
        "balances": balances,
    }


def rows_read(table: str) -> int:
    """Rows of `table` read so far in the current transaction, through any of its indexes or a sequential scan."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_stat_get_xact_tuples_returned(indrelid) + SUM(pg_stat_get_xact_tuples_returned(indexrelid)) "
            "FROM pg_index WHERE indrelid = %s::regclass GROUP BY indrelid",
            [table],
        )
        return cursor.fetchone()[0]


def analyze(*tables: str) -> None:
    """Statistics for `tables` as autovacuum keeps them once a bulk load is in: rows a test writes stay invisible to
    autovacuum until the test's transaction ends, and the statistics earlier tests left behind may describe an empty
    table. Seen in a whole-suite run on the embedded PostgreSQL 17: `reltuples` 0 over 393 pages, from a vacuum run
    between two tests, made the planner take every read of the entries for one row and pick any index that matched.
    Two rows-read tests then walked all of an account's 5,002 and 20,004 entries. A ledger in use never looks
    empty to the planner: its entries are only ever appended."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(connection.ops.quote_name(table) for table in tables)}")


def entries_sum(account: LedgerAccount) -> int:
    return sum(LedgerEntry.objects.filter(account=account).values_list("amount", flat=True))


def fund(account: LedgerAccount, amount: int, key: str) -> LedgerTransaction:
    return ledger_credit(account=account, asset=account.asset, amount=amount, idempotency_key=key, kind="topup")


def gift_lines(*, viewer_coins: LedgerAccount, creator_diamonds: LedgerAccount, amount: int) -> list:
    """A gift of `amount` coins earning the creator `amount` diamonds, as the gift service posts it."""
    return [
        (viewer_coins, COIN, -amount),
        (system_account(SystemAccount.COINS_CONSUMED), COIN, amount),
        (system_account(SystemAccount.DIAMONDS_ISSUED), DIAMOND, -amount),
        (creator_diamonds, DIAMOND, amount),
    ]


# --- The payment sandbox: its webhooks go to an outbox, not the network ----------------------------


SANDBOX_SECRET = "test-sandbox-secret"

SANDBOX_WEBHOOK_URL = "https://coinsite.test/wallet/webhooks/sandbox/"


class Outbox:
    """Stands in for the network: records every webhook POST, answers with queued statuses
    (200 when none are queued) or raises queued exceptions."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.sent = []
        self.answers = []

    def __call__(self, url, body, headers, timeout):
        self.sent.append({"url": url, "body": body, "headers": dict(headers), "timeout": timeout})
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, Exception):
            raise answer
        return answer

    def events(self):
        """Every delivery, verified and parsed by the provider client, as Coinsite would."""
        provider = SandboxProvider(webhook_secret=SANDBOX_SECRET)
        return [
            event for sent in self.sent for event in provider.webhook_parse(body=sent["body"], headers=sent["headers"])
        ]


OUTBOX = Outbox()

CARD = {"method": "card", "expiry": "12 / 39", "cvc": "123"}
SUCCESS_CARD = {**CARD, "card_number": "4242 4242 4242 4242"}


def sandbox_outbox_install(settings) -> Outbox:
    """Sandbox webhooks recorded in OUTBOX (emptied first) instead of sent; `settings` is pytest-django's."""
    OUTBOX.reset()
    settings.SANDBOX_WEBHOOK_TRANSPORT = "wallet.tests.support.OUTBOX"
    settings.SANDBOX_WEBHOOK_URL = SANDBOX_WEBHOOK_URL
    settings.SANDBOX_WEBHOOK_SECRET = SANDBOX_SECRET
    settings.PAYMENT_CHECKOUT_MINUTES = 60
    return OUTBOX


def catalogue_ensure() -> None:
    """The countries, packages and prices migrations 0004 and 0011 seed. Tests with real transactions start
    from flushed tables (and serialized_rollback cannot restore them once Playwright runs an event
    loop in the test thread), so those tests put the catalogue back with the migrations' own code."""
    if not Country.objects.exists():
        for migration in CATALOGUE_MIGRATIONS:
            importlib.import_module(f"wallet.migrations.{migration}").seed(apps, None)


# --- Stripe, offline: a fake HTTP client and webhooks signed with the SDK's own helper ----------------


STRIPE_WEBHOOK_SECRET = "whsec_test_secret_for_coinsite"


class FakeStripeHTTP(stripe.HTTPClient):
    """Records each request and answers with canned (status, JSON) responses."""

    name = "fake"

    def __init__(self, *responses):
        super().__init__()
        self.responses = list(responses)
        self.requests = []

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        self.requests.append({"method": method, "url": url, "headers": dict(headers), "body": post_data})
        status, body = self.responses.pop(0)
        return json.dumps(body), status, {"Request-Id": f"req_{len(self.requests)}"}

    def close(self):
        pass

    def form(self, index=-1):
        """The last request's form body, flattened as Stripe encodes it."""
        return {key: values[0] for key, values in parse_qs(self.requests[index]["body"]).items()}


def checkout_session_json(**overrides):
    session = {
        "id": "cs_test_a1b2c3",
        "object": "checkout.session",
        "url": "https://checkout.stripe.com/c/pay/cs_test_a1b2c3",
        "status": "open",
        "payment_status": "unpaid",
        "mode": "payment",
        "amount_total": 999,
        "currency": "usd",
        "client_reference_id": "tu_abc123",
        "metadata": {"reference": "tu_abc123"},
        "expires_at": 1_900_000_000,
        "customer_details": {"email": "alice@example.com", "address": {"country": "US"}},
    }
    return {**session, **overrides}


def make_request(**overrides):
    """A checkout request as `topup_start` makes one, for the providers' own tests."""
    fields = {
        "reference": "tu_abc123",
        "amount": Money("9.99", "USD"),
        "description": "700 coins",
        "customer_email": "alice@example.com",
        "payment_method": "card",
        "success_url": "https://coinsite.example/wallet/topups/tu_abc123/return/",
        "cancel_url": "https://coinsite.example/wallet/topups/tu_abc123/cancelled/",
        "idempotency_key": "topup-42-checkout",
    }
    return CheckoutRequest(**{**fields, **overrides})


def provider_with(*responses):
    """A Stripe provider whose HTTP client answers with `responses`; returns (provider, client)."""
    http = FakeStripeHTTP(*responses)
    return StripeProvider(api_key="sk_test_123", webhook_secret=STRIPE_WEBHOOK_SECRET, http_client=http), http


def signed(event: dict, *, secret=STRIPE_WEBHOOK_SECRET, timestamp=None):
    body = json.dumps(event)
    signature = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    return body.encode(), {"Stripe-Signature": signature}


def stripe_event(event_type, *, event_id="evt_1", created=1_800_000_000, **session_fields):
    return {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": created,
        "livemode": False,
        "api_version": "2026-10-28.endive",
        "data": {"object": checkout_session_json(**session_fields)},
    }


# --- Top-ups -------------------------------------------------------------------------------------


START_URL = reverse("wallet:topup-start")
# Where providers deliver their webhooks to us.
SANDBOX_WEBHOOK_PATH = reverse("wallet:webhook", args=["sandbox"])
STRIPE_WEBHOOK_PATH = reverse("wallet:webhook", args=["stripe"])


def package(coins: int) -> CoinPackage:
    return CoinPackage.objects.get(coins=coins)


def written() -> dict[str, int]:
    """Row counts of everything a top-up can write: compare before and after to prove nothing changed."""
    return {
        "topups": TopUp.objects.count(),
        "sandbox sessions": SandboxSession.objects.count(),
        "webhook events": PaymentWebhookEvent.objects.count(),
        "ledger transactions": LedgerTransaction.objects.count(),
        "ledger entries": LedgerEntry.objects.count(),
    }


def start(client, **data):
    """POST the Buy coins form; a package or custom amount plus a payment method."""
    return client.post(START_URL, {"payment_method": "card", **data})


def pay(client, topup: TopUp, capture, **data):
    """Pay on the sandbox's hosted page; its webhook goes to the outbox (not to us) on commit."""
    with capture(execute=True):
        return client.post(reverse("paysandbox:checkout", args=[topup.provider_session_id]), data)


def deliver_sent(client, sent: dict, capture):
    """POST a webhook the sandbox sent (captured in the outbox) to our endpoint, as the network would."""
    signature = sent["headers"]["Coinsite-Sandbox-Signature"]
    with capture(execute=True):
        return client.post(
            SANDBOX_WEBHOOK_PATH,
            data=sent["body"],
            content_type="application/json",
            headers={"Coinsite-Sandbox-Signature": signature},
        )


def pay_from_abroad(client, topup: TopUp, outbox: Outbox, capture) -> TopUp:
    """Pay `topup` on the sandbox's page with a card billed in GB (a US account's top-up) and deliver the
    webhook: the top-up is held for review, nothing credited."""
    pay(client, topup, capture, **SUCCESS_CARD, billing_country="GB")
    deliver_sent(client, outbox.sent[0], capture)
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.HELD
    return topup


# --- Webhooks to our endpoint --------------------------------------------------------------------


def sandbox_body(topup: TopUp, event_type: str = "payment.succeeded", *, event_id: str = "evt_1", **data) -> bytes:
    """A sandbox event for ``topup`` in the documented format (see wallet.sandbox.webhooks.event_payload)."""
    payload = {
        "id": event_id,
        "type": event_type,
        "created": int(time.time()),
        "data": {
            "session": topup.provider_session_id,
            "reference": str(topup.public_id),
            "amount": format(topup.amount.amount, "f"),
            "currency": topup.amount.currency.code,
            **data,
        },
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def post_sandbox(
    client, body: bytes, *, secret: str = SANDBOX_SECRET, timestamp: int | None = None, signature: str | None = None
):
    signature = (
        signature if signature is not None else sign(body, secret=secret, timestamp=timestamp or int(time.time()))
    )
    headers = {"Coinsite-Sandbox-Signature": signature} if signature else {}
    return client.post(SANDBOX_WEBHOOK_PATH, data=body, content_type="application/json", headers=headers)


def stripe_body(topup, event_type, *, event_id, **session):
    fields = {
        "id": topup.provider_session_id,
        "client_reference_id": str(topup.public_id),
        "metadata": {"reference": str(topup.public_id)},
        "amount_total": int(topup.amount.amount * 100),
        "currency": topup.amount.currency.code.lower(),
        **session,
    }
    return signed(stripe_event(event_type, event_id=event_id, **fields))


def post_stripe(client, capture, body, headers):
    with capture(execute=True):
        return client.post(STRIPE_WEBHOOK_PATH, data=body, content_type="application/json", headers=headers)


def assert_refused_and_nothing_written(response, *, topup, viewer, before, mailoutbox):
    """A 400 with a JSON error, no row written, the top-up still pending and nothing credited or mailed."""
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"error"}
    assert written() == before
    assert PaymentWebhookEvent.objects.count() == 0
    topup.refresh_from_db()
    assert (topup.status, topup.ledger_transaction) == (TopUpStatus.PENDING, None)
    assert user_balance(viewer, Asset.COIN) == 0
    assert mailoutbox == []


def topup_row(user, coins: int, *, amount: Money | None = None, **fields) -> TopUp:
    """A sandbox card top-up in the US, as the Buy coins form starts it (pending unless `fields` say otherwise)."""
    fields.setdefault("expires_at", timezone.now() + datetime.timedelta(hours=1))
    return TopUp.objects.create(
        user=user,
        coins=coins,
        amount=amount or Money("9.99", "USD"),
        country="US",
        payment_method="card",
        provider="sandbox",
        **fields,
    )


def paid_topup(user, coins: int) -> TopUp:
    """A top-up credited the way the provider's webhook credits it."""
    topup = topup_row(user, coins)
    outcome = topup_apply_event(
        provider_name="sandbox",
        event=PaymentEvent(
            event_id=f"evt-{uuid.uuid4()}",
            type="succeeded",
            reference=str(topup.public_id),
            provider_session_id="",
            amount=Money("9.99", "USD"),
            occurred_at=timezone.now(),
        ),
    )
    assert outcome == "credited"
    topup.refresh_from_db()
    return topup
