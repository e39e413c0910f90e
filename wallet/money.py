"""Fiat money helpers: the one place that rounds money and converts it to and from minor units.

Everything that crosses a boundary (a price shown to a viewer, an amount sent to a payment
provider, a value stored in a MoneyField) goes through `quantize` first. Nothing here uses
floats, and nothing relies on `Money.round` (banker's rounding) or on the database to round.
"""

import copy
import functools
import re
from decimal import ROUND_HALF_UP, Decimal

import moneyed
from babel import Locale
from babel.numbers import format_currency, format_decimal
from djmoney.money import Money

from coinsite.lib.currencies import CURRENCY_EXPONENTS
from coinsite.lib.l10n import active_locale

# What a provider's decimal amount may look like: plain digits, no sign, exponent or spaces.
# (Decimal("1e999999") is finite, and its quantize raises; an exponent is never a real price.)
AMOUNT_FORMAT = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,6})?")
# Unit prices (one coin, one diamond) are shown to four decimal places.
UNIT_PRICE_DECIMALS = 4
UNIT_PRICE_STEP = Decimal(1).scaleb(-UNIT_PRICE_DECIMALS)
# CLDR's Japanese data writes the yen with the full-width sign "￥" (U+FFE5); Japanese shops and the
# issue print "¥160" (U+00A5), and one sign keeps pages, emails and live.js searchable alike.
_SYMBOL_FIXES = str.maketrans({"\uffe5": "\u00a5"})


class UnsupportedCurrency(ValueError):
    """The currency is not one Coinsite prices or takes payments in."""


def currency_code(currency: str | moneyed.Currency) -> str:
    code = currency.code if isinstance(currency, moneyed.Currency) else str(currency).upper()
    if code not in CURRENCY_EXPONENTS:
        raise UnsupportedCurrency(f"Currency {code!r} is not supported.")
    return code


def currency_exponent(currency: str | moneyed.Currency) -> int:
    """How many decimal places the currency has (2 for USD, 0 for JPY)."""
    return CURRENCY_EXPONENTS[currency_code(currency)]


def quantize(money: Money) -> Money:
    """`money` rounded to its currency's minor unit, half-way cases away from zero.

    ROUND_HALF_UP (away from zero) rather than banker's rounding: it is the rule people and
    receipts use (1.005 -> 1.01), and it is what PostgreSQL does when it rounds a numeric, so a
    value we round and one the database rounds can never disagree by a cent. Banker's rounding
    (`Money.round`'s default) only pays off when summing many rounded values statistically.
    """
    exponent = currency_exponent(money.currency)
    step = Decimal(1).scaleb(-exponent)
    return Money(money.amount.quantize(step, rounding=ROUND_HALF_UP), money.currency.code)


def to_minor_units(money: Money) -> int:
    """The amount in the currency's minor units (cents for USD, yen for JPY), exactly.

    Refuses amounts finer than a minor unit instead of rounding them silently: a value that
    reaches a provider unrounded is a bug in the caller, which should `quantize` first.
    """
    exponent = currency_exponent(money.currency)
    scaled = money.amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(
            f"{money.amount} {money.currency.code} is finer than the currency's minor unit; quantize it first."
        )
    return int(scaled)


