"""Template filters that show money and coins the same way on every page."""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django import template
from djmoney.money import Money

from wallet.money import currency_exponent, format_money
from wallet.valuation import coins_value

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
def intcomma_int(value: Any) -> str:
    """An integer with thousands separators (coins and diamonds are whole numbers)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return ""


@register.filter(name="currency_exponent")
def currency_exponent_filter(code: str) -> int:
    return currency_exponent(code)


@register.filter
def get_item(mapping: Mapping[str, object], key: str) -> object:
    return mapping.get(key, key)


@register.filter
def coin_worth(coins: Any, per_coin: Money | None) -> str:
    """What `coins` are worth at `per_coin`, as "($1.41)"; "" without a price.

    A template's way into `wallet.valuation.coins_value` (the one valuation): the view passes the
    per-coin price it read once (`Valuation.per_coin`), so a feed of many amounts costs no query per amount.
    """
    if per_coin is None or coins in (None, ""):
        return ""
    return f"({format_money(coins_value(int(coins), per_coin))})"
