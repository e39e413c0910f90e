"""The sandbox payment provider: hosted checkout page, signed asynchronous webhooks, expiry."""

import datetime
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core.checks import run_checks
from django.db import IntegrityError
from django.utils import timezone
from djmoney.money import Money

from coinsite.celery import app
from wallet.providers import CheckoutRequest, ProviderError, WebhookRejected, get_provider
from wallet.providers.base import PAYMENT_METHODS
from wallet.providers.sandbox import SandboxProvider
from wallet.sandbox import tasks
from wallet.sandbox.models import SandboxSession
from wallet.sandbox.services import sandbox_webhook_resend
from wallet.sandbox.tasks import WEBHOOK_MAX_RETRIES, sandbox_expire_sessions
from wallet.sandbox.webhooks import sign, urllib_transport
from wallet.tests.support import CARD, SANDBOX_SECRET, SANDBOX_WEBHOOK_URL

SUCCESS_URL = "https://coinsite.test/wallet/topups/tu_1/return/"
CANCEL_URL = "https://coinsite.test/wallet/topups/tu_1/cancelled/"
State = SandboxSession.State


def checkout_request(**overrides):
    fields = {
        "reference": "tu_1",
        "amount": Money("9.99", "USD"),
        "description": "700 coins",
        "customer_email": "alice@example.com",
        "payment_method": "card",
        "success_url": SUCCESS_URL,
        "cancel_url": CANCEL_URL,
        "idempotency_key": "topup-1-checkout",
        "allowed_methods": PAYMENT_METHODS,  # a country that allows every method
    }
    return CheckoutRequest(**{**fields, **overrides})


@pytest.fixture
def session(db, outbox):
    checkout = SandboxProvider().checkout_start(checkout_request())
    return SandboxSession.objects.get(public_id=checkout.provider_session_id)


def url(session, query=""):
    return f"/sandbox-pay/checkout/{session.public_id}/{query}"


def pay(client, session, capture, **data):
    with capture(execute=True):
        return client.post(url(session), data)


# --- starting a checkout ------------------------------------------------------------------------


def test_checkout_start_opens_a_session(db, outbox):
    before = timezone.now()

    checkout = get_provider("sandbox").checkout_start(checkout_request())

    session = SandboxSession.objects.get()
    assert checkout.provider_session_id == session.public_id
    assert checkout.redirect_url == f"/sandbox-pay/checkout/{session.public_id}/"
    assert checkout.expires_at == session.expires_at
    assert (
        before + datetime.timedelta(minutes=59) < session.expires_at <= timezone.now() + datetime.timedelta(minutes=60)
    )
    assert session.state == State.OPEN
    assert session.reference == "tu_1"
    assert session.amount == Money("9.99", "USD")
    assert session.webhook_state == SandboxSession.WebhookState.NONE
    assert session.public_id.startswith("sbx_") and len(session.public_id) == 36


def test_checkout_start_is_idempotent_on_the_key(db, outbox):
    provider = SandboxProvider()

    first = provider.checkout_start(checkout_request())
    second = provider.checkout_start(checkout_request())

    assert first == second
    assert SandboxSession.objects.count() == 1


def test_reusing_a_key_for_another_payment_is_refused(db, outbox):
    provider = SandboxProvider()
    provider.checkout_start(checkout_request())

    with pytest.raises(ProviderError, match="already used") as raised:
        provider.checkout_start(checkout_request(amount=Money("19.99", "USD")))
    assert raised.value.retryable is False
    assert SandboxSession.objects.count() == 1


def test_checkout_start_refuses_unrounded_amounts_and_odd_urls(db, outbox):
    provider = SandboxProvider()

    with pytest.raises(ValueError, match="quantize"):
        provider.checkout_start(checkout_request(amount=Money("9.999", "USD")))
    with pytest.raises(ProviderError, match="Return URLs"):
        provider.checkout_start(checkout_request(success_url="javascript:alert(1)"))
    assert SandboxSession.objects.count() == 0


