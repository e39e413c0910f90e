"""The PayPal Payouts provider, fully offline: a fake PayPal stands in for api-m.paypal.com through the
injectable transport. It keeps batches unique per sender_batch_id, as PayPal does, so a retried
submission after a lost answer is seen to pay once."""

import base64
import json
import re
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from coinsite.accounts.tests.factories import enroll_totp
from coinsite.lib import access
from payouts import paypal, services
from payouts.exchange import rates_load
from payouts.forms import PayoutMethodForm
from payouts.models import Payout, PayoutMethod, PayoutStatus
from payouts.paypal import PayPalPayoutProvider
from payouts.providers import PayoutProviderError
from payouts.tests.support import add_method, committing, give_diamonds, money_state
from wallet.audit import ledger_audit_run
from wallet.ledger import user_balance
from wallet.models import Asset

pytestmark = pytest.mark.django_db
CLIENT_ID, CLIENT_SECRET = "AcL1ent-Id", "EcL1ent-Secret"
BANK_REFUSAL = (
    "Payouts are sent with PayPal, which cannot pay into a bank account: "
    "add a PayPal account as your payout method instead."
)
payout_process = committing(services.payout_process)
payouts_sweep = committing(services.payouts_sweep)


class FakePayPal:
    """PayPal's Payouts API as far as Coinsite uses it: client-credentials tokens, batches unique per
    sender_batch_id (a repeat gets PayPal's 400 pointing at the first batch) and batch status."""

    def __init__(self):
        self.requests: list[dict] = []
        self.batches: dict[str, dict] = {}  # sender_batch_id -> batch
        self.token = "A21AA-token-1"
        self.answers: list = []  # canned (status, body) or exceptions for the next API calls
        self.lose_next_answer = False

    def __call__(self, method, url, headers, body, timeout):
        self.requests.append({"method": method, "url": url, "headers": dict(headers), "body": body})
        path = urlsplit(url).path
        if path == "/v1/oauth2/token":
            return self._answer(200, {"access_token": self.token, "token_type": "Bearer", "expires_in": 32400})
        if headers.get("Authorization") != f"Bearer {self.token}":
            return self._answer(401, {"error": "invalid_token"})
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return self._answer(*answer)
        if method == "POST" and path == "/v1/payments/payouts":
            return self._create(json.loads(body))
        return self._get(path.rsplit("/", 1)[1])

    def _create(self, request: dict):
        sender_batch_id = request["sender_batch_header"]["sender_batch_id"]
        if sender_batch_id in self.batches:
            first = self.batches[sender_batch_id]["id"]
            return self._answer(
                400,
                {
                    "name": "USER_BUSINESS_ERROR",
                    "message": "User business error.",
                    "details": [
                        {
                            "field": "SENDER_BATCH_ID",
                            "location": "body",
                            "issue": "Batch with given sender_batch_id already exists",
                        }
                    ],
                    "links": [{"href": f"https://api-m.sandbox.paypal.com/v1/payments/payouts/{first}", "rel": "self"}],
                },
            )
        batch_id = f"5UXD2E8A7EB{len(self.batches):02d}"
        self.batches[sender_batch_id] = {"id": batch_id, "request": request, "batch": "PENDING", "item": "PENDING"}
        if self.lose_next_answer:  # PayPal took it, but the answer never reached us
            self.lose_next_answer = False
            raise TimeoutError("The read operation timed out")
        return self._answer(201, {"batch_header": {"payout_batch_id": batch_id, "batch_status": "PENDING"}})

    def _get(self, batch_id: str):
        batch = next((batch for batch in self.batches.values() if batch["id"] == batch_id), None)
        if batch is None:
            return self._answer(404, {"name": "INVALID_RESOURCE_ID", "message": "Requested resource ID was not found."})
        return self._answer(
            200,
            {
                "batch_header": {"payout_batch_id": batch_id, "batch_status": batch["batch"]},
                "items": [{"payout_batch_id": batch_id, "transaction_status": batch["item"]}],
            },
        )

    def settle(self, *, batch="SUCCESS", item="SUCCESS"):
        for record in self.batches.values():
            record["batch"], record["item"] = batch, item

    @staticmethod
    def _answer(status, body):
        return status, json.dumps(body).encode()

    def api_calls(self, method=None):
        return [
            request
            for request in self.requests
            if "/oauth2/" not in request["url"] and (method is None or request["method"] == method)
        ]


