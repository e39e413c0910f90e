"""Provider webhooks: signed, deduplicated, applied in any order, exactly one credit per top-up."""

import json
import threading
import time

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from djmoney.money import Money

from wallet.ledger import user_balance
from wallet.models import Asset, LedgerTransaction, PaymentWebhookEvent, TopUpStatus
from wallet.sandbox.webhooks import sign
from wallet.tests.support import (
    SANDBOX_SECRET,
    SANDBOX_WEBHOOK_PATH,
    assert_refused_and_nothing_written,
    post_sandbox,
    post_stripe,
    sandbox_body,
    signed,
    stripe_body,
    stripe_event,
    written,
)

pytestmark = pytest.mark.usefixtures("ledger_stays_consistent")


# --- replays --------------------------------------------------------------------------------------


def test_the_same_event_ten_times_credits_once_and_answers_200_each_time(topup, alice, deliver, mailoutbox):
    body = sandbox_body(topup)

    responses = [deliver(body) for _ in range(10)]

    assert [response.status_code for response in responses] == [200] * 10
    assert [response.json()["outcomes"] for response in responses] == [["credited"]] + [["duplicate event"]] * 9
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.SUCCEEDED
    assert user_balance(alice, Asset.COIN) == 700
    assert LedgerTransaction.objects.get() == topup.ledger_transaction
    assert PaymentWebhookEvent.objects.count() == 1
    assert len(mailoutbox) == 1


def test_another_event_id_for_the_same_success_still_credits_once(topup, alice, deliver, mailoutbox):
    first = deliver(sandbox_body(topup, event_id="evt_1"))
    second = deliver(sandbox_body(topup, event_id="evt_2"))

    assert first.json()["outcomes"] == ["credited"]
    assert second.json()["outcomes"] == ["ignored: already credited"]
    assert user_balance(alice, Asset.COIN) == 700
    assert LedgerTransaction.objects.count() == 1
    assert [event.outcome for event in PaymentWebhookEvent.objects.order_by("id")] == [
        "credited",
        "ignored: already credited",
    ]
    assert len(mailoutbox) == 1


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_deliveries_of_one_event_credit_exactly_once(topup, alice, mailoutbox):
    body = sandbox_body(topup)
    signature = sign(body, secret=SANDBOX_SECRET, timestamp=int(time.time()))
    barrier = threading.Barrier(10)
    results, errors = [], []

    def receive():
        try:
            barrier.wait(timeout=10)
            response = Client().post(
                SANDBOX_WEBHOOK_PATH,
                data=body,
                content_type="application/json",
                headers={"Coinsite-Sandbox-Signature": signature},
            )
            results.append((response.status_code, response.json()["outcomes"]))
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=receive) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(results) == [(200, ["credited"])] + [(200, ["duplicate event"])] * 9
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.SUCCEEDED
    assert user_balance(alice, Asset.COIN) == 700
    assert LedgerTransaction.objects.filter(kind="topup").count() == 1
    assert LedgerTransaction.objects.get().entries.count() == 2
    assert PaymentWebhookEvent.objects.count() == 1
    assert len(mailoutbox) == 1


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_events_with_different_ids_credit_exactly_once(topup, alice, mailoutbox):
    bodies = [sandbox_body(topup, event_id=f"evt_{n}") for n in range(10)]
    barrier = threading.Barrier(10)
    outcomes, errors = [], []

    def receive(body):
        try:
            barrier.wait(timeout=10)
            response = post_sandbox(Client(), body)
            outcomes.extend(response.json()["outcomes"])
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=receive, args=[body]) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(outcomes) == ["credited"] + ["ignored: already credited"] * 9
    assert user_balance(alice, Asset.COIN) == 700
    assert LedgerTransaction.objects.count() == 1
    assert PaymentWebhookEvent.objects.count() == 10
    assert len(mailoutbox) == 1


# --- events in any order --------------------------------------------------------------------------


@pytest.mark.parametrize("later", ["payment.failed", "payment.expired", "payment.cancelled"])
def test_failure_after_success_is_ignored(topup, alice, deliver, mailoutbox, later):
    deliver(sandbox_body(topup, event_id="evt_paid"))

    response = deliver(sandbox_body(topup, later, event_id="evt_later"))

    assert response.status_code == 200
    assert response.json()["outcomes"] == ["ignored: already succeeded"]
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.SUCCEEDED
    assert topup.ledger_transaction is not None
    assert user_balance(alice, Asset.COIN) == 700
    assert LedgerTransaction.objects.count() == 1
    assert len(mailoutbox) == 1