def test_jpy_session_keeps_whole_yen(db, outbox):
    checkout = SandboxProvider().checkout_start(checkout_request(amount=Money("1600", "JPY")))

    session = SandboxSession.objects.get(public_id=checkout.provider_session_id)
    assert session.price == Money("1600", "JPY")
    assert str(session.price.amount) == "1600"


# --- the hosted page ------------------------------------------------------------------------------


def test_page_is_marked_as_a_test_page_and_shows_the_order(client, session):
    response = client.get(url(session))

    assert response.status_code == 200
    html = response.content.decode()
    assert "TEST PAYMENT PAGE" in html
    assert "no real money moves" in html
    assert "Coinsite" in html
    assert "700 coins" in html
    assert "$9.99" in html
    assert '<html lang="en">' in html
    assert "<script" not in html and "style=" not in html  # nothing the strict CSP would block
    assert response.headers["Cache-Control"].startswith("max-age=0")


def test_card_form_fields_have_labels_and_autocomplete(client, session):
    html = client.get(url(session)).content.decode()

    for name, autocomplete in [("card_number", "cc-number"), ("expiry", "cc-exp"), ("cvc", "cc-csc")]:
        assert f'<label for="id_{name}">' in html
        assert f'id="id_{name}"' in html
        assert f'autocomplete="{autocomplete}"' in html
    assert "Cancel and return to Coinsite" in html


@pytest.mark.parametrize(
    ("method", "label"),
    [
        ("card", "Card"),
        ("paypal", "PayPal"),
        ("google_pay", "Google Pay"),
        ("apple_pay", "Apple Pay"),
        ("carrier_billing", "Carrier billing"),
    ],
)
def test_payer_can_pick_every_method(client, session, method, label):
    html = client.get(url(session, f"?method={method}")).content.decode()

    assert f'<a href="?method={method}" aria-current="true">{label}</a>' in html


def test_carrier_billing_fields_have_labels(client, session):
    html = client.get(url(session, "?method=carrier_billing")).content.decode()

    assert '<label for="id_phone">' in html
    assert '<label for="id_code">' in html
    assert 'autocomplete="one-time-code"' in html


def test_unknown_session_is_404(client, db):
    assert client.get("/sandbox-pay/checkout/sbx_nope/").status_code == 404


# --- card paths -----------------------------------------------------------------------------------


def test_success_card_pays_and_sends_one_signed_webhook(client, session, outbox, django_capture_on_commit_callbacks):
    response = pay(client, session, django_capture_on_commit_callbacks, card_number="4242 4242 4242 4242", **CARD)

    assert response.status_code == 302
    assert response.url == SUCCESS_URL
    session.refresh_from_db()
    assert session.state == State.PAID
    assert session.paid_with == "card"
    assert session.payer_detail == "Card ending 4242"
    assert session.webhook_state == SandboxSession.WebhookState.DELIVERED
    assert session.webhook_attempts == 1
    [sent] = outbox.sent
    assert sent["url"] == SANDBOX_WEBHOOK_URL
    assert sent["headers"]["Content-Type"] == "application/json"
    [event] = outbox.events()
    assert event.type == "succeeded"
    assert event.event_id == session.event_id
    assert event.reference == "tu_1"
    assert event.provider_session_id == session.public_id
    assert event.amount == Money("9.99", "USD")
    assert event.occurred_at == session.finished_at.replace(microsecond=0)


def test_webhook_payload_is_the_documented_json(client, session, outbox, django_capture_on_commit_callbacks):
    pay(
        client,
        session,
        django_capture_on_commit_callbacks,
        card_number="4242424242424242",
        billing_country="GB",
        **CARD,
    )

    session.refresh_from_db()
    assert json.loads(outbox.sent[0]["body"]) == {
        "id": session.event_id,
        "type": "payment.succeeded",
        "created": int(session.finished_at.timestamp()),
        "data": {
            "session": session.public_id,
            "reference": "tu_1",
            "amount": "9.99",
            "currency": "USD",
            "payment_country": "GB",
            "payment_method": "card",
        },
    }
    assert session.event_id.startswith("evt_")