@pytest.fixture
def fake():
    paypal._tokens.clear()
    yield FakePayPal()
    paypal._tokens.clear()


@pytest.fixture
def paypal_provider(settings, fake, monkeypatch):
    """PAYOUT_PROVIDER=paypal (PayPal's sandbox API), talking to the fake."""
    settings.PAYOUT_PROVIDER = "paypal"
    settings.PAYPAL_CLIENT_ID, settings.PAYPAL_CLIENT_SECRET, settings.PAYPAL_MODE = CLIENT_ID, CLIENT_SECRET, "sandbox"
    monkeypatch.setattr(paypal, "urllib_transport", fake)
    rates_load()
    return fake


def requested(creator, method, diamonds=10_000, key="pp-1") -> Payout:
    """A payout requested but not processed yet (its task runs only when the test says so)."""
    return services.payout_request(creator=creator, method_id=method.pk, diamonds=diamonds, idempotency_key=key)


# --- The requests PayPal receives ------------------------------------------------------------------


def test_a_payout_is_one_batch_keyed_by_the_payout_and_paypals_batch_id_is_kept(bob, paypal_provider):
    give_diamonds(bob, 20_000)
    method = add_method(bob, kind="paypal", currency="USD", paypal_email="bob.payouts@example.com")
    payout = requested(bob, method)

    assert payout_process(payout_id=payout.pk) == PayoutStatus.SUBMITTED

    payout.refresh_from_db()
    assert payout.provider == "paypal"
    assert payout.provider_reference == "5UXD2E8A7EB00"
    token_request, create = paypal_provider.requests
    assert token_request["method"] == "POST"
    assert token_request["url"] == "https://api-m.sandbox.paypal.com/v1/oauth2/token"
    assert token_request["body"] == b"grant_type=client_credentials"
    assert (
        token_request["headers"]["Authorization"] == "Basic " + base64.b64encode(b"AcL1ent-Id:EcL1ent-Secret").decode()
    )
    assert create["url"] == "https://api-m.sandbox.paypal.com/v1/payments/payouts"
    assert create["headers"]["Authorization"] == "Bearer A21AA-token-1"
    assert create["headers"]["PayPal-Request-Id"] == str(payout.provider_key)
    assert json.loads(create["body"]) == {
        "sender_batch_header": {
            "sender_batch_id": str(payout.provider_key),
            "recipient_type": "EMAIL",
            "email_subject": "You have a payout from Coinsite",
            "email_message": "Your Coinsite earnings are on their way to this PayPal account.",
        },
        "items": [
            {
                "recipient_type": "EMAIL",
                "receiver": "bob.payouts@example.com",
                "amount": {"value": "49.00", "currency": "USD"},
                "sender_item_id": str(payout.provider_key),
                "note": f"Coinsite payout {payout.public_id}",
            }
        ],
    }
    assert user_balance(bob, Asset.DIAMOND) == 10_000  # in clearing until PayPal says it is paid


def test_yen_are_sent_without_decimals(bob, paypal_provider):
    give_diamonds(bob, 10_000)
    payout = requested(bob, add_method(bob, kind="paypal", currency="JPY"))

    payout_process(payout_id=payout.pk)

    [create] = paypal_provider.api_calls("POST")
    assert json.loads(create["body"])["items"][0]["amount"] == {"value": "7418", "currency": "JPY"}


def test_live_mode_talks_to_the_live_api(fake):
    provider = PayPalPayoutProvider(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, mode="live", transport=fake)

    with pytest.raises(PayoutProviderError, match="HTTP 404"):
        provider.status("NOSUCHBATCH")

    assert [request["url"] for request in fake.requests] == [
        "https://api-m.paypal.com/v1/oauth2/token",
        "https://api-m.paypal.com/v1/payments/payouts/NOSUCHBATCH",
    ]


def test_the_token_is_reused_and_renewed_once_paypal_refuses_it(fake):
    provider = PayPalPayoutProvider(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, mode="sandbox", transport=fake)
    fake.batches["k"] = {"id": "B1", "batch": "PENDING", "item": "PENDING"}

    provider.status("B1")
    provider.status("B1")
    fake.token = "A21AA-token-2"  # PayPal expired the first token early
    provider.status("B1")

    assert [urlsplit(request["url"]).path for request in fake.requests] == [
        "/v1/oauth2/token",
        "/v1/payments/payouts/B1",
        "/v1/payments/payouts/B1",
        "/v1/payments/payouts/B1",  # 401 with the old token
        "/v1/oauth2/token",
        "/v1/payments/payouts/B1",
    ]


