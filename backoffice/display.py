"""How admin lists and messages say amounts: counts with separators and their money value, in words.

Staff read "300,000 diamonds ($1,500.00)", never "+300000 DIAMOND". Values come from
`wallet.valuation.Valuation` (the settings and coin prices are cached per process, so a list of a
hundred rows reads nothing more): diamonds at the diamond value, coins at the base per-coin price
of the currency given (USD where none is).
"""

from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from djmoney.money import Money

from coinsite.accounts.models import User
from coinsite.lib.currencies import DEFAULT_CURRENCY
from coinsite.lib.l10n import format_count
from wallet.models import Adjustment, AdjustmentStatus, Asset
from wallet.money import format_money, format_unit_price
from wallet.valuation import Valuation


def asset_words(asset: str, amount: int) -> str:
    """ "300,000 diamonds", "1 coin" (the sign is the caller's business)."""
    count = abs(amount)
    if asset == Asset.DIAMOND:
        return ngettext("%(count)s diamond", "%(count)s diamonds", count) % {"count": format_count(count)}
    return ngettext("%(count)s coin", "%(count)s coins", count) % {"count": format_count(count)}


def asset_value(asset: str, amount: int, *, currency: str = DEFAULT_CURRENCY) -> Money | None:
    valuation = Valuation()
    return valuation.diamonds(amount) if asset == Asset.DIAMOND else valuation.coins(amount, currency)


def asset_amount(asset: str, amount: int, *, currency: str = DEFAULT_CURRENCY) -> str:
    """ "300,000 diamonds ($1,500.00)"; a negative amount keeps its minus sign: "-500 coins (-$4.99)"."""
    value = asset_value(asset, amount, currency=currency)
    sign = "-" if amount < 0 else ""
    words = f"{sign}{asset_words(asset, amount)}"
    return f"{words} ({format_money(value)})" if value is not None else words


def count_with_value(asset: str, amount: int | None) -> str:
    """For admin list columns: the count grouped, with its money value."""
    return "—" if amount is None else asset_amount(asset, amount)


def money_text(value: Money | None, *, precise: bool = False) -> str:
    if value is None:
        return "—"
    return format_unit_price(value) if precise else format_money(value)


def adjustment_message(adjustment: Adjustment, user: User) -> str:
    """What a correction did, for the admin's message: "Added 300,000 diamonds ($1,500.00) to alice@…"."""
    amount = asset_amount(adjustment.asset, abs(adjustment.amount))
    values = {"amount": amount, "user": user.email}
    if adjustment.status == AdjustmentStatus.POSTED:
        if adjustment.amount > 0:
            return _("Added %(amount)s to %(user)s.") % values
        return _("Took %(amount)s from %(user)s.") % values
    if adjustment.amount > 0:
        return _("Adding %(amount)s to %(user)s waits for a second staff member's approval.") % values
    return _("Taking %(amount)s from %(user)s waits for a second staff member's approval.") % values
