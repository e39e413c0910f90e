"""The live event stream: pushed payloads, resuming with Last-Event-ID, catching up what the bus lost.

Each scenario runs the live ASGI app in an event loop of its own (as a web process does), with gifts
sent from another thread through the real service and the real bus (NOTIFY here, Redis where named).
"""

import asyncio
import json
import shutil
import socket
import subprocess
import time
import uuid

import pytest
from django.db import connections
from django.urls import reverse

from coinsite.accounts.tests.factories import make_user
from gifting import presence
from gifting.live import hub as live_hub
from gifting.live import publish, replay
from gifting.live.events import LiveEvent
from gifting.services import gift_send, stream_end, stream_goal_set, stream_start
from gifting.tests.live_support import GatedTransport, StreamClient, gift_ids, run_scenario, send_gifts
from gifting.tests.support import fund

pytestmark = pytest.mark.django_db(transaction=True)


def events_path(stream, query: str = "") -> str:
    return reverse("gifting:events", args=[stream.pk]) + (f"?{query}" if query else "")


async def gifts(sender, stream, gift, count: int = 1, **options) -> list[int]:
    return await asyncio.to_thread(send_gifts, sender, stream, gift, count, **options)


# --- Delivery ---------------------------------------------------------------------------------------------


def test_a_gift_reaches_every_open_stream_of_its_stream_in_the_message_itself(alice, stream, coffee):
    other = stream_start(creator=make_user(email="olga@example.com", is_creator=True), title="Elsewhere")
    fund(alice, 100)

    async def scenario():
        watchers = [await StreamClient(events_path(stream)).open() for _ in range(3)]
        elsewhere = await StreamClient(events_path(other)).open()
        sent = await gifts(alice, stream, coffee)
        for client in watchers:
            await client.wait_for_gifts(1)
        await asyncio.sleep(0.3)
        return sent, watchers, elsewhere

    sent, watchers, elsewhere = run_scenario(scenario)

    for client in watchers:
        assert client.status == 200
        assert client.response_headers[b"content-type"] == b"text/event-stream; charset=utf-8"
        assert client.response_headers[b"cache-control"] == b"no-cache, no-transform"
        assert client.response_headers[b"x-accel-buffering"] == b"no"
        assert client.body.startswith(b"retry: 3000\n\n")
        [gift] = [frame for frame in client.frames if frame.event == "gift"]
        assert gift.id == f"c0.g{sent[0]}"
        assert gift.data["gift"]["name"] == coffee.name
        assert (gift.data["coins"], gift.data["sender"]) == (30, {"name": "Alice"})
    assert gift_ids(elsewhere.frames) == []


def goal_after_gift(count: int):
    """Until the goal event that follows the `count`-th live gift. The hub sends one after every flush with
    gifts, and two gifts committed a flush apart (a busy machine) arrive as two: 60 coins (reached), then 90."""

    def condition(client) -> bool:
        events = [frame.event for frame in client.frames]
        gift_at = [index for index, event in enumerate(events) if event == "gift"]
        return len(gift_at) >= count and "goal" in events[gift_at[count - 1] :]

    return condition


def test_a_stream_opens_with_its_state_and_gifts_move_the_goal(alice, bob, stream, coffee):
    fund(alice, 1_000)
    stream_goal_set(stream=stream, creator=bob, goal_coins=60, goal_label="Lights")
    send_gifts(alice, stream, coffee, 1)  # 30 of 60 coins before anyone watches

    async def scenario():
        client = await StreamClient(events_path(stream)).open()
        await client.wait_for(lambda c: any(frame.event == "goal" for frame in c.frames))
        await gifts(alice, stream, coffee, 2)
        await client.wait_for(goal_after_gift(2))
        await client.close()
        return client

    client = run_scenario(scenario)

    opening = [frame.event for frame in client.frames[:3]]
    assert opening == ["stream", "viewers", "goal"]
    assert client.frames[0].data == {"id": stream.pk, "state": "live", "ended_at": None}
    goals = [
        (frame.data["coins"], frame.data["percent"], frame.data["reached"])
        for frame in client.frames
        if frame.event == "goal"
    ]
    assert goals[0] == (30, 50, False)
    assert goals[-1] == (90, 100, True)


