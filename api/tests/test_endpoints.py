"""Every API operation: what it answers, the scope it needs, whose data it can reach, its query budget,
its errors as problem documents, cursor pages and the rate limit."""

import pytest
from django.test import Client
from django.urls import reverse

from api.models import Scope
from coinsite.accounts.tests.factories import make_user
from gifting.models import Gift
from gifting.services import gift_send, stream_end, stream_start
from gifting.tests.support import fund
from payouts.models import Payout, PayoutMethod, PayoutStatus

pytestmark = pytest.mark.django_db

# Every operation and the scope it needs (None: any valid credential). A new operation must be added here.
OPERATIONS = {
    ("get", "/me"): None,
    ("get", "/wallet"): Scope.WALLET_READ,
    ("get", "/wallet/history"): Scope.WALLET_READ,
    ("get", "/wallet/packages"): Scope.WALLET_READ,
    ("get", "/gifts"): None,
    ("get", "/streams"): Scope.LIVE_READ,
    ("get", "/streams/{stream_id}"): Scope.LIVE_READ,
    ("get", "/streams/{stream_id}/events"): Scope.LIVE_READ,
    ("post", "/streams/{stream_id}/gifts"): Scope.GIFTS_SEND,
    ("get", "/earnings"): Scope.EARNINGS_READ,
    ("get", "/earnings/streams"): Scope.EARNINGS_READ,
    ("get", "/payouts"): Scope.PAYOUTS_READ,
}


def _operations(client):
    document = client.get("/api/v1/openapi.json").json()
    return {(method, path.removeprefix("/api/v1")) for path, item in document["paths"].items() for method in item}


def test_the_schema_lists_exactly_the_known_operations_and_no_money_out(client):
    operations = _operations(client)

    assert operations == set(OPERATIONS)
    writes = {path for method, path in operations if method != "get"}
    assert writes == {"/streams/{stream_id}/gifts"}  # no payout request, no payout method: never by token


def test_error_answers_are_documented_as_problem_documents(client):
    document = client.get("/api/v1/openapi.json").json()
    for item in document["paths"].values():
        for operation in item.values():
            for status, answer in operation["responses"].items():
                if int(status) >= 400:
                    assert list(answer["content"]) == ["application/problem+json"]
            assert {"401", "403", "404", "429"} <= set(operation["responses"])


@pytest.fixture
def world(alice, bob, stream, make_token):
    """Alice has coins and sent Bob a gift; Bob has a payout. Both have tokens with every scope."""
    fund(alice, 1_000)
    gift_send(
        sender=alice, stream_id=stream.pk, gift_id=Gift.objects.get(slug="rose").pk, quantity=3, idempotency_key="w1"
    )
    method = PayoutMethod.objects.create(
        creator=bob, kind="paypal", holder_name="Bob", paypal_email="bob@example.com", currency="GBP"
    )
    Payout.objects.create(
        creator=bob,
        method=method,
        diamonds=3,
        status=PayoutStatus.QUEUED,
        idempotency_key="p1",
        value="0.02",
        value_currency="USD",
        diamond_value="0.005",
        diamond_value_currency="USD",
        currency="GBP",
    )
    return {"alice": make_token(alice, *Scope.values), "bob": make_token(bob, *Scope.values), "stream": stream}


def _path(path, stream):
    return path.replace("{stream_id}", str(stream.pk))


@pytest.mark.parametrize("scope", Scope.values)
def test_token_scope_sweep(api, alice, bob, world, make_token, scope):
    """A token with one scope reaches exactly the operations that scope (or none) allows."""
    token = make_token(bob, scope)
    for (method, path), needed in OPERATIONS.items():
        url = _path(path, world["stream"])
        response = api.get(url, token) if method == "get" else api.post(url, token, {"gift_id": 1}, key=f"s-{scope}")
        refused = response.status_code == 403 and response.json()["code"] == "scope_missing"
        assert refused == (needed is not None and needed != scope), (method, path, scope, response.content)


