"""The per-viewer gift rate limit: refused sends are HTTP 429 with a clear message and charge nothing."""

import pytest
from django.test import override_settings
from django.urls import reverse

from coinsite.accounts.tests.factories import make_user
from coinsite.lib.singletons import local_copies_forget
from coinsite.tests.support import hung_redis
from gifting import services as gifting_services
from gifting.models import GiftEvent
from gifting.services import (
    GIFT_SENDS_PER_MINUTE,
    GIFT_SENDS_PER_SECOND,
    GiftRateLimited,
    gift_send_rate_check,
)
from gifting.tests.support import fund, key_in, send_form, snapshot
from wallet.ledger import user_balance
from wallet.models import Asset

pytestmark = pytest.mark.django_db

REDIS_CACHE, JSON = "coinsite.lib.redis_cache.RedisCache", "application/json"
SECOND = 1_200_000.0  # the start of a minute, so the minute window does not turn over mid-test


def test_sends_above_the_per_second_limit_are_refused_until_the_next_second(alice):
    for _ in range(GIFT_SENDS_PER_SECOND):
        gift_send_rate_check(user=alice, now=SECOND + 0.1)

    with pytest.raises(GiftRateLimited, match="at most 5 per second") as refused:
        gift_send_rate_check(user=alice, now=SECOND + 0.2)

    assert refused.value.retry_after == 1
    assert refused.value.code == "rate_limited"
    assert gift_send_rate_check(user=alice, now=SECOND + 1.1) == [1, GIFT_SENDS_PER_SECOND + 1]  # a new second


