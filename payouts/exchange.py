"""Exchange rates for payouts: an offline fixed-rate backend for `djmoney.contrib.exchange`.

Rates are stored in djmoney's `Rate` table under the backend named `FixedRatesBackend.name`
(units of each currency per one unit of the base currency). They come from a JSON file
(`manage.py load_exchange_rates`, seeded by migration) or from staff in admin. A conversion
refuses rates older than the staff-set maximum age instead of paying at a stale price.
"""

import datetime
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from djmoney.contrib.exchange.backends.base import BaseExchangeBackend
from djmoney.contrib.exchange.models import ExchangeBackend, Rate
from djmoney.money import Money

from wallet.money import UnsupportedCurrency, currency_code, quantize

DEFAULT_RATES_FILE = Path(__file__).resolve().parent / "data" / "exchange_rates.json"
BACKEND_NAME = "coinsite-fixed"


class ExchangeError(Exception):
    """The conversion cannot be done; ``str(error)`` says why, for creators and staff."""


class StaleRates(ExchangeError):
    """The stored rates are older than the allowed age."""


class RatesFileError(ExchangeError):
    """The rates file is missing, malformed, or names an unsupported currency."""


@dataclass(frozen=True)
class Conversion:
    source: Money
    result: Money  # rounded to the target currency's minor unit
    rate: Decimal  # target units per source unit
    rates_updated_at: datetime.datetime


class FixedRatesBackend(BaseExchangeBackend):
    """Rates read from a local JSON file: no network, the same numbers every time."""

    name = BACKEND_NAME

    def __init__(self, path: Path | str = DEFAULT_RATES_FILE) -> None:
        self.path = Path(path)

    def get_rates(self, **params: Any) -> dict[str, Decimal]:
        return self.read_file()[1]

    def read_file(self) -> tuple[str, dict[str, Decimal]]:
        try:
            data = json.loads(self.path.read_text(), parse_float=Decimal)
            base = currency_code(data["base_currency"])
            rates = {currency_code(code): _positive_decimal(value) for code, value in data["rates"].items()}
        except FileNotFoundError:
            raise RatesFileError(f"No rates file at {self.path}.") from None
        except (ValueError, KeyError, TypeError, AttributeError, UnsupportedCurrency) as error:
            raise RatesFileError(f"{self.path} is not a valid rates file: {error}") from None
        if rates.get(base) != 1:
            raise RatesFileError(f"{self.path}: the base currency {base} must have rate 1.")
        return base, rates


def rates_load(*, path: Path | str = DEFAULT_RATES_FILE) -> int:
    """Replace the stored rates with the file's, all or nothing; returns how many rates were stored."""
    backend = FixedRatesBackend(path)
    base, rates = backend.read_file()
    with transaction.atomic():
        backend.update_rates(base_currency=base)
        ExchangeBackend.objects.filter(name=BACKEND_NAME).update(last_update=timezone.now())
    return len(rates)


def rates_updated_at() -> datetime.datetime | None:
    return ExchangeBackend.objects.filter(name=BACKEND_NAME).values_list("last_update", flat=True).first()


def convert(
    money: Money, to_currency: str, *, max_age: datetime.timedelta, now: datetime.datetime | None = None
) -> Conversion:
    """`money` in `to_currency` at the stored rate, rounded once; refuses rates older than `max_age`."""
    to_currency = currency_code(to_currency)
    now = now or timezone.now()
    backend = ExchangeBackend.objects.filter(name=BACKEND_NAME).first()
    if backend is None:
        raise ExchangeError(_("No exchange rates are loaded; staff must load them before payouts can be converted."))
    age = now - backend.last_update
    if age > max_age:
        hours = int(age.total_seconds() // 3600)
        raise StaleRates(
            ngettext(
                "The exchange rates are %(hours)s hours old (the limit is %(limit)s hour); "
                "the payout waits until staff update them.",
                "The exchange rates are %(hours)s hours old (the limit is %(limit)s hours); "
                "the payout waits until staff update them.",
                int(max_age.total_seconds() // 3600),
            )
            % {"hours": hours, "limit": int(max_age.total_seconds() // 3600)}
        )
    rate = _rate(backend, money.currency.code, to_currency)
    return Conversion(
        source=money,
        result=quantize(Money(money.amount * rate, to_currency)),
        rate=rate,
        rates_updated_at=backend.last_update,
    )


def _rate(backend: ExchangeBackend, source: str, target: str) -> Decimal:
    if source == target:
        return Decimal(1)
    values = dict(
        Rate.objects.filter(backend=backend, currency__in=[source, target, backend.base_currency]).values_list(
            "currency", "value"
        )
    )
    values.setdefault(backend.base_currency, Decimal(1))
    if source not in values or target not in values:
        missing = target if target not in values else source
        raise ExchangeError(_("There is no exchange rate for %(currency)s.") % {"currency": missing})
    return values[target] / values[source]


def _positive_decimal(value: object) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite() or number <= 0:
        raise ValueError(f"{value!r} is not a positive rate")
    return number
