"""Publishing live events: after the gift's commit, off its thread, on Redis pub/sub or a NOTIFY of its own.

The gift transaction itself notifies nobody (PostgreSQL commits notifying transactions one at a time),
never waits for the bus and never fails because of it.
"""

import json
import threading
import time
import uuid

import psycopg
import pytest
import redis
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from gifting.live import publish
from gifting.live.events import LiveEvent
from gifting.models import GiftEvent
from gifting.services import NotEnoughCoins, gift_send, stream_end, stream_goal_set
from gifting.tests.live_support import GatedTransport
from gifting.tests.support import fund
from wallet.ledger import user_balance
from wallet.models import Asset

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_TEST_URL = "redis://127.0.0.1:6379/4"


def send(sender, stream, gift, *, key: str | None = None, anonymous: bool = False) -> GiftEvent:
    return gift_send(
        sender=sender,
        stream_id=stream.pk,
        gift_id=gift.pk,
        quantity=1,
        idempotency_key=key or f"pub-{uuid.uuid4()}",
        anonymous=anonymous,
    )


@pytest.fixture
def listener(db):
    """A connection LISTENing on the live channel, as each web process's hub does without Redis."""
    conn = psycopg.connect(publish.database_conninfo(), autocommit=True)
    conn.execute(f"LISTEN {publish.NOTIFY_CHANNEL}")
    yield conn
    conn.close()


def received(conn, timeout: float = 0.5) -> list[LiveEvent]:
    return [LiveEvent.from_wire(note.payload) for note in conn.notifies(timeout=timeout)]


class BrokenTransport:
    def __init__(self):
        self.calls = 0

    def send(self, messages, stream_ids):
        self.calls += 1
        raise redis.ConnectionError("the bus is down")

    def close(self):
        pass


# --- After the commit, once -----------------------------------------------------------------------


def test_a_gift_is_published_once_after_its_commit_with_everything_a_page_shows(alice, stream, coffee, listener):
    fund(alice, 100)

    event = send(alice, stream, coffee)
    assert publish.publisher().flush()

    [published] = received(listener)
    assert (published.stream_id, published.type, published.source, published.event_id) == (
        stream.pk,
        "gift",
        "g",
        event.pk,
    )
    payload = json.loads(published.data)
    assert payload["gift"] == {
        "id": coffee.pk,
        "name": coffee.name,
        "artwork": "/static/gifts/test-coffee.svg",
        "tier": "small",
    }
    assert (payload["id"], payload["quantity"], payload["coins"], payload["sender"]) == (
        event.pk,
        1,
        30,
        {"name": "Alice"},
    )
    assert payload["anonymous"] is False
    assert abs(payload["committed_at"] / 1000 - time.time()) < 60


def test_the_gift_transaction_sends_no_notify(alice, stream, coffee):
    fund(alice, 100)

    with CaptureQueriesContext(connection) as queries:
        send(alice, stream, coffee)

    assert queries.captured_queries
    assert not [query for query in queries.captured_queries if "notify" in query["sql"].lower()]


def test_a_replayed_gift_is_not_published_again(alice, stream, coffee, listener):
    fund(alice, 100)
    send(alice, stream, coffee, key="same")
    publish.publisher().flush()
    received(listener)

    send(alice, stream, coffee, key="same")
    publish.publisher().flush()

    assert received(listener) == []


def test_a_refused_gift_publishes_nothing(alice, stream, coffee, listener):
    with pytest.raises(NotEnoughCoins):
        send(alice, stream, coffee)

    assert received(listener) == []


def test_an_event_rolled_back_with_its_transaction_is_never_published(stream, listener):
    with pytest.raises(RuntimeError), transaction.atomic():
        publish.live_publish(stream_id=stream.pk, event="goal", data={"goal_coins": 5, "label": ""})
        raise RuntimeError("rolled back")

    assert received(listener) == []


def test_stream_end_and_goal_changes_are_published(bob, stream, listener):
    stream_goal_set(stream=stream, creator=bob, goal_coins=2_500, goal_label="Lights")
    stream_end(stream=stream, creator=bob)
    stream_end(stream=stream, creator=bob)  # already ended: nothing new to say
    publish.publisher().flush()

    events = received(listener)

    assert [
        (event.type, json.loads(event.data)["goal_coins" if event.type == "goal" else "state"]) for event in events
    ] == [
        ("goal", 2_500),
        ("stream", "ended"),
    ]


# --- The bus never holds up or fails the money ----------------------------------------------------------


def test_a_hanging_bus_neither_delays_nor_fails_the_gift(monkeypatch, alice, stream, coffee, listener):
    gated = GatedTransport(publish.transport_for_settings())
    monkeypatch.setattr(publish, "transport_for_settings", lambda: gated)
    publish.publisher_reset()
    fund(alice, 100)

    events = [send(alice, stream, coffee) for _ in range(3)]  # returns although the bus has not taken one yet

    assert GiftEvent.objects.filter(pk__in=[event.pk for event in events]).count() == 3
    assert user_balance(alice, Asset.COIN) == 10
    assert received(listener) == []  # committed, yet nothing was notified inside those commits
    gated.gate.set()
    assert publish.publisher().flush()
    assert [event.event_id for event in received(listener)] == [event.pk for event in events]


