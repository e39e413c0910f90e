"""The OBS overlay: a creator's gift alerts at a secret address, with the stream's live events."""

import html
import re
from urllib.parse import parse_qs

import pytest
from django.urls import reverse

from coinsite.accounts.tests.factories import make_user
from gifting import presence
from gifting.models import CreatorProfile
from gifting.services import gift_send, overlay_token_regenerate
from gifting.tests.support import fund

pytestmark = pytest.mark.django_db


def send(sender, stream, gift, *, key="rt-1"):
    return gift_send(sender=sender, stream_id=stream.pk, gift_id=gift.pk, quantity=1, idempotency_key=key)


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
    events_url = re.search(r'data-events-url="([^"]+)"', page.content.decode())[1]
    path, query = html.unescape(events_url).split("?")
    assert path == reverse("gifting:events", args=[stream.pk])
    token = parse_qs(query)["v"][0]
    assert presence.viewer_from_token(token, stream_id=stream.pk, address="192.0.2.1") is None  # not a viewer
    assert f'data-poll-url="{reverse("gifting:poll", args=[stream.pk])}"' in page.content.decode()
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
