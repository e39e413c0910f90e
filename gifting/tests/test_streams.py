"""Going live, ending a stream and setting its goal."""

import pytest
from django.contrib.staticfiles import finders

from coinsite.accounts.tests.factories import make_user
from gifting.models import Gift, LiveStream
from gifting.services import StreamError, stream_end, stream_goal_set, stream_start

pytestmark = pytest.mark.django_db


def test_creator_goes_live(bob):
    stream = stream_start(
        creator=bob,
        title="  Late-night lo-fi  ",
        stream_url="https://example.com/live/index.m3u8",
        goal_coins=5_000,
        goal_label="New mic",
    )

    stream.refresh_from_db()
    assert (stream.title, stream.stream_url, stream.goal_coins, stream.goal_label) == (
        "Late-night lo-fi",
        "https://example.com/live/index.m3u8",
        5_000,
        "New mic",
    )
    assert stream.is_live


def test_viewers_cannot_go_live(alice):
    with pytest.raises(StreamError, match="Only creators"):
        stream_start(creator=alice, title="Hello")
    assert not LiveStream.objects.exists()


def test_a_creator_is_live_at_most_once(bob):
    stream_start(creator=bob, title="First")

    with pytest.raises(StreamError, match="already live"):
        stream_start(creator=bob, title="Second")

    assert LiveStream.objects.filter(creator=bob).count() == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": "   "}, "title"),
        ({"title": "x" * 121}, "120 characters"),
        ({"stream_url": "javascript:alert(1)"}, "https:// address"),
        ({"goal_coins": 0}, "goal"),
        ({"goal_coins": "100"}, "goal"),
    ],
)
def test_bad_stream_details_are_refused(bob, fields, message):
    with pytest.raises(StreamError, match=message):
        stream_start(creator=bob, **{"title": "Hi", **fields})
    assert not LiveStream.objects.exists()


def test_ending_a_stream_lets_the_creator_go_live_again(bob):
    first = stream_start(creator=bob, title="First")

    stream_end(stream=first, creator=bob)
    ended_at = first.ended_at
    stream_end(stream=first, creator=bob)  # ending twice changes nothing

    assert not first.is_live
    first.refresh_from_db()
    assert first.ended_at == ended_at
    assert stream_start(creator=bob, title="Second").is_live


def test_only_the_owner_ends_or_changes_a_stream(bob):
    stream = stream_start(creator=bob, title="Mine")
    dana = make_user(email="dana@example.com", is_creator=True)

    with pytest.raises(StreamError, match="not your stream"):
        stream_end(stream=stream, creator=dana)
    with pytest.raises(StreamError, match="not your stream"):
        stream_goal_set(stream=stream, creator=dana, goal_coins=10)

    stream.refresh_from_db()
    assert stream.is_live and stream.goal_coins is None


def test_goal_of_an_ended_stream_is_fixed(bob):
    stream = stream_start(creator=bob, title="Over", goal_coins=100)
    stream_end(stream=stream, creator=bob)

    with pytest.raises(StreamError, match="ended"):
        stream_goal_set(stream=stream, creator=bob, goal_coins=500)

    stream.refresh_from_db()
    assert stream.goal_coins == 100


def test_every_catalogue_gift_has_its_artwork():
    missing = [gift.artwork for gift in Gift.objects.all() if finders.find(gift.artwork) is None]
    assert missing == []
    assert Gift.objects.count() >= 20
