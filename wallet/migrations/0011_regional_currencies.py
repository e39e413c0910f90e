"""Every country sold in has its own currency: Canada (CAD), Australia (AUD), Mexico (MXN) and South
Korea (KRW, no minor unit, like JPY), with coin packages priced by hand in each currency, a per-coin
rate for custom amounts and for showing what coins are worth, and South Korea's age limit of 19.

Prices are set per currency as app stores set them (round local price points), never converted on
the fly; staff change them in admin. Re-running this only fills in what is missing; a country staff
had already set up keeps its settings, except that its currency becomes its own and its minimum age
is at least the one below.
"""

from django.db import migrations
from djmoney.money import Money

PACKAGES = [  # (coins, bonus coins), as 0004 made them
    (70, 0), (350, 0), (700, 0), (1_400, 0), (3_500, 0), (7_000, 350), (17_500, 1_750),
]
PRICES = {
    "CAD": ["1.39", "6.99", "13.99", "27.99", "69.99", "139.99", "349.99"],
    "AUD": ["1.59", "7.99", "15.99", "30.99", "79.99", "159.99", "399.99"],
    "MXN": ["19.00", "99.00", "199.00", "399.00", "999.00", "1999.00", "4999.00"],
    "KRW": ["1500", "7500", "15000", "29000", "75000", "149000", "369000"],
}
PER_COIN = {  # the smallest package's price per coin (its price / 70), as 0004 sets the others
    "CAD": "0.019857", "AUD": "0.022714", "MXN": "0.271429", "KRW": "21.428571",
}
ALL_METHODS = ["card", "paypal", "google_pay", "apple_pay"]
COUNTRIES = {  # code: (currency, payment methods, minimum age)
    "CA": ("CAD", ALL_METHODS, 18),
    "AU": ("AUD", ALL_METHODS, 18),
    "MX": ("MXN", ALL_METHODS, 18),
    # South Korea: 19 is the age of majority; mobile carrier billing is how many people there pay.
    "KR": ("KRW", ["card", "google_pay", "apple_pay", "carrier_billing"], 19),
}


def seed(apps, schema_editor):
    Country = apps.get_model("wallet", "Country")
    CoinPackage = apps.get_model("wallet", "CoinPackage")
    CoinPackagePrice = apps.get_model("wallet", "CoinPackagePrice")
    CoinRate = apps.get_model("wallet", "CoinRate")
    for code, (currency, methods, minimum_age) in COUNTRIES.items():
        country, created = Country.objects.get_or_create(
            code=code, defaults={"currency": currency, "payment_methods": methods, "minimum_age": minimum_age}
        )
        if not created:
            country.currency, country.minimum_age = currency, max(country.minimum_age, minimum_age)
            country.save(update_fields=["currency", "minimum_age"])
    for order, (coins, bonus) in enumerate(PACKAGES):
        package = CoinPackage.objects.filter(coins=coins, bonus_coins=bonus).order_by("pk").first()
        if package is None:
            package = CoinPackage.objects.create(coins=coins, bonus_coins=bonus, sort_order=order, is_active=True)
        for currency, prices in PRICES.items():
            if not CoinPackagePrice.objects.filter(package=package, price_currency=currency).exists():
                CoinPackagePrice.objects.create(package=package, price=Money(prices[order], currency))
    for currency, per_coin in PER_COIN.items():
        if not CoinRate.objects.filter(per_coin_currency=currency).exists():
            CoinRate.objects.create(per_coin=Money(per_coin, currency))


class Migration(migrations.Migration):
    dependencies = [("wallet", "0010_country_minimum_age")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
