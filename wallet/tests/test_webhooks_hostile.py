"""Hostile webhook deliveries: malformed signature headers, and correctly signed bodies of the wrong
shape. Each gets a 400 and writes nothing (no event row, no credit, no email)."""

import json
import time

import pytest
import stripe

from wallet.ledger import user_balance
from wallet.models import Asset, PaymentWebhookEvent
from wallet.sandbox.webhooks import sign
from wallet.tests.support import (
    SANDBOX_SECRET,
    STRIPE_WEBHOOK_SECRET,
    assert_refused_and_nothing_written,
    post_stripe,
    sandbox_body,
    stripe_body,
    stripe_event,
    written,
)

pytestmark = pytest.mark.usefixtures("ledger_stays_consistent")

HEX64 = "a" * 64


# --- sandbox: malformed signature headers ----------------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    [
        "t=" + "9" * 5000 + f",v1={HEX64}",
        f"t=\u00b2,v1={HEX64}",
        "t=\u00b2,v1=aa",
        "t=\u0661\u0662\u0663,v1=aa",  # Arabic-Indic digits: isdigit() is True, int() accepts them
        "t=1,v1=\u00e9\u00e9",
        f"t=1,v1={'é' * 64}",
        "t=1,v1=",
        f"v1={HEX64}",
        "t=1",
        f"t=1,t=2,v1={HEX64}",
        f"t=-1,v1={HEX64}",
        f"t=1,v1={HEX64},x=1",
        f"t=1;v1={HEX64}",
        f"t=1,v1={HEX64.upper()}",
        f"t=1,v1={HEX64}," + ",".join(["v1=" + HEX64] * 50),
        ",,,",
        "=",
    ],
)
def test_a_malformed_sandbox_signature_header_is_a_400(topup, alice, deliver, mailoutbox, signature):
    before = written()

    response = deliver(sandbox_body(topup), signature=signature)

    assert_refused_and_nothing_written(response, topup=topup, viewer=alice, before=before, mailoutbox=mailoutbox)


# --- sandbox: correctly signed, wrong shape ---------------------------------------------------------


def signed_payload(topup, **changes) -> bytes:
    payload = json.loads(sandbox_body(topup))
    data = {**payload["data"], **changes.pop("data", {})}
    return json.dumps({**payload, **changes, "data": data}).encode()


@pytest.mark.parametrize(
    "body",
    [
        lambda topup: signed_payload(topup, id="evt_\u0000nul"),
        lambda topup: signed_payload(topup, id="evt\x01"),
        lambda topup: signed_payload(topup, id="\ud800"),
        lambda topup: signed_payload(topup, id=""),
        lambda topup: signed_payload(topup, id="e" * 201),
        lambda topup: signed_payload(topup, id=["evt_1"]),
        lambda topup: signed_payload(topup, id=None),
        lambda topup: signed_payload(topup, created=10**30),
        lambda topup: signed_payload(topup, created=-1),
        lambda topup: signed_payload(topup, created=True),
        lambda topup: signed_payload(topup, created=1.5),
        lambda topup: signed_payload(topup, created="1700000000"),
        lambda topup: signed_payload(topup, data={"amount": "1e999999"}),
        lambda topup: signed_payload(topup, data={"amount": "9.99e0"}),
        lambda topup: signed_payload(topup, data={"amount": "-9.99"}),
        lambda topup: signed_payload(topup, data={"amount": " 9.99"}),
        lambda topup: signed_payload(topup, data={"amount": "NaN"}),
        lambda topup: signed_payload(topup, data={"amount": "Infinity"}),
        lambda topup: signed_payload(topup, data={"amount": "9" * 100}),
        lambda topup: signed_payload(topup, data={"amount": 9.99}),
        lambda topup: signed_payload(topup, data={"reference": "ref\u0000"}),
        lambda topup: signed_payload(topup, data={"reference": "r" * 201}),
        lambda topup: signed_payload(topup, data={"session": "s\u0000"}),
        lambda topup: signed_payload(topup, data={"currency": ["USD"]}),
        lambda topup: json.dumps({**json.loads(sandbox_body(topup)), "data": []}).encode(),
        lambda topup: b"[]",
        lambda topup: b"null",
        lambda topup: b'"string"',
        lambda topup: b"1e999999",
        lambda topup: b"{}",
        lambda topup: b"\xff\xfe",
    ],
)
def test_a_signed_but_malformed_sandbox_event_is_a_400(topup, alice, deliver, mailoutbox, body):
    before = written()

    response = deliver(body(topup))

    assert_refused_and_nothing_written(response, topup=topup, viewer=alice, before=before, mailoutbox=mailoutbox)


def test_an_event_id_longer_than_the_column_is_refused_not_truncated(topup, alice, deliver, mailoutbox):
    """Two ids sharing their first 200 characters are different events; the longer one is refused."""
    stored = deliver(signed_payload(topup, id="e" * 200))
    before = written()

    longer = deliver(signed_payload(topup, id="e" * 200 + "x"))

    assert stored.status_code == 200 and stored.json()["outcomes"] == ["credited"]
    assert longer.status_code == 400
    assert written() == before
    assert list(PaymentWebhookEvent.objects.values_list("event_id", flat=True)) == ["e" * 200]
    assert user_balance(alice, Asset.COIN) == 700


def test_an_old_but_accepted_sandbox_header_still_works(topup, alice, deliver):
    body = sandbox_body(topup)
    signature = sign(body, secret=SANDBOX_SECRET, timestamp=int(time.time()))

    response = deliver(body, signature=f" {signature} ")

    assert response.status_code == 200 and response.json()["outcomes"] == ["credited"]