def test_anonymous_gifts_name_nobody_in_any_payload(alice, stream, coffee, client):
    fund(alice, 100)

    async def scenario():
        watcher = await StreamClient(events_path(stream)).open()
        sent = await gifts(alice, stream, coffee, anonymous=True)
        await watcher.wait_for_gifts(1)
        resumed = await StreamClient(events_path(stream), last_event_id="g0").open()
        await resumed.wait_for_gifts(1)
        polled = await live_hub.hub().poll_document(stream.pk)
        return sent, watcher, resumed, polled

    sent, watcher, resumed, polled = run_scenario(scenario)

    live = next(frame.data for frame in watcher.frames if frame.event == "gift")
    replayed = next(frame.data for frame in resumed.frames if frame.event == "gift")
    [in_poll] = json.loads(polled)["gifts"]
    in_view = json.loads(client.get(reverse("gifting:poll", args=[stream.pk])).content)["gifts"][0]
    for payload in (live, replayed, in_poll, in_view):
        assert payload["id"] == sent[0]
        assert (payload["sender"], payload["anonymous"]) == (None, True)
        assert set(payload) == {
            "id",
            "stream",
            "gift",
            "quantity",
            "coins",
            "sender",
            "anonymous",
            "message",
            "created_at",
            "committed_at",
        }
        assert "Alice" not in json.dumps(payload) and "alice@" not in json.dumps(payload)
    assert "Alice" not in watcher.body.decode() + resumed.body.decode()


# --- Resuming ------------------------------------------------------------------------------------------------


def test_resuming_with_last_event_id_loses_nothing_and_repeats_nothing(alice, stream, coffee):
    fund(alice, 1_000)

    async def scenario():
        first = await StreamClient(events_path(stream)).open()
        before = await gifts(alice, stream, coffee, 2)
        await first.wait_for_gifts(2)
        await first.close()
        missed = await gifts(alice, stream, coffee, 3)  # while the browser is reconnecting
        second = await StreamClient(events_path(stream), last_event_id=first.last_id).open()
        await second.wait_for_gifts(3)
        after = await gifts(alice, stream, coffee, 1)
        await second.wait_for_gifts(4)
        await asyncio.sleep(0.3)
        return before, missed, after, first, second

    before, missed, after, first, second = run_scenario(scenario)

    assert gift_ids(first.frames) == before
    assert first.last_id == f"c0.g{before[-1]}"
    assert gift_ids(second.frames) == missed + after
    assert second.last_id == f"c0.g{after[0]}"


def test_a_resume_that_reads_gifts_before_the_hub_hears_of_them_gets_each_once(monkeypatch, alice, stream, coffee):
    gated = GatedTransport(publish.transport_for_settings())
    monkeypatch.setattr(publish, "transport_for_settings", lambda: gated)
    publish.publisher_reset()
    fund(alice, 1_000)

    async def scenario():
        watching = await StreamClient(events_path(stream)).open()
        committed = await asyncio.to_thread(_send_unflushed, alice, stream, coffee, 2)  # the bus is slow today
        resumed = await StreamClient(events_path(stream), last_event_id="g0").open()
        await resumed.wait_for_gifts(2)  # read from the database
        gated.gate.set()  # now the hub hears of them too
        await watching.wait_for_gifts(2)
        await asyncio.sleep(0.3)
        return committed, watching, resumed

    committed, watching, resumed = run_scenario(scenario)

    assert gift_ids(watching.frames) == committed
    assert gift_ids(resumed.frames) == committed


def _send_unflushed(sender, stream, gift, count: int) -> list[int]:
    try:
        return [
            gift_send(sender=sender, stream_id=stream.pk, gift_id=gift.pk, quantity=1, idempotency_key=f"u-{n}").pk
            for n in range(count)
        ]
    finally:
        connections.close_all()


