"""Sending a gift through the API: the site's service, rules and budgets, exactly once per Idempotency-Key,
large gifts only with confirm: true, errors as catalogue codes, and every write recorded with its token."""

import pytest
from django.test import Client

from api.models import AccessToken, ApiWrite, Scope
from api.tokens import token_create
from coinsite.accounts.tests.factories import make_user
from gifting.models import Gift, GiftEvent, GiftingSettings
from gifting.services import stream_end, stream_start
from gifting.tests.support import ensure_countries, fund, make_gift, run_in_threads, snapshot
from wallet.ledger import account_for_user, system_account, user_balance
from wallet.models import Asset, SystemAccount
from wallet.spending import spending_limits_set


@pytest.fixture
def sender(alice, make_token):
    fund(alice, 1_000)
    return make_token(alice, Scope.GIFTS_SEND)


def send(api, token, stream, gift, *, key="k-1", **body):
    return api.post(f"/streams/{stream.pk}/gifts", token, {"gift_id": gift.pk, **body}, key=key)


@pytest.mark.django_db
def test_a_gift_is_charged_once_and_recorded_with_its_token(
    api, alice, bob, stream, sender, django_assert_max_num_queries
):
    rose = Gift.objects.get(slug="rose")
    send(api, sender, stream, rose, key="warm-up")  # Bob's diamond wallet exists from his first gift on

    with django_assert_max_num_queries(12):
        first = send(api, sender, stream, rose, quantity=5, anonymous=True)
    again = send(api, sender, stream, rose, quantity=5, anonymous=True)

    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert (first.json()["replayed"], again.json()["replayed"]) == (False, True)
    assert first.json()["balance"]["coins"] == 994 and first.json()["anonymous"] is True
    assert user_balance(alice, Asset.COIN) == 994
    assert user_balance(bob, Asset.DIAMOND) == 6
    write = ApiWrite.objects.get(idempotency_key="k-1")
    assert (write.user, write.token, write.operation, write.object_id, write.idempotency_key) == (
        alice,
        AccessToken.objects.get(user=alice),
        "gift.send",
        str(first.json()["id"]),
        "k-1",
    )


@pytest.mark.django_db
def test_the_same_key_for_a_different_gift_is_a_conflict(api, stream, sender):
    rose = Gift.objects.get(slug="rose")
    send(api, sender, stream, rose, quantity=1)
    before = snapshot()

    response = send(api, sender, stream, rose, quantity=2)

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize("key", [None, "", " ", "k" * 101, "two words", "clé"])
def test_a_missing_or_bad_key_charges_nothing(api, stream, sender, key):
    before = snapshot()
    response = api.post(f"/streams/{stream.pk}/gifts", sender, {"gift_id": Gift.objects.get(slug="rose").pk}, key=key)

    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_missing"
    assert snapshot() == before


@pytest.mark.django_db
def test_large_gifts_need_confirm_true(api, alice, stream, sender):
    settings_row = GiftingSettings.load()
    settings_row.gift_confirm_above_coins = 100
    settings_row.save()  # as staff do in admin (drops the cached copy)
    big = make_gift(slug="test-big", coin_cost=150)
    before = snapshot()

    refused = send(api, sender, stream, big)

    assert refused.status_code == 409
    assert refused.json()["code"] == "confirmation_required"
    assert refused.json()["threshold"] == 100
    assert snapshot() == before
    confirmed = send(api, sender, stream, big, confirm=True)
    assert confirmed.status_code == 201
    assert user_balance(alice, Asset.COIN) == 850