def test_the_full_card_number_is_never_stored(client, session, django_capture_on_commit_callbacks):
    pay(
        client,
        session,
        django_capture_on_commit_callbacks,
        **{**CARD, "card_number": "4242424242424242", "cvc": "8642"},
    )

    row = SandboxSession.objects.filter(pk=session.pk).values().get()
    assert row["state"] == State.PAID
    assert row["payer_detail"] == "Card ending 4242"
    # Random ids and timestamps could contain any four digits by chance; the payer's text cannot.
    texts = [value for key, value in row.items() if isinstance(value, str) and key not in {"public_id", "event_id"}]
    assert not any("4242424242424242" in text or "8642" in text for text in texts)


def test_decline_card_fails_and_explains_it(client, session, outbox, django_capture_on_commit_callbacks):
    response = pay(client, session, django_capture_on_commit_callbacks, card_number="4000000000000002", **CARD)

    assert response.status_code == 302
    assert response.url == url(session)
    session.refresh_from_db()
    assert session.state == State.DECLINED
    assert [event.type for event in outbox.events()] == ["failed"]
    page = client.get(url(session)).content.decode()
    assert "Payment declined" in page
    assert f'href="{CANCEL_URL}"' in page


def test_challenge_card_asks_for_confirmation_then_pays(client, session, outbox, django_capture_on_commit_callbacks):
    response = pay(client, session, django_capture_on_commit_callbacks, card_number="4000 0000 0000 3220", **CARD)

    assert response.url == url(session)
    session.refresh_from_db()
    assert session.state == State.CHALLENGE
    assert outbox.sent == []
    page = client.get(url(session)).content.decode()
    assert "Confirm this payment" in page
    assert "TEST PAYMENT PAGE" in page

    response = pay(client, session, django_capture_on_commit_callbacks, action="approve")

    assert response.url == SUCCESS_URL
    session.refresh_from_db()
    assert session.state == State.PAID
    assert session.payer_detail == "Card ending 3220"
    assert [event.type for event in outbox.events()] == ["succeeded"]


def test_challenge_denied_declines(client, session, outbox, django_capture_on_commit_callbacks):
    pay(client, session, django_capture_on_commit_callbacks, card_number="4000000000003220", **CARD)

    response = pay(client, session, django_capture_on_commit_callbacks, action="deny")

    assert response.url == url(session)
    session.refresh_from_db()
    assert session.state == State.DECLINED
    assert [event.type for event in outbox.events()] == ["failed"]


def test_challenge_without_a_choice_changes_nothing(client, session, outbox, django_capture_on_commit_callbacks):
    pay(client, session, django_capture_on_commit_callbacks, card_number="4000000000003220", **CARD)

    response = pay(client, session, django_capture_on_commit_callbacks, action="maybe")

    assert response.status_code == 400
    assert "Choose Approve or Deny." in response.content.decode()
    session.refresh_from_db()
    assert session.state == State.CHALLENGE
    assert outbox.sent == []


def test_other_card_numbers_get_a_clear_error_and_change_nothing(
    client, session, outbox, django_capture_on_commit_callbacks
):
    response = pay(client, session, django_capture_on_commit_callbacks, card_number="5555 5555 5555 4444", **CARD)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Use one of the test card numbers" in html
    assert 'aria-invalid="true"' in html
    session.refresh_from_db()
    assert session.state == State.OPEN
    assert session.event_id == ""
    assert outbox.sent == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("expiry", "01 / 20", "Enter a future expiry date"),
        ("expiry", "13/40", "Enter a future expiry date"),
        ("cvc", "12", "Enter the 3 or 4 digit security code."),
    ],
)
def test_bad_expiry_or_cvc_is_refused(
    client, session, outbox, django_capture_on_commit_callbacks, field, value, message
):
    data = {**CARD, "card_number": "4242424242424242", field: value}

    response = pay(client, session, django_capture_on_commit_callbacks, **data)

    assert message in response.content.decode()
    session.refresh_from_db()
    assert session.state == State.OPEN
    assert outbox.sent == []