# --- Stripe -----------------------------------------------------------------------------------------------


def stripe_signed(body: str, *, timestamp: int | None = None) -> tuple[bytes, dict]:
    header = stripe.WebhookSignature.generate_signature_header(body, STRIPE_WEBHOOK_SECRET, timestamp=timestamp)
    return body.encode(), {"Stripe-Signature": header}


def stripe_completed(topup, **overrides) -> dict:
    event = stripe_event(
        "checkout.session.completed",
        event_id="evt_ok",
        id=topup.provider_session_id,
        client_reference_id=str(topup.public_id),
        metadata={"reference": str(topup.public_id)},
        amount_total=999,
        currency="usd",
        status="complete",
        payment_status="paid",
    )
    return {**event, **overrides}


@pytest.mark.parametrize(
    "make_body",
    [
        lambda topup: "[]",
        lambda topup: "null",
        lambda topup: "1e999999",
        lambda topup: json.dumps(stripe_completed(topup, data={"object": []})),
        lambda topup: json.dumps(stripe_completed(topup, data={"object": "cs_1"})),
        lambda topup: json.dumps(stripe_completed(topup, data=[])),
        lambda topup: json.dumps(stripe_completed(topup, created=10**30)),
        lambda topup: json.dumps(stripe_completed(topup, created=-5)),
        lambda topup: json.dumps(stripe_completed(topup, created="soon")),
        lambda topup: json.dumps(stripe_completed(topup, id="evt_\u0000")),
        lambda topup: json.dumps(stripe_completed(topup, id="e" * 201)),
        lambda topup: json.dumps(stripe_completed(topup, id=7)),
        lambda topup: json.dumps(stripe_completed(topup, type=["checkout.session.completed"])),
    ],
)
def test_a_signed_but_malformed_stripe_event_is_a_400(
    client, alice, stripe_topups, mailoutbox, django_capture_on_commit_callbacks, make_body
):
    topup, _ = stripe_topups
    before = written()
    body, headers = stripe_signed(make_body(topup))

    response = post_stripe(client, django_capture_on_commit_callbacks, body, headers)

    assert_refused_and_nothing_written(response, topup=topup, viewer=alice, before=before, mailoutbox=mailoutbox)


@pytest.mark.parametrize(
    "session_change",
    [
        {"metadata": ["reference"]},
        {"client_reference_id": 12},
        {"amount_total": "999"},
        {"currency": ["usd"]},
        {"payment_status": None},
        {"id": None},
    ],
)
def test_a_stripe_session_of_the_wrong_shape_is_a_400(
    client, alice, stripe_topups, mailoutbox, django_capture_on_commit_callbacks, session_change
):
    topup, _ = stripe_topups
    event = stripe_completed(topup)
    event["data"]["object"].update(session_change)
    before = written()

    response = post_stripe(client, django_capture_on_commit_callbacks, *stripe_signed(json.dumps(event)))

    assert_refused_and_nothing_written(response, topup=topup, viewer=alice, before=before, mailoutbox=mailoutbox)


@pytest.mark.parametrize("seconds_ahead", [301, 3600, 10**9])
def test_a_stripe_signature_dated_in_the_future_is_refused(
    client, alice, stripe_topups, mailoutbox, django_capture_on_commit_callbacks, seconds_ahead
):
    topup, _ = stripe_topups
    before = written()
    body, headers = stripe_signed(json.dumps(stripe_completed(topup)), timestamp=int(time.time()) + seconds_ahead)

    response = post_stripe(client, django_capture_on_commit_callbacks, body, headers)

    assert_refused_and_nothing_written(response, topup=topup, viewer=alice, before=before, mailoutbox=mailoutbox)
    assert "future" in response.json()["error"]


def test_a_stripe_signature_slightly_ahead_of_our_clock_is_accepted(
    client, alice, stripe_topups, django_capture_on_commit_callbacks
):
    topup, _ = stripe_topups
    body, headers = stripe_signed(json.dumps(stripe_completed(topup)), timestamp=int(time.time()) + 200)

    response = post_stripe(client, django_capture_on_commit_callbacks, body, headers)

    assert response.status_code == 200 and response.json()["outcomes"] == ["credited"]
    assert user_balance(alice, Asset.COIN) == 700


@pytest.mark.parametrize(
    "signature",
    [
        "t=" + "9" * 5000 + f",v1={HEX64}",
        f"t=\u00b2,v1={HEX64}",
        "t=1,v1=\u00e9",
        f"t=1,t=2,v1={HEX64}",
        "t=1," + "v1=" + "a" * 5000,
    ],
)
def test_a_malformed_stripe_signature_header_is_a_400(
    client, alice, stripe_topups, mailoutbox, django_capture_on_commit_callbacks, signature
):
    topup, _ = stripe_topups
    before = written()
    body, _ = stripe_body(topup, "checkout.session.completed", event_id="evt_x", payment_status="paid")

    response = post_stripe(client, django_capture_on_commit_callbacks, body, {"Stripe-Signature": signature})

    assert_refused_and_nothing_written(response, topup=topup, viewer=alice, before=before, mailoutbox=mailoutbox)


def test_stripe_event_ids_longer_than_the_column_are_refused(
    client, alice, stripe_topups, mailoutbox, django_capture_on_commit_callbacks
):
    topup, _ = stripe_topups
    before = written()
    body, headers = stripe_signed(json.dumps(stripe_completed(topup, id="evt_" + "e" * 300)))

    response = post_stripe(client, django_capture_on_commit_callbacks, body, headers)

    assert_refused_and_nothing_written(response, topup=topup, viewer=alice, before=before, mailoutbox=mailoutbox)
