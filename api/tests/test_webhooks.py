"""Creator webhooks: collected after the fact (never inside a gift's transaction), signed, verified by a local
receiver, retried with backoff, disabled with an email after failing for more than a day, replayable;
anonymous gifts stay anonymous; the studio page behind the creator check and the sudo re-check."""

import datetime
import json
import time

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from api import tasks, webhooks
from api.models import DeliveryStatus, Scope, WebhookDelivery, WebhookEndpoint, WebhookEvent
from api.tests.webhook_support import Recorder, example_client, local_receiver
from coinsite.accounts.tests.factories import make_user, sudo_fresh
from gifting.chat import chat_delete, chat_post
from gifting.models import ChatMessage, Gift
from gifting.services import gift_send, stream_end, stream_start
from gifting.tests.support import catalogue_reseed, ensure_countries, fund
from payouts.models import Payout, PayoutMethod, PayoutStatus
from wallet.ledger import system_account
from wallet.models import SystemAccount

pytestmark = pytest.mark.django_db

WEBHOOKS_URL = "/live/studio/webhooks/"
ALL_EVENTS = list(WebhookEvent.values)


@pytest.fixture
def endpoint(bob, settings):
    settings.API_WEBHOOKS_ALLOW_LOCAL = True
    return webhooks.endpoint_create(creator=bob, url="http://127.0.0.1:9/hook", event_types=ALL_EVENTS)


@pytest.fixture
def recorder(settings, monkeypatch):
    recorder = Recorder(200)
    monkeypatch.setattr(webhooks, "urllib_transport", recorder)
    settings.API_WEBHOOKS_TRANSPORT = "api.webhooks.urllib_transport"
    return recorder


def gift(alice, stream, *, key="g1", quantity=2, anonymous=False, slug="rose"):
    return gift_send(
        sender=alice,
        stream_id=stream.pk,
        gift_id=Gift.objects.get(slug=slug).pk,
        quantity=quantity,
        idempotency_key=key,
        anonymous=anonymous,
    )


def payloads(recorder):
    return [json.loads(body) for _url, body, _headers in recorder.calls]


def test_a_gift_reaches_a_local_receiver_signed_and_verified(alice, bob, stream, endpoint, make_token, api):
    # Given Bob's endpoint and a receiver built the way docs/api.md says
    received = []
    receiver = local_receiver(endpoint, received.append)
    try:
        # When Alice sends a gift through the API and the dispatcher runs
        fund(alice, 100)
        token = make_token(alice, Scope.GIFTS_SEND)
        sent = api.post(
            f"/streams/{stream.pk}/gifts", token, {"gift_id": Gift.objects.get(slug="heart").pk}, key="api-1"
        )
        assert sent.status_code == 201
        tasks.webhooks_dispatch()
    finally:
        receiver.stop()

    # Then the receiver got the gift (the stream started before the endpoint existed), verified against the secret
    assert receiver.rejected == 0
    by_type = {event["type"]: event for event in received}
    assert set(by_type) == {"gift.sent"}
    data = by_type["gift.sent"]["data"]
    assert by_type["gift.sent"]["id"] == f"evt_gift_{sent.json()['id']}"
    assert data["stream_id"] == stream.pk and data["quantity"] == 1 and data["coins"] == data["diamonds"] == 5
    assert data["value"] == {"amount": "0.03", "currency": "USD"}  # 5 diamonds at USD 0.005, rounded once
    assert data["sender"] == {"display_name": "Alice"} and data["anonymous"] is False
    assert WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED


def test_no_delivery_inside_the_gift_transaction(alice, stream, endpoint, recorder, django_capture_on_commit_callbacks):
    fund(alice, 100)
    with django_capture_on_commit_callbacks(execute=True):
        gift(alice, stream)

    assert recorder.calls == []  # the gift committed with no webhook work at all
    assert WebhookDelivery.objects.count() == 0

    tasks.webhooks_dispatch()

    assert [payload["type"] for payload in payloads(recorder)] == ["gift.sent"]