def from_minor_units(amount: int, currency: str | moneyed.Currency) -> Money:
    """`Money` for an integer count of minor units (999, "USD" -> 9.99 USD)."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"Minor units must be an int, got {type(amount).__name__}.")
    code = currency_code(currency)
    return Money(Decimal(amount).scaleb(-CURRENCY_EXPONENTS[code]), code)


def price_for_coins(per_coin_price: Money, coins: int) -> Money:
    """What `coins` cost at `per_coin_price`, rounded once, at the end (never per coin)."""
    if isinstance(coins, bool) or not isinstance(coins, int):
        raise TypeError(f"Coins must be an int, got {type(coins).__name__}.")
    if coins < 1:
        raise ValueError("A purchase needs at least one coin.")
    if per_coin_price.amount < 0:
        raise ValueError("A per-coin price cannot be negative.")
    return quantize(Money(per_coin_price.amount * coins, per_coin_price.currency.code))


def parse_amount(amount: str, currency: str) -> Money:
    """`Money` from a decimal string such as "9.99" (as providers send it); must be exact."""
    if not isinstance(amount, str) or not AMOUNT_FORMAT.fullmatch(amount):
        raise ValueError(f"Not a decimal amount: {str(amount)[:40]!r}.")
    money = Money(Decimal(amount), currency_code(currency))
    to_minor_units(money)  # rejects sub-minor-unit precision
    return money


def amount_string(money: Money) -> str:
    """The quantized amount as plain digits ("9.99", "1000"), for payloads and forms."""
    return format(quantize(money).amount, "f")


def format_money(money: Money, *, locale: str | None = None) -> str:
    """The quantized amount for people, in the active language's style (Babel's CLDR data): "$9.99",
    "1,09 €" in French, "€ 1,09" in Dutch, "¥160" in Japanese, "₩1,500" in Korean; zero-decimal
    currencies (JPY, KRW) never show decimals.

    Babel's answer. Babel takes about 40 µs an amount, and a creator's dashboard shows a hundred: where the
    locale writes the currency as Python's own digit grouping between a fixed prefix and suffix (checked
    once per locale and currency against Babel, `_currency_layout`), the amount is written that way instead.
    """
    amount = quantize(money)
    locale = locale or active_locale()
    code = amount.currency.code
    layout = _currency_layout(locale, code)
    text = (
        format_currency(amount.amount, code, locale=locale)
        if layout is None
        else _laid_out(amount.amount, layout, CURRENCY_EXPONENTS[code])
    )
    return text.translate(_SYMBOL_FIXES)


# (prefix, suffix, negative prefix, negative suffix, group separator, decimal separator) around the digits.
type _Layout = tuple[str, str, str, str, str, str]


def _laid_out(amount: Decimal, layout: _Layout, exponent: int) -> str:
    prefix, suffix, negative_prefix, negative_suffix, group, decimal = layout
    digits = format(abs(amount), "f")
    whole, _point, fraction = digits.partition(".")
    number = f"{int(whole):,}".replace(",", group) + (decimal + fraction if exponent else "")
    if amount.is_signed():  # minus zero too, as Babel writes it
        return negative_prefix + number + negative_suffix
    return prefix + number + suffix


# Amounts that show how a locale writes a currency: its grouping, separators, and where the symbol and sign go.
_MONEY_SAMPLES = ("0", "1", "7.5", "999.99", "1000", "12345.6", "1234567.89", "-0.01", "-1234.5", "987654321012.34")


@functools.cache
def _currency_layout(locale: str, code: str) -> _Layout | None:
    """How Babel writes `code` in `locale`, when it is digits grouped as Python's "{:,}" between a fixed prefix
    and suffix (one pair for amounts below zero); None otherwise. Every sample must come out as Babel's."""
    exponent = CURRENCY_EXPONENTS[code]
    probe = Decimal("1234567.89") if exponent else Decimal("1234567")

    def parts(text: str) -> tuple[str, str, str]:
        digits = [index for index, char in enumerate(text) if char.isdigit()]
        return text[: digits[0]], text[digits[-1] + 1 :], text[digits[0] : digits[-1] + 1]

    prefix, suffix, middle = parts(format_currency(probe, code, locale=locale))
    negative_prefix, negative_suffix, _middle = parts(format_currency(-probe, code, locale=locale))
    group = middle[1]
    decimal = middle[-3] if exponent else ""
    layout = (prefix, suffix, negative_prefix, negative_suffix, group, decimal)
    for sample in _MONEY_SAMPLES:
        amount = quantize(Money(Decimal(sample), code)).amount
        if _laid_out(amount, layout, exponent) != format_currency(amount, code, locale=locale):
            return None
    return layout


def format_unit_price(money: Money, *, locale: str | None = None) -> str:
    """A per-coin or per-diamond price to exactly four decimals, rounded half up, in the active language's
    style: "$0.0141", "0,0156 €", "¥2.2857", "$0.0050" (four in every currency, so a column of them lines up)."""
    locale = locale or active_locale()
    amount = money.amount.quantize(UNIT_PRICE_STEP, rounding=ROUND_HALF_UP)
    pattern = copy.copy(Locale.parse(locale).currency_formats["standard"])
    pattern.frac_prec = (UNIT_PRICE_DECIMALS, UNIT_PRICE_DECIMALS)
    text = pattern.apply(amount, locale, currency=currency_code(money.currency), currency_digits=False)
    return text.translate(_SYMBOL_FIXES)


def format_exchange_rate(source: str, target: str, rate: Decimal, *, locale: str | None = None) -> str:
    """ "1 USD = 0.9213 EUR" in the active language's style: up to six decimals, trailing zeros dropped
    ("1 GBP = 1.27 USD", not "1.270000"); "" when no conversion happened (the same currency both sides),
    where "1 USD = 1.000000 USD" would only puzzle people."""
    if currency_code(source) == currency_code(target):
        return ""
    number = format_decimal(rate, format="#,##0.######", locale=locale or active_locale())
    return f"1 {currency_code(source)} = {number} {currency_code(target)}"