@pytest.mark.django_db
def test_the_sites_rules_refuse_with_catalogue_codes(api, alice, bob, stream, sender, make_token):
    rose = Gift.objects.get(slug="rose")
    spending_limits_set(user=alice, daily_limit=2, monthly_limit=None)
    budget = send(api, sender, stream, rose, quantity=3, key="b")
    assert (budget.status_code, budget.json()["code"]) == (403, "spending_daily")

    own = send(api, make_token(bob, Scope.GIFTS_SEND), stream, rose, key="own")
    assert (own.status_code, own.json()["code"]) == (403, "self_gift")

    poor = make_user(email="poor@example.com")
    short = send(api, make_token(poor, Scope.GIFTS_SEND), stream, Gift.objects.get(slug="heart"), key="p")
    assert (short.status_code, short.json()["code"], short.json()["shortfall"]) == (409, "not_enough_coins", 5)

    stream_end(stream=stream, creator=bob)
    ended = send(api, sender, stream, rose, key="e")
    assert (ended.status_code, ended.json()["code"]) == (409, "stream_ended")
    for response in (budget, own, short, ended):
        assert response["Content-Type"] == "application/problem+json"
    assert GiftEvent.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {},
        {"gift_id": "x"},
        {"gift_id": 1, "quantity": 0},
        {"gift_id": 1, "quantity": 100},
        {"gift_id": -1},
        {"gift_id": 2**40},
    ],
)
def test_bad_bodies_are_422_problems(api, stream, sender, body):
    before = snapshot()
    response = api.post(f"/streams/{stream.pk}/gifts", sender, body, key="x")

    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed" and response.json()["errors"]
    assert snapshot() == before


@pytest.mark.django_db
def test_a_body_that_is_not_json_is_a_problem(client, stream, sender):
    response = client.post(
        f"/api/v1/streams/{stream.pk}/gifts",
        b"{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {sender}",
        HTTP_IDEMPOTENCY_KEY="j",
    )

    assert response.status_code in (400, 422)
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_charge_once():
    # Given a viewer with 100 coins and a token (transactional: set everything up)
    ensure_countries()
    for code in (SystemAccount.COINS_CONSUMED, SystemAccount.DIAMONDS_ISSUED):
        system_account(code)
    creator = make_user(email="star@example.com", password=None, is_creator=True, country="GB")
    account_for_user(creator, Asset.DIAMOND)
    stream = stream_start(creator=creator, title="Retries")
    gift = make_gift(slug="test-spark", coin_cost=10)
    viewer = make_user(email="fan@example.com", password=None)
    fund(viewer, 100)
    token = token_create(user=viewer, name="Bot", scopes=[Scope.GIFTS_SEND], expires_in_days=7).plaintext

    def retry():
        return Client().post(
            f"/api/v1/streams/{stream.pk}/gifts",
            {"gift_id": gift.pk, "quantity": 2},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
            HTTP_IDEMPOTENCY_KEY="same-tap",
        )

    # When the client's library retries the same request 12 times at once
    results = run_in_threads([retry] * 12, threads=12)

    # Then every answer is the one gift, charged once
    assert {result.status_code for result in results} == {201}, [r.content for r in results if r.status_code != 201]
    assert len({result.json()["id"] for result in results}) == 1
    assert sum(not result.json()["replayed"] for result in results) == 1, [r.json()["replayed"] for r in results]
    assert user_balance(viewer, Asset.COIN) == 80
    assert GiftEvent.objects.count() == 1 and ApiWrite.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"gift_id": "1"},
        {"gift_id": True},
        {"gift_id": 1, "quantity": "2"},
        {"gift_id": 1, "confirm": 0},
        {"gift_id": 1, "anonymous": "yes"},
    ],
)
def test_the_body_is_read_strictly(api, stream, sender, body):
    before = snapshot()
    response = api.post(f"/streams/{stream.pk}/gifts", sender, body, key="strict")

    assert response.status_code == 422
    assert snapshot() == before


@pytest.mark.django_db
def test_a_whole_number_written_with_a_point_is_a_number(api, alice, stream, sender):
    response = api.post(
        f"/streams/{stream.pk}/gifts",
        sender,
        {"gift_id": float(Gift.objects.get(slug="rose").pk), "quantity": 2.0},
        key="f",
    )

    assert response.status_code == 201
    assert response.json()["quantity"] == 2
