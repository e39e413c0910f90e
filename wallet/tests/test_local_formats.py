"""Money, coin counts and dates in the viewer's language (Babel's CLDR data) and time zone, through the one
formatter each (`wallet.money.format_money`, `coinsite.lib.l10n`) and the template filters every page uses.

Babel writes a no-break space (U+00A0) between an amount and its symbol, and French groups thousands with a
narrow no-break space (U+202F): the expected strings spell them out.
"""

import datetime

import pytest
from django.template import Context, Template
from django.utils import timezone, translation
from djmoney.money import Money

from coinsite.lib.l10n import (
    format_count,
    format_date_local,
    format_datetime_local,
    format_month_local,
    format_time_local,
    time_zone,
)
from wallet.models import LedgerTransaction
from wallet.money import format_money, format_unit_price
from wallet.selectors import _description as history_description

NBSP, NNBSP = "\xa0", "\u202f"
# 00:05 UTC on a Monday: the day before in America, the same day in Europe and Asia.
MOMENT = datetime.datetime(2026, 11, 16, 0, 5, tzinfo=datetime.UTC)


def in_language(language, function, *args):
    with translation.override(language):
        return function(*args)


@pytest.mark.parametrize(
    ("language", "amount", "currency", "expected"),
    [
        ("en", "1.09", "EUR", "€1.09"),
        ("en", "1234.5", "USD", "$1,234.50"),
        ("fr", "1.09", "EUR", f"1,09{NBSP}€"),
        ("fr", "1234.5", "EUR", f"1{NNBSP}234,50{NBSP}€"),
        ("de", "1234.5", "EUR", f"1.234,50{NBSP}€"),
        ("es", "1.09", "EUR", f"1,09{NBSP}€"),
        ("it", "1.09", "EUR", f"1,09{NBSP}€"),
        ("nl", "1.09", "EUR", f"€{NBSP}1,09"),  # what CLDR's Dutch data says: symbol first, then a space
        ("pt-br", "5.9", "BRL", f"R${NBSP}5,90"),
        ("ja", "160", "JPY", "¥160"),  # U+00A5, not CLDR's full-width ￥
        ("ja", "40000", "JPY", "¥40,000"),
        ("ko", "1500", "KRW", "₩1,500"),
        ("ko", "369000", "KRW", "₩369,000"),
        ("en", "1.39", "CAD", "CA$1.39"),
        ("en", "1.59", "AUD", "A$1.59"),
        ("es", "19", "MXN", f"19,00{NBSP}MXN"),
        ("fr", "13.99", "CAD", f"13,99{NBSP}$CA"),
    ],
)
def test_money_in_each_language(language, amount, currency, expected):
    assert in_language(language, format_money, Money(amount, currency)) == expected


@pytest.mark.parametrize(
    ("language", "yen", "won"),
    [
        ("en", "¥1,600", "₩1,500"),
        ("fr", f"1{NNBSP}600{NBSP}JPY", f"1{NNBSP}500{NBSP}₩"),
        ("de", f"1.600{NBSP}¥", f"1.500{NBSP}₩"),
        ("nl", f"JP¥{NBSP}1.600", f"₩{NBSP}1.500"),
        ("ja", "¥1,600", "₩1,500"),
        ("ko", "JP¥1,600", "₩1,500"),
    ],
)
def test_zero_decimal_currencies_never_show_decimals(language, yen, won):
    assert in_language(language, format_money, Money("1599.5", "JPY")) == yen
    assert in_language(language, format_money, Money("1500.00", "KRW")) == won


def test_zero_decimal_amounts_are_rounded_half_up_before_they_are_shown():
    assert in_language("ko", format_money, Money("1499.5", "KRW")) == "₩1,500"
    assert in_language("ja", format_money, Money("159.4", "JPY")) == "¥159"
    assert in_language("de", format_money, Money("1499.5", "KRW")) == f"1.500{NBSP}₩"