def test_no_credential_is_a_401_problem_everywhere(api, world):
    for method, path in OPERATIONS:
        url = _path(path, world["stream"])
        response = api.get(url) if method == "get" else api.post(url, None, {"gift_id": 1}, key="k")
        assert response.status_code == 401
        assert response["Content-Type"] == "application/problem+json"
        body = response.json()
        assert (body["type"], body["status"], body["code"]) == (
            "urn:coinsite:problem:not_authenticated",
            401,
            "not_authenticated",
        )
        assert body["title"] and body["detail"] and body["instance"] == f"/api/v1{url}"


# Query budgets per operation (token lookup included).
BUDGETS = {
    "/me": 1,
    "/wallet": 4,
    "/wallet/history": 6,
    "/wallet/packages": 7,
    "/gifts": 4,
    "/streams": 2,
    "/streams/{stream_id}": 5,
    "/streams/{stream_id}/events": 3,
}
CREATOR_BUDGETS = {
    "/earnings": 9,  # 9: the creator's payout currency is read too
    "/earnings/streams": 6,
    "/payouts": 2,
}


@pytest.mark.parametrize(("path", "budget"), list(BUDGETS.items()))
def test_viewer_query_budgets(api, world, path, budget, django_assert_max_num_queries):
    api.get("/me", world["alice"])  # last_used_at written once already
    with django_assert_max_num_queries(budget):
        assert api.get(_path(path, world["stream"]), world["alice"]).status_code == 200


@pytest.mark.parametrize(("path", "budget"), list(CREATOR_BUDGETS.items()))
def test_creator_query_budgets(api, world, path, budget, django_assert_max_num_queries):
    api.get("/me", world["bob"])
    with django_assert_max_num_queries(budget):
        assert api.get(path, world["bob"]).status_code == 200


def test_wallet_shows_only_my_coins_and_their_money_value(api, alice, world):
    wallet = api.get("/wallet", world["alice"]).json()
    history = api.get("/wallet/history", world["alice"]).json()

    assert wallet["coins"] == 997
    assert wallet["value"]["currency"] == "USD" and wallet["per_coin"]["currency"] == "USD"
    assert [(row["kind"], row["coins"], row["balance_after"]) for row in history["items"]] == [
        ("gift", -3, 997),
        ("topup", 1000, 1000),
    ]
    # Bob's token sees Bob's (empty) coin wallet, never Alice's
    assert api.get("/wallet", world["bob"]).json()["coins"] == 0
    assert api.get("/wallet/history", world["bob"]).json() == {"items": [], "next_cursor": None}


def test_earnings_and_payouts_are_the_creators_own(api, alice, bob, world):
    earnings = api.get("/earnings", world["bob"]).json()
    payouts = api.get("/payouts", world["bob"]).json()
    streams = api.get("/earnings/streams", world["bob"]).json()

    assert earnings["total"]["diamonds"] == 3
    assert earnings["total"]["value"] == {"amount": "0.02", "currency": "USD"}
    assert [(payout["diamonds"], payout["status"], payout["method_kind"]) for payout in payouts["items"]] == [
        (3, "queued", "paypal")
    ]
    assert "bob@example.com" not in str(payouts)  # never the account details
    assert [(item["stream"]["id"], item["earned"]["diamonds"]) for item in streams["items"]] == [
        (world["stream"].pk, 3)
    ]
    # Alice is no creator: none of it is hers, and Bob's is not reachable through her token
    for path in ("/earnings", "/earnings/streams", "/payouts"):
        response = api.get(path, world["alice"])
        assert response.status_code == 403 and response.json()["code"] == "not_a_creator"


def test_another_creator_sees_only_their_own_earnings(api, world, make_token):
    carol = make_user(email="carol@example.com", display_name="Carol", is_creator=True)
    token = make_token(carol, Scope.EARNINGS_READ, Scope.PAYOUTS_READ)

    assert api.get("/earnings", token).json()["total"]["diamonds"] == 0
    assert api.get("/earnings/streams", token).json()["items"] == []
    assert api.get("/payouts", token).json()["items"] == []


