from decimal import Decimal

import moneyed
import pytest
from django.utils import translation
from djmoney.money import Money

from coinsite.lib.currencies import CURRENCY_EXPONENTS
from wallet.money import (
    UnsupportedCurrency,
    amount_string,
    format_money,
    from_minor_units,
    parse_amount,
    price_for_coins,
    quantize,
    to_minor_units,
)


@pytest.mark.parametrize("code", sorted(CURRENCY_EXPONENTS))
def test_exponent_table_agrees_with_iso_data_in_py_moneyed(code):
    assert moneyed.get_currency(code).sub_unit == 10 ** CURRENCY_EXPONENTS[code]


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("1.005", "USD", "1.01"),
        ("1.015", "USD", "1.02"),  # half-even would give 1.02 too; the next line is where they differ
        ("1.025", "USD", "1.03"),  # half-even: 1.02
        ("2.675", "EUR", "2.68"),  # as a float this is 2.67499999..., as a Decimal it is exactly half-way
        ("1.004999", "GBP", "1.00"),
        ("-1.005", "USD", "-1.01"),  # half-way rounds away from zero on both sides
        ("0.5", "JPY", "1"),
        ("2.5", "JPY", "3"),  # half-even: 2
        ("1499.5", "KRW", "1500"),
        ("1499.49", "KRW", "1499"),
        ("9.99", "BRL", "9.99"),
        ("10", "INR", "10.00"),
    ],
)
def test_quantize_rounds_half_up_to_the_currency_exponent(amount, currency, expected):
    result = quantize(Money(Decimal(amount), currency))

    assert result.amount == Decimal(expected)
    assert str(result.amount) == expected  # exactly the currency's places, no more, no fewer
    assert result.currency.code == currency


def test_quantize_does_not_use_money_round_bankers_rounding():
    money = Money("2.5", "JPY")

    assert money.round(0).amount == Decimal("2")  # py-moneyed's default: half-even
    assert quantize(money).amount == Decimal("3")


def test_unsupported_currency_is_refused():
    with pytest.raises(UnsupportedCurrency):
        quantize(Money("1.00", "CHF"))
    with pytest.raises(UnsupportedCurrency):
        from_minor_units(100, "XXX")


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("9.99", "USD", 999),
        ("0.01", "EUR", 1),
        ("249.99", "GBP", 24999),
        ("1000", "JPY", 1000),
        ("1000.00", "JPY", 1000),  # the MoneyField keeps 2 places even for JPY
        ("12000", "KRW", 12000),
        ("-5.50", "BRL", -550),
        ("0", "INR", 0),
    ],
)
def test_to_minor_units_is_exact(amount, currency, minor):
    minor_units = to_minor_units(Money(amount, currency))

    assert minor_units == minor
    assert type(minor_units) is int


@pytest.mark.parametrize(("amount", "currency"), [("1.005", "USD"), ("100.5", "JPY"), ("0.001", "EUR")])
def test_to_minor_units_refuses_unrounded_amounts(amount, currency):
    with pytest.raises(ValueError, match="quantize it first"):
        to_minor_units(Money(amount, currency))


@pytest.mark.parametrize(
    ("minor", "currency", "expected"),
    [
        (999, "USD", "9.99"),
        (1, "USD", "0.01"),
        (100, "EUR", "1.00"),
        (1000, "JPY", "1000"),
        (12000, "KRW", "12000"),
        (-550, "BRL", "-5.50"),
    ],
)
def test_from_minor_units(minor, currency, expected):
    money = from_minor_units(minor, currency)

    assert money == Money(expected, currency)
    assert str(money.amount) == expected


def test_minor_units_round_trip_for_every_currency():
    for code in CURRENCY_EXPONENTS:
        for minor in (0, 1, 99, 100, 123456789):
            assert to_minor_units(from_minor_units(minor, code)) == minor


@pytest.mark.parametrize("bad", [9.99, Decimal("999"), "999", True])
def test_from_minor_units_takes_only_ints(bad):
    with pytest.raises(TypeError):
        from_minor_units(bad, "USD")


def test_price_for_coins_rounds_once_at_the_end():
    per_coin = Money(Decimal("0.99") / 70, "USD")  # 0.0141428571...

    assert price_for_coins(per_coin, 70) == Money("0.99", "USD")
    assert price_for_coins(per_coin, 1) == Money("0.01", "USD")
    assert price_for_coins(per_coin, 123) == Money("1.74", "USD")  # 1.7395714... (per-coin rounding: 1.23)


def test_price_for_coins_half_way_rounds_up():
    assert price_for_coins(Money("0.005", "USD"), 1) == Money("0.01", "USD")
    assert price_for_coins(Money("0.0025", "USD"), 3) == Money("0.01", "USD")  # 0.0075
    assert price_for_coins(Money("0.5", "JPY"), 5) == Money("3", "JPY")  # 2.5


def test_price_for_coins_in_jpy_has_no_decimals():
    price = price_for_coins(Money(Decimal("160") / 70, "JPY"), 350)  # 800 yen exactly

    assert price.amount == Decimal("800")
    assert to_minor_units(price) == 800


@pytest.mark.parametrize(("coins", "error"), [(0, ValueError), (-5, ValueError), (1.5, TypeError), (True, TypeError)])
def test_price_for_coins_refuses_bad_coin_counts(coins, error):
    with pytest.raises(error):
        price_for_coins(Money("0.01", "USD"), coins)


def test_price_for_coins_refuses_a_negative_price():
    with pytest.raises(ValueError):
        price_for_coins(Money("-0.01", "USD"), 10)


def test_format_money():
    assert format_money(Money("9.99", "USD"), locale="en_US") == "$9.99"
    assert format_money(Money("1000", "JPY"), locale="en_US") == "¥1,000"
    assert format_money(Money("1000.00", "JPY"), locale="en_US") == "¥1,000"
    assert format_money(Money("1234.5", "EUR"), locale="de_DE") == "1.234,50\xa0€"
    assert format_money(Money("2.675", "GBP"), locale="en_GB") == "£2.68"  # quantized first


def test_format_money_defaults_to_the_active_language():
    with translation.override("en"):
        assert format_money(Money("4.99", "USD")) == "$4.99"


def test_amount_string_and_parse_amount_round_trip():
    assert amount_string(Money("9.99", "USD")) == "9.99"
    assert amount_string(Money("1000.00", "JPY")) == "1000"
    assert parse_amount("9.99", "USD") == Money("9.99", "USD")
    assert parse_amount("1000", "JPY") == Money("1000", "JPY")


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("9.999", "USD"),
        ("abc", "USD"),
        ("NaN", "USD"),
        ("Infinity", "EUR"),
        ("1.5", "JPY"),
        ("1.00", "CHF"),
        ("1e999999", "USD"),
        ("9.99e0", "USD"),
        ("-9.99", "USD"),
        (" 9.99", "USD"),
        ("9" * 40, "USD"),
        (9.99, "USD"),
    ],
)
def test_parse_amount_refuses_bad_input(amount, currency):
    with pytest.raises(ValueError):
        parse_amount(amount, currency)