@pytest.mark.parametrize(
    ("language", "price", "expected"),
    [
        ("en", Money("0.014143", "USD"), "$0.0141"),
        ("en", Money("0.005", "USD"), "$0.0050"),
        ("en", Money("0.012986", "USD"), "$0.0130"),  # half up, and four decimals so a column lines up
        ("en", Money("2.285714", "JPY"), "¥2.2857"),
        ("fr", Money("0.015571", "EUR"), f"0,0156{NBSP}€"),
        ("ko", Money("21.428571", "KRW"), "₩21.4286"),
        ("ja", Money("2", "JPY"), "¥2.0000"),
        ("de", Money("0.00005", "EUR"), f"0,0001{NBSP}€"),
        ("en", Money("1.5", "USD"), "$1.5000"),
    ],
)
def test_unit_prices_show_four_decimals(language, price, expected):
    assert in_language(language, format_unit_price, price) == expected


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "1,234,567"),
        ("fr", f"1{NNBSP}234{NNBSP}567"),
        ("de", "1.234.567"),
        ("es", "1.234.567"),
        ("it", "1.234.567"),
        ("nl", "1.234.567"),
        ("pt-br", "1.234.567"),
        ("ja", "1,234,567"),
        ("ko", "1,234,567"),
    ],
)
def test_coin_and_diamond_counts_are_grouped_the_locales_way(language, expected):
    assert in_language(language, format_count, 1_234_567) == expected


def test_small_counts_are_plain_numbers():
    assert in_language("fr", format_count, 999) == "999"
    assert in_language("de", format_count, 0) == "0"
    assert in_language("fr", format_count, 1_500) == f"1{NNBSP}500"


@pytest.mark.parametrize(
    ("language", "zone", "expected"),
    [
        ("en", "UTC", "Nov 16, 2026, 12:05\u202fAM (UTC)"),
        ("en", "America/Los_Angeles", "Nov 15, 2026, 4:05\u202fPM (Los Angeles)"),
        ("fr", "Europe/Paris", "16 nov. 2026, 01:05 (Paris)"),
        ("de", "Europe/Berlin", "16.11.2026, 01:05 (Berlin)"),
        ("nl", "Europe/Amsterdam", "16 nov 2026, 01:05 (Amsterdam)"),
        ("pt-br", "America/Sao_Paulo", "15 de nov. de 2026 21:05 (São Paulo)"),
        ("ja", "Asia/Tokyo", "2026/11/16 9:05 (東京)"),
        ("ko", "Asia/Seoul", "2026. 11. 16. 오전 9:05 (서울)"),
    ],
)
def test_moments_in_the_local_style_and_the_active_time_zone(language, zone, expected):
    with translation.override(language), timezone.override(time_zone(zone)):
        assert format_datetime_local(MOMENT) == expected


def test_days_and_months_of_a_moment_follow_the_time_zone():
    with translation.override("en"), timezone.override(time_zone("America/Los_Angeles")):
        assert format_date_local(MOMENT) == "Nov 15, 2026"
        assert format_time_local(MOMENT) == "4:05\u202fPM (Los Angeles)"
    with translation.override("fr"), timezone.override(time_zone("Europe/Paris")):
        assert format_date_local(MOMENT) == "16 nov. 2026"
        assert format_month_local(datetime.date(2026, 11, 1)) == "novembre 2026"
    with translation.override("ja"):
        assert format_month_local(datetime.date(2026, 11, 1)) == "2026年11月"


def test_a_plain_date_is_never_shifted_by_the_time_zone():
    with translation.override("en"), timezone.override(time_zone("Pacific/Honolulu")):
        assert format_date_local(datetime.date(2026, 12, 1)) == "Dec 1, 2026"
        assert format_month_local(datetime.date(2026, 12, 1)) == "December 2026"