@pytest.mark.parametrize("missing", ["client_id", "client_secret", "mode"])
def test_the_provider_needs_its_credentials_and_mode(settings, missing):
    settings.PAYPAL_CLIENT_ID, settings.PAYPAL_CLIENT_SECRET, settings.PAYPAL_MODE = "", "", ""
    options = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "mode": "sandbox", missing: ""}

    with pytest.raises(ImproperlyConfigured, match="PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET and PAYPAL_MODE"):
        PayPalPayoutProvider(**options)


# --- Paying exactly once ---------------------------------------------------------------------------


def test_a_lost_answer_then_a_retry_pays_once(bob, paypal_provider):
    give_diamonds(bob, 20_000)
    payout = requested(bob, add_method(bob))
    paypal_provider.lose_next_answer = True

    with pytest.raises(PayoutProviderError, match="Could not reach PayPal"):
        payout_process(payout_id=payout.pk)  # the task fails here and Celery retries it
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PROCESSING
    assert payout.provider_reference == ""

    assert payout_process(payout_id=payout.pk) == PayoutStatus.SUBMITTED

    payout.refresh_from_db()
    assert len(paypal_provider.batches) == 1
    assert payout.provider_reference == paypal_provider.batches[str(payout.provider_key)]["id"]
    assert [
        json.loads(call["body"])["sender_batch_header"]["sender_batch_id"] for call in paypal_provider.api_calls("POST")
    ] == [str(payout.provider_key)] * 2
    paypal_provider.settle()
    Payout.objects.filter(pk=payout.pk).update(updated_at=payout.updated_at - services.stuck_after() * 2)
    payouts_sweep()
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    assert user_balance(bob, Asset.DIAMOND) == 10_000
    assert ledger_audit_run().ok


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((503, {"name": "SERVICE_UNAVAILABLE", "message": "Service Unavailable."}), "HTTP 503"),
        ((422, {"name": "INSUFFICIENT_FUNDS", "message": "Sender does not have sufficient funds."}), "HTTP 422"),
        ((429, {"name": "RATE_LIMIT_REACHED", "message": "Too many requests."}), "HTTP 429"),
        (ConnectionResetError("Connection reset by peer"), "Could not reach PayPal"),
    ],
)
def test_outages_and_our_own_balance_leave_the_payout_waiting_for_a_retry(bob, paypal_provider, answer, message):
    give_diamonds(bob, 20_000)
    payout = requested(bob, add_method(bob))
    paypal_provider.answers.append(answer)
    mail.outbox.clear()

    with pytest.raises(PayoutProviderError, match=message):
        payout_process(payout_id=payout.pk)

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PROCESSING
    assert user_balance(bob, Asset.DIAMOND) == 10_000
    assert mail.outbox == []


# --- Outcomes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("batch", "item", "state"),
    [
        ("SUCCESS", "SUCCESS", "paid"),
        ("PROCESSING", "PENDING", "pending"),
        ("SUCCESS", "UNCLAIMED", "pending"),
        ("SUCCESS", "ONHOLD", "pending"),
        ("SUCCESS", "FAILED", "failed"),
        ("SUCCESS", "RETURNED", "failed"),
        ("SUCCESS", "BLOCKED", "failed"),
        ("DENIED", "PENDING", "failed"),
        ("CANCELED", "PENDING", "failed"),
    ],
)
def test_paypals_states_map_to_ours(fake, batch, item, state):
    provider = PayPalPayoutProvider(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, mode="sandbox", transport=fake)
    fake.batches["k"] = {"id": "B1", "batch": batch, "item": item}

    assert provider.status("B1") == state


def test_a_payout_paypal_reports_failed_returns_the_diamonds_and_emails_the_creator(bob, paypal_provider):
    give_diamonds(bob, 20_000)
    payout = requested(bob, add_method(bob))
    payout_process(payout_id=payout.pk)
    paypal_provider.settle(item="RETURNED")
    Payout.objects.filter(pk=payout.pk).update(updated_at=payout.updated_at - services.stuck_after() * 2)
    mail.outbox.clear()

    payouts_sweep()

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED
    assert user_balance(bob, Asset.DIAMOND) == 20_000
    assert [message.subject for message in mail.outbox] == ["Your payout of 10,000 diamonds did not go through"]
    assert ledger_audit_run().ok