# --- wallets and carrier billing ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["paypal", "google_pay", "apple_pay"])
def test_wallet_approve_pays(client, session, outbox, django_capture_on_commit_callbacks, method):
    response = pay(client, session, django_capture_on_commit_callbacks, method=method, action="approve")

    assert response.url == SUCCESS_URL
    session.refresh_from_db()
    assert session.state == State.PAID
    assert session.paid_with == method
    assert [event.type for event in outbox.events()] == ["succeeded"]


@pytest.mark.parametrize("method", ["paypal", "google_pay", "apple_pay"])
def test_wallet_decline_fails(client, session, outbox, django_capture_on_commit_callbacks, method):
    pay(client, session, django_capture_on_commit_callbacks, method=method, action="decline")

    session.refresh_from_db()
    assert session.state == State.DECLINED
    assert [event.type for event in outbox.events()] == ["failed"]


def test_wallet_page_offers_approve_and_decline(client, session):
    html = client.get(url(session, "?method=paypal")).content.decode()

    assert "Pay with PayPal" in html
    assert 'value="approve">Approve</button>' in html
    assert 'value="decline">Decline</button>' in html


def test_carrier_billing_test_code_approves(client, session, outbox, django_capture_on_commit_callbacks):
    response = pay(
        client,
        session,
        django_capture_on_commit_callbacks,
        method="carrier_billing",
        phone="+1 555 0100 22",
        code="000000",
    )

    assert response.url == SUCCESS_URL
    session.refresh_from_db()
    assert session.state == State.PAID
    assert session.payer_detail == "Phone ending 0022"
    assert [event.type for event in outbox.events()] == ["succeeded"]


def test_carrier_billing_decline_code(client, session, outbox, django_capture_on_commit_callbacks):
    pay(client, session, django_capture_on_commit_callbacks, method="carrier_billing", phone="5550100", code="999999")

    session.refresh_from_db()
    assert session.state == State.DECLINED
    assert [event.type for event in outbox.events()] == ["failed"]


def test_carrier_billing_wrong_code_is_explained(client, session, outbox, django_capture_on_commit_callbacks):
    response = pay(
        client, session, django_capture_on_commit_callbacks, method="carrier_billing", phone="5550100", code="123456"
    )

    assert "Use a test code: 000000 approves the payment, 999999 declines it." in response.content.decode()
    session.refresh_from_db()
    assert session.state == State.OPEN
    assert outbox.sent == []


# --- cancel, double finish, expiry ----------------------------------------------------------------


def test_cancel_returns_to_coinsite(client, session, outbox, django_capture_on_commit_callbacks):
    response = pay(client, session, django_capture_on_commit_callbacks, action="cancel")

    assert response.url == CANCEL_URL
    session.refresh_from_db()
    assert session.state == State.CANCELLED
    assert [event.type for event in outbox.events()] == ["cancelled"]


def test_finishing_twice_does_nothing_the_second_time(client, session, outbox, django_capture_on_commit_callbacks):
    pay(client, session, django_capture_on_commit_callbacks, card_number="4242424242424242", **CARD)
    session.refresh_from_db()
    first_event_id, first_finished_at = session.event_id, session.finished_at

    for data in (
        {**CARD, "card_number": "4000000000000002"},
        {"action": "cancel"},
        {"method": "paypal", "action": "decline"},
    ):
        response = pay(client, session, django_capture_on_commit_callbacks, **data)
        assert response.status_code == 302
        assert response.url == url(session)

    session.refresh_from_db()
    assert session.state == State.PAID
    assert (session.event_id, session.finished_at) == (first_event_id, first_finished_at)
    assert len(outbox.sent) == 1
    page = client.get(url(session)).content.decode()
    assert "Payment complete" in page
    assert f'href="{SUCCESS_URL}"' in page


def test_expired_session_cannot_be_paid(client, session, outbox, django_capture_on_commit_callbacks):
    SandboxSession.objects.filter(pk=session.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))

    page = client.get(url(session)).content.decode()
    response = pay(client, session, django_capture_on_commit_callbacks, card_number="4242424242424242", **CARD)

    assert "This checkout has expired" in page
    assert response.url == url(session)
    session.refresh_from_db()
    assert session.state == State.OPEN  # the sweep records it (below); nothing was paid
    assert outbox.sent == []


