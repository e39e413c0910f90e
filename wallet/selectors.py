"""Reads that feed the wallet pages: what a viewer may buy, at what price, and what coins are worth."""

from dataclasses import dataclass, field

from django.utils import timezone
from djmoney.money import Money

from wallet.models import (
    CoinPackage,
    CoinPackagePrice,
    CoinRate,
    Country,
    EconomySettings,
    SpendingControls,
    WalletFreeze,
)
from wallet.money import price_for_coins, quantize


@dataclass(frozen=True)
class PackageOffer:
    package: CoinPackage
    price: Money
    per_coin: Money  # effective price of one coin in this package, bonus included (not rounded)


@dataclass(frozen=True)
class RechargeOffer:
    country: Country | None
    currency: str
    packages: list[PackageOffer] = field(default_factory=list)
    rate: CoinRate | None = None
    payment_methods: list[str] = field(default_factory=list)
    unavailable_reason: str = ""


def recharge_offer(user) -> RechargeOffer:
    """What ``user`` may buy now, in their country's currency, or why they cannot recharge."""
    country = Country.objects.filter(code=user.country).first()
    currency = country.currency if country else user.preferred_currency
    reason = recharge_unavailable_reason(user, country)
    if reason:
        return RechargeOffer(country=country, currency=currency, unavailable_reason=reason)
    prices = (
        CoinPackagePrice.objects.filter(package__is_active=True, price_currency=currency)
        .select_related("package")
        .order_by("package__sort_order", "package__coins")
    )
    packages = [
        PackageOffer(package=p.package, price=p.price, per_coin=Money(p.price.amount / p.package.total_coins, currency))
        for p in prices
    ]
    return RechargeOffer(
        country=country,
        currency=currency,
        packages=packages,
        rate=coin_rate(currency),
        payment_methods=list(country.payment_methods),
    )


def recharge_unavailable_reason(user, country: Country | None) -> str:
    frozen = WalletFreeze.objects.filter(user=user).values_list("reason", flat=True).first()
    if frozen:
        return f"Your wallet is frozen by our team: {frozen} Contact support to have it lifted."
    if user.birth_date is None:
        return "Add your birth date to your profile before buying coins: coins are sold only to adults."
    if not user.is_adult:
        return "Coins can only be bought by people aged 18 or over. You can still watch live streams."
    if country is None:
        return "Buying coins is not available in your country yet."
    if not country.recharge_enabled:
        return country.recharge_unavailable_reason or f"Buying coins is not available in {country.name}."
    excluded_until = exclusion_until(user)
    if excluded_until:
        return (
            f"You paused recharging and gifting until {timezone.localtime(excluded_until):%d %b %Y, %H:%M} UTC. "
            "The pause cannot be lifted early."
        )
    return ""


def exclusion_until(user):
    """When the user's self-exclusion ends, or None if they are not excluded now."""
    controls = SpendingControls.objects.filter(user=user, excluded_until__gt=timezone.now()).first()
    return controls.excluded_until if controls else None


def coin_rate(currency: str) -> CoinRate | None:
    return CoinRate.objects.filter(per_coin_currency=currency).first()


def custom_price(rate: CoinRate, coins: int) -> Money:
    return price_for_coins(rate.per_coin, coins)


def coin_value(coins: int, currency: str) -> Money | None:
    """What ``coins`` are worth at the base per-coin price in ``currency`` (None if it has none)."""
    rate = coin_rate(currency)
    if rate is None:
        return None
    return quantize(Money(rate.per_coin.amount * coins, currency))


def user_currency(user) -> str:
    country = Country.objects.filter(code=user.country).first()
    return country.currency if country else user.preferred_currency


def economy() -> EconomySettings:
    """The staff-set economics (DESIGN §2); the row is created with its defaults on first use."""
    settings_row, _created = EconomySettings.objects.get_or_create(pk=1)
    return settings_row
