"""The currencies Coinsite prices coins in, takes payments in and pays creators in: one table.

One currency for every country sold in (wallet.Country says which); staff price coins in each
(wallet.CoinPackagePrice, wallet.CoinRate) and payouts convert into each (payouts/data/exchange_rates.json).
Listed explicitly, rather than derived from whatever py-moneyed knows, so that taking a new
currency is a deliberate decision (a provider's idea of minor units can differ from ISO 4217); a
test keeps the exponents in step with py-moneyed's ISO data. Names come from Babel, in the active
language.
"""

from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import get_currency_name
from django.utils import translation


@dataclass(frozen=True)
class Currency:
    code: str
    exponent: int  # decimal places of the minor unit: 2 for USD, 0 for JPY
    bank_payout_fee: Decimal  # the fixed part of a bank payout's fee, in this currency


CURRENCIES: dict[str, Currency] = {
    currency.code: currency
    for currency in [
        Currency("USD", 2, Decimal("0.25")),
        Currency("EUR", 2, Decimal("0.25")),
        Currency("GBP", 2, Decimal("0.20")),
        Currency("CAD", 2, Decimal("0.35")),
        Currency("AUD", 2, Decimal("0.40")),
        Currency("MXN", 2, Decimal("5.00")),
        Currency("BRL", 2, Decimal("1.50")),
        Currency("INR", 2, Decimal("20")),
        Currency("JPY", 0, Decimal("40")),
        Currency("KRW", 0, Decimal("350")),  # no minor unit, like JPY
    ]
}
CURRENCY_EXPONENTS: dict[str, int] = {code: currency.exponent for code, currency in CURRENCIES.items()}
DEFAULT_CURRENCY = "USD"


def currency_choices() -> list[tuple[str, str]]:
    """(code, "US Dollar (USD)") for every currency, named in the active language, in code order."""
    locale = translation.to_locale(translation.get_language() or "en")
    return [(code, f"{get_currency_name(code, locale=locale)} ({code})") for code in sorted(CURRENCIES)]