def test_sweep_expires_overdue_sessions_once(session, outbox, django_capture_on_commit_callbacks):
    fresh = SandboxProvider().checkout_start(checkout_request(idempotency_key="topup-2", reference="tu_2"))
    SandboxSession.objects.filter(pk=session.pk).update(expires_at=timezone.now() - datetime.timedelta(minutes=1))

    with django_capture_on_commit_callbacks(execute=True):
        result = sandbox_expire_sessions.delay().get()
    with django_capture_on_commit_callbacks(execute=True):
        again = sandbox_expire_sessions.delay().get()

    assert result == {"expired": 1, "resent": 0}
    assert again == {"expired": 0, "resent": 0}
    session.refresh_from_db()
    assert session.state == State.EXPIRED
    assert SandboxSession.objects.get(public_id=fresh.provider_session_id).state == State.OPEN
    [event] = outbox.events()
    assert (event.type, event.reference) == ("expired", "tu_1")
    assert json.loads(outbox.sent[0]["body"])["type"] == "payment.expired"


def test_sweep_resends_webhooks_whose_task_was_lost(session, outbox, django_capture_on_commit_callbacks):
    long_ago = timezone.now() - datetime.timedelta(hours=1)
    SandboxSession.objects.filter(pk=session.pk).update(
        state=State.PAID,
        event_id="evt_lost",
        finished_at=long_ago,
        webhook_state=SandboxSession.WebhookState.PENDING,
    )

    with django_capture_on_commit_callbacks(execute=True):
        result = sandbox_expire_sessions.delay().get()

    assert result == {"expired": 0, "resent": 1}
    assert [event.event_id for event in outbox.events()] == ["evt_lost"]
    session.refresh_from_db()
    assert session.webhook_state == SandboxSession.WebhookState.DELIVERED


def test_a_finished_session_can_resend_its_event_as_a_replay(
    client, session, outbox, django_capture_on_commit_callbacks
):
    pay(client, session, django_capture_on_commit_callbacks, card_number="4242424242424242", **CARD)
    fresh = SandboxProvider().checkout_start(checkout_request(idempotency_key="topup-2", reference="tu_2"))

    with django_capture_on_commit_callbacks(execute=True):
        assert sandbox_webhook_resend(session_id=session.pk) is True
        open_session = SandboxSession.objects.get(public_id=fresh.provider_session_id)
        assert sandbox_webhook_resend(session_id=open_session.pk) is False

    events = outbox.events()
    assert len(events) == 2
    assert events[0] == events[1]  # the same event id: the receiver sees a replay


# --- delivery retries -----------------------------------------------------------------------------


def test_delivery_retries_connection_errors_and_5xx_then_succeeds(
    client, session, outbox, django_capture_on_commit_callbacks
):
    outbox.answers = [OSError("connection refused"), 503, 200]

    pay(client, session, django_capture_on_commit_callbacks, card_number="4242424242424242", **CARD)

    session.refresh_from_db()
    assert session.webhook_state == SandboxSession.WebhookState.DELIVERED
    assert session.webhook_attempts == 3
    assert len(outbox.sent) == 3
    assert {event.event_id for event in outbox.events()} == {session.event_id}  # the same event each time


def test_delivery_gives_up_after_bounded_retries(client, session, outbox, django_capture_on_commit_callbacks):
    outbox.answers = [500] * 50

    response = pay(client, session, django_capture_on_commit_callbacks, card_number="4242424242424242", **CARD)

    assert response.url == SUCCESS_URL  # the payer is not affected
    session.refresh_from_db()
    assert session.webhook_state == SandboxSession.WebhookState.FAILED
    assert len(outbox.sent) == WEBHOOK_MAX_RETRIES + 1
    assert session.webhook_last_error == "Receiver answered HTTP 500"


