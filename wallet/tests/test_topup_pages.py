"""The receipt and the top-up lists as a viewer reads them: no "Price paid" for money never taken, every
top-up reachable from the wallet, and exchange rates that make sense to a person."""

import datetime
import re
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone, translation
from djmoney.money import Money

from wallet.models import TopUp, TopUpStatus
from wallet.money import format_exchange_rate

pytestmark = pytest.mark.django_db
INDEX, TOPUPS = reverse("wallet:index"), reverse("wallet:topups")
TOPUPS_QUERY_BUDGET = 5  # session, user, count, the page of top-ups, and one spare for the middleware's user read


def _text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())).strip()


def make_topup(user, *, status: str, coins: int = 700, price: str = "9.99", **fields) -> TopUp:
    return TopUp.objects.create(
        user=user,
        coins=coins,
        amount=Money(price, "USD"),
        country="US",
        payment_method="card",
        provider="sandbox",
        status=status,
        expires_at=timezone.now() + datetime.timedelta(hours=1),
        completed_at=timezone.now() if status != TopUpStatus.PENDING else None,
        **fields,
    )


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.mark.parametrize("status", [TopUpStatus.CANCELLED, TopUpStatus.FAILED, TopUpStatus.EXPIRED])
def test_a_top_up_that_took_no_money_shows_no_price_paid(alice_client, alice, status):
    topup = make_topup(alice, status=status)

    text = _text(alice_client.get(reverse("wallet:topup-detail", args=[topup.public_id])))

    assert "Price paid" not in text
    assert "Price $9.99 (not charged)" in text


def test_a_held_top_up_was_paid_so_it_shows_the_price_paid(alice_client, alice):
    topup = make_topup(alice, status=TopUpStatus.HELD)

    text = _text(alice_client.get(reverse("wallet:topup-detail", args=[topup.public_id])))

    assert "Price paid $9.99" in text
    assert "not charged" not in text


def test_recent_top_ups_link_to_every_top_up(alice_client, alice, django_assert_max_num_queries):
    for number in range(30):
        make_topup(alice, status=TopUpStatus.CANCELLED, coins=100 + number)
    index = alice_client.get(INDEX).content.decode()
    assert f'href="{TOPUPS}" data-testid="all-topups"' in index

    with django_assert_max_num_queries(TOPUPS_QUERY_BUDGET):
        first = alice_client.get(TOPUPS)
    second = alice_client.get(TOPUPS, {"page": 2})

    assert first.status_code == second.status_code == 200
    coins = [int(n.replace(",", "")) for n in re.findall(r"<td[^>]*>([\d,]+) coins</td>", first.content.decode())]
    assert coins == list(range(129, 104, -1))  # newest first, 25 a page
    assert len(re.findall(r"<td[^>]*>[\d,]+ coins</td>", second.content.decode())) == 5
    assert 'rel="next"' in first.content.decode()


def test_the_top_ups_page_shows_only_the_viewers_own(alice_client, alice, bob):
    make_topup(bob, status=TopUpStatus.CANCELLED, coins=4_321)

    text = _text(alice_client.get(TOPUPS))

    assert "4,321" not in text
    assert "No top-ups yet." in text


def test_the_top_ups_page_needs_a_login(client):
    response = client.get(TOPUPS)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.parametrize(
    ("language", "source", "target", "rate", "expected"),
    [
        ("en", "USD", "EUR", Decimal("0.9215000000"), "1 USD = 0.9215 EUR"),
        ("en", "GBP", "USD", Decimal("1.2700000000"), "1 GBP = 1.27 USD"),
        ("en", "USD", "JPY", Decimal("149.5000000000"), "1 USD = 149.5 JPY"),
        ("en", "USD", "KRW", Decimal("1385.1234567890"), "1 USD = 1,385.123457 KRW"),
        ("fr", "USD", "EUR", Decimal("0.9215000000"), "1 USD = 0,9215 EUR"),
        ("en", "USD", "USD", Decimal("1.0000000000"), ""),
    ],
)
def test_exchange_rates_read_naturally_and_same_currency_shows_none(language, source, target, rate, expected):
    with translation.override(language):
        assert format_exchange_rate(source, target, rate) == expected


def test_the_exchange_rate_tag_shows_nothing_without_a_conversion():
    template = Template("{% load wallet_money %}[{% exchange_rate source target rate %}]")

    assert template.render(Context({"source": "USD", "target": "USD", "rate": Decimal(1)})) == "[]"
    assert template.render(Context({"source": "USD", "target": "EUR", "rate": None})) == "[]"
    assert template.render(Context({"source": "USD", "target": "EUR", "rate": Decimal("0.5")})) == ("[1 USD = 0.5 EUR]")