def test_unknown_or_empty_time_zones_fall_back_to_utc():
    assert time_zone("Mars/Olympus_Mons").key == "UTC"
    assert time_zone("../../etc/passwd").key == "UTC"
    assert time_zone("").key == "UTC"
    assert time_zone("Asia/Seoul").key == "Asia/Seoul"


# --- The template filters existing pages use ---------------------------------------------------------


def render(source, language, zone="UTC", **context):
    template = Template("{% load wallet_money %}" + source)
    with translation.override(language), timezone.override(time_zone(zone)):
        return template.render(Context(context))


def test_the_money_filters_follow_the_active_language():
    price = Money("1.09", "EUR")

    assert render("{{ price|money }}", "fr", price=price) == f"1,09{NBSP}€"
    assert render("{{ price|money }}", "nl", price=price) == f"€{NBSP}1,09"
    assert render("{{ price|money }}", "ja", price=Money("160", "JPY")) == "¥160"
    assert render("{{ price|money }}", "ko", price=Money("1500", "KRW")) == "₩1,500"
    assert render("{{ rate|money_precise }}", "fr", rate=Money("0.015571", "EUR")) == f"0,0156{NBSP}€"
    assert render("{{ none|money }}", "fr", none=None) == "—"


def test_the_count_filter_groups_per_locale_and_ignores_what_is_not_a_number():
    assert render("{{ coins|intcomma_int }}", "fr", coins=17500) == f"17{NNBSP}500"
    assert render("{{ coins|intcomma_int }}", "de", coins=17500) == "17.500"
    assert render("{{ coins|intcomma_int }}", "ko", coins=17500) == "17,500"
    assert render("{{ coins|intcomma_int }}", "de", coins="many") == ""


def test_coin_worth_values_coins_in_the_active_language():
    per_coin = Money("0.015571", "EUR")

    assert render("{{ coins|coin_worth:per_coin }}", "fr", coins=700, per_coin=per_coin) == f"(10,90{NBSP}€)"
    assert render("{{ coins|coin_worth:per_coin }}", "en", coins=700, per_coin=per_coin) == "(€10.90)"


def test_the_date_filters_use_the_viewers_zone_and_style():
    assert render("{{ at|local_datetime }}", "fr", "Asia/Seoul", at=MOMENT) == "16 nov. 2026, 09:05 (Séoul)"
    assert render("{{ at|local_date }}", "de", "America/New_York", at=MOMENT) == "15.11.2026"
    assert render("{{ at|local_time }}", "en", "Europe/Paris", at=MOMENT) == "1:05\u202fAM (Paris)"
    assert render("{{ month|local_month }}", "es", month=datetime.date(2026, 11, 1)) == "noviembre de 2026"
    assert render("[{{ nothing|local_datetime }}]", "en", nothing=None) == "[]"


def test_the_history_describes_a_recharge_in_the_readers_formats_not_in_the_memos():
    memo = "Recharge: 1,400 coins for €19.99"
    recharge = LedgerTransaction(kind="topup", memo=memo, metadata={"amount": "19.99", "currency": "EUR"})

    french = in_language("fr", history_description, recharge, 1_400, "Recharge")

    # the words come from the catalogue, the numbers in French style
    assert french.startswith("Recharge") and f"1{NNBSP}400 pièces" in french and french.endswith(f"19,99{NBSP}€")
    assert in_language("en", history_description, recharge, 1, "Recharge") == "Recharge: 1 coin for €19.99"


def test_the_history_shows_the_memo_of_what_the_wallet_cannot_describe():
    gift = LedgerTransaction(kind="gift", memo="2 x Rose", metadata={"gift": 7})
    without_price = LedgerTransaction(kind="topup", memo="Recharge: 1,000 coins", metadata={})

    assert in_language("fr", history_description, gift, 20, "Gift") == "2 x Rose"
    assert in_language("fr", history_description, without_price, 1_000, "Recharge") == "Recharge: 1,000 coins"
    assert in_language("fr", history_description, LedgerTransaction(kind="gift"), 20, "Cadeau") == "Cadeau"
