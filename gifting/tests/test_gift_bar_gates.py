"""The gift bar shows only to viewers who can send a gift now; everyone else reads why, and what would
help, in its place. The gift service still refuses on its own (nothing is trusted to the page)."""

import datetime
import re

import pytest
from django.urls import reverse

from gifting.services import gift_send
from gifting.tests.support import STREAM_PAGE_QUERY_BUDGET, fund, key_in, snapshot
from wallet.models import CoinReceivable, Country, TopUp
from wallet.spending import self_exclusion_start, spending_limits_set
from wallet.staff import wallet_freeze

pytestmark = pytest.mark.django_db


def page(client, stream) -> str:
    response = client.get(reverse("gifting:stream", args=[stream.pk]))
    assert response.status_code == 200
    return response.content.decode()


def blocked(html: str) -> tuple[str, str, str] | None:
    """(reason code, text, action link) of the "cannot gift" card, or None when the gift bar is shown."""
    card = re.search(r'data-testid="gift-blocked" data-reason="([a-z_]+)">(.*?)</section>', html, re.S)
    if card is None:
        assert 'data-testid="gift-bar"' in html
        return None
    assert 'data-testid="gift-bar"' not in html
    link = re.search(r'<a [^>]*href="([^"]+)" data-testid="gift-blocked-action"', card.group(2))
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", card.group(2))).strip()
    return card.group(1), text, link.group(1) if link else ""


def test_a_viewer_with_coins_gets_the_gift_bar(alice_client, alice, stream, rose, django_assert_max_num_queries):
    fund(alice, 500)
    page(alice_client, stream)  # the session and user rows are warm

    with django_assert_max_num_queries(STREAM_PAGE_QUERY_BUDGET):
        html = page(alice_client, stream)

    assert blocked(html) is None


def test_no_coins_offers_buy_coins(alice_client, alice, stream, rose):
    code, text, link = blocked(page(alice_client, stream))

    assert code == "no_coins"
    assert "You have no coins yet. Buy some to send gifts to Bob." in text
    assert link == reverse("wallet:recharge")


def test_no_birth_date_asks_for_it(alice_client, alice, stream, rose):
    fund(alice, 500)
    alice.birth_date = None
    alice.save(update_fields=["birth_date"])

    code, text, link = blocked(page(alice_client, stream))

    assert code == "age_unknown"
    assert "Add your birth date to your profile" in text
    assert link == reverse("accounts:profile")


def test_too_young_says_so_with_nothing_to_do(alice_client, alice, stream, rose):
    fund(alice, 500)
    alice.birth_date = datetime.date.today().replace(year=datetime.date.today().year - 16)
    alice.save(update_fields=["birth_date"])

    code, text, link = blocked(page(alice_client, stream))

    assert (code, link) == ("age", "")
    assert "Gifts can only be sent by people aged 18 or over." in text


def test_a_country_without_gifting_says_so(alice_client, alice, stream, rose):
    fund(alice, 500)
    Country.objects.filter(code="US").update(gifting_enabled=False)

    code, text, _link = blocked(page(alice_client, stream))

    assert code == "country"
    assert "Sending gifts is not available in your country." in text


def test_a_frozen_wallet_points_to_support(alice_client, alice, charlie, stream, rose, settings):
    settings.SUPPORT_EMAIL = "help@coinsite.example"
    fund(alice, 500)
    wallet_freeze(user=alice, staff=charlie, reason="Checking a payment.")

    code, text, link = blocked(page(alice_client, stream))

    assert code == "frozen"
    assert "Checking a payment." in text
    assert link == "mailto:help@coinsite.example"


def test_coins_owed_point_to_a_recharge(alice_client, alice, stream, rose):
    fund(alice, 500)
    topup = TopUp.objects.create(
        user=alice,
        coins=70,
        amount="0.99",
        country="US",
        payment_method="card",
        provider="sandbox",
        expires_at=datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC),
    )
    CoinReceivable.objects.create(user=alice, topup=topup, coins=70)

    code, text, link = blocked(page(alice_client, stream))

    assert code == "receivable"
    assert "the next recharge settles them first" in text
    assert link == reverse("wallet:recharge")


def test_a_pause_points_to_the_controls(alice_client, alice, stream, rose):
    fund(alice, 500)
    self_exclusion_start(user=alice, period="24h")

    code, text, link = blocked(page(alice_client, stream))

    assert code == "spending_excluded"
    assert "You paused gifting and recharging until" in text
    assert link == reverse("wallet:controls")


def test_a_budget_used_to_the_last_coin_points_to_the_controls(alice_client, alice, stream, rose):
    fund(alice, 500)
    spending_limits_set(user=alice, daily_limit=rose.coin_cost, monthly_limit=None)
    assert blocked(page(alice_client, stream)) is None  # the budget still has room for one rose
    gift_send(sender=alice, stream_id=stream.pk, gift_id=rose.pk, quantity=1, idempotency_key="the-one")

    code, text, link = blocked(page(alice_client, stream))

    assert code == "spending_daily"
    assert "You have used your daily budget. Gifting starts again on" in text
    assert link == reverse("wallet:controls")


def test_a_creator_who_can_no_longer_receive_gifts(alice_client, alice, bob, stream, rose):
    fund(alice, 500)
    bob.is_creator = False
    bob.save(update_fields=["is_creator"])

    code, text, link = blocked(page(alice_client, stream))

    assert code == "creator_unavailable"
    assert "This creator cannot receive gifts at the moment." in text
    assert link == reverse("gifting:index")


def test_a_blocked_viewer_posting_the_form_anyway_is_refused_and_nothing_changes(alice_client, alice, stream, rose):
    fund(alice, 500)
    key = key_in(page(alice_client, stream))
    Country.objects.filter(code="US").update(gifting_enabled=False)
    before = snapshot()

    response = alice_client.post(
        reverse("gifting:send", args=[stream.pk]), {"gift": rose.pk, "quantity": 1, "idempotency_key": key}
    )

    assert response.status_code == 403
    assert snapshot() == before
    assert blocked(response.content.decode())[0] == "country"
