"""Every country sold in has its own currency, priced by staff: CAD, AUD, MXN and KRW (no minor unit, like
JPY) join the others with coin packages and per-coin rates (migration 0011), and a country may ask for an
older minimum age than the site's 18 (South Korea: 19) to buy coins."""

import datetime
import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from djmoney.money import Money

from coinsite.accounts.tests.factories import make_user
from coinsite.lib.currencies import CURRENCIES, CURRENCY_EXPONENTS
from wallet import selectors, services
from wallet.models import CoinPackage, CoinPackagePrice, CoinRate, Country
from wallet.money import to_minor_units
from wallet.sandbox.models import SandboxSession
from wallet.tests.support import package, start, written

pytestmark = pytest.mark.django_db

NEW_COUNTRIES = {"CA": "CAD", "AU": "AUD", "MX": "MXN", "KR": "KRW"}


def born_years_ago(years: int, *, days: int = 0) -> datetime.date:
    """The birth date of someone who turned `years` `days` days ago (a negative `days`: who turns it later)."""
    today = timezone.localdate()
    try:
        birthday = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        birthday = today.replace(year=today.year - years, day=28)
    return birthday - datetime.timedelta(days=days)


def korean(age: int, *, days: int = 0, email: str = "minji@example.com"):
    return make_user(email=email, country="KR", preferred_currency="KRW", birth_date=born_years_ago(age, days=days))


# --- The catalogue ---------------------------------------------------------------------------------


def test_the_new_currencies_are_in_the_one_currency_table():
    assert {code: CURRENCY_EXPONENTS[code] for code in ("CAD", "AUD", "MXN", "KRW", "JPY")} == {
        "CAD": 2,
        "AUD": 2,
        "MXN": 2,
        "KRW": 0,
        "JPY": 0,
    }
    assert {CURRENCIES[code].bank_payout_fee for code in ("CAD", "AUD", "MXN")} == {
        Decimal("0.35"),
        Decimal("0.40"),
        Decimal("5.00"),
    }


def test_each_new_country_sells_in_its_own_currency():
    rows = {row.code: row for row in Country.objects.filter(code__in=NEW_COUNTRIES)}

    assert {code: row.currency for code, row in rows.items()} == NEW_COUNTRIES
    assert all(row.recharge_enabled and row.gifting_enabled for row in rows.values())
    assert rows["KR"].payment_methods == ["card", "google_pay", "apple_pay", "carrier_billing"]
    assert {code: row.minimum_age for code, row in rows.items()} == {"CA": 18, "AU": 18, "MX": 18, "KR": 19}


def test_every_currency_a_country_sells_in_prices_every_package_and_has_a_coin_rate():
    packages = list(CoinPackage.objects.filter(is_active=True))
    for currency in set(Country.objects.filter(recharge_enabled=True).values_list("currency", flat=True)):
        assert currency in CURRENCIES
        prices = CoinPackagePrice.objects.filter(price_currency=currency)
        assert {price.package_id for price in prices} == {item.pk for item in packages}, currency
        assert CoinRate.objects.filter(per_coin_currency=currency).exists(), currency


@pytest.mark.parametrize(
    ("currency", "expected"),
    [
        ("CAD", ["1.39", "6.99", "13.99", "27.99", "69.99", "139.99", "349.99"]),
        ("AUD", ["1.59", "7.99", "15.99", "30.99", "79.99", "159.99", "399.99"]),
        ("MXN", ["19.00", "99.00", "199.00", "399.00", "999.00", "1999.00", "4999.00"]),
        ("KRW", ["1500", "7500", "15000", "29000", "75000", "149000", "369000"]),
    ],
)
def test_local_price_points_rise_with_the_package_and_zero_decimal_ones_are_whole(currency, expected):
    prices = [
        price.price
        for price in CoinPackagePrice.objects.filter(price_currency=currency).order_by("package__sort_order")
    ]

    assert prices == [Money(amount, currency) for amount in expected]
    for price in prices:  # exact in the currency's minor unit (whole won): to_minor_units refuses anything finer
        assert to_minor_units(price) == int(price.amount.scaleb(CURRENCY_EXPONENTS[currency]))


