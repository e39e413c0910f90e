"""Template filters that show money and coins the same way on every page."""

from decimal import Decimal

from django import template
from djmoney.money import Money

from wallet.money import currency_exponent, format_money

register = template.Library()


@register.filter
def money(value: Money | None) -> str:
    """A money amount rounded to its currency ("$9.99", "¥1,000")."""
    if value is None:
        return "—"
    return format_money(value)


@register.filter
def money_precise(value: Money | None) -> str:
    """A unit price with up to four decimals ("$0.0143"), for per-coin prices."""
    if value is None:
        return "—"
    amount = value.amount.quantize(Decimal("0.0001"))
    return f"{value.currency.code} {amount:,.4f}"


@register.filter
def intcomma_int(value) -> str:
    """An integer with thousands separators (coins and diamonds are whole numbers)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return ""


@register.filter(name="currency_exponent")
def currency_exponent_filter(code: str) -> int:
    return currency_exponent(code)


@register.filter
def get_item(mapping, key):
    return mapping.get(key, key)


@register.filter
def coin_worth(coins, per_coin: Money | None) -> str:
    """What `coins` are worth at `per_coin` (the base price of one coin), as "($1.41)"; "" without a price.

    The view looks the per-coin price up once (`wallet.selectors.coin_rate`), so a feed of many
    amounts costs no query per amount.
    """
    if per_coin is None or coins in (None, ""):
        return ""
    return f"({format_money(Money(per_coin.amount * int(coins), per_coin.currency.code))})"