def test_a_failing_bus_never_fails_the_gift(monkeypatch, caplog, alice, stream, coffee):
    broken = BrokenTransport()
    monkeypatch.setattr(publish, "transport_for_settings", lambda: broken)
    monkeypatch.setattr(publish, "RETRY_SECONDS", (0, 0))
    publish.publisher_reset()
    fund(alice, 100)

    event = send(alice, stream, coffee)

    assert publish.publisher().flush()
    assert GiftEvent.objects.get().pk == event.pk
    assert user_balance(alice, Asset.COIN) == 70
    assert broken.calls == 3  # the first try and two retries, then given up on (rows are replayed from the database)
    assert "Live events not published after 3 attempts" in caplog.text


class RecordingTransport:
    def __init__(self):
        self.batches = []

    def send(self, messages, stream_ids):
        self.batches.append(list(messages))

    def close(self):
        pass


def test_a_burst_of_events_goes_to_the_bus_in_one_batch_and_a_lone_one_still_goes(monkeypatch, stream):
    recording = RecordingTransport()
    monkeypatch.setattr(publish, "transport_for_settings", lambda: recording)
    monkeypatch.setattr(publish, "PUBLISH_LINGER_SECONDS", 0.3)  # long enough for a loaded machine's burst
    publish.publisher_reset()
    publisher = publish.publisher()

    for goal in range(5):  # a gift every 20 ms: each would wake the thread and go alone without the wait
        publisher.put((stream.pk, "goal", {"goal_coins": goal}, "", 0))
        time.sleep(0.02)
    assert publisher.flush()
    publisher.put((stream.pk, "goal", {"goal_coins": 5}, "", 0))  # the thread sleeps again: this must wake it
    assert publisher.flush()

    goals = [
        [json.loads(LiveEvent.from_wire(message).data)["goal_coins"] for message in batch]
        for batch in recording.batches
    ]
    assert goals == [[0, 1, 2, 3, 4], [5]]


def test_a_full_queue_drops_the_oldest_events_and_keeps_going(monkeypatch, stream):
    gated = GatedTransport(BrokenTransport())
    monkeypatch.setattr(publish, "transport_for_settings", lambda: gated)
    monkeypatch.setattr(publish, "PUBLISH_QUEUE_LIMIT", 3)
    monkeypatch.setattr(publish, "RETRY_SECONDS", ())
    publisher = publish.publisher()
    publisher.put((stream.pk, "goal", {}, "", 0))
    while not gated.calls:  # the thread has taken the first event and hangs on the bus
        time.sleep(0.01)

    for goal in range(5):
        publisher.put((stream.pk, "goal", {"goal_coins": goal}, "", 0))

    assert [item[2]["goal_coins"] for item in publisher.queue] == [2, 3, 4]
    assert publisher.dropped == 2
    gated.gate.set()


# --- Redis ----------------------------------------------------------------------------------------------


@pytest.fixture
def redis_bus(settings):
    """Live events on Redis pub/sub, on a channel of this test's own (channels are shared by every Redis db)."""
    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    settings.REDIS_URL = REDIS_TEST_URL
    settings.LIVE_REDIS_PREFIX = f"test-{uuid.uuid4().hex}:"
    publish.publisher_reset()
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(publish.redis_channel())
    yield pubsub
    pubsub.close()
    client.close()


def next_message(pubsub, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.2)  # None also for the (ignored) subscription confirmation
        if message is not None:
            return message
    raise AssertionError("nothing was published")


def test_with_redis_a_gift_goes_through_pub_sub_after_its_commit(alice, stream, coffee, redis_bus, listener):
    fund(alice, 100)

    event = send(alice, stream, coffee, anonymous=True)
    assert publish.publisher().flush()

    published = LiveEvent.from_wire(next_message(redis_bus)["data"])
    assert (published.type, published.event_id) == ("gift", event.pk)
    assert json.loads(published.data)["sender"] is None
    assert received(listener) == []  # and no NOTIFY at all


def test_with_the_cache_on_the_same_redis_a_batch_drops_its_poll_documents_in_its_publish_round_trip(
    settings, monkeypatch, redis_bus, stream
):
    settings.CACHES = {
        "default": {
            "BACKEND": "coinsite.lib.redis_cache.RedisCache",
            "LOCATION": REDIS_TEST_URL,
            "KEY_PREFIX": settings.LIVE_REDIS_PREFIX,
        }
    }
    publish.publisher_reset()
    publisher = publish.publisher()
    publisher.put((stream.pk, "goal", {"goal_coins": 1}, "", 0))  # connects (and says hello) before we count
    assert publisher.flush()
    next_message(redis_bus)
    this_stream, other_stream = publish.poll_cache_key(stream.pk), publish.poll_cache_key(stream.pk + 1)
    cache.set_many({this_stream: b"{}", other_stream: b"{}"}, 60)
    round_trips = []
    send_packed_command = redis.connection.AbstractConnection.send_packed_command

    def counted(connection, command, *args, **kwargs):
        if threading.current_thread() is publisher.thread:
            round_trips.append(command)
        return send_packed_command(connection, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)

    publisher.put((stream.pk, "goal", {"goal_coins": 2}, "", 0))
    assert publisher.flush()

    published = LiveEvent.from_wire(next_message(redis_bus)["data"])
    assert (published.stream_id, published.type, json.loads(published.data)["goal_coins"]) == (stream.pk, "goal", 2)
    assert cache.get(this_stream) is None
    assert cache.get(other_stream) == b"{}"  # another stream's document stays
    assert len(round_trips) == 1  # the DEL went in the PUBLISH pipeline