def test_a_4xx_answer_is_not_retried(client, session, outbox, django_capture_on_commit_callbacks):
    outbox.answers = [400]

    pay(client, session, django_capture_on_commit_callbacks, card_number="4242424242424242", **CARD)

    session.refresh_from_db()
    assert session.webhook_state == SandboxSession.WebhookState.FAILED
    assert len(outbox.sent) == 1


def test_urllib_transport_posts_the_body_and_reports_the_status():
    """The production transport against a real local HTTP server."""
    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(
                (
                    self.path,
                    self.headers["Coinsite-Sandbox-Signature"],
                    self.rfile.read(int(self.headers["Content-Length"])),
                )
            )
            self.send_response(204 if self.path == "/ok/" else 503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        headers = {"Content-Type": "application/json", "Coinsite-Sandbox-Signature": "t=1,v1=ab"}
        assert urllib_transport(f"{base}/ok/", b'{"id":"evt_1"}', headers, 5) == 204
        assert urllib_transport(f"{base}/down/", b"{}", headers, 5) == 503
    finally:
        server.shutdown()
        server.server_close()
    assert received[0] == ("/ok/", "t=1,v1=ab", b'{"id":"evt_1"}')
    with pytest.raises(OSError):
        urllib_transport(base + "/ok/", b"{}", headers, 5)  # nothing listens there any more
    with pytest.raises(ValueError):
        urllib_transport("file:///etc/passwd", b"{}", headers, 5)


# --- signature verification ----------------------------------------------------------------------


def signed_event(*, secret=SANDBOX_SECRET, timestamp=None, **overrides):
    payload = {
        "id": "evt_abc",
        "type": "payment.succeeded",
        "created": 1_800_000_000,
        "data": {"session": "sbx_1", "reference": "tu_1", "amount": "1600", "currency": "JPY"},
    }
    body = json.dumps({**payload, **overrides}).encode()
    timestamp = int(time.time()) if timestamp is None else timestamp
    return body, {"Coinsite-Sandbox-Signature": sign(body, secret=secret, timestamp=timestamp)}


def test_signature_scheme_is_hmac_sha256_of_timestamp_dot_body():
    body = b'{"id":"evt_1"}'
    timestamp = 1_800_000_000
    expected = hmac.new(SANDBOX_SECRET.encode(), b"1800000000." + body, hashlib.sha256).hexdigest()

    assert sign(body, secret=SANDBOX_SECRET, timestamp=timestamp) == f"t={timestamp},v1={expected}"


def test_valid_signature_is_accepted_and_parsed():
    body, headers = signed_event()

    [event] = SandboxProvider(webhook_secret=SANDBOX_SECRET).webhook_parse(body=body, headers=headers)

    assert event.type == "succeeded"
    assert event.amount == Money("1600", "JPY")
    assert event.occurred_at == datetime.datetime.fromtimestamp(1_800_000_000, tz=datetime.UTC)


def test_lowercase_header_names_work():
    body, headers = signed_event()

    events = SandboxProvider(webhook_secret=SANDBOX_SECRET).webhook_parse(
        body=body, headers={"coinsite-sandbox-signature": headers["Coinsite-Sandbox-Signature"]}
    )

    assert len(events) == 1


@pytest.mark.parametrize(
    "make",
    [
        lambda: signed_event(secret="forged-secret"),
        lambda: signed_event(timestamp=int(time.time()) - 301),
        lambda: signed_event(timestamp=int(time.time()) + 301),
        lambda: (signed_event()[0].replace(b"1600", b"9600"), signed_event()[1]),
        lambda: (signed_event()[0], {}),
        lambda: (signed_event()[0], {"Coinsite-Sandbox-Signature": "t=1,v1="}),
        lambda: (signed_event()[0], {"Coinsite-Sandbox-Signature": "v1=abc"}),
    ],
    ids=["forged", "stale", "future", "tampered", "missing", "empty-signature", "no-timestamp"],
)
def test_bad_signatures_are_rejected(make):
    body, headers = make()

    with pytest.raises(WebhookRejected):
        SandboxProvider(webhook_secret=SANDBOX_SECRET).webhook_parse(body=body, headers=headers)


@pytest.mark.parametrize(
    "overrides",
    [
        {"type": "payment.refunded"},
        {"created": "yesterday"},
        {"data": {"session": "sbx_1", "reference": "tu_1", "amount": "16.005", "currency": "USD"}},
        {"data": {"session": "sbx_1", "reference": "tu_1", "amount": "10", "currency": "XYZ"}},
        {"data": {"session": "sbx_1", "reference": "", "amount": "10", "currency": "USD"}},
        {"data": None},
    ],
)
def test_signed_but_malformed_events_are_rejected(overrides):
    body, headers = signed_event(**overrides)

    with pytest.raises(WebhookRejected):
        SandboxProvider(webhook_secret=SANDBOX_SECRET).webhook_parse(body=body, headers=headers)


def test_signed_non_json_is_rejected():
    body = b"not json"
    headers = {"Coinsite-Sandbox-Signature": sign(body, secret=SANDBOX_SECRET, timestamp=int(time.time()))}

    with pytest.raises(WebhookRejected):
        SandboxProvider(webhook_secret=SANDBOX_SECRET).webhook_parse(body=body, headers=headers)


def test_no_secret_rejects_everything(settings):
    settings.SANDBOX_WEBHOOK_SECRET = ""
    body, headers = signed_event(secret="")

    with pytest.raises(WebhookRejected, match="not configured"):
        SandboxProvider().webhook_parse(body=body, headers=headers)


# --- session_status ------------------------------------------------------------------------------


def test_session_status_follows_the_session(client, session, django_capture_on_commit_callbacks):
    provider = SandboxProvider()
    assert provider.session_status(session.public_id) is None
    assert provider.session_status("sbx_unknown") is None

    pay(client, session, django_capture_on_commit_callbacks, card_number="4242424242424242", **CARD)

    session.refresh_from_db()
    event = provider.session_status(session.public_id)
    assert event.type == "succeeded"
    assert event.event_id == session.event_id  # the same id as the webhook: dedupes against it
    assert event.amount == Money("9.99", "USD")
    assert event.reference == "tu_1"


def test_session_status_reports_expiry_before_the_sweep_runs(session):
    SandboxSession.objects.filter(pk=session.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))

    event = SandboxProvider().session_status(session.public_id)

    assert event.type == "expired"