def test_a_page_resumes_from_the_gift_it_rendered(alice, stream, coffee):
    fund(alice, 1_000)
    rendered = send_gifts(alice, stream, coffee, 2)
    since_render = send_gifts(alice, stream, coffee, 1)  # between the page's render and its event stream

    async def scenario():
        client = await StreamClient(events_path(stream, f"after={replay.page_cursor(rendered)}")).open()
        await client.wait_for_gifts(1)
        await asyncio.sleep(0.3)
        return client

    assert gift_ids(run_scenario(scenario).frames) == since_render


def test_resuming_on_a_fresh_hub_replays_from_the_database(alice, stream, coffee):
    fund(alice, 1_000)

    async def watch():
        client = await StreamClient(events_path(stream)).open()
        sent = await gifts(alice, stream, coffee, 1)
        await client.wait_for_gifts(1)
        await client.close()
        return sent, client.last_id

    seen, last_id = run_scenario(watch)  # that process (its hub and bus connection) is gone now
    missed = send_gifts(alice, stream, coffee, 2)

    async def resume():
        client = await StreamClient(events_path(stream), last_event_id=last_id).open()
        await client.wait_for_gifts(2)
        live = await gifts(alice, stream, coffee, 1)
        await client.wait_for_gifts(3)
        await asyncio.sleep(0.3)
        return client, live

    client, live = run_scenario(resume)

    assert gift_ids(client.frames) == missed + live
    assert not set(seen) & set(gift_ids(client.frames))


def test_a_resume_point_too_old_to_replay_resets_the_page_once(monkeypatch, alice, stream, coffee):
    monkeypatch.setattr(replay, "REPLAY_LIMIT", 2)
    fund(alice, 1_000)
    send_gifts(alice, stream, coffee, 3)

    async def scenario():
        client = await StreamClient(events_path(stream), last_event_id="g0").open()
        await client.wait_for(lambda c: any(frame.event == "reset" for frame in c.frames))
        return client

    client = run_scenario(scenario)

    assert [frame.event for frame in client.frames][:2] == ["reset", "viewers"]
    assert gift_ids(client.frames) == []


def test_a_client_resuming_an_ended_stream_gets_what_it_missed_then_the_end(alice, bob, stream, coffee):
    fund(alice, 1_000)
    seen = send_gifts(alice, stream, coffee, 1)
    missed = send_gifts(alice, stream, coffee, 1)
    stream_end(stream=stream, creator=bob)

    async def scenario():
        resumed = await StreamClient(events_path(stream), last_event_id=f"g{seen[0]}").open()
        await resumed.wait_for(lambda c: c.complete)
        caught_up = await StreamClient(events_path(stream), last_event_id=resumed.last_id).open()
        fresh = await StreamClient(events_path(stream)).open()
        return resumed, caught_up, fresh

    resumed, caught_up, fresh = run_scenario(scenario)

    assert gift_ids(resumed.frames) == missed
    assert [frame.data["state"] for frame in resumed.frames if frame.event == "stream"] == ["ended"]
    assert (caught_up.status, fresh.status) == (204, 204)  # nothing more: EventSource stops


def test_open_streams_switch_to_ended_at_once_and_finish(alice, bob, stream):
    async def scenario():
        client = await StreamClient(events_path(stream)).open()
        await client.wait_for(lambda c: c.frames)
        await asyncio.to_thread(_end, stream, bob)
        await client.wait_for(lambda c: c.complete)
        return client

    client = run_scenario(scenario)

    assert client.frames[-1].event == "stream"
    assert client.frames[-1].data["state"] == "ended"


def _end(stream, bob):
    try:
        stream_end(stream=stream, creator=bob)
        publish.publisher().flush()
    finally:
        connections.close_all()


def test_a_client_that_stops_reading_holds_up_nobody_and_is_cut_off(monkeypatch, alice, stream, coffee):
    monkeypatch.setattr(live_hub, "BACKLOG_LIMIT_BYTES", 600)
    fund(alice, 1_000)
    stalled = asyncio.Event()

    async def scenario():
        slow = await StreamClient(events_path(stream), stalled=stalled).open()
        fast = await StreamClient(events_path(stream)).open()
        sent = []
        for _ in range(5):  # one flush each
            sent += await gifts(alice, stream, coffee)
            await fast.wait_for_gifts(len(sent))
        got_while_stalled = gift_ids(slow.frames)
        stalled.set()  # it reads again: what was queued for it, then the end of its stream
        await slow.wait_for(lambda c: c.complete)
        return sent, fast, got_while_stalled, slow

    sent, fast, got_while_stalled, slow = run_scenario(scenario)

    assert gift_ids(fast.frames) == sent
    assert got_while_stalled == []
    assert len(gift_ids(slow.frames)) < len(sent)  # it resumes from the database with its Last-Event-ID