def test_a_payout_paypal_refuses_fails_with_its_reason_and_returns_the_diamonds(bob, paypal_provider):
    give_diamonds(bob, 20_000)
    payout = requested(bob, add_method(bob))
    paypal_provider.answers.append(
        (
            422,
            {
                "name": "UNPROCESSABLE_ENTITY",
                "message": "The requested action could not be performed.",
                "details": [{"issue": "RECEIVER_UNREGISTERED", "description": "Receiver is unregistered."}],
            },
        )
    )
    mail.outbox.clear()

    assert payout_process(payout_id=payout.pk) == PayoutStatus.FAILED

    payout.refresh_from_db()
    assert payout.failure_reason == "PayPal refused the payout: Receiver is unregistered."
    assert user_balance(bob, Asset.DIAMOND) == 20_000
    assert [message.subject for message in mail.outbox] == ["Your payout of 10,000 diamonds did not go through"]
    assert ledger_audit_run().ok


# --- What PayPal cannot pay ------------------------------------------------------------------------


def test_a_bank_account_is_not_offered_and_not_accepted_with_paypal_payouts(bob, paypal_provider):
    form = PayoutMethodForm()

    assert form.fields["kind"].choices == [("paypal", "PayPal")]
    assert [code for code, _label in form.fields["currency"].choices] == [
        "AUD",
        "CAD",
        "EUR",
        "GBP",
        "JPY",
        "MXN",
        "USD",
    ]
    with pytest.raises(services.PayoutError) as refused:
        add_method(bob, kind="bank", currency="EUR")
    assert str(refused.value) == BANK_REFUSAL
    with pytest.raises(services.PayoutError) as refused:
        add_method(bob, kind="paypal", currency="KRW")
    assert str(refused.value) == (
        "Payouts are sent with PayPal, which cannot pay in KRW: "
        "choose one of AUD, CAD, EUR, GBP, JPY, MXN, USD for your payout method."
    )
    assert PayoutMethod.objects.count() == 0
    assert mail.outbox == []


def test_the_method_page_offers_paypal_only(client, bob, paypal_provider):
    enroll_totp(bob)
    client.force_login(bob)
    session = client.session
    session[access.SUDO_SESSION_KEY] = 2**40
    session.save()

    body = client.get(reverse("payouts:method-add")).content.decode()

    assert re.findall(r'name="kind" value="(\w+)"', body) == ["paypal"]


def test_a_request_to_a_bank_account_is_refused_and_changes_nothing(bob, settings, paypal_provider):
    give_diamonds(bob, 20_000)
    settings.PAYOUT_PROVIDER = "sandbox"
    bank = add_method(bob, kind="bank", currency="EUR")  # added before payouts moved to PayPal
    settings.PAYOUT_PROVIDER = "paypal"
    before = money_state()

    with pytest.raises(services.PayoutError) as refused:
        requested(bob, bank)

    assert str(refused.value) == BANK_REFUSAL
    assert money_state() == before
    assert paypal_provider.requests == []


def test_a_paypal_payout_to_a_bank_account_fails_clearly_and_returns_the_diamonds(bob, settings, paypal_provider):
    """One that got past the request (queued to a bank account, then its payout moved to PayPal)."""
    give_diamonds(bob, 20_000)
    settings.PAYOUT_PROVIDER = "sandbox"
    payout = requested(bob, add_method(bob, kind="bank", currency="EUR"))
    Payout.objects.filter(pk=payout.pk).update(provider="paypal")
    settings.PAYOUT_PROVIDER = "paypal"
    mail.outbox.clear()

    assert payout_process(payout_id=payout.pk) == PayoutStatus.FAILED

    payout.refresh_from_db()
    assert payout.failure_reason == BANK_REFUSAL
    assert user_balance(bob, Asset.DIAMOND) == 20_000
    assert [message.subject for message in mail.outbox] == ["Your payout of 10,000 diamonds did not go through"]
    assert paypal_provider.requests == []
    assert ledger_audit_run().ok