def test_anonymous_gifts_stay_anonymous_in_the_payload(alice, stream, endpoint, recorder):
    fund(alice, 100)
    gift(alice, stream, anonymous=True)

    tasks.webhooks_dispatch()

    [body] = [body for _url, body, _headers in recorder.calls if b"gift.sent" in body]
    event = json.loads(body)
    assert event["data"]["anonymous"] is True and event["data"]["sender"] is None
    assert b"Alice" not in body and alice.email.encode() not in body
    assert set(event["data"]) == {
        "gift_event_id",
        "stream_id",
        "gift",
        "quantity",
        "coins",
        "diamonds",
        "value",
        "anonymous",
        "sender",
    }  # no sender id anywhere


def test_collecting_again_delivers_nothing_twice(alice, stream, endpoint, recorder):
    fund(alice, 100)
    gift(alice, stream)
    tasks.webhooks_dispatch()
    sent = len(recorder.calls)

    for _ in range(3):
        tasks.webhooks_dispatch()

    assert len(recorder.calls) == sent == 1
    assert WebhookDelivery.objects.count() == 1


def test_stream_goal_and_payout_events(alice, bob, catalogue, endpoint, recorder):
    stream = stream_start(creator=bob, title="Goal night", goal_coins=1_000, goal_label="New tablet")
    fund(alice, 2_000)
    gift(alice, stream, quantity=99, slug="heart")
    gift(alice, stream, key="g2", quantity=99, slug="heart")
    gift(alice, stream, key="g3", quantity=99, slug="heart")
    stream_end(stream=stream, creator=bob)
    method = PayoutMethod.objects.create(
        creator=bob, kind="paypal", holder_name="Bob", paypal_email="b@example.com", currency="GBP"
    )
    Payout.objects.create(
        creator=bob,
        method=method,
        diamonds=1_000,
        status=PayoutStatus.PAID,
        idempotency_key="p",
        value="5.00",
        value_currency="USD",
        diamond_value="0.005",
        diamond_value_currency="USD",
        currency="GBP",
        net="3.80",
        net_currency="GBP",
        finished_at=timezone.now(),
    )

    tasks.webhooks_dispatch()

    events = {payload["type"]: payload for payload in payloads(recorder)}
    assert {"goal.reached", "stream.ended", "payout.paid", "stream.started", "gift.sent"} <= set(events)
    assert events["goal.reached"]["data"]["goal_coins"] == 1_000 and events["goal.reached"]["data"]["coins"] >= 1_000
    assert events["payout.paid"]["data"]["net"] == {"amount": "3.80", "currency": "GBP"}
    assert events["payout.paid"]["data"]["value"] == {"amount": "5.00", "currency": "USD"}
    goal_ids = [payload["id"] for payload in payloads(recorder) if payload["type"] == "goal.reached"]
    assert goal_ids == [f"evt_goal_{stream.pk}_1000"]  # once, though two later gifts were above it


def test_only_subscribed_event_types_and_only_the_creators_own(alice, bob, stream, recorder, settings):
    settings.API_WEBHOOKS_ALLOW_LOCAL = True
    webhooks.endpoint_create(creator=bob, url="http://127.0.0.1:8162/a", event_types=["stream.ended"])
    carol = make_user(email="carol@example.com", is_creator=True)
    webhooks.endpoint_create(creator=carol, url="http://127.0.0.1:8162/c", event_types=ALL_EVENTS)
    fund(alice, 100)
    gift(alice, stream)

    tasks.webhooks_dispatch()

    assert recorder.calls == []  # Bob wants stream ends only; Carol's endpoint never sees Bob's events
    stream_end(stream=stream, creator=bob)
    tasks.webhooks_dispatch()
    assert [(url, json.loads(body)["type"]) for url, body, _h in recorder.calls] == [
        ("http://127.0.0.1:8162/a", "stream.ended")
    ]


