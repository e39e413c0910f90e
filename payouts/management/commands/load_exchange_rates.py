from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from payouts.exchange import DEFAULT_RATES_FILE, ExchangeError, rates_load


class Command(BaseCommand):
    help = "Load payout exchange rates from a JSON file (base_currency plus rates per currency)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", default=str(DEFAULT_RATES_FILE))

    def handle(self, *args: Any, path: str, **options: Any) -> None:
        try:
            count = rates_load(path=path)
        except ExchangeError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(self.style.SUCCESS(f"Loaded {count} exchange rates from {path}."))