def test_success_after_expiry_is_credited_once_as_late(topup, alice, deliver, mailoutbox):
    expired = deliver(sandbox_body(topup, "payment.expired", event_id="evt_expired"))
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.EXPIRED
    assert user_balance(alice, Asset.COIN) == 0

    late = deliver(sandbox_body(topup, event_id="evt_paid"))
    again = deliver(sandbox_body(topup, event_id="evt_paid_again"))

    assert expired.json()["outcomes"] == ["expired"]
    assert late.json()["outcomes"] == ["credited late"]
    assert again.json()["outcomes"] == ["ignored: already credited"]
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.SUCCEEDED
    assert topup.status_reason == "Paid after the checkout had ended."
    assert user_balance(alice, Asset.COIN) == 700
    assert LedgerTransaction.objects.count() == 1
    assert len(mailoutbox) == 1


def test_a_second_failure_does_not_overwrite_the_first(topup, deliver):
    deliver(sandbox_body(topup, "payment.cancelled", event_id="evt_cancelled"))

    response = deliver(sandbox_body(topup, "payment.expired", event_id="evt_expired"))

    assert response.json()["outcomes"] == ["ignored: already cancelled"]
    topup.refresh_from_db()
    assert (topup.status, topup.status_reason) == (TopUpStatus.CANCELLED, "Provider reported the payment cancelled.")


# --- refused deliveries: 400 and nothing written -------------------------------------------------------


def _stale(topup):
    return sandbox_body(topup), {"timestamp": int(time.time()) - 301}


def _from_the_future(topup):
    return sandbox_body(topup), {"timestamp": int(time.time()) + 301}


def _forged(topup):
    return sandbox_body(topup), {"secret": "somebody-elses-secret"}


def _missing_header(topup):
    return sandbox_body(topup), {"signature": ""}


def _garbage_header(topup):
    return sandbox_body(topup), {"signature": "t=abc,v1="}


def _tampered_amount(topup):
    # Signed for 9.99, delivered claiming 0.01.
    body = sandbox_body(topup)
    signature = sign(body, secret=SANDBOX_SECRET, timestamp=int(time.time()))
    return body.replace(b'"amount":"9.99"', b'"amount":"0.01"'), {"signature": signature}


def _malformed_json(topup):
    return b'{"id": "evt_1", "type": "payment.succeeded", ', {}


def _unknown_event_type(topup):
    return sandbox_body(topup, "payment.refunded"), {}


def _missing_fields(topup):
    return json.dumps(
        {
            "id": "evt_1",
            "type": "payment.succeeded",
            "created": int(time.time()),
            "data": {"reference": str(topup.public_id)},
        }
    ).encode(), {}


def _unsupported_currency(topup):
    return sandbox_body(topup, currency="XAU"), {}


@pytest.mark.parametrize(
    "delivery",
    [
        _stale,
        _from_the_future,
        _forged,
        _missing_header,
        _garbage_header,
        _tampered_amount,
        _malformed_json,
        _unknown_event_type,
        _missing_fields,
        _unsupported_currency,
    ],
)
def test_unverifiable_or_unreadable_webhooks_get_400_and_change_nothing(topup, alice, deliver, mailoutbox, delivery):
    body, signing = delivery(topup)
    before = written()

    response = deliver(body, **signing)

    assert_refused_and_nothing_written(response, topup=topup, viewer=alice, before=before, mailoutbox=mailoutbox)


def test_webhooks_only_accept_post(client, db):
    assert client.get(SANDBOX_WEBHOOK_PATH).status_code == 405
    assert PaymentWebhookEvent.objects.count() == 0


# --- verified but not creditable ---------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "currency"), [("0.99", "USD"), ("99.90", "USD"), ("9.99", "EUR")])
def test_a_payment_of_another_amount_is_not_credited(topup, alice, deliver, mailoutbox, amount, currency):
    response = deliver(sandbox_body(topup, amount=amount, currency=currency))

    assert response.status_code == 200
    assert response.json()["outcomes"] == ["refused: amount does not match"]
    topup.refresh_from_db()
    assert (topup.status, topup.ledger_transaction) == (TopUpStatus.PENDING, None)
    assert user_balance(alice, Asset.COIN) == 0
    assert LedgerTransaction.objects.count() == 0
    assert PaymentWebhookEvent.objects.get().outcome == "refused: amount does not match"
    assert mailoutbox == []


@pytest.mark.parametrize("reference", ["00000000-0000-0000-0000-000000000000", "tu_not_ours", "' OR 1=1 --"])
def test_an_event_for_an_unknown_top_up_is_acknowledged_and_credits_nothing(
    topup, alice, deliver, mailoutbox, reference
):
    response = deliver(sandbox_body(topup, reference=reference))

    assert response.status_code == 200
    assert response.json()["outcomes"] == ["unknown top-up"]
    event = PaymentWebhookEvent.objects.get()
    assert (event.topup, event.outcome) == (None, "unknown top-up")
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.PENDING
    assert LedgerTransaction.objects.count() == 0
    assert user_balance(alice, Asset.COIN) == 0
    assert mailoutbox == []