def test_failures_back_off_then_give_up_disable_and_email_once(
    alice, stream, endpoint, monkeypatch, mailoutbox, django_capture_on_commit_callbacks
):
    failing = Recorder(OSError("connection refused"))
    monkeypatch.setattr(webhooks, "urllib_transport", failing)
    fund(alice, 100)
    gift(alice, stream)
    webhooks.webhooks_collect()
    delivery = WebhookDelivery.objects.get(event_type="gift.sent")
    waits = []
    for _attempt in range(len(webhooks.RETRY_SCHEDULE) + 1):
        before = timezone.now()
        with django_capture_on_commit_callbacks(execute=True):
            assert webhooks.delivery_send(delivery_id=delivery.pk) in (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
        delivery.refresh_from_db()
        waits.append(round((delivery.next_attempt_at - before).total_seconds()))

    assert waits[:-1] == list(webhooks.RETRY_SCHEDULE)  # exponential, then flat at 8 hours
    assert sum(webhooks.RETRY_SCHEDULE) > 24 * 60 * 60
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        DeliveryStatus.FAILED,
        13,
        "connection refused",
    )
    endpoint.refresh_from_db()
    assert endpoint.is_active is False and endpoint.disabled_reason == "connection refused"
    assert len(mailoutbox) == 1 and endpoint.url in mailoutbox[0].body and mailoutbox[0].to == ["bob@example.com"]
    # A disabled endpoint gets nothing more, and disabling again sends no second email
    assert webhooks.endpoint_disable(endpoint_id=endpoint.pk, reason="again") is False
    assert tasks.webhook_disabled_email(endpoint.pk) is False  # a re-delivered task sends nothing more
    assert len(mailoutbox) == 1


def test_a_disabled_endpoint_whose_email_the_broker_refused_is_announced_by_the_sweep(
    endpoint, settings, mailoutbox, django_capture_on_commit_callbacks
):
    """The creator must hear that their endpoint stopped receiving events, even when the broker refused the email's
    task at the commit that disabled it; the sweep queues it once overdue, and it goes out once."""
    settings.EMAILS_RESEND_AFTER_SECONDS = 600

    def broker_down(endpoint_id):
        raise KombuOperationalError("Error 111 connecting to redis:6379. Connection refused.")

    with pytest.MonkeyPatch.context() as patch, django_capture_on_commit_callbacks(execute=True):
        patch.setattr("api.tasks.webhook_disabled_email.delay", broker_down)
        assert webhooks.endpoint_disable(endpoint_id=endpoint.pk, reason="connection refused") is True
    assert mailoutbox == []

    def disabled_ago(seconds: int) -> None:
        disabled_at = timezone.now() - datetime.timedelta(seconds=seconds)
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(disabled_at=disabled_at)

    disabled_ago(500)
    assert tasks.webhook_emails_sweep() == 0  # not yet: the task may still be on its way
    disabled_ago(700)
    assert tasks.webhook_emails_sweep() == 1

    [notice] = mailoutbox
    assert (notice.subject, notice.to) == ("Your Coinsite webhook endpoint was disabled", ["bob@example.com"])
    assert endpoint.url in notice.body
    disabled_ago(1300)  # the next age at which an unsent email is due: it was sent, so nothing is
    assert tasks.webhook_emails_sweep() == 0
    assert len(mailoutbox) == 1


def test_an_endpoint_turned_back_on_is_not_announced_as_disabled(endpoint, bob, settings, mailoutbox):
    settings.EMAILS_RESEND_AFTER_SECONDS = 600
    with pytest.MonkeyPatch.context() as patch:  # the email's task never ran
        patch.setattr("api.tasks.webhook_disabled_email.delay", lambda endpoint_id: None)
        webhooks.endpoint_disable(endpoint_id=endpoint.pk, reason="connection refused")
    assert webhooks.endpoint_enable(creator=bob, endpoint_id=endpoint.pk) is True
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(disabled_at=timezone.now() - datetime.timedelta(seconds=700))

    assert webhooks.endpoint_disabled_notices_unsent() == []
    assert tasks.webhook_disabled_email(endpoint.pk) is False
    assert mailoutbox == []


