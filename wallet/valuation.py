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
from functools import cached_property
from typing import Any

from django.http import HttpRequest
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
    """Diamonds with their money value, as `templates/payouts/_diamonds.html` shows them."""

    diamonds: int
    value: Money


def coins_value(coins: int, per_coin: Money) -> Money:
    """`coins` at `per_coin` a coin, rounded once."""
    return quantize(Money(per_coin.amount * coins, per_coin.currency.code))


def diamonds_value(diamonds: int, per_diamond: Money) -> Money:
    """`diamonds` at `per_diamond` a diamond, rounded once."""
    return quantize(Money(per_diamond.amount * diamonds, per_diamond.currency.code))


class Valuation:
    """Values for one request (or one operation): settings and per-coin prices are read once, lazily."""

    def __init__(self) -> None:
        self._rates: dict[str, CoinRate | None] = {}

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
        return self.economy.diamond_value

    def diamonds(self, diamonds: int) -> Money:
        """What `diamonds` pay out at the staff-set diamond value."""
        return diamonds_value(diamonds, self.per_diamond)

    def diamond_amount(self, diamonds: int) -> DiamondAmount:
        return DiamondAmount(diamonds=diamonds, value=self.diamonds(diamonds))


def display_currency(user: Any) -> str:
    """The currency a visitor sees amounts in: their preferred one, USD for anonymous visitors."""
    return user.preferred_currency if user.is_authenticated else ANONYMOUS_VISITOR_CURRENCY


def request_valuation(request: HttpRequest) -> Valuation:
    """The request's one Valuation, made on first use: every amount on a page is valued from it."""
    valuation = getattr(request, _REQUEST_ATTRIBUTE, None)
    if valuation is None:
        valuation = Valuation()
        setattr(request, _REQUEST_ATTRIBUTE, valuation)
    return valuation