# --- database and deployment guards ----------------------------------------------------------------


def test_database_refuses_a_finished_session_without_its_event(session):
    with pytest.raises(IntegrityError):
        SandboxSession.objects.filter(pk=session.pk).update(state=State.PAID)


def test_deploy_check_warns_about_sandbox_payments_in_production(settings):
    settings.DEBUG = False
    settings.PAYMENT_PROVIDER = "sandbox"

    warnings = [message.id for message in run_checks(include_deployment_checks=True)]

    assert "paysandbox.W001" in warnings
    settings.PAYMENT_PROVIDER = "stripe"
    assert "paysandbox.W001" not in [message.id for message in run_checks(include_deployment_checks=True)]


@pytest.mark.worker
def test_a_real_worker_retries_delivery_until_it_lands(real_celery_worker, outbox, client, monkeypatch):
    """Through a broker, as in production: the task is serialised, retried with a countdown
    (shortened here) and finally delivers the one event."""
    # An earlier eager test may have opened the producer pool against the default broker URL
    # (amqp://localhost); drop it, as Celery does after a fork, so tasks reach the worker's broker.
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    monkeypatch.setattr(tasks, "WEBHOOK_BACKOFF_SECONDS", 0)
    outbox.answers = [503, OSError("connection reset"), 200]
    checkout = SandboxProvider().checkout_start(checkout_request())
    session = SandboxSession.objects.get(public_id=checkout.provider_session_id)

    response = client.post(url(session), {**CARD, "card_number": "4242424242424242"})

    assert response.url == SUCCESS_URL
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        session.refresh_from_db()
        if session.webhook_state != SandboxSession.WebhookState.PENDING:
            break
        time.sleep(0.05)
    assert session.webhook_state == SandboxSession.WebhookState.DELIVERED
    assert session.webhook_attempts == 3
    assert {event.event_id for event in outbox.events()} == {session.event_id}