def test_sends_above_the_per_minute_limit_are_refused_for_the_rest_of_the_minute(alice):
    for sent in range(GIFT_SENDS_PER_MINUTE):
        gift_send_rate_check(user=alice, now=SECOND + sent // GIFT_SENDS_PER_SECOND)

    with pytest.raises(GiftRateLimited, match="per minute") as refused:
        gift_send_rate_check(user=alice, now=SECOND + 50.5)

    assert refused.value.retry_after == 10
    assert gift_send_rate_check(user=alice, now=SECOND + 60) == [1, 1]  # a new minute


def test_each_viewer_has_their_own_limit(alice):
    dora = make_user(email="dora@example.com")
    for _ in range(GIFT_SENDS_PER_SECOND):
        gift_send_rate_check(user=alice, now=SECOND)

    assert gift_send_rate_check(user=dora, now=SECOND) == [1, 1]  # Dora's first send, not Alice's sixth
    with pytest.raises(GiftRateLimited):
        gift_send_rate_check(user=alice, now=SECOND)


def test_the_limit_can_be_turned_off_for_the_benchmark_server(alice, settings):
    settings.GIFT_SEND_RATE_LIMITED = False

    sends = [gift_send_rate_check(user=alice, now=SECOND) for _ in range(GIFT_SENDS_PER_SECOND * 3)]

    assert sends == [[]] * (GIFT_SENDS_PER_SECOND * 3)  # nothing refused, and nothing counted
    settings.GIFT_SEND_RATE_LIMITED = True
    assert gift_send_rate_check(user=alice, now=SECOND) == [1, 1]


def test_over_the_limit_the_stream_page_answers_429_and_charges_nothing(alice_client, alice, stream, rose, monkeypatch):
    monkeypatch.setattr("gifting.services.GIFT_SENDS_PER_SECOND", 2)
    monkeypatch.setattr("coinsite.lib.rate_limit.time.time", lambda: SECOND + 0.5)
    fund(alice, 100)
    assert send_form(alice_client, stream, rose, key="r1").status_code == 302
    assert send_form(alice_client, stream, rose, key="r2").status_code == 302
    before = snapshot()

    response = send_form(alice_client, stream, rose, key="r3", quantity=3)

    html = response.content.decode()
    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    error = html.split('data-testid="gift-error">')[1].split("</p>")[0]
    assert "You are sending gifts too quickly (at most 2 per second). Nothing was charged" in error
    assert key_in(html) != "r3"  # a fresh request id for the retry
    assert 'name="quantity"' in html and 'value="3"' in html  # the viewer's choice kept
    assert snapshot() == before
    assert user_balance(alice, Asset.COIN) == 98
    assert not GiftEvent.objects.filter(idempotency_key="r3").exists()


def test_the_confirmation_step_is_not_a_send(alice_client, alice, stream, lion, monkeypatch):
    monkeypatch.setattr("gifting.services.GIFT_SENDS_PER_SECOND", 1)
    monkeypatch.setattr("coinsite.lib.rate_limit.time.time", lambda: SECOND + 0.5)
    fund(alice, 30_000)

    for _ in range(3):
        assert send_form(alice_client, stream, lion, key="big").status_code == 200  # asks to confirm

    assert send_form(alice_client, stream, lion, key="big", confirmed=True).status_code == 302
    assert user_balance(alice, Asset.COIN) == 1


def test_a_taps_confirmation_answer_is_not_a_send(alice_client, alice, stream, lion, monkeypatch):
    monkeypatch.setattr("gifting.services.GIFT_SENDS_PER_SECOND", 1)
    monkeypatch.setattr("gifting.views.time.time", lambda: SECOND + 0.5)
    fund(alice, 30_000)
    url = reverse("gifting:gift-tap", args=[stream.pk])
    big = {"gift": lion.pk, "quantity": 1, "idempotency_key": "big"}

    for _ in range(3):
        assert alice_client.post(url, big).status_code == 428  # asks to confirm, counted and taken back

    assert alice_client.post(url, {**big, "confirmed": "true"}).status_code == 200
    assert alice_client.post(url, {**big, "idempotency_key": "next", "confirmed": "true"}).status_code == 429
    assert user_balance(alice, Asset.COIN) == 1


def test_a_returned_hit_frees_its_place_in_every_window(alice):
    gift_send_rate_check(user=alice, now=SECOND + 0.1)
    gifting_services.gift_send_rate_return(user=alice, now=SECOND + 0.1)

    assert gift_send_rate_check(user=alice, now=SECOND + 0.2) == [1, 1]


def test_the_limit_is_checked_outside_the_gift_transaction(alice_client, alice, stream, rose, monkeypatch):
    """A refusal leaves no transaction to roll back: nothing reaches the database's gift path at all."""
    calls = []
    monkeypatch.setattr("gifting.services.GIFT_SENDS_PER_SECOND", 0)
    real_context = gifting_services._gift_context
    monkeypatch.setattr(
        "gifting.services._gift_context", lambda **kwargs: calls.append(kwargs) or real_context(**kwargs)
    )
    fund(alice, 10)

    response = send_form(alice_client, stream, rose, key="r1")

    assert response.status_code == 429
    # The page's gift-bar check reads the rules (no request key); the refused gift itself never did.
    assert [call["idempotency_key"] for call in calls if call["idempotency_key"]] == []
    assert reverse("wallet:recharge") in response.content.decode()  # the page still works around the error


def test_while_redis_hangs_pages_answer_and_taps_get_503_at_once_charging_nothing(
    alice_client, alice, stream, rose, settings
):
    """The limits live in Redis. One tap waits for it (REDIS_TIMEOUT_SECONDS), the next ones are refused without
    asking it, so a hung Redis does not hold every request thread of the process for a timeout each. The pages read
    the staff-set settings from the database instead of the cache: before, every page answered 503 too."""
    fund(alice, 100)
    before = snapshot()
    alice_client.raise_request_exception = False  # answer as production does
    url = reverse("gifting:gift-tap", args=[stream.pk])
    pages = [reverse("gifting:index"), reverse("gifting:stream", args=[stream.pk]), reverse("wallet:index")]
    settings.REDIS_TIMEOUT_SECONDS = 0.2
    with hung_redis() as hung, override_settings(CACHES={"default": {"BACKEND": REDIS_CACHE, "LOCATION": hung.url}}):
        local_copies_forget()  # this process's copies of the settings, as after LOCAL_SECONDS
        taps = [
            alice_client.post(url, {"gift": rose.pk, "quantity": 1, "idempotency_key": f"tap-{n}"}, HTTP_ACCEPT=JSON)
            for n in range(3)
        ]
        connections = hung.connections
        local_copies_forget()
        answers = [alice_client.get(page).status_code for page in pages]

    assert answers == [200, 200, 200]
    assert [tap.status_code for tap in taps] == [503, 503, 503]
    assert {tap.json()["error"] for tap in taps} == {"unavailable"}
    assert connections == 1  # the first tap's; the other two never reached Redis
    assert snapshot() == before
    assert user_balance(alice, Asset.COIN) == 100
