"""Template filters that show money, counts and dates the same way on every page: in the active
language's style (Babel) and, for moments, in the active time zone (the viewer's, see
`coinsite.accounts.middleware.UserLocaleMiddleware`)."""

import datetime
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import ngettext, pgettext
from djmoney.money import Money

from coinsite.lib.l10n import (
    format_count,
    format_date_local,
    format_datetime_local,
    format_month_local,
    format_time_local,
)
from wallet.money import currency_exponent, format_exchange_rate, format_money, format_unit_price
from wallet.valuation import CoinAmount, DiamondAmount, coins_value

register = template.Library()


@register.filter
def money(value: Money | None) -> str:
    """A money amount rounded to its currency ("$9.99", "1,09 €", "¥1,000")."""
    if value is None:
        return "—"
    return format_money(value)


@register.filter
def money_precise(value: Money | None) -> str:
    """A unit price with up to four decimals ("$0.0143", "0,0156 €"), for per-coin prices."""
    if value is None:
        return "—"
    return format_unit_price(value)


@register.filter
def intcomma_int(value: Any) -> str:
    """An integer grouped the locale's way ("1,500", "1 500", "1.500"): coins and diamonds are whole numbers."""
    try:
        return format_count(int(value))
    except (TypeError, ValueError):
        return ""


@register.simple_tag
def coins_amount(amount: CoinAmount | None, *, prefix: str = "", empty: str = "") -> SafeString:
    """Coins with their money value, as every page shows them: `<span class="coins">1,500 coins</span>
    <span class="coin-value">($21.15)</span>`; no amount shows `empty` (or "No limit", for budgets).

    The one rendering of an amount of coins: `templates/wallet/_coins.html` is this tag, and the one-tap
    answer calls it directly (the template engine was a fifth of a tap's view). As a value it keeps a sentence
    around an amount one translatable message: `{% coins_amount owed as owed_coins %}{% blocktranslate %}…`.
    """
    if not amount:
        return format_html('<span class="muted">{}</span>', empty or pgettext("budget", "No limit"))
    coins = mark_safe(  # noqa: S308 (a translated sentence around the escaped count, as {% blocktranslate %} builds it)
        ngettext("%(coins)s coin", "%(coins)s coins", amount.coins) % {"coins": escape(format_count(amount.coins))}
    )
    html = format_html('<span class="coins">{}{}</span>', prefix, coins)
    if amount.value is None:
        return html
    return format_html('{} <span class="coin-value">({})</span>', html, format_money(amount.value))


@register.simple_tag
def diamonds_amount(amount: DiamondAmount) -> SafeString:
    """Diamonds with their money value, as every page shows them: `<span class="diamonds">1,500 diamonds</span>
    <span class="coin-value">($7.50)</span>`.

    The one rendering of an amount of diamonds. The creator dashboard shows a hundred of them (its chart's table
    alone has 90 days), and an include with its own translation block each was a third of the page's rendering.
    """
    diamonds = mark_safe(  # noqa: S308 (a translated sentence around the escaped count, as {% blocktranslate %} builds it)
        ngettext("%(diamonds)s diamond", "%(diamonds)s diamonds", amount.diamonds)
        % {"diamonds": escape(format_count(amount.diamonds))}
    )
    return format_html(
        '<span class="diamonds">{}</span> <span class="coin-value">({})</span>', diamonds, format_money(amount.value)
    )


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


# --- Dates: the locale's style, moments in the viewer's time zone -------------------------------------


@register.filter
def local_datetime(value: datetime.datetime | None) -> str:
    """A moment with its zone: "Nov 16, 2026, 9:05 AM (UTC)", "16 nov. 2026, 10:05 (Paris)"."""
    return format_datetime_local(value) if isinstance(value, datetime.datetime) else ""


@register.filter
def local_time(value: datetime.datetime | None) -> str:
    """A moment's time of day with its zone: "1:00 AM (Paris)" (e.g. when budgets reset)."""
    return format_time_local(value) if isinstance(value, datetime.datetime) else ""


@register.filter
def local_date(value: datetime.date | None) -> str:
    """A day: "Nov 16, 2026", "16 nov. 2026", "2026/11/16"; a moment's day in the viewer's zone."""
    return format_date_local(value) if isinstance(value, datetime.date) else ""


@register.filter
def local_month(value: datetime.date | None) -> str:
    """A month: "November 2026", "novembre 2026", "2026年11月"."""
    return format_month_local(value) if isinstance(value, datetime.date) else ""


@register.simple_tag
def exchange_rate(source: str, target: str, rate: Decimal | None) -> str:
    """`{% exchange_rate source target rate %}`: "1 USD = 0.92 EUR", or "" when nothing was converted
    (same currency) or there is no rate."""
    if rate is None:
        return ""
    return format_exchange_rate(str(source), str(target), rate)
