"""Live gifts in real time: NOTIFY after a gift commits, the Server-Sent Events stream, and the OBS overlay."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections
from django.test import AsyncClient
from django.urls import reverse

from coinsite.accounts.tests.factories import make_user
from gifting import realtime
from gifting.models import CreatorProfile
from gifting.services import NotEnoughCoins, gift_send, overlay_token_regenerate
from gifting.tests.support import fund

pytestmark = pytest.mark.django_db(transaction=True)


def send(sender, stream, gift, *, key="rt-1"):
    return gift_send(sender=sender, stream_id=stream.pk, gift_id=gift.pk, quantity=1, idempotency_key=key)


@pytest.fixture
def listener(stream):
    """A separate connection LISTENing on the gifts channel, as each web process's shared listener does."""
    conn = psycopg.connect(realtime.listen_conninfo(), autocommit=True)
    conn.execute(f"LISTEN {realtime.CHANNEL}")
    yield conn
    conn.close()


def in_thread(function):
    """Run `function` on a fresh thread and return its result: the browser tests leave Playwright's event loop
    running in the test thread, where neither asyncio.run nor a sync client calling an async view can work."""

    def run():
        try:
            return function()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=30)


def received(conn) -> list[tuple[str, str]]:
    return [(note.channel, note.payload) for note in conn.notifies(timeout=0.5)]


# --- NOTIFY after commit ---------------------------------------------------------------------------


def test_gift_notifies_its_stream_once_after_commit(alice, stream, coffee, listener):
    fund(alice, 100)

    event = send(alice, stream, coffee)

    assert received(listener) == [(realtime.CHANNEL, f"{stream.pk}:{event.pk}")]


def test_replayed_gift_does_not_notify_again(alice, stream, coffee, listener):
    fund(alice, 100)
    send(alice, stream, coffee, key="same")
    received(listener)

    send(alice, stream, coffee, key="same")

    assert received(listener) == []


def test_failed_gift_notifies_nothing(alice, stream, coffee, listener):
    with pytest.raises(NotEnoughCoins):
        send(alice, stream, coffee)

    assert received(listener) == []


def test_notify_waits_for_the_outer_commit_and_is_dropped_on_rollback(alice, stream, coffee, listener):
    fund(alice, 100)

    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        realtime.notify_stream(stream.pk, 42)
        assert received(listener) == []  # not before commit
        cursor.execute("ROLLBACK")

    assert received(listener) == []


# --- The event stream --------------------------------------------------------------------------


def _send_in_thread(alice, stream, coffee):
    try:
        return send(alice, stream, coffee, key="sse-1")
    finally:
        connection.close()


def test_event_stream_yields_a_gift_event_after_a_gift_is_sent(alice, stream, coffee):
    fund(alice, 100)

    async def scenario():
        events = realtime.stream_events(stream.pk, lifetime=10, keepalive=5)
        try:
            assert await anext(events) == f"retry: {realtime.RETRY_MS}\n\n"  # listening now
            event = await asyncio.to_thread(_send_in_thread, alice, stream, coffee)
            return event, await asyncio.wait_for(anext(events), timeout=5)
        finally:
            await events.aclose()

    event, chunk = in_thread(lambda: asyncio.run(scenario()))

    assert chunk == f"event: gift\ndata: {event.pk}\n\n"


def test_many_event_streams_share_one_listener_and_get_only_their_streams_gifts(alice, bob, stream, coffee):
    from gifting.services import stream_start

    other_creator = make_user(email="olga@example.com", display_name="Olga", is_creator=True)
    other = stream_start(creator=other_creator, title="Elsewhere")
    fund(alice, 100)

    async def scenario():
        watchers = [realtime.stream_events(stream.pk, lifetime=10, keepalive=5) for _ in range(3)]
        elsewhere = realtime.stream_events(other.pk, lifetime=10, keepalive=0.5)
        try:
            for events in [*watchers, elsewhere]:
                await anext(events)  # subscribed
            hub = realtime._hub()
            backends = await _listener_backends()
            event = await asyncio.to_thread(_send_in_thread, alice, stream, coffee)
            chunks = [await asyncio.wait_for(anext(events), timeout=5) for events in watchers]
            other_chunk = await asyncio.wait_for(anext(elsewhere), timeout=5)
            return event, chunks, other_chunk, backends, sum(len(queues) for queues in hub.subscribers.values())
        finally:
            for events in [*watchers, elsewhere]:
                await events.aclose()

    event, chunks, other_chunk, backends, subscribers = in_thread(lambda: asyncio.run(scenario()))

    assert chunks == [f"event: gift\ndata: {event.pk}\n\n"] * 3
    assert other_chunk == ": keepalive\n\n"  # the gift was not for this stream
    assert subscribers == 4
    assert backends == 1  # four browsers, one LISTEN connection


