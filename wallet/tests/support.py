"""Helpers the wallet's test modules share (and the other apps' tests, for the ledger helpers).

Fixtures live in conftest.py next to this module; this one holds plain functions and fakes.
"""

import json
from urllib.parse import parse_qs

import stripe
from django.db import connection
from django.urls import reverse

from wallet.ledger import ledger_credit, system_account
from wallet.models import (
    Asset,
    CoinPackage,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    PaymentWebhookEvent,
    SystemAccount,
    TopUp,
)
from wallet.providers.sandbox import SandboxProvider
from wallet.sandbox.models import SandboxSession

COIN, DIAMOND = Asset.COIN, Asset.DIAMOND
# The migrations that seed the catalogue (countries, packages, prices, per-coin rates), in order.
CATALOGUE_MIGRATIONS = ("0004_seed_catalogue", "0011_regional_currencies")


# --- The ledger ----------------------------------------------------------------------------------


def ledger_state() -> dict:
    """Everything a posting could change: row counts and every account's balance (column plus deltas)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.id, a.balance + COALESCE((SELECT SUM(d.amount) FROM wallet_ledgerbalancedelta d "
            "WHERE d.account_id = a.id), 0) FROM wallet_ledgeraccount a"
        )
        balances = dict(cursor.fetchall())
    return {
        "transactions": LedgerTransaction.objects.count(),
        "entries": LedgerEntry.objects.count(),
        "balances": balances,
    }


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
