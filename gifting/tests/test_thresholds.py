"""Staff-set economics in gifting: the confirmation threshold (and a viewer's lower one), the diamond value."""

# ruff: noqa: RUF001  (the pages write quantities with a real multiplication sign, U+00D7)

from decimal import Decimal

import pytest
from django.urls import reverse
from djmoney.money import Money

from gifting.models import GiftEvent, GiftingPreferences, GiftingSettings
from gifting.services import (
    PreferencesError,
    gift_confirmation_needed,
    gift_confirmation_threshold,
    gifting_preferences_set,
)
from gifting.tests.support import fund, send_form, snapshot
from wallet.selectors import economy
from wallet.valuation import Valuation, diamonds_value

pytestmark = pytest.mark.django_db


def staff_sets(**values) -> None:
    """Staff save new settings in admin: the gifting threshold in gifting's, the diamond value in the economy's."""
    for row in (GiftingSettings.load(), economy()):
        fields = {name: value for name, value in values.items() if hasattr(row, name)}
        if fields:
            for name, value in fields.items():
                setattr(row, name, value)
            row.save()


def test_the_threshold_is_the_staff_setting(alice):
    assert gift_confirmation_threshold(user=alice) == 5_000
    staff_sets(gift_confirm_above_coins=200)

    assert gift_confirmation_threshold(user=alice) == 200
    assert gift_confirmation_needed(user=alice, coins=201)
    assert not gift_confirmation_needed(user=alice, coins=200)


def test_a_viewers_own_lower_threshold_applies_and_the_lower_of_both_wins(alice):
    gifting_preferences_set(user=alice, hide_from_leaderboards=False, confirm_above_coins=100)
    assert gift_confirmation_threshold(user=alice) == 100

    staff_sets(gift_confirm_above_coins=50)  # staff later go below the viewer's own

    assert gift_confirmation_threshold(user=alice) == 50


@pytest.mark.parametrize(
    ("coins", "message"),
    [
        (0, "at least 1"),
        (-5, "at least 1"),
        (5_001, "at most 5,000 coins"),
        (True, "whole number"),
    ],
)
def test_the_service_refuses_a_bad_personal_threshold_and_changes_nothing(alice, coins, message):
    gifting_preferences_set(user=alice, hide_from_leaderboards=True, confirm_above_coins=300)

    with pytest.raises(PreferencesError, match=message):
        gifting_preferences_set(user=alice, hide_from_leaderboards=False, confirm_above_coins=coins)

    preferences = GiftingPreferences.objects.get(user=alice)
    assert (preferences.hide_from_leaderboards, preferences.confirm_above_coins) == (True, 300)


def test_personal_threshold_asks_to_confirm_a_gift_the_site_would_not(alice_client, alice, stream, rose):
    fund(alice, 500)
    gifting_preferences_set(user=alice, hide_from_leaderboards=False, confirm_above_coins=10)
    before = snapshot()

    response = send_form(alice_client, stream, rose, key="small-1", quantity=11)

    assert response.status_code == 200
    assert "Send 11 × Rose for 11 coins" in response.content.decode()
    assert snapshot() == before
    assert send_form(alice_client, stream, rose, key="small-1", quantity=10).status_code == 302


def test_the_staff_threshold_asks_to_confirm_by_form(alice_client, alice, stream, rose):
    fund(alice, 500)
    staff_sets(gift_confirm_above_coins=5)
    before = snapshot()

    response = send_form(alice_client, stream, rose, key="k", quantity=6)

    assert response.status_code == 200 and 'name="confirmed" value="True"' in response.content.decode()
    assert snapshot() == before


def test_stream_page_shows_the_threshold_field_with_money_values(alice_client, alice, stream, rose):
    gifting_preferences_set(user=alice, hide_from_leaderboards=False, confirm_above_coins=700)

    html = alice_client.get(reverse("gifting:stream", args=[stream.pk])).content.decode()

    assert 'name="confirm_above_coins"' in html and 'value="700"' in html and 'max="5000"' in html
    threshold = html.split('data-testid="confirm-threshold">')[1].split("</p>")[0]
    assert "700 coins" in threshold and "5,000 coins" in threshold and "$" in threshold


def test_viewer_sets_and_clears_their_threshold_by_form(alice_client, alice, stream):
    stream_url = reverse("gifting:stream", args=[stream.pk])

    response = alice_client.post(reverse("gifting:preferences"), {"confirm_above_coins": "250", "next": stream_url})

    assert response.status_code == 302 and response.url == stream_url
    assert GiftingPreferences.objects.get(user=alice).confirm_above_coins == 250
    alice_client.post(reverse("gifting:preferences"), {"confirm_above_coins": "", "next": stream_url})
    assert GiftingPreferences.objects.get(user=alice).confirm_above_coins is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5001", "Enter at most 5,000 coins (the site&#x27;s threshold), or leave it empty."),
        ("0", "Enter at least 1 coin, or leave it empty."),
        ("lots", "Enter a whole number of coins, or leave it empty."),
    ],
)
def test_a_bad_threshold_by_form_is_400_with_a_clear_error_and_changes_nothing(
    alice_client, alice, stream, value, message
):
    gifting_preferences_set(user=alice, hide_from_leaderboards=True, confirm_above_coins=400)
    stream_url = reverse("gifting:stream", args=[stream.pk])

    response = alice_client.post(reverse("gifting:preferences"), {"confirm_above_coins": value, "next": stream_url})

    html = response.content.decode()
    assert response.status_code == 400
    assert message in html.split('data-testid="threshold-errors">')[1]
    assert f'href="{stream_url}"' in html  # back to the stream
    preferences = GiftingPreferences.objects.get(user=alice)
    assert (preferences.hide_from_leaderboards, preferences.confirm_above_coins) == (True, 400)


def test_preferences_page_renders_for_a_viewer(alice_client):
    response = alice_client.get(reverse("gifting:preferences"))
    assert response.status_code == 200
    assert 'name="confirm_above_coins"' in response.content.decode()


def test_diamond_value_follows_the_staff_setting_and_rounds_once(bob):
    assert Valuation().diamonds(1_000) == Money("5.00", "USD")
    staff_sets(diamond_value=Money(Decimal("0.0125"), "EUR"))

    assert Valuation().diamonds(3) == Money("0.04", "EUR")  # 0.0375 rounds half away from zero
    assert diamonds_value(1, Money("0.005", "USD")) == Money("0.01", "USD")


def test_studio_values_diamonds_at_the_staff_setting(client, bob, alice, stream, rose):
    fund(alice, 100)
    client.force_login(alice)
    send_form(client, stream, rose, key="d1", quantity=40)
    staff_sets(diamond_value=Money("0.25", "USD"))
    client.force_login(bob)

    html = client.get(reverse("gifting:studio")).content.decode()

    assert GiftEvent.objects.count() == 1
    assert '40 diamonds</strong> <span class="coin-value">(£7.86)' in html  # $10.00 in Bob's pounds (0.7862)