def test_an_event_for_another_checkout_session_of_the_top_up_is_ignored(topup, alice, deliver):
    response = deliver(sandbox_body(topup, session="sbx_someone_elses_session"))

    assert response.json()["outcomes"] == ["ignored: the event is for another checkout session"]
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.PENDING
    assert user_balance(alice, Asset.COIN) == 0


# --- Stripe ---------------------------------------------------------------------------------------------


def test_stripe_checkout_completed_and_paid_credits_once(
    client, alice, stripe_topups, mailoutbox, django_capture_on_commit_callbacks
):
    topup, _ = stripe_topups
    assert topup.provider == "stripe"
    body, headers = stripe_body(
        topup, "checkout.session.completed", event_id="evt_paid", status="complete", payment_status="paid"
    )

    responses = [post_stripe(client, django_capture_on_commit_callbacks, body, headers) for _ in range(3)]

    assert [response.status_code for response in responses] == [200] * 3
    assert [response.json()["outcomes"] for response in responses] == [
        ["credited"],
        ["duplicate event"],
        ["duplicate event"],
    ]
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.SUCCEEDED
    assert user_balance(alice, Asset.COIN) == 700
    assert LedgerTransaction.objects.get().idempotency_key == f"topup:{topup.public_id}"
    [receipt] = mailoutbox
    assert "Price paid:     $9.99" in receipt.body


def test_stripe_checkout_completed_but_unpaid_waits(client, alice, stripe_topups, django_capture_on_commit_callbacks):
    topup, _ = stripe_topups
    body, headers = stripe_body(
        topup, "checkout.session.completed", event_id="evt_unpaid", status="complete", payment_status="unpaid"
    )

    response = post_stripe(client, django_capture_on_commit_callbacks, body, headers)

    assert response.json()["outcomes"] == ["ignored: still pending"]
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.PENDING
    assert user_balance(alice, Asset.COIN) == 0


def test_stripe_checkout_expired_expires_only_its_top_up(
    client, alice, stripe_topups, mailoutbox, django_capture_on_commit_callbacks
):
    first, second = stripe_topups
    assert second.amount == Money("14.14", "USD")
    body, headers = stripe_body(second, "checkout.session.expired", event_id="evt_expired", status="expired")

    response = post_stripe(client, django_capture_on_commit_callbacks, body, headers)

    assert response.json()["outcomes"] == ["expired"]
    second.refresh_from_db()
    first.refresh_from_db()
    assert second.status == TopUpStatus.EXPIRED
    assert first.status == TopUpStatus.PENDING
    assert LedgerTransaction.objects.count() == 0
    assert mailoutbox == []


def test_stripe_forged_signature_gets_400_and_changes_nothing(
    client, alice, stripe_topups, mailoutbox, django_capture_on_commit_callbacks
):
    topup, _ = stripe_topups
    event = stripe_event(
        "checkout.session.completed",
        event_id="evt_forged",
        id=topup.provider_session_id,
        client_reference_id=str(topup.public_id),
        status="complete",
        payment_status="paid",
    )
    body, headers = signed(event, secret="whsec_somebody_else")
    before = written()

    response = post_stripe(client, django_capture_on_commit_callbacks, body, headers)

    assert response.status_code == 400
    assert written() == before
    topup.refresh_from_db()
    assert topup.status == TopUpStatus.PENDING
    assert user_balance(alice, Asset.COIN) == 0
    assert mailoutbox == []


def test_stripe_events_we_do_not_model_are_acknowledged(client, stripe_topups, django_capture_on_commit_callbacks):
    body, headers = signed(
        {
            "id": "evt_other",
            "object": "event",
            "type": "payment_intent.created",
            "created": 1_800_000_000,
            "data": {"object": {"id": "pi_1", "object": "payment_intent"}},
        }
    )

    response = post_stripe(client, django_capture_on_commit_callbacks, body, headers)

    assert response.status_code == 200
    assert response.json()["outcomes"] == []
    assert PaymentWebhookEvent.objects.count() == 0


def test_the_sandbox_endpoint_is_not_found_while_stripe_is_in_use(
    client, stripe_topups, django_capture_on_commit_callbacks
):
    topup, _ = stripe_topups
    body = sandbox_body(topup)
    before = written()

    with django_capture_on_commit_callbacks(execute=True):
        response = post_sandbox(client, body)

    assert response.status_code == 404
    assert written() == before


@pytest.mark.parametrize("provider", ["stripe", "paypal", "nope"])
def test_webhooks_for_a_provider_not_in_use_are_not_found(client, topup, provider):
    body, headers = signed(
        stripe_event(
            "checkout.session.completed",
            status="complete",
            payment_status="paid",
            client_reference_id=str(topup.public_id),
        )
    )
    before = written()

    response = client.post(
        reverse("wallet:webhook", args=[provider]), data=body, content_type="application/json", headers=headers
    )

    assert response.status_code == 404
    assert written() == before
