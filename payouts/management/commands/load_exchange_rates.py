from django.core.management.base import BaseCommand, CommandError

from payouts.exchange import DEFAULT_RATES_FILE, ExchangeError, rates_load


class Command(BaseCommand):
    help = "Load payout exchange rates from a JSON file (base_currency plus rates per currency)."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", default=str(DEFAULT_RATES_FILE))

    def handle(self, *args, path, **options):
        try:
            count = rates_load(path=path)
        except ExchangeError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(self.style.SUCCESS(f"Loaded {count} exchange rates from {path}."))