def test_a_failed_attempt_is_retried_when_due_and_not_before(alice, stream, endpoint, monkeypatch):
    flaky = Recorder(500, 200)
    monkeypatch.setattr(webhooks, "urllib_transport", flaky)
    fund(alice, 100)
    gift(alice, stream)
    webhooks.webhooks_collect()
    WebhookDelivery.objects.exclude(event_type="gift.sent").delete()

    [first] = webhooks.deliveries_claim_due()
    assert webhooks.delivery_send(delivery_id=first) == DeliveryStatus.PENDING
    assert webhooks.deliveries_claim_due() == []  # due in 30 s
    later = timezone.now() + datetime.timedelta(seconds=31)
    assert webhooks.deliveries_claim_due(now=later) == [first]
    assert webhooks.delivery_send(delivery_id=first) == DeliveryStatus.DELIVERED
    delivery = WebhookDelivery.objects.get(pk=first)
    assert (delivery.attempts, delivery.last_status_code) == (2, 200)
    assert [headers["Coinsite-Delivery-Attempt"] for _u, _b, headers in flaky.calls] == ["1", "2"]
    assert len({headers["Coinsite-Event-Id"] for _u, _b, headers in flaky.calls}) == 1


def test_a_disabled_endpoints_deliveries_wait_until_it_is_on_again(bob, alice, stream, endpoint, recorder):
    fund(alice, 100)
    gift(alice, stream)
    webhooks.webhooks_collect()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)

    assert webhooks.deliveries_claim_due() == []

    assert webhooks.endpoint_enable(creator=bob, endpoint_id=endpoint.pk)
    tasks.webhooks_dispatch()
    assert [json.loads(body)["type"] for _u, body, _h in recorder.calls] == ["gift.sent"]


def test_a_rotated_secret_overlaps_then_expires(bob, endpoint, recorder, alice, stream):
    client = example_client()
    old = endpoint.secret
    rotated = webhooks.endpoint_secret_rotate(creator=bob, endpoint_id=endpoint.pk)
    assert rotated is not None and rotated.secret != old
    fund(alice, 100)
    gift(alice, stream)

    tasks.webhooks_dispatch()

    _url, body, headers = recorder.calls[0]
    signature = headers["Coinsite-Signature"]
    assert signature.count("v1=") == 2
    assert client.verify_signature(body, signature, [old]) and client.verify_signature(
        body, signature, [rotated.secret]
    )
    assert not client.verify_signature(body, signature, ["whsec_wrong"])
    assert not client.verify_signature(body, signature, [rotated.secret], now=time.time() + 600)  # too old
    # After the overlap only the new secret signs
    later = timezone.now() + webhooks.SECRET_OVERLAP + datetime.timedelta(seconds=1)
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secrets_in_use(later) == [rotated.secret]


def test_replay_sends_a_delivered_event_again(bob, alice, stream, endpoint, recorder):
    fund(alice, 100)
    gift(alice, stream)
    tasks.webhooks_dispatch()
    delivery = WebhookDelivery.objects.get(event_type="gift.sent")
    sent = len(recorder.calls)

    assert webhooks.delivery_replay(creator=alice, delivery_id=delivery.pk) is None  # not hers
    assert webhooks.delivery_replay(creator=bob, delivery_id=delivery.pk) is not None
    tasks.webhooks_dispatch()

    assert len(recorder.calls) == sent + 1
    assert json.loads(recorder.calls[-1][1])["id"] == f"evt_gift_{delivery.payload['data']['gift_event_id']}"


def test_a_chat_message_reaches_a_local_receiver_signed_and_verified(alice, bob, stream, endpoint):
    # Given Bob's endpoint and a receiver built the way docs/api.md says
    received = []
    receiver = local_receiver(endpoint, received.append)
    try:
        # When Alice chats on Bob's stream and the dispatcher runs
        message = chat_post(author=alice, stream_id=stream.pk, text="Love this <b>sketch</b> 🎨")
        tasks.webhooks_dispatch()
    finally:
        receiver.stop()

    # Then the receiver got the message, verified against the secret, with her display name and never her email
    assert receiver.rejected == 0
    [event] = received
    assert (event["type"], event["id"]) == ("chat.message", f"evt_chat_{message.pk}")
    assert event["data"] == {
        "message_id": message.pk,
        "stream_id": stream.pk,
        "author": {"display_name": "Alice"},
        "text": "Love this <b>sketch</b> 🎨",
        "created_at": message.created_at.isoformat(),
    }
    assert alice.email not in json.dumps(event)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.event_type, delivery.status) == ("chat.message", DeliveryStatus.DELIVERED)


