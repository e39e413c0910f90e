"""One tap sends a gift from the live room: a JSON endpoint, never a redirect, charged once per tap key."""

# ruff: noqa: RUF001  (the messages write quantities with a real multiplication sign, U+00D7)

import json

import pytest
from django.test import Client
from django.urls import reverse

from gifting.live import replay
from gifting.models import Gift, GiftEvent
from gifting.services import GiftingPreferences, stream_end
from gifting.tests.support import fund, snapshot
from wallet.ledger import user_balance
from wallet.models import Asset

pytestmark = pytest.mark.django_db

# Measured 5: session and user, and the gift itself in one statement (`gifting_gift_send`, which also applies
# the confirmation threshold and returns the gift's name and the new balance), wrapped here in the test
# transaction's savepoint (SAVEPOINT, RELEASE): 3 round trips in production. The stream page is never
# rendered again for a tap.
GIFT_TAP_QUERY_BUDGET = 5


def tap(client, stream, gift, *, key, quantity=1, confirmed=False, anonymous=False, message=""):
    data = {"gift": gift.pk, "quantity": quantity, "idempotency_key": key, "message": message}
    if confirmed:
        data["confirmed"] = "true"
    if anonymous:
        data["anonymous"] = "on"
    return client.post(reverse("gifting:gift-tap", args=[stream.pk]), data)


def test_a_tap_sends_the_gift_and_answers_the_new_balance_in_json(alice_client, alice, bob, stream, rose):
    fund(alice, 100)

    response = tap(alice_client, stream, rose, key="tap-1", quantity=3)

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["message"] == "You sent 3 × Rose."
    assert body["gift"]["id"] == GiftEvent.objects.get().pk
    assert body["gift"]["sender"] == {"name": "Alice"}
    assert body["gift"]["quantity"] == 3
    assert body["balance"]["coins"] == 97
    assert "97 coins" in body["balance"]["html"]
    assert user_balance(alice, Asset.COIN) == 97
    assert user_balance(bob, Asset.DIAMOND) == 3


def test_the_same_tap_key_twice_charges_once(alice_client, alice, stream, rose):
    fund(alice, 100)

    first = tap(alice_client, stream, rose, key="double")
    second = tap(alice_client, stream, rose, key="double")

    assert first.status_code == second.status_code == 200
    assert first.json()["gift"]["id"] == second.json()["gift"]["id"]
    assert user_balance(alice, Asset.COIN) == 99
    assert GiftEvent.objects.count() == 1


def test_the_endpoint_stays_within_its_query_budget(alice_client, alice, stream, rose, django_assert_max_num_queries):
    fund(alice, 100)
    tap(alice_client, stream, rose, key="warm")  # settings and prices are cached per process after the first

    with django_assert_max_num_queries(GIFT_TAP_QUERY_BUDGET):
        response = tap(alice_client, stream, rose, key="counted")

    assert response.status_code == 200


def test_not_enough_coins_is_402_with_the_shortfall_and_a_buy_link(alice_client, alice, stream, lion):
    fund(alice, 10)
    before = snapshot()

    response = tap(alice_client, stream, lion, key="short", confirmed=True)

    assert response.status_code == 402
    body = response.json()
    assert body["error"] == "not_enough_coins"
    assert body["shortfall"] == 29_989
    assert body["message"] == "This gift costs 29,999 coins and you have 10: you need 29,989 more."
    assert body["recharge_url"] == reverse("wallet:recharge") + "?coins=29989"
    assert body["recharge_text"] == "Buy 29,989 coins"
    assert snapshot() == before


def test_a_gift_over_the_threshold_asks_to_confirm_and_charges_nothing_until_then(alice_client, alice, stream, lion):
    fund(alice, 30_000)
    before = snapshot()

    asked = tap(alice_client, stream, lion, key="big")

    assert asked.status_code == 428
    assert asked.json()["error"] == "confirmation_required"
    assert asked.json()["message"] == "Send 1 × Lion for 29,999 coins ($424.28)?"
    assert snapshot() == before
    confirmed = tap(alice_client, stream, lion, key="big", confirmed=True)
    assert confirmed.status_code == 200
    assert user_balance(alice, Asset.COIN) == 1


def test_the_viewers_own_lower_threshold_is_respected(alice_client, alice, stream, rose):
    fund(alice, 100)
    GiftingPreferences.objects.create(user=alice, confirm_above_coins=5)

    assert tap(alice_client, stream, rose, key="five", quantity=5).status_code == 200
    asked = tap(alice_client, stream, rose, key="six", quantity=6)

    assert asked.status_code == 428
    assert user_balance(alice, Asset.COIN) == 95


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"gift": "x", "quantity": 1, "idempotency_key": "k"}, "Pick a gift to send."),
        ({"gift": 1, "quantity": 0, "idempotency_key": "k"}, "Choose a quantity from 1 to 99."),
        ({"gift": 1, "quantity": 1}, "The gift request is missing its request id; reload the page and try again."),
        ({"gift": 1, "quantity": 1, "idempotency_key": "k" * 101}, None),
    ],
)
def test_hostile_input_is_400_json_and_changes_nothing(alice_client, alice, stream, rose, data, message):
    fund(alice, 100)
    before = snapshot()

    response = alice_client.post(reverse("gifting:gift-tap", args=[stream.pk]), data)

    assert response.status_code == 400
    assert response.json()["ok"] is False
    if message:
        assert response.json()["message"] == message
    assert snapshot() == before


