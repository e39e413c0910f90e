"""Viewer counts: presence heartbeats in the cache from page loads, feed polls and open event streams."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import connections
from django.test import AsyncClient
from django.urls import reverse

from coinsite.accounts.tests.factories import make_user
from gifting import presence, services
from gifting.models import LiveStream
from gifting.services import stream_end, stream_viewer_seen
from gifting.tests.test_realtime import in_thread

pytestmark = pytest.mark.django_db

WINDOW = presence.PRESENCE_WINDOW_SECONDS


def feed(client, stream):
    return client.get(reverse("gifting:feed", args=[stream.pk]))


def viewers_in(html: str) -> str:
    return html.split('data-testid="viewer-count">')[1].split("</p>")[0].split("</span>")[1]


def test_distinct_viewers_are_counted_once_however_often_they_poll():
    for _ in range(5):
        presence.viewer_seen(stream_id=1, viewer="u1", now=1_000.0)
    presence.viewer_seen(stream_id=1, viewer="u2", now=1_001.0)
    presence.viewer_seen(stream_id=2, viewer="u1", now=1_001.0)

    assert presence.viewer_counts([1, 2, 3], now=1_002.0) == {1: 2, 2: 1, 3: 0}


def test_a_viewer_who_stops_polling_drops_out_within_two_windows():
    start = 30_000.0  # the start of a window
    presence.viewer_seen(stream_id=1, viewer="gone", now=start)
    presence.viewer_seen(stream_id=1, viewer="stays", now=start)
    presence.viewer_seen(stream_id=1, viewer="stays", now=start + WINDOW)

    assert presence.viewer_count(1, now=start + WINDOW + 1) == 2  # last window still counts "gone"
    presence.viewer_seen(stream_id=1, viewer="stays", now=start + 2 * WINDOW)
    assert presence.viewer_count(1, now=start + 2 * WINDOW + 1) == 1


def test_viewer_key_names_users_sessions_and_anonymous_browsers_without_revealing_them():
    assert presence.viewer_key(user_id=7, session_key="s", address="1.2.3.4", user_agent="x") == "u7"
    by_session = presence.viewer_key(user_id=None, session_key="abc", address="1.2.3.4", user_agent="x")
    by_browser = presence.viewer_key(user_id=None, session_key=None, address="1.2.3.4", user_agent="x")
    other_browser = presence.viewer_key(user_id=None, session_key=None, address="1.2.3.4", user_agent="y")
    assert len({by_session, by_browser, other_browser}) == 3
    assert "1.2.3.4" not in by_browser and "abc" not in by_session


def test_feed_fragment_shows_the_viewers_present(client, alice, stream, countries):
    dora = make_user(email="dora@example.com", display_name="Dora")
    client.force_login(alice)
    feed(client, stream)
    client.force_login(dora)
    feed(client, stream)
    feed(client, stream)

    html = feed(client, stream).content.decode()

    assert viewers_in(html) == "2 watching now"


def test_stream_page_counts_its_viewer_and_the_live_list_shows_the_count(client, alice, stream):
    client.force_login(alice)
    page = client.get(reverse("gifting:stream", args=[stream.pk])).content.decode()

    assert viewers_in(page) == "1 watching now"
    listing = client.get(reverse("gifting:index")).content.decode()
    assert '<span data-testid="live-viewers">1</span> watching' in listing


def test_the_creator_watching_their_own_stream_is_not_a_viewer(client, bob, stream):
    client.force_login(bob)

    assert viewers_in(feed(client, stream).content.decode()) == "0 watching now"


def test_anonymous_visitors_count_by_browser(client, stream):
    feed(client, stream)
    client.get(reverse("gifting:feed", args=[stream.pk]), HTTP_USER_AGENT="Other browser")

    assert viewers_in(feed(client, stream).content.decode()) == "2 watching now"


def test_stream_row_follows_the_count_at_most_once_per_throttle_period(alice, stream, django_assert_num_queries):
    stream_viewer_seen(stream=stream, viewer="u1")
    stream.refresh_from_db()
    assert stream.viewer_count == 1

    stream_viewer_seen(stream=stream, viewer="u2")  # within the throttle period: cache only
    stream.refresh_from_db()
    assert stream.viewer_count == 1
    assert presence.viewer_count(stream.pk) == 2

    with django_assert_num_queries(0):
        for viewer in range(50):
            stream_viewer_seen(stream=stream, viewer=f"poller-{viewer}")


def test_stream_row_catches_up_after_the_throttle_period(stream):
    stream_viewer_seen(stream=stream, viewer="u1")
    stream_viewer_seen(stream=stream, viewer="u2")
    cache.delete(f"gifting:viewer-count-saved:{stream.pk}")  # the throttle period has passed

    stream_viewer_seen(stream=stream, viewer="u2")
    assert LiveStream.objects.get(pk=stream.pk).viewer_count == 2


def test_live_list_refreshes_stale_counts_and_ended_streams_keep_theirs(client, stream):
    LiveStream.objects.filter(pk=stream.pk).update(viewer_count=40)  # everyone left; nobody polls any more

    html = client.get(reverse("gifting:index")).content.decode()

    assert '<span data-testid="live-viewers">0</span> watching' in html
    assert LiveStream.objects.get(pk=stream.pk).viewer_count == 0
    stream_end(stream=stream, creator=stream.creator)
    services.stream_viewer_counts_save(streams=[LiveStream.objects.get(pk=stream.pk)], counts={})
    assert LiveStream.objects.get(pk=stream.pk).viewer_count == 0


@pytest.mark.django_db(transaction=True)
def test_an_open_event_stream_counts_its_viewer(stream):
    async def scenario():
        response = await AsyncClient().get(reverse("gifting:events", args=[stream.pk]))
        content = response.streaming_content
        try:
            await anext(content)
        finally:
            await content.aclose()
            await sync_to_async(connections.close_all)()

    in_thread(lambda: asyncio.run(scenario()))

    assert presence.viewer_count(stream.pk) == 1
