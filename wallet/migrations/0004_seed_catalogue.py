"""Default economics: coin packages priced per currency, base per-coin prices, and countries.

Staff edit all of it in admin afterwards; re-running this migration only fills in what is missing.
"""

from django.db import migrations
from djmoney.money import Money

PACKAGES = [  # (coins, bonus coins)
    (70, 0), (350, 0), (700, 0), (1_400, 0), (3_500, 0), (7_000, 350), (17_500, 1_750),
]
PRICES = {  # set per currency, as app stores do, never converted on the fly
    "USD": ["0.99", "4.99", "9.99", "19.99", "49.99", "99.99", "249.99"],
    "EUR": ["1.09", "5.49", "10.99", "21.99", "54.99", "109.99", "274.99"],
    "GBP": ["0.89", "4.49", "8.99", "17.99", "44.99", "89.99", "224.99"],
    "JPY": ["160", "800", "1600", "3200", "8000", "16000", "40000"],
    "BRL": ["5.90", "29.90", "59.90", "119.90", "299.90", "599.90", "1499.90"],
    "INR": ["89.00", "449.00", "899.00", "1799.00", "4499.00", "8999.00", "22499.00"],
}
PER_COIN = {  # the smallest package's price per coin, for custom amounts and for showing value
    "USD": "0.014143", "EUR": "0.015571", "GBP": "0.012714",
    "JPY": "2.285714", "BRL": "0.084286", "INR": "1.271429",
}
ALL_METHODS = ["card", "paypal", "google_pay", "apple_pay"]
COUNTRIES = [  # code, name, currency, recharge, gifting, methods, reason
    ("US", "United States", "USD", True, True, ALL_METHODS, ""),
    ("GB", "United Kingdom", "GBP", True, True, ALL_METHODS, ""),
    ("DE", "Germany", "EUR", True, True, ALL_METHODS, ""),
    ("FR", "France", "EUR", True, True, ALL_METHODS, ""),
    ("ES", "Spain", "EUR", True, True, ALL_METHODS, ""),
    ("IT", "Italy", "EUR", True, True, ALL_METHODS, ""),
    ("NL", "Netherlands", "EUR", True, True, ALL_METHODS, ""),
    ("IE", "Ireland", "EUR", True, True, ALL_METHODS, ""),
    ("JP", "Japan", "JPY", True, True, ["card", "apple_pay", "google_pay", "carrier_billing"], ""),
    ("BR", "Brazil", "BRL", True, True, ["card", "paypal", "google_pay", "carrier_billing"], ""),
    ("IN", "India", "INR", True, True, ["card", "google_pay", "carrier_billing"], ""),
    ("CN", "China", "USD", False, False, [],
     "Buying coins and sending gifts are not available in China."),
]


def seed(apps, schema_editor):
    Country = apps.get_model("wallet", "Country")
    CoinPackage = apps.get_model("wallet", "CoinPackage")
    CoinPackagePrice = apps.get_model("wallet", "CoinPackagePrice")
    CoinRate = apps.get_model("wallet", "CoinRate")
    # Tests re-seed with the live models, whose countries take their names from django-countries
    # (wallet 0008 dropped the column): only the fields the model has are written.
    country_fields = {field.name for field in Country._meta.get_fields()}
    for code, name, currency, recharge, gifting, methods, reason in COUNTRIES:
        defaults = {
            "name": name, "currency": currency, "recharge_enabled": recharge, "gifting_enabled": gifting,
            "payment_methods": methods, "recharge_unavailable_reason": reason}
        Country.objects.get_or_create(
            code=code, defaults={key: value for key, value in defaults.items() if key in country_fields})
    for order, (coins, bonus) in enumerate(PACKAGES):
        package, _ = CoinPackage.objects.get_or_create(
            coins=coins, bonus_coins=bonus, defaults={"sort_order": order, "is_active": True})
        for currency, prices in PRICES.items():
            if not CoinPackagePrice.objects.filter(package=package, price_currency=currency).exists():
                CoinPackagePrice.objects.create(package=package, price=Money(prices[order], currency))
    for currency, per_coin in PER_COIN.items():
        if not CoinRate.objects.filter(per_coin_currency=currency).exists():
            CoinRate.objects.create(per_coin=Money(per_coin, currency))


class Migration(migrations.Migration):
    dependencies = [("wallet", "0003_catalogue_topups_controls")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