@pytest.mark.parametrize(
    ("gift_name", "funds"), [("rose", 100), ("lion", 30_000)], ids=["small gift", "large gift, before any confirmation"]
)
def test_an_ended_stream_refuses_the_gift_with_its_reason(request, alice_client, alice, bob, stream, gift_name, funds):
    gift = request.getfixturevalue(gift_name)
    fund(alice, funds)
    stream_end(stream=stream, creator=bob)

    response = tap(alice_client, stream, gift, key="late")

    assert response.status_code == 403
    assert response.json()["error"] == "stream_ended"
    assert user_balance(alice, Asset.COIN) == funds


def test_a_retry_of_a_confirmed_large_gift_is_the_same_gift_without_asking_again(alice_client, alice, stream, lion):
    fund(alice, 30_000)
    sent = tap(alice_client, stream, lion, key="big", confirmed=True)

    retried = tap(alice_client, stream, lion, key="big")  # the page lost the answer and sends the tap again

    assert retried.status_code == 200
    assert retried.json()["gift"] == sent.json()["gift"]
    assert retried.json()["message"] == "You sent 1 × Lion."
    assert user_balance(alice, Asset.COIN) == 1
    assert GiftEvent.objects.count() == 1


@pytest.mark.parametrize("retired", [False, True], ids=["unknown", "retired"])
def test_an_unknown_or_retired_gift_is_403_and_charges_nothing(alice_client, alice, stream, rose, retired):
    fund(alice, 100)
    before = snapshot()
    if retired:
        Gift.objects.filter(pk=rose.pk).update(is_active=False)
    gift_id = rose.pk if retired else rose.pk + 1000

    response = alice_client.post(
        reverse("gifting:gift-tap", args=[stream.pk]), {"gift": gift_id, "quantity": 1, "idempotency_key": "gone"}
    )

    assert response.status_code == 403
    assert response.json()["error"] == "gift_unavailable"
    assert response.json()["message"] == "This gift is no longer available."
    assert snapshot() == before


def test_logged_out_taps_are_401_json_and_gets_are_405(client, stream, rose, catalogue):
    response = tap(client, stream, rose, key="nobody")
    assert response.status_code == 401
    assert response.json()["error"] == "login_required"
    assert client.get(reverse("gifting:gift-tap", args=[stream.pk])).status_code == 405


def test_the_tap_needs_the_csrf_token(alice, stream, rose, catalogue):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    fund(alice, 10)

    assert tap(client, stream, rose, key="csrf").status_code == 403
    assert user_balance(alice, Asset.COIN) == 10


def test_a_gift_may_carry_a_short_message_shown_with_it(alice_client, alice, stream, rose, client):
    fund(alice, 100)

    response = tap(alice_client, stream, rose, key="note", message="  Happy   birthday <3 ")

    assert response.status_code == 200
    assert response.json()["gift"]["message"] == "Happy birthday <3"
    assert GiftEvent.objects.get().message == "Happy birthday <3"
    (gift,) = replay.gifts_after(stream, 0, 10)
    assert json.loads(gift.data)["message"] == "Happy birthday <3"
    html = alice_client.get(reverse("gifting:stream", args=[stream.pk])).content.decode()
    assert '<q class="gift-note">Happy birthday &lt;3</q>' in html


def test_an_anonymous_gifts_message_names_nobody(alice_client, alice, stream, rose):
    fund(alice, 100)

    body = tap(alice_client, stream, rose, key="anon-note", anonymous=True, message="from a fan").json()

    assert body["gift"]["sender"] is None and body["gift"]["message"] == "from a fan"
    assert "Alice" not in json.dumps(body["gift"])


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("x" * 101, "Keep your message to 100 characters (it has 101)."),
        ("\u202egnp.exe", "Your message contains characters that cannot be sent."),
        ("bell\x07", "Your message contains characters that cannot be sent."),
        ("nul\x00", None),  # refused by the site-wide request check before the view (an HTML 400)
    ],
)
def test_a_hostile_or_long_gift_message_is_400_and_charges_nothing(alice_client, alice, stream, rose, message, error):
    fund(alice, 100)
    before = snapshot()

    response = tap(alice_client, stream, rose, key="bad-note", message=message)

    assert response.status_code == 400
    if error is not None:
        assert response.json()["message"] == error
    assert snapshot() == before