def test_an_idle_stream_gets_keepalives_and_ends_after_its_lifetime(monkeypatch, stream):
    monkeypatch.setattr(live_hub, "KEEPALIVE_SECONDS", 0.5)  # checked every second
    monkeypatch.setattr(live_hub, "LIFETIME_SECONDS", (2.5, 2.5))

    async def scenario():
        client = await StreamClient(events_path(stream)).open()
        await client.wait_for(lambda c: c.complete)
        return client

    client = run_scenario(scenario)

    assert client.body.count(b": keepalive\n\n") >= 2
    assert {frame.event for frame in client.frames} == {"stream", "viewers", "goal"}  # and it ended


# --- Commit order, duplicates, and what the bus lost ---------------------------------------------------


def _gift_wire(stream, event_id: int, coins: int = 1) -> str:
    data = json.dumps({"id": event_id, "coins": coins, "sender": None, "anonymous": True})
    return LiveEvent(stream_id=stream.pk, type="gift", data=data, source="g", event_id=event_id).wire()


def test_events_of_one_flush_go_out_in_id_order_once_each(stream):
    async def scenario():
        client = await StreamClient(events_path(stream)).open()
        hub = live_hub.hub()
        for event_id in (1_000_005, 1_000_003, 1_000_004, 1_000_003):  # commits finished out of order; one twice
            hub.receive(_gift_wire(stream, event_id))
        await client.wait_for_gifts(3)
        await asyncio.sleep(0.2)
        hub.receive(_gift_wire(stream, 1_000_004))  # the same event again, from a catch-up
        await asyncio.sleep(0.3)
        return client

    client = run_scenario(scenario)

    assert gift_ids(client.frames) == [1_000_003, 1_000_004, 1_000_005]
    assert [frame.id for frame in client.frames if frame.event == "gift"] == [
        "c0.g1000003",
        "c0.g1000004",
        "c0.g1000005",
    ]


def test_the_hub_catches_up_rows_the_bus_never_brought(monkeypatch, alice, bob, stream, coffee):
    fund(alice, 1_000)
    stream_goal_set(stream=stream, creator=bob, goal_coins=1_000, goal_label="")

    async def scenario():
        client = await StreamClient(events_path(stream)).open()
        await client.wait_for(lambda c: c.frames)
        with monkeypatch.context() as patched:  # these gifts commit, but their events never reach the bus
            patched.setattr("gifting.services.live_gift_sent", lambda **kwargs: None)
            lost = await gifts(alice, stream, coffee, 2)
        hub = live_hub.hub()
        await hub.refresh(hub.channels[stream.pk])
        await client.wait_for_gifts(2)
        await hub.refresh(hub.channels[stream.pk])  # nothing new: nothing again
        await asyncio.sleep(0.3)
        return lost, client

    lost, client = run_scenario(scenario)

    assert gift_ids(client.frames) == lost
    assert [frame.data["coins"] for frame in client.frames if frame.event == "goal"][-1] == 60


# --- Redis -----------------------------------------------------------------------------------------------


