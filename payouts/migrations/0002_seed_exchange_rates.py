"""Seed the offline fixed exchange rates from payouts/data/exchange_rates.json (staff can edit them)."""

import json
from decimal import Decimal
from pathlib import Path

from django.db import migrations
from django.utils import timezone

RATES_FILE = Path(__file__).resolve().parent.parent / "data" / "exchange_rates.json"


def seed(apps, schema_editor):
    ExchangeBackend = apps.get_model("exchange", "ExchangeBackend")
    Rate = apps.get_model("exchange", "Rate")
    data = json.loads(RATES_FILE.read_text(), parse_float=Decimal)
    backend, _ = ExchangeBackend.objects.update_or_create(
        name="coinsite-fixed", defaults={"base_currency": data["base_currency"]})
    ExchangeBackend.objects.filter(pk=backend.pk).update(last_update=timezone.now())
    for currency, value in data["rates"].items():
        Rate.objects.update_or_create(backend=backend, currency=currency, defaults={"value": Decimal(value)})


class Migration(migrations.Migration):
    dependencies = [("payouts", "0001_initial"), ("exchange", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
