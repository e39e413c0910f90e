"""Viewer counts: people with the stream open (an event stream), never page loads or polls."""

import asyncio
import uuid

import pytest
import redis
from django.core import signing
from django.core.cache import cache
from django.urls import reverse

from coinsite.tests.support import hung_redis
from gifting import presence, services
from gifting.live import hub as live_hub
from gifting.live.replay import StreamMeta
from gifting.models import LiveStream
from gifting.services import stream_end, stream_viewer_counts_save
from gifting.tests.live_support import in_thread

pytestmark = pytest.mark.django_db


def token(stream, user) -> str:
    return presence.viewer_token(stream_id=stream.pk, user_id=user.pk if user else None, creator_id=stream.creator_id)


def test_a_token_names_the_logged_in_viewer_and_leaves_the_creator_out(alice, bob, stream):
    address = "192.0.2.10"

    assert presence.viewer_from_token(token(stream, alice), stream_id=stream.pk, address=address) == f"u{alice.pk}"
    assert presence.viewer_from_token(token(stream, bob), stream_id=stream.pk, address=address) is None


def test_without_a_valid_token_a_viewer_is_their_address_alone(alice, stream):
    by_address = presence.viewer_from_token(None, stream_id=stream.pk, address="192.0.2.10")
    logged_out = presence.viewer_from_token(token(stream, None), stream_id=stream.pk, address="192.0.2.10")
    forged = presence.viewer_from_token(f"{stream.pk}:u1:xx:yy", stream_id=stream.pk, address="192.0.2.10")
    other_stream = presence.viewer_from_token(token(stream, alice), stream_id=stream.pk + 1, address="192.0.2.10")
    elsewhere = presence.viewer_from_token(None, stream_id=stream.pk, address="192.0.2.11")

    assert by_address == logged_out == forged == other_stream != elsewhere
    assert "192.0.2.10" not in by_address


def test_an_expired_token_counts_as_none(monkeypatch, alice, stream):
    monkeypatch.setattr(presence, "TOKEN_MAX_AGE_SECONDS", -1)

    assert presence.viewer_from_token(token(stream, alice), stream_id=stream.pk, address="192.0.2.10").startswith("a")


def test_the_token_is_signed_for_its_stream(alice, stream):
    value = signing.TimestampSigner(salt="gifting.presence.viewer").unsign(token(stream, alice))

    assert value == f"{stream.pk}:u{alice.pk}"


def test_two_hundred_polls_and_page_loads_with_random_user_agents_count_nobody(client, alice, stream):
    urls = [reverse(name, args=[stream.pk]) for name in ("gifting:poll", "gifting:feed", "gifting:stream")]
    for number in range(200):
        if number == 100:
            client.force_login(alice)
        user_agent = f"Mozilla/5.0 ({uuid.uuid4()})"
        assert client.get(urls[number % 3], HTTP_USER_AGENT=user_agent).status_code == 200

    assert presence.viewer_count(stream.pk) == 0
    page = client.get(reverse("gifting:stream", args=[stream.pk])).content.decode()
    assert "<span data-live-viewers>0</span> watching now" in page


def test_pages_show_the_count_of_open_streams(client, alice, stream, settings):
    settings.REDIS_URL = ""  # this process's own counts (with Redis, every process's: below)
    presence.local_counts_set({stream.pk: 3})

    page = client.get(reverse("gifting:stream", args=[stream.pk])).content.decode()
    listing = client.get(reverse("gifting:index")).content.decode()

    assert "<span data-live-viewers>3</span> watching now" in page
    assert '<span data-testid="live-viewers">3</span> watching' in listing
    presence.local_counts_set({})


def test_the_stream_row_follows_the_count_at_most_once_per_throttle_period(stream, django_assert_num_queries):
    stream_viewer_counts_save(streams=[stream], counts={stream.pk: 1})
    assert LiveStream.objects.get(pk=stream.pk).viewer_count == 1

    with django_assert_num_queries(0):
        for count in range(2, 50):
            stream_viewer_counts_save(streams=[stream], counts={stream.pk: count})
    assert LiveStream.objects.get(pk=stream.pk).viewer_count == 1

    cache.delete(f"gifting:viewer-count-saved:{stream.pk}")  # the throttle period has passed
    stream_viewer_counts_save(streams=[stream], counts={stream.pk: 7})
    assert LiveStream.objects.get(pk=stream.pk).viewer_count == 7


def test_live_list_refreshes_stale_counts_and_ended_streams_keep_theirs(client, stream):
    LiveStream.objects.filter(pk=stream.pk).update(viewer_count=40)  # everyone left

    html = client.get(reverse("gifting:index")).content.decode()

    assert '<span data-testid="live-viewers">0</span> watching' in html
    assert LiveStream.objects.get(pk=stream.pk).viewer_count == 0
    stream_end(stream=stream, creator=stream.creator)
    services.stream_viewer_counts_save(streams=[LiveStream.objects.get(pk=stream.pk)], counts={})
    assert LiveStream.objects.get(pk=stream.pk).viewer_count == 0


# --- Shared through Redis --------------------------------------------------------------------------------


def _meta(stream_id: int) -> StreamMeta:
    return StreamMeta(
        stream_id=stream_id,
        creator_id=1,
        title="",
        is_live=True,
        ended_at=None,
        goal_coins=None,
        goal_label="",
        coins=0,
    )


def test_with_redis_every_process_adds_its_viewers_to_one_count_and_leavers_expire(monkeypatch, settings):
    probe = redis.Redis.from_url("redis://127.0.0.1:6379/4")
    try:
        probe.ping()
    except redis.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    settings.REDIS_URL = "redis://127.0.0.1:6379/4"
    settings.LIVE_REDIS_PREFIX = f"test-{uuid.uuid4().hex}:"
    monkeypatch.setattr(presence, "VIEWER_TTL_SECONDS", 1)
    stream_id = 424_242

    async def scenario():
        first, second = live_hub.Hub(), live_hub.Hub()  # two web processes
        try:
            channels = []
            for hub, viewers in ((first, ["u1", "u2", "a-x"]), (second, ["u2", "u3"])):
                channel = hub.channels[stream_id] = live_hub.Channel(hub=hub, meta=_meta(stream_id))
                channel.viewers.update(viewers)
                channels.append(channel)
            await first._sync_viewers()
            await second._sync_viewers()
            both = (
                channels[0].viewer_count,
                channels[1].viewer_count,
                await asyncio.to_thread(presence.viewer_count, stream_id),
            )
            channels[1].viewers.clear()  # everyone on the second process left
            await asyncio.sleep(1.2)
            await first._sync_viewers()
            return both, channels[0].viewer_count
        finally:
            await first.close()
            await second.close()

    both, later = in_thread(lambda: asyncio.run(scenario()))
    probe.delete(presence.redis_key(stream_id))

    assert both == (3, 4, 4)  # u1, u2, a-x and u3: u2 in both processes counts once
    assert later == 3


def test_while_redis_hangs_a_page_waits_for_the_counts_once_then_shows_the_processs_own(settings, monkeypatch):
    """A stream page reads the viewer counts from Redis; a hung Redis cost every page a timeout before."""
    settings.REDIS_TIMEOUT_SECONDS = 0.2
    monkeypatch.setattr(presence, "_local_counts", {7: 2})
    with hung_redis() as hung:
        settings.REDIS_URL = hung.url
        counts = [presence.viewer_counts([7, 8]) for _ in range(3)]
        connections = hung.connections

    assert counts == [{7: 2, 8: 0}] * 3  # this process's own viewers
    assert connections == 1  # the first page's; then the server is marked down, for the cache too
