"""Leaderboards, the gift feed and stream goals: anonymity, opt-out, and progress."""

import uuid

import pytest

from coinsite.accounts.tests.factories import make_user
from gifting.models import Gift
from gifting.selectors import gift_catalogue, leaderboard, live_streams, recent_gifts, stream_goal_progress
from gifting.services import gift_send, gifting_preferences_set, stream_end, stream_goal_set, stream_start
from gifting.tests.support import fund, make_gift

pytestmark = pytest.mark.django_db


@pytest.fixture
def erin(db):
    return make_user(email="erin@example.com", display_name="Erin")


@pytest.fixture
def frank(db):
    return make_user(email="frank@example.com", display_name="Frank")


def gift(sender, stream, gift_type, *, quantity=1, anonymous=False):
    return gift_send(
        sender=sender,
        stream_id=stream.pk,
        gift_id=gift_type.pk,
        quantity=quantity,
        idempotency_key=uuid.uuid4().hex,
        anonymous=anonymous,
    )


def rows(stream, limit=10):
    return [(entry.rank, entry.name, entry.coins, entry.is_anonymous) for entry in leaderboard(stream, limit=limit)]


def test_top_gifters_by_coins(alice, erin, frank, stream, coffee):
    for viewer in (alice, erin, frank):
        fund(viewer, 1_000)
    gift(alice, stream, coffee, quantity=2)  # 60
    gift(erin, stream, coffee, quantity=5)  # 150
    gift(frank, stream, coffee, quantity=1)  # 30
    gift(alice, stream, coffee, quantity=1)  # alice now 90

    assert rows(stream) == [(1, "Erin", 150, False), (2, "Alice", 90, False), (3, "Frank", 30, False)]
    assert rows(stream, limit=2) == [(1, "Erin", 150, False), (2, "Alice", 90, False)]


def test_anonymous_gifts_show_as_anonymous_and_are_not_added_to_the_named_total(alice, erin, stream, coffee):
    # Given Alice sends 60 coins openly and 300 anonymously, and Erin 90 openly
    fund(alice, 1_000)
    fund(erin, 1_000)
    gift(alice, stream, coffee, quantity=2)
    gift(alice, stream, coffee, quantity=10, anonymous=True)
    gift(erin, stream, coffee, quantity=3)

    # Then the anonymous 300 lead as "Anonymous", and Alice's named row stays at 60
    assert rows(stream) == [(1, "Anonymous", 300, True), (2, "Erin", 90, False), (3, "Alice", 60, False)]


def test_opted_out_viewers_are_left_out_but_their_gifts_count_towards_the_goal(alice, erin, stream, coffee):
    fund(alice, 1_000)
    fund(erin, 1_000)
    gift(alice, stream, coffee, quantity=10)
    gift(alice, stream, coffee, quantity=1, anonymous=True)
    gift(erin, stream, coffee, quantity=1)

    gifting_preferences_set(user=alice, hide_from_leaderboards=True)

    assert rows(stream) == [(1, "Erin", 30, False)]
    assert stream_goal_progress(stream).coins == 360


def test_opting_back_in_shows_the_viewer_again(alice, stream, coffee):
    fund(alice, 100)
    gift(alice, stream, coffee)
    gifting_preferences_set(user=alice, hide_from_leaderboards=True)

    gifting_preferences_set(user=alice, hide_from_leaderboards=False)

    assert rows(stream) == [(1, "Alice", 30, False)]


def test_leaderboard_is_per_stream(alice, bob, stream, coffee):
    fund(alice, 1_000)
    gift(alice, stream, coffee)
    stream_end(stream=stream, creator=bob)
    second = stream_start(creator=bob, title="Second show")

    assert rows(second) == []
    gift(alice, second, coffee, quantity=2)
    assert rows(second) == [(1, "Alice", 60, False)]
    assert rows(stream) == [(1, "Alice", 30, False)]


def test_recent_gifts_hide_anonymous_senders(alice, erin, stream, coffee):
    fund(alice, 1_000)
    fund(erin, 1_000)
    gift(alice, stream, coffee, quantity=2)
    gift(erin, stream, coffee, anonymous=True)

    feed = recent_gifts(stream, limit=10)

    assert [(item.sender_name, item.is_anonymous, item.gift_name, item.quantity, item.coins) for item in feed] == [
        ("Anonymous", True, "Test Coffee", 1, 30),
        ("Alice", False, "Test Coffee", 2, 60),
    ]
    assert feed[0].gift_artwork_url.endswith("gifts/test-coffee.svg")
    assert "Erin" not in repr(feed[0])


def test_goal_progress(alice, bob, stream, coffee):
    # Given a goal of 1,000 coins
    fund(alice, 10_000)
    progress = stream_goal_progress(stream)
    assert (progress.coins, progress.percent, progress.is_reached, progress.remaining) == (0, 0, False, 1_000)
    assert progress.label == "New tablet"

    # When 990 coins arrive, then 30 more
    gift(alice, stream, coffee, quantity=33)
    progress = stream_goal_progress(stream)
    assert (progress.coins, progress.percent, progress.is_reached, progress.remaining) == (990, 99, False, 10)
    gift(alice, stream, coffee, anonymous=True)

    # Then the goal is reached (and the bar stops at 100%)
    progress = stream_goal_progress(stream)
    assert (progress.coins, progress.percent, progress.is_reached, progress.remaining) == (1_020, 100, True, 0)


def test_goal_can_be_changed_or_cleared_while_live(bob, stream):
    stream_goal_set(stream=stream, creator=bob, goal_coins=5_000, goal_label="Bigger tablet")
    assert stream_goal_progress(stream).goal_coins == 5_000

    stream_goal_set(stream=stream, creator=bob, goal_coins=None)
    assert stream_goal_progress(stream) is None


def test_live_streams_lists_only_live_ones(bob, stream):
    dana = make_user(email="dana@example.com", is_creator=True)
    ended = stream_start(creator=dana, title="Done for today")
    stream_end(stream=ended, creator=dana)

    assert list(live_streams()) == [stream]


def test_catalogue_offers_regional_gifts_only_in_their_countries(alice, coffee):
    sakura = make_gift(slug="test-sakura", coin_cost=88, countries=["JP"])
    make_gift(slug="test-retired", coin_cost=5, is_active=False)
    yuki = make_user(email="yuki@example.com", country="JP")

    assert coffee in gift_catalogue(alice)
    assert sakura not in gift_catalogue(alice)
    assert sakura in gift_catalogue(yuki)
    assert not [g for g in gift_catalogue(yuki) if g.slug == "test-retired"]


def test_seeded_catalogue_runs_from_rose_to_universe(db):
    gifts = list(Gift.objects.order_by("coin_cost"))
    assert (gifts[0].slug, gifts[0].coin_cost) == ("rose", 1)
    assert (gifts[-1].slug, gifts[-1].coin_cost) == ("universe", 44_999)
    assert Gift.objects.get(slug="lion").coin_cost == 29_999
    assert len(gifts) >= 20
