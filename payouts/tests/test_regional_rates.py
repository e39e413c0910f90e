"""Payouts convert into every currency Coinsite sells in, the new ones (CAD, AUD, MXN) included, at stored
rates loaded from payouts/data/exchange_rates.json by migration (and `load_exchange_rates`)."""

import datetime
import importlib
import json
from decimal import Decimal

import pytest
from django.apps import apps
from djmoney.contrib.exchange.models import ExchangeBackend, Rate
from djmoney.money import Money

from coinsite.lib.currencies import CURRENCIES
from payouts import exchange, services
from payouts.models import PayoutMethodKind
from wallet.models import CoinPackagePrice

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


def stored_rates() -> dict[str, Decimal]:
    return dict(Rate.objects.filter(backend__name=exchange.BACKEND_NAME).values_list("currency", "value"))


def test_the_rates_file_and_the_stored_rates_cover_exactly_the_currencies_sold_in():
    data = json.loads(exchange.DEFAULT_RATES_FILE.read_text())

    assert set(data["rates"]) == set(CURRENCIES)
    assert set(stored_rates()) == set(CURRENCIES)
    assert {code: stored_rates()[code] for code in ("CAD", "AUD", "MXN", "KRW")} == {
        "CAD": Decimal("1.3870"),
        "AUD": Decimal("1.5410"),
        "MXN": Decimal("19.4250"),
        "KRW": Decimal("1384.50"),
    }


@pytest.mark.parametrize(
    ("currency", "expected"),
    [
        ("CAD", Money("69.35", "CAD")),
        ("AUD", Money("77.05", "AUD")),
        ("MXN", Money("971.25", "MXN")),
        ("KRW", Money("69225", "KRW")),
    ],
)
def test_a_payout_converts_into_the_new_currencies_rounded_once_to_their_unit(currency, expected):
    conversion = exchange.convert(Money("50", "USD"), currency, max_age=DAY)

    assert conversion.result == expected


def test_bank_payouts_in_the_new_currencies_charge_their_own_fixed_fee():
    # 0.25% of the amount plus the currency's fixed bank fee (coinsite.lib.currencies)
    assert services.payout_fee(PayoutMethodKind.BANK, Money("100", "CAD")) == Money("0.60", "CAD")
    assert services.payout_fee(PayoutMethodKind.BANK, Money("100", "MXN")) == Money("5.25", "MXN")
    assert services.payout_fee(PayoutMethodKind.BANK, Money("100000", "KRW")) == Money("600", "KRW")


@pytest.mark.parametrize("currency", ["CAD", "AUD", "MXN", "KRW"])
def test_local_coin_prices_are_within_a_fifth_of_the_dollar_price_at_the_stored_rate(currency):
    rate = stored_rates()[currency]
    for local in CoinPackagePrice.objects.filter(price_currency=currency).select_related("package"):
        dollars = CoinPackagePrice.objects.get(package=local.package, price_currency="USD").price.amount
        assert abs(local.price.amount / rate / dollars - 1) < Decimal("0.20"), (local.package, local.price)


def test_the_migration_adds_missing_rates_only_and_keeps_their_age():
    backend = ExchangeBackend.objects.get(name=exchange.BACKEND_NAME)
    Rate.objects.filter(backend=backend, currency="MXN").delete()
    Rate.objects.filter(backend=backend, currency="CAD").update(value=Decimal("1.5"))  # set by staff
    updated_at = exchange.rates_updated_at()

    importlib.import_module("payouts.migrations.0004_regional_exchange_rates").add_missing_rates(apps, None)

    assert stored_rates()["MXN"] == Decimal("19.4250")
    assert stored_rates()["CAD"] == Decimal("1.5")
    assert exchange.rates_updated_at() == updated_at