def test_a_chat_message_is_not_delivered_twice(alice, stream, endpoint, recorder):
    chat_post(author=alice, stream_id=stream.pk, text="hello")
    tasks.webhooks_dispatch()

    for _ in range(3):
        tasks.webhooks_dispatch()  # read again while it settles: the same event id, no new delivery
    settled = timezone.now() + webhooks.GIFT_SETTLE + datetime.timedelta(seconds=1)
    webhooks.webhooks_collect(now=settled)  # the cursor passes it
    webhooks.webhooks_collect(now=settled)
    tasks.webhooks_dispatch()

    assert [payload["type"] for payload in payloads(recorder)] == ["chat.message"]
    assert WebhookDelivery.objects.count() == 1


def test_a_chat_message_deleted_before_collection_is_not_sent(alice, bob, stream, endpoint, recorder):
    kept = chat_post(author=alice, stream_id=stream.pk, text="nice line work")
    removed = chat_post(author=alice, stream_id=stream.pk, text="something the creator deleted")
    chat_delete(moderator=bob, message_id=removed.pk)

    tasks.webhooks_dispatch()
    webhooks.webhooks_collect(now=timezone.now() + webhooks.GIFT_SETTLE + datetime.timedelta(seconds=1))
    tasks.webhooks_dispatch()

    assert [payload["id"] for payload in payloads(recorder)] == [f"evt_chat_{kept.pk}"]
    assert not any(b"something the creator deleted" in body for _url, body, _headers in recorder.calls)
    assert ChatMessage.objects.filter(pk=removed.pk, deleted_at__isnull=False).exists()


def test_chat_messages_go_only_to_the_creators_own_endpoints_that_chose_them(alice, bob, stream, recorder, settings):
    settings.API_WEBHOOKS_ALLOW_LOCAL = True
    webhooks.endpoint_create(creator=bob, url="http://127.0.0.1:8162/chat", event_types=["chat.message"])
    webhooks.endpoint_create(creator=bob, url="http://127.0.0.1:8162/gifts", event_types=["gift.sent"])
    carol = make_user(email="carol@example.com", display_name="Carol", is_creator=True)
    webhooks.endpoint_create(creator=carol, url="http://127.0.0.1:8162/carol", event_types=ALL_EVENTS)
    carols_stream = stream_start(creator=carol, title="Carol's show")

    on_bobs = chat_post(author=alice, stream_id=stream.pk, text="hi Bob")
    on_carols = chat_post(author=alice, stream_id=carols_stream.pk, text="hi Carol")
    tasks.webhooks_dispatch()

    delivered = sorted(
        (url, event["id"])
        for url, event in ((url, json.loads(body)) for url, body, _h in recorder.calls)
        if event["type"] == "chat.message"  # Carol's endpoint also gets her own stream.started
    )
    assert delivered == [
        ("http://127.0.0.1:8162/carol", f"evt_chat_{on_carols.pk}"),
        ("http://127.0.0.1:8162/chat", f"evt_chat_{on_bobs.pk}"),
    ]  # Carol's endpoint never sees Bob's chat; Bob's gift-only endpoint gets no chat


def test_the_studio_form_offers_chat_messages(client, bob, settings):
    settings.API_WEBHOOKS_ALLOW_LOCAL = True
    client.force_login(bob)
    sudo_fresh(client)
    assert 'value="chat.message"' in client.get(WEBHOOKS_URL).content.decode()

    client.post(WEBHOOKS_URL, {"url": "http://127.0.0.1:8163/hook", "event_types": ["chat.message"]})

    assert WebhookEndpoint.objects.get().event_types == ["chat.message"]


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "https://user:pw@example.com/",
        "ftp://example.com/",
        "https://127.0.0.1/hook",
        "https://10.0.0.8/",
        "https://[::1]/",
        "https://localhost/",
        "https://" + "a" * 600 + ".com/",
    ],
)
def test_production_refuses_insecure_or_private_endpoints(bob, settings, url):
    settings.API_WEBHOOKS_ALLOW_LOCAL = False

    with pytest.raises(webhooks.WebhookError):
        webhooks.endpoint_create(creator=bob, url=url, event_types=["gift.sent"])
    assert WebhookEndpoint.objects.count() == 0