async def _listener_backends() -> int:
    conn = await psycopg.AsyncConnection.connect(realtime.listen_conninfo(), autocommit=True)
    try:
        cursor = await conn.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()",
            [f"LISTEN%{realtime.CHANNEL}%"],
        )
        return (await cursor.fetchone())[0]
    finally:
        await conn.close()


def test_event_stream_sends_keepalives_and_ends_after_its_lifetime(stream):
    async def scenario():
        return [chunk async for chunk in realtime.stream_events(stream.pk, lifetime=0.6, keepalive=0.25)]

    chunks = in_thread(lambda: asyncio.run(scenario()))

    assert chunks[0].startswith("retry:")
    assert chunks[1:] == [": keepalive\n\n"] * 3


def test_events_view_streams_server_sent_events_under_asgi(stream):
    async def scenario():
        response = await AsyncClient().get(reverse("gifting:events", args=[stream.pk]))
        content = response.streaming_content
        try:
            first = await anext(content)
        finally:
            await content.aclose()
            await sync_to_async(connections.close_all)()  # the view's ORM thread, as request_finished would
        return response, first

    response, first = in_thread(lambda: asyncio.run(scenario()))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"].startswith("no-cache")
    assert response["X-Accel-Buffering"] == "no"
    assert first == f"retry: {realtime.RETRY_MS}\n\n".encode()


def test_events_view_tells_wsgi_clients_to_poll_instead(client, stream):
    response = in_thread(lambda: client.get(reverse("gifting:events", args=[stream.pk])))

    assert response.status_code == 204


def test_events_view_404s_for_an_unknown_stream(client, countries):
    response = in_thread(lambda: client.get(reverse("gifting:events", args=[999_999])))

    assert response.status_code == 404


# --- The OBS overlay --------------------------------------------------------------------------


def _overlay_url(token: str) -> str:
    return reverse("gifting:overlay", args=[token])


def test_overlay_shows_the_creators_current_stream_gifts_without_login(client, alice, bob, stream, coffee):
    fund(alice, 100)
    event = send(alice, stream, coffee)
    token = CreatorProfile.objects.get_or_create(user=bob)[0].overlay_token

    page = client.get(_overlay_url(token))
    fragment = client.get(reverse("gifting:overlay-feed", args=[token]))

    assert page.status_code == 200
    assert reverse("gifting:events", args=[stream.pk]).encode() in page.content
    assert fragment.status_code == 200
    assert f'data-event-id="{event.pk}"'.encode() in fragment.content
    assert b"Alice</strong> sent 1" in fragment.content


def test_overlay_with_an_unknown_token_is_not_found(client, bob):
    CreatorProfile.objects.get_or_create(user=bob)

    assert client.get(_overlay_url("not-the-token")).status_code == 404
    assert client.get(reverse("gifting:overlay-feed", args=["not-the-token"])).status_code == 404


def test_regenerating_the_token_retires_the_old_overlay_url(client, bob, countries):
    old = CreatorProfile.objects.get_or_create(user=bob)[0].overlay_token
    client.force_login(bob)

    response = client.post(reverse("gifting:studio-overlay-regenerate"))

    new = CreatorProfile.objects.get(user=bob).overlay_token
    assert response.status_code == 302
    assert new != old
    assert client.get(_overlay_url(old)).status_code == 404
    assert client.get(_overlay_url(new)).status_code == 200
    assert _overlay_url(new) in client.get(reverse("gifting:studio")).content.decode()


def test_only_creators_can_regenerate_and_only_their_own_token(client, alice, bob, countries):
    bob_token = CreatorProfile.objects.get_or_create(user=bob)[0].overlay_token
    carol = make_user(email="carol@example.com", display_name="Carol", is_creator=True)
    client.force_login(alice)

    assert client.post(reverse("gifting:studio-overlay-regenerate")).status_code == 403

    client.force_login(carol)
    client.post(reverse("gifting:studio-overlay-regenerate"))
    assert CreatorProfile.objects.get(user=bob).overlay_token == bob_token
    assert CreatorProfile.objects.filter(user=carol).exists()


def test_overlay_token_regenerate_service_changes_the_token(bob, countries):
    old = CreatorProfile.objects.get_or_create(user=bob)[0].overlay_token

    assert overlay_token_regenerate(creator=bob).overlay_token != old


def test_overlay_without_a_live_stream_renders_empty(client, bob, countries):
    token = CreatorProfile.objects.get_or_create(user=bob)[0].overlay_token

    response = client.get(_overlay_url(token))

    assert response.status_code == 200
    assert b"data-events-url" not in response.content
