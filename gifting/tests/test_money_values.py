"""Every coin amount on the live pages shows its money value: the feed, the leaderboard, the goal, the overlay."""

import re

import pytest
from django.urls import reverse

from gifting.models import CreatorProfile
from gifting.services import gift_send
from gifting.tests.support import fund

pytestmark = pytest.mark.django_db


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", html))


def test_feed_leaderboard_and_goal_show_money_values(alice_client, alice, bob, stream, lion):
    fund(alice, 30_000)
    gift_send(sender=alice, stream_id=stream.pk, gift_id=lion.pk, quantity=1, idempotency_key="l1")

    fragment = text(alice_client.get(reverse("gifting:feed", args=[stream.pk])).content.decode())

    # USD base price: 0.99 per 70 coins -> 29,999 coins are worth $424.27 or so; the page rounds once.
    assert re.search(r"29,999 coins \(\$\d{3}\.\d\d\)", fragment)
    assert re.search(r"29,999 / 1,000 coins \(\$\d{3}\.\d\d\) / \(\$14\.\d\d\)", fragment)


def test_the_overlay_shows_values_in_the_creators_currency(client, alice, bob, stream, lion):
    fund(alice, 30_000)
    gift_send(sender=alice, stream_id=stream.pk, gift_id=lion.pk, quantity=1, idempotency_key="l1")
    token = CreatorProfile.objects.get_or_create(user=bob)[0].overlay_token

    page = text(client.get(reverse("gifting:overlay-feed", args=[token])).content.decode())

    assert re.search(r"29,999 coins \(£\d{3}\.\d\d\)", page)  # Bob is in the UK