@pytest.mark.parametrize("currency", ["CAD", "AUD", "MXN", "KRW"])
def test_the_per_coin_rate_is_the_smallest_packages_price_per_coin(currency):
    rate = CoinRate.objects.get(per_coin_currency=currency)
    smallest = CoinPackagePrice.objects.get(package=package(70), price_currency=currency)

    assert rate.per_coin.amount == (smallest.price.amount / 70).quantize(Decimal("0.000001"))


def test_seeding_again_adds_nothing_and_keeps_what_staff_changed():
    CoinPackagePrice.objects.filter(package=package(70), price_currency="KRW").update(price=Decimal("1400"))
    Country.objects.filter(code="MX").update(payment_methods=["card"])
    before = (CoinPackagePrice.objects.count(), CoinRate.objects.count(), Country.objects.count())

    importlib.import_module("wallet.migrations.0011_regional_currencies").seed(apps, None)

    assert (CoinPackagePrice.objects.count(), CoinRate.objects.count(), Country.objects.count()) == before
    assert CoinPackagePrice.objects.get(package=package(70), price_currency="KRW").price == Money("1400", "KRW")
    assert Country.objects.get(code="MX").payment_methods == ["card"]


@pytest.mark.parametrize("age", [17, 26])
def test_a_country_cannot_ask_for_less_than_the_sites_age_or_an_absurd_one(age):
    with pytest.raises(IntegrityError), transaction.atomic():
        Country.objects.filter(code="KR").update(minimum_age=age)

    assert Country.objects.get(code="KR").minimum_age == 19


# --- Buying coins in South Korea -------------------------------------------------------------------------


def test_a_korean_adult_is_offered_whole_won_prices(client):
    client.force_login(korean(19))

    with translation.override("ko"):
        offer = selectors.recharge_offer(korean(25, email="jisoo@example.com"))
    page = client.get(reverse("wallet:recharge"), HTTP_ACCEPT_LANGUAGE="ko").content.decode()

    assert offer.currency == "KRW" and offer.unavailable_reason == ""
    assert offer.packages[0].price == Money("1500", "KRW")
    assert '<span class="package-price">₩1,500</span>' in page
    assert '<span class="package-price">₩369,000</span>' in page
    assert selectors.custom_price(offer.rate, 123) == Money("2636", "KRW")  # 2,635.71 rounded once, half up


@pytest.mark.parametrize("days", [1, 200])
def test_an_18_year_old_in_south_korea_may_not_buy_coins_and_nothing_is_written(client, outbox, mailoutbox, days):
    minji = korean(19, days=-days)  # 18, turning 19 in `days` days
    client.force_login(minji)
    before = written()

    page = client.get(reverse("wallet:recharge"))
    refused = start(client, choice=str(package(70).pk))

    reason = "In South Korea, coins can only be bought by people aged 19 or over. You can still watch live streams."
    assert f'<p data-testid="recharge-unavailable">{reason}</p>' in page.content.decode()
    assert refused.status_code == 403
    with pytest.raises(services.RechargeError, match="aged 19 or over"):
        services.topup_start(user=minji, payment_method="card", package_id=package(70).pk)
    assert written() == before
    assert (mailoutbox, outbox.sent) == ([], [])


def test_an_18_year_old_elsewhere_may_buy_coins(client, outbox):
    client.force_login(make_user(email="jo@example.com", country="CA", birth_date=born_years_ago(18)))

    response = start(client, choice=str(package(70).pk))

    assert response.status_code == 302
    assert SandboxSession.objects.get().amount == Money("1.39", "CAD")


def test_a_korean_top_up_reaches_the_checkout_in_whole_won(client, outbox):
    client.force_login(korean(19))

    response = start(client, choice="custom", custom_coins="123")

    assert response.status_code == 302
    session = SandboxSession.objects.get()
    assert session.amount == Money("2636", "KRW")
    assert to_minor_units(session.amount) == 2636