def test_stream_state_has_goal_leaderboard_and_viewers(api, world):
    state = api.get(f"/streams/{world['stream'].pk}", world["alice"]).json()

    assert state["goal"] == {"goal_coins": 1000, "label": "New tablet", "coins": 3, "percent": 0, "is_reached": False}
    assert state["leaderboard"] == [{"rank": 1, "name": "Alice", "coins": 3, "is_anonymous": False}]
    assert state["viewers"] == 0
    events = api.get(f"/streams/{world['stream'].pk}/events", world["alice"]).json()
    assert events["url"].startswith(f"http://testserver{reverse('gifting:events', args=[world['stream'].pk])}?v=")


def test_unknown_and_hostile_ids_are_404_problems(api, world):
    for path in ("/streams/999999", "/streams/99999999999999999999", "/streams/0/events"):
        response = api.get(path, world["alice"])
        assert response.status_code in (404, 422), path
        assert response["Content-Type"] == "application/problem+json"


def test_cursor_pages_walk_the_whole_list_once(api, alice, bob, catalogue, make_token):
    creators = [make_user(email=f"c{n}@example.com", is_creator=True) for n in range(5)]
    streams = [stream_start(creator=creator, title=f"Show {n}") for n, creator in enumerate(creators)]
    token = make_token(alice, Scope.LIVE_READ)

    seen, cursor = [], ""
    while True:
        page = api.get(f"/streams?limit=2&cursor={cursor}", token).json()
        seen += [item["id"] for item in page["items"]]
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]

    assert seen == [stream.pk for stream in reversed(streams)]
    stream_end(stream=streams[0], creator=creators[0])
    assert streams[0].pk not in [item["id"] for item in api.get("/streams?limit=100", token).json()["items"]]


@pytest.mark.parametrize("cursor", ["garbage", "12-", "-5", "1-2-3", "9" * 17 + "-1", "1-" + "9" * 19])
def test_a_bad_cursor_is_a_422_problem(api, alice, make_token, cursor):
    response = api.get(f"/wallet/history?cursor={cursor}", make_token(alice, Scope.WALLET_READ))

    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"


@pytest.mark.parametrize("cursor", ["0-1", "9999999999999999-999999999999999999", "1700000000000000-42"])
def test_any_cursor_of_the_documented_shape_is_a_page(api, alice, make_token, cursor):
    response = api.get(f"/wallet/history?cursor={cursor}", make_token(alice, Scope.WALLET_READ))

    assert response.status_code == 200


def test_rate_limit_per_token_answers_429_with_retry_after(api, alice, make_token, settings):
    settings.API_RATE_LIMIT_PER_SECOND = 1000
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    token, other = make_token(alice, Scope.WALLET_READ), make_token(alice, Scope.WALLET_READ)

    answers = [api.get("/me", token) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert api.get("/me", other).status_code == 200  # per token


def test_the_session_works_for_reads_and_needs_csrf_for_writes(client, alice, stream):
    fund(alice, 100)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)

    assert browser.get("/api/v1/wallet").json()["coins"] == 100
    rose = Gift.objects.get(slug="rose")
    response = browser.post(
        f"/api/v1/streams/{stream.pk}/gifts",
        {"gift_id": rose.pk},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="s1",
    )
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert browser.get("/api/v1/wallet").json()["coins"] == 100


def test_refusals_outside_the_api_handlers_are_problems_too(client, alice, make_token):
    token = make_token(alice, Scope.WALLET_READ)

    nul = client.get("/api/v1/wallet/history?cursor=%00", HTTP_AUTHORIZATION=f"Bearer {token}")
    unknown = client.get("/api/v1/no-such-operation", HTTP_AUTHORIZATION=f"Bearer {token}")
    not_allowed = client.post(
        "/api/v1/payouts", {}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )

    assert (nul.status_code, nul["Content-Type"], nul.json()["code"]) == (
        400,
        "application/problem+json",
        "invalid_request",
    )
    assert (unknown.status_code, unknown["Content-Type"], unknown.json()["code"]) == (
        404,
        "application/problem+json",
        "not_found",
    )
    assert not_allowed.status_code == 405  # there is no way to request a payout here
    assert client.get("/no-such-page/").content.startswith(b"<!DOCTYPE html>")  # pages stay pages
