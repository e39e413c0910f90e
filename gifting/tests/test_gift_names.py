"""The starting catalogue's gift names read in the viewer's language wherever a page shows them; a name staff
typed is shown as typed, and what every reader shares (live events, the API) keeps the stored name."""

import html
import json
import re

import pytest
from django.urls import reverse
from django.utils.translation import override

from coinsite.lib.l10n import gift_name_local
from gifting.models import Gift, starting_gift_names
from gifting.services import gift_send
from gifting.templatetags.gift_names import gift_names_json
from gifting.tests.support import fund

pytestmark = pytest.mark.django_db


@pytest.fixture
def ice_cream(catalogue):
    return Gift.objects.get(slug="ice-cream")


def test_a_starting_gift_reads_in_the_active_language_and_a_typed_one_as_typed():
    with override("de"):
        assert gift_name_local("Ice Cream") == "Eis"
        assert gift_name_local("Ice Cream Deluxe") == "Ice Cream Deluxe"
        assert gift_name_local("Sent") == "Sent"  # a staff name that is also a message elsewhere stays as typed
    with override("ja"):
        assert gift_name_local("Universe") == "宇宙"
    assert gift_name_local("Ice Cream") == "Ice Cream"


def test_every_starting_gift_name_is_translated_in_every_language(settings):
    stored = starting_gift_names()
    for language, _name in settings.LANGUAGES:
        if language == "en":
            continue
        with override(language):
            untranslated = [name for name in stored if gift_name_local(name) == name]
        # "Rose", "Yacht" and a few others are the same word in some languages, never all of them
        assert len(untranslated) <= 4, (language, untranslated)


def test_the_stream_page_in_german_names_gifts_in_german(client, alice, stream, ice_cream):
    fund(alice, 100)
    gift_send(sender=alice, stream_id=stream.pk, gift_id=ice_cream.pk, quantity=2, idempotency_key="tap-1")
    alice.language = "de"
    alice.save(update_fields=["language"])
    client.force_login(alice)

    page = client.get(reverse("gifting:stream", args=[stream.pk])).content.decode()

    assert '<span class="gift-name">Eis</span>' in page  # the gift bar
    assert re.search(r"2 × Eis\b", page)  # the feed  # noqa: RUF001
    names = json.loads(html.unescape(re.search(r'data-gift-names="([^"]*)"', page).group(1)))
    assert names["Ice Cream"] == "Eis"  # what live.js shows for a live event's stored name
    assert "Ice Cream" not in page.split('data-gift-names="')[0]


def test_the_names_for_live_events_are_only_those_that_differ():
    with override("fr"):
        names = json.loads(gift_names_json())
    assert names["Ice Cream"] == "Glace"
    assert "Rose" not in names  # the same word in French
    assert json.loads(gift_names_json()) == {}


def test_the_wallet_history_and_the_live_event_name_the_gift(client, alice, stream, ice_cream):
    fund(alice, 100)
    event = gift_send(sender=alice, stream_id=stream.pk, gift_id=ice_cream.pk, quantity=3, idempotency_key="tap-2")
    alice.language = "de"
    alice.save(update_fields=["language"])
    client.force_login(alice)

    history = client.get(reverse("wallet:index")).content.decode()

    assert "3 × Eis" in history and "3 x Ice Cream" not in history  # noqa: RUF001
    assert event.gift_display is not None and event.gift_display.name == "Ice Cream"  # the event every viewer gets
