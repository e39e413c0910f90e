"""What coins and diamonds are worth in money: the one place that values them.

- A coin is worth its currency's base per-coin price (`CoinRate.per_coin`), what a custom amount
  of coins costs; a currency without one has no coin value (None), never a guessed one.
- A diamond is worth the staff-set diamond value (`EconomySettings.diamond_value`): the creator
  share made explicit, in the settings' currency.

Every value is rounded once, by `wallet.money.quantize`. A `Valuation` reads the economy settings
and each currency's per-coin price at most once, so a page showing a hundred amounts makes one query
for each: views take the request's (`request_valuation`), services and tasks make their own.
"""

from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.http import HttpRequest
from djmoney.contrib.exchange.exceptions import MissingRate
from djmoney.contrib.exchange.models import get_rate
from djmoney.money import Money

from wallet.models import CoinRate, EconomySettings
from wallet.money import quantize
from wallet.selectors import coin_rate, economy

_REQUEST_ATTRIBUTE = "_coinsite_valuation"
ANONYMOUS_VISITOR_CURRENCY = "USD"


@dataclass(frozen=True)
class CoinAmount:
    """Coins with their money value, as `templates/wallet/_coins.html` shows them."""

    coins: int
    value: Money | None


@dataclass(frozen=True)
class DiamondAmount:
    """Diamonds with their money value, as the `{% diamonds_amount %}` tag shows them."""

    diamonds: int
    value: Money


def coins_value(coins: int, per_coin: Money) -> Money:
    """`coins` at `per_coin` a coin, rounded once."""
    return quantize(Money(per_coin.amount * coins, per_coin.currency.code))


def diamonds_value(diamonds: int, per_diamond: Money) -> Money:
    """`diamonds` at `per_diamond` a diamond, rounded once."""
    return quantize(Money(per_diamond.amount * diamonds, per_diamond.currency.code))


class Valuation:
    """Values for one request (or one operation): settings and per-coin prices are read once, lazily.

    `currency` is the currency diamonds are shown in: a creator sees their diamonds in their own payout
    currency (`creator_currency`), converted at the stored exchange rates (read once per currency). Without
    it, diamonds are valued in the diamond value's own currency, which is what payouts are worth.
    """

    def __init__(self, *, currency: str | None = None) -> None:
        self._rates: dict[str, CoinRate | None] = {}
        self._exchange: dict[str, Decimal | None] = {}
        self.currency = currency

    def in_currency(self, currency: str | None) -> "Valuation":
        """The same values shown in `currency`, sharing what was read already."""
        sibling = Valuation(currency=currency)
        sibling._rates, sibling._exchange = self._rates, self._exchange
        if "economy" in self.__dict__:
            sibling.__dict__["economy"] = self.economy
        return sibling

    @cached_property
    def economy(self) -> EconomySettings:
        return economy()

    def rate(self, currency: str) -> CoinRate | None:
        """The currency's coin rate (per-coin price and custom-amount limits), None if it has none."""
        if currency not in self._rates:
            self._rates[currency] = coin_rate(currency)
        return self._rates[currency]

    def per_coin(self, currency: str) -> Money | None:
        rate = self.rate(currency)
        return rate.per_coin if rate is not None else None

    def coins(self, coins: int, currency: str) -> Money | None:
        """What `coins` are worth in `currency`; None when the currency has no per-coin price."""
        per_coin = self.per_coin(currency)
        return coins_value(coins, per_coin) if per_coin is not None else None

    def coin_amount(self, coins: int | None, currency: str) -> CoinAmount | None:
        return None if coins is None else CoinAmount(coins=coins, value=self.coins(coins, currency))

    @property
    def per_diamond(self) -> Money:
        """One diamond's value, in the shown currency (unrounded: it is a fraction of a cent)."""
        return self._shown(self.economy.diamond_value)

    def diamonds(self, diamonds: int) -> Money:
        """What `diamonds` pay out at the staff-set diamond value (in the shown currency, rounded once)."""
        return diamonds_value(diamonds, self.per_diamond)

    def money(self, amount: Money | None) -> Money | None:
        """A money amount (a payout minimum, a payout's value) in the shown currency, rounded once."""
        return None if amount is None else quantize(self._shown(amount))

    def _shown(self, amount: Money) -> Money:
        source = amount.currency.code
        if self.currency is None or self.currency == source:
            return amount
        rate = self._exchange_rate(source, self.currency)
        # No stored rate: the amount stays in its own currency (right, only not converted).
        return amount if rate is None else Money(amount.amount * rate, self.currency)

    def _exchange_rate(self, source: str, target: str) -> Decimal | None:
        key = f"{source}:{target}"
        if key not in self._exchange:
            try:
                self._exchange[key] = Decimal(get_rate(source, target))
            except MissingRate:
                self._exchange[key] = None
        return self._exchange[key]

    def diamond_amount(self, diamonds: int) -> DiamondAmount:
        return DiamondAmount(diamonds=diamonds, value=self.diamonds(diamonds))


def creator_currency(user: Any) -> str:
    """The currency a creator is paid in (their payout method's), else the one they prefer."""
    return user.payout_currency or user.preferred_currency


def display_currency(user: Any) -> str:
    """The currency a visitor sees amounts in: a creator's own payout currency, a viewer's preferred one, USD
    for anonymous visitors."""
    if not user.is_authenticated:
        return ANONYMOUS_VISITOR_CURRENCY
    return creator_currency(user) if user.is_creator else user.preferred_currency


def request_valuation(request: HttpRequest) -> Valuation:
    """The request's one Valuation, made on first use: every amount on a page is valued from it. A creator
    sees diamonds in their own currency (`display_currency`)."""
    valuation = getattr(request, _REQUEST_ATTRIBUTE, None)
    if valuation is None:
        user = request.user
        valuation = Valuation(currency=display_currency(user) if user.is_authenticated and user.is_creator else None)
        setattr(request, _REQUEST_ATTRIBUTE, valuation)
    return valuation