def test_the_transport_refuses_a_private_address_at_send_time(settings):
    settings.API_WEBHOOKS_ALLOW_LOCAL = False

    with pytest.raises(ValueError):
        webhooks.urllib_transport("https://127.0.0.1/hook", b"{}", {}, 1)


# --- The studio page --------------------------------------------------------------------------------------


def test_the_webhook_page_is_for_creators_behind_the_sudo_recheck(client, alice, bob):
    client.force_login(alice)
    assert client.get(WEBHOOKS_URL).status_code == 403
    client.force_login(bob)
    response = client.get(WEBHOOKS_URL)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/confirm/")


def test_adding_an_endpoint_shows_its_secret_once(client, bob, settings, django_assert_max_num_queries):
    settings.API_WEBHOOKS_ALLOW_LOCAL = True
    client.force_login(bob)
    sudo_fresh(client)

    response = client.post(
        WEBHOOKS_URL, {"url": "http://127.0.0.1:8163/hook", "event_types": ["gift.sent", "goal.reached"]}
    )

    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_") and endpoint.secret in response.content.decode()
    assert endpoint.event_types == ["gift.sent", "goal.reached"]
    with django_assert_max_num_queries(8):
        page = client.get(WEBHOOKS_URL).content.decode()
    assert endpoint.secret not in page and endpoint.url in page


def test_a_bad_endpoint_form_writes_nothing(client, bob, settings):
    settings.API_WEBHOOKS_ALLOW_LOCAL = False
    client.force_login(bob)
    sudo_fresh(client)

    response = client.post(WEBHOOKS_URL, {"url": "http://example.com/", "event_types": ["gift.sent"]})

    assert response.status_code == 400
    assert WebhookEndpoint.objects.count() == 0


def test_another_creator_cannot_touch_my_endpoint(client, endpoint):
    carol = make_user(email="carol@example.com", is_creator=True)
    client.force_login(carol)
    sudo_fresh(client)
    secret = endpoint.secret

    client.post(f"{WEBHOOKS_URL}{endpoint.pk}/rotate/")
    client.post(f"{WEBHOOKS_URL}{endpoint.pk}/delete/")

    endpoint.refresh_from_db()
    assert endpoint.secret == secret
    assert endpoint.url not in client.get(WEBHOOKS_URL).content.decode()


def test_rotate_and_enable_from_the_page(client, bob, endpoint):
    client.force_login(bob)
    sudo_fresh(client)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False, disabled_reason="timeout")

    rotated = client.post(f"{WEBHOOKS_URL}{endpoint.pk}/rotate/")
    enabled = client.post(f"{WEBHOOKS_URL}{endpoint.pk}/enable/")

    endpoint.refresh_from_db()
    assert endpoint.secret in rotated.content.decode() and endpoint.previous_secret
    assert enabled.status_code == 302 and endpoint.is_active


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_through_the_broker(real_celery_worker, settings, monkeypatch):
    ensure_countries()
    catalogue_reseed()
    for code in (SystemAccount.COINS_CONSUMED, SystemAccount.DIAMONDS_ISSUED):
        system_account(code)
    settings.API_WEBHOOKS_ALLOW_LOCAL = True
    creator = make_user(email="star@example.com", is_creator=True, country="GB")
    viewer = make_user(email="fan@example.com")
    endpoint = webhooks.endpoint_create(creator=creator, url="http://127.0.0.1:9/", event_types=["gift.sent"])
    received = []
    receiver = local_receiver(endpoint, received.append)
    try:
        stream = stream_start(creator=creator, title="Worker")
        fund(viewer, 10)
        gift(viewer, stream, quantity=1)
        tasks.webhooks_dispatch.delay()
        deadline = time.time() + 30
        while not received and time.time() < deadline:
            time.sleep(0.2)
    finally:
        receiver.stop()

    assert [event["type"] for event in received] == ["gift.sent"]
    assert WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED
