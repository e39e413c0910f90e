"""Exchange rates for the currencies added with their countries (CAD, AUD, MXN; KRW was already there),
from payouts/data/exchange_rates.json. Only missing rates are added: rates staff set keep their value,
and the rates' age (ExchangeBackend.last_update, which payouts check) does not change."""

import json
from decimal import Decimal
from pathlib import Path

from django.db import migrations

RATES_FILE = Path(__file__).resolve().parent.parent / "data" / "exchange_rates.json"


def add_missing_rates(apps, schema_editor):
    ExchangeBackend = apps.get_model("exchange", "ExchangeBackend")
    Rate = apps.get_model("exchange", "Rate")
    backend = ExchangeBackend.objects.filter(name="coinsite-fixed").first()
    if backend is None:  # 0002 loads the whole file when it creates the backend
        return
    data = json.loads(RATES_FILE.read_text(), parse_float=Decimal)
    if data["base_currency"] != backend.base_currency:
        return  # staff rebased the rates; converting the file's would be a guess
    for currency, value in data["rates"].items():
        Rate.objects.get_or_create(backend=backend, currency=currency, defaults={"value": Decimal(value)})


class Migration(migrations.Migration):
    dependencies = [("payouts", "0003_settings_split"), ("exchange", "0001_initial")]

    operations = [migrations.RunPython(add_missing_rates, migrations.RunPython.noop)]