@pytest.fixture
def private_redis(settings):
    """A Redis server of this test's own, so it can be restarted without touching anyone else's."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]

    class Server:
        process = None

        def start(self):
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    return
                except OSError:
                    time.sleep(0.05)
            raise RuntimeError("redis-server did not start")

        def stop(self):
            self.process.kill()
            self.process.wait()

    server = Server()
    server.start()
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    settings.LIVE_REDIS_PREFIX = f"test-{uuid.uuid4().hex}:"
    publish.publisher_reset()
    yield server
    publish.publisher_reset()
    server.stop()


def test_across_a_redis_restart_open_streams_catch_up_and_resumes_miss_nothing(
    monkeypatch, private_redis, alice, stream, coffee
):
    monkeypatch.setattr(publish, "RETRY_SECONDS", (0.05,))
    fund(alice, 1_000)

    async def scenario():
        staying = await StreamClient(events_path(stream)).open()
        leaving = await StreamClient(events_path(stream)).open()
        before = await gifts(alice, stream, coffee, 1)
        await staying.wait_for_gifts(1)
        await leaving.wait_for_gifts(1)
        await leaving.close()
        private_redis.stop()  # it keeps nothing on disk: every message in flight is gone
        during = await gifts(alice, stream, coffee, 2)  # committed; their pub/sub messages are lost
        private_redis.start()
        await staying.wait_for_gifts(3, timeout=20)  # the hub resubscribed and read them from the database
        after = await gifts(alice, stream, coffee, 1)
        await staying.wait_for_gifts(4)
        resumed = await StreamClient(events_path(stream), last_event_id=leaving.last_id).open()
        await resumed.wait_for_gifts(3)
        await asyncio.sleep(0.3)
        return before, during, after, staying, resumed

    before, during, after, staying, resumed = run_scenario(scenario)

    assert gift_ids(staying.frames) == before + during + after
    assert gift_ids(resumed.frames) == during + after


# --- Viewers -----------------------------------------------------------------------------------------------


def test_viewers_are_counted_from_open_streams_once_each(monkeypatch, alice, bob, stream):
    monkeypatch.setattr(presence, "VIEWER_SYNC_SECONDS", 1)
    alice_token = presence.viewer_token(stream_id=stream.pk, user_id=alice.pk, creator_id=bob.pk)
    bob_token = presence.viewer_token(stream_id=stream.pk, user_id=bob.pk, creator_id=bob.pk)

    async def scenario():
        clients = [
            *[await StreamClient(events_path(stream), address="198.51.100.9").open() for _ in range(3)],  # one address
            *[await StreamClient(events_path(stream, f"v={alice_token}")).open() for _ in range(2)],  # two tabs
            await StreamClient(events_path(stream, f"v={bob_token}")).open(),  # the creator
        ]
        await clients[0].wait_for(lambda c: any(f.event == "viewers" and f.data["count"] == 2 for f in c.frames))
        during = presence.viewer_count(stream.pk)
        for client in clients[:4]:
            await client.close()
        await clients[-1].wait_for(lambda c: [f.data["count"] for f in c.frames if f.event == "viewers"][-1] == 1)
        return during, presence.viewer_count(stream.pk)

    assert run_scenario(scenario) == (2, 1)


# --- The endpoint -----------------------------------------------------------------------------------------


def test_the_endpoint_refuses_what_it_does_not_serve(stream):
    async def scenario():
        return [
            (await StreamClient(path, method=method).open()).status
            for path, method in (
                (events_path(stream), "POST"),
                (reverse("gifting:events", args=[999_999]), "GET"),
                (reverse("gifting:poll", args=[999_999]), "GET"),
            )
        ]

    assert run_scenario(scenario) == [405, 404, 404]


def test_the_poll_document_is_built_once_for_many_polls_and_again_after_a_gift(monkeypatch, alice, stream, coffee):
    monkeypatch.setattr(live_hub, "POLL_FRESH_SECONDS", 0.2)
    fund(alice, 100)
    builds = []
    real = replay.poll_document

    def counted(stream_id, **kwargs):
        builds.append(stream_id)
        return real(stream_id, **kwargs)

    monkeypatch.setattr(replay, "poll_document", counted)

    async def scenario():
        hub = live_hub.hub()
        await hub.channel(stream.pk)  # subscribed to the bus
        first = await asyncio.gather(*[hub.poll_document(stream.pk) for _ in range(50)])
        sent = await gifts(alice, stream, coffee)
        await asyncio.sleep(0.5)
        after = await hub.poll_document(stream.pk)
        return first, sent, after

    first, sent, after = run_scenario(scenario)

    assert len(set(first)) == 1 and json.loads(first[0])["gifts"] == []
    assert [gift["id"] for gift in json.loads(after)["gifts"]] == sent
    assert builds == [stream.pk, stream.pk]
