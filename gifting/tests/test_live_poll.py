"""The poll fallback for pages without an event stream: one cached JSON document per stream, the same for
every viewer, dropped whenever the stream publishes (this is Django's view, used under WSGI; under ASGI the
hub answers the same address, see test_live_stream)."""

import json

import pytest
from django.urls import reverse

from gifting.live.publish import publisher
from gifting.services import gift_send, stream_end
from gifting.tests.support import fund

pytestmark = pytest.mark.django_db


def test_many_polls_by_many_viewers_cost_one_build(client, alice, bob, stream, django_assert_num_queries):
    url = reverse("gifting:poll", args=[stream.pk])
    first = client.get(url)

    with django_assert_num_queries(0):
        again = [client.get(url, HTTP_USER_AGENT=f"viewer {number}") for number in range(30)]
    client.force_login(alice)

    assert first.status_code == 200
    assert first["Content-Type"] == "application/json"
    assert {response.content for response in [*again, client.get(url)]} == {first.content}
    document = json.loads(first.content)
    assert document == {
        "stream": {"id": stream.pk, "state": "live", "ended_at": None},
        "cursor": "c0.g0",
        "gifts": [],
        "chat": [],
        "goal": {"goal_coins": 1_000, "label": "New tablet", "coins": 0, "percent": 0, "reached": False},
        "viewers": 0,
        "leaderboard": [],
    }


def test_a_gift_or_the_end_of_the_stream_replaces_the_cached_document(
    client, alice, bob, stream, rose, django_capture_on_commit_callbacks
):
    fund(alice, 100)
    url = reverse("gifting:poll", args=[stream.pk])
    client.get(url)

    with django_capture_on_commit_callbacks(execute=True):
        event = gift_send(sender=alice, stream_id=stream.pk, gift_id=rose.pk, quantity=3, idempotency_key="p1")
    assert publisher().flush()
    with_gift = json.loads(client.get(url).content)
    with django_capture_on_commit_callbacks(execute=True):
        stream_end(stream=stream, creator=bob)
    assert publisher().flush()
    ended = json.loads(client.get(url).content)

    assert [gift["id"] for gift in with_gift["gifts"]] == [event.pk]
    assert with_gift["cursor"] == f"c0.g{event.pk}"
    assert with_gift["goal"]["coins"] == 3
    assert with_gift["leaderboard"] == [{"rank": 1, "name": "Alice", "coins": 3, "anonymous": False}]
    assert ended["stream"]["state"] == "ended"


def test_polling_an_unknown_stream_is_not_found(client, countries):
    assert client.get(reverse("gifting:poll", args=[999_999])).status_code == 404


def test_the_event_stream_address_tells_a_wsgi_browser_to_poll(client, stream, countries):
    assert client.get(reverse("gifting:events", args=[stream.pk])).status_code == 204
    assert client.get(reverse("gifting:events", args=[999_999])).status_code == 404
