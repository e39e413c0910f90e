"""Every amount reads as Babel writes it, in every language and currency, whether Babel or Python lays it out."""

from decimal import Decimal

import pytest
from babel.numbers import format_currency
from django.conf import settings
from django.utils import translation
from djmoney.money import Money
from hypothesis import given
from hypothesis import strategies as st

from coinsite.lib.currencies import CURRENCIES
from wallet import money
from wallet.money import format_money, quantize

# The site's languages, and Hindi, which groups "12,34,567.00": Babel must keep that one.
LOCALES = [translation.to_locale(code) for code, _name in settings.LANGUAGES] + ["hi"]


@pytest.mark.parametrize("locale", LOCALES)
@given(
    currency=st.sampled_from(sorted(CURRENCIES)),
    amount=st.decimals(min_value=-(10**12), max_value=10**12, places=3, allow_nan=False, allow_infinity=False),
)
def test_an_amount_reads_as_babel_writes_it(locale, currency, amount):
    rounded = quantize(Money(amount, currency)).amount
    babel = format_currency(rounded, currency, locale=locale).replace("\uffe5", "\u00a5")

    assert format_money(Money(amount, currency), locale=locale) == babel


def test_python_lays_out_the_sites_languages_and_babel_the_others():
    for locale in LOCALES[:-1]:
        for currency in CURRENCIES:
            assert money._currency_layout(locale, currency) is not None, (locale, currency)
    assert money._currency_layout("hi", "INR") is None
    assert format_money(Money("1234567.5", "INR"), locale="hi") == "₹12,34,567.50"
    assert format_money(Money("-1234.5", "EUR"), locale="fr") == "-1\u202f234,50\u00a0€"
    assert format_money(Money("-0.4", "JPY"), locale="ja") == "-¥0"  # rounds to minus zero, as Babel writes it
    assert format_money(Money(Decimal("160"), "JPY"), locale="ja") == "¥160"  # CLDR's full-width sign, fixed
