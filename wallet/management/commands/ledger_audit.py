"""`python manage.py ledger_audit`: check every ledger invariant; exit 1 naming the rows that break one."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from wallet.audit import MAX_LISTED, ledger_audit_run


class Command(BaseCommand):
    help = (
        "Check the ledger: transactions balance per asset, cached balances equal the sum of entries, "
        "no negative user balance, no orphan rows. Exits non-zero on any violation."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--max-listed",
            type=int,
            default=MAX_LISTED,
            help=f"Offending rows to list per check (default {MAX_LISTED}).",
        )

    def handle(self, *args: Any, max_listed: int, **options: Any) -> None:
        report = ledger_audit_run(max_listed=max_listed)
        self.stdout.write(f"Ledger audit at {report.started_at}:")
        for line in report.lines():
            self.stdout.write(line)
        if not report.ok:
            offending = [problem for check in report.checks for problem in check.problems]
            raise CommandError(f"Ledger audit FAILED with {report.problem_count} problem(s):\n" + "\n".join(offending))
        self.stdout.write(self.style.SUCCESS("Ledger audit passed: every invariant holds."))
